"""Facts fixed by compatibility with Supervisor 4.3; imports nothing else from corral."""
