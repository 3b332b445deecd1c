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
method and the machine), OUT/framework.csv (the framework's ratios and
goals) and OUT/raw/ (wrk's own output and each server's
stderr, per run). Standard library only; runs under any python3 >= 3.7.
See tests/bench/README.md for how to read the numbers.
"""
import argparse
import contextlib
import csv
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
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
    launcher: the class that starts it (ServerProcess unless given), called
             as launcher(path, *arguments, cpu=..., stderr=...).
    needs:   (command, what) run before it: when the command fails the
             server is "not available" and the note says `what` is missing.
    env:     environment variables to add for it (ServerProcess only).
    The program must accept --port=0 and print "Listening on http://A:P/"
    (or have a launcher that stands in for that, as nginx does).
    """

    def __init__(self, name, program, model, args=(), max_connections=None, limit="",
                 url_path="/", launcher=None, needs=None, env=None):
        self.name = name
        self.program = program
        self.model = model
        self.args = list(args)
        self.max_connections = max_connections
        self.limit = limit
        self.url_path = url_path
        self.launcher = launcher or ServerProcess
        self.needs = needs
        self.env = env or {}

    def path(self, bin_dir):
        return self.program if os.path.isabs(self.program) else os.path.join(bin_dir, self.program)

    def arguments(self, raw_dir=""):
        return [a.replace("{root}", ROOT).replace("{raw}", raw_dir) for a in self.args]

    def missing(self, bin_dir):
        """Why the server cannot run here, or None when it can."""
        if not os.access(self.path(bin_dir), os.X_OK):
            return "%s not found" % self.path(bin_dir)
        if self.needs:
            command, what = self.needs
            try:
                probe = subprocess.run(command, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=30)
                if probe.returncode == 0:
                    return None
            except (OSError, subprocess.TimeoutExpired):
                pass
            return "%s is not installed" % what
        return None

    def takes(self, connections):
        return self.max_connections is None or connections <= self.max_connections


def free_port():
    """A port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NginxProcess:
    """nginx as a course server: the interface of ServerProcess (.port, .pid,
    .process, stop()), for a program that prints no ready line.

    We pick a free port, write run_dir/nginx.conf from nginx.conf.in and
    start nginx in the foreground as its own single worker (or, with
    workers > 1, as a master and its workers); it is ready when its port
    accepts a connection. With reuse_port each worker listens on a socket
    of its own (nginx's `listen ... reuseport`).
    """

    TEMPLATE = os.path.join(HERE, "nginx.conf.in")

    def __init__(self, program, run_dir, cpu=None, stderr=None, ready_timeout=10.0, workers=1,
                 reuse_port=False):
        self.program = program
        self.reuse_port = reuse_port
        self.run_dir = run_dir
        self.cpu = cpu
        self.stderr = stderr
        self.ready_timeout = ready_timeout
        self.workers = workers
        self.process = None
        self.port = None

    @property
    def pid(self):
        return self.process.pid

    def __enter__(self):
        os.makedirs(self.run_dir, exist_ok=True)
        # Another program may take the port between our probe and nginx's
        # bind(); nginx then exits at once and we try another.
        for _ in range(3):
            self.port = free_port()
            command = self.command(self.write_config())
            if self.cpu is not None:
                command = ["taskset", "-c", str(self.cpu)] + command
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=self.stderr)
            if self._wait_until_accepting():
                return self
            self.stop()
        raise RuntimeError("%s did not start; see %s" % (os.path.basename(self.program),
                                                          os.path.join(self.run_dir, "error.log")))

    def __exit__(self, *exc):
        self.stop()

    def command(self, config):
        """The command line that starts the server on `config` (a subclass
        starts another server the same way: http2_bench.py's h2o)."""
        return [self.program, "-p", self.run_dir, "-c", config,
                "-e", os.path.join(self.run_dir, "error.log")]

    def write_config(self):
        # nginx needs a descriptor per connection: as many connections as
        # the limit it inherits from us allows.
        connections = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        with open(self.TEMPLATE) as f:
            text = f.read()
        text = (text.replace("@DIR@", self.run_dir).replace("@PORT@", str(self.port))
                .replace("@WORKER_CONNECTIONS@", str(connections))
                .replace("@WORKERS@", str(self.workers))
                .replace("@MASTER@", "on" if self.workers > 1 else "off")
                .replace("@REUSEPORT@", "reuseport" if self.reuse_port else ""))
        path = os.path.join(self.run_dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _wait_until_accepting(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self, grace=5.0):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # nginx's fast shutdown
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# The servers, in the order the course builds them. Later chapters add a line
# here. The final framework, nginx and Python Tornado have a scenario of
# their own (FRAMEWORK_SERVERS below).
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

# The framework scenario: the course's final/ framework against two
# yardsticks, nginx (C, one worker) and Python Tornado 6 (the program the
# course rebuilds), in the same run. Every server answers GET / with
# "Hello, world" as text/plain over keep-alive. final_hello goes through
# the web layer (Application + RequestHandler) like tornado_hello.py;
# final_http_hello is the bare HTTPServer with a callback, like nginx's
# `return 200`.
SYSTEM_PYTHON = "/usr/bin/python3"
FRAMEWORK_SERVERS = [
    # --logging=warning: no access-log line per request, as nginx runs with
    # access_log off and tornado_hello.py configures no logging.
    Server("final_hello", "final_hello",
           "final/: web::Application + RequestHandler",
           args=["--address=127.0.0.1", "--logging=warning"]),
    Server("final_http_hello", "final_http_hello",
           "final/: HTTPServer + a callback", args=["--address=127.0.0.1"]),
    # The same program on the IOLoop's io_uring backend (docs/reference/ioloop.md,
    # "Readiness and completion").
    Server("final_hello_io_uring", "final_hello",
           "final_hello on the io_uring IOLoop (TORNADO_IOLOOP=io_uring)",
           args=["--address=127.0.0.1", "--logging=warning"],
           env={"TORNADO_IOLOOP": "io_uring"}),
    Server("final_http_hello_io_uring", "final_http_hello",
           "final_http_hello on the io_uring IOLoop (TORNADO_IOLOOP=io_uring)",
           args=["--address=127.0.0.1"], env={"TORNADO_IOLOOP": "io_uring"}),
    # The floor: a loop that answers each read with a canned response and
    # does nothing else (bare_loop.cpp). What it costs is the kernel's.
    Server("floor_epoll", "bare_loop", "the floor: epoll, one recv and one send per request",
           args=["--address=127.0.0.1", "--backend=epoll"]),
    Server("floor_io_uring", "bare_loop",
           "the floor: io_uring, multishot recv, sends batched per turn",
           args=["--address=127.0.0.1", "--backend=io_uring"]),
    Server("nginx", "/usr/sbin/nginx", "nginx, 1 worker, return 200 (nginx.conf.in)",
           args=["{raw}/nginx"], launcher=NginxProcess),
    Server("tornado", os.path.join(HERE, "tornado_hello.py"),
           "Python Tornado: web.Application + RequestHandler (tornado_hello.py)",
           needs=([SYSTEM_PYTHON, "-c", "import tornado"], "python3-tornado")),
]
FINAL_SERVERS = ("final_hello", "final_http_hello")
FINAL_IO_URING = "final_hello_io_uring"
FRAMEWORK_LEVELS = [100, 1000]
# Rounds per level, alternating between the servers. CPU per request is the
# median round's: five rounds let two disturbed ones pass unnoticed.
FRAMEWORK_ROUNDS = 5
QUICK_FRAMEWORK_ROUNDS = 1
IDLE_CONNECTIONS = 10000      # idle keep-alive connections for the memory figure
QUICK_IDLE_CONNECTIONS = 1000
IDLE_IN_FLIGHT = 200          # connections being opened at once (stays below any backlog)
# The goals of the framework (docs/reference/httpserver.md, "HTTP: how fast, how small").
GOAL_RPS_VS_NGINX = 0.95      # final's req/s / nginx's, at least
GOAL_CPU_VS_NGINX = 1.00      # final's server CPU per request / nginx's, at most
GOAL_IO_URING_CPU_VS_NGINX = 0.85  # final_hello_io_uring's CPU per request / nginx's, at most
GOAL_RPS_VS_TORNADO = 10.0    # final's req/s / Tornado's, at least
GOAL_IDLE_BYTES = 1024        # server memory per idle keep-alive connection, at most
# Each final/ server's CPU per request ÷ its backend's floor (bare_loop,
# which parses nothing), at most: what the framework may add to what the
# kernel costs anyway. The web layer does more than the bare HTTPServer,
# hence its wider margin.
FLOOR_GOALS = [  # (server, its floor, goal)
    ("final_http_hello", "floor_epoll", 1.10),
    ("final_hello", "floor_epoll", 1.20),
    ("final_http_hello_io_uring", "floor_io_uring", 1.10),
    ("final_hello_io_uring", "floor_io_uring", 1.20),
]
# The two estimators of a ratio between two servers measured in the same
# rounds (tests/bench/README.md, "Round by round"); a floor goal is judged
# by each.
BY_MEDIANS = "ratio of medians"
BY_ROUNDS = "median of round ratios"

# The WebSocket scenario: an echo server in each of three frameworks, in the
# same run. Our load generator, ws_load (tests/bench/ws_load.cpp, built into
# --bin), opens N WebSocket connections on WEBSOCKET_PATH; each sends a
# 32-byte text message, waits for its echo, and sends the next. Then the
# memory of idle WebSocket connections, as the framework scenario measures
# idle keep-alive connections (same --rounds, --duration, --idle-connections).
WEBSOCKET_SERVERS = [
    # --logging=warning: no log line per connection, as Tornado's access log
    # is off in tornado_ws_echo.py and Beast logs nothing.
    Server("final_websocket", "final_websocket_echo",
           "final/: web::Application + WebSocketHandler",
           args=["--address=127.0.0.1", "--logging=warning"]),
    Server("beast", "beast_ws_echo",
           "Boost.Beast 1.74, one thread, async read/write per connection (beast_ws_echo.cpp)",
           args=["--address=127.0.0.1"]),
    Server("tornado_ws", os.path.join(HERE, "tornado_ws_echo.py"),
           "Python Tornado: WebSocketHandler (tornado_ws_echo.py)",
           args=["--address=127.0.0.1"],
           needs=([SYSTEM_PYTHON, "-c", "import tornado.websocket"], "python3-tornado")),
]
WEBSOCKET_FINAL = "final_websocket"
WEBSOCKET_LEVELS = [100, 1000]
WEBSOCKET_PATH = "/ws/echo"
WEBSOCKET_MESSAGE_BYTES = 32
LOAD_GENERATOR = "ws_load"    # in --bin
# ws_load busier than this (its CPU time ÷ the round) may have set the pace
# itself: the table marks such rounds, whose messages/s is a floor.
GENERATOR_BUSY_LIMIT = 90     # percent
# The goals of the framework's WebSocket support.
GOAL_WS_CPU_VS_BEAST = 1.00   # final's server CPU per message / Beast's, at most
GOAL_WS_IDLE_BYTES = 2048     # server memory per idle WebSocket connection, at most

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
              "hwm_kb", "rss_peak_kb", "threads_peak", "held_peak",
              # the framework scenario's own figures
              "rounds", "cpu_us_per_request", "user_us_per_request", "cpu_busy_percent",
              "cpu_us_per_round",
              "response_bytes",
              "rss_before_kb", "rss_after_kb", "idle_bytes_per_connection",
              # the websocket scenario's: ws_load's CPU time ÷ the round, and the
              # time it was ready to run but its core ran other work ÷ the round
              "generator_busy_percent", "generator_queued_percent", "note"]


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


# A wake-up across two CPUs slower than this is the host's doing (below).
SLOW_WAKE_UP_US = 50


def cross_cpu_round_trip_us(rounds=200, budget_s=1.0):
    """The microseconds of one byte's round trip between two processes on
    the first two CPUs, through pipes: two wake-ups of a process on an idle
    CPU, the step every request of a one-connection run pays. None with
    fewer than two CPUs. A virtual machine whose idle CPUs halt without
    polling first (haltpoll.guest_halt_poll_ns=0, seen here) took 80 to
    550 µs where the same machine polling took 9 to 12, and a
    one-connection run then measures that, not the servers."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    from_parent, to_child = os.pipe()  # os.pipe(): (read end, write end)
    from_child, to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo: on the second CPU, until the parent closes its end
        try:
            os.sched_setaffinity(0, {cpus[1]})
            os.close(to_child)
            os.close(from_child)
            while os.read(from_parent, 1):
                os.write(to_parent, b"x")
        finally:
            os._exit(0)
    os.close(from_parent)
    os.close(to_parent)
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpus[0]})
        done = 0
        started = time.perf_counter()
        while done < rounds and time.perf_counter() - started < budget_s:
            os.write(to_child, b"x")
            os.read(from_child, 1)
            done += 1
        elapsed = time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, before)
        os.close(to_child)
        os.close(from_child)
        os.waitpid(pid, 0)
    return elapsed / done * 1e6


def wake_up_fact():
    """The machine fact for cross_cpu_round_trip_us, and a warning on
    stderr when it is slow."""
    took = cross_cpu_round_trip_us()
    if took is None:
        return "not measured (one CPU)"
    if took > SLOW_WAKE_UP_US:
        poll = read_first("/sys/module/haltpoll/parameters/guest_halt_poll_ns", r"(\d+)", "")
        why = (" (the guest halts idle CPUs without polling: guest_halt_poll_ns is 0)"
               if poll == "0" else "")
        print("warning: a wake-up round trip across two CPUs takes %.0f µs here%s, where about "
              "10 is usual: runs of one request at a time will measure the host's wake-ups, "
              "not the servers (tests/bench/README.md, \"The method\")" % (took, why),
              file=sys.stderr)
    return "%.1f µs" % took


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
        ("a wake-up round trip across two CPUs (pipes)", wake_up_fact()),
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
    return run_wrk_command(command, options.duration, raw_file)


def run_wrk_command(command, duration, raw_file):
    """Runs a wrk command line, keeps its output in raw_file, and returns
    (the figures report.lua printed, "") or (None, why it failed)."""
    raw_file.write("$ %s\n" % " ".join(command))
    raw_file.flush()
    try:
        # wrk stops on its own after --duration; the margin covers opening
        # and closing 10,000 connections.
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=duration + 60)
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
    raw_dir = os.path.dirname(os.path.abspath(stderr_file.name))
    extra = {"env": server.env} if server.env else {}
    process = server.launcher(server.path(bin_dir), *server.arguments(raw_dir),
                              cpu=pinning.server_cpu, stderr=stderr_file, **extra)
    try:
        process.__enter__()
        return process
    except OSError as error:
        row.update(status="failed", note="did not start: %s" % error)
    except RuntimeError as error:  # it exited, or never printed its ready line
        exit_code = process.process.returncode if process.process else None
        where = ("see raw/" + os.path.basename(stderr_file.name)
                 if server.launcher is ServerProcess else str(error))
        row.update(status="failed", note="did not start (exit code %s, no ready line); %s"
                   % (exit_code, where))
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


# --- the framework scenario ---------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HELLO_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
IP_BIND_ADDRESS_NO_PORT = 24  # <linux/in.h>; Python names it only from 3.12


def user_and_system_ticks(pid):
    """(utime, stime) of a live process, all its threads, in clock ticks:
    the time it ran its own code, and the time the kernel ran for it
    (system calls, and the TCP work they do), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            # The command name in field 2 may hold spaces: count from its ")".
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]), int(fields[12])  # fields 14 and 15 in proc(5)


