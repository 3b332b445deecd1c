#!/usr/bin/env python3
"""Deployment shapes under the same load: demo_app alone or behind nginx: `make bench-deploy`.

    python3 tests/bench/deploy_bench.py --bin build/bin --out build/bench
    python3 tests/bench/deploy_bench.py --quick            # 1 round of 2 s (smoke use)
    python3 tests/bench/deploy_bench.py --pinning pinned --shapes 1,3 --rounds 5 --duration 10

Four ways to serve demo_app's GET / ("Hello, world"), each measured with the
same `wrk -t1 -c64 -d3s --latency` (keep-alive):

  1  direct         one demo_app process, wrk talks to it
  2  nginx -> 1     nginx (final/deploy/nginx.conf.in, one worker) in front
                    of one demo_app --xheaders
  3  nginx -> 2     the same with two demo_app --xheaders on two ports
                    (nginx takes them in turn)
  4  --processes=2  one demo_app --processes=2, direct: two worker processes
                    (and their supervisor) share one listening socket, the
                    kernel hands each new connection to one of them

nginx runs on the repository's own configuration, only its placeholders
filled (@PREFIX@ a temporary directory, @LISTEN@ a free port on 127.0.0.1,
@UPSTREAM_SERVERS@ one "server 127.0.0.1:PORT;" per backend), as users
deploy it. Access logs stay on in every shape, as deployed: nginx writes
its access.log, every demo_app its one line per request on stderr (to a
file, as a supervisor would keep it). So a request through nginx is logged
twice, and that is part of what the proxy costs.

Every deployment is started first, checked with one GET / and warmed up
(2 s of the same wrk, not counted). Then 3 rounds visit them in turn, one
further along each round, so that whatever else the machine does (it may be
a shared VM) hits every shape alike; the table shows each one's median
round and the lowest and highest req/s of all its rounds.

Each shape runs twice: pinned (the whole server side, nginx and every
demo_app process, on CPU 0 and wrk on CPU 1, with taskset, as run_bench.py
does) and unpinned (the kernel places everything on the machine's cores).
On a 2-core machine wrk needs most of a core at these rates, so a server
side of two or more processes never has two cores to itself: pinned it has
exactly one, unpinned what wrk leaves.

For each run: requests/s and p50/p99 latency (wrk), the CPU seconds of the
server side (utime + stime from /proc/PID/stat before and after the run for
every process of it: nginx's master and worker, every demo_app process
including forked children), split into nginx and backends, and wrk's (its
rusage once it has exited); server CPU per request; how many cores were
busy (server, wrk, and the whole machine from /proc/stat, so that other
work on a shared machine shows); how the requests spread over the backends
(their access logs) or the CPU over the --processes workers; the TCP
connections accepted during the run (PassiveOpens, machine-wide: wrk's 64,
plus every new connection nginx opened to a backend); and a CPU ceiling
estimated from the per-request costs (what the run could reach if CPU were
the only limit). Below the tables, lines computed from the data say where
the ceiling is (the best run, the cores it kept busy, what was full), and
what nginx in front costs a request.

Writes OUT/deploy.md (the tables, those lines, the method and the machine)
and prints it; wrk's own output goes to OUT/raw/deploy-*.txt.
Exits 0 when every run served requests and every answer was 2xx, 1 when one
did not (or a server did not start, or died), 77 when wrk or nginx is not
installed. Standard library only; every process started here is stopped by
its PID, also on failure.
"""
import argparse
import contextlib
import os
import re
import shlex
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import run_bench as bench  # noqa: E402  (pinning, wrk, /proc helpers, machine facts)
from tls_bench import children_cpu_seconds, passive_opens  # noqa: E402
# run_bench put tests/clients on the path: the deployment tests' nginx is the
# one measured here (final/deploy/nginx.conf.in with its placeholders filled).
from checks import CheckFailed  # noqa: E402
from deployment import NGINX, TEMPLATE, Nginx, children_of, kill_leftovers  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

EXIT_SKIPPED = 77

CONNECTIONS = 64
DURATION = 3            # seconds per measured wrk run (a round)
ROUNDS = 3              # rounds per shape and pinning; the table shows the median one
WARMUP = 2              # seconds of wrk once, after a deployment starts, not counted
QUICK_DURATION = 2
QUICK_ROUNDS = 1
QUICK_WARMUP = 1
WRK_TIMEOUT = 2         # seconds: a slower answer counts as a wrk timeout error
START_TIMEOUT = 10.0    # seconds for a deployment to start
# A core this busy (share of its time) set the pace of the run.
SATURATED = 0.9
# Other programs busier than this many cores during a round disturbed it.
DISTURBED = 0.2


