#!/usr/bin/env python3
"""Blocking vs async servers under the same load: `make bench`.

    python3 tests/bench/run_bench.py --bin build/bin --out build/bench
    python3 tests/bench/run_bench.py --quick                   # a fast check
    python3 tests/bench/run_bench.py --servers epoll,select --levels 100,1000 --duration 5

Every server in SERVERS answers "GET / HTTP/1.1" with "Hello, world" and
keeps the connection alive. For each server and each concurrency level we
start a fresh copy pinned to one core, aim `wrk` (pinned to another core) at
it for a few seconds, and sample the server's memory, threads and open
connections from /proc while wrk runs. Then a slow-client scenario: hundreds
of peers that connect, send half a request and dribble one byte a second,
while wrk measures ten well-behaved connections beside them. Last, the
slow-backend scenario (chapter 08): every request waits 100 ms for a
"backend", in a coroutine, on a thread pool, or blocking the loop, at 100
connections.

Writes OUT/results.csv (plot.py draws it), OUT/results.md (the tables, the
method and the machine) and OUT/raw/ (wrk's own output and each server's
stderr, per run). Standard library only; runs under any python3 >= 3.7.
See tests/bench/README.md for how to read the numbers.
"""
import argparse
import csv
import os
import platform
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
from serverproc import ServerProcess  # noqa: E402


# select() can only watch descriptors below FD_SETSIZE (1024 on Linux).
FD_SETSIZE = 1024


class Server:
    """One row of the server table.

    program: a file name in --bin (a demo of ours) or an absolute path.
    args:    extra arguments after --port=0; "{root}" becomes the repository.
    max_connections / limit: above that many connections the run is skipped
             and the table says `limit` instead of numbers.
    url_path: what wrk requests (the slow-backend scenario's routes).
    The program must accept --port=0 and print "Listening on http://A:P/".
    """

    def __init__(self, name, program, model, args=(), max_connections=None, limit="",
                 url_path="/"):
        self.name = name
        self.program = program
        self.model = model
        self.args = list(args)
        self.max_connections = max_connections
        self.limit = limit
        self.url_path = url_path

    def path(self, bin_dir):
        return self.program if os.path.isabs(self.program) else os.path.join(bin_dir, self.program)

    def arguments(self):
        return [a.replace("{root}", ROOT) for a in self.args]

    def takes(self, connections):
        return self.max_connections is None or connections <= self.max_connections


# The servers, in the order the course builds them. Later chapters add a line
# here: the chapter 05 HTTP server, the final framework, and for comparison
# nginx and Python Tornado (through a small wrapper script that accepts
# --port=0 and prints the ready line).
SERVERS = [
    Server("iterative", "ch01_iterative_server", "blocking, one connection at a time"),
    Server("threaded", "ch01_threaded_server", "blocking, one thread per connection"),
    # Connections + listener + stdin/out/err must stay below FD_SETSIZE.
    Server("select", "ch02_select_server", "non-blocking, select() loop",
           max_connections=FD_SETSIZE - 16, limit="n/a (FD_SETSIZE)"),
    Server("epoll", "ch03_server", "non-blocking, epoll IOLoop"),
    Server("iostream", "ch04_echo_server", "epoll IOLoop + buffered IOStream (ch04)"),
    Server("http", "ch05_http_server", "epoll IOLoop + IOStream + HTTP/1.1 parser (ch05)"),
    Server("web", "ch06_app", "ch05 + Application routing + RequestHandler (ch06)"),
]

# The slow-backend scenario (chapter 08): every request waits BACKEND_MS
# for something slow (a database, another service), here a sleep. The three
# rows are routes of one program, ch08_app. A coroutine waits on a timer
# and the loop serves the other connections meanwhile; the thread pool runs
# four blocking sleeps at a time; the blocking route sleeps on the loop
# thread, so requests are served one at a time. One level only, and a wrk
# timeout long enough for the blocking server's queue.
BACKEND_MS = 100
BACKEND_CONNECTIONS = 100
BACKEND_TIMEOUT = 10  # seconds
BACKEND_SERVERS = [
    Server("coroutine", "ch08_app", "co_await sleep(100 ms) in a coroutine handler",
           url_path="/sleep?ms=%d" % BACKEND_MS),
    Server("executor", "ch08_app", "blocking sleep on a 4-thread pool (run_in_executor)",
           url_path="/blocking?ms=%d" % BACKEND_MS),
    Server("blocking", "ch08_app", "blocking sleep on the loop thread (/blocking-wrong)",
           url_path="/blocking-wrong?ms=%d" % BACKEND_MS),
]

