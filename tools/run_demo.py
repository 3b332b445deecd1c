#!/usr/bin/env python3
"""Start a demo as `make run` does: say how to talk to it, then run it.

    make run [RUN_TARGET=ch10_h2_server] [EXERCISE=1] [RUN_ARGS="--port=9000"]

builds the program (with EXERCISE=1 its variant on the learner's exercise,
RUN_TARGET_exercise: cmake/Course.cmake, course_program), then calls

    tools/run_demo.py --build build [--exercise] TARGET [ARGS ...]

which prints the lines to paste into a second terminal (DEMOS below: the
clients each chapter's lesson points at its demo) and starts the program
with its own defaults, or ARGS. A demo that needs PostgreSQL (the blog,
ch09_app) gets a cluster of its own in build/TARGET-postgres
(tools/pg_cluster.py), kept from one run to the next with its data and
stopped when the demo exits; --dsn names another instead.

tests/clients/demo_defaults_test.py starts every demo of DEMOS through
start() below, as make run does, and runs its checks. Standard library
only.
"""
import argparse
import os
import signal
import subprocess
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import pg_cluster  # noqa: E402


class Demo:
    """talk: the lines for a second terminal. checks: what the test asks
    of it once it runs, each (kind, port, path, expected text in the
    answer): kind "http" (curl over HTTP/1.1), "h2c" (curl with HTTP/2 by
    prior knowledge) or "exits" (a program that runs and ends by itself:
    its exit status 0). postgres: how it takes a DSN ("--dsn" as an
    option, "env" as TORNADO_POSTGRES_DSN)."""

    def __init__(self, talk, checks, postgres=None):
        self.talk, self.checks, self.postgres = talk, checks, postgres


HELLO = [("http", 8888, "/", "Hello")]
DEMOS = {
    "ch01_iterative_server": Demo(
        ["nc 127.0.0.1 8888                # type lines: they come back; a second nc waits",
         "curl -i http://127.0.0.1:8888/"], HELLO),
    "ch01_threaded_server": Demo(
        ["nc 127.0.0.1 8888                # type lines: they come back; a second nc does not wait",
         "curl -i http://127.0.0.1:8888/"], HELLO),
    "ch02_select_server": Demo(
        ["nc 127.0.0.1 8888                # hold it open, and curl is still answered",
         "curl -i http://127.0.0.1:8888/"], HELLO),
    "ch03_server": Demo(
        ["python3 tests/clients/slow_client.py --port 8888   # a client that never finishes",
         "curl -i http://127.0.0.1:8888/"], HELLO),
    "ch03_timers": Demo(["(nothing to talk to: it prints its timers for 1.5 s, then ends)"],
                        [("exits", None, None, None)]),
    "ch04_echo_server": Demo(
        ["nc 127.0.0.1 8888                # lines come back",
         "curl -i http://127.0.0.1:8888/"], HELLO),
    "ch05_http_server": Demo(
        ["curl -i http://127.0.0.1:8888/",
         "curl -i 'http://127.0.0.1:8888/sleep?ms=2000' & curl -i http://127.0.0.1:8888/",
         "curl -i --data-binary 'hello' http://127.0.0.1:8888/echo"], HELLO),
    "ch06_app": Demo(
        ["curl -i http://127.0.0.1:8888/", "curl -i http://127.0.0.1:8888/story/1",
         "curl -i http://127.0.0.1:8888/error/418"], HELLO),
    "ch07_demo": Demo(
        ["curl -i 'http://127.0.0.1:8888/parallel?ms=500'     # two fetches at once: about 0.5 s",
         "curl -i 'http://127.0.0.1:8888/sequential?ms=500'   # one after the other: about 1 s"],
        HELLO + [("http", 8888, "/parallel?ms=50", "")]),
    "ch07_three_ways": Demo(["(nothing to talk to: it runs the task both ways, checks them, then ends)"],
                            [("exits", None, None, None)]),
    "ch08_app": Demo(
        ["curl -i 'http://127.0.0.1:8888/sleep?ms=1000' & curl -i http://127.0.0.1:8888/",
         "curl -i 'http://127.0.0.1:8888/parallel?ms=500'"],
        HELLO + [("http", 8888, "/sleep?ms=10", "slept 10")]),
    "ch08_trace": Demo(["(nothing to talk to: it prints a coroutine's steps, then ends)"],
                       [("exits", None, None, None)]),
    "ch09_app": Demo(
        ["curl -i 'http://127.0.0.1:8888/page?ms=50'",
         "curl -i http://127.0.0.1:8888/stats"],
        HELLO + [("http", 8888, "/page?ms=10", "")], postgres="--dsn"),
    "ch10_h2_server": Demo(
        ["curl --http2-prior-knowledge http://127.0.0.1:8443/headers",
         "nghttp -nv http://127.0.0.1:8443/img/1.svg       # every frame, both ways",
         "nghttp -nas http://127.0.0.1:8443/               # the page and its 60 images, one connection",
         "curl -i http://127.0.0.1:8888/                   # the same application over HTTP/1.1"],
        [("h2c", 8443, "/img/1.svg", "<svg"), ("http", 8888, "/", "pictures over HTTP/1.1")]),
    "demo_app": Demo(
        ["curl -i http://127.0.0.1:8888/",
         "open http://127.0.0.1:8888/demos in a browser: every demo, one line each (try /chat in two windows)"],
        [("http", 8888, "/", ""), ("http", 8888, "/demos", "")]),
    "blog": Demo(["open http://127.0.0.1:8888/ in a browser: create its author, write the first post"],
                 [("http", 8888, "/", "")], postgres="env"),
}


