#!/usr/bin/env python3
"""Our framework's HTTPS against nginx's, in the same run: `make bench-tls`.

    python3 tests/bench/tls_bench.py --bin build/bin --out build/bench
    python3 tests/bench/tls_bench.py --quick                  # 1 round of 3 s per run
    python3 tests/bench/tls_bench.py --duration 20 --rounds 5

Two servers answer GET / with "Hello, world" over TLS 1.3 with the same
certificate and key:

  final_hello  build/bin/final_hello --certfile=... --keyfile=... (the
               course's framework: web::Application + RequestHandler)
  nginx        nginx, one worker, `return 200`, `ssl_protocols TLSv1.3`
               (nginx_tls.conf.in, started as run_bench.py starts nginx.conf.in)

Python Tornado is not in the table: tests/bench/tornado_hello.py takes no
certificate.

The certificate is made for the run with the openssl command: a
self-signed EC P-256 certificate for localhost and 127.0.0.1, in OUT/tls/.
Each server runs pinned to one core and its client (wrk or openssl s_time)
to the other (taskset), as in run_bench.py, in three scenarios:

  keep-alive  wrk -t1 -cN -dD https://127.0.0.1:PORT/ for N = 50 and 200:
              what a request costs on an established TLS connection
  handshake   the same at N = 50 with -H "Connection: close": the server
              closes every connection after its response and wrk opens a
              new one, so every request pays a TCP connection and a TLS
              handshake
  full        4 `openssl s_time -connect 127.0.0.1:PORT -new -www / -time D`
              at once: every connection is a new SSL object that offers no
              session, so a full handshake (the server signs with the
              certificate's key, both sides make a key exchange), then
              GET / HTTP/1.0 read until the server closes: what a
              first-time visitor costs

For every wrk run: requests/s, p50 and p99 latency, the server's CPU time
(utime + stime of its one process, /proc/PID/stat, before and after) per
request, wrk's own CPU time (when its core is saturated, wrk set the pace),
and the TCP connections the kernel accepted meanwhile (PassiveOpens in
/proc/net/snmp, machine-wide). That count proves the scenario: about N per
run with keep-alive, one per request with Connection: close. The rounds
visit the servers in turn (run_bench.py's interleaved_rounds); a figure is
its median round.

Before the load, one GET / through Python's ssl module checks each server:
the answer, the certificate (verified for "localhost"), TLS 1.3, the
cipher, and whether the server resumes a session when a second connection
offers the first one's ticket. wrk offers one on every reconnect (it keeps
one SSL object per connection and SSL_clear()s it between connections),
so against a server that resumes, the handshake scenario measures resumed
handshakes (a PSK and a new key exchange, no certificate signature); the
table says which kind each server did.

s_time prints a mark per connection, "r" when its session was resumed, and
reports the bytes it read; the full-handshake scenario counts the marks
(every connection must be a full handshake) and checks that every
connection read a whole answer (one HTTP/1.0 GET through Python's ssl tells
its length). s_time runs until the first whole second after D, and its own
timer counts its CPU time: connections/s is our clock's. Each s_time is one
thread; the CPU time of all of them (as wrk's) says whether the client core
set the pace, which it usually does: a full handshake costs the client more
than the server.

Then ours ÷ nginx, server CPU per request (per connection in the handshake
scenarios), in every scenario, beside the goal: at most 1.1x in keep-alive.
Goals are printed, never enforced here.

Writes OUT/tls.md (the tables, the method, the machine and the command)
and prints it; wrk's and s_time's own output goes to
OUT/raw/tls-<scenario>-<server>-<N>.txt and the servers' stderr to
OUT/raw/tls-<scenario>-<server>.server-stderr.txt. Exits 0 when every server
got its figures, 1 when a server failed (did not start, answered wrongly,
died), the handshake scenario did not open a connection per request or the
full-handshake scenario saw a resumed session or a short answer, 2 when a
tool is missing (wrk, openssl, taskset)
or final_hello takes no --certfile. Standard library only.
"""
import argparse
import contextlib
import functools
import os
import re
import resource
import shlex
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import run_bench as bench  # noqa: E402  (the servers, pinning, /proc and wrk helpers)
from certificate import make_certificate  # noqa: E402

DURATION = 10            # seconds per wrk (or s_time) run
QUICK_DURATION = 3
ROUNDS = 3               # runs per server and scenario; the median counts
QUICK_ROUNDS = 1
KEEPALIVE_LEVELS = [50, 200]
QUICK_KEEPALIVE_LEVELS = [50]
HANDSHAKE_CONNECTIONS = 50
WRK_TIMEOUT = 2          # seconds
# s_time processes at once: while some wait for the server, the others keep
# the client core busy, so that the round trips do not set the pace.
FULL_HANDSHAKE_CLIENTS = 4
# A core at least this busy during a run was the one that set its pace.
PACE_BUSY_PERCENT = 90

