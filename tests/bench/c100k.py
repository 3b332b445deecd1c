#!/usr/bin/env python3
"""C100K: one server holding 100,000 idle keep-alive connections.

    python3 tests/bench/c100k.py [--bin build/bin] [--out build/bench]
                                 [--connections 100000] [--probes 200]
                                 [--servers final_hello,final_hello_io_uring,nginx]

Tornado is chosen for many connections that mostly wait (long polls, chat,
WebSockets). For each server, one after the other in the same run:

1. start it (pinned to one core, this script on another), ask GET / once,
   then 2,000 times more on one keep-alive connection (the warm-up: what
   the server sets up once, such as the io_uring loop's receive buffers,
   is then in the "before" reading);
2. open the connections, at most 200 being opened at a time, from
   127.0.0.1 to 127.0.0.4 (one source address has only about 28,000
   ephemeral ports): each sends GET /, reads the answer and then stays open
   and silent. The time this takes gives the accept rate (a connection and
   its first request per connection);
3. with all of them held, `--probes` new connections one after the other,
   each timed from connect() to the last byte of its answer;
4. its resident memory (VmRSS) before (after the warm-up) and after, ÷ the
   connections.

The descriptor limit is raised for us and the servers (root may raise the
hard limit). Every step is bounded in time, and each server is stopped by
its PID. Writes c100k.md and c100k.csv into --out. Standard library only.
"""
import argparse
import csv
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import (FRAMEWORK_SERVERS, IdleConnections, Pinning, fetch_hello, warm_up,  # noqa: E402
                       markdown_table, open_descriptors, proc_status, raise_fd_limit,
                       fmt_count)

DEFAULT_SERVERS = "final_hello,final_hello_io_uring,nginx"
SOURCES = ["127.0.0.%d" % i for i in range(1, 5)]
OPEN_TIMEOUT = 240.0            # seconds to open them all, at most
GOAL_BYTES_PER_CONNECTION = 0.6 * 1024
GOAL_PROBE_MS = 5.0             # a new request answered within, at p99
CSV_FIELDS = ["server", "wanted", "opened", "held", "open_seconds", "accepts_per_second",
              "rss_before_kb", "rss_after_kb", "bytes_per_connection",
              "probe_p50_ms", "probe_p99_ms", "probe_max_ms", "probe_failures", "note"]


def timed_probe(port):
    """One new connection and its GET /: milliseconds, or None if it failed."""
    start = time.perf_counter()
    _, problem = fetch_hello(port)
    elapsed = (time.perf_counter() - start) * 1000
    return None if problem else elapsed


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(server, options, pinning):
    row = {"server": server.name, "wanted": options.connections, "note": ""}
    stderr_path = os.path.join(options.out, "c100k-%s.server-stderr.txt" % server.name)
    with open(stderr_path, "w") as stderr_file:
        extra = {"env": server.env} if server.env else {}
        process = server.launcher(server.path(options.bin), *server.arguments(options.out),
                                  cpu=pinning.server_cpu, stderr=stderr_file, **extra)
        try:
            process.__enter__()
        except (OSError, RuntimeError) as error:
            row["note"] = "did not start: %s" % error
            return row
        try:
            _, problem = fetch_hello(process.port)
            problem = problem or warm_up(process.port)
            if problem:
                row["note"] = problem
                return row
            time.sleep(0.2)
            before = proc_status(process.pid)
            base_fds = open_descriptors(process.pid)
            started = time.monotonic()
            with IdleConnections(process.port, options.connections, timeout=OPEN_TIMEOUT,
                                 sources=SOURCES) as idle:
                took = time.monotonic() - started
                time.sleep(1.0)  # the last answers written, the server waiting again
                after = proc_status(process.pid)
                held = open_descriptors(process.pid) - base_fds
                probes = [timed_probe(process.port) for _ in range(options.probes)]
                opened = len(idle.sockets)
            alive = process.process.poll() is None
        finally:
            process.stop(grace=5.0)
    if not alive or before is None or after is None:
        row["note"] = "the server exited while the connections were open"
        return row
    answered = [p for p in probes if p is not None]
    row.update(opened=opened, held=held, open_seconds="%.1f" % took,
               accepts_per_second="%.0f" % (opened / took) if took else "",
               rss_before_kb=before["VmRSS"], rss_after_kb=after["VmRSS"],
               probe_failures=len(probes) - len(answered))
    if opened:
        row["bytes_per_connection"] = "%.0f" % ((after["VmRSS"] - before["VmRSS"]) * 1024 / opened)
    if answered:
        row.update(probe_p50_ms="%.2f" % statistics.median(answered),
                   probe_p99_ms="%.2f" % percentile(answered, 0.99),
                   probe_max_ms="%.2f" % max(answered))
    if opened < options.connections:
        row["note"] = "%s of %s opened in %.0f s" % (fmt_count(opened),
                                                     fmt_count(options.connections), took)
    return row


