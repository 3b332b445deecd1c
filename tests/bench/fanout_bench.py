#!/usr/bin/env python3
"""Broadcast fan-out: one chat message delivered to 10,000 waiting clients.

    python3 tests/bench/fanout_bench.py [--bin build/bin] [--out build/bench]
                                        [--clients 10000] [--repeats 20] [--rounds 5]

The demo app's chat (final/examples/demo_app/README.md) in two servers, in the same run: ours
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

The repeats run in --rounds rounds: each round starts every server once,
one after the other (each round starting one server further along), and
sends it its share of the repeats, so that a slow stretch of the machine
touches all the servers alike.

The server runs on one core and fanout_load on the other. The goals (the
last delivery): ours at least 20 times faster than Tornado (the median
repeat), and at most 1.10 times the floor's, judged by the ratio of the
medians and by the median of the rounds' ratios. Writes fanout.md and
fanout.csv into --out. Standard library only.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
from run_bench import (BY_ROUNDS, Pinning, checks_by_both_estimators, goal_check,  # noqa: E402
                       markdown_table, parse_figures, raise_fd_limit)
from serverproc import ServerProcess  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
TORNADO_APP = os.path.join(ROOT, "tests", "clients", "demo_app_tornado.py")
DEMO_STATIC = os.path.join(ROOT, "final", "examples", "demo_app", "static")
MODES = ["longpoll", "websocket"]
ROUNDS = 5
GOAL_VS_TORNADO = 20.0  # Tornado's last delivery ÷ ours, at least
GOAL_VS_FLOOR = 1.10    # our last delivery ÷ the floor's, at most (both estimators)
OURS = ("demo_app", "demo_app_io_uring")
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
              "median_p50_ms", "server_busy_pct", "rounds", "last_p50_ms_per_round", "note"]


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


def repeats_per_round(repeats, rounds):
    """--repeats shared out over the rounds, the first rounds taking one
    more when it does not divide; fewer rounds than asked when there are
    fewer repeats than rounds."""
    rounds = max(1, min(rounds, repeats))
    return [repeats // rounds + (1 if index < repeats % rounds else 0) for index in range(rounds)]


def run_load(command, repeats):
    """fanout_load's output, and "" or why it is cut short."""
    try:
        return subprocess.run(command, capture_output=True, text=True,
                              timeout=60 + repeats * 40).stdout, ""
    except subprocess.TimeoutExpired as error:
        output = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        return output, "fanout_load timed out"


def run_round(server, mode, repeats, first_round, options, pinning):
    """A fresh server and fanout_load with `repeats` messages: (each repeat's
    figures from its REPEAT line, "" or what went wrong)."""
    name, _, command, env = server
    command = [part.replace("{bin}", options.bin) for part in command]
    base = os.path.join(options.out, "fanout-%s-%s" % (name, mode))
    # One file per server and mode, every round's output after the first's.
    file_mode = "w" if first_round else "a"
    with open(base + ".server-stderr.txt", file_mode) as stderr:
        try:
            process = start(command, env, pinning, stderr)
        except (OSError, RuntimeError) as error:
            return [], "did not start: %s" % error
        load = [os.path.join(options.bin, "fanout_load"), "--port=%d" % process.port,
                "--mode=" + mode, "--clients=%d" % options.clients,
                "--repeats=%d" % repeats, "--server-pid=%d" % process.pid]
        if pinning.enabled:
            load = ["taskset", "-c", str(pinning.wrk_cpu)] + load
        try:
            output, problem = run_load(load, repeats)
        finally:
            process.stop(grace=5.0)
    with open(base + ".load.txt", file_mode) as f:
        f.write("$ %s\n%s" % (" ".join(load), output))
    figures = [parse_figures(line) for line in output.splitlines() if line.startswith("REPEAT ")]
    if not figures:
        problem = problem or "no result; see fanout-%s-%s.load.txt" % (name, mode)
    return figures, problem


def p99(values):
    """fanout_load's percentile: the value at index 0.99 n of the sorted list."""
    ordered = sorted(values)
    return ordered[min(int(0.99 * len(ordered)), len(ordered) - 1)]


