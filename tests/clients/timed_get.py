"""Timed GET requests for the chapters' app tests (ch07, ch08, ch09): what a
request got back and how long it took, and a request sent while a slow one
is in the server (does the slow one hold up the loop?). Standard library
only; 127.0.0.1; every wait has a timeout.

    from timed_get import timed_get, get_beside_slow
    status, body, seconds = timed_get(port, "/sleep?ms=200")
    slow, hello = get_beside_slow(port, "/sleep?ms=800")   # each (status, body, seconds)
"""
import http.client
import threading
import time

TIMEOUT = 10.0


def timed_get(port, path, timeout=TIMEOUT):
    """(status, body, seconds taken) for GET path, on a connection of its own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, time.monotonic() - started
    finally:
        conn.close()


def get_beside_slow(port, slow_path, timeout=TIMEOUT):
    """Starts GET slow_path, sends GET / 0.2 s later (the slow request is in
    the server by then); returns (the slow request's result, GET /'s)."""
    results = {}
    slow = threading.Thread(
        target=lambda: results.update(slow=timed_get(port, slow_path, timeout)))
    slow.start()
    time.sleep(0.2)
    hello = timed_get(port, "/", timeout)
    slow.join(timeout)
    if slow.is_alive() or "slow" not in results:
        raise AssertionError("GET %s got no answer within %g s" % (slow_path, timeout))
    return results["slow"], hello
