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
reaches the clients of the other, a backend killed or stopped under load
costs (almost) no request, and demo_app --processes=2 works as a backend,
on one shared listening socket or (--reuse_port) on one socket per process.

The checks that need Redis are skipped, with a SKIPPED line saying why, under
--no-redis or when DIR/demo_app has no --redis option.

Output: one line per check (PASS / FAIL / SKIPPED), a summary. Exit status
0 when nothing failed, 1 when a check failed, 77 (skipped) when nginx, or
redis-server when needed, is not installed. Standard library only; every
wait is bounded (a run takes about 15 s); every process started here is
stopped by its PID, also when a check fails.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawws  # noqa: E402
import checks  # noqa: E402
from checks import CheckFailed, expect, expect_equal  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(REPOSITORY, "final", "deploy", "nginx.conf.in")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
EXIT_SKIPPED = 77      # what CTest and automake take for "skipped"

TIMEOUT = 5.0          # the longest any single exchange or start-up may take
# Each backend's line in the upstream block. nginx leaves a failed backend out
# for fail_timeout (10 s by default); 2 s here, so that a restarted backend
# gets requests again soon enough for a test.
FAIL_TIMEOUT = 2
UPSTREAM_OPTIONS = " max_fails=1 fail_timeout=%ds" % FAIL_TIMEOUT
REDIS_READY = "messages go through Redis"   # demo_app logs it once subscribed
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


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


# --- small helpers ----------------------------------------------------------------

def free_port():
    """A port nothing listens on now, for the programs that cannot pick their
    own and print it (nginx, redis-server)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout, pause=0.05):
    """Calls condition until it returns something true, for at most timeout
    seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(pause)


def wait_for_port(port, process, timeout=TIMEOUT):
    def accepts():
        expect(process.poll() is None, "exited with status %s" % process.poll())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return True
        except OSError:
            return False
    expect(wait_until(accepts, timeout), "nothing accepts on port %d after %.0f s" % (port, timeout))


def stop_process(process, signum=signal.SIGTERM, grace=TIMEOUT):
    """Stops a process we started (a subprocess.Popen), by its PID: signum,
    then SIGKILL after grace seconds. True if it had to be killed."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signum)
    try:
        process.wait(timeout=grace)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def kill_leftovers(pids):
    """SIGKILL to the processes of ours still there (the children of one we
    had to kill: nobody else would stop them)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def children_of(pid):
    """The PIDs of a process's children (Linux: /proc/PID/task/*/children)."""
    found = []
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:  # the task ended meanwhile
            pass
    return found


def catches_sigterm(pid):
    """Whether the process has its SIGTERM handler installed. demo_app prints
    its ready line only once it has (it once printed it before, and a SIGTERM
    sent at once killed it the default way, with no graceful stop): the
    checks that send one make sure first."""
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def tcp_sockets():
    """The rows of /proc/net/tcp as (local, remote, state, inode); addresses
    as the kernel writes them: 127.0.0.1:8000 is "0100007F:1F40"."""
    with open("/proc/net/tcp") as table:
        next(table)  # the column names
        return [(fields[1], fields[2], fields[3], fields[9]) for fields in map(str.split, table)]


def loopback(port):
    return "0100007F:%04X" % port


LISTEN, ESTABLISHED = "0A", "01"


def listening_socket_inodes(port):
    """The inodes of the TCP sockets listening on 127.0.0.1:port: one, or
    one per process with SO_REUSEPORT."""
    return {inode for local, _, state, inode in tcp_sockets()
            if state == LISTEN and local == loopback(port)}


def listening_socket_inode(port):
    """The inode of the TCP socket listening on 127.0.0.1:port."""
    return min(listening_socket_inodes(port), default=None)


def open_connections_to(port):
    """How many TCP connections to 127.0.0.1:port are established now,
    counted from their client side."""
    return sum(1 for _, remote, state, _ in tcp_sockets()
               if state == ESTABLISHED and remote == loopback(port))