LEVELS = [1, 10, 100, 1000, 10000]
DURATION = 3          # seconds per wrk run
TIMEOUT = 2           # wrk --timeout, seconds
SLOW_CLIENTS = 500    # slow peers in the slow-client scenario
WELL_BEHAVED = 10     # wrk connections measured beside them
SAMPLE_EVERY = 0.25   # seconds between /proc samples

QUICK_LEVELS = [10, 100]
QUICK_DURATION = 1
QUICK_SLOW_CLIENTS = 50

# wrk calls done() once at the end; one machine-readable line is easier to
# trust than scraping its human-readable report.
WRK_REPORT_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f connect=%.0f read=%.0f write=%.0f " ..
    "status=%.0f timeout=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

CSV_FIELDS = ["scenario", "server", "connections", "slow_clients", "status", "requests",
              "duration_s", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms",
              "err_connect", "err_read", "err_write", "err_timeout", "err_status",
              "hwm_kb", "rss_peak_kb", "threads_peak", "held_peak", "note"]


def log(message=""):
    print(message, flush=True)


# --- the machine ----------------------------------------------------------

def raise_fd_limit(wanted):
    """Lift RLIMIT_NOFILE (inherited by the servers and wrk) to `wanted` or
    as close as we may; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:  # only root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    new_soft = max(soft, wanted) if hard == resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def read_first(path, pattern, default="?"):
    try:
        with open(path) as f:
            match = re.search(pattern, f.read(), re.M)
        return match.group(1).strip() if match else default
    except OSError:
        return default


def wrk_version():
    try:
        run = subprocess.run(["wrk", "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    first = run.stdout.decode(errors="replace").splitlines()[:1]
    return first[0].split(" Copyright")[0] if first else "?"


def machine_facts(fd_limit):
    cpus = len(os.sched_getaffinity(0))
    mem_kb = read_first("/proc/meminfo", r"^MemTotal:\s+(\d+)", "0")
    return [
        ("CPUs (nproc)", str(cpus)),
        ("CPU model", read_first("/proc/cpuinfo", r"^model name\s*:\s*(.*)$")),
        ("memory", "%.1f GB" % (int(mem_kb) / 1024 / 1024)),
        ("kernel", "%s %s" % (platform.system(), platform.release())),
        ("wrk", wrk_version()),
        ("python", platform.python_version()),
        ("RLIMIT_NOFILE", str(fd_limit)),
        ("net.core.somaxconn", read_first("/proc/sys/net/core/somaxconn", r"(\d+)")),
        # Other work on the machine skews every number: say how busy it was.
        ("load average at start (1, 5, 15 min)",
         " ".join(read_first("/proc/loadavg", r"^(.*)$").split()[:3])),
    ]


# --- pinning --------------------------------------------------------------

class Pinning:
    """Server on one core, wrk on another, so they do not fight for one."""

    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0))
        self.enabled = shutil.which("taskset") is not None and len(cpus) >= 2
        self.server_cpu = cpus[0] if self.enabled else None
        self.wrk_cpu = cpus[1] if self.enabled else None

    def wrk_prefix(self):
        return ["taskset", "-c", str(self.wrk_cpu)] if self.enabled else []

    def describe(self):
        if not self.enabled:
            return "not pinned (needs taskset and at least 2 CPUs)"
        return "server on CPU %d, wrk on CPU %d (taskset)" % (self.server_cpu, self.wrk_cpu)


# --- sampling the server --------------------------------------------------

def proc_status(pid):
    """VmRSS, VmHWM (kB) and Threads of a live process, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for key in ("VmRSS", "VmHWM", "Threads"):
        match = re.search(r"^%s:\s+(\d+)" % key, text, re.M)
        values[key] = int(match.group(1)) if match else 0
    return values


def open_descriptors(pid):
    # Counting only sockets would need a readlink per descriptor: about 0.15 s
    # for 10,000, a core's worth of sampling taken from the server.
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


