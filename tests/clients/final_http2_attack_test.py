#!/usr/bin/env python3
"""HTTP/2 (final/http2) under attack: raw frames against demo_app --http2, each with a bound.

    /usr/bin/python3 final_http2_attack_test.py --bin build/bin

The demo app runs with --http2 on 127.0.0.1, and each check sends it
frames packed by hand (HPACK by Python's hpack, which python3-h2 brings):

  - the published attacks: rapid reset (CVE-2023-44487), a CONTINUATION
    flood (CVE-2024-28182 in libnghttp2, and its kin elsewhere), an HPACK
    bomb, SETTINGS and PING floods (CVE-2019-9515, -9512: the client
    reading the ACKs, and not), a SETTINGS frame of too many entries, an
    empty-DATA flood (CVE-2019-9518), a zero-window slowloris over many
    connections (CVE-2019-9517's kin), stream ids that are even, 0, go
    backwards, reuse a closed stream or are spent to the last one (and,
    beside them, a reset stream's late trailers, which are no error).
    Each must get the RFC's answer (a GOAWAY or RST_STREAM with its code, or
    the connection closed) while the server's memory (VmRSS) and CPU
    time (utime+stime, from /proc/PID) stay within a bound, and while
    another client, started during the attack (an HTTP/1.1 request and
    an HTTP/2 one, each on a connection of its own), is answered in time;
  - the message rules of RFC 9113 section 8: connection-specific fields,
    `te` other than trailers, upper-case and otherwise invalid field
    names and values, the pseudo-header rules, an empty :path, a
    content-length that disagrees with the DATA. Each must get a stream
    error (RST_STREAM PROTOCOL_ERROR) or a connection error, never a 2xx;
    and, as controls, the valid forms of the same requests get 200.

The bounds are generous on purpose: CI runs six such tests at once on a
loaded 2-core machine, so no check may hinge on a timing that such a
machine could miss. What each bound is and why is said where it is set.

Needs Debian's /usr/bin/python3 with python3-h2 (tools/install-deps.sh
build). Prints a line per check and a summary; exits 1 if any failed.
"""
import argparse
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

# --- bounds, and why ---------------------------------------------------------------------
#
# The other client: an HTTP/1.1 GET and an HTTP/2 GET of /, each on a new
# connection, started while the attack runs. Unloaded they take a few
# milliseconds; 5 s is what a loop starved by the attack would miss, and
# what a loaded CI machine will not.
OTHER_CLIENT_WITHIN = 5.0
# Growth of the server's VmRSS over its value before the attack, at its
# peak during the attack. Each attack sends a bounded volume (a few MB); a
# server that keeps what a flood sends, or a response per reset stream,
# grows by far more. 50 MB leaves room for the allocator's own slack.
RSS_GROWTH_MB = 50
# How long the server may take to answer an attack (its GOAWAY, RST_STREAM
# or close) once the attack's frames are sent: what it does at once
# unloaded, with a loaded machine's margin.
ANSWER_WITHIN = 5.0
# The server's CPU time (utime+stime) over the whole check. Each attack's
# volume is bounded (at most 40 to 200 connections, a few MB each), and
# each costs at most 0.15 s unloaded. CPU time, unlike wall time, hardly
# grows on a loaded machine: 3 s is a 20-fold margin, and is what the HPACK
# bomb cost before the server stopped decoding past its limit (7.5 s).
CPU_SECONDS = 3
# Under AddressSanitizer (make check-asan runs this on its build) freed
# memory waits in a quarantine of up to 256 MB, so RSS says nothing of
# leaks (LeakSanitizer, at the server's exit, does), and CPU costs about
# three times as much: the RSS bound is left out and the CPU bound is five
# times as wide. Set by main() from the binary.
SANITIZED = False
# Socket timeouts: a call that blocks this long is a hang.
TIMEOUT = 10.0

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
          "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
          "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
SETTINGS_INITIAL_WINDOW_SIZE = 0x4


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else "0x%x" % code


def frame(kind, flags, stream, payload=b""):
    """One frame: RFC 9113 section 4.1's 9-byte header, then the payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings_frame(*entries):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", key, value) for key, value in entries))


def literal(name, value):
    """An HPACK literal field without indexing, new name, no Huffman
    (RFC 7541 section 6.2.2); lengths under 127 only."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


# GET / by the static table alone (RFC 7541 appendix A): no dynamic table,
# so one block serves any number of streams on any connection.
GET_ROOT = b"\x82\x86\x84" + b"\x01\x09127.0.0.1"  # :method GET, :scheme http, :path /, :authority


# --- a raw HTTP/2 client connection ----------------------------------------------------------

