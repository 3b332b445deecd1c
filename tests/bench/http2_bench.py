#!/usr/bin/env python3
"""Our HTTP/2 against nginx's and h2o's, in the same run: `make bench-http2`.

    python3 tests/bench/http2_bench.py --bin build/bin --out build/bench
    python3 tests/bench/http2_bench.py --quick                # 1 round of 1 s per run (~75 s)
    python3 tests/bench/http2_bench.py --duration 10 --rounds 5
    python3 tests/bench/http2_bench.py --ways h2c --resources static \
        --connections 100 --streams 1 --servers final,h2o --rounds 6   # one cell

Three servers answer two resources over HTTP/2, each on one core:

  final  build/bin/demo_app --http2 (final/ with final/http2, its own
         frames, HPACK and session): / is its MainHandler's "Hello, world", /static/ its
         StaticFileHandler (final_hello has no static files; its / is the
         same handler as demo_app's)
  nginx  nginx 1.22, one worker, `master_process off` (nginx_http2.conf.in):
         / is `return 200 "Hello, world"`, /static/ an alias
  h2o    h2o 2.2, `num-threads: 1` (h2o.conf.in): / and /static/ by its
         file handler (it has no directive that answers a fixed body)

The two resources:

  hello   GET /: the 12 bytes "Hello, world"
  static  GET /static/file16k.bin: a 16 KiB file (16,384 bytes), made for
          the run in OUT/http2-www/ with hello.txt, which all three serve

and two ways to reach them (HTTP/2 both):

  h2c  cleartext, by prior knowledge (h2load's http:// URL)
  h2   TLS 1.3, h2 chosen by ALPN, with the certificate tls_bench.py's
       make_certificate makes for the run (OUT/tls/)

Each cell (way, resource, connections -c, streams per connection -m) is
loaded by `h2load -t1 -cC -mM -D D --warm-up-time W URL` for C = 1 and 100
and M = 1 and 100: one request at a time; 100 streams at once on one
connection; 100 connections of one stream each; 100 connections of 100
streams (10,000 requests in flight). For each way, resource and -m, the
three servers are started once and, at each -c, the rounds visit them in
turn (run_bench.py's interleaved_rounds, one server further along each
round); a figure is the median of the rounds. With two CPUs or more the
server runs on CPU 1 and h2load on CPU 0, as in make bench-tfb (db_bench.py's
Pinning). A server that holds more than RSS_LIMIT_KB before a run, or that
died in the run before, is started again first (final/ crashed as 100
connections closed with streams in flight until commit e006cf7b; a build
during that work leaked its HTTP/2 streams).

h2load says on its standard output when its warm-up ends and when its
measured duration ends; the script reads the server's CPU time at those
two moments: the CPU time of the server's process and of all its children
(schedstat of the live ones, and the reaped children's cutime + cstime of
/proc/PID/stat: tfb_bench.py's CpuMeter), and h2load's own. So the
connections' set-up (and their TLS handshakes) falls in the warm-up, and
the CPU time covers the requests h2load counts. CPU per request is that
time ÷ the requests h2load completed; req/s is h2load's (its completed
requests ÷ the measured duration).

Each time a server starts, curl fetches the resource over the same way
(--http2-prior-knowledge, or --http2 with the run's certificate): the
answer must be HTTP/2, 200 and the very bytes of the file. A round fails
when h2load's application protocol is not HTTP/2 (h2c or h2) or when a
request failed or was not answered 2xx.

Then, per cell: final/'s req/s and CPU per request, each with its ratio to
nginx's and to h2o's, beside the goal: final/ at or above both on req/s
and at or below both on CPU per request. The goal is printed, never
enforced here.

Writes OUT/http2.md (the tables, the method, the machine and the command)
and prints it; h2load's output goes to OUT/raw/http2-<way>-<resource>-m<M>-
<server>-<C>.txt and the servers' stderr to OUT/raw/http2-*.server-stderr.txt.
--ways, --resources, --connections, --streams and --servers (each a comma
list of the values above) run part of it: one cell again, say, or final/
alone. The report covers what ran; a figure not measured is "-".

Exits 0 when every server got its figures, 1 when one failed (did not
start, answered wrongly, died, or h2load saw a failed request), 2 when a
tool is missing (h2load, curl, openssl) or demo_app takes no --http2.
Standard library only.
"""
import argparse
import functools
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run_bench as bench  # noqa: E402  (Server, NginxProcess, interleaved_rounds, tables)
# The server on CPU 1 and h2load on CPU 0; a process tree, its memory, its start times.
from db_bench import Pinning, process_tree, rss_kb, started  # noqa: E402
from tfb_bench import CpuMeter  # noqa: E402  (a process tree's CPU time, reaped children too)
from tls_bench import NginxTLSProcess, PACE_BUSY_PERCENT, pace_setter, version_of  # noqa: E402
from certificate import make_certificate  # noqa: E402  (tls_bench put tools/ on the path)

