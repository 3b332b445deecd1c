#!/usr/bin/env python3
"""HTTP/2 (final/http2) against clients we did not write: curl, nghttp, h2load and Python's h2.

    /usr/bin/python3 final_http2_test.py --bin build/bin

The demo app runs with --http2, in cleartext and over TLS, and each check
talks to it as a real client would:

  - curl --http2-prior-knowledge: the same pages as over HTTP/1.1 (a page,
    a 3 MB body echoed, a streamed answer, a static file's Range and 304,
    a 404 page, a 500, cookies), and HTTP/1.1 still served on the port;
  - Python's h2: files of 2 KB to 2 MB, 8 times each over one
    connection's streams at once, every answer the file's bytes;
  - nghttp -nv: the server's SETTINGS (at most 100 streams at once);
  - h2load: 2,000 requests over 4 connections of 20 streams each;
  - SIGTERM while a stream is in flight (a raw client's, sent with a
    PING whose answer says the server has it): the stream is answered
    (GOAWAY, then the answer), and the server exits soon after;
  - and while a raw client, not yet aware of the GOAWAY, opens a POST
    with its body and trailers and opens and resets another stream: both ignored,
    without an error, and the stream the GOAWAY named still answered;
  - over TLS: ALPN gives curl and h2load h2, and a client that offers
    only http/1.1 gets HTTP/1.1;
  - Python's h2, on a socket of its own: 20 slow requests on one
    connection run at once; a stream whose reader does not open its
    window holds back that stream's handler alone (its bytes stop at the
    stream window, another stream is answered meanwhile), and goes on
    once the window opens.

Needs Debian's /usr/bin/python3 with python3-h2, curl, nghttp and h2load
(nghttp2-client), installed by tools/install-deps.sh build. Prints a line
per check and a summary; exits 1 if any failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from final_tls_test import Certificates  # noqa: E402
from serverproc import ServerProcess  # noqa: E402
import final_http2_attack_test as raw  # noqa: E402  (its raw-frame client)

TIMEOUT = 30


def run(command, stdin=None):
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise CheckFailed("%s failed (%d): %s" % (" ".join(command[:3]), done.returncode,
                                                 done.stderr.decode(errors="replace").strip()[-300:]))
    return done.stdout


def curl(url, *options, http="--http2-prior-knowledge"):
    """(status, HTTP version, body) of one request."""
    out = run(["curl", "-sS", "-k", http, "-o", "-", "-w", "\n%{http_code} %{http_version}", *options, url])
    body, _, tail = out.rpartition(b"\n")
    status, version = tail.decode().split()
    return int(status), version, body


# --- the checks ----------------------------------------------------------------------------

def same_pages_as_http11(base):
    for path in ["/", "/query?a=1&b=two", "/json", "/template"]:
        status2, version, body2 = curl(base + path)
        status1, _, body1 = curl(base + path, http="--http1.1")
        expect_equal(version, "2", "GET %s's version" % path)
        expect_equal((status2, body2), (status1, body1), "GET %s over HTTP/2 and over HTTP/1.1" % path)


def a_body_is_echoed_whole(base):
    body = os.urandom(3 * 1024 * 1024)
    done = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H", "Content-Type: application/octet-stream",
                           "--data-binary", "@-", base + "/echo"], input=body, capture_output=True,
                          timeout=TIMEOUT)
    expect_equal(done.returncode, 0, "curl's exit status")
    expect(done.stdout == body, "the 3 MB body came back with %d bytes, not the same" % len(done.stdout))


def a_streamed_answer_comes_in_pieces(base):
    status, _, body = curl(base + "/stream?chunks=5")
    expect_equal(status, 200, "GET /stream's status")
    expect_equal(body.decode(), "".join("chunk %d\n" % i for i in range(5)), "GET /stream?chunks=5")


def static_files_with_range_and_304(base):
    status, _, whole = curl(base + "/static/hello.txt")
    expect_equal(status, 200, "GET /static/hello.txt")
    status, _, part = curl(base + "/static/hello.txt", "-r", "0-4")
    expect_equal((status, part), (206, whole[:5]), "bytes 0-4 of /static/hello.txt")
    head = run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", base + "/static/hello.txt"])
    etag = re.search(rb"(?im)^etag: (\S+)", head)
    expect(etag is not None, "no etag in %r" % head)
    status, _, _ = curl(base + "/static/hello.txt", "-H", "If-None-Match: " + etag.group(1).decode())
    expect_equal(status, 304, "GET with If-None-Match")


def error_pages(base):
    status, _, body = curl(base + "/error/404")
    expect_equal(status, 404, "GET /error/404")
    expect(b"404" in body, "the 404 page: %r" % body[:200])
    status, _, _ = curl(base + "/crash")
    expect_equal(status, 500, "GET /crash")


def cookies_go_both_ways(base):
    with tempfile.NamedTemporaryFile() as jar:
        run(["curl", "-sS", "--http2-prior-knowledge", "-c", jar.name, "-o", "/dev/null",
             base + "/cookies/set?name=flavour&value=oat"])
        status, _, body = curl(base + "/cookies/get?name=flavour", "-b", jar.name)
    expect_equal(status, 200, "GET /cookies/get")
    expect(b"oat" in body, "the cookie did not come back: %r" % body[:200])


def http11_still_served(base):
    status, version, body = curl(base + "/", http="--http1.1")
    expect_equal((status, version), (200, "1.1"), "GET / over HTTP/1.1")


def upgrade_h2c(base):
    """curl --http2 on http:// asks for h2c by Upgrade; nghttp -u does the
    same with its own client. A request with a body stays on HTTP/1.1."""
    status, version, body = curl(base + "/", http="--http2")
    _, _, body1 = curl(base + "/", http="--http1.1")
    expect_equal((status, version), (200, "2"), "GET / with Upgrade: h2c")
    expect_equal(body, body1, "the page after the upgrade")
    out = run(["nghttp", "-nvu", base + "/query?a=1"]).decode()
    expect("HTTP Upgrade success" in out and ":status: 200" in out, "nghttp -u:\n" + out[-600:])
    status, version, echoed = curl(base + "/echo", "--data-binary", "abc", http="--http2")
    expect_equal((status, version, echoed), (200, "1.1", b"abc"), "a POST with a body and Upgrade: h2c")
    head = ("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: !!\r\n\r\n").encode()
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        client.sendall(head)
        answer = b""
        while True:
            piece = client.recv(4096)
            if not piece:
                break
            answer += piece
    expect(answer.startswith(b"HTTP/1.1 400 "), "bad HTTP2-Settings: %r" % answer[:100])


def nghttp_sees_the_settings(base):
    out = run(["nghttp", "-nv", base + "/"]).decode()
    expect("recv SETTINGS frame" in out, "no SETTINGS from the server:\n" + out[:500])
    expect("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100" in out,
           "the server's SETTINGS do not say 100 streams:\n" + out[:800])
    expect(":status: 200" in out, "no 200 for GET /")


def clients_that_leave_mid_answer_cost_nothing(base):
    """h2load stops at its duration's end with answers still on their way
    to its 100 connections: each connection's socket is reset while the
    server has frames to send. Five such runs, then the server must still
    answer. (A write to a socket the loop had not yet seen closed threw out
    of the sending, and the connection was freed still on its server's
    list: a crash within a few runs.)"""
    for _ in range(5):
        out = run(["h2load", "-c", "100", "-m", "100", "-D", "1", base + "/"]).decode()
        expect(" 0 errored" in out, "h2load: " + out[-400:])
    status, version, _ = curl(base + "/")
    expect_equal((status, version), (200, "2"), "GET / after five runs that left mid-answer")


def h2load_all_succeed(base):
    out = run(["h2load", "-n", "2000", "-c", "4", "-m", "20", base + "/"]).decode()
    expect("2000 succeeded, 0 failed, 0 errored" in out, "h2load: " + out[-600:])
    return re.search(r"finished in [^,]+, ([0-9.]+ req/s)", out).group(1)


def tls_alpn(base):
    status, version, _ = curl(base + "/", http="--http2")
    expect_equal((status, version), (200, "2"), "curl --http2 over TLS (ALPN)")
    status, version, _ = curl(base + "/", http="--http1.1")
    expect_equal((status, version), (200, "1.1"), "curl --http1.1 over TLS: ALPN offers http/1.1 only")
    out = run(["h2load", "-n", "200", "-c", "2", "-m", "10", base + "/"]).decode()
    expect("Application protocol: h2" in out, "h2load over TLS: " + out[-400:])
    expect("200 succeeded" in out, "h2load over TLS: " + out[-400:])


def a_sleep_the_server_has_read(port):
    """A raw connection whose stream 1 is `GET /sleep?ms=1000`, returned
    once the server has read that request: a PING goes right after it, and
    the PING's answer comes only once the server has read what came
    before. Returns the connection and the request's header block."""
    client = raw.Connection(port)
    get = client.encode([(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"),
                         (":path", "/sleep?ms=1000")])
    client.send(raw.frame(raw.HEADERS, raw.END_HEADERS | raw.END_STREAM, 1, get) +
                raw.frame(raw.PING, 0, 0, b"stream 1"))
    expect(client.read_until(lambda: client.counts.get(raw.PING)), "no answer to the PING")
    return client, get


def a_graceful_stop_lets_streams_finish(demo_app):
    """SIGTERM while a stream is in flight: the stream is answered whole
    (the server sends GOAWAY and waits for it), then the server exits,
    before its 3 s grace is over. The request goes with a PING after it,
    whose answer says the server has read the request: a fixed wait
    before the SIGTERM (curl's, as this check first was) was sometimes
    too short beside other tests, and the stop came before the request."""
    with ServerProcess(demo_app, "--http2", stderr=subprocess.DEVNULL) as server:
        client, _ = a_sleep_the_server_has_read(server.port)
        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        expect(client.read_until(lambda: 1 in client.ended, timeout=TIMEOUT),
               "the stream in flight when the stop came was not answered: " + client.answered(1))
        expect_equal((client.statuses.get(1), client.data_bytes), (200, len(b"slept 1000")),
                     "the stream in flight's status and body bytes")
        expect_equal(client.goaway, (1, 0), "the GOAWAY's (last stream, code)")
        client.close()
        server.process.wait(timeout=TIMEOUT)
        took = time.monotonic() - stopping
        expect(took < 2.5, "the server took %.1f s to stop after its last stream" % took)
        return "stopped %.2f s after SIGTERM" % took


def frames_that_crossed_the_goaway_are_ignored(demo_app):
    """The client opens streams before our GOAWAY reaches it: a POST, its
    body and its trailers on stream 3, a stream 5 opened and reset. RFC
    9113 section 6.8: the server ignores them (their DATA still counts
    against the connection's window), with no PROTOCOL_ERROR for frames on
    streams it never opened (the trailers' HEADERS neither), and still
    answers stream 1, which its GOAWAY named.
    (Python's h2 refuses to send once it has read a GOAWAY, so the frames
    are sent raw, by final_http2_attack_test.py's client.)"""
    with ServerProcess(demo_app, "--http2", stderr=subprocess.DEVNULL) as server:
        client, get = a_sleep_the_server_has_read(server.port)
        server.process.send_signal(signal.SIGTERM)
        expect(client.read_until(lambda: client.goaway is not None), "no GOAWAY after SIGTERM")
        expect_equal(client.goaway, (1, 0), "the GOAWAY's (last stream, code)")
        post = client.encode([(":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"),
                              (":path", "/echo")])
        client.send(raw.frame(raw.HEADERS, raw.END_HEADERS, 3, post) +
                    b"".join(raw.frame(raw.DATA, 0, 3, b"p" * 16384) for _ in range(3)) +
                    raw.frame(raw.WINDOW_UPDATE, 0, 3, (1000).to_bytes(4, "big")) +
                    raw.frame(raw.DATA, 0, 3, b"end") +
                    raw.frame(raw.HEADERS, raw.END_HEADERS | raw.END_STREAM, 3, raw.literal(b"x-trailer", b"1")) +
                    raw.frame(raw.HEADERS, raw.END_HEADERS, 5, get) +
                    raw.frame(raw.RST_STREAM, 0, 5, (8).to_bytes(4, "big")))
        expect(client.read_until(lambda: 1 in client.ended, timeout=TIMEOUT),
               "stream 1, which the GOAWAY named, was not answered: " + client.answered(1))
        expect_equal(client.statuses.get(1), 200, "stream 1's status")
        expect_equal(client.goaway, (1, 0), "the last GOAWAY's (last stream, code): no second one")
        for stream in (3, 5):
            expect(stream not in client.statuses and stream not in client.resets,
                   "stream %d, opened after the GOAWAY, was answered: %s" % (stream, client.answered(stream)))
        client.close()


# --- Python's h2 on a socket of its own ----------------------------------------------------

class H2Client:
    """An h2 connection on a blocking socket: send requests, read events."""

    def __init__(self, port, connection_window=16 * 1024 * 1024):
        import h2.config
        import h2.connection
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        # A large window for the connection, so that one stream left
        # unread cannot hold the others back at the connection's level.
        self.h2.increment_flow_control_window(connection_window)
        self.flush()
        self.bodies, self.statuses, self.ended = {}, {}, set()

    def flush(self):
        self.socket.sendall(self.h2.data_to_send())

    def get(self, path):
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                      (":authority", "127.0.0.1")], end_stream=True)
        self.flush()
        self.bodies[stream] = b""
        return stream

    def pump(self, until, timeout=10.0, acknowledge=lambda stream: True):
        """Reads and handles events until until() holds; data of a stream
        for which acknowledge() is false is not acknowledged (its window
        stays shut)."""
        import h2.events
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("timed out waiting on the h2 connection")
            self.socket.settimeout(left)
            try:
                data = self.socket.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise CheckFailed("the server closed the connection")
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.statuses[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    self.bodies[event.stream_id] += event.data
                    if acknowledge(event.stream_id):
                        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.ended.add(event.stream_id)
            self.flush()

    def post(self, path, body, timeout=TIMEOUT):
        """Sends a POST with `body` as fast as the server's windows let it;
        returns (stream, seconds the body took to send)."""
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, [(":method", "POST"), (":path", path), (":scheme", "http"),
                                      (":authority", "127.0.0.1"), ("content-length", str(len(body)))])
        self.flush()
        self.bodies[stream] = b""
        started, sent = time.monotonic(), 0
        while sent < len(body):
            room = min(self.h2.local_flow_control_window(stream), self.h2.max_outbound_frame_size,
                       len(body) - sent)
            if room > 0:
                self.h2.send_data(stream, body[sent:sent + room], end_stream=sent + room == len(body))
                self.flush()
                sent += room
            else:  # wait for a WINDOW_UPDATE
                before = self.h2.local_flow_control_window(stream)
                self.pump(lambda: self.h2.local_flow_control_window(stream) > before, timeout=timeout)
        return stream, time.monotonic() - started

    def close(self):
        self.socket.close()


