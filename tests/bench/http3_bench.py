#!/usr/bin/env python3
"""Our HTTP/3 against ngtcp2's own server, gtlsserver, in the same run: `make bench-http3`.

    python3 tests/bench/http3_bench.py --bin build/bin --out build/bench
    python3 tests/bench/http3_bench.py --quick                # 1 round of 1 s per run (~60 s)
    python3 tests/bench/http3_bench.py --duration 10 --rounds 5

Three servers answer the two resources of make bench-http2, each on one core:

  final-h3    build/bin/final_hello --http3 --static_path=DIR (final/http3
              over ngtcp2 0.12, nghttp3 0.8 and GnuTLS): / is its
              MainHandler's "Hello, world", /static/ a StaticFileHandler.
              final_hello, not demo_app: demo_app has no --http3 (yet), so
              final_hello got a --static_path of its own (the same handler
              demo_app uses), which is all the 16 KiB file needs; the test
              server final_http3_server serves no files
  gtlsserver  ngtcp2's example server (Debian's ngtcp2-server, on the same
              ngtcp2, nghttp3 and GnuTLS): `gtlsserver -q -d ROOT 127.0.0.1
              PORT key cert`; it serves ROOT's files, / as ROOT/index.html
  final-h2    the reference, not a goal: final/'s HTTP/2 over TLS
              (demo_app --http2 --static_path=DIR, as make bench-http2 runs
              it), loaded by h2load

The two resources (http2_bench.py's, the same bytes):

  hello   GET /: the 12 bytes "Hello, world"
  static  GET /static/file16k.bin: 16,384 bytes of a fixed pseudo-random
          sequence

made for the run in OUT/http3-www/ (index.html, and static/ with hello.txt
and file16k.bin): gtlsserver serves OUT/http3-www, final/'s two servers
OUT/http3-www/static at /static/.

Each cell (resource, connections -c, streams per connection -m) is loaded
by `h3_load -cC -mM -D D --warm-up-time W URL` (tests/bench/h3_load.cpp:
one thread, ngtcp2 and nghttp3, h2load's options and output) for the two
HTTP/3 servers and by `h2load -t1 ...` for final-h2, C = 1 and 100, M = 1
and 100. For each resource and -m the three servers are started once and,
at each -c, the rounds visit them in turn (run_bench.py's
interleaved_rounds); a figure is the median of the rounds. The server runs
on CPU 1 and the client on CPU 0 (db_bench.py's Pinning).

The client says when its warm-up ends and when its measured duration ends;
the server's CPU time is read at those two moments (tfb_bench.py's
CpuMeter, through http2_bench.py's run_h2load), so the QUIC and TLS
handshakes fall in the warm-up; CPU per request is that time ÷ the
requests the client completed, req/s the client's.

Each time a server starts it is checked: gtlsclient (ngtcp2's client,
which we did not write) fetches the resource over HTTP/3, curl over HTTP/2
for final-h2; the answer must be 200 and the very bytes of the file. A
round fails when the client's protocol is not h3 (h2), or a request failed
or was not 2xx, or the client did not finish in time: the report says so
in that cell, and the run goes on.

Goal (printed, never enforced): final-h3 at or above gtlsserver's req/s and
at or below its server CPU per request, in every cell.

Writes OUT/http3.md (the tables, the method, the machine and the command)
and prints it; the clients' output goes to OUT/raw/http3-<resource>-m<M>-
<server>-<C>.txt, the servers' stderr to OUT/raw/http3-*.server-stderr.txt.
Exits 0 when every server got its figures in every cell, 1 when one failed,
2 when a tool is missing (h3_load, gtlsserver, gtlsclient, h2load, curl,
openssl), or final_hello takes no --http3 or demo_app no --http2.
Standard library only.
"""
import argparse
import functools
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run_bench as bench  # noqa: E402  (Server, interleaved_rounds, goal_check, tables)
import http2_bench as h2  # noqa: E402  (the files, h2load's run and parse, the rounds' summary)
from db_bench import Pinning  # noqa: E402  (the server on CPU 1, the client on CPU 0)
from tls_bench import version_of  # noqa: E402
from certificate import make_certificate  # noqa: E402  (tls_bench put tools/ on the path)

