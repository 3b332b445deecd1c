#!/usr/bin/env python3
"""Every chapter's demo, and the demo app, starts as `make run` starts it.

    python3 demo_defaults_test.py --build build [--dsn DSN]

Each demo is started through tools/run_demo.py's start(), with no
options: on its own default ports (8888; chapter 10's HTTP/2 on 8443 beside
its HTTP/1.1 on 8888), the way a learner starts it with
`make run RUN_TARGET=...`. Then the lesson's clients talk to it on those
ports (curl over HTTP/1.1, or with HTTP/2 by prior knowledge), a program
that is not a server must end by itself with status 0, and Ctrl-C (SIGINT)
must stop a server within 10 s. Each server's --help must name the ports
it listens on by default.

Fixed ports would collide with anything else on the machine (make test
runs many tests at once, and a learner may have a demo running), so the
script runs itself in a network namespace of its own (unshare -n, as
root), where 127.0.0.1 is its alone. A demo that needs PostgreSQL gets
--dsn (the test cluster's, through its unix socket, which a network
namespace does not hide). Standard library only.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
import run_demo  # noqa: E402

IN_NAMESPACE = "DEMO_DEFAULTS_TEST_IN_NAMESPACE"
READY_WITHIN = 20.0  # seconds: a demo prints its ready line at once; a loaded machine is slow
STOP_WITHIN = 10.0   # seconds after SIGINT (chapter 10's graceful stop takes up to 5)
EXIT_WITHIN = 60.0   # seconds for a program that is not a server to end by itself


def in_own_namespace():
    """Runs this script again in a network namespace of its own, with its
    loopback up; returns its exit status."""
    command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
               sys.executable, *sys.argv]
    return subprocess.run(command, env={**os.environ, IN_NAMESPACE: "1"}).returncode


def curl(kind, port, path):
    http = "--http2-prior-knowledge" if kind == "h2c" else "--http1.1"
    done = subprocess.run(["curl", "-sS", http, "--max-time", "20", "-o", "-", "-w", "\n%{http_code} %{http_version}",
                           "http://127.0.0.1:%d%s" % (port, path)], capture_output=True)
    if done.returncode != 0:
        raise CheckFailed("curl %s on port %d: %s" % (path, port, done.stderr.decode(errors="replace").strip()))
    body, _, tail = done.stdout.rpartition(b"\n")
    status, version = tail.decode().split()
    return int(status), version, body.decode(errors="replace")


def wait_until_ready(process, target):
    """Reads the demo's output until its ready line ("Listening on ...")."""
    deadline = time.monotonic() + READY_WITHIN
    seen = b""
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed("%s exited (%s) before it listened: %s" % (target, process.returncode,
                                                                        (seen + (process.stdout.read() or b"")).decode(errors="replace")[-500:]))
        chunk = process.stdout.read() or b""
        seen += chunk
        if re.search(rb"Listening on https?://", seen):
            return
        time.sleep(0.05)
    raise CheckFailed("%s printed no ready line within %.0f s" % (target, READY_WITHIN))


def stop(process, target):
    """Ctrl-C, as a learner stops it; a demo still there after STOP_WITHIN fails."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise CheckFailed("%s did not stop within %.0f s of Ctrl-C" % (target, STOP_WITHIN))


def usage_names_ports(program, demo):
    ports = {port for kind, port, _, _ in demo.checks if kind != "exits"}
    done = subprocess.run([program, "--help"], capture_output=True, timeout=10)
    usage = (done.stdout + done.stderr).decode(errors="replace")
    expect_equal(done.returncode, 0, "%s --help's exit status" % os.path.basename(program))
    for port in ports:  # "[--port=8888]", or tornado::options' "(default 8888)"
        expect(re.search(r"(=|default )%d\b" % port, usage), "%s --help does not name its default port %d: %s" %
               (os.path.basename(program), port, usage.strip()[:300]))


def check_demo(arguments):
    build, target, dsn = arguments
    demo = run_demo.DEMOS[target]
    program = run_demo.program_path(build, target, False)
    if demo.checks[0][0] == "exits":
        process, _ = run_demo.start(build, target, [], dsn=dsn, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        try:
            _, err = process.communicate(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise CheckFailed("%s had not ended after %.0f s" % (target, EXIT_WITHIN))
        expect_equal(process.returncode, 0, "%s's exit status (%s)" % (target, err.decode(errors="replace")[-300:]))
        return
    usage_names_ports(program, demo)
    process, _ = run_demo.start(build, target, [], dsn=dsn, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_until_ready(process, target)
        answers = []
        for kind, port, path, wanted in demo.checks:
            status, version, body = curl(kind, port, path)
            expect_equal(status, 200, "%s: %s %s on port %d" % (target, kind, path, port))
            expect(wanted in body, "%s: %s on port %d: %r is not in the answer: %s" % (target, path, port, wanted,
                                                                                        body[:200]))
            answers.append("%s %s" % (port, "HTTP/" + version))
        return ", ".join(sorted(set(answers)))
    finally:
        stop(process, target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="the build folder")
    parser.add_argument("--dsn", help="PostgreSQL for the demos that need it (else they are skipped)")
    parser.add_argument("--postgres-dir", help="a tools/pg_cluster.py cluster whose DSN to use")
    options = parser.parse_args()
    if not os.environ.get(IN_NAMESPACE):
        if os.geteuid() != 0:
            print("SKIP  demo defaults: a network namespace of its own needs root (unshare -n)")
            return 0
        return in_own_namespace()
    dsn = options.dsn
    if dsn is None and options.postgres_dir:
        import pg_cluster
        dsn = pg_cluster.dsn_of(options.postgres_dir)
    started = time.monotonic()
    results = []
    for target, demo in run_demo.DEMOS.items():
        if not (target.startswith("ch") or target == "demo_app"):
            continue  # the blog: final/'s example, started by its own tests
        if not os.path.exists(run_demo.program_path(options.build, target, False)):
            print("SKIP  %s: not built here" % target)
            continue
        if demo.postgres and not dsn:
            print("SKIP  %s: no PostgreSQL given (--dsn)" % target)
            continue
        results.append(run_check("make run RUN_TARGET=%s" % target, check_demo, (options.build, target, dsn)))
    print("summary: %d passed, %d failed (%.1f s)" % (results.count("PASS"), results.count("FAIL"),
                                                     time.monotonic() - started))
    return 0 if results and results.count("FAIL") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
