"""A Python host for tests/integration/test_python.py: Python stacks in
known places (each line the test looks for says so in a comment). Prints
"ready <pid>", then waits to be killed."""

import os
import queue
import socket
import threading
import time


def leaf():
    time.sleep(3600)  # leaf sleeps


def middle():
    leaf()  # middle calls leaf


class Worker:
    def run(self):
        middle()  # run calls middle


def spin(stop):
    n = 0
    while not stop.is_set():  # spin loops
        n = (n * 31 + 7) % 1000003  # spin works


def waiter(event):
    event.wait()  # waiter waits


def queue_taker(q):
    q.get()  # queue_taker waits


def acceptor(server):
    server.accept()  # acceptor accepts


def main():
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    for target, args in ((Worker().run, ()), (spin, (stop,)), (waiter, (stop,)),
                         (queue_taker, (queue.Queue(),)), (acceptor, (server,))):
        threading.Thread(target=target, args=args, daemon=True).start()
    print("ready", os.getpid(), flush=True)
    time.sleep(3600)  # main sleeps


main()  # the module calls main
