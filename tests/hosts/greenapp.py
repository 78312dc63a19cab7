"""A green-threaded program for tests/integration/test_python.py, on
eventlet (the default) or gevent (argument "gevent"): green threads parked
in distinctly named functions (a green sleep, a green queue, a green
socket's accept, a recursion) and the main greenlet waiting in main().
Prints "ready <pid>" once all are parked; ends after GREENAPP_SECONDS
(default an hour) with "done", status 0."""
import os
import sys

if sys.argv[1:] == ["gevent"]:
    import gevent
    import gevent.monkey
    from gevent.queue import Queue

    gevent.monkey.patch_all()
    spawn, sleep = gevent.spawn, gevent.sleep
else:
    import eventlet
    from eventlet.queue import Queue

    eventlet.monkey_patch()
    spawn, sleep = eventlet.spawn, eventlet.sleep

import socket  # noqa: E402 (green, once patched)


def green_sleeper():
    sleep(3600)  # green_sleeper sleeps


def green_napper(depth):
    if depth:
        return green_napper(depth - 1)  # green_napper recurses
    sleep(3600)  # green_napper sleeps


def green_queue_taker(q):
    return q.get()  # green_queue_taker waits


def green_acceptor(server):
    return server.accept()  # green_acceptor waits


def main():
    q = Queue()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    spawn(green_sleeper)
    spawn(green_napper, 3)
    spawn(green_queue_taker, q)
    spawn(green_acceptor, server)
    sleep(0.2)
    print("ready", os.getpid(), flush=True)
    sleep(float(os.environ.get("GREENAPP_SECONDS", "3600")))  # main waits
    print("done", flush=True)


main()  # the main greenlet
