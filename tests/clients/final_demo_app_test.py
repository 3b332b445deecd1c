#!/usr/bin/env python3
"""Black-box checks of the demo app's contract (final/examples/demo_app/README.md, "The contract").

    final_demo_app_test.py [--skip GROUP[,GROUP]] PROGRAM [ARGS...]
    final_demo_app_test.py [--skip GROUP[,GROUP]] --oracle

PROGRAM is build/bin/demo_app; --oracle runs the same contract written in
Python with Tornado 6.2 (/usr/bin/python3 tests/clients/demo_app_tornado.py)
instead, which is how these checks were validated. Every check talks to the
program over 127.0.0.1 only, through http.client or a raw socket when the
bytes on the wire are the point (chunked framing, HEAD, malformed requests,
WebSocket frames).

--skip template,websocket skips route groups the program does not have
yet: each of their checks prints "SKIPPED (not built): ...", so a skipped
group is visible, never a silent pass. Groups: template (/template),
websocket (/ws/echo and /chat/ws).

The "Stricter than Tornado 6.2" checks are run on PROGRAM; under --oracle
those where Tornado 6.2 itself falls short are reported as skipped, with
what Tornado does instead (--run-lenient runs them on the oracle anyway, to
see them fail there). Where the contract asks for more than Tornado 6.2
gives (a 413 for a body over max_body_size; Tornado answers 400), the check
expects Tornado's answer under --oracle and says so.

Output: one line per check (PASS / FAIL / SKIPPED), a summary; exit status
1 if any check failed. Standard library only; every wait is bounded; every
server started here is stopped by its PID.
"""
import argparse
import base64
import email.utils
import hashlib
import html
import http.client
import http.cookies
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
import checks  # noqa: E402
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORACLE_SCRIPT = os.path.join(REPOSITORY, "tests", "clients", "demo_app_tornado.py")
ORACLE_PYTHON = "/usr/bin/python3"
DEMO_STATIC = os.path.join(REPOSITORY, "final", "examples", "demo_app", "static")
CHAT_STATIC = os.path.join(REPOSITORY, "final", "examples", "chat", "static")

TIMEOUT = 5.0          # the longest any single exchange may take
MIB = 1024 * 1024
MAX_BODY_SIZE = 10 * MIB
GROUPS = ("template", "websocket")


# --- the checks' registry -------------------------------------------------------

class Check:
    def __init__(self, name, function, group, tornado_falls_short, oracle_note):
        self.name = name
        self.function = function
        self.group = group
        self.tornado_falls_short = tornado_falls_short
        self.oracle_note = oracle_note


CHECKS = []


def check(name, group=None, tornado_falls_short=None, oracle_note=None):
    """Registers a check. tornado_falls_short: why Tornado 6.2 cannot pass it
    (the check is skipped under --oracle). oracle_note: how the oracle's
    expectation differs from PROGRAM's (printed beside the result)."""
    def register(function):
        CHECKS.append(Check(name, function, group, tornado_falls_short, oracle_note))
        return function
    return register


# --- HTTP through http.client -----------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def all(self, name):
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


def http_request(port, method, path, body=None, headers=None, timeout=TIMEOUT):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, answer.reason, answer.getheaders(), answer.read())
    finally:
        connection.close()


def form_body(pairs):
    return urllib.parse.urlencode(pairs).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# --- HTTP through a raw socket -----------------------------------------------------