class Connection:
    """A client connection that sends bytes as given and reads frames back,
    decoding the server's header blocks (in order, for HPACK's table)."""

    def __init__(self, port, settings=(), ack_settings=True):
        import hpack
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.decoder = hpack.Decoder(max_header_list_size=1 << 30)
        self.encoder = hpack.Encoder()
        self.buffer = b""
        self.closed = False  # the server closed it (EOF or reset)
        self.goaway = None  # (last stream id, error code) of its GOAWAY
        self.resets = {}  # stream -> RST_STREAM error code
        self.statuses = {}  # stream -> :status (the last)
        self.responses = {}  # stream -> responses (HEADERS with a :status)
        self.ended = set()  # streams the server ended
        self.counts = {}  # frame type -> frames received
        self.received = 0  # bytes
        self.data_bytes = 0  # DATA payload bytes
        self.stalled = False  # a send blocked: the server stopped reading
        # The server's SETTINGS is acknowledged at once, without waiting
        # for it (it comes first on the connection, before any answer).
        self.send(PREFACE + settings_frame(*settings) + (frame(SETTINGS, ACK, 0) if ack_settings else b""))

    def send(self, data, timeout=TIMEOUT):
        """Sends all of `data`; False if the server closed the connection
        (or stopped reading for `timeout` seconds: self.stalled)."""
        if self.closed:
            return False
        self.socket.settimeout(timeout)
        try:
            self.socket.sendall(data)
            return True
        except socket.timeout:
            self.stalled = True
            return False
        except OSError:  # EPIPE, ECONNRESET: the server closed it
            self.closed = True
            return False

    def request(self, stream, block=GET_ROOT, end_stream=True):
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)

    def encode(self, fields):
        return self.encoder.encode(fields, huffman=False)

    def read(self, timeout=0.0):
        """Reads what has come within `timeout` seconds (at least one
        recv's worth if any) and handles its frames."""
        if self.closed:
            return
        ready, _, _ = select.select([self.socket], [], [], timeout)
        if not ready:
            return
        try:
            self.socket.settimeout(TIMEOUT)
            data = self.socket.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        self.received += len(data)
        self.buffer += data
        self._parse()

    def _parse(self):
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind, flags = self.buffer[3], self.buffer[4]
            stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
            payload = self.buffer[9:9 + length]
            self.buffer = self.buffer[9 + length:]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind == DATA:
                self.data_bytes += length
            if kind == HEADERS:
                # The server pads nothing and sends no priority, and its
                # blocks are small: one frame each.
                fields = dict(self.decoder.decode(payload, raw=True))
                if b":status" in fields:
                    self.statuses[stream] = int(fields[b":status"])
                    self.responses[stream] = self.responses.get(stream, 0) + 1
            elif kind == RST_STREAM:
                self.resets[stream] = int.from_bytes(payload[:4], "big")
            elif kind == GOAWAY:
                self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                               int.from_bytes(payload[4:8], "big"))
            if kind in (HEADERS, DATA) and flags & END_STREAM:
                self.ended.add(stream)

    def read_until(self, done, timeout=ANSWER_WITHIN):
        """Reads until done() holds or the connection closes; whether done() holds."""
        deadline = time.monotonic() + timeout
        while not done() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.read(min(left, 0.5))
        return done()

    def answered(self, stream):
        """The server's answer to `stream`, in words: a status, a reset, a GOAWAY, a close."""
        parts = []
        if stream in self.statuses:
            parts.append("%d" % self.statuses[stream])
        if stream in self.resets:
            parts.append("RST_STREAM %s" % error_name(self.resets[stream]))
        if self.goaway is not None:
            parts.append("GOAWAY %s (last stream %d)" % (error_name(self.goaway[1]), self.goaway[0]))
        if self.closed:
            parts.append("closed")
        return ", ".join(parts) or "nothing"

    def close(self):
        self.socket.close()


# --- what the attacks are measured by --------------------------------------------------------

class Usage:
    """The server's memory and CPU time, from /proc/PID."""

    def __init__(self, pid):
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def rss_mb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        raise CheckFailed("no VmRSS for the server: is it still running?")

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime, stime (fields 14 and 15)


