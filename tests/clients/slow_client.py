#!/usr/bin/env python3
"""A client that takes its time: it connects, then holds the connection.

    tests/clients/slow_client.py --port 8888                  # connect, say nothing for 10 s
    tests/clients/slow_client.py --port 8888 --interval 0.5   # send a request, one byte every 0.5 s
    tests/clients/slow_client.py --port 8888 --seconds 60 --interval 1 --request $'hello\\n'
    tests/clients/slow_client.py --port 8888 --connections 1000 --seconds 60   # a crowd of idle clients

A server that serves one client at a time is stuck while this client is
connected; a server with a thread per client spends a thread on it; an event
loop spends a few hundred bytes. Run it beside the servers of chapters 01 to
03 and watch what happens to other clients (tests/clients/many_clients.py).

It prints what it does, one line each, and what the server sent back. With
--connections N it opens N connections and does the same on each (lines
then start with the connection's number). Exit status: 0, or 1 if it could
not connect. Standard library only.
"""
import argparse
import resource
import selectors
import socket
import sys
import time

DEFAULT_REQUEST = "GET / HTTP/1.1\r\nHost: slow-client\r\n\r\n"


def say(text):
    print(f"slow_client: {text}", flush=True)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="server port")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long to hold the connection in all (default 10)")
    parser.add_argument("--interval", type=float, default=None,
                        help="send the request one byte every INTERVAL seconds "
                             "(default: send nothing at all)")
    parser.add_argument("--request", default=DEFAULT_REQUEST,
                        help="what to send with --interval (default: a hello HTTP/1.1 request)")
    parser.add_argument("--connections", type=int, default=1,
                        help="how many connections to open and hold (default 1)")
    return parser.parse_args()


def allow_descriptors(count):
    """Raises our own descriptor limit if `count` connections need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 32
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class Connection:
    def __init__(self, number, sock, label):
        self.number = number
        self.sock = sock
        self.label = label  # "" for a single connection, "#3: " for many
        self.open = True

    def say(self, text):
        say(self.label + text)


def dribble(connections, request, interval, deadline):
    """Sends one byte of the request per interval, on every connection."""
    for index, byte in enumerate(request):
        if time.monotonic() >= deadline:
            say(f"time is up after {index} of {len(request)} bytes")
            return
        for connection in connections:
            if not connection.open:
                continue
            try:
                connection.sock.sendall(bytes([byte]))
            except OSError as error:
                connection.say(f"connection error after {index} bytes: {error}")
                connection.open = False
        say(f"sent byte {index + 1}/{len(request)}: {bytes([byte])!r}")
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    say("request sent")


def hold(connections, deadline):
    """Prints whatever the servers send until the deadline."""
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            if connection.open:
                selector.register(connection.sock, selectors.EVENT_READ, connection)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for key, _ in selector.select(timeout=left):
                connection = key.data
                try:
                    data = connection.sock.recv(65536)
                except OSError as error:
                    data = None
                    connection.say(f"connection error: {error}")
                if data:
                    connection.say(f"received {data!r}")
                    continue
                if data is not None:
                    connection.say("the server closed the connection")
                selector.unregister(connection.sock)
                connection.open = False
    # Every connection is closed: nothing left to hold.


def main():
    args = parse_arguments()
    deadline = time.monotonic() + args.seconds
    allow_descriptors(args.connections)
    connections = []
    try:
        for number in range(1, args.connections + 1):
            sock = socket.create_connection((args.host, args.port), timeout=args.seconds)
            sock.settimeout(None)  # blocking sends; hold() waits with select
            label = f"#{number}: " if args.connections > 1 else ""
            connections.append(Connection(number, sock, label))
    except OSError as error:
        say(f"cannot connect to {args.host}:{args.port} "
            f"(connection {len(connections) + 1}): {error}")
        for connection in connections:
            connection.sock.close()
        return 1
    host, port = connections[0].sock.getsockname()[:2]
    what = "the connection" if args.connections == 1 else f"{args.connections} connections"
    say(f"connected from {host}:{port}; holding {what} for {args.seconds:g} s")
    try:
        if args.interval is not None:
            dribble(connections, args.request.encode(), args.interval, deadline)
        hold(connections, deadline)
    finally:
        for connection in connections:
            connection.sock.close()
    say("closed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
