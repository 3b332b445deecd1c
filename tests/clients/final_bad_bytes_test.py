#!/usr/bin/env python3
"""Bad bytes are a 400, never a 500: hostile input against every HTTP example.

    final_bad_bytes_test.py --bin build/bin [--only demo_app,chat,...] [--failures-only]

For each HTTP example program (demo_app, final_chat, final_file_upload,
final_hello, final_http_hello, final_websocket_echo with and without
--compress) and each route it serves, this sends a valid request first
(the baseline), then variants of it carrying bad bytes: in the path, in
query names and values, in every argument the handler reads, in headers,
in cookies, in urlencoded, multipart and JSON bodies, and in WebSocket
handshakes. Each variant is one check, printed with the status it got:

* FAIL on a 5xx, a hang (no complete answer within TIMEOUT seconds), or a
  connection closed without a status line;
* FAIL on a 4xx with an empty body (the client must be told what is wrong;
  HEAD answers have no body and are exempt);
* FAIL on a 2xx/3xx where the route reads that input as text and the input
  is not valid UTF-8 once percent-decoded: the requirement is a 4xx there.
  Where the route never reads the input (or reads it as bytes), any status
  but a 5xx passes; the route table below says what each route reads.

After each program's batch the server must still be running and answer
a GET of its liveness path (/) with a 2xx or 3xx. A server that dies or stops answering mid-batch is
reported with the request that did it, then restarted, so the remaining
checks still run. A failure line shows the request's bytes, the answer and
the server's stderr lines written meanwhile.

Programs are started with --port=0 on 127.0.0.1 (serverproc.py) and
stopped by their PID. Standard library only; every wait is bounded.
Exit status 1 if any check failed.
"""
import argparse
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverproc import ServerProcess  # noqa: E402

TIMEOUT = 5.0          # the longest one exchange may take
PROBE_TIMEOUT = 2.0    # the liveness probe after a hang or a drop
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


# --- what goes on the wire --------------------------------------------------------

class Request:
    """One HTTP/1.1 request, kept in parts so a variant can change one part."""

    def __init__(self, method, path, query=(), headers=(), body=None):
        self.method = method
        self.path = path                   # bytes, sent as they are
        self.query = list(query)           # [b"name=value", ...] sent as they are
        self.headers = list(headers)       # [(name, value)] bytes, sent as they are
        self.body = body                   # bytes or None

    def copy(self):
        return Request(self.method, self.path, self.query, self.headers, self.body)

    def set_header(self, name, value):
        self.headers = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        self.headers.append((name, value))

    def set_query(self, name, pair):
        """Replaces the pair for `name` (b"ms") by `pair` (b"ms=%ff"), or adds it."""
        self.query = [p for p in self.query if p.split(b"=")[0] != name] + [pair]

    def to_bytes(self, port):
        target = self.path + (b"?" + b"&".join(self.query) if self.query else b"")
        lines = [b"%s %s HTTP/1.1" % (self.method.encode(), target),
                 b"Host: 127.0.0.1:%d" % port]
        names = [name.lower() for name, _ in self.headers]
        if b"host" in names:
            lines.pop()
        if b"connection" not in names:
            lines.append(b"Connection: close")  # so each answer ends with the connection
        lines += [name + b": " + value for name, value in self.headers]
        if self.body is not None:
            lines.append(b"Content-Length: %d" % len(self.body))
        return b"\r\n".join(lines) + b"\r\n\r\n" + (self.body or b"")


class Answer:
    def __init__(self, status=None, reason=b"", body=b"", ending="complete", raw=b""):
        self.status = status    # None: no status line came
        self.reason = reason
        self.body = body
        self.ending = ending    # "complete", "timeout", "eof" or "reset"
        self.raw = raw


def receive_until(sock, buffer, done, deadline):
    """Reads into buffer until done(buffer); returns how reading ended."""
    while not done(buffer):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            return "timeout"
        except ConnectionResetError:
            return "reset"
        if not piece:
            return "eof"
        buffer += piece
    return "complete"


