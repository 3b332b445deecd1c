#!/usr/bin/env python3
"""tornado::postgres against a floor in plain C, in the same run:
`make bench-postgres`.

    python3 tests/bench/postgres_bench.py --bin build/bin --out build/bench
    python3 tests/bench/postgres_bench.py --quick              # 1 round of 2 s per run
    python3 tests/bench/postgres_bench.py --duration 10 --rounds 5

Both clients run the same query, "SELECT id, randomnumber FROM world WHERE
id = $1" with a random id (TechEmpower's single-row lookup on its 10,000-row
table), read the row's two integers, and start the next, on ONE connection:

  floor           postgres_floor.c: libpq's pipeline mode in plain C, a
                  poll(2) loop and nothing else; one Sync per query
  tornado         postgres_bench.cpp: a tornado::postgres::Pool of one
                  connection, N coroutines on one IOLoop, each awaiting its
                  query in turn

with N = 1 (one query at a time: a round trip each) and N = 256 (pipelined:
256 in flight). A third row runs the framework's 256 coroutines with
max_pipeline = 1: the same work sent one query at a time, what pipelining
buys. The cluster is Debian's PostgreSQL (tools/pg_cluster.py, fsync off),
pinned to core 1, the clients to core 0 (taskset). The rounds visit every
set-up in turn; a figure is its median round.

For each run: queries per second; the client's CPU time per query (its
rusage); the server's (the postmaster's own and its reaped children's CPU
time, /proc/PID/stat, before and after: the session's backend has exited
and been reaped by then). Then the framework's queries/s as a fraction of
the floor's at the same N, beside the goal: at least 0.9 with 256 in
flight. Goals are printed, never enforced here.

Writes OUT/postgres.md (the table, the method, the machine and the
command) and prints it; exits 0 when every run gave its figures, 1 when
one failed, 77 (CTest's "skipped") when something it needs is missing
(the server, taskset, psql, the programs). Standard library only.
"""
import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools"))
import pg_cluster  # noqa: E402

TABLE_ROWS = 10000
GOAL = 0.9
MISSING = 77
CLIENT_CPU, SERVER_CPU = "0", "1"
# (name, program, in flight, max_pipeline or None)
SETUPS = [
    ("floor", "postgres_floor", 1, None),
    ("tornado", "postgres_bench", 1, None),
    ("floor", "postgres_floor", 256, None),
    ("tornado", "postgres_bench", 256, None),
    ("tornado, one at a time", "postgres_bench", 256, 1),
]


def log(message):
    print(message, file=sys.stderr, flush=True)


def clock_ticks(pid):
    """utime + stime + cutime + cstime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as listed:
        return set(listed.read().split())


def wait_for_children(pid, baseline, timeout=5.0):
    """Until the postmaster has reaped the run's backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and children(pid) - baseline:
        time.sleep(0.01)


def make_table(dsn):
    sql = ("CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL);"
           "INSERT INTO world SELECT n, 1 + floor(random() * 10000)::int FROM generate_series(1, %d) n;"
           "ANALYZE world;" % TABLE_ROWS)
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def run_once(bin_dir, setup, dsn, duration, postmaster, raw_file):
    name, program, in_flight, max_pipeline = setup
    command = ["taskset", "-c", CLIENT_CPU, os.path.join(bin_dir, program), dsn, str(in_flight),
               str(duration)]
    if max_pipeline is not None:
        command.append(str(max_pipeline))
    baseline = children(postmaster)
    server_before = clock_ticks(postmaster)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=raw_file, text=True)
    output, _ = process.communicate(timeout=duration + 60)
    wait_for_children(postmaster, baseline)
    server_seconds = clock_ticks(postmaster) - server_before
    raw_file.write(output)
    if process.returncode != 0 or not output.startswith("queries "):
        return None, "%s exited %s: %s" % (program, process.returncode, output.strip())
    fields = output.split()
    queries, seconds = int(fields[1]), float(fields[3])
    return {"qps": queries / seconds, "queries": queries, "server_cpu": server_seconds}, None


