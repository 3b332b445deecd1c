#!/usr/bin/env python3
"""A database behind the page, threads against one loop: `make bench-db`.

    python3 tests/bench/db_bench.py --bin build/bin --out build/bench
    python3 tests/bench/db_bench.py --quick              # levels 10 and 100, 3 s each
    python3 tests/bench/db_bench.py --smoke              # 10 connections, 2 s (bench.db_smoke)
    python3 tests/bench/db_bench.py --servers threaded,final --levels 100,1000 --duration 5

Every server serves the same page from the same PostgreSQL, GET /page?ms=50:

  1. SELECT id, title FROM items WHERE id = $1    a random id of 1..1000 (indexed)
  2. SELECT pg_sleep($1 / 1000.0)                 $1 = 50: a slow query, 50 ms
  3. "item 17: item number 17 (and 50 ms in pg_sleep)"

and what differs is what the server does while PostgreSQL works:

  (a) threaded   db_threaded: chapter 01's thread per connection, each thread
                 with its own blocking libpq connection (one per client)
  (b) blocking   ch09_app /blocking-wrong: one loop, blocking libpq in the handler
  (c) executor   ch09_app /executor: one loop, blocking libpq on N threads
                 (run_in_executor)
  (d) ch09       ch09_app /page: one loop, chapter 09's driver and a pool of N
  (e) final      db_final: final/'s web layer and tornado::postgres's Pool of N
                 (pipelined)
  (f) django     Django 3.2 under gunicorn's gthread worker (1 worker, N threads),
                 psycopg2
  (g) tornado    Python Tornado 6.2 with an asyncpg pool of N

The harness starts one cluster (tools/pg_cluster.py, in OUT/db-cluster, with
max_connections raised) and makes the items table (1,000 rows). Then each
server in turn: started at a free port on 127.0.0.1, one page fetched and
checked, then wrk at each level (10, 100, 1,000, 10,000 connections, 10 s
each, keep-alive, --latency, --timeout 10s). During each level it samples,
every 0.5 s, the sessions open in PostgreSQL (pg_stat_activity, its own left
out) and the server's memory (RSS of its processes, from /proc). Between
levels it waits for the server to have no query left running (a server
still draining the last level's queue is started again). The server is
stopped by its PID (its children too: gunicorn's worker) after its levels.
With 2 CPUs or more, the servers and PostgreSQL run on CPU 1, wrk on CPU 0.

Writes OUT/db.md (the tables, the method, the machine; also printed),
OUT/db.csv (one row per server and level; plot_db.py draws it) and
OUT/raw/db-* (wrk's reports and each server's output). A server that is
not built or not installed gets a row saying so; one that fails to start or
to answer the page gets a row saying why. Exits 0, or 77 (CTest's "skipped")
when wrk, psql or PostgreSQL's server is missing; with --smoke, 1 when a
server that is there did not answer its page, or served no page or had an
error under wrk, or when a program of --bin is missing. The servers reach PostgreSQL over TCP on 127.0.0.1.
Standard library only.
"""
import argparse
import csv
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
import pg_cluster  # noqa: E402
from run_bench import (WRK_REPORT_LUA, fmt_ms, free_port, machine_facts,  # noqa: E402
                       parse_wrk, raise_fd_limit)
from serverproc import children_of  # noqa: E402 (run_bench put tests/clients on the path)