def chunked_complete(data):
    """True once data holds a whole chunked body (sizes in hex, then 0)."""
    at = 0
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return False
        try:
            size = int(data[at:line_end].split(b";")[0], 16)
        except ValueError:
            return True  # not chunked framing after all: stop, the check shows the bytes
        if size == 0:
            return data.find(b"\r\n\r\n", line_end) >= 0  # after the trailers, if any
        at = line_end + 2 + size + 2
        if at > len(data):
            return False


def exchange(port, request_bytes, method, timeout=TIMEOUT):
    """Sends one request and reads one answer: its head, then its body as
    its framing says (Content-Length, chunked, or until the close). A 101
    ends at its head: the WebSocket is open, and the socket is closed."""
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        return Answer(ending="refused: %s" % error)
    with sock:
        try:
            sock.sendall(request_bytes)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading everything; read what it said
        ending = receive_until(sock, buffer, lambda b: b"\r\n\r\n" in b, deadline)
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        parts = head.split(b"\r\n")[0].split(b" ", 2)
        if ending != "complete" or len(parts) < 2 or not parts[1].isdigit():
            return Answer(ending=ending if ending != "complete" else "no status line", raw=bytes(buffer))
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else b""
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = bytearray(rest)
        if status == 101 or method == "HEAD" or status in (204, 304):
            ending = "complete"
        elif b"content-length" in headers and headers[b"content-length"].isdigit():
            length = int(headers[b"content-length"])
            ending = receive_until(sock, body, lambda b: len(b) >= length, deadline)
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            ending = receive_until(sock, body, chunked_complete, deadline)
        else:
            ending = receive_until(sock, body, lambda b: False, deadline)
            ending = "complete" if ending == "eof" else ending
        return Answer(status, reason, bytes(body), ending, bytes(buffer) + bytes(body[len(rest):]))


def shown(data, limit=300):
    """Bytes as a readable one-line string, non-ASCII as \\xNN, cut at limit."""
    text = data.decode("latin-1").encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "...(%d bytes)" % len(data)


# --- the hostile values -------------------------------------------------------------

class Bad:
    """A hostile value as it goes on the wire, and whether it is invalid
    UTF-8 once percent-decoded (the case the requirement says is a 4xx
    wherever a handler reads it as text)."""

    def __init__(self, wire, invalid_utf8, why):
        self.wire = wire
        self.invalid_utf8 = invalid_utf8
        self.why = why


# Percent-encoded values, for paths, queries and urlencoded bodies. A
# malformed escape (%zz, a cut %f) is valid text: Python's unquote, which
# Tornado uses, keeps it as the characters "%zz", so a 2xx is allowed
# there; what is never allowed is a 5xx.
ENCODED_VALUES = [
    Bad(b"%zz", False, "malformed escape"),
    Bad(b"%f", False, "cut escape"),
    Bad(b"%ff", True, "0xff"),
    Bad(b"%c3%28", True, "invalid UTF-8 pair"),
    Bad(b"%c0%af", True, "overlong UTF-8"),
    Bad(b"%ed%a0%80", True, "UTF-8 surrogate"),
    Bad(b"%00", False, "NUL"),
    Bad(b"%0d%0a", False, "CR LF"),
    Bad(b"\xff", True, "raw 0xff byte"),
    Bad(b"\xc3\x28", True, "raw invalid UTF-8 pair"),
]

# Raw values for places that are not percent-decoded (headers, cookies,
# multipart parts).
RAW_VALUES = [
    Bad(b"\xff\xfe", True, "0xff 0xfe"),
    Bad(b"\xc3\x28", True, "invalid UTF-8 pair"),
    Bad(b"%ff", False, "%ff, not decoded here"),
]


# --- the routes ---------------------------------------------------------------------