def socket_inodes(pid):
    """The inodes of the sockets among a process's file descriptors."""
    inodes = set()
    for path in glob.glob("/proc/%d/fd/*" % pid):
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


# --- HTTP -------------------------------------------------------------------------

class Response:
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def json(self):
        return json.loads(self.body)


def http_request(port, method, path, body=None, headers=None, timeout=TIMEOUT, source=None):
    """One request on a connection of its own. source: the client's address
    (bound before connecting), e.g. "127.0.0.2"."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Response(answer.status, answer.read())
    finally:
        connection.close()


def post_message(port, text):
    r = http_request(port, "POST", "/chat/new", urllib.parse.urlencode({"body": text}).encode(), FORM)
    expect_equal(r.status, 200, "POST /chat/new status")
    return r.json()


def chat_updates(port, cursor, timeout=TIMEOUT):
    r = http_request(port, "POST", "/chat/updates", urllib.parse.urlencode({"cursor": cursor}).encode(),
                     FORM, timeout=timeout)
    expect_equal(r.status, 200, "POST /chat/updates status")
    return r.json()["messages"]


class LongPoll:
    """POST /chat/updates in a thread of its own: it waits for a message."""

    def __init__(self, port, cursor, timeout=3 * TIMEOUT):
        self.result = {}
        self.thread = threading.Thread(target=self._poll, args=(port, cursor, timeout), daemon=True)
        self.thread.start()

    def _poll(self, port, cursor, timeout):
        try:
            self.result["messages"] = chat_updates(port, cursor, timeout)
        except Exception as error:  # reported by messages()
            self.result["error"] = error

    def waiting(self):
        return self.thread.is_alive()

    def messages(self, timeout=TIMEOUT):
        self.thread.join(timeout)
        expect(not self.thread.is_alive(), "the long poll did not answer within %.0f s" % timeout)
        expect("error" not in self.result, "the long poll failed: %r" % self.result.get("error"))
        return self.result["messages"]


# --- the processes ----------------------------------------------------------------

# Tornado's access log line: "[I 261123 16:33:41 web:452] 200 GET /?a=1 (127.0.0.1) 0.52ms"
ACCESS_LINE = re.compile(r"\] (\d{3}) ([A-Z]+) (\S+) \(([^)]*)\) [0-9.]+ms$", re.M)


class Backend:
    """One demo_app behind nginx, its stderr (the access log) in a file that
    outlives restarts."""

    def __init__(self, name, program, directory, args):
        self.name = name
        self.program = program
        self.args = args
        self.log_path = os.path.join(directory, name + ".log")
        self.server = None
        self.port = 0

    @property
    def pid(self):
        return self.server.pid

    @property
    def process(self):
        return self.server.process

    def running(self):
        return self.server is not None and self.process.poll() is None

    def start(self, redis_port=None):
        """Starts it on its port (a free one the first time); with Redis, waits
        until it has subscribed, or a message posted at once would stay in
        this process."""
        args = list(self.args)
        if self.port:
            args.append("--port=%d" % self.port)  # after ServerProcess's --port=0: the last one counts
        if redis_port:
            args.append("--redis=127.0.0.1:%d" % redis_port)
        subscribed_before = self.log_text().count(REDIS_READY)
        with open(self.log_path, "ab") as log:
            self.server = ServerProcess(self.program, *args, stderr=log)
            self.server.__enter__()
        self.port = self.server.port
        if redis_port and not wait_until(lambda: self.log_text().count(REDIS_READY) > subscribed_before,
                                         TIMEOUT):
            raise CheckFailed("%s did not log %r within %.0f s" % (self.name, REDIS_READY, TIMEOUT))

    def stop(self):
        if self.server is not None:
            self.server.stop()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def requests(self):
        """(status, method, uri, remote_ip) of each request it logged."""
        return ACCESS_LINE.findall(self.log_text())

    def count(self, method, uri):
        return sum(1 for _, m, u, _ in self.requests() if (m, u) == (method, uri))


def fill(template, values):
    """The template with each placeholder replaced by its value, outside
    comments: the template's header names the placeholders too."""
    lines, used = [], set()
    for line in template.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            for placeholder, value in values.items():
                if placeholder in line:
                    used.add(placeholder)
                    line = line.replace(placeholder, value)
            left = re.findall(r"@[A-Z_]+@", line)
            expect(not left, "a placeholder the test does not know: %s" % ", ".join(left))
        lines.append(line)
    unused = set(values) - used
    expect(not unused, "placeholders not in the template: %s" % ", ".join(sorted(unused)))
    return "".join(lines)