class Sampler:
    """Samples a server's /proc entries in a background thread."""

    def __init__(self, pid):
        self.pid = pid
        self.idle_fds = open_descriptors(pid)
        self.rss_peak = 0
        self.threads_peak = 0
        self.fds_peak = self.idle_fds
        self.last = proc_status(pid) or {"VmRSS": 0, "VmHWM": 0, "Threads": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()  # VmHWM now covers the whole run

    def _run(self):
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self):
        status = proc_status(self.pid)
        if status is None:
            return
        self.last = status
        self.rss_peak = max(self.rss_peak, status["VmRSS"])
        self.threads_peak = max(self.threads_peak, status["Threads"])
        self.fds_peak = max(self.fds_peak, open_descriptors(self.pid))

    def held_peak(self):
        """Most connections the server had open at once: the descriptors it
        had beyond those it held when idle (listener, stdio, epoll...)."""
        return max(0, self.fds_peak - self.idle_fds)


# --- slow clients ---------------------------------------------------------

class SlowClients:
    """Peers that connect, send half a request and add one byte a second.

    A server that blocks on one of them stops serving everyone else; a
    server that waits on all of its sockets at once does not notice them.
    """

    HALF_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Dribble: "

    def __init__(self, port, count, connect_timeout=3.0):
        self.port = port
        self.count = count
        self.connect_timeout = connect_timeout
        self.sockets = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, daemon=True)

    def __enter__(self):
        pending = []
        try:
            for _ in range(self.count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", self.port))
                pending.append(sock)
            self._wait_connected(pending)
        except BaseException:
            for sock in pending:
                sock.close()
            raise
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()

    def _wait_connected(self, pending):
        # A non-blocking connect is done when the socket turns writable.
        selector = selectors.DefaultSelector()
        for sock in pending:
            selector.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + self.connect_timeout
        waiting = len(pending)
        while waiting and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.1):
                sock = key.fileobj
                selector.unregister(sock)
                waiting -= 1
                connected = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                if connected and self._send(sock, self.HALF_REQUEST):
                    self.sockets.append(sock)
                else:
                    sock.close()
        for key in list(selector.get_map().values()):  # never connected
            key.fileobj.close()
        selector.close()

    @staticmethod
    def _send(sock, data):
        try:
            return sock.send(data) == len(data)
        except OSError:
            return False

    def _dribble(self):
        while not self._stop.wait(1.0):
            alive = []
            for sock in self.sockets:
                if self._send(sock, b"a"):
                    alive.append(sock)
                else:  # the server closed it: it is no longer holding anyone up
                    sock.close()
            self.sockets = alive


# --- one run --------------------------------------------------------------

def empty_row(scenario, server, connections, slow_clients, status, note=""):
    row = {field: "" for field in CSV_FIELDS}
    row.update(scenario=scenario, server=server.name, connections=connections,
               slow_clients=slow_clients, status=status, note=note)
    return row


def parse_wrk(output):
    match = re.search(r"^BENCH (.*)$", output, re.M)
    if not match:
        return None
    return {key: float(value) for key, value in
            (pair.split("=") for pair in match.group(1).split())}


def run_wrk(port, connections, options, pinning, raw_file, lua_path, url_path="/", timeout=None):
    command = pinning.wrk_prefix() + [
        "wrk", "-t1", "-c%d" % connections, "-d%ds" % options.duration,
        "--timeout", "%ds" % (timeout or options.timeout), "--latency", "-s", lua_path,
        "http://127.0.0.1:%d%s" % (port, url_path)]
    raw_file.write("$ %s\n" % " ".join(command))
    raw_file.flush()
    try:
        # wrk stops on its own after --duration; the margin covers opening
        # and closing 10,000 connections.
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=options.duration + 60)
    except subprocess.TimeoutExpired:
        return None, "wrk did not finish"
    output = run.stdout.decode(errors="replace")
    raw_file.write(output)
    result = parse_wrk(output)
    if result is None:
        return None, "wrk failed: " + (output.strip().splitlines() or ["no output"])[-1]
    return result, ""


