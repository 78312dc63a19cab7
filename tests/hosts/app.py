"""The WSGI application uWSGI serves in tests/integration/test_hosts.py."""


def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from uwsgi\n"]
