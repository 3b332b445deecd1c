#!/usr/bin/env python3
"""A soak test of the demo app: `make soak`.

    python3 tests/bench/soak.py --bin build/bin --plot build/soak.png
    python3 tests/bench/soak.py --duration 30 --min-requests 5000     # a smoke run (CTest)

Starts build/bin/demo_app on a free loopback port and, for --duration
seconds, runs three kinds of clients beside each other:

- Well-behaved clients, most of the traffic: four keep-alive connections
  that send ordinary requests (GET /, HEAD /, /query, POST /echo, /json,
  /story/N, chunked /stream, /sleep, /static, /template, /error/404,
  /cookies/get, and /chat/new once a second) at a steady pace, together
  1.25 x --min-requests / --duration a second (at least 300), and check
  every answer; a long poller that follows /chat/updates; a WebSocket
  client on /ws/echo.
- Abusive clients, in a mix: they hang up (a plain close, or a reset:
  SO_LINGER 0 then close) in the middle of a request head, of a body, or
  of the response; dribble heads and bodies slowly; declare a body over
  the server's max_body_size (10 MiB) and, every 20 s, really send one;
  pipeline 50 requests in one send and check all 50 answers; open a
  WebSocket (/ws/echo or /chat/ws), maybe send a frame or half of one,
  and vanish without a close frame; start a long poll on /chat/updates
  and abandon it.
- A probe, in a process of its own (so that our threads cannot delay it):
  a fresh connection doing GET / every 200 ms, timed from connect to the
  last byte of the answer.

Every 10 s it samples the server's descriptors (/proc/PID/fd) and its
resident memory (VmRSS in /proc/PID/status) and prints a table row
(time, descriptors, RSS, answers so far, abusive attempts so far, the
slowest probe since the last row). At the end: the abusive attempts by
kind, with any "surprise" (an answer the contract does not allow, such
as a status other than 413 for a body too large: noted, not a failure),
a verdict line per criterion, and the CPU time used. It passes (exit 0)
when every criterion holds, else exits 1:

- requests: at least --min-requests full, correct answers (well-behaved
  requests, the pipelines' answers and completed slow requests; abusive
  attempts are counted apart), and no wrong answer to a well-behaved one.
- server: alive until we stop it.
- descriptors: back to the baseline at the end. The baseline is taken
  after one request of every well-behaved kind (so that whatever the
  server opens once and keeps, such as its thread pool's, counts in it).
  The end goes in steps: the chat goes quiet (no more messages; the
  well-behaved long poller posts a last one for its own poll, and
  leaves); two more long polls are abandoned, one closed and one reset,
  that no message will ever answer, so only the server itself can notice
  that they left; the abusive clients stop; the other well-behaved
  clients go on for 3 s, then stop too; and we allow 10 s for the count
  to come back (a lingering close lasts up to 2 s). If it does not, the
  sockets left are matched through /proc/net/tcp to the kind of client
  that opened them, and their TCP state is shown.
- RSS: flat after warm-up. Warm-up is the first third of the run, at most
  60 s and at least 15 s: allocators keep what they once needed, so the
  resident size climbs until the largest clients have overlapped once
  (two 1 MiB echoes at the same time, say; in our runs that took 10 to
  20 s). The first sample at or after the end of warm-up is the
  reference; every later sample, the one at the end included, must stay
  within +5 % of it (going down is fine). Steady growth beyond that is a
  leak. A short run (the 30 s CTest smoke) may end before the largest
  clients have overlapped: --rss-slack KiB allows that much more besides
  the 5 %.
- probe: every probe answered, each in under 50 ms (max and p99 shown).

At the end it writes the samples and probes as JSON beside --plot and
draws --plot (descriptors, RSS and probe latency over time) with
matplotlib, under this interpreter if it has it, else under
/usr/bin/python3; without matplotlib it says so and skips the plot.
Standard library only; runs under any python3 >= 3.7; every wait is
bounded; the server and the probe are stopped by their PIDs.
"""
import argparse
import collections
import json
import os
import random
import re
import select
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
import rawws  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
STATIC_FILE = os.path.join(ROOT, "final", "examples", "demo_app", "static", "hello.txt")

