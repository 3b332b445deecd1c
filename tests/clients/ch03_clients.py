#!/usr/bin/env python3
"""Black-box tests of chapter 03's server (build/bin/ch03_server) from outside.

    python3 tests/clients/ch03_clients.py --server build/bin/ch03_server [--edge-triggered]
    python3 tests/clients/ch03_clients.py --server build/bin/ch03_server -k slow   # some tests

CTest runs it twice: ch03.client.level_triggered and ch03.client.edge_triggered.
Every test starts its own server with --port=0 (serverproc.ServerProcess),
talks to it over 127.0.0.1 with deadlines on every wait, and stops it.
What is checked is what a client can see: answers, how fast they come while
other peers idle or dribble, how much a peer that never reads can push, and
that the server survives running out of descriptors and stops on SIGTERM.
Standard library only.
"""
import argparse
import http.client
import os
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402

SERVER = None          # path of ch03_server, from --server
SERVER_ARGS = []       # ["--edge-triggered"] or []
SANITIZED = False      # the server was built with sanitizers (--sanitized)
REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def connect(port, buffer_size=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if buffer_size:  # before connect, so that TCP's window follows it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_size)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until(sock, delimiter, timeout=5.0):
    """Bytes up to and including delimiter; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    data = b""
    while delimiter not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {delimiter!r} after {timeout} s; got {data!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            raise ConnectionError(f"closed before {delimiter!r}; got {data!r}")
        data += chunk
    return data


def read_response(sock, timeout=5.0):
    """One HTTP response of the hello server (its body is 'Hello, world')."""
    data = read_until(sock, b"\r\n\r\n", timeout)
    while not data.endswith(b"Hello, world"):
        data += read_until(sock, b"Hello, world", timeout)
    return data


def cpu_seconds(pid):
    """User + system CPU time the process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoopServerTest(unittest.TestCase):
    def setUp(self):
        self.stderr = tempfile.TemporaryFile()  # a file: a pipe could fill and block it

    def tearDown(self):
        self.stderr.close()

    def server(self, fd_limit=None):
        server = ServerProcess(SERVER, *SERVER_ARGS, stderr=self.stderr)
        if fd_limit:  # prlimit sets the limit, then runs the server in its place
            server.command = ["prlimit", f"--nofile={fd_limit}", *server.command]
        return server

    def logged(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def test_echo_and_http(self):
        with self.server() as server:
            web = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            for _ in range(3):  # keep-alive: one connection, three requests
                web.request("GET", "/")
                response = web.getresponse()
                self.assertEqual(response.status, 200)
                self.assertEqual(response.read(), b"Hello, world")
            web.close()
            with connect(server.port) as echo:
                echo.sendall(b"hello\nworld\n")
                self.assertEqual(read_until(echo, b"world\n"), b"hello\nworld\n")

    def test_idle_and_slow_peers_do_not_block_others(self):
        with self.server() as server:
            idle = connect(server.port)  # connects, never says a word
            slow = connect(server.port)
            slow_answer = {}

            def dribble():
                try:
                    for byte in REQUEST:  # one byte every 50 ms: about 1.6 s
                        slow.sendall(bytes([byte]))
                        time.sleep(0.05)
                    slow_answer["response"] = read_response(slow)
                except OSError as error:
                    slow_answer["error"] = error

            dribbler = threading.Thread(target=dribble)
            dribbler.start()
            worst = 0.0
            try:
                for _ in range(20):
                    started = time.monotonic()
                    with connect(server.port) as quick:
                        quick.sendall(REQUEST)
                        self.assertIn(b"200 OK", read_response(quick, timeout=2.0))
                    worst = max(worst, time.monotonic() - started)
                    time.sleep(0.05)
            finally:
                dribbler.join(timeout=10)
            self.assertLess(worst, 0.5, f"a quick client waited {worst:.2f} s behind slow peers")
            self.assertIn("response", slow_answer, f"the slow peer got no answer: {slow_answer}")
            idle.sendall(b"still here\n")
            self.assertEqual(read_until(idle, b"\n"), b"still here\n")
            idle.close()
            slow.close()

    def test_many_clients_at_once(self):
        count = 500
        with self.server() as server:
            selector = selectors.DefaultSelector()
            sockets = []
            try:
                for _ in range(count):
                    sock = connect(server.port)
                    sockets.append(sock)
                for sock in sockets:
                    sock.sendall(REQUEST)
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ, bytearray())
                answered = 0
                deadline = time.monotonic() + 20
                while answered < count and time.monotonic() < deadline:
                    for key, _ in selector.select(timeout=0.5):
                        key.data.extend(key.fileobj.recv(4096))
                        if key.data.endswith(b"Hello, world"):
                            answered += 1
                            selector.unregister(key.fileobj)
                self.assertEqual(answered, count, "not every client was answered")
            finally:
                selector.close()
                for sock in sockets:
                    sock.close()

    def test_a_peer_that_never_reads_cannot_flood_the_server(self):
        with self.server() as server:
            greedy = connect(server.port, buffer_size=16384)
            greedy.setblocking(False)
            chunk = b"a line that is never read back by its sender\n" * 1400  # ~64 KB
            pushed, stalled_since = 0, None
            limit = 256 * 1024 * 1024
            while pushed < limit:
                try:
                    pushed += greedy.send(chunk)
                    stalled_since = None
                except BlockingIOError:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 0.5:
                        break
                    time.sleep(0.01)
            # Backpressure: the server stopped reading once 1 MB of replies
            # waited; only the kernel's buffers took more.
            self.assertLess(pushed, 64 * 1024 * 1024,
                            f"a peer that reads nothing pushed {pushed >> 20} MB in")
            with connect(server.port) as other:
                started = time.monotonic()
                other.sendall(b"anyone home?\n")
                self.assertEqual(read_until(other, b"\n", timeout=2.0), b"anyone home?\n")
                self.assertLess(time.monotonic() - started, 1.0)
            greedy.close()

    def test_running_out_of_descriptors_pauses_accept_without_spinning(self):
        if SANITIZED:
            # UBSan checks a pointer by writing it into a pipe() of its own;
            # with no descriptor left that fails, and it reports a false error.
            self.skipTest("sanitizer runtimes need free descriptors themselves")
        # 40 descriptors: about 33 connections after stdio, epoll, eventfd,
        # signalfd and the listener. The rest wait in the listen queue.
        with self.server(fd_limit=40) as server:
            clients = [connect(server.port) for _ in range(50)]
            try:
                for i, sock in enumerate(clients):
                    sock.sendall(b"client %d\n" % i)
                time.sleep(0.3)
                before = cpu_seconds(server.pid)
                time.sleep(1.0)
                used = cpu_seconds(server.pid) - before
                self.assertLess(used, 0.3, f"the server used {used:.2f} s of CPU per second "
                                           "while out of descriptors (spinning on accept?)")
                self.assertIn("not accepting", self.logged())
                served, waiting = [], []
                for i, sock in enumerate(clients):
                    try:
                        read_until(sock, b"\n", timeout=0.05)
                        served.append(sock)
                    except TimeoutError:
                        waiting.append(sock)
                self.assertTrue(waiting, "every client was served: the limit did not bite")
                for sock in served[:25]:  # free descriptors...
                    sock.close()
                for sock in waiting:      # ...and the queued clients get their turn
                    self.assertTrue(read_until(sock, b"\n", timeout=3.0).startswith(b"client "))
            finally:
                for sock in clients:
                    sock.close()

    def test_sigterm_stops_it_cleanly(self):
        with self.server() as server:
            held = connect(server.port)  # an open connection must not delay the exit
            held.sendall(b"hi\n")
            read_until(held, b"\n")
            server.process.send_signal(signal.SIGTERM)
            try:
                code = server.process.wait(timeout=5)
            finally:
                held.close()
            self.assertEqual(code, 0)
            self.assertIn("stopped", self.logged())


def main():
    global SERVER, SERVER_ARGS, SANITIZED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path of ch03_server")
    parser.add_argument("--edge-triggered", action="store_true",
                        help="run the server with --edge-triggered")
    parser.add_argument("--sanitized", action="store_true",
                        help="the server was built with sanitizers (skips the descriptor-limit test)")
    args, unittest_args = parser.parse_known_args()
    SERVER = os.path.abspath(args.server)
    SANITIZED = args.sanitized
    SERVER_ARGS = ["--edge-triggered"] if args.edge_triggered else []
    unittest.main(argv=[sys.argv[0], "-v", *unittest_args])


if __name__ == "__main__":
    main()
