#!/usr/bin/env python3
"""C100K: one server holding 100,000 idle keep-alive or WebSocket connections.

    python3 tests/bench/c100k.py [--bin build/bin] [--out build/bench]
                                 [--connections 100000] [--probes 200]
                                 [--servers final_hello,final_hello_io_uring,nginx]
                                 [--processes N] [--reuse-port] [--websocket]

Tornado is chosen for many connections that mostly wait (long polls, chat,
WebSockets). For each server, one after the other in the same run:

1. start it (pinned to one core, this script on another), ask GET / once,
   then warm it up (warm_up_workers): at least 2,000 requests per server
   process over a few keep-alive connections, in rounds until a round
   leaves every process's memory where it was, so that what a server sets
   up once, such as the io_uring loop's 2 MiB of receive buffers, is in
   the "before" reading;
2. open the connections, at most 200 being opened at a time, from
   127.0.0.1, 127.0.0.2, ..., at most 10,000 from each (one source address
   has about 28,000 ephemeral ports, and connect() slows down as they fill
   up: at 25,000 from each of four, to under 1,000 a second): each sends
   GET /, reads the answer and then stays open and silent. The time this takes gives the accept rate (a connection and
   its first request per connection);
3. with all of them held, `--probes` new connections one after the other,
   each timed from connect() to the last byte of its answer;
4. its anonymous resident memory (RssAnon: the heap, not the program's
   code) before (after the warm-up) and after, ÷ the connections.

With --websocket the connections are WebSockets on /ws/echo instead, and
the servers the echo servers of `make bench`'s WebSocket scenario
(final_websocket_echo on each IOLoop, Boost.Beast, Python Tornado): each
connection's request is the upgrade, the warm-up and the probes echo one
32-byte message (a probe: connect, upgrade, echo), and the report goes to
c100k-websocket.md and .csv.

The descriptor limit is raised for us and the servers (root may raise the
hard limit). Where it cannot be raised far enough (a container without
CAP_SYS_RESOURCE), the server runs as several processes sharing its
listening socket, as Tornado's `server.start(n)` does (final_hello's
--processes, nginx's workers), and the client as as many processes, each
under the limit; --processes N asks for that whatever the limit. Memory is
then the sum over the server's processes; the warm-up opens connections
2 ms apart until each worker holds one, so that each is warmed. With
--reuse-port each worker listens on a socket of its own instead, bound to
the same port with SO_REUSEPORT (the servers' --reuse_port, nginx's
`listen ... reuseport`): the kernel gives a new connection to one worker
and wakes only that one, where on a shared socket every worker wakes.
The port is reserved first by a socket of ours that is bound (also with
SO_REUSEPORT) but never listens, and is given to the server.

The report also gives the server's CPU time (all its processes, from
schedstat) while the connections were being opened, ÷ the connections
(what accepting one and answering its first request cost, many at a
time), and while the probes ran, ÷ the probes (the same for a lone new
connection, when every idle worker may be woken for it).

Every step is bounded in time, and each server process (and client
process) is stopped by its PID. Writes c100k.md and c100k.csv (with
--websocket: c100k-websocket.md, .csv) into --out. Exits 1 when a server
could not hold every connection or answer every probe.
Standard library only.
"""
import argparse
import contextlib
import csv
import dataclasses
import glob
import math
import multiprocessing
import os
import re
import signal
import socket
import statistics
import sys
import time
import typing

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_bench import (FRAMEWORK_SERVERS, GOAL_WS_IDLE_BYTES, HELLO_REQUEST,  # noqa: E402
                       WARM_UP_REQUESTS, WEBSOCKET_SERVERS, IdleConnections, NginxProcess,
                       Pinning, Server, ask_hello, cpu_ticks, fetch_hello, markdown_table,
                       open_descriptors, open_websocket, raise_fd_limit, fmt_count,
                       response_complete, upgrade_answered, websocket_echo,
                       websocket_echo_once, websocket_upgrade_request)
from serverproc import children_of  # noqa: E402  (tests/clients, on the path run_bench set)

