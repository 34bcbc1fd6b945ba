"""A background worker: takes a 'job' every few seconds and logs it."""

import os
import time

name = os.environ.get("SUPERVISOR_PROCESS_NAME", "worker")
job = 0
while True:
    job += 1
    print(f"{name}: finished job {job}", flush=True)
    time.sleep(5)
