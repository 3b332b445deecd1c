#!/usr/bin/env python3
"""Head-of-line blocking: HTTP/2 against HTTP/1.1, `make bench-h2` (chapter 10).

    python3 tests/bench/hol_bench.py --bin build/bin --out build/bench
    python3 tests/bench/hol_bench.py --quick           # 1 round, 12 resources (a few seconds)
    python3 tests/bench/hol_bench.py --resources 30 --fast-ms 0 --slow-ms 1000

One page's worth of resources fetched from chapter 10's demo program,
ch10_h2_server, which serves the same Application over HTTP/2 (h2c, prior
knowledge, --port) and over chapter 05's HTTP/1.1 (--http1-port). The
script starts it on 127.0.0.1, both ports 0 (the kernel picks), and reads
the two ports from the lines it prints.

The resources: --resources "fast" ones, GET /slow?ms=FAST&n=K (the server
answers after FAST ms without blocking its loop: a small backend call; on
loopback a resource that costs nothing would hide the queueing), and one
slow one, GET /slow?ms=SLOW. --fast-ms 0 fetches /img/K.svg instead. The
slow one is placed first (the worst case for HTTP/1.1: everything queues
behind it) and, in a second set of runs, in the middle (--placements).

Three client shapes, with clients we did not write:

  h2     ONE HTTP/2 connection, every request in flight at once:
         curl --http2-prior-knowledge -Z --parallel-max 100, nghttp -n -s,
         h2load -c 1 -m 100 (a cross-check)
  h1x1   ONE HTTP/1.1 keep-alive connection, one request at a time (a
         browser without pipelining): curl --http1.1 -Z --parallel-max 1,
         h2load --h1 -c 1 -m 1 (a cross-check)
  h1x6   SIX HTTP/1.1 connections, what browsers open per host, each taking
         the next request from one shared queue as it frees:
         curl --http1.1 -Z --parallel-max 6 (h2load cannot: it gives each
         connection a fixed share, and every connection starts at the first URL)

curl 7.88.1 (Debian 12) cannot multiplex h2c prior knowledge: every
transfer that reuses the connection fails with "(16) Error in the HTTP2
framing layer", against nginx as against ch10_h2_server (curl issue
#10634, fixed by curl PR #10643 in curl 8.0.0). The script probes curl's
HTTP/2 first; when a curl older than 8.0.0 fails the probe that way, its h2
row says so and nghttp is the HTTP/2 client; a newer curl that fails is a
failure of the run.

Times. Every time is in ms from the client's first request:
  curl    its -w line for each transfer (url, version, status, connects,
          local port, time_total) is read from a pseudo-terminal, so that
          curl's stdio sends each line as the transfer ends (through a pipe
          they come all at once at exit), and stamped on arrival; the run's
          start is the earliest (arrival - time_total), so a transfer's
          completion is its arrival after that start
  nghttp  -s's responseEnd, which it counts from the connection's set-up
  h2load  --log-file: each request's start (µs since the epoch) and
          duration; completion = start + duration - the first start
and "request" is the time from a request's own start to its answer (curl's
time_total, nghttp's process column, h2load's duration): on one HTTP/1.1
connection each resource takes FAST ms of the server's time, it is the
waiting in line before its request goes out that makes it late. The whole
client process's wall time (start to exit, start-up included) is reported
beside them.

Connections: curl's distinct local ports, checked against the sum of its
%{num_connects}; nghttp puts every URI of one authority on one connection
and h2load -c 1 opens one (it says so: "1 total client(s)").

Per client and shape, --rounds rounds (5; the shapes in turn, one further
along each round); a figure is the median over rounds of: when every fast
resource has arrived, when the last resource of all has arrived, the
median resource's completion, and the median and largest request time.
Every answer must be 200 (and the HTTP version asked for).

Writes OUT/h2.md (the tables, how it was measured; also printed) and
OUT/h2.csv (one row per resource per run: what tests/bench/plot_h2.py
draws as OUT/h2.png). Exits 0 when every shape got its figures, 1 when
one failed or the server died, 2 on a bad option or a missing
ch10_h2_server, 77 (CTest's "skipped") when curl or nghttp is missing.
Standard library only.
"""
import argparse
import csv
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))
from serverproc import ServerProcess  # noqa: E402

