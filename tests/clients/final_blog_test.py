#!/usr/bin/env python3
"""Black-box checks of the blog (final/examples/blog) on a PostgreSQL of its own.

    final_blog_test.py build/bin/blog [--pg-cluster tools/pg_cluster.py]

It starts a PostgreSQL cluster in a new temporary folder
(tools/pg_cluster.py), the blog on it with --port=0 on 127.0.0.1
(tests/clients/serverproc.py), and walks through the blog as its README
says, as one client with a cookie jar that follows no redirect: the
author created, signed out and in again, a post written in Markdown and
read on /, /archive, /entry/SLUG and /feed (parsed as XML), then edited;
the refusals (no _xsrf token: 403, next=//evil.example: 400, a second
author: 400, a wrong password, an unknown slug or id: 404); and pages
answered at once while bcrypt checks a password on the executor. Then
every table is locked past the blog's query timeout while four
connections pipeline three pages each: the first on each must be the 503
with Retry-After, the others that or a 200, never a 500. Then the
database goes away under the running blog: its pages must answer 503 at
once, not hang, and work again a few seconds after PostgreSQL is back.
At the end the blog is stopped by SIGTERM, and the cluster by its PID
(pg_cluster.py stop) and removed.

One line per check (PASS / FAIL), a summary line; exit status 0 when all
passed, 1 when one failed, 77 (CTest's skip) when PostgreSQL's server is
not installed (tools/install-deps.sh build installs it). Standard library
only; every wait is bounded.
"""
import argparse
import glob
import html
import http.client
import http.cookies
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
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import CheckFailed, expect, expect_equal, run_check  # noqa: E402
from serverproc import ServerProcess  # noqa: E402
from tfb_verify import find_psql  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10            # seconds any one request may take
OUTAGE_ANSWER = 2.0     # seconds a page may take to say 503 while the database is down
LOCK_HELD = 7.5         # seconds the tables stay locked: past the blog's 5 s query timeout
RECOVERY = 10.0         # seconds the blog may take to work again once it is back
EXIT_SKIPPED = 77
ATOM = "{http://www.w3.org/2005/Atom}"
XHTML = "{http://www.w3.org/1999/xhtml}"

AUTHOR = {"email": "ann@example.com", "name": "Ann Author", "password": "correct horse battery"}
TITLE = "Hello, World: Crème brûlée!"
# A heading, a link, and a <script> that must come out as text, escaped.
MARKDOWN = ("# A heading\n\n"
            "See [the docs](https://example.com/docs) for more.\n\n"
            "<script>alert('raw')</script>\n\n"
            "An inline <script>alert('inline')</script> too.\n")
EDITED_MARKDOWN = "# The heading, edited\n\nNow with *emphasis*.\n"


def blog_py_slug(title):
    """The slug as Tornado's blog.py makes it, the code copied: the blog's
    C++ (slug_of in final/examples/blog/text.cpp) must agree."""
    slug = unicodedata.normalize("NFKD", title)
    slug = re.sub(r"[^\w]+", " ", slug)
    slug = "-".join(slug.lower().strip().split())
    slug = slug.encode("ascii", "ignore").decode("ascii")
    return slug or "entry"


class Response:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text

    def location(self):
        return self.headers.get("Location")

    def xsrf(self):
        """The _xsrf token of the page's form."""
        found = re.search(r'name="_xsrf" value="([^"]+)"', self.text)
        if not found:
            raise CheckFailed("the page has no _xsrf field: %r" % self.text[:300])
        return html.unescape(found.group(1))


