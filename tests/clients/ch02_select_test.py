#!/usr/bin/env python3
"""Chapter 02's black-box test: the select() demo server from outside.

    ch02_select_test.py --bin build/bin silent_peers_delay_nobody
    ch02_select_test.py --bin build/bin many_clients_interleaved
    ch02_select_test.py --bin build/bin refuses_past_fd_setsize
    ch02_select_test.py --bin build/bin stops_on_sigterm

Each case starts build/bin/ch02_select_server as a separate process
(serverproc.py) and checks what the chapter says:

- a peer that connects and never speaks, and one that sends half a request
  and stalls, do not delay a third client (answered within 0.5 s);
- many clients with interleaved, half-sent lines are all answered;
- a connection whose descriptor would be >= FD_SETSIZE is closed with one
  log line naming the limit, and the server goes on serving;
- SIGTERM ends the server cleanly (exit status 0).

CTest runs each case as ch02.client.<case>. Exit status 77 means "skipped"
(the machine cannot open enough descriptors). Standard library only.
"""
import argparse
import os
import resource
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from serverproc import ServerProcess  # noqa: E402

SERVER = "ch02_select_server"
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: ch02\r\n\r\n"
FD_SETSIZE = 1024
SKIPPED = 77


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print(f"  ok: {message}", flush=True)


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_until(sock, marker, timeout=2.0):
    """Bytes up to and including `marker`; Failure if it does not come in time."""
    deadline = time.monotonic() + timeout
    data = b""
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"timed out waiting for {marker!r}; got {data!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise Failure(f"server closed before {marker!r}; got {data!r}")
        data += chunk
    return data


def closed_by_server(sock, timeout=2.0):
    """True if the server closes `sock` within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except ConnectionError:
            return True
    return False


def echo(sock, line):
    sock.sendall(line)
    return read_until(sock, b"\n")


def silent_peers_delay_nobody(program):
    with ServerProcess(program) as server:
        silent = connect(server.port)                  # never sends a byte
        stalled = connect(server.port)
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: exa")  # half a request, then nothing
        time.sleep(0.1)

        start = time.monotonic()
        with connect(server.port) as third, connect(server.port) as fourth:
            check(echo(third, b"hello\n") == b"hello\n", "a third client's line comes back")
            fourth.sendall(HTTP_REQUEST)
            reply = read_until(fourth, b"Hello, world")
            check(reply.startswith(b"HTTP/1.1 200 OK"), "and a fourth one's HTTP request is answered")
        elapsed = time.monotonic() - start
        check(elapsed < 0.5, f"within 0.5 s of the silent and stalled peers ({elapsed * 1000:.0f} ms)")

        stalled.sendall(b"mple\r\n\r\n")
        check(b"Hello, world" in read_until(stalled, b"Hello, world"),
              "the stalled request completes once its peer goes on")
        check(not closed_by_server(silent, timeout=0.1), "the silent peer is still connected")
        silent.close()
        stalled.close()


def many_clients_interleaved(program, count=200):
    with ServerProcess(program) as server:
        clients = [connect(server.port) for _ in range(count)]
        for i, sock in enumerate(clients):
            sock.sendall(f"client {i} ".encode())        # half a line each
        for i, sock in reversed(list(enumerate(clients))):
            sock.sendall(b"says hello\n")
        answered = sum(read_until(sock, b"\n") == f"client {i} says hello\n".encode()
                       for i, sock in enumerate(clients))
        check(answered == count, f"all {count} interleaved clients got their own line back")
        for sock in clients:
            sock.close()


def refuses_past_fd_setsize(program):
    wanted = FD_SETSIZE + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            print(f"skipped: this process may open only {hard} descriptors")
            return SKIPPED
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    with tempfile.TemporaryFile() as log, ServerProcess(program, stderr=log) as server:
        first = connect(server.port)
        check(echo(first, b"first\n") == b"first\n", "the first client is served")
        # The server holds a few descriptors of its own (stdio, listener, wake
        # pipe): FD_SETSIZE connections push its newest ones past the limit.
        crowd = [connect(server.port) for _ in range(FD_SETSIZE)]
        refused = sum(closed_by_server(sock, timeout=0.05) for sock in crowd[-20:])
        check(refused > 0, f"connections past FD_SETSIZE are closed ({refused} of the last 20)")
        check(echo(first, b"still here\n") == b"still here\n", "the first client is still served")
        for sock in crowd:
            sock.close()
        time.sleep(0.2)
        with connect(server.port) as late:
            check(echo(late, b"late\n") == b"late\n", "once the crowd leaves, a new client is served")
        first.close()
        server.stop()
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
        named = [line for line in lines if "FD_SETSIZE (1024)" in line]
        check(len(named) >= 1, f"stderr names the limit: {named[:1]}")
        check(len(named) <= 3, f"but does not flood the log ({len(named)} lines)")
    return 0


def stops_on_sigterm(program):
    server = ServerProcess(program)
    with server:
        sock = connect(server.port)
        check(echo(sock, b"ping\n") == b"ping\n", "the server answers")
        started = time.monotonic()
        server.stop()  # SIGTERM
        code = server.process.returncode
        check(code == 0, f"SIGTERM ends it with exit status 0 (got {code})")
        check(time.monotonic() - started < 2, "promptly")
        check(closed_by_server(sock, timeout=1), "and its connections are closed")
        sock.close()


CASES = {
    "silent_peers_delay_nobody": silent_peers_delay_nobody,
    "many_clients_interleaved": many_clients_interleaved,
    "refuses_past_fd_setsize": refuses_past_fd_setsize,
    "stops_on_sigterm": stops_on_sigterm,
}


def main():
    parser = argparse.ArgumentParser(description="Black-box checks of ch02_select_server.")
    parser.add_argument("--bin", required=True, help="the folder holding ch02_select_server")
    parser.add_argument("case", choices=sorted(CASES))
    args = parser.parse_args()
    program = os.path.join(args.bin, SERVER)
    print(f"{args.case}:", flush=True)
    try:
        status = CASES[args.case](program) or 0
    except (Failure, OSError, RuntimeError) as error:
        print(f"FAIL: {error}", flush=True)
        return 1
    if status == 0:
        print("PASS", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