PER_SOURCE = 10000              # connections from one loopback address, at most
OPEN_TIMEOUT = 240.0            # seconds to open them all, at most
GOAL_PROBE_MS = 5.0             # a new request answered within, at p99
# The echo server of final/ on the io_uring IOLoop, beside the WebSocket
# scenario's servers.
FINAL_WEBSOCKET_IO_URING = Server(
    "final_websocket_io_uring", "final_websocket_echo",
    "final_websocket_echo on the io_uring IOLoop (TORNADO_IOLOOP=io_uring)",
    args=["--address=127.0.0.1", "--logging=warning"], env={"TORNADO_IOLOOP": "io_uring"})
# The programs that can run as several processes sharing one socket, and how
# they are asked to (nginx: its launcher's `workers`). Each also takes
# --reuse_port (nginx: its launcher's `reuse_port`).
FORKING_ARGUMENT = {name: "--processes=%d" for name in (
    "final_hello", "final_hello_io_uring", "final_websocket", "final_websocket_io_uring",
    "beast", "tornado_ws")}


@dataclasses.dataclass(frozen=True)
class Workload:
    """What the idle connections are, and how each is opened and used."""
    kind: str                     # in the report's title: "keep-alive", "WebSocket"
    report: str                   # the report's file name, less .md / .csv
    servers: str                  # the servers measured when --servers is not given
    goal_bytes: float             # memory per connection, at most
    request: typing.Callable      # request(port): what each idle connection sends,
    answered: typing.Callable     # answered(data): and when its answer is whole
    open: typing.Callable         # open(sock, port): a warm-up connection, once connected
    exchange: typing.Callable     # exchange(sock): one exchange on it, "" or the problem
    probe: typing.Callable        # probe(port): a new connection and its exchange
    probe_text: str               # what a probe times, for the report
    others_forking: str           # how the yardsticks run as several processes, for the report


def ask_hello_problem(sock):
    return "" if ask_hello(sock) else "the server closed a warm-up connection"


KEEP_ALIVE = Workload(
    kind="keep-alive", report="c100k", servers="final_hello,final_hello_io_uring,nginx",
    goal_bytes=0.6 * 1024, request=lambda port: HELLO_REQUEST, answered=response_complete,
    open=lambda sock, port: "", exchange=ask_hello_problem, probe=fetch_hello,
    others_forking="nginx's workers",
    probe_text="connect() to the end of its answer to GET /")
WEBSOCKET = Workload(
    kind="WebSocket", report="c100k-websocket",
    servers="final_websocket,final_websocket_io_uring,beast,tornado_ws",
    goal_bytes=GOAL_WS_IDLE_BYTES, request=websocket_upgrade_request, answered=upgrade_answered,
    open=open_websocket, exchange=websocket_echo, probe=websocket_echo_once,
    others_forking="Beast: one io_context in each forked worker",
    probe_text="connect() to the echo of one message (the upgrade between)")
CSV_FIELDS = ["server", "processes", "reuse_port", "wanted", "opened", "held",
              "fewest_per_worker", "most_per_worker", "open_seconds",
              "accepts_per_second", "server_cpu_us_per_connection", "server_cpu_us_per_probe",
              "rss_before_kb", "rss_after_kb", "bytes_per_connection",
              "probe_p50_ms", "probe_p99_ms", "probe_max_ms", "probe_failures", "note"]


def timed_probe(port, workload):
    """One new connection and its request: milliseconds, or None if it failed."""
    start = time.perf_counter()
    _, problem = workload.probe(port)
    elapsed = (time.perf_counter() - start) * 1000
    return None if problem else elapsed


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def process_tree(pid):
    """pid and every process descended from it (a master's workers)."""
    tree = [pid]
    for child in children_of(pid):
        tree += process_tree(child)
    return tree