OURS = "final_hello"
NGINX = "nginx"
# The goal: our server CPU per keep-alive request ÷ nginx's, at most.
GOAL_KEEPALIVE_CPU_VS_NGINX = 1.10

# Fewer accepted connections than this share of the requests means wrk
# reused connections in the handshake scenario: its figures would not be
# handshakes.
MIN_ACCEPTS_PER_REQUEST = 0.9

KEEPALIVE = "tls-keepalive"
HANDSHAKE = "tls-handshake"
FULL_HANDSHAKE = "tls-full-handshake"

HELLO_CLOSE = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
# What `openssl s_time -www /` sends on each connection.
S_TIME_REQUEST = b"GET / HTTP/1.0\r\n\r\n"

# The first line of s_time's summary: its connections and the bytes it read
# (its seconds there are its own CPU time, not the run's).
S_TIME_SUMMARY = re.compile(r"^(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, "
                            r"bytes read (\d+)$", re.M)
S_TIME_START = "Collecting connection statistics"


log = bench.log


# --- the certificate ------------------------------------------------------------

# --- the servers ----------------------------------------------------------------

class NginxTLSProcess(bench.NginxProcess):
    """run_bench.py's nginx, from nginx_tls.conf.in, with our certificate."""

    TEMPLATE = os.path.join(HERE, "nginx_tls.conf.in")

    def __init__(self, program, run_dir, certfile, keyfile, **kwargs):
        super().__init__(program, run_dir, **kwargs)
        self.certfile = certfile
        self.keyfile = keyfile

    def write_config(self):
        path = super().write_config()  # @DIR@, @PORT@ and @WORKER_CONNECTIONS@
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("@CERTFILE@", self.certfile).replace("@KEYFILE@", self.keyfile))
        return path


def make_servers(certfile, keyfile):
    return [
        # --logging=warning: no access-log line per request, as nginx runs
        # with access_log off.
        bench.Server(OURS, "final_hello", "final/: web::Application + RequestHandler",
                     args=["--address=127.0.0.1", "--logging=warning",
                           "--certfile=" + certfile, "--keyfile=" + keyfile]),
        bench.Server(NGINX, "/usr/sbin/nginx",
                     "nginx, 1 worker, return 200, TLSv1.3 only (nginx_tls.conf.in)",
                     args=["{raw}/nginx-tls"],
                     launcher=functools.partial(NginxTLSProcess, certfile=certfile,
                                                keyfile=keyfile)),
    ]