LEVELS = [10, 100, 1000, 10000]
DURATION = 10          # seconds of wrk per level
QUICK_LEVELS, QUICK_DURATION = [10, 100], 3
SMOKE_LEVELS, SMOKE_DURATION = [10], 2
POOL = 10              # N: pool size, or threads, of (c), (d), (e), (f), (g)
DELAY_MS = 50          # the page's pg_sleep
WRK_TIMEOUT = 10       # seconds; a request waiting longer is a timeout error
MAX_CONNECTIONS = 300  # PostgreSQL's max_connections (its default is 100)
SAMPLE_EVERY = 0.5     # seconds between samples of sessions and memory
START_TIMEOUT = 30     # seconds a server may take to accept and answer its first page
QUIET_TIMEOUT = 20     # seconds a server may take to finish the last level's queries
STOP_GRACE = 5         # seconds between SIGTERM and SIGKILL
ITEMS = 1000
MISSING = 77
PYTHON = "/usr/bin/python3"  # Debian's, the one that sees python3-django and the others
DJANGO_DIR = os.path.join(HERE, "db_django")
PAGE = re.compile(r"^item (\d+): item number \1 \(and (\d+) ms in pg_sleep\)\n$")

CSV_FIELDS = ["letter", "server", "model", "connections", "status", "requests", "duration_s",
              "rps", "rps_all", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors",
              "err_status", "err_connect", "err_read", "err_write", "err_timeout",
              "rss_kb", "rss_peak_kb", "processes", "db_connections", "pool", "note"]


def log(message=""):
    print(message, flush=True)


# --- the servers -------------------------------------------------------------

class Server:
    """One model. command(bin_dir, port, dsn, n) is its command line; path is
    what wrk asks for; needs, a Python import line that must work under
    /usr/bin/python3 (its Debian packages), or None for a program of --bin."""

    def __init__(self, letter, name, model, command, path, program=None, needs=None,
                 packages=""):
        self.letter, self.name, self.model = letter, name, model
        self.command, self.path = command, path
        self.program, self.needs, self.packages = program, needs, packages

    def label(self):
        return "(%s) %s" % (self.letter, self.name)

    def missing(self, bin_dir):
        """Why this server cannot run here, or None."""
        if self.program and not os.access(os.path.join(bin_dir, self.program), os.X_OK):
            return "%s is not built in %s" % (self.program, bin_dir)
        if self.needs:
            try:
                probe = subprocess.run([PYTHON, "-c", self.needs], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=60)
                if probe.returncode == 0:
                    return None
            except (OSError, subprocess.TimeoutExpired):
                pass
            return "%s not installed for %s (tools/install-deps.sh db)" % (self.packages, PYTHON)
        return None


# ch09_app's --max-waiting (its pool's line), if --max-waiting was given.
CH09_MAX_WAITING = None


def ch09_app(bin_dir, port, dsn, n):
    command = [os.path.join(bin_dir, "ch09_app"), "--port=%d" % port, "--address=127.0.0.1",
               "--dsn=" + dsn, "--pool=%d" % n, "--threads=%d" % n]
    if CH09_MAX_WAITING is not None:
        command.append("--max-waiting=%d" % CH09_MAX_WAITING)
    return command


SERVERS = [
    Server("a", "threaded", "thread per connection, blocking libpq, a database connection each",
           lambda b, port, dsn, n: [os.path.join(b, "db_threaded"), "--port=%d" % port,
                                    "--address=127.0.0.1", "--dsn=" + dsn],
           "/page?ms={ms}", program="db_threaded"),
    Server("b", "blocking", "one loop, blocking libpq in the handler (ch09_app /blocking-wrong)",
           ch09_app, "/blocking-wrong?ms={ms}", program="ch09_app"),
    Server("c", "executor", "one loop, blocking libpq on {n} threads (ch09_app /executor)",
           ch09_app, "/executor?ms={ms}", program="ch09_app"),
    Server("d", "ch09", "one loop, chapter 09's driver and pool of {n} (ch09_app /page)",
           ch09_app, "/page?ms={ms}", program="ch09_app"),
    Server("e", "final",
           "one loop, final/'s web layer and tornado::postgres Pool of {n}, pipelined",
           lambda b, port, dsn, n: [os.path.join(b, "db_final"), "--port=%d" % port,
                                    "--address=127.0.0.1", "--dsn=" + dsn, "--pool=%d" % n,
                                    "--logging=warning"],
           "/page?ms={ms}", program="db_final"),
    # gthread: one worker process, N threads, each with its own Django
    # connection. --worker-connections: gunicorn holds at most 1,000 clients
    # by default; raised to the largest level, as the descriptors are for all.
    Server("f", "django", "Django 3.2 + psycopg2 under gunicorn gthread (1 worker, {n} threads)",
           lambda b, port, dsn, n: [
               PYTHON, "-m", "gunicorn", "--chdir", DJANGO_DIR, "--bind", "127.0.0.1:%d" % port,
               "--worker-class", "gthread", "--workers", "1", "--threads", str(n),
               "--worker-connections", "10000", "--backlog", "4096", "--graceful-timeout", "2",
               "--log-level", "warning", "wsgi"],
           "/page?ms={ms}", needs="import django, psycopg2, gunicorn",
           packages="python3-django, python3-psycopg2 and gunicorn"),
    Server("g", "tornado", "Python Tornado 6.2, an asyncpg pool of {n}",
           lambda b, port, dsn, n: [PYTHON, os.path.join(HERE, "db_tornado.py"),
                                    "--port=%d" % port, "--address=127.0.0.1", "--dsn=" + dsn,
                                    "--pool=%d" % n],
           "/page?ms={ms}", needs="import tornado, asyncpg",
           packages="python3-tornado and python3-asyncpg"),
]