class Shape:
    """One way to deploy demo_app: `backends` demo_app commands of
    `processes` processes each, with or without nginx in front."""

    def __init__(self, number, name, backends, processes, behind_nginx):
        self.number = number
        self.name = name
        self.backends = backends
        self.processes = processes
        self.behind_nginx = behind_nginx

    def backend_arguments(self):
        # The configuration's header: every backend behind nginx runs with
        # --xheaders. Nothing else differs from the direct shapes.
        arguments = ["--xheaders"] if self.behind_nginx else []
        if self.processes != 1:
            arguments.append("--processes=%d" % self.processes)
        return arguments

    def worker_processes(self):
        """The processes that serve requests (a --processes supervisor does not)."""
        return self.backends * self.processes


SHAPES = [
    Shape(1, "direct, 1 process", backends=1, processes=1, behind_nginx=False),
    Shape(2, "nginx -> 1 backend", backends=1, processes=1, behind_nginx=True),
    Shape(3, "nginx -> 2 backends", backends=2, processes=1, behind_nginx=True),
    Shape(4, "direct, --processes=2", backends=1, processes=2, behind_nginx=False),
]


class Unpinned(bench.Pinning):
    """Pinning's interface with nothing pinned: the kernel places everyone."""

    def __init__(self):  # not Pinning's: it would look for taskset and pick CPUs
        self.enabled = False
        self.server_cpu = None
        self.wrk_cpu = None

    def label(self):
        return "unpinned"


def pinned_label(pinning):
    return "pinned: server %d, wrk %d" % (pinning.server_cpu, pinning.wrk_cpu)


def label_of(pinning):
    return pinning.label() if isinstance(pinning, Unpinned) else pinned_label(pinning)


# --- starting and stopping a deployment ------------------------------------

def wait_for_children(pid, count, timeout=START_TIMEOUT):
    """The PIDs of a process's children once it has `count` of them (nginx's
    worker, demo_app's forked workers), or RuntimeError."""
    deadline = time.monotonic() + timeout
    while True:
        found = children_of(pid)
        if len(found) >= count:
            return found
        if time.monotonic() >= deadline:
            raise RuntimeError("pid %d has %d child processes, not %d" % (pid, len(found), count))
        time.sleep(0.05)


class Backend:
    """One demo_app command (one process, or a supervisor and its workers),
    its stderr, the access log, in a file."""

    def __init__(self, program, arguments, log_path, cpu):
        self.log_path = log_path
        self.server = None
        self.children = []
        self.program, self.arguments, self.cpu = program, arguments, cpu

    def start(self, processes):
        with open(self.log_path, "wb") as log_file:
            # demo_app prints its ready line once its SIGTERM handler is in place.
            self.server = ServerProcess(self.program, *self.arguments, cpu=self.cpu,
                                        stderr=log_file, ready_timeout=START_TIMEOUT)
            try:
                self.server.__enter__()
            except RuntimeError as error:
                # The log lives in a temporary directory: say its end now.
                raise RuntimeError("%s; its stderr ends: %s" % (error, self.log_tail()))
        if processes != 1:
            self.children = wait_for_children(self.server.pid, processes)

    @property
    def port(self):
        return self.server.port

    def pids(self):
        return [self.server.pid] + self.children

    def worker_pids(self):
        """The processes that serve requests: the forked workers (their
        supervisor only waits for them), or the one process."""
        return self.children or [self.server.pid]

    def log_tail(self, size=300):
        with open(self.log_path, "rb") as log_file:
            return log_file.read()[-size:].decode("utf-8", "replace").strip() or "(nothing)"

    def logged_lines(self):
        """Lines in the access log so far: one per request it answered."""
        with open(self.log_path, "rb") as log_file:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: log_file.read(1 << 20), b""))

    def stop(self):
        if self.server is None:
            return
        # SIGTERM to the first process stops its workers too; SIGKILL (after
        # the grace) would not, so those are killed by their PIDs.
        self.server.stop(grace=5.0)
        kill_leftovers(self.children)


