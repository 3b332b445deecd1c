#!/usr/bin/env python3
"""Black-box checks of final/deploy/: nginx in front of demo_app backends that share the chat in Redis.

    final_deploy_test.py [--bin DIR] [--no-redis]

The test fills final/deploy/nginx.conf.in (the file a user deploys) for a
temporary directory, starts Debian's nginx on it in the foreground with two
demo_app --xheaders backends behind it (DIR/demo_app, default build/bin),
and a redis-server for them (--redis), all on 127.0.0.1 on free ports. Then
it checks, as a client would see it, what the configuration promises: the
requests spread over both backends, the client's address reaches them, a
WebSocket and a long poll pass through, a chat message posted to one backend
reaches the clients of the other, a backend stopped with SIGTERM under load
costs no request, and demo_app --processes=2 works as a backend, on one
shared listening socket or (--reuse_port) on one socket per process.

What the deployment does when a part fails (Redis restarted, a worker or a
backend killed with SIGKILL, nginx reloaded and restarted under load) is
checked by final_fault_test.py (ctest -L fault). The pieces both scripts
start and drive (backends, nginx, Redis, client load) are in deployment.py.

The checks that need Redis are skipped, with a SKIPPED line saying why, under
--no-redis or when DIR/demo_app has no --redis option.

Output: one line per check (PASS / FAIL / SKIPPED), a summary. Exit status
0 when nothing failed, 1 when a check failed, 77 (skipped) when nginx, or
redis-server when needed, is not installed. Standard library only; every
wait is bounded (a run takes about 10 s); every process started here is
stopped by its PID, also when a check fails.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
import checks  # noqa: E402
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from deployment import (  # noqa: E402
    ACCESS_LINE, EXIT_SKIPPED, NGINX, REDIS_SERVER, REPOSITORY, TEMPLATE, TIMEOUT,
    UPSTREAM_OPTIONS, Backend, Deployment, LongPoll, Load, Nginx, Redis, catches_sigterm,
    chat_updates, children_of, describe, has_redis_option, http_request, kill_leftovers,
    listening_socket_inode, listening_socket_inodes, make_directory, open_connections_to,
    post_message, socket_inodes, stop_process, wait_until)


# --- the checks' registry -------------------------------------------------------

class Check:
    def __init__(self, name, function, needs_redis):
        self.name = name
        self.function = function
        self.needs_redis = needs_redis


CHECKS = []


def check(name, needs_redis=False):
    """Registers a check. A check returns nothing, or a note printed after
    its PASS line (figures a learner may want to see)."""
    def register(function):
        CHECKS.append(Check(name, function, needs_redis))
        return function
    return register




# =============================================================================
# The checks
# =============================================================================

@check("nginx -t accepts final/deploy/nginx.conf.in with its placeholders filled")
def _(d):
    code, said = d.nginx.test_config()
    expect(code == 0 and "test is successful" in said, "nginx -t on %s filled in: status %d: %s"
           % (os.path.relpath(TEMPLATE, REPOSITORY), code, said.strip()))


@check("GET / through nginx: 200 'Hello, world'; nginx shares 20 requests between both backends "
       "and keeps its connections to them open")
def _(d):
    before = [len(backend.requests()) for backend in d.backends]
    for _ in range(20):
        r = d.get("/")
        expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / through nginx")

    def served():
        return [len(backend.requests()) - count for backend, count in zip(d.backends, before)]
    # A backend logs a request after it has answered it: wait for the lines.
    wait_until(lambda: sum(served()) >= 20, TIMEOUT)
    counts = served()
    expect_equal(sum(counts), 20, "requests in the backends' logs")
    expect(min(counts) > 0, "one backend served all 20: %s" % counts)
    # Our connections to nginx are closed; nginx's to the backends stay open.
    kept = [open_connections_to(backend.port) for backend in d.backends]
    expect(min(kept) > 0, "no connection from nginx to a backend stayed open (keepalive): %s" % kept)
    return "served by a: %d, b: %d; connections kept open to a: %d, b: %d" % (*counts, *kept)


@check("The backend logs the client's address (127.0.0.2), which nginx sends in X-Real-IP, "
       "not nginx's own (127.0.0.1) nor the X-Real-IP the client forged")
def _(d):
    # Direct to a backend, the header is believed: --xheaders trusts it, which
    # is why only nginx must be able to reach the backends.
    direct = "/?direct-forged=%d" % time.monotonic_ns()
    r = http_request(d.backends[0].port, "GET", direct, headers={"X-Real-IP": "6.6.6.6"})
    expect_equal(r.status, 200, "GET %s direct to a backend" % direct)
    # Through nginx, from 127.0.0.2 (any 127.x.x.x is this machine), with a
    # forged X-Real-IP and X-Forwarded-For: nginx's X-Real-IP replaces them.
    proxied = "/?through-nginx=%d" % time.monotonic_ns()
    r = d.get(proxied, headers={"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6"},
              source="127.0.0.2")
    expect_equal(r.status, 200, "GET %s through nginx" % proxied)

    def logged_address(uri):
        for backend in d.backends:
            for _, _, logged_uri, address in backend.requests():
                if logged_uri == uri:
                    return address
        return None
    wait_until(lambda: logged_address(direct) and logged_address(proxied), TIMEOUT)
    expect_equal(logged_address(direct), "6.6.6.6", "the address logged for a direct request with "
                 "X-Real-IP: 6.6.6.6 (is --xheaders on?)")
    expect_equal(logged_address(proxied), "127.0.0.2", "the address logged for the request through nginx")


@check("A WebSocket through nginx: /ws/echo echoes text and binary, and closes with code 1000")
def _(d):
    # Origin as a browser sends it: the backend accepts the handshake only if
    # it matches the Host nginx passes on (port included).
    origin = "Origin: http://127.0.0.1:%d\r\n" % d.nginx.port
    with rawws.RawWebSocket(d.nginx.port, "/ws/echo", extra_headers=origin) as ws:
        ws.send_frame(rawws.OP_TEXT, "h\u00e9llo through nginx".encode())
        expect_equal(ws.receive_message(), (rawws.OP_TEXT, "h\u00e9llo through nginx".encode()), "text echo")
        payload = bytes(range(256)) * 300  # 76,800 bytes: a 64-bit length, several TCP segments
        ws.send_frame(rawws.OP_BINARY, payload)
        expect(ws.receive_message() == (rawws.OP_BINARY, payload), "the binary echo differs")
        ws.send_frame(rawws.OP_CLOSE, rawws.close_payload(1000, b"bye"))
        code, _ = ws.close_code_and_reason()
        expect_equal(code, 1000, "close code")


def wait_until_everywhere(d, message):
    """Waits until every backend has message as its latest (it comes back to
    each from Redis a moment after /chat/new answered): a cursor a backend
    does not know yet would get every message at once instead of a wait."""
    def everywhere():
        return all(chat_updates(backend.port, "")[-1]["id"] == message["id"] for backend in d.backends)
    expect(wait_until(everywhere, TIMEOUT), "message %s not on every backend within %.0f s"
           % (message["id"], TIMEOUT))


@check("A long poll through nginx waits (2.5 s), then a message posted through nginx reaches it "
       "(Redis joins the backends' rooms)", needs_redis=True)
def _(d):
    latest = post_message(d.nginx.port, "before the long poll")
    wait_until_everywhere(d, latest)
    polls_before = [backend.count("POST", "/chat/updates") for backend in d.backends]
    posts_before = [backend.count("POST", "/chat/new") for backend in d.backends]
    poll = LongPoll(d.nginx.port, latest["id"])
    time.sleep(2.5)
    expect(poll.waiting(), "the long poll answered with no new message: %r" % poll.result)
    posted = post_message(d.nginx.port, "wakes the long poll")
    expect_equal([m["id"] for m in poll.messages()], [posted["id"]], "messages the long poll got")

    # Which backend held the poll and which took the message (round robin
    # usually makes them different: that is what Redis is needed for).
    wait_until(lambda: sum(b.count("POST", "/chat/updates") for b in d.backends) > sum(polls_before), 1.0)
    poller = [b.name for b, n in zip(d.backends, polls_before) if b.count("POST", "/chat/updates") > n]
    poster = [b.name for b, n in zip(d.backends, posts_before) if b.count("POST", "/chat/new") > n]
    return "poll on %s, message posted to %s" % ("+".join(poller) or "?", "+".join(poster) or "?")


@check("A message posted directly to backend a reaches a long poll and a /chat/ws WebSocket "
       "client of backend b, through Redis", needs_redis=True)
def _(d):
    a, b = d.backends
    setup = post_message(a.port, "before the cross-backend test")
    wait_until_everywhere(d, setup)
    with rawws.RawWebSocket(b.port, "/chat/ws") as ws:
        poll = LongPoll(b.port, setup["id"])
        time.sleep(0.3)  # the WebSocket subscribed and the poll waiting, before the message
        expect(poll.waiting(), "the long poll on b answered with no new message: %r" % poll.result)
        posted = post_message(a.port, "posted to a")
        opcode, payload = ws.receive_message()
        expect_equal(opcode, rawws.OP_TEXT, "the WebSocket message's opcode")
        expect_equal(json.loads(payload), posted, "the message b's WebSocket client got")
        expect_equal([m["id"] for m in poll.messages()], [posted["id"]], "messages b's long poll got")


@check("A backend stopped with SIGTERM under load: it finishes its requests and exits 0, no "
       "request fails; restarted on the same port, nginx sends it requests again")
def _(d):
    victim = d.backends[1]
    expect(catches_sigterm(victim.pid), "backend %s has no SIGTERM handler" % victim.name)
    with Load(d.nginx.port) as load:
        time.sleep(0.8)
        stopped_at = time.monotonic()
        os.kill(victim.pid, signal.SIGTERM)
        try:
            code = victim.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed("backend %s still running %.0f s after SIGTERM" % (victim.name, TIMEOUT))
        exit_time = time.monotonic() - stopped_at
        time.sleep(0.5)
    failures = load.failures()
    expect(not failures, "%d of %d requests failed: %s"
           % (len(failures), len(load.records), describe(failures)))
    expect_equal(code, 0, "the stopped backend's exit status")
    # What it answered between the signal and its exit (its log says so).
    _, seen, after_signal = victim.log_text().rpartition("SIGTERM received")
    finished = len(ACCESS_LINE.findall(after_signal)) if seen else "?"
    port = victim.port
    revived_at = time.monotonic()
    d.revive(victim)
    expect_equal(victim.port, port, "the restarted backend's port")
    return ("%d requests, 0 failed; %s finished %s after its SIGTERM and exited after %.2f s; "
            "serving again %.1f s after the restart" % (len(load.records), victim.name, finished,
                                                          exit_time, time.monotonic() - revived_at))


def start_group_of_two(group):
    """Starts a demo_app --processes=2 backend; returns its children's PIDs."""
    group.start()
    children = wait_until(lambda: children_of(group.pid) if len(children_of(group.pid)) == 2 else [],
                          TIMEOUT)
    expect(len(children) == 2, "children of %d: %s, not 2" % (group.pid, children_of(group.pid)))
    return children