def cpu_ticks(pid):
    """utime + stime of a live process, all its threads, in clock ticks."""
    ticks = user_and_system_ticks(pid)
    return None if ticks is None else sum(ticks)


def response_complete(data):
    """True once `data` holds a whole response head and its Content-Length body."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", data[:end], re.I)
    return len(data) >= end + 4 + (int(match.group(1)) if match else 0)


def fetch_hello(port):
    """One keep-alive GET /, as wrk sends it: (response bytes, problem or "")."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            sock.sendall(HELLO_REQUEST)
            data = b""
            while not response_complete(data):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as error:
        return b"", "GET / failed: %s" % error
    if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"\r\n\r\nHello, world"):
        return data, "GET / did not answer 200 \"Hello, world\": %r" % data[:80]
    return data, ""


# Requests sent on one keep-alive connection before an idle-memory reading
# (warm_up): more than the io_uring loop's 1,024 receive buffers, so that
# each has been used once.
WARM_UP_REQUESTS = 2000


def warm_up(port, requests=WARM_UP_REQUESTS):
    """Many GET / on one keep-alive connection, one at a time: "" or the
    problem. What a server sets up once and then keeps (a pool of receive
    buffers the kernel fills in turn, the allocator's first arenas, caches)
    is then in the "before" reading, and the difference with the idle
    connections open is what each of them costs. One connection, so the
    memory it used itself is freed with it and not reused by the others."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            for _ in range(requests):
                if not ask_hello(sock):
                    return "the server closed the warm-up connection"
    except OSError as error:
        return "warm-up failed: %s" % error
    return ""


def ask_hello(sock):
    """One GET / on a keep-alive connection: True once the whole answer has
    come, False if the server closed it first."""
    sock.sendall(HELLO_REQUEST)
    data = b""
    while not response_complete(data):
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


class IdleConnections:
    """Keep-alive connections that each make one request, read the whole
    response, and then stay open and silent, as a browser's between clicks.
    `request` and `answered(data)` say which request and when its answer is
    whole (GET / by default; c100k.py --websocket sends an upgrade); with
    `request` None a connection sends nothing and is open once connected.

    At most IDLE_IN_FLIGHT are being opened at a time, so no listen()
    backlog overflows and no SYN waits for its retry.

    `sources`: local addresses to connect from, in turn (127.0.0.2 ... are
    loopback too). One address has about 28,000 ephemeral ports
    (ip_local_port_range); more connections than that need several
    (tests/bench/c100k.py).
    """

    def __init__(self, port, count, timeout=60.0, sources=(), request=HELLO_REQUEST,
                 answered=response_complete):
        self.port = port
        self.count = count
        self.timeout = timeout
        self.sources = list(sources)
        self.request = request
        self.answered = answered
        self.sockets = []   # open and idle

    def __enter__(self):
        try:
            self._open_all()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def _open_all(self):
        selector = selectors.DefaultSelector()
        to_open = self.count
        deadline = time.monotonic() + self.timeout
        try:
            while (to_open or selector.get_map()) and time.monotonic() < deadline:
                while to_open and len(selector.get_map()) < IDLE_IN_FLIGHT:
                    try:
                        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    except OSError:  # out of descriptors: the note will say how many opened
                        to_open = 0
                        break
                    sock.setblocking(False)
                    if self.sources:
                        try:
                            # The port is chosen at connect(), for the whole
                            # address pair, not at bind() for the source alone.
                            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                            sock.bind((self.sources[to_open % len(self.sources)], 0))
                        except OSError:  # counted as not opened
                            sock.close()
                            to_open -= 1
                            continue
                    sock.connect_ex(("127.0.0.1", self.port))
                    selector.register(sock, selectors.EVENT_WRITE, None)
                    to_open -= 1
                for key, _ in selector.select(timeout=0.1):
                    self._step(selector, key)
        finally:
            for key in list(selector.get_map().values()):  # out of time
                key.fileobj.close()
            selector.close()

    def _step(self, selector, key):
        sock = key.fileobj
        try:
            if key.data is None:  # connected (or refused): send the request
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    raise OSError("connect failed")
                if self.request is None:  # silent: open is all it does
                    selector.unregister(sock)
                    self.sockets.append(sock)
                    return
                sock.send(self.request)  # a few hundred bytes fit any empty send buffer
                selector.modify(sock, selectors.EVENT_READ, bytearray())
                return
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("closed by the server")
            key.data.extend(chunk)
            if self.answered(bytes(key.data)):
                selector.unregister(sock)
                self.sockets.append(sock)
        except OSError:  # counted as not opened
            selector.unregister(sock)
            sock.close()


def framework_row(scenario, server, connections, status="ok", note=""):
    return empty_row(scenario, server, connections, 0, status, note)


def start_checked(server, bin_dir, pinning, stderr_file, row, probe=fetch_hello):
    """Starts the server and talks to it once with `probe(port)` (by
    default one GET / for "Hello, world"; the WebSocket scenario echoes one
    message): the process, or None (the row says why). A server that does
    not answer as the others do would not be compared like with like, and
    the exchange is also the warm-up before an idle-memory reading."""
    process = start_server(server, bin_dir, pinning, stderr_file, row)
    if process is None:
        return None
    response, problem = probe(process.port)
    if problem:
        process.stop(grace=2.0)
        row.update(status="failed", note=problem)
        return None
    row["response_bytes"] = len(response)
    return process


def throughput_round(process, level, options, pinning, raw_file):
    """One wrk run against a running server: its figures, or None."""
    lua_path = os.path.join(options.out, "raw", "report.lua")
    before = user_and_system_ticks(process.pid)
    result, problem = run_wrk(process.port, level, options, pinning, raw_file, lua_path)
    after = user_and_system_ticks(process.pid)
    if result is None or before is None or after is None:
        return None, problem or "the server exited"
    seconds = result["duration_us"] / 1e6
    user_seconds = (after[0] - before[0]) / CLOCK_TICKS
    cpu_seconds = user_seconds + (after[1] - before[1]) / CLOCK_TICKS
    requests = result["requests"]
    result.update(seconds=seconds, cpu_seconds=cpu_seconds,
                  cpu_us_per_request=cpu_seconds * 1e6 / requests if requests else None,
                  user_us_per_request=user_seconds * 1e6 / requests if requests else None)
    return result, ""


def summarise_rounds(row, rounds):
    """Fills a framework row from its rounds: req/s summed over the rounds,
    CPU per request, server core use and latency the median round."""
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    per_request = [r["cpu_us_per_request"] for r in rounds if r["cpu_us_per_request"]]
    user_per_request = [r["user_us_per_request"] for r in rounds
                        if r.get("user_us_per_request") is not None]
    row.update(
        rounds=len(rounds), requests=int(requests), duration_s="%.2f" % seconds,
        rps="%.1f" % (requests / seconds if seconds else 0),
        cpu_busy_percent="%.0f" % statistics.median(
            100 * r["cpu_seconds"] / r["seconds"] for r in rounds),
        err_connect=int(sum(r["connect"] for r in rounds)),
        err_read=int(sum(r["read"] for r in rounds)),
        err_write=int(sum(r["write"] for r in rounds)),
        err_timeout=int(sum(r["timeout"] for r in rounds)),
        err_status=int(sum(r["status"] for r in rounds)))
    if per_request:
        row["cpu_us_per_request"] = "%.3f" % statistics.median(per_request)
        # Each round's own figure, in the rounds' order ("" where it had
        # none), so that servers can be compared round by round.
        row["cpu_us_per_round"] = ";".join(
            "%.3f" % r["cpu_us_per_request"] if r["cpu_us_per_request"] else "" for r in rounds)
    if user_per_request:
        row["user_us_per_request"] = "%.3f" % statistics.median(user_per_request)
    if requests:
        for key in ("p50", "p90", "p99", "max"):
            row[key + "_ms"] = "%.3f" % (statistics.median(
                r[key + "_us"] for r in rounds if r["requests"]) / 1000)


def interleaved_rounds(scenario, servers, levels, options, start, run_round, describe, summarise):
    """All the servers running at once, idle but for the one being loaded:
    at each level, `rounds` rounds, each visiting every server in turn
    (starting one further along each round), so that whatever else the
    machine does hits them all alike. One row per server and level.

    start(server, stderr_file, row): the running server, or None (the row
    says why); run_round(process, level, raw_file): (result, problem);
    describe(result): the figures of a round's log line; summarise(row,
    results): the row from its rounds."""
    raw_dir = os.path.join(options.out, "raw")
    rows = {(s.name, level): framework_row(scenario, s, level) for s in servers for level in levels}
    rounds = {key: [] for key in rows}
    with contextlib.ExitStack() as stack:
        running = []
        for server in servers:
            stderr_file = stack.enter_context(
                open(os.path.join(raw_dir, "%s-%s.server-stderr.txt" % (scenario, server.name)), "w"))
            first = rows[(server.name, levels[0])]
            process = start(server, stderr_file, first)
            if process is None:
                log("[%s] %-16s %s" % (scenario, server.name, first["note"]))
                for level in levels:
                    rows[(server.name, level)].update(status="failed", note=first["note"])
                continue
            stack.callback(process.stop, 2.0)
            for level in levels:
                rows[(server.name, level)]["response_bytes"] = first["response_bytes"]
            running.append((server, process))

        for level in levels:
            for round_index in range(options.rounds):
                turn = round_index % max(1, len(running))
                for server, process in running[turn:] + running[:turn]:
                    row = rows[(server.name, level)]
                    if row["status"] != "ok":
                        continue
                    raw_path = os.path.join(raw_dir, "%s-%s-%d.txt" % (scenario, server.name, level))
                    with open(raw_path, "a" if round_index else "w") as raw_file:
                        result, problem = run_round(process, level, raw_file)
                    where = "[%s] %-16s %5s conns, round %d/%d:" % (
                        scenario, server.name, fmt_count(level), round_index + 1, options.rounds)
                    if result is None:
                        exit_code = process.process.poll()
                        if exit_code is not None:  # negative: killed by that signal
                            problem = "the server exited with %d; %s" % (exit_code, problem)
                        row.update(status="server died" if exit_code is not None else "failed",
                                   note=problem)
                        log("%s %s" % (where, problem))
                        continue
                    rounds[(server.name, level)].append(result)
                    log("%s %s" % (where, describe(result)))
        for server, process in running:
            status = proc_status(process.pid)
            for level in levels:
                if status:
                    rows[(server.name, level)]["hwm_kb"] = status["VmHWM"]
    for key, row in rows.items():
        if rounds[key]:
            summarise(row, rounds[key])
        elif row["status"] == "ok":
            row.update(status="failed", note=row["note"] or "no round completed")
    return [rows[(s.name, level)] for level in levels for s in servers]


def framework_throughput(servers, bin_dir, options, pinning):
    """The framework scenario's rounds: wrk against each server in turn."""
    def describe(result):
        return "%10s req/s  %6.2f us CPU per request (user %5.2f)  server core %3.0f%% busy" % (
            "{:,.0f}".format(result["requests"] / result["seconds"]), result["cpu_us_per_request"] or 0,
            result["user_us_per_request"] or 0, 100 * result["cpu_seconds"] / result["seconds"])

    return interleaved_rounds(
        "framework", servers, FRAMEWORK_LEVELS, options,
        start=lambda server, stderr_file, row: start_checked(server, bin_dir, pinning, stderr_file, row),
        run_round=lambda process, level, raw_file: throughput_round(process, level, options, pinning, raw_file),
        describe=describe, summarise=summarise_rounds)