def summarise(name, mode, rounds, problems, options):
    """One CSV row from a server's rounds (lists of REPEAT figures): the
    percentiles over every repeat that reached all the waiters, and each
    round's median for the round-by-round comparison."""
    row = {"server": name, "mode": mode, "clients": options.clients, "rounds": len(rounds),
           "note": "; ".join(sorted(set(p for p in problems if p)))}
    complete = [[r for r in repeats if r["received"] == options.clients] for repeats in rounds]
    failed = sum(len(repeats) for repeats in rounds) - sum(len(c) for c in complete)
    lasts = [r["last_ms"] for repeats in complete for r in repeats]
    row["round_medians"] = [statistics.median(r["last_ms"] for r in repeats) if repeats else None
                            for repeats in complete]
    row["last_p50_ms_per_round"] = ";".join("%.2f" % m if m is not None else ""
                                            for m in row["round_medians"])
    if not lasts:
        row["note"] = row["note"] or "no repeat reached every waiter"
        return row
    every = [r for repeats in complete for r in repeats]
    # fanout_load prints hundredths; a median of two adds a thousandth.
    row.update(repeats=len(lasts), failed=failed, last_p50_ms=round(statistics.median(lasts), 3),
               last_p99_ms=p99(lasts),
               median_p50_ms=round(statistics.median(r["median_ms"] for r in every), 3),
               server_busy_pct=round(statistics.median(
                   100 * r["server_busy_ms"] / r["last_ms"] for r in every if r["last_ms"] > 0)))
    if failed:
        row["note"] = "; ".join(filter(None, [row["note"], "%d repeat(s) did not reach every "
                                               "client; see the .load.txt" % failed]))
    return row


def tornado_goals(by_key):
    """Tornado's last delivery ÷ ours (p50), at least GOAL_VS_TORNADO."""
    cells = []
    for mode in MODES:
        tornado = by_key.get(("tornado", mode), {}).get("last_p50_ms")
        for name in OURS:
            ours = by_key.get((name, mode), {}).get("last_p50_ms")
            # Tornado's time is the figure and ours the reference: the ratio
            # says how many times faster we are.
            check = goal_check("tornado", mode, None, tornado, GOAL_VS_TORNADO, True, 1, name, ours)
            figures = "%.1f ms ÷ %.1f ms" % (tornado, ours) if check["ratio"] else "-"
            result = "**%.1fx**" % check["ratio"] if check["ratio"] else "-"
            cells.append([name, mode, figures, result, "≥ %.0fx" % GOAL_VS_TORNADO,
                          check["verdict"]])
    return markdown_table(["server", "waiting by", "Tornado ÷ ours (p50 of the last delivery)",
                           "result", "goal", "verdict"], cells)


def floor_goals(by_key, options):
    """Our last delivery ÷ the floor's, at most GOAL_VS_FLOOR, by both
    estimators (run_bench.checks_by_both_estimators)."""
    cells = []
    for mode in MODES:
        floor = by_key.get(("floor", mode), {})
        for name in OURS:
            ours = by_key.get((name, mode), {})
            for check in checks_by_both_estimators(
                    name, "last delivery vs the floor", options.clients, ours.get("last_p50_ms"),
                    "floor", floor.get("last_p50_ms"), ours.get("round_medians"),
                    floor.get("round_medians"), GOAL_VS_FLOOR):
                if check["estimator"] == BY_ROUNDS:
                    figures = "rounds: " + (check["detail"] or "-")
                elif check["ratio"] is not None:
                    figures = "%.1f ms ÷ %.1f ms" % (check["value"], check["reference_value"])
                else:
                    figures = "-"
                result = "**%.2fx**" % check["ratio"] if check["ratio"] is not None else "-"
                cells.append([name, mode, check["estimator"], figures, result,
                              "≤ %.2fx" % GOAL_VS_FLOOR, check["verdict"]])
    return markdown_table(["server", "waiting by", "estimator", "ours ÷ floor (last delivery)",
                           "result", "goal", "verdict"], cells)