def nginx_in_front_of(d, group, name):
    """nginx with the group as its one backend, and ten GET / through it.
    Returns nginx, for the caller to stop."""
    directory = os.path.join(d.directory, name)
    os.mkdir(directory)
    nginx = Nginx(directory, [group.port], UPSTREAM_OPTIONS)
    nginx.start()
    try:
        for _ in range(10):
            r = http_request(nginx.port, "GET", "/")
            expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / through nginx")
    except BaseException:
        nginx.stop()
        raise
    return nginx


def stop_group(group, children):
    """SIGTERM to the parent: it exits 0, and its children are gone.
    Returns how long that took, in seconds."""
    started = time.monotonic()
    os.kill(group.pid, signal.SIGTERM)
    try:
        code = group.process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CheckFailed("the parent still runs %.0f s after SIGTERM" % TIMEOUT)
    elapsed = time.monotonic() - started
    expect_equal(code, 0, "the parent's exit status")
    for child in children:
        expect(not os.path.exists("/proc/%d" % child), "child %d still runs" % child)
    return elapsed


@check("demo_app --processes=2 as the backend: parent and 2 children share one listening socket, "
       "serve through nginx, and SIGTERM to the parent stops all three, exit 0")
def _(d):
    group = Backend("processes", d.program, d.directory, ["--xheaders", "--processes=2"])
    nginx = None
    children = []
    try:
        children = start_group_of_two(group)
        expect(wait_until(lambda: all(catches_sigterm(child) for child in children), TIMEOUT),
               "the children did not install their SIGTERM handler")
        inode = listening_socket_inode(group.port)
        expect(inode is not None, "no socket listens on port %d" % group.port)
        for pid in [group.pid, *children]:
            expect(inode in socket_inodes(pid), "process %d does not hold the listening socket" % pid)
        nginx = nginx_in_front_of(d, group, "nginx-processes")
        elapsed = stop_group(group, children)
        # The parent exits 0 however its children ended: its log says how.
        log = group.log_text()
        for child in children:
            expect(re.search(r"child \d+ \(pid %d\) exited normally" % child, log),
                   "the parent did not log that child %d exited normally" % child)
        return "pids %d, %s; stopped in %.2f s" % (group.pid, ", ".join(map(str, children)), elapsed)
    finally:
        if nginx is not None:
            nginx.stop()
        if group.server is not None and stop_process(group.process):
            kill_leftovers(children)
        group.stop()  # closes its pipe


