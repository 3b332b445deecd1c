#!/usr/bin/env python3
"""The TechEmpower Framework Benchmarks' six tests, final/ against Python
Tornado in the same run: `make bench-tfb`.

    python3 tests/bench/tfb_bench.py [--bin build/bin] [--out build/bench]
        [--tests plaintext,json,db,queries,fortunes,updates] [--servers final,tornado]
        [--rounds 3] [--duration 10] [--connections 256] [--final-pool 1] [--tornado-pool 10]
        [--processes 1] [--drogon PROGRAM]
        [--no-pin] [--quick] [--smoke]

Each server is final/examples/techempower (`techempower`) or
tests/bench/tfb_tornado.py (Python Tornado 6 with asyncpg), one process
each unless --processes says more for final/; with --drogon, also
TechEmpower's own Drogon entry (the raw-SQL "drogon-core" app that
tests/bench/build_drogon_tfb.sh builds; PROGRAM is its drogon_benchmark),
with one loop thread. All get the same PostgreSQL,
started for the run (tools/pg_cluster.py) with TFB's settings
(TFB_POSTGRES_SETTINGS below) and TFB's database
(final/examples/techempower/create-postgres.sql), and must pass TFB's
checks (tests/clients/tfb_verify.py) before they are loaded.

The layout is the one TFB's figures are compared with here: the server
and PostgreSQL share CPU 1, wrk has CPU 0 (taskset). For each test, each
round runs every server in turn (interleaved, so that a slow minute of the
machine falls on both), wrk for --duration seconds after a 2 s warm-up:

    plaintext  /plaintext, pipelined 16 deep (TFB's wrk pipeline script)
    json       /json
    db         /db
    queries    /queries?queries=20
    fortunes   /fortunes
    updates    /updates?queries=20

It reports, per test and server, the median over the rounds of req/s, p99
and errors, and the CPU each request cost: the server's processes and
PostgreSQL's, from /proc (schedstat, in nanoseconds) before and after each
run, divided by the requests answered. Then the ratio final/Tornado, and
the goals: at least Drogon's ratio to Tornado (TFB's raw-SQL Drogon on a
machine like this one) and at most its CPU per request; with --drogon,
the same goals against Drogon measured in this run.

Writes build/bench/tfb.md (also printed), tfb.csv, and wrk's output in
build/bench/raw/tfb-*.txt. --smoke: one round of 1 s per test at 16
connections, for CTest: every server must pass the checks and answer with
no error. Exit 77 when wrk, psql or PostgreSQL's server is missing.
"""
import argparse
import csv
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
import pg_cluster  # noqa: E402
from c100k import cpu_seconds  # noqa: E402
from db_bench import Pinning, process_tree  # noqa: E402
from run_bench import (WRK_REPORT_LUA, machine_facts, parse_wrk,  # noqa: E402
                       raise_fd_limit, run_wrk_command)
from serverproc import ServerProcess  # noqa: E402 (run_bench put tests/clients on the path)
import tfb_verify  # noqa: E402

MISSING = 77
PYTHON = "/usr/bin/python3"  # Debian's, the one that sees python3-tornado and python3-asyncpg
SCHEMA = os.path.join(ROOT, "final", "examples", "techempower", "create-postgres.sql")
VERIFY = os.path.join(ROOT, "tests", "clients", "tfb_verify.py")

ROUNDS = 3
DURATION = 10        # seconds of wrk per run
WARM_UP = 2          # seconds of wrk before each measured run, not counted
CONNECTIONS = 256
# Database connections per server process. final/'s pool pipelines: one
# connection per process, as Drogon's TFB entry has one per loop, costs
# PostgreSQL least per query. asyncpg sends one query at a time on a
# connection, so Tornado needs one per query in flight: ten, as TFB's
# Tornado entry and the goals' measurement.
FINAL_POOL = 1
TORNADO_POOL = 10
PIPELINE_DEPTH = 16  # plaintext's requests in flight on one connection, as TFB's
QUERIES = 20         # ?queries= of the queries and updates tests
WRK_TIMEOUT = 10     # seconds

