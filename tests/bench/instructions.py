#!/usr/bin/env python3
"""Instructions per request, the yardstick that does not move with the load.

    python3 tests/bench/instructions.py [--bin build/bin] [--servers final_hello,final_http_hello,nginx]
                                        [--keep DIR] [--new-connections N]

A name ending in _io_uring (final_hello_io_uring) is that server on the
io_uring IOLoop (TORNADO_IOLOOP=io_uring): its instructions are the user
space's side of reading and sending by completion.

CPU time per request on a shared machine moves by several percent from one
run to the next; the number of instructions a server executes per request
does not. For each server: start it under `valgrind --tool=callgrind`, let
`wrk -c20` warm it up, zero the counters, run `wrk` again, dump the
counters and divide the instructions (user space only) by the requests.

--new-connections N measures a connection instead: N connections one
after the other, each opened, sent one `GET /`, read and closed by the
client (what C100K's clients and a browser without keep-alive cost):
accepting, the stream, the request, and the end of the connection.

Caveat: under valgrind, OpenSSL finds no SHA instructions in the CPU and
hashes in plain code, so the Etag's SHA-1 counts about 2,000 instructions
that take about 50 ns outside valgrind. Needs valgrind and wrk (and nginx
for its row). Standard library only.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from run_bench import NginxProcess, free_port  # noqa: E402


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


def measure(name, command, port, work_dir, env=None, new_connections=0):
    out_file = os.path.join(work_dir, "callgrind.%s.out" % name)
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out_file]
    process = subprocess.Popen(valgrind + command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_until_accepting(port, process)
        wrk(port, 2)  # warm-up: caches, buffers, lazy set-up
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
            requests = wrk(port, 4)
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True,
                           capture_output=True)
        time.sleep(0.5)
    finally:
        stop(process, port)
    dumps = sorted(f for f in os.listdir(work_dir) if f.startswith("callgrind.%s.out." % name))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump for %s" % name)
    return total_instructions(os.path.join(work_dir, dumps[0])) / requests


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--servers", default="final_hello,final_http_hello,nginx")
    parser.add_argument("--keep", metavar="DIR",
                        help="write the callgrind dumps to DIR and keep them (read them with callgrind_annotate)")
    parser.add_argument("--new-connections", type=int, default=0, metavar="N",
                        help="instructions per new connection (one GET / on each), over N of them")
    args = parser.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory() as work_dir:
            run(args, work_dir)


def run(args, work_dir):
    for name in args.servers.split(","):
        port = free_port()
        env = None
        if name == "nginx":
            # Only its config: NginxProcess writes it for a port we pick.
            nginx = NginxProcess("/usr/sbin/nginx", os.path.join(work_dir, "nginx"))
            nginx.port = port
            os.makedirs(nginx.run_dir, exist_ok=True)
            command = ["/usr/sbin/nginx", "-p", nginx.run_dir, "-c", nginx.write_config(),
                       "-e", os.path.join(nginx.run_dir, "error.log")]
        else:
            program = name
            if name.endswith("_io_uring"):
                program = name[:-len("_io_uring")]
                env = dict(os.environ, TORNADO_IOLOOP="io_uring")
            command = [os.path.join(args.bin, program), "--port=%d" % port]
            if program == "final_hello":
                command.append("--logging=warning")  # as nginx's access_log off
        per_unit = measure(name, command, port, work_dir, env, args.new_connections)
        unit = "new connection" if args.new_connections else "request"
        print("%-18s %8.0f instructions per %s" % (name, per_unit, unit), flush=True)


if __name__ == "__main__":
    main()