DURATION = 5             # seconds of h2load's measured duration per run
QUICK_DURATION = 1
WARM_UP = 1              # seconds of h2load's warm-up before it, not measured
QUICK_WARM_UP = 0.5
ROUNDS = 3               # runs per server and cell; the median counts
QUICK_ROUNDS = 1
CONNECTIONS = [1, 100]   # h2load -c
STREAMS = [1, 100]       # h2load -m: streams in flight per connection
# Seconds past warm-up + duration before h2load is killed: once in a quick
# run it hung after "Stopped all clients" (TLS, 100 x 100 streams, nginx).
H2LOAD_TIMEOUT = 20
# A server whose processes hold more than this before a run is started
# again first (and checked again), as one that died in the run before is:
# a build of final/ during this work kept every HTTP/2 stream (about 3 KB
# per small answer, 20 KB per 16 KiB one), and at 250,000 req/s a few
# runs would have filled the machine's memory.
RSS_LIMIT_KB = 1024 * 1024
# Seconds to wait after h2load's exit before asking whether the server lives.
DEATH_WATCH = 0.1

OURS = "final"
NGINX = "nginx"
H2O = "h2o"
YARDSTICKS = (NGINX, H2O)

# (name, what it is)
WAYS = [
    ("h2c", "HTTP/2 in cleartext, by prior knowledge"),
    ("h2", "HTTP/2 over TLS 1.3, by ALPN"),
]
HELLO = b"Hello, world"
STATIC_NAME = "file16k.bin"
STATIC_BYTES = 16 * 1024
# (name, URL path, what it is)
RESOURCES = [
    ("hello", "/", "the 12 bytes \"Hello, world\""),
    ("static", "/static/" + STATIC_NAME, "a static file of 16 KiB"),
]

# h2load's lines: the two that bound the measured duration, and its results.
MAIN_STARTED = "Main benchmark duration is started"
MAIN_OVER = "Main benchmark duration is over"
FINISHED = re.compile(r"^finished in [\d.]+s, ([\d.]+) req/s", re.M)
REQUESTS = re.compile(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", re.M)
STATUS_CODES = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.M)
TRAFFIC = re.compile(r"^traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers", re.M)
PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.M)
TLS_PROTOCOL = re.compile(r"^TLS Protocol: (\S+)", re.M)
CIPHER = re.compile(r"^Cipher: (\S+)", re.M)

log = bench.log


# --- the files served -----------------------------------------------------------

def static_content():
    """16 KiB that no server can compress away: bytes of a fixed pseudo-random
    sequence (the same in every run)."""
    state, out = 2463534242, bytearray()
    while len(out) < STATIC_BYTES:  # xorshift32
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out += state.to_bytes(4, "little")
    return bytes(out[:STATIC_BYTES])


def make_www(folder):
    """OUT/http2-www/ with hello.txt and file16k.bin, readable by everyone:
    h2o serves as `nobody`. Returns the folder and what each resource answers."""
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o755)
    content = {"hello": HELLO, "static": static_content()}
    for name, data in (("hello.txt", content["hello"]), (STATIC_NAME, content["static"])):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
    return folder, content


def unreadable_for_others(folder):
    """The first folder at or above `folder` that other users cannot enter
    (h2o, as nobody, could not reach the files), or None."""
    path = os.path.abspath(folder)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


# --- the servers ----------------------------------------------------------------

class NginxHTTP2Process(NginxTLSProcess):
    """tls_bench.py's nginx, from nginx_http2.conf.in: HTTP/2 with TLS (h2)
    or without (h2c), the static folder at /static/."""

    TEMPLATE = os.path.join(HERE, "nginx_http2.conf.in")

    def __init__(self, program, run_dir, certfile, keyfile, www, tls, **kwargs):
        super().__init__(program, run_dir, certfile, keyfile, **kwargs)
        self.www = www
        self.tls = tls

    def write_config(self):
        path = super().write_config()  # @DIR@, @PORT@, ..., @CERTFILE@ and @KEYFILE@
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("@SSL@", "ssl" if self.tls else "").replace("@WWW@", self.www))
        return path