class Route:
    """A route of a program, the request that succeeds on it, and what its
    handler reads as text: a set of (source, name) with source one of
    query, body, cookie, file, filename, filetype, json, path; name "*"
    means every name and value of that source."""

    def __init__(self, method, path, good, reads=(), query=(), body=None, body_kind=None,
                 group=None, websocket=False, note=""):
        self.method = method
        self.path = path              # bytes; with group, the part before the group
        self.group = group            # bytes: the group's good value, or None
        self.good = good              # the baseline's expected status
        self.reads = set(reads)
        self.query = list(query)      # the baseline's query pairs
        self.body = body              # the baseline's body (urlencoded or JSON)
        self.body_kind = body_kind    # "form", "json", "bytes" or None
        self.websocket = websocket
        self.note = note

    def name(self):
        return "%s %s" % (self.method, shown(self.path + (self.group or b"")))

    def reads_input(self, source, name):
        return (source, name) in self.reads or (source, "*") in self.reads

    def baseline(self):
        request = Request(self.method, self.path + (self.group or b""), self.query)
        if self.websocket:
            request.headers += [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
                                (b"Sec-WebSocket-Key", WS_KEY), (b"Sec-WebSocket-Version", b"13")]
        if self.body_kind == "form":
            request.headers.append((b"Content-Type", b"application/x-www-form-urlencoded"))
        elif self.body_kind == "json":
            request.headers.append((b"Content-Type", b"application/json"))
        if self.method in ("POST", "PUT"):
            request.body = self.body or b""
        return request


def get_argument(*names):
    """What get_argument(name) reads: the query and the body arguments."""
    return [(source, name) for name in names for source in ("query", "body")]


DEMO_ROUTES = [
    Route("GET", b"/", 200),
    Route("HEAD", b"/", 200),
    Route("GET", b"/query", 200, reads=[("query", "*")], query=[b"a=1"]),
    Route("POST", b"/form", 200, reads=[("body", "*"), ("file", "*"), ("filename", "*"),
                                        ("filetype", "*")], body=b"a=1", body_kind="form"),
    # /echo answers the body's bytes: it reads nothing as text.
    Route("POST", b"/echo", 200, body=b"x", body_kind="bytes"),
    Route("PUT", b"/echo", 200, body=b"x", body_kind="bytes"),
    Route("POST", b"/json", 200, reads=[("json", "*")], body=b'{"a": 1}', body_kind="json"),
    Route("GET", b"/story/", 200, group=b"1"),
    Route("GET", b"/link", 200),
    Route("GET", b"/redirect/temp", 302),
    Route("GET", b"/redirect/perm", 301),
    Route("GET", b"/pictures/", 301, group=b"x"),
    Route("GET", b"/photos/", 200, group=b"x"),
    Route("GET", b"/error/", 400, group=b"400"),
    # GET /crash is left out: its 500 is its contract (final/examples/demo_app/README.md).
    Route("GET", b"/stream", 200, reads=get_argument("chunks"), query=[b"chunks=2"]),
    Route("GET", b"/sleep", 200, reads=get_argument("ms"), query=[b"ms=1"]),
    Route("GET", b"/blocking", 200, reads=get_argument("ms"), query=[b"ms=1"]),
    Route("GET", b"/static/", 200, group=b"hello.txt"),
    Route("GET", b"/cookies/set", 200, reads=[("query", "*")], query=[b"a=1"]),
    Route("GET", b"/cookies/get", 200, reads=[("cookie", "*")]),
    Route("POST", b"/login", 200, reads=get_argument("user"), body=b"user=ann", body_kind="form"),
    # Without a signed cookie /me is a 403 by contract; it reads the cookie "user".
    Route("GET", b"/me", 403, reads=[("cookie", "user")]),
    Route("GET", b"/template", 200, reads=get_argument("name"), query=[b"name=ann"]),
    Route("GET", b"/ws/echo", 101, websocket=True),
]

CHAT_ROUTES = [
    Route("GET", b"/chat", 200),
    Route("POST", b"/chat/new", 200, reads=get_argument("body", "next"), body=b"body=hi",
          body_kind="form"),
    # The long poll answers at once: the program's setup posted a message,
    # and no cursor sent here is a message's id.
    Route("POST", b"/chat/updates", 200, reads=get_argument("cursor"), body=b"cursor=",
          body_kind="form"),
    Route("GET", b"/chat/static/", 200, group=b"chat.js"),
    Route("GET", b"/chat/ws", 101, websocket=True),
]


