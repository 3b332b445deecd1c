#!/usr/bin/env python3
"""A soak test of the demo app: `make soak`.

    python3 tests/bench/soak.py --bin build/bin --plot build/soak.png    # 5 minutes
    python3 tests/bench/soak.py --minutes 60                            # the one-hour soak
    python3 tests/bench/soak.py --duration 30 --min-requests 5000       # a smoke run (CTest)

Starts two build/bin/demo_app processes on free loopback ports: one
serving plain HTTP, and one serving HTTPS and wss:// with --certfile and
--keyfile (a self-signed EC P-256 certificate for localhost, made for the
run by the `openssl` command in a temporary folder that is removed at the
end). For --duration seconds (or --minutes), it runs kinds of clients
beside each other:

- Well-behaved clients of the HTTP server, most of the traffic: four
  keep-alive connections that send ordinary requests (GET /, HEAD /,
  /query, POST /echo, /json, /story/N, chunked /stream, /sleep, /static,
  /template, /error/404, /cookies/get, and /chat/new once a second) at a
  steady pace, together 1.25 x --min-requests / --duration a second (at
  least 300), and check every answer; a long poller that follows
  /chat/updates; a WebSocket client on /ws/echo.
- Abusive clients of the HTTP server, in a mix: they hang up (a plain
  close, or a reset: SO_LINGER 0 then close) in the middle of a request
  head, of a body, or of the response; dribble heads and bodies slowly;
  declare a body over the server's max_body_size (10 MiB) and, every
  20 s, really send one; pipeline 50 requests in one send and check all
  50 answers; open a WebSocket (/ws/echo or /chat/ws), maybe send a frame
  or half of one, and vanish without a close frame; start a long poll on
  /chat/updates and abandon it.
- Well-behaved clients of the HTTPS server (Python's ssl module, which
  verifies the certificate for localhost): two keep-alive connections,
  one on TLS 1.3 and one held to TLS 1.2, sending the same ordinary
  requests (but /chat/new), together 50 a second, each opening a new
  connection, so a full handshake, every 100 requests, every answer
  checked; a WebSocket client on wss://.../ws/echo.
- Abusive clients of the HTTPS server: they hang up in the middle of the
  handshake (within the ClientHello, or once the server's first flight
  has come); send something else than a ClientHello (random bytes, a
  plain HTTP request, which must get a 400 as nginx answers it, or a handshake
  record whose ClientHello is random) and check that the server closes;
  complete the handshake and vanish without a request or a close_notify;
  and, after the handshake, hang up mid-head, mid-body or mid-response,
  dribble heads and bodies slowly, and open a WebSocket and vanish.
- A probe per server, in a process of its own (so that our threads
  cannot delay it): a fresh connection doing GET / every 200 ms, timed
  from connect to the last byte of the answer (so for HTTPS, a full
  handshake included).

Every 10 s it samples each server's descriptors (/proc/PID/fd) and its
resident memory (VmRSS in /proc/PID/status) and prints a table row: the
time, then for each server its descriptors, RSS, answers so far, abusive
attempts so far, and its probe's max and p99 since the last row (the p99
of about 50 probes, interpolated between the two slowest: a trend, not a
fine figure; the verdict's p99 is over the whole run). At the end: each
server's abusive attempts by kind, with any "surprise" (an answer the
contract does not allow, such as a status other than 413 for a body too
large: noted, not a failure), a verdict line per criterion and server,
and the CPU time used. It passes (exit 0) when every criterion holds for
both servers, else exits 1:

- requests: at least --min-requests full, correct answers from the HTTP
  server (well-behaved requests, the pipelines' answers and completed
  slow requests; abusive attempts are counted apart), at least 40 a
  second of the run from the HTTPS server, and no wrong answer to a
  well-behaved request from either.
- server: each alive until we stop it.
- descriptors: each server's back to its baseline at the end. The
  baseline is taken after one request of every well-behaved kind (so
  that whatever the server opens once and keeps, such as its thread
  pool's, counts in it). The end goes in steps: the chat goes quiet (no
  more messages; the well-behaved long poller posts a last one for its
  own poll, and leaves); two more long polls are abandoned, one closed
  and one reset, that no message will ever answer, so only the server
  itself can notice that they left; the abusive clients stop; the other
  well-behaved clients go on for 3 s, then stop too; and we allow 10 s
  for the counts to come back (a lingering close lasts up to 2 s). If
  one does not, the sockets left are matched through /proc/net/tcp to
  the kind of client that opened them, and their TCP state is shown.
- RSS: each server's flat after warm-up. Warm-up is the first third of
  the run, at most 60 s and at least 15 s: allocators keep what they
  once needed, so the resident size climbs until the largest clients
  have overlapped once (two 1 MiB echoes at the same time, say; in our
  runs that took 10 to 20 s). The first sample at or after the end of
  warm-up is the reference; every later sample, the one at the end
  included, must stay within +5 % or +2 MiB of it, whichever is more
  (going down is fine): an allocator may keep what a rarer overlap of
  the largest clients took, in one step, and then stay there (a short
  run, such as the 30 s CTest smoke, may end just after their first
  overlap). --rss-slack KiB allows that much more.
- RSS climb, in a run of 15 minutes or more: a leak climbs with the
  requests; a step does not. Over the last third of the run, read
  through a running median of five samples (a single sample that dips
  or spikes is not a step), RSS may grow by at most 1 % of the reference
  besides its largest step. A leak of one byte per request on the HTTP
  server climbs some 400 KiB over the last 20 minutes of an hour (its
  limit there is 180 KiB).
- probe: each probe answered, each in under 50 ms, 100 ms for HTTPS
  (max and p99 shown; --probe-limit sets the first, the second is twice
  it). An HTTPS probe makes a full handshake, some 3 ms of CPU on the
  two sides against 0.3 for plain HTTP, with one more round trip: when
  the machine is busy, it waits longest.

At the end it writes everything the plot shows (each server's samples,
baseline, RSS reference and probes, the warm-up and the limits) as JSON
beside --plot and draws --plot (a column per server; rows: RSS,
descriptors, probe latency with the p99 of each 10 s) with matplotlib,
under this interpreter if it has it, else under /usr/bin/python3;
without matplotlib it says so and skips the plot (`--draw JSON --plot
PNG` draws it later). Each server's log goes beside the plot (soak_server.log,
soak_tls_server.log). Standard library only; runs under any python3 >=
3.7; every wait is bounded; the servers and the probes are stopped by
their PIDs.

RSS is what the allocator holds, not what the program does. --heaptrack
tells them apart: both servers run with Debian heaptrack's library
preloaded, which records every allocation and free (beside the plot:
heaptrack_HTTP.heaptrack.gz, which heaptrack_print and heaptrack_gui
read, and heaptrack_HTTP.massif), and at the end each server's live heap
is printed minute by minute (lowest, median, highest) with what was
still allocated at exit. It needs a server on glibc's malloc (a build
configured with -DTORNADO_TCMALLOC=OFF): tcmalloc's own operator new and
delete pass heaptrack by. No verdict is drawn from it.
"""
import argparse
import base64
import collections
import gzip
import json
import os
import random
import re
import select
import shlex
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import rawws  # noqa: E402
from certificate import make_certificate  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
STATIC_FILE = os.path.join(ROOT, "final", "examples", "demo_app", "static", "hello.txt")

TIMEOUT = 5.0                    # the longest one exchange may take
SAMPLE_EVERY = 10.0              # seconds between two samples of the servers
PROBE_EVERY = 0.2
PROBE_LIMIT_MS = 50.0
# A probe of the HTTPS server makes a new TLS connection: a full handshake
# costs some 3 ms of CPU (1 in the server, 2 in Python) against 0.3 for a
# plain GET, and three wake-ups instead of two, so when the machine is
# busy it waits longest (in one smoke run 86 ms against 32 for HTTP).
TLS_PROBE_FACTOR = 2             # its limit: twice the plain probe's (100 ms)
RSS_TOLERANCE = 0.05             # +5 % over the reference sample ...
RSS_STEP_KIB = 2048              # ... or 2 MiB, whichever is more: two 1 MiB echoes at once
RSS_CLIMB = 0.01                 # growth allowed over the last third of a long run
CLIMB_MIN_DURATION = 900.0       # a long run: 15 minutes or more
WARMUP_MAX = 60.0
WARMUP_MIN = 15.0
GOOD_GRACE = 3.0                 # well-behaved traffic after the abusive clients stop
FD_SETTLE = 10.0                 # the time descriptors get to come back
CHAT_EVERY = 1.0                 # one chat message a second
ORDINARY_WORKERS = 4
QUICK_ABUSERS = 2
SLOW_ABUSERS = 2
TLS_RATE = 50.0                  # well-behaved HTTPS requests a second, on two connections
TLS_NEED = 40.0                  # answers a second of the run the HTTPS server must give
TLS_QUICK_ABUSERS = 2
TLS_SLOW_ABUSERS = 1
RECONNECT_AFTER = 100            # requests on one keep-alive connection
MAX_BODY_SIZE = 10 * 1024 * 1024
OVERSIZE_SENT_EVERY = 20.0
PIPELINE_DEPTH = 50
ONE_MIB = bytes(1024 * 1024)