def framework_idle(server, bin_dir, options, pinning, silent=False):
    """A fresh server, `idle_connections` idle keep-alive connections, and
    what they added to its resident memory. `silent`: the connections send
    nothing at all (a client that connects and waits, or a port scan's
    half of a handshake), so the server waits for a first request on each
    instead of a next one; the "silent" row, beside the "idle" one."""
    scenario = "silent" if silent else "idle"
    row = framework_row(scenario, server, options.idle_connections)
    raw_path = os.path.join(options.out, "raw", "%s-%s.server-stderr.txt" % (scenario, server.name))
    with open(raw_path, "w") as stderr_file:
        process = start_checked(server, bin_dir, pinning, stderr_file, row)
        if process is None:
            return row
        try:
            problem = warm_up(process.port)
            if problem:
                row.update(status="failed", note=problem)
                return row
            time.sleep(0.2)  # let the warm-up's work settle
            before = proc_status(process.pid)
            idle_fds = open_descriptors(process.pid)
            request = None if silent else HELLO_REQUEST
            with IdleConnections(process.port, options.idle_connections, request=request) as idle:
                # The last responses written, the server waiting again; or
                # the last silent connections accepted (the client counts
                # one as open once connected, before the server accepts it).
                time.sleep(0.5)
                after = proc_status(process.pid)
                held = open_descriptors(process.pid) - idle_fds
                opened = len(idle.sockets)
            exit_code = process.process.poll()
        finally:
            process.stop(grace=2.0)
    return fill_idle_row(row, before, after, held, opened, options.idle_connections, exit_code)


