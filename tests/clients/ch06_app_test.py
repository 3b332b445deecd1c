#!/usr/bin/env python3
"""Black-box tests of build/bin/ch06_app with Python's http.client.

    ch06_app_test.py --server build/bin/ch06_app [--group pages]

Groups (each one a CTest test, ch06.client.GROUP): pages, forms_and_json,
errors, redirects, callbacks, forgotten_finish. The expected answers are
what Python Tornado 6.2 gives for the same application, apart from its
Etag header (a final/ feature). Standard library only; every wait has a
timeout.
"""
import argparse
import http.client
import json
import os
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402

SERVER = None
TIMEOUT = 5.0


def error_page(status, reason):
    line = "%d: %s" % (status, reason)
    return ("<html><title>%s</title><body>%s</body></html>" % (line, line)).encode()


class AppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(SERVER)
        cls.server.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def connection(self, timeout=TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        self.addCleanup(conn.close)
        return conn

    def request(self, method, path, body=None, headers=None):
        conn = self.connection()
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()

    def raw(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        return sock


class Pages(AppTest):
    def test_hello_world(self):
        response, body = self.request("GET", "/")
        self.assertEqual(response.status, 200)
        self.assertEqual(body, b"Hello, world")
        self.assertEqual(response.getheader("Content-Type"), "text/html; charset=UTF-8")
        self.assertEqual(response.getheader("Content-Length"), "12")

    def test_head(self):
        response, body = self.request("HEAD", "/")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Content-Length"), "12")
        self.assertEqual(body, b"")

    def test_story_by_id(self):
        response, body = self.request("GET", "/story/42")
        self.assertEqual(body, b"this is story 42")
        response, body = self.request("GET", "/story/abc")
        self.assertEqual(response.status, 404)

    def test_link_built_by_reverse_url(self):
        response, body = self.request("GET", "/link")
        self.assertEqual(body, b'<a href="/story/1">link to story 1</a>')

    def test_index_links_all_work(self):
        response, body = self.request("GET", "/index")
        self.assertEqual(response.status, 200)
        hrefs = [part.split(b'"', 1)[0].decode() for part in body.split(b'href="')[1:]]
        self.assertIn("/story/1", hrefs)
        self.assertGreaterEqual(len(hrefs), 6)
        for href in hrefs:
            target = href.replace("&amp;", "&")
            response, _ = self.request("GET", target)
            self.assertIn(response.status, (200, 301, 403), target)


class FormsAndJson(AppTest):
    def test_form_page(self):
        response, body = self.request("GET", "/myform")
        self.assertIn(b'<form action="/myform" method="POST">', body)
        self.assertIn(b'name="message"', body)

    def test_form_post_is_escaped(self):
        form = urllib.parse.urlencode({"message": "<script>alert('x')</script> & more"})
        response, body = self.request(
            "POST", "/myform", body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(response.status, 200)
        self.assertEqual(body, b"You wrote &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more")

    def test_form_post_without_the_field_is_400(self):
        response, body = self.request(
            "POST", "/myform", body="other=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(response.status, 400)
        self.assertEqual(body, error_page(400, "Bad Request"))

    def test_query_as_json(self):
        response, body = self.request("GET", "/query?b=x+y&a=1&a=%3C%2Fscript%3E&c")
        self.assertEqual(response.getheader("Content-Type"), "application/json; charset=UTF-8")
        self.assertEqual(json.loads(body), {"a": ["1", "</script>"], "b": ["x y"], "c": [""]})
        self.assertNotIn(b"</script>", body, "json_encode escapes </")


class Errors(AppTest):
    def test_unknown_path_is_404(self):
        response, body = self.request("GET", "/nowhere")
        self.assertEqual(response.status, 404)
        self.assertEqual(body, error_page(404, "Not Found"))

    def test_missing_method_is_405(self):
        for method in ("POST", "PUT", "DELETE"):
            response, body = self.request(method, "/story/1", body=b"")
            self.assertEqual(response.status, 405, method)
            self.assertEqual(body, error_page(405, "Method Not Allowed"))

    def test_http_error(self):
        for status, reason in ((403, "Forbidden"), (404, "Not Found"),
                               (500, "Internal Server Error"), (503, "Service Unavailable")):
            response, body = self.request("GET", "/error/%d" % status)
            self.assertEqual(response.status, status)
            self.assertEqual(body, error_page(status, reason))

    def test_crash_is_500_and_the_server_goes_on(self):
        conn = self.connection()
        for _ in range(3):
            conn.request("GET", "/crash")
            response = conn.getresponse()
            self.assertEqual(response.status, 500)
            self.assertEqual(response.read(), error_page(500, "Internal Server Error"))
            conn.request("GET", "/")
            self.assertEqual(conn.getresponse().read(), b"Hello, world")


class Redirects(AppTest):
    def test_temporary_and_permanent(self):
        response, body = self.request("GET", "/redirect/temp")
        self.assertEqual(response.status, 302)
        self.assertEqual(response.getheader("Location"), "/")
        response, body = self.request("GET", "/redirect/perm")
        self.assertEqual(response.status, 301)
        self.assertEqual(response.getheader("Location"), "/")

    def test_redirect_handler_substitutes_the_group(self):
        response, body = self.request("GET", "/pictures/cat.jpg?size=2")
        self.assertEqual(response.status, 301)
        self.assertEqual(response.getheader("Location"), "/photos/cat.jpg?size=2")
        response, body = self.request("GET", response.getheader("Location"))
        self.assertEqual(body, b"photo cat.jpg")


class Callbacks(AppTest):
    def test_sleep_answers_later(self):
        started = time.monotonic()
        response, body = self.request("GET", "/sleep?ms=300")
        self.assertEqual(body, b"slept 300")
        self.assertGreaterEqual(time.monotonic() - started, 0.29)

    def test_others_are_served_while_one_sleeps(self):
        slow = self.connection()
        started = time.monotonic()
        slow.request("GET", "/sleep?ms=1500")
        for _ in range(10):
            response, body = self.request("GET", "/")
            self.assertEqual(body, b"Hello, world")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(slow.getresponse().read(), b"slept 1500")
        self.assertGreaterEqual(time.monotonic() - started, 1.49)

    def test_bad_ms_is_400(self):
        response, body = self.request("GET", "/sleep?ms=soon")
        self.assertEqual(response.status, 400)


class ForgottenFinish(AppTest):
    def test_the_client_waits_and_others_are_served(self):
        forgotten = self.connection(timeout=1.0)
        forgotten.request("GET", "/forgot")
        started = time.monotonic()
        with self.assertRaises(socket.timeout):
            forgotten.getresponse()  # the client gives up: its own timeout
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        response, body = self.request("GET", "/")
        self.assertEqual(body, b"Hello, world")

    def test_pipelined_requests_wait_behind_it(self):
        sock = self.raw()
        sock.sendall(b"GET /forgot HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            sock.recv(1000)
        response, body = self.request("GET", "/")  # a new connection is fine
        self.assertEqual(body, b"Hello, world")


GROUPS = {"pages": Pages, "forms_and_json": FormsAndJson, "errors": Errors,
          "redirects": Redirects, "callbacks": Callbacks, "forgotten_finish": ForgottenFinish}


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