class ProtocolError(Exception):
    pass


def describe(error):
    return str(error) or type(error).__name__


# --- what the clients did --------------------------------------------------------

class Tally:
    """Counters shared by the client threads (all changes under the lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answered = 0                        # full, correct answers
        self.wrong = 0                           # wrong answers to well-behaved requests
        self.wrong_examples = []
        self.attempts = collections.Counter()    # abusive attempts, by kind
        self.surprises = collections.Counter()   # abusive attempts the server met oddly
        self.surprise_examples = {}
        self.port_kinds = {}                     # our local port -> the kind that used it
        self.latest_chat_id = ""

    def answer(self, error, count=1):
        """`count` answers to well-behaved requests; error: what was wrong, or None."""
        with self.lock:
            if error is None:
                self.answered += count
            else:
                self.wrong += 1
                if len(self.wrong_examples) < 10:
                    self.wrong_examples.append(error)

    def attempt(self, kind, surprise=None):
        with self.lock:
            self.attempts[kind] += 1
            if surprise is not None:
                self.surprises[kind] += 1
                self.surprise_examples.setdefault(kind, surprise)

    def note_port(self, sock, kind):
        with self.lock:
            self.port_kinds[sock.getsockname()[1]] = kind

    def counts(self):
        with self.lock:
            return self.answered, sum(self.attempts.values())


# --- HTTP over a raw socket -------------------------------------------------------

def request_bytes(method, path, body=b"", headers=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += ["%s: %s" % header for header in headers]
    if body or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connect(port, kind, tally, context=None):
    """A connection to the server; with an ssl.SSLContext, over TLS, the
    handshake done (and the certificate verified for localhost)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    tally.note_port(sock, kind)
    if context is None:
        return sock
    try:
        return context.wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def hang_up(sock, reset):
    """Closes: a FIN, or with reset a RST (SO_LINGER on with a 0 s linger)."""
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers       # lower-case name -> value
        self.body = body


class HttpConnection:
    """One client connection; reads responses one by one (keep-alive, pipelines)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _receive(self):
        piece = self.sock.recv(65536)
        if not piece:
            raise ProtocolError("the server closed the connection")
        self.buffer += piece

    def _take(self, count):
        while len(self.buffer) < count:
            self._receive()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _take_line(self):
        while b"\r\n" not in self.buffer:
            self._receive()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_response(self, method="GET"):
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError("bad status line %r" % lines[0])
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(status, headers, self._read_body(method, status, headers))

    def _read_body(self, method, status, headers):
        if method == "HEAD" or status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunks()
        if "content-length" in headers:
            return self._take(int(headers["content-length"]))
        return self._read_to_close()

    def _read_chunks(self):
        body = b""
        while True:
            size = int(self._take_line().split(b";")[0], 16)
            if size == 0:
                while self._take_line():  # trailers, up to the empty line
                    pass
                return body
            body += self._take(size)
            self._take(2)

    def _read_to_close(self):
        while True:
            piece = self.sock.recv(65536)
            if not piece:
                body, self.buffer = self.buffer, b""
                return body
            self.buffer += piece

    def close(self):
        self.sock.close()


# --- the well-behaved clients -------------------------------------------------------

class Ordinary:
    """One well-behaved request and the answer it must get: `expected` is
    the body (bytes) or a function of the body that says whether it is right."""

    def __init__(self, method, path, expected, body=b"", headers=(), status=200):
        self.method = method
        self.path = path
        self.expected = expected
        self.body = body
        self.headers = headers
        self.status = status

    def problem(self, response):
        """What is wrong with the response, or None."""
        if response.status != self.status:
            return "%s %s: status %d, expected %d" % (self.method, self.path,
                                                     response.status, self.status)
        right = (self.expected(response.body) if callable(self.expected)
                 else response.body == self.expected)
        if not right:
            return "%s %s: unexpected body %r" % (self.method, self.path, response.body[:80])
        return None


def json_equals(value):
    def check(body):
        try:
            return json.loads(body.decode("utf-8")) == value
        except ValueError:
            return False
    return check


def ordinary_request(rng, n, static_text):
    """The n-th well-behaved request: each kind in turn."""
    kind = n % 12
    if kind == 0:
        return Ordinary("GET", "/", b"Hello, world")
    if kind == 1:
        return Ordinary("HEAD", "/", b"")
    if kind == 2:
        return Ordinary("GET", "/query?a=%d&a=x&b=y" % n, json_equals({"a": [str(n), "x"], "b": ["y"]}))
    if kind == 3:
        body = rng.randbytes(rng.randint(1, 4096)) if hasattr(rng, "randbytes") else os.urandom(2000)
        return Ordinary("POST", "/echo", body, body=body)
    if kind == 4:
        value = {"n": n, "text": "soak"}
        return Ordinary("POST", "/json", json_equals({"received": value}),
                        body=json.dumps(value).encode(), headers=[("Content-Type", "application/json")])
    if kind == 5:
        return Ordinary("GET", "/story/%d" % n, b"this is story %d" % n)
    if kind == 6:
        return Ordinary("GET", "/stream?chunks=4", b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n")
    if kind == 7:
        return Ordinary("GET", "/sleep?ms=2", b"slept 2")
    if kind == 8:
        return Ordinary("GET", "/static/hello.txt", static_text)
    if kind == 9:
        return Ordinary("GET", "/template?name=%3Cb%3E", lambda body: b"&lt;b&gt;" in body)
    if kind == 10:
        return Ordinary("GET", "/error/404", lambda body: b"404: Not Found" in body, status=404)
    return Ordinary("GET", "/cookies/get", json_equals({"soak": str(n)}),
                    headers=[("Cookie", "soak=%d" % n)])


def chat_post(tally, n):
    """POST /chat/new; the answer's id becomes the cursor long polls wait after."""
    def check(body):
        try:
            message = json.loads(body.decode("utf-8"))
        except ValueError:
            return False
        if message.get("body") != "soak %d" % n or not message.get("id"):
            return False
        with tally.lock:
            tally.latest_chat_id = message["id"]
        return True
    return Ordinary("POST", "/chat/new", check, body=b"body=soak+%d" % n,
                    headers=[("Content-Type", "application/x-www-form-urlencoded")])


def exchange(connection, request):
    connection.sock.sendall(request_bytes(request.method, request.path, request.body,
                                          request.headers))
    return connection.read_response(request.method)


def ordinary_worker(port, rate, stop, tally, seed, chat_stop, static_text, context=None):
    """Keep-alive requests at `rate` a second, a new connection now and then
    (over TLS with a context); with a chat_stop event, a chat message a
    second until it is set."""
    rng = random.Random(seed)
    connection, on_connection, n = None, 0, 0
    next_time = last_chat = time.monotonic()
    while not stop.is_set():
        n += 1
        if chat_stop and not chat_stop.is_set() and time.monotonic() - last_chat >= CHAT_EVERY:
            request, last_chat = chat_post(tally, n), time.monotonic()
        else:
            request = ordinary_request(rng, n, static_text)
        try:
            if connection is None:
                connection, on_connection = HttpConnection(
                    connect(port, "well-behaved", tally, context)), 0
            response = exchange(connection, request)
            tally.answer(request.problem(response))
            on_connection += 1
            if on_connection >= RECONNECT_AFTER or response.headers.get("connection") == "close":
                connection.close()
                connection = None
        except (OSError, ProtocolError, ValueError) as error:
            tally.answer("%s %s: %s" % (request.method, request.path, describe(error)))
            if connection is not None:
                connection.close()
            connection = None
        # Pace: at most one second of debt, so a stall does not become a burst.
        next_time = max(next_time + 1.0 / rate, time.monotonic() - 1.0)
        stop.wait(max(0.0, next_time - time.monotonic()))
    if connection is not None:
        connection.close()


def long_poller(port, stop, tally):
    """Follows the chat with /chat/updates, as the chat page does. On stop
    it posts a last message itself, so that its own poll is answered
    rather than abandoned."""
    cursor = ""
    while True:
        try:
            with connect(port, "well-behaved long poll", tally) as sock:
                connection = HttpConnection(sock)
                while True:
                    body = ("cursor=" + cursor).encode()
                    sock.sendall(request_bytes("POST", "/chat/updates", body,
                                               [("Content-Type", "application/x-www-form-urlencoded")]))
                    response = wait_for_updates(port, connection, stop, tally)
                    messages = json.loads(response.body.decode("utf-8"))["messages"]
                    if response.status != 200 or not messages:
                        raise ProtocolError("updates: %d %r" % (response.status, response.body[:80]))
                    cursor = messages[-1]["id"]
                    tally.answer(None)
                    if stop.is_set():
                        return
        except (OSError, ProtocolError, ValueError, KeyError) as error:
            tally.answer("long poll: %s" % (describe(error)))
            if stop.wait(1.0):
                return