DURATION = h2.DURATION
QUICK_DURATION = h2.QUICK_DURATION
WARM_UP = h2.WARM_UP
QUICK_WARM_UP = h2.QUICK_WARM_UP
ROUNDS = h2.ROUNDS
QUICK_ROUNDS = h2.QUICK_ROUNDS
CONNECTIONS = h2.CONNECTIONS   # -c
STREAMS = h2.STREAMS           # -m
RESOURCES = h2.RESOURCES       # (name, URL path, what it is)
# h3_load's own -T: no answer at all for this long ends its run (it says
# so and exits 1), well before run_h2load kills it (h2.H2LOAD_TIMEOUT s
# past its time).
H3_LOAD_STALL = 10
# Seconds gtlsclient may take for its one check.
CHECK_TIMEOUT = 20

OURS = "final-h3"
GTLS = "gtlsserver"
H2REF = "final-h2"
SERVER_ORDER = (OURS, GTLS, H2REF)

log = bench.log


# --- the files served -----------------------------------------------------------

def make_root(folder):
    """OUT/http3-www/: index.html (the hello, gtlsserver's /) and static/
    (http2_bench.py's make_www: hello.txt and file16k.bin). Returns the
    root, the static folder and what each resource answers."""
    os.makedirs(folder, exist_ok=True)
    static, content = h2.make_www(os.path.join(folder, "static"))
    with open(os.path.join(folder, "index.html"), "wb") as f:
        f.write(content["hello"])
    return folder, static, content


# --- the servers ----------------------------------------------------------------