class Client:
    """One browser's worth of HTTP: a cookie jar, no redirects followed."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, urllib.parse.urlencode(fields),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def request(self, method, path, body=None, headers=None, timeout=TIMEOUT):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % item for item in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            for line in response.headers.get_all("Set-Cookie") or []:
                self.remember(line)
            return Response(response.status, response.headers, text)
        finally:
            connection.close()

    def remember(self, set_cookie):
        jar = http.cookies.SimpleCookie()
        jar.load(set_cookie)
        for name, morsel in jar.items():
            if morsel.value == "":  # clear_cookie: an empty value that expired
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.coded_value


class Cluster:
    """A PostgreSQL cluster in a temporary folder, through tools/pg_cluster.py."""

    def __init__(self, script):
        self.script = script
        self.directory = tempfile.mkdtemp(prefix="blog-test-postgres-")
        self.dsn = None
        self.port = None

    def run(self, *arguments):
        return subprocess.run([sys.executable, self.script, *arguments], capture_output=True,
                              text=True, timeout=60)

    def start(self):
        """Starts it, on the port it had before if it ran already."""
        arguments = ["start", self.directory, "--no-tls"]
        if self.port:
            arguments += ["--port", str(self.port)]
        done = self.run(*arguments)
        if done.returncode != 0:
            raise CheckFailed("pg_cluster.py start failed: " + done.stderr.strip())
        self.dsn = done.stdout.strip()
        self.port = int(re.search(r"port=(\d+)", self.dsn).group(1))

    def stop(self, remove=False):
        """A fast shutdown by the server's PID (pg_cluster.py stop)."""
        self.run("stop", self.directory, *(["--remove"] if remove else []))


class Walk:
    """What the checks share, in the order they run."""

    def __init__(self, blog, cluster):
        self.blog = blog
        self.cluster = cluster
        self.client = Client(blog.port)
        self.slug = None
        self.entry_id = None


def expect_redirect(response, location, what):
    expect_equal((response.status, response.location()), (302, location), what)


# ---- the checks, in order -----------------------------------------------------------

def no_author_yet(walk):
    client = walk.client
    expect_redirect(client.get("/"), "/compose", "GET / with no post")
    expect_redirect(client.get("/compose"), "/auth/login?next=%2Fcompose", "GET /compose signed out")
    expect_redirect(client.get("/auth/login?next=%2Fcompose"), "/auth/create",
                    "GET /auth/login with no author")


def create_refused_without_xsrf(walk):
    page = walk.client.get("/auth/create")
    expect_equal(page.status, 200, "GET /auth/create")
    page.xsrf()  # the form has its token
    refused = walk.client.post("/auth/create", AUTHOR)
    expect_equal(refused.status, 403, "POST /auth/create without _xsrf")


def create_author(walk):
    client = walk.client
    token = client.get("/auth/create").xsrf()
    started = time.monotonic()
    created = client.post("/auth/create", {**AUTHOR, "_xsrf": token})
    expect_redirect(created, "/", "POST /auth/create")
    expect("blogdemo_user" in client.cookies, "no signed cookie blogdemo_user was set")
    expect(client.cookies["blogdemo_user"].strip('"').startswith("2|"),
           "blogdemo_user is not a signed value: %r" % client.cookies["blogdemo_user"])
    compose = client.get("/compose")
    expect_equal(compose.status, 200, "GET /compose signed in")
    expect("Publish post" in compose.text, "the compose form has no Publish button")
    return "bcrypt and the insert took %.2f s" % (time.monotonic() - started)


def second_author_refused(walk):
    client = walk.client
    token = client.get("/auth/create").xsrf()
    second = client.post("/auth/create", {"email": "bob@example.com", "name": "Bob",
                                          "password": "another one", "_xsrf": token})
    expect_equal(second.status, 400, "a second POST /auth/create")
    expect("author already" in second.text, "the 400 page does not say why: %r" % second.text[-400:])


def log_out(walk):
    client = walk.client
    expect_redirect(client.get("/auth/logout?next=%2Farchive"), "/archive", "GET /auth/logout")
    expect("blogdemo_user" not in client.cookies, "the cookie is still there after logout")
    expect_redirect(client.get("/compose"), "/auth/login?next=%2Fcompose", "GET /compose signed out")


def open_redirect_refused(walk):
    for target in ("//evil.example", "//evil.example/path", "http://evil.example/", "evil",
                   "/\\evil.example"):
        refused = walk.client.get("/auth/logout?next=" + urllib.parse.quote(target, safe=""))
        expect_equal(refused.status, 400, "GET /auth/logout?next=%s" % target)
        expect(refused.location() is None, "a 400 that still redirects to %r" % refused.location())


def wrong_password_refused(walk):
    client = walk.client
    page = client.get("/auth/login?next=%2Fcompose")
    expect_equal(page.status, 200, "GET /auth/login")
    token = page.xsrf()
    wrong = client.post("/auth/login", {"email": AUTHOR["email"], "password": "not it",
                                        "next": "/compose", "_xsrf": token})
    expect_equal(wrong.status, 200, "POST /auth/login, a wrong password")
    expect("incorrect password" in wrong.text, "the page does not say the password is wrong")
    expect("blogdemo_user" not in client.cookies, "signed in with a wrong password")
    unknown = client.post("/auth/login", {"email": "nobody@example.com", "password": "x",
                                          "_xsrf": token})
    expect("email not found" in unknown.text, "the page does not say the email is unknown")