# The settings of TechEmpower's own PostgreSQL (FrameworkBenchmarks'
# toolset/databases/postgres/postgresql.conf) that change how it works; its
# file locations, locale and log format are left out. It keeps fsync and
# full_page_writes at their defaults (on), which tools/pg_cluster.py turns
# off for throwaway test data: given after pg_cluster's, these win.
# max_connections is TFB's 2000 scaled to two cores (the servers here open
# at most ten).
TFB_POSTGRES_SETTINGS = [
    "fsync=on", "full_page_writes=on", "synchronous_commit=off",
    "wal_level=minimal", "max_wal_senders=0",
    "shared_buffers=256MB", "work_mem=64MB", "maintenance_work_mem=512MB",
    "checkpoint_completion_target=0.9", "effective_cache_size=8GB", "random_page_cost=2",
    "shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all",
    "pg_stat_statements.max=500000", "track_activity_query_size=2048",
    "max_pred_locks_per_transaction=256", "max_connections=200",
]

# (name, path, pipelined)
TESTS = [
    ("plaintext", "/plaintext", True),
    ("json", "/json", False),
    ("db", "/db", False),
    ("queries", "/queries?queries=%d" % QUERIES, False),
    ("fortunes", "/fortunes", False),
    ("updates", "/updates?queries=%d" % QUERIES, False),
]

# Drogon 1.9's TFB app (raw SQL, pipelined libpq, one loop), measured on a
# 2-core machine like this one in the same layout, with Python Tornado 6.2
# and asyncpg beside it: req/s, its CPU per request (server + PostgreSQL,
# microseconds), and Tornado's req/s. The ratio Drogon/Tornado is the goal
# for final/, since a ratio carries from machine to machine better than
# req/s does.
DROGON = {
    "plaintext": (112612, 8.8, 5572),
    "json": (85192, 11.7, 5417),
    "db": (36155, 27.6, 2599),
    "queries": (2590, 385.1, 485),
    "fortunes": (32870, 30.3, 2158),
    "updates": (1416, 705.2, 412),
}
# The tests whose goal is req/s as well; for plaintext and json (both
# bound by wrk on one core) the goal is the CPU per request only.
RATE_GOALS = ("db", "queries", "fortunes", "updates")

# A wrk script: plaintext's pipelining (wrk's own pipeline example: each
# "request" is `depth` requests written at once), and the BENCH line.
PIPELINE_LUA = """\
init = function(args)
  local depth = tonumber(args[1]) or 1
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  pipelined = table.concat(requests)
end

request = function()
  return pipelined
end
""" + WRK_REPORT_LUA

CSV_FIELDS = ["test", "server", "round", "status", "requests", "duration_s", "rps", "p50_ms",
              "p99_ms", "errors", "server_cpu_us", "postgres_cpu_us", "note"]


def log(message=""):
    print(message, flush=True)


class Server:
    def __init__(self, name, label, command, needs):
        self.name = name
        self.label = label
        self.command = command  # (options, dsn) -> argv
        self.needs = needs      # (options) -> why it cannot run, or None

    def missing(self, options):
        return self.needs(options)


def final_command(options, dsn):
    return [os.path.join(options.bin, "techempower"), "--address=127.0.0.1",
            "--dsn=" + dsn, "--pool=%d" % options.final_pool, "--processes=%d" % options.processes,
            "--logging=warning"]


def final_missing(options):
    if not os.path.exists(os.path.join(options.bin, "techempower")):
        return "build/bin/techempower is not built (it needs libpq: tools/install-deps.sh build)"
    return None


