#!/usr/bin/env python3
"""Chapter 01's black-box test: the two demo servers against slow clients.

    ch01_blocking_test.py --bin build/bin iterative_stalls_behind_a_slow_client
    ch01_blocking_test.py --bin build/bin threaded_serves_beside_slow_clients
    ch01_blocking_test.py --bin build/bin threaded_pays_a_thread_per_connection

Each case starts a demo server as a separate process (serverproc.py), runs
slow_client.py and many_clients.py against it exactly as a learner would,
and checks what the chapter says happens:

- the iterative server serves nobody while one slow client is connected,
  and everybody once it has gone;
- the thread-per-connection server serves everybody beside slow clients;
- ... and pays one thread for each connected client (read from
  /proc/PID/status).

CTest runs each case as ch01.client.<case>. Standard library only.
"""
import argparse
import json
import os
import selectors
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from serverproc import ServerProcess  # noqa: E402

SLOW_CLIENT = os.path.join(HERE, "slow_client.py")
MANY_CLIENTS = os.path.join(HERE, "many_clients.py")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)
    print(f"  ok: {message}", flush=True)


class SlowClient:
    """slow_client.py as a child process; started once it has connected."""

    def __init__(self, port, *args):
        self.process = subprocess.Popen(
            [sys.executable, SLOW_CLIENT, f"--port={port}", *args],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.output = b""
        if not self._read_until(b"connected from", timeout=10):
            self.stop()
            raise Failure(f"slow_client did not connect; it said {self.output!r}")

    def _read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while marker not in self.output:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    return False
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    return False
                self.output += chunk
        return True

    def wait_for(self, marker, timeout):
        return self._read_until(marker, timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # the kernel closes its socket
        self.process.wait(timeout=10)
        self.process.stdout.close()


def many_clients(port, clients, requests, deadline):
    """Runs many_clients.py; returns (exit status, its JSON results)."""
    result = subprocess.run(
        [sys.executable, MANY_CLIENTS, f"--port={port}", f"--clients={clients}",
         f"--requests={requests}", f"--deadline={deadline}", "--json"],
        capture_output=True, text=True, timeout=deadline + 60)
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise Failure(f"many_clients.py printed no JSON: {result.stdout!r} {result.stderr!r}")


def thread_count(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise Failure("no Threads: line in /proc/PID/status")


def eventually(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def iterative_stalls_behind_a_slow_client(bin_dir):
    with ServerProcess(os.path.join(bin_dir, "ch01_iterative_server")) as server:
        code, before = many_clients(server.port, clients=5, requests=5, deadline=10)
        check(code == 0 and before["served"] == 5,
              f"with nobody else connected, 5 of 5 clients are served ({before['served']})")

        slow = SlowClient(server.port, "--seconds=60")
        try:
            code, stalled = many_clients(server.port, clients=3, requests=3, deadline=1.5)
            check(code == 1 and stalled["served"] == 0,
                  f"while a slow client holds the iterative server, 0 of 3 clients are "
                  f"served in 1.5 s ({stalled['served']})")
            check(all(first is None for first in stalled["first_reply_seconds"]),
                  "not one of them got even a first reply")
        finally:
            slow.stop()

        code, after = many_clients(server.port, clients=3, requests=3, deadline=10)
        check(code == 0 and after["served"] == 3,
              f"once the slow client has gone, 3 of 3 clients are served ({after['served']})")


def threaded_serves_beside_slow_clients(bin_dir):
    with ServerProcess(os.path.join(bin_dir, "ch01_threaded_server")) as server:
        silent = [SlowClient(server.port, "--seconds=60") for _ in range(2)]
        dribbler = SlowClient(server.port, "--seconds=30", "--interval=0.02")
        try:
            code, results = many_clients(server.port, clients=20, requests=5, deadline=5)
            check(code == 0 and results["served"] == 20,
                  f"beside 3 slow clients, 20 of 20 clients are served in 5 s ({results['served']})")
            check(dribbler.wait_for(b"Hello, world", timeout=20),
                  "the client that sent its request one byte at a time got its reply too")
        finally:
            for client in silent + [dribbler]:
                client.stop()


def threaded_pays_a_thread_per_connection(bin_dir):
    # Counted relative to the start: a sanitizer runtime may add a thread of
    # its own to the server process.
    with ServerProcess(os.path.join(bin_dir, "ch01_threaded_server")) as server:
        before = thread_count(server.pid)
        print(f"  with no clients the server runs {before} thread(s)", flush=True)
        clients = [SlowClient(server.port, "--seconds=60") for _ in range(10)]
        try:
            check(eventually(lambda: thread_count(server.pid) >= before + 10),
                  f"10 connected clients cost 10 more threads ({thread_count(server.pid)} in all)")
            peak = thread_count(server.pid)
        finally:
            for client in clients:
                client.stop()
        check(eventually(lambda: thread_count(server.pid) <= peak - 10),
              f"their threads end when they leave ({thread_count(server.pid)} left)")


CASES = {case.__name__: case for case in (
    iterative_stalls_behind_a_slow_client,
    threaded_serves_beside_slow_clients,
    threaded_pays_a_thread_per_connection,
)}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder with the ch01_* demo programs")
    parser.add_argument("case", choices=sorted(CASES))
    args = parser.parse_args()
    print(f"{args.case}:", flush=True)
    try:
        CASES[args.case](args.bin)
    except Failure as failure:
        print(f"  FAILED: {failure}", flush=True)
        return 1
    print("  passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
