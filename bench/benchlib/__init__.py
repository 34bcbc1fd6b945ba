"""Side-by-side benchmark harness for corrald and supervisord 4.3.0 (run by bench/run.py)."""
