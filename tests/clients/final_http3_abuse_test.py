#!/usr/bin/env python3
"""HTTP/3 (final/http3) against known abuses, each held to one bound.

    python3 final_http3_abuse_test.py --server build/bin/final_http3_server \\
        --client build/bin/http3_abuse_client

Each check starts final_http3_server (tests/final/final_http3_server.cpp)
on 127.0.0.1 with a throwaway certificate, runs one attack on it with
http3_abuse_client (tests/final/http3_abuse_client.cpp: ngtcp2's client,
HTTP/3 written by hand) or with datagrams of the test's own, and holds
the server to the project's bound for an attack: its RSS at its peak
under 50 MB more than before, its CPU under 3 s, another client
(gtlsclient, ngtcp2's) answered within 5 s during the attack and after
it, and the server alive at the end. Each line prints the figures
measured. The attacks:

  1. Initial flood: 2,000 UDP sockets each send one real client Initial
     (1,200 bytes, made by an ngtcp2 client connection) and never go on.
     Per socket, what came back is at most 3x what was sent (RFC 9000
     section 8.1, before the address is validated). Past 100 handshakes
     in progress (handshakes_before_retry) the server answers with a
     Retry and makes no connection: Retry packets come back, the server
     holds at most 100 connections (GET /connections), and the other
     client, which gets a Retry too and follows it, is answered within
     its 5 s. Then 300 ports to a server that sends no Retry
     (--handshakes_before_retry=100000): each makes a half-open
     connection (about 90 KB), held to every bound.
  2. 350 connections at once, each handshaken, then idle (the 200
     gtlsclients of final_http3_test.py are the other half of this).
  3. Streams past MAX_STREAMS: a client opens request streams until the
     server's limit (100) says no and never finishes one; the server holds
     100 on that connection (GET /streams); then 5,000 more are opened and
     cancelled (RESET_STREAM) as fast as the credit comes back, and
     /streams, asked over and over meanwhile, never says more than 100.
  4. A QPACK bomb: the encoder stream inserts a 4,000-byte field into the
     server's dynamic table; requests naming it 10 times (40 KB decoded)
     are answered 200, 20 times (80 KB, past max_header_list_size's 64 KB)
     get 431, and 1,000 times (4 MB decoded from 1 KB on the wire) end the
     connection, H3_EXCESSIVE_LOAD (past twice the limit).
  5. A reader that never reads: 100 streams each GET /chunks?n=10000000
     (a handler paced by flush()) on a connection of 16 KiB credit a
     stream, 64 KiB in all, never given more; and 20 GET /big?n=1000000
     (a handler that writes its whole answer at once): the server keeps
     what the handler wrote, whole, and no more.
  6. A header section over max_header_list_size (64 KB): 20 fields of
     4,000 bytes get 431, read over HTTP/3; one field of 70,000 bytes
     ends the connection, H3_GENERAL_PROTOCOL_ERROR (nghttp3's QPACK
     decoder takes no field over 64 KiB, before the server counts).
  7. Datagrams too small (1,199-byte Initials, 1 byte, empty): dropped,
     nothing sent back. 10,000 short-header datagrams of 100 bytes naming
     unknown connection IDs: stateless resets, at most 100 a second and
     43 bytes each.
  8. A client that vanishes with 20 requests in flight (no
     CONNECTION_CLOSE): the server holds its 20 streams, and after the
     idle timeout (5 s here) none of them (final_http3_test.py checks
     that the connection goes, of a client killed in a POST).

Every process it starts is stopped by its PID. Exits 77 (CTest's SKIP)
without gtlsclient or openssl; prints a line per check and a summary;
exits 1 if any failed. Standard library only.
"""
import argparse
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from final_http3_test import (Run, Server, body_of, cpu_seconds, gtlsclient, hello,  # noqa: E402
                              make_certificate, memory_kb)

