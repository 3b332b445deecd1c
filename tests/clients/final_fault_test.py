#!/usr/bin/env python3
"""The deployment's faults (final/deploy/), one per run, as its clients see them.

    final_fault_test.py FAULT [--bin DIR]

FAULT names the part that fails; the checks say what the deployment must do
about it (DIR/demo_app, default build/bin):

  redis_restart  Two demo_app backends share the chat through one
                 redis-server, with WebSocket (/chat/ws) and long-poll
                 (/chat/updates) clients waiting on each. redis-server is
                 stopped with SIGTERM: each backend keeps serving its own
                 clients (a message posted to it reaches them, the pages
                 answer 200). It is started again on the same port: within
                 RECONNECT_BOUND s both backends relay through it again, and
                 a message posted to either reaches the clients of both.
  worker_kill    demo_app --processes=2 with clients looping GET / on it; one
                 worker is killed with SIGKILL: the parent starts a new one,
                 which serves, and only requests the dead worker was
                 answering may fail.
  nginx_reload   nginx in front of two backends, with clients on new and on
                 kept (keep-alive) connections: nginx -s reload fails no
                 request; a full restart of nginx (stopped by its PID, started
                 again on its port) fails only requests sent while nothing
                 listened, and no request gets a 5xx from a backend.
  backend_kill   nginx in front of two backends under load; one backend is
                 killed with SIGKILL: nginx sends the requests to the other,
                 and every request sent after the kill succeeds.
  postgres_restart
                 Tornado's blog (DIR/blog, final/examples/blog/) on a
                 PostgreSQL cluster of its own, under load. The server is
                 stopped (a fast shutdown): every page answers 503 within
                 OUTAGE_ANSWER_BOUND s, none hangs or fails otherwise, and
                 the blog keeps running. It is started again on the same
                 port: within POSTGRES_BOUND s the pages answer 200 again,
                 and the entry written before is still there.

Each fault is one CTest test, final.fault.FAULT, labelled fault (ctest -L
fault runs the five). The pieces they start and drive come from
deployment.py, shared with final_deploy_test.py, which checks the
deployment when nothing fails.

Output: one line per check (PASS / FAIL; after a FAIL the fault's later
checks are SKIPPED, since they build on it), then a summary. Exit status 0
when nothing failed, 1 when a check failed, 77 (skipped) when nginx,
redis-server or PostgreSQL's server, which the fault needs, is not installed. Standard library only;
every server listens on 127.0.0.1 on a free port; every wait is bounded (a
fault takes 3 to 8 s); every process started here is stopped by its PID, also
when a check fails.
"""
import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tools"))
import pg_cluster  # noqa: E402
import rawws  # noqa: E402
import checks  # noqa: E402
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from deployment import (  # noqa: E402
    EXIT_SKIPPED, FAIL_TIMEOUT, NGINX, REDIS_READY, REDIS_SERVER, REPOSITORY, TIMEOUT,
    UPSTREAM_OPTIONS, Backend, Deployment, LongPoll, Load, Nginx, Redis, answered_by,
    catches_sigterm, chat_updates, children_of, describe, gone, has_redis_option, http_request,
    kill_leftovers, listening_socket_inode, make_directory, post_message, socket_inodes,
    stop_process, tally, wait_until)
from serverproc import ServerProcess  # noqa: E402

# demo_app's chat relay (final/examples/chat/chat_redis.cpp) logs this when
# it loses Redis, then tries again every RECONNECT_PERIOD seconds.
REDIS_LOST = "messages stay in this process"
RECONNECT_PERIOD = 1.0
# From the moment the restarted redis-server answers PING until both backends
# relay through it again. A backend's next attempt comes at most one period
# later, and the attempt itself is two local connections (subscribe, then
# publish); the rest of the bound is room for a loaded two-core machine,
# where a test's processes may wait a second or more for a core.
RECONNECT_BOUND = 5 * RECONNECT_PERIOD
# The clients' pace: each thread waits this long between two requests. The
# point is traffic at every moment of the fault, not the most the machine
# can take: the tests beside this one (make test runs six at once) need
# the cores too.
LOAD_PAUSE = 0.005
STEADY = 1.0   # seconds of load before the fault and after it is over


# --- running the checks ---------------------------------------------------------

