#!/usr/bin/env python3
"""Broadcast fan-out: one chat message delivered to 10,000 waiting clients.

    python3 tests/bench/fanout_bench.py [--bin build/bin] [--out build/bench]
                                        [--clients 10000] [--repeats 20]

The demo app's chat (DEMO_APP.md) in two servers, in the same run: ours
(build/bin/demo_app, on epoll and on the io_uring IOLoop) and Python
Tornado 6.2 running the same contract (tests/clients/demo_app_tornado.py).
For each server and each way of waiting, fanout_load (fanout_load.cpp)
parks --clients waiters, posts one message, and times until the last
waiter has it; --repeats times over. Long poll: every waiter has a POST
/chat/updates pending; WebSocket: every waiter is connected to /chat/ws.

A third server is the floor (bare_fanout.cpp): it answers the same
requests and sends each message by one send() per waiter, and does
nothing else. Tornado's time ÷ the floor's is the most any server could
be ahead of Tornado on this machine with this client.

The server runs on one core and fanout_load on the other. The goal: ours at
least 20 times faster than Tornado (the median repeat's last delivery).
Writes fanout.md and fanout.csv into --out. Standard library only.
"""
import argparse
import csv
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
from run_bench import Pinning, markdown_table, raise_fd_limit  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
TORNADO_APP = os.path.join(ROOT, "tests", "clients", "demo_app_tornado.py")
DEMO_STATIC = os.path.join(ROOT, "final", "examples", "demo_app", "static")
MODES = ["longpoll", "websocket"]
GOAL_VS_TORNADO = 20.0
# (name, what it is, command before --port=0, extra environment)
SERVERS = [
    ("demo_app", "final/: the demo app's chat, epoll IOLoop", ["{bin}/demo_app"], {}),
    ("demo_app_io_uring", "the same on the io_uring IOLoop", ["{bin}/demo_app"],
     {"TORNADO_IOLOOP": "io_uring"}),
    ("tornado", "Python Tornado 6.2: the same chat (demo_app_tornado.py)",
     [SYSTEM_PYTHON, TORNADO_APP], {}),
    ("floor", "bare_fanout.cpp: epoll, one send() per waiter and nothing else",
     ["{bin}/bare_fanout"], {}),
]
CSV_FIELDS = ["server", "mode", "clients", "repeats", "failed", "last_p50_ms", "last_p99_ms",
              "median_p50_ms", "server_busy_pct", "note"]


def start(command, env, pinning, stderr):
    # --logging=warning: no access-log line per request in either server.
    process = ServerProcess(command[-1], "--address=127.0.0.1", "--logging=warning",
                            "--static_path=" + DEMO_STATIC, cpu=None, stderr=stderr, env=env,
                            ready_timeout=30.0)
    process.command = command[:-1] + process.command
    if pinning.enabled:
        process.command = ["taskset", "-c", str(pinning.server_cpu)] + process.command
    process.__enter__()
    return process