def fill_idle_row(row, before, after, held, opened, wanted, exit_code):
    """The idle-memory figures: `before` and `after` are the server's
    proc_status() without and with the `opened` idle connections (of
    `wanted`), `held` the descriptors it had for them."""
    if exit_code is not None or before is None or after is None:
        row.update(status="server died", note="the server exited while connections opened")
        return row
    notes = []
    if opened < wanted:
        notes.append("%s of %s connections opened" % (fmt_count(opened), fmt_count(wanted)))
    if held < opened:
        notes.append("the server held only %s" % fmt_count(held))
    row.update(connections=opened, held_peak=held, rss_before_kb=before["VmRSS"],
               rss_after_kb=after["VmRSS"], hwm_kb=after["VmHWM"], note="; ".join(notes))
    if opened:
        row["idle_bytes_per_connection"] = "%.0f" % (
            (after["VmRSS"] - before["VmRSS"]) * 1024 / opened)
    else:
        row["status"] = "failed"
    return row


def unavailable_rows(scenario, idle_scenario, server, levels, reason, options):
    """The rows of a server that cannot run: one per level, and one for its
    idle memory (when measured), each saying why."""
    log("%-11s %-16s not available: %s" % ("[%s]" % scenario, server.name, reason))
    rows = [framework_row(scenario, server, level, "not available", reason) for level in levels]
    if options.idle_connections:
        rows.append(framework_row(idle_scenario, server, options.idle_connections,
                                  "not available", reason))
    return rows


def log_idle_row(tag, what, server, row):
    """One log line for an idle-memory row: its figures, or why there are none."""
    if row["idle_bytes_per_connection"] != "":
        log("%-11s %-16s %s %s: RSS %s -> %s kB, %s bytes each%s" % (
            tag, server.name, fmt_count(row["connections"]), what,
            fmt_count(row["rss_before_kb"]), fmt_count(row["rss_after_kb"]),
            fmt_count(row["idle_bytes_per_connection"]),
            "  (%s)" % row["note"] if row["note"] else ""))
    else:
        log("%-11s %-16s %s %s" % (tag, server.name, row["status"], row["note"]))


def run_framework(options, bin_dir, pinning):
    """The framework scenario: its CSV rows (throughput, then idle memory)."""
    rows = []
    available = []
    for server in options.framework:
        reason = options.framework_missing[server.name]
        if reason:
            rows += unavailable_rows("framework", "idle", server, FRAMEWORK_LEVELS, reason, options)
            if options.idle_connections:
                rows.append(framework_row("silent", server, options.idle_connections,
                                          "not available", reason))
        else:
            available.append(server)
    if available:
        rows += framework_throughput(available, bin_dir, options, pinning)
    if options.idle_connections:
        for server in available:
            row = framework_idle(server, bin_dir, options, pinning)
            rows.append(row)
            log_idle_row("[idle]", "idle connections", server, row)
        for server in available:
            row = framework_idle(server, bin_dir, options, pinning, silent=True)
            rows.append(row)
            log_idle_row("[silent]", "silent connections", server, row)
    order = {s.name: i for i, s in enumerate(options.framework)}
    kinds = {"framework": 0, "idle": 1, "silent": 2}
    rows.sort(key=lambda r: (kinds[r["scenario"]],
                             r["connections"] if r["scenario"] == "framework" else 0,
                             order[r["server"]]))
    return rows


# --- the WebSocket scenario ----------------------------------------------

# RFC 6455's own example key and the answer it gives (section 1.3).
WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WEBSOCKET_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def masked_text_frame(payload):
    """A client's text frame (FIN set, masked, payload under 126 bytes)."""
    mask = os.urandom(4)
    return (bytes([0x81, 0x80 | len(payload)]) + mask
            + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload)))


def websocket_upgrade_request(port):
    """The HTTP request that opens a WebSocket on WEBSOCKET_PATH."""
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (WEBSOCKET_PATH, port, WEBSOCKET_KEY)).encode()


def upgrade_problem(head):
    """"" when a response head says 101 with the right Sec-WebSocket-Accept."""
    accept = re.search(rb"\r\nsec-websocket-accept:\s*(\S+)", head, re.I)
    if head.startswith(b"HTTP/1.1 101") and accept and accept.group(1) == WEBSOCKET_ACCEPT:
        return ""
    return "the upgrade was not answered 101 with the right Sec-WebSocket-Accept: %r" % head[:80]


def upgrade_answered(data):
    """True once `data` holds the whole answer to websocket_upgrade_request;
    OSError when that answer is not the right 101."""
    head, found, _ = data.partition(b"\r\n\r\n")
    if not found:
        return False
    problem = upgrade_problem(head)
    if problem:
        raise OSError(problem)
    return True