class H2OProcess(bench.NginxProcess):
    """h2o, started as NginxProcess starts nginx (a free port, a config
    written for it, ready once the port accepts), from h2o.conf.in; stopped
    by the PID we started, then any process of its tree still there."""

    TEMPLATE = os.path.join(HERE, "h2o.conf.in")

    def __init__(self, program, run_dir, certfile, keyfile, www, tls, **kwargs):
        super().__init__(program, run_dir, **kwargs)
        self.certfile = certfile
        self.keyfile = keyfile
        self.www = www
        self.tls = tls
        self.tree = []

    def command(self, config):
        return [self.program, "-c", config]

    def write_config(self):
        ssl = ""
        if self.tls:
            ssl = "\n".join([
                "  ssl:",
                "    certificate-file: \"%s\"" % self.certfile,
                "    key-file: \"%s\"" % self.keyfile,
                "    minimum-version: TLSv1.3",
                "    ocsp-update-interval: 0"])
        with open(self.TEMPLATE) as f:
            text = f.read()
        text = (text.replace("@DIR@", self.run_dir).replace("@PORT@", str(self.port))
                .replace("@WWW@", self.www).replace("\n@SSL@\n", "\n%s\n" % ssl))
        path = os.path.join(self.run_dir, "h2o.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def __enter__(self):
        super().__enter__()
        # Its children (the spawner it forks, the crash annotator it pipes
        # to) are there once it accepts: their PIDs, to stop any left over.
        self.tree = [(pid, started(pid)) for pid in process_tree(self.pid)]
        return self

    def stop(self, grace=5.0):
        tree = self.tree
        if self.process is not None and self.process.poll() is None:
            tree = [(pid, started(pid)) for pid in process_tree(self.pid)]
        super().stop(grace)
        # The children leave when h2o does; any that stays is killed, if its
        # PID is still the same process (same start time).
        deadline = time.monotonic() + grace
        for pid, birth in tree[1:]:
            while started(pid) == birth and birth is not None and not zombie(pid):
                if time.monotonic() > deadline:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                    break
                time.sleep(0.05)
        self.tree = []


def zombie(pid):
    """Whether the process has exited and waits for its parent to reap it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def make_servers(way, certfile, keyfile, www):
    tls = way == "h2"
    tls_args = ["--certfile=" + certfile, "--keyfile=" + keyfile] if tls else []
    options = dict(certfile=certfile, keyfile=keyfile, www=www, tls=tls)
    return [
        # --logging=warning: no access-log line per request, as nginx and
        # h2o run without an access log.
        bench.Server(OURS, "demo_app",
                     "final/: demo_app --http2 (final/http2), "
                     "its MainHandler and StaticFileHandler",
                     args=["--address=127.0.0.1", "--logging=warning", "--http2",
                           "--static_path=" + www] + tls_args),
        bench.Server(NGINX, "/usr/sbin/nginx",
                     "nginx, 1 worker, `return 200` and an alias (nginx_http2.conf.in)",
                     args=["{raw}/nginx-" + way],
                     launcher=functools.partial(NginxHTTP2Process, **options)),
        bench.Server(H2O, "/usr/bin/h2o",
                     "h2o, `num-threads: 1`, its file handler (h2o.conf.in)",
                     args=["{raw}/h2o-" + way],
                     launcher=functools.partial(H2OProcess, **options)),
    ]


def takes_http2(program):
    """Whether demo_app knows --http2 (and was built with final/http2)."""
    try:
        run = subprocess.run([program, "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--http2" in run.stdout


# --- the check before the load --------------------------------------------------

def url_for(way, port, path):
    return "%s://127.0.0.1:%d%s" % ("https" if way == "h2" else "http", port, path)


def curl_get(url, way, certfile):
    """GET over HTTP/2 with curl: (HTTP version, status, body), or raises
    OSError with curl's complaint."""
    how = ["--http2", "--cacert", certfile] if way == "h2" else ["--http2-prior-knowledge"]
    with tempfile.NamedTemporaryFile() as body:
        run = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", body.name,
                              "-w", "%{http_version} %{http_code}"] + how + [url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if run.returncode != 0:
            raise OSError(run.stderr.decode(errors="replace").strip() or
                          "curl exited with %d" % run.returncode)
        version, status = run.stdout.decode().split()
        return version, int(status), body.read()


def check_http2(port, way, path, expected, certfile, server_name):
    """start_checked's probe: (the body, problem or "")."""
    try:
        version, status, body = curl_get(url_for(way, port, path), way, certfile)
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        return b"", "GET %s over %s failed: %s" % (path, way, error)
    if version != "2":
        return body, "GET %s was answered over HTTP/%s, not HTTP/2" % (path, version)
    if status != 200 or body != expected:
        hint = ""
        if server_name == H2O and status in (403, 404):
            hint = (" (h2o serves as nobody: every folder above the files must be open "
                    "to others)")
        return body, "GET %s answered %d with %d bytes, not 200 with the %d expected%s" % (
            path, status, len(body), len(expected), hint)
    return body, ""


# --- one h2load run -------------------------------------------------------------

def h2load_command(url, connections, streams, options, pinning):
    return pinning.prefix(pinning.wrk_cpu) + [
        "h2load", "-t1", "-c%d" % connections, "-m%d" % streams,
        "-D", "%dms" % (options.duration * 1000), "--warm-up-time",
        "%dms" % (options.warm_up * 1000), url]


def run_h2load(command, server_pid, options, raw_file):
    """Runs h2load, reading the server's CPU time (and h2load's) when its
    measured duration starts and ends: (output, server CPU s, h2load CPU s,
    seconds between the two lines, "") or (None, ..., why it failed)."""
    raw_file.write("$ %s\n" % " ".join(command))
    raw_file.flush()
    meter = CpuMeter(server_pid)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    killer = _Deadline(process, options.warm_up + options.duration + H2LOAD_TIMEOUT)
    lines, began, server_cpu, client_cpu, seconds = [], None, None, None, None
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith(MAIN_STARTED):
                meter.start()
                client_before, began = h2load_cpu_seconds(process.pid), time.monotonic()
            elif line.startswith(MAIN_OVER) and began is not None:
                server_cpu = meter.stop()
                client_cpu = h2load_cpu_seconds(process.pid) - client_before
                seconds = time.monotonic() - began
        process.wait()
    finally:
        killer.cancel()
    output = "".join(lines)
    raw_file.write(output + "[exit code %d]\n" % process.returncode)
    if killer.fired:
        last = (output.strip().splitlines() or ["nothing"])[-1]
        return None, None, None, None, (
            "h2load did not finish: killed %d s after its time, its last line \"%s\"" % (
                H2LOAD_TIMEOUT, last))
    if server_cpu is None:
        last = (output.strip().splitlines() or ["no output"])[-1]
        return None, None, None, None, "h2load measured nothing: " + last
    return output, server_cpu, client_cpu, seconds, ""


def h2load_cpu_seconds(pid):
    """h2load's CPU time so far: utime + stime of /proc/PID/stat, which keep
    the time of its threads that have ended (its worker thread ends right
    after it says that the measured duration is over; schedstat would lose it)."""
    return (bench.cpu_ticks(pid) or 0) / bench.CLOCK_TICKS


class _Deadline:
    """Kills a process still running after `seconds`."""

    def __init__(self, process, seconds):
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire, args=(process,))
        self.timer.daemon = True
        self.timer.start()

    def _fire(self, process):
        if process.poll() is None:
            self.fired = True
            process.kill()

    def cancel(self):
        self.timer.cancel()


