"""A Python host for tests/integration/test_python.py: threads that come
and go and allocate, for ROUNDS rounds of 8; prints "ready <pid>" first and
a checksum of all their work last, which must be the same with libgmr and
without, however many reports were taken meanwhile."""

import hashlib
import os
import sys
import threading


def work(i, out):
    data = [str(j * i) for j in range(3000)]
    out[i] = hashlib.sha256("".join(data).encode()).hexdigest()


def main(rounds):
    total = hashlib.sha256()
    print("ready", os.getpid(), flush=True)
    for r in range(rounds):
        out = {}
        threads = [threading.Thread(target=work, args=(r * 8 + k, out)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in sorted(out):
            total.update(out[k].encode())
    print(total.hexdigest(), flush=True)


main(int(sys.argv[1]))