MISSING = 77
PROGRAM = "ch10_h2_server"
START_TIMEOUT = 10.0       # s for the server's two ready lines
STOP_TIMEOUT = 8.0         # s after SIGTERM (it lets HTTP/2 streams finish for up to 5 s)
MAX_STREAMS = 100          # ch10_h2_server's SETTINGS_MAX_CONCURRENT_STREAMS
CURL_FIXED = (8, 0, 0)     # the first curl with PR #10643 (h2c prior knowledge reuse)
CURL_BUG = "curl issue #10634, fixed in curl 8.0.0 by PR #10643"

# (shape, title, protocol)
SHAPES = [
    ("h2", "HTTP/2, 1 connection, all requests at once", "2"),
    ("h1x1", "HTTP/1.1, 1 keep-alive connection, one request at a time", "1.1"),
    ("h1x6", "HTTP/1.1, 6 connections, one shared queue", "1.1"),
]
SHAPE_TITLE = {shape: title for shape, title, _ in SHAPES}
# (shape, client), in the tables' order.
RUNS = [("h2", "curl"), ("h2", "nghttp"), ("h2", "h2load"),
        ("h1x1", "curl"), ("h1x1", "h2load"),
        ("h1x6", "curl")]
CSV_FIELDS = ["placement", "round", "shape", "client", "connections", "index", "path", "kind",
              "completion_ms", "request_ms", "connection"]

# ch10_h2_server prints this line before its ready line ("Listening on ...").
READY_HTTP1 = re.compile(rb"HTTP/1\.1 on http://[0-9.]+:([0-9]+)/")


def log(message):
    print(message, flush=True)


class RunFailed(Exception):
    pass


# --- the server ---------------------------------------------------------------