def parse_h2load(output):
    """h2load's figures: req/s, requests done, succeeded, failed and the
    like, non-2xx answers, header bytes, the protocol and TLS; or None."""
    finished, requests = FINISHED.search(output), REQUESTS.search(output)
    codes, traffic, protocol = (STATUS_CODES.search(output), TRAFFIC.search(output),
                                PROTOCOL.search(output))
    if not (finished and requests and codes and protocol):
        return None
    total, _, done, succeeded, failed, errored, timeout = map(int, requests.groups())
    tls, cipher = TLS_PROTOCOL.search(output), CIPHER.search(output)
    return {"rps": float(finished.group(1)), "requests": done, "succeeded": succeeded,
            "failed": failed + errored + timeout, "not_2xx": sum(map(int, codes.groups()[1:])),
            "header_bytes": int(traffic.group(2)) if traffic else 0,
            "protocol": protocol.group(1), "tls": tls.group(1) if tls else "",
            "cipher": cipher.group(1) if cipher else ""}


def restart_if_needed(process):
    """Starts the server again (same command, a new port) when it has died
    (the round it died in failed and says so) or its processes hold more
    than RSS_LIMIT_KB, and checks it as at its first start: (why it was
    restarted or "", problem or "")."""
    exit_code = process.process.poll()
    if exit_code is not None:
        why = "exited with %d" % exit_code
    else:
        held = rss_kb(process_tree(process.pid))
        if held <= RSS_LIMIT_KB:
            return "", ""
        why = "holds %.1f GB" % (held / 1024 / 1024)
    log("[%s] %s: started again before this run" % (process.bench_name, why))
    process.stop(2.0)
    try:
        process.__enter__()
    except (OSError, RuntimeError) as error:
        return why, "did not start again: %s" % error
    _, problem = process.bench_probe(process.port)
    return why, problem


def h2load_round(process, way, path, connections, streams, options, pinning, raw_file, facts):
    """One h2load run against a running server: its figures, or None and why."""
    restarted, problem = restart_if_needed(process)
    if problem:
        return None, problem
    command = h2load_command(url_for(way, process.port, path), connections, streams, options,
                             pinning)
    output, server_cpu, client_cpu, seconds, problem = run_h2load(command, process.pid, options,
                                                                  raw_file)
    if output is None:
        return None, problem
    result = parse_h2load(output)
    if result is None:
        return None, "h2load printed no results (see raw/%s)" % os.path.basename(raw_file.name)
    if result["protocol"] != way:
        return None, "h2load spoke %s, not %s" % (result["protocol"], way)
    if result["failed"] or result["not_2xx"]:
        return None, "h2load: %d requests failed, %d answers not 2xx" % (
            result["failed"], result["not_2xx"])
    if result["tls"]:
        facts["tls"], facts["cipher"] = result["tls"], result["cipher"]
    # A server that dies as h2load closes its connections, after the measured
    # duration: the round's figures stand, the death is counted, and the next
    # round starts it again.
    time.sleep(DEATH_WATCH)
    requests = result["requests"]
    result.update(seconds=seconds, cpu_seconds=server_cpu, client_cpu_seconds=client_cpu,
                  restarted=restarted, died=process.process.poll(),
                  cpu_us_per_request=server_cpu * 1e6 / requests if requests else None,
                  header_bytes_per_request=result["header_bytes"] / requests if requests else 0)
    return result, ""


