#!/usr/bin/env python3
"""Black-box checks of the guide's programs (final/examples/guide/).

    final_guide_test.py --bin build/bin [--only 1,2,3,4,5,7,8,9,10]

Each step's program (guide_1_hello ... guide_5_websocket) is started with
--port=0 (tests/clients/serverproc.py) and checked for what the guide
(final/README.md, and the pages of steps 7 to 10 in final/examples/guide/)
says it does: the status and body of each page, that the links
reverse_url made lead to the stories, the template's output and its
escaping, what /fetch shows of an upstream (a small http.server this
script runs on 127.0.0.1, so that nothing leaves the machine), and a
WebSocket round trip (tests/clients/rawws.py). Step 7 fills
final/examples/guide/7_nginx.conf.in for a temporary directory, starts
Debian's nginx on it in front of guide_5_websocket, and checks a page and a
WebSocket round trip through it; without nginx those checks print SKIPPED.
(Step 6 is a GoogleTest program, run by CTest as final.guide_6_test.) Step
8 starts a PostgreSQL cluster of its own (tools/pg_cluster.py), runs
guide_8_database on it, adds and reads notes, then stops the server and
expects a prompt 503; without the server (or the program, where libpq was
not found) those checks print SKIPPED. Step 9 asks guide_9_http2 for its
page with curl over HTTP/2 (prior knowledge, and Upgrade: h2c) and over
HTTP/1.1, and makes a WebSocket round trip beside them. Step 10 starts
guide_10_http3 with a certificate of its own (openssl) and checks that its
HTTPS answer names HTTP/3 in Alt-Svc and that gtlsclient gets the same
page over HTTP/3.

One line per check (PASS / FAIL / SKIPPED), then a summary. Exit status 1
when a check failed, 77 when every check that was asked for was skipped,
else 0. Standard library only; every wait is bounded; every process started
here is stopped by its PID; everything listens on 127.0.0.1.
"""
import argparse
import http.client
import http.server
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
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "tools"))
import pg_cluster  # noqa: E402
from certificate import make_certificate  # noqa: E402
import rawws  # noqa: E402
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from serverproc import ServerProcess, children_of  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX_TEMPLATE = os.path.join(REPOSITORY, "final", "examples", "guide", "7_nginx.conf.in")
NGINX = "/usr/sbin/nginx"
EXIT_SKIPPED = 77
TIMEOUT = 10
UPSTREAM_BODY = b"upstream says <hi> & bye\n"


# --- helpers -----------------------------------------------------------------------

def get(port, path):
    """(status, body) of GET path on 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def free_port():
    """A port nothing listens on now (for nginx, which cannot pick its own)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        expect(process.poll() is None, "exited with status %s" % process.poll())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise CheckFailed("nothing accepts on port %d after %.0f s" % (port, timeout))