class Nginx:
    """nginx with final/deploy/nginx.conf.in filled in for a directory of its
    own: one "server 127.0.0.1:PORT{server_options};" per upstream port, the
    whole of it on one CPU when `cpu` is given (tests/bench/deploy_bench.py)."""

    def __init__(self, directory, upstream_ports, server_options="", cpu=None):
        self.directory = directory
        self.port = free_port()
        self.config = os.path.join(directory, "nginx.conf")
        self.cpu = cpu
        self.process = None
        with open(TEMPLATE) as template:
            text = template.read()
        servers = "\n        ".join("server 127.0.0.1:%d%s;" % (port, server_options)
                                    for port in upstream_ports)
        values = {"@PREFIX@": directory, "@LISTEN@": "127.0.0.1:%d" % self.port,
                  "@UPSTREAM_SERVERS@": servers}
        with open(self.config, "w") as config:
            config.write(fill(text, values))

    def command(self, *extra):
        # -p: relative paths and the default pid and lock files under our
        # directory; -e: where nginx logs before it has read error_log.
        command = [NGINX, "-p", self.directory + "/", "-c", self.config,
                   "-e", os.path.join(self.directory, "error.log"), *extra]
        return command if self.cpu is None else ["taskset", "-c", str(self.cpu)] + command

    def test_config(self):
        """nginx -t: (exit status, what it said)."""
        done = subprocess.run(self.command("-t"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=TIMEOUT)
        return done.returncode, done.stdout.decode("utf-8", "replace")

    def start(self):
        self.process = subprocess.Popen(self.command("-g", "daemon off;"), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, self.process)
        except CheckFailed as failure:
            raise CheckFailed("nginx: %s; its error log: %s" % (failure, self.error_log()[-600:]))

    def pids(self):
        """The master's and its workers' (once it has forked them)."""
        return [self.process.pid] + children_of(self.process.pid)

    def stop(self):
        """SIGTERM to the master (fast shutdown; it stops its workers). If it
        has to be killed, its workers are killed too, by their PIDs."""
        if self.process is None:
            return
        workers = children_of(self.process.pid)
        if stop_process(self.process):
            kill_leftovers(workers)

    def error_log(self):
        try:
            with open(os.path.join(self.directory, "error.log")) as log:
                return log.read()
        except FileNotFoundError:
            return ""


class Redis:
    def __init__(self):
        self.port = free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        expect(wait_until(self._answers_ping, TIMEOUT), "redis-server does not answer PING")

    def _answers_ping(self):
        expect(self.process.poll() is None, "redis-server exited with status %s" % self.process.poll())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as redis:
                redis.sendall(b"PING\r\n")
                return redis.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        stop_process(self.process)


class Deployment:
    """What the checks see: nginx, the two backends (a and b), Redis (or None)."""

    def __init__(self, program, directory, redis):
        self.program = program
        self.directory = directory
        self.redis = redis
        self.backends = [Backend(name, program, directory, ["--xheaders"]) for name in ("a", "b")]
        self.nginx = None

    @property
    def redis_port(self):
        return self.redis.port if self.redis else None

    def start_backends(self):
        for backend in self.backends:
            backend.start(self.redis_port)

    def get(self, path, **options):
        return http_request(self.nginx.port, "GET", path, **options)

    def served_through_nginx(self, backend, timeout=FAIL_TIMEOUT + 3):
        """Sends GET / through nginx until backend logs one: true if it did
        within timeout (nginx tries a failed backend again after fail_timeout)."""
        before = backend.count("GET", "/")

        def served():
            expect_equal(self.get("/").status, 200, "GET / through nginx")
            return backend.count("GET", "/") > before
        return wait_until(served, timeout, pause=0.1)

    def revive(self, backend):
        """Starts a stopped backend again on its port; waits until nginx sends
        it requests again."""
        if not backend.running():
            backend.start(self.redis_port)
        expect(self.served_through_nginx(backend),
               "backend %s (port %d) served nothing through nginx within %.0f s"
               % (backend.name, backend.port, FAIL_TIMEOUT + 3))

    def stop(self):
        for part in [self.nginx, *self.backends, self.redis]:
            if part is not None:
                part.stop()


# --- load -------------------------------------------------------------------------

class Load:
    """Client threads sending GET / and GET /sleep?ms=50 through nginx, one
    request after the other, each on a new connection; every request's start,
    end and outcome is kept."""

    PATHS = ("/", "/sleep?ms=50")

    def __init__(self, port, threads=4):
        self.port = port
        self.records = []            # (started, ended, path, status or error text)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(index,), daemon=True)
                        for index in range(threads)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 1)

    def _run(self, index):
        count = index
        while not self.stopping.is_set():
            path = self.PATHS[count % len(self.PATHS)]
            count += 1
            started = time.monotonic()
            try:
                outcome = http_request(self.port, "GET", path).status
            except Exception as error:
                outcome = "%s: %s" % (type(error).__name__, error)
            with self.lock:
                self.records.append((started, time.monotonic(), path, outcome))

    def failures(self, records=None):
        return [record for record in (self.records if records is None else records) if record[3] != 200]