def post_seed_message(port):
    """The chat's long poll waits while no message is newer than the
    cursor: one message in the room makes every poll answer at once."""
    request = Request("POST", b"/chat/new", headers=[(b"Content-Type",
                                                       b"application/x-www-form-urlencoded")],
                      body=b"body=seed")
    answer = exchange(port, request.to_bytes(port), "POST")
    if answer.status != 200:
        raise RuntimeError("seeding the chat room: POST /chat/new answered %r" % answer.status)


class Program:
    def __init__(self, label, binary, routes, args=(), setup=None, liveness=b"/"):
        self.label = label
        self.binary = binary
        self.routes = routes
        self.args = list(args)
        self.setup = setup
        self.liveness = liveness      # a GET path answered 2xx/3xx while the server is well


PROGRAMS = [
    Program("demo_app", "demo_app", DEMO_ROUTES + CHAT_ROUTES, setup=post_seed_message),
    Program("chat", "final_chat", [Route("GET", b"/", 302)] + CHAT_ROUTES, setup=post_seed_message),
    Program("file_upload", "final_file_upload", [
        Route("GET", b"/", 200),
        Route("POST", b"/post", 200, reads=[("filename", "*")], body=b"", body_kind="form"),
        # The streamed upload reads the path's group (the file's name) and
        # logs the Content-Type header; the body is counted, never read.
        Route("PUT", b"/", 200, group=b"a.txt", body=b"data", body_kind="bytes"),
    ]),
    Program("hello", "final_hello", [Route("GET", b"/", 200)]),
    # A bare HTTPServer callback: it answers every request the same and
    # reads nothing, so only the HTTP layer's parsing is under test.
    Program("http_hello", "final_http_hello", [Route("GET", b"/", 200), Route("POST", b"/", 200,
                                                                             body=b"a=1")]),
    Program("websocket_echo", "final_websocket_echo", [
        Route("GET", b"/", 200), Route("GET", b"/ws/echo", 101, websocket=True)]),
    # --compress makes the server parse Sec-WebSocket-Extensions.
    Program("websocket_echo --compress", "final_websocket_echo", [
        Route("GET", b"/ws/echo", 101, websocket=True)], args=["--compress"]),
]


# --- the variants ---------------------------------------------------------------------

class Variant:
    """A hostile request and whether the route must refuse it (4xx)."""

    def __init__(self, label, request, must_refuse):
        self.label = label
        self.request = request
        self.must_refuse = must_refuse


def path_variants(route, base):
    """Bad bytes in the path: in the route's group if it has one (the
    framework decodes every group as text before the handler runs, so bad
    UTF-8 there is a 4xx on every route with a group), else after the
    path, where no route matches (a 404; final_http_hello answers any path)."""
    variants = []
    for bad in ENCODED_VALUES:
        request = base.copy()
        if route.group is not None:
            request.path = route.path + bad.wire
            must_refuse = bad.invalid_utf8
        else:
            request.path = route.path.rstrip(b"/") + b"/" + bad.wire
            must_refuse = False
        variants.append(Variant("path " + shown(request.path), request, must_refuse))
    return variants


def query_variants(route, base):
    """Bad names and values in the query: an argument no handler asks for,
    then each argument the handler reads."""
    variants = []
    names = sorted({name for source, name in route.reads if source == "query" and name != "*"})
    for bad in ENCODED_VALUES:
        for pair, name in ((b"zz=" + bad.wire, "zz"), (bad.wire + b"=1", bad.wire.decode("latin-1"))):
            request = base.copy()
            request.query.append(pair)
            variants.append(Variant("query " + shown(pair), request,
                                    bad.invalid_utf8 and route.reads_input("query", name)))
        for name in names:
            pair = name.encode() + b"=" + bad.wire
            request = base.copy()
            request.set_query(name.encode(), pair)
            variants.append(Variant("query " + shown(pair), request,
                                    bad.invalid_utf8 and route.reads_input("query", name)))
    return variants