@check("demo_app --processes=2 --reuse_port as the backend: each child listens on a socket of its "
       "own on the port, both serve through nginx, SIGTERM to the parent stops all three; "
       "--port=0 is refused")
def _(d):
    refused = subprocess.run([d.program, "--port=0", "--reuse_port"], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=TIMEOUT)
    expect_equal(refused.returncode, 2, "demo_app --reuse_port --port=0's exit status")
    expect(b"--reuse_port needs a --port" in refused.stderr,
           "no message naming the problem: %r" % refused.stderr)
    # The port, held by a socket bound with SO_REUSEPORT that never listens:
    # the children can bind it too, and it takes no connection.
    placeholder = socket.socket()
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    placeholder.bind(("127.0.0.1", 0))
    group = Backend("reuse-port", d.program, d.directory, ["--processes=2", "--reuse_port"])
    group.port = placeholder.getsockname()[1]
    nginx = None
    children = []
    try:
        children = start_group_of_two(group)
        sockets = wait_until(lambda: listening_socket_inodes(group.port)
                             if len(listening_socket_inodes(group.port)) == 2 else set(), TIMEOUT)
        expect(len(sockets) == 2, "listening sockets on port %d: %s, not 2"
               % (group.port, listening_socket_inodes(group.port)))
        held = [socket_inodes(pid) & sockets for pid in children]
        expect(all(len(inodes) == 1 for inodes in held) and held[0] != held[1],
               "each child should hold one of the two listening sockets: %s" % held)
        expect(not socket_inodes(group.pid) & sockets, "the parent holds a listening socket")
        nginx = nginx_in_front_of(d, group, "nginx-reuse-port")
        elapsed = stop_group(group, children)
        return "port %d, listening sockets %s, one in each of pids %s; stopped in %.2f s" % (
            group.port, sorted(sockets), ", ".join(map(str, children)), elapsed)
    finally:
        if nginx is not None:
            nginx.stop()
        if group.server is not None and stop_process(group.process):
            kill_leftovers(children)
        group.stop()
        placeholder.close()


