#!/usr/bin/env python3
"""bench.h3_load_against_gtlsserver_http3: h3_load against ngtcp2's example
HTTP/3 server.

Starts gtlsserver (Debian's ngtcp2-server) on a free UDP port of 127.0.0.1
with a fresh self-signed certificate and a directory holding a 16 KiB file,
runs `h3_load -c 2 -m 10 -n 200` on that file and checks that all 200
requests succeeded with status 200; then stops gtlsserver by its PID.

Exit codes: 0 passed, 1 failed, 77 skipped (no gtlsserver or openssl).
Python's standard library only.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))
from certificate import make_certificate  # noqa: E402

SKIP = 77
FILE_NAME = "file16k.bin"
FILE_BYTES = 16 * 1024
REQUESTS = 200
# Seconds h3_load may take: 200 requests take well under one here; -T
# bounds it too, this only guards against a hang of the test itself.
H3_LOAD_TIMEOUT = 30


def find_gtlsserver():
    """Debian installs it in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("gtlsserver") or next(
        (path for path in ("/usr/sbin/gtlsserver", "/usr/bin/gtlsserver")
         if os.access(path, os.X_OK)), None)


def free_udp_port():
    """A UDP port nothing holds now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(server, port, seconds=5.0):
    """gtlsserver says nothing when it is ready: wait until the kernel lists
    its UDP socket (/proc/net/udp, the port in hex), or it exits."""
    wanted = ":%04X " % port
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        with open("/proc/net/udp") as table:
            if any(wanted in line for line in table):
                return True
        time.sleep(0.05)
    return False


def stop(server):
    """Stops the server we started, by its PID."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()


def check_output(output):
    """The problems in h3_load's output, or [] when all 200 succeeded with 200."""
    problems = []
    requests = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout", output, re.M)
    codes = re.search(r"^status codes: (\d+) 2xx", output, re.M)
    protocol = re.search(r"^Application protocol: (\S+)", output, re.M)
    if not requests or not codes or not protocol:
        return ["h3_load printed no summary"]
    done, succeeded = int(requests.group(3)), int(requests.group(4))
    if done != REQUESTS or succeeded != REQUESTS:
        problems.append("%d done and %d succeeded, not %d" % (done, succeeded, REQUESTS))
    if int(codes.group(1)) != REQUESTS:
        problems.append("%s answers 2xx, not %d" % (codes.group(1), REQUESTS))
    if protocol.group(1) != "h3":
        problems.append("protocol %s, not h3" % protocol.group(1))
    data = re.search(r"\((\d+)\) data", output)
    if not data or int(data.group(1)) != REQUESTS * FILE_BYTES:
        problems.append("body bytes %s, not %d" % (data.group(1) if data else "?",
                                                    REQUESTS * FILE_BYTES))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--h3-load", required=True, help="the h3_load program")
    parser.add_argument("--gtlsserver", help="the server (default: found on PATH or in /usr/sbin)")
    options = parser.parse_args()

    gtlsserver = options.gtlsserver or find_gtlsserver()
    if gtlsserver is not None and not os.access(gtlsserver, os.X_OK):
        gtlsserver = None
    if gtlsserver is None or shutil.which("openssl") is None:
        print("SKIP: gtlsserver (Debian: ngtcp2-server) or openssl is not installed")
        return SKIP

    with tempfile.TemporaryDirectory(prefix="h3_load_test.") as directory:
        served = os.path.join(directory, "www")
        os.mkdir(served)
        with open(os.path.join(served, FILE_NAME), "wb") as f:
            f.write(os.urandom(FILE_BYTES))
        cert, key = make_certificate(directory)
        port = free_udp_port()
        server = subprocess.Popen([gtlsserver, "-q", "-d", served, "127.0.0.1", str(port), key,
                                   cert], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if not wait_until_listening(server, port):
                stop(server)
                print("FAIL: gtlsserver did not start: %s" % server.stderr.read().decode(
                    errors="replace").strip())
                return 1
            command = [options.h3_load, "-c", "2", "-m", "10", "-n", str(REQUESTS), "-T", "10",
                       "https://127.0.0.1:%d/%s" % (port, FILE_NAME)]
            print("$ " + " ".join(command))
            try:
                run = subprocess.run(command, capture_output=True, text=True,
                                     timeout=H3_LOAD_TIMEOUT)
            except subprocess.TimeoutExpired:
                print("FAIL: h3_load still ran after %d s" % H3_LOAD_TIMEOUT)
                return 1
        finally:
            stop(server)
    print(run.stdout + run.stderr)
    problems = check_output(run.stdout)
    if run.returncode != 0:
        problems.append("exit code %d" % run.returncode)
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("PASS: %d of %d requests answered 200 over HTTP/3" % (REQUESTS, REQUESTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