def run_one(server, mode, options, pinning):
    name, _, command, env = server
    row = {"server": name, "mode": mode, "clients": options.clients, "note": ""}
    command = [part.replace("{bin}", options.bin) for part in command]
    stderr_path = os.path.join(options.out, "fanout-%s-%s.server-stderr.txt" % (name, mode))
    with open(stderr_path, "w") as stderr:
        try:
            process = start(command, env, pinning, stderr)
        except (OSError, RuntimeError) as error:
            row["note"] = "did not start: %s" % error
            return row
        try:
            load = [os.path.join(options.bin, "fanout_load"), "--port=%d" % process.port,
                    "--mode=" + mode, "--clients=%d" % options.clients,
                    "--repeats=%d" % options.repeats, "--server-pid=%d" % process.pid]
            if pinning.enabled:
                load = ["taskset", "-c", str(pinning.wrk_cpu)] + load
            try:
                result = subprocess.run(load, capture_output=True, text=True,
                                        timeout=60 + options.repeats * 40)
                output = result.stdout
            except subprocess.TimeoutExpired as error:
                output = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
                row["note"] = "fanout_load timed out"
        finally:
            process.stop(grace=5.0)
    with open(os.path.join(options.out, "fanout-%s-%s.load.txt" % (name, mode)), "w") as f:
        f.write(output)
    summary = re.search(r"SUMMARY .*repeats=(\d+) failed=(\d+) last_p50_ms=([\d.]+) "
                        r"last_p99_ms=([\d.]+) server_busy_p50_pct=(\d+)", output)
    medians = sorted(float(m) for m in re.findall(r"REPEAT .* median_ms=([\d.]+)", output))
    if summary is None or int(summary.group(1)) == 0:
        row["note"] = row["note"] or "no result; see fanout-%s-%s.load.txt" % (name, mode)
        return row
    row.update(repeats=int(summary.group(1)), failed=int(summary.group(2)),
               last_p50_ms=float(summary.group(3)), last_p99_ms=float(summary.group(4)),
               server_busy_pct=int(summary.group(5)),
               median_p50_ms=medians[len(medians) // 2] if medians else "")
    if row["failed"]:
        row["note"] = "a repeat did not reach every client; see the .load.txt"
    return row


def report(rows, options):
    by_key = {(r["server"], r["mode"]): r for r in rows}
    cells, goals = [], []
    for name, what, _, _ in SERVERS:
        line = [name, what]
        for mode in MODES:
            row = by_key.get((name, mode), {})
            if "last_p50_ms" in row:
                line.append("%.1f / %.1f ms (half had it by %.1f ms; server busy %d%%)" % (
                    row["last_p50_ms"], row["last_p99_ms"], row["median_p50_ms"],
                    row["server_busy_pct"]))
            else:
                line.append(row.get("note") or "-")
        cells.append(line)
    for mode in MODES:
        tornado = by_key.get(("tornado", mode), {}).get("last_p50_ms")
        for name in ("demo_app", "demo_app_io_uring"):
            ours = by_key.get((name, mode), {}).get("last_p50_ms")
            if ours and tornado:
                ratio = tornado / ours
                goals.append([name, mode, "%.1f ms ÷ %.1f ms" % (tornado, ours), "**%.1fx**" % ratio,
                              "≥ %.0fx" % GOAL_VS_TORNADO,
                              "met" if round(ratio, 1) >= GOAL_VS_TORNADO else "not met"])
            else:
                goals.append([name, mode, "-", "-", "≥ %.0fx" % GOAL_VS_TORNADO, "not available"])
    # The floor is the most any server could be ahead of Tornado on this
    # machine with this client: the kernel's sends and the client's reads.
    ceilings = []
    for mode in MODES:
        floor = by_key.get(("floor", mode), {}).get("last_p50_ms")
        tornado = by_key.get(("tornado", mode), {}).get("last_p50_ms")
        if not floor:
            continue
        ours = ["%s %.2fx" % (name, by_key[(name, mode)]["last_p50_ms"] / floor)
                for name in ("demo_app", "demo_app_io_uring")
                if by_key.get((name, mode), {}).get("last_p50_ms")]
        ceilings.append([mode, "%.1f ms" % floor,
                         "%d%%" % by_key[("floor", mode)]["server_busy_pct"],
                         "**%.1fx**" % (tornado / floor) if tornado else "-",
                         ", ".join(ours) or "-"])
    header = ["server", "what it is"] + [
        "%s: last delivery p50 / p99 over %d repeats" % (
            "long poll" if mode == "longpoll" else "WebSocket", options.repeats) for mode in MODES]
    lines = ["# Broadcast fan-out: one message to %s waiting clients" % "{:,}".format(options.clients),
             "", "## The goal", "",
             markdown_table(["server", "waiting by", "Tornado ÷ ours (p50 of the last delivery)",
                             "result", "goal", "verdict"], goals), "",
             "## The floor", "",
             "A server that does nothing but one send() per waiter (bare_fanout.cpp): Tornado ÷ "
             "floor is the most any server can be ahead of Tornado here. Its server busy: how "
             "long it ran on its core between the message and the last delivery, ÷ that time "
             "(p50 over the repeats); near 100%, the server's core, that is the kernel's "
             "sends, was the bound and not the client.", "",
             markdown_table(["waiting by", "floor (p50 of the last delivery)",
                             "floor's server busy", "Tornado ÷ floor", "ours ÷ floor"], ceilings)
             if ceilings
             else "(not run)", "",
             "## Every server", "", markdown_table(header, cells), "",
             "Command: `make bench-fanout` (`python3 tests/bench/fanout_bench.py --clients %d "
             "--repeats %d`). Each repeat: the waiters parked (the server's CPU time has stopped "
             "growing), one message posted, the time until the last waiter has its whole answer "
             "(long poll) or frame (WebSocket). Server on one core, fanout_load on the other." % (
                 options.clients, options.repeats), ""]
    text = "\n".join(lines)
    with open(os.path.join(options.out, "fanout.md"), "w") as f:
        f.write(text)
    with open(os.path.join(options.out, "fanout.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--servers", default=",".join(s[0] for s in SERVERS),
                        help="comma-separated: demo_app,demo_app_io_uring,tornado,floor")
    options = parser.parse_args()
    options.bin = os.path.abspath(options.bin)
    os.makedirs(options.out, exist_ok=True)
    raise_fd_limit(options.clients + 1000)
    wanted = options.servers.split(",")
    pinning = Pinning()
    rows = []
    for server in SERVERS:
        if server[0] not in wanted:
            continue
        if server[0] == "tornado" and subprocess.run(
                [SYSTEM_PYTHON, "-c", "import tornado"], capture_output=True).returncode != 0:
            rows += [{"server": "tornado", "mode": m, "note": "python3-tornado is not installed"}
                     for m in MODES]
            continue
        for mode in MODES:
            print("fanout: %s, %s ..." % (server[0], mode), flush=True)
            rows.append(run_one(server, mode, options, pinning))
    report(rows, options)
    return 0 if all("last_p50_ms" in r or "not installed" in r.get("note", "") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