TIMEOUT = 5.0                    # the longest one exchange may take
SAMPLE_EVERY = 10.0              # seconds between two samples of the server
PROBE_EVERY = 0.2
PROBE_LIMIT_MS = 50.0
RSS_TOLERANCE = 0.05             # +5 % over the reference sample
WARMUP_MAX = 60.0
WARMUP_MIN = 15.0
GOOD_GRACE = 3.0                 # well-behaved traffic after the abusive clients stop
FD_SETTLE = 10.0                 # the time descriptors get to come back
CHAT_EVERY = 1.0                 # one chat message a second
ORDINARY_WORKERS = 4
QUICK_ABUSERS = 2
SLOW_ABUSERS = 2
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


def connect(port, kind, tally):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    tally.note_port(sock, kind)
    return sock


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


def ordinary_worker(port, rate, stop, tally, seed, chat_stop, static_text):
    """Keep-alive requests at `rate` a second, a new connection now and then;
    with a chat_stop event, a chat message a second until it is set."""
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
                connection, on_connection = HttpConnection(connect(port, "well-behaved", tally)), 0
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


def websocket_worker(port, stop, tally):
    """Echo messages on /ws/echo, a clean close (code 1000) every 50."""
    n = 0
    while not stop.is_set():
        try:
            ws = rawws.RawWebSocket(port, "/ws/echo", timeout=TIMEOUT)
            tally.note_port(ws.sock, "well-behaved websocket")
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
# Each takes (port, rng, tally) and records its attempt with tally.attempt:
# the kind of client, and a "surprise" when the server's answer was not
# one the contract allows.

def how(reset):
    return "reset" if reset else "close"


def mid_head(port, rng, tally):
    reset = rng.random() < 0.5
    kind = "hang up mid-head (%s)" % how(reset)
    sock = connect(port, kind, tally)
    head = request_bytes("GET", "/query?cut=1", headers=[("X-Filler", "x" * 200)])
    sock.sendall(head[:rng.randint(1, len(head) - 4)])
    hang_up(sock, reset)
    tally.attempt(kind)


def mid_body(port, rng, tally):
    reset = rng.random() < 0.5
    kind = "hang up mid-body (%s)" % how(reset)
    sock = connect(port, kind, tally)
    body = bytes(100000)
    sock.sendall(request_bytes("POST", "/echo", body)[:-rng.randint(1, len(body))])
    hang_up(sock, reset)
    tally.attempt(kind)


def mid_response(port, rng, tally):
    """Hangs up while the answer comes: a 1 MiB echo or a long chunked
    stream after its first bytes, or a sleeping handler before it answers."""
    reset = rng.random() < 0.5
    variant = rng.choice(["echo 1 MiB", "stream", "sleep"])
    kind = "hang up mid-response, %s (%s)" % (variant, how(reset))
    sock = connect(port, kind, tally)
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


def websocket_vanish(port, rng, tally):
    """A WebSocket that leaves without a close frame: after the handshake,
    after a message, or in the middle of a frame; a close or a reset."""
    reset = rng.random() < 0.5
    path = rng.choice(["/ws/echo", "/chat/ws"])
    moment = "after the handshake" if path == "/chat/ws" else rng.choice(
        ["after the handshake", "after a message", "mid-frame"])
    kind = "WebSocket %s vanishes %s (%s)" % (path, moment, how(reset))
    ws = rawws.RawWebSocket(port, path, timeout=TIMEOUT)
    tally.note_port(ws.sock, kind)
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


def slow_request(port, rng, tally, stop, kind_name, request, expected):
    """Dribbles a request; one time in three hangs up half-way (close or reset)."""
    cut = rng.random() < 1 / 3
    reset = rng.random() < 0.5
    cut_at = rng.randint(1, len(request) - 1) if cut else len(request)
    kind = kind_name + (", hangs up half-way (%s)" % how(reset) if cut else ", completed")
    sock = connect(port, kind, tally)
    try:
        if dribble(sock, request, rng, stop, cut_at):
            tally.answer(expected.problem(HttpConnection(sock).read_response(expected.method)))
    finally:
        hang_up(sock, reset and cut)
    tally.attempt(kind)