RSS_BOUND_MB = 50
CPU_BOUND_S = 3
ANSWER_BOUND_S = 5
ATTACK_TIMEOUT = 60


class PeakMemory:
    """Samples a process's RSS every 10 ms on a thread until stopped."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = memory_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, memory_kb(self.pid))
            except OSError:
                return
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def timed_hello(run):
    started = time.monotonic()
    hello(run)
    return time.monotonic() - started


def figures_of(line):
    """ "mode=flood ports=2000 max_ratio=2.9" → {"mode": "flood", ...} """
    return dict(field.split("=", 1) for field in line.split() if "=" in field)


def attack(run, args=None, action=None, during=None, other_client=True):
    """Runs one attack on run.server and holds it to the bounds: the
    client (`args` to http3_abuse_client) or `action(run)`; `during(run,
    process)` runs while the client does (it may read its stdout), and a
    gtlsclient is timed while the attack goes on and once it is over
    (unless not `other_client`: the caller then checks another client
    itself). Returns (the figures of the client's last line or action's
    result, a note of what was measured)."""
    pid = run.server.process.pid
    rss_before, cpu_before = memory_kb(pid), cpu_seconds(pid)
    memory = PeakMemory(pid)
    waits = []
    try:
        if action is not None:
            result = action(run)
        else:
            process = subprocess.Popen([run.client, "--port=%d" % run.port, *args],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                if during is not None:
                    during(run, process)
                else:
                    time.sleep(0.5)
                if process.poll() is None and other_client:
                    waits.append(timed_hello(run))
                out, err = process.communicate(timeout=ATTACK_TIMEOUT)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            lines = out.decode(errors="replace").strip().splitlines()
            expect(lines and "mode=" in lines[-1], "the attacker said nothing (exit %d): %s" %
                   (process.returncode, err.decode(errors="replace")[-300:]))
            result = figures_of(lines[-1])
        if other_client:
            waits.append(timed_hello(run))
    finally:
        peak = memory.stop()
    expect(run.server.alive(), "the server died")
    grew_mb = (peak - rss_before) / 1024
    used = cpu_seconds(pid) - cpu_before
    note = "RSS +%.1f MB, CPU %.2f s" % (grew_mb, used)
    if waits:
        note += ", another client answered in %.2f s" % max(waits)
    expect(grew_mb < RSS_BOUND_MB, "the server's memory grew by %.1f MB (bound: %d); %s" %
           (grew_mb, RSS_BOUND_MB, note))
    expect(used < CPU_BOUND_S, "the server used %.2f s of CPU (bound: %d); %s" % (used, CPU_BOUND_S, note))
    expect(not waits or max(waits) < ANSWER_BOUND_S,
           "another client waited %.2f s (bound: %d)" % (max(waits or [0]), ANSWER_BOUND_S))
    return result, note


def most_streams(run):
    """The request streams of the server's connection that has the most
    (GET /streams' second number): a connection that ended a moment ago
    (an earlier gtlsclient's) keeps its stream in its closing period, so
    the total counts those too."""
    _, download = gtlsclient(run.port, "/streams", folder=run.folder)
    return int(body_of(download, "streams").split()[1])


# --- the attacks --------------------------------------------------------------------------

FLOOD_PORTS = 2000
# The server's handshakes_before_retry (its default): the connections a
# flood of forged addresses can make.
HANDSHAKES_BEFORE_RETRY = 100
# A flood to a server that sends no Retry: every Initial makes a
# half-open connection, about 90 KB each (some 80 KB of it ngtcp2 0.12's
# own state) until the idle timeout.
SMALL_FLOOD_PORTS = 300


def flood_figures(figures, ports):
    expect_equal(int(figures["ports"]), ports, "sockets that sent an Initial")
    ratio = float(figures["max_ratio"])
    expect(ratio <= 3.0, "a socket got %.2f times what it sent back (bound: 3)" % ratio)
    return "%s of %d sockets answered, %s bytes back for %s sent, at most %.2fx a socket; Retry packets: %s" % (
        figures["answered"], ports, figures["received"], figures["sent"], ratio, figures["retries"])


def open_connections(run):
    _, download = gtlsclient(run.port, "/connections", folder=run.folder)
    return int(body_of(download, "connections"))


def initial_flood(run):
    """2,000 ports to a server of the default handshakes_before_retry
    (100): the flood makes at most 100 connections, the rest get Retry,
    and the other client (a Retry for it too) is answered within 5 s
    during the flood and after it (attack's own checks)."""
    figures, note = attack(run, ["--mode=flood", "--count=%d" % FLOOD_PORTS, "--seconds=3"])
    said = flood_figures(figures, FLOOD_PORTS)
    expect(int(figures["retries"]) > 0, "no Retry came back to a flood of %d ports" % FLOOD_PORTS)
    held = open_connections(run)
    # The one asking, and attack()'s two gtlsclients (during the flood and
    # after it), which may still be in their closing period.
    expect(held <= HANDSHAKES_BEFORE_RETRY + 3, "the flood made %d connections (Retry past %d)" %
           (held, HANDSHAKES_BEFORE_RETRY))
    return "%s; %s; %d connections open after it" % (note, said, held)


def small_initial_flood(run):
    figures, note = attack(run, ["--mode=flood", "--count=%d" % SMALL_FLOOD_PORTS, "--seconds=3"])
    expect_equal(int(figures["retries"]), 0, "Retry packets from a server told to send none")
    return "%s; %s" % (note, flood_figures(figures, SMALL_FLOOD_PORTS))


MANY_CONNECTIONS = 350


def many_connections(run):
    figures, note = attack(run, ["--mode=conns", "--count=%d" % MANY_CONNECTIONS, "--seconds=2"])
    expect_equal(int(figures["handshaken"]), MANY_CONNECTIONS, "connections handshaken")
    return "%s; %d connections handshaken and held" % (note, MANY_CONNECTIONS)


def streams_past_the_limit(run):
    seen = {}

    def during(run, process):
        ready, _, _ = select.select([process.stdout], [], [], 20)
        expect(ready, "the attacker opened no streams in 20 s")
        line = process.stdout.readline().decode()  # "held 100"
        expect(line.startswith("held "), "the attacker said %r" % line)
        seen["held"] = int(line.split()[1])
        seen["streams"] = most_streams(run)
        # The resets follow: the count asked again and again meanwhile.
        seen["resetting"], seen["samples"] = 0, 0
        while process.poll() is None:
            seen["resetting"] = max(seen["resetting"], most_streams(run))
            seen["samples"] += 1

    figures, note = attack(run, ["--mode=streams", "--count=5000", "--seconds=1"], during=during)
    expect_equal(seen["held"], 100, "streams the client could open (the server's limit)")
    expect(seen["streams"] <= 100, "the server held %d streams (limit 100)" % seen["streams"])
    expect(seen["resetting"] <= 100, "the server held %d streams while reset (limit 100)" % seen["resetting"])
    expect_equal(int(figures["cancelled"]), 5000, "streams opened and reset")
    expect_equal(figures["alive"], "1", "the attacker's connection still open")
    return "%s; %d held, server counted %d, then %s opened and reset (server counted at most %d, " \
           "asked %d times)" % (note, seen["held"], seen["streams"], figures["cancelled"], seen["resetting"],
                                seen["samples"])


def qpack_bomb(run):
    small, _ = attack(run, ["--mode=qpack", "--refs=10", "--count=20"])
    expect_equal(small["statuses"], "200:20", "answers to 20 requests naming the field 10 times")
    large, note = attack(run, ["--mode=qpack", "--refs=20", "--count=500"])
    expect_equal(large["statuses"], "431:500", "answers to 500 requests naming the field 20 times")
    bomb, bomb_note = attack(run, ["--mode=qpack", "--refs=1000", "--count=20"])
    expect_equal(bomb["close_code"], "263", "the connection's end (H3_EXCESSIVE_LOAD, 0x107)")
    return ("20 x 10 refs: 200; 500 x 20 refs (%s B on the wire, %s B decoded): 431, %s; "
            "1000 refs (%s B on the wire, %s B decoded): CONNECTION_CLOSE H3_EXCESSIVE_LOAD, %s" %
            (large["wire_bytes"], large["decoded_bytes"], note, bomb["wire_bytes"], bomb["decoded_bytes"],
             bomb_note))


def reader_that_never_reads(run):
    paced, note = attack(run, ["--mode=slowread", "--count=100", "--path=/chunks?n=10000000", "--credit=16384",
                               "--seconds=3"])
    expect_equal(paced["alive"], "1", "the reader's connection still open")
    expect(int(paced["body_bytes"]) <= 4 * 16384, "%s body bytes past the credit" % paced["body_bytes"])
    whole, whole_note = attack(run, ["--mode=slowread", "--count=20", "--path=/big?n=1000000",
                                     "--credit=16384", "--seconds=3"])
    return "100 x 10 MB paced: %s body bytes came, %s; 20 x 1 MB written whole: %s" % (
        paced["body_bytes"], note, whole_note)


def header_too_large(run):
    figures, note = attack(run, ["--mode=bigheader", "--count=20", "--size=4000"])
    expect_equal(figures["status"], "431", "the answer to 20 header fields of 4,000 bytes")
    one, one_note = attack(run, ["--mode=bigheader", "--count=1", "--size=70000"])
    expect_equal(one["close_code"], "257", "the end of a connection that sent one 70,000-byte field "
                 "(H3_GENERAL_PROTOCOL_ERROR, 0x101)")
    return "20 x 4,000 bytes: 431, %s; one of 70,000 bytes: CONNECTION_CLOSE H3_GENERAL_PROTOCOL_ERROR, %s" % (
        note, one_note)


UNKNOWN = 10000


def unknown_datagrams(run):
    def action(run):
        counted = {"datagrams": 0, "largest": 0}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.setblocking(False)
            server = ("127.0.0.1", run.port)

            def drain():
                while True:
                    try:
                        answer = udp.recv(65536)
                    except BlockingIOError:
                        return
                    counted["datagrams"] += 1
                    counted["largest"] = max(counted["largest"], len(answer))

            udp.sendto(b"", server)
            udp.sendto(b"\x40", server)
            for _ in range(1000):  # Initials under 1,200 bytes: no connection, no answer
                udp.sendto(bytes([0xC0, 0, 0, 0, 1, 8]) + os.urandom(8) + bytes([8]) + os.urandom(1199 - 23),
                           server)
            time.sleep(0.3)
            drain()
            small = counted["datagrams"]
            for index in range(UNKNOWN):
                udp.sendto(bytes([0x40 | (index & 0x3F)]) + os.urandom(99), server)
                if index % 200 == 199:
                    time.sleep(0.002)
                    drain()
            time.sleep(0.5)
            drain()
        counted["small"] = small
        return counted

    counted, note = attack(run, action=action)
    expect_equal(counted["small"], 0, "datagrams sent back to datagrams too small")
    # The 10,000 go out in under 2 s: at most 100 resets in each second
    # begun, and one more second's worth for a window begun just before.
    expect(0 < counted["datagrams"] <= 300, "%d stateless resets to %d datagrams of unknown IDs "
           "(limit: 100 a second)" % (counted["datagrams"], UNKNOWN))
    expect(counted["largest"] <= 43, "a reset of %d bytes (at most 43)" % counted["largest"])
    return "%s; %d stateless resets back to %d of unknown IDs (largest %d bytes), none to the small ones" % (
        note, counted["datagrams"], UNKNOWN, counted["largest"])


# The server's idle timeout in the vanishing client's check: longer than
# the gtlsclient that counts the streams takes on a busy machine (over 1 s
# early in make test), so that it counts them before they go.
VANISH_IDLE_TIMEOUT_S = 5
VANISH_GRACE_S = 10  # how long past it the streams may take to go


def vanished_client(run):
    """Only the streams: final_http3_test.py counts the connections. A
    connection that ended by CONNECTION_CLOSE a moment ago (the last
    gtlsclient's) may still be in its closing period, its stream with it:
    so what is counted is the connection with the most streams."""
    seen = {}

    def during(run, process):
        process.wait(timeout=ATTACK_TIMEOUT)
        seen["gone"] = time.monotonic()
        seen["held"] = most_streams(run)

    figures, note = attack(run, ["--mode=vanish", "--count=20", "--path=/big?n=1000000"], during=during)
    expect_equal(int(figures["requests"]), 20, "requests in flight when the client went")
    expect_equal(seen["held"], 20, "streams the server held once the client was gone")
    # Asked again until the streams are gone, not once at a fixed moment:
    # on a busy machine the timer fires late and each asking takes a second.
    time.sleep(max(0.0, seen["gone"] + VANISH_IDLE_TIMEOUT_S - time.monotonic()))
    deadline = seen["gone"] + VANISH_IDLE_TIMEOUT_S + VANISH_GRACE_S
    while (held := most_streams(run)) > 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    expect(held <= 1, "a connection still held streams %d s after the idle timeout (only the asking "
           "one's may be there)" % VANISH_GRACE_S)
    return "%s; 20 streams held when it went, none %.1f s later" % (note, time.monotonic() - seen["gone"])


CHECKS = [
    ("1. an Initial flood from %d ports: at most 3x back, Retry past %d handshakes" %
     (FLOOD_PORTS, HANDSHAKES_BEFORE_RETRY), initial_flood, ()),
    ("1b. an Initial flood from %d ports to a server without Retry, all bounds" % SMALL_FLOOD_PORTS,
     small_initial_flood, ("--handshakes_before_retry=100000",)),
    ("2. %d connections at once" % MANY_CONNECTIONS, many_connections, ()),
    ("3. streams past MAX_STREAMS, held then reset", streams_past_the_limit, ()),
    ("4. a QPACK bomb: 431, then H3_EXCESSIVE_LOAD", qpack_bomb, ()),
    ("5. a reader that never reads", reader_that_never_reads, ()),
    ("6. a header section past the limit: 431", header_too_large, ()),
    ("7. small datagrams dropped, unknown connection IDs reset at most 100 a second", unknown_datagrams, ()),
    ("8. a client that vanishes mid-stream is forgotten", vanished_client,
     ("--idle_timeout_ms=%d" % (VANISH_IDLE_TIMEOUT_S * 1000),)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="final_http3_server")
    parser.add_argument("--client", required=True, help="http3_abuse_client")
    parser.add_argument("--only", help="run only the checks whose name contains this")
    options = parser.parse_args()
    missing = [tool for tool in ("gtlsclient", "openssl") if shutil.which(tool) is None]
    if missing:
        print("SKIPPED  http3 abuse: missing %s (tools/install-deps.sh build)" % ", ".join(missing))
        return 77
    started = time.monotonic()
    results = []
    folder = tempfile.mkdtemp(prefix="final_http3_abuse_test.")
    try:
        make_certificate(folder)
        for name, check, extra in CHECKS:
            if options.only and options.only not in name:
                continue
            try:
                server = Server(options.server, folder, *extra)
            except CheckFailed as failure:
                print("FAIL  %s: %s" % (name, failure))
                results.append("FAIL")
                continue
            try:
                run = Run(server, folder)
                run.client = options.client
                results.append(run_check(name, check, run))
            finally:
                server.stop()
    finally:
        shutil.rmtree(folder)
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