# --- the machine -------------------------------------------------------------

class Pinning:
    """The servers and PostgreSQL on CPU 1, wrk on CPU 0 (of those we may use)."""

    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0))
        self.enabled = shutil.which("taskset") is not None and len(cpus) >= 2
        self.wrk_cpu = cpus[0] if self.enabled else None
        self.server_cpu = cpus[1] if self.enabled else None

    def prefix(self, cpu):
        return ["taskset", "-c", str(cpu)] if self.enabled else []

    def pin_tree(self, pid):
        """A running process, its threads and its children (the postmaster's
        background processes); what it forks later inherits the CPU."""
        if not self.enabled:
            return
        for each in [pid] + children_of(pid):
            subprocess.run(["taskset", "-a", "-p", "-c", str(self.server_cpu), str(each)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def describe(self):
        if not self.enabled:
            return "not pinned (needs taskset and at least 2 CPUs)"
        return ("servers and PostgreSQL on CPU %d, wrk on CPU %d (taskset)"
                % (self.server_cpu, self.wrk_cpu))


def process_tree(pid):
    """pid and all its descendants (gunicorn's master, then its worker)."""
    tree, todo = [], [pid]
    while todo:
        each = todo.pop()
        tree.append(each)
        todo.extend(children_of(each))
    return tree


def started(pid):
    """When a process started (field 22 of /proc/PID/stat), or None if it is
    gone: with its PID, what tells it from a later process given that PID."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as status:
                match = re.search(r"^VmRSS:\s+(\d+)", status.read(), re.M)
            total += int(match.group(1)) if match else 0
        except OSError:
            pass
    return total


# --- PostgreSQL ----------------------------------------------------------------

class Session:
    """One psql session kept open for the whole run: the harness asks it about
    pg_stat_activity without a new connection each time (which a full
    max_connections would refuse). It is one client backend itself."""

    def __init__(self, dsn):
        self.process = subprocess.Popen(["psql", "-X", "-q", "-At", dsn], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.unread = b""

    def ask(self, sql, timeout=10.0):
        """The first line of the answer, or None if psql is gone or did not
        answer within `timeout` seconds (a database too busy to answer must
        not hang the harness)."""
        with self.lock:
            try:
                self.process.stdin.write((sql.rstrip(";") + ";\n").encode())
                self.process.stdin.flush()
            except (OSError, ValueError):
                return None
            deadline = time.monotonic() + timeout
            output = self.process.stdout.fileno()
            while b"\n" not in self.unread:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([output], [], [], remaining)[0]:
                    return None
                chunk = os.read(output, 4096)
                if not chunk:
                    return None
                self.unread += chunk
            line, self.unread = self.unread.split(b"\n", 1)
        return line.decode().strip() or None

    def activity(self):
        """(client sessions open besides this one, those running a query)."""
        answer = self.ask("SELECT count(*), count(*) FILTER (WHERE state = 'active') "
                          "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                          "AND pid <> pg_backend_pid()")
        if not answer or "|" not in answer:
            return None, None
        opened, active = answer.split("|")
        return int(opened), int(active)

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def make_items(dsn):
    sql = ("SET client_min_messages = warning; DROP TABLE IF EXISTS items;"
           "CREATE TABLE items (id integer PRIMARY KEY, title text NOT NULL);"
           "INSERT INTO items SELECT n, 'item number ' || n FROM generate_series(1, %d) n;"
           "ANALYZE items;" % ITEMS)
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


# --- one server ------------------------------------------------------------------

class Running:
    """A server started by the harness, stopped by its PID (and its children's)."""

    def __init__(self, server, options, dsn, pinning, output):
        self.port = free_port()
        command = pinning.prefix(pinning.server_cpu) + server.command(
            options.bin, self.port, dsn, options.pool)
        environment = dict(os.environ, TORNADO_POSTGRES_DSN=dsn, PYTHONDONTWRITEBYTECODE="1")
        output.write("$ %s\n" % " ".join(command))
        output.flush()
        # taskset execs the server: the PID is the server's own.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                        stderr=subprocess.STDOUT, env=environment)
        self.pid = self.process.pid

    def wait_until_accepting(self, timeout):
        """None once a connection to its port succeeds, or why not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return "exited with %d before accepting" % self.process.returncode
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return None
            except OSError:
                time.sleep(0.1)
        return "did not accept within %d s" % timeout

    def stop(self):
        """SIGTERM to the server and its children, SIGKILL to what is left
        after STOP_GRACE seconds."""
        tree = {pid: started(pid) for pid in process_tree(self.pid)}
        for pid in tree:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline and self.process.poll() is None:
            time.sleep(0.05)
        tree.update({pid: started(pid) for pid in process_tree(self.pid) if pid not in tree})
        for pid, start in tree.items():
            # Only the process we meant: a PID freed meanwhile may be another's now.
            if start is not None and started(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait()


def fetch_page(port, path, timeout):
    """None if GET path answers 200 with the page, or what was wrong."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path)
        answer = connection.getresponse()
        body = answer.read().decode(errors="replace")
        connection.close()
    except (OSError, http.client.HTTPException) as error:
        return "GET %s: %s" % (path, error or type(error).__name__)
    if answer.status != 200 or not PAGE.match(body):
        return "GET %s answered %d %r" % (path, answer.status, body[:120])
    return None


def start_checked(server, options, dsn, pinning, output):
    """(the running server, None) once it answers its page; (None, why) if it does not."""
    running = Running(server, options, dsn, pinning, output)
    problem = running.wait_until_accepting(START_TIMEOUT)
    if problem is None:
        # gunicorn's master accepts before its worker has loaded Django:
        # the first page may wait for it.
        problem = fetch_page(running.port, server.path.format(ms=options.ms), START_TIMEOUT)
    if problem is not None:
        running.stop()
        return None, problem
    return running, None


def wait_until_quiet(session, timeout):
    """True once no session has a query running (three samples in a row)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        _, active = session.activity()
        quiet = quiet + 1 if active == 0 else 0
        if quiet >= 3:
            return True
        time.sleep(0.2)
    return False


class Sampler:
    """Every SAMPLE_EVERY seconds while wrk runs: the database sessions open
    (their most), and the server's memory (the last sample, and the most)."""

    def __init__(self, session, pid):
        self.session, self.pid = session, pid
        self.db_connections = 0
        self.rss_kb = self.rss_peak_kb = self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self):
        while not self._stop.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self):
        opened, _ = self.session.activity()
        if opened is not None:
            self.db_connections = max(self.db_connections, opened)
        tree = process_tree(self.pid)
        rss = rss_kb(tree)
        if rss:
            self.rss_kb, self.processes = rss, len(tree)
            self.rss_peak_kb = max(self.rss_peak_kb, rss)


def run_wrk(port, path, connections, options, pinning, raw_file):
    """wrk's figures (report.lua's BENCH line) and "", or None and why not."""
    command = pinning.prefix(pinning.wrk_cpu) + [
        "wrk", "-t%d" % min(2, connections), "-c%d" % connections, "-d%gs" % options.duration,
        "--timeout", "%ds" % options.timeout, "--latency", "-H", "Connection: keep-alive",
        "-s", os.path.join(options.out, "raw", "db-report.lua"),
        "http://127.0.0.1:%d%s" % (port, path)]
    raw_file.write("$ %s\n" % " ".join(command))
    raw_file.flush()
    try:
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


def new_row(server, connections, options, status="ok", note=""):
    row = {field: "" for field in CSV_FIELDS}
    row.update(letter=server.letter, server=server.name, model=server.model.format(n=options.pool),
               connections=connections, status=status, note=note,
               pool=options.pool if server.letter in "cdefg" else "")
    return row


def fill_row(row, result, sampler):
    seconds = result["duration_us"] / 1e6
    errors = {kind: int(result[kind]) for kind in ("status", "connect", "read", "write", "timeout")}
    answered = int(result["requests"])
    # wrk counts every answer as a request, a 503 too: req/s is the pages
    # served (2xx/3xx), the refusals are errors.
    good = answered - errors["status"]
    row.update(requests=answered, duration_s="%.2f" % seconds,
               rps="%.1f" % (good / seconds if seconds else 0),
               rps_all="%.1f" % (answered / seconds if seconds else 0),
               errors=sum(errors.values()), rss_kb=sampler.rss_kb, rss_peak_kb=sampler.rss_peak_kb,
               processes=sampler.processes, db_connections=sampler.db_connections)
    for kind, count in errors.items():
        row["err_" + kind] = count
    if answered:  # no answer, no latency
        for key in ("p50", "p90", "p99", "max"):
            row[key + "_ms"] = "%.3f" % (result[key + "_us"] / 1000)


def measure_server(server, options, dsn, session, pinning, progress):
    """Every level of one server: one row each."""
    rows = []
    raw = os.path.join(options.out, "raw", "db-%s" % server.name)
    with open(raw + ".server.txt", "w") as output, open(raw + ".wrk.txt", "w") as raw_file:
        running, problem = start_checked(server, options, dsn, pinning, output)
        if running is None:
            for level in options.levels:
                rows.append(new_row(server, level, options, "failed",
                                    "did not start or answer: %s (raw/db-%s.server.txt)"
                                    % (problem, server.name)))
                progress(rows[-1])
            return rows
        try:
            for index, level in enumerate(options.levels):
                row = new_row(server, level, options)
                if index > 0 and not wait_until_quiet(session, QUIET_TIMEOUT):
                    # Still serving the last level's queue (a blocked loop
                    # drains it 50 ms at a time): a fresh server instead.
                    running.stop()
                    running, problem = start_checked(server, options, dsn, pinning, output)
                    row["note"] = "started again: still busy %d s after the last level" % (
                        QUIET_TIMEOUT)
                    if running is None:
                        row.update(status="failed", note="did not start again: " + problem)
                        rows.append(row)
                        progress(row)
                        break
                if index > 0:
                    problem = fetch_page(running.port, server.path.format(ms=options.ms),
                                         START_TIMEOUT)
                    if problem:
                        row.update(status="failed", note="page check: " + problem)
                        rows.append(row)
                        progress(row)
                        continue
                with Sampler(session, running.pid) as sampler:
                    result, problem = run_wrk(running.port, server.path.format(ms=options.ms),
                                              level, options, pinning, raw_file)
                if running.process.poll() is not None:
                    row.update(status="server died",
                               note="exited with %d during the run" % running.process.returncode)
                if result is None:
                    row.update(status="failed" if row["status"] == "ok" else row["status"],
                               note="; ".join(note for note in (row["note"], problem) if note))
                else:
                    fill_row(row, result, sampler)
                rows.append(row)
                progress(row)
                if row["status"] == "server died":
                    break
        finally:
            if running is not None:
                running.stop()
    for level in options.levels[len(rows):]:  # after a server that died, or did not start again
        rows.append(new_row(server, level, options, "failed", "not run: the server was gone"))
        progress(rows[-1])
    return rows


# --- the report --------------------------------------------------------------------

def fmt_count(value):
    return "-" if value in ("", None) else "{:,}".format(int(value))


def fmt_mb(kb):
    return "-" if kb in ("", 0, None) else "%.1f MB" % (int(kb) / 1024)


def fmt_rps(row):
    return "-" if row["rps"] == "" else "{:,.0f}".format(float(row["rps"]))


def fmt_errors(row):
    if row["errors"] == "":
        return "-"
    parts = ["{:,} {}".format(int(row["err_" + kind]), label)
             for kind, label in (("status", "non-2xx"), ("timeout", "timeout"),
                                 ("connect", "connect"), ("read", "read"), ("write", "write"))
             if row["err_" + kind]]
    return "{:,}".format(int(row["errors"])) + (" (" + ", ".join(parts) + ")" if parts else "")


def progress_line(index, total, row):
    head = "[%2d/%d] (%s) %-9s %6s conns" % (index, total, row["letter"], row["server"],
                                              fmt_count(row["connections"]))
    if row["rps"] == "":
        return "%s  %s: %s" % (head, row["status"], row["note"])
    line = "%s  %8s req/s  p50 %-8s p99 %-8s errors %s  RSS %s  db conns %s" % (
        head, fmt_rps(row), fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), fmt_errors(row),
        fmt_mb(row["rss_kb"]), row["db_connections"])
    return line + ("  (%s)" % row["note"] if row["note"] else "")