def log_in(walk):
    client = walk.client
    token = client.get("/auth/login?next=%2Fcompose").xsrf()
    signed_in = client.post("/auth/login", {"email": AUTHOR["email"],
                                            "password": AUTHOR["password"],
                                            "next": "/compose", "_xsrf": token})
    expect_redirect(signed_in, "/compose", "POST /auth/login with the right password")
    expect("blogdemo_user" in client.cookies, "no cookie after signing in")


def loop_free_during_bcrypt(walk):
    """A sign-in spends about a quarter of a second in bcrypt, on the
    executor: pages asked for meanwhile answer at once. (Were bcrypt on
    the loop, none would answer before it ends.)"""
    other = Client(walk.client.port)
    token = other.get("/auth/login").xsrf()
    form = {"email": AUTHOR["email"], "password": AUTHOR["password"], "_xsrf": token}
    sign_in = {}

    def post():
        sign_in["started"] = time.monotonic()
        sign_in["status"] = other.post("/auth/login", form).status
        sign_in["ended"] = time.monotonic()

    thread = threading.Thread(target=post)
    thread.start()
    answered = []  # (started, ended) of each GET while the sign-in runs
    while thread.is_alive():
        started = time.monotonic()
        walk.client.get("/archive")
        answered.append((started, time.monotonic()))
    thread.join()
    expect_equal(sign_in["status"], 302, "the sign-in")
    inside = [(a, b) for a, b in answered if a > sign_in["started"] and b < sign_in["ended"]]
    expect(len(inside) >= 3, "only %d pages answered during the %.2f s sign-in"
           % (len(inside), sign_in["ended"] - sign_in["started"]))
    slowest = max(b - a for a, b in inside)
    return "%d pages answered during the %.2f s sign-in, the slowest in %.1f ms" % (
        len(inside), sign_in["ended"] - sign_in["started"], slowest * 1000)


def compose_refused_without_xsrf(walk):
    refused = walk.client.post("/compose", {"title": "No token", "markdown": "text"})
    expect_equal(refused.status, 403, "POST /compose without _xsrf")


def publish(walk):
    client = walk.client
    token = client.get("/compose").xsrf()
    published = client.post("/compose", {"title": TITLE, "markdown": MARKDOWN, "_xsrf": token})
    walk.slug = blog_py_slug(TITLE)
    expect_redirect(published, "/entry/" + walk.slug, "POST /compose (slug as blog.py makes it)")


def read_entry(walk):
    page = walk.client.get("/entry/" + walk.slug)
    expect_equal(page.status, 200, "GET /entry/" + walk.slug)
    expect(html.escape(TITLE, quote=False) in page.text, "the title is not on the page")
    expect("<h1>A heading</h1>" in page.text, "the Markdown heading is not an <h1>")
    expect('<a href="https://example.com/docs">the docs</a>' in page.text,
           "the Markdown link is not a link")
    expect("<script>alert" not in page.text, "a <script> of the post reached the page as a tag")
    for which in ("raw", "inline"):
        shown = "&lt;script&gt;alert('%s')&lt;/script&gt;" % which
        expect(shown in page.text or shown.replace("'", "&#39;") in page.text,
               "the %s <script> is not shown escaped, as text" % which)
    found = re.search(r'href="/compose\?id=(\d+)"', page.text)
    expect(found, "no 'Edit this post' link for the signed-in author")
    walk.entry_id = found.group(1)


def home_and_archive(walk):
    home = walk.client.get("/")
    expect_equal(home.status, 200, "GET /")
    expect('href="/entry/%s"' % walk.slug in home.text, "the post is not on the home page")
    expect("<h1>A heading</h1>" in home.text, "the home page does not show the post's body")
    archive = walk.client.get("/archive")
    expect_equal(archive.status, 200, "GET /archive")
    expect('href="/entry/%s"' % walk.slug in archive.text, "the post is not in the archive")
    expect(time.strftime("%Y") in archive.text, "the archive shows no date with this year")