def takes_certificate(program):
    """Whether final_hello knows --certfile (older builds serve plain HTTP only)."""
    try:
        run = subprocess.run([program, "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--certfile" in run.stdout


# --- the check before the load --------------------------------------------------

def client_context(certfile):
    """Trusts our certificate alone and checks it names "localhost"."""
    context = ssl.create_default_context(cafile=certfile)
    # A server that closes the TCP connection without TLS's close_notify
    # still delivered its whole response; we read until the close.
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return context


def https_get(port, context, session=None, request=HELLO_CLOSE):
    """GET / with Connection: close (or `request`) on a new TLS connection,
    read until the server closes it: the response and what the connection
    negotiated."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(request)
            data = b""
            try:
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                raise OSError("the server kept the connection open after answering "
                              "\"Connection: close\" (read %d bytes)" % len(data))
            except ssl.SSLEOFError:  # closed without close_notify, after the response
                pass
            # The ticket arrives after the handshake: read the session last.
            return {"response": data, "version": tls.version(), "cipher": tls.cipher()[0],
                    "session": tls.session, "resumed": tls.session_reused}


def check_https(port, context, facts):
    """run_bench.start_checked's probe, over TLS: (response, problem or "").
    Two connections: the second offers the first one's session, as wrk does
    when it reconnects. `facts` gets the version, cipher and resumption."""
    try:
        first = https_get(port, context)
        second = https_get(port, context, session=first["session"])
    except (OSError, ssl.SSLError) as error:
        return b"", "GET / over TLS failed: %s" % error
    response = first["response"]
    if not is_hello(response):
        return response, "GET / did not answer 200 \"Hello, world\": %r" % response[:80]
    facts.update(version=first["version"], cipher=first["cipher"], resumed=second["resumed"])
    if first["version"] != "TLSv1.3":
        return response, "negotiated %s, not TLSv1.3" % first["version"]
    return response, ""


def is_hello(response):
    return response.startswith(b"HTTP/1.1 200") and response.endswith(b"\r\n\r\nHello, world")


def check_s_time_answer(port, context, facts):
    """The full-handshake scenario's probe: GET / HTTP/1.0 as s_time sends
    it. s_time only counts the bytes it reads, so the length of this answer
    (in facts["s_time_answer_bytes"]) is what tells a whole answer."""
    try:
        response = https_get(port, context, request=S_TIME_REQUEST)["response"]
    except (OSError, ssl.SSLError) as error:
        return b"", "GET / HTTP/1.0 over TLS failed: %s" % error
    if not is_hello(response):
        return response, "GET / HTTP/1.0 did not answer 200 \"Hello, world\": %r" % response[:80]
    facts["s_time_answer_bytes"] = len(response)
    return response, ""


# --- one wrk run ----------------------------------------------------------------

def passive_opens():
    """TCP connections this network namespace has accepted since boot."""
    with open("/proc/net/snmp") as f:
        tcp = [line.split() for line in f if line.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("PassiveOpens")])


def children_cpu_seconds():
    """CPU time of our finished children: wrk's (or s_time's), once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk_command(port, connections, close, options, pinning):
    headers = ["-H", "Connection: close"] if close else []
    return pinning.wrk_prefix() + [
        "wrk", "-t1", "-c%d" % connections, "-d%ds" % options.duration,
        "--timeout", "%ds" % WRK_TIMEOUT, "--latency", "-s", options.lua_path] + headers + [
        "https://127.0.0.1:%d/" % port]


def tls_round(process, connections, close, options, pinning, raw_file):
    """One wrk run against a running server: its figures, or None and why."""
    command = wrk_command(process.port, connections, close, options, pinning)
    cpu_before, opens_before, wrk_before = (bench.cpu_ticks(process.pid), passive_opens(),
                                            children_cpu_seconds())
    result, problem = bench.run_wrk_command(command, options.duration, raw_file)
    cpu_after, opens_after, wrk_after = (bench.cpu_ticks(process.pid), passive_opens(),
                                         children_cpu_seconds())
    if result is None or cpu_before is None or cpu_after is None:
        return None, problem or "the server exited"
    seconds = result["duration_us"] / 1e6
    cpu_seconds = (cpu_after - cpu_before) / bench.CLOCK_TICKS
    requests = result["requests"]
    result.update(seconds=seconds, cpu_seconds=cpu_seconds,
                  cpu_us_per_request=cpu_seconds * 1e6 / requests if requests else None,
                  accepted=opens_after - opens_before, wrk_cpu_seconds=wrk_after - wrk_before)
    return result, ""


def describe(result):
    """A round's log line."""
    return ("%10s req/s  %7.2f us server CPU per request  server core %3.0f%% busy  "
            "wrk core %3.0f%%  %s TCP connections accepted" % (
                "{:,.0f}".format(result["requests"] / result["seconds"]),
                result["cpu_us_per_request"] or 0, 100 * result["cpu_seconds"] / result["seconds"],
                100 * result["wrk_cpu_seconds"] / result["seconds"],
                "{:,}".format(result["accepted"])))


def summarise(row, rounds, close):
    """run_bench's summary (req/s, median CPU per request and latency,
    errors), plus wrk's core use and the accepted connections."""
    bench.summarise_rounds(row, rounds)
    row["wrk_busy_percent"] = "%.0f" % statistics.median(
        100 * r["wrk_cpu_seconds"] / r["seconds"] for r in rounds)
    row["accepted_per_round"] = statistics.median(r["accepted"] for r in rounds)
    requests = sum(r["requests"] for r in rounds)
    accepted = sum(r["accepted"] for r in rounds)
    row["accepted_per_request"] = accepted / requests if requests else 0.0
    if close and row["accepted_per_request"] < MIN_ACCEPTS_PER_REQUEST:
        row.update(status="not handshakes",
                   note="%d TCP connections accepted for %d requests: wrk reused connections "
                        "(did the server keep them open after Connection: close?)"
                        % (accepted, requests))


def run_scenario(scenario, servers, levels, close, options, bin_dir, pinning, context, facts):
    """Every server started once, checked over TLS, then loaded in turn."""
    def start(server, stderr_file, row):
        probe = functools.partial(check_https, context=context,
                                  facts=facts.setdefault(server.name, {}))
        return bench.start_checked(server, bin_dir, pinning, stderr_file, row, probe=probe)

    return bench.interleaved_rounds(
        scenario, servers, levels, options, start=start,
        run_round=lambda process, level, raw_file: tls_round(process, level, close, options,
                                                             pinning, raw_file),
        describe=describe, summarise=lambda row, rounds: summarise(row, rounds, close))


# --- one s_time run (the full-handshake scenario) -------------------------------

def s_time_arguments(address, duration):
    # -new: a new SSL object per connection, offering no session to resume.
    return ["openssl", "s_time", "-connect", address, "-new", "-www", "/",
            "-time", str(duration)]


def s_time_command(port, options, pinning):
    return pinning.wrk_prefix() + s_time_arguments("127.0.0.1:%d" % port, options.duration)


def wait_all(processes, deadline):
    """Waits for every process until `deadline` (time.monotonic()); kills
    them all and returns False when it passes."""
    try:
        for process in processes:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        return True
    except subprocess.TimeoutExpired:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        return False


def run_s_time(command, clients, duration, raw_file):
    """`clients` copies of the s_time command at once, their output kept in
    raw_file: (their outputs, seconds from the first start to the last end,
    "") or (None, None, why they failed)."""
    raw_file.write("$ %d x %s\n" % (clients, " ".join(command)))
    raw_file.flush()
    with contextlib.ExitStack() as stack:
        # Files, not pipes: a mark per connection would fill a pipe's buffer
        # in a long run while we wait for another process.
        outputs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(clients)]
        started = time.monotonic()
        processes = [subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT) for out in outputs]
        # s_time stops at the first whole second after -time; the margin
        # covers a server that answers slowly.
        if not wait_all(processes, started + duration + 30):
            return None, None, "s_time did not finish"
        seconds = time.monotonic() - started
        texts = []
        for out in outputs:
            out.seek(0)
            texts.append(out.read().decode(errors="replace"))
    for text, process in zip(texts, processes):
        raw_file.write(text + "\n[exit code %d]\n" % process.returncode)
    for text, process in zip(texts, processes):
        if process.returncode != 0:
            return None, None, "s_time failed: " + first_error(text)
    return texts, seconds, ""