def describe(result):
    """A round's log line."""
    died = ("" if result["died"] is None else
            "  DIED as h2load closed its connections (exit code %d)" % result["died"])
    return ("%10s req/s  %7.2f us server CPU per request  server core %3.0f%%  "
            "h2load core %3.0f%%%s" % (
                "{:,.0f}".format(result["rps"]), result["cpu_us_per_request"] or 0,
                100 * result["cpu_seconds"] / result["seconds"],
                100 * result["client_cpu_seconds"] / result["seconds"], died))


def summarise(row, rounds):
    """The row from its rounds: each figure the median round's."""
    per_request = [r["cpu_us_per_request"] for r in rounds if r["cpu_us_per_request"]]
    server_busy = statistics.median(100 * r["cpu_seconds"] / r["seconds"] for r in rounds)
    client_busy = statistics.median(100 * r["client_cpu_seconds"] / r["seconds"] for r in rounds)
    row.update(rounds=len(rounds), requests=sum(r["requests"] for r in rounds),
               restarts=[r["restarted"] for r in rounds if r["restarted"]],
               deaths=[r["died"] for r in rounds if r["died"] is not None],
               rps="%.1f" % statistics.median(r["rps"] for r in rounds),
               rps_rounds=[r["rps"] for r in rounds],
               cpu_busy_percent="%.0f" % server_busy, client_busy_percent="%.0f" % client_busy,
               pace=pace_setter(server_busy, client_busy, "h2load"),
               header_bytes="%.1f" % statistics.median(
                   r["header_bytes_per_request"] for r in rounds))
    if per_request:
        row["cpu_us_per_request"] = "%.3f" % statistics.median(per_request)


def run_cell_group(way, resource_name, path, streams, servers, expected, options, bin_dir,
                   pinning, certfile, facts):
    """One way, one resource, one -m: the three servers started, checked,
    and loaded in turns at each -c. Rows, one per server and -c."""
    scenario = "http2-%s-%s-m%d" % (way, resource_name, streams)

    def start(server, stderr_file, row):
        probe = functools.partial(check_http2, way=way, path=path, expected=expected,
                                  certfile=certfile, server_name=server.name)
        process = bench.start_checked(server, bin_dir, pinning, stderr_file, row, probe=probe)
        if process is not None:
            process.bench_name = server.name  # for the facts h2load tells of it
            process.bench_probe = probe        # to check it again after a restart
        return process

    rows = bench.interleaved_rounds(
        scenario, servers, options.connections, options, start=start,
        run_round=lambda process, connections, raw_file: h2load_round(
            process, way, path, connections, streams, options, pinning, raw_file,
            facts.setdefault((way, process.bench_name), {})),
        describe=describe, summarise=summarise)
    for row in rows:
        row.update(way=way, resource=resource_name, streams=streams)
    return rows


# --- the report -----------------------------------------------------------------

def measured(row):
    """Whether a row has figures: all its rounds, or those before its server
    died (a "server died" row that had rounds: marked † in the tables)."""
    return row["status"] == "ok" or (row["status"] == "server died" and row.get("rounds"))


def find_row(rows, way, resource_name, connections, streams, server):
    for row in rows:
        if ((row["way"], row["resource"], row["connections"], row["streams"], row["server"]) ==
                (way, resource_name, connections, streams, server)):
            return row
    return None


def figure(rows, way, resource_name, connections, streams, server, field):
    row = find_row(rows, way, resource_name, connections, streams, server)
    if row is None or not measured(row) or row.get(field, "") == "":
        return None
    return float(row[field])


def dagger(rows, cell, server):
    row = find_row(rows, *cell, server)
    return " †" if row is not None and row["status"] == "server died" and measured(row) else ""


def cells(options):
    return [(way, resource_name, connections, streams)
            for way, _ in options.ways for resource_name, _, _ in options.resources
            for streams in options.streams for connections in options.connections]


def cell_checks(rows, cell):
    """The goal's four checks for one cell: final's req/s at least each
    yardstick's, its CPU per request at most each one's."""
    way, resource_name, connections, streams = cell
    mine = functools.partial(figure, rows, way, resource_name, connections, streams)
    checks = {}
    for reference in YARDSTICKS:
        checks[("rps", reference)] = bench.goal_check(
            OURS, "req/s", connections, mine(OURS, "rps"), 1.0, True, 2, reference,
            mine(reference, "rps"))
        checks[("cpu", reference)] = bench.goal_check(
            OURS, "CPU per request", connections, mine(OURS, "cpu_us_per_request"), 1.0, False,
            2, reference, mine(reference, "cpu_us_per_request"))
    return checks


def fmt_ratio(check):
    return "-" if check["ratio"] is None else "%.2f" % check["ratio"]