def verdict(value, goal):
    if value in ("", None):
        return "-"
    return "met" if float(value) <= goal else "not met"


def report(rows, options):
    cells = []
    for row in rows:
        if not row.get("opened"):
            what = row["note"] if row.get("unavailable") else "failed: " + row["note"]
            cells.append([row["server"], what] + ["-"] * 5)
            continue
        cells.append([
            row["server"],
            "%s (%s held)" % (fmt_count(row["opened"]), fmt_count(row["held"])),
            "{:,} /s ({} s)".format(int(row["accepts_per_second"]), row["open_seconds"]),
            "**{:,} B** ({}; {} → {} kB)".format(
                int(row["bytes_per_connection"]),
                verdict(row["bytes_per_connection"], GOAL_BYTES_PER_CONNECTION),
                fmt_count(row["rss_before_kb"]), fmt_count(row["rss_after_kb"])),
            "%s / **%s** / %s ms (%s)" % (row.get("probe_p50_ms", "-"),
                                          row.get("probe_p99_ms", "-"),
                                          row.get("probe_max_ms", "-"),
                                          verdict(row.get("probe_p99_ms"), GOAL_PROBE_MS)),
            str(row["probe_failures"]),
            row["note"] or "-"])
    header = ["server", "idle connections", "opened at (each: connect + one request)",
              "memory per connection (goal ≤ %.0f B)" % GOAL_BYTES_PER_CONNECTION,
              "new request while held: p50 / p99 / max (goal p99 < %g ms)" % GOAL_PROBE_MS,
              "probes failed", "note"]
    lines = ["# C100K: %s idle keep-alive connections" % fmt_count(options.connections), ""]
    if options.limited_by:
        lines += ["Fewer than asked: this machine's descriptor limit is %s per process, and "
                  "raising it needs CAP_SYS_RESOURCE, which this process lacks." %
                  fmt_count(options.limited_by), ""]
    lines += [markdown_table(header, cells), "",
             "Command: `make bench-c100k` (`python3 tests/bench/c100k.py --connections %d "
             "--probes %d`). Memory: the server's VmRSS with the connections open minus "
             "before, ÷ the connections (the kernel's socket buffers are not in it). "
             "Probes: %d new connections, one at a time, each timed from connect() to the "
             "end of its answer." % (options.connections, options.probes, options.probes), ""]
    with open(os.path.join(options.out, "c100k.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(options.out, "c100k.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "build", "bench"))
    parser.add_argument("--connections", type=int, default=100000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--servers", default=DEFAULT_SERVERS)
    options = parser.parse_args()
    os.makedirs(options.out, exist_ok=True)
    by_name = {s.name: s for s in FRAMEWORK_SERVERS}
    servers = []
    for name in options.servers.split(","):
        if name not in by_name:
            parser.error("unknown server %s (one of %s)" % (name, ", ".join(by_name)))
        servers.append(by_name[name])
    # Each of us and the server holds one descriptor per connection, plus a
    # few: 1,000 to spare. Raising the hard limit takes CAP_SYS_RESOURCE;
    # without it (as in some containers) fewer connections are opened, and
    # the report says so.
    limit = raise_fd_limit(options.connections + 1000)
    options.limited_by = None
    if limit < options.connections + 1000:
        options.limited_by = limit
        options.connections = (limit - 1000) // 1000 * 1000
        print("c100k: the descriptor limit is %s and cannot be raised here: %s connections"
              % (fmt_count(limit), fmt_count(options.connections)), flush=True)
    pinning = Pinning()
    if pinning.enabled:
        os.sched_setaffinity(0, {pinning.wrk_cpu})  # the server's core is its own
    rows = []
    for server in servers:
        missing = server.missing(options.bin)
        if missing:
            rows.append({"server": server.name, "note": "not available: " + missing,
                         "unavailable": True})
            continue
        print("c100k: %s, %s connections ..." % (server.name, fmt_count(options.connections)),
              flush=True)
        rows.append(measure(server, options, pinning))
    report(rows, options)
    # A server that is not installed is reported, not failed.
    return 0 if all(row.get("opened") or row.get("unavailable") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
