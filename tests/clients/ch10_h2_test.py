#!/usr/bin/env python3
"""Black-box tests of build/bin/ch10_h2_server with HTTP/2 clients we did not write.

    /usr/bin/python3 ch10_h2_test.py --server build/bin/ch10_h2_server [--group GROUP]

(every group when none is named: on the demo built on your exercise,
--server build/bin/ch10_h2_server_exercise, from make run EXERCISE=1).

Groups (each one a CTest test, ch10.client.GROUP):

  curl    curl --http2-prior-knowledge: a GET, a POST with a body, the
          request's headers back; and the same GET over HTTP/1.1 on the
          demo's second port (one Application, two protocols)
  nghttp  nghttp -nv: the frames both ways (SETTINGS, HEADERS, DATA, the
          ACKs), and with -a the page and all its images on one connection
  h2load  h2load -n 2000 -c 4 -m 10: all succeeded, none failed or errored
  frames  raw frames from Debian's python3-h2 (its frame classes and its
          hpack), each with the RFC's answer checked: wrong frames in each
          stream state (the GOAWAY's or the RST_STREAM's code), a window
          held at zero on one stream while another completes, a
          rapid-reset burst ending in GOAWAY ENHANCE_YOUR_CALM, a
          CONTINUATION flood cut, and a clean stop on SIGTERM that
          answers a stream in flight

Needs Debian's /usr/bin/python3 with python3-h2, curl and nghttp2-client
(tools/install-deps.sh build). The server is started with --port=0
--http1-port=0 and stopped by its PID; every wait has a timeout.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

try:
    import hpack
    from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                                  RstStreamFrame, SettingsFrame, WindowUpdateFrame)
except ImportError:
    print("ch10_h2_test.py: needs python3-h2 (Debian), run by /usr/bin/python3")
    sys.exit(1)

TIMEOUT = 10.0
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
          "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
          "CONNECT_ERROR", "ENHANCE_YOUR_CALM"]


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else "0x%x" % code


# ch10_h2_server prints this line before its ready line ("Listening on ...").
HTTP1_READY = re.compile(rb"HTTP/1.1 on http://[0-9.]+:([0-9]+)/")


class DemoServer(ServerProcess):
    """ch10_h2_server on two ephemeral ports: h2c (.port) and HTTP/1.1 (.http1_port)."""

    def __init__(self, program):
        # The server's log goes to a file, never a pipe nobody reads: a
        # server that logs much (each refused attack is a line) must not
        # block on a full pipe.
        self.log = tempfile.TemporaryFile()
        super().__init__(program, "--http1-port=0", ready_timeout=TIMEOUT, stderr=self.log)

    def __enter__(self):
        super().__enter__()
        http1 = HTTP1_READY.search(self.output)
        if not http1:
            self.stop()
            raise RuntimeError("the server did not print its HTTP/1.1 address: %r" % self.output)
        self.http1_port = int(http1.group(1))
        return self

    def stop(self, grace=8.0):
        """As ServerProcess's, with more grace: SIGTERM lets streams finish (5 s)."""
        code = super().stop(grace)
        self.log.close()
        return code

    def url(self, path="/", http1=False):
        return "http://127.0.0.1:%d%s" % (self.http1_port if http1 else self.port, path)


def run(command, timeout=60):
    result = subprocess.run(command, capture_output=True, timeout=timeout)
    return result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")


# --- curl ----------------------------------------------------------------------------------

def curl(server, *args):
    return run(["curl", "-sS", "--max-time", "10", *args])


def check_curl_get(server):
    code, out, err = curl(server, "--http2-prior-knowledge", "-D", "-", server.url("/headers"))
    expect_equal(code, 0, "curl's exit status (%s)" % err.strip())
    expect(out.startswith("HTTP/2 200"), "an HTTP/2 200, got %r" % out[:40])
    expect("GET /headers HTTP/2.0" in out, "the application saw HTTP/2.0: %r" % out)
    expect("host: 127.0.0.1:%d" % server.port in out, "Host from :authority: %r" % out)
    expect(re.search(r"^content-length: \d+", out, re.M), "a lower-case content-length: %r" % out)


def check_curl_post(server):
    body = "x" * 100000 + "end"  # more than one window: the server must give it back
    code, out, err = curl(server, "--http2-prior-knowledge", "--data-binary", body,
                          server.url("/echo"))
    expect_equal(code, 0, "curl's exit status (%s)" % err.strip())
    expect_equal(len(out), len(body), "the echoed body's length")
    expect(out == body, "the body comes back unchanged")