def feed_entry(walk, heading):
    """The feed's one entry, once the feed is checked: Atom, well-formed,
    the post's title and link, its XHTML content with `heading`."""
    feed = walk.client.get("/feed")
    expect_equal(feed.status, 200, "GET /feed")
    expect_equal(feed.headers.get("Content-Type"), "application/atom+xml", "the feed's type")
    try:
        root = ElementTree.fromstring(feed.text.encode("utf-8"))
    except ElementTree.ParseError as error:
        raise CheckFailed("the feed is not well-formed XML: %s" % error)
    expect_equal(root.tag, ATOM + "feed", "the feed's root element")
    expect(root.findtext(ATOM + "updated"), "the feed has no <updated>")
    entries = root.findall(ATOM + "entry")
    expect_equal(len(entries), 1, "entries in the feed")
    entry = entries[0]
    expect_equal(entry.findtext(ATOM + "title"), TITLE, "the entry's title")
    link = entry.find(ATOM + "link").get("href")
    expect(link == "http://127.0.0.1:%d/entry/%s" % (walk.blog.port, walk.slug),
           "the entry's link is %r" % link)
    content = entry.find(ATOM + "content")
    expect_equal(content.get("type"), "xhtml", "the content's type")
    headings = [h.text for h in content.iter(XHTML + "h1")]
    expect_equal(headings, [heading], "the content's XHTML headings")
    return entry


def read_feed(walk):
    feed_entry(walk, "A heading")


def edit(walk):
    client = walk.client
    form = client.get("/compose?id=" + walk.entry_id)
    expect_equal(form.status, 200, "GET /compose?id=" + walk.entry_id)
    expect('value="%s"' % html.escape(TITLE) in form.text, "the form does not hold the title")
    expect("Save changes" in form.text, "the form for an edit has no Save button")
    saved = client.post("/compose", {"id": walk.entry_id, "title": TITLE,
                                     "markdown": EDITED_MARKDOWN, "_xsrf": form.xsrf()})
    expect_redirect(saved, "/entry/" + walk.slug, "POST /compose with id (the slug stays)")
    page = client.get("/entry/" + walk.slug)
    expect("<h1>The heading, edited</h1>" in page.text and "<em>emphasis</em>" in page.text,
           "the edit does not show")
    entry = feed_entry(walk, "The heading, edited")
    expect(entry.findtext(ATOM + "updated") >= entry.findtext(ATOM + "published"),
           "updated is before published")


def same_title_again(walk):
    client = walk.client
    slugs = []
    for _ in range(2):
        token = client.get("/compose").xsrf()
        again = client.post("/compose", {"title": TITLE, "markdown": "Again.", "_xsrf": token})
        expect_equal(again.status, 302, "POST /compose with a title taken")
        slugs.append(again.location())
    expect_equal(slugs, ["/entry/%s-2" % walk.slug, "/entry/%s-2-2" % walk.slug],
                 "the slugs of the same title again")
    for title in ("日本 blog", "¼ naïve — “quoted”", "Hello 👋 wörld → ok", "!!!"):
        token = client.get("/compose").xsrf()
        made = client.post("/compose", {"title": title, "markdown": "x", "_xsrf": token})
        expect_redirect(made, "/entry/" + blog_py_slug(title), "the slug of %r" % title)


def not_found(walk):
    client = walk.client
    expect_equal(client.get("/entry/no-such-post").status, 404, "GET /entry/no-such-post")
    expect_equal(client.get("/compose?id=999999").status, 404, "GET /compose?id=999999")
    token = client.get("/compose").xsrf()
    saved = client.post("/compose", {"id": "999999", "title": "x", "markdown": "x",
                                     "_xsrf": token})
    expect_equal(saved.status, 404, "POST /compose with id=999999")
    bad = client.get("/compose?id=abc")
    expect_equal(bad.status, 400, "GET /compose?id=abc")
    expect("is a number" in bad.text, "the 400 page does not say why")
    empty = client.post("/compose", {"title": "", "markdown": "x", "_xsrf": token})
    expect_equal(empty.status, 400, "POST /compose with an empty title")


def signed_out_compose_refused(walk):
    client = walk.client
    token = client.get("/compose").xsrf()
    client.get("/auth/logout")
    refused = client.post("/compose", {"title": "Signed out", "markdown": "x", "_xsrf": token})
    expect_equal(refused.status, 403, "POST /compose signed out, with a good _xsrf")