def tornado_command(options, dsn):
    # The script first (its #! line names Debian's python3): ServerProcess
    # puts --port=0 right after the program.
    return [os.path.join(HERE, "tfb_tornado.py"), "--address=127.0.0.1", "--dsn=" + dsn,
            "--pool=%d" % options.tornado_pool]


def tornado_missing(options):
    probe = subprocess.run([PYTHON, "-c", "import tornado, asyncpg"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        return "python3-tornado and python3-asyncpg are not installed (tools/install-deps.sh db)"
    return None


def drogon_missing(options):
    if not options.drogon:
        return "not asked for (--drogon PROGRAM)"
    if not os.access(options.drogon, os.X_OK):
        return "%s is not a program (tests/bench/build_drogon_tfb.sh builds it)" % options.drogon
    return None


SERVERS = [
    Server("final", "final/examples/techempower (tornado::web, tornado::postgres)",
           final_command, final_missing),
    Server("tornado", "Python Tornado 6 with asyncpg (tests/bench/tfb_tornado.py)",
           tornado_command, tornado_missing),
    Server("drogon", "TechEmpower's Drogon entry, raw SQL (drogon-core), one loop thread "
           "(tests/bench/build_drogon_tfb.sh)", None, drogon_missing),
]


def drogon_config(port, dsn):
    """TFB's config-core.json for the Drogon entry, with this run's address,
    database and one loop thread (TFB: one per core). SyncPlugin answers
    /plaintext and /json, as in TFB's other Drogon configuration."""
    fields = dict(field.split("=", 1) for field in dsn.split())
    return {
        "listeners": [{"address": "127.0.0.1", "port": port, "https": False}],
        "db_clients": [{
            "rdbms": "postgreSQL", "host": fields.get("host", "127.0.0.1"),
            "port": int(fields["port"]), "dbname": fields.get("dbname", "hello_world"),
            "user": fields.get("user", "postgres"), "passwd": "",
            "is_fast": True, "connection_number": 1, "auto_batch": False}],
        "app": {
            "threads_num": 1, "enable_session": False, "document_root": "./",
            "max_connections": 100000, "max_connections_per_ip": 0,
            "log": {"log_level": "WARN"}, "run_as_daemon": False, "relaunch_on_error": False,
            "use_gzip": False,
            "simple_controllers_map": [
                {"path": "/db", "controller": "DbCtrlRaw", "http_methods": ["get"]},
                {"path": "/fortunes", "controller": "FortuneCtrlRaw", "http_methods": ["get"]},
                {"path": "/queries", "controller": "QueriesCtrlRaw", "http_methods": ["get"]},
                {"path": "/updates", "controller": "UpdatesCtrlRaw", "http_methods": ["get"]}]},
        "plugins": [{"name": "SyncPlugin", "dependencies": [], "config": {}}],
    }


class DrogonProcess:
    """The Drogon entry, run as ServerProcess runs ours (port, process,
    stop()): it prints no ready line, so it gets a free port in its config
    and is ready when that port accepts."""

    def __init__(self, program, dsn, run_dir, cpu, stderr, ready_timeout=30):
        self.port = pg_cluster.free_port()
        os.makedirs(run_dir, exist_ok=True)  # its document_root (it makes uploads/ there)
        config = os.path.join(run_dir, "config.json")
        with open(config, "w") as f:
            json.dump(drogon_config(self.port, dsn), f, indent=2)
        command = [program, config]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu)] + command
        self.process = subprocess.Popen(command, cwd=run_dir, stdin=subprocess.DEVNULL,
                                        stdout=stderr, stderr=stderr)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("Drogon did not accept on port %d within %d s" % (
            self.port, ready_timeout))

    def stop(self, grace=5.0):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(self, *exc):
        self.stop()


def cpu_by_process(pids):
    """{pid: seconds on a CPU} of these processes (every thread), from
    schedstat in nanoseconds (c100k.py's cpu_seconds, one process at a time)."""
    return {pid: cpu_seconds([pid]) for pid in pids}