def concurrent_streams_run_at_once(server):
    client = H2Client(server.port)
    try:
        started = time.monotonic()
        streams = [client.get("/sleep?ms=500") for _ in range(20)]
        client.pump(lambda: all(s in client.ended for s in streams))
        took = time.monotonic() - started
        for stream in streams:
            expect_equal(client.bodies[stream], b"slept 500", "stream %d's body" % stream)
        # One after another they would take 10 s.
        expect(took < 4.0, "20 sleeps of 0.5 s on one connection took %.1f s" % took)
        return "%.2f s" % took
    finally:
        client.close()


def a_stream_left_unread_holds_back_its_handler_alone(server):
    client = H2Client(server.port)
    try:
        window = client.h2.local_settings.initial_window_size  # what the server may send a stream
        slow = client.get("/stream?chunks=20000")  # 229 KB, three windows, flushed a chunk at a time
        client.pump(lambda: len(client.bodies[slow]) >= window - 16, acknowledge=lambda s: s != slow)
        quick = client.get("/")
        client.pump(lambda: quick in client.ended, acknowledge=lambda s: s != slow)
        expect_equal(client.statuses[quick], b"200", "the other stream's status")
        time.sleep(0.5)
        client.pump(lambda: True, timeout=0.5, acknowledge=lambda s: s != slow)
        held = len(client.bodies[slow])
        expect(held <= window, "the unread stream got %d bytes past its window of %d" % (held, window))
        expect(slow not in client.ended, "the unread stream ended while its window was shut")
        # The access log's line comes when the handler finishes: a handler
        # whose flush() did not wait would have written all 229 KB into the
        # server's memory and finished.
        expect("GET /stream?chunks=20000" not in server.log(),
               "the handler of the unread stream finished: its flush() did not wait for the window")
        # Open its window: the rest comes, and the handler ends.
        client.h2.acknowledge_received_data(held, slow)
        client.flush()
        client.pump(lambda: slow in client.ended, timeout=30)
        expected = "".join("chunk %d\n" % i for i in range(20000)).encode()
        expect(client.bodies[slow] == expected, "the stream's body after its window opened: %d bytes, "
               "expected %d" % (len(client.bodies[slow]), len(expected)))
        return "held at %d of %d bytes" % (held, len(expected))
    finally:
        client.close()