def exchange(port, data, half_close=False, timeout=TIMEOUT):
    """Sends data, reads until the server closes. Returns the bytes read and
    how the read ended: "eof", "reset" or "timeout"."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        deadline = time.monotonic() + timeout
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                piece = sock.recv(65536)
            except socket.timeout:
                return received, "timeout"
            except ConnectionResetError:
                return received, "reset"
            if not piece:
                return received, "eof"
            received += piece


class RawResponse(Response):
    """A response parsed from raw bytes; chunked bodies keep their chunks."""

    def __init__(self, raw):
        head, separator, rest = raw.partition(b"\r\n\r\n")
        if not separator:
            raise CheckFailed("no complete response head in %r" % raw[:200])
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        expect(len(parts) >= 2 and parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        super().__init__(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, b"")
        self.raw = raw
        self.chunks = None
        if (self.header("Transfer-Encoding") or "").lower() == "chunked":
            self.chunks, self.body = parse_chunked(rest)
        elif self.header("Content-Length") is not None:
            self.body = rest[:int(self.header("Content-Length"))]
        else:
            self.body = rest


def parse_chunked(data):
    chunks = []
    while True:
        line, separator, data = data.partition(b"\r\n")
        expect(separator, "chunked body cut short")
        expect(re.fullmatch(rb"[0-9a-fA-F]+", line), "chunk size line %r is not hex digits" % line)
        size = int(line, 16)
        if size == 0:
            expect(data.startswith(b"\r\n"), "no CRLF after the last chunk: %r" % data[:40])
            return chunks, b"".join(chunks)
        expect(len(data) >= size + 2, "chunk of %d bytes cut short" % size)
        expect(data[size:size + 2] == b"\r\n", "chunk data not followed by CRLF")
        chunks.append(data[:size])
        data = data[size + 2:]


def raw_request(port, data, **kwargs):
    received, ending = exchange(port, data, **kwargs)
    if not received:
        raise CheckFailed("no answer (connection %s)" % ("closed" if ending == "eof" else ending))
    return RawResponse(received)


def status_of_raw(port, data, **kwargs):
    """The status the server answers to data, or None when it closes
    without one."""
    received, ending = exchange(port, data, **kwargs)
    if not received:
        expect(ending != "timeout", "no answer and no close within %.0f s" % TIMEOUT)
        return None
    return RawResponse(received).status


# --- WebSocket client: tests/clients/rawws.py -----------------------------------------

def WebSocket(port, path):
    """A raw WebSocket client after a 101 (rawws.RawWebSocket); a handshake
    that fails is a failed check."""
    try:
        return rawws.RawWebSocket(port, path, timeout=TIMEOUT)
    except rawws.ProtocolError as error:
        raise CheckFailed(str(error))


# --- what the checks talk to -----------------------------------------------------------

def server_process(oracle, command, *args, stderr):
    """A ServerProcess (not started) for PROGRAM [ARGS...] or the oracle."""
    if not oracle:
        return ServerProcess(*command, *args, stderr=stderr)
    # ServerProcess runs [PROGRAM, "--port=0", ARGS...]; the interpreter
    # needs its script before any option.
    server = ServerProcess(ORACLE_SCRIPT, *args, stderr=stderr)
    server.command.insert(0, ORACLE_PYTHON)
    return server


class Target:
    """The server under test (started by main), its log, and a way to start
    more of them for the checks that stop one."""

    def __init__(self, command, oracle, log_file):
        self.command = command
        self.oracle = oracle
        self.log_file = log_file
        self.server = None

    @property
    def port(self):
        return self.server.port

    def get(self, path, headers=None):
        return http_request(self.port, "GET", path, headers=headers)

    def post(self, path, body=b"", headers=None):
        return http_request(self.port, "POST", path, body=body, headers=headers)

    def log_text(self):
        self.log_file.flush()
        with open(self.log_file.name, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def start_server(self, *args, default_static=False):
        static = [] if default_static else ["--static_path=" + DEMO_STATIC]
        return server_process(self.oracle, self.command, *static, *args, stderr=subprocess.DEVNULL)


def error_page(code, reason):
    return ("<html><title>%d: %s</title><body>%d: %s</body></html>"
            % (code, reason, code, reason)).encode()


def expect_error_page(response, code, reason):
    expect_equal(response.status, code, "status")
    expect_equal(response.body, error_page(code, reason), "error page")
    expect_equal(response.header("Content-Type"), "text/html; charset=UTF-8", "error page type")


def sha1_etag(body):
    return '"%s"' % hashlib.sha1(body).hexdigest()


def read_file(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


# =============================================================================
# The checks, in the contract's order.
# =============================================================================

# --- routes ---------------------------------------------------------------------------

@check("GET / is Hello, world as text/html; charset=UTF-8")
def _(t):
    r = t.get("/")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "status and body")
    expect_equal(r.header("Content-Type"), "text/html; charset=UTF-8", "Content-Type")


@check("HEAD / has GET's status and headers and no body")
def _(t):
    get = raw_request(t.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = raw_request(t.port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect_equal(head.status, 200, "status")
    for name in ("Content-Type", "Content-Length", "Etag", "Server"):
        expect_equal(head.header(name), get.header(name), name + " of HEAD /")
    expect_equal(head.raw.partition(b"\r\n\r\n")[2], b"", "bytes after HEAD's head")


@check("GET /query: each argument to the list of its values, in order, repeats kept")
def _(t):
    r = t.get("/query?b=2&a=1&b=3&b=1&empty=&sp=x%20y+z&u=%C3%A9")
    expect_equal(r.status, 200, "status")
    expect_equal(r.json(), {"b": ["2", "3", "1"], "a": ["1"], "empty": [""],
                            "sp": ["x y z"], "u": ["\u00e9"]}, "JSON")
    expect_equal(t.get("/query").json(), {}, "JSON with no arguments")


@check("JSON answers are application/json; charset=UTF-8")
def _(t):
    for r, what in ((t.get("/query?a=1"), "/query"), (t.get("/cookies/get"), "/cookies/get"),
                    (t.post("/json", b"1"), "/json"), (t.post("/form", b"a=1", FORM), "/form")):
        expect_equal(r.status, 200, what + " status")
        expect_equal(r.header("Content-Type"), "application/json; charset=UTF-8", what + " type")


@check("POST /form urlencoded: args")
def _(t):
    r = t.post("/form", form_body([("x", "1"), ("y", "two words"), ("x", "3"), ("e", "")]), FORM)
    expect_equal(r.status, 200, "status")
    expect_equal(r.json(), {"args": {"x": ["1", "3"], "y": ["two words"], "e": [""]},
                            "files": {}}, "JSON")


def multipart(boundary, fields, files):
    parts = []
    for name, value in fields:
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                     % (boundary, name, value))
    for field, filename, content_type, data in files:
        head = b'--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n' % (
            boundary, field, filename)
        if content_type:
            head += b"Content-Type: %s\r\n" % content_type
        parts.append(head + b"\r\n" + data + b"\r\n")
    return b"".join(parts) + b"--%s--\r\n" % boundary


@check("POST /form multipart: args and files (filename, content_type, size)")
def _(t):
    boundary = b"----demo-app-boundary-7d3f"
    all_bytes = bytes(range(256))
    body = multipart(boundary, [(b"name", b"alice"), (b"tag", b"a"), (b"tag", b"b")],
                     [(b"up", b"pixel.png", b"image/png", read_file(DEMO_STATIC, "pixel.png")),
                      (b"up", b"bytes.bin", b"application/octet-stream", all_bytes),
                      (b"notes", b"notes.txt", None, b"no content type\r\n--almost a boundary")])
    r = t.post("/form", body, {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()})
    expect_equal(r.status, 200, "status")
    expect_equal(r.json(), {
        "args": {"name": ["alice"], "tag": ["a", "b"]},
        "files": {
            "up": [{"filename": "pixel.png", "content_type": "image/png", "size": 69},
                   {"filename": "bytes.bin", "content_type": "application/octet-stream",
                    "size": 256}],
            # Tornado's parse_multipart: a part without Content-Type is
            # application/unknown.
            "notes": [{"filename": "notes.txt", "content_type": "application/unknown",
                       "size": 36}]}}, "JSON")


@check("POST /echo and PUT /echo: body back byte for byte, application/octet-stream")
def _(t):
    payload = bytes(range(256)) * 4 + b"\r\n\r\n\x00end"
    for method in ("POST", "PUT"):
        r = http_request(t.port, method, "/echo", body=payload)
        expect_equal(r.status, 200, method + " status")
        expect(r.body == payload, "%s /echo changed the body" % method)
        expect_equal(r.header("Content-Type"), "application/octet-stream", "Content-Type")
    r = t.post("/echo", b"")
    expect_equal((r.status, r.body), (200, b""), "empty POST /echo")


@check("POST /echo of 1 MiB of random bytes comes back identical")
def _(t):
    payload = os.urandom(MIB)
    r = t.post("/echo", payload)
    expect_equal(r.status, 200, "status")
    expect_equal(len(r.body), len(payload), "length")
    expect(r.body == payload, "the 1 MiB body came back changed")


@check("POST /json answers {\"received\": VALUE}")
def _(t):
    value = [1, "two", {"three": 3.5, "nested": [None, True, False]}, "</script>", "\u00e9\u4e2d"]
    r = t.post("/json", json.dumps(value).encode())
    expect_equal(r.status, 200, "status")
    expect_equal(r.json(), {"received": value}, "JSON")
    expect_equal(t.post("/json", b'"just a string"').json(), {"received": "just a string"}, "string")


@check("POST /json malformed: 400 with the error page")
def _(t):
    for body in (b"{not json", b"", b'{"a": 1'):
        expect_error_page(t.post("/json", body), 400, "Bad Request")


@check("GET /story/N is 'this is story N'; /story/abc is 404")
def _(t):
    r = t.get("/story/42")
    expect_equal((r.status, r.body), (200, b"this is story 42"), "/story/42")
    expect_equal(t.get("/story/abc").status, 404, "/story/abc status")


@check("GET /link: the href built by reverse_url(\"story\", \"1\")")
def _(t):
    r = t.get("/link")
    expect_equal((r.status, r.body), (200, b'<a href="/story/1">link to story 1</a>'), "/link")


@check("GET /redirect/temp is 302 and /redirect/perm is 301 to /")
def _(t):
    for path, code in (("/redirect/temp", 302), ("/redirect/perm", 301)):
        r = t.get(path)
        expect_equal((r.status, r.header("Location")), (code, "/"), path)


@check("GET /pictures/X: RedirectHandler 301 to /photos/X")
def _(t):
    r = t.get("/pictures/cat.jpg")
    expect_equal((r.status, r.header("Location")), (301, "/photos/cat.jpg"), "redirect")
    r = t.get("/pictures/")
    expect_equal((r.status, r.header("Location")), (301, "/photos/"), "empty group")


@check("GET /pictures/X?Q: RedirectHandler keeps the query string")
def _(t):
    r = t.get("/pictures/cat.jpg?size=big&n=1")
    expect_equal((r.status, r.header("Location")), (301, "/photos/cat.jpg?size=big&n=1"), "redirect")


@check("GET /photos/X is 'photo X'")
def _(t):
    r = t.get("/photos/cat.jpg")
    expect_equal((r.status, r.body), (200, b"photo cat.jpg"), "/photos/cat.jpg")


@check("GET /error/N: status N with the default error page")
def _(t):
    for code, reason in ((400, "Bad Request"), (403, "Forbidden"), (404, "Not Found"),
                         (410, "Gone"), (503, "Service Unavailable")):
        expect_error_page(t.get("/error/%d" % code), code, reason)


@check("GET /crash: 500 with the error page, then the server goes on")
def _(t):
    expect_error_page(t.get("/crash"), 500, "Internal Server Error")
    r = t.get("/")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / after /crash")
    expect(t.server.process.poll() is None, "the server exited")


@check("GET /stream?chunks=5: chunked encoding, one chunk per piece (raw framing)")
def _(t):
    r = raw_request(t.port, b"GET /stream?chunks=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Transfer-Encoding"), "chunked", "Transfer-Encoding")
    expect_equal(r.header("Content-Length"), None, "Content-Length beside chunked")
    expect_equal(r.chunks, [b"chunk %d\n" % i for i in range(5)], "chunks")


@check("GET /stream?chunks=3 over HTTP/1.0: the same bytes, unchunked, then the close")
def _(t):
    received, ending = exchange(t.port, b"GET /stream?chunks=3 HTTP/1.0\r\nHost: x\r\n\r\n")
    r = RawResponse(received)
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Transfer-Encoding"), None, "Transfer-Encoding in HTTP/1.0")
    expect_equal(r.body, b"chunk 0\nchunk 1\nchunk 2\n", "body")
    expect_equal(ending, "eof", "how the answer ended")


@check("GET /sleep?ms=300 x20 at once: all answered in well under 20 x 300 ms")
def _(t):
    results = [None] * 20

    def fetch(i):
        started = time.monotonic()
        try:
            r = t.get("/sleep?ms=300")
            results[i] = (r.status, r.body, time.monotonic() - started)
        except Exception as error:  # reported below
            results[i] = (None, repr(error), 0)

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    elapsed = time.monotonic() - started
    expect(not any(thread.is_alive() for thread in threads), "a /sleep request never finished")
    for status, body, took in results:
        expect_equal((status, body), (200, b"slept 300"), "a /sleep answer")
        expect(took >= 0.29, "a /sleep?ms=300 answered after only %.3f s" % took)
    expect(elapsed < 2.0, "20 concurrent /sleep?ms=300 took %.2f s (sequential: 6 s)" % elapsed)


@check("POST /upload/paced: a streamed body counted whole, taken a piece at a time; a bad ms is 400")
def _(t):
    body = os.urandom(300 * 1024)
    r = t.post("/upload/paced?ms=1", body, headers={"Content-Type": "application/octet-stream"})
    expect_equal(r.status, 200, "status")
    answer = json.loads(r.body)
    expect_equal(answer["bytes"], len(body), "the bytes the handler counted")
    expect(answer["pieces"] >= 1, "pieces: %r" % answer)
    expect_equal(t.post("/upload/paced?ms=5000", b"x").status, 400, "ms past 1,000")


def get_while(t, slow_path, delay=0.2):
    """Starts GET slow_path, sends GET / `delay` later; returns both
    results as (status, body, seconds)."""
    results = {}

    def timed(key, path):
        started = time.monotonic()
        r = t.get(path)
        results[key] = (r.status, r.body, time.monotonic() - started)

    slow = threading.Thread(target=timed, args=("slow", slow_path))
    slow.start()
    time.sleep(delay)
    timed("hello", "/")
    slow.join(TIMEOUT)
    expect("slow" in results, "%s never answered" % slow_path)
    return results["slow"], results["hello"]


@check("GET /blocking?ms=800: 'done 800', and GET / meanwhile answers at once")
def _(t):
    slow, hello = get_while(t, "/blocking?ms=800")
    expect_equal(slow[:2], (200, b"done 800"), "/blocking")
    expect(slow[2] >= 0.79, "/blocking?ms=800 answered after only %.3f s" % slow[2])
    expect_equal(hello[:2], (200, b"Hello, world"), "GET /")
    expect(hello[2] < 0.45, "GET / took %.3f s while /blocking ran: the loop was blocked" % hello[2])


@check("GET /sleep?ms=800 leaves the loop free: GET / meanwhile answers at once")
def _(t):
    slow, hello = get_while(t, "/sleep?ms=800")
    expect_equal(slow[:2], (200, b"slept 800"), "/sleep")
    expect(hello[2] < 0.45, "GET / took %.3f s while /sleep waited" % hello[2])


# --- static files -----------------------------------------------------------------------

STATIC_TYPES = (("hello.txt", "text/plain"), ("style.css", "text/css"),
                ("app.js", "text/javascript"), ("pixel.png", "image/png"),
                ("docs/readme.txt", "text/plain"))


@check("GET /static/PATH: content and type by extension (txt, css, js, png, subfolder)")
def _(t):
    expect_equal(read_file(DEMO_STATIC, "hello.txt"), b"Hello from a static file\n", "hello.txt on disk")
    for name, content_type in STATIC_TYPES:
        r = t.get("/static/" + name)
        expect_equal(r.status, 200, name + " status")
        expect(r.body == read_file(DEMO_STATIC, name), name + " content differs from the file")
        expect_equal(r.header("Content-Type"), content_type, name + " Content-Type")


@check("GET /static/PATH: Etag (\"sha512 of the file\") and Last-Modified (the file's mtime)")
def _(t):
    for name, _ in STATIC_TYPES:
        r = t.get("/static/" + name)
        content = read_file(DEMO_STATIC, name)
        expect_equal(r.header("Etag"), '"%s"' % hashlib.sha512(content).hexdigest(), name + " Etag")
        mtime = int(os.stat(os.path.join(DEMO_STATIC, name)).st_mtime)
        expect_equal(r.header("Last-Modified"), email.utils.formatdate(mtime, usegmt=True),
                     name + " Last-Modified")


@check("GET /static/PATH: If-None-Match and If-Modified-Since answer 304 with no body")
def _(t):
    first = t.get("/static/hello.txt")
    for header in (("If-None-Match", first.header("Etag")),
                   ("If-Modified-Since", first.header("Last-Modified"))):
        r = raw_request(t.port, b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"%s: %s\r\n\r\n" % (header[0].encode(), header[1].encode()))
        expect_equal(r.status, 304, header[0] + " status")
        expect_equal(r.raw.partition(b"\r\n\r\n")[2], b"", "bytes after the 304's head")
        expect_equal(r.header("Etag"), first.header("Etag"), "Etag of the 304")
    r = t.get("/static/hello.txt", {"If-None-Match": '"not-the-etag"'})
    expect_equal(r.status, 200, "a non-matching If-None-Match")


@check("HEAD /static/PATH: GET's headers, no body")
def _(t):
    r = raw_request(t.port, b"HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Content-Length"), "25", "Content-Length")
    expect_equal(r.header("Content-Type"), "text/plain", "Content-Type")
    expect_equal(r.raw.partition(b"\r\n\r\n")[2], b"", "bytes after HEAD's head")


@check("GET /static/PATH with Range: 206 and Content-Range")
def _(t):
    cases = (("bytes=0-4", "bytes 0-4/25", b"Hello"), ("bytes=6-9", "bytes 6-9/25", b"from"),
             ("bytes=-5", "bytes 20-24/25", b"file\n"), ("bytes=20-", "bytes 20-24/25", b"file\n"))
    for range_value, content_range, body in cases:
        r = t.get("/static/hello.txt", {"Range": range_value})
        expect_equal((r.status, r.header("Content-Range"), r.body), (206, content_range, body),
                     "Range: " + range_value)
        expect_equal(r.header("Accept-Ranges"), "bytes", "Accept-Ranges")
    r = t.get("/static/hello.txt", {"Range": "bytes=0-"})
    expect_equal((r.status, len(r.body)), (200, 25), "Range: bytes=0- (the whole file)")


@check("GET /static/PATH with an unsatisfiable Range: 416 and Content-Range: bytes */SIZE")
def _(t):
    r = t.get("/static/hello.txt", {"Range": "bytes=100-"})
    expect_equal((r.status, r.header("Content-Range"), r.body), (416, "bytes */25", b""), "416")


@check("GET /static/missing: 404 with the error page")
def _(t):
    expect_error_page(t.get("/static/no-such-file.txt"), 404, "Not Found")
    expect_error_page(t.get("/static/docs/no-such-file.txt"), 404, "Not Found")


@check("GET /static/ with .. escaping the root: 403 (as Tornado), never the file")
def _(t):
    outside = b"../CMakeLists.txt", b"%2e%2e/%2e%2e/%2e%2e/CMakeLists.txt", b"docs/../../CMakeLists.txt"
    for path in outside:
        r = raw_request(t.port, b"GET /static/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path)
        expect_equal(r.status, 403, "/static/%s status" % path.decode())
        expect_equal(r.body, error_page(403, "Forbidden"), "/static/%s body" % path.decode())


@check("GET /static/docs/../hello.txt stays inside the root: 200")
def _(t):
    r = raw_request(t.port, b"GET /static/docs/../hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect_equal((r.status, r.body), (200, b"Hello from a static file\n"), "answer")


@check("GET /static/docs (a folder): 403 (as Tornado)")
def _(t):
    for path in ("/static/docs", "/static/docs/", "/static/"):
        expect_error_page(t.get(path), 403, "Forbidden")


# --- Tornado's defaults -----------------------------------------------------------------

@check("Etag on GET 200 is \"sha1 of the body\"; If-None-Match answers 304 with no body")
def _(t):
    for path in ("/", "/story/1", "/story/2", "/query?a=1"):
        r = t.get(path)
        expect_equal(r.header("Etag"), sha1_etag(r.body), path + " Etag")
    etag = sha1_etag(b"Hello, world")
    for value in (etag, '"other", ' + etag, "W/" + etag):
        r = raw_request(t.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"If-None-Match: %s\r\n\r\n" % value.encode())
        expect_equal(r.status, 304, "If-None-Match: " + value)
        expect_equal(r.raw.partition(b"\r\n\r\n")[2], b"", "bytes after the 304's head")
        expect_equal(r.header("Etag"), etag, "Etag of the 304")
    expect_equal(t.get("/", {"If-None-Match": '"stale"'}).status, 200, "a non-matching If-None-Match")


@check("Server and Date (IMF-fixdate, now) on every response")
def _(t):
    responses = {"200": t.get("/"), "404": t.get("/no/such/page"), "405": t.post("/"),
                 "500": t.get("/crash"), "302": t.get("/redirect/temp"),
                 "static": t.get("/static/hello.txt"), "chunked": t.get("/stream?chunks=1"),
                 "304": t.get("/", {"If-None-Match": sha1_etag(b"Hello, world")})}
    for what, r in responses.items():
        expect(r.header("Server"), "no Server header on the %s response" % what)
        date = r.header("Date") or ""
        expect(HTTP_DATE.fullmatch(date), "Date %r on the %s response is not an IMF-fixdate" % (date, what))
        skew = abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time())
        expect(skew < 60, "Date on the %s response is %.0f s off" % (what, skew))


@check("Unknown path: 404 with the error page")
def _(t):
    for path in ("/no/such/page", "/story", "/story/1/more", "/staticx/hello.txt"):
        expect_error_page(t.get(path), 404, "Not Found")


@check("Known path, method it lacks: 405 with the error page")
def _(t):
    for method, path in (("POST", "/"), ("GET", "/echo"), ("DELETE", "/query"),
                         ("PUT", "/story/1"), ("GET", "/chat/new"), ("GET", "/login")):
        expect_error_page(http_request(t.port, method, path), 405, "Method Not Allowed")


# --- cookies ----------------------------------------------------------------------------

def parse_set_cookies(response):
    cookies = http.cookies.SimpleCookie()
    for value in response.all("Set-Cookie"):
        cookies.load(value)
    return cookies


@check("GET /cookies/set?NAME=VALUE sets each cookie (Path=/)")
def _(t):
    r = t.get("/cookies/set?flavor=oatmeal&color=blue")
    expect_equal(r.status, 200, "status")
    cookies = parse_set_cookies(r)
    expect_equal({name: morsel.value for name, morsel in cookies.items()},
                 {"flavor": "oatmeal", "color": "blue"}, "cookies set")
    expect_equal(cookies["flavor"]["path"], "/", "Path")


@check("GET /cookies/get: JSON object of the cookies received")
def _(t):
    r = t.get("/cookies/get", {"Cookie": "a=1; b=two; flavor=oatmeal"})
    expect_equal((r.status, r.json()), (200, {"a": "1", "b": "two", "flavor": "oatmeal"}), "answer")
    expect_equal(t.get("/cookies/get").json(), {}, "no cookies")


def login(t, user):
    r = t.post("/login", form_body([("user", user)]), FORM)
    expect_equal(r.status, 200, "/login status")
    cookies = parse_set_cookies(r)
    expect("user" in cookies, "/login set no cookie named user")
    return cookies["user"].value


def me(t, cookie_value):
    morsel = http.cookies.SimpleCookie()
    morsel["user"] = cookie_value  # quoted as a browser would send it back
    return t.get("/me", {"Cookie": morsel.output(header="").strip()})


@check("POST /login then GET /me with the signed cookie: NAME")
def _(t):
    value = login(t, "alice")
    expect("alice" not in value, "the cookie holds the name in clear: %r" % value)
    r = me(t, value)
    expect_equal((r.status, r.body), (200, b"alice"), "/me")


@check("GET /me without the cookie: 403")
def _(t):
    expect_error_page(t.get("/me"), 403, "Forbidden")


@check("GET /me with a tampered cookie: 403")
def _(t):
    value = login(t, "alice")
    flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
    expect_error_page(me(t, flipped), 403, "Forbidden")
    # The name swapped for another, signature kept.
    forged = value.replace(base64.b64encode(b"alice").decode(), base64.b64encode(b"admin").decode())
    expect(forged != value, "could not find the name in the cookie %r" % value)
    expect_error_page(me(t, forged), 403, "Forbidden")
    expect_error_page(me(t, "alice"), 403, "Forbidden")


# --- template --------------------------------------------------------------------------

@check("GET /template?name=X: autoescaped name, then <li> 1, 2, 3", group="template")
def _(t):
    r = t.get("/template?name=" + urllib.parse.quote("<b>&\"'"))
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Content-Type"), "text/html; charset=UTF-8", "Content-Type")
    expect(b"<p>Hello, &lt;b&gt;&amp;&quot;&#39;!</p>" in r.body, "escaped name not found in %r" % r.body)
    items = re.findall(rb"<li>(.*?)</li>", r.body)
    expect_equal(items, [b"1", b"2", b"3"], "<li> items")
    expect(r.body.index(b"<p>") < r.body.index(b"<li>"), "the <li> items come before the <p>")
    expect(b"<p>Hello, world!</p>" in t.get("/template").body, "no 'Hello, world!' with no name")


@check("GET /demos: the index of the demos, and every page it links to exists", group="template")
def _(t):
    r = t.get("/demos")
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Content-Type"), "text/html; charset=UTF-8", "Content-Type")
    links = [html.unescape(link.decode()) for link in re.findall(rb'href="([^"]+)"', r.body)]
    expect(len(links) >= 15, "only %d links in %r" % (len(links), r.body))
    # The two error demos answer with their error; every other link is a page.
    expected = {"/crash": 500, "/error/418": 418, "/me": 403, "/pictures/cat.jpg": 301}
    for link in links:
        status = t.get(link).status
        expect_equal(status, expected.get(link, 200), "status of " + link)


# --- chat -------------------------------------------------------------------------------

def post_message(t, text):
    r = t.post("/chat/new", form_body([("body", text)]), FORM)
    expect_equal(r.status, 200, "/chat/new status")
    expect_equal(r.header("Content-Type"), "application/json; charset=UTF-8", "/chat/new type")
    return r.json()


def updates(t, cursor, timeout=TIMEOUT):
    r = http_request(t.port, "POST", "/chat/updates", body=form_body([("cursor", cursor)]),
                     headers=FORM, timeout=timeout)
    expect_equal(r.status, 200, "/chat/updates status")
    return r.json()["messages"]


def message_html(message_id, escaped_body):
    return '<div class="message" id="m%s">%s</div>' % (message_id, escaped_body)


@check("GET /chat: final/examples/chat/templates/index.html rendered, the kept messages in #inbox")
def _(t):
    first = post_message(t, "page test <b>&\"'")
    second = post_message(t, "page test, the latest")
    r = t.get("/chat")
    expect_equal(r.status, 200, "status")
    expect_equal(r.header("Content-Type"), "text/html; charset=UTF-8", "Content-Type")
    page = r.text
    expect("{%" not in page and "{{" not in page, "template syntax left in the page")
    for link in ('<script src="/chat/static/chat.js">',
                 '<link rel="stylesheet" href="/chat/static/chat.css">'):
        expect(link in page, "the page has no %s" % link)
    # Rendered by message.html, each message is its "html" as /chat/new
    # answered it, byte for byte; the two newest come last in the inbox, in
    # order, with only whitespace between them and the inbox's end.
    newest_last = (r'<div id="inbox">.*?' + re.escape(first["html"]) + r"\s*"
                   + re.escape(second["html"]) + r"\s*</div>")
    expect(re.search(newest_last, page, re.S),
           "the inbox does not end with the two messages' html %r, %r: %r"
           % (first["html"], second["html"], page))
    expect("page test <b>" not in page, "the message's <b> is in the page unescaped")


@check("GET /chat/static/: the chat page's script and style sheet (final/examples/chat/static/)")
def _(t):
    for name, content_type in (("chat.js", "text/javascript"), ("chat.css", "text/css")):
        r = t.get("/chat/static/" + name)
        expect_equal((r.status, r.header("Content-Type")), (200, content_type), name)
        expect(r.body == read_file(CHAT_STATIC, name), name + " differs from the file")


@check("POST /chat/new: JSON {id, body, html}, html rendered with autoescape")
def _(t):
    text = "<b>hi & 'bye'</b> \"quoted\""
    first = post_message(t, text)
    expect(isinstance(first.get("id"), str) and first["id"], "no id string in %r" % first)
    expect_equal(first.get("body"), text, "body")
    escaped = "&lt;b&gt;hi &amp; &#39;bye&#39;&lt;/b&gt; &quot;quoted&quot;"
    expect_equal(first.get("html"), message_html(first["id"], escaped), "html")
    second = post_message(t, "again")
    expect(second["id"] != first["id"], "two messages share the id %r" % first["id"])


@check("POST /chat/updates with an older cursor: the newer messages at once, in order")
def _(t):
    a, b, c = (post_message(t, "cursor test %s" % letter) for letter in "abc")
    started = time.monotonic()
    messages = updates(t, a["id"])
    expect_equal([m["id"] for m in messages], [b["id"], c["id"]], "ids after the cursor")
    expect_equal(messages[-1], c, "the last message as /chat/new answered it")
    expect(time.monotonic() - started < 1.0, "the answer waited though newer messages existed")
    everything = updates(t, "")
    expect(everything and everything[-1]["id"] == c["id"], "an empty cursor does not give every message")


@check("POST /chat/updates with the latest cursor waits for the next message")
def _(t):
    latest = post_message(t, "before the long poll")
    result = {}

    def poll():
        try:
            result["messages"] = updates(t, latest["id"], timeout=TIMEOUT)
        except Exception as error:  # reported below
            result["error"] = error

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    expect(poller.is_alive(), "the long poll answered with no new message: %r" % result)
    posted = post_message(t, "wakes the long poll")
    poller.join(TIMEOUT)
    expect(not poller.is_alive(), "the long poll did not answer after a new message")
    expect("error" not in result, "the long poll failed: %r" % result.get("error"))
    expect_equal([m["id"] for m in result["messages"]], [posted["id"]], "messages")


@check("A long poll whose client sends its FIN (half-close) ends at once: on_connection_close, "
       "then an empty answer the client still reads",
       tornado_falls_short="Tornado 6.2 falls short here: runs on_connection_close, then closes "
                           "without an answer")
def _(t):
    latest = post_message(t, "before the half-closed long poll")
    body = form_body([("cursor", latest["id"])])
    request = (b"POST /chat/updates HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    started = time.monotonic()
    r = raw_request(t.port, request, half_close=True)
    elapsed = time.monotonic() - started
    expect_equal((r.status, r.body), (200, b""), "the answer")
    expect(elapsed < 2.0, "the long poll went on for %.1f s after the FIN" % elapsed)


# --- WebSocket ----------------------------------------------------------------------------

@check("WS /ws/echo: handshake, text and binary echoed with their opcode", group="websocket")
def _(t):
    with WebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(rawws.OP_TEXT, "h\u00e9llo".encode())
        expect_equal(ws.receive_message(), (rawws.OP_TEXT, "h\u00e9llo".encode()), "text echo")
        ws.send_frame(rawws.OP_BINARY, bytes(range(256)))
        expect_equal(ws.receive_message(), (rawws.OP_BINARY, bytes(range(256))), "binary echo")
        big = os.urandom(70000)  # a 64-bit length field
        ws.send_frame(rawws.OP_BINARY, big)
        expect(ws.receive_message() == (rawws.OP_BINARY, big), "70,000-byte binary echo differs")
        ws.send_frame(rawws.OP_TEXT, b"frag", fin=False)
        ws.send_frame(rawws.OP_CONTINUATION, b"mented")
        expect_equal(ws.receive_message(), (rawws.OP_TEXT, b"fragmented"), "fragmented text echo")


@check("WS /ws/echo: ping answered with a pong carrying its payload", group="websocket")
def _(t):
    with WebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(rawws.OP_PING, b"are you there")
        _, opcode, payload = ws.receive_frame()
        expect_equal((opcode, payload), (rawws.OP_PONG, b"are you there"), "pong")


@check("WS /ws/echo: close echoed (code 1000), then the server closes", group="websocket")
def _(t):
    with WebSocket(t.port, "/ws/echo") as ws:
        ws.send_frame(rawws.OP_CLOSE, struct.pack("!H", 1000) + b"bye")
        frames, close_payload = ws.wait_for_close()
        expect_equal(frames, [], "data frames after the close")
        expect(close_payload is not None and len(close_payload) >= 2, "no close frame came back")
        expect_equal(struct.unpack("!H", close_payload[:2])[0], 1000, "close code")


@check("WS /ws/echo: an unmasked client frame makes the server close", group="websocket",
       tornado_falls_short="Tornado 6.2 accepts the unmasked frame and echoes it")
def _(t):
    with WebSocket(t.port, "/ws/echo") as ws:
        ws.sock.sendall(bytes([0x80 | rawws.OP_TEXT, 2]) + b"hi")
        frames, _ = ws.wait_for_close(timeout=2.0)
        expect_equal(frames, [], "answers to the unmasked frame")


@check("GET /ws/echo without the upgrade: 400", group="websocket")
def _(t):
    expect_equal(t.get("/ws/echo").status, 400, "status")


@check("WS /chat/ws: a message sent reaches every client and the long pollers", group="websocket")
def _(t):
    cursor = post_message(t, "before the WebSocket test")["id"]
    with WebSocket(t.port, "/chat/ws") as sender, WebSocket(t.port, "/chat/ws") as reader:
        time.sleep(0.1)  # both registered before the message
        sender.send_frame(rawws.OP_TEXT, json.dumps({"body": "over <ws>"}).encode())
        received = []
        for ws in (sender, reader):
            opcode, payload = ws.receive_message()
            expect_equal(opcode, rawws.OP_TEXT, "opcode")
            received.append(json.loads(payload))
        message = received[0]
        expect_equal(received[1], message, "the two clients' copies")
        expect_equal(message.get("body"), "over <ws>", "body")
        expect_equal(message.get("html"), message_html(message["id"], "over &lt;ws&gt;"), "html")
        expect_equal([m["id"] for m in updates(t, cursor)], [message["id"]], "/chat/updates")
        posted = post_message(t, "from the long-poll side")
        for ws in (sender, reader):
            expect_equal(json.loads(ws.receive_message()[1]), posted, "/chat/new on the WebSocket")


# --- limits -------------------------------------------------------------------------------

@check("A body of exactly 10 MiB is accepted")
def _(t):
    payload = os.urandom(MAX_BODY_SIZE)
    r = http_request(t.port, "POST", "/echo", body=payload, timeout=20)
    expect_equal(r.status, 200, "status")
    expect(r.body == payload, "the 10 MiB body came back changed (%d bytes)" % len(r.body))


@check("A body of 10 MiB + 1 is rejected with 413, and the server keeps serving",
       oracle_note="Tornado 6.2 answers 'HTTP/1.1 400 Bad Request' (no headers) and closes; "
                   "demo_app must answer 413")
def _(t):
    with socket.create_connection(("127.0.0.1", t.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_SIZE + 1))
        # A server may answer on seeing Content-Length; if not, send the body.
        sock.settimeout(2.0)
        try:
            answer = sock.recv(65536)
        except socket.timeout:
            answer = b""
            sock.settimeout(TIMEOUT)
            try:
                sock.sendall(b"x" * (MAX_BODY_SIZE + 1))
                answer = sock.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
    expect(answer, "no answer to a body over the limit")
    expect_equal(RawResponse(answer + (b"" if b"\r\n\r\n" in answer else b"\r\n\r\n")).status,
                 400 if t.oracle else 413, "status")
    r = t.get("/")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / afterwards")


@check("A request head of 60 KiB is accepted")
def _(t):
    r = raw_request(t.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: %s\r\n\r\n"
                    % (b"a" * 60 * 1024))
    expect_equal((r.status, r.body), (200, b"Hello, world"), "answer")


@check("A request head over 64 KiB: 431/400 or a close, and the server keeps serving")
def _(t):
    status = status_of_raw(t.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % (b"a" * 70 * 1024))
    expect(status in (None, 400, 431), "status %s for a 70 KiB head" % status)
    r = t.get("/")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / afterwards")


# --- the access log ---------------------------------------------------------------------------

ACCESS_LINE = re.compile(r"\[([IWE]) (\d{6}) (\d{2}:\d{2}:\d{2}) web:(\d+)\] "
                         r"(\d{3}) (\S+) (\S+) \((\S+)\) (\d+\.\d{2})ms")


@check("One access-log line per request on stderr, in Tornado's format")
def _(t):
    marker = "logcheck%d" % os.getpid()
    t.get("/query?" + marker + "=1")
    t.get("/" + marker)
    t.post("/" + marker + "x")
    t.get("/crash?" + marker)
    wanted = {("I", "200", "GET", "/query?%s=1" % marker), ("W", "404", "GET", "/" + marker),
              ("W", "404", "POST", "/" + marker + "x"), ("E", "500", "GET", "/crash?" + marker)}
    deadline = time.monotonic() + 2.0
    while True:
        found = []
        for line in t.log_text().splitlines():
            match = ACCESS_LINE.fullmatch(line.rstrip())
            if match and marker in match.group(7):
                found.append(match)
        seen = {(m.group(1), m.group(5), m.group(6), m.group(7)) for m in found}
        if seen >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    expect(seen >= wanted, "access-log lines missing: %s (log ends: %r)"
           % (sorted(wanted - seen), t.log_text()[-600:]))
    expect_equal(len(found), len(wanted), "access-log lines for the 4 requests")
    for m in found:
        expect_equal(m.group(8), "127.0.0.1", "remote address")
        today = {time.strftime("%y%m%d", time.localtime(time.time() - s)) for s in (0, 600)}
        expect(m.group(2) in today, "date field %s is not today's (local time)" % m.group(2))


# --- stricter than Tornado 6.2 (raw sockets) ---------------------------------------------------

CLOSE = b"Host: x\r\nConnection: close\r\n"


def expect_400(t, request, what):
    expect_equal(status_of_raw(t.port, request), 400, what)


@check("Strict: whitespace before a header's colon is 400",
       tornado_falls_short="Tornado 6.2 is lenient here: answers 200")
def _(t):
    expect_400(t, b"GET / HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n", "'Host : x'")


@check("Strict: NUL or CR in a header name is 400",
       tornado_falls_short="Tornado 6.2 is lenient here: answers 200")
def _(t):
    expect_400(t, b"GET / HTTP/1.1\r\n" + CLOSE + b"X\x00Y: 1\r\n\r\n", "NUL in a name")
    expect_400(t, b"GET / HTTP/1.1\r\n" + CLOSE + b"X\rY: 1\r\n\r\n", "CR in a name")


@check("Strict: Content-Length with letters is 400")
def _(t):
    for value in (b"abc", b"2x"):
        expect_400(t, b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Content-Length: %s\r\n\r\nab" % value,
                   "Content-Length: " + value.decode())


@check("Strict: Content-Length with a sign or an underscore is 400",
       tornado_falls_short="Tornado 6.2 is lenient here: int() takes +2, -1 and 1_0")
def _(t):
    for value in (b"+2", b"-1", b"1_0"):
        expect_400(t, b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Content-Length: %s\r\n\r\nab" % value,
                   "Content-Length: " + value.decode())


def chunked_echo(size_line, last=b"0\r\n\r\n"):
    return (b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: chunked\r\n\r\n"
            + size_line + b"\r\nab\r\n" + last)


@check("Strict: a chunk size that is not hex digits is 400",
       tornado_falls_short="Tornado 6.2 is lenient here: takes 0x2 and +2; closes with no status on zz")
def _(t):
    for size in (b"0x2", b"+2", b"zz"):
        expect_400(t, chunked_echo(size), "chunk size " + size.decode())


@check("Strict: an unknown Transfer-Encoding is 400",
       tornado_falls_short="Tornado 6.2 is lenient here: ignores it and reads no body (200)")
def _(t):
    expect_400(t, b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: gzip\r\n\r\n", "gzip")
    expect_400(t, b"POST /echo HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
               b"2\r\nab\r\n0\r\n\r\n", "gzip, chunked")


@check("Strict: chunk extensions are ignored",
       tornado_falls_short="Tornado 6.2 falls short here: closes the connection with no status")
def _(t):
    r = raw_request(t.port, chunked_echo(b"2;name=value", last=b"0;last=yes\r\n\r\n"))
    expect_equal((r.status, r.body), (200, b"ab"), "echo")


@check("Strict: trailers after the last chunk are accepted",
       tornado_falls_short="Tornado 6.2 falls short here: answers 400")
def _(t):
    r = raw_request(t.port, chunked_echo(b"2", last=b"0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n"))
    expect_equal((r.status, r.body), (200, b"ab"), "echo")


@check("Half-close after a full request (fast handler) still gets its response",
       tornado_falls_short="Tornado 6.2 falls short here now and then: when the FIN comes in the "
                           "same read as the request, it closes without an answer (a race)")
def _(t):
    r = raw_request(t.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab",
                    half_close=True)
    expect_equal((r.status, r.body), (200, b"ab"), "echo")


@check("Half-close after a full request (slow handler) still gets its response",
       tornado_falls_short="Tornado 6.2 falls short here: sees EOF during /sleep and drops the request")
def _(t):
    r = raw_request(t.port, b"GET /sleep?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True)
    expect_equal((r.status, r.body), (200, b"slept 200"), "answer")


# Without a half-close: Tornado 6.2 answers a bare-LF head, but loses the
# race against a FIN that comes in the same read (see the check above).
@check("A head whose lines end in a bare LF is answered, as Tornado does (printf 'GET / HTTP/1.0\\n\\n' | nc)")
def _(t):
    r = raw_request(t.port, b"GET / HTTP/1.0\nHost: x\n\n")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "answer")


@check("A bare CR in a head is 400",
       tornado_falls_short="Tornado 6.2 falls short here: answers 200")
def _(t):
    expect_equal(status_of_raw(t.port, b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"), 400, "status")


def expect_400_and_close(t, request, what):
    """A 400, then the server closes (no Connection: close is sent)."""
    received, ending = exchange(t.port, request)
    expect(received, "no answer to %s (connection %s)" % (what, ending))
    expect_equal(RawResponse(received).status, 400, what)
    expect(ending in ("eof", "reset"), "the connection stayed open after the 400 to %s" % what)


@check("RFC 9112: an HTTP/1.1 request without Host is 400, then a close",
       tornado_falls_short="Tornado 6.2 is lenient here: answers 200")
def _(t):
    expect_400_and_close(t, b"GET / HTTP/1.1\r\n\r\n", "no Host")
    expect_400_and_close(t, b"GET / HTTP/1.1\r\nX-Forwarded-Host: x\r\n\r\n", "only X-Forwarded-Host")


@check("RFC 9112: a Host that is not host[:port] is 400, then a close",
       tornado_falls_short="Tornado 6.2 is lenient here: answers 200")
def _(t):
    for host in (b"a.com, b.com", b"a b", b"a.com:x", b"[::1", b"user@a.com"):
        expect_400_and_close(t, b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host, "Host: " + host.decode())


@check("HTTP/1.0 without Host, an empty Host, and Host: [::1]:8888 are answered")
def _(t):
    for request in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: [::1]:8888\r\nConnection: close\r\n\r\n"):
        r = raw_request(t.port, request)
        expect_equal((r.status, r.body), (200, b"Hello, world"), repr(request))


@check("RFC 9112: an absolute-form target is served for its path, whatever Host says",
       tornado_falls_short="Tornado 6.2 takes the whole target for the path: 404")
def _(t):
    r = raw_request(t.port, b"GET http://example.com/ HTTP/1.1\r\nHost: other.example\r\n"
                            b"Connection: close\r\n\r\n")
    expect_equal((r.status, r.body), (200, b"Hello, world"), "GET http://example.com/")


@check("The server is still running after every check above")
def _(t):
    expect(t.server.process.poll() is None, "the server exited with %s" % t.server.process.poll())
    expect_equal(t.get("/").status, 200, "GET /")


# --- command line and stopping (their own server processes) ------------------------------------

def stop_with(server, signum):
    """Sends signum; returns (exit status, seconds to exit)."""
    started = time.monotonic()
    os.kill(server.pid, signum)
    try:
        code = server.process.wait(timeout=TIMEOUT)
    except Exception:
        raise CheckFailed("still running %.0f s after signal %d" % (TIMEOUT, signum))
    return code, time.monotonic() - started


@check("--static_path defaults to the app's static/ folder; SIGTERM when idle: exit 0 at once")
def _(t):
    with t.start_server(default_static=True) as server:
        r = http_request(server.port, "GET", "/static/hello.txt")
        expect_equal((r.status, r.body), (200, b"Hello from a static file\n"), "/static/hello.txt")
        code, took = stop_with(server, signal.SIGTERM)
        expect_equal(code, 0, "exit status")
        expect(took < 1.5, "took %.2f s to exit with nothing in flight" % took)


@check("SIGTERM: stops accepting, lets the request in flight finish, exits 0")
def _(t):
    with t.start_server() as server:
        result = {}

        def slow():
            try:
                r = http_request(server.port, "GET", "/sleep?ms=800")
                result["answer"] = (r.status, r.body)
            except Exception as error:  # reported below
                result["answer"] = repr(error)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
        os.kill(server.pid, signal.SIGTERM)
        time.sleep(0.2)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1.0).close()
        except OSError:
            refused = True
        thread.join(TIMEOUT)
        try:
            code = server.process.wait(timeout=TIMEOUT)
        except Exception:
            raise CheckFailed("still running %.0f s after SIGTERM" % TIMEOUT)
        expect_equal(result.get("answer"), (200, b"slept 800"), "the request in flight")
        expect(refused, "a new connection was accepted after SIGTERM")
        expect_equal(code, 0, "exit status")


@check("SIGTERM with WebSockets open: each gets close 1001, then the app exits 0", group="websocket",
       tornado_falls_short="Tornado 6.2 drops its WebSocket connections without a close frame")
def _(t):
    with t.start_server() as server:
        answering = WebSocket(server.port, "/ws/echo")
        silent = WebSocket(server.port, "/chat/ws")
        started = time.monotonic()
        os.kill(server.pid, signal.SIGTERM)
        with answering, silent:
            for ws in (answering, silent):
                ws.sock.settimeout(TIMEOUT)
                _, opcode, payload = ws.receive_frame()
                expect_equal((opcode, payload[:2]), (rawws.OP_CLOSE, struct.pack("!H", 1001)), "close frame")
            answering.send_frame(rawws.OP_CLOSE, payload[:2])
            expect_equal(answering.wait_for_close(), ([], None), "after the answer: TCP closed")
            try:
                code = server.process.wait(timeout=TIMEOUT)
            except Exception:
                raise CheckFailed("still running %.0f s after SIGTERM" % TIMEOUT)
        expect_equal(code, 0, "exit status")
        # The silent client never answers: the grace period (3 s) bounds the wait.
        expect(time.monotonic() - started < 3 + 2, "took %.1f s to exit" % (time.monotonic() - started))


@check("--debug and --address accepted; SIGINT: exit 0")
def _(t):
    with t.start_server("--debug", "--address=127.0.0.1") as server:
        r = http_request(server.port, "GET", "/")
        expect_equal((r.status, r.body), (200, b"Hello, world"), "GET /")
        expect_equal(http_request(server.port, "GET", "/crash").status, 500, "/crash under --debug")
        code, _ = stop_with(server, signal.SIGINT)
        expect_equal(code, 0, "exit status")


# =============================================================================
# Running
# =============================================================================

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracle", action="store_true",
                        help="check the Tornado 6.2 oracle (tests/clients/demo_app_tornado.py)")
    parser.add_argument("--skip", default="", help="route groups not built yet: " + ",".join(GROUPS))
    parser.add_argument("--run-lenient", action="store_true",
                        help="under --oracle, run the checks Tornado 6.2 cannot pass too")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="PROGRAM [ARGS...]")
    options = parser.parse_args()
    skipped_groups = {group for group in options.skip.split(",") if group}
    unknown = skipped_groups - set(GROUPS)
    if unknown:
        parser.error("unknown group(s) %s; groups: %s" % (",".join(sorted(unknown)), ",".join(GROUPS)))
    if options.oracle == bool(options.command):
        parser.error("give PROGRAM [ARGS...] or --oracle (one of the two)")
    command = [ORACLE_PYTHON, ORACLE_SCRIPT] if options.oracle else options.command

    started = time.monotonic()
    counts = {"PASS": 0, "FAIL": 0, "SKIPPED": 0}
    with tempfile.NamedTemporaryFile(prefix="demo_app_log_", suffix=".txt") as log_file:
        target = Target(command, options.oracle, log_file)
        try:
            target.server = server_process(options.oracle, command, "--static_path=" + DEMO_STATIC,
                                           stderr=log_file)
            target.server.__enter__()
        except Exception as error:
            print("FAIL  the server starts and prints its ready line: %s" % error)
            print("summary: 0 passed, 1 failed, 0 skipped")
            return 1
        print("testing %s (pid %d, port %d)" % (" ".join(command), target.server.pid, target.port))
        try:
            for item in CHECKS:
                outcome = run_check(item, target, options, skipped_groups)
                counts[outcome] += 1
                sys.stdout.flush()
        finally:
            target.server.__exit__(None, None, None)
    elapsed = time.monotonic() - started
    print("summary: %d passed, %d failed, %d skipped (%.1f s)"
          % (counts["PASS"], counts["FAIL"], counts["SKIPPED"], elapsed))
    return 1 if counts["FAIL"] else 0


def run_check(item, target, options, skipped_groups):
    if item.group in skipped_groups:
        print("SKIPPED (not built): %s" % item.name)
        return "SKIPPED"
    if options.oracle and item.tornado_falls_short and not options.run_lenient:
        print("SKIPPED (stricter than Tornado 6.2): %s: %s" % (item.name, item.tornado_falls_short))
        return "SKIPPED"
    note = " [oracle: %s]" % item.oracle_note if options.oracle and item.oracle_note else ""
    return checks.run_check(item.name, item.function, target, note)


if __name__ == "__main__":
    sys.exit(main())
