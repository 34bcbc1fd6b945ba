"""Bulk writer: TOTAL bytes of a deterministic stream to stdout in 64 KiB writes, as fast as it can.

The stream is shared with benchlib.streams so the bench can verify every byte landed in the logs.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib.streams import bulk_chunks


def main() -> None:
    total = int(sys.argv[1])
    out = sys.stdout.fileno()
    for chunk in bulk_chunks(total):
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view) :]


if __name__ == "__main__":
    main()
