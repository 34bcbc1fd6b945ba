"""Chatty writer: TOTAL bytes as 100-byte lines, one write() per line (an unbuffered logger)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib.streams import chatty_lines


def main() -> None:
    total = int(sys.argv[1])
    tag = sys.argv[2]
    out = sys.stdout.fileno()
    for line in chatty_lines(total, tag):
        os.write(out, line)


if __name__ == "__main__":
    main()