def first_error(output):
    """The line of a failed s_time's output that says why: the first of
    OpenSSL's error queue (its stderr comes before its buffered stdout)."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if "error:" in line]
    return (errors or lines or ["no output"])[0 if errors else -1]


def parse_s_time(output):
    """One s_time -new run: {connections, full, resumed, bytes}, or None.
    Before its summary, s_time prints a mark per connection: "r" when the
    session was resumed, "*" for a new TLS 1.2 or 1.3 session."""
    summary = S_TIME_SUMMARY.search(output)
    start = output.find(S_TIME_START)
    if summary is None or start < 0:
        return None
    marks = output[output.find("\n", start) + 1:summary.start()]
    return {"connections": int(summary.group(1)), "bytes": int(summary.group(2)),
            "full": marks.count("*"), "resumed": marks.count("r")}


def full_handshake_round(process, clients, options, pinning, raw_file):
    """One run of `clients` s_time processes against a running server: its
    figures, or None and why."""
    command = s_time_command(process.port, options, pinning)
    cpu_before, client_before = bench.cpu_ticks(process.pid), children_cpu_seconds()
    outputs, seconds, problem = run_s_time(command, clients, options.duration, raw_file)
    cpu_after, client_after = bench.cpu_ticks(process.pid), children_cpu_seconds()
    if outputs is None or cpu_before is None or cpu_after is None:
        return None, problem or "the server exited"
    runs = [parse_s_time(output) for output in outputs]
    if None in runs:
        return None, "s_time printed no summary (see raw/%s)" % os.path.basename(raw_file.name)
    result = {key: sum(run[key] for run in runs) for key in runs[0]}
    cpu_seconds = (cpu_after - cpu_before) / bench.CLOCK_TICKS
    connections = result["connections"]
    result.update(seconds=seconds, cpu_seconds=cpu_seconds,
                  cpu_us_per_request=cpu_seconds * 1e6 / connections if connections else None,
                  client_cpu_seconds=client_after - client_before)
    return result, ""


def describe_full(result):
    """A full-handshake round's log line."""
    return ("%10s conns/s  %7.2f us server CPU per connection  server core %3.0f%% busy  "
            "s_time core %3.0f%%  %s of %s full handshakes" % (
                "{:,.0f}".format(result["connections"] / result["seconds"]),
                result["cpu_us_per_request"] or 0, 100 * result["cpu_seconds"] / result["seconds"],
                100 * result["client_cpu_seconds"] / result["seconds"],
                "{:,}".format(result["full"]), "{:,}".format(result["connections"])))


def pace_setter(server_busy, client_busy, client="client (s_time)"):
    """Which core set a run's pace, from how busy each was."""
    if server_busy >= PACE_BUSY_PERCENT:
        return "server"
    if client_busy >= PACE_BUSY_PERCENT:
        return client
    return "neither core full"