class Server(ServerProcess):
    """ch10_h2_server on 127.0.0.1, both ports chosen by the kernel:
    .http2_port (its ready line) and .http1_port (the line before it)."""

    def __init__(self, program, out_dir, fast_count):
        self.stderr_path = os.path.join(out_dir, "h2-server-stderr.txt")
        self.stderr_file = open(self.stderr_path, "wb")
        super().__init__(program, "--address=127.0.0.1", "--http1-port=0",
                         "--images=%d" % max(1, min(fast_count, 1000)),
                         ready_timeout=START_TIMEOUT, stderr=self.stderr_file)
        self.http1_port = self.http2_port = None

    def start(self):
        try:
            self.__enter__()
        except RuntimeError as error:
            raise RunFailed("%s (its stderr: %s)" % (error, self.stderr_path))
        http1 = READY_HTTP1.search(self.output)
        if not http1:
            self.stop()
            raise RunFailed("%s did not print its HTTP/1.1 address; it printed %r" % (
                PROGRAM, self.output))
        self.http1_port, self.http2_port = int(http1.group(1)), self.port

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM to the PID we started, SIGKILL after STOP_TIMEOUT."""
        super().stop(STOP_TIMEOUT)
        self.stderr_file.close()


# --- the resources -------------------------------------------------------------

def resource_paths(fast_count, fast_ms, slow_ms, placement):
    """[(path, kind)] in request order: fast_count fast ones and one slow one,
    first or in the middle."""
    if fast_ms > 0:
        fast = ["/slow?ms=%d&n=%d" % (fast_ms, k) for k in range(1, fast_count + 1)]
    else:
        fast = ["/img/%d.svg" % k for k in range(1, fast_count + 1)]
    items = [(path, "fast") for path in fast]
    slow = ("/slow?ms=%d" % slow_ms, "slow")
    at = 0 if placement == "first" else fast_count // 2
    items.insert(at, slow)
    return items


# --- the clients ---------------------------------------------------------------

def run_bounded(command, timeout):
    """Runs command, its output captured; (returncode, stdout, stderr, wall s)."""
    started = time.monotonic()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed("%s did not finish within %g s" % (command[0], timeout))
    return (done.returncode, done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"), time.monotonic() - started)


CURL_FORMAT = "\t".join(["%{url}", "%{http_version}", "%{response_code}", "%{num_connects}",
                         "%{local_port}", "%{time_total}", "%{size_download}", "%{exitcode}",
                         "%{errormsg}"]) + "\n"


def curl_command(curl, shape, urls):
    command = [curl, "-sS", "--no-progress-meter", "-Z", "-w", CURL_FORMAT]
    if shape == "h2":
        command += ["--http2-prior-knowledge", "--parallel-max",
                    str(min(300, max(MAX_STREAMS, len(urls))))]
    elif shape == "h1x1":
        command += ["--http1.1", "--parallel-max", "1"]
    else:
        command += ["--http1.1", "--parallel-max", "6"]
    for url in urls:
        command += ["-o", "/dev/null", url]
    return command


def run_curl(curl, shape, urls, timeout):
    """curl with its standard output on a pseudo-terminal, each -w line stamped
    as it comes. Returns ({url: record}, exit code, stderr text, wall s)."""
    import pty
    import tty
    master, slave = pty.openpty()
    tty.setraw(slave)  # no \r added, nothing done to what curl writes
    arrivals = []      # (monotonic s, line)

    def read():
        pending = b""
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: curl has exited and closed the terminal
                break
            if not data:
                break
            now = time.monotonic()
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                arrivals.append((now, line.decode(errors="replace").rstrip("\r")))

    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(curl_command(curl, shape, urls), stdout=slave, stderr=err,
                                   stdin=subprocess.DEVNULL)
        os.close(slave)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            process.wait(timeout)
        except BaseException as problem:  # its time is up, or ours (SIGTERM, Ctrl-C)
            process.kill()
            process.wait(5)
            os.close(master)
            if isinstance(problem, subprocess.TimeoutExpired):
                raise RunFailed("curl did not finish within %g s" % timeout)
            raise
        wall = time.monotonic() - started
        reader.join(5)
        os.close(master)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    records = {}
    for arrived, line in arrivals:
        fields = line.split("\t")
        if len(fields) < 8:
            continue
        records[fields[0]] = {
            "arrived": arrived, "version": fields[1], "status": fields[2],
            "connects": int(fields[3] or 0), "port": fields[4], "total": float(fields[5]),
            "size": int(fields[6] or 0), "exitcode": int(fields[7] or 0),
            "error": fields[8] if len(fields) > 8 else ""}
    return records, process.returncode, stderr, wall


def curl_run(tools, shape, protocol, base, items, timeout):
    urls = [base + path for path, _ in items]
    records, code, stderr, wall = run_curl(tools["curl"], shape, urls, timeout)
    problems = []
    for url in urls:
        record = records.get(url)
        if record is None:
            problems.append("%s: no -w line" % url)
        elif record["exitcode"] or record["status"] != "200" or record["version"] != protocol:
            problems.append("%s: HTTP/%s %s, curl exit %d %s" % (
                url, record["version"], record["status"], record["exitcode"], record["error"]))
    if problems or code != 0:
        raise RunFailed("curl (%s) exit %d, %d of %d transfers wrong: %s%s" % (
            shape, code, len(problems), len(urls), "; ".join(problems[:3]),
            " (curl said: %s)" % " | ".join(stderr.strip().splitlines()[:3]) if stderr.strip()
            else ""))
    start = min(records[url]["arrived"] - records[url]["total"] for url in urls)
    resources = []
    for (path, kind), url in zip(items, urls):
        record = records[url]
        resources.append({"path": path, "kind": kind,
                          "completion_ms": 1000 * (record["arrived"] - start),
                          "request_ms": 1000 * record["total"], "connection": record["port"]})
    ports = {r["connection"] for r in resources}
    connects = sum(records[url]["connects"] for url in urls)
    connections = str(len(ports)) if connects == len(ports) else "%d (%d connects)" % (
        len(ports), connects)
    return resources, connections, wall


NGHTTP_ROW = re.compile(r"^\s*(\d+)\s+\+?([\d.]+)(us|ms|s)\s+\+?([\d.]+)(us|ms|s)\s+"
                        r"([\d.]+)(us|ms|s)\s+(\d+)\s+(\S+)\s+(\S+)\s*$")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def nghttp_run(tools, shape, protocol, base, items, timeout):
    urls = [base + path for path, _ in items]
    command = [tools["nghttp"], "-n", "-s", "-t", "%d" % max(1, int(timeout))] + urls
    code, stdout, stderr, wall = run_bounded(command, timeout + 5)
    rows = {}
    for line in stdout.splitlines():
        match = NGHTTP_ROW.match(line)
        if match:
            rows[match.group(10)] = {
                "end_ms": float(match.group(2)) * UNIT_MS[match.group(3)],
                "process_ms": float(match.group(6)) * UNIT_MS[match.group(7)],
                "status": match.group(8)}
    problems = [path for path, _ in items if rows.get(path, {}).get("status") != "200"]
    if code != 0 or problems:
        raise RunFailed("nghttp exit %d, %d of %d requests not answered 200 (%s) %s" % (
            code, len(problems), len(items), ", ".join(problems[:3]), stderr.strip()[:300]))
    resources = [{"path": path, "kind": kind, "completion_ms": rows[path]["end_ms"],
                  "request_ms": rows[path]["process_ms"], "connection": ""}
                 for path, kind in items]
    return resources, "1", wall


H2LOAD_SUCCEEDED = re.compile(r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded",
                              re.M)
H2LOAD_2XX = re.compile(r"^status codes: (\d+) 2xx", re.M)
H2LOAD_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.M)
H2LOAD_CLIENTS = re.compile(r"(\d+) total client\(s\)")


def h2load_run(tools, shape, protocol, base, items, timeout):
    """h2load gives no URL per logged request: the slow ones are the requests
    that took longest (each request's own time: the slow one's is SLOW ms in
    both shapes h2load runs), the rest in order of their start."""
    urls = [base + path for path, _ in items]
    with tempfile.NamedTemporaryFile(suffix=".log") as log_file:
        command = [tools["h2load"], "-n", str(len(urls)), "-c", "1", "-t", "1",
                   "--log-file=" + log_file.name]
        if shape == "h2":
            command += ["-m", str(min(MAX_STREAMS, len(urls)))]
        else:
            command += ["--h1", "-m", "1"]
        code, stdout, stderr, wall = run_bounded(command + urls, timeout)
        with open(log_file.name) as f:
            logged = [line.split("\t") for line in f.read().splitlines() if line.strip()]
    total = H2LOAD_SUCCEEDED.search(stdout)
    twoxx = H2LOAD_2XX.search(stdout)
    proto = H2LOAD_PROTOCOL.search(stdout)
    clients = H2LOAD_CLIENTS.search(stdout + stderr)
    wanted = "h2c" if shape == "h2" else "http/1.1"
    if (code != 0 or not total or int(total.group(2)) != len(urls) or not twoxx
            or int(twoxx.group(1)) != len(urls) or not proto or proto.group(1) != wanted
            or len(logged) != len(urls)):
        raise RunFailed("h2load (%s) exit %d, not every request answered 2xx over %s: %s" % (
            shape, code, wanted, " | ".join(line for line in stdout.splitlines()
                                            if line.startswith(("requests:", "status codes:",
                                                                "Application")))))
    entries = [(int(start), int(status), int(duration)) for start, status, duration, *_ in logged]
    first = min(start for start, _, _ in entries)
    slow_count = sum(1 for _, kind in items if kind == "slow")
    by_length = sorted(range(len(entries)), key=lambda i: -entries[i][2])
    slow_entries = set(by_length[:slow_count])
    fast_entries = sorted((i for i in range(len(entries)) if i not in slow_entries),
                          key=lambda i: entries[i][0])
    slow_iter = iter(sorted(slow_entries, key=lambda i: entries[i][0]))
    fast_iter = iter(fast_entries)
    resources = []
    for path, kind in items:
        start, _, duration = entries[next(slow_iter) if kind == "slow" else next(fast_iter)]
        resources.append({"path": path, "kind": kind,
                          "completion_ms": (start + duration - first) / 1000.0,
                          "request_ms": duration / 1000.0, "connection": ""})
    return resources, clients.group(1) if clients else "1", wall


CLIENT_RUN = {"curl": curl_run, "nghttp": nghttp_run, "h2load": h2load_run}


# --- the probe of curl's HTTP/2 --------------------------------------------------

def curl_version(curl):
    try:
        text = subprocess.run([curl, "--version"], stdout=subprocess.PIPE, timeout=10,
                              stdin=subprocess.DEVNULL).stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0, 0), "?"
    first = text.splitlines()[0] if text else "?"
    match = re.match(r"curl (\d+)\.(\d+)\.(\d+)", first)
    return (tuple(int(g) for g in match.groups()) if match else (0, 0, 0)), first


def probe_curl_h2(tools, http2_base, timeout):
    """None when curl multiplexes four requests on one h2c connection, else
    what went wrong, with the command."""
    items = [("/img/%d.svg" % k, "fast") for k in range(1, 5)]
    try:
        curl_run(tools, "h2", "2", http2_base, items, timeout)
        return None
    except RunFailed as failure:
        command = "curl --http2-prior-knowledge -Z --parallel-max 100 " + " ".join(
            http2_base + path for path, _ in items)
        return "%s: %s" % (command, failure)


# --- figures -------------------------------------------------------------------

def summarise(resources):
    fast = [r["completion_ms"] for r in resources if r["kind"] == "fast"]
    every = [r["completion_ms"] for r in resources]
    request = [r["request_ms"] for r in resources]
    return {"fast_done": max(fast) if fast else 0.0, "last": max(every),
            "median": statistics.median(every),
            "request_median": statistics.median(request), "request_max": max(request)}


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def fmt_ms(value):
    return "%.0f" % value if value >= 100 else "%.1f" % value


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def machine_lines(tools, args, load_start, load_end, busy):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def first_line(command):
        try:
            out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=10, stdin=subprocess.DEVNULL).stdout.decode()
            return out.strip().splitlines()[0] if out.strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    return {
        "cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        # "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/... nghttp2/1.52.0 ...":
        # the curl and the nghttp2 it speaks HTTP/2 with.
        "curl": " ".join(word for i, word in enumerate(
            first_line([tools["curl"], "--version"]).split())
            if i < 2 or word.startswith(("libcurl/", "nghttp2/"))),
        "nghttp": first_line([tools["nghttp"], "--version"]),
        "h2load": first_line([tools["h2load"], "--version"]) if tools.get("h2load") else None,
        "load": "%.2f at the start, %.2f at the end" % (load_start, load_end),
        "busy": busy,
    }


def write_report(path, args, results, unavailable, facts, server_program, items_by_placement):
    """results: {(placement, shape, client): {"runs": [summary...], "connections": [..],
    "wall": [..]}}"""
    lines = []
    fast_what = ("GET /slow?ms=%d&n=K (answered after %d ms, the loop free meanwhile)"
                 % (args.fast_ms, args.fast_ms) if args.fast_ms > 0 else "GET /img/K.svg")
    lines.append("# Head-of-line blocking: HTTP/2 against HTTP/1.1 (`make bench-h2`)")
    lines.append("")
    lines.append(
        "**How measured.** `%s` (chapter 10) serves one Application over HTTP/2 (h2c, prior "
        "knowledge) and over chapter 05's HTTP/1.1 at once, on 127.0.0.1. A client fetches "
        "%d fast resources, %s, and one slow one, GET /slow?ms=%d, placed %s. Shapes: **h2** one "
        "HTTP/2 connection, every request in flight at once (%s); **h1x1** one HTTP/1.1 "
        "keep-alive connection, one request at a time, a browser without pipelining "
        "(`curl --http1.1 -Z --parallel-max 1`%s); **h1x6** six HTTP/1.1 connections taking "
        "the next request from one queue, as browsers do (`curl --http1.1 -Z --parallel-max 6`). "
        "Times are ms from the client's first request: curl's are its `-w` line per transfer, "
        "stamped as it comes (curl's stdout on a pseudo-terminal), its start being the earliest "
        "arrival minus `%%{time_total}`; nghttp's its `-s` responseEnd (from the connection's "
        "set-up); h2load's its `--log-file` start + duration. \"request\" is a resource's own "
        "time from its request to its answer; \"process\" the client process's wall time, "
        "start-up included. Connections: curl's distinct `%%{local_port}`s (checked against "
        "`%%{num_connects}`), nghttp's one per authority, h2load's `-c 1`. Every answer was "
        "200 over the HTTP version asked for. Clients: %s; %s%s. %d round%s, the shapes in "
        "turn, one further along each round; each figure is the median over rounds. Machine: "
        "%d cores (%s), Linux %s, load average %s, the machine's CPUs %s; "
        "server `%s`."
        % (PROGRAM, args.resources, fast_what, args.slow_ms,
           " and, in other runs, ".join(
               "first (everything behind it on an HTTP/1.1 connection waits)" if p == "first"
               else "in the middle" for p in args.placements),
           "`nghttp -n -s`, `h2load -c 1 -m N`" + (
               ", `curl --http2-prior-knowledge -Z --parallel-max 100`"
               if "curl" not in unavailable else ""),
           ", `h2load --h1 -c 1 -m 1`" if "h2load" not in unavailable else "",
           facts["curl"], facts["nghttp"],
           "; " + facts["h2load"] if facts["h2load"] else "",
           args.rounds, "" if args.rounds == 1 else "s",
           facts["cores"], facts["cpu"], facts["kernel"], facts["load"], facts["busy"],
           server_program))
    lines.append("")
    for placement in args.placements:
        items = items_by_placement[placement]
        slow_at = [i + 1 for i, (_, kind) in enumerate(items) if kind == "slow"]
        lines.append("### The slow resource %s (request %s of %d)" % (
            "first" if placement == "first" else "in the middle",
            ", ".join(map(str, slow_at)), len(items)))
        lines.append("")
        lines.append("| shape | client | connections | every fast one in (ms) | last of all in "
                     "(ms) | median completion (ms) | request median / max (ms) | "
                     "process (ms) |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for shape, client in RUNS:
            key = (placement, shape, client)
            if client in unavailable and (shape, client) in unavailable[client]["runs"]:
                lines.append("| %s | %s | | %s (see below) | | | | |" % (
                    shape, client, unavailable[client]["why"]))
                continue
            if key not in results:
                continue
            runs = results[key]["runs"]
            conns = sorted(set(results[key]["connections"]))
            lines.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
                shape, client, ", ".join(conns),
                fmt_ms(median_of(runs, "fast_done")), fmt_ms(median_of(runs, "last")),
                fmt_ms(median_of(runs, "median")), fmt_ms(median_of(runs, "request_median")),
                fmt_ms(median_of(runs, "request_max")),
                fmt_ms(1000 * statistics.median(results[key]["wall"]))))
        lines.append("")
    lines.append("Shapes: " + "; ".join("**%s** %s" % (shape, title)
                                        for shape, title, _ in SHAPES) + ".")
    lines.append("")
    for client, info in unavailable.items():
        lines.append("**%s:** %s" % (client, info["detail"]))
        lines.append("")
    lines.append("Command: `%s`" % " ".join(sys.argv))
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


# --- main ----------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="build/bin", help="where ch10_h2_server is")
    parser.add_argument("--out", default="build/bench", help="where h2.md and h2.csv go")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per shape (5)")
    parser.add_argument("--resources", type=int, default=None,
                        help="fast resources besides the slow one (60; --quick: 12)")
    parser.add_argument("--fast-ms", type=int, default=20,
                        help="each fast resource's server time, ms (0: /img/K.svg)")
    parser.add_argument("--slow-ms", type=int, default=500, help="the slow resource's, ms")
    parser.add_argument("--placements", default="first,middle",
                        help="where the slow resource goes: first, middle or both")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 12 resources (a test that it all works)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.resources is None:
        args.resources = 12 if args.quick else 60
    args.placements = [p.strip() for p in args.placements.split(",") if p.strip()]
    if (args.rounds < 1 or not 1 <= args.resources <= 250 or not 0 <= args.fast_ms <= 10000
            or not 0 <= args.slow_ms <= 10000 or not args.placements
            or any(p not in ("first", "middle") for p in args.placements)):
        parser.error("--rounds >= 1, --resources 1..250, --fast-ms and --slow-ms 0..10000, "
                     "--placements of first,middle")
    if args.slow_ms <= args.fast_ms:
        parser.error("--slow-ms must be more than --fast-ms")
    return args


def stop_on_sigterm(signum, _frame):
    """SIGTERM (CTest's timeout, kill) ends the run as Ctrl-C does: through the
    finally that stops the server."""
    raise SystemExit(128 + signum)


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    program = os.path.join(args.bin, PROGRAM)
    if not os.access(program, os.X_OK):
        log("hol_bench.py: no %s (cmake --build BUILD --target %s)" % (program, PROGRAM))
        return 2
    tools = {name: shutil.which(name) for name in ("curl", "nghttp", "h2load")}
    missing = [name for name in ("curl", "nghttp") if not tools[name]]
    if missing:
        log("hol_bench.py: SKIP, %s missing (Debian: curl, nghttp2-client; "
            "tools/install-deps.sh build)" % " and ".join(missing))
        return MISSING
    unavailable = {}
    if not tools["h2load"]:
        unavailable["h2load"] = {"runs": {run for run in RUNS if run[1] == "h2load"},
                                 "why": "not installed", "detail": "h2load is not installed "
                                 "(Debian nghttp2-client): its cross-check rows are left out."}
    os.makedirs(args.out, exist_ok=True)
    load_start = os.getloadavg()[0]
    cpu_start = cpu_times()
    wall_start = time.monotonic()
    # The longest run: one connection, one at a time; a wide bound for a busy machine.
    timeout = 20.0 + 4.0 * (args.slow_ms + args.resources * max(args.fast_ms, 1)) / 1000.0
    items_by_placement = {p: resource_paths(args.resources, args.fast_ms, args.slow_ms, p)
                          for p in args.placements}

    server = Server(program, args.out, args.resources)
    results = {}
    failures = []
    rows = []
    try:
        server.start()
        bases = {"2": "http://127.0.0.1:%d" % server.http2_port,
                 "1.1": "http://127.0.0.1:%d" % server.http1_port}
        log("%s: HTTP/1.1 on port %d, HTTP/2 (h2c) on port %d; %d resources + 1 slow, "
            "%d round(s), load average %.2f" % (PROGRAM, server.http1_port, server.http2_port,
                                                args.resources, args.rounds, load_start))
        version, _ = curl_version(tools["curl"])
        problem = probe_curl_h2(tools, bases["2"], timeout)
        if problem:
            if version < CURL_FIXED and "HTTP2 framing layer" in problem:
                why = "fails: curl %s bug" % ".".join(map(str, version))
                unavailable["curl"] = {
                    "runs": {("h2", "curl")}, "why": why,
                    "detail": "curl %s cannot multiplex HTTP/2 with prior knowledge: every "
                    "transfer that reuses the connection fails (%s). The probe: %s. So "
                    "nghttp is the HTTP/2 client here, and h2load its cross-check." % (
                        ".".join(map(str, version)), CURL_BUG, problem)}
                log("curl h2: left out, %s (%s)" % (why, CURL_BUG))
            else:
                failures.append("curl's HTTP/2 probe: " + problem)
                unavailable["curl"] = {"runs": {("h2", "curl")}, "why": "failed, see below",
                                       "detail": "the HTTP/2 probe failed: " + problem}
                log("curl h2 FAILED: " + problem)
        plan = [run for run in RUNS
                if not any(run in info["runs"] for info in unavailable.values())]
        for round_number in range(1, args.rounds + 1):
            turn = (round_number - 1) % len(plan)
            order = plan[turn:] + plan[:turn]
            for placement in args.placements:
                items = items_by_placement[placement]
                for shape, client in order:
                    protocol = dict((s, p) for s, _, p in SHAPES)[shape]
                    key = (placement, shape, client)
                    try:
                        resources, connections, wall = CLIENT_RUN[client](
                            tools, shape, protocol, bases[protocol], items, timeout)
                    except RunFailed as failure:
                        failures.append("round %d, slow %s, %s %s: %s" % (
                            round_number, placement, shape, client, failure))
                        log("FAILED " + failures[-1])
                        if not server.alive():
                            raise RunFailed("%s died (exit %s); its stderr: %s" % (
                                PROGRAM, server.process.returncode, server.stderr_path))
                        continue
                    if not server.alive():
                        raise RunFailed("%s died (exit %s) in a run; its stderr: %s" % (
                            PROGRAM, server.process.returncode, server.stderr_path))
                    summary = summarise(resources)
                    entry = results.setdefault(key, {"runs": [], "connections": [], "wall": []})
                    entry["runs"].append(summary)
                    entry["connections"].append(connections)
                    entry["wall"].append(wall)
                    for index, resource_row in enumerate(resources, 1):
                        rows.append({"placement": placement, "round": round_number,
                                     "shape": shape, "client": client,
                                     "connections": connections, "index": index,
                                     "path": resource_row["path"], "kind": resource_row["kind"],
                                     "completion_ms": "%.3f" % resource_row["completion_ms"],
                                     "request_ms": "%.3f" % resource_row["request_ms"],
                                     "connection": resource_row["connection"]})
                    log("round %d, slow %-6s %-4s %-6s conns %-3s fast in %7.1f ms, last %7.1f"
                        " ms, process %6.0f ms" % (round_number, placement, shape, client,
                                                   connections, summary["fast_done"],
                                                   summary["last"], 1000 * wall))
    except RunFailed as failure:
        failures.append(str(failure))
        log("FAILED " + str(failure))
    finally:
        server.stop()

    csv_path = os.path.join(args.out, "h2.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    cpu_end = cpu_times()
    busy = "?"
    if cpu_start and cpu_end and cpu_end[1] > cpu_start[1]:
        busy = "%.0f%%" % (100.0 * (cpu_end[0] - cpu_start[0]) / (cpu_end[1] - cpu_start[1]))
    # This script, the server and every client (all waited for): what of that was ours.
    ours = sum(getattr(resource.getrusage(who), field)
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))
    busy += " busy over the run (/proc/stat, every process; this benchmark's own, server " \
        "and clients: %.1f s of CPU in %.0f s)" % (ours, time.monotonic() - wall_start)
    facts = machine_lines(tools, args, load_start, os.getloadavg()[0], busy)
    md_path = os.path.join(args.out, "h2.md")
    text = write_report(md_path, args, results, unavailable, facts, program, items_by_placement)
    if failures:
        with open(md_path, "a") as f:
            f.write("\n**Failures:**\n\n" + "".join("- %s\n" % x for x in failures))
    log("")
    log(text)
    log("Wrote %s and %s" % (md_path, csv_path))
    if failures:
        log("%d failure(s):\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