def report(rows, options):
    by_key = {(r["server"], r["mode"]): r for r in rows}
    cells = []
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
    # The floor is the most any server could be ahead of Tornado on this
    # machine with this client: the kernel's sends and the client's reads.
    ceilings = []
    for mode in MODES:
        floor = by_key.get(("floor", mode), {}).get("last_p50_ms")
        tornado = by_key.get(("tornado", mode), {}).get("last_p50_ms")
        if not floor:
            continue
        ours = ["%s %.2fx" % (name, by_key[(name, mode)]["last_p50_ms"] / floor)
                for name in OURS if by_key.get((name, mode), {}).get("last_p50_ms")]
        ceilings.append([mode, "%.1f ms" % floor,
                         "%d%%" % by_key[("floor", mode)]["server_busy_pct"],
                         "**%.1fx**" % (tornado / floor) if tornado else "-",
                         ", ".join(ours) or "-"])
    header = ["server", "what it is"] + [
        "%s: last delivery p50 / p99 over %d repeats" % (
            "long poll" if mode == "longpoll" else "WebSocket", options.repeats) for mode in MODES]
    rounds = len(repeats_per_round(options.repeats, options.rounds))
    lines = ["# Broadcast fan-out: one message to %s waiting clients" % "{:,}".format(options.clients),
             "", "## The goals", "",
             "### Against Tornado", "", tornado_goals(by_key), "",
             "### Against the floor", "", floor_goals(by_key, options), "",
             "Ratio of medians: the median repeat of all of ours ÷ the floor's; a repeat "
             "disturbed for one server alone moves it little. Median of round ratios: each "
             "round's median ÷ the floor's in the same round, which ran a few seconds apart, "
             "and the median of those; a slow stretch of the machine touches both of a round "
             "and cancels out.", "",
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
             "--repeats %d --rounds %d`). The repeats ran in %d round(s); each round started "
             "every server once, one after the other, and sent it its share of the repeats. "
             "Each repeat: the waiters parked (the server's CPU time has stopped "
             "growing), one message posted, the time until the last waiter has its whole answer "
             "(long poll) or frame (WebSocket). Server on one core, fanout_load on the other." % (
                 options.clients, options.repeats, options.rounds, rounds), ""]
    text = "\n".join(lines)
    with open(os.path.join(options.out, "fanout.md"), "w") as f:
        f.write(text)
    with open(os.path.join(options.out, "fanout.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(text)


def tornado_installed():
    return subprocess.run([SYSTEM_PYTHON, "-c", "import tornado"],
                          capture_output=True).returncode == 0


def run_mode(servers, mode, options, pinning):
    """Every server's rounds in one way of waiting: one CSV row each."""
    shares = repeats_per_round(options.repeats, options.rounds)
    rounds = {server[0]: [] for server in servers}
    problems = {server[0]: [] for server in servers}
    for index, repeats in enumerate(shares):
        turn = index % len(servers)
        for server in servers[turn:] + servers[:turn]:
            print("fanout: %s, %s, round %d/%d, %d repeat%s ..." % (
                server[0], mode, index + 1, len(shares), repeats, "s" if repeats > 1 else ""),
                flush=True)
            figures, problem = run_round(server, mode, repeats, index == 0, options, pinning)
            rounds[server[0]].append(figures)
            problems[server[0]].append(problem)
    return [summarise(server[0], mode, rounds[server[0]], problems[server[0]], options)
            for server in servers]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=20,
                        help="messages per server and way of waiting, over all the rounds")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="rounds the repeats are shared out over (default: %d)" % ROUNDS)
    parser.add_argument("--servers", default=",".join(s[0] for s in SERVERS),
                        help="comma-separated: demo_app,demo_app_io_uring,tornado,floor")
    options = parser.parse_args()
    if options.repeats < 1 or options.rounds < 1:
        parser.error("--repeats and --rounds are 1 or more")
    options.bin = os.path.abspath(options.bin)
    os.makedirs(options.out, exist_ok=True)
    raise_fd_limit(options.clients + 1000)
    wanted = options.servers.split(",")
    pinning = Pinning()
    rows = []
    servers = [server for server in SERVERS if server[0] in wanted]
    if "tornado" in wanted and not tornado_installed():
        rows += [{"server": "tornado", "mode": m, "note": "python3-tornado is not installed"}
                 for m in MODES]
        servers = [server for server in servers if server[0] != "tornado"]
    for mode in MODES:
        if servers:
            rows += run_mode(servers, mode, options, pinning)
    order = [server[0] for server in SERVERS]
    rows.sort(key=lambda row: (order.index(row["server"]), MODES.index(row["mode"])))
    report(rows, options)
    return 0 if all("last_p50_ms" in r or "not installed" in r.get("note", "") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