def receive_until(sock, data, done):
    """Reads into `data` until done(data): the bytes, however many came (a
    closed connection ends it early)."""
    while not done(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def upgrade(sock, port):
    """The upgrade on a connected socket: (the answer's head, the bytes that
    came after it, problem or "")."""
    sock.sendall(websocket_upgrade_request(port))
    data = receive_until(sock, b"", lambda data: b"\r\n\r\n" in data)
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest, upgrade_problem(head)


def open_websocket(sock, port):
    """The upgrade on a connected socket: "" or the problem."""
    _, _, problem = upgrade(sock, port)
    return problem


def websocket_echo(sock, rest=b""):
    """One 32-byte text message on an open WebSocket and its echo: "" or the
    problem. `rest`: bytes already read past the upgrade's answer."""
    message = b"x" * WEBSOCKET_MESSAGE_BYTES
    echo = bytes([0x81, len(message)]) + message  # what the server must send back
    sock.sendall(masked_text_frame(message))
    rest = receive_until(sock, rest, lambda data: len(data) >= len(echo))
    if rest[:len(echo)] != echo:
        return "the echo of a %d-byte text message was %r" % (len(message), rest[:80])
    return ""


def websocket_echo_once(port):
    """One WebSocket connection: the upgrade, one 32-byte text message, its
    echo, a close. (the handshake response's head, problem or "")."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            head, rest, problem = upgrade(sock, port)
            if problem:
                return head, problem
            problem = websocket_echo(sock, rest)
            sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # a close frame, empty
    except OSError as error:
        return b"", "WebSocket echo failed: %s" % error
    return (head, problem) if problem else (head + b"\r\n\r\n", "")


def parse_figures(line):
    """"TAG a=1 b=2.5" -> {"a": 1.0, "b": 2.5}"""
    return {key: float(value) for key, value in
            (pair.split("=", 1) for pair in line.split()[1:])}


class WsLoad:
    """build/bin/ws_load as a child process. We read its report lines as they
    come ("OPEN ...", "BENCH ..."); closing its standard input tells it to
    close its connections and exit. It holds them until then, so that we
    read the server's CPU time or memory before closing them costs the
    server anything. Everything it prints goes to `raw_file`."""

    def __init__(self, command, raw_file):
        self.command = command
        self.raw_file = raw_file
        self.process = None
        self.unread = b""

    def __enter__(self):
        self.raw_file.write("$ %s\n" % " ".join(self.command))
        self.raw_file.flush()
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        rest = self.unread + self.process.stdout.read()
        self.process.stdout.close()
        self.raw_file.write(rest.decode(errors="replace"))

    def wait_for(self, tag, timeout):
        """The figures of ws_load's next line that starts with `tag`, or None
        when it exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self.unread:
                    line, self.unread = self.unread.split(b"\n", 1)
                    text = line.decode(errors="replace")
                    self.raw_file.write(text + "\n")
                    if text.startswith(tag + " "):
                        return parse_figures(text)
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    return None
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.unread += chunk


def ws_load_command(generator, port, connections, pinning, *extra):
    return pinning.wrk_prefix() + [
        generator, "--port=%d" % port, "--path=" + WEBSOCKET_PATH,
        "--connections=%d" % connections, "--in-flight=%d" % IDLE_IN_FLIGHT] + list(extra)


def websocket_round(process, level, options, pinning, raw_file, generator):
    """One ws_load run in echo mode against a running server: its figures,
    or None and why. The server's CPU time is read when every connection
    is open and when the echo of the last message sent has come back, so
    that neither the handshakes nor the closing count in its CPU per
    message."""
    command = ws_load_command(generator, process.port, level, pinning,
                              "--duration=%d" % options.duration,
                              "--message-bytes=%d" % WEBSOCKET_MESSAGE_BYTES, "--hold")
    with WsLoad(command, raw_file) as load:
        opened = load.wait_for("OPEN", timeout=90)
        if not opened or not opened["connections"]:
            return None, "ws_load opened no connection (see raw/)"
        before = cpu_ticks(process.pid)
        result = load.wait_for("BENCH", timeout=options.duration + 30)
        after = cpu_ticks(process.pid)
    if result is None:
        return None, "ws_load printed no result (see raw/)"
    if before is None or after is None:
        return None, "the server exited"
    if opened["connections"] < level:
        result["note"] = "%d of %d connections opened" % (opened["connections"], level)
    seconds = result["duration_us"] / 1e6
    cpu_seconds = (after - before) / CLOCK_TICKS
    result.update(seconds=seconds, cpu_seconds=cpu_seconds,
                  requests=result["messages"],  # so that summarise_rounds can add them up
                  generator_busy=100 * result["cpu_us"] / result["duration_us"],
                  generator_queued=100 * result["queued_us"] / result["duration_us"],
                  # The server echoed the drained messages too, after the round's end.
                  cpu_us_per_request=(cpu_seconds * 1e6 / (result["messages"] + result["drained"])
                                      if result["messages"] else None))
    return result, ""


def summarise_websocket_rounds(row, rounds):
    """A websocket row from its rounds: messages/s summed over the rounds,
    CPU per message, the cores' use and latency the median round."""
    for r in rounds:  # summarise_rounds' names: wrk's error kinds
        r.update(connect=r["connect_errors"] + r["handshake_errors"], read=r["closed"],
                 write=0, timeout=0, status=r["bad_echoes"])
    summarise_rounds(row, rounds)
    for key in ("generator_busy", "generator_queued"):
        row[key + "_percent"] = "%.0f" % statistics.median(r[key] for r in rounds)
    notes = [row["note"]] if row["note"] else []  # why a later round failed, if one did
    row["note"] = "; ".join(notes + sorted({r["note"] for r in rounds if r.get("note")}))


def websocket_throughput(servers, bin_dir, options, pinning, generator):
    """The WebSocket scenario's rounds: ws_load against each server in turn,
    as the framework scenario does with wrk."""
    def describe(result):
        return ("%9s messages/s  %6.2f us CPU per message  server core %3.0f%% busy  "
                "ws_load %3.0f%% busy, %3.0f%% waiting for its core" % (
                    "{:,.0f}".format(result["messages"] / result["seconds"]), result["cpu_us_per_request"] or 0,
                    100 * result["cpu_seconds"] / result["seconds"],
                    result["generator_busy"], result["generator_queued"]))

    return interleaved_rounds(
        "websocket", servers, WEBSOCKET_LEVELS, options,
        start=lambda server, stderr_file, row: start_checked(server, bin_dir, pinning, stderr_file, row,
                                                             probe=websocket_echo_once),
        run_round=lambda process, level, raw_file: websocket_round(process, level, options, pinning, raw_file,
                                                                   generator),
        describe=describe, summarise=summarise_websocket_rounds)


def websocket_idle(server, bin_dir, options, pinning, generator):
    """A fresh server, `idle_connections` idle WebSocket connections (ws_load
    --mode=idle: each handshake done, then silence), and what they added
    to its resident memory."""
    row = framework_row("websocket_idle", server, options.idle_connections)
    raw = os.path.join(options.out, "raw", "websocket-idle-%s" % server.name)
    with open(raw + ".server-stderr.txt", "w") as stderr_file, \
            open(raw + ".txt", "w") as raw_file:
        process = start_checked(server, bin_dir, pinning, stderr_file, row, probe=websocket_echo_once)
        if process is None:
            return row
        try:
            time.sleep(0.2)  # let the first connection's work settle
            before = proc_status(process.pid)
            idle_fds = open_descriptors(process.pid)
            command = ws_load_command(generator, process.port, options.idle_connections,
                                      pinning, "--mode=idle")
            with WsLoad(command, raw_file) as load:
                open_line = load.wait_for("OPEN", timeout=120)
                time.sleep(0.5)  # the last handshakes answered, the server waiting again
                after = proc_status(process.pid)
                held = open_descriptors(process.pid) - idle_fds
            exit_code = process.process.poll()
        finally:
            process.stop(grace=2.0)
    opened = int(open_line["connections"]) if open_line else 0
    return fill_idle_row(row, before, after, held, opened, options.idle_connections, exit_code)


def run_websocket(options, bin_dir, pinning):
    """The websocket scenario: its CSV rows (echo rounds, then idle memory)."""
    generator = os.path.join(bin_dir, LOAD_GENERATOR)
    generator_missing = None if os.access(generator, os.X_OK) else (
        "%s not found (it is built with the course)" % generator)
    rows = []
    available = []
    for server in options.websocket:
        reason = generator_missing or options.websocket_missing[server.name]
        if reason and server.name == "beast" and not generator_missing:
            reason += " (built when CMake finds Boost: tools/install-deps.sh bench, then " \
                      "cmake -S . -B build)"
        if reason:
            rows += unavailable_rows("websocket", "websocket_idle", server, WEBSOCKET_LEVELS,
                                     reason, options)
        else:
            available.append(server)
    if available:
        rows += websocket_throughput(available, bin_dir, options, pinning, generator)
    if options.idle_connections:
        for server in available:
            row = websocket_idle(server, bin_dir, options, pinning, generator)
            rows.append(row)
            log_idle_row("[ws idle]", "idle WebSocket connections", server, row)
    order = {s.name: i for i, s in enumerate(options.websocket)}
    rows.sort(key=lambda r: (r["scenario"] == "websocket_idle",
                             r["connections"] if r["scenario"] == "websocket" else 0,
                             order[r["server"]]))
    return rows


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


def framework_figures(rows, scenario="framework", idle_scenario="idle"):
    """server -> {("rps", level), ("cpu", level), ("cpu_rounds", level), "idle",
    "silent"} for the runs that worked."""
    figures = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        mine = figures.setdefault(row["server"], {})
        if row["scenario"] == scenario and row["requests"]:
            mine[("rps", row["connections"])] = float(row["rps"])
            if row["cpu_us_per_request"] != "":
                mine[("cpu", row["connections"])] = float(row["cpu_us_per_request"])
                mine[("cpu_rounds", row["connections"])] = [
                    float(x) if x else None for x in row["cpu_us_per_round"].split(";")]
        elif row["scenario"] == idle_scenario and row["idle_bytes_per_connection"] != "":
            mine["idle"] = float(row["idle_bytes_per_connection"])
        elif row["scenario"] == "silent" and row["idle_bytes_per_connection"] != "":
            mine["silent"] = float(row["idle_bytes_per_connection"])
    return figures


def round_ratios(mine, reference):
    """Two servers' figures divided round by round (rounds where either has
    none are left out). The rounds visit the servers in turn, so each pair
    was measured seconds apart."""
    if not mine or not reference:
        return []
    return [a / b for a, b in zip(mine, reference) if a and b]


def round_by_round(mine, reference):
    """round_ratios as a phrase: their median and range ("" when there are
    fewer than two pairs)."""
    ratios = round_ratios(mine, reference)
    if len(ratios) < 2:
        return ""
    return "round by round: median %.2f, %.2f to %.2f" % (
        statistics.median(ratios), min(ratios), max(ratios))


def verdict(figure, goal, at_least, digits, unit):
    """"met", or "not met by" how far the figure is from the goal. Both
    are judged as printed (rounded to `digits`), so that the table never
    shows 1.10 "not met" against a goal of 1.10."""
    figure = round(figure, digits)
    if (figure >= goal) if at_least else (figure <= goal):
        return "met"
    return "not met by %.*f%s" % (digits, abs(figure - goal), unit)


def goal_check(server, measure, connections, value, goal, at_least, digits,
               reference=None, reference_value=None, detail="", unit=None):
    """One line of the goals table. A ratio when there is a reference; the
    verdict judges the figure as printed (rounded to `digits`) and says by
    how much (in `unit`: "x" for a ratio unless given) a goal is missed."""
    check = {"server": server, "measure": measure, "connections": connections,
             "value": value, "reference": reference or "", "reference_value": reference_value,
             "ratio": None, "digits": digits, "detail": detail,
             "goal": "%s %.*f" % ("at least" if at_least else "at most", digits, goal)}
    figure = value
    if reference:
        if value is not None and reference_value:
            check["ratio"] = figure = value / reference_value
        else:
            figure = None
    if figure is None:
        missing = server if value is None else reference
        check["verdict"] = "not available (no figure for %s)" % missing
        return check
    if unit is None:
        unit = "x" if reference else ""
    check["verdict"] = verdict(figure, goal, at_least, digits, unit)
    return check


def checks_by_both_estimators(server, measure, connections, value, reference, reference_value,
                              rounds, reference_rounds, goal):
    """A goal on server ÷ reference, at most `goal`, for two servers measured
    in the same rounds, judged by each estimator (two checks):

    - BY_MEDIANS: `value` ÷ `reference_value`, each server's median. A
      round disturbed for one server alone moves it little, but the two
      medians may come from rounds far apart, one quiet and one busy.
    - BY_ROUNDS: the median of the rounds' own ratios (`rounds[i]` ÷
      `reference_rounds[i]`). The two of a pair ran seconds apart, so a slow
      stretch of the machine touches both alike and cancels out."""
    by_medians = goal_check(server, "%s, %s" % (measure, BY_MEDIANS), connections, value, goal,
                            False, 2, reference, reference_value)
    by_medians["estimator"] = BY_MEDIANS
    ratios = round_ratios(rounds, reference_rounds)
    by_rounds = dict(by_medians, measure="%s, %s" % (measure, BY_ROUNDS), estimator=BY_ROUNDS,
                     detail=", ".join("%.2f" % ratio for ratio in ratios))
    if by_medians["ratio"] is not None:
        if ratios:
            by_rounds["ratio"] = statistics.median(ratios)
            by_rounds["verdict"] = verdict(by_rounds["ratio"], goal, False, 2, "x")
        else:
            by_rounds.update(ratio=None, verdict="not available (no round measured both)")
    return [by_medians, by_rounds]


def cpu_check(server, measure, level, mine, reference, theirs, goal):
    """A goal on server CPU ÷ the reference's, at most `goal`: the ratio of
    the median rounds, and the ratios round by round beside it."""
    return goal_check(server, measure, level, mine.get(("cpu", level)), goal, False, 2,
                      reference, theirs.get(("cpu", level)),
                      detail=round_by_round(mine.get(("cpu_rounds", level)),
                                            theirs.get(("cpu_rounds", level))))


def floor_checks(figures, options):
    """FLOOR_GOALS, for each final/ server selected, at each level, by both
    estimators: how much the framework adds to what the kernel costs."""
    selected = {s.name for s in options.framework}
    checks = []
    for server, floor, goal in FLOOR_GOALS:
        if server not in selected:
            continue
        mine, theirs = figures.get(server, {}), figures.get(floor, {})
        for level in FRAMEWORK_LEVELS:
            checks += checks_by_both_estimators(
                server, "server CPU per request vs the floor", level, mine.get(("cpu", level)),
                floor, theirs.get(("cpu", level)), mine.get(("cpu_rounds", level)),
                theirs.get(("cpu_rounds", level)), goal)
    return checks


def framework_checks(rows, options):
    """The goals of the framework, for each final/ server selected."""
    figures = framework_figures(rows)
    nginx, tornado = figures.get("nginx", {}), figures.get("tornado", {})
    checks = []
    for server in options.framework:
        if server.name == FINAL_IO_URING:
            mine = figures.get(server.name, {})
            checks += [cpu_check(server.name, "server CPU per request vs nginx", level, mine,
                                 "nginx", nginx, GOAL_IO_URING_CPU_VS_NGINX)
                       for level in FRAMEWORK_LEVELS]
        if server.name not in FINAL_SERVERS:
            continue
        mine = figures.get(server.name, {})
        for level in FRAMEWORK_LEVELS:
            checks.append(goal_check(server.name, "req/s vs nginx", level, mine.get(("rps", level)),
                                     GOAL_RPS_VS_NGINX, True, 2, "nginx", nginx.get(("rps", level))))
        for level in FRAMEWORK_LEVELS:
            checks.append(cpu_check(server.name, "server CPU per request vs nginx", level, mine,
                                    "nginx", nginx, GOAL_CPU_VS_NGINX))
        for level in FRAMEWORK_LEVELS:
            checks.append(goal_check(server.name, "req/s vs Tornado", level,
                                     mine.get(("rps", level)), GOAL_RPS_VS_TORNADO, True, 1,
                                     "tornado", tornado.get(("rps", level))))
        if options.idle_connections:
            checks.append(goal_check(server.name, "bytes per idle connection",
                                     options.idle_connections, mine.get("idle"),
                                     GOAL_IDLE_BYTES, False, 0,
                                     detail=idle_detail(rows, "idle", server.name), unit=" B"))
            # The same goal for a connection that has sent nothing yet.
            checks.append(goal_check(server.name, "bytes per silent connection",
                                     options.idle_connections, mine.get("silent"),
                                     GOAL_IDLE_BYTES, False, 0,
                                     detail=idle_detail(rows, "silent", server.name), unit=" B"))
    return checks + floor_checks(figures, options)


def idle_detail(rows, scenario, server_name):
    """How the idle-memory figure was computed, for the goals table."""
    idle = next((r for r in rows if r["scenario"] == scenario and r["server"] == server_name
                 and r["idle_bytes_per_connection"] != ""), None)
    return "" if idle is None else "(%s − %s kB) ÷ %s" % (
        fmt_count(idle["rss_after_kb"]), fmt_count(idle["rss_before_kb"]),
        fmt_count(idle["connections"]))


def websocket_checks(rows, options):
    """The goals of the framework's WebSocket, when final_websocket was selected."""
    if WEBSOCKET_FINAL not in (s.name for s in options.websocket):
        return []
    figures = framework_figures(rows, "websocket", "websocket_idle")
    mine, beast = figures.get(WEBSOCKET_FINAL, {}), figures.get("beast", {})
    checks = [cpu_check(WEBSOCKET_FINAL, "server CPU per message vs Beast", level, mine,
                        "beast", beast, GOAL_WS_CPU_VS_BEAST)
              for level in WEBSOCKET_LEVELS]
    if options.idle_connections:
        checks.append(goal_check(WEBSOCKET_FINAL, "bytes per idle WebSocket connection",
                                 options.idle_connections, mine.get("idle"),
                                 GOAL_WS_IDLE_BYTES, False, 0,
                                 detail=idle_detail(rows, "websocket_idle", WEBSOCKET_FINAL),
                                 unit=" B"))
    return checks


FRAMEWORK_CSV_FIELDS = ["server", "measure", "connections", "value", "reference",
                        "reference_value", "ratio", "goal", "verdict", "detail"]


def write_framework_csv(path, checks):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FRAMEWORK_CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for check in checks:
            row = dict(check)
            for key, form in (("value", "%.6g"), ("reference_value", "%.6g"), ("ratio", "%.4f")):
                row[key] = "" if row[key] is None else form % row[key]
            writer.writerow(row)


def fmt_figure(measure, value):
    if value is None:
        return "-"
    if measure.startswith("server CPU"):
        return "%.2f µs" % value
    if measure.startswith("bytes"):
        return "{:,.0f} B".format(value)
    return "{:,.0f}".format(value)


def goals_table(checks):
    cells = []
    for check in checks:
        measure = check["measure"]
        goal = ("≥ " if check["goal"].startswith("at least") else "≤ ") + check["goal"].split()[-1]
        if measure.startswith("bytes"):
            kind = "WebSocket" if "WebSocket" in measure else "keep-alive"
            what = "server memory per idle %s connection, %s open" % (
                kind, fmt_count(check["connections"]))
            figures = check["detail"] or "-"
            result = "-" if check["value"] is None else "**%s**" % fmt_figure(measure,
                                                                             check["value"])
            goal = "≤ {:,} B".format(int(check["goal"].split()[-1]))
        else:
            if measure.startswith("req/s"):
                unit = "req/s"
            else:
                unit = "server CPU time per " + ("message" if "message" in measure else "request")
            reference = {"tornado": "Tornado", "beast": "Beast"}.get(check["reference"],
                                                                    check["reference"])
            what = "%s ÷ %s's, %s conns" % (unit, reference, fmt_count(check["connections"]))
            if "estimator" in check:
                what += ", " + check["estimator"]
            figures = "%s ÷ %s" % (fmt_figure(measure, check["value"]),
                                   fmt_figure(measure, check["reference_value"]))
            if check.get("estimator") == BY_ROUNDS:
                figures = "rounds: " + (check["detail"] or "-")
            elif check["detail"]:
                figures += " (%s)" % check["detail"]
            result = "-" if check["ratio"] is None else "**%.*f**" % (check["digits"],
                                                                       check["ratio"])
        cells.append([check["server"], what, figures, result, goal, check["verdict"]])
    return markdown_table(["server", "measure", "figures", "result", "goal", "verdict"], cells)


def fmt_cpu(row):
    if row["cpu_us_per_request"] == "":
        return "-"
    user = ""
    if row.get("user_us_per_request", "") != "":
        user = ", user %.2f" % float(row["user_us_per_request"])
    return "%.2f µs%s (%s%%)" % (float(row["cpu_us_per_request"]), user, row["cpu_busy_percent"])


def framework_table(rows, options):
    """Every server's own figures, one line each."""
    models = {s.name: s.model for s in FRAMEWORK_SERVERS}
    by_key = {(r["scenario"], r["server"], r["connections"]): r for r in rows}
    idle = {r["server"]: r for r in rows if r["scenario"] == "idle"}
    silent = {r["server"]: r for r in rows if r["scenario"] == "silent"}
    cells = []
    for server in options.framework:
        line = [server.name, models[server.name]]
        first = by_key[("framework", server.name, FRAMEWORK_LEVELS[0])]
        if first["status"] == "not available":
            cells.append(line + ["not available: " + first["note"]] +
                         ["-"] * (2 * len(FRAMEWORK_LEVELS) + 3))
            continue
        errors = []
        for level in FRAMEWORK_LEVELS:
            row = by_key[("framework", server.name, level)]
            if row["status"] != "ok":
                line += ["%s%s" % (row["status"], ": " + row["note"] if row["note"] else ""), "-"]
                continue
            line += [fmt_rps(row), fmt_cpu(row)]
            if fmt_errors(row) != "0":
                errors.append("%s at %s" % (fmt_errors(row), fmt_count(level)))
        line += [", ".join(errors) or ("0" if first["status"] == "ok" else "-"),
                 fmt_count(first["response_bytes"])]
        for row in (idle.get(server.name), silent.get(server.name)):
            if row is None:
                line += ["-"]
            elif row["status"] != "ok" or row["idle_bytes_per_connection"] == "":
                line += ["%s%s" % (row["status"], ": " + row["note"] if row["note"] else "")]
            else:
                line += ["{:,} B ({} → {} kB{})".format(
                    int(row["idle_bytes_per_connection"]), fmt_count(row["rss_before_kb"]),
                    fmt_count(row["rss_after_kb"]), "; " + row["note"] if row["note"] else "")]
        cells.append(line)
    header = ["server", "what it is"]
    for level in FRAMEWORK_LEVELS:
        header += ["req/s, %s conns" % fmt_count(level),
                   "CPU per request, user space (core busy), %s" % fmt_count(level)]
    header += ["wrk errors", "response bytes",
               "memory per idle conn (RSS before → after)",
               "memory per silent conn (RSS before → after)"]
    return markdown_table(header, cells)


def framework_section(rows, checks, options):
    parts = ["## The framework against nginx and Tornado", ""]
    if options.quick or options.rounds < FRAMEWORK_ROUNDS or \
            options.idle_connections < IDLE_CONNECTIONS:
        parts += ["(%d round(s) of %d s, %s idle connections: a check that it runs, "
                  "too short for the verdicts to mean much.)" % (
                      options.rounds, options.duration, fmt_count(options.idle_connections)), ""]
    if checks:
        parts += ["### The goals", "", goals_table(checks), ""]
    parts += ["### Every server", "", framework_table(rows, options), "",
              "req/s: requests summed over the rounds ÷ their summed duration. CPU per "
              "request: the server's utime + stime over a round ÷ its requests, median "
              "round; \"user\": the utime part, its own code (the rest is the kernel's: "
              "system calls and the TCP work they do); in brackets that CPU time ÷ the "
              "round's length (below 100% the "
              "server waited: for wrk, or for its core while other work on the machine "
              "had it). Memory: resident set "
              "(VmRSS) after opening the idle connections minus before, ÷ their number "
              "(socket buffers are the kernel's and not in it).", ""]
    return parts


def fmt_ws_errors(row):
    """ws_load's errors, by kind (the CSV keeps them in wrk's columns)."""
    parts = ["%s %s" % (row["err_" + kind], label)
             for kind, label in (("connect", "connect or handshake"), ("read", "closed"),
                                 ("status", "bad echo"))
             if row["err_" + kind]]
    return ", ".join(parts) if parts else "0"


GENERATOR_BUSY = ("‡ ws_load was busy %d%% of the round or more: it may have set the pace, "
                  "so messages/s is a floor; CPU per message still compares." % GENERATOR_BUSY_LIMIT)


def websocket_servers_table(rows, options):
    """One line per server: what it is, its handshake answer, idle memory."""
    models = {s.name: s.model for s in WEBSOCKET_SERVERS}
    cells = []
    for server in options.websocket:
        echo = next(r for r in rows if r["scenario"] == "websocket" and r["server"] == server.name)
        idle = next((r for r in rows if r["scenario"] == "websocket_idle"
                     and r["server"] == server.name), None)
        if echo["status"] == "not available":
            cells.append([server.name, models[server.name], "not available: " + echo["note"], "-"])
            continue
        if idle is None:
            memory = "-"
        elif idle["status"] != "ok" or idle["idle_bytes_per_connection"] == "":
            memory = "%s%s" % (idle["status"], ": " + idle["note"] if idle["note"] else "")
        else:
            memory = "{:,} B ({} → {} kB, {} conns{})".format(
                int(idle["idle_bytes_per_connection"]), fmt_count(idle["rss_before_kb"]),
                fmt_count(idle["rss_after_kb"]), fmt_count(idle["connections"]),
                "; " + idle["note"] if idle["note"] else "")
        cells.append([server.name, models[server.name], fmt_count(echo["response_bytes"]), memory])
    return markdown_table(["server", "what it is", "handshake response bytes",
                           "memory per idle WebSocket connection (RSS before → after)"], cells)


def websocket_echo_table(rows, options):
    """One line per server and level: the echo rounds' figures."""
    cells = []
    for level in WEBSOCKET_LEVELS:
        for row in rows:
            if row["scenario"] != "websocket" or row["connections"] != level or \
                    row["status"] == "not available":
                continue
            if row["status"] != "ok" or row["requests"] == "":
                cells.append([row["server"], fmt_count(level),
                              "%s%s" % (row["status"], ": " + row["note"] if row["note"] else "")]
                             + ["-"] * 5)
                continue
            busy = int(row["generator_busy_percent"])
            mark = " ‡" if busy >= GENERATOR_BUSY_LIMIT else ""
            errors = fmt_ws_errors(row) + (" (" + row["note"] + ")" if row["note"] else "")
            cells.append([row["server"], fmt_count(level), fmt_rps(row) + mark, fmt_cpu(row),
                          "%d%% (%s%%)" % (busy, row["generator_queued_percent"]),
                          fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), errors])
    table = markdown_table(["server", "connections", "messages/s",
                            "server CPU per message (core busy)",
                            "ws_load busy (waiting for its core)", "p50", "p99", "errors"], cells)
    if any(" ‡" in cell[2] for cell in cells):
        table += "\n\n" + GENERATOR_BUSY
    return table


