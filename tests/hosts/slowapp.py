"""A WSGI application for tests/integration/test_python.py: /slow keeps
its worker in a view for 30 s, as a stuck request would."""

import time


def slow_view():
    time.sleep(30)  # slow_view sleeps
    return b"slept\n"


def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if env.get("PATH_INFO") == "/slow":
        return [slow_view()]  # application calls slow_view
    return [b"fast\n"]
