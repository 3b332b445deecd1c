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
Each server runs pinned to one core and wrk to the other (taskset), as in
run_bench.py, in two scenarios:

  keep-alive  wrk -t1 -cN -dD https://127.0.0.1:PORT/ for N = 50 and 200:
              what a request costs on an established TLS connection
  handshake   the same at N = 50 with -H "Connection: close": the server
              closes every connection after its response and wrk opens a
              new one, so every request pays a TCP connection and a TLS
              handshake

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

Then ours ÷ nginx, server CPU per request, in both scenarios, beside the
goal: at most 1.1x in keep-alive. Goals are printed, never enforced here.

Writes OUT/tls.md (the tables, the method, the machine and the command)
and prints it; wrk's own output goes to OUT/raw/tls-<scenario>-<server>-<N>.txt
and the servers' stderr to OUT/raw/tls-<scenario>-<server>.server-stderr.txt.
Exits 0 when every server got its figures, 1 when a server failed (did not
start, answered wrongly, died) or the handshake scenario did not open a
connection per request, 2 when a tool is missing (wrk, openssl, taskset)
or final_hello takes no --certfile. Standard library only.
"""
import argparse
import functools
import os
import resource
import shlex
import shutil
import socket
import ssl
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run_bench as bench  # noqa: E402  (the servers, pinning, /proc and wrk helpers)

DURATION = 10            # seconds per wrk run
QUICK_DURATION = 3
ROUNDS = 3               # wrk runs per server and scenario; the median counts
QUICK_ROUNDS = 1
KEEPALIVE_LEVELS = [50, 200]
QUICK_KEEPALIVE_LEVELS = [50]
HANDSHAKE_CONNECTIONS = 50
WRK_TIMEOUT = 2          # seconds

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

HELLO_CLOSE = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


log = bench.log


# --- the certificate ------------------------------------------------------------

def make_certificate(folder):
    """A self-signed EC P-256 certificate for localhost and 127.0.0.1, made
    now so that no key is ever committed: (certfile, keyfile)."""
    os.makedirs(folder, exist_ok=True)
    certfile, keyfile = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", keyfile, "-out", certfile, "-days", "2",
               "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if run.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(command), run.stdout.decode(errors="replace")))
    return certfile, keyfile


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


def https_get(port, context, session=None):
    """GET / with Connection: close on a new TLS connection, read until the
    server closes it: the response and what the connection negotiated."""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(HELLO_CLOSE)
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
    if not response.startswith(b"HTTP/1.1 200") or not response.endswith(b"\r\n\r\nHello, world"):
        return response, "GET / did not answer 200 \"Hello, world\": %r" % response[:80]
    facts.update(version=first["version"], cipher=first["cipher"], resumed=second["resumed"])
    if first["version"] != "TLSv1.3":
        return response, "negotiated %s, not TLSv1.3" % first["version"]
    return response, ""


# --- one wrk run ----------------------------------------------------------------

def passive_opens():
    """TCP connections this network namespace has accepted since boot."""
    with open("/proc/net/snmp") as f:
        tcp = [line.split() for line in f if line.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("PassiveOpens")])


def children_cpu_seconds():
    """CPU time of our finished children: wrk's, once it has exited."""
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
    handshake.update(goal="none", verdict="(measured, no goal)"
                     if handshake["ratio"] is not None else handshake["verdict"])
    return checks + [handshake]


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
        "- %d round(s) per server and scenario, the servers taking turns; a figure is "
        "the median round (req/s: all rounds' requests ÷ all their seconds)." % options.rounds,
        "- Server CPU: utime + stime of the server's one process (nginx runs as its own "
        "single worker, `master_process off`) from /proc/PID/stat before and after each "
        "wrk run, ÷ the requests wrk completed; core busy is that CPU time ÷ the run's "
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


def report(options, pinning, machine, servers, facts, keepalive_rows, handshake_rows, checks):
    rows = keepalive_rows + handshake_rows
    parts = [
        "# HTTPS: %s against nginx" % OURS, "",
        "Command: `%s`" % options.command, "",
        "## The servers", "", servers_table(servers, facts, rows), "",
        "## Keep-alive HTTPS", "", keepalive_table(keepalive_rows), "",
        "## A new TLS connection per request (Connection: close)", "",
        handshake_table(handshake_rows, facts), "",
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
                        help="seconds per wrk run (default: %d; --quick: %d)" % (
                            DURATION, QUICK_DURATION))
    parser.add_argument("--rounds", type=int,
                        help="wrk runs per server and scenario, the median counts "
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
    runs = len(servers) * (len(options.levels) + 1) * options.rounds
    log("TLS benchmark: %d wrk runs of %d s, about %d s in all" % (
        runs, options.duration, runs * (options.duration + 0.5) + 4))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in machine))
    log()

    facts = {}
    context = client_context(certfile)
    keepalive_rows = run_scenario(KEEPALIVE, servers, options.levels, False, options, bin_dir,
                                  pinning, context, facts)
    handshake_rows = run_scenario(HANDSHAKE, servers, [HANDSHAKE_CONNECTIONS], True, options,
                                  bin_dir, pinning, context, facts)
    checks = ratio_checks(keepalive_rows + handshake_rows, options)
    # Other work on the machine takes the servers' and wrk's cores from them:
    # say how busy it was at the end too.
    machine.append(("load average at end (1, 5, 15 min)",
                    " ".join(bench.read_first("/proc/loadavg", r"^(.*)$").split()[:3])))
    text = report(options, pinning, machine, all_servers, facts, keepalive_rows,
                  handshake_rows, checks)
    with open(os.path.join(options.out, "tls.md"), "w") as f:
        f.write(text)
    log()
    log(text)
    log("Wrote %s; wrk's output and the servers' stderr in %s/tls-*.txt" % (
        os.path.join(options.out, "tls.md"), raw_dir))
    complete = (len(servers) == len(all_servers)
                and all(row["status"] == "ok" for row in keepalive_rows + handshake_rows))
    return 0 if complete else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