def start_server(server, bin_dir, pinning, stderr_file, row):
    """The server running and ready, or None (and the row says why)."""
    process = ServerProcess(server.path(bin_dir), *server.arguments(),
                            cpu=pinning.server_cpu, stderr=stderr_file)
    try:
        process.__enter__()
        return process
    except OSError as error:
        row.update(status="failed", note="did not start: %s" % error)
    except RuntimeError:  # it exited, or never printed its ready line
        row.update(status="failed", note="did not start (exit code %s, no ready line); see raw/%s"
                   % (process.process.returncode, os.path.basename(stderr_file.name)))
    return None


def load(port, connections, slow_clients, options, pinning, raw_file, row, server):
    """Runs wrk, beside the slow clients if there are any."""
    lua_path = os.path.join(options.out, "raw", "report.lua")
    if row["scenario"] == "backend":
        return run_wrk(port, connections, options, pinning, raw_file, lua_path,
                       url_path=server.url_path, timeout=max(options.timeout, BACKEND_TIMEOUT))
    if not slow_clients:
        return run_wrk(port, connections, options, pinning, raw_file, lua_path)
    with SlowClients(port, slow_clients) as slow:
        row["slow_clients"] = len(slow.sockets)
        time.sleep(0.3)  # let the server take them in first
        return run_wrk(port, connections, options, pinning, raw_file, lua_path)


def record(row, result, problem, exit_code, sampler, options):
    """Fills the row with wrk's numbers and the /proc samples."""
    notes = [problem] if problem else []
    if exit_code is not None:
        notes.append("server exited with %d during the run" % exit_code)
        row["status"] = "server died"
    row.update(hwm_kb=sampler.last["VmHWM"], rss_peak_kb=sampler.rss_peak,
               threads_peak=sampler.threads_peak, held_peak=sampler.held_peak())
    if result is None:
        row.update(status="failed", note="; ".join(notes))
        return
    seconds = result["duration_us"] / 1e6
    if seconds > options.duration * 1.5 + 1:
        # wrk opens all its connections before its event loop starts, and
        # only that loop notices the end of --duration: when opening 10,000
        # connections is slow, the run lasts longer than asked.
        notes.append("wrk took %.0f s" % seconds)
    row.update(
        note="; ".join(notes), requests=int(result["requests"]), duration_s="%.2f" % seconds,
        rps="%.1f" % (result["requests"] / seconds if seconds else 0),
        err_connect=int(result["connect"]), err_read=int(result["read"]),
        err_write=int(result["write"]), err_timeout=int(result["timeout"]),
        err_status=int(result["status"]))
    if result["requests"] > 0:  # no completed request, no latency
        for key in ("p50", "p90", "p99", "max"):
            row[key + "_ms"] = "%.3f" % (result[key + "_us"] / 1000)


def measure(server, bin_dir, connections, options, pinning, scenario, slow_clients=0):
    """Starts a fresh server, loads it, stops it, and returns one CSV row."""
    row = empty_row(scenario, server, connections, slow_clients, "ok")
    raw = os.path.join(options.out, "raw", "%s-%s-%d" % (scenario, server.name, connections))
    with open(raw + ".txt", "w") as raw_file, open(raw + ".server-stderr.txt", "w") as stderr_file:
        process = start_server(server, bin_dir, pinning, stderr_file, row)
        if process is None:
            return row
        try:
            with Sampler(process.pid) as sampler:
                result, problem = load(process.port, connections, slow_clients, options,
                                       pinning, raw_file, row, server)
            exit_code = process.process.poll()
        finally:
            process.stop(grace=2.0)
    record(row, result, problem, exit_code, sampler, options)
    return row


# --- formatting -----------------------------------------------------------

def fmt_ms(text):
    if text == "":
        return "-"
    ms = float(text)
    if ms < 1:
        return "%.2f ms" % ms
    if ms < 100:
        return "%.1f ms" % ms
    return "%.0f ms" % ms


def fmt_rps(row):
    if row["rps"] == "":
        return "-"
    if row["requests"] == 0:
        return "0 (starved)" if row["scenario"] == "slow" else "0 (no replies)"
    return "{:,.0f}".format(float(row["rps"]))