class Run:
    """A fault's checks, run in order; each one builds on the ones before,
    so after a failure the rest are only listed, as SKIPPED."""

    def __init__(self):
        self.counts = {"PASS": 0, "FAIL": 0, "SKIPPED": 0}

    def check(self, name, function):
        if self.counts["FAIL"]:
            print("SKIPPED (an earlier check failed): %s" % name)
            self.counts["SKIPPED"] += 1
        else:
            self.counts[checks.run_check(name, lambda _: function(), None)] += 1
        sys.stdout.flush()


def seconds_since(moment):
    return time.monotonic() - moment


# =============================================================================
# redis_restart
# =============================================================================

class ChatClient:
    """A /chat/ws WebSocket client of one backend, which checks that the
    messages it gets are exactly the ones it should, in order."""

    def __init__(self, backend):
        self.backend = backend
        self.ws = rawws.RawWebSocket(backend.port, "/chat/ws", timeout=TIMEOUT)

    def close(self):
        self.ws.sock.close()

    def send(self, text):
        """Posts a message on the WebSocket itself ({"body": TEXT})."""
        self.ws.send_frame(rawws.OP_TEXT, json.dumps({"body": text}).encode())

    def next_message(self, waiting_for):
        """The next message, waited for at most TIMEOUT s."""
        try:
            opcode, payload = self.ws.receive_message()
        except socket.timeout:
            raise CheckFailed("%s's WebSocket client got nothing within %.0f s; it waited for %r"
                              % (self.backend.name, TIMEOUT, waiting_for))
        expect_equal(opcode, rawws.OP_TEXT, "the WebSocket message's opcode")
        return json.loads(payload)

    def receive(self, expected):
        """Waits for the next message, which must be `expected`. Returns how
        long the wait took."""
        started = time.monotonic()
        got = self.next_message(expected["body"])
        expect(got.get("id") == expected["id"], "%s's WebSocket client got %r, expected %r"
               % (self.backend.name, got.get("body"), expected["body"]))
        return seconds_since(started)


def latest_id(backend):
    """The id of the newest message a backend keeps (there is one: every
    check posts before it asks)."""
    return chat_updates(backend.port, "")[-1]["id"]


def waiting_poll(backend):
    """A long poll on a backend, from its newest message: it must still be
    waiting 0.3 s later (nothing new yet)."""
    poll = LongPoll(backend.port, latest_id(backend))
    time.sleep(0.3)
    expect(poll.waiting(), "the long poll on %s answered with no new message: %r"
           % (backend.name, poll.result))
    return poll


def expect_poll_got(poll, backend, message):
    got = poll.messages()
    expect_equal([m["body"] for m in got], [message["body"]], "what the long poll on %s got" % backend.name)