def markdown_table(header, rows, numbers_from=1):
    """A Markdown table whose columns from `numbers_from` on are right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i >= numbers_from else "---" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def level_table(rows):
    cells = []
    for row in rows:
        name = "(%s) %s" % (row["letter"], row["server"])
        if row["rps"] == "":
            cells.append([name, row["status"] + (": " + row["note"] if row["note"] else "")]
                         + ["-"] * 5)
            continue
        errors = fmt_errors(row) + (" (" + row["note"] + ")" if row["note"] else "")
        cells.append([name, fmt_rps(row), fmt_ms(row["p50_ms"]), fmt_ms(row["p99_ms"]), errors,
                      fmt_mb(row["rss_kb"]), fmt_count(row["db_connections"])])
    return markdown_table(["server", "req/s", "p50", "p99", "errors", "memory (RSS)",
                           "DB connections"], cells)


def write_report(options, rows, pinning, facts, server_version, seconds):
    servers = markdown_table(
        ["", "server", "what waits while PostgreSQL works"],
        [["(%s)" % s.letter, s.name, s.model.format(n=options.pool)]
         for s in SERVERS if s.name in options.servers],
        numbers_from=3)
    tables = []
    for level in options.levels:
        mine = [row for row in rows if row["connections"] == level]
        tables.append("### %s connections\n\n%s" % ("{:,}".format(level), level_table(mine)))
    problems = [row for row in rows if row["status"] not in ("ok", "not available")]
    text = """# A database behind the page: threads against one loop (make bench-db)