def fmt_errors(row):
    if row["rps"] == "":
        return "-"
    parts = ["%s %s" % (row["err_" + kind], label)
             for kind, label in (("connect", "connect"), ("read", "read"), ("write", "write"),
                                 ("timeout", "timeout"), ("status", "HTTP 4xx/5xx"))
             if row["err_" + kind]]
    return ", ".join(parts) if parts else "0"


def fmt_mb(kb):
    return "-" if kb in ("", 0) else "%.1f MB" % (int(kb) / 1024)


def fmt_count(value):
    return "-" if value == "" else "{:,}".format(int(value))


def progress_line(index, total, row):
    head = "[%2d/%d] %-9s %-5s %6s conns" % (index, total, row["server"], row["scenario"],
                                             fmt_count(row["connections"]))
    if row["scenario"] == "slow":
        head += " + %s slow" % fmt_count(row["slow_clients"])
    if row["status"] not in ("ok", "server died"):
        return "%s  %s %s" % (head, row["status"], row["note"])
    line = "%s  %12s req/s  p50 %-8s p99 %-8s errors %s  RSS %s  threads %s  held %s" % (
        head, fmt_rps(row), fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), fmt_errors(row),
        fmt_mb(row["hwm_kb"]), row["threads_peak"], row["held_peak"])
    return line + ("  (%s)" % row["note"] if row["note"] else "")


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


PARTLY_SERVED = ("† the server held fewer connections than wrk opened: the others waited "
                 "unanswered, and no percentile includes their wait.")


def partly_served(row):
    return row["held_peak"] != "" and int(row["held_peak"]) < int(row["connections"])


def load_table(rows):
    cells = []
    for row in rows:
        if row["status"] not in ("ok", "server died"):
            reason = row["status"] + (": " + row["note"] if row["note"] else "")
            cells.append([row["server"], fmt_count(row["connections"]), reason] + ["-"] * 6)
            continue
        errors = fmt_errors(row) + (" (" + row["note"] + ")" if row["note"] else "")
        mark = " †" if partly_served(row) and row["requests"] else ""
        cells.append([row["server"], fmt_count(row["connections"]), fmt_rps(row),
                      fmt_ms(row["p50_ms"]) + mark, fmt_ms(row["p99_ms"]) + mark, errors,
                      fmt_mb(row["hwm_kb"]), fmt_count(row["threads_peak"]),
                      fmt_count(row["held_peak"])])
    table = markdown_table(["server", "connections", "req/s", "p50", "p99", "errors",
                            "peak RSS", "threads", "conns held"], cells)
    if any(" †" in cell[3] for cell in cells):
        table += "\n\n" + PARTLY_SERVED
    return table


def slow_table(rows, load_rows):
    alone = {r["server"]: float(r["rps"]) for r in load_rows
             if r["connections"] == WELL_BEHAVED and r["rps"] not in ("", "0.0")}
    cells = []
    for row in rows:
        if row["status"] not in ("ok", "server died"):
            cells.append([row["server"], fmt_count(row["slow_clients"]),
                          fmt_count(row["connections"]), row["status"] + " " + row["note"]]
                         + ["-"] * 6)
            continue
        share = "-"
        if row["server"] in alone:
            share = "%.0f%%" % (100 * float(row["rps"]) / alone[row["server"]])
        errors = fmt_errors(row) + (" (" + row["note"] + ")" if row["note"] else "")
        cells.append([row["server"], fmt_count(row["slow_clients"]), fmt_count(row["connections"]),
                      fmt_rps(row), share, fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), errors,
                      fmt_mb(row["hwm_kb"]), fmt_count(row["threads_peak"])])
    return markdown_table(["server", "slow clients", "wrk conns", "req/s",
                           "vs. %d conns alone" % WELL_BEHAVED, "p50", "p99", "errors",
                           "peak RSS", "threads"], cells)