def timed_get(walk, path):
    started = time.monotonic()
    try:
        response = walk.client.request("GET", path, timeout=OUTAGE_ANSWER + 5)
    except OSError as error:
        raise CheckFailed("GET %s: %r after %.2f s" % (path, error, time.monotonic() - started))
    return response, time.monotonic() - started


def pipelined_gets(port, path, count):
    """`count` GETs of `path` written at once on one connection, and
    their answers as (status, Retry-After), in order (each answer read by
    its Content-Length, as the blog always sends one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        request = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path
        connection.sendall((request * count).encode("ascii"))
        file = connection.makefile("rb")
        answers = []
        for _ in range(count):
            status = int(file.readline().split()[1])
            headers = {}
            for line in iter(file.readline, b"\r\n"):
                if not line:
                    raise CheckFailed("the connection closed in the middle of an answer")
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            file.read(int(headers.get("content-length", "0")))
            answers.append((status, headers.get("retry-after")))
        return answers


def wait_for_lock(psql, dsn, table):
    """Until another session holds `table` locked (at most TIMEOUT s)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        held = subprocess.run(
            [psql, "-X", "-A", "-t", dsn, "-c",
             "SELECT count(*) FROM pg_locks WHERE relation = '%s'::regclass "
             "AND mode = 'AccessExclusiveLock' AND granted" % table],
            capture_output=True, text=True, timeout=TIMEOUT)
        if held.stdout.strip() == "1":
            return
        time.sleep(0.05)
    raise CheckFailed("the lock on %s was not taken within %d s" % (table, TIMEOUT))


def tables_locked(walk):
    """Every table locked for longer than the blog's 5 s query timeout,
    and four connections that each pipeline three GET /: the first page
    on each waits past its timeout, its statement is cancelled on the
    server, and the next page's statement may be sent before that cancel
    lands (a cancel ends whatever the server runs when it comes). Each
    page must be the 503 with Retry-After, or a 200 once the lock is
    gone; never the 500 of a bare "canceling statement" error."""
    psql = find_psql()
    if psql is None:
        raise CheckFailed("no psql to lock the tables with")
    locker = subprocess.Popen(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", walk.cluster.dsn, "-c",
         "BEGIN; LOCK TABLE authors, entries IN ACCESS EXCLUSIVE MODE; "
         "SELECT pg_sleep(%s); COMMIT;" % LOCK_HELD],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answers = {}
    started = time.monotonic()
    try:
        wait_for_lock(psql, walk.cluster.dsn, "entries")

        def ask(index):
            try:
                answers[index] = pipelined_gets(walk.blog.port, "/", 3)
            except (OSError, ValueError, IndexError, CheckFailed) as error:
                answers[index] = error

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(3 * TIMEOUT)
    finally:
        try:
            locker.wait(timeout=LOCK_HELD + 10)
        except subprocess.TimeoutExpired:
            locker.kill()
            locker.wait()
    for index in range(4):
        got = answers.get(index)
        if not isinstance(got, list):
            raise CheckFailed("connection %d was not answered: %r" % (index, got))
        expect_equal(got[0], (503, "5"), "the first page on connection %d (every answer: %s)"
                     % (index, answers))
        for status, retry_after in got[1:]:
            expect(status == 200 or (status, retry_after) == (503, "5"),
                   "a page behind it answered %s (every answer: %s)" % (status, answers))
    pages = [answer for index in range(4) for answer in answers[index]]
    return "%d x 503, %d x 200 in %.2f s" % (
        sum(status == 503 for status, _ in pages), sum(status == 200 for status, _ in pages),
        time.monotonic() - started)


def database_down(walk):
    walk.cluster.stop()
    slowest = 0.0
    for path in ("/", "/archive", "/feed", "/entry/" + walk.slug, "/auth/login"):
        response, took = timed_get(walk, path)
        slowest = max(slowest, took)
        expect_equal(response.status, 503, "GET %s with PostgreSQL stopped" % path)
        expect(took < OUTAGE_ANSWER, "GET %s took %.2f s to say 503" % (path, took))
        expect("database cannot be reached" in response.text, "the 503 page does not say why")
        expect_equal(response.headers.get("Retry-After"), "5", "the 503's Retry-After")
    return "slowest 503: %.3f s" % slowest