def reaped_children_seconds(pid):
    """CPU time of the children `pid` has reaped (cutime + cstime of
    /proc/PID/stat, in clock ticks): PostgreSQL's short-lived processes
    (autovacuum workers) that end during a run."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU spent by a process tree between start() and stop(): each live
    process's own time, a process born meanwhile counted whole, one that
    ended meanwhile counted through its parent's reaped children."""

    def __init__(self, root_pid):
        self.root = root_pid

    def start(self):
        self.before = cpu_by_process(process_tree(self.root))
        self.reaped_before = reaped_children_seconds(self.root)

    def stop(self):
        after = cpu_by_process(process_tree(self.root))
        spent = sum(seconds - self.before.get(pid, 0.0) for pid, seconds in after.items())
        return spent + reaped_children_seconds(self.root) - self.reaped_before


def wrk_command(port, path, pipelined, connections, seconds, options, pinning):
    depth = [str(PIPELINE_DEPTH)] if pipelined else []
    return pinning.prefix(pinning.wrk_cpu) + [
        "wrk", "-t1", "-c%d" % connections, "-d%gs" % seconds, "--timeout",
        "%ds" % WRK_TIMEOUT, "--latency", "-H", "Connection: keep-alive", "-s",
        options.lua_path, "http://127.0.0.1:%d%s" % (port, path), "--"] + depth