class Upstream:
    """What /fetch fetches: GET /hello answers UPSTREAM_BODY, anything else
    404. An http.server on a thread of this script."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/hello"
            body = UPSTREAM_BODY if found else b"not here\n"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream.Handler)
        self.server.timeout = TIMEOUT
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/hello" % self.server.server_address[1]
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


# --- what each step promises ----------------------------------------------------------

def says_hello(port):
    status, body = get(port, "/")
    expect_equal((status, body), (200, b"Hello, world"), "GET /")


def unknown_path_is_404(port):
    expect_equal(get(port, "/nowhere")[0], 404, "GET /nowhere")


def links_lead_to_the_stories(port):
    status, body = get(port, "/")
    expect_equal(status, 200, "GET /")
    expect(b"Hello, world" in body, "GET / does not say Hello, world: %r" % body[:200])
    links = re.findall(rb'<a href="([^"]+)">story ([0-9]+)</a>', body)
    expect_equal(links, [(b"/story/1", b"1"), (b"/story/2", b"2"), (b"/story/3", b"3")],
                 "the links on /")
    for target, number in links:
        expect_equal(get(port, target.decode()), (200, b"this is story " + number),
                     "GET %s" % target.decode())


def story_needs_a_number(port):
    expect_equal(get(port, "/story/seven")[0], 404, "GET /story/seven")


def page_is_the_template(port):
    status, body = get(port, "/")
    expect_equal(status, 200, "GET /")
    expect(body.startswith(b"<!doctype html>\n<title>The guide's app</title>\n"),
           "GET / is not templates/index.html: %r" % body[:100])


def template_escapes_the_name(port):
    status, body = get(port, "/?name=%3Cscript%3Ex%3C/script%3E")
    expect_equal(status, 200, "GET /?name=<script>x</script>")
    expect(b"<p>Hello, &lt;script&gt;x&lt;/script&gt;</p>" in body and b"<script>" not in body,
           "the name is not escaped: %r" % body[:200])


def fetch_shows_the_upstream(port, upstream_url):
    status, body = get(port, "/fetch")
    expect_equal(status, 200, "GET /fetch")
    expected = b"<p>%s answered 200 with %d bytes:</p>" % (upstream_url.encode(),
                                                           len(UPSTREAM_BODY))
    expect(expected in body, "GET /fetch lacks %r: %r" % (expected, body[:300]))
    expect(b"upstream says &lt;hi&gt; &amp; bye" in body,
           "GET /fetch does not show the upstream's body, escaped: %r" % body[:300])


def no_upstream_is_502(port):
    expect_equal(get(port, "/fetch")[0], 502, "GET /fetch with nothing at --upstream")


def websocket_round_trip(port, origin=None):
    """With an Origin header, as a browser's page on that origin sends it."""
    extra = "Origin: %s\r\n" % origin if origin else ""
    with rawws.RawWebSocket(port, "/ws/echo", extra_headers=extra) as ws:
        for text in (b"hello", "h\u00e9llo again".encode()):
            ws.send_frame(rawws.OP_TEXT, text)
            expect_equal(ws.receive_message(), (rawws.OP_TEXT, b"You said: " + text),
                         "the answer to %r" % text)
        ws.send_frame(rawws.OP_CLOSE, rawws.close_payload(1000))
        expect_equal(ws.close_code_and_reason()[0], 1000, "the close code echoed")


def websocket_route_wants_an_upgrade(port):
    expect_equal(get(port, "/ws/echo")[0], 400, "GET /ws/echo without Upgrade")


# --- running them -------------------------------------------------------------------

class Report:
    def __init__(self):
        self.counts = {"PASS": 0, "FAIL": 0, "SKIPPED": 0}

    def run(self, name, function, argument):
        self.counts[run_check(name, function, argument)] += 1
        sys.stdout.flush()

    def fail(self, name, why):
        print("FAIL  %s: %s" % (name, why))
        self.counts["FAIL"] += 1

    def skip(self, name, why):
        print("SKIPPED  %s: %s" % (name, why))
        self.counts["SKIPPED"] += 1


def check_program(report, bin_dir, program, args, checks):
    """Starts program --port=0 with args and runs each (name, function) on its port."""
    path = os.path.join(bin_dir, program)
    try:
        server = ServerProcess(path, *args, stderr=subprocess.DEVNULL).__enter__()
    except Exception as error:
        report.fail("%s starts and prints its ready line" % program, error)
        return
    try:
        for name, function in checks:
            report.run("%s: %s" % (program, name), function, server.port)
    finally:
        server.stop()


def step_1(report, bin_dir, upstream):
    check_program(report, bin_dir, "guide_1_hello", [], [
        ("GET / is 200 'Hello, world'", says_hello),
        ("an unknown path is 404", unknown_path_is_404)])


def step_2(report, bin_dir, upstream):
    check_program(report, bin_dir, "guide_2_routes", [], [
        ("GET / links (reverse_url) to /story/1..3, each 200 'this is story N'",
         links_lead_to_the_stories),
        ("/story/seven matches no route: 404", story_needs_a_number)])