def redis_restart(run, program, directory, cleanup):
    redis = Redis()
    # Two backends, each on its own port, rather than demo_app --processes=2:
    # the processes of a group share one port, and the kernel picks which
    # one takes a connection, so a test could not say "a client of this
    # process" or "a message posted to that one". Both are what the fault
    # is about.
    backends = [Backend(name, program, directory, []) for name in ("a", "b")]
    a, b = backends
    cleanup.callback(redis.stop)          # the callbacks run last first: Redis last
    for backend in backends:
        cleanup.callback(backend.stop)
    clients = {}

    def start():
        redis.start()
        for backend in backends:
            backend.start(redis.port)
        # The first client posts on its own WebSocket: once it gets its
        # message back it is surely subscribed. The second does the same, and
        # its message must reach the first one too.
        hello = {}
        for backend in backends:
            client = clients[backend.name] = ChatClient(backend)
            cleanup.callback(client.close)
            text = "hello from a client of %s" % backend.name
            client.send(text)
            hello[backend.name] = client.next_message(text)
            expect_equal(hello[backend.name]["body"], text, "the message %s's client got" % backend.name)
        clients["a"].receive(hello["b"])
    run.check("redis-server and two demo_app --redis backends start; a message sent on b's "
              "/chat/ws WebSocket reaches a's WebSocket client (Redis joins the rooms)", start)

    def stop_redis():
        lost_before = [backend.log_text().count(REDIS_LOST) for backend in backends]
        redis.process.send_signal(signal.SIGTERM)
        try:
            code = redis.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed("redis-server still runs %.0f s after SIGTERM" % TIMEOUT)
        expect_equal(code, 0, "redis-server's exit status")
        for backend, before in zip(backends, lost_before):
            expect(wait_until(lambda: backend.log_text().count(REDIS_LOST) > before, TIMEOUT),
                   "%s did not log %r within %.0f s" % (backend.name, REDIS_LOST, TIMEOUT))
    run.check("redis-server stopped with SIGTERM (by its PID): it exits 0, and each backend logs "
              "that messages stay in its process", stop_redis)

    def serve_alone(here):
        poll = waiting_poll(here)
        posted = post_message(here.port, "posted to %s while Redis is away" % here.name)
        delay = clients[here.name].receive(posted)
        expect_poll_got(poll, here, posted)
        for path in ("/", "/chat"):
            r = http_request(here.port, "GET", path)
            expect_equal(r.status, 200, "GET %s on %s" % (path, here.name))
        expect(posted["body"].encode() in r.body, "the /chat page of %s does not show %r"
               % (here.name, posted["body"]))
        # That the other backend's clients did not get it is checked by its
        # WebSocket client's next message: the first one posted once Redis is
        # back.
        return "the WebSocket client got it after %.3f s" % delay
    for here in backends:
        run.check("Redis away: a message posted to %s reaches %s's WebSocket and long-poll clients; "
                  "GET / and GET /chat on %s answer 200" % (here.name, here.name, here.name),
                  lambda here=here: serve_alone(here))

    polls = {}

    def restart_redis():
        # Clients that wait while Redis restarts.
        for backend in backends:
            polls[backend.name] = waiting_poll(backend)
        ready_before = [backend.log_text().count(REDIS_READY) for backend in backends]
        redis.start()  # same port: the backends keep trying the address they were given
        back_at = time.monotonic()
        for backend, before in zip(backends, ready_before):
            expect(wait_until(lambda: backend.log_text().count(REDIS_READY) > before,
                              RECONNECT_BOUND - seconds_since(back_at), pause=0.02),
                   "%s did not log %r within %.0f s of redis-server's return"
                   % (backend.name, REDIS_READY, RECONNECT_BOUND))
        return "both relay again %.2f s after redis-server answered PING" % seconds_since(back_at)
    run.check("redis-server started again on the same port: both backends relay through it again "
              "within %.0f s (they retry every %.0f s)" % (RECONNECT_BOUND, RECONNECT_PERIOD),
              restart_redis)

    def relay_again():
        delays = []
        first = post_message(a.port, "posted to a once Redis is back")
        # Each WebSocket client's next message is this one: the other
        # backend's message from while Redis was away never reached it.
        delays += [clients[backend.name].receive(first) for backend in backends]
        for backend in backends:
            expect_poll_got(polls[backend.name], backend, first)
            polls[backend.name] = waiting_poll(backend)
        second = post_message(b.port, "posted to b once Redis is back")
        delays += [clients[backend.name].receive(second) for backend in backends]
        for backend in backends:
            expect_poll_got(polls[backend.name], backend, second)
        return "slowest WebSocket delivery %.3f s" % max(delays)
    run.check("Redis back: a message posted to a, then one posted to b, reach the WebSocket and "
              "long-poll clients of both backends, each within %.0f s" % TIMEOUT, relay_again)


# =============================================================================
# worker_kill
# =============================================================================

