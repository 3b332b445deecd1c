#!/usr/bin/env python3
"""Black-box tests of build/bin/ch04_echo_server, through its socket only.

    ch04_echo_server_test.py --server build/bin/ch04_echo_server [--group echo]

Groups (each one a CTest test, ch04.client.GROUP): echo, http, not_blocking,
many_clients, out_of_descriptors (needs prlimit, from util-linux). Standard library only; every wait has a timeout.
"""
import argparse
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402

SERVER = None
TIMEOUT = 5.0


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, delimiter, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while delimiter not in self.buffer:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed before {delimiter!r}; got {self.buffer!r}")
            self.buffer += chunk
        end = self.buffer.index(delimiter) + len(delimiter)
        data, self.buffer = self.buffer[:end], self.buffer[end:]
        return data

    def read_exactly(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed after {len(self.buffer)} of {n} bytes")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_response(self):
        head = self.read_until(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return head, self.read_exactly(length)

    def closed_by_server(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        self.sock.close()


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER)
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def client(self):
        c = Client(self.server.port)
        self.addCleanup(c.close)
        return c


class EchoTest(ServerTest):
    def test_lines_come_back(self):
        c = self.client()
        c.send(b"hello\nworld\n")
        self.assertEqual(c.read_until(b"\n"), b"hello\n")
        self.assertEqual(c.read_until(b"\n"), b"world\n")

    def test_line_in_pieces_of_every_size(self):
        c = self.client()
        line = b"the quick brown fox jumps over the lazy dog\n"
        for size in range(1, len(line) + 1):
            for at in range(0, len(line), size):
                c.send(line[at:at + size])
                time.sleep(0.0005)
            self.assertEqual(c.read_until(b"\n"), line, f"pieces of {size}")

    def test_many_pipelined_lines(self):
        c = self.client()
        lines = b"".join(b"line %d\n" % i for i in range(2000))
        c.send(lines)
        self.assertEqual(c.read_exactly(len(lines)), lines)

    def test_too_long_line_closes_the_connection(self):
        c = self.client()
        c.send(b"x" * 9000)
        self.assertTrue(c.closed_by_server())

    def test_client_half_close_still_gets_its_echo(self):
        c = self.client()
        c.send(b"last words\n")
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.read_until(b"\n"), b"last words\n")
        self.assertTrue(c.closed_by_server())


class HttpTest(ServerTest):
    def test_get_keeps_the_connection(self):
        c = self.client()
        for _ in range(3):
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = c.read_response()
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
            self.assertEqual(body, b"Hello, world")

    def test_pipelined_requests(self):
        c = self.client()
        c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(2):
            _, body = c.read_response()
            self.assertEqual(body, b"Hello, world")

    def test_connection_close_closes(self):
        c = self.client()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, body = c.read_response()
        self.assertIn(b"Connection: close", head)
        self.assertTrue(c.closed_by_server())

    def test_http_1_0_closes_by_default(self):
        c = self.client()
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        c.read_response()
        self.assertTrue(c.closed_by_server())

    def test_http_1_0_keep_alive_is_answered_in_kind(self):
        c = self.client()
        for _ in range(2):
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            head, body = c.read_response()
            self.assertIn(b"Connection: keep-alive", head)
            self.assertEqual(body, b"Hello, world")

    def test_head_has_no_body(self):
        c = self.client()
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = c.read_until(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 12", head)
        _, body = c.read_response()  # the next response follows at once
        self.assertEqual(body, b"Hello, world")

    def test_body_is_skipped(self):
        c = self.client()
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nline\nline\n")
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(2):
            _, body = c.read_response()
            self.assertEqual(body, b"Hello, world")

    def test_bad_header_gets_400(self):
        c = self.client()
        c.send(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
        head = c.read_until(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 400"), head)
        self.assertTrue(c.closed_by_server())


class NotBlockingTest(ServerTest):
    def test_idle_and_half_line_peers_do_not_block_others(self):
        idle = self.client()                 # connects, never speaks
        half = self.client()
        half.send(b"half a li")              # never ends its line
        half_http = self.client()
        half_http.send(b"GET / HTTP/1.1\r\nHost:")
        started = time.monotonic()
        other = self.client()
        other.send(b"served\n")
        self.assertEqual(other.read_until(b"\n", timeout=1.0), b"served\n")
        self.assertLess(time.monotonic() - started, 1.0)
        half.send(b"ne\n")
        self.assertEqual(half.read_until(b"\n"), b"half a line\n")
        del idle

    def test_peer_that_never_reads_does_not_block_others(self):
        greedy = self.client()
        greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        greedy.sock.setblocking(False)
        line = b"y" * 1000 + b"\n"
        sent = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:   # fill both directions' buffers
            try:
                sent += greedy.sock.send(line * 64)
            except BlockingIOError:
                time.sleep(0.01)
                try:
                    greedy.sock.send(line)
                except BlockingIOError:
                    break
        other = self.client()
        other.send(b"still served\n")
        self.assertEqual(other.read_until(b"\n", timeout=1.0), b"still served\n")


class ManyClientsTest(ServerTest):
    def test_two_hundred_clients_at_once(self):
        clients = [self.client() for _ in range(200)]
        for round_ in range(3):
            for i, c in enumerate(clients):
                c.send(b"client %d round %d\n" % (i, round_))
            for i, c in enumerate(clients):
                self.assertEqual(c.read_until(b"\n"), b"client %d round %d\n" % (i, round_))


class OutOfDescriptorsTest(unittest.TestCase):
    """The server runs with only 32 descriptors. More clients than that wait
    in the listen queue; the server must neither crash nor spin (it pauses
    accepting), and serves them once descriptors are free again."""

    LIMIT = 32

    def setUp(self):
        self.server = ServerProcess(SERVER, stderr=subprocess.DEVNULL)
        self.server.command = ["prlimit", f"--nofile={self.LIMIT}", SERVER, "--port=0"]
        self.server.__enter__()
        self.addCleanup(self.server.stop)

    def cpu_seconds(self):
        with open(f"/proc/{self.server.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_more_clients_than_descriptors(self):
        clients = [Client(self.server.port) for _ in range(self.LIMIT + 10)]
        try:
            clients[0].send(b"first\n")
            self.assertEqual(clients[0].read_until(b"\n"), b"first\n")
            before = self.cpu_seconds()
            time.sleep(1.0)
            self.assertLess(self.cpu_seconds() - before, 0.5,
                            "the server spins while it cannot accept")
            last = clients[-1]
            last.send(b"waiting\n")
            for c in clients[:20]:
                c.close()
            self.assertEqual(last.read_until(b"\n", timeout=5.0), b"waiting\n")
        finally:
            for c in clients:
                c.close()


GROUPS = {
    "echo": EchoTest,
    "http": HttpTest,
    "not_blocking": NotBlockingTest,
    "many_clients": ManyClientsTest,
    "out_of_descriptors": OutOfDescriptorsTest,
}


def main():
    global SERVER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path of ch04_echo_server")
    parser.add_argument("--group", choices=sorted(GROUPS), help="run one group only")
    args = parser.parse_args()
    SERVER = args.server
    loader = unittest.TestLoader()
    groups = [GROUPS[args.group]] if args.group else list(GROUPS.values())
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(g) for g in groups)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
