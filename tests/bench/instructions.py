#!/usr/bin/env python3
"""Instructions per request, the yardstick that does not move with the load.

    python3 tests/bench/instructions.py [--bin build/bin] [--servers final_hello,final_http_hello,nginx]
                                        [--keep DIR] [--new-connections N] [--duration S]
                                        [--out DIR]

A name ending in _io_uring (final_hello_io_uring) is that server on the
io_uring IOLoop (TORNADO_IOLOOP=io_uring): its instructions are the user
space's side of reading and sending by completion.

CPU time per request on a shared machine moves by several percent from one
run to the next; the number of instructions a server executes per request
does not. For each server: start it under `valgrind --tool=callgrind`, let
`wrk -c20` warm it up, zero the counters, run `wrk` again, dump the
counters and divide the instructions (user space only) by the requests.
The same dump gives the code a request runs through, in KiB: the
distinct 64-byte lines of instructions run on at least half of the
requests (code_footprint.py), which the 32 KiB instruction cache must
hold for the next request to find its code there.

The goals, printed as a table with a verdict each: final_http_hello's
instructions per request at most nginx's, final_hello's at most 1.3 times
nginx's, and the same for their _io_uring twins when they are measured.
With --out DIR the figures and the goals also go to DIR/instructions.md.

--new-connections N measures a connection instead: N connections one
after the other, each opened, sent one `GET /`, read and closed by the
client (what C100K's clients and a browser without keep-alive cost):
accepting, the stream, the request, and the end of the connection.

Caveat: under valgrind, OpenSSL finds no SHA instructions in the CPU and
hashes in plain code, so the Etag's SHA-1 counts about 2,000 instructions
that take about 50 ns outside valgrind. Needs valgrind and wrk, and nginx
for its row and the goals; without valgrind or wrk it says so and exits
0, so that `make bench` goes on (a server that cannot be measured is
skipped the same way). Exits 1 when a measurement fails. Standard library
only.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from run_bench import NginxProcess, free_port, goal_check, markdown_table  # noqa: E402
from code_footprint import LINE_BYTES, footprint, read_counts  # noqa: E402

NGINX = "/usr/sbin/nginx"
IO_URING = "_io_uring"
# Instructions per keep-alive request ÷ nginx's, at most. The web layer
# (a handler object, routing, the Etag's SHA-1) may cost more than nginx's
# `return 200`; the bare HTTPServer may not.
GOALS_VS_NGINX = [
    ("final_http_hello", 1.00),
    ("final_hello", 1.30),
    ("final_http_hello" + IO_URING, 1.00),
    ("final_hello" + IO_URING, 1.30),
]
WARM_UP_SECONDS = 2


def wait_until_accepting(port, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not accept within %.0f s" % timeout)


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c20", "-d%ds" % seconds, "http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))


def total_instructions(dump):
    """The `totals:` (or `summary:`) line of a callgrind dump."""
    with open(dump) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % dump)


def stop(process, port):
    """SIGTERM, and a connection to wake the loop: under valgrind a signal
    waits for the system call in progress to end, and valgrind does not
    know that an idle loop's io_uring_enter waits without limit. SIGKILL
    if it is still there after that."""
    process.terminate()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def one_connection(port):
    """A new connection, one GET /, its answer read, closed by us."""
    with socket.create_connection(("127.0.0.1", port), timeout=10.0) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        if not sock.recv(4096):
            raise RuntimeError("the server closed without answering")


def control(process, command, port):
    """callgrind_control --zero or --dump, opening connections meanwhile:
    the server hears the request only when a system call of its returns,
    and an idle loop's io_uring_enter waits without limit. Returns how
    many connections that took (one or two: a few in 2,000)."""
    request = subprocess.Popen(["callgrind_control", command, str(process.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connections = 0
    while request.poll() is None:
        time.sleep(0.2)
        one_connection(port)
        connections += 1
    if request.returncode != 0:
        raise RuntimeError("callgrind_control %s failed" % command)
    return connections


def measure(name, command, port, work_dir, env=None, new_connections=0, seconds=4):
    """(instructions per unit, KiB of code run on at least half of the units)."""
    out_file = os.path.join(work_dir, "callgrind.%s.out" % name)
    # --dump-instr=yes: counts by address, for the code's size (code_footprint.py).
    valgrind = ["valgrind", "--tool=callgrind", "--dump-instr=yes",
                "--callgrind-out-file=" + out_file]
    process = subprocess.Popen(valgrind + command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_until_accepting(port, process)
        wrk(port, WARM_UP_SECONDS)  # warm-up: caches, buffers, lazy set-up
        # nginx runs as one process here (master_process off): its PID is ours.
        if new_connections:
            for _ in range(200):
                one_connection(port)
            control(process, "--zero", port)
            for _ in range(new_connections):
                one_connection(port)
            # The connections opened while the dump was asked for may or may
            # not be in it: counted as in, the error is at most 2 in N.
            requests = new_connections + control(process, "--dump", port)
        else:
            subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True,
                           capture_output=True)
            requests = wrk(port, seconds)
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True,
                           capture_output=True)
        time.sleep(0.5)
    finally:
        stop(process, port)
    dumps = sorted(f for f in os.listdir(work_dir) if f.startswith("callgrind.%s.out." % name))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump for %s" % name)
    dump = os.path.join(work_dir, dumps[0])
    lines, _ = footprint(*read_counts(dump), requests, "object")
    return total_instructions(dump) / requests, lines * LINE_BYTES / 1024


def missing_tool():
    """Why no server can be measured here, or None."""
    for tool, package in (("valgrind", "valgrind"), ("callgrind_control", "valgrind"),
                          ("wrk", "wrk")):
        if shutil.which(tool) is None:
            return "%s is not installed (the package %s; tools/install-deps.sh bench)" % (
                tool, package)
    return None


def server_command(name, port, bin_dir, work_dir):
    """(command line, environment, None) that start the server `name` on
    `port`, or (None, None, why it cannot run here)."""
    if name == "nginx":
        if not os.access(NGINX, os.X_OK):
            return None, None, "%s is not installed (nginx-light)" % NGINX
        # Only its config: NginxProcess writes it for a port we pick.
        nginx = NginxProcess(NGINX, os.path.join(work_dir, "nginx"))
        nginx.port = port
        os.makedirs(nginx.run_dir, exist_ok=True)
        return [NGINX, "-p", nginx.run_dir, "-c", nginx.write_config(),
                "-e", os.path.join(nginx.run_dir, "error.log")], None, None
    program, env = name, None
    if name.endswith(IO_URING):
        program = name[:-len(IO_URING)]
        env = dict(os.environ, TORNADO_IOLOOP="io_uring")
    path = os.path.join(bin_dir, program)
    if not os.access(path, os.X_OK):
        return None, None, "%s not found (not built yet?)" % path
    command = [path, "--port=%d" % port]
    if program == "final_hello":
        command.append("--logging=warning")  # as nginx's access_log off
    return command, env, None


def run(args, work_dir):
    """Measures each server: {name: instructions per unit}, and whether
    every measurement that could run worked."""
    unit = "new connection" if args.new_connections else "request"
    figures = {}
    code_sizes = {}
    all_worked = True
    for name in args.servers.split(","):
        port = free_port()
        command, env, why_not = server_command(name, port, args.bin, work_dir)
        if why_not:
            print("%-26s skipped: %s" % (name, why_not), flush=True)
            continue
        try:
            figures[name], code_sizes[name] = measure(name, command, port, work_dir, env,
                                                      args.new_connections, args.duration)
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
            print("%-26s failed: %s" % (name, error), flush=True)
            all_worked = False
            continue
        print("%-26s %8.0f instructions per %s, %.1f KiB of code" % (
            name, figures[name], unit, code_sizes[name]), flush=True)
    return figures, code_sizes, all_worked


def goal_checks(figures, servers):
    """GOALS_VS_NGINX for the servers asked for."""
    return [goal_check(name, "instructions per request vs nginx", None, figures.get(name),
                       goal, False, 2, "nginx", figures.get("nginx"))
            for name, goal in GOALS_VS_NGINX if name in servers]


def goals_table(checks):
    def count(value):
        return "-" if value is None else "{:,.0f}".format(value)

    cells = [[c["server"], count(c["value"]), count(c["reference_value"]),
              "-" if c["ratio"] is None else "**%.2f**" % c["ratio"],
              "≤ %s" % c["goal"].split()[-1], c["verdict"]] for c in checks]
    return markdown_table(["server", "instructions per request", "nginx's", "ratio", "goal",
                           "verdict"], cells)


def report(figures, code_sizes, args):
    """The goals table (per request only), printed and, with --out, written
    with the figures to instructions.md. The code a request runs is the
    instruction cache's load (32 KiB here): code_footprint.py says how."""
    unit = "new connection" if args.new_connections else "request"
    lines = ["# Instructions per %s (callgrind, user space)" % unit, "",
             markdown_table(["server", "instructions per %s" % unit,
                             "code a %s runs through (KiB)" % unit],
                            [[name, "{:,.0f}".format(value), "%.1f" % code_sizes[name]]
                             for name, value in figures.items()]),
             ""]
    if args.new_connections:
        goals = "(The goals are per keep-alive request: not judged with --new-connections.)"
    else:
        goals = goals_table(goal_checks(figures, args.servers.split(",")))
        lines += ["## The goals", ""]
    lines += [goals, ""]
    print()
    print(goals, flush=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "instructions.md"), "w") as f:
            f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--servers", default="final_hello,final_http_hello,nginx")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the callgrind dumps to DIR and keep them (read them with callgrind_annotate)")
    parser.add_argument("--new-connections", type=int, default=0, metavar="N",
                        help="instructions per new connection (one GET / on each), over N of them")
    parser.add_argument("--duration", type=int, default=4, metavar="S",
                        help="seconds of the measured wrk run (default: 4)")
    parser.add_argument("--out", metavar="DIR", help="also write DIR/instructions.md")
    args = parser.parse_args()
    if args.duration < 1:
        parser.error("--duration is 1 second or more")
    why = missing_tool()
    if why:
        print("instructions.py: no instruction counts: %s" % why)
        return 0
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        figures, code_sizes, all_worked = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory() as work_dir:
            figures, code_sizes, all_worked = run(args, work_dir)
    report(figures, code_sizes, args)
    return 0 if all_worked else 1


if __name__ == "__main__":
    sys.exit(main())