def websocket_section(rows, checks, options):
    parts = ["## WebSocket echo: the framework against Boost.Beast and Tornado", ""]
    if options.quick or options.rounds < FRAMEWORK_ROUNDS or \
            options.idle_connections < IDLE_CONNECTIONS:
        parts += ["(%d round(s) of %d s, %s idle connections: a check that it runs, "
                  "too short for the verdicts to mean much.)" % (
                      options.rounds, options.duration, fmt_count(options.idle_connections)), ""]
    if checks:
        parts += ["### The goals", "", goals_table(checks), ""]
    parts += ["### Every server", "", websocket_servers_table(rows, options), "",
              "### Echo, %d-byte text messages" % WEBSOCKET_MESSAGE_BYTES, "",
              websocket_echo_table(rows, options), "",
              "messages/s: echoes received, summed over the rounds ÷ their summed duration. "
              "CPU per message: the server's utime + stime from the moment every connection "
              "was open to the echo of the last message sent, ÷ those messages, median round; in "
              "brackets that CPU time ÷ the round's length. ws_load busy: the load generator's "
              "own CPU time ÷ the round; in brackets the time it was ready to run but its core "
              "ran other work (/proc/self/schedstat) ÷ the round; medians. The rest of the "
              "round ws_load waited for the server's echoes: when that rest is large, the "
              "server, not ws_load, set the pace. "
              "Memory: VmRSS with the idle connections open minus before, ÷ their number.", ""]
    return parts