def goal_cell(checks):
    """"met", or what was missed: the measures and the yardsticks."""
    if any(c["ratio"] is None for c in checks.values()):
        return "not measured"
    missed = ["%s vs %s" % ("req/s" if measure == "rps" else "CPU", reference)
              for (measure, reference), c in checks.items() if c["verdict"] != "met"]
    return "met" if not missed else "**no**: " + ", ".join(missed)


def results_table(rows, options):
    lines = []
    for cell in cells(options):
        way, resource_name, connections, streams = cell
        mine = functools.partial(figure, rows, *cell)
        checks = cell_checks(rows, cell)

        def rps(server):
            value = mine(server, "rps")
            return "-" if value is None else "{:,.0f}".format(value) + dagger(rows, cell, server)

        def cpu(server):
            value = mine(server, "cpu_us_per_request")
            return "-" if value is None else "%.2f" % value + dagger(rows, cell, server)

        lines.append([way, resource_name, bench.fmt_count(connections), bench.fmt_count(streams),
                      rps(OURS), rps(NGINX), rps(H2O), fmt_ratio(checks[("rps", NGINX)]),
                      fmt_ratio(checks[("rps", H2O)]), cpu(OURS), cpu(NGINX), cpu(H2O),
                      fmt_ratio(checks[("cpu", NGINX)]), fmt_ratio(checks[("cpu", H2O)]),
                      goal_cell(checks)])
    return bench.markdown_table(
        ["way", "resource", "conns (-c)", "streams per conn (-m)", "final req/s", "nginx req/s",
         "h2o req/s", "final ÷ nginx", "final ÷ h2o", "final CPU µs/req", "nginx CPU µs/req",
         "h2o CPU µs/req", "final ÷ nginx", "final ÷ h2o", "goal"], lines)


def goal_sentence(rows, options):
    verdicts = [goal_cell(cell_checks(rows, cell)) for cell in cells(options)]
    met = sum(1 for verdict in verdicts if verdict == "met")
    return ("Goal: final/ at or above both nginx and h2o on req/s and at or below both on "
            "server CPU per request (ratios judged as printed, to 2 digits): met in %d of %d "
            "cells. (A measurement: it never fails the run.)" % (met, len(verdicts)))