def free_udp_port():
    """A UDP port nobody has bound now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def udp_bound(port):
    """Whether some socket has bound 127.0.0.1:port (or *:port) over UDP."""
    ending = ":%04X" % port
    try:
        with open("/proc/net/udp") as f:
            next(f)
            return any(line.split()[1].endswith(ending) for line in f)
    except (OSError, IndexError, StopIteration):
        return False


class GtlsserverProcess:
    """gtlsserver as a course server: the interface of ServerProcess
    (.port, .pid, .process, stop()). It prints no ready line: we pick a
    free UDP port, start it there, and it is ready once the port is bound
    (the check that follows fetches a file over HTTP/3). Stopped by the PID
    we started: SIGTERM, then SIGKILL."""

    def __init__(self, program, htdocs, certfile, keyfile, cpu=None, stderr=None,
                 ready_timeout=10.0):
        self.program = program
        self.htdocs = htdocs
        self.certfile = certfile
        self.keyfile = keyfile
        self.cpu = cpu
        self.stderr = stderr
        self.ready_timeout = ready_timeout
        self.process = None
        self.port = None

    @property
    def pid(self):
        return self.process.pid

    def __enter__(self):
        for _ in range(3):  # another program may take the port before gtlsserver binds it
            self.port = free_udp_port()
            command = [self.program, "-q", "-d", self.htdocs, "127.0.0.1", str(self.port),
                       self.keyfile, self.certfile]
            if self.cpu is not None:
                command = ["taskset", "-c", str(self.cpu)] + command
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=self.stderr)
            deadline = time.monotonic() + self.ready_timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if udp_bound(self.port):
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("gtlsserver did not bind its UDP port")

    def __exit__(self, *exc):
        self.stop()

    def stop(self, grace=5.0):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def gtlsserver_path():
    return shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"


def make_servers(certfile, keyfile, root, static):
    tls_args = ["--certfile=" + certfile, "--keyfile=" + keyfile]
    return [
        # --logging=warning: no access-log line per request (gtlsserver -q
        # logs none either).
        bench.Server(OURS, "final_hello",
                     "final/: final_hello --http3 (final/http3 over ngtcp2, nghttp3 and GnuTLS), "
                     "its MainHandler and a StaticFileHandler (--static_path)",
                     args=["--address=127.0.0.1", "--logging=warning", "--http3",
                           "--static_path=" + static] + tls_args),
        bench.Server(GTLS, gtlsserver_path(),
                     "ngtcp2's example server (ngtcp2-server), `-q -d %s`, its files" %
                     os.path.basename(root),
                     launcher=functools.partial(GtlsserverProcess, htdocs=root,
                                                certfile=certfile, keyfile=keyfile)),
        bench.Server(H2REF, "demo_app",
                     "reference: final/'s HTTP/2 over TLS, demo_app --http2 (as make "
                     "bench-http2 runs it), loaded by h2load",
                     args=["--address=127.0.0.1", "--logging=warning", "--http2",
                           "--static_path=" + static] + tls_args),
    ]


def takes(program, option):
    """Whether a program of ours lists `option` in its --help."""
    try:
        run = subprocess.run([program, "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option.encode() in run.stdout


# --- the check before the load --------------------------------------------------

def check_http3(port, path, expected):
    """start_checked's probe for an HTTP/3 server: gtlsclient fetches `path`;
    (the body, problem or "")."""
    with tempfile.TemporaryDirectory() as download:
        command = ["gtlsclient", "--no-quic-dump", "--no-http-dump", "--download", download,
                   "--exit-on-all-streams-close", "127.0.0.1", str(port),
                   "https://127.0.0.1:%d%s" % (port, path)]
        try:
            run = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=CHECK_TIMEOUT)
        except subprocess.TimeoutExpired:
            return b"", "gtlsclient GET %s took over %d s" % (path, CHECK_TIMEOUT)
        except OSError as error:
            return b"", "gtlsclient did not run: %s" % error
        text = run.stdout.decode(errors="replace")
        if run.returncode != 0:
            return b"", "gtlsclient GET %s exited %d: %s" % (path, run.returncode,
                                                             text.strip()[-200:])
        name = os.path.basename(path) or "index.html"
        try:
            with open(os.path.join(download, name), "rb") as f:
                body = f.read()
        except OSError:
            body = b""
    if "[:status: 200]" not in text or body != expected:
        return body, "GET %s over HTTP/3 was not 200 with the %d bytes expected (%d bytes)" % (
            path, len(expected), len(body))
    return body, ""


# --- one run of the client -------------------------------------------------------

def h3_load_command(h3_load, port, path, connections, streams, options, pinning):
    return pinning.prefix(pinning.wrk_cpu) + [
        h3_load, "-c%d" % connections, "-m%d" % streams,
        "-D", "%dms" % (options.duration * 1000), "--warm-up-time",
        "%dms" % (options.warm_up * 1000), "-T", str(H3_LOAD_STALL),
        "https://127.0.0.1:%d%s" % (port, path)]


def h3_round(process, h3_load, path, connections, streams, options, pinning, raw_file, facts):
    """One h3_load run against a running HTTP/3 server: http2_bench.py's
    h2load_round with h3_load for h2load. Its figures, or None and why."""
    restarted, problem = h2.restart_if_needed(process)
    if problem:
        return None, problem
    command = h3_load_command(h3_load, process.port, path, connections, streams, options,
                              pinning)
    output, server_cpu, client_cpu, seconds, problem = h2.run_h2load(command, process.pid,
                                                                     options, raw_file)
    if output is None:
        return None, problem.replace("h2load", "h3_load")
    result = h2.parse_h2load(output)
    if result is None:
        return None, "h3_load printed no results (see raw/%s)" % os.path.basename(raw_file.name)
    # What went wrong, in h3_load's words (its stderr, merged): a connection
    # the server closed or that never got through its handshake, requests
    # errored or timed out, -T's stall. Any of them fails the round (h3_load
    # exits 1), even when the requests it did count all succeeded.
    complaints = [line.strip() for line in output.splitlines() if line.startswith("h3_load:")]
    if result["protocol"] != "h3":
        return None, "no QUIC handshake completed (h3_load's protocol: %s)%s" % (
            result["protocol"], "; " + " / ".join(complaints[-2:]) if complaints else "")
    if complaints:
        return None, " / ".join(complaints[-2:])
    if result["failed"] or result["not_2xx"]:
        return None, "h3_load: %d requests failed, %d answers not 2xx" % (
            result["failed"], result["not_2xx"])
    if result["tls"]:
        facts["tls"], facts["cipher"] = result["tls"], result["cipher"]
    time.sleep(h2.DEATH_WATCH)
    requests = result["requests"]
    result.update(seconds=seconds, cpu_seconds=server_cpu, client_cpu_seconds=client_cpu,
                  restarted=restarted, died=process.process.poll(),
                  cpu_us_per_request=server_cpu * 1e6 / requests if requests else None,
                  header_bytes_per_request=result["header_bytes"] / requests if requests else 0)
    return result, ""


def summarise(row, rounds):
    h2.summarise(row, rounds)
    if row["server"] != H2REF and row["pace"] == "h2load":
        row["pace"] = "h3_load"


def run_cell_group(resource_name, path, streams, servers, expected, options, bin_dir, pinning,
                   certfile, facts):
    """One resource, one -m: the three servers started, checked, and loaded
    in turns at each -c. Rows, one per server and -c."""
    scenario = "http3-%s-m%d" % (resource_name, streams)
    h3_load = os.path.join(bin_dir, "h3_load")

    def start(server, stderr_file, row):
        if server.name == H2REF:
            probe = functools.partial(h2.check_http2, way="h2", path=path, expected=expected,
                                      certfile=certfile, server_name=server.name)
        else:
            probe = functools.partial(check_http3, path=path, expected=expected)
        process = bench.start_checked(server, bin_dir, pinning, stderr_file, row, probe=probe)
        if process is not None:
            process.bench_name = server.name
            process.bench_probe = probe
        return process

    def run_round(process, connections, raw_file):
        mine = facts.setdefault(process.bench_name, {})
        if process.bench_name == H2REF:
            return h2.h2load_round(process, "h2", path, connections, streams, options, pinning,
                                   raw_file, mine)
        return h3_round(process, h3_load, path, connections, streams, options, pinning,
                        raw_file, mine)

    rows = bench.interleaved_rounds(scenario, servers, CONNECTIONS, options, start=start,
                                    run_round=run_round, describe=h2.describe,
                                    summarise=summarise)
    for row in rows:
        row.update(resource=resource_name, streams=streams)
    return rows


# --- the report -----------------------------------------------------------------

def cells():
    return [(resource_name, connections, streams) for resource_name, _, _ in RESOURCES
            for streams in STREAMS for connections in CONNECTIONS]


def find_row(rows, cell, server):
    for row in rows:
        if (row["resource"], row["connections"], row["streams"], row["server"]) == cell + (server,):
            return row
    return None


def figure(rows, cell, server, field):
    row = find_row(rows, cell, server)
    if row is None or not h2.measured(row) or row.get(field, "") == "":
        return None
    return float(row[field])


def failure_mark(rows, cell, server):
    """What a results cell shows for a server without figures: why, short."""
    row = find_row(rows, cell, server)
    if row is None:
        return "-"
    return "failed" if row["status"] != "ok" else "-"


def dagger(rows, cell, server):
    row = find_row(rows, cell, server)
    return " †" if row is not None and row["status"] == "server died" and h2.measured(row) else ""


def cell_checks(rows, cell):
    """The goal's two checks for one cell: final-h3's req/s at least
    gtlsserver's, its CPU per request at most gtlsserver's."""
    connections = cell[1]
    return {
        ("rps", GTLS): bench.goal_check(
            OURS, "req/s", connections, figure(rows, cell, OURS, "rps"), 1.0, True, 2, GTLS,
            figure(rows, cell, GTLS, "rps")),
        ("cpu", GTLS): bench.goal_check(
            OURS, "CPU per request", connections, figure(rows, cell, OURS, "cpu_us_per_request"),
            1.0, False, 2, GTLS, figure(rows, cell, GTLS, "cpu_us_per_request")),
    }


def results_table(rows):
    lines = []
    for cell in cells():
        resource_name, connections, streams = cell
        checks = cell_checks(rows, cell)

        def rps(server):
            value = figure(rows, cell, server, "rps")
            if value is None:
                return failure_mark(rows, cell, server)
            return "{:,.0f}".format(value) + dagger(rows, cell, server)

        def cpu(server):
            value = figure(rows, cell, server, "cpu_us_per_request")
            if value is None:
                return failure_mark(rows, cell, server)
            return "%.2f" % value + dagger(rows, cell, server)

        def rss(server):
            row = find_row(rows, cell, server)
            return bench.fmt_mb(row.get("hwm_kb", "")) if row else "-"

        lines.append([resource_name, bench.fmt_count(connections), bench.fmt_count(streams),
                      rps(OURS), rps(GTLS), h2.fmt_ratio(checks[("rps", GTLS)]),
                      cpu(OURS), cpu(GTLS), h2.fmt_ratio(checks[("cpu", GTLS)]),
                      rss(OURS), rss(GTLS), h2.goal_cell(checks), rps(H2REF), cpu(H2REF)])
    return bench.markdown_table(
        ["resource", "conns (-c)", "streams per conn (-m)", "final-h3 req/s", "gtlsserver req/s",
         "final ÷ gtls", "final-h3 CPU µs/req", "gtlsserver CPU µs/req", "final ÷ gtls",
         "final-h3 peak RSS", "gtlsserver peak RSS", "goal", "final-h2 req/s (ref.)",
         "final-h2 CPU µs/req (ref.)"], lines)


def goal_sentence(rows):
    verdicts = [h2.goal_cell(cell_checks(rows, cell)) for cell in cells()]
    met = sum(1 for verdict in verdicts if verdict == "met")
    return ("Goal: final-h3 at or above gtlsserver on req/s and at or below it on server CPU "
            "per request (ratios judged as printed, to 2 digits): met in %d of %d cells. "
            "(A measurement: it never fails the run.)" % (met, len(verdicts)))


def failures_sentence(rows):
    parts = ["%s, %s -c %d -m %d: %s (%s)" % (row["server"], row["resource"],
                                               row["connections"], row["streams"],
                                               row["status"], row["note"])
             for row in rows if row["status"] != "ok"]
    if not parts:
        return "Every server answered every request of every round (no failure, no timeout)."
    return "Failures (the cell keeps the rounds before, marked †, or shows `failed`): " + \
        "; ".join(parts) + "."


def details_table(rows):
    order = {cell: index for index, cell in enumerate(cells())}
    lines = []
    for row in sorted(rows, key=lambda r: (order[(r["resource"], r["connections"],
                                                  r["streams"])],
                                           SERVER_ORDER.index(r["server"]))):
        head = [row["resource"], bench.fmt_count(row["connections"]),
                bench.fmt_count(row["streams"]), row["server"]]
        if not h2.measured(row):
            lines.append(head + ["%s: %s" % (row["status"], row["note"])] + ["-"] * 9)
            continue
        cpu = ("-" if row.get("cpu_us_per_request", "") == "" else "%.2f µs (%s%%)" % (
            float(row["cpu_us_per_request"]), row["cpu_busy_percent"]))
        died = (" † (%d round(s), then %s: %s)" % (row["rounds"], row["status"], row["note"])
                if row["status"] != "ok" else "")
        lines.append(head + [
            bench.fmt_rps(row) + died,
            ", ".join("{:,.0f}".format(r) for r in row["rps_rounds"]), cpu,
            row["client_busy_percent"] + "%", row["pace"], row["header_bytes"],
            bench.fmt_count(row["response_bytes"]), bench.fmt_mb(row["hwm_kb"]),
            h2.restarts_cell(row), h2.deaths_cell(row)])
    return bench.markdown_table(
        ["resource", "-c", "-m", "server", "req/s (median)", "req/s of each round",
         "server CPU per request (core busy)", "client core busy", "pace set by",
         "header bytes per response", "body bytes", "server peak RSS",
         "started again before a round", "died within %g s of the client's exit" %
         h2.DEATH_WATCH], lines)


def servers_table(servers, facts):
    lines = []
    for server in servers:
        tls = facts.get(server.name, {})
        client = "h2load" if server.name == H2REF else "h3_load"
        lines.append([server.name, server.model, client,
                      "%s, %s" % (tls["tls"], tls["cipher"]) if "tls" in tls else "-"])
    return bench.markdown_table(["server", "what it is", "client", "TLS (the client's)"], lines)


def method_text(options, pinning):
    example = "h3_load -cC -mM -D %dms --warm-up-time %dms -T %d URL" % (
        options.duration * 1000, options.warm_up * 1000, H3_LOAD_STALL)
    return "\n".join([
        "- Pinning: %s." % pinning.describe().replace("wrk", "the client (h3_load, h2load)")
        .replace("servers and PostgreSQL", "the server"),
        "- Load: `%s` (tests/bench/h3_load.cpp: one thread, ngtcp2 and nghttp3, h2load's "
        "options and output) for C = %s and M = %s: one request at a time, 100 streams on "
        "one connection, 100 connections of one stream, 100 connections of 100 streams. "
        "final-h2 (the reference) gets make bench-http2's `h2load -t1` with the same C, M, "
        "durations and URL over TLS (h2 by ALPN)." % (
            example, " and ".join(map(str, CONNECTIONS)), " and ".join(map(str, STREAMS))),
        "- TLS: 1.3 (QUIC has no other), a self-signed EC P-256 certificate made for the "
        "run (`tls/cert.pem`; tools/certificate.py), the same for all three.",
        "- Resources: `/`, \"Hello, world\" (12 bytes: final/'s MainHandler, gtlsserver's "
        "`index.html`), and `/static/%s` (16,384 bytes of a fixed pseudo-random sequence: "
        "final/'s StaticFileHandler on `http3-www/static`, gtlsserver's file under "
        "`http3-www`)." % h2.STATIC_NAME,
        "- Each server is checked each time it starts: gtlsclient (ngtcp2's client) fetches "
        "the resource over HTTP/3 (curl over HTTP/2 for final-h2); the answer must be 200 "
        "and the file's bytes. A round fails if the client's protocol is not h3 (h2), a "
        "request failed or was not 2xx, or the client stalled %d s (h3_load's -T) or ran "
        "%d s past its time (killed)." % (H3_LOAD_STALL, h2.H2LOAD_TIMEOUT),
        "- For each resource and -m the three servers run at once, idle but the one "
        "loaded; at each -c, %d round(s), the servers taking turns (one further along each "
        "round); a figure is the median round's." % options.rounds,
        "- Server CPU: read when the client prints that its measured duration starts and "
        "that it is over (so the QUIC and TLS handshakes fall in the warm-up): the server "
        "process's CPU time (schedstat), ÷ the requests the client completed in that time. "
        "Core busy: that CPU time ÷ the seconds between the two lines. Client core busy: "
        "the client's own CPU time (utime + stime, 10 ms ticks) over the same seconds; at "
        "%d%% or more, the client set the pace (then req/s is the client's limit, and CPU "
        "per request is the fairer comparison)." % h2.PACE_BUSY_PERCENT,
        "- req/s: the client's, its completed requests ÷ its measured duration.",
        "- Header bytes per response: the client's header count ÷ its requests (h3_load "
        "counts the decoded header fields; h2load the HPACK bytes as sent).",
        "- Peak RSS: VmHWM of the server's process since its last start, read after the last "
        "run of its group (one resource and -m, both -c). A server that died in the run "
        "before, or holds over %d MB, is started again first (and counted)." % (
            h2.RSS_LIMIT_KB // 1024),
    ])


def package_version(package):
    return version_of(["dpkg-query", "-W", "-f=${Version}", package])


def machine_facts():
    facts = bench.machine_facts(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    facts = [fact for fact in facts if fact[0] != "wrk"]
    return facts + [
        ("ngtcp2 (libngtcp2-dev; gtlsserver and final/http3 link it)",
         package_version("libngtcp2-dev")),
        ("nghttp3 (libnghttp3-dev)", package_version("libnghttp3-dev")),
        ("GnuTLS (libgnutls28-dev)", package_version("libgnutls28-dev")),
        ("gtlsserver (ngtcp2-server)", package_version("ngtcp2-server")),
        ("h2load (nghttp2-client)", version_of(["h2load", "--version"])),
        ("uptime at start", version_of(["uptime"])),
    ]


def report(options, pinning, machine, servers, facts, rows):
    return "\n".join([
        "# HTTP/3: final/ against gtlsserver", "",
        "Command: `%s`" % options.command, "",
        "## The servers", "", servers_table(servers, facts), "",
        "## req/s, server CPU per request and peak RSS", "",
        "Each ratio is final-h3's figure ÷ gtlsserver's: the goal is 1.00 or more for req/s "
        "and 1.00 or less for CPU per request. final-h2 (final/'s HTTP/2 over TLS, h2load) "
        "is a reference, not part of the goal. `failed`: the server has no figure for that "
        "cell (why: below, and the details table).", "",
        results_table(rows), "",
        goal_sentence(rows), "",
        failures_sentence(rows), "",
        "## Every server and cell", "", details_table(rows), "",
        "## Method", "", method_text(options, pinning), "",
        "## Machine", "", "\n".join("- %s: %s" % fact for fact in machine), "",
    ])


# --- the command line -----------------------------------------------------------

def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of final_hello, demo_app and h3_load (default: build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where results go (default: build/bench)")
    parser.add_argument("--duration", type=float,
                        help="seconds of the client's measured duration per run (default: %g; "
                             "--quick: %g)" % (DURATION, QUICK_DURATION))
    parser.add_argument("--warm-up", type=float,
                        help="seconds of warm-up before it (default: %g; --quick: %g)"
                             % (WARM_UP, QUICK_WARM_UP))
    parser.add_argument("--rounds", type=int,
                        help="runs per server and cell, the median counts "
                             "(default: %d; --quick: %d)" % (ROUNDS, QUICK_ROUNDS))
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: %d round of %g s after %g s of warm-up" % (
                            QUICK_ROUNDS, QUICK_DURATION, QUICK_WARM_UP))
    options = parser.parse_args(argv)
    if options.duration is None:
        options.duration = QUICK_DURATION if options.quick else DURATION
    if options.warm_up is None:
        options.warm_up = QUICK_WARM_UP if options.quick else WARM_UP
    if options.rounds is None:
        options.rounds = QUICK_ROUNDS if options.quick else ROUNDS
    if options.duration < 1 or options.rounds < 1 or options.warm_up < 0.1:
        parser.error("--duration is 1 or more, --rounds 1 or more, --warm-up 0.1 or more")
    script = os.path.relpath(os.path.abspath(__file__), os.getcwd())
    options.command = " ".join(shlex.quote(part) for part in [sys.executable, script] + list(argv))
    return options


def missing_tools(bin_dir):
    """What keeps the benchmark from running at all, as sentences."""
    problems = []
    for tool, package in (("gtlsclient", "ngtcp2-client: tools/install-deps.sh build"),
                          ("h2load", "nghttp2-client: tools/install-deps.sh build"),
                          ("curl", "tools/install-deps.sh build"),
                          ("openssl", "tools/install-deps.sh build")):
        if shutil.which(tool) is None:
            problems.append("%s is not installed (%s)" % (tool, package))
    if not os.access(gtlsserver_path(), os.X_OK):
        problems.append("gtlsserver is not installed (ngtcp2-server: tools/install-deps.sh build)")
    for program, option, why in (("final_hello", "--http3", "built without ngtcp2/nghttp3?"),
                                 ("final_hello", "--static-path", "an older final_hello?"),
                                 ("demo_app", "--http2", "an older demo_app?"),
                                 ("h3_load", "--warm-up-time", "")):
        path = os.path.join(bin_dir, program)
        if not os.access(path, os.X_OK):
            problems.append("%s not found (make bench-http3 builds it)" % path)
        elif not takes(path, option):
            problems.append("%s takes no %s: %s (tools/install-deps.sh build, then make "
                            "bench-http3)" % (path, option, why))
    return sorted(set(problems))


def main(argv):
    options = parse_options(argv)
    bin_dir = os.path.abspath(options.bin)
    problems = missing_tools(bin_dir)
    if problems:
        for problem in problems:
            log("http3_bench: " + problem)
        return 2

    options.out = os.path.abspath(options.out)
    raw_dir = os.path.join(options.out, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    try:
        certfile, keyfile = make_certificate(os.path.join(options.out, "tls"))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        log("http3_bench: cannot make the certificate: %s" % error)
        return 2
    root, static, content = make_root(os.path.join(options.out, "http3-www"))

    pinning = Pinning()
    machine = machine_facts()
    servers = make_servers(certfile, keyfile, root, static)
    runs = len(servers) * len(RESOURCES) * len(STREAMS) * len(CONNECTIONS) * options.rounds
    log("HTTP/3 benchmark: %d client runs of %g s after %g s of warm-up, about %d s in all" % (
        runs, options.duration, options.warm_up,
        runs * (options.duration + options.warm_up + 0.4) + 4 * 3))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in machine))
    log()

    facts, rows = {}, []
    for resource_name, path, _ in RESOURCES:
        for streams in STREAMS:
            rows += run_cell_group(resource_name, path, streams, servers, content[resource_name],
                                   options, bin_dir, pinning, certfile, facts)
    machine.append(("load average at end (1, 5, 15 min)",
                    " ".join(bench.read_first("/proc/loadavg", r"^(.*)$").split()[:3])))
    text = report(options, pinning, machine, servers, facts, rows)
    with open(os.path.join(options.out, "http3.md"), "w") as f:
        f.write(text)
    log()
    log(text)
    log("Wrote %s; the clients' output and the servers' stderr in %s/http3-*.txt" % (
        os.path.join(options.out, "http3.md"), raw_dir))
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
