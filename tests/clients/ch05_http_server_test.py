#!/usr/bin/env python3
"""Black-box tests of build/bin/ch05_http_server with Python's http.client.

    ch05_http_server_test.py --server build/bin/ch05_http_server [--group basic]

Groups (each one a CTest test, ch05.client.GROUP): basic, keepalive,
chunked, errors, not_blocking. http.client is a strict, independent HTTP/1.1
client: if it can read our responses, real clients can. Raw sockets are
used where http.client cannot say what we want to send. Standard library
only; every wait has a timeout.
"""
import argparse
import http.client
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402

SERVER = None
TIMEOUT = 5.0


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER)
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT)

    def raw(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        return sock

    def request(self, method, path, body=None, headers=None):
        conn = self.connection()
        self.addCleanup(conn.close)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()


def read_all(sock, timeout=TIMEOUT):
    """Everything the server sends until it closes."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


class Basic(ServerTest):
    def test_hello_world(self):
        response, body = self.request("GET", "/")
        self.assertEqual(response.status, 200)
        self.assertEqual(body, b"Hello, world")
        self.assertEqual(response.getheader("Content-Type"), "text/html; charset=UTF-8")
        self.assertEqual(response.getheader("Content-Length"), "12")
        self.assertTrue(response.getheader("Date").endswith(" GMT"))
        self.assertTrue(response.getheader("Server"))

    def test_head_has_headers_but_no_body(self):
        response, body = self.request("HEAD", "/")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Content-Length"), "12")
        self.assertEqual(body, b"")

    def test_query_arguments_are_decoded(self):
        response, body = self.request("GET", "/query?b=x+y&a=1&a=%C3%A9")
        self.assertEqual(body.decode(), "a=1\na=\u00e9\nb=x y\n")

    def test_post_echo(self):
        payload = bytes(range(256)) * 100
        response, body = self.request("POST", "/echo", body=payload)
        self.assertEqual(response.status, 200)
        self.assertEqual(body, payload)

    def test_headers_arrive_as_sent(self):
        response, body = self.request("GET", "/headers", headers={"X-Test": "one two"})
        self.assertIn(b"X-Test: one two\n", body)

    def test_unknown_path_and_method(self):
        response, body = self.request("GET", "/nowhere")
        self.assertEqual(response.status, 404)
        self.assertIn(b"/nowhere", body)
        response, body = self.request("DELETE", "/")
        self.assertEqual(response.status, 405)


class KeepAlive(ServerTest):
    def test_one_connection_many_requests(self):
        conn = self.connection()
        self.addCleanup(conn.close)
        sockets = set()
        for _ in range(5):
            conn.request("GET", "/")
            response = conn.getresponse()
            self.assertEqual(response.read(), b"Hello, world")
            sockets.add(id(conn.sock))
        self.assertEqual(len(sockets), 1, "http.client had to reconnect: keep-alive failed")

    def test_connection_close(self):
        response, body = self.request("GET", "/", headers={"Connection": "close"})
        self.assertEqual(response.getheader("Connection"), "close")
        self.assertEqual(body, b"Hello, world")

    def test_http10_closes(self):
        sock = self.raw()
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = read_all(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(data.endswith(b"\r\n\r\nHello, world"))

    def test_pipelined_slow_then_fast_in_order(self):
        sock = self.raw()
        sock.sendall(b"GET /sleep?ms=150 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /sleep?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(sock)
        self.assertLess(data.index(b"slept 150"), data.index(b"slept 0"))
        self.assertLess(data.index(b"slept 0"), data.index(b"Hello, world"))


class Chunked(ServerTest):
    def test_chunked_request_body(self):
        conn = self.connection()
        self.addCleanup(conn.close)
        pieces = [b"first ", b"second ", b"third"]
        conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        self.assertEqual(response.read(), b"first second third")

    def test_chunked_response_arrives_over_time(self):
        conn = self.connection()
        self.addCleanup(conn.close)
        started = time.monotonic()
        conn.request("GET", "/stream?chunks=3")
        response = conn.getresponse()
        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
        self.assertIsNone(response.getheader("Content-Length"))
        first = response.read1()  # the first chunk, long before the last
        self.assertEqual(first, b"chunk 1\n")
        self.assertEqual(response.read(), b"chunk 2\nchunk 3\n")
        self.assertGreater(time.monotonic() - started, 0.15)

    def test_expect_100_continue(self):
        sock = self.raw()
        sock.sendall(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        sock.settimeout(TIMEOUT)
        self.assertEqual(sock.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"data")
        response = http.client.HTTPResponse(sock)
        response.begin()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.read(), b"data")


class Errors(ServerTest):
    def refused(self, raw_request):
        sock = self.raw()
        sock.sendall(raw_request)
        data = read_all(sock)  # the server closes after an error
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head[9:12]), body

    def test_bad_header_name(self):
        status, body = self.refused(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n")
        self.assertEqual(status, 400)
        self.assertIn(b"not a token", body)

    def test_smuggling_attempt(self):
        status, body = self.refused(b"POST /echo HTTP/1.1\r\nContent-Length: 6\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nX")
        self.assertEqual(status, 400)
        self.assertIn(b"Transfer-Encoding", body)

    def test_bad_chunk_size(self):
        status, body = self.refused(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"0x5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(status, 400)
        self.assertIn(b"chunk size", body)

    def test_body_too_large(self):
        status, body = self.refused(b"POST /echo HTTP/1.1\r\nContent-Length: 20000000\r\n\r\n")
        self.assertEqual(status, 413)

    def test_huge_head_closes(self):
        sock = self.raw()
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n")
            self.assertFalse(read_all(sock).startswith(b"HTTP/1.1 200"))
        except ConnectionResetError:
            pass
        response, body = self.request("GET", "/")  # still serving
        self.assertEqual(body, b"Hello, world")

    def test_half_close_after_request_gets_answer(self):
        sock = self.raw()
        sock.sendall(b"GET /sleep?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        self.assertTrue(read_all(sock).endswith(b"slept 50"))


class NotBlocking(ServerTest):
    def test_stalled_peers_do_not_block_others(self):
        idle = self.raw()
        half = self.raw()
        half.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        body = self.raw()
        body.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
        time.sleep(0.1)
        started = time.monotonic()
        for _ in range(3):
            response, data = self.request("GET", "/")
            self.assertEqual(data, b"Hello, world")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertIsNotNone(idle)  # connected all along, never spoke

    def test_sleeping_request_does_not_block_others(self):
        slow = self.raw()
        slow.sendall(b"GET /sleep?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        response, data = self.request("GET", "/")
        self.assertEqual(data, b"Hello, world")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertIn(b"slept 1500", read_all_until(slow, b"slept 1500"))


def read_all_until(sock, marker, timeout=TIMEOUT):
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


GROUPS = {"basic": Basic, "keepalive": KeepAlive, "chunked": Chunked, "errors": Errors,
          "not_blocking": NotBlocking}


def main():
    global SERVER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--group", choices=sorted(GROUPS), action="append")
    args = parser.parse_args()
    SERVER = os.path.abspath(args.server)
    suite = unittest.TestSuite()
    for group in args.group or sorted(GROUPS):
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(GROUPS[group]))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