def backend_table(rows):
    blocking = next((float(r["rps"]) for r in rows
                     if r["server"] == "blocking" and r["rps"] not in ("", "0.0")), None)
    models = {s.name: s for s in BACKEND_SERVERS}
    cells = []
    for row in rows:
        server = models[row["server"]]
        if row["status"] not in ("ok", "server died"):
            cells.append([row["server"], "`%s`" % server.url_path, server.model,
                          row["status"] + " " + row["note"]] + ["-"] * 5)
            continue
        ratio = "-"
        if blocking and row["rps"] != "":
            ratio = "%.0fx" % (float(row["rps"]) / blocking)
        errors = fmt_errors(row) + (" (" + row["note"] + ")" if row["note"] else "")
        cells.append([row["server"], "`%s`" % server.url_path, server.model, fmt_rps(row), ratio,
                      fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), errors,
                      fmt_count(row["threads_peak"])])
    return markdown_table(["server", "route of ch08_app", "how it waits", "req/s",
                           "vs. blocking", "p50", "p99", "errors", "threads"], cells)


def method_text(options, pinning):
    return "\n".join([
        "- Each run starts a fresh server with `--port=0`, waits for its ready line, "
        "then runs `wrk -t1 -cN -d%ds --timeout %ds --latency` against "
        "`http://127.0.0.1:PORT/` (keep-alive `GET /`, a 12-byte \"Hello, world\" reply), "
        "and stops the server." % (options.duration, options.timeout),
        "- Pinning: %s." % pinning.describe(),
        "- Memory: the server's `VmHWM` from /proc/PID/status after the run (peak resident "
        "set of a process that served only this run); threads and \"conns held\" (open "
        "descriptors beyond those the idle server had) are peaks sampled every %.2f s."
        % SAMPLE_EVERY,
        "- Latency covers completed requests only: a reply later than the timeout counts "
        "as a timeout error, and a request never answered counts nowhere. Read p50/p99 "
        "together with req/s, errors and conns held.",
        "- Slow clients: %d (or fewer, if they could not connect within 3 s) peers send "
        "half a request and then one byte a second; wrk measures %d well-behaved connections "
        "beside them." % (options.slow_clients, WELL_BEHAVED),
        "- Slow backend: %d wrk connections against a route of `ch08_app` whose every "
        "request waits %d ms (wrk `--timeout %ds`, so that the blocking server's queue "
        "shows as latency, not as timeouts)." % (
            options.backend_connections, BACKEND_MS, max(options.timeout, BACKEND_TIMEOUT)),
    ])


