#!/usr/bin/env python3
"""A workload for image pre-copy benchmarks: rewrites random 4 KiB pages of IMAGE with fresh random
bytes at RATE MiB/s until the file STOP exists, then creates STOPPED and exits (so a --freeze
command can wait until no write is in flight).

    scripts/image-writer.py IMAGE RATE STOP STOPPED [SEED]
"""
import os
import random
import sys
import time

path, rate, stop, stopped = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
fd = os.open(path, os.O_WRONLY)
pages = os.fstat(fd).st_size // 4096
per_tick = max(1, int(rate * 256 / 100))  # pages per 10 ms
start = time.monotonic()
written = 0
while not os.path.exists(stop):
    for _ in range(per_tick):
        os.pwrite(fd, rng.randbytes(4096), rng.randrange(pages) * 4096)
    written += per_tick
    # Keep to the rate on average: sleep until the time this many pages are due.
    due = start + written / (rate * 256)
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
os.close(fd)
open(stopped, "w").close()