def step_3(report, bin_dir, upstream):
    check_program(report, bin_dir, "guide_3_template", [], [
        ("GET / is templates/index.html", page_is_the_template),
        ("the template's links (reverse_url) lead to the stories", links_lead_to_the_stories),
        ("the template escapes ?name=<script>", template_escapes_the_name)])


def step_4(report, bin_dir, upstream):
    check_program(report, bin_dir, "guide_4_fetch", ["--upstream=" + upstream.url], [
        ("GET / is still the template with its links", links_lead_to_the_stories),
        ("GET /fetch shows what --upstream answered, escaped",
         lambda port: fetch_shows_the_upstream(port, upstream.url))])
    check_program(report, bin_dir, "guide_4_fetch",
                  ["--upstream=http://127.0.0.1:%d/" % free_port()], [
        ("GET /fetch with nothing at --upstream is 502", no_upstream_is_502)])


def step_5(report, bin_dir, upstream):
    check_program(report, bin_dir, "guide_5_websocket", ["--upstream=" + upstream.url], [
        ("GET / is still the template with its links", links_lead_to_the_stories),
        ("GET /fetch still shows the upstream", lambda port: fetch_shows_the_upstream(
            port, upstream.url)),
        ("/ws/echo answers each message 'You said: ...', and echoes the close",
         websocket_round_trip),
        ("GET /ws/echo without an Upgrade is 400", websocket_route_wants_an_upgrade)])


