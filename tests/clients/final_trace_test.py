#!/usr/bin/env python3
"""The loop's trace (TORNADO_TRACE) of a real program, checked from outside.

    final_trace_test.py DEMO_APP [--keep DIR]

Starts DEMO_APP (final/examples/demo_app) with TORNADO_TRACE=PATH on a free
loopback port, sends it a few requests (a page, a coroutine that sleeps, a
404, a WebSocket echo), asks for a snapshot with SIGUSR2, sends one more
request, stops it with SIGTERM, and checks the file the loop wrote as it
closed:

- it obeys the trace-event format's rules (tools/check_trace.py: every
  begin with its end, bars nested and in order on each thread);
- the SIGUSR2 snapshot was written while the program ran, and the final
  file has every request, the one sent after the snapshot included;
- each request is an "HTTP request" span (b ... e, cat http) with its
  method and path at the beginning and its status at the end;
- the coroutine that served /sleep is a task span with "running"
  stretches inside it, and the sleep's wait is a gap between two of them;
- the WebSocket's message shows as received and sent.

Exit 0 when every check passes, 1 otherwise (each failure named). Standard
library only; the server is stopped by its PID; every wait is bounded.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPOSITORY, "tools"))
import check_trace  # noqa: E402

TIMEOUT = 5.0
REQUESTS = [("GET", "/", 200), ("GET", "/sleep?ms=100", 200), ("GET", "/error/404", 404)]
LATE_REQUEST = ("GET", "/story/1", 200)  # sent after the snapshot


def request(port, method, path):
    """One request on its own connection; the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def wait_for_file(path, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.05)
    return False


def request_spans(events):
    """(method, path, status) of each HTTP request span, begin matched to end by id."""
    begun, spans = {}, []
    for event in events:
        if event.get("cat") != "http":
            continue
        if event["ph"] == "b":
            args = event.get("args", {})
            begun[event["id"]] = (args.get("method"), args.get("path"))
        elif event["ph"] == "e" and event["id"] in begun:
            method, path = begun.pop(event["id"])
            spans.append((method, path, event.get("args", {}).get("status")))
    return spans


def sleep_task_gaps(events):
    """For each task span with two or more "running" stretches: the longest
    wait between two of them, in ms."""
    stretches = {}  # task id -> [(begin ts, end ts)]
    begun = {}
    for event in events:
        if event.get("cat") != "task" or event.get("name") != "running":
            continue
        key = event["id"]
        if event["ph"] == "b":
            begun[key] = event["ts"]
        elif event["ph"] == "e" and key in begun:
            stretches.setdefault(key, []).append((begun.pop(key), event["ts"]))
    gaps = []
    for runs in stretches.values():
        runs.sort()
        gaps += [(later[0] - earlier[1]) / 1000 for earlier, later in zip(runs, runs[1:])]
    return gaps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("demo_app")
    parser.add_argument("--keep", help="copy the trace files into this folder")
    options = parser.parse_args()

    failures = []

    def check(condition, what):
        print(("PASS " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    folder = tempfile.mkdtemp(prefix="final-trace-")
    trace = os.path.join(folder, "trace.json")
    try:
        with ServerProcess(options.demo_app, "--logging=warning",
                           env={"TORNADO_TRACE": trace}) as server:
            statuses = [request(server.port, method, path) for method, path, _ in REQUESTS]
            check(statuses == [status for _, _, status in REQUESTS],
                  f"the requests were answered {statuses}")
            with rawws.RawWebSocket(server.port, "/ws/echo") as ws:
                ws.send_frame(0x1, b"traced")
                check(ws.receive_message() == (0x1, b"traced"), "the WebSocket echoed its message")
            os.kill(server.pid, signal.SIGUSR2)
            check(wait_for_file(trace), "SIGUSR2 wrote the trace while the program ran")
            snapshot = check_trace.load(trace) if os.path.exists(trace) else []
            late = request(server.port, *LATE_REQUEST[:2])
            check(late == LATE_REQUEST[2], f"the request after the snapshot was answered {late}")
            server.stop()
            check(server.process.returncode == 0,
                  f"demo_app exited {server.process.returncode} on SIGTERM")
        if options.keep:
            os.makedirs(options.keep, exist_ok=True)
            shutil.copy(trace, options.keep)

        events = check_trace.load(trace)
        broken = check_trace.problems(events)
        check(not broken, "the file obeys the format's rules" +
              ("" if not broken else ": " + "; ".join(broken[:3])))
        check(len(events) > len(snapshot), f"the final file ({len(events)} events) has more "
              f"than the snapshot ({len(snapshot)})")

        spans = request_spans(events)
        for method, path, status in REQUESTS + [LATE_REQUEST]:
            check((method, path, status) in spans,
                  f"an HTTP request span {method} {path} ending with status {status}")
        check(("GET", "/ws/echo", 101) in spans, "the WebSocket's handshake is a span ending in 101")

        gaps = sleep_task_gaps(events)
        check(any(gap >= 90 for gap in gaps),
              "a coroutine's running stretches have a gap of the sleep's 100 ms "
              f"(longest gap {max(gaps, default=0):.1f} ms)")

        names = {event.get("name") for event in events}
        check({"websocket message received", "websocket message sent"} <= names,
              "the WebSocket message shows as received and sent")
        check({"turn", "poll"} <= names, "the loop's turns and polls are there")
        with open(trace, encoding="utf-8") as f:
            other = json.load(f).get("otherData", {})
        check(other.get("dropped_events") == 0, f"nothing dropped ({other})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} of the checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