def client_cpu_seconds(before):
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def measure(options, dsn, postmaster):
    rounds = {index: [] for index in range(len(SETUPS))}
    problems = []
    raw_dir = os.path.join(options.out, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    for round_number in range(options.rounds):
        order = list(range(len(SETUPS)))
        order = order[round_number % len(order):] + order[:round_number % len(order)]
        for index in order:
            setup = SETUPS[index]
            label = "%s-%d%s" % (setup[0].replace(", ", "-").replace(" ", "-"), setup[2],
                                 "" if setup[3] is None else "-pipeline%d" % setup[3])
            with open(os.path.join(raw_dir, "postgres-%s.txt" % label), "a") as raw_file:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                result, problem = run_once(options.bin, setup, dsn, options.duration, postmaster,
                                           raw_file)
            if problem:
                problems.append(problem)
                log("[postgres] %-24s N=%-3d round %d: FAILED %s" % (setup[0], setup[2],
                                                                     round_number + 1, problem))
                continue
            # The taskset wrapper execs the program: its rusage is the client's.
            result["client_cpu"] = client_cpu_seconds(before)
            rounds[index].append(result)
            log("[postgres] %-24s N=%-3d round %d: %9.0f queries/s" % (setup[0], setup[2],
                                                                       round_number + 1, result["qps"]))
    return rounds, problems


def median_round(results):
    """The round whose queries/s is the median (its other figures with it)."""
    ordered = sorted(results, key=lambda result: result["qps"])
    return ordered[(len(ordered) - 1) // 2]


def report(options, rounds, problems, server_version):
    rows = []
    medians = {}
    for index, setup in enumerate(SETUPS):
        if not rounds[index]:
            continue
        medians[index] = median_round(rounds[index])
    for index, setup in enumerate(SETUPS):
        name, _, in_flight, max_pipeline = setup
        if index not in medians:
            rows.append("| %s | %d | failed | | | | |" % (name, in_flight))
            continue
        median = medians[index]
        floor_index = next(i for i, s in enumerate(SETUPS) if s[0] == "floor" and s[2] == in_flight)
        ratio = ""
        if name != "floor" and floor_index in medians:
            ratio = "%.2f" % (median["qps"] / medians[floor_index]["qps"])
        spread = ", ".join("%.0f" % r["qps"] for r in rounds[index])
        rows.append("| %s | %d%s | %.0f | %s | %.1f | %.1f | %s |" % (
            name, in_flight, "" if max_pipeline is None else " (1 sent at a time)", median["qps"],
            ratio, median["client_cpu"] / median["queries"] * 1e6,
            median["server_cpu"] / median["queries"] * 1e6, spread))
    verdict = "not measured"
    if 3 in medians and 2 in medians:
        ratio = medians[3]["qps"] / medians[2]["qps"]
        verdict = "%.2f of the floor with 256 in flight: goal (at least %.1f) %s" % (
            ratio, GOAL, "met" if ratio >= GOAL else "NOT met")
    gain = ""
    if 3 in medians and 4 in medians:
        gain = ("Pipelining (256 in flight against the same 256 coroutines sending one query at "
                "a time): %.1fx the queries per second.\n" % (medians[3]["qps"] / medians[4]["qps"]))
    text = """# tornado::postgres against libpq alone (make bench-postgres)

One connection, "SELECT id, randomnumber FROM world WHERE id = $1" with a
random id, each row read. Client on core %s, PostgreSQL on core %s. Median
of %d rounds of %g s.

| client | in flight | queries/s | of the floor | client CPU µs/query | server CPU µs/query | every round (queries/s) |
|---|---:|---:|---:|---:|---:|---|
%s

Verdict: %s.
%s
Machine: %s, %d cores; %s; libpq %s.
Command: %s
""" % (CLIENT_CPU, SERVER_CPU, options.rounds, options.duration, "\n".join(rows), verdict, gain,
       platform.machine(), os.cpu_count(), server_version, libpq_version(),
       " ".join(sys.argv))
    if problems:
        text += "\nProblems:\n" + "\n".join("- " + problem for problem in problems) + "\n"
    os.makedirs(options.out, exist_ok=True)
    with open(os.path.join(options.out, "postgres.md"), "w") as out:
        out.write(text)
    print(text)


def libpq_version():
    try:
        return subprocess.run(["pg_config", "--version"], capture_output=True, text=True).stdout.split()[1]
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="build/bin")
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s per run")
    options = parser.parse_args()
    if options.quick:
        options.duration, options.rounds = 2.0, 1
    for program in ("postgres_floor", "postgres_bench"):
        if not os.access(os.path.join(options.bin, program), os.X_OK):
            log("postgres_bench.py: %s is not built in %s" % (program, options.bin))
            return MISSING
    if shutil.which("taskset") is None or shutil.which("psql") is None:
        log("postgres_bench.py: taskset and psql are needed (tools/install-deps.sh build bench)")
        return MISSING
    directory = os.path.join(os.path.abspath(options.out), "postgres-cluster")
    try:
        dsn = pg_cluster.start(directory, tls=False)
    except pg_cluster.ClusterError as error:
        log("postgres_bench.py: %s" % error)
        return MISSING
    try:
        postmaster = pg_cluster.server_pid(directory)
        # Every process it forks from now on (the sessions' backends) runs there too.
        subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CPU, str(postmaster)], check=True,
                       stdout=subprocess.DEVNULL)
        make_table(dsn)
        server_version = subprocess.run(["psql", "-At", dsn, "-c", "SHOW server_version"],
                                        capture_output=True, text=True).stdout.strip()
        rounds, problems = measure(options, dsn, postmaster)
        report(options, rounds, problems, "PostgreSQL " + server_version)
    finally:
        pg_cluster.stop(directory, remove=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
