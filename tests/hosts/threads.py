"""A Python host for tests/integration/test_hosts.py: a busy thread, a
sleeping one and one waiting on an Event; prints "ready <pid>", echoes each
stdin line until "quit", joins its threads and exits 4."""

import os
import sys
import threading
import time

stop = threading.Event()
counts = {}


def busy():
    n = 0
    while not stop.is_set():
        n = (n * 31 + 7) % 1000003
    counts["busy"] = n


def sleeper():
    while not stop.is_set():
        time.sleep(0.02)


def waiter():
    stop.wait()


threads = [threading.Thread(target=f, name="py-" + f.__name__) for f in (busy, sleeper, waiter)]
for t in threads:
    t.start()
print("ready", os.getpid(), flush=True)
total = 0
for line in sys.stdin:
    line = line.rstrip("\n")
    if line == "quit":
        break
    total += len(line)
    print("echo", line, total, flush=True)
stop.set()
for t in threads:
    t.join()
print("bye", total, flush=True)
sys.exit(4)