def check_curl_page_and_http1(server):
    code, out, err = curl(server, "--http2-prior-knowledge", server.url("/"))
    expect_equal(code, 0, "curl's exit status (%s)" % err.strip())
    expect_equal(out.count("<img "), 60, "images on the page")
    code, out, err = curl(server, "--http1.1", "-D", "-", server.url("/img/7.svg", http1=True))
    expect_equal(code, 0, "curl over HTTP/1.1 (%s)" % err.strip())
    expect(out.startswith("HTTP/1.1 200"), "the same application over HTTP/1.1: %r" % out[:40])
    expect("<svg" in out, "an SVG picture")


def check_curl_bad_arguments(server):
    """A number in the URL that is not one the demo serves is a 4xx, over
    either protocol, never a 500 (the handler's exception) or a crash."""
    for path, status in [("/img/99999999999999999999.svg", 404), ("/img/0.svg", 404),
                         ("/slow?ms=abc", 400), ("/slow?ms=-1", 400), ("/slow?ms=10001", 400)]:
        for http1 in (False, True):
            protocol = "--http1.1" if http1 else "--http2-prior-knowledge"
            code, out, err = curl(server, protocol, "-o", "/dev/null", "-w", "%{http_code}",
                                  server.url(path, http1=http1))
            expect_equal(code, 0, "curl's exit status (%s)" % err.strip())
            expect_equal(out, str(status), "the status of %s over %s" % (path, protocol))


# --- nghttp ----------------------------------------------------------------------------------

def check_nghttp_frames(server):
    code, out, err = run(["nghttp", "-nv", "-t", "10", server.url("/")])
    expect_equal(code, 0, "nghttp's exit status (%s)" % err.strip()[-200:])
    for pattern in [r"recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>",
                    r"\[SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100\]",
                    r"recv SETTINGS frame <length=0, flags=0x01, stream_id=0>",
                    r"send HEADERS frame <length=\d+, flags=0x25, stream_id=13>",
                    r"recv \(stream_id=13\) :status: 200",
                    r"recv DATA frame <length=\d+, flags=0x01, stream_id=13>"]:
        expect(re.search(pattern, out), "nghttp -nv shows %s" % pattern)


def check_nghttp_all_images(server):
    code, out, err = run(["nghttp", "-nas", "-t", "20", server.url("/")])
    expect_equal(code, 0, "nghttp's exit status (%s)" % err.strip()[-200:])
    images = re.findall(r"\s200\s+\d+\s+/img/(\d+)\.svg", out)
    expect_equal(sorted(int(n) for n in images), list(range(1, 61)), "images fetched with -a")


# --- h2load ----------------------------------------------------------------------------------

def check_h2load(server):
    code, out, err = run(["h2load", "-n", "2000", "-c", "4", "-m", "10", server.url("/img/1.svg")],
                         timeout=90)
    expect_equal(code, 0, "h2load's exit status (%s)" % err.strip()[-200:])
    match = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    expect(match, "h2load's summary line: %r" % out[-400:])
    total, started, done, succeeded, failed, errored, timeout = map(int, match.groups())
    expect_equal(succeeded, 2000, "requests succeeded")
    expect_equal((failed, errored, timeout), (0, 0, 0), "failed, errored, timed out")
    expect(re.search(r"status codes: 2000 2xx", out), "2000 2xx: %r" % out[-400:])


# --- raw frames with python3-h2's hyperframe and hpack -------------------------------------------------