def worker_kill(run, program, directory, cleanup):
    group = Backend("workers", program, directory, ["--processes=2"])
    state = {}

    def stop_group():
        """SIGTERM to the parent, which passes it on to its workers. If the
        parent has to be killed, its workers are killed too, by the PIDs
        they had just before: nobody else would stop them."""
        if group.server is None:
            return
        workers = children_of(group.pid)
        if stop_process(group.process):
            kill_leftovers(workers)
        group.stop()  # closes its pipe
    cleanup.callback(stop_group)

    def start():
        group.start()
        found = wait_until(lambda: children_of(group.pid) if len(children_of(group.pid)) == 2 else [],
                           TIMEOUT)
        expect(len(found) == 2, "children of %d: %s, not 2" % (group.pid, children_of(group.pid)))
        expect(wait_until(lambda: all(catches_sigterm(pid) for pid in found), TIMEOUT),
               "the workers did not install their SIGTERM handler")
        state["inode"] = listening_socket_inode(group.port)
        for pid in found:
            expect(state["inode"] in socket_inodes(pid), "worker %d does not hold the listening socket" % pid)
        state["workers"] = found
    run.check("demo_app --processes=2 starts two workers, each holding the one listening socket",
              start)

    threads = 3

    def kill_worker():
        victim, survivor = state["workers"]
        with Load(group.port, threads=threads, pause=LOAD_PAUSE, paths=("/",)) as load:
            time.sleep(STEADY)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            expect(wait_until(lambda: gone(victim), TIMEOUT, pause=0.01),
                   "worker %d still there %.0f s after SIGKILL" % (victim, TIMEOUT))
            dead_at = time.monotonic()

            def new_worker():
                fresh = [pid for pid in children_of(group.pid) if pid not in state["workers"]]
                return fresh[0] if fresh and catches_sigterm(fresh[0]) else None
            replacement = wait_until(new_worker, TIMEOUT, pause=0.01)
            replaced_after = seconds_since(killed_at)
            time.sleep(STEADY)
        expect(replacement, "no new worker (ready for SIGTERM) within %.0f s; children of %d: %s"
               % (TIMEOUT, group.pid, children_of(group.pid)))
        state["workers"] = [survivor, replacement]
        expect(wait_until(lambda: "(pid %d) killed by signal 9, restarting" % victim in group.log_text(),
                          TIMEOUT),
               "the parent did not log that worker %d was killed and restarted" % victim)
        # A connection the dead worker had accepted died with it: nobody else
        # holds that socket. Connections still waiting in the listening
        # socket's queue belong to no worker, and the other one takes them.
        # So the requests that may fail are those in progress when the worker
        # died, at most one per client thread (each sends one at a time).
        in_flight = load.between(killed_at, dead_at)
        others = [r for r in load.records if r not in in_flight]
        expect(not load.failures(others), "%d requests not in progress at the kill failed: %s"
               % (len(load.failures(others)), describe(load.failures(others))))
        expect(len(load.failures(in_flight)) <= threads, "%d requests in progress at the kill failed, "
               "more than one per client thread: %s" % (len(load.failures(in_flight)),
                                                        describe(load.failures(in_flight))))
        after = [r for r in load.records if r.started >= dead_at]
        expect(len(after) >= 10, "only %d requests after the kill" % len(after))
        return ("%d requests, %d failed; in progress when the worker died: %d; new worker %d "
                "ready %.2f s after the kill" % (len(load.records), len(load.failures()),
                                                 len(in_flight), replacement, replaced_after))
    run.check("SIGKILL to one worker while %d clients loop GET / (a new connection each): the parent "
              "starts a new worker within %.0f s; only requests the dead worker was answering may fail "
              "(at most one per client)" % (threads, TIMEOUT), kill_worker)

    def new_worker_serves():
        survivor, replacement = state["workers"]
        expect(state["inode"] in socket_inodes(replacement),
               "the new worker %d does not hold the listening socket" % replacement)
        # With the other worker stopped (SIGSTOP), only the new one can take
        # the connections. SIGCONT in any case, or it would never go on.
        os.kill(survivor, signal.SIGSTOP)
        try:
            for _ in range(10):
                r = http_request(group.port, "GET", "/")
                expect_equal((r.status, r.body), (200, b"Hello, world"), "GET / with only the new worker")
        finally:
            os.kill(survivor, signal.SIGCONT)
    run.check("The new worker holds the listening socket and serves: with the other worker stopped "
              "(SIGSTOP), 10 GET / answer 200", new_worker_serves)

    def stop_all():
        os.kill(group.pid, signal.SIGTERM)
        try:
            code = group.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the parent still runs %.0f s after SIGTERM" % TIMEOUT)
        expect_equal(code, 0, "the parent's exit status")
        for pid in state["workers"]:
            expect(gone(pid), "worker %d still runs" % pid)
    run.check("SIGTERM to the parent stops it and both workers, the new one included; exit status 0",
              stop_all)


# =============================================================================
# nginx_reload and backend_kill: nginx in front of two backends
# =============================================================================

def start_behind_nginx(d):
    """Starts d's two backends and nginx in front of them; waits until nginx
    has sent each backend a request."""
    d.start_backends()
    d.nginx = Nginx(d.directory, [backend.port for backend in d.backends], UPSTREAM_OPTIONS)
    d.nginx.start()
    for backend in d.backends:
        d.revive(backend)


def backend_errors(records):
    """The requests a backend answered with a 5xx: our side's failures."""
    return [r for r in records if isinstance(r.outcome, int) and r.outcome >= 500
            and r.answered_by == "backend"]


