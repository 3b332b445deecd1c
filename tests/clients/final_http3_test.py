#!/usr/bin/env python3
"""HTTP/3 (final/http3) against a client we did not write: ngtcp2's gtlsclient.

    python3 final_http3_test.py --server build/bin/final_http3_server [--hello build/bin/final_hello]

The test starts final_http3_server (tests/final/final_http3_server.cpp)
on 127.0.0.1 with a throwaway certificate, and checks it with gtlsclient
(Debian's ngtcp2-client), each check bounded in time:

  - a GET answered 200 "Hello, world", version HTTP/3.0;
  - POST bodies echoed whole (20 KB; 3 MB, past the stream's and the
    connection's first credit, so credit must be given back as the
    handler takes the bytes);
  - a 3 MB answer, also to a client that gives 64 KiB of credit a
    stream (the response waits for the client's credit);
  - 20 requests on one connection, and 10 such clients at once;
  - 250 requests on one connection, which may open 100 streams at once;
  - 20 and 100 requests on one connection, and 200 KB echoed, with 10%
    of the datagrams lost each way;
  - a handler that holds its body's pieces holds the client to the
    stream's credit (256 KiB), and gets the rest once it takes them;
  - a handler's trailers after the body;
  - a datagram of an unknown QUIC version answered with Version
    Negotiation (bytes of our own, on a socket of the test's);
  - junk datagrams dropped, and the server still answers;
  - a packet for an unknown connection answered by a stateless reset
    shorter than it, at most 100 a second;
  - a second connection resumes the first's TLS session (gtlsclient's
    --session-file; the ServerHello's pre_shared_key);
  - a client that moves to another port mid-request is answered there
    (--change-local-addr);
  - past --handshakes_before_retry, a Retry, which the client follows;
    below it none, for clients one after another;
  - 200 clients at once, each a connection: all answered, the server's
    memory at its peak under 50 MB more, its CPU under 3 s, and the next
    client answered within 5 s;
  - SIGTERM while a request is in progress: it is answered (GOAWAY
    first), and the server exits 0;
  - a client killed mid-request is forgotten after the idle timeout;
  - no connection is made past --max_connections;
  - with --burst-client (tests/final/http3_abuse_client.cpp's burst
    mode, the one measure here by a client of our own: no library client
    says when each answer's first byte came), after a warm-up answer, 8
    requests for 16 KiB and a ninth whose handler holds the loop for
    500 ms, sent in one packet: the first answers' bytes arrive before
    the ninth handler lets go;
  - with --hello, final_hello --http3 answers over HTTPS (curl, with
    Alt-Svc naming HTTP/3) and over HTTP/3 (gtlsclient) on one port
    number, from one application; and it starts on port 0 every time
    while UDP sockets hold a quarter of the kernel's ports.
  - and with a sink that says EAGAIN after every 3 datagrams
    (--refuse_every=3), large bodies both ways and 20 requests still
    come through: the server keeps what was refused and sends it when
    the socket has room.

Every process it starts is stopped by its PID. Exits 77 (CTest's SKIP)
without gtlsclient or openssl; prints a line per check and a summary;
exits 1 if any failed. Standard library only.
"""
import argparse
import errno
import os
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))
from certificate import make_certificate  # noqa: E402,F401  (final_http3_abuse_test takes it from here)
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402

CLIENT_TIMEOUT = 60  # seconds a gtlsclient run may take (with loss, a few)
START_TIMEOUT = 10