def header_variants(route, base):
    """Bad bytes in headers. Header values are Latin-1 text in HTTP
    (obs-text, 0x80-0xff, is allowed in a value), so a 2xx is fine where
    nothing reads them; a header name is a token, so a 0xff in a name is a
    malformed request (400)."""
    variants = []

    def add(label, name, value, must_refuse=False):
        request = base.copy()
        request.set_header(name, value)
        variants.append(Variant(label, request, must_refuse))

    add("header X-Bad: 0xff 0xfe", b"X-Bad", b"\xff\xfe")
    add("header X-Bad: obs-text caf\\xe9 (Latin-1)", b"X-Bad", b"caf\xe9")
    add("header X-Bad: caf\\xc3\\xa9 (UTF-8)", b"X-Bad", b"caf\xc3\xa9")
    add("header X-Bad: obs-fold with 0xff", b"X-Bad", b"a\r\n \xff")
    add("header X-Bad: NUL", b"X-Bad", b"a\x00b")
    add("header name X-\\xff", b"X-\xff", b"1", must_refuse=True)
    add("header Host: 0xff", b"Host", b"\xff")
    add("header Host: %ff", b"Host", b"%ff")
    add("header Accept-Encoding: 0xff", b"Accept-Encoding", b"\xff")
    add("header Accept-Language: 0xff", b"Accept-Language", b"\xff")
    if route.method in ("GET", "HEAD"):
        add("header If-None-Match: 0xff", b"If-None-Match", b"\"\xff\"")
        add("header If-Modified-Since: 0xff", b"If-Modified-Since", b"\xff")
        add("header Range: bytes=0xff", b"Range", b"bytes=\xff-")
    if route.method in ("POST", "PUT"):
        add("header Content-Type: 0xff", b"Content-Type", b"\xff")
        add("header Content-Type: urlencoded; charset=0xff", b"Content-Type",
            b"application/x-www-form-urlencoded; charset=\xff")
    return variants


def cookie_variants(route, base):
    """Cookies are not percent-decoded (a %ff stays the text "%ff"); a
    quoted value's octal escapes are (Python's http.cookies). A cookie
    whose name is not a token never reaches a handler: cookies() drops it,
    as Tornado's SimpleCookie does, so a 2xx is fine for a bad name (and
    for a bare value, whose name is empty)."""
    variants = []
    names = sorted({name for source, name in route.reads if source == "cookie" and name != "*"})
    cookies = []
    for bad in RAW_VALUES:
        cookies.append((b"a=" + bad.wire, "a", bad.invalid_utf8))
        cookies.append((bad.wire + b"=1", "(dropped)", False))
        cookies += [(name.encode() + b"=" + bad.wire, name, bad.invalid_utf8) for name in names]
    cookies += [(b'a="unterminated', "a", False), (b'a="\\377\\303"', "a", False),
                (b'a="x\\"', "a", False), (b"a=1; =2; ;;", "a", False), (b"\xff", "(dropped)", False)]
    for cookie, name, invalid_utf8 in cookies:
        request = base.copy()
        request.set_header(b"Cookie", cookie)
        variants.append(Variant("cookie " + shown(cookie), request,
                                invalid_utf8 and route.reads_input("cookie", name)))
    return variants


def urlencoded_variants(route, base):
    variants = []
    names = sorted({name for source, name in route.reads if source == "body" and name != "*"})
    base_pairs = base.body.split(b"&") if base.body else []
    for bad in ENCODED_VALUES:
        candidates = [(b"zz=" + bad.wire, "zz"), (bad.wire + b"=1", bad.wire.decode("latin-1"))]
        candidates += [(name.encode() + b"=" + bad.wire, name) for name in names]
        for pair, name in candidates:
            request = base.copy()
            request.set_header(b"Content-Type", b"application/x-www-form-urlencoded")
            kept = [p for p in base_pairs if p.split(b"=")[0] != pair.split(b"=")[0]]
            request.body = b"&".join(kept + [pair])
            variants.append(Variant("urlencoded body " + shown(request.body), request,
                                    bad.invalid_utf8 and route.reads_input("body", name)))
    return variants