def method_text(options, pinning):
    lines = [
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
    ]
    if options.framework and options.rounds:
        lines.append(
            "- Framework: every server started once, each pinned like the others; at %s "
        "connections, %d round(s) of `wrk -t1 -cN -d%ds` visiting the servers in turn "
        "(each round starting one server further along), the server's utime + stime read "
        "from /proc/PID/stat before and after each wrk run. Then, one at a time, a fresh "
        "server, one request, then %s more on one keep-alive connection (the warm-up: "
        "what a server sets up once, such as the io_uring loop's receive buffers, is then "
        "in the first reading), its VmRSS, %s keep-alive connections opened (at most %d "
        "at a time) that each send `GET /`, read the whole response and then stay open "
        "and silent, and its VmRSS again; then the same on another fresh server with "
        "connections that send nothing at all (the silent row). A verdict judges the ratio as printed (2 "
        "decimals, 1 for Tornado), the ratio of the two median rounds; beside a CPU "
        "ratio, the two servers' rounds compared one by one (a round measures them "
        "seconds apart, so a slow stretch of the machine touches both), their median "
        "and range. A goal against the floor is judged twice, by the ratio of the "
        "medians and by the median of the rounds' ratios. A goal not met says by how "
        "much; 1 KB is 1,024 bytes." % (
            " and ".join(fmt_count(level) for level in FRAMEWORK_LEVELS), options.rounds,
            options.duration, fmt_count(WARM_UP_REQUESTS), fmt_count(options.idle_connections),
            IDLE_IN_FLIGHT))
    if options.websocket and options.rounds:
        lines.append(
            "- WebSocket: the echo servers started once, pinned like the others; at %s "
            "connections, %d round(s) of `ws_load --connections=N --duration=%d` (on the "
            "other core) visiting them in turn: N connections to `%s`, each sending a "
            "%d-byte masked text message, waiting for its echo and sending the next. The "
            "server's utime + stime is read when all N are open and when the last echo is in. "
            "Then, one at a time, a fresh server, one echo, its VmRSS, %s WebSocket "
            "connections opened by `ws_load --mode=idle` (at most %d at a time) and left "
            "silent, and its VmRSS again." % (
                " and ".join(fmt_count(level) for level in WEBSOCKET_LEVELS), options.rounds,
                options.duration, WEBSOCKET_PATH, WEBSOCKET_MESSAGE_BYTES,
                fmt_count(options.idle_connections), IDLE_IN_FLIGHT))
    return "\n".join(lines)