def xheaders_apply_to_their_own_stream(demo_app):
    """With --xheaders, X-Real-Ip gives a stream its client's address, and
    only that stream's: another stream opened while the first one's body
    is still coming keeps the connection's own address."""
    with tempfile.NamedTemporaryFile(prefix="final_http2_test.", suffix=".log") as log, \
            ServerProcess(demo_app, "--http2", "--xheaders", stderr=log) as server:
        running = Running(server.port, log)
        client = H2Client(server.port)
        try:
            proxied = client.h2.get_next_available_stream_id()
            client.h2.send_headers(proxied, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"),
                                             (":authority", "127.0.0.1"), ("x-real-ip", "10.1.2.3"),
                                             ("content-type", "application/octet-stream"),
                                             ("content-length", "6")])
            client.h2.send_data(proxied, b"abc")
            client.flush()
            client.bodies[proxied] = b""
            time.sleep(0.2)  # the server has the first stream's head, not its whole body
            direct = client.get("/")
            client.pump(lambda: direct in client.ended)
            client.h2.send_data(proxied, b"def", end_stream=True)
            client.flush()
            client.pump(lambda: proxied in client.ended)
            expect_equal(client.bodies[proxied], b"abcdef", "the proxied stream's echo")
        finally:
            client.close()
        deadline = time.monotonic() + 5
        while "POST /echo" not in running.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = running.log()
        expect("200 POST /echo (10.1.2.3)" in text, "the proxied stream's log line:\n" + text[-600:])
        expect("200 GET / (127.0.0.1)" in text, "the other stream's log line:\n" + text[-600:])