BOUNDARY = b"b0undary"


def part(name, value, filename=None, content_type=None, disposition=None):
    disposition = disposition or (b'form-data; name="' + name + b'"' +
                                  (b'; filename="' + filename + b'"' if filename is not None else b""))
    head = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type is not None:
        head += b"Content-Type: " + content_type + b"\r\n"
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + value + b"\r\n"


def multipart_body(*parts):
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def multipart_variants(route, base):
    """Parts with bad names, values, filenames and types, then bodies whose
    structure is broken. A broken structure is a malformed form: Tornado
    logs it and goes on with no arguments, so a 2xx is tolerated; bad text
    a handler reads must be a 4xx."""
    content_type = b"multipart/form-data; boundary=" + BOUNDARY
    names = sorted({name for source, name in route.reads if source == "body" and name != "*"})
    base_parts = [part(*pair.split(b"=", 1)) for pair in (base.body or b"").split(b"&") if b"=" in pair]
    cases = []   # (label, parts or whole body, content type, source, name, invalid_utf8)
    for bad in RAW_VALUES:
        text = shown(bad.wire)
        cases.append(("field zz=%s" % text, [part(b"zz", bad.wire)], None, "body", "zz", bad.invalid_utf8))
        cases.append(("field named %s" % text, [part(bad.wire, b"1")], None, "body",
                      bad.wire.decode("latin-1"), bad.invalid_utf8))
        cases += [("field %s=%s" % (name, text), [part(name.encode(), bad.wire)], None, "body", name,
                   bad.invalid_utf8) for name in names]
        cases.append(("file named %s" % text, [part(bad.wire, b"data", filename=b"a.txt")], None,
                      "file", bad.wire.decode("latin-1"), bad.invalid_utf8))
        cases.append(("filename %s" % text, [part(b"file", b"data", filename=bad.wire + b".txt")], None,
                      "filename", "file", bad.invalid_utf8))
        cases.append(("file Content-Type %s" % text,
                      [part(b"file", b"data", filename=b"a.txt", content_type=bad.wire)], None,
                      "filetype", "file", bad.invalid_utf8))
    cases.append(("filename*=UTF-8''%ff", [part(b"file", b"data", disposition=(
        b"form-data; name=\"file\"; filename*=UTF-8''%ff.txt"))], None, "filename", "file", True))
    cases.append(("name*=UTF-8''%c3%28", [part(b"", b"1", disposition=(
        b"form-data; name*=UTF-8''%c3%28"))], None, "body", "\xc3\x28", True))
    cases.append(("file content 0xff (bytes, never text)",
                  [part(b"file", b"\xff\xfe\x00", filename=b"a.bin")], None, "filebody", "file", False))
    broken = [
        ("no boundary in Content-Type", multipart_body(part(b"zz", b"1")), b"multipart/form-data"),
        ("empty boundary", multipart_body(part(b"zz", b"1")), b"multipart/form-data; boundary="),
        ("boundary 0xff", multipart_body(part(b"zz", b"1")).replace(BOUNDARY, b"\xff"),
         b"multipart/form-data; boundary=\xff"),
        ("boundary not in the body", multipart_body(part(b"zz", b"1")).replace(BOUNDARY, b"other"),
         content_type),
        ("no closing boundary", part(b"zz", b"1"), content_type),
        ("part without a blank line", b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; "
         b"name=\"zz\"\r\n1\r\n--" + BOUNDARY + b"--\r\n", content_type),
        ("part without Content-Disposition", b"--" + BOUNDARY + b"\r\nX: y\r\n\r\n1\r\n--" +
         BOUNDARY + b"--\r\n", content_type),
        ("part name unquoted and unterminated", multipart_body(part(b"", b"1", disposition=(
            b"form-data; name=\"zz"))), content_type),
        ("part header 0xff", b"--" + BOUNDARY + b"\r\n\xff\xfe\r\n\r\n1\r\n--" + BOUNDARY + b"--\r\n",
         content_type),
        ("only 0xff bytes", b"\xff" * 64, content_type),
    ]
    for label, body, kind in broken:
        cases.append((label, body, kind, "structure", "", False))
    variants = []
    for label, parts_or_body, kind, source, name, invalid_utf8 in cases:
        request = base.copy()
        if isinstance(parts_or_body, list):
            request.body = multipart_body(*(base_parts + parts_or_body))
        else:
            request.body = parts_or_body
        request.set_header(b"Content-Type", kind or content_type)
        variants.append(Variant("multipart " + label, request,
                                invalid_utf8 and route.reads_input(source, name)))
    return variants