class Server:
    """final_http3_server on a free UDP port of 127.0.0.1; stopped by its PID."""

    def __init__(self, program, folder, *extra):
        self.log_path = os.path.join(folder, "server%s.log" % "".join(extra).replace("-", "").replace("=", ""))
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [program, *extra, "--port=0", "--address=127.0.0.1", "--certfile=" + os.path.join(folder, "cert.pem"),
             "--keyfile=" + os.path.join(folder, "key.pem")],
            stdout=subprocess.PIPE, stderr=self.log)
        self.port = self._read_port()

    def _read_port(self):
        line = self.read_line(START_TIMEOUT)
        if not line.endswith(b"\n"):
            exited = self.process.poll()
            self.stop()
            if exited is not None:
                raise CheckFailed("the server exited at start (%s)" % exited)
            raise CheckFailed("the server printed no 'Listening on' line in %d s" % START_TIMEOUT)
        # "Listening on https://127.0.0.1:PORT/ (HTTP/3)"
        return int(line.split(b"127.0.0.1:")[1].split(b"/")[0])

    def read_line(self, timeout):
        """The server's next line on stdout, or what came of it within
        `timeout` seconds or before it exited."""
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([self.process.stdout], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                return line
            byte = os.read(self.process.stdout.fileno(), 1)  # unbuffered: select() sees the rest
            if not byte:
                return line
            line += byte
        return line

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()


def gtlsclient(port, path, *options, folder, quiet=False, dumps=False):
    """Runs gtlsclient against the server; returns (its output, the folder
    it downloaded the bodies to). Its output has ngtcp2's log of each
    packet, the response's header fields ("[:status: 200]") and a hex dump
    of the body, unless `quiet` (for large bodies: the dump costs the
    client seconds); with `dumps`, also the TLS handshake's bytes."""
    download = tempfile.mkdtemp(dir=folder)
    dump = ["-q"] if quiet else [] if dumps else ["--no-quic-dump"]
    command = ["gtlsclient", *dump, "--download", download, "--exit-on-all-streams-close",
               *options, "127.0.0.1", str(port), "https://127.0.0.1:%d%s" % (port, path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = process.communicate(timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        raise CheckFailed("gtlsclient %s took over %d s" % (path, CLIENT_TIMEOUT))
    text = out.decode(errors="replace")
    expect(process.returncode == 0, "gtlsclient %s exited %d: %s" % (path, process.returncode, text[-300:]))
    return text, download


def body_of(download, name):
    with open(os.path.join(download, name), "rb") as f:
        return f.read()


# --- the checks ----------------------------------------------------------------------------

def hello(run):
    out, download = gtlsclient(run.port, "/", folder=run.folder)
    expect("[:status: 200]" in out, "GET / was not answered 200: %s" % out[-300:])
    expect_equal(body_of(download, "index.html"), b"Hello, world", "GET /'s body")
    out, download = gtlsclient(run.port, "/version", folder=run.folder)
    expect_equal(body_of(download, "version"), b"HTTP/3.0", "the request's version")


def echo(run, size):
    body = os.urandom(size)
    path = os.path.join(run.folder, "body.bin")
    with open(path, "wb") as f:
        f.write(body)
    out, download = gtlsclient(run.port, "/echo", "-m", "POST", "-d", path, folder=run.folder, quiet=size > 100000)
    expect(size > 100000 or "[:status: 200]" in out, "POST /echo was not answered 200: %s" % out[-300:])
    echoed = body_of(download, "echo")
    expect(echoed == body, "the echo differs: %d bytes sent, %d back" % (len(body), len(echoed)))


def echo_small(run):
    echo(run, 20 * 1000)


def echo_large(run):
    echo(run, 3 * 1000 * 1000)


def large_answer(run):
    """3 MB, then again to a client that gives 64 KiB of credit a stream
    and 128 KiB a connection: the answer waits for the client's credit
    (nghttp3_conn_block_stream, then unblock_stream)."""
    n = 3 * 1000 * 1000
    expected = bytes((ord("a") + i % 26) for i in range(26)) * (n // 26 + 1)
    for credit in ([], ["--max-stream-data-bidi-local=65536", "--max-data=131072"]):
        out, download = gtlsclient(run.port, "/big?n=%d" % n, *credit, folder=run.folder, quiet=True)
        got = body_of(download, "big?n=%d" % n)
        expect(got == expected[:n], "GET /big %s: %d bytes, not the %d expected" % (" ".join(credit), len(got), n))


def twenty_requests(run, *options):
    out, _ = gtlsclient(run.port, "/", "-n", "20", *options, folder=run.folder)
    expect_equal(out.count("[:status: 200]"), 20, "answers 200 of 20 requests on one connection")


def clients_at_once(run):
    """10 gtlsclients at once, 20 requests each, on connections of their
    own: 200 answers."""
    clients = []
    try:
        for _ in range(10):
            command = ["gtlsclient", "--no-quic-dump", "-n", "20", "--exit-on-all-streams-close", "127.0.0.1",
                       str(run.port), "https://127.0.0.1:%d/" % run.port]
            clients.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        answered = 0
        for client in clients:
            out, _ = client.communicate(timeout=CLIENT_TIMEOUT)
            answered += out.count(b"[:status: 200]")
    finally:
        for client in clients:
            if client.poll() is None:
                os.kill(client.pid, signal.SIGKILL)
                client.wait()
    expect_equal(answered, 200, "answers 200 of 10 clients' 20 requests each")


def more_streams_than_allowed_at_once(run):
    """250 requests on one connection, where 100 streams may be open at
    once: each stream that closes gives its slot back (MAX_STREAMS)."""
    out, _ = gtlsclient(run.port, "/", "-n", "250", folder=run.folder)
    expect_equal(out.count("[:status: 200]"), 250, "answers 200 of 250 requests on one connection")


def with_loss(run):
    twenty_requests(run, "-t", "0.1", "-r", "0.1")
    out, _ = gtlsclient(run.port, "/", "-n", "100", "-t", "0.1", "-r", "0.1", folder=run.folder)
    expect_equal(out.count("[:status: 200]"), 100, "answers 200 of 100 requests through 10% loss")
    for _ in range(3):
        body = os.urandom(200 * 1000)
        path = os.path.join(run.folder, "lossy.bin")
        with open(path, "wb") as f:
            f.write(body)
        _, download = gtlsclient(run.port, "/echo", "-m", "POST", "-d", path, "-t", "0.1", "-r", "0.1",
                                 folder=run.folder, quiet=True)
        expect(body_of(download, "echo") == body, "a 200 KB echo through 10% loss differs")


def credit_waits_for_the_handler(run):
    """POST 3 MB to /held, whose handler takes no piece after its first
    until GET /release: meanwhile the client may send no more than the
    stream's credit (256 KiB, final/http3's default), the bytes the
    handler was given stay under it, and other requests are answered.
    Once released, the whole body arrives."""
    body = os.urandom(3 * 1000 * 1000)
    path = os.path.join(run.folder, "held.bin")
    with open(path, "wb") as f:
        f.write(body)
    download = tempfile.mkdtemp(dir=run.folder)
    command = ["gtlsclient", "-q", "--download", download, "--exit-on-all-streams-close", "-m", "POST", "-d", path,
               "127.0.0.1", str(run.port), "https://127.0.0.1:%d/held" % run.port]
    poster = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        _, stats = gtlsclient(run.port, "/held_bytes", folder=run.folder)
        held = int(body_of(stats, "held_bytes").split()[0])
        expect(0 < held <= 256 * 1024, "the held handler was given %d bytes, past the stream's credit" % held)
        expect(poster.poll() is None, "the POST ended while its handler held its body")
        gtlsclient(run.port, "/release", folder=run.folder)
        try:
            poster.wait(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the POST did not end once released")
    finally:
        if poster.poll() is None:
            os.kill(poster.pid, signal.SIGKILL)
            poster.wait()
    expect_equal(body_of(download, "held"), str(len(body)).encode(), "the bytes the handler took in all")
    # What came while the handler held its first piece is its second: at
    # most the stream's credit, had the server not given any back early.
    _, stats = gtlsclient(run.port, "/held_bytes", folder=run.folder)
    largest = int(body_of(stats, "held_bytes").split()[1])
    expect(largest <= 256 * 1024, "a piece of %d bytes came while held: credit given back early" % largest)
    return "%d bytes taken while held; largest piece %d" % (held, largest)


def trailers(run):
    """set_trailer's fields come after the body, as HTTP/3 trailers."""
    out, download = gtlsclient(run.port, "/trailers", folder=run.folder)
    expect_equal(body_of(download, "trailers"), b"body", "GET /trailers' body")
    after = out.split("trailers started", 1)
    expect(len(after) == 2 and "[x-checksum: 1234]" in after[1], "no trailer x-checksum: %s" % out[-400:])


def version_negotiation(run):
    """A long-header packet of version 0x1a2a3a4a, padded to 1,200 bytes
    (RFC 9000 section 14.1): the answer is a Version Negotiation packet
    (version 0) that echoes our IDs swapped and offers QUIC v1."""
    dcid, scid = os.urandom(8), os.urandom(8)
    packet = bytes([0xC0]) + struct.pack("!I", 0x1A2A3A4A) + bytes([8]) + dcid + bytes([8]) + scid
    packet += b"\0" * (1200 - len(packet))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(packet, ("127.0.0.1", run.port))
        answer, _ = udp.recvfrom(2048)
    expect(answer[0] & 0x80, "the answer has no long header")
    expect_equal(struct.unpack("!I", answer[1:5])[0], 0, "the answer's version (Version Negotiation)")
    expect_equal(answer[6:14], scid, "the answer's destination ID (our source ID)")
    expect_equal(answer[15:23], dcid, "the answer's source ID (our destination ID)")
    versions = [struct.unpack("!I", answer[i:i + 4])[0] for i in range(23, len(answer), 4)]
    expect(1 in versions, "QUIC v1 is not among the versions offered: %r" % versions)


def junk_is_dropped(run):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"", ("127.0.0.1", run.port))  # an empty datagram (ngtcp2's parser asserts on one)
        for size in (1, 5, 40, 1200, 1500):
            for first in (0x00, 0x40, 0xC0, 0xFF):
                udp.sendto(bytes([first]) + os.urandom(max(size - 1, 0)), ("127.0.0.1", run.port))
        # An Initial packet of QUIC v1 whose protection is garbage.
        udp.sendto(bytes([0xC0, 0, 0, 0, 1, 8]) + os.urandom(8) + bytes([8]) + os.urandom(1200),
                   ("127.0.0.1", run.port))
    time.sleep(0.2)
    expect(run.server.alive(), "the server died of junk datagrams")
    hello(run)


def stateless_reset(run):
    """A short-header packet to an ID no connection has (RFC 9000 section
    10.3): the answer is a stateless reset, a short-header packet shorter
    than what provoked it and at most 43 bytes; a burst of 300 gets at
    most 100 a second."""
    def unknown_packet(size):
        return bytes([0x40]) + os.urandom(18) + os.urandom(size - 19)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        for size, expected in ((100, 43), (30, 29)):
            udp.sendto(unknown_packet(size), ("127.0.0.1", run.port))
            answer, _ = udp.recvfrom(2048)
            expect_equal(len(answer), expected, "the reset's size, for a packet of %d bytes" % size)
            expect_equal(answer[0] & 0xC0, 0x40, "the reset's first bits (a short header)")
        time.sleep(1.1)  # a new second of the server's limit
        for _ in range(300):
            udp.sendto(unknown_packet(100), ("127.0.0.1", run.port))
        answered = 0
        udp.settimeout(0.5)
        try:
            while True:
                udp.recvfrom(2048)
                answered += 1
        except socket.timeout:
            pass
    print("      a burst of 300 packets to unknown IDs: %d resets" % answered)
    expect(90 <= answered <= 100, "%d resets answered a burst of 300 (the limit: 100 a second)" % answered)


def server_hello_extensions(out):
    """The extension types of the ServerHello in gtlsclient's dump of the
    Initial's CRYPTO data (RFC 8446 section 4.1.3)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "CRYPTO data in Initial crypto level" in line)
    data = bytearray()
    for line in lines[start + 1:]:
        if len(line) < 10 or not all(c in "0123456789abcdef" for c in line[:8]):
            break
        data += bytes.fromhex(line[10:58].replace(" ", ""))
    expect_equal(data[0], 2, "the first handshake message's type (ServerHello)")
    at = 4 + 2 + 32  # the message's header, legacy_version, random
    at += 1 + data[at]  # legacy_session_id_echo
    at += 2 + 1  # cipher_suite, legacy_compression_method
    end = at + 2 + struct.unpack("!H", data[at:at + 2])[0]
    at += 2
    types = []
    while at < end:
        kind, size = struct.unpack("!HH", data[at:at + 4])
        types.append(kind)
        at += 4 + size
    return types


PRE_SHARED_KEY = 0x29


def session_resumption(run):
    """gtlsclient keeps the session ticket of a first connection
    (--session-file) and resumes with it on a second: the server's
    ServerHello then carries pre_shared_key (the ticket taken), the first
    one does not, and both requests are answered."""
    session = os.path.join(run.folder, "session.pem")
    parameters = os.path.join(run.folder, "transport.pem")
    keep = ("--session-file=" + session, "--tp-file=" + parameters)
    first, download = gtlsclient(run.port, "/", *keep, folder=run.folder, dumps=True)
    expect(os.path.exists(session), "no session ticket came: gtlsclient wrote no session file")
    expect(PRE_SHARED_KEY not in server_hello_extensions(first), "the first connection was resumed")
    second, download = gtlsclient(run.port, "/", *keep, folder=run.folder, dumps=True)
    expect(PRE_SHARED_KEY in server_hello_extensions(second), "the second connection was not resumed")
    expect_equal(body_of(download, "index.html"), b"Hello, world", "the resumed connection's answer")


def migration(run):
    """A client that moves to another port (RFC 9000 section 9) 300 ms
    after its handshake, while its request is in progress: ngtcp2 checks
    the new path (PATH_CHALLENGE) and the answer comes to the new port."""
    out, download = gtlsclient(run.port, "/slow?ms=1500", "--change-local-addr=300ms", folder=run.folder)
    ports = {line.split()[2] for line in out.splitlines() if line.startswith("Sent packet: local=")}
    expect_equal(len(ports), 2, "the ports the client sent from")
    expect_equal(body_of(download, "slow?ms=1500"), b"slow", "the answer after the move")


def memory_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


MANY_CLIENTS = 200


def many_connections_are_bounded(run):
    """MANY_CLIENTS gtlsclients at once, each a connection of its own: every
    one answered, the server's memory grows by under 50 MB at its peak and
    its CPU by under 3 s, and a client after them is answered within 5 s."""
    pid = run.server.process.pid
    rss_before, cpu_before = memory_kb(pid), cpu_seconds(pid)
    clients = []
    for index in range(MANY_CLIENTS):
        download = tempfile.mkdtemp(dir=run.folder)
        clients.append(subprocess.Popen(
            ["gtlsclient", "-q", "--download", download, "--exit-on-all-streams-close", "127.0.0.1",
             str(run.port), "https://127.0.0.1:%d/" % run.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    peak = rss_before
    deadline = time.monotonic() + CLIENT_TIMEOUT
    try:
        while any(client.poll() is None for client in clients) and time.monotonic() < deadline:
            peak = max(peak, memory_kb(pid))
            time.sleep(0.01)
    finally:
        for client in clients:
            if client.poll() is None:
                os.kill(client.pid, signal.SIGKILL)
            client.wait()
    failed = sum(1 for client in clients if client.returncode != 0)
    expect_equal(failed, 0, "gtlsclients that failed, of %d" % MANY_CLIENTS)
    expect(run.server.alive(), "the server died under %d connections" % MANY_CLIENTS)
    grew_mb = (peak - rss_before) / 1024
    used = cpu_seconds(pid) - cpu_before
    print("      %d connections: peak RSS +%.1f MB, server CPU %.2f s" % (MANY_CLIENTS, grew_mb, used))
    expect(grew_mb < 50, "the server's memory grew by %.1f MB (bound: 50)" % grew_mb)
    expect(used < 3, "the server used %.2f s of CPU (bound: 3)" % used)
    started = time.monotonic()
    hello(run)
    expect(time.monotonic() - started < 5, "the next client waited %.1f s (bound: 5)" %
           (time.monotonic() - started))


class Run:
    def __init__(self, server, folder):
        self.server = server
        self.port = server.port
        self.folder = folder


# The ninth request's handler holds the loop this long (/hog); the first
# answers must come at least BURST_GAP_MS before its answer. A server that
# sends only after the packet's last handler sends both within about
# 100 ms of each other (the answers and then the ninth, as the client's
# acknowledgements let them go).
HOG_MS = 500
BURST_GAP_MS = 250


def burst_answers_go_early(client_and_run):
    """Requests that come in one packet are answered handler by handler:
    once the answers made fill a send, they leave, before the handlers
    after them run (HTTP3ServerConnection::send_early_if_a_batch_is_ready)."""
    client, run = client_and_run
    # A warm-up answer first, then 200 ms: without them the burst came
    # right after the handshake, and once, beside the other tests of a
    # fresh clone, the first answer came after the held one (511 ms). QUIC
    # sends nothing, early or not, past its congestion window and pacing,
    # which the handshake's packets may still hold then; after the warm-up
    # they are in their steady state.
    command = [client, "--port=%d" % run.port, "--mode=burst", "--count=8",
               "--path=/big?n=16384", "--last=/hog?ms=%d" % HOG_MS, "--warmup=/big?n=200000"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    expect(done.returncode == 0, "the burst client exited %d: %s" % (done.returncode, done.stderr[-300:]))
    figures = dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)
    expect_equal(figures.get("statuses"), "200:10", "the warm-up's and the burst's answers")
    first, last = float(figures["first_body_ms"]), float(figures["last_answer_ms"])
    expect(first + BURST_GAP_MS < last,
           "the first answer's body came %.0f ms after the requests, the held one's answer %.0f ms: "
           "the first answers waited for the last handler" % (first, last))


CHECKS = [
    ("GET / answered over HTTP/3", hello),
    ("a 20 KB POST body echoed", echo_small),
    ("a 3 MB POST body echoed (credit given back)", echo_large),
    ("a 3 MB answer, also to a client of little credit", large_answer),
    ("20 requests on one connection", twenty_requests),
    ("10 clients at once, 20 requests each", clients_at_once),
    ("250 requests on one connection (100 streams at once)", more_streams_than_allowed_at_once),
    ("10% loss each way: 20 and 100 requests, 200 KB echoed", with_loss),
    ("a request body's credit waits for its handler", credit_waits_for_the_handler),
    ("trailers after the body", trailers),
    ("an unknown version gets Version Negotiation", version_negotiation),
    ("junk datagrams are dropped", junk_is_dropped),
    ("a packet of no connection gets a stateless reset, at most 100 a second", stateless_reset),
    ("a second connection resumes the first's TLS session", session_resumption),
    ("a client that moves to another port is still answered", migration),
    ("%d connections at once: memory, CPU and the next client bounded" % MANY_CLIENTS,
     many_connections_are_bounded),
]


def retry_past_the_handshake_limit(program_and_folder):
    """With --handshakes_before_retry=0 every new client gets a Retry
    first (RFC 9000 section 8.1.2), follows it with the token and is
    answered. With --handshakes_before_retry=1, clients one after another
    get none: each handshake that completes leaves the count."""
    program, folder = program_and_folder
    server = Server(program, folder, "--handshakes_before_retry=0")
    try:
        out, download = gtlsclient(server.port, "/", folder=folder)
        expect_equal(out.count("type=Retry"), 1, "Retry packets the client received")
        expect_equal(body_of(download, "index.html"), b"Hello, world", "the answer after the Retry")
    finally:
        server.stop()
    server = Server(program, folder, "--handshakes_before_retry=1")
    try:
        for client in range(3):
            out, download = gtlsclient(server.port, "/", folder=folder)
            expect_equal(out.count("type=Retry"), 0,
                         "Retry packets to client %d, with no handshake in progress" % (client + 1))
    finally:
        server.stop()


def sigterm_stops(program_and_folder):
    """SIGTERM while a request is in progress (its handler answers after
    800 ms): GOAWAY, the request is still answered, and the server exits
    0 soon after."""
    program, folder = program_and_folder
    server = Server(program, folder)
    try:
        gtlsclient(server.port, "/", folder=folder)
        download = tempfile.mkdtemp(dir=folder)
        command = ["gtlsclient", "--no-quic-dump", "--download", download, "--exit-on-all-streams-close",
                   "127.0.0.1", str(server.port), "https://127.0.0.1:%d/slow?ms=800" % server.port]
        slow = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            # Not a fixed delay: on a busy machine gtlsclient's request may
            # come later than the signal, and there is nothing in progress.
            begun = server.read_line(CLIENT_TIMEOUT)
            expect(begun == b"slow request begun\n", "the slow request did not come: %r" % begun)
            os.kill(server.process.pid, signal.SIGTERM)
            out, _ = slow.communicate(timeout=CLIENT_TIMEOUT)
        finally:
            if slow.poll() is None:
                os.kill(slow.pid, signal.SIGKILL)
                slow.wait()
        expect(b"[:status: 200]" in out, "the request in progress was not answered: %r" % out[-300:])
        expect_equal(body_of(download, "slow?ms=800"), b"slow", "the answer of the request in progress")
        try:
            code = server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the server did not exit within 5 s of SIGTERM")
        expect_equal(code, 0, "the server's exit status")
    finally:
        server.stop()


def eagain_is_backpressure(program_and_folder):
    """The server's sink says EAGAIN after every 3 datagrams
    (--refuse_every=3): what it could not send must go later, whole, so
    large bodies both ways and 20 requests still come through."""
    program, folder = program_and_folder
    server = Server(program, folder, "--refuse_every=3")
    try:
        run = Run(server, folder)
        large_answer(run)
        echo_large(run)
        twenty_requests(run)
        os.kill(server.process.pid, signal.SIGTERM)
        try:
            expect_equal(server.process.wait(timeout=5), 0, "the server's exit status")
        except subprocess.TimeoutExpired:
            raise CheckFailed("the server did not exit within 5 s of SIGTERM")
    finally:
        server.stop()
    with open(server.log_path, "rb") as log:
        said = [line for line in log.read().decode(errors="replace").splitlines() if "EAGAIN said" in line]
    expect(said and int(said[0].split()[2]) > 0, "the sink never said EAGAIN: %r" % said)
    return said[0]


def a_silent_client_is_forgotten(program_and_folder):
    """A client killed (no CONNECTION_CLOSE) while its POST's handler
    holds the body: after the idle timeout (1 s here) its connection ends
    (the handler hears on_connection_close), and /connections counts only
    the connection that asks."""
    program, folder = program_and_folder
    server = Server(program, folder, "--idle_timeout_ms=1000")
    try:
        path = os.path.join(folder, "silent.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(1000 * 1000))
        command = ["gtlsclient", "-q", "-m", "POST", "-d", path, "127.0.0.1", str(server.port),
                   "https://127.0.0.1:%d/held" % server.port]
        silent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            begun = server.read_line(CLIENT_TIMEOUT)
            expect(begun == b"held request begun\n", "the client's POST did not come: %r" % begun)
            _, download = gtlsclient(server.port, "/connections", folder=folder)
            expect_equal(body_of(download, "connections"), b"2", "connections while the client is there")
        finally:
            os.kill(silent.pid, signal.SIGKILL)
            silent.wait()
        time.sleep(2.0)
        _, download = gtlsclient(server.port, "/connections", folder=folder)
        expect_equal(body_of(download, "connections"), b"1", "connections once the killed one's idle timeout passed")
        expect(server.alive(), "the server died")
    finally:
        server.stop()


def max_connections(program_and_folder):
    """--max_connections=1: while one client's POST is held, another's
    Initial packets are dropped (its handshake times out); once the first
    is gone, a new client is served.

    The held client sends nothing while its credit is shut, so its
    connection ends after the idle timeout: 4 s here, so that the second
    client tries while the first is still there even on a busy machine
    (with 1 s, a second client slow to start found the slot free)."""
    program, folder = program_and_folder
    server = Server(program, folder, "--max_connections=1", "--idle_timeout_ms=4000")
    try:
        path = os.path.join(folder, "first.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(1000 * 1000))
        command = ["gtlsclient", "-q", "-m", "POST", "-d", path, "127.0.0.1", str(server.port),
                   "https://127.0.0.1:%d/held" % server.port]
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Not a fixed delay: on a busy machine the first client may not
            # have its connection yet, and the second would take the slot.
            begun = server.read_line(CLIENT_TIMEOUT)
            expect(begun == b"held request begun\n", "the first client's POST did not come: %r" % begun)
            # (gtlsclient exits 0 after a handshake timeout too: its output says.)
            second = subprocess.run(["gtlsclient", "--no-quic-dump", "--handshake-timeout=1s",
                                     "--exit-on-all-streams-close", "127.0.0.1", str(server.port),
                                     "https://127.0.0.1:%d/" % server.port],
                                    capture_output=True, timeout=CLIENT_TIMEOUT)
            said = (second.stdout + second.stderr).decode(errors="replace")
            expect(first.poll() is None, "the first client's connection ended (idle timeout) before the second "
                   "was refused: the machine was too slow for this check to show anything")
            expect(":status" not in said, "a second connection was served past --max_connections=1")
            expect("HANDSHAKE_TIMEOUT" in said, "the second client did not time out: %s" % said[-300:])
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        time.sleep(5.0)  # the first one's idle timeout
        out, _ = gtlsclient(server.port, "/", folder=folder)
        expect("[:status: 200]" in out, "no answer once the first connection was gone")
    finally:
        server.stop()


def hello_serves_both(hello_and_folder):
    """final_hello --http3: one program, one application, HTTPS over TCP
    (curl, whose answer names HTTP/3 in Alt-Svc) and HTTP/3 over UDP on
    the same port number (gtlsclient)."""
    hello, folder = hello_and_folder
    log = open(os.path.join(folder, "hello.log"), "wb")
    process, port = start_hello_http3(hello, folder, log)
    try:
        expect(port is not None, "final_hello printed no 'Listening on' line in %d s; its log: %s"
               % (START_TIMEOUT, log_tail(log.name)))
        done = subprocess.run(["curl", "-sk", "-i", "https://127.0.0.1:%d/" % port], capture_output=True,
                              timeout=CLIENT_TIMEOUT)
        head = done.stdout.decode(errors="replace").lower()
        expect('alt-svc: h3=":%d"' % port in head, "no Alt-Svc naming HTTP/3 over TCP: %s" % head[:300])
        expect(done.stdout.endswith(b"Hello, world"), "HTTPS over TCP: %r" % done.stdout[-100:])
        out, download = gtlsclient(port, "/", folder=folder)
        expect_equal(body_of(download, "index.html"), b"Hello, world", "HTTP/3 over UDP")
    finally:
        stop(process)
        log.close()


def start_hello_http3(hello, folder, log):
    """final_hello --http3 on port 0; returns (process, port), or the
    process and None when it printed no 'Listening on' line."""
    process = subprocess.Popen([hello, "--port=0", "--address=127.0.0.1", "--http3",
                                "--certfile=" + os.path.join(folder, "cert.pem"),
                                "--keyfile=" + os.path.join(folder, "key.pem")],
                               stdout=subprocess.PIPE, stderr=log)
    try:
        waiting = select.poll()  # not select(): descriptors may pass 1024 here
        waiting.register(process.stdout, select.POLLIN)
        line = process.stdout.readline() if waiting.poll(START_TIMEOUT * 1000) else b""  # "Listening on https://127.0.0.1:PORT/"
    except BaseException:
        stop(process)  # not left running when the wait itself fails
        raise
    if b"127.0.0.1:" not in line:
        return process, None
    return process, int(line.split(b"127.0.0.1:")[1].split(b"/")[0])


def log_tail(path):
    with open(path, "rb") as log:
        return log.read()[-500:].decode(errors="replace")


def stop(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def hello_starts_beside_udp_clients(hello_and_folder):
    """With a quarter of the kernel's ports for port 0 held by UDP
    sockets (as clients hold theirs), final_hello --http3 --port=0 starts
    every time: it picks a number free for both TCP and UDP. (Were it to
    take TCP's number blindly, about one start in four would fail.)"""
    hello, folder = hello_and_folder
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        low, high = (int(word) for word in ports.read().split())
    held = []
    # A port another process holds is as taken as one of ours: the io_uring
    # run of this same check may hold this very quarter at the same time.
    taken_elsewhere = 0
    try:
        for port in range(low, high + 1):
            if port % 8 > 1:  # one odd and one even in each eight
                continue
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(("127.0.0.1", port))
                held.append(udp)
            except OSError as error:
                udp.close()
                taken_elsewhere += error.errno == errno.EADDRINUSE
        expect(len(held) + taken_elsewhere > 1000, "only %d UDP ports held (%d by another process)"
               % (len(held) + taken_elsewhere, taken_elsewhere))
        with open(os.path.join(folder, "hello_udp.log"), "wb") as log:
            for attempt in range(12):
                process, port = start_hello_http3(hello, folder, log)
                stop(process)
                expect(port is not None, "start %d of 12 failed; its log: %s" % (attempt + 1, log_tail(log.name)))
    finally:
        for udp in held:
            udp.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="final_http3_server")
    parser.add_argument("--hello", help="final_hello, built with final/http3 (its --http3)")
    parser.add_argument("--burst-client", help="http3_abuse_client, for its --mode=burst")
    options = parser.parse_args()
    missing = [tool for tool in ("gtlsclient", "openssl") if shutil.which(tool) is None]
    if missing:
        print("SKIPPED  http3: missing %s (tools/install-deps.sh build)" % ", ".join(missing))
        return 77
    started = time.monotonic()
    results = []
    folder = tempfile.mkdtemp(prefix="final_http3_test.")
    try:
        make_certificate(folder)
        server = Server(options.server, folder)
        try:
            run = Run(server, folder)
            for name, check in CHECKS:
                results.append(run_check(name, check, run))
            if options.burst_client:
                results.append(run_check("a burst's first answers leave before its last handler runs",
                                         burst_answers_go_early, (options.burst_client, run)))
            if not server.alive():
                print("FAIL  the server is gone; its log:\n" + open(os.path.join(folder, "server.log")).read()[-2000:])
                results.append("FAIL")
        finally:
            server.stop()
        results.append(run_check("past the handshake limit a client gets a Retry, then is answered",
                                 retry_past_the_handshake_limit, (options.server, folder)))
        results.append(run_check("SIGTERM: the request in progress is answered, then the server exits 0", sigterm_stops, (options.server, folder)))
        results.append(run_check("EAGAIN from the socket is backpressure, not loss", eagain_is_backpressure,
                                 (options.server, folder)))
        results.append(run_check("a client that vanishes is forgotten after the idle timeout",
                                 a_silent_client_is_forgotten, (options.server, folder)))
        results.append(run_check("no connection past max_connections", max_connections, (options.server, folder)))
        if options.hello and shutil.which("curl"):
            results.append(run_check("final_hello --http3: HTTPS over TCP, HTTP/3 over UDP, one application",
                                     hello_serves_both, (options.hello, folder)))
            results.append(run_check("final_hello --http3 --port=0 starts beside UDP clients holding ports",
                                     hello_starts_beside_udp_clients, (options.hello, folder)))
    finally:
        shutil.rmtree(folder)
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