def measure(server_process, postgres_pid, test, options, pinning, raw_file):
    """One measured wrk run after a warm-up: a CSV row's figures, or None and why."""
    name, path, pipelined = test
    connections = options.connections
    port = server_process.port
    warm = wrk_command(port, path, pipelined, connections, WARM_UP, options, pinning)
    run_wrk_command(warm, WARM_UP, raw_file)
    meters = CpuMeter(server_process.process.pid), CpuMeter(postgres_pid)
    for meter in meters:
        meter.start()
    command = wrk_command(port, path, pipelined, connections, options.duration, options, pinning)
    result, problem = run_wrk_command(command, options.duration, raw_file)
    server_cpu, postgres_cpu = (meter.stop() for meter in meters)
    if result is None:
        return None, problem
    seconds = result["duration_us"] / 1e6
    errors = sum(result[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    answered = max(result["requests"] - result["status"], 1)
    return {
        "requests": result["requests"], "duration_s": "%.2f" % seconds,
        "rps": result["requests"] / seconds if seconds else 0,
        "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000, "errors": errors,
        "server_cpu_us": server_cpu / answered * 1e6,
        "postgres_cpu_us": postgres_cpu / answered * 1e6,
    }, ""


def load_database(admin_dsn):
    """TFB's database, hello_world, made afresh (the cluster's folder is
    kept between runs); its dsn over TCP on 127.0.0.1, as a server reaches
    its database in production."""
    psql = tfb_verify.find_psql()
    tfb_verify.Database(psql, admin_dsn).run("DROP DATABASE IF EXISTS hello_world")
    dsn = tfb_verify.prepare_database(psql, admin_dsn, SCHEMA)
    return " ".join("host=127.0.0.1" if field.startswith("host=") else field
                    for field in dsn.split())


def verify(url, dsn, raw_file):
    """TFB's checks on a running server: None if it passes, else why not."""
    run = subprocess.run([sys.executable, VERIFY, "--url", url, "--dsn", dsn],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    output = run.stdout.decode(errors="replace")
    raw_file.write(output)
    if run.returncode == 0:
        return None
    failed = [line for line in output.splitlines() if line.startswith("FAIL")]
    return "TFB's checks failed: " + ("; ".join(failed[:3]) or output.strip()[-300:])


def median(rows, field):
    values = [row[field] for row in rows if row.get(field) not in ("", None)]
    return statistics.median(values) if values else None


def summary(rows, tests, servers):
    """{(test, server): medians over its rounds}."""
    table = {}
    for test, _, _ in tests:
        for server in servers:
            measured = [r for r in rows if r["test"] == test and r["server"] == server.name
                        and r["status"] == "ok"]
            notes = [r["note"] for r in rows if r["test"] == test and r["server"] == server.name
                     and r["note"]]
            table[(test, server.name)] = {
                "rounds": len(measured),
                "rps": median(measured, "rps"), "p99_ms": median(measured, "p99_ms"),
                "errors": sum(r["errors"] for r in measured),
                "server_cpu_us": median(measured, "server_cpu_us"),
                "postgres_cpu_us": median(measured, "postgres_cpu_us"),
                "note": notes[0] if notes else "",
            }
    return table


def fmt(value, pattern="{:,.0f}"):
    return "–" if value is None else pattern.format(value)


def results_table(table, tests):
    lines = ["| test | final req/s | Tornado req/s | final / Tornado | final p99 | Tornado p99 "
             "| final CPU µs/req (server + PostgreSQL) | Tornado CPU µs/req | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for test, _, _ in tests:
        final, tornado = table.get((test, "final"), {}), table.get((test, "tornado"), {})
        ratio = (final["rps"] / tornado["rps"]
                 if final.get("rps") and tornado.get("rps") else None)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            test, fmt(final.get("rps")), fmt(tornado.get("rps")), fmt(ratio, "{:.1f}x"),
            fmt(final.get("p99_ms"), "{:.1f} ms"), fmt(tornado.get("p99_ms"), "{:.1f} ms"),
            cpu_cell(final), cpu_cell(tornado),
            "%s / %s" % (fmt(final.get("errors")), fmt(tornado.get("errors")))))
    return "\n".join(lines)


def cpu_cell(figures):
    if figures.get("server_cpu_us") is None:
        return "–"
    total = figures["server_cpu_us"] + figures["postgres_cpu_us"]
    return "%.1f (%.1f + %.1f)" % (total, figures["server_cpu_us"], figures["postgres_cpu_us"])


def goals_table(table, tests):
    """Each test's goal against Drogon, met or not."""
    lines = ["| test | goal | Drogon | final | met |", "|---|---|---:|---:|---|"]
    for test, _, _ in tests:
        drogon_rps, drogon_cpu, drogon_tornado = DROGON[test]
        final, tornado = table.get((test, "final"), {}), table.get((test, "tornado"), {})
        if test in RATE_GOALS:
            ratio = (final["rps"] / tornado["rps"]
                     if final.get("rps") and tornado.get("rps") else None)
            goal = drogon_rps / drogon_tornado
            lines.append("| %s | req/s ÷ Tornado's, at least Drogon's | %.1fx | %s | %s |" % (
                test, goal, fmt(ratio, "{:.1f}x"), verdict(ratio, goal, at_least=True)))
        cpu = (final["server_cpu_us"] + final["postgres_cpu_us"]
               if final.get("server_cpu_us") is not None else None)
        lines.append("| %s | CPU per request (server + PostgreSQL), at most Drogon's | %.1f µs | %s "
                     "| %s |" % (test, drogon_cpu, fmt(cpu, "{:.1f} µs"),
                                 verdict(cpu, drogon_cpu, at_least=False)))
        # The same goal at this run's machine speed: Python Tornado, saturating
        # one core in both runs, is the yardstick (Drogon's CPU times Tornado's
        # req/s in Drogon's run over Tornado's req/s in this one).
        speed = drogon_tornado / tornado["rps"] if tornado.get("rps") else None
        scaled = drogon_cpu * speed if speed is not None else None
        lines.append("| %s | the same, Drogon's at this run's speed (x %s: Tornado's req/s there "
                     "÷ here) | %s | %s | %s |" % (
                         test, fmt(speed, "{:.2f}"), fmt(scaled, "{:.1f} µs"),
                         fmt(cpu, "{:.1f} µs"), verdict(cpu, scaled, at_least=False)))
    return "\n".join(lines)


def same_run_table(table, tests):
    """final/ against Drogon measured in this run: the goals of the table
    above without a yardstick between machines."""
    lines = ["| test | final req/s | Drogon req/s | final ÷ Drogon | final CPU µs/req "
             "(server + PostgreSQL) | Drogon CPU µs/req | req/s at least Drogon's | "
             "CPU at most Drogon's |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for test, _, _ in tests:
        final, drogon = table.get((test, "final"), {}), table.get((test, "drogon"), {})
        ratio = (final["rps"] / drogon["rps"]
                 if final.get("rps") and drogon.get("rps") else None)
        cpu = {name: figures["server_cpu_us"] + figures["postgres_cpu_us"]
               for name, figures in (("final", final), ("drogon", drogon))
               if figures.get("server_cpu_us") is not None}
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            test, fmt(final.get("rps")), fmt(drogon.get("rps")), fmt(ratio, "{:.2f}"),
            cpu_cell(final), cpu_cell(drogon),
            verdict(ratio, 1.0, at_least=True) if test in RATE_GOALS else "(wrk-bound)",
            verdict(cpu.get("final"), cpu.get("drogon"), at_least=False)))
    return "\n".join(lines)


def verdict(value, goal, at_least):
    if value is None or goal is None:
        return "not measured"
    return "yes" if (value >= goal if at_least else value <= goal) else "**no**"


def write_report(options, rows, table, tests, servers, pinning, facts, seconds, server_version):
    with open(os.path.join(options.out, "tfb.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: ("%.3f" % value if isinstance(value, float) else value)
                             for key, value in row.items()})
    lines = [
        "# The TechEmpower six: final/ against Python Tornado (make bench-tfb)", "",
        "Each test for %g s at %d connections (plaintext: %d requests pipelined on each), "
        "after %d s of warm-up; %d round(s), the servers interleaved; medians over the rounds. "
        "%s. Database connections: final/ %d per process (pipelined), with %d process(es); "
        "Python Tornado %d (asyncpg's pool)." % (
            options.duration, options.connections, PIPELINE_DEPTH, WARM_UP, options.rounds,
            pinning.describe().capitalize(), options.final_pool, options.processes,
            options.tornado_pool), "",
        "| | server |", "|---|---|"]
    lines += ["| %s | %s |" % (server.name, server.label) for server in servers]
    lines += ["", results_table(table, tests), ""]
    notes = [(test, name, figures["note"]) for (test, name), figures in table.items()
             if figures["note"]]
    if notes:
        lines += ["Notes:", ""] + ["- %s, %s: %s" % note for note in notes] + [""]
    lines += ["## Against Drogon", "",
              "Drogon 1.9's TFB app (raw SQL, libpq pipelined on its loop), measured on a "
              "2-core machine like this one with the same layout, beside Python Tornado 6.2 "
              "with asyncpg: its ratio to Tornado is the goal for req/s (a ratio carries "
              "from machine to machine better than req/s), its CPU per request the goal for "
              "CPU. Where the server and PostgreSQL share one busy core, CPU per request is "
              "close to 1 ÷ req/s, and so moves with the machine's speed as req/s does: each "
              "CPU goal is given twice, as measured in Drogon's run and scaled to this run's "
              "speed, with Python Tornado (one saturated core in both runs) as the yardstick.",
              "", goals_table(table, tests), ""]
    if any(name == "drogon" for (_, name) in table):
        lines += ["## Against Drogon, in this run", "",
                  "TechEmpower's own Drogon entry (tests/bench/build_drogon_tfb.sh: Drogon at "
                  "the commit TFB pins, built as TFB builds it) beside final/ in the same "
                  "rounds, on the same core and the same PostgreSQL: the goals with no "
                  "yardstick between machines.", "", same_run_table(table, tests), ""]
    lines += ["## How it was measured", "",
              "- PostgreSQL %s with TechEmpower's settings (tfb_bench.py's "
              "TFB_POSTGRES_SETTINGS, from TFB's postgresql.conf), reached over TCP on "
              "127.0.0.1; TFB's database (create-postgres.sql)." %
              server_version,
              "- wrk: `-t1 -c%d --latency -H 'Connection: keep-alive' --timeout %ds`; CPU per "
              "request: the processes' schedstat before and after the measured run, divided by "
              "the requests answered." % (options.connections, WRK_TIMEOUT),
              "- Each server passed tests/clients/tfb_verify.py before it was loaded.",
              "- The run took %.0f s, on %s UTC." % (
                  seconds, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")), "",
              "| machine | |", "|---|---|"]
    lines += ["| %s | %s |" % fact for fact in facts]
    lines += ["", "Command: %s" % " ".join(["tests/bench/tfb_bench.py"] + options.argv)]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(options.out, "tfb.md"), "w") as f:
        f.write(text)
    return text


def parse_options(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--tests", default=",".join(test[0] for test in TESTS))
    parser.add_argument("--servers", help="default: final,tornado, and drogon with --drogon")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--duration", type=float, default=DURATION,
                        help="seconds of wrk per measured run (default: %d)" % DURATION)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--final-pool", type=int, default=FINAL_POOL,
                        help="final/'s database connections per process (default: %d)"
                        % FINAL_POOL)
    parser.add_argument("--tornado-pool", type=int, default=TORNADO_POOL,
                        help="Python Tornado's asyncpg pool (default: %d)" % TORNADO_POOL)
    parser.add_argument("--processes", type=int, default=1,
                        help="final/'s worker processes (0: one per core)")
    parser.add_argument("--no-pin", action="store_true",
                        help="no taskset: the server, PostgreSQL and wrk share every core "
                             "(for --processes)")
    parser.add_argument("--drogon", metavar="PROGRAM",
                        help="also load TechEmpower's Drogon entry, this drogon_benchmark "
                        "(tests/bench/build_drogon_tfb.sh builds it)")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s per test")
    parser.add_argument("--smoke", action="store_true",
                        help="1 round of 1 s per test at 16 connections; fails on any error")
    options = parser.parse_args(argv)
    options.argv = argv
    if options.quick:
        options.rounds, options.duration = 1, 3
    if options.smoke:
        options.rounds, options.duration, options.connections = 1, 1, 16
    wanted = options.tests.split(",")
    unknown = set(wanted) - {test[0] for test in TESTS}
    if unknown:
        parser.error("unknown test %s; the tests: %s" % (
            ", ".join(sorted(unknown)), ", ".join(test[0] for test in TESTS)))
    options.tests = [test for test in TESTS if test[0] in wanted]
    if options.drogon:
        options.drogon = os.path.abspath(options.drogon)
    wanted = (options.servers or "final,tornado" + (",drogon" if options.drogon else "")).split(",")
    options.servers = [server for server in SERVERS if server.name in wanted]
    if not options.servers or set(wanted) - {server.name for server in SERVERS}:
        parser.error("the servers: " + ", ".join(server.name for server in SERVERS))
    options.out = os.path.abspath(options.out)
    options.bin = os.path.abspath(options.bin)
    return options