class RawConnection:
    """A client that sends frames as given and reads frames back."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.buffer = b""
        self.frames = []  # every frame read, in order
        hello = SettingsFrame(0)
        for key, value in (settings or {}).items():
            hello.settings[key] = value
        self.send(PREFACE + hello.serialize())
        self.read_until(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
        self.send(SettingsFrame(0, flags=["ACK"]).serialize())

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def headers(self, stream_id, path, method="GET", end_stream=True, extra=()):
        fields = [(":method", method), (":scheme", "http"), (":authority", "127.0.0.1"),
                  (":path", path), *extra]
        frame = HeadersFrame(stream_id, self.encoder.encode(fields),
                             flags=["END_HEADERS"] + (["END_STREAM"] if end_stream else []))
        return frame.serialize()

    def read_frame(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    if isinstance(frame, (HeadersFrame, ContinuationFrame)):
                        frame.fields = self.decoder.decode(frame.data) if "END_HEADERS" in frame.flags else []
                    self.frames.append(frame)
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("no frame within %.1f s" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk

    def read_until(self, wanted, timeout=TIMEOUT, what="the frame"):
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self.read_frame(max(0.01, deadline - time.monotonic()))
            except CheckFailed:
                raise CheckFailed("no %s within %.1f s" % (what, timeout))
            except EOFError:
                raise CheckFailed("the connection closed before %s" % what)
            if wanted(frame):
                return frame

    def goaway_code(self):
        frame = self.read_until(lambda f: isinstance(f, GoAwayFrame), what="GOAWAY")
        return frame

    def rst_code(self, stream_id):
        frame = self.read_until(lambda f: (isinstance(f, RstStreamFrame) and f.stream_id == stream_id)
                                or isinstance(f, GoAwayFrame), what="RST_STREAM %d" % stream_id)
        if isinstance(frame, GoAwayFrame):
            raise CheckFailed("GOAWAY %s instead of RST_STREAM on stream %d"
                              % (error_name(frame.error_code), stream_id))
        return frame.error_code

    def response(self, stream_id):
        status, body = None, b""
        while True:
            frame = self.read_until(lambda f: f.stream_id == stream_id or isinstance(f, GoAwayFrame),
                                    what="stream %d's response" % stream_id)
            if isinstance(frame, (GoAwayFrame, RstStreamFrame)):
                raise CheckFailed("stream %d ended by %s" % (stream_id, type(frame).__name__))
            if isinstance(frame, HeadersFrame):
                status = int(dict(frame.fields)[":status"])
            if isinstance(frame, DataFrame):
                body += frame.data
            if "END_STREAM" in frame.flags:
                return status, body

    def closed_by_server(self, timeout=5.0):
        try:
            while True:
                self.read_frame(timeout)
        except (EOFError, ConnectionResetError):
            # A reset is a close too: the server closed with our unread
            # frames still in its socket's buffer.
            return True
        except (CheckFailed, OSError):
            return False


def expect_goaway(conn, code, what):
    frame = conn.goaway_code()
    expect_equal(error_name(frame.error_code), error_name(code), what + ": GOAWAY")
    expect(conn.closed_by_server(), what + ": the connection closes after GOAWAY")


def fresh(server, settings=None):
    return RawConnection(server.port, settings)


def check_idle_stream_frames(server):
    """idle: anything but HEADERS/PRIORITY is a connection error PROTOCOL_ERROR."""
    for frame in [DataFrame(1, b"x"), RstStreamFrame(3, error_code=8), WindowUpdateFrame(5, window_increment=1)]:
        conn = fresh(server)
        conn.send(frame.serialize())
        expect_goaway(conn, 1, "%s on an idle stream" % type(frame).__name__)
        conn.close()


def check_half_closed_remote_frames(server):
    """half-closed (remote): DATA or HEADERS is a stream error STREAM_CLOSED."""
    conn = fresh(server)
    conn.send(conn.headers(1, "/slow?ms=500"))
    conn.send(DataFrame(1, b"late").serialize())
    expect_equal(error_name(conn.rst_code(1)), "STREAM_CLOSED", "DATA on half-closed (remote)")
    conn.send(conn.headers(3, "/slow?ms=500"))
    conn.send(conn.headers(3, "/", end_stream=True))
    expect_equal(error_name(conn.rst_code(3)), "STREAM_CLOSED", "HEADERS on half-closed (remote)")
    conn.send(conn.headers(5, "/img/1.svg"))
    status, _ = conn.response(5)
    expect_equal(status, 200, "the connection goes on")
    conn.close()


def check_closed_stream_frames(server):
    """closed (both ends ended): DATA is a connection error STREAM_CLOSED."""
    conn = fresh(server)
    conn.send(conn.headers(1, "/img/1.svg"))
    conn.response(1)
    conn.send(DataFrame(1, b"after the end").serialize())
    expect_goaway(conn, 5, "DATA on a closed stream")
    conn.close()


def check_open_stream_frames(server):
    """open: HEADERS again without END_STREAM is a stream error PROTOCOL_ERROR; stream ids."""
    conn = fresh(server)
    conn.send(conn.headers(1, "/echo", method="POST", end_stream=False))
    conn.send(HeadersFrame(1, conn.encoder.encode([("x-more", "1")]), flags=["END_HEADERS"]).serialize())
    expect_equal(error_name(conn.rst_code(1)), "PROTOCOL_ERROR", "HEADERS again on an open stream")
    conn.close()
    conn = fresh(server)
    conn.send(conn.headers(2, "/"))
    expect_goaway(conn, 1, "an even stream id")
    conn.close()
    conn = fresh(server)
    conn.send(conn.headers(7, "/"))
    conn.response(7)
    conn.send(conn.headers(5, "/"))
    expect_goaway(conn, 1, "a stream id lower than the last")
    conn.close()


def check_zero_window_stream(server):
    """A stream held at a zero window does not hold another that completes."""
    conn = fresh(server, {SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    conn.send(conn.headers(1, "/"))       # the page, held: its window is 0
    conn.send(conn.headers(3, "/img/2.svg"))
    conn.send(WindowUpdateFrame(3, window_increment=100000).serialize())
    status, body = conn.response(3)
    expect_equal(status, 200, "stream 3")
    expect(body.startswith(b"<svg"), "stream 3's picture, whole")
    held = sum(len(f.data) for f in conn.frames if isinstance(f, DataFrame) and f.stream_id == 1)
    expect_equal(held, 0, "DATA sent on the stream whose window is 0")
    conn.send(WindowUpdateFrame(1, window_increment=100000).serialize())
    status, body = conn.response(1)
    expect(b"<img" in body, "stream 1 completes once its window opens")
    conn.close()


def check_rapid_reset(server):
    """Streams opened and reset at once, in a burst: GOAWAY ENHANCE_YOUR_CALM."""
    conn = fresh(server)
    burst = b""
    for stream_id in range(1, 2 * 1000, 2):
        burst += conn.headers(stream_id, "/slow?ms=1000")
        burst += RstStreamFrame(stream_id, error_code=8).serialize()
    try:
        conn.send(burst)
    except OSError:
        pass  # the server may close while we still send
    expect_goaway(conn, 11, "a rapid-reset burst")
    conn.close()


def check_continuation_flood(server):
    """A header block that never ends: cut with GOAWAY ENHANCE_YOUR_CALM."""
    conn = fresh(server)
    block = conn.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/")])
    data = HeadersFrame(1, block).serialize()  # no END_HEADERS
    filler = ContinuationFrame(1, b"x-filler")  # never the END_HEADERS
    for _ in range(5000):
        data += filler.serialize()
    try:
        conn.send(data)
    except OSError:
        pass
    expect_goaway(conn, 11, "a CONTINUATION flood")
    conn.close()


def check_sigterm_finishes_streams(server):
    """SIGTERM: GOAWAY NO_ERROR with the last stream, which is still answered."""
    conn = fresh(server)
    conn.send(conn.headers(1, "/slow?ms=500"))
    time.sleep(0.1)
    server.process.send_signal(signal.SIGTERM)
    goaway = conn.goaway_code()
    expect_equal(error_name(goaway.error_code), "NO_ERROR", "GOAWAY on SIGTERM")
    expect_equal(goaway.last_stream_id, 1, "the GOAWAY's last stream")
    status, body = conn.response(1)
    expect_equal(body, b"slept 500 ms\n", "the stream in flight is answered")
    expect(conn.closed_by_server(), "then the connection closes")
    expect_equal(server.process.wait(timeout=10), 0, "the server's exit status")
    conn.close()


GROUPS = {
    "curl": [check_curl_get, check_curl_post, check_curl_page_and_http1, check_curl_bad_arguments],
    "nghttp": [check_nghttp_frames, check_nghttp_all_images],
    "h2load": [check_h2load],
    "frames": [check_idle_stream_frames, check_open_stream_frames, check_half_closed_remote_frames,
               check_closed_stream_frames, check_zero_window_stream, check_rapid_reset,
               check_continuation_flood, check_sigterm_finishes_streams],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--group", choices=sorted(GROUPS), help="one group (default: every one)")
    args = parser.parse_args()
    results = []
    for group in [args.group] if args.group else GROUPS:
        with DemoServer(args.server) as server:
            for check in GROUPS[group]:
                results.append(run_check(check.__name__, check, server))
    failed = results.count("FAIL")
    print("%d passed, %d failed" % (results.count("PASS"), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