def wait_for_updates(port, connection, stop, tally):
    """Waits for the answer to a long poll; after stop, posts a message to end it."""
    posted = False
    while True:
        if stop.is_set() and not posted:
            posted = True
            last_message = chat_post(tally, 0)
            with connect(port, "well-behaved", tally) as sock:
                tally.answer(last_message.problem(exchange(HttpConnection(sock), last_message)))
        if select.select([connection.sock], [], [], 0.5)[0] or connection.buffer:
            return connection.read_response("POST")


class WebSocketOn(rawws.RawWebSocket):
    """rawws's client on a connection we made (a TLS one for wss://): the
    same opening handshake, then the same frames, in TLS records."""

    def __init__(self, sock, port, path):  # rawws.RawWebSocket.__init__ would connect
        self.sock = sock
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.buffer = b""
        try:
            sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, self.key)).encode())
            while b"\r\n\r\n" not in self.buffer:
                piece = sock.recv(4096)
                if not piece:
                    raise rawws.ProtocolError("connection closed during the WebSocket handshake")
                self.buffer += piece
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.handshake = rawws.HandshakeAnswer(head)
            if self.handshake.status != 101:
                raise rawws.ProtocolError("handshake status: expected 101, got %d"
                                          % self.handshake.status)
            if self.handshake.header("Sec-WebSocket-Accept") != rawws.accept_value(self.key):
                raise rawws.ProtocolError("wrong Sec-WebSocket-Accept")
        except BaseException:
            sock.close()
            raise


def open_websocket(port, path, kind, tally, context=None):
    """A WebSocket on path: ws:// with rawws, or wss:// with a TLS context."""
    if context is None:
        ws = rawws.RawWebSocket(port, path, timeout=TIMEOUT)
        tally.note_port(ws.sock, kind)
        return ws
    return WebSocketOn(connect(port, kind, tally, context), port, path)


def websocket_worker(port, stop, tally, context=None):
    """Echo messages on /ws/echo, a clean close (code 1000) every 50."""
    n = 0
    while not stop.is_set():
        try:
            ws = open_websocket(port, "/ws/echo", "well-behaved websocket", tally, context)
            with ws:
                for _ in range(50):
                    n += 1
                    text = ("message %d" % n).encode()
                    ws.send_frame(rawws.OP_TEXT, text)
                    answer = ws.receive_message()
                    tally.answer(None if answer == (rawws.OP_TEXT, text)
                                 else "ws echo: %r" % (answer,))
                    if stop.wait(0.2):
                        break
                ws.send_frame(rawws.OP_CLOSE, rawws.close_payload(1000))
                code, _ = ws.close_code_and_reason()
                if code != 1000:
                    tally.answer("ws close: the server answered code %r" % code)
        except (OSError, EOFError, rawws.ProtocolError) as error:
            tally.answer("ws echo: %s" % (describe(error)))
            stop.wait(1.0)


# --- the abusive clients ----------------------------------------------------------
# Each takes (port, rng, tally), the slow ones a stop event too, and
# records its attempt with tally.attempt: the kind of client, and a
# "surprise" when the server's answer was not one the contract allows.
# Those that take a context also serve as abusive clients of the HTTPS
# server: they do the same after a TLS handshake.

def how(reset):
    return "reset" if reset else "close"


def mid_head(port, rng, tally, context=None):
    reset = rng.random() < 0.5
    kind = "hang up mid-head (%s)" % how(reset)
    sock = connect(port, kind, tally, context)
    head = request_bytes("GET", "/query?cut=1", headers=[("X-Filler", "x" * 200)])
    sock.sendall(head[:rng.randint(1, len(head) - 4)])
    hang_up(sock, reset)
    tally.attempt(kind)


def mid_body(port, rng, tally, context=None):
    reset = rng.random() < 0.5
    kind = "hang up mid-body (%s)" % how(reset)
    sock = connect(port, kind, tally, context)
    body = bytes(100000)
    sock.sendall(request_bytes("POST", "/echo", body)[:-rng.randint(1, len(body))])
    hang_up(sock, reset)
    tally.attempt(kind)


def mid_response(port, rng, tally, context=None):
    """Hangs up while the answer comes: a 1 MiB echo or a long chunked
    stream after its first bytes, or a sleeping handler before it answers."""
    reset = rng.random() < 0.5
    variant = rng.choice(["echo 1 MiB", "stream", "sleep"])
    kind = "hang up mid-response, %s (%s)" % (variant, how(reset))
    sock = connect(port, kind, tally, context)
    try:
        if variant == "echo 1 MiB":
            sock.sendall(request_bytes("POST", "/echo", ONE_MIB))
            sock.recv(1024)
        elif variant == "stream":
            sock.sendall(request_bytes("GET", "/stream?chunks=20000"))
            sock.recv(1024)
        else:
            sock.sendall(request_bytes("GET", "/sleep?ms=100"))
            time.sleep(0.01)
    finally:
        hang_up(sock, reset)
    tally.attempt(kind)


def oversize_declared(port, rng, tally):
    """A Content-Length over max_body_size, no body: the contract says 413."""
    kind = "Content-Length over max_body_size"
    with connect(port, kind, tally) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
                     % (MAX_BODY_SIZE + 1))
        try:
            status = HttpConnection(sock).read_response("POST").status
        except (OSError, ProtocolError) as error:
            tally.attempt(kind, "no answer: %s" % (describe(error)))
            return
    tally.attempt(kind, None if status == 413 else "status %d, expected 413" % status)


def oversize_sent(port, rng, tally):
    """A body of max_body_size + 1 bytes, really sent. The server may answer
    413 and close before it has all of it: our send then fails, fine."""
    kind = "body over max_body_size, sent"
    with connect(port, kind, tally) as sock:
        connection = HttpConnection(sock)
        try:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
                         % (MAX_BODY_SIZE + 1))
            for _ in range(10):
                sock.sendall(ONE_MIB)
            sock.sendall(b"x")
        except OSError:
            pass
        try:
            status = connection.read_response("POST").status
        except (OSError, ProtocolError):
            tally.attempt(kind)  # closed, maybe reset, before or without an answer
            return
    tally.attempt(kind, None if status == 413 else "status %d, expected 413" % status)


def pipeline(port, rng, tally):
    """50 requests in one send; all 50 answers read and checked, in order."""
    kind = "pipeline of %d" % PIPELINE_DEPTH
    first = rng.randint(0, 10 ** 6)
    numbers = range(first, first + PIPELINE_DEPTH)
    with connect(port, kind, tally) as sock:
        sock.sendall(b"".join(request_bytes("GET", "/story/%d" % i) for i in numbers))
        connection = HttpConnection(sock)
        good = 0
        try:
            for i in numbers:
                response = connection.read_response()
                problem = Ordinary("GET", "/story/%d" % i, b"this is story %d" % i).problem(response)
                if problem is not None:
                    tally.answer("pipeline: " + problem)
                    break
                good += 1
        except (OSError, ProtocolError) as error:
            tally.answer("pipeline: answer %d of %d: %s" % (good + 1, PIPELINE_DEPTH, error))
    tally.answer(None, good)
    tally.attempt(kind)


def websocket_vanish(port, rng, tally, context=None):
    """A WebSocket that leaves without a close frame: after the handshake,
    after a message, or in the middle of a frame; a close or a reset."""
    reset = rng.random() < 0.5
    path = rng.choice(["/ws/echo", "/chat/ws"])
    moment = "after the handshake" if path == "/chat/ws" else rng.choice(
        ["after the handshake", "after a message", "mid-frame"])
    kind = "WebSocket %s vanishes %s (%s)" % (path, moment, how(reset))
    ws = open_websocket(port, path, kind, tally, context)
    try:
        if moment == "after a message":
            ws.send_frame(rawws.OP_TEXT, b"going away")
            if ws.receive_message() != (rawws.OP_TEXT, b"going away"):
                tally.attempt(kind, "wrong echo")
                return
        elif moment == "mid-frame":
            ws.send_raw(rawws.frame_bytes(rawws.OP_TEXT, b"half of this frame")[:10])
    finally:
        hang_up(ws.sock, reset)
    tally.attempt(kind)


def dribble(sock, data, rng, stop, cut_at):
    """Sends data a few bytes at a time, 50 to 150 ms apart; stops at
    cut_at (or on stop). Returns whether it sent everything."""
    sent = 0
    while sent < min(cut_at, len(data)):
        if stop.is_set():
            return False
        step = rng.randint(1, 8) if cut_at >= len(data) else min(rng.randint(1, 8), cut_at - sent)
        sock.sendall(data[sent:sent + step])
        sent += step
        time.sleep(rng.uniform(0.05, 0.15))
    return sent == len(data)