def write_results(options, pinning, facts, load_rows, slow_rows, backend_rows=(),
                  framework_rows=(), websocket_rows=()):
    with open(os.path.join(options.out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(load_rows + slow_rows + list(backend_rows) + list(framework_rows)
                         + list(websocket_rows))
    parts = ["# Benchmark results", ""]
    if load_rows or not (framework_rows or websocket_rows):
        parts += ["## Rising concurrency", "", load_table(load_rows), ""]
    if slow_rows:
        parts += ["## Slow clients", "", slow_table(slow_rows, load_rows), ""]
    if backend_rows:
        parts += ["## Slow backend: %d ms per request, %d connections" % (
                      BACKEND_MS, options.backend_connections), "",
                  backend_table(backend_rows), ""]
    checks = []  # the goals of both scenarios go into framework.csv
    if framework_rows:
        checks = framework_checks(framework_rows, options)
        parts += framework_section(framework_rows, checks, options)
    if websocket_rows:
        websocket_goals = websocket_checks(websocket_rows, options)
        checks += websocket_goals
        parts += websocket_section(websocket_rows, websocket_goals, options)
    if framework_rows or websocket_rows:
        write_framework_csv(os.path.join(options.out, "framework.csv"), checks)
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
                        "(default: all of %s)" % ",".join(
                            s.name for s in SERVERS + BACKEND_SERVERS + FRAMEWORK_SERVERS
                            + WEBSOCKET_SERVERS))
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
    parser.add_argument("--rounds", type=int,
                        help="framework and websocket scenarios: rounds per level, 0 to skip "
                             "them (default: %d)" % FRAMEWORK_ROUNDS)
    parser.add_argument("--idle-connections", type=int,
                        help="framework and websocket scenarios: idle connections for the "
                             "memory figures (the framework's: after a request, and silent), "
                             "0 to skip them (default: %s)" % IDLE_CONNECTIONS)
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: levels %s, %d s runs, %d slow clients, %d framework "
                             "round, %d idle connections unless given" % (
                            ",".join(map(str, QUICK_LEVELS)), QUICK_DURATION, QUICK_SLOW_CLIENTS,
                            QUICK_FRAMEWORK_ROUNDS, QUICK_IDLE_CONNECTIONS))
    parser.add_argument("--list", action="store_true", help="list the servers and exit")
    options = parser.parse_args(argv)
    quick = options.quick
    if options.levels is None:
        options.levels = QUICK_LEVELS if quick else LEVELS
    if options.duration is None:
        options.duration = QUICK_DURATION if quick else DURATION
    if options.slow_clients is None:
        options.slow_clients = QUICK_SLOW_CLIENTS if quick else SLOW_CLIENTS
    if options.rounds is None:
        options.rounds = QUICK_FRAMEWORK_ROUNDS if quick else FRAMEWORK_ROUNDS
    if options.idle_connections is None:
        options.idle_connections = QUICK_IDLE_CONNECTIONS if quick else IDLE_CONNECTIONS
    if options.duration < 1 or options.timeout < 1:
        parser.error("--duration and --timeout are whole seconds, 1 or more")
    if options.rounds < 0 or options.idle_connections < 0:
        parser.error("--rounds and --idle-connections are 0 or more")
    options.selected = select_servers(parser, options.servers)
    # The framework and websocket scenarios' servers run in their own scenario only.
    options.framework = ([s for s in options.selected if s in FRAMEWORK_SERVERS]
                         if options.rounds else [])
    options.websocket = ([s for s in options.selected if s in WEBSOCKET_SERVERS]
                         if options.rounds else [])
    options.selected = [s for s in options.selected
                        if s not in FRAMEWORK_SERVERS + WEBSOCKET_SERVERS]
    if not options.framework and not options.websocket:
        options.idle_connections = 0
    return options


def select_servers(parser, names):
    everyone = SERVERS + BACKEND_SERVERS + FRAMEWORK_SERVERS + WEBSOCKET_SERVERS
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
    for s in SERVERS + BACKEND_SERVERS + FRAMEWORK_SERVERS + WEBSOCKET_SERVERS:
        missing = s.missing(bin_dir)
        found = "found" if missing is None else "missing"
        program = os.path.basename(s.program) + ("" if s.url_path == "/" else " " + s.url_path)
        note = "" if missing is None or "not found" in missing else "  (%s)" % missing
        log("%-25s %-31s %-8s %s%s" % (s.name, program, found, s.model, note))


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
    # wrk drives the HTTP scenarios; the websocket scenario has its own ws_load.
    if (options.selected or options.framework) and shutil.which("wrk") is None:
        log("run_bench: wrk is not installed (tools/install-deps.sh bench installs it)")
        return 2

    options.out = os.path.abspath(options.out)
    os.makedirs(os.path.join(options.out, "raw"), exist_ok=True)
    with open(os.path.join(options.out, "raw", "report.lua"), "w") as f:
        f.write(WRK_REPORT_LUA)

    biggest = max(options.levels + [options.slow_clients + WELL_BEHAVED,
                                    options.backend_connections, options.idle_connections])
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
    options.framework_missing = {s.name: s.missing(bin_dir) for s in options.framework}
    framework_servers = sum(1 for reason in options.framework_missing.values() if not reason)
    framework_runs = framework_servers * len(FRAMEWORK_LEVELS) * options.rounds
    options.websocket_missing = {s.name: s.missing(bin_dir) for s in options.websocket}
    websocket_servers = sum(1 for reason in options.websocket_missing.values() if not reason)
    websocket_runs = websocket_servers * len(WEBSOCKET_LEVELS) * options.rounds
    log("Benchmark: %d runs of %d s each, about %.0f s in all" % (
        len(runs) + framework_runs + websocket_runs, options.duration,
        len(runs) * (options.duration + 1.2) + framework_runs * (options.duration + 0.3)
        + framework_servers * (2 + options.idle_connections / 2000)
        + websocket_runs * (options.duration + 0.5)
        + websocket_servers * (2 + options.idle_connections / 2000)))
    log("Method:\n" + method_text(options, pinning))
    log("Machine: " + "; ".join("%s %s" % fact for fact in facts))
    log("Servers: " + (", ".join("%s (%s)" % (s.name, s.model)
                                 for s in options.available + options.framework
                                 + options.websocket) or "none"))
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

    framework_rows = []
    if options.framework:
        log()
        log("Framework: %s at %s connections, %d round(s) of %d s, then %s idle connections" % (
            ", ".join(s.name for s in options.framework),
            " and ".join(fmt_count(level) for level in FRAMEWORK_LEVELS), options.rounds,
            options.duration, fmt_count(options.idle_connections)))
        framework_rows = run_framework(options, bin_dir, pinning)

    websocket_rows = []
    if options.websocket:
        log()
        log("WebSocket: %s at %s connections, %d round(s) of %d s, then %s idle connections" % (
            ", ".join(s.name for s in options.websocket),
            " and ".join(fmt_count(level) for level in WEBSOCKET_LEVELS), options.rounds,
            options.duration, fmt_count(options.idle_connections)))
        websocket_rows = run_websocket(options, bin_dir, pinning)

    text = write_results(options, pinning, facts, rows["load"], rows["slow"], rows["backend"],
                         framework_rows, websocket_rows)
    log()
    log(text)
    log("Wrote %s, %s%s and raw/ (wrk output, server stderr per run)" % (
        os.path.join(options.out, "results.csv"), os.path.join(options.out, "results.md"),
        ", " + os.path.join(options.out, "framework.csv")
        if framework_rows or websocket_rows else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
