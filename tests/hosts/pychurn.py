"""A Python host for tests/integration/test_python.py: threads that come
and go and allocate, for ROUNDS rounds of 8; prints "ready <pid>" first and
a checksum of all their work last, which must be the same with libgmr and
without, however many reports were taken meanwhile. With "greenlets" after
ROUNDS, each thread splits its work among greenlets that switch back and
forth (the garbage collector's lists, which libgmr walks to find them,
change all the while)."""

import hashlib
import os
import sys
import threading


def work(i, out):
    data = [str(j * i) for j in range(3000)]
    out[i] = hashlib.sha256("".join(data).encode()).hexdigest()


def green_work(i, out):
    parts = []

    def piece(k):
        data = [str(j * i * k) for j in range(600)]
        greenlet.getcurrent().parent.switch()
        parts.append(hashlib.sha256("".join(data).encode()).hexdigest())

    pieces = [greenlet.greenlet(piece) for _ in range(5)]
    for k, g in enumerate(pieces):
        g.switch(k)
    for g in pieces:
        g.switch()
    out[i] = hashlib.sha256("".join(parts).encode()).hexdigest()


def main(rounds, target):
    total = hashlib.sha256()
    print("ready", os.getpid(), flush=True)
    for r in range(rounds):
        out = {}
        threads = [threading.Thread(target=target, args=(r * 8 + k, out)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in sorted(out):
            total.update(out[k].encode())
    print(total.hexdigest(), flush=True)


if sys.argv[2:] == ["greenlets"]:
    import greenlet
main(int(sys.argv[1]), green_work if sys.argv[2:] == ["greenlets"] else work)