def describe(records):
    return "; ".join("%s -> %s" % (path, outcome) for _, _, path, outcome in records[:3])


# =============================================================================
# The checks
# =============================================================================

@check("nginx -t accepts final/deploy/nginx.conf.in with its placeholders filled")
def _(d):
    code, said = d.nginx.test_config()
    expect(code == 0 and "test is successful" in said, "nginx -t: status %d: %s" % (code, said.strip()))


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


@check("A backend killed with SIGKILL under load: nginx sends the next requests to the other; "
       "only requests in flight at the kill may fail")
def _(d):
    victim = d.backends[0]
    margin = 0.05  # nginx needs a moment to see the connections fail
    with Load(d.nginx.port) as load:
        time.sleep(0.8)
        killed_at = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        victim.process.wait(TIMEOUT)
        # Past fail_timeout, nginx tries the dead backend again: that request
        # must be retried on the other too.
        time.sleep(FAIL_TIMEOUT + 1)
    before = [r for r in load.records if r[1] < killed_at]
    in_flight = [r for r in load.records if r[0] < killed_at + margin and r[1] >= killed_at]
    after = [r for r in load.records if r[0] >= killed_at + margin]
    expect(not load.failures(before), "requests failed before the kill: " + describe(load.failures(before)))
    expect(len(after) >= 10, "only %d requests after the kill" % len(after))
    expect(not load.failures(after), "%d of %d requests started after the kill failed: %s"
           % (len(load.failures(after)), len(after), describe(load.failures(after))))
    expect_equal(victim.process.returncode, -signal.SIGKILL, "the killed backend's end")
    return "%d requests, %d failed, of which %d in flight at the kill (%d were in flight)" % (
        len(load.records), len(load.failures()), len(load.failures(in_flight)), len(in_flight))


@check("A backend stopped with SIGTERM under load: it finishes its requests and exits 0, no "
       "request fails; restarted on the same port, nginx sends it requests again")
def _(d):
    for backend in d.backends:  # the previous check killed one
        d.revive(backend)
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

def has_redis_option(program):
    done = subprocess.run([program, "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=TIMEOUT)
    return "--redis" in done.stdout.decode("utf-8", "replace")


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
    directory = tempfile.mkdtemp(prefix="final_deploy_")
    # Started as root, nginx runs its workers as nobody: they must be able to
    # enter the directory (their temporary files are there).
    os.chmod(directory, 0o755)
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