def slow_request(port, rng, tally, stop, kind_name, request, expected, context):
    """Dribbles a request; one time in three hangs up half-way (close or reset)."""
    cut = rng.random() < 1 / 3
    reset = rng.random() < 0.5
    cut_at = rng.randint(1, len(request) - 1) if cut else len(request)
    kind = kind_name + (", hangs up half-way (%s)" % how(reset) if cut else ", completed")
    sock = connect(port, kind, tally, context)
    try:
        if dribble(sock, request, rng, stop, cut_at):
            tally.answer(expected.problem(HttpConnection(sock).read_response(expected.method)))
    finally:
        hang_up(sock, reset and cut)
    tally.attempt(kind)


def slow_head(port, rng, tally, stop, context=None):
    n = rng.randint(0, 10 ** 6)
    request = request_bytes("GET", "/query?slow=%d" % n, headers=[("X-Slow", "s" * 40)])
    expected = Ordinary("GET", "/query", json_equals({"slow": [str(n)]}))
    slow_request(port, rng, tally, stop, "slow head", request, expected, context)


def slow_body(port, rng, tally, stop, context=None):
    body = os.urandom(200)
    # The head in one piece, the body a few bytes at a time.
    head = request_bytes("POST", "/echo", body)[:-len(body)]
    expected = Ordinary("POST", "/echo", body)
    cut = rng.random() < 1 / 3
    reset = rng.random() < 0.5
    kind = "slow body" + (", hangs up half-way (%s)" % how(reset) if cut else ", completed")
    sock = connect(port, kind, tally, context)
    try:
        sock.sendall(head)
        if dribble(sock, body, rng, stop, rng.randint(1, len(body) - 1) if cut else len(body)):
            tally.answer(expected.problem(HttpConnection(sock).read_response("POST")))
    finally:
        hang_up(sock, reset and cut)
    tally.attempt(kind)


def abandoned_long_poll(port, rng, tally, stop, reset=None, wait=None):
    """A long poll after the newest message, left after 0.2 to 1 s. If a
    message comes first, the answer is read and checked."""
    reset = rng.random() < 0.5 if reset is None else reset
    wait = rng.uniform(0.2, 1.0) if wait is None else wait
    kind = "long poll abandoned (%s)" % how(reset)
    with tally.lock:
        cursor = tally.latest_chat_id
    sock = connect(port, kind, tally)
    try:
        sock.sendall(request_bytes("POST", "/chat/updates", ("cursor=" + cursor).encode(),
                                   [("Content-Type", "application/x-www-form-urlencoded")]))
        if select.select([sock], [], [], wait)[0]:
            kind = "long poll answered before it was abandoned"
            response = HttpConnection(sock).read_response("POST")
            tally.answer(None if response.status == 200 and b'"messages"' in response.body
                         else "long poll: %d %r" % (response.status, response.body[:80]))
    finally:
        hang_up(sock, reset)
    tally.attempt(kind)


# Pipelines are rare in this list: their 50 answers each must not outnumber
# the ordinary keep-alive requests.
QUICK_KINDS = [mid_head] * 3 + [mid_body] * 3 + [mid_response] * 4 + [oversize_declared] * 2 \
    + [pipeline] + [websocket_vanish] * 4
SLOW_KINDS = [slow_head, slow_body, abandoned_long_poll]


def last_abandoned_long_polls(port, tally):
    """Two long polls left (a close, a reset) after the chat has gone
    quiet: no message will ever answer them, so only the server can
    notice that their clients left and free their descriptors."""
    rng = random.Random(0)
    for reset in (False, True):
        guarded(abandoned_long_poll, tally, port, rng, tally, None, reset, 0.3)


def guarded(kind_function, tally, *args):
    """Runs one abusive attempt; an error it did not expect is a surprise."""
    try:
        kind_function(*args)
    except (OSError, EOFError, ProtocolError, rawws.ProtocolError) as error:
        tally.attempt(kind_function.__name__ + " (error)",
                      "%s: %s" % (type(error).__name__, error))


def quick_abuser(port, stop, tally, seed, sends_oversize):
    rng = random.Random(seed)
    # The first one 2 s in, during warm-up, then one every OVERSIZE_SENT_EVERY s.
    last_oversize = time.monotonic() - OVERSIZE_SENT_EVERY + 2.0
    while not stop.is_set():
        if sends_oversize and time.monotonic() - last_oversize >= OVERSIZE_SENT_EVERY:
            last_oversize = time.monotonic()
            guarded(oversize_sent, tally, port, rng, tally)
        guarded(rng.choice(QUICK_KINDS), tally, port, rng, tally)
        stop.wait(rng.uniform(0.05, 0.15))