def database_back(walk):
    walk.cluster.start()
    started = time.monotonic()
    status = None
    while time.monotonic() - started < RECOVERY:
        status = walk.client.get("/").status
        if status == 200:
            break
        time.sleep(0.2)
    expect_equal(status, 200, "GET / within %.0f s of PostgreSQL's restart" % RECOVERY)
    expect_equal(walk.client.get("/entry/" + walk.slug).status, 200, "GET the post again")
    return "200 again after %.2f s" % (time.monotonic() - started)


def graceful_stop(walk):
    process = walk.blog.process
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        raise CheckFailed("the blog did not exit within 5 s of SIGTERM")
    expect_equal(status, 0, "the blog's exit status after SIGTERM")


CHECKS = [
    ("no post, no author: / leads to /compose, /auth/login, /auth/create", no_author_yet),
    ("POST /auth/create without the _xsrf token: 403", create_refused_without_xsrf),
    ("POST /auth/create: the author (bcrypt), the signed cookie, 302 to /", create_author),
    ("a second author: 400, saying why", second_author_refused),
    ("GET /auth/logout?next=/archive: 302 there, the cookie cleared", log_out),
    ("next=//evil.example (and http://, /\\): 400, no redirect", open_redirect_refused),
    ("a wrong password or an unknown email: the login page, saying so", wrong_password_refused),
    ("the right password, next=/compose: signed in, 302 to /compose", log_in),
    ("while bcrypt checks a password (executor), other pages answer at once",
     loop_free_during_bcrypt),
    ("POST /compose without the _xsrf token: 403", compose_refused_without_xsrf),
    ("publish in Markdown: 302 to /entry/SLUG, the slug as blog.py makes it", publish),
    ("GET /entry/SLUG: the heading, the link, each <script> escaped", read_entry),
    ("GET / and GET /archive show the post", home_and_archive),
    ("GET /feed: Atom XML, application/atom+xml, the entry's title, link, XHTML", read_feed),
    ("edit: the form holds the post; saved, same slug, shown, in the feed", edit),
    ("the same title again: SLUG-2, then SLUG-2-2; other titles as blog.py", same_title_again),
    ("unknown slug or id: 404; id=abc or an empty title: 400", not_found),
    ("signed out, POST /compose with a good _xsrf: 403", signed_out_compose_refused),
    ("every table locked past the query timeout: pipelined pages get 503s, never a 500",
     tables_locked),
    ("PostgreSQL stopped: every page answers 503 at once", database_down),
    ("PostgreSQL started again: the pages work again", database_back),
    ("SIGTERM: the blog exits 0", graceful_stop),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("blog", help="the blog program (build/bin/blog)")
    parser.add_argument("--pg-cluster", default=os.path.join(REPOSITORY, "tools", "pg_cluster.py"))
    args = parser.parse_args()
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        print("SKIPPED: PostgreSQL's server is not installed (tools/install-deps.sh build)")
        return EXIT_SKIPPED

    started = time.monotonic()
    cluster = Cluster(args.pg_cluster)
    log = tempfile.NamedTemporaryFile(prefix="blog-test-", suffix=".log", delete=False)
    counts = {"PASS": 0, "FAIL": 0}
    try:
        cluster.start()
        blog = ServerProcess(args.blog, "--address=127.0.0.1", "--dsn=" + cluster.dsn,
                             "--cookie_secret=blog-test-secret", stderr=log)
        with blog:
            walk = Walk(blog, cluster)
            for name, check in CHECKS:
                counts[run_check(name, check, walk)] += 1
                sys.stdout.flush()
    except (CheckFailed, RuntimeError) as error:  # no cluster, or no blog: nothing to check
        print("FAIL  the blog on a PostgreSQL of its own started: %s" % error)
        counts["FAIL"] += 1
    finally:
        cluster.stop(remove=True)
        shutil.rmtree(cluster.directory, ignore_errors=True)
        log.close()
        if counts["FAIL"]:
            with open(log.name, errors="replace") as lines:
                print("the blog's last log lines:\n  " + "  ".join(lines.readlines()[-20:]))
        os.unlink(log.name)
    print("summary: %d passed, %d failed (%.1f s)"
          % (counts["PASS"], counts["FAIL"], time.monotonic() - started))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