def write_results(options, pinning, facts, load_rows, slow_rows, backend_rows=()):
    with open(os.path.join(options.out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(load_rows + slow_rows + list(backend_rows))
    parts = ["# Benchmark results", "",
             "## Rising concurrency", "", load_table(load_rows), ""]
    if slow_rows:
        parts += ["## Slow clients", "", slow_table(slow_rows, load_rows), ""]
    if backend_rows:
        parts += ["## Slow backend: %d ms per request, %d connections" % (
                      BACKEND_MS, options.backend_connections), "",
                  backend_table(backend_rows), ""]
    parts += ["## Method", "", method_text(options, pinning), "",
              "## Machine", "", "\n".join("- %s: %s" % fact for fact in facts), ""]
    text = "\n".join(parts)
    with open(os.path.join(options.out, "results.md"), "w") as f:
        f.write(text)
    return text


# --- the command line -----------------------------------------------------

def parse_levels(text):
    try:
        levels = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("levels are numbers, e.g. 1,10,100")
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("levels must be 1 or more")
    return levels


def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of the demo servers (default: build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where results go (default: build/bench)")
    parser.add_argument("--servers", help="comma-separated names, e.g. select,epoll "
                        "(default: all of %s)" % ",".join(s.name for s in SERVERS + BACKEND_SERVERS))
    parser.add_argument("--levels", type=parse_levels,
                        help="connection counts (default: %s)" % ",".join(map(str, LEVELS)))
    parser.add_argument("--duration", type=int, help="seconds per run (default: %d)" % DURATION)
    parser.add_argument("--timeout", type=int, default=TIMEOUT,
                        help="wrk --timeout in seconds (default: %d)" % TIMEOUT)
    parser.add_argument("--slow-clients", type=int,
                        help="slow peers in the slow-client scenario, 0 to skip it "
                             "(default: %d)" % SLOW_CLIENTS)
    parser.add_argument("--backend-connections", type=int, default=BACKEND_CONNECTIONS,
                        help="wrk connections in the slow-backend scenario, 0 to skip it "
                             "(default: %d)" % BACKEND_CONNECTIONS)
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: levels %s, %d s runs, %d slow clients unless given" % (
                            ",".join(map(str, QUICK_LEVELS)), QUICK_DURATION, QUICK_SLOW_CLIENTS))
    parser.add_argument("--list", action="store_true", help="list the servers and exit")
    options = parser.parse_args(argv)
    quick = options.quick
    if options.levels is None:
        options.levels = QUICK_LEVELS if quick else LEVELS
    if options.duration is None:
        options.duration = QUICK_DURATION if quick else DURATION
    if options.slow_clients is None:
        options.slow_clients = QUICK_SLOW_CLIENTS if quick else SLOW_CLIENTS
    if options.duration < 1 or options.timeout < 1:
        parser.error("--duration and --timeout are whole seconds, 1 or more")
    options.selected = select_servers(parser, options.servers)
    return options


def select_servers(parser, names):
    everyone = SERVERS + BACKEND_SERVERS
    if not names:
        return list(everyone)
    by_name = {s.program.lower(): s for s in SERVERS}
    by_name.update({s.name.lower(): s for s in everyone})
    chosen = []
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name not in by_name:
            parser.error("unknown server '%s'; known: %s" % (name, ", ".join(s.name for s in everyone)))
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


def list_servers(bin_dir):
    for s in SERVERS + BACKEND_SERVERS:
        found = "found" if os.access(s.path(bin_dir), os.X_OK) else "missing"
        program = s.program + ("" if s.url_path == "/" else " " + s.url_path)
        log("%-10s %-33s %-8s %s" % (s.name, program, found, s.model))


def plan_runs(options):
    runs = []
    for server in options.available:
        if server in BACKEND_SERVERS:
            if options.backend_connections > 0:
                runs.append(("backend", server, options.backend_connections))
            continue
        for level in options.levels:
            runs.append(("load", server, level))
        if options.slow_clients > 0:
            runs.append(("slow", server, WELL_BEHAVED))
    return runs


def main(argv):
    options = parse_options(argv)
    bin_dir = os.path.abspath(options.bin)
    if options.list:
        list_servers(bin_dir)
        return 0
    if shutil.which("wrk") is None:
        log("run_bench: wrk is not installed (tools/install-deps.sh bench installs it)")
        return 2

    options.out = os.path.abspath(options.out)
    os.makedirs(os.path.join(options.out, "raw"), exist_ok=True)
    with open(os.path.join(options.out, "raw", "report.lua"), "w") as f:
        f.write(WRK_REPORT_LUA)

    biggest = max(options.levels + [options.slow_clients + WELL_BEHAVED,
                                    options.backend_connections])
    fd_limit = raise_fd_limit(biggest + 1024)
    if fd_limit < biggest + 64:
        log("note: RLIMIT_NOFILE is %d; runs above about %d connections will fail to "
            "open sockets" % (fd_limit, fd_limit - 64))
    pinning = Pinning()
    facts = machine_facts(fd_limit)

    options.available = []
    for server in options.selected:
        if os.access(server.path(bin_dir), os.X_OK):
            options.available.append(server)
        else:
            log("note: %s not found, skipping '%s' (not built yet?)" % (server.path(bin_dir), server.name))

    runs = plan_runs(options)
    log("Benchmark: %d runs of %d s each, about %.0f s in all" % (
        len(runs), options.duration, len(runs) * (options.duration + 1.2)))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in facts))
    log("Servers: " + (", ".join("%s (%s)" % (s.name, s.model) for s in options.available) or "none"))
    log()

    rows = {"load": [], "slow": [], "backend": []}
    for index, (scenario, server, level) in enumerate(runs, 1):
        if scenario == "load" and not server.takes(level):
            row = empty_row("load", server, level, 0, server.limit)
        elif scenario == "slow":
            row = measure(server, bin_dir, level, options, pinning, "slow",
                          slow_clients=options.slow_clients)
        else:
            row = measure(server, bin_dir, level, options, pinning, scenario)
        rows[scenario].append(row)
        log(progress_line(index, len(runs), row))

    text = write_results(options, pinning, facts, rows["load"], rows["slow"], rows["backend"])
    log()
    log(text)
    log("Wrote %s, %s and raw/ (wrk output, server stderr per run)" % (
        os.path.join(options.out, "results.csv"), os.path.join(options.out, "results.md")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