JSON_BODIES = [   # (body, is it invalid: not UTF-8, or not JSON)
    (b'{"a": "\xff"}', True),
    (b'{"\xc3\x28": 1}', True),
    (b'"\xed\xa0\x80"', True),           # a surrogate encoded in UTF-8: not UTF-8
    (b"\xff", True),
    (b"{", True),
    (b'{"a": }', True),
    (b"", True),
    (b'"\\udc80"', False),                # a lone surrogate escape: valid JSON
    (b'"\\ud800\\u0041"', False),
    (b'"\\u0000"', False),
    (b"1e99999", False),
    (b"\xef\xbb\xbf{}", False),           # a BOM before the value
    (b"[" * 100000, True),                # nesting never closed
    (b"[" * 100000 + b"]" * 100000, False),
]


def json_variants(route, base):
    variants = []
    for body, invalid in JSON_BODIES:
        request = base.copy()
        request.set_header(b"Content-Type", b"application/json")
        request.body = body
        variants.append(Variant("json body " + shown(body, 60), request,
                                invalid and route.reads_input("json", "*")))
    return variants


def websocket_variants(route, base):
    """The handshake with bad bytes in the headers it reads. The frames
    that follow are final_websocket_test.py's business."""
    variants = []
    cases = [(b"Origin", b"\xff"), (b"Origin", b"http://%ff"), (b"Origin", b"http://\xc3\x28"),
             (b"Sec-WebSocket-Key", b"\xff\xfe"), (b"Sec-WebSocket-Version", b"\xff"),
             (b"Sec-WebSocket-Protocol", b"\xff, chat"),
             (b"Sec-WebSocket-Extensions", b"\xff"),
             (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits=\xff"),
             (b"Sec-WebSocket-Extensions", b"permessage-deflate; server_max_window_bits=%ff"),
             (b"Upgrade", b"\xff"), (b"Connection", b"\xff")]
    for name, value in cases:
        request = base.copy()
        request.set_header(name, value)
        variants.append(Variant("handshake %s: %s" % (name.decode(), shown(value)), request, False))
    return variants


def variants_of(route):
    base = route.baseline()
    variants = path_variants(route, base) + query_variants(route, base)
    variants += header_variants(route, base) + cookie_variants(route, base)
    if route.body_kind == "form":
        variants += urlencoded_variants(route, base) + multipart_variants(route, base)
    if route.body_kind == "json":
        variants += json_variants(route, base)
    if route.websocket:
        variants += websocket_variants(route, base)
    return variants


# --- running a program ------------------------------------------------------------------

class RunningProgram:
    """A program under test, its stderr in a file we read from, restarted
    when it dies or stops answering."""

    def __init__(self, program, bin_dir):
        self.program = program
        self.path = os.path.join(bin_dir, program.binary)
        self.stderr = tempfile.TemporaryFile()
        self.server = None

    def start(self):
        self.server = ServerProcess(self.path, *self.program.args, stderr=self.stderr)
        self.server.__enter__()
        if self.program.setup:
            self.program.setup(self.server.port)

    def stop(self):
        if self.server:
            self.server.stop()
            self.server = None

    @property
    def port(self):
        return self.server.port

    def alive(self):
        return self.server.process.poll() is None

    def stderr_offset(self):
        self.stderr.flush()
        return os.fstat(self.stderr.fileno()).st_size

    def stderr_since(self, offset):
        time.sleep(0.05)  # the access-log line may follow the answer
        self.stderr.seek(offset)
        text = self.stderr.read().decode("utf-8", "replace")
        self.stderr.seek(0, os.SEEK_END)
        return [line for line in text.splitlines() if line.strip()]

    def answers(self, timeout):
        """True if the liveness path gets a 2xx or 3xx in time."""
        request = Request("GET", self.program.liveness)
        answer = exchange(self.port, request.to_bytes(self.port), "GET", timeout)
        return answer.ending == "complete" and answer.status is not None and answer.status < 400


def judge(answer, method, must_refuse, expected=None):
    """None if the answer is acceptable, else why not."""
    if answer.status is None:
        if answer.ending == "timeout":
            return "hang: no status line within %gs" % TIMEOUT
        return "no status: the connection ended (%s)" % answer.ending
    if answer.ending != "complete":
        return "answer cut short (%s) after its head" % answer.ending
    if expected is not None and answer.status != expected:
        return "expected %d" % expected
    if answer.status >= 500:
        return "a 5xx for the client's bytes"
    if 400 <= answer.status < 500 and not answer.body and method != "HEAD":
        return "a 4xx with an empty body: it must say what is wrong"
    if must_refuse and not 400 <= answer.status < 500:
        return "the route reads this input as text and it is not UTF-8: expected a 4xx"
    return None


def run_check(running, route, label, request, must_refuse, results, expected=None):
    port = running.port
    data = request.to_bytes(port)
    offset = running.stderr_offset()
    answer = exchange(port, data, request.method)
    problem = judge(answer, request.method, must_refuse, expected)
    status = "no status" if answer.status is None else "%d" % answer.status
    name = "%s: %s %s -> %s%s" % (running.program.label, route.name(), label, status,
                                  " (must be 4xx)" if must_refuse else "")
    if problem is None:
        results.append((name, True, ""))
        return
    detail = ["%s" % problem, "request: %s" % shown(data, 600),
              "answer: %s" % shown(answer.raw, 400)]
    # From just before the request to just after its answer: the previous
    # request's access-log line may show too.
    detail += ["stderr: %s" % line for line in running.stderr_since(offset)]
    if answer.status is None or answer.ending != "complete" or answer.status >= 500:
        if not running.alive():
            detail.append("the server DIED (exit status %r); restarted" % running.server.process.returncode)
            running.stop()
            running.start()
        elif not running.answers(PROBE_TIMEOUT):
            detail.append("the server stopped answering; restarted")
            running.stop()
            running.start()
    results.append((name, False, "\n        ".join(detail)))


def run_program(program, bin_dir, results):
    running = RunningProgram(program, bin_dir)
    if not os.path.exists(running.path):
        results.append(("%s: %s exists" % (program.label, running.path), False, "not built"))
        return
    running.start()
    try:
        for route in program.routes:
            run_check(running, route, "baseline", route.baseline(), False, results, route.good)
            for variant in variants_of(route):
                run_check(running, route, variant.label, variant.request, variant.must_refuse, results)
        alive = running.alive() and running.answers(TIMEOUT)
        results.append(("%s: still running and serving GET %s after its batch" %
                        (program.label, program.liveness.decode()), alive, "no answer"))
    finally:
        running.stop()
        running.stderr.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the folder with the example programs")
    parser.add_argument("--only", help="comma-separated: " + ",".join(p.label for p in PROGRAMS))
    parser.add_argument("--failures-only", action="store_true", help="print only the failed checks")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else [p.label for p in PROGRAMS]
    started = time.monotonic()
    results = []
    for program in PROGRAMS:
        if program.label not in chosen:
            continue
        try:
            run_program(program, args.bin, results)
        except Exception as error:  # one program's crash must not hide the others
            results.append(("%s: ran to the end" % program.label, False, repr(error)))
    failed = 0
    for name, passed, detail in results:
        if not passed or not args.failures_only:
            print("%s  %s%s" % ("PASS" if passed else "FAIL", name,
                                "" if passed else "\n        " + detail))
        failed += not passed
    print("summary: %d passed, %d failed, %.1fs" % (len(results) - failed, failed,
                                                   time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