Every server answers GET %s (an indexed SELECT of one of %s items, then
`SELECT pg_sleep(%g)`, then a line naming the item) from the same
PostgreSQL, under wrk at each number of keep-alive connections for %g s.
N = %d: the pool of (d), (e) and (g), the threads of (c) and (f).

%s

%s

- **req/s**: pages answered with 200 per second. A refusal (a 503 when the
  database or a pool's queue is full) is not a page: it is counted in
  **errors**, with wrk's socket errors (connect, read, write) and its
  timeouts (no answer within %d s).
- **p50, p99**: of every answer wrk timed, refusals included; a request
  that timed out is in no percentile.
- **memory**: the server's resident memory (RSS, summed over its processes:
  gunicorn's master and worker) at the last sample before the level ended.
- **DB connections**: the most client sessions PostgreSQL had open at once
  during the level (sampled every %g s), the harness's own left out.
  ch09_app opens two at start, whichever route is loaded: the blocking
  connection of /blocking-wrong and its pool's first. So (b) shows 2,
  (c) N + 2 and (d) N + 1.

## How it was measured

- PostgreSQL %s (tools/pg_cluster.py: fsync off, max_connections=%d),
  reached over TCP on 127.0.0.1, started for the run in %s and
  stopped at its end.
- Pinning: %s.
- wrk: `-t2 --latency -H 'Connection: keep-alive' --timeout %ds`.
- Each server is started once at a free port on 127.0.0.1, its page
  fetched and checked, then loaded at each level in turn; between two
  levels the harness waits until no query is running.
- The run took %.0f s, on %s.

""" % (SERVERS[0].path.format(ms=options.ms), "{:,}".format(ITEMS), options.ms / 1000.0,
       options.duration, options.pool, servers, "\n\n".join(tables), options.timeout,
       SAMPLE_EVERY, server_version, options.max_connections,
       os.path.join(options.out, "db-cluster"), pinning.describe(), options.timeout, seconds,
       time.strftime("%Y-%m-%d %H:%M %Z"))
    text += markdown_table(["machine", ""], facts, numbers_from=2)
    text += "\n\nCommand: %s\n" % " ".join(sys.argv)
    if problems:
        text += "\nProblems:\n" + "".join("- (%s) %s at %s connections: %s %s\n" % (
            row["letter"], row["server"], fmt_count(row["connections"]), row["status"],
            row["note"]) for row in problems)
    with open(os.path.join(options.out, "db.md"), "w") as out:
        out.write(text)
    with open(os.path.join(options.out, "db.csv"), "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    log()
    log(text)


# --- main -------------------------------------------------------------------------------

def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--servers", default=",".join(s.name for s in SERVERS),
                        help="names or letters, comma-separated (default: all seven)")
    parser.add_argument("--levels", help="connection counts, comma-separated (default: %s)"
                        % ",".join(str(level) for level in LEVELS))
    parser.add_argument("--duration", type=float, help="seconds of wrk per level (default: %d)"
                        % DURATION)
    parser.add_argument("--pool", type=int, default=POOL,
                        help="N, the pool size or thread count of (c) to (g) (default: %d)" % POOL)
    parser.add_argument("--max-waiting", type=int,
                        help="(d)'s line: at most this many pages wait for a connection, the "
                             "rest get a 503 (default: ch09_app's, 10,000)")
    parser.add_argument("--ms", type=int, default=DELAY_MS, help="the page's pg_sleep, in ms")
    parser.add_argument("--timeout", type=int, default=WRK_TIMEOUT, help="wrk's, in seconds")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS,
                        help="PostgreSQL's max_connections (default: %d)" % MAX_CONNECTIONS)
    parser.add_argument("--quick", action="store_true", help="levels 10 and 100, 3 s each")
    parser.add_argument("--smoke", action="store_true",
                        help="10 connections, 2 s; fails if a server there does not answer")
    options = parser.parse_args(argv)
    levels, duration = LEVELS, DURATION
    if options.quick:
        levels, duration = QUICK_LEVELS, QUICK_DURATION
    if options.smoke:
        levels, duration = SMOKE_LEVELS, SMOKE_DURATION
    options.levels = ([int(level) for level in options.levels.split(",")] if options.levels
                      else levels)
    options.duration = options.duration or duration
    wanted = options.servers.split(",")
    options.servers = [s.name for s in SERVERS if s.name in wanted or s.letter in wanted]
    unknown = set(wanted) - {s.name for s in SERVERS} - {s.letter for s in SERVERS}
    if unknown or not options.servers:
        parser.error("unknown server %s; the servers: %s" % (
            ", ".join(sorted(unknown)), ", ".join(s.label() for s in SERVERS)))
    options.out = os.path.abspath(options.out)
    options.bin = os.path.abspath(options.bin)
    global CH09_MAX_WAITING
    CH09_MAX_WAITING = options.max_waiting
    return options


def main(argv):
    options = parse_options(argv)
    for tool in ("wrk", "psql"):
        if shutil.which(tool) is None:
            log("db_bench.py: %s is needed (tools/install-deps.sh build bench)" % tool)
            return MISSING
    began = time.monotonic()
    os.makedirs(os.path.join(options.out, "raw"), exist_ok=True)
    with open(os.path.join(options.out, "raw", "db-report.lua"), "w") as lua:
        lua.write(WRK_REPORT_LUA)
    # Inherited by the servers and wrk: 10,000 connections, and the
    # threaded server's database connections beside them.
    fd_limit = raise_fd_limit(max(options.levels) * 2 + 1000)
    pinning = Pinning()
    servers = [s for s in SERVERS if s.name in options.servers]
    available, rows = [], []
    for server in servers:
        why = server.missing(options.bin)
        if why is None:
            available.append(server)
        else:
            log("(%s) %s: not available, %s" % (server.letter, server.name, why))
            rows += [new_row(server, level, options, "not available", why)
                     for level in options.levels]
    directory = os.path.join(options.out, "db-cluster")
    try:
        dsn = pg_cluster.start(directory, tls=False,
                               settings=["max_connections=%d" % options.max_connections])
    except pg_cluster.ClusterError as error:
        log("db_bench.py: %s" % error)
        return MISSING
    session = None
    try:
        pinning.pin_tree(pg_cluster.server_pid(directory))
        make_items(dsn)
        session = Session(dsn)
        # The servers reach it over TCP on 127.0.0.1, as a server reaches
        # its database in production. (Over the unix socket, a burst of
        # connects beyond the postmaster's accept queue fails at once with
        # EAGAIN, where TCP waits and retries.)
        fields = dict(field.split("=", 1) for field in dsn.split())
        server_dsn = " ".join("%s=%s" % (key, "127.0.0.1" if key == "host" else value)
                              for key, value in fields.items())
        server_version = session.ask("SHOW server_version") or "?"
        log("PostgreSQL %s in %s; %s; N = %d; %s s per level at %s connections" % (
            server_version, directory, pinning.describe(), options.pool,
            "%g" % options.duration, ", ".join(str(level) for level in options.levels)))
        total = len(available) * len(options.levels)
        done = [0]

        def progress(row):
            done[0] += 1
            log(progress_line(done[0], total, row))

        for server in available:
            rows += measure_server(server, options, server_dsn, session, pinning, progress)
    finally:
        if session is not None:
            session.close()
        pg_cluster.stop(directory, remove=True)
    order = {s.name: i for i, s in enumerate(SERVERS)}
    rows.sort(key=lambda row: (row["connections"], order[row["server"]]))
    write_report(options, rows, pinning, machine_facts(fd_limit), server_version,
                 time.monotonic() - began)
    failed = [row for row in rows if row["status"] not in ("ok", "not available")]
    if options.smoke:
        # Ten connections for 2 s: every server serves pages, and fails none.
        failed += [row for row in rows if row["status"] == "ok" and
                   (float(row["rps"] or 0) == 0 or int(row["errors"] or 0) > 0)]
        # CMake declares the smoke test where it builds the C++ programs: one
        # missing is a failure. Python packages that are not installed are not.
        programs = {s.name for s in SERVERS if s.program}
        failed += [row for row in rows
                   if row["status"] == "not available" and row["server"] in programs]
    if options.smoke and failed:
        log("db_bench.py: %d run(s) failed (see the table)" % len(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