def summarise_full(row, rounds, answer_bytes):
    """The row from its rounds (connections/s over all of them, the rest the
    median round); it fails when a connection was resumed or when the bytes
    s_time read are not one whole answer per connection."""
    connections = sum(r["connections"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    per_connection = [r["cpu_us_per_request"] for r in rounds if r["cpu_us_per_request"]]
    server_busy = statistics.median(100 * r["cpu_seconds"] / r["seconds"] for r in rounds)
    client_busy = statistics.median(100 * r["client_cpu_seconds"] / r["seconds"] for r in rounds)
    full, resumed, read = (sum(r[key] for r in rounds) for key in ("full", "resumed", "bytes"))
    row.update(rounds=len(rounds), requests=connections, duration_s="%.2f" % seconds,
               rps="%.1f" % (connections / seconds if seconds else 0),
               cpu_busy_percent="%.0f" % server_busy, client_busy_percent="%.0f" % client_busy,
               pace=pace_setter(server_busy, client_busy), full=full, resumed=resumed,
               bytes_per_connection=read / connections if connections else 0)
    if per_connection:
        row["cpu_us_per_request"] = "%.3f" % statistics.median(per_connection)
    if resumed or full != connections:
        row.update(status="not full handshakes",
                   note="s_time marked %d of its %d connections full, %d resumed"
                        % (full, connections, resumed))
    elif read != connections * answer_bytes:
        row.update(status="not whole answers",
                   note="s_time read %d bytes in %d connections; a whole answer is %d bytes"
                        % (read, connections, answer_bytes))


def run_full_handshake(servers, options, bin_dir, pinning, context, facts):
    """Every server started once, checked with s_time's GET, then loaded in turn."""
    def start(server, stderr_file, row):
        probe = functools.partial(check_s_time_answer, context=context,
                                  facts=facts.setdefault(server.name, {}))
        return bench.start_checked(server, bin_dir, pinning, stderr_file, row, probe=probe)

    return bench.interleaved_rounds(
        FULL_HANDSHAKE, servers, [FULL_HANDSHAKE_CLIENTS], options, start=start,
        run_round=lambda process, clients, raw_file: full_handshake_round(
            process, clients, options, pinning, raw_file),
        describe=describe_full,
        summarise=lambda row, rounds: summarise_full(
            row, rounds, facts[row["server"]]["s_time_answer_bytes"]))


# --- the report -----------------------------------------------------------------

def fmt_cpu(row):
    if row["cpu_us_per_request"] == "":
        return "-"
    return "%.2f µs (%s%%)" % (float(row["cpu_us_per_request"]), row["cpu_busy_percent"])


def failed_cells(row, width):
    note = "%s%s" % (row["status"], ": " + row["note"] if row["note"] else "")
    return [note] + ["-"] * (width - 1)


def keepalive_table(rows):
    cells = []
    for row in rows:
        head = [row["server"], bench.fmt_count(row["connections"])]
        if row["status"] != "ok":
            cells.append(head + failed_cells(row, 7))
            continue
        cells.append(head + [bench.fmt_rps(row), bench.fmt_ms(row["p50_ms"]),
                             bench.fmt_ms(row["p99_ms"]), fmt_cpu(row),
                             row["wrk_busy_percent"] + "%",
                             bench.fmt_count(row["accepted_per_round"]), bench.fmt_errors(row)])
    return bench.markdown_table(
        ["server", "conns", "req/s", "p50", "p99", "server CPU per request (core busy)",
         "wrk core busy", "TCP connections accepted per run (machine-wide)", "wrk errors"], cells)


def handshake_table(rows, facts):
    cells = []
    for row in rows:
        head = [row["server"], bench.fmt_count(row["connections"])]
        kind = {True: "resumed (ticket)", False: "full"}.get(
            facts.get(row["server"], {}).get("resumed"), "-")
        if row["status"] != "ok" and "accepted_per_request" not in row:
            cells.append(head + failed_cells(row, 8))
            continue
        cells.append(head + [bench.fmt_rps(row), bench.fmt_ms(row["p50_ms"]),
                             bench.fmt_ms(row["p99_ms"]), fmt_cpu(row),
                             row["wrk_busy_percent"] + "%",
                             "%.2f" % row["accepted_per_request"], kind,
                             bench.fmt_errors(row) + ("" if row["status"] == "ok"
                                                      else "; " + row["note"])])
    return bench.markdown_table(
        ["server", "conns", "handshakes/s (req/s)", "p50", "p99",
         "server CPU per handshake + request (core busy)", "wrk core busy",
         "TCP connections accepted ÷ requests", "handshake wrk gets", "wrk errors"], cells)


def full_handshake_table(rows):
    cells = []
    for row in rows:
        head = [row["server"], bench.fmt_count(row["connections"])]
        if row["status"] != "ok" and "full" not in row:
            cells.append(head + failed_cells(row, 6))
            continue
        cells.append(head + [bench.fmt_rps(row), fmt_cpu(row), row["client_busy_percent"] + "%",
                             row["pace"], "%s of %s" % (bench.fmt_count(row["full"]),
                                                        bench.fmt_count(row["requests"])),
                             "%.0f" % row["bytes_per_connection"] + (
                                 "" if row["status"] == "ok"
                                 else " (%s: %s)" % (row["status"], row["note"]))])
    return bench.markdown_table(
        ["server", "s_time processes", "connections/s", "server CPU per full handshake + "
         "request (core busy)", "s_time core busy", "pace set by",
         "full handshakes (s_time's marks)", "bytes read per connection"], cells)


def servers_table(servers, facts, rows):
    response_bytes = {r["server"]: r["response_bytes"] for r in rows if r["response_bytes"] != ""}
    cells = []
    for server in servers:
        mine = facts.get(server.name, {})
        resumed = {True: "yes", False: "no"}.get(mine.get("resumed"), "-")
        cells.append([server.name, server.model, mine.get("version", "-"),
                      mine.get("cipher", "-"), resumed,
                      bench.fmt_count(response_bytes.get(server.name, ""))])
    return bench.markdown_table(["server", "what it is", "TLS", "cipher (Python's ssl as client)",
                                 "resumes a session", "response bytes"], cells)


def cpu_figure(rows, scenario, server, connections):
    for row in rows:
        if ((row["scenario"], row["server"], row["connections"]) == (scenario, server, connections)
                and row["status"] == "ok" and row["cpu_us_per_request"] != ""):
            return float(row["cpu_us_per_request"])
    return None


def ratio_checks(rows, options):
    """Ours ÷ nginx, server CPU per request: judged against the goal in
    keep-alive, shown without one for handshakes."""
    checks = []
    for level in options.levels:
        checks.append(bench.goal_check(
            OURS, "keep-alive", level, cpu_figure(rows, KEEPALIVE, OURS, level),
            GOAL_KEEPALIVE_CPU_VS_NGINX, False, 2, NGINX,
            cpu_figure(rows, KEEPALIVE, NGINX, level)))
    handshake = bench.goal_check(
        OURS, "new TLS connection per request", HANDSHAKE_CONNECTIONS,
        cpu_figure(rows, HANDSHAKE, OURS, HANDSHAKE_CONNECTIONS), 0, False, 2, NGINX,
        cpu_figure(rows, HANDSHAKE, NGINX, HANDSHAKE_CONNECTIONS))
    full = bench.goal_check(
        OURS, "full TLS handshake per connection (s_time -new)", FULL_HANDSHAKE_CLIENTS,
        cpu_figure(rows, FULL_HANDSHAKE, OURS, FULL_HANDSHAKE_CLIENTS), 0, False, 2, NGINX,
        cpu_figure(rows, FULL_HANDSHAKE, NGINX, FULL_HANDSHAKE_CLIENTS))
    for check in (handshake, full):
        check.update(goal="none", verdict="(measured, no goal)"
                     if check["ratio"] is not None else check["verdict"])
    return checks + [handshake, full]


def ratios_table(checks):
    def us(value):
        return "-" if value is None else "%.2f µs" % value

    cells = []
    for check in checks:
        goal = ("≤ %.2f" % GOAL_KEEPALIVE_CPU_VS_NGINX if check["goal"] != "none" else "-")
        ratio = "-" if check["ratio"] is None else "**%.2f**" % check["ratio"]
        cells.append([check["measure"], bench.fmt_count(check["connections"]),
                      us(check["value"]), us(check["reference_value"]), ratio, goal,
                      check["verdict"]])
    return bench.markdown_table(["scenario", "conns", "%s CPU per request" % OURS,
                                 "nginx CPU per request", "ours ÷ nginx", "goal", "verdict"],
                                cells)


def goal_sentence(checks):
    judged = [c for c in checks if c["goal"] != "none"]
    parts = ["%s at %s conns (%s)" % (c["verdict"], bench.fmt_count(c["connections"]),
                                      "-" if c["ratio"] is None else "%.2f" % c["ratio"])
             for c in judged]
    return ("Goal: %s's server CPU per keep-alive HTTPS request at most %.1fx nginx's: %s. "
            "(A measurement: it never fails the run.)" % (
                OURS, GOAL_KEEPALIVE_CPU_VS_NGINX, "; ".join(parts)))


def method_text(options, pinning):
    example = "wrk -t1 -cN -d%ds --timeout %ds --latency -s raw/report.lua" % (
        options.duration, WRK_TIMEOUT)
    return "\n".join([
        "- Pinning: %s." % pinning.describe(),
        "- Certificate: self-signed EC P-256 for localhost and 127.0.0.1, made by "
        "`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256` for this run "
        "(`tls/cert.pem`, `tls/key.pem`); both servers serve it.",
        "- Keep-alive: `%s https://127.0.0.1:PORT/` at N = %s." % (
            example, " and ".join(bench.fmt_count(n) for n in options.levels)),
        "- New TLS connection per request: `%s -H \"Connection: close\" "
        "https://127.0.0.1:PORT/` at N = %d; the server closes each connection after "
        "its response and wrk reconnects, offering the session of its previous "
        "connection." % (example, HANDSHAKE_CONNECTIONS),
        "- Full handshake per connection: %d processes of `%s` at once, on wrk's core. "
        "`-new` makes a new SSL object per connection, which offers no session: every "
        "handshake is full (the server signs with the certificate's key, both sides make "
        "a key exchange); then `GET / HTTP/1.0`, read until the server closes. s_time "
        "prints a mark per connection (`r` when resumed) and the bytes it read: the row "
        "fails unless every mark says full and every connection read a whole answer (its "
        "length from one such GET through Python's ssl)." % (
            FULL_HANDSHAKE_CLIENTS, " ".join(s_time_arguments("127.0.0.1:PORT",
                                                              options.duration))),
        "- s_time stops at the first whole second after -time: connections/s is all the "
        "connections ÷ our clock from the first start to the last exit. Each s_time is "
        "one thread; s_time core busy is their CPU time (getrusage of our children) ÷ "
        "those seconds. A full handshake costs the client more CPU than the server, so "
        "the client core usually sets the pace (\"pace set by\": the core at least %d%% "
        "busy; \"neither core full\": round trips or other programs on the machine held "
        "both back): connections/s is then the client's ceiling, the server is not saturated "
        "and pays its wake-ups per connection, and server CPU per handshake is the figure "
        "that compares the servers." % PACE_BUSY_PERCENT,
        "- %d round(s) per server and scenario, the servers taking turns; a figure is "
        "the median round (req/s: all rounds' requests ÷ all their seconds)." % options.rounds,
        "- Server CPU: utime + stime of the server's one process (nginx runs as its own "
        "single worker, `master_process off`) from /proc/PID/stat before and after each "
        "wrk run, ÷ the requests wrk completed (s_time's connections in the full-handshake "
        "scenario); core busy is that CPU time ÷ the run's "
        "seconds. wrk core busy: wrk's own CPU time (getrusage of our children) ÷ the "
        "run's seconds; near 100%, wrk set the pace.",
        "- TCP connections accepted: PassiveOpens of /proc/net/snmp before and after each "
        "run (machine-wide: other programs' connections count too).",
        "- Before the load, Python's ssl makes two connections to each server (the second "
        "offering the first one's session): the table of servers shows what they "
        "negotiated and whether the session was resumed.",
    ])


def version_of(command, pattern=None):
    try:
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = run.stdout.decode(errors="replace").strip().splitlines()
    if pattern:
        lines = [line for line in lines if pattern in line]
    return "; ".join(lines) if lines else "?"


def machine_facts():
    facts = bench.machine_facts(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    return facts + [
        ("OpenSSL", version_of(["openssl", "version"])),
        ("nginx", version_of(["/usr/sbin/nginx", "-V"], "nginx version") + "; " +
         version_of(["/usr/sbin/nginx", "-V"], "built with")),
    ]


def report(options, pinning, machine, servers, facts, keepalive_rows, handshake_rows, full_rows,
           checks):
    # The full-handshake rows' response bytes are HTTP/1.0 answers: not in
    # the servers' table, whose probe asked HTTP/1.1.
    rows = keepalive_rows + handshake_rows
    parts = [
        "# HTTPS: %s against nginx" % OURS, "",
        "Command: `%s`" % options.command, "",
        "## The servers", "", servers_table(servers, facts, rows), "",
        "## Keep-alive HTTPS", "", keepalive_table(keepalive_rows), "",
        "## A new TLS connection per request (Connection: close)", "",
        handshake_table(handshake_rows, facts), "",
        "## A full TLS handshake per connection (openssl s_time -new)", "",
        full_handshake_table(full_rows), "",
        "## Ours ÷ nginx, server CPU per request", "", ratios_table(checks), "",
        goal_sentence(checks), "",
        "## Method", "", method_text(options, pinning), "",
        "## Machine", "", "\n".join("- %s: %s" % fact for fact in machine), "",
    ]
    return "\n".join(parts)


# --- the command line -----------------------------------------------------------

def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of final_hello (default: build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where results go (default: build/bench)")
    parser.add_argument("--duration", type=int,
                        help="seconds per wrk or s_time run (default: %d; --quick: %d)" % (
                            DURATION, QUICK_DURATION))
    parser.add_argument("--rounds", type=int,
                        help="runs per server and scenario, the median counts "
                             "(default: %d; --quick: %d)" % (ROUNDS, QUICK_ROUNDS))
    parser.add_argument("--levels", type=bench.parse_levels,
                        help="keep-alive connection counts (default: %s; --quick: %s)" % (
                            ",".join(map(str, KEEPALIVE_LEVELS)),
                            ",".join(map(str, QUICK_KEEPALIVE_LEVELS))))
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: %d round of %d s, keep-alive at %s connections" % (
                            QUICK_ROUNDS, QUICK_DURATION,
                            ",".join(map(str, QUICK_KEEPALIVE_LEVELS))))
    options = parser.parse_args(argv)
    if options.duration is None:
        options.duration = QUICK_DURATION if options.quick else DURATION
    if options.rounds is None:
        options.rounds = QUICK_ROUNDS if options.quick else ROUNDS
    if options.levels is None:
        options.levels = QUICK_KEEPALIVE_LEVELS if options.quick else KEEPALIVE_LEVELS
    if options.duration < 1 or options.rounds < 1:
        parser.error("--duration and --rounds are 1 or more")
    script = os.path.relpath(os.path.abspath(__file__), os.getcwd())
    options.command = " ".join(shlex.quote(part) for part in [sys.executable, script] + list(argv))
    return options


def missing_tools(bin_dir):
    """What keeps the benchmark from running at all, as sentences."""
    problems = ["%s is not installed (tools/install-deps.sh bench)" % tool
                for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if shutil.which("openssl") is None:
        problems.append("the openssl command is not installed (Debian: apt-get install openssl)")
    ours = os.path.join(bin_dir, "final_hello")
    if not os.access(ours, os.X_OK):
        problems.append("%s not found (make bench-tls builds it)" % ours)
    elif not takes_certificate(ours):
        problems.append("%s takes no --certfile: an old build? (make bench-tls rebuilds it)" % ours)
    return problems


def main(argv):
    options = parse_options(argv)
    bin_dir = os.path.abspath(options.bin)
    problems = missing_tools(bin_dir)
    if problems:
        for problem in problems:
            log("tls_bench: " + problem)
        return 2

    options.out = os.path.abspath(options.out)
    raw_dir = os.path.join(options.out, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    options.lua_path = os.path.join(raw_dir, "report.lua")
    with open(options.lua_path, "w") as f:
        f.write(bench.WRK_REPORT_LUA)
    try:
        certfile, keyfile = make_certificate(os.path.join(options.out, "tls"))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        log("tls_bench: cannot make the certificate: %s" % error)
        return 2

    pinning = bench.Pinning()
    machine = machine_facts()
    all_servers = make_servers(certfile, keyfile)
    servers = []
    for server in all_servers:
        missing = server.missing(bin_dir)
        if missing:
            log("note: %s; '%s' is left out" % (missing, server.name))
        else:
            servers.append(server)
    wrk_runs = len(servers) * (len(options.levels) + 1) * options.rounds
    s_time_runs = len(servers) * options.rounds
    # s_time runs up to a second past its -time.
    log("TLS benchmark: %d wrk runs of %d s and %d s_time runs of %d-%d s, about %d s in all" % (
        wrk_runs, options.duration, s_time_runs, options.duration, options.duration + 1,
        wrk_runs * (options.duration + 0.5) + s_time_runs * (options.duration + 1) + 6))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in machine))
    log()

    facts = {}
    context = client_context(certfile)
    keepalive_rows = run_scenario(KEEPALIVE, servers, options.levels, False, options, bin_dir,
                                  pinning, context, facts)
    handshake_rows = run_scenario(HANDSHAKE, servers, [HANDSHAKE_CONNECTIONS], True, options,
                                  bin_dir, pinning, context, facts)
    full_rows = run_full_handshake(servers, options, bin_dir, pinning, context, facts)
    rows = keepalive_rows + handshake_rows + full_rows
    checks = ratio_checks(rows, options)
    # Other work on the machine takes the servers' and wrk's cores from them:
    # say how busy it was at the end too.
    machine.append(("load average at end (1, 5, 15 min)",
                    " ".join(bench.read_first("/proc/loadavg", r"^(.*)$").split()[:3])))
    text = report(options, pinning, machine, all_servers, facts, keepalive_rows,
                  handshake_rows, full_rows, checks)
    with open(os.path.join(options.out, "tls.md"), "w") as f:
        f.write(text)
    log()
    log(text)
    log("Wrote %s; wrk's and s_time's output and the servers' stderr in %s/tls-*.txt" % (
        os.path.join(options.out, "tls.md"), raw_dir))
    complete = (len(servers) == len(all_servers)
                and all(row["status"] == "ok" for row in rows))
    return 0 if complete else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