def a_body_comes_no_faster_than_its_handler_takes_it(server):
    """/upload/paced?ms=50 takes a piece of the body 50 ms after it came
    (data_received_async), and the server gives the stream's window back
    only then: 1 MiB through a 64 KiB window is at least 15 such pauses.
    A server that opened the window as the bytes came would take the whole
    body in milliseconds."""
    client = H2Client(server.port)
    try:
        size = 1024 * 1024
        stream, took = client.post("/upload/paced?ms=50", b"x" * size, timeout=20)
        client.pump(lambda: stream in client.ended, timeout=20)
        expect_equal(client.statuses[stream], b"200", "the paced upload's status")
        answer = json.loads(client.bodies[stream])
        expect_equal(answer["bytes"], size, "the bytes the handler counted")
        expect(took >= 0.7, "1 MiB went in %.2f s: the window did not wait for the handler "
               "(%d pieces)" % (took, answer["pieces"]))
        return "1 MiB sent in %.2f s, %d pieces" % (took, answer["pieces"])
    finally:
        client.close()


def cached_files_arrive_whole_on_many_streams(demo_app):
    """Files from 2 KB to 2 MB, each asked for 8 times over one cleartext
    connection's streams at once: a small file's DATA comes from the cache's
    bytes, sent beside the frame headers rather than copied among them; a
    large one's is read from its descriptor. Every answer must be the file."""
    folder = tempfile.mkdtemp(prefix="final_http2_test.files.")
    try:
        www = os.path.join(folder, "www")
        os.makedirs(www)
        contents = {}
        for name, size in [("a.bin", 2000), ("b.bin", 40000), ("c.bin", 300 * 1024),
                           ("d.bin", 2 * 1024 * 1024)]:
            contents[name] = os.urandom(size)
            with open(os.path.join(www, name), "wb") as f:
                f.write(contents[name])
        # The cache keeps no file changed within the last second (a second
        # write in the same timestamp tick could go unseen).
        time.sleep(1.2)
        with ServerProcess(demo_app, "--http2", "--static_path=" + www,
                           stderr=subprocess.DEVNULL) as server:
            client = H2Client(server.port)
            try:
                wanted = [(client.get("/static/" + name), name) for _ in range(8) for name in contents]
                client.pump(lambda: all(stream in client.ended for stream, _ in wanted), timeout=20)
                for stream, name in wanted:
                    body = bytes(client.bodies[stream])
                    expect(body == contents[name], "%s came back as %d bytes, not the file's %d"
                           % (name, len(body), len(contents[name])))
            finally:
                client.close()
        return "%d answers, each the file's bytes" % len(wanted)
    finally:
        shutil.rmtree(folder)