def start_server(server, options, dsn, pinning, stderr_file):
    cpu = pinning.server_cpu if pinning.enabled else None
    if server.name == "drogon":
        return DrogonProcess(options.drogon, dsn, os.path.join(options.out, "drogon-run"), cpu,
                             stderr_file)
    program, *arguments = server.command(options, dsn)
    process = ServerProcess(program, *arguments,
                            cpu=cpu, stderr=stderr_file, ready_timeout=30)
    process.__enter__()
    return process


def main(argv):
    options = parse_options(argv)
    for tool in ("wrk", "psql"):
        if shutil.which(tool) is None:
            log("tfb_bench.py: %s is needed (tools/install-deps.sh build bench)" % tool)
            return MISSING
    began = time.monotonic()
    raw = os.path.join(options.out, "raw")
    os.makedirs(raw, exist_ok=True)
    options.lua_path = os.path.join(raw, "tfb-pipeline.lua")
    with open(options.lua_path, "w") as lua:
        lua.write(PIPELINE_LUA)
    fd_limit = raise_fd_limit(options.connections * 2 + 1000)
    pinning = Pinning()
    if options.no_pin:
        pinning.enabled = False
    servers, rows = [], []
    for server in options.servers:
        why = server.missing(options)
        if why is None:
            servers.append(server)
            continue
        log("%s: not available, %s" % (server.name, why))
        if options.smoke and server.name == "final":
            return 1
        rows += [dict(test=test[0], server=server.name, round="", status="not available",
                      note=why) for test in options.tests]
    directory = os.path.join(options.out, "tfb-cluster")
    try:
        admin_dsn = pg_cluster.start(directory, tls=False, settings=TFB_POSTGRES_SETTINGS)
    except pg_cluster.ClusterError as error:
        log("tfb_bench.py: %s" % error)
        return MISSING
    running = {}
    failed = False
    server_version = "?"
    try:
        postgres_pid = pg_cluster.server_pid(directory)
        pinning.pin_tree(postgres_pid)
        dsn = load_database(admin_dsn)
        server_version = tfb_verify.Database(tfb_verify.find_psql(), dsn).run(
            "SHOW server_version") or "?"
        log("PostgreSQL %s in %s; %s; %d round(s) of %g s at %d connections" % (
            server_version, directory, pinning.describe(), options.rounds, options.duration,
            options.connections))
        for server in servers:
            with open(os.path.join(raw, "tfb-%s.server.txt" % server.name), "w") as stderr_file, \
                    open(os.path.join(raw, "tfb-%s.verify.txt" % server.name), "w") as report:
                try:
                    process = start_server(server, options, dsn, pinning, stderr_file)
                except Exception as error:  # it did not start: its row says why
                    why = "did not start: %s" % error
                else:
                    why = verify("http://127.0.0.1:%d" % process.port, dsn, report)
                    if why is None:
                        running[server.name] = process
                    else:
                        process.__exit__(None, None, None)
            if why:
                log("%s: %s" % (server.name, why))
                failed = True
                rows += [dict(test=test[0], server=server.name, round="", status="failed",
                              note=why) for test in options.tests]
        total = len(options.tests) * options.rounds * len(running)
        done = 0
        with open(os.path.join(raw, "tfb-wrk.txt"), "w") as raw_file:
            for test in options.tests:
                for round_number in range(1, options.rounds + 1):
                    for server in servers:
                        if server.name not in running:
                            continue
                        figures, problem = measure(running[server.name], postgres_pid, test,
                                                   options, pinning, raw_file)
                        done += 1
                        row = dict(test=test[0], server=server.name, round=round_number,
                                   status="ok" if figures else "failed", note=problem)
                        row.update(figures or {})
                        rows.append(row)
                        if figures is None or (options.smoke and figures["errors"]):
                            failed = True
                        log("[%2d/%d] %-9s %-8s round %d  %s" % (
                            done, total, test[0], server.name, round_number,
                            "%9s req/s  p99 %7.1f ms  errors %d  CPU %.1f + %.1f µs/req" % (
                                fmt(figures["rps"]), figures["p99_ms"], figures["errors"],
                                figures["server_cpu_us"], figures["postgres_cpu_us"])
                            if figures else "failed: " + problem))
    finally:
        for process in running.values():
            process.__exit__(None, None, None)
        pg_cluster.stop(directory)
    table = summary(rows, options.tests, options.servers)
    facts = machine_facts(fd_limit)
    text = write_report(options, rows, table, options.tests, options.servers, pinning, facts,
                        time.monotonic() - began, server_version)
    log("")
    log(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