def details_table(rows, options):
    order = {cell: index for index, cell in enumerate(cells(options))}
    servers = {OURS: 0, NGINX: 1, H2O: 2}
    lines = []
    for row in sorted(rows, key=lambda r: (order[(r["way"], r["resource"], r["connections"],
                                                   r["streams"])], servers[r["server"]])):
        head = [row["way"], row["resource"], bench.fmt_count(row["connections"]),
                bench.fmt_count(row["streams"]), row["server"]]
        if not measured(row):
            lines.append(head + ["%s: %s" % (row["status"], row["note"])] + ["-"] * 10)
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
            restarts_cell(row), deaths_cell(row)])
    return bench.markdown_table(
        ["way", "resource", "-c", "-m", "server", "req/s (median)", "req/s of each round",
         "server CPU per request (core busy)", "h2load core busy", "pace set by",
         "header bytes per response (HPACK)", "body bytes", "server peak RSS",
         "started again before a round (it had exited, or held over %d MB)" % (
             RSS_LIMIT_KB // 1024), "died within %g s of h2load's exit" % DEATH_WATCH], lines)


def restarts_cell(row):
    restarts = row.get("restarts", [])
    if not restarts:
        return "0"
    return "%d (%s)" % (len(restarts), "; ".join(
        "%s x%d" % (why, restarts.count(why)) for why in sorted(set(restarts))))


def deaths_cell(row):
    deaths = row.get("deaths", [])
    if not deaths:
        return "0"
    return "%d of %d runs (exit code %s)" % (len(deaths), row["rounds"], ", ".join(
        sorted({str(code) for code in deaths})))


def deaths_sentence(rows, options):
    """Where a server died, or "" if nowhere."""
    parts = []
    for row in rows:
        exits = [why for why in row.get("restarts", []) if why.startswith("exited")]
        if row.get("deaths") or exits:
            parts.append("%s, %s %s -c %d -m %d: %s died within %g s of h2load's exit, "
                         "%d restart(s) found it exited" % (
                             row["server"], row["way"], row["resource"], row["connections"],
                             row["streams"], deaths_cell(row), DEATH_WATCH, len(exits)))
    if not parts:
        return ""
    return ("A server died (a negative exit code is the signal) after runs, as h2load "
            "closed its connections or later; the runs' figures stand (it died after the "
            "measured duration) and it was started again for the next round: "
            + "; ".join(parts) + ".")


def servers_table(server_lists, facts):
    lines = []
    for way, servers in server_lists:
        for server in servers:
            tls = facts.get((way, server.name), {})
            lines.append([way, server.name, server.model,
                          "%s, %s" % (tls["tls"], tls["cipher"]) if "tls" in tls else "-"])
    return bench.markdown_table(["way", "server", "what it is", "TLS (h2load's)"], lines)


def method_text(options, pinning):
    example = "h2load -t1 -cC -mM -D %dms --warm-up-time %dms URL" % (
        options.duration * 1000, options.warm_up * 1000)
    return "\n".join([
        "- Pinning: %s." % pinning.describe().replace("wrk", "h2load").replace(
            "servers and PostgreSQL", "the server"),
        "- Load: `%s` for C = %s and M = %s: one request at a time, 100 streams on one "
        "connection, 100 connections of one stream, 100 connections of 100 streams." % (
            example, " and ".join(map(str, options.connections)),
            " and ".join(map(str, options.streams))),
        "- Ways: h2c is HTTP/2 in cleartext by prior knowledge (`http://` URL); h2 is TLS "
        "1.3 with h2 chosen by ALPN, with a self-signed EC P-256 certificate made for the "
        "run (`tls/cert.pem`; tools/certificate.py).",
        "- Resources: `/`, \"Hello, world\" (12 bytes: final/'s MainHandler of demo_app, "
        "nginx's `return 200`, h2o's file handler on a file of those bytes), and "
        "`/static/%s` (16,384 bytes of a fixed pseudo-random sequence, in `http2-www/`: "
        "final/'s StaticFileHandler, nginx's `alias`, h2o's `file.dir`)." % STATIC_NAME,
        "- Each server is checked each time it starts: curl fetches the resource over the "
        "same way; the answer must be HTTP/2, 200 and the file's bytes. A round fails if h2load's "
        "application protocol is not the way's, or a request failed or was not 2xx.",
        "- For each way, resource and -m the three servers run at once, idle but the one "
        "loaded; at each -c, %d round(s), the servers taking turns (one further "
        "along each round); a figure is the median round's." % options.rounds,
        "- Server CPU: read when h2load prints that its measured duration starts and "
        "that it is over (so the connections and TLS handshakes fall in the warm-up): "
        "the server's process and its children (schedstat of each live one, the reaped "
        "ones' cutime + cstime of /proc/PID/stat), ÷ the requests h2load completed in "
        "that time. Core busy: that CPU time ÷ the seconds between the two lines. h2load "
        "core busy: h2load's own CPU time (utime + stime of /proc/PID/stat, 10 ms ticks) "
        "over the same seconds; at %d%% or "
        "more, the client set the pace." % PACE_BUSY_PERCENT,
        "- req/s: h2load's, its completed requests ÷ its measured duration.",
        "- Header bytes per response: h2load's header traffic ÷ its requests (the response "
        "header blocks as HPACK sent them).",
        "- A server whose processes hold more than %d MB before a run, or that died in "
        "the run before, is started again (and checked again) first: the details table "
        "counts those restarts and gives the peak RSS (VmHWM) since the last start, read "
        "after the last run of its group. A cell where a server died keeps the rounds "
        "before (†); its later rounds are not run." % (RSS_LIMIT_KB // 1024),
    ])


def machine_facts():
    facts = bench.machine_facts(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    facts = [fact for fact in facts if fact[0] != "wrk"]
    return facts + [
        ("h2load (nghttp2-client)", version_of(["h2load", "--version"])),
        ("OpenSSL", version_of(["openssl", "version"])),
        ("nginx", version_of(["/usr/sbin/nginx", "-v"], "nginx version")),
        ("h2o", version_of(["/usr/bin/h2o", "--version"], "h2o version")),
    ]


def report(options, pinning, machine, server_lists, facts, rows):
    return "\n".join([
        "# HTTP/2: final/ against nginx and h2o", "",
        "Command: `%s`" % options.command, "",
        "## The servers", "", servers_table(server_lists, facts), "",
        "## req/s and server CPU per request", "",
        "Each ratio is final/'s figure ÷ the other server's: the goal is 1.00 or more for "
        "req/s and 1.00 or less for CPU per request.", "",
        results_table(rows, options), "",
        goal_sentence(rows, options), "",
        deaths_sentence(rows, options), "",
        "## Every server and cell", "", details_table(rows, options), "",
        "## Method", "", method_text(options, pinning), "",
        "## Machine", "", "\n".join("- %s: %s" % fact for fact in machine), "",
    ])


# --- the command line -----------------------------------------------------------

def chosen(text, known, name_of, option):
    """The entries of `known` that a comma list names, in `known`'s order;
    ValueError for a name it does not have, or for none."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in [name_of(entry) for entry in known]]
    if unknown or not names:
        raise ValueError("%s takes %s, not %r" % (
            option, ", ".join(name_of(entry) for entry in known), text))
    return [entry for entry in known if name_of(entry) in names]


def counts(text, option):
    """A comma list of positive whole numbers, in order, without repeats."""
    try:
        values = sorted({int(value) for value in text.split(",") if value})
    except ValueError:
        values = []
    if not values or values[0] < 1:
        raise ValueError("%s takes positive whole numbers, not %r" % (option, text))
    return values


def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of demo_app (default: build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where results go (default: build/bench)")
    parser.add_argument("--duration", type=float,
                        help="seconds of h2load's measured duration per run (default: %g; "
                             "--quick: %g)" % (DURATION, QUICK_DURATION))
    parser.add_argument("--warm-up", type=float,
                        help="seconds of h2load's warm-up before it (default: %g; --quick: %g)"
                             % (WARM_UP, QUICK_WARM_UP))
    parser.add_argument("--rounds", type=int,
                        help="runs per server and cell, the median counts "
                             "(default: %d; --quick: %d)" % (ROUNDS, QUICK_ROUNDS))
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: %d round of %g s after %g s of warm-up" % (
                            QUICK_ROUNDS, QUICK_DURATION, QUICK_WARM_UP))
    parser.add_argument("--ways", default=",".join(name for name, _ in WAYS),
                        help="comma list of h2c and h2 (default: both)")
    parser.add_argument("--resources", default=",".join(name for name, _, _ in RESOURCES),
                        help="comma list of hello and static (default: both)")
    parser.add_argument("--connections", default=",".join(map(str, CONNECTIONS)),
                        help="comma list of h2load -c values (default: %s)" % ",".join(
                            map(str, CONNECTIONS)))
    parser.add_argument("--streams", default=",".join(map(str, STREAMS)),
                        help="comma list of h2load -m values (default: %s)" % ",".join(
                            map(str, STREAMS)))
    parser.add_argument("--servers", default=",".join((OURS,) + YARDSTICKS),
                        help="comma list of final, nginx and h2o (default: all three)")
    options = parser.parse_args(argv)
    try:
        options.ways = chosen(options.ways, WAYS, lambda way: way[0], "--ways")
        options.resources = chosen(options.resources, RESOURCES, lambda r: r[0], "--resources")
        options.connections = counts(options.connections, "--connections")
        options.streams = counts(options.streams, "--streams")
        options.servers = chosen(options.servers, [OURS, *YARDSTICKS], lambda name: name,
                                 "--servers")
    except ValueError as error:
        parser.error(str(error))
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
    for tool, package in (("h2load", "nghttp2-client: tools/install-deps.sh build"),
                          ("curl", "tools/install-deps.sh build"),
                          ("openssl", "tools/install-deps.sh build")):
        if shutil.which(tool) is None:
            problems.append("%s is not installed (%s)" % (tool, package))
    ours = os.path.join(bin_dir, "demo_app")
    if not os.access(ours, os.X_OK):
        problems.append("%s not found (make bench-http2 builds it)" % ours)
    elif not takes_http2(ours):
        problems.append("%s takes no --http2: an older build? (make bench-http2 builds it)" % ours)
    return problems


def main(argv):
    options = parse_options(argv)
    bin_dir = os.path.abspath(options.bin)
    problems = missing_tools(bin_dir)
    if problems:
        for problem in problems:
            log("http2_bench: " + problem)
        return 2

    options.out = os.path.abspath(options.out)
    raw_dir = os.path.join(options.out, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    try:
        certfile, keyfile = make_certificate(os.path.join(options.out, "tls"))
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        log("http2_bench: cannot make the certificate: %s" % error)
        return 2
    www, content = make_www(os.path.join(options.out, "http2-www"))

    pinning = Pinning()
    machine = machine_facts()
    server_lists = [(way, [server for server in make_servers(way, certfile, keyfile, www)
                           if server.name in options.servers])
                    for way, _ in options.ways]
    available = {}
    for way, servers in server_lists:
        available[way] = []
        for server in servers:
            missing = server.missing(bin_dir)
            if missing:
                log("note: %s; '%s' is left out" % (missing, server.name))
            else:
                available[way].append(server)
    closed = unreadable_for_others(www)
    if closed:
        log("note: %s is closed to other users: h2o, serving as nobody, will not reach %s"
            % (closed, www))
    runs = sum(len(s) for s in available.values()) * len(options.resources) * len(
        options.streams) * len(options.connections) * options.rounds
    log("HTTP/2 benchmark: %d h2load runs of %g s after %g s of warm-up, about %d s in all" % (
        runs, options.duration, options.warm_up,
        runs * (options.duration + options.warm_up + 0.3) + 8 * 3))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in machine))
    log()

    facts, rows = {}, []
    for way, _ in options.ways:
        for resource_name, path, _ in options.resources:
            for streams in options.streams:
                rows += run_cell_group(way, resource_name, path, streams, available[way],
                                       content[resource_name], options, bin_dir, pinning,
                                       certfile, facts)
    machine.append(("load average at end (1, 5, 15 min)",
                    " ".join(bench.read_first("/proc/loadavg", r"^(.*)$").split()[:3])))
    text = report(options, pinning, machine, server_lists, facts, rows)
    with open(os.path.join(options.out, "http2.md"), "w") as f:
        f.write(text)
    log()
    log(text)
    log("Wrote %s; h2load's output and the servers' stderr in %s/http2-*.txt" % (
        os.path.join(options.out, "http2.md"), raw_dir))
    complete = (all(len(available[way]) == len(servers) for way, servers in server_lists)
                and all(row["status"] == "ok" for row in rows))
    return 0 if complete else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