def nginx_reload(run, program, directory, cleanup):
    d = Deployment(program, directory, None)
    cleanup.callback(d.stop)

    def tell_apart():
        start_behind_nginx(d)
        ours = d.get("/error/503")
        expect_equal((ours.status, answered_by(ours.body)), (503, "backend"),
                     "GET /error/503 through nginx (status, written by)")
        # A body over client_max_body_size (10m): nginx refuses it itself,
        # from the Content-Length alone, before any backend sees it.
        theirs = http_request(d.nginx.port, "POST", "/echo", headers={"Content-Length": str(11 << 20)})
        expect_equal((theirs.status, answered_by(theirs.body)), (413, "nginx"),
                     "POST /echo with Content-Length: 11 MiB (status, written by)")
    run.check("nginx in front of two backends; its own error pages and the backends' are told apart "
              "(GET /error/503: the backend's 503; an 11 MiB POST: nginx's 413)", tell_apart)

    def reload():
        with Load(d.nginx.port, threads=3, keep_alive=2, pause=LOAD_PAUSE) as load:
            time.sleep(STEADY)
            old = set(d.nginx.workers())
            reload_at = time.monotonic()
            d.nginx.reload()

            def replaced():
                now = set(d.nginx.workers())
                return now and not now & old
            done = wait_until(replaced, TIMEOUT, pause=0.01)
            replaced_after = seconds_since(reload_at)
            time.sleep(STEADY)
        expect(done, "nginx's workers %.0f s after the reload: %s; before: %s"
               % (TIMEOUT, sorted(d.nginx.workers()), sorted(old)))
        failures = load.failures()
        expect(not failures, "%d of %d requests failed: %s" % (len(failures), len(load.records),
                                                               describe(failures)))
        kept = [r for r in load.records if r.connection == "kept"]
        expect(kept, "no request went on a kept connection")
        retried = [r for r in load.records if r.retried]
        return ("%d requests (%d on kept connections), 0 failed; kept connections closed by nginx "
                "and opened again: %d, of which %d while a request was on its way (sent again); "
                "old workers gone %.2f s after the reload"
                % (len(load.records), len(kept), load.reopened, len(retried), replaced_after))
    run.check("nginx -s reload while 3 clients send requests on new connections and 2 on kept ones: "
              "new nginx workers replace the old, and every request answers 200 (a GET on a kept "
              "connection nginx closed while idle is sent again on a new one, as RFC 9112 allows)",
              reload)

    def restart():
        with Load(d.nginx.port, threads=3, keep_alive=2, pause=LOAD_PAUSE) as load:
            time.sleep(STEADY)
            stop_at = time.monotonic()
            # SIGQUIT: the graceful stop. nginx closes its listening socket,
            # finishes the requests it is answering, then exits.
            code = d.nginx.stop(signal.SIGQUIT)
            stopped_after = seconds_since(stop_at)
            d.nginx.start()   # the same configuration, so the same port
            up_at = time.monotonic()
            time.sleep(STEADY)
        expect_equal(code, 0, "the old nginx's exit status")
        # While no nginx listens, a client's connection is refused (or reset,
        # if it was waiting in the old listening socket's queue when that
        # closed): nginx's share of the fault, counted and shown, not a
        # failure. A request outside that window must succeed, and no
        # request at all may get a 5xx from a backend.
        window = load.between(stop_at, up_at)
        outside = [r for r in load.records if r not in window]
        expect(not backend_errors(load.records), "a backend answered 5xx: %s"
               % describe(backend_errors(load.records)))
        expect(not load.failures(outside), "%d requests outside the restart window failed: %s"
               % (len(load.failures(outside)), describe(load.failures(outside))))
        answered = [r for r in load.failures(window) if isinstance(r.outcome, int)]
        expect(all(r.answered_by == "nginx" and r.outcome >= 500 for r in answered),
               "answers in the restart window other than 200 or nginx's own 5xx: %s" % describe(answered))
        return ("%d requests; restart window %.2f s (old nginx gone after %.2f s): %d requests in it, "
                "%d failed (%s)" % (len(load.records), up_at - stop_at, stopped_after, len(window),
                                    len(load.failures(window)), tally(load.failures(window))))
    run.check("nginx stopped (SIGQUIT to the master's PID) and started again on the same port under "
              "the same load: every request outside the restart window answers 200, and none gets "
              "a 5xx from a backend", restart)


