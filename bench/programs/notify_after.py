"""Ready DELAY seconds after it starts, by sd_notify: notify_after.py DELAY

The bench's chain program. -S keeps the interpreter start short; the floor runner starts
the same program the same way, so its start-up is in the floor too."""

import os
import socket
import sys
import time

time.sleep(float(sys.argv[1]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(os.environ["NOTIFY_SOCKET"])
s.send(b"READY=1")
time.sleep(3600)