# =============================================================================
# Running
# =============================================================================

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(REPOSITORY, "build", "bin"),
                        help="the directory with demo_app (default: build/bin)")
    parser.add_argument("--no-redis", action="store_true", help="skip the checks that need Redis")
    options = parser.parse_args()
    program = os.path.abspath(os.path.join(options.bin, "demo_app"))
    if not os.access(program, os.X_OK):
        print("FAIL  %s is not an executable" % program)
        return 1
    if not os.access(NGINX, os.X_OK):
        print("SKIPPED: nginx is not installed (%s)" % NGINX)
        return EXIT_SKIPPED
    no_redis = None
    if options.no_redis:
        no_redis = "--no-redis"
    elif not has_redis_option(program):
        no_redis = "%s has no --redis option yet" % program
    elif not os.access(REDIS_SERVER, os.X_OK):
        print("SKIPPED: redis-server is not installed (%s)" % REDIS_SERVER)
        return EXIT_SKIPPED

    started = time.monotonic()
    counts = {"PASS": 0, "FAIL": 0, "SKIPPED": 0}
    directory = make_directory("final_deploy_")
    deployment = Deployment(program, directory, None if no_redis else Redis())
    try:
        try:
            if deployment.redis:
                deployment.redis.start()
            deployment.start_backends()
            deployment.nginx = Nginx(directory, [backend.port for backend in deployment.backends],
                                     UPSTREAM_OPTIONS)
        except Exception as error:
            print("FAIL  %stwo demo_app backends start, and nginx.conf is filled in: %s"
                  % ("" if no_redis else "redis-server and ", error))
            print("summary: 0 passed, 1 failed, 0 skipped")
            return 1
        print("testing nginx on port %d -> %s --xheaders on ports %s%s" % (
            deployment.nginx.port, program, ", ".join(str(b.port) for b in deployment.backends),
            "" if no_redis else ", Redis on port %d" % deployment.redis.port))
        for item in CHECKS:
            if item is CHECKS[1]:  # nginx runs from the second check on, once -t has passed or not
                try:
                    deployment.nginx.start()
                except Exception as error:
                    print("FAIL  nginx starts with the filled configuration: %s" % error)
                    counts["FAIL"] += 1
                    break
            outcome = run_check(item, deployment, no_redis)
            counts[outcome] += 1
            sys.stdout.flush()
    finally:
        deployment.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print("summary: %d passed, %d failed, %d skipped (%.1f s)"
          % (counts["PASS"], counts["FAIL"], counts["SKIPPED"], time.monotonic() - started))
    return 1 if counts["FAIL"] else 0


def run_check(item, deployment, no_redis):
    if item.needs_redis and no_redis:
        print("SKIPPED (needs Redis: %s): %s" % (no_redis, item.name))
        return "SKIPPED"
    return checks.run_check(item.name, item.function, deployment)


if __name__ == "__main__":
    sys.exit(main())