@contextlib.contextmanager
def deployment(shape, program, directory, pinning):
    """Starts a shape's processes (on the server CPU when pinned) and stops
    every one of them on the way out; yields (port wrk aims at, backends, nginx or None)."""
    with contextlib.ExitStack() as stack:
        backends = []
        for index in range(shape.backends):
            backend = Backend(program, shape.backend_arguments(),
                              os.path.join(directory, "backend-%d.log" % index), pinning.server_cpu)
            stack.callback(backend.stop)
            backend.start(shape.processes)
            backends.append(backend)
        nginx = None
        if shape.behind_nginx:
            nginx = Nginx(directory, [b.port for b in backends], cpu=pinning.server_cpu)
            stack.callback(nginx.stop)
            nginx.start()
            # nginx accepts into its socket's backlog before its worker
            # exists: wait for the worker, whose CPU time counts.
            wait_for_children(nginx.process.pid, 1)
        yield (nginx.port if nginx else backends[0].port), backends, nginx


# --- measuring --------------------------------------------------------------

def machine_ticks():
    """(busy, all) clock ticks of every CPU since boot, from /proc/stat: busy
    counts everything but idle and iowait (steal too: a core the hypervisor
    gave someone else was not ours to use)."""
    with open("/proc/stat") as f:
        fields = [int(value) for value in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pids, before, after):
    return sum(after[pid] - before[pid] for pid in pids) / bench.CLOCK_TICKS


def read_ticks(pids):
    """{pid: utime + stime} of every process, or RuntimeError if one is gone."""
    ticks = {pid: bench.cpu_ticks(pid) for pid in pids}
    gone = [pid for pid, value in ticks.items() if value is None]
    if gone:
        raise RuntimeError("server process(es) %s exited" % ", ".join(map(str, gone)))
    return ticks


def wrk_run(port, duration, pinning, raw_file, lua_path):
    """One wrk run (run_bench's command line): its figures, or RuntimeError."""
    settings = argparse.Namespace(duration=duration, timeout=WRK_TIMEOUT)
    result, problem = bench.run_wrk(port, CONNECTIONS, settings, pinning, raw_file, lua_path)
    if result is None:
        raise RuntimeError(problem)
    return result


def measure_round(port, backends, nginx, options, pinning, raw_file):
    """One measured wrk run with every counter read around it: its figures."""
    nginx_pids = nginx.pids() if nginx else []
    backend_pids = [pid for backend in backends for pid in backend.pids()]
    logged_before = [backend.logged_lines() for backend in backends]
    ticks_before = read_ticks(nginx_pids + backend_pids)
    accepted_before = passive_opens()
    wrk_before = children_cpu_seconds()
    busy_before, all_before = machine_ticks()
    started = time.monotonic()
    result = wrk_run(port, options.duration, pinning, raw_file, options.lua_path)
    # The counters cover wrk's whole life, a little longer than its own
    # duration (it connects first): busy cores are CPU seconds ÷ this.
    wall = time.monotonic() - started
    busy_after, all_after = machine_ticks()
    wrk_after = children_cpu_seconds()
    accepted_after = passive_opens()
    ticks_after = read_ticks(nginx_pids + backend_pids)
    logged = [backend.logged_lines() - before for backend, before in zip(backends, logged_before)]
    seconds = result["duration_us"] / 1e6
    # The machine's ticks count every CPU: all of them ÷ the wall time is
    # the number of CPUs.
    cores = (all_after - all_before) / bench.CLOCK_TICKS / wall
    return {
        "requests": int(result["requests"]), "seconds": seconds, "wall": wall,
        "rps": result["requests"] / seconds if seconds else 0.0,
        "p50_us": result["p50_us"], "p99_us": result["p99_us"],
        "non_2xx": int(result["status"]),
        "socket_errors": int(sum(result[key] for key in ("connect", "read", "write", "timeout"))),
        "nginx_cpu": cpu_seconds(nginx_pids, ticks_before, ticks_after),
        "backend_cpu": cpu_seconds(backend_pids, ticks_before, ticks_after),
        "worker_cpu": [cpu_seconds([pid], ticks_before, ticks_after)
                       for backend in backends for pid in backend.worker_pids()],
        "wrk_cpu": wrk_after - wrk_before,
        "machine_busy_cores": (busy_after - busy_before) / bench.CLOCK_TICKS / wall,
        "cores": round(cores),
        "accepted": accepted_after - accepted_before,
        "logged": logged,
    }