def program_path(build, target, exercise):
    return os.path.join(build, "bin", target + ("_exercise" if exercise else ""))


def cluster_dsn(build, target):
    """The DSN of the demo's own cluster in build/TARGET-postgres, started
    (and made, the first time)."""
    folder = os.path.join(build, target + "-postgres")
    pg_cluster.start(folder, tls=False)
    return pg_cluster.dsn_of(folder), folder


def start(build, target, args, exercise=False, dsn=None, **popen):
    """The demo's process, started as make run starts it, and the cluster
    folder to stop when it ends (None if the demo has none, or was given
    a DSN)."""
    demo = DEMOS.get(target)
    command = [program_path(build, target, exercise)] + list(args)
    env = dict(os.environ)
    cluster = None
    if demo and demo.postgres:
        if dsn is None:
            dsn, cluster = cluster_dsn(build, target)
        if demo.postgres == "--dsn":
            command.append("--dsn=" + dsn)
        else:
            env["TORNADO_POSTGRES_DSN"] = dsn
    return subprocess.Popen(command, env=env, **popen), cluster


def announce(target, exercise, build, args):
    demo = DEMOS.get(target)
    which = "your exercise's code" if exercise else "the reference code"
    print("Starting %s %s(%s; Ctrl-C stops it)" % (program_path(build, target, exercise),
                                                   "".join(a + " " for a in args), which))
    talk = demo.talk if demo else ["curl -i http://127.0.0.1:8888/   (or open that address in a browser)"]
    print("Talk to it, from a second terminal%s:" % (" (on the ports your options give)" if args else ""))
    for line in talk:
        print("    " + line)
    if demo and demo.postgres:
        print("Its PostgreSQL: a cluster of its own in %s, kept with its data" %
              os.path.join(build, target + "-postgres"))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="the build folder (build/)")
    parser.add_argument("--exercise", action="store_true",
                        help="run TARGET_exercise, the demo on the learner's exercise")
    parser.add_argument("--dsn", help="for a demo that needs PostgreSQL: this DSN, no cluster of its own")
    parser.add_argument("target")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the program's own options")
    options = parser.parse_args()
    program = program_path(options.build, options.target, options.exercise)
    if not os.path.exists(program):
        if options.exercise and options.target not in DEMOS:
            sys.exit("run_demo: %s is not a chapter's demo: EXERCISE=1 runs one of %s" %
                     (options.target, ", ".join(t for t in DEMOS if t.startswith("ch"))))
        sys.exit("run_demo: %s is not built" % program)
    announce(options.target, options.exercise, options.build, options.args)
    process, cluster = start(options.build, options.target, options.args, options.exercise, options.dsn)
    # Ctrl-C reaches the demo too (one process group): it stops, then we
    # stop its cluster.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = process.wait()
    if cluster:
        pg_cluster.stop(cluster)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