def http11_get(port):
    """GET / over HTTP/1.1 on a new connection: its status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def h2_get(port):
    """GET / over HTTP/2 on a new connection: its status."""
    connection = Connection(port)
    try:
        connection.send(connection.request(1))
        connection.read_until(lambda: 1 in connection.ended, timeout=TIMEOUT)
        return connection.statuses.get(1)
    finally:
        connection.close()


class OtherClient(threading.Thread):
    """Once the attack has started, an HTTP/1.1 GET and an HTTP/2 GET, each
    timed; then it tells the attack it may stop."""

    def __init__(self, port, attack_started, attack_may_stop):
        super().__init__(daemon=True)
        self.port, self.started, self.may_stop = port, attack_started, attack_may_stop
        self.results = []  # (what, seconds, answer or error)

    def run(self):
        try:
            if not self.started.wait(TIMEOUT):
                self.results.append(("the attack", 0.0, "never started"))
                return
            for what, get, good in (("HTTP/1.1", http11_get, "HTTP/1.1 200 OK"), ("HTTP/2", h2_get, 200)):
                began = time.monotonic()
                try:
                    answer = get(self.port)
                except OSError as error:
                    answer = "%s: %s" % (type(error).__name__, error)
                self.results.append((what, time.monotonic() - began, answer if answer != good else None))
        finally:
            self.may_stop.set()


def under_attack(server, attack):
    """Runs attack(port, started, may_stop) -> note, while OtherClient
    fetches / and a sampler records the server's peak VmRSS. Fails if the
    server's RSS grew past RSS_GROWTH_MB, its CPU time past CPU_SECONDS,
    or the other client was not answered within OTHER_CLIENT_WITHIN."""
    usage = Usage(server.pid)
    rss_before, cpu_before = usage.rss_mb(), usage.cpu_seconds()
    peak = [rss_before]
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.02):
            try:
                peak[0] = max(peak[0], usage.rss_mb())
            except (OSError, CheckFailed):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, may_stop = threading.Event(), threading.Event()
    other = OtherClient(server.port, started, may_stop)
    other.start()
    try:
        note = attack(server.port, started, may_stop)
    finally:
        started.set()
        other.join(2 * TIMEOUT + 5)
        sampling.set()
        sampler.join()
    expect(server.process.poll() is None, "the server exited (%s)" % server.process.returncode)
    peak[0] = max(peak[0], usage.rss_mb())
    grown, cpu = peak[0] - rss_before, usage.cpu_seconds() - cpu_before
    if not SANITIZED:
        expect(grown < RSS_GROWTH_MB, "the server's RSS grew by %.1f MB (bound %d MB)" % (grown, RSS_GROWTH_MB))
    cpu_bound = CPU_SECONDS * (5 if SANITIZED else 1)
    expect(cpu < cpu_bound, "the server used %.2f s of CPU (bound %.1f s)" % (cpu, cpu_bound))
    expect(not other.is_alive(), "the other client got no answer at all")
    latencies = []
    for what, seconds, failure in other.results:
        expect(failure is None, "the other client's %s GET / during the attack: %s" % (what, failure))
        expect(seconds < OTHER_CLIENT_WITHIN, "the other client's %s GET / took %.2f s during the attack "
               "(bound %.0f s)" % (what, seconds, OTHER_CLIENT_WITHIN))
        latencies.append("%s %.3f s" % (what, seconds))
    expect(len(latencies) == 2, "the other client: %r" % other.results)
    return "%s; RSS +%.1f MB, CPU %.2f s, other client: %s" % (note, grown, cpu, ", ".join(latencies))


def refused_at(connection, what, codes):
    """The connection ended: a GOAWAY with one of `codes`, or a close (one
    with the client's bytes unread is a reset, which may lose the GOAWAY)."""
    if connection.goaway is not None:
        expect(error_name(connection.goaway[1]) in codes, "%s: %s, not GOAWAY %s" % (
            what, connection.answered(0), " or ".join(codes)))
    else:
        expect(connection.closed, "%s: the server neither sent GOAWAY nor closed the connection" % what)


def closes_soon(connection, what, codes):
    """After the attack's last frame: the server's GOAWAY and close come
    within ANSWER_WITHIN, as the client reads at last."""
    connection.read_until(lambda: False)
    expect(connection.closed, "%s: the connection was still open %.0f s after the attack (%s)"
           % (what, ANSWER_WITHIN, connection.answered(0)))
    refused_at(connection, what, codes)


def summary(outcomes):
    """How the attack's connections ended, most common first: a connection
    the server closes with the client's bytes unread is reset (RST), and the
    client may lose the GOAWAY before it."""
    counts = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return "%d connections: %s" % (len(outcomes), "; ".join(
        "%s x%d" % (outcome, n) for outcome, n in sorted(counts.items(), key=lambda item: -item[1])))


def keep_going(started, may_stop, rounds, least):
    """Rounds of an attack (a connection each): at least `least`, then on
    while the other client runs, but at most `rounds` (the attack's volume,
    and so the CPU it may cost, bounded)."""
    for round in range(rounds):
        if round >= least and may_stop.is_set():
            return
        yield round
        started.set()


# --- the attacks -------------------------------------------------------------------------------

def rapid_reset(server):
    """CVE-2023-44487: HEADERS then RST_STREAM, 10,000 times on a connection,
    connection after connection. The server must cut each connection short
    (GOAWAY, or a close) rather than start 10,000 requests: the server takes
    1,000 resets at once, then 33 a second (libnghttp2's bound, which
    final/http2's session keeps), and the streams in the read that went
    past them. Counted in the server's access log: at most
    MAX_STARTED_PER_CONNECTION requests a connection."""
    pairs, batch = 10000, 250
    outcomes = []
    log_before = os.path.getsize(server.log_path)

    def attack(port, started, may_stop):
        for _ in keep_going(started, may_stop, rounds=40, least=20):
            connection = Connection(port)
            try:
                stream = 1
                for _ in range(pairs // batch):
                    burst = b"".join(connection.request(stream + 2 * i) +
                                     frame(RST_STREAM, 0, stream + 2 * i, struct.pack(">I", 8))  # CANCEL
                                     for i in range(batch))
                    stream += 2 * batch
                    if not connection.send(burst):
                        break
                    connection.read()
                    started.set()
                connection.read_until(lambda: connection.closed)
                # libnghttp2 said INTERNAL_ERROR, final/http2 says
                # ENHANCE_YOUR_CALM; the RFC names no code for it.
                refused_at(connection, "after %d resets" % (stream // 2), ["INTERNAL_ERROR", "ENHANCE_YOUR_CALM"])
                expect(connection.goaway is None or connection.goaway[0] < 2 * pairs - 1,
                       "the GOAWAY's last stream %s: every stream was taken" % (connection.goaway,))
                outcomes.append(connection.answered(0))
            finally:
                connection.close()
        time.sleep(0.2)  # the access log's last lines
        with open(server.log_path, "rb") as f:
            f.seek(log_before)
            requests = f.read().count(b" GET / (")
        expect(requests <= MAX_STARTED_PER_CONNECTION * len(outcomes),
               "the server started %d requests on %d connections, more than %d a connection"
               % (requests, len(outcomes), MAX_STARTED_PER_CONNECTION))
        return "%s; %d requests started a connection" % (summary(outcomes), requests // len(outcomes))

    # CPU: the requests started (about 1,800 a connection) run the demo
    # app's handler; measured 0.15 s for 20 connections.
    return under_attack(server, attack)


# Requests a rapid-reset connection may start: the 1,000 resets the server
# takes at once, then the rest of the read (64 KiB) that went past them, in
# which the GOAWAY is not sent yet (64 KiB of 36-byte HEADERS+RST_STREAM
# pairs: 1,820), and 33 a second for the 10 s a slow machine might take.
MAX_STARTED_PER_CONNECTION = 1000 + 1820 + 330


def continuation_flood(server):
    """HEADERS without END_HEADERS, then CONTINUATION frames without end
    (each a small field, or empty), for up to 3 MB: the server must end the
    connection (final/http2 allows 8 CONTINUATIONs, as libnghttp2 does) rather than keep the
    growing header block or read on."""
    piece = frame(CONTINUATION, 0, 1, literal(b"x-flood", b"a" * 60)) + frame(CONTINUATION, 0, 1)
    return flood(server, lambda: piece * 1000, bursts=35, reads=True,  # 2,000 frames, 88 KB a burst
                 what="CONTINUATION frames", opening=frame(HEADERS, END_STREAM, 1, GET_ROOT))


def hpack_bomb(server):
    """Header blocks of 16 KB that decode to 64 MB each: one field of 4,000
    bytes into HPACK's dynamic table (in the first block), then a one-byte
    reference to it, again and again; 200 such requests on one connection.
    Each must get 431 (the header-list limit, SETTINGS_MAX_HEADER_LIST_SIZE
    64 KiB), a reset or a GOAWAY, never 200; and the server must not hold
    what they decode to."""
    streams = 200
    big = b"\x40\x06x-bomb" + b"\x7f" + varint(4000 - 127) + b"a" * 4000  # indexed: 62 from then on
    decoded = [0]

    def attack(port, started, may_stop):
        connection = Connection(port)
        try:
            for i in range(streams):
                head = GET_ROOT + (big if i == 0 else b"")
                references = 16384 - len(head)  # the largest frame the client may send
                decoded[0] += references * (6 + 4000 + 32)  # RFC 9113 section 6.5.2's measure
                block = head + b"\xbe" * references  # index 62: x-bomb
                if not connection.send(frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, block)):
                    break
                connection.read()
                started.set()
            last = 2 * streams - 1
            connection.read_until(lambda: all(s in connection.ended or s in connection.resets
                                              for s in range(1, last + 1, 2)))
            answers = {}
            for stream in range(1, last + 1, 2):
                answer = connection.statuses.get(stream) or (
                    "RST_STREAM " + error_name(connection.resets[stream]) if stream in connection.resets else None)
                answers[answer] = answers.get(answer, 0) + 1
            expect(not any(isinstance(a, int) and a < 400 for a in answers),
                   "a bomb was answered: %r" % answers)
            expect(None not in answers or connection.goaway is not None or connection.closed,
                   "%d bombs had no answer, and the connection is open" % answers.get(None, 0))
            # A header list just past the limit, sent as it is (75 KB in
            # literals, no bomb), still gets the polite answer: 431.
            polite = Connection(port)
            try:
                fields = b"".join(b"\x00\x07x-big-%d" % i + b"\x7f" + varint(15000 - 127) + b"a" * 15000
                                  for i in range(5))
                polite.send(headers_in_frames(1, GET_ROOT + fields))
                polite.read_until(lambda: 1 in polite.ended or 1 in polite.resets)
                expect_equal(polite.statuses.get(1), 431, "a header list of 75 KB, past the limit of 64 KiB")
            finally:
                polite.close()
            return "%d requests, %.1f GB decoded in all: %s; 75 KB of headers sent as they are: 431" % (
                streams, decoded[0] / 1e9, ", ".join("%s x%d" % (a or connection.answered(0), n)
                                                     for a, n in answers.items()))
        finally:
            connection.close()

    # CPU: 3.2 million references to decode. Measured 0.1 s, since the
    # server stops looking at a block past twice the header-list limit;
    # when it handed every field to libnghttp2's checks, all 13 GB took 7.5 s. 3 s is a loaded
    # machine's margin over the first, and far below the second.
    return under_attack(server, attack)


def headers_in_frames(stream, block, flags=END_STREAM):
    """A header block too big for one frame: HEADERS, then CONTINUATION
    frames, 16 KB each (the frame size every peer takes)."""
    pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    out = b""
    for i, piece in enumerate(pieces):
        last = END_HEADERS if i == len(pieces) - 1 else 0
        out += frame(HEADERS, flags | last, stream, piece) if i == 0 else frame(CONTINUATION, last, stream, piece)
    return out


def varint(value):
    """HPACK's integer continuation bytes (RFC 7541 section 5.1), after a full prefix."""
    out = b""
    while value >= 128:
        out += bytes([value % 128 + 128])
        value //= 128
    return out + bytes([value])


def flood(server, make_burst, bursts, reads, what, opening=b""):
    """`bursts` bursts of small frames on a connection, after `opening` (the
    frame that opens the stream a flood rides on, if it needs one);
    `reads`: whether the client reads what the server answers meanwhile
    (its ACKs)."""
    outcomes = []

    def attack(port, started, may_stop):
        burst = make_burst()
        for _ in keep_going(started, may_stop, rounds=200, least=20):
            connection = Connection(port)
            try:
                sent = 0
                if not opening or connection.send(opening):
                    for _ in range(bursts):
                        if not connection.send(burst, timeout=ANSWER_WITHIN):
                            break
                        sent += 1
                        if reads:
                            connection.read()
                        started.set()
                stalled = connection.stalled
                closes_soon(connection, "after %d KB of %s%s" % (sent * len(burst) >> 10, what,
                                                                  " (the server stopped reading)" if stalled else ""),
                            ["ENHANCE_YOUR_CALM"])
                outcomes.append(connection.answered(0))
            finally:
                connection.close()
        return summary(outcomes)

    return under_attack(server, attack)


def settings_flood_unread(server):
    """SETTINGS frames without end, the client reading none of the ACKs: the
    ACKs the server queues are bounded (1,000, as libnghttp2 does), then GOAWAY
    ENHANCE_YOUR_CALM, or a close."""
    return flood(server, lambda: settings_frame((SETTINGS_INITIAL_WINDOW_SIZE, 65535)) * 4000, bursts=60,
                 reads=False, what="SETTINGS")


def ping_flood_unread(server):
    """PING frames without end, the client reading none of the ACKs."""
    return flood(server, lambda: frame(PING, 0, 0, b"attack!!") * 4000, bursts=60, reads=False,
                 what="PING")


def ping_flood_read(server):
    """PING frames without end, the client reading the ACKs: more than a
    read's worth at once is a flood too (1,000 ACKs queued)."""
    return flood(server, lambda: frame(PING, 0, 0, b"attack!!") * 4000, bursts=60, reads=True,
                 what="PING")


def too_many_settings(server):
    """One SETTINGS frame of 100 entries (the server takes 32, as libnghttp2 does): GOAWAY ENHANCE_YOUR_CALM."""

    def attack(port, started, may_stop):
        connection = Connection(port)
        try:
            started.set()
            connection.send(settings_frame(*[(SETTINGS_INITIAL_WINDOW_SIZE, 65535)] * 100))
            connection.read_until(lambda: connection.closed)
            expect(connection.goaway is not None and connection.goaway[1] == 11,
                   "100 SETTINGS entries: %s, not GOAWAY ENHANCE_YOUR_CALM" % connection.answered(0))
            return connection.answered(0)
        finally:
            connection.close()

    return under_attack(server, attack)


def empty_data_flood(server):
    """A POST whose body never comes: empty DATA frames without END_STREAM,
    up to 9 MB of them (a million frames) on a connection, the client
    reading. Each costs the server a frame's work and carries nothing (and
    libnghttp2 takes any number): the server must end the connection
    (GOAWAY ENHANCE_YOUR_CALM; it allows 100 in a row) rather than take
    them for as long as the client sends."""
    block = b"\x83\x86" + literal(b":path", b"/echo") + b"\x01\x09127.0.0.1"  # POST /echo
    return flood(server, lambda: frame(DATA, 0, 1) * 10000, bursts=100, reads=True,  # 90 KB a burst
                 what="empty DATA frames", opening=frame(HEADERS, END_HEADERS, 1, block))


def zero_window_slowloris(server):
    """20 connections, each with SETTINGS_INITIAL_WINDOW_SIZE 0 and 100
    streams (the server's SETTINGS_MAX_CONCURRENT_STREAMS) that ask for
    answers (a page, a static file, a streamed answer that flushes chunk by
    chunk), and never a WINDOW_UPDATE. The 2,000 streams held must cost
    bounded memory (no body byte is sent into a window of 0, and no handler
    queues more than a chunk), and others must be served. One more
    connection asks for 101: the 101st must be refused, by a stream error
    (REFUSED_STREAM or PROTOCOL_ERROR, RFC 9113 section 5.1.2) or a
    connection error (section 5.4.1 allows it)."""
    connections, streams = 20, 100
    paths = [b"/", b"/stream?chunks=100000", b"/static/hello.txt"]
    blocks = [b"\x82\x86" + literal(b":path", p) + b"\x01\x09127.0.0.1" for p in paths]

    def requests(connection, count):
        return b"".join(connection.request(2 * i + 1, blocks[i % 3]) for i in range(count))

    def attack(port, started, may_stop):
        held = []
        try:
            for _ in range(connections):
                connection = Connection(port, settings=[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
                held.append(connection)
                connection.send(requests(connection, streams))
            started.set()
            # Read the answers' heads (HEADERS are not flow controlled)
            # while the other client is served.
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                for connection in held:
                    connection.read()
                if may_stop.is_set() and all(len(c.statuses) >= streams for c in held):
                    break
                time.sleep(0.02)
            for connection in held:
                expect(not connection.closed and connection.goaway is None,
                       "a connection within the limits was ended: %s" % connection.answered(0))
            answered = sum(len(c.statuses) for c in held)
            expect_equal(answered, connections * streams, "streams answered (their heads)")
            # A window of 0 lets no body byte through (RFC 9113 section 6.9.2).
            expect_equal(sum(c.data_bytes for c in held), 0, "DATA bytes sent into windows of 0")
            extra = Connection(port, settings=[(SETTINGS_INITIAL_WINDOW_SIZE, 0)])
            held.append(extra)
            extra.send(requests(extra, streams + 1))
            last = 2 * streams + 1
            extra.read_until(lambda: last in extra.resets or last in extra.statuses or extra.goaway)
            expect(last not in extra.statuses, "the stream past the limit was answered %s" % extra.answered(last))
            expect(extra.resets.get(last) in (1, 7) or extra.goaway is not None and extra.goaway[1] == 1,
                   "the stream past the limit got %s" % extra.answered(last))
            return "%d streams held on %d connections, no DATA sent; the 101st stream on a connection: %s" % (
                answered, connections, extra.answered(last))
        finally:
            for connection in held:
                connection.close()

    # CPU: 2,100 requests started; RSS: 2,000 handlers waiting.
    return under_attack(server, attack)


def stream_ids(server):
    """Stream ids that RFC 9113 section 5.1.1 forbids, each on a connection
    of its own: an even one, 0, one lower than one used already (going
    backwards), a closed stream's again; and the last id, 2^31-1, which is
    served, after which none is left (a lower one is refused). Each must
    get GOAWAY PROTOCOL_ERROR (a closed stream's id may get STREAM_CLOSED,
    section 5.1), never an answer."""
    results = []

    def case(what, steps, expected_codes):
        connection = Connection(server.port)
        try:
            for stream in steps[:-1]:
                connection.send(connection.request(stream))
                connection.read_until(lambda: stream in connection.ended)
                expect_equal(connection.statuses.get(stream), 200, "%s: stream %d" % (what, stream))
            bad = steps[-1]
            before = connection.responses.get(bad, 0)
            connection.send(connection.request(bad))
            connection.read_until(lambda: connection.closed or connection.responses.get(bad, 0) > before
                                  or bad in connection.resets)
            expect(connection.responses.get(bad, 0) == before, "%s: stream %d was answered %s" % (
                what, bad, connection.statuses.get(bad)))
            expect(connection.goaway is not None and error_name(connection.goaway[1]) in expected_codes,
                   "%s: %s, not GOAWAY %s" % (what, connection.answered(bad), " or ".join(expected_codes)))
            results.append("%s: %s" % (what, connection.answered(0)))  # 0: the connection's answer alone
        finally:
            connection.close()

    def attack(port, started, may_stop):
        started.set()
        case("an even id", [2], ["PROTOCOL_ERROR"])
        case("id 0", [0], ["PROTOCOL_ERROR"])
        case("ids going backwards", [5, 3], ["PROTOCOL_ERROR"])
        case("a closed stream's id again", [1, 1], ["PROTOCOL_ERROR", "STREAM_CLOSED"])
        case("ids spent: 2^31-1, then 1", [0x7FFFFFFF, 1], ["PROTOCOL_ERROR"])
        return "; ".join(results)

    return under_attack(server, attack)


def trailers_after_a_reset(server):
    """The HEADERS below the highest stream id that RFC 9113 allows, beside
    one it does not, on one connection. Stream 1 opens with a malformed
    field and no END_STREAM (its body would follow): the server resets it.
    The client's trailers for it, sent before it read the RST_STREAM, must
    be ignored (section 5.1) and the connection serve on (stream 7 after
    them gets 200); then a HEADERS that would open stream 3, below 7, is a
    connection error (section 5.1.1): GOAWAY PROTOCOL_ERROR, stream 3
    unanswered."""

    def attack(port, started, may_stop):
        started.set()
        connection = Connection(port)
        try:
            connection.send(frame(HEADERS, END_HEADERS, 1, GET_ROOT + literal(b"X-Upper", b"1")))
            connection.read_until(lambda: 1 in connection.resets or connection.goaway)
            expect(error_name(connection.resets.get(1, 0)) == "PROTOCOL_ERROR",
                   "a malformed request with its body to come: %s, not RST_STREAM PROTOCOL_ERROR"
                   % connection.answered(1))
            connection.send(connection.request(5))
            connection.read_until(lambda: 5 in connection.ended or connection.goaway)
            expect_equal(connection.statuses.get(5), 200, "stream 5, after stream 1's reset")
            connection.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, literal(b"x-trailer", b"late")) +
                            connection.request(7))
            connection.read_until(lambda: 7 in connection.ended or connection.goaway)
            expect(connection.goaway is None, "trailers that crossed stream 1's RST_STREAM: %s"
                   % connection.answered(0))
            expect_equal(connection.statuses.get(7), 200, "stream 7, after stream 1's late trailers")
            connection.send(connection.request(3))
            connection.read_until(lambda: connection.closed or connection.goaway or 3 in connection.statuses)
            expect(3 not in connection.statuses, "stream 3 was answered %s" % connection.statuses.get(3))
            expect(connection.goaway is not None and error_name(connection.goaway[1]) == "PROTOCOL_ERROR",
                   "a HEADERS opening stream 3 after 7: %s, not GOAWAY PROTOCOL_ERROR" % connection.answered(3))
            return "stream 1's late trailers: ignored (then 200); stream 3 after 7: %s" % connection.answered(0)
        finally:
            connection.close()

    return under_attack(server, attack)


# --- RFC 9113 section 8's message rules ------------------------------------------------------

BASE = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "127.0.0.1")]
POST_ECHO = [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "127.0.0.1")]


def without(name):
    return [f for f in BASE if f[0] != name]


# (what, fields, body or None, good): the good requests are the controls,
# which must get 200; each other one is malformed (RFC 9113 sections 8.1.1,
# 8.2, 8.3 and 8.3.1) and must get a stream error or a connection error of
# type PROTOCOL_ERROR (after a 4xx, if the server likes), never a 2xx.
MESSAGE_RULES = [
    ("a valid GET (control)", BASE, None, True),
    ("te: trailers (control)", BASE + [("te", "trailers")], None, True),
    ("a POST whose content-length matches its DATA (control)", POST_ECHO + [("content-length", "5")], b"hello", True),
    ("connection: keep-alive", BASE + [("connection", "keep-alive")], None, False),
    ("keep-alive: timeout=5", BASE + [("keep-alive", "timeout=5")], None, False),
    ("transfer-encoding: chunked", POST_ECHO + [("transfer-encoding", "chunked")], b"5\r\nhello\r\n0\r\n\r\n", False),
    ("upgrade: websocket", BASE + [("upgrade", "websocket")], None, False),
    ("proxy-connection: keep-alive", BASE + [("proxy-connection", "keep-alive")], None, False),
    ("te: gzip", BASE + [("te", "gzip")], None, False),
    ("an upper-case field name", BASE + [("X-Upper", "1")], None, False),
    ("a field name with a space", BASE + [("x bad", "1")], None, False),
    ("a field value with CR LF", BASE + [("x-bad", "a\r\nx-injected: 1")], None, False),
    ("a field value with NUL", BASE + [("x-bad", "a\x00b")], None, False),
    ("a field value with a leading space", BASE + [("x-bad", " a")], None, False),
    ("no :method", without(":method"), None, False),
    ("no :path", without(":path"), None, False),
    ("no :scheme", without(":scheme"), None, False),
    ("two :path", BASE + [(":path", "/json")], None, False),
    ("two :method", BASE[:1] + [(":method", "POST")] + BASE[1:], None, False),
    ("a pseudo-header after a regular field", BASE[:3] + [("x-a", "1"), (":authority", "127.0.0.1")], None, False),
    ("an unknown pseudo-header", BASE + [(":bogus", "1")], None, False),
    ("a response pseudo-header in a request", BASE + [(":status", "200")], None, False),
    ("an empty :path", [(n, "" if n == ":path" else v) for n, v in BASE], None, False),
    ("content-length above its DATA", POST_ECHO + [("content-length", "10")], b"hello", False),
    ("content-length below its DATA", POST_ECHO + [("content-length", "3")], b"hello", False),
    ("content-length on a request without DATA", POST_ECHO + [("content-length", "5")], b"", False),
]


def message_rule(port, fields, body, good):
    connection = Connection(port)
    try:
        block = connection.encode([(n.encode(), v.encode()) for n, v in fields])
        out = frame(HEADERS, END_HEADERS | (END_STREAM if body is None else 0), 1, block)
        if body is not None:
            out += frame(DATA, END_STREAM, 1, body)
        connection.send(out)
        connection.read_until(lambda: 1 in connection.ended or 1 in connection.resets or connection.goaway)
        answer = connection.answered(1)
        status = connection.statuses.get(1)
        if good:
            expect(status == 200 and 1 not in connection.resets, "got %s, not 200" % answer)
        else:
            expect(status is None or status >= 400, "got %s: a malformed request was served" % answer)
            stream_error = connection.resets.get(1) == 1
            connection_error = connection.goaway is not None and connection.goaway[1] == 1
            expect(stream_error or connection_error, "got %s, not RST_STREAM or GOAWAY PROTOCOL_ERROR" % answer)
        return answer
    finally:
        connection.close()


def message_rules(server):
    return [(what, (lambda port, f=fields, b=body, g=good: message_rule(port, f, b, g)))
            for what, fields, body, good in MESSAGE_RULES]


# --- the runner -----------------------------------------------------------------------------

def stops_cleanly(server):
    """SIGTERM: exit status 0 within the demo app's grace (3 s) and a
    margin. A connection that outlived its place on the server's list made
    the server crash here (SIGSEGV) after a rapid reset."""
    server.process.send_signal(signal.SIGTERM)
    try:
        status = server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise CheckFailed("the server had not exited 10 s after SIGTERM")
    expect_equal(status, 0, "the server's exit status after SIGTERM")


ATTACKS = [
    ("rapid reset: HEADERS then RST_STREAM, 10,000 times a connection", rapid_reset),
    ("CONTINUATION flood", continuation_flood),
    ("HPACK bomb: 16 KB header blocks that decode to 64 MB each", hpack_bomb),
    ("SETTINGS flood, the ACKs unread", settings_flood_unread),
    ("a SETTINGS frame of 100 entries", too_many_settings),
    ("PING flood, the ACKs unread", ping_flood_unread),
    ("PING flood, the ACKs read", ping_flood_read),
    ("empty DATA flood", empty_data_flood),
    ("zero-window slowloris: 20 connections of 100 streams", zero_window_slowloris),
    ("stream ids: even, backwards, reused, 0, spent", stream_ids),
    ("stream ids below the last: trailers after a reset ignored, a new stream refused", trailers_after_a_reset),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the build's bin folder (demo_app)")
    parser.add_argument("--only", help="run the checks whose name holds this text")
    options = parser.parse_args()
    demo_app = os.path.join(options.bin, "demo_app")
    global SANITIZED
    with open(demo_app, "rb") as binary:
        SANITIZED = b"__asan_init" in binary.read()
    try:
        import hpack  # noqa: F401 (python3-h2 brings it)
    except ImportError:
        print("FAIL  http2_attacks: missing python3-h2 for /usr/bin/python3 (tools/install-deps.sh build)")
        return 1
    started = time.monotonic()
    results = []
    with tempfile.NamedTemporaryFile(prefix="final_http2_attack_test.", suffix=".log") as log, \
            ServerProcess(demo_app, "--http2", stderr=log) as server:
        for name, check in ATTACKS:
            if options.only and options.only not in name:
                continue
            server.log_path = log.name
            results.append(run_check(name, check, server))
            if server.process.poll() is not None:
                log.flush()
                with open(log.name, errors="replace") as f:
                    print("the server exited (%s); its log ends:\n%s" % (server.process.returncode,
                                                                        f.read()[-2000:]))
                return 1
        for name, check in message_rules(server):
            name = "RFC 9113 section 8: " + name
            if options.only and options.only not in name:
                continue
            results.append(run_check(name, check, server.port))
        results.append(run_check("the server still answers after it all", lambda port: expect_equal(
            h2_get(port), 200, "GET / over HTTP/2"), server.port))
        results.append(run_check("then it stops cleanly on SIGTERM", stops_cleanly, server))
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
