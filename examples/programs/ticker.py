"""Writes a line to stdout every second and a warning to stderr every ten."""

import sys
import time

tick = 0
while True:
    tick += 1
    print(f"tick {tick}", flush=True)
    if tick % 10 == 0:
        print(f"ticker: {tick} ticks so far", file=sys.stderr, flush=True)
    time.sleep(1)