# --- the runner -----------------------------------------------------------------------------

class Running:
    """The demo app as the h2 checks see it: its port, and its log so far."""

    def __init__(self, port, log_file):
        self.port, self.log_file = port, log_file

    def log(self):
        self.log_file.flush()
        with open(self.log_file.name, errors="replace") as f:
            return f.read()


CLEARTEXT_CHECKS = [
    ("the same pages as over HTTP/1.1", same_pages_as_http11),
    ("a 3 MB body is echoed whole", a_body_is_echoed_whole),
    ("a streamed answer comes in pieces", a_streamed_answer_comes_in_pieces),
    ("a static file's Range and 304", static_files_with_range_and_304),
    ("error pages", error_pages),
    ("cookies go both ways", cookies_go_both_ways),
    ("HTTP/1.1 is still served on the same port", http11_still_served),
    ("Upgrade: h2c: a GET goes on in HTTP/2, a POST with a body stays on HTTP/1.1",
     upgrade_h2c),
    ("nghttp sees the server's SETTINGS", nghttp_sees_the_settings),
    ("h2load: 2,000 requests, 4 connections of 20 streams", h2load_all_succeed),
    ("h2load: 100 connections of 100 streams that leave mid-answer, five times",
     clients_that_leave_mid_answer_cost_nothing),
]
H2_CHECKS = [
    ("h2: 20 slow requests on one connection run at once", concurrent_streams_run_at_once),
    ("h2: a stream left unread holds back its handler alone", a_stream_left_unread_holds_back_its_handler_alone),
    ("h2: a request body comes no faster than its handler takes it",
     a_body_comes_no_faster_than_its_handler_takes_it),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the build's bin folder (demo_app)")
    options = parser.parse_args()
    demo_app = os.path.join(options.bin, "demo_app")
    missing = [tool for tool in ("curl", "nghttp", "h2load") if shutil.which(tool) is None]
    try:
        import h2  # noqa: F401
    except ImportError:
        missing.append("python3-h2 (for /usr/bin/python3)")
    if missing:
        print("FAIL  http2: missing %s (tools/install-deps.sh build)" % ", ".join(missing))
        return 1
    started = time.monotonic()
    results = []
    with tempfile.NamedTemporaryFile(prefix="final_http2_test.", suffix=".log") as log, \
            ServerProcess(demo_app, "--http2", stderr=log) as server:
        base = "http://127.0.0.1:%d" % server.port
        for name, check in CLEARTEXT_CHECKS:
            results.append(run_check(name, check, base))
        for name, check in H2_CHECKS:
            results.append(run_check(name, check, Running(server.port, log)))
    results.append(run_check("a graceful stop lets the streams in flight finish", a_graceful_stop_lets_streams_finish,
                             demo_app))
    results.append(run_check("frames on streams opened after the GOAWAY are ignored",
                             frames_that_crossed_the_goaway_are_ignored, demo_app))
    results.append(run_check("xheaders: a proxy's address for its own stream only", xheaders_apply_to_their_own_stream,
                             demo_app))
    results.append(run_check("cached files of 2 KB to 2 MB arrive whole on many streams",
                             cached_files_arrive_whole_on_many_streams, demo_app))
    folder = tempfile.mkdtemp(prefix="final_http2_test.")
    try:
        certs = Certificates(folder)
        with ServerProcess(demo_app, "--http2", "--certfile=" + certs.cert, "--keyfile=" + certs.key,
                           stderr=subprocess.DEVNULL) as server:
            results.append(run_check("over TLS: ALPN gives h2, or http/1.1 to who offers only it", tls_alpn,
                                     "https://127.0.0.1:%d" % server.port))
    finally:
        shutil.rmtree(folder)
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