def backend_kill(run, program, directory, cleanup):
    d = Deployment(program, directory, None)
    cleanup.callback(d.stop)
    run.check("nginx in front of two backends sends each of them requests",
              lambda: start_behind_nginx(d))

    def kill_backend():
        victim = d.backends[0]
        with Load(d.nginx.port, threads=4, pause=LOAD_PAUSE) as load:
            time.sleep(STEADY)
            killed_at = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)
            victim.process.wait(TIMEOUT)
            dead_at = time.monotonic()
            # Past fail_timeout, nginx tries the dead backend again: that
            # request must be sent on to the other as well.
            time.sleep(FAIL_TIMEOUT + 1)
        # A request the dead backend was answering is sent on to the other by
        # nginx (proxy_next_upstream error; they are all GETs), so none
        # should fail; the window where one may is the requests in progress
        # between the SIGKILL and the backend's end (waitpid returned).
        in_flight = load.between(killed_at, dead_at)
        others = [r for r in load.records if r not in in_flight]
        expect(not load.failures(others), "%d of %d requests not in progress at the kill failed: %s"
               % (len(load.failures(others)), len(others), describe(load.failures(others))))
        after = [r for r in load.records if r.started >= dead_at]
        expect(len(after) >= 10, "only %d requests after the kill" % len(after))
        expect_equal(victim.process.returncode, -signal.SIGKILL, "the killed backend's end")
        # What nginx saw (its error log): requests cut short by the kill, and
        # connections refused by the dead backend's port, each sent on to
        # the other backend.
        log = d.nginx.error_log()
        return ("%d requests, %d failed; in progress at the kill: %d; nginx sent on %d requests "
                "cut short and %d refused connections" % (
                    len(load.records), len(load.failures()), len(in_flight),
                    log.count("upstream prematurely closed") + log.count("Connection reset by peer"),
                    log.count("connect() failed (111")))
    run.check("A backend killed with SIGKILL under load: nginx sends its requests to the other; every "
              "request after the kill, and after fail_timeout (%d s) when nginx tries the dead one "
              "again, succeeds" % FAIL_TIMEOUT, kill_backend)


# =============================================================================
# postgres_restart
# =============================================================================

# How long a page may take to say 503 while PostgreSQL is down: a query in
# flight fails as soon as the loop sees its connection close, and a new one
# at once while no connection can be made (the pool fails fast then).
OUTAGE_ANSWER_BOUND = 2.0
# From the moment the restarted server accepts connections until the pages
# answer 200 again: the pool tries at most max_reconnect_delay (1 s) later,
# then one connect; the rest is room for a loaded two-core machine.
POSTGRES_BOUND = 5.0
ENTRY_SLUG = "written-before-the-fault"
ENTRY_PATHS = ("/archive", "/entry/" + ENTRY_SLUG)


def psql(dsn, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL, timeout=TIMEOUT)