def slow_head(port, rng, tally, stop):
    n = rng.randint(0, 10 ** 6)
    request = request_bytes("GET", "/query?slow=%d" % n, headers=[("X-Slow", "s" * 40)])
    expected = Ordinary("GET", "/query", json_equals({"slow": [str(n)]}))
    slow_request(port, rng, tally, stop, "slow head", request, expected)


def slow_body(port, rng, tally, stop):
    body = os.urandom(200)
    # The head in one piece, the body a few bytes at a time.
    head = request_bytes("POST", "/echo", body)[:-len(body)]
    expected = Ordinary("POST", "/echo", body)
    cut = rng.random() < 1 / 3
    reset = rng.random() < 0.5
    kind = "slow body" + (", hangs up half-way (%s)" % how(reset) if cut else ", completed")
    sock = connect(port, kind, tally)
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


# --- the probe (a process of its own) --------------------------------------------------

def probe_once(port):
    """GET / on a fresh connection: (milliseconds, "ok" or what went wrong)."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            response = HttpConnection(sock).read_response()
        outcome = "ok" if response.status == 200 and response.body == b"Hello, world" else "wrong"
    except (OSError, ProtocolError) as error:
        outcome = "failed:" + type(error).__name__
    return (time.monotonic() - start) * 1000.0, outcome


def run_probe(port):
    """Prints "MONOTONIC_TIME MS OUTCOME" per probe until stopped by signal."""
    next_time = time.monotonic()
    while True:
        started = time.monotonic()
        milliseconds, outcome = probe_once(port)
        print("%.3f %.3f %s" % (started, milliseconds, outcome), flush=True)
        next_time = max(next_time + PROBE_EVERY, time.monotonic())
        time.sleep(next_time - time.monotonic())


class Probe:
    """Runs this script with --probe-port and collects its lines."""

    def __init__(self, port):
        self.results = []            # (monotonic time, ms, outcome)
        self.lock = threading.Lock()
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                         "--probe-port", str(port)],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
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


# --- the run ------------------------------------------------------------------------------

class Sample:
    def __init__(self, t, fds, rss, answered, abusive, probes):
        self.t = t
        self.fds = fds
        self.rss = rss
        self.answered = answered
        self.abusive = abusive
        self.probe_max = max((ms for _, ms, _ in probes), default=None)

    def row(self, label=None):
        probe = "-" if self.probe_max is None else "%.1f" % self.probe_max
        return "%7s %6d %10s %10s %9s %14s" % (label or "%d s" % round(self.t), self.fds,
                                               "{:,}".format(self.rss), "{:,}".format(self.answered),
                                               "{:,}".format(self.abusive), probe)


HEADER = "%7s %6s %10s %10s %9s %14s" % ("time", "fds", "RSS KiB", "answered", "abusive",
                                         "probe max ms")


def prime(port, tally, static_text):
    """One request of every well-behaved kind (and a chat message), so that
    whatever the server creates once counts in the baseline."""
    rng = random.Random(0)
    with connect(port, "priming", tally) as sock:
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


def start_threads(port, options, tally, stops, static_text):
    """(the long poller, the other well-behaved threads, the abusive ones), started."""
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
    for thread in [poller] + good + abusive:
        thread.daemon = True
        thread.start()
    return poller, good, abusive


def sample(server, start, tally, probe, window_start):
    """Counts now; the probe column is the slowest probe since window_start."""
    answered, abusive = tally.counts()
    return Sample(time.monotonic() - start, len(descriptors(server.pid)), rss_kib(server.pid),
                  answered, abusive, probe.since(window_start))


class Run:
    """What soak() saw: samples every 10 s, the end sample, the descriptors."""

    def __init__(self):
        self.start = None
        self.samples = []
        self.end = None
        self.baseline = {}
        self.settled_after = None    # seconds the descriptors took to come back, or None
        self.probes = []
        self.crash = None
        self.server_cpu = None       # CPU seconds the server used, at the end


def soak(server, options, tally, static_text):
    run = Run()
    prime(server.port, tally, static_text)
    time.sleep(0.5)
    run.baseline = descriptors(server.pid)
    probe = Probe(server.port)
    stops = Stops()
    run.start = time.monotonic()
    run.samples.append(Sample(0.0, len(run.baseline), rss_kib(server.pid), 0, 0, []))
    print(HEADER)
    print(run.samples[0].row(), flush=True)
    threads = start_threads(server.port, options, tally, stops, static_text)
    try:
        sample_periodically(server, options, tally, probe, run)
    finally:
        stop_clients(server.port, tally, stops, threads, run.crash is None)
        probe.stop()
        run.probes = probe.results
    if run.crash is None and server.process.poll() is not None:
        run.crash = "the server exited with status %d" % server.process.returncode
    if run.crash is None:
        settle(server, tally, probe, run)
    return run


def stop_clients(port, tally, stops, threads, server_alive):
    """The end: the chat goes quiet (the long poller posts a last message
    for its own poll and leaves), two long polls are abandoned that no
    message will answer, the abusive clients stop, the others go on for
    GOOD_GRACE s, then stop too."""
    poller, good, abusive = threads
    stops.chat.set()
    poller.join(timeout=2 * TIMEOUT)
    if server_alive:
        last_abandoned_long_polls(port, tally)
    stops.abuse.set()
    for thread in abusive:
        thread.join(timeout=2 * TIMEOUT)
    if server_alive:
        time.sleep(GOOD_GRACE)
    stops.good.set()
    for thread in good:
        thread.join(timeout=2 * TIMEOUT)


def sample_periodically(server, options, tally, probe, run):
    """A sample every SAMPLE_EVERY s until the duration is over or the server dies."""
    stop_time = run.start + options.duration
    while time.monotonic() < stop_time - 0.01:
        next_time = run.start + SAMPLE_EVERY * len(run.samples)
        time.sleep(max(0.0, min(next_time, stop_time) - time.monotonic()))
        try:
            if server.process.poll() is not None:
                raise OSError("exited")
            run.samples.append(sample(server, run.start, tally, probe,
                                      run.start + run.samples[-1].t))
        except OSError:  # /proc/PID is gone with the process
            server.process.wait(timeout=TIMEOUT)
            run.crash = "the server exited with status %d" % server.process.returncode
            return
        print(run.samples[-1].row(), flush=True)


def settle(server, tally, probe, run):
    """Waits up to FD_SETTLE s for the descriptors to come back to the baseline."""
    clients_gone = time.monotonic()
    while True:
        count = len(descriptors(server.pid))
        waited = time.monotonic() - clients_gone
        if count <= len(run.baseline):
            run.settled_after = waited
            break
        if waited >= FD_SETTLE:
            break
        time.sleep(0.25)
    run.end = sample(server, run.start, tally, probe, run.start + run.samples[-1].t)
    run.server_cpu = cpu_seconds(server.pid)


# --- the verdicts -------------------------------------------------------------------------

def verdict(passed, text):
    print("%s %s" % ("PASS" if passed else "FAIL", text))
    return passed


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def warmup_seconds(duration):
    return min(WARMUP_MAX, max(WARMUP_MIN, duration / 3.0))


def rss_reference(run, duration):
    """The first sample at or after the end of warm-up."""
    return next((s for s in run.samples if s.t >= warmup_seconds(duration) - 0.5), run.end)


def rss_verdict(run, duration, slack_kib=0):
    warmup = warmup_seconds(duration)
    reference = rss_reference(run, duration)
    after = [s for s in run.samples if s.t >= reference.t] + [run.end]
    highest = max(after, key=lambda s: s.rss)
    growth = (highest.rss - reference.rss) / float(reference.rss)
    limit = reference.rss * (1 + RSS_TOLERANCE) + slack_kib
    when = "the end" if highest is run.end else "%d s" % round(highest.t)
    slack = " + {:,} KiB".format(slack_kib) if slack_kib else ""
    return verdict(highest.rss <= limit,
                   "RSS: after a %.0f s warm-up, reference {:,} KiB at %d s, highest {:,} KiB at %s "
                   "(%+.1f %%, limit +%.0f %%%s)".format(reference.rss, highest.rss)
                   % (warmup, round(reference.t), when, 100 * growth, 100 * RSS_TOLERANCE, slack))


def print_abusive_kinds(tally):
    print("Abusive attempts by kind (a surprise: the server's answer was not one the contract allows):")
    with tally.lock:
        for kind, count in sorted(tally.attempts.items()):
            surprises = tally.surprises[kind]
            note = "" if not surprises else "   %d surprise(s), e.g. %s" % (
                surprises, tally.surprise_examples[kind])
            print("  %6d  %s%s" % (count, kind, note))


def descriptor_verdict(run, tally, server):
    peak = max(s.fds for s in run.samples + [run.end])
    if run.settled_after is not None:
        return verdict(True, "descriptors: back to the baseline %d, %.1f s after the last client "
                             "left (peak %d)" % (len(run.baseline), run.settled_after, peak))
    verdict(False, "descriptors: %d, baseline %d, %.0f s after the last client left (peak %d); "
                   "left over:" % (run.end.fds, len(run.baseline), FD_SETTLE, peak))
    print("\n".join(explain_leftovers(server.pid, run.baseline, tally)))
    return False


def probe_verdict(probes):
    latencies = [ms for _, ms, _ in probes]
    failed = [outcome for _, _, outcome in probes if outcome != "ok"]
    slowest = max(latencies, default=0.0)
    return verdict(bool(probes) and not failed and slowest < PROBE_LIMIT_MS,
                   "probe: %d probes, %d failed%s, max %.1f ms, p99 %.1f ms (limit %.0f ms each)"
                   % (len(probes), len(failed), "" if not failed else " (%s)" % failed[0],
                      slowest, percentile(latencies, 0.99), PROBE_LIMIT_MS))


def report(options, tally, run, server):
    """Prints the kinds and a verdict per criterion; True when all pass."""
    answered, abusive = tally.counts()
    print()
    print_abusive_kinds(tally)
    print()
    results = [
        verdict(answered >= options.min_requests,
                "requests: {:,} full, correct answers (need {:,}); {:,} abusive attempts beside them"
                .format(answered, options.min_requests, abusive)),
        verdict(tally.wrong == 0, "answers: %d wrong answer(s) to well-behaved requests%s"
                % (tally.wrong, "" if not tally.wrong else ", e.g. " + "; ".join(tally.wrong_examples[:3]))),
        verdict(run.crash is None, "server: %s" % (run.crash or "alive until the end")),
    ]
    if run.crash is None:
        results.append(descriptor_verdict(run, tally, server))
        results.append(rss_verdict(run, options.duration, options.rss_slack))
    results.append(probe_verdict(run.probes))
    print_cpu(run)
    return all(results)


def print_cpu(run):
    """How busy the server and this script were (2 cores: 200 % is all of them)."""
    if run.server_cpu is None:
        return
    elapsed = run.end.t
    times = os.times()
    clients = times.user + times.system + times.children_user + times.children_system
    print("CPU over %.0f s: server %.0f s (%.0f %% of one core), soak clients and probe %.0f s (%.0f %%)"
          % (elapsed, run.server_cpu, 100 * run.server_cpu / elapsed, clients, 100 * clients / elapsed))


# --- the plot ------------------------------------------------------------------------------

def save_json(path, run, duration):
    points = run.samples + ([run.end] if run.end is not None else [])
    data = {"fd_baseline": len(run.baseline), "warmup_s": warmup_seconds(duration),
            "rss_reference_kib": rss_reference(run, duration).rss if run.end else None,
            "samples": [{"t": s.t, "fds": s.fds, "rss_kib": s.rss, "answered": s.answered,
                         "abusive": s.abusive, "probe_max_ms": s.probe_max} for s in points],
            "probes": [[t - run.start, ms, outcome] for t, ms, outcome in run.probes]}
    with open(path, "w") as f:
        json.dump(data, f)


def draw(json_path, png_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(json_path) as f:
        data = json.load(f)
    t = [s["t"] for s in data["samples"]]
    figure, (fds, rss, probe) = plt.subplots(3, 1, sharex=True, figsize=(9, 8))
    fds.plot(t, [s["fds"] for s in data["samples"]], marker="o")
    fds.axhline(data["fd_baseline"], color="gray", linestyle=":", label="baseline")
    fds.set_ylabel("descriptors")
    fds.legend(loc="upper right")
    rss.plot(t, [s["rss_kib"] / 1024.0 for s in data["samples"]], marker="o", color="tab:green")
    if data["rss_reference_kib"]:
        rss.axhline(data["rss_reference_kib"] * (1 + RSS_TOLERANCE) / 1024.0, color="tab:red",
                    linestyle="--", label="reference + %.0f %%" % (100 * RSS_TOLERANCE))
        rss.legend(loc="lower right")
    rss.set_ylabel("RSS (MiB)")
    for axes in (fds, rss, probe):
        axes.axvspan(0, data["warmup_s"], color="gray", alpha=0.1)  # warm-up
    probe.plot([p[0] for p in data["probes"]], [p[1] for p in data["probes"]], ".", markersize=2,
               color="tab:orange", label="each probe")
    probe.axhline(PROBE_LIMIT_MS, color="tab:red", linestyle="--", label="limit")
    probe.set_ylabel("probe GET / (ms)")
    probe.set_xlabel("seconds")
    probe.legend(loc="upper right")
    figure.suptitle("demo_app soak: descriptors, memory and a probe's latency")
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)


def plot(json_path, png_path):
    try:
        import matplotlib  # noqa: F401
        draw(json_path, png_path)
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
                        help="its arguments after --port=0, in one string; write "
                             "--server-args=\"--debug ...\" (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=300.0,
                        help="seconds of load (default: %(default)s)")
    parser.add_argument("--min-requests", type=int, default=100000,
                        help="full, correct answers needed (default: %(default)s)")
    parser.add_argument("--plot", default=os.path.join(ROOT, "build", "soak.png"),
                        help="the plot; the samples go beside it as .json, the server's "
                             "log as soak_server.log (default: build/soak.png)")
    parser.add_argument("--rss-slack", type=int, default=0, metavar="KIB",
                        help="KiB of RSS growth allowed besides the 5 %% (for short runs)")
    parser.add_argument("--seed", type=int, default=1,
                        help="of the clients' random choices, to replay a run's mix")
    parser.add_argument("--probe-port", type=int, help=argparse.SUPPRESS)  # the probe process
    parser.add_argument("--draw", help=argparse.SUPPRESS)                 # plot a saved JSON
    return parser.parse_args(argv)


def main(argv):
    options = parse_options(argv)
    if options.probe_port:
        try:
            run_probe(options.probe_port)
        except (KeyboardInterrupt, BrokenPipeError):
            return 0
    if options.draw:
        draw(options.draw, options.plot)
        return 0
    program = os.path.join(options.bin, options.server)
    if not os.access(program, os.X_OK):
        print("FAIL: %s is not built" % program)
        return 1
    out_dir = os.path.dirname(os.path.abspath(options.plot))
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, "soak_server.log")
    with open(STATIC_FILE, "rb") as f:
        static_text = f.read()
    tally = Tally()
    print("soak: %s %s, %.0f s, at least {:,} answers; server log: %s".format(options.min_requests)
          % (program, options.server_args, options.duration, log_path), flush=True)
    with open(log_path, "wb") as log, \
            ServerProcess(program, *shlex.split(options.server_args), stderr=log) as server:
        run = soak(server, options, tally, static_text)
        if run.end is not None:
            print(run.end.row("end"))
        passed = report(options, tally, run, server)
    if run.crash is not None:
        with open(log_path, "rb") as log:
            print("the server log's last lines:\n" + b"".join(log.readlines()[-10:]).decode(errors="replace"))
    json_path = os.path.splitext(options.plot)[0] + ".json"
    save_json(json_path, run, options.duration)
    plot(json_path, options.plot)
    print("soak: %s" % ("PASS" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
