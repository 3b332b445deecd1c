#!/usr/bin/env python3
"""Many clients at once, each sending hello-HTTP requests on one connection.

    tests/clients/many_clients.py --port 8888                       # 10 clients x 10 requests
    tests/clients/many_clients.py --port 8888 --clients 200 --requests 50 --deadline 10

Every client connects at the same moment, then sends its requests one after
the other on the same keep-alive connection, waiting for each reply. A
client is "served" if it got every reply before the deadline. At the end the
script prints, per client, when its first reply came and how long its
requests took, then how many clients were served in time.

Against a server that serves one client at a time the first replies come
one client after another; with a slow client holding that server
(tests/clients/slow_client.py) nobody is served at all.

Exit status: 0 if every client was served within the deadline, 1 if not.
--json prints the results as one JSON object instead (for tests).
Standard library only.
"""
import argparse
import json
import socket
import statistics
import sys
import threading
import time

EXPECTED_BODY = b"Hello, world"


class Deadline(Exception):
    pass


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients (default 10)")
    parser.add_argument("--requests", type=int, default=10,
                        help="requests per client, on one connection (default 10)")
    parser.add_argument("--deadline", type=float, default=5.0,
                        help="seconds every client has, from the start, to get all its "
                             "replies (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--verbose", action="store_true",
                        help="one line per client even when there are more than 20")
    return parser.parse_args()


class Client:
    """One connection; run() fills in the results."""

    def __init__(self, number, args):
        self.number = number
        self.args = args
        self.start = None          # set by main() just before the clients go
        self.deadline = None
        self.latencies = []        # seconds per request
        self.first_reply = None    # seconds from the start to the first reply
        self.error = None
        self.buffer = b""

    def served(self):
        return self.error is None and len(self.latencies) == self.args.requests

    def time_left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Deadline()
        return left

    def receive_more(self, connection):
        connection.settimeout(self.time_left())
        try:
            data = connection.recv(65536)
        except socket.timeout:
            raise Deadline() from None
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def read_response(self, connection):
        while b"\r\n\r\n" not in self.buffer:
            self.receive_more(connection)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(self.buffer) < length:
            self.receive_more(connection)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if not head.startswith(b"HTTP/1.1 200") or body != EXPECTED_BODY:
            raise ValueError(f"unexpected reply {head[:40]!r} ... {body[:40]!r}")

    def run(self, ready):
        request = (f"GET / HTTP/1.1\r\nHost: {self.args.host}:{self.args.port}\r\n\r\n").encode()
        ready.wait()  # every client starts at the same moment
        try:
            with socket.create_connection((self.args.host, self.args.port),
                                          timeout=self.time_left()) as connection:
                for _ in range(self.args.requests):
                    sent = time.monotonic()
                    connection.settimeout(self.time_left())
                    connection.sendall(request)
                    self.read_response(connection)
                    now = time.monotonic()
                    self.latencies.append(now - sent)
                    if self.first_reply is None:
                        self.first_reply = now - self.start
        except (Deadline, socket.timeout):
            self.error = "deadline"
        except (OSError, ValueError) as error:
            self.error = str(error) or type(error).__name__


def milliseconds(seconds):
    return f"{seconds * 1000:.2f} ms"


def describe(client, requests):
    if client.served():
        return (f"client {client.number:4}: first reply after {milliseconds(client.first_reply)}; "
                f"{requests} requests, median {milliseconds(statistics.median(client.latencies))}, "
                f"max {milliseconds(max(client.latencies))}")
    first = "no reply" if client.first_reply is None else \
        f"first reply after {milliseconds(client.first_reply)}"
    return (f"client {client.number:4}: NOT SERVED ({client.error}): {first}, "
            f"{len(client.latencies)} of {requests} replies")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    args = parse_arguments()
    ready = threading.Event()
    clients = [Client(n, args) for n in range(1, args.clients + 1)]
    threads = [threading.Thread(target=client.run, args=(ready,)) for client in clients]
    for thread in threads:
        thread.start()
    # The clock starts once every thread exists, so that starting hundreds
    # of threads does not eat into the deadline.
    start = time.monotonic()
    for client in clients:
        client.start, client.deadline = start, start + args.deadline
    ready.set()
    for thread in threads:
        thread.join()

    served = [c for c in clients if c.served()]
    latencies = [latency for c in clients for latency in c.latencies]
    firsts = [c.first_reply for c in clients if c.first_reply is not None]
    if args.json:
        print(json.dumps({
            "clients": args.clients, "requests": args.requests, "deadline": args.deadline,
            "served": len(served),
            "first_reply_seconds": [c.first_reply for c in clients],
            "errors": [c.error for c in clients],
            "replies": len(latencies),
        }))
    else:
        shown = clients if args.verbose or len(clients) <= 20 else clients[:10]
        for client in shown:
            print(describe(client, args.requests))
        if len(shown) < len(clients):
            print(f"... and {len(clients) - len(shown)} more clients (--verbose shows them all)")
        if latencies:
            print(f"all {len(latencies)} replies: median {milliseconds(statistics.median(latencies))}, "
                  f"99th percentile {milliseconds(percentile(latencies, 0.99))}, "
                  f"max {milliseconds(max(latencies))}")
        if firsts:
            print(f"first replies came between {milliseconds(min(firsts))} and "
                  f"{milliseconds(max(firsts))} after the start")
        print(f"served within {args.deadline:g} s: {len(served)} of {args.clients} clients")
    return 0 if len(served) == len(clients) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