def anon_kb(pid):
    """A process's anonymous resident memory (RssAnon, kB), or None if it
    has gone. Anonymous: the heap, stacks and such. The resident pages of the
    program's code (RssFile) are left out: a worker faults them in as it
    first runs each path, which moves VmRSS by a few megabytes from run to
    run, and they are shared, not per connection."""
    try:
        with open("/proc/%d/status" % pid) as f:
            match = re.search(r"^RssAnon:\s+(\d+)", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else 0


def tree_status(pids):
    """The summed RssAnon (kB) of these processes, or None if one has gone."""
    sizes = [anon_kb(pid) for pid in pids]
    if None in sizes:
        return None
    return {"RssAnon": sum(sizes)}


def serving_processes(pids):
    """The processes that accept connections: those without children (a
    master, nginx's or final_hello --processes', only watches its workers)."""
    return [pid for pid in pids if not children_of(pid)] or pids


def all_workers_started(pid, processes, timeout=10.0):
    """The server's process tree once it has its `processes` workers: the
    first may answer before the last is forked."""
    deadline = time.monotonic() + timeout
    while True:
        pids = process_tree(pid)
        if len(serving_processes(pids)) >= processes or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def wait_until_quiet(pids, window=0.25, timeout=5.0):
    """Waits (at most `timeout` s) for a `window` in which these processes
    together ran for at most one clock tick: the probes then time the
    server's answer, not the end of the clients' work on the same cores."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = [cpu_ticks(pid) or 0 for pid in pids]
        time.sleep(window)
        if sum((cpu_ticks(pid) or 0) - b for pid, b in zip(pids, before)) <= 1:
            return


# Warm-up rounds end when no worker's memory grew by more than this in one.
STEADY_KB = 64
MAX_WARM_UP_ROUNDS = 10


def warm_up_workers(port, workers, workload):
    """What each worker sets up once (the io_uring loop's 2 MiB of receive
    buffers, its first heap arenas) before memory is measured, so that it
    is not counted per connection. Connections are opened 2 ms apart (a
    worker woken for a new connection accepts every one waiting, so a burst
    all goes to one) until each worker holds one, then held together while
    rounds of WARM_UP_REQUESTS requests per worker go over them in turn,
    until a round leaves every worker's memory where it was: a worker that
    holds few of the connections gets few of the requests, and needs more
    rounds to touch every buffer."""
    sockets = []
    base = {pid: open_descriptors(pid) for pid in workers}
    try:
        while len(sockets) < 8 * len(workers) or (
                len(sockets) < 32 * len(workers)
                and any(open_descriptors(pid) <= base[pid] for pid in workers)):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5.0))
            problem = workload.open(sockets[-1], port)
            if problem:
                return problem
            time.sleep(0.002)
        for _ in range(MAX_WARM_UP_ROUNDS):
            before = {pid: anon_kb(pid) or 0 for pid in workers}
            for turn in range(WARM_UP_REQUESTS * len(workers)):
                problem = workload.exchange(sockets[turn % len(sockets)])
                if problem:
                    return problem
            if all((anon_kb(pid) or 0) - before[pid] <= STEADY_KB for pid in workers):
                break
    except OSError as error:
        return "warm-up failed: %s" % error
    finally:
        for sock in sockets:
            sock.close()
    return ""


def hold_connections(port, count, sources, workload, pipe):
    """A client process: opens `count` idle connections, says how many, and
    holds them until told to let go (or the parent's end of the pipe goes)."""
    with IdleConnections(port, count, timeout=OPEN_TIMEOUT, sources=sources,
                         request=workload.request(port), answered=workload.answered) as idle:
        pipe.send(len(idle.sockets))
        try:
            pipe.recv()
        except EOFError:
            pass


class Clients:
    """The idle connections, held by `processes` client processes (each
    under the descriptor limit). .opened: how many they opened; .seconds:
    how long that took."""

    def __init__(self, port, count, processes, workload):
        self.port, self.count, self.processes = port, count, processes
        self.workload = workload
        self.sources = ["127.0.0.%d" % i
                        for i in range(1, max(4, math.ceil(count / PER_SOURCE)) + 1)]
        self.workers = []
        self.opened = 0
        self.seconds = 0.0

    def __enter__(self):
        context = multiprocessing.get_context("fork")
        started = time.monotonic()
        share = [self.count // self.processes + (1 if i < self.count % self.processes else 0)
                 for i in range(self.processes)]
        for count in share:
            ours, theirs = context.Pipe()
            worker = context.Process(target=hold_connections,
                                     args=(self.port, count, self.sources, self.workload,
                                           theirs),
                                     daemon=True)
            worker.start()
            theirs.close()
            self.workers.append((worker, ours))
        for worker, pipe in self.workers:
            if pipe.poll(OPEN_TIMEOUT + 30):
                try:
                    self.opened += pipe.recv()
                except EOFError:
                    pass
        self.seconds = time.monotonic() - started
        return self

    def __exit__(self, *exc):
        for worker, pipe in self.workers:
            try:
                pipe.send("close")
            except OSError:
                pass
        for worker, pipe in self.workers:
            worker.join(timeout=30)
            if worker.is_alive():
                os.kill(worker.pid, signal.SIGKILL)
                worker.join()
            pipe.close()


def reserve_port():
    """A socket bound to a free port of 127.0.0.1 with SO_REUSEPORT that
    never listens: while it is open, only sockets that also ask for
    SO_REUSEPORT (the server's workers: same user) may bind the port, and
    it takes no connection itself."""
    placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    placeholder.bind(("127.0.0.1", 0))
    return placeholder


def launch(server, options, pinning, stderr_file, reserved=None):
    """The server's process, told to run as options.processes processes
    (with --reuse-port: on the port of `reserved`, a socket each)."""
    extra = {"env": server.env} if server.env else {}
    arguments = list(server.arguments(options.out))
    if server.launcher is NginxProcess:
        extra["workers"] = options.processes
        extra["reuse_port"] = options.reuse_port
    else:
        if options.processes > 1:
            arguments.append(FORKING_ARGUMENT[server.name] % options.processes)
        if reserved is not None:  # after the launcher's --port=0: the last one counts
            arguments += ["--port=%d" % reserved.getsockname()[1], "--reuse_port"]
    return server.launcher(server.path(options.bin), *arguments, cpu=pinning.server_cpu,
                           stderr=stderr_file, **extra)


def cpu_seconds(pids):
    """How long these processes (all their threads) have run on a CPU, in
    seconds: /proc/PID/task/*/schedstat, in nanoseconds (utime and stime
    count 10 ms ticks, too coarse for 200 probes). 0 for one gone."""
    total = 0
    for pid in pids:
        for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
            try:
                with open(path) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def stop_tree(process, pids):
    """Stops the server by its PID, then any of its processes still there."""
    process.stop(grace=5.0)
    for pid in pids[1:]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def measure(server, options, pinning):
    row = {"server": server.name, "processes": options.processes,
           "reuse_port": options.reuse_port, "wanted": options.connections, "note": ""}
    if options.processes > 1 and server.launcher is not NginxProcess \
            and server.name not in FORKING_ARGUMENT:
        row.update(note="cannot run as several processes", unavailable=True)
        return row
    workload = options.workload
    stderr_path = os.path.join(options.out, "%s-%s.server-stderr.txt" % (workload.report,
                                                                          server.name))
    pids = []
    with contextlib.ExitStack() as held, open(stderr_path, "w") as stderr_file:
        reserved = None  # closed once the server has stopped
        if options.reuse_port and server.launcher is not NginxProcess:
            reserved = held.enter_context(reserve_port())
        process = launch(server, options, pinning, stderr_file, reserved)
        try:
            process.__enter__()
        except (OSError, RuntimeError) as error:
            row["note"] = "did not start: %s" % error
            return row
        try:
            _, problem = workload.probe(process.port)
            pids = all_workers_started(process.pid, options.processes)
            problem = problem or warm_up_workers(process.port, serving_processes(pids), workload)
            if problem:
                row["note"] = problem
                return row
            time.sleep(0.2)
            before = tree_status(pids)
            base_fds = {pid: open_descriptors(pid) for pid in pids}
            cpu_before = cpu_seconds(pids)
            with Clients(process.port, options.connections, options.processes,
                         workload) as clients:
                cpu_opening = cpu_seconds(pids) - cpu_before
                time.sleep(1.0)  # the last answers written, the server waiting again
                wait_until_quiet(pids + [worker.pid for worker, _ in clients.workers])
                after = tree_status(pids)
                held_by = {pid: open_descriptors(pid) - base_fds[pid] for pid in pids}
                # What each worker holds (nginx's master holds none).
                shares = [held_by[pid] for pid in serving_processes(pids)]
                cpu_before = cpu_seconds(pids)
                probes = [timed_probe(process.port, workload) for _ in range(options.probes)]
                cpu_probing = cpu_seconds(pids) - cpu_before
                opened, took = clients.opened, clients.seconds
            alive = process.process.poll() is None
        finally:
            stop_tree(process, pids)
    if not alive or before is None or after is None:
        row["note"] = "the server exited while the connections were open"
        return row
    answered = [p for p in probes if p is not None]
    row.update(opened=opened, held=sum(held_by.values()), open_seconds="%.1f" % took,
               fewest_per_worker=min(shares), most_per_worker=max(shares),
               accepts_per_second="%.0f" % (opened / took) if took else "",
               server_cpu_us_per_connection="%.0f" % (cpu_opening * 1e6 / opened)
               if opened else "",
               server_cpu_us_per_probe="%.0f" % (cpu_probing * 1e6 / len(probes)),
               rss_before_kb=before["RssAnon"], rss_after_kb=after["RssAnon"],
               probe_failures=len(probes) - len(answered))
    if opened:
        row["bytes_per_connection"] = "%.0f" % ((after["RssAnon"] - before["RssAnon"]) * 1024
                                                / opened)
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
    workload = options.workload
    cells = []
    for row in rows:
        if not row.get("opened"):
            what = row["note"] if row.get("unavailable") else "failed: " + row["note"]
            cells.append([row["server"], what] + ["-"] * 6)
            continue
        cells.append([
            row["server"],
            "%s (%s held%s)" % (fmt_count(row["opened"]), fmt_count(row["held"]),
                                ", %d processes: %s to %s each" % (
                                    row["processes"], fmt_count(row["fewest_per_worker"]),
                                    fmt_count(row["most_per_worker"]))
                                if row["processes"] > 1 else ""),
            "{:,} /s ({} s)".format(int(row["accepts_per_second"]), row["open_seconds"]),
            "%s µs / %s µs" % (row["server_cpu_us_per_connection"],
                               row["server_cpu_us_per_probe"]),
            "**{:,} B** ({}; {} → {} kB)".format(
                int(row["bytes_per_connection"]),
                verdict(row["bytes_per_connection"], workload.goal_bytes),
                fmt_count(row["rss_before_kb"]), fmt_count(row["rss_after_kb"])),
            "%s / **%s** / %s ms (%s)" % (row.get("probe_p50_ms", "-"),
                                          row.get("probe_p99_ms", "-"),
                                          row.get("probe_max_ms", "-"),
                                          verdict(row.get("probe_p99_ms"), GOAL_PROBE_MS)),
            str(row["probe_failures"]),
            row["note"] or "-"])
    header = ["server", "idle connections", "opened at (each: connect + one request)",
              "server CPU: per connection opened / per probe",
              "memory per connection (goal ≤ %.0f B)" % workload.goal_bytes,
              "new request while held: p50 / p99 / max (goal p99 < %g ms)" % GOAL_PROBE_MS,
              "probes failed", "note"]
    lines = ["# C100K: %s idle %s connections" % (fmt_count(options.connections), workload.kind),
             ""]
    if options.processes > 1:
        why = ""
        if options.limited_by:
            why = (" This machine lets a process have %s descriptors, and raising that "
                   "needs CAP_SYS_RESOURCE, which this process lacks." %
                   fmt_count(options.limited_by))
        if options.reuse_port:
            how = ("processes, each listening on a socket of its own bound to the same port "
                   "(SO_REUSEPORT: the servers' `--reuse_port`, nginx's `listen ... "
                   "reuseport`)")
        else:
            how = ("processes sharing its listening socket (Tornado's `server.start(%d)`; %s)"
                   % (options.processes, workload.others_forking))
        lines += ["Each server runs as %d %s, and the connections come from %d "
                  "client processes.%s Memory is the sum over the server's processes." %
                  (options.processes, how, options.processes, why), ""]
    command = "python3 tests/bench/c100k.py --connections %d --probes %d" % (
        options.connections, options.probes)
    if options.processes_asked:
        command += " --processes %d" % options.processes
    make_arguments = []
    if options.reuse_port:
        make_arguments.append("--reuse-port")
    if workload is WEBSOCKET:
        make_arguments.append("--websocket")
    make_command = "make bench-c100k"
    if make_arguments:
        command += " " + " ".join(make_arguments)
        make_command += (" ARGS=" + make_arguments[0] if len(make_arguments) == 1
                         else ' ARGS="%s"' % " ".join(make_arguments))
    lines += [markdown_table(header, cells), "",
              "Command: `%s` (`%s`). Memory: the server's anonymous resident "
              "memory (RssAnon: its heap, not its code) with the connections open minus "
              "before, ÷ the connections (the kernel's socket buffers are not in it). "
              "Server CPU: how long all its processes ran (schedstat) while the "
              "connections were being opened, ÷ the connections, and while the probes ran, "
              "÷ the probes. "
              "Probes: %d new connections, one at a time, each timed from %s." % (
                  make_command, command, options.probes, workload.probe_text), ""]
    with open(os.path.join(options.out, workload.report + ".md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(options.out, workload.report + ".csv"), "w", newline="") as f:
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
    parser.add_argument("--servers",
                        help="default: %s; with --websocket: %s" % (KEEP_ALIVE.servers,
                                                                   WEBSOCKET.servers))
    parser.add_argument("--processes", type=int, default=0,
                        help="server and client processes (default: as many as the "
                             "descriptor limit needs, usually 1)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="each server process listens on a socket of its own "
                             "(SO_REUSEPORT) instead of sharing one")
    parser.add_argument("--websocket", action="store_true",
                        help="idle WebSocket connections on the echo servers")
    options = parser.parse_args()
    # Absolute, as the other benchmarks make it: nginx reads its -c and -p
    # paths from its own prefix, so a relative --out (make's) doubled them.
    options.out = os.path.abspath(options.out)
    options.workload = WEBSOCKET if options.websocket else KEEP_ALIVE
    options.servers = options.servers or options.workload.servers
    os.makedirs(options.out, exist_ok=True)
    by_name = {s.name: s for s in FRAMEWORK_SERVERS + WEBSOCKET_SERVERS
               + [FINAL_WEBSOCKET_IO_URING]}
    servers = []
    for name in options.servers.split(","):
        if name not in by_name:
            parser.error("unknown server %s (one of %s)" % (name, ", ".join(by_name)))
        servers.append(by_name[name])
    # Each of us and the server holds one descriptor per connection, plus a
    # few: 1,000 to spare. Raising the hard limit takes CAP_SYS_RESOURCE;
    # without it (as in some containers) the server and the client each run
    # as several processes, every one under the limit, and the report says so.
    limit = raise_fd_limit(options.connections + 1000)
    needed = 1
    if limit < options.connections + 1000:
        # Workers on a shared socket get uneven shares (one woken for a new
        # connection accepts every one waiting): the busiest has had twice
        # the average, so the average is kept to half the limit.
        needed = math.ceil(options.connections / ((limit - 1000) // 2))
    options.limited_by = limit if needed > 1 else None
    options.processes_asked = options.processes > 0
    if not options.processes_asked:
        options.processes = needed
    elif options.processes < needed:
        parser.error("%d connections need at least %d processes here (%s descriptors each)"
                     % (options.connections, needed, fmt_count(limit)))
    if options.processes > 1:
        print("c100k: %d server processes and %d client processes (descriptor limit %s)"
              % (options.processes, options.processes, fmt_count(limit)), flush=True)
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
    # A server that is not installed is reported, not failed; one that
    # could not hold every connection or answer every probe fails the run.
    return 0 if all(row.get("unavailable") or (row.get("opened") == options.connections
                                               and row.get("probe_failures") == 0)
                    for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