def post_form(port, path, fields):
    """(status, Location) of a form POSTed to path."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("POST", path, urllib.parse.urlencode(fields),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        connection.close()


def notes_are_kept_and_escaped(port):
    expect_equal(get(port, "/notes")[0], 200, "GET /notes on an empty table")
    for text in ["first note", "<b>bold</b>", "'); DROP TABLE notes; --"]:
        expect_equal(post_form(port, "/notes", {"text": text}), (302, "/notes"),
                     "POST /notes text=%r" % text)
    status, body = get(port, "/notes")
    expect_equal(status, 200, "GET /notes")
    page = body.decode()
    expect(page.index("&#39;); DROP TABLE notes; --") < page.index("&lt;b&gt;bold&lt;/b&gt;")
           < page.index("first note"), "the notes, newest first, escaped: %s" % page)


DATABASE_CHECKS = [
    "guide_8_database: notes are kept, newest first, escaped; SQL in a note stays text",
    "guide_8_database: with the server stopped, GET /notes is a prompt 503",
]


def step_8(report, bin_dir, upstream):
    program = os.path.join(bin_dir, "guide_8_database")
    if not os.access(program, os.X_OK):
        for name in DATABASE_CHECKS:
            report.skip(name, "guide_8_database is not built (libpq was not found)")
        return
    directory = tempfile.mkdtemp(prefix="final_guide_postgres_")
    server = None
    try:
        try:
            dsn = pg_cluster.start(directory, tls=False)
        except pg_cluster.ClusterError as error:
            for name in DATABASE_CHECKS:
                report.skip(name, str(error))
            return
        try:
            server = ServerProcess(program, "--dsn=" + dsn, stderr=subprocess.DEVNULL).__enter__()
        except Exception as error:
            report.fail("guide_8_database starts and prints its ready line", error)
            return
        report.run(DATABASE_CHECKS[0], notes_are_kept_and_escaped, server.port)

        def unavailable_when_the_server_is_gone(port):
            pg_cluster.stop(directory)
            started = time.monotonic()
            status = get(port, "/notes")[0]
            expect_equal(status, 503, "GET /notes with PostgreSQL stopped")
            expect(time.monotonic() - started < 5, "the 503 took %.1f s" % (time.monotonic() - started))
        report.run(DATABASE_CHECKS[1], unavailable_when_the_server_is_gone, server.port)
    finally:
        if server is not None:
            server.stop()
        pg_cluster.stop(directory, remove=True)


NGINX_CHECKS = [
    "nginx -t accepts 7_nginx.conf.in, filled in",
    "through nginx: GET / and the story links",
    "through nginx: GET /fetch",
    "through nginx: a WebSocket round trip on /ws/echo, with a browser's Origin",
]


def fill(template, values):
    """The template with its placeholders replaced, outside comments (its
    header names them too)."""
    lines = []
    for line in template.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            for placeholder, value in values.items():
                line = line.replace(placeholder, value)
            left = re.findall(r"@[A-Z_]+@", line)
            expect(not left, "a placeholder the test does not know: %s" % ", ".join(left))
        lines.append(line)
    return "".join(lines)


def stop_nginx(process):
    """SIGTERM to the master (it stops its worker); SIGKILL to both, by their
    PIDs, if it has not exited after TIMEOUT s."""
    workers = children_of(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def step_7(report, bin_dir, upstream):
    if not os.access(NGINX, os.X_OK):
        for name in NGINX_CHECKS:
            report.skip(name, "nginx is not installed (%s; Debian's nginx-light)" % NGINX)
        return
    directory = tempfile.mkdtemp(prefix="final_guide_nginx_")
    # Started as root, nginx runs its worker as nobody, which must be able
    # to enter the directory (its temporary files are there).
    os.chmod(directory, 0o755)
    server = nginx = None
    try:
        try:
            server = ServerProcess(os.path.join(bin_dir, "guide_5_websocket"),
                                   "--upstream=" + upstream.url,
                                   stderr=subprocess.DEVNULL).__enter__()
        except Exception as error:
            report.fail("guide_5_websocket starts behind nginx", error)
            return
        port = free_port()
        config = os.path.join(directory, "nginx.conf")
        with open(NGINX_TEMPLATE) as template:
            text = fill(template.read(), {"@PREFIX@": directory,
                                          "@LISTEN@": "127.0.0.1:%d" % port,
                                          "@BACKEND@": "127.0.0.1:%d" % server.port})
        with open(config, "w") as out:
            out.write(text)
        # -p: the prefix for anything left relative; -e: where nginx logs
        # before it has read error_log.
        command = [NGINX, "-p", directory + "/", "-c", config,
                   "-e", os.path.join(directory, "error.log")]

        def config_is_valid(_):
            done = subprocess.run(command + ["-t"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=TIMEOUT)
            expect(done.returncode == 0, "nginx -t: %s" % done.stdout.decode("utf-8", "replace"))
        report.run(NGINX_CHECKS[0], config_is_valid, None)
        nginx = subprocess.Popen(command + ["-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, nginx)
        except CheckFailed as failure:
            for name in NGINX_CHECKS[1:]:
                report.fail(name, "nginx did not start: %s" % failure)
            return
        report.run(NGINX_CHECKS[1], links_lead_to_the_stories, port)
        report.run(NGINX_CHECKS[2], lambda p: fetch_shows_the_upstream(p, upstream.url), port)
        # The Origin of a page served through nginx: the server accepts it
        # only if nginx passed the client's Host on, port included.
        report.run(NGINX_CHECKS[3],
                   lambda p: websocket_round_trip(p, "http://127.0.0.1:%d" % p), port)
    finally:
        if nginx is not None:
            stop_nginx(nginx)
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def same_page_over_http2(port):
    """curl speaks HTTP/2 by prior knowledge and by Upgrade: h2c; both get
    the page HTTP/1.1 gets."""
    def curl(*options):
        done = subprocess.run(["curl", "-sS", *options, "-w", "\n%{http_version}", "http://127.0.0.1:%d/" % port],
                              capture_output=True, timeout=TIMEOUT)
        expect_equal(done.returncode, 0, "curl %s's exit status (%s)" % (" ".join(options), done.stderr[-200:]))
        body, _, version = done.stdout.rpartition(b"\n")
        return version.decode(), body
    version1, page = curl("--http1.1")
    expect_equal(version1, "1.1", "GET / with --http1.1")
    for option in ("--http2-prior-knowledge", "--http2"):
        expect_equal(curl(option), ("2", page), "GET / with %s: the version and the page" % option)


def step_9(report, bin_dir, upstream):
    if not os.path.exists(os.path.join(bin_dir, "guide_9_http2")):
        report.skip("guide_9_http2", "not built")
        return
    if shutil.which("curl") is None:
        report.skip("guide_9_http2", "curl is missing (tools/install-deps.sh build)")
        return
    check_program(report, bin_dir, "guide_9_http2", ["--upstream=" + upstream.url], [
        ("GET / over HTTP/2 (prior knowledge and Upgrade) is the page HTTP/1.1 gets",
         same_page_over_http2),
        ("the template's links still lead to the stories", links_lead_to_the_stories),
        ("the WebSocket still goes over HTTP/1.1 on the same port", websocket_round_trip)])


def same_page_over_https_and_http3(port, directory):
    """curl over TLS gets the page with Alt-Svc naming HTTP/3 on this port;
    gtlsclient gets the same page over HTTP/3."""
    done = subprocess.run(["curl", "-sSk", "-i", "--http1.1", "https://127.0.0.1:%d/" % port],
                          capture_output=True, timeout=TIMEOUT)
    expect_equal(done.returncode, 0, "curl's exit status (%s)" % done.stderr[-200:])
    head, _, page = done.stdout.partition(b"\r\n\r\n")
    expect(b"HTTP/1.1 200" in head, "curl got no 200: %r" % head[:200])
    expect(('Alt-Svc: h3=":%d"' % port).encode() in head, "no Alt-Svc naming HTTP/3: %r" % head)
    download = os.path.join(directory, "download")
    os.makedirs(download, exist_ok=True)
    h3 = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--download=" + download,
                         "127.0.0.1", str(port), "https://127.0.0.1:%d/" % port],
                        capture_output=True, timeout=TIMEOUT)
    expect_equal(h3.returncode, 0, "gtlsclient's exit status (%s)" % h3.stderr[-300:])
    saved = [os.path.join(download, name) for name in os.listdir(download)]
    expect_equal(len(saved), 1, "files gtlsclient saved")
    with open(saved[0], "rb") as f:
        expect_equal(f.read(), page, "the page over HTTP/3 against the page over HTTPS")


def step_10(report, bin_dir, upstream):
    if not os.path.exists(os.path.join(bin_dir, "guide_10_http3")):
        report.skip("guide_10_http3", "not built (ngtcp2, nghttp3 or GnuTLS was not found)")
        return
    for tool in ("curl", "gtlsclient", "openssl"):
        if shutil.which(tool) is None:
            report.skip("guide_10_http3", "%s is missing (tools/install-deps.sh build)" % tool)
            return
    directory = tempfile.mkdtemp(prefix="guide_10_")
    try:
        certfile, keyfile = make_certificate(directory)
        check_program(report, bin_dir, "guide_10_http3",
                      ["--upstream=" + upstream.url, "--certfile=" + certfile, "--keyfile=" + keyfile], [
                          ("GET / over HTTPS announces HTTP/3, and HTTP/3 gives the same page",
                           lambda port: same_page_over_https_and_http3(port, directory))])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


STEPS = {"1": step_1, "2": step_2, "3": step_3, "4": step_4, "5": step_5, "7": step_7,
         "8": step_8, "9": step_9, "10": step_10}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the folder with the guide_* programs")
    parser.add_argument("--only", help="comma-separated steps, of " + ",".join(STEPS))
    args = parser.parse_args()
    steps = args.only.split(",") if args.only else list(STEPS)
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        parser.error("no step %s (the steps: %s)" % (", ".join(unknown), ",".join(STEPS)))
    report = Report()
    with Upstream() as upstream:
        for step in steps:
            try:
                STEPS[step](report, args.bin, upstream)
            except Exception as error:  # one step's crash must not hide the others
                report.fail("step %s ran to the end" % step, repr(error))
    counts = report.counts
    print("summary: %d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"],
                                                         counts["SKIPPED"]))
    if counts["FAIL"]:
        return 1
    return EXIT_SKIPPED if counts["PASS"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