def slow_abuser(port, stop, tally, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        guarded(rng.choice(SLOW_KINDS), tally, port, rng, tally, stop)
        stop.wait(rng.uniform(0.05, 0.15))


# --- the abusive clients of the HTTPS server ---------------------------------------------
# Each takes (port, rng, tally, context), the slow ones (port, rng,
# tally, stop, context).

def client_hello(context):
    """The first flight of a TLS handshake, a ClientHello, as bytes."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass  # it waits for the server's answer, which will not come here
    return outgoing.read()


def read_until_close(sock):
    """What the server sends until it closes the connection: (bytes, True),
    or (bytes, False) if it is still open after TIMEOUT s."""
    data, deadline = b"", time.monotonic() + TIMEOUT
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            piece = sock.recv(65536)
            if not piece:
                return data, True
            data += piece
    except ConnectionResetError:
        return data, True
    except socket.timeout:
        return data, False


def tls_mid_handshake(port, rng, tally, context):
    """Hangs up within the ClientHello, or after it, once the server's
    first flight (ServerHello to Finished in TLS 1.3) has come."""
    reset = rng.random() < 0.5
    moment = rng.choice(["within the ClientHello", "after the server's first flight"])
    kind = "hang up mid-handshake, %s (%s)" % (moment, how(reset))
    hello = client_hello(context)
    sock = connect(port, kind, tally)
    try:
        if moment == "within the ClientHello":
            sock.sendall(hello[:rng.randint(1, len(hello) - 1)])
        else:
            sock.sendall(hello)
            if not sock.recv(65536):
                tally.attempt(kind, "the server closed instead of answering a ClientHello")
                return
    finally:
        hang_up(sock, reset)
    tally.attempt(kind)


def tls_garbage(port, rng, tally, context):
    """Something else than a ClientHello: random bytes, a plain HTTP
    request (answered 400, as nginx does: the contract), or a handshake record
    whose ClientHello is random bytes. The server must close."""
    variant = rng.choice(["random bytes", "a plain HTTP request", "a handshake record of random bytes"])
    kind = "not a ClientHello: %s" % variant
    if variant == "random bytes":
        # Letters first: no TLS record type (20 to 23) and no TLS version
        # (3), which would make the server wait for the rest of a record.
        data = rng.choice([b"GARBAGE", b"xyzzy", b"Hello?"]) + os.urandom(rng.randint(0, 2000))
    elif variant == "a plain HTTP request":
        data = request_bytes("GET", "/")
    else:
        body = os.urandom(rng.randint(40, 1000))
        message = b"\x01" + struct.pack("!I", len(body))[1:] + body     # ClientHello, its length
        data = b"\x16\x03\x01" + struct.pack("!H", len(message)) + message
    with connect(port, kind, tally) as sock:
        sock.sendall(data)
        answer, closed = read_until_close(sock)
    if not closed:
        tally.attempt(kind, "the connection still open %.0f s later" % TIMEOUT)
    elif variant == "a plain HTTP request" and not answer.startswith(b"HTTP/1.1 400 "):
        tally.attempt(kind, "answer %r, expected a 400" % answer[:40])
    else:
        tally.attempt(kind)


def tls_handshake_vanish(port, rng, tally, context):
    """Completes the handshake and leaves without a request or a close_notify."""
    reset = rng.random() < 0.5
    kind = "handshake, then vanishes (%s)" % how(reset)
    hang_up(connect(port, kind, tally, context), reset)
    tally.attempt(kind)


TLS_QUICK_KINDS = [tls_mid_handshake] * 3 + [tls_garbage] * 3 + [tls_handshake_vanish] * 3 \
    + [mid_head] * 2 + [mid_body] * 2 + [mid_response] * 2 + [websocket_vanish] * 2
TLS_SLOW_KINDS = [slow_head, slow_body]


def tls_abuser(port, stop, tally, seed, context, kinds):
    """Quick kinds (slow ones with kinds=TLS_SLOW_KINDS) in a mix, until stop."""
    rng = random.Random(seed)
    while not stop.is_set():
        kind_function = rng.choice(kinds)
        if kinds is TLS_SLOW_KINDS:
            guarded(kind_function, tally, port, rng, tally, stop, context)
        else:
            guarded(kind_function, tally, port, rng, tally, context)
        stop.wait(rng.uniform(0.05, 0.15))


# --- the probe (a process of its own) --------------------------------------------------

def probe_once(port, context=None):
    """GET / on a fresh connection (a TLS one, handshake included, with a
    context): (milliseconds, "ok" or what went wrong)."""
    start = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="localhost")
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            response = HttpConnection(sock).read_response()
        outcome = "ok" if response.status == 200 and response.body == b"Hello, world" else "wrong"
    except (OSError, ProtocolError) as error:
        outcome = "failed:" + type(error).__name__
    return (time.monotonic() - start) * 1000.0, outcome


def run_probe(port, cafile=None):
    """Prints "MONOTONIC_TIME MS OUTCOME" per probe until stopped by signal;
    with cafile, over TLS, trusting that certificate."""
    context = None if cafile is None else client_context(cafile)
    next_time = time.monotonic()
    while True:
        started = time.monotonic()
        milliseconds, outcome = probe_once(port, context)
        print("%.3f %.3f %s" % (started, milliseconds, outcome), flush=True)
        # A probe slower than PROBE_EVERY makes the next one due at once.
        next_time = max(next_time + PROBE_EVERY, time.monotonic())
        time.sleep(max(0.0, next_time - time.monotonic()))


class Probe:
    """Runs this script with --probe-port (and --probe-cafile for HTTPS)
    and collects its lines."""

    def __init__(self, port, cafile=None):
        self.results = []            # (monotonic time, ms, outcome)
        self.lock = threading.Lock()
        command = [sys.executable, os.path.abspath(__file__), "--probe-port", str(port)]
        if cafile is not None:
            command += ["--probe-cafile", cafile]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            started, milliseconds, outcome = line.decode().split()
            with self.lock:
                self.results.append((float(started), float(milliseconds), outcome))

    def since(self, start):
        with self.lock:
            return [r for r in self.results if r[0] >= start]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=5)


# --- the server's descriptors and memory ------------------------------------------------

def descriptors(pid):
    """fd number -> what it points to (e.g. "socket:[12345]")."""
    table = {}
    folder = "/proc/%d/fd" % pid
    for name in os.listdir(folder):
        try:
            table[name] = os.readlink(os.path.join(folder, name))
        except OSError:
            pass  # closed between listdir and readlink
    return table


def cpu_seconds(pid):
    """User + system CPU time the process has used (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "0B": "CLOSING"}


def explain_leftovers(pid, baseline, tally):
    """Lines saying which client kind opened each socket the server still
    holds beyond the baseline (from /proc/net/tcp: inode -> peer port)."""
    extra = {target for target in descriptors(pid).values()} - set(baseline.values())
    inodes = {m.group(1) for m in (re.match(r"socket:\[(\d+)\]", t) for t in extra) if m}
    peers = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in list(f)[1:]:
                    fields = line.split()
                    if fields[9] in inodes:
                        peer_port = int(fields[2].rsplit(":", 1)[1], 16)
                        peers[fields[9]] = (peer_port, TCP_STATES.get(fields[3], fields[3]))
        except OSError:
            pass
    kinds = collections.Counter()
    for inode in inodes:
        port, state = peers.get(inode, (None, "not in /proc/net/tcp"))
        kinds[(tally.port_kinds.get(port, "unknown client"), state)] += 1
    lines = ["  %d x %s, socket %s" % (count, kind, state) for (kind, state), count in kinds.items()]
    lines += ["  %s (not a socket)" % target for target in sorted(extra)
              if not target.startswith("socket:")]
    return lines


# --- the HTTPS server's certificate ------------------------------------------------------

def client_context(cafile, tls12=False):
    """Trusts that certificate alone and checks that it names localhost;
    with tls12, offers TLS 1.2 at most (else TLS 1.3 is what we get)."""
    context = ssl.create_default_context(cafile=cafile)
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- the run ------------------------------------------------------------------------------

class Sample:
    """One server's counts at one time; the probe figures are over the
    probes since the sample before."""

    def __init__(self, t, fds, rss, answered, abusive, probes):
        self.t = t
        self.fds = fds
        self.rss = rss
        self.answered = answered
        self.abusive = abusive
        latencies = [ms for _, ms, _ in probes]
        self.probes = len(latencies)
        self.probe_max = max(latencies) if latencies else None
        self.probe_p99 = percentile(latencies, 0.99) if latencies else None

    def columns(self):
        probe = "-" if self.probe_max is None else "%.1f / %.1f" % (self.probe_max, self.probe_p99)
        return COLUMNS % (self.fds, "{:,}".format(self.rss), "{:,}".format(self.answered),
                          "{:,}".format(self.abusive), probe)


COLUMNS = "%5s %9s %10s %8s %13s"
COLUMNS_WIDTH = len(COLUMNS % ("", "", "", "", ""))


def table_header(targets):
    titles = "".join(" | %-*s" % (COLUMNS_WIDTH, target.title()) for target in targets)
    names = "".join(" | " + COLUMNS % ("fds", "RSS KiB", "answered", "abusive", "probe max/p99")
                    for _ in targets)
    return ("%7s%s" % ("", titles)).rstrip() + "\n%7s%s" % ("time", names)


def table_row(label, samples):
    """A row: the time, then each server's columns ("-" for a server that exited)."""
    return "%7s%s" % (label, "".join(" | " + (s.columns() if s is not None else
                                               "%*s" % (COLUMNS_WIDTH, "- (exited)"))
                                     for s in samples))


class Target:
    """One server under soak, HTTP or HTTPS: its clients' counts, its
    probe, and what we saw of it (samples every 10 s, the end sample, the
    descriptors)."""

    def __init__(self, name, server, log_path, cafile=None, probe_limit=PROBE_LIMIT_MS):
        self.name = name                 # "HTTP" or "HTTPS"
        self.server = server
        self.log_path = log_path
        self.cafile = cafile             # the certificate its clients trust (HTTPS)
        self.context = None if cafile is None else client_context(cafile)
        self.probe_limit = probe_limit * (1 if cafile is None else TLS_PROBE_FACTOR)
        self.tally = Tally()
        self.probe = None
        self.probes = []                 # (monotonic time, ms, outcome)
        self.baseline = {}
        self.samples = []
        self.end = None
        self.settled_after = None        # seconds the descriptors took to come back, or None
        self.crash = None
        self.server_cpu = None           # CPU seconds the server used, at the end

    def title(self):
        return "HTTP: demo_app" if self.cafile is None else "HTTPS: demo_app --certfile (and wss)"

    def alive(self):
        return self.crash is None and self.server.process.poll() is None

    def note_exit(self):
        self.server.process.wait(timeout=TIMEOUT)
        self.crash = "the server exited with status %d" % self.server.process.returncode


class Run:
    """What soak() saw: the start time and the servers."""

    def __init__(self, targets):
        self.targets = targets
        self.start = None


def sample(target, start):
    """The server's counts now, the probes since its last sample."""
    answered, abusive = target.tally.counts()
    pid = target.server.pid
    window_start = start + (target.samples[-1].t if target.samples else 0.0)
    return Sample(time.monotonic() - start, len(descriptors(pid)), rss_kib(pid), answered, abusive,
                  target.probe.since(window_start))


def prime(port, tally, static_text, context=None):
    """One request of every well-behaved kind (and a chat message), so that
    whatever the server creates once counts in the baseline."""
    rng = random.Random(0)
    with connect(port, "priming", tally, context) as sock:
        connection = HttpConnection(sock)
        for n, request in enumerate([ordinary_request(rng, n, static_text) for n in range(12)]
                                    + [chat_post(tally, 0)]):
            problem = request.problem(exchange(connection, request))
            if problem:
                raise ProtocolError("priming: " + problem)


class Stops:
    """The events that end the clients, in the order the end sets them."""

    def __init__(self):
        self.chat = threading.Event()      # no more chat messages; the long poller leaves
        self.abuse = threading.Event()     # the abusive clients
        self.good = threading.Event()      # the other well-behaved clients


def start_threads(targets, options, stops, static_text):
    """(the long poller, the other well-behaved threads, the abusive ones)
    of both servers, started."""
    http, https = targets
    port, tally = http.server.port, http.tally
    rate = max(300.0, 1.25 * options.min_requests / options.duration) / ORDINARY_WORKERS
    poller = threading.Thread(target=long_poller, args=(port, stops.chat, tally))
    good = [threading.Thread(target=ordinary_worker,
                             args=(port, rate, stops.good, tally, options.seed + i,
                                   stops.chat if i == 0 else None, static_text))
            for i in range(ORDINARY_WORKERS)]
    good.append(threading.Thread(target=websocket_worker, args=(port, stops.good, tally)))
    abusive = [threading.Thread(target=quick_abuser,
                                args=(port, stops.abuse, tally, options.seed + 100 + i, i == 0))
               for i in range(QUICK_ABUSERS)]
    abusive += [threading.Thread(target=slow_abuser,
                                 args=(port, stops.abuse, tally, options.seed + 200 + i))
                for i in range(SLOW_ABUSERS)]
    port, tally, context = https.server.port, https.tally, https.context
    good += [threading.Thread(target=ordinary_worker,
                              args=(port, TLS_RATE / 2, stops.good, tally, options.seed + 300 + i,
                                    None, static_text, client_context(https.cafile, tls12)))
             for i, tls12 in enumerate([False, True])]
    good.append(threading.Thread(target=websocket_worker, args=(port, stops.good, tally, context)))
    abusive += [threading.Thread(target=tls_abuser,
                                 args=(port, stops.abuse, tally, options.seed + 400 + i, context,
                                       TLS_QUICK_KINDS))
                for i in range(TLS_QUICK_ABUSERS)]
    abusive += [threading.Thread(target=tls_abuser,
                                 args=(port, stops.abuse, tally, options.seed + 500 + i, context,
                                       TLS_SLOW_KINDS))
                for i in range(TLS_SLOW_ABUSERS)]
    for thread in [poller] + good + abusive:
        thread.daemon = True
        thread.start()
    return poller, good, abusive


def soak(targets, options, static_text):
    run = Run(targets)
    for target in targets:
        prime(target.server.port, target.tally, static_text, target.context)
    time.sleep(0.5)
    for target in targets:
        target.baseline = descriptors(target.server.pid)
    stops = Stops()
    try:
        for target in targets:
            target.probe = Probe(target.server.port, target.cafile)
        run.start = time.monotonic()
        for target in targets:
            target.samples.append(Sample(0.0, len(target.baseline), rss_kib(target.server.pid),
                                         0, 0, []))
        print(table_header(targets))
        print(table_row("0 s", [target.samples[0] for target in targets]), flush=True)
        threads = start_threads(targets, options, stops, static_text)
        try:
            sample_periodically(run, options)
        finally:
            stop_clients(targets, stops, threads)
    finally:
        for target in targets:
            if target.probe is not None:
                target.probe.stop()
                target.probes = target.probe.results
    for target in targets:
        if target.crash is None and target.server.process.poll() is not None:
            target.note_exit()
    settle(run)
    return run


def stop_clients(targets, stops, threads):
    """The end: the chat goes quiet (the long poller posts a last message
    for its own poll and leaves), two long polls are abandoned that no
    message will answer, the abusive clients stop, the others go on for
    GOOD_GRACE s, then stop too."""
    poller, good, abusive = threads
    http = targets[0]
    stops.chat.set()
    poller.join(timeout=2 * TIMEOUT)
    if http.alive():
        last_abandoned_long_polls(http.server.port, http.tally)
    stops.abuse.set()
    for thread in abusive:
        thread.join(timeout=2 * TIMEOUT)
    if any(target.alive() for target in targets):
        time.sleep(GOOD_GRACE)
    stops.good.set()
    for thread in good:
        thread.join(timeout=2 * TIMEOUT)


def sample_periodically(run, options):
    """A sample of each server every SAMPLE_EVERY s until the duration is
    over or a server dies."""
    stop_time = run.start + options.duration
    while time.monotonic() < stop_time - 0.01:
        next_time = run.start + SAMPLE_EVERY * len(run.targets[0].samples)
        time.sleep(max(0.0, min(next_time, stop_time) - time.monotonic()))
        for target in run.targets:
            try:
                if target.server.process.poll() is not None:
                    raise OSError("exited")
                target.samples.append(sample(target, run.start))
            except OSError:  # /proc/PID is gone with the process
                target.note_exit()
        print(table_row("%d s" % round(time.monotonic() - run.start),
                        [target.samples[-1] if target.crash is None else None
                         for target in run.targets]), flush=True)
        if any(target.crash is not None for target in run.targets):
            return


def settle(run):
    """Waits up to FD_SETTLE s for each live server's descriptors to come
    back to its baseline, then takes the end samples."""
    clients_gone = time.monotonic()
    waiting = [target for target in run.targets if target.crash is None]
    while waiting:
        waited = time.monotonic() - clients_gone
        for target in list(waiting):
            try:
                back = len(descriptors(target.server.pid)) <= len(target.baseline)
            except OSError:
                target.note_exit()
                back = True
            if back:
                target.settled_after = waited
                waiting.remove(target)
        if not waiting or waited >= FD_SETTLE:
            break
        time.sleep(0.25)
    for target in run.targets:
        if target.crash is None:
            try:
                target.end = sample(target, run.start)
                target.server_cpu = cpu_seconds(target.server.pid)
            except OSError:
                target.note_exit()


# --- the verdicts -------------------------------------------------------------------------

def verdict(passed, text):
    print("%s %s" % ("PASS" if passed else "FAIL", text))
    return passed


def percentile(values, fraction):
    """Interpolated between the two nearest ranks, as numpy's default does."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def warmup_seconds(duration):
    return min(WARMUP_MAX, max(WARMUP_MIN, duration / 3.0))


def tls_need(duration):
    """The full, correct answers the HTTPS server must give in a run."""
    return int(TLS_NEED * duration)


def rss_reference(target, duration):
    """The first sample at or after the end of warm-up."""
    return next((s for s in target.samples if s.t >= warmup_seconds(duration) - 0.5), target.end)


def rss_limit_kib(reference_kib, slack_kib=0):
    """The most RSS may reach after warm-up: the reference plus 5 % or
    RSS_STEP_KIB, whichever is more (and --rss-slack)."""
    return reference_kib + max(RSS_TOLERANCE * reference_kib, RSS_STEP_KIB) + slack_kib


def rss_verdict(target, duration, slack_kib=0):
    warmup = warmup_seconds(duration)
    reference = rss_reference(target, duration)
    after = [s for s in target.samples if s.t >= reference.t] + [target.end]
    highest = max(after, key=lambda s: s.rss)
    growth = (highest.rss - reference.rss) / float(reference.rss)
    limit = rss_limit_kib(reference.rss, slack_kib)
    when = "the end" if highest is target.end else "%d s" % round(highest.t)
    return verdict(highest.rss <= limit,
                   "%-5s RSS: after a %.0f s warm-up, reference {:,} KiB at %d s, highest {:,} KiB "
                   "at %s (%+.1f %%, limit {:,} KiB)".format(reference.rss, highest.rss, round(limit))
                   % (target.name, warmup, round(reference.t), when, 100 * growth))


def climb_in_last_third(samples, duration):
    """(growth, largest step, first sample) of RSS over the last third of
    the run, read through a running median of five samples (one sample
    that dips or spikes is not a step): growth is the last value minus the
    first, the largest step the largest rise between two values one after
    the other."""
    last_third = [s for s in samples if s.t >= duration * 2.0 / 3.0]
    if len(last_third) < 2:
        return 0, 0, None
    rss = [s.rss for s in last_third]
    values = [statistics.median_low(rss[max(0, i - 2):i + 3]) for i in range(len(rss))]
    rises = [b - a for a, b in zip(values, values[1:])]
    return values[-1] - values[0], max(0, max(rises)), last_third[0]


def climb_verdict(target, duration):
    """A leak climbs steadily; an allocator that keeps a larger peak steps
    once. Over the last third of a long run, the growth beside its one
    largest step must stay under RSS_CLIMB of the reference."""
    if duration < CLIMB_MIN_DURATION:
        print("---- %-5s RSS climb: not judged in a run under %d minutes (a step and a climb "
              "look alike in a few samples)" % (target.name, CLIMB_MIN_DURATION / 60))
        return True
    reference = rss_reference(target, duration)
    growth, step, first = climb_in_last_third(target.samples + [target.end], duration)
    limit = RSS_CLIMB * reference.rss
    return verdict(first is not None and growth - step <= limit,
                   "%-5s RSS climb: over the last third (from %d s), {:+,} KiB, of which its "
                   "largest step {:,} KiB; the rest {:+,} KiB (limit {:,} KiB, %.0f %% of the "
                   "reference)".format(growth, step, growth - step, round(limit))
                   % (target.name, round(first.t) if first else 0, 100 * RSS_CLIMB))


def print_abusive_kinds(target):
    print("%s server, abusive attempts by kind (a surprise: the server's answer was not one the "
          "contract allows):" % target.name)
    tally = target.tally
    with tally.lock:
        for kind, count in sorted(tally.attempts.items()):
            surprises = tally.surprises[kind]
            note = "" if not surprises else "   %d surprise(s), e.g. %s" % (
                surprises, tally.surprise_examples[kind])
            print("  %6d  %s%s" % (count, kind, note))


def descriptor_verdict(target):
    peak = max(s.fds for s in target.samples + [target.end])
    if target.settled_after is not None:
        return verdict(True, "%-5s descriptors: back to the baseline %d, %.1f s after the last "
                             "client left (peak %d)" % (target.name, len(target.baseline),
                                                        target.settled_after, peak))
    verdict(False, "%-5s descriptors: %d, baseline %d, %.0f s after the last client left "
                   "(peak %d); left over:" % (target.name, target.end.fds, len(target.baseline),
                                              FD_SETTLE, peak))
    print("\n".join(explain_leftovers(target.server.pid, target.baseline, target.tally)))
    return False


def probe_verdict(target):
    latencies = [ms for _, ms, _ in target.probes]
    failed = [outcome for _, _, outcome in target.probes if outcome != "ok"]
    slowest = max(latencies) if latencies else 0.0
    return verdict(bool(latencies) and not failed and slowest < target.probe_limit,
                   "%-5s probe: %d probes, %d failed%s, max %.1f ms, p99 %.1f ms (limit %.0f ms each)"
                   % (target.name, len(latencies), len(failed),
                      "" if not failed else " (%s)" % failed[0], slowest,
                      percentile(latencies, 0.99), target.probe_limit))


def server_verdicts(options, target):
    answered, abusive = target.tally.counts()
    need = options.min_requests if target.cafile is None else tls_need(options.duration)
    tally = target.tally
    results = [
        verdict(answered >= need,
                "%-5s requests: {:,} full, correct answers (need {:,}); {:,} abusive attempts beside "
                "them".format(answered, need, abusive) % target.name),
        verdict(tally.wrong == 0, "%-5s answers: %d wrong answer(s) to well-behaved requests%s"
                % (target.name, tally.wrong,
                   "" if not tally.wrong else ", e.g. " + "; ".join(tally.wrong_examples[:3]))),
        verdict(target.crash is None, "%-5s server: %s" % (target.name,
                                                           target.crash or "alive until the end")),
    ]
    if target.crash is None:
        results.append(descriptor_verdict(target))
        results.append(rss_verdict(target, options.duration, options.rss_slack))
        results.append(climb_verdict(target, options.duration))
    results.append(probe_verdict(target))
    return results


def report(options, run):
    """Prints each server's kinds and a verdict per criterion and server;
    True when all pass."""
    for target in run.targets:
        print()
        print_abusive_kinds(target)
    print()
    results = []
    for target in run.targets:
        results += server_verdicts(options, target)
    print_cpu(run)
    return all(results)


def print_cpu(run):
    """How busy the servers and this script were (2 cores: 200 % is all of them)."""
    measured = [target for target in run.targets if target.server_cpu is not None]
    if not measured:
        return
    elapsed = max(target.end.t for target in measured)
    times = os.times()
    clients = times.user + times.system + times.children_user + times.children_system
    print("CPU over %.0f s: %s; soak clients and probes %.0f s (%.0f %%)"
          % (elapsed, ", ".join("%s server %.0f s (%.0f %% of one core)"
                                % (target.name, target.server_cpu,
                                   100 * target.server_cpu / elapsed) for target in measured),
             clients, 100 * clients / elapsed))


# --- --heaptrack: the servers' live heap -----------------------------------------------------

HEAPTRACK_PRELOAD = "/usr/lib/heaptrack/libheaptrack_preload.so"
HEAPTRACK_INTERPRET = "/usr/lib/heaptrack/libexec/heaptrack_interpret"


def heaptrack_problem(program):
    """Why --heaptrack cannot watch `program`, or None."""
    if not (os.path.exists(HEAPTRACK_PRELOAD) and shutil.which("heaptrack_print")):
        return "heaptrack is not installed (apt-get install heaptrack)"
    linked = subprocess.run(["ldd", program], capture_output=True, text=True).stdout
    if "tcmalloc" in linked:
        return ("%s runs on tcmalloc, whose operator new and delete heaptrack does not see: "
                "build it with glibc's malloc (cmake -DTORNADO_TCMALLOC=OFF)" % program)
    return None


def heaptrack_env(recording):
    """The environment in which heaptrack's library, loaded first, writes
    every allocation and free of the server into `recording` (None: none)."""
    if recording is None:
        return None
    return {"LD_PRELOAD": HEAPTRACK_PRELOAD, "DUMP_HEAPTRACK_OUTPUT": recording}


def live_heap_by_minute(recording):
    """[(minute, lowest, median, highest bytes of live heap)] and the bytes
    still allocated at exit, read through heaptrack's own tools: the
    interpreter turns the raw recording (tens of MB a minute, removed
    then) into heaptrack's file, gzipped, and heaptrack_print writes the
    heap after each change in massif's format."""
    data = os.path.splitext(recording)[0] + ".heaptrack.gz"
    massif = os.path.splitext(recording)[0] + ".massif"
    with open(recording, "rb") as raw, gzip.open(data, "wb") as out:
        interpreter = subprocess.Popen([HEAPTRACK_INTERPRET], stdin=raw, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL)
        shutil.copyfileobj(interpreter.stdout, out)
        if interpreter.wait() != 0:
            raise subprocess.CalledProcessError(interpreter.returncode, HEAPTRACK_INTERPRET)
    os.remove(recording)
    printed = subprocess.run(["heaptrack_print", "-f", data, "--print-peaks", "0",
                              "--print-allocators", "0", "--print-temporary", "0",
                              "--print-leaks", "0", "--print-massif", massif],
                             capture_output=True, text=True, check=True).stdout
    leaked = re.search(r"total memory leaked: (\S+)", printed)
    by_minute = collections.defaultdict(list)
    seconds = 0.0
    with open(massif) as snapshots:
        for line in snapshots:
            if line.startswith("time="):
                seconds = float(line.split("=", 1)[1])
            elif line.startswith("mem_heap_B="):
                by_minute[int(seconds // 60)].append(int(line.split("=", 1)[1]))
    rows = [(minute, min(sizes), statistics.median_low(sizes), max(sizes))
            for minute, sizes in sorted(by_minute.items())]
    return rows, leaked.group(1) if leaked else "?"


def print_live_heap(name, recording):
    try:
        rows, leaked = live_heap_by_minute(recording)
    except (OSError, subprocess.CalledProcessError) as error:
        print("%s server: heaptrack's recording %s could not be read: %s"
              % (name, recording, describe(error)))
        return
    print("%s server's live heap by minute (heaptrack; what the program holds, not what "
          "the allocator keeps), and %s still allocated at exit:" % (name, leaked))
    print("  minute   lowest KiB   median KiB  highest KiB")
    for minute, lowest, median, highest in rows:
        print("  %6d %12s %12s %12s" % (minute, "{:,}".format(lowest // 1024),
                                        "{:,}".format(median // 1024),
                                        "{:,}".format(highest // 1024)))


# --- the plot ------------------------------------------------------------------------------

def save_json(path, run, duration, rss_slack_kib=0):
    """Everything the plot shows, so that `--draw JSON` can redraw it."""
    def server(target):
        points = target.samples + ([target.end] if target.end is not None else [])
        reference = rss_reference(target, duration).rss if target.end else None
        return {"name": target.name, "title": target.title(), "fd_baseline": len(target.baseline),
                "probe_limit_ms": target.probe_limit,
                "rss_reference_kib": reference,
                "rss_limit_kib": rss_limit_kib(reference, rss_slack_kib) if reference else None,
                "crash": target.crash,
                "samples": [{"t": s.t, "fds": s.fds, "rss_kib": s.rss, "answered": s.answered,
                             "abusive": s.abusive, "probes": s.probes, "probe_max_ms": s.probe_max,
                             "probe_p99_ms": s.probe_p99} for s in points],
                "probes": [[t - run.start, ms, outcome] for t, ms, outcome in target.probes]}
    data = {"duration_s": duration, "warmup_s": warmup_seconds(duration),
            "sample_every_s": SAMPLE_EVERY,
            "servers": [server(t) for t in run.targets]}
    with open(path, "w") as f:
        json.dump(data, f)


def draw(json_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    with open(json_path) as f:
        data = json.load(f)
    servers = data["servers"]
    minutes = data["duration_s"] > 600
    scale = 60.0 if minutes else 1.0
    figure, axes = plt.subplots(3, len(servers), sharex=True, squeeze=False,
                                figsize=(6.5 * len(servers), 9))
    for column, server in enumerate(servers):
        rss, fds, probe = (axes[row][column] for row in range(3))
        samples = server["samples"]
        t = [s["t"] / scale for s in samples]
        marker = "o" if len(samples) <= 60 else None  # an hour's 360 would hide the line
        rss.set_title(server["title"] + ("" if not server["crash"] else " (%s)" % server["crash"]))
        rss.plot(t, [s["rss_kib"] / 1024.0 for s in samples], marker=marker, markersize=3,
                 color="tab:green", label="RSS")
        if server["rss_reference_kib"]:
            # A JSON written before the limit was saved: its limit was +5 %.
            limit = server.get("rss_limit_kib") or server["rss_reference_kib"] * 1.05
            rss.axhline(limit / 1024.0, color="tab:red", linestyle="--", label="limit")
        rss.set_ylabel("RSS (MiB)")
        rss.legend(loc="lower right", fontsize="small", ncol=2)
        counts = [s["fds"] for s in samples]
        fds.plot(t, counts, marker=marker, markersize=3, label="descriptors")
        fds.axhline(server["fd_baseline"], color="gray", linestyle=":", label="baseline")
        fds.set_ylim(0, 1.3 * max(counts + [server["fd_baseline"]]) + 1)  # room for the legend
        fds.yaxis.set_major_locator(MaxNLocator(integer=True))
        fds.set_ylabel("descriptors")
        fds.legend(loc="upper right", fontsize="small", ncol=2)
        draw_probes(probe, server, scale, server["probe_limit_ms"], data["sample_every_s"], marker)
        probe.set_xlabel("minutes" if minutes else "seconds")
        for panel in (rss, fds, probe):
            panel.axvspan(0, data["warmup_s"] / scale, color="gray", alpha=0.1)  # warm-up
            panel.grid(True, alpha=0.3)
    figure.suptitle("demo_app soak, %.0f %s: memory, descriptors and a probe's latency "
                    "(shaded: warm-up)" % (data["duration_s"] / scale, "min" if minutes else "s"))
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)


def draw_probes(panel, server, scale, limit, interval, marker):
    """Each probe as a dot, the p99 of each interval as a line, the limit;
    probes above the axis (or failed) as red marks along its top."""
    probes = server["probes"]
    windows = [s for s in server["samples"] if s["probe_p99_ms"] is not None]
    top = max([limit * 1.3] + [1.15 * s["probe_p99_ms"] for s in windows])
    answered = [p for p in probes if p[2] == "ok" and p[1] < top]
    panel.plot([p[0] / scale for p in answered], [p[1] for p in answered], ".",
               markersize=3, color="tab:orange", alpha=0.6, label="each probe")
    panel.plot([s["t"] / scale for s in windows], [s["probe_p99_ms"] for s in windows],
               marker=marker, markersize=3, color="tab:blue", label="p99 of each %.0f s" % interval)
    off = [p for p in probes if p[1] >= top or p[2] != "ok"]
    if off:
        panel.plot([p[0] / scale for p in off], [top] * len(off), "v", color="tab:red",
                   label="above the axis or failed (%d)" % len(off))
    panel.axhline(limit, color="tab:red", linestyle="--", label="limit")
    panel.set_ylim(0, top * 1.02)
    panel.set_ylabel("probe GET / (ms)")
    panel.legend(loc="upper right", fontsize="small", ncol=2)


def plot(json_path, png_path):
    try:
        draw(json_path, png_path)  # its first line imports matplotlib
        print("plot: %s" % png_path)
        return
    except ImportError:
        pass
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.access(SYSTEM_PYTHON, os.X_OK):
        run = subprocess.run([SYSTEM_PYTHON, os.path.abspath(__file__), "--draw", json_path,
                              "--plot", png_path], stderr=subprocess.DEVNULL, timeout=120)
        if run.returncode == 0:
            print("plot: %s (drawn by %s)" % (png_path, SYSTEM_PYTHON))
            return
    print("plot: skipped, matplotlib is not importable (python3-matplotlib installs it); "
          "the samples are in %s" % json_path)


# --- main ----------------------------------------------------------------------------------

def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="where the server is (default: build/bin)")
    parser.add_argument("--server", default="demo_app", help="program in --bin")
    parser.add_argument("--server-args", default="--logging=warning",
                        help="its arguments after --port=0, in one string, for both servers "
                             "(the HTTPS one gets --certfile and --keyfile too); write "
                             "--server-args=\"--debug ...\" (default: %(default)s)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float,
                        help="seconds of load (default: 300, 5 minutes)")
    length.add_argument("--minutes", type=float, help="minutes of load, instead of --duration")
    parser.add_argument("--min-requests", type=int, default=100000,
                        help="full, correct answers needed from the HTTP server (default: "
                             "%%(default)s; the HTTPS server must give %.0f a second)" % TLS_NEED)
    parser.add_argument("--plot", default=os.path.join(ROOT, "build", "soak.png"),
                        help="the plot; the samples go beside it as .json, the servers' "
                             "logs as soak_server.log and soak_tls_server.log (default: "
                             "build/soak.png)")
    parser.add_argument("--rss-slack", type=int, default=0, metavar="KIB",
                        help="KiB of RSS growth allowed besides the 5 %% or 2 MiB")
    parser.add_argument("--probe-limit", type=float, default=PROBE_LIMIT_MS, metavar="MS",
                        help="the longest a plain probe may take (default: %(default).0f ms; "
                             "the HTTPS probe gets twice as long)")
    parser.add_argument("--heaptrack", action="store_true",
                        help="record every allocation of both servers with heaptrack (Debian's "
                             "heaptrack) and print their live heap minute by minute: a server "
                             "built with -DTORNADO_TCMALLOC=OFF (heaptrack does not see "
                             "tcmalloc's operator new)")
    parser.add_argument("--seed", type=int, default=1,
                        help="of the clients' random choices, to replay a run's mix")
    parser.add_argument("--probe-port", type=int, help=argparse.SUPPRESS)   # the probe process
    parser.add_argument("--probe-cafile", help=argparse.SUPPRESS)           # ... over TLS
    parser.add_argument("--draw", help=argparse.SUPPRESS)                   # plot a saved JSON
    options = parser.parse_args(argv)
    if options.minutes is not None:
        options.duration = 60.0 * options.minutes
    elif options.duration is None:
        options.duration = 300.0
    if options.duration <= 0:
        parser.error("the run needs a duration above 0")
    return options


def main(argv):
    options = parse_options(argv)
    if options.probe_port:
        try:
            run_probe(options.probe_port, options.probe_cafile)
        except (KeyboardInterrupt, BrokenPipeError):
            return 0
    if options.draw:
        draw(options.draw, options.plot)
        return 0
    program = os.path.join(options.bin, options.server)
    if not os.access(program, os.X_OK):
        print("FAIL: %s is not built" % program)
        return 1
    if options.heaptrack:
        problem = heaptrack_problem(program)
        if problem:
            print("soak: --heaptrack: " + problem)
            return 2
    out_dir = os.path.dirname(os.path.abspath(options.plot))
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, "soak_server.log")
    tls_log_path = os.path.join(out_dir, "soak_tls_server.log")
    with open(STATIC_FILE, "rb") as f:
        static_text = f.read()
    folder = tempfile.mkdtemp(prefix="soak-tls-")
    try:
        try:
            certfile, keyfile = make_certificate(folder)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            print("FAIL: no certificate for the HTTPS server; the openssl command (Debian's "
                  "openssl) makes it: %s" % describe(error))
            return 1
        print("soak: %s %s, %.0f s, at least {:,} answers from HTTP and {:,} from HTTPS; "
              "server logs: %s, %s".format(options.min_requests, tls_need(options.duration))
              % (program, options.server_args, options.duration, log_path, tls_log_path), flush=True)
        server_args = shlex.split(options.server_args)
        recordings = {name: os.path.join(out_dir, "heaptrack_%s.raw" % name)
                      for name in ("HTTP", "HTTPS")} if options.heaptrack else {}
        with open(log_path, "wb") as log, open(tls_log_path, "wb") as tls_log, \
                ServerProcess(program, *server_args, stderr=log,
                              env=heaptrack_env(recordings.get("HTTP"))) as server, \
                ServerProcess(program, *server_args, "--certfile=" + certfile,
                              "--keyfile=" + keyfile, stderr=tls_log,
                              env=heaptrack_env(recordings.get("HTTPS"))) as tls_server:
            run = soak([Target("HTTP", server, log_path, probe_limit=options.probe_limit),
                        Target("HTTPS", tls_server, tls_log_path, certfile,
                               probe_limit=options.probe_limit)],
                       options, static_text)
            if any(target.end is not None for target in run.targets):
                print(table_row("end", [target.end for target in run.targets]))
            passed = report(options, run)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for target in run.targets:
        if target.crash is not None:
            with open(target.log_path, "rb") as log:
                print("the %s server log's last lines:\n%s" % (
                    target.name, b"".join(log.readlines()[-10:]).decode(errors="replace")))
    for name, recording in recordings.items():
        print_live_heap(name, recording)
    json_path = os.path.splitext(options.plot)[0] + ".json"
    save_json(json_path, run, options.duration, options.rss_slack)
    plot(json_path, options.plot)
    print("soak: %s" % ("PASS" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