class Run:
    """One shape under one pinning: its running deployment and its rounds."""

    def __init__(self, shape, pinning):
        self.shape = shape
        self.pinning = pinning
        self.port = None
        self.backends = []
        self.nginx = None
        self.rounds = []
        self.problem = ""

    def raw_name(self):
        return "deploy-%d-%s.txt" % (self.shape.number,
                                     "pinned" if self.pinning.enabled else "unpinned")

    def start(self, stack, program, options):
        """Starts the deployment (stopped when `stack` closes), checks its
        answer and warms it up; on failure the run's problem says why."""
        try:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="deploy_bench-"))
            self.port, self.backends, self.nginx = stack.enter_context(
                deployment(self.shape, program, directory, self.pinning))
            _, problem = bench.fetch_hello(self.port)
            if problem:
                raise RuntimeError(problem)
            with open(os.path.join(options.raw_dir, self.raw_name()), "w") as raw_file:
                raw_file.write("# warm-up, not counted\n")
                wrk_run(self.port, options.warmup, self.pinning, raw_file, options.lua_path)
        except (OSError, RuntimeError, CheckFailed) as error:
            self.problem = "did not start: %s" % error

    def measure(self, options):
        with open(os.path.join(options.raw_dir, self.raw_name()), "a") as raw_file:
            raw_file.write("# round %d\n" % (len(self.rounds) + 1))
            try:
                figures = measure_round(self.port, self.backends, self.nginx, options,
                                        self.pinning, raw_file)
            except (OSError, RuntimeError) as error:
                self.problem = str(error)
                return
        self.rounds.append(figures)
        self.problem = problem_of(figures)

    def summary(self):
        """A row for the table: the median round (by req/s) and the others' range."""
        if self.problem or not self.rounds:
            return {"shape": self.shape, "pinning": self.pinning,
                    "problem": self.problem or "no round completed"}
        ordered = sorted(self.rounds, key=lambda figures: figures["rps"])
        row = dict(ordered[(len(ordered) - 1) // 2])
        row.update(shape=self.shape, pinning=self.pinning, problem="",
                   rps_low=ordered[0]["rps"], rps_high=ordered[-1]["rps"],
                   round_count=len(ordered))
        return row


def problem_of(figures):
    """Why a measured round does not count, or ""."""
    if figures["requests"] == 0:
        return "no request was answered"
    if figures["non_2xx"]:
        return "%d answers were not 2xx or 3xx" % figures["non_2xx"]
    return ""


def run_all(runs, options, program):
    """Starts every run's deployment, then `rounds` rounds, each visiting
    the runs in turn (one further along each round), so that whatever else
    the machine does meanwhile hits every shape alike. Idle deployments
    wait meanwhile, costing nothing."""
    with contextlib.ExitStack() as stack:
        for run in runs:
            run.start(stack, program, options)
            if run.problem:
                bench.log(progress_line(run, None))
        for index in range(options.rounds):
            turn = index % len(runs)
            for run in runs[turn:] + runs[:turn]:
                if run.problem:
                    continue
                run.measure(options)
                bench.log(progress_line(run, index + 1))


# --- what the numbers say ------------------------------------------------------

def per_request_us(seconds, row):
    return seconds * 1e6 / row["requests"]


def ceiling_estimate(row):
    """(req/s, what limits it): the rate the run could reach if CPU were the
    only limit, from its CPU cost per request. Each process is one thread,
    so it can use one core at most; pinned, the server side shares one core
    and wrk has one; unpinned, everyone shares all the cores."""
    shape, pinning = row["shape"], row["pinning"]
    server_us = per_request_us(row["nginx_cpu"] + row["backend_cpu"], row)
    wrk_us = per_request_us(row["wrk_cpu"], row)
    limits = [(1e6 / wrk_us, "wrk's one thread")]
    if pinning.enabled:
        limits.append((1e6 / server_us, "the server core"))
    else:
        limits.append((row["cores"] * 1e6 / (server_us + wrk_us), "%d cores" % row["cores"]))
        if shape.behind_nginx:
            limits.append((1e6 / per_request_us(row["nginx_cpu"], row), "nginx's one worker"))
        limits.append((shape.worker_processes() * 1e6 / per_request_us(row["backend_cpu"], row),
                       "%d backend process%s" % (shape.worker_processes(),
                                                 "es" if shape.worker_processes() > 1 else "")))
    return min(limits)


def spread_text(row):
    """How the work spread over the backends: requests per backend (their
    access logs) behind nginx, CPU per worker process with --processes."""
    if len(row["logged"]) > 1:
        total = sum(row["logged"]) or 1
        return "/".join("%.0f" % (100 * n / total) for n in row["logged"]) + " % req"
    if len(row["worker_cpu"]) > 1:
        total = sum(row["worker_cpu"]) or 1
        return "/".join("%.0f" % (100 * s / total) for s in row["worker_cpu"]) + " % CPU"
    return "-"


def busy_cores(row):
    """(server side, wrk, whole machine): cores busy during the row's round."""
    return ((row["nginx_cpu"] + row["backend_cpu"]) / row["wall"],
            row["wrk_cpu"] / row["wall"], row["machine_busy_cores"])


DISTURBED_MARK = " †"


def disturbed(row):
    return not row["problem"] and others_busy(row) >= DISTURBED


def others_busy(row):
    """Cores kept busy by programs other than ours during the row's round."""
    server, wrk, machine = busy_cores(row)
    return max(0.0, machine - server - wrk)


def verdict(row):
    """What set the pace of a round, from which cores were full."""
    server, wrk, machine = busy_cores(row)
    if disturbed(row):
        return ("other programs kept %.2f cores busy meanwhile: the machine was shared, so "
                "this run understates it; run again when it is quiet (see the load "
                "average)" % others_busy(row))
    if row["pinning"].enabled:
        if server >= SATURATED and wrk >= SATURATED:
            return ("both pinned cores are full, the server side's and wrk's: the machine, "
                    "not the server, limits req/s")
        if server >= SATURATED:
            return ("the server side's one core is full: more server processes would only "
                    "share it")
        if wrk >= SATURATED:
            return "wrk's core is full: the load generator, not the server, sets the pace"
    elif machine >= SATURATED * row["cores"]:
        return ("every core is busy: the machine, not the server, limits req/s; another "
                "server process could only take CPU from wrk")
    return ("no core is full: waiting (the round trips of %d connections) sets the pace, "
            "not CPU" % CONNECTIONS)


def overall_ceiling_sentence(rows):
    """The machine's ceiling for this load, from the best round of all."""
    good = [row for row in rows if not row["problem"]]
    if not good:
        return "Ceiling: no run succeeded."
    best = max(good, key=lambda row: row["rps"])
    server, wrk, machine = busy_cores(best)
    total_us = per_request_us(best["nginx_cpu"] + best["backend_cpu"] + best["wrk_cpu"], best)
    return ("Ceiling: about %s req/s on this %d-core machine (best: %s, %s), with %.2f of "
            "%d cores busy (server side %.2f, wrk %.2f, everything else %.2f). Server and wrk "
            "spend %s µs of CPU per request together, and %d cores allow %s of those a "
            "second → %s." % (
                "{:,.0f}".format(best["rps"]), best["cores"], best["shape"].name,
                label_of(best["pinning"]), machine, best["cores"], server, wrk,
                others_busy(best), fmt_us(total_us), best["cores"],
                "{:,.0f}".format(best["cores"] * 1e6 / total_us), verdict(best)))


def ceiling_sentence(rows, pinning):
    """One line from the data: the best shape of a pinning and what set its pace."""
    good = [row for row in rows if row["pinning"] is pinning and not row["problem"]]
    if not good:
        return "Best (%s): no run succeeded." % label_of(pinning)
    best = max(good, key=lambda row: row["rps"])
    server, wrk, machine = busy_cores(best)
    return ("Best (%s): %s, %s req/s, cores busy: server side %.2f, wrk %.2f, machine %.2f "
            "of %d → %s." % (label_of(pinning), best["shape"].name,
                             "{:,.0f}".format(best["rps"]), server, wrk, machine,
                             best["cores"], verdict(best)))


def proxy_cost_sentence(rows, pinning):
    """One line from the data: what nginx in front adds to a request's
    server CPU (shape 2 against shape 1), or "" without both."""
    by_number = {row["shape"].number: row for row in rows
                 if row["pinning"] is pinning and not row["problem"]}
    if 1 not in by_number or 2 not in by_number:
        return ""
    direct, proxied = by_number[1], by_number[2]
    direct_us = per_request_us(direct["backend_cpu"], direct)
    nginx_us = per_request_us(proxied["nginx_cpu"], proxied)
    backend_us = per_request_us(proxied["backend_cpu"], proxied)
    # PassiveOpens beyond wrk's own connections: nginx's new ones to the backend.
    reconnects = max(0, proxied["accepted"] - CONNECTIONS) / proxied["requests"]
    return ("Proxy cost (%s): through nginx a request costs the server side %s µs of CPU "
            "against %s µs direct (%.1f×): nginx %s µs, the backend %s µs instead of %s; "
            "nginx opened a new backend connection for %.0f%% of the requests." % (
                label_of(pinning), fmt_us(nginx_us + backend_us), fmt_us(direct_us),
                (nginx_us + backend_us) / direct_us, fmt_us(nginx_us), fmt_us(backend_us),
                fmt_us(direct_us), 100 * reconnects))


# --- the report ------------------------------------------------------------

def fmt_us(value):
    return "%.1f" % value if value < 100 else "%.0f" % value


def fmt_latency(us):
    return "%.2f ms" % (us / 1000) if us < 10000 else "%.1f ms" % (us / 1000)


def row_head(row):
    return ["%d. %s" % (row["shape"].number, row["shape"].name), label_of(row["pinning"])]


def throughput_cells(row):
    if row["problem"]:
        return row_head(row) + ["failed: %s" % row["problem"]] + ["-"] * 6
    return row_head(row) + [
        "{:,.0f}".format(row["rps"]),
        "{:,.0f} – {:,.0f}".format(row["rps_low"], row["rps_high"]),
        fmt_latency(row["p50_us"]), fmt_latency(row["p99_us"]),
        str(row["socket_errors"]), spread_text(row), "{:,}".format(row["accepted"]),
    ]


THROUGHPUT_HEADER = ["shape", "CPUs", "req/s", "req/s, all rounds", "p50", "p99",
                     "socket errors", "spread over backends", "TCP conns accepted"]


def cpu_cells(row):
    if row["problem"]:
        return row_head(row) + ["-"] * 6
    shape = row["shape"]
    nginx_us = per_request_us(row["nginx_cpu"], row)
    backend_us = per_request_us(row["backend_cpu"], row)
    ceiling, limit = ceiling_estimate(row)
    return row_head(row) + [
        "%s + %.2f = %.2f" % ("%.2f" % row["nginx_cpu"] if shape.behind_nginx else "-",
                              row["backend_cpu"], row["nginx_cpu"] + row["backend_cpu"]),
        "%.2f" % row["wrk_cpu"],
        "%s + %s = %s" % (fmt_us(nginx_us) if shape.behind_nginx else "-", fmt_us(backend_us),
                          fmt_us(nginx_us + backend_us)),
        fmt_us(per_request_us(row["wrk_cpu"], row)),
        "%.2f / %.2f / %.2f%s" % (busy_cores(row) + (DISTURBED_MARK if disturbed(row) else "",)),
        "%s (%s)" % ("{:,.0f}".format(ceiling), limit),
    ]


CPU_HEADER = ["shape", "CPUs", "server CPU s: nginx + backends", "wrk CPU s",
              "server µs/req: nginx + backends", "wrk µs/req",
              "cores busy: server / wrk / machine", "CPU ceiling est., req/s (limit)"]


def template_setting(directive):
    """A directive's value in the nginx template (its first use outside
    comments), so that the report says what the file says today."""
    with open(TEMPLATE) as template:
        match = re.search(r"^[ \t]*%s[ \t]+([^;]+);" % directive, template.read(), re.M)
    return match.group(1).strip() if match else "?"


def churn_sentence():
    keepalive = template_setting("keepalive")
    if keepalive.isdigit() and int(keepalive) < CONNECTIONS:
        return ("nginx keeps at most %s idle connections to the backends (`keepalive %s`): "
                "with %d clients more than that are often idle at once, so nginx closes some "
                "and soon opens new ones in their place." % (keepalive, keepalive, CONNECTIONS))
    return "nginx keeps up to %s idle connections to the backends (`keepalive %s`)." % (
        keepalive, keepalive)


def method_lines(options, pinning, cores):
    lines = [
        "- Load: `wrk -t1 -c%d -d%ds --timeout %ds --latency`, keep-alive `GET /` "
        "(\"Hello, world\"). Every deployment is started first (each in a directory of "
        "its own), checked with one GET / and warmed up with %d s of the same wrk, not "
        "counted; then %d round(s) visit them in turn, one further along each round, so "
        "that other work on the machine hits them alike. The figures are those of the "
        "median round by req/s; \"all rounds\" gives the lowest and highest." % (
            CONNECTIONS, options.duration, WRK_TIMEOUT, options.warmup, options.rounds),
        "- nginx: `final/deploy/nginx.conf.in` unchanged but for its placeholders "
        "(`worker_processes %s`, `keepalive %s`, access log on); backends behind it run "
        "with `--xheaders`." % (template_setting("worker_processes"),
                                template_setting("keepalive")),
        "- Access logs on everywhere, as deployed: nginx's access.log, and demo_app's "
        "line per request on stderr, to a file. A request through nginx is logged twice.",
        "- Pinning: %s." % ("pinned = the whole server side (nginx and every demo_app "
                            "process) on CPU %d, wrk on CPU %d (taskset); unpinned = the "
                            "kernel places them" % (pinning.server_cpu, pinning.wrk_cpu)
                            if pinning.enabled else "unpinned only (taskset or a second CPU "
                            "is missing)"),
        "- This machine has %d cores and wrk needs most of one at these rates: a server "
        "side of two or more processes never gets %d cores. Pinned it has one; unpinned "
        "it shares them with wrk." % (cores, cores),
        "- CPU seconds: utime + stime from /proc/PID/stat before and after the run, summed "
        "over nginx's master and worker and every demo_app process (supervisor and forked "
        "workers); wrk's from its rusage. Cores busy = CPU seconds ÷ wrk's wall time; "
        "\"machine\" is every CPU's non-idle time from /proc/stat (other work on the "
        "machine included).",
        "- Spread: the share of the requests each backend logged (nginx -> 2), or of the "
        "CPU each --processes worker used (the kernel picks which worker accepts).",
        "- TCP conns accepted: PassiveOpens of /proc/net/snmp during the run, machine-wide: "
        "wrk's %d, plus every connection nginx opened to a backend. %s" % (
            CONNECTIONS, churn_sentence()),
        "- CPU ceiling: the run's CPU per request turned into the req/s each limit allows "
        "(one core per process, one core for the pinned server side, all the cores for "
        "everyone unpinned); the smallest is shown. An estimate: CPU per request changes "
        "with the load.",
    ]
    return lines


def report(options, pinning, rows, facts, load_after, cores):
    pinnings = unique_pinnings(rows)
    parts = [
        "# Deployment shapes: demo_app direct or behind nginx", "",
        "Command: `%s`" % options.command, "",
        "## Throughput and latency", "",
        bench.markdown_table(THROUGHPUT_HEADER, [throughput_cells(row) for row in rows]), "",
        "## Where the CPU goes (the same median round)", "",
        bench.markdown_table(CPU_HEADER, [cpu_cells(row) for row in rows]), "",
    ]
    if any(disturbed(row) for row in rows):
        parts += ["†: other programs kept %.1f cores or more busy during that round: "
                  "its figures are lower than the machine can do." % DISTURBED, ""]
    parts += [
        "## What limits it", "",
        overall_ceiling_sentence(rows), "",
    ]
    for p in pinnings:
        parts += [ceiling_sentence(rows, p), ""]
        cost = proxy_cost_sentence(rows, p)
        if cost:
            parts += [cost, ""]
    parts += ["## Method", ""] + method_lines(options, pinning, cores) + [""]
    parts += ["## Machine", ""] + ["- %s: %s" % fact for fact in facts]
    parts += ["- load average at the end (1, 5, 15 min): %s" % load_after, ""]
    return "\n".join(parts)


def unique_pinnings(rows):
    found = []
    for row in rows:
        if row["pinning"] not in found:
            found.append(row["pinning"])
    return found


def progress_line(run, round_number):
    head = "[%d %-22s %-25s round %s]" % (run.shape.number, run.shape.name, label_of(run.pinning),
                                         round_number or "-")
    if run.problem:
        return "%s FAILED: %s" % (head, run.problem)
    figures = run.rounds[-1]
    return "%s %9s req/s  p99 %-9s  CPU s: server %.2f, wrk %.2f; machine %.2f cores busy" % (
        head, "{:,.0f}".format(figures["rps"]), fmt_latency(figures["p99_us"]),
        figures["nginx_cpu"] + figures["backend_cpu"], figures["wrk_cpu"],
        figures["machine_busy_cores"])


# --- the command line ------------------------------------------------------

def parse_shapes(text):
    numbers = {shape.number: shape for shape in SHAPES}
    try:
        chosen = [numbers[int(part)] for part in text.split(",") if part.strip()]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError("shapes are numbers among %s" % ",".join(map(str, numbers)))
    if not chosen:
        raise argparse.ArgumentTypeError("name at least one shape")
    return chosen


def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                        help="folder of demo_app (default: build/bin)")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="where deploy.md and raw/ go (default: build/bench)")
    parser.add_argument("--duration", type=int,
                        help="seconds per measured run (default: %d; --quick: %d)" % (
                            DURATION, QUICK_DURATION))
    parser.add_argument("--rounds", type=int,
                        help="rounds per shape and pinning, the median counts "
                             "(default: %d; --quick: %d)" % (ROUNDS, QUICK_ROUNDS))
    parser.add_argument("--warmup", type=int,
                        help="seconds of warm-up once per deployment (default: %d; --quick: %d)"
                        % (WARMUP, QUICK_WARMUP))
    parser.add_argument("--shapes", type=parse_shapes, default=SHAPES,
                        help="which shapes, e.g. 1,3 (default: all: %s)" % "; ".join(
                            "%d %s" % (s.number, s.name) for s in SHAPES))
    parser.add_argument("--pinning", choices=("both", "pinned", "unpinned"), default="both",
                        help="pinned, unpinned or both (default)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: %d s warm-up, %d round of %d s" % (
                            QUICK_WARMUP, QUICK_ROUNDS, QUICK_DURATION))
    options = parser.parse_args(argv)
    if options.duration is None:
        options.duration = QUICK_DURATION if options.quick else DURATION
    if options.rounds is None:
        options.rounds = QUICK_ROUNDS if options.quick else ROUNDS
    if options.warmup is None:
        options.warmup = QUICK_WARMUP if options.quick else WARMUP
    if min(options.duration, options.rounds, options.warmup) < 1:
        parser.error("--duration, --rounds and --warmup are 1 or more")
    script = os.path.relpath(os.path.abspath(__file__), os.getcwd())
    options.command = " ".join(shlex.quote(part) for part in [sys.executable, script] + list(argv))
    return options


