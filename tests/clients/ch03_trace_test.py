#!/usr/bin/env python3
"""Three clients and chapter 03's loop, seen through its trace (TORNADO_TRACE).

    ch03_trace_test.py --server build/bin/ch03_server [--trace PATH] [--pictures DIR]

Starts ch03_server with TORNADO_TRACE=PATH on a free port. Three clients
connect at once, then each sends a request at once, then all hang up at
once, with quiet moments between; SIGTERM stops the server, whose loop
writes the trace as it stops. Then the trace must keep the format's rules
(tools/check_trace.py) and show the lesson's turn, in its order:

  - while nobody talks the loop sleeps: one long poll;
  - the listener's handler runs once per client, each time in a turn of
    its own (level-triggered: one accept per event);
  - each request is read by a handler of its own connection, inside a
    turn, after that turn's poll: the wait that the request's bytes ended
    (the poll ends after they were sent, and reported at least as many
    ready descriptors as handlers ran after it);
  - the "descriptors watched" counter goes up by three and back.

CTest runs it as ch03.loop_trace.three_clients; `make trace-pictures`
runs it with --pictures chapters/03-epoll-ioloop/img, which draws the
trace (tools/trace_plot.py, needing /usr/bin/python3 with matplotlib):
03-trace-three-clients.png, all of it, and 03-trace-one-turn.png, the
turns that read the requests. Standard library only.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loop_trace import plot, run_trace_test, with_client_spans  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"
QUIET_SECONDS = 0.05  # between the steps: long enough to see the loop sleep


def read_response(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"Hello, world"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk


def run_scenario(server, trace_path):
    """Drives the server; returns when each step began (time.monotonic()),
    and each client's own moments, for the pictures."""
    moments = {"clients": [{} for _ in range(3)]}
    with ServerProcess(server, env={"TORNADO_TRACE": trace_path},
                       stderr=open(os.devnull, "w")) as process:
        time.sleep(QUIET_SECONDS)
        moments["connect"] = time.monotonic()
        sockets = []
        for client in moments["clients"]:
            client["connect"] = time.monotonic()
            sockets.append(socket.create_connection(("127.0.0.1", process.port), timeout=5))
        time.sleep(QUIET_SECONDS)
        moments["send"] = time.monotonic()
        for client, sock in zip(moments["clients"], sockets):
            client["send"] = time.monotonic()
            sock.sendall(REQUEST)
        for client, sock in zip(moments["clients"], sockets):
            read_response(sock)
            client["answered"] = time.monotonic()
        moments["answered"] = time.monotonic()
        time.sleep(QUIET_SECONDS)
        moments["close"] = time.monotonic()
        for client, sock in zip(moments["clients"], sockets):
            sock.close()
            client["close"] = time.monotonic()
        time.sleep(QUIET_SECONDS)
        process.stop()
        moments["exit status"] = process.process.returncode
    return moments


def check_trace(trace, moments, checks):
    handlers = trace.bars_named("handler")
    # The listener's handler runs first once clients come: nothing else
    # has a reason to (the loop's eventfd and the signalfd stay quiet).
    first = next((h for h in handlers if h.start >= moments["connect"]), None)
    checks.check(first is not None, "a handler ran once the clients connected")
    listener = first.args["fd"]
    wait = trace.poll_before(first)
    checks.check(wait is not None and wait.duration >= QUIET_SECONDS * 0.4,
                 "until then the loop slept in one long poll", repr(wait))

    accepts = [h for h in handlers if h.args["fd"] == listener]
    accept_turns = {id(trace.turn_of(h)) for h in accepts}
    checks.check(len(accepts) == 3 and len(accept_turns) == 3,
                 f"the listener's handler (fd {listener}) ran once per client, each time in a "
                 "turn of its own", repr(accepts))

    reads = [h for h in handlers if moments["send"] <= h.start <= moments["answered"]
             and h.args["fd"] != listener]
    read_fds = {h.args["fd"] for h in reads}
    checks.check(len(reads) == 3 and len(read_fds) == 3,
                 "each request was read by one handler, of its own connection", repr(reads))
    for read in reads:
        turn, poll = trace.turn_of(read), trace.poll_before(read)
        checks.check(turn is not None, f"fd {read.args['fd']}'s handler ran inside a turn")
        checks.check(poll is not None and poll.end >= moments["send"],
                     "... after that turn's poll, which the request's bytes ended",
                     f"{read!r} in {turn!r}, last poll before it {poll!r}")
        batch = [h for h in handlers if turn.contains(h) and h.start >= poll.end]
        checks.check(poll.args.get("ready", 0) >= len(batch),
                     f"... which reported as many ready descriptors as handlers ran after it "
                     f"({poll.args.get('ready')} >= {len(batch)})")

    hang_ups = {h.args["fd"] for h in handlers if h.start >= moments["close"]}
    checks.check(read_fds <= hang_ups, "each connection's handler ran again when its client "
                 "hung up (end of stream)", f"{sorted(read_fds)} vs {sorted(hang_ups)}")

    watched = trace.counter("descriptors watched")
    before = [value for time_, value in watched if time_ < moments["connect"]]
    during = [value for time_, value in watched if moments["connect"] <= time_ < moments["close"]]
    checks.check(before and during and max(during) == before[-1] + 3 and
                 watched[-1][1] == before[-1],
                 "the counter \"descriptors watched\" went up by three, then back", repr(watched))


def draw_pictures(trace, moments, folder, scratch):
    """The whole trace, and the turns that read the three requests, each with
    the clients' connections and requests drawn under the loop."""
    spans = []
    for number, client in enumerate(moments["clients"], start=1):
        spans.append((number, f"client {number}", client["connect"], client["close"]))
        spans.append((number, "request", client["send"], client["answered"]))
    with_clients = os.path.join(scratch, "ch03_trace_with_clients.json")
    with_client_spans(trace.path, spans, with_clients)
    plot(with_clients, os.path.join(folder, "03-trace-three-clients.png"), "--title",
         "ch03_server traced: three clients connect, each sends a request, all hang up")
    reads = [h for h in trace.bars_named("handler", moments["send"], moments["answered"])]
    first_poll_end = min(trace.poll_before(read).end for read in reads)
    start, end = first_poll_end - 0.00005, max(read.end for read in reads)
    margin = (end - start) * 0.6
    plot(with_clients, os.path.join(folder, "03-trace-one-turn.png"),
         "--from", f"{trace.ms_from_start(start - margin):.3f}",
         "--to", f"{trace.ms_from_start(end + margin):.3f}", "--title",
         "Zoomed in: the requests arrive, the loop wakes up and reads them")


def main():
    return run_trace_test(__doc__, "ch03_server", run_scenario, check_trace, draw_pictures)


if __name__ == "__main__":
    sys.exit(main())
