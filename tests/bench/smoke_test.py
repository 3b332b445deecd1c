#!/usr/bin/env python3
"""bench.smoke: run_bench.py --quick runs end to end and writes its CSV.

    python3 tests/bench/smoke_test.py --bin build/bin --out build/tests/bench/smoke

Runs the harness against whatever demo servers exist (1 s runs, 2 levels),
then checks results.csv: the expected columns, a row for every server found
at every level plus its slow-client run, and no run that failed (a server
that did not start or died, or wrk that printed no result). The websocket
scenario runs with final_websocket only: a few seconds that take ws_load
and the scenario's code end to end. When /usr/bin/python3 has matplotlib
it also draws the plot. Exits 77 (CTest's
SKIP_RETURN_CODE) when wrk is not installed. Numbers are not checked: speed
targets belong in benchmarks, not in tests.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_bench  # noqa: E402

SKIP = 77
LEVELS = [10, 100]
# Of the websocket scenario's servers, the one make test builds (Beast's is
# built by make bench alone): a second server would double the scenario's
# seconds.
WEBSOCKET_SERVERS = ["final_websocket"]
SYSTEM_PYTHON = "/usr/bin/python3"


def fail(message):
    print("FAIL: " + message, flush=True)
    return 1


def expected_runs(bin_dir):
    runs = set()
    for server in run_bench.SERVERS:
        if os.access(server.path(bin_dir), os.X_OK):
            runs.update(("load", server.name, level) for level in LEVELS)
            runs.add(("slow", server.name, run_bench.WELL_BEHAVED))
    if os.access(os.path.join(bin_dir, run_bench.LOAD_GENERATOR), os.X_OK):
        for server in run_bench.WEBSOCKET_SERVERS:
            if server.name in WEBSOCKET_SERVERS and os.access(server.path(bin_dir), os.X_OK):
                runs.update(("websocket", server.name, level)
                            for level in run_bench.WEBSOCKET_LEVELS)
    return runs


def servers_to_run():
    """Every server of the harness but the websocket ones left out above."""
    everyone = (run_bench.SERVERS + run_bench.BACKEND_SERVERS + run_bench.FRAMEWORK_SERVERS
                + run_bench.WEBSOCKET_SERVERS)
    return ",".join(s.name for s in everyone
                    if s not in run_bench.WEBSOCKET_SERVERS or s.name in WEBSOCKET_SERVERS)


def check_csv(path, bin_dir):
    if not os.path.isfile(path):
        return fail("%s was not written" % path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != run_bench.CSV_FIELDS:
            return fail("unexpected CSV header %s" % reader.fieldnames)
        rows = list(reader)
    seen = {(r["scenario"], r["server"], int(r["connections"])) for r in rows}
    missing = expected_runs(bin_dir) - seen
    if missing:
        return fail("no CSV row for %s" % sorted(missing))
    broken = [r for r in rows if r["status"] in ("failed", "server died")]
    if broken:
        return fail("; ".join("%s %s %s conns: %s %s" % (r["server"], r["scenario"],
                                                          r["connections"], r["status"], r["note"])
                              for r in broken))
    print("results.csv: %d rows, servers: %s" % (
        len(rows), ", ".join(sorted({r["server"] for r in rows})) or "none built yet"))
    return 0


def has_matplotlib():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import matplotlib"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        print("SKIP: wrk is not installed (tools/install-deps.sh bench installs it)")
        return SKIP

    csv_path = os.path.join(options.out, "results.csv")
    if os.path.exists(csv_path):
        os.remove(csv_path)  # a stale file must not pass for a fresh one
    harness = [sys.executable, os.path.join(HERE, "run_bench.py"), "--quick",
               "--duration", "1", "--levels", ",".join(map(str, LEVELS)),
               "--servers", servers_to_run(),
               "--bin", options.bin, "--out", options.out]
    # Bounded well above its minute alone: make test runs it beside other tests.
    run = subprocess.run(harness, timeout=150)
    if run.returncode != 0:
        return fail("run_bench.py exited with %d" % run.returncode)
    status = check_csv(csv_path, options.bin)
    if status or not has_matplotlib():
        return status
    plot = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "plot.py"), csv_path, options.out],
                          timeout=60)
    if plot.returncode != 0 or not os.path.isfile(os.path.join(options.out, "bench.png")):
        return fail("plot.py did not draw bench.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