def pinnings_for(choice, pinned):
    chosen = []
    if choice in ("both", "pinned"):
        if pinned.enabled:
            chosen.append(pinned)
        else:
            bench.log("note: cannot pin (%s): the pinned runs are left out "
                      "(with --pinning pinned, the runs are unpinned)" % pinned.describe())
    if choice in ("both", "unpinned") or not chosen:
        chosen.append(Unpinned())
    return chosen


def missing_tools():
    return ["%s is not installed (tools/install-deps.sh bench installs it)" % name
            for name, found in (("wrk", shutil.which("wrk")),
                                ("nginx", os.access(NGINX, os.X_OK)))
            if not found]


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main(argv):
    options = parse_options(argv)
    missing = missing_tools()
    if missing:
        for sentence in missing:
            bench.log("deploy_bench: " + sentence)
        return EXIT_SKIPPED
    program = os.path.join(os.path.abspath(options.bin), "demo_app")
    if not os.access(program, os.X_OK):
        bench.log("deploy_bench: %s not found (build it first: make build)" % program)
        return 1

    options.out = os.path.abspath(options.out)
    options.raw_dir = os.path.join(options.out, "raw")
    os.makedirs(options.raw_dir, exist_ok=True)
    options.lua_path = os.path.join(options.raw_dir, "deploy-report.lua")
    with open(options.lua_path, "w") as f:
        f.write(bench.WRK_REPORT_LUA)

    pinned = bench.Pinning()
    pinnings = pinnings_for(options.pinning, pinned)
    fd_limit = bench.raise_fd_limit(4096)
    facts = bench.machine_facts(fd_limit)
    cores = len(os.sched_getaffinity(0))
    runs = [Run(shape, pinning) for pinning in pinnings for shape in options.shapes]
    bench.log("Deployment benchmark: %d shape(s) x %d pinning(s), %d s warm-up and %d round(s) "
              "of %d s each: about %.0f s" % (
                  len(options.shapes), len(pinnings), options.warmup, options.rounds,
                  options.duration, len(runs) * (options.warmup + 1 + options.rounds
                                                 * (options.duration + 0.3))))
    bench.log("Machine: " + "; ".join("%s %s" % fact for fact in facts))
    bench.log("Note: %d cores here, and wrk needs most of one: a server side of 2+ processes "
              "cannot get %d cores; it is measured anyway." % (cores, cores))

    run_all(runs, options, program)
    rows = [run.summary() for run in runs]

    text = report(options, pinned, rows, facts, load_average(), cores)
    with open(os.path.join(options.out, "deploy.md"), "w") as f:
        f.write(text)
    bench.log()
    bench.log(text)
    bench.log("Wrote %s (wrk's output: %s/deploy-*.txt)" % (
        os.path.join(options.out, "deploy.md"), options.raw_dir))
    return 1 if any(row["problem"] for row in rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