def postgres_restart(run, program, directory, cleanup):
    cluster = os.path.join(directory, "postgres")
    state = {}

    def start():
        state["dsn"] = pg_cluster.start(cluster, tls=False)
        cleanup.callback(pg_cluster.stop, cluster)
        blog = ServerProcess(program, "--dsn=" + state["dsn"], stderr=subprocess.DEVNULL)
        blog.__enter__()
        cleanup.callback(blog.stop)
        state["blog"] = blog
        # An author and an entry, written into the tables the blog made at
        # its start, as if composed before the fault.
        psql(state["dsn"], "INSERT INTO authors (email, name, hashed_password) "
                           "VALUES ('fault@example.com', 'Fault', 'x');"
                           "INSERT INTO entries (author_id, slug, title, markdown, html, published, updated) "
                           "SELECT id, '%s', 'Before the fault', 'text', '<p>text</p>', "
                           "now(), now() FROM authors" % ENTRY_SLUG)
        for path in ENTRY_PATHS:
            answer = http_request(blog.port, "GET", path)
            expect_equal(answer.status, 200, "GET %s" % path)
    run.check("the blog on a PostgreSQL cluster of its own serves an entry written before the fault",
              start)

    def restart():
        blog = state["blog"]
        port = int(state["dsn"].split("port=")[1].split()[0])
        with Load(blog.port, threads=4, pause=LOAD_PAUSE, paths=ENTRY_PATHS) as load:
            time.sleep(STEADY)
            stopping = time.monotonic()
            pg_cluster.stop(cluster)
            stopped = time.monotonic()
            time.sleep(STEADY)
            restarting = time.monotonic()
            pg_cluster.start(cluster, tls=False, port=port)
            up = time.monotonic()
            wait_until(lambda: any(r.started > up and r.outcome == 200 for r in load.records),
                       POSTGRES_BOUND)
            back = min(r.started for r in load.records if r.started > up and r.outcome == 200)
            time.sleep(STEADY)
        before = [r for r in load.records if r.ended < stopping]
        outage = [r for r in load.records if r.started > stopped and r.ended < restarting]
        after = [r for r in load.records if r.started > back]
        expect(not load.failures(before), "before the stop: %s" % tally(before))
        expect(len(outage) >= 10, "only %d requests while the server was down" % len(outage))
        not_503 = [r for r in outage if r.outcome != 503]
        expect(not not_503, "while the server was down, not 503: %s" % describe(not_503))
        slow = [r for r in outage if r.ended - r.started > OUTAGE_ANSWER_BOUND]
        expect(not slow, "%d answers took over %.0f s while the server was down"
               % (len(slow), OUTAGE_ANSWER_BOUND))
        expect(back - up < POSTGRES_BOUND, "200 again %.1f s after the restart" % (back - up))
        expect(not load.failures(after), "after the recovery: %s" % tally(after))
        expect(blog.process.poll() is None, "the blog exited: %s" % blog.process.poll())
        answer = http_request(blog.port, "GET", "/entry/" + ENTRY_SLUG)
        expect(answer.status == 200 and b"Before the fault" in answer.body,
               "the entry after the restart: %d" % answer.status)
        slowest = max(r.ended - r.started for r in outage)
        return ("%d requests: before %s; while down %s (the slowest %.0f ms); 200 again %.2f s "
                "after the server was up; after %s" % (
                    len(load.records), tally(before), tally(outage), slowest * 1000, back - up,
                    tally(after)))
    run.check("PostgreSQL stopped under load and started again on its port: every page answers 503 "
              "promptly while it is down, 200 within %.0f s of its return, the entry is kept"
              % POSTGRES_BOUND, restart)


# =============================================================================
# Running
# =============================================================================

# The program each fault runs (in --bin), and what it needs besides: (name,
# its path) pairs.
POSTGRES_SERVER = (sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres")) or
                   ["/usr/lib/postgresql/15/bin/postgres"])[-1]
FAULTS = {
    "redis_restart": (redis_restart, "demo_app", [("redis-server", REDIS_SERVER)]),
    "worker_kill": (worker_kill, "demo_app", []),
    "nginx_reload": (nginx_reload, "demo_app", [("nginx", NGINX)]),
    "backend_kill": (backend_kill, "demo_app", [("nginx", NGINX)]),
    "postgres_restart": (postgres_restart, "blog", [("PostgreSQL's server", POSTGRES_SERVER),
                                                   ("psql", "/usr/bin/psql")]),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fault", choices=sorted(FAULTS), help="the fault to cause and check")
    parser.add_argument("--bin", default=os.path.join(REPOSITORY, "build", "bin"),
                        help="the directory with demo_app and blog (default: build/bin)")
    options = parser.parse_args()
    function, program_name, needs = FAULTS[options.fault]
    program = os.path.abspath(os.path.join(options.bin, program_name))
    if not os.access(program, os.X_OK):
        print("FAIL  %s is not an executable" % program)
        return 1
    for name, path in needs:
        if not os.access(path, os.X_OK):
            print("SKIPPED: %s is not installed (%s)" % (name, path))
            return EXIT_SKIPPED
    if function is redis_restart and not has_redis_option(program):
        print("SKIPPED: %s has no --redis option" % program)
        return EXIT_SKIPPED

    started = time.monotonic()
    run = Run()
    directory = make_directory("final_fault_")
    print("fault %s: %s, files in %s" % (options.fault, program, directory))
    sys.stdout.flush()
    try:
        # Every process a check starts registers how to stop it here, so
        # that they are stopped when a check fails or raises as well.
        with contextlib.ExitStack() as cleanup:
            function(run, program, directory, cleanup)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("summary: %d passed, %d failed, %d skipped (%.1f s)"
          % (run.counts["PASS"], run.counts["FAIL"], run.counts["SKIPPED"], seconds_since(started)))
    return 1 if run.counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
