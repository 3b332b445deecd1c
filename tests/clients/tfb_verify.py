#!/usr/bin/env python3
"""TechEmpower Framework Benchmarks' verification of the six tests, for our servers.

    tfb_verify.py --server build/bin/techempower [--server-arg=--ARG ...]
                  --pg-cluster tools/pg_cluster.py
                  --schema final/examples/techempower/create-postgres.sql
                  [--tests plaintext,json,db,queries,fortunes,updates]

    tfb_verify.py --server build/bin/techempower --http3 ...   (HTTPS, then HTTP/3 by gtlsclient)

    tfb_verify.py --url http://127.0.0.1:PORT --dsn "host=... port=... user=... dbname=hello_world"
                  [--tests ...]

With --server it makes everything itself: a private PostgreSQL cluster in a
temporary folder (tools/pg_cluster.py, with pg_stat_statements loaded), the
database hello_world loaded from --schema with psql, and the server, started
as `SERVER --port=0 --address=127.0.0.1 --dsn=DSN [server args]` (its ready
line "Listening on http://ADDRESS:PORT/" gives the port). At the end it
stops the server and the cluster by their PIDs, whatever happened. Give a
server argument that starts with "--" as --server-arg=--threads=2, with "=".
With --url and --dsn it checks a server that is already running on a
database that is already loaded (the Python Tornado yardstick
tests/bench/tfb_tornado.py, or a benchmark's server); pg_stat_statements must
be loaded there too for the query counts.

The checks are those TFB runs before it benchmarks an entry (its
toolset/test_types/*/ and toolset/test_types/verifications.py), and each
failure names the TFB rule it comes from:

  every answer     status 200; Server, Date and Content-Type present; the
                   Content-Type TFB accepts for the test; Content-Length or
                   Transfer-Encoding; a Date that is not frozen (two requests
                   3 s apart must not carry the same Date)
  /plaintext       Hello, World!
  /json            the object {"message": "Hello, World!"}, small
  /db              one {"id", "randomNumber"} object, both integers
  /queries?queries=, /updates?queries=
                   with 2, 0, foo, 501, nothing (and no parameter at all):
                   an array of 2, 1, 1, 500, 1 such objects
  /updates         the rows changed in the database (more than 90% of 500)
  /fortunes        the page, normalised as TFB's fortune_html_parser does,
                   equal to the expected one: the twelve fortunes and the one
                   added at request time, sorted, escaped, in UTF-8
  query counts     a batch of requests at once, counted by PostgreSQL's
                   pg_stat_statements with TFB's own three queries: /db one
                   statement and one row read each, /queries?queries=20
                   twenty, /fortunes one, /updates?queries=20 twenty SELECTs
                   and twenty rows updated (one bulk UPDATE is allowed); rows
                   read are the rows of every statement whose text says
                   "select", so an UPDATE with a subquery reads them twice

A few checks are this verifier's own and say so: the exact plaintext and
JSON bodies (TFB ignores case there), and that every row returned is the
one in the database (after /updates: the value now stored).

One line per check ("ok  ...", "FAIL ...", or "warn ..." for what TFB only
warns about; with --strict that too is a FAIL), a summary line; exit status 0 when nothing failed, 1 when a
check failed, 77 (CTest's skip) when PostgreSQL is not installed (Debian:
postgresql, in tools/install-deps.sh build). Python 3.9 or newer, standard
library only; every network wait has a 10 s timeout; 127.0.0.1 only.
"""
import argparse
import collections
import datetime
import difflib
import glob
import html.parser
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))
from certificate import make_certificate  # noqa: E402
from serverproc import ServerProcess  # noqa: E402

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 10            # seconds any one request or wait may take
EXIT_SKIPPED = 77
ALL_TESTS = ["plaintext", "json", "db", "queries", "fortunes", "updates"]
WORLD_ROWS = 10000
MAX_QUERIES = 500
COUNTED_QUERIES = 20    # TFB counts the statements of /queries and /updates at 20 rows
DATE_PAUSE = 3          # seconds between the two requests whose Dates must differ (TFB's sleep)

# The paths TFB's own Tornado entry declares (benchmark_config.json).
PATHS = {"plaintext": "/plaintext", "json": "/json", "db": "/db",
         "queries": "/queries?queries=", "fortunes": "/fortunes", "updates": "/updates?queries="}
# The Accept header TFB's client sends for each kind of answer.
ACCEPT = {
    "json": "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,"
            "application/xml;q=0.8,*/*;q=0.7",
    "html": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "plaintext": "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
                 "application/xml;q=0.8,*/*;q=0.7",
}
# The Content-Types TFB accepts (verify_headers), as regular expressions.
CONTENT_TYPES = {
    "json": r"^application/json(; ?charset=(UTF|utf)-8)?$",
    "html": r"^text/html; ?charset=(UTF|utf)-8$",
    "plaintext": r"^text/plain(; ?charset=(UTF|utf)-8)?$",
}
KIND_OF_TEST = {"plaintext": "plaintext", "json": "json", "db": "json", "queries": "json",
                "updates": "json", "fortunes": "html"}
# TFB's ?queries= cases: the parameter sent, the number of rows expected.
# TFB only warns about 501 this round ("a failure in future rounds"); we
# fail it. The last case, no parameter at all, is ours.
QUERY_CASES = [("2", 2), ("0", 1), ("foo", 1), ("501", 500), ("", 1)]

# The Fortune table of TFB's create-postgres.sql, and the row each request adds.
FORTUNES = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
]
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")


# ---- what a check found -------------------------------------------------------------

Problem = collections.namedtuple("Problem", "level message rule")


def failure(message, rule):
    return Problem("fail", message, rule)


def warning(message, rule):
    return Problem("warn", message, rule)


class Report:
    """Prints one line per check and keeps the score."""

    def __init__(self, strict=False):
        self.counts = {"ok": 0, "FAIL": 0, "warn": 0}
        self.strict = strict

    def line(self, verdict, text):
        self.counts[verdict] += 1
        print("%-4s %s" % (verdict, text), flush=True)

    def check(self, name, problems):
        """"ok" when nothing was found, else a line per problem. TFB's
        warnings are printed but do not make the run fail, unless strict:
        in TFB's results a warning is a mark against the entry."""
        if not problems:
            self.line("ok", name)
        for problem in problems:
            verdict = "FAIL" if problem.level == "fail" or self.strict else "warn"
            self.line(verdict, "%s: %s [%s]" % (name, problem.message, problem.rule))

    def skip(self, name, why):
        print("skip %s: %s" % (name, why), flush=True)


# ---- HTTP ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # http.client's: get() ignores the case of the name
        self.body = body            # bytes, chunked encoding already undone


# With --http3 the server serves HTTPS (a throwaway certificate, not
# verified), and the HTTP/1.1 checks go over it.
TLS_CONTEXT = None


def open_connection(address):
    if TLS_CONTEXT is None:
        return http.client.HTTPConnection(*address, timeout=TIMEOUT)
    return http.client.HTTPSConnection(*address, timeout=TIMEOUT, context=TLS_CONTEXT)


def get(address, path, accept, connection=None):
    """One GET with TFB's Accept header, on `connection` if given (kept
    open), else on a new connection that is closed afterwards."""
    own = connection is None
    if own:
        connection = open_connection(address)
    try:
        connection.request("GET", path, headers={"Accept": accept})
        answer = connection.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        if own:
            connection.close()


def run_batch(address, path, accept, requests, concurrency):
    """`requests` GETs of path from `concurrency` threads at once, each on
    a connection of its own (TFB runs siege at its highest concurrency).
    Returns the descriptions of those that did not answer 200."""
    lock = threading.Lock()
    remaining = [requests]
    failures = []

    def worker():
        connection = open_connection(address)
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            try:
                response = get(address, path, accept, connection)
                if response.status != 200:
                    failures.append("status %d" % response.status)
            except (OSError, http.client.HTTPException) as error:
                failures.append("%s: %s" % (type(error).__name__, error))
                connection.close()  # a fresh connection for the next one
                connection = open_connection(address)
        connection.close()

    # Daemon threads: a run stopped by SIGTERM need not wait for them.
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def https_arguments(folder):
    """A throwaway certificate for 127.0.0.1 (--http3); sets TLS_CONTEXT
    and returns the server's arguments."""
    global TLS_CONTEXT
    cert, key = make_certificate(folder)
    TLS_CONTEXT = ssl.create_default_context()
    TLS_CONTEXT.check_hostname = False
    TLS_CONTEXT.verify_mode = ssl.CERT_NONE
    return ["--certfile=" + cert, "--keyfile=" + key, "--http3"]


# ---- the database, through psql -----------------------------------------------------

def find_psql():
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) + ["/usr/bin/psql"]:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("psql")


class Database:
    def __init__(self, psql, dsn):
        self.psql = psql
        self.dsn = dsn

    def run(self, sql):
        """Runs one statement; returns what it printed, unaligned, no header."""
        done = subprocess.run([self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-c", sql, self.dsn],
                              capture_output=True, timeout=3 * TIMEOUT,
                              env=dict(os.environ, PGCLIENTENCODING="UTF8"))
        if done.returncode != 0:
            raise RuntimeError("psql: " + done.stderr.decode("utf-8", "replace").strip())
        return done.stdout.decode("utf-8", "replace").strip()

    def load(self, path):
        done = subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", path,
                               self.dsn], capture_output=True, timeout=6 * TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError("psql -f %s: %s" % (path, done.stderr.decode("utf-8", "replace")))

    def world_tables(self):
        """Every World table there is, {name: {id: randomNumber}}: TFB's
        file makes `world` (unquoted World) and `"World"`, and a server may
        use either."""
        names = self.run("SELECT string_agg(relname, ' ') FROM pg_class "
                         "WHERE relkind = 'r' AND relname IN ('world', 'World')").split()
        tables = {}
        for name in names:
            text = self.run('SELECT coalesce(json_object_agg(id, randomnumber), \'{}\') FROM "%s"'
                            % name)
            tables[name] = {int(key): value for key, value in json.loads(text).items()}
        return tables

    def reset_statistics(self):
        self.run("SELECT pg_stat_statements_reset()")

    def tfb_counts(self, table):
        """TFB's three sums over pg_stat_statements (its
        toolset/databases/postgres/postgres.py: get_queries, get_rows,
        get_rows_updated), in PostgreSQL's own regular expressions, so that
        a statement counts exactly where TFB's would: the calls of every
        statement that names `table`, the rows of those whose text says
        "select" anywhere (an UPDATE with a subquery included) and the
        rows of those that say "update"."""
        names_table = "query ~* '[[:<:]]%s[[:>:]]'" % table   # the word, in any case
        text = self.run(
            "SELECT json_build_array(coalesce(sum(calls), 0), "
            "coalesce(sum(rows) FILTER (WHERE query ~* 'select'), 0), "
            "coalesce(sum(rows) FILTER (WHERE query ~* 'update'), 0)) "
            "FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%%pg_stat_statements%%' AND " + names_table)
        return TfbCounts(*json.loads(text))

    def statement_statistics(self):
        """pg_stat_statements' lines for this database: (text, calls, rows).
        Our own reads of the view are left out (their text names the view)."""
        text = self.run(
            "SELECT coalesce(json_agg(json_build_array(query, calls, rows)), '[]') "
            "FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%pg_stat_statements%'")
        return json.loads(text)


TfbCounts = collections.namedtuple("TfbCounts", "queries rows rows_updated")


def settled_statistics(database):
    """pg_stat_statements a moment after the last answer: a statement's
    counts are stored when its portal closes, which may come just after the
    server has its rows; read until two readings agree."""
    deadline = time.monotonic() + TIMEOUT
    before = database.statement_statistics()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = database.statement_statistics()
        if sorted(now) == sorted(before):
            return now
        before = now
    return before


# ---- the checks on one answer -------------------------------------------------------

def response_problems(response, kind):
    """TFB's verify_status and verify_headers (but the frozen-Date test,
    made once per test by check_dates)."""
    problems = []
    if response.status != 200:
        problems.append(failure("status %d, not 200" % response.status,
                                "verify_status: Invalid response status"))
    for name in ("Server", "Date", "Content-Type"):
        if response.headers.get(name) is None:
            problems.append(failure("no %s header" % name,
                                    "verify_headers: Required response header missing"))
    if response.headers.get("Content-Length") is None and \
            response.headers.get("Transfer-Encoding") is None:
        problems.append(failure("neither Content-Length nor Transfer-Encoding",
                                "verify_headers: Required response size header missing"))
    date = response.headers.get("Date")
    if date is not None:
        try:
            datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S %Z")
        except ValueError:
            problems.append(warning("Date %r is not like 'Sun, 06 Nov 1994 08:49:37 GMT'" % date,
                                    "verify_headers: Invalid Date header"))
    content_type = response.headers.get("Content-Type")
    if content_type is not None and not re.match(CONTENT_TYPES[kind], content_type):
        problems.append(failure("Content-Type %r does not match %s"
                                % (content_type, CONTENT_TYPES[kind]),
                                "verify_headers: Invalid Content-Type header"))
    return problems


def check_response(report, path, response, kind):
    size = ("Content-Length" if response.headers.get("Content-Length") is not None
            else "Transfer-Encoding %s" % response.headers.get("Transfer-Encoding"))
    report.check("GET %s: 200, Server, Date, Content-Type %r, %s"
                 % (path, response.headers.get("Content-Type"), size),
                 response_problems(response, kind))


def json_body(response):
    """The body as JSON, or the problems TFB's basic_body_verification finds."""
    if not response.body:
        return None, [failure("empty body", "basic_body_verification: Empty response")]
    try:
        return json.loads(response.body.decode("utf-8")), []
    except ValueError as error:
        return None, [failure("not JSON (%s): %r" % (error, response.body[:60]),
                              "basic_body_verification: Invalid JSON")]


def world_object(value):
    """TFB's verify_randomnumber_object: keys id and randomNumber (in any
    case), both integers; returns (problems, (id, randomNumber) or None).
    TFB calls int() on them; we want JSON integers."""
    rule = "verify_randomnumber_object"
    if not isinstance(value, dict):
        return [failure("expected a JSON object, got %.20r" % (value,),
                        rule + ": Expected a JSON object")], None
    fields = {key.lower(): field for key, field in value.items()}
    problems = []
    for key in ("id", "randomnumber"):
        if key not in fields:
            problems.append(failure("no key %r in %r" % (key, value),
                                    rule + ": Response object was missing required key"))
    extra = set(fields) - {"id", "randomnumber"}
    if extra:
        problems.append(warning("extra keys %s" % sorted(extra),
                                rule + ": An extra key(s) is being included"))
    if any(problem.level == "fail" for problem in problems):
        return problems, None
    for key in ("id", "randomnumber"):
        if not isinstance(fields[key], int) or isinstance(fields[key], bool):
            problems.append(failure("%s is %r, not an integer" % (key, fields[key]),
                                    rule + ": Response key does not map to an integer"))
    if any(problem.level == "fail" for problem in problems):
        return problems, None
    if not 1 <= fields["id"] <= WORLD_ROWS:
        problems.append(warning("id %d is not between 1 and 10,000" % fields["id"],
                                rule + ": Response key id should be between 1 and 10,000"))
    if fields["randomnumber"] > WORLD_ROWS:
        problems.append(warning("randomNumber %d is over 10,000" % fields["randomnumber"],
                                rule + ": Response key `randomNumber` is over 10,000"))
    return problems, (fields["id"], fields["randomnumber"])


def world_list(value, expected_length):
    """TFB's verify_randomnumber_list: an array of expected_length objects,
    each valid (it stops after five bad ones). Returns (problems, rows)."""
    rule = "verify_randomnumber_list"
    if not isinstance(value, list):
        problems, row = world_object(value)
        return [failure("an object, not an array",
                        rule + ": Top-level JSON is an object, not an array")] + problems, []
    problems = []
    if not all(isinstance(item, dict) for item in value):
        problems.append(failure("not every item is an object",
                                rule + ": Not all items in the JSON array were JSON objects"))
    if len(value) != expected_length:
        problems.append(failure("%d items, not %d" % (len(value), expected_length),
                                rule + ": JSON array length != expected length"))
    rows = []
    bad_objects = 0
    for item in value:
        item_problems, row = world_object(item)
        if item_problems:
            problems += item_problems
            bad_objects += 1
            if bad_objects == 5:
                break
        if row is not None:
            rows.append(row)
    return problems, rows


def database_problems(rows, tables):
    """Ours: every row returned is the one in the database. When an id comes
    twice (an update may give it two values), the database's value must be
    one of them. A server may read `world` or `"World"`: one must fit."""
    values_of = collections.defaultdict(set)
    for row_id, number in rows:
        values_of[row_id].add(number)
    first_wrong = None
    for name, table in tables.items():
        wrong = [(row_id, sorted(values), table.get(row_id))
                 for row_id, values in values_of.items() if table.get(row_id) not in values]
        if not wrong:
            return []
        if first_wrong is None:
            first_wrong = (name, wrong)
    if first_wrong is None:
        return [failure("no World table in the database", "ours")]
    name, wrong = first_wrong
    row_id, values, stored = wrong[0]
    return [failure("%d of %d rows differ from table %s, e.g. id %d: answered %s, stored %s"
                    % (len(wrong), len(values_of), name, row_id,
                       "/".join(map(str, values)), stored),
                    "ours (TFB requirement: each row comes from the database)")]


def changed_rows(before, after):
    """How many rows of the World table that changed most differ (TFB's
    verify_updates compares both tables, before and after)."""
    return max([sum(1 for row_id, number in after[name].items()
                    if before[name].get(row_id) != number)
                for name in after if name in before] or [0])


# ---- the fortune page, normalised as TFB does ---------------------------------------

class FortunePageNormaliser(html.parser.HTMLParser):
    """Rewrites a page the way TFB's fortune_html_parser does before it
    compares it with the expected one, so that any correct escaping passes:
    tags without their attributes; <meta>, <link>, <thead>, <tbody> and
    <script> (with what it holds) left out; ', " and > in text written
    &apos; &quot; &gt;; the numeric references of " ' + > < / ( ) as those
    characters or entities (any other number is dropped, as TFB does);
    &mdash; as the dash itself; text of blanks only dropped; a line break
    after <html>, <table>, </head> and each </tr>."""

    LEFT_OUT = {"<meta>", "</meta>", "<link>", "</link>", "<script>", "</script>",
                "<thead>", "</thead>", "<tbody>", "</tbody>"}
    NUMBERED = {34: "&quot;", 39: "&apos;", 43: "+", 62: "&gt;", 60: "&lt;", 47: "/",
                40: "(", 41: ")"}

    def __init__(self):
        super().__init__(convert_charrefs=False)  # we see each &...; ourselves
        self.pieces = []
        self.in_script = False

    def emit(self, piece):
        if piece == "<script>":
            self.in_script = True
        elif piece == "</script>":
            self.in_script = False
        if not self.in_script and piece not in self.LEFT_OUT:
            self.pieces.append(piece)

    def text(self):
        return "".join(self.pieces)

    def handle_decl(self, declaration):
        self.emit("<!%s>" % declaration.lower())

    def handle_starttag(self, tag, attributes):
        self.emit("<%s>" % tag)
        if tag in ("html", "table"):
            self.emit("\n")

    def handle_endtag(self, tag):
        self.emit("</%s>" % tag)
        if tag in ("head", "tr"):
            self.emit("\n")

    def handle_data(self, data):
        if data.strip():
            self.emit(data.replace("'", "&apos;").replace('"', "&quot;").replace(">", "&gt;"))

    def handle_entityref(self, name):
        self.emit("\u2014" if name == "mdash" else "&%s;" % name)

    def handle_charref(self, name):
        try:
            number = int(name[1:], 16) if name[:1] in "xX" else int(name)
        except ValueError:
            return
        if number in self.NUMBERED:
            self.emit(self.NUMBERED[number])


def expected_fortune_page():
    """The page every server must give, once normalised (TFB's
    valid_fortune): the fortunes sorted by message, text escaped."""
    def escaped(text):
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;").replace("'", "&apos;"))
    lines = ["<!doctype html><html>", "<head><title>Fortunes</title></head>",
             "<body><table>", "<tr><th>id</th><th>message</th></tr>"]
    for fortune_id, message in sorted(FORTUNES + [ADDITIONAL_FORTUNE], key=lambda f: f[1]):
        lines.append("<tr><td>%d</td><td>%s</td></tr>" % (fortune_id, escaped(message)))
    lines.append("</table></body></html>")
    return "\n".join(lines)


# ---- the six tests ------------------------------------------------------------------

class Verifier:
    def __init__(self, address, database, report, count_requests, count_concurrency):
        self.address = address
        self.database = database
        self.report = report
        self.count_requests = count_requests
        self.count_concurrency = count_concurrency
        self.counting = None   # whether pg_stat_statements answers, found once

    def get(self, path, kind):
        return get(self.address, path, ACCEPT[kind])

    def fetch(self, path, kind):
        """GET path with the checks every answer gets; None if no answer."""
        try:
            response = self.get(path, kind)
        except (OSError, http.client.HTTPException) as error:
            self.report.check("GET %s" % path, [failure("no answer: %s: %s" % (
                type(error).__name__, error), "request_headers_and_body_and_status")])
            return None
        check_response(self.report, path, response, kind)
        return response

    def plaintext(self):
        response = self.fetch(PATHS["plaintext"], "plaintext")
        if response is None:
            return
        problems = []
        if b"hello, world!" not in response.body.lower():
            problems.append(failure("body %r" % response.body[:60],
                                    "plaintext.py: Could not find 'Hello, World!' in response"))
        elif response.body != b"Hello, World!":
            problems.append(failure("body %r, not exactly b'Hello, World!'" % response.body[:60],
                                    "ours (TFB ignores case and only warns about extra bytes)"))
        self.report.check("GET /plaintext: body is exactly 'Hello, World!'", problems)

    def json(self):
        response = self.fetch(PATHS["json"], "json")
        if response is None:
            return
        value, problems = json_body(response)
        if not problems:
            rule = "verify_helloworld_object"
            if not isinstance(value, dict):
                problems.append(failure("%.40r is not an object" % (value,),
                                        rule + ": Not a valid JSON object"))
            elif "message" not in {str(key).lower() for key in value}:
                problems.append(failure("no key 'message' in %.60r" % (value,),
                                        rule + ": Missing required key 'message'"))
            elif value != {"message": "Hello, World!"}:
                problems.append(failure("%.60r, not exactly {'message': 'Hello, World!'}"
                                        % (value,), "ours (TFB's " + rule + " ignores case "
                                        "and only warns about extra keys)"))
            if len(response.body) > 27:
                problems.append(warning("%d bytes; {\"message\":\"Hello, World!\"} is 27"
                                        % len(response.body), rule + ": additional "
                                        "response byte(s) found, unnecessary whitespace"))
        self.report.check('GET /json: {"message": "Hello, World!"}', problems)

    def db(self):
        tables = self.database.world_tables()
        response = self.fetch(PATHS["db"], "json")
        if response is None:
            return
        value, problems = json_body(response)
        row = None
        if not problems:
            if isinstance(value, list) and value:
                problems.append(warning("an array, not an object",
                                        "db.py: Response is a JSON array. Expected JSON object"))
                value = value[0]
            object_problems, row = world_object(value)
            problems += object_problems
        self.report.check('GET /db: one {"id", "randomNumber"} object of integers', problems)
        if row is not None:
            self.report.check("GET /db: the row is the one in the database (id %d)" % row[0],
                              database_problems([row], tables))
        self.count_statements("db", PATHS["db"], "world", 1, 1)

    def many_rows(self, test):
        """/queries and /updates: TFB's verify_query_cases."""
        base = PATHS[test]
        before = self.database.world_tables()
        tables = before
        for parameter, expected_length in QUERY_CASES + [(None, 1)]:
            if parameter is None:   # ours: no ?queries= at all
                path = base.split("?")[0]
            else:
                path = base + parameter
            response = self.fetch(path, "json")
            if response is None:
                continue
            value, problems = json_body(response)
            rows = []
            if not problems:
                list_problems, rows = world_list(value, expected_length)
                problems += list_problems
            self.report.check("GET %s: an array of %d {id, randomNumber} objects"
                              % (path, expected_length), problems)
            if not rows:
                continue
            if test == "updates":
                # What the server answered must be stored by now: it may
                # only answer once the updates are done.
                tables = self.database.world_tables()
            self.report.check("GET %s: every row %s the database"
                              % (path, "is now stored in" if test == "updates" else "matches"),
                              database_problems(rows, tables))
            if test == "updates" and parameter == "501":
                self.check_rows_changed(path, before, tables)
        self.count_statements(test, base + str(COUNTED_QUERIES), "world",
                              COUNTED_QUERIES, COUNTED_QUERIES)

    def check_rows_changed(self, path, before, after):
        """TFB's verify_updates: the World table, before /updates and after
        ?queries=501, differs in more than 90% of 500 rows (a row may draw
        its own number again, or come twice in one request)."""
        changed = changed_rows(before, after)
        rule = "verify_updates"
        problems = []
        if changed == 0:
            problems.append(failure("no row changed", rule + ": No items were updated"))
        elif changed <= 0.90 * MAX_QUERIES:
            problems.append(failure("%d rows changed" % changed,
                                    rule + ": Only N items were updated out of roughly 500"))
        elif changed <= 0.95 * MAX_QUERIES:
            problems.append(warning("%d rows changed" % changed,
                                    rule + ": There may have been an error updating"))
        self.report.check("GET %s: %d rows of World changed in the database (more than 450)"
                          % (path, changed), problems)

    def fortunes(self):
        response = self.fetch(PATHS["fortunes"], "html")
        if response is None:
            return
        problems = []
        try:
            page = response.body.decode("utf-8")
        except UnicodeDecodeError as error:
            page = None
            problems.append(failure("the body is not UTF-8 (%s)" % error,
                                    "fortune.py: the page is decoded as UTF-8"))
        if page is not None:
            normaliser = FortunePageNormaliser()
            normaliser.feed(page)
            normaliser.close()
            got = normaliser.text()
            expected = expected_fortune_page()
            if got != expected:
                problems.append(failure("the normalised page differs: %s" % first_difference(
                    expected, got), "fortune.py: Invalid according to FortuneHTMLParser"))
        self.report.check("GET /fortunes: the 13 fortunes, sorted, escaped, in UTF-8, "
                          "as TFB's fortune_html_parser normalises them", problems)
        self.count_statements("fortunes", PATHS["fortunes"], "fortune", 1, len(FORTUNES))

    # -- counting the statements ------------------------------------------------------

    def count_statements(self, test, path, table, queries_each, rows_each):
        """TFB's verify_queries_count: a batch of requests at once, then
        pg_stat_statements' sums as TFB takes them (Database.tfb_counts).
        At least the expected number (no margin on queries, as in a real
        TFB run), a warning above 105%. For /updates TFB takes one bulk
        UPDATE per request (queries within 0.1% of the SELECTs + one a
        request, then 5% fewer rows updated allowed) or one UPDATE per
        row."""
        name = "%d x GET %s" % (self.count_requests, path)
        if not self.statistics_available(name):
            return
        self.database.reset_statistics()
        failures = run_batch(self.address, path, ACCEPT[KIND_OF_TEST[test]], self.count_requests,
                             self.count_concurrency)
        settled_statistics(self.database)
        counts = self.database.tfb_counts(table)
        requests = self.count_requests
        rule = "verify_queries_count"
        problems = []
        if failures:
            problems.append(failure("%d requests failed, first: %s" % (len(failures), failures[0]),
                                    rule + ": failed transactions"))
        self.report.check("%s: every answer 200 (%d at once)" % (name, self.count_concurrency),
                          problems)
        expected_rows = requests * rows_each
        expected_queries = requests * queries_each
        bulk = False
        if test == "updates":
            bulk_expected = expected_queries + requests
            bulk = 0.999 * bulk_expected < counts.queries < 1.001 * bulk_expected
            expected_queries = bulk_expected if bulk else 2 * expected_queries
        how = ("one bulk UPDATE a request" if bulk else "one UPDATE a row") \
            if test == "updates" else ("one per row" if queries_each > 1 else "one per request")
        self.report.check("%s: %d statements on %s, %d expected (%s)"
                          % (name, counts.queries, table, expected_queries, how),
                          compare_count(counts.queries, expected_queries, "executed queries",
                                        rule))
        self.report.check("%s: %d rows read from %s (by statements that say \"select\"), "
                          "%d expected" % (name, counts.rows, table, expected_rows),
                          compare_count(counts.rows, expected_rows, "rows read", rule))
        if test != "updates":
            return
        margin = 1.05 if bulk else 1.0
        self.report.check("%s: %d rows updated in %s, %d expected%s"
                          % (name, counts.rows_updated, table, expected_rows,
                             " (5% fewer allowed for a bulk UPDATE)" if bulk else ""),
                          compare_count(counts.rows_updated * margin, expected_rows,
                                        "rows updated", rule))

    def statistics_available(self, name):
        if self.counting is None:
            try:
                self.database.run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                self.database.statement_statistics()
                self.counting = True
            except RuntimeError as error:
                self.counting = False
                self.report.check("pg_stat_statements answers", [failure(
                    str(error).splitlines()[0], "verify_queries_count needs it: start "
                    "PostgreSQL with shared_preload_libraries=pg_stat_statements")])
        if not self.counting:
            self.report.skip(name, "no pg_stat_statements to count with")
        return self.counting

    # -- the Date must move -----------------------------------------------------------

    def check_dates(self, tests):
        """TFB's verify_headers asks twice, 3 s apart: a Date computed once
        and kept for ever fails. One pause for all the tests here."""
        paths = {test: PATHS[test] + ("2" if PATHS[test].endswith("=") else "")
                 for test in tests}
        first = {}
        for test, path in paths.items():
            try:
                first[test] = self.get(path, KIND_OF_TEST[test]).headers.get("Date")
            except (OSError, http.client.HTTPException):
                first[test] = None
        time.sleep(DATE_PAUSE)
        for test, path in paths.items():
            problems = []
            try:
                second = self.get(path, KIND_OF_TEST[test]).headers.get("Date")
            except (OSError, http.client.HTTPException) as error:
                second = None
                problems.append(failure("no answer: %s" % error, "verify_headers"))
            if first[test] is not None and first[test] == second:
                problems.append(failure("Date %r twice, %d s apart" % (second, DATE_PAUSE),
                                        "verify_headers: Invalid Cached Date"))
            self.report.check("GET %s: the Date moves (%d s later: %s)"
                              % (path, DATE_PAUSE, second), problems)


def compare_count(measured, expected, caption, rule):
    """TFB's display_queries_count_result."""
    if measured < expected:
        return [failure("only %d %s out of %d expected" % (measured, caption, expected),
                        rule + ": Only N %s in the database out of roughly M expected" % caption)]
    if measured > expected * 1.05:
        return [warning("%d %s, %d expected" % (measured, caption, expected),
                        rule + ": This number is excessively high")]
    return []


def first_difference(expected, got):
    """TFB's message from its diff: the first line that differs, as
    `what came` should be `what was expected`."""
    removed, added = [], []
    for line in list(difflib.unified_diff(expected.split("\n"), got.split("\n"), n=0))[2:]:
        if line.startswith("@@"):
            if removed or added:
                break
        elif line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
    return "`%s` should be `%s`" % ("".join(added)[:200], "".join(removed)[:200])


# ---- the cluster and the server, when we start them ----------------------------------

class Cluster:
    """A PostgreSQL cluster in a temporary folder, through tools/pg_cluster.py,
    with pg_stat_statements loaded; it goes away if we die (--owner)."""

    def __init__(self, script):
        self.script = script
        self.directory = tempfile.mkdtemp(prefix="tfb-verify-postgres-")
        self.dsn = None

    def run(self, *arguments):
        return subprocess.run([sys.executable, self.script, *arguments], capture_output=True,
                              text=True, timeout=6 * TIMEOUT)

    def start(self):
        done = self.run("start", self.directory, "--no-tls", "--owner", str(os.getpid()),
                        "-c", "shared_preload_libraries=pg_stat_statements")
        if done.returncode != 0:
            raise RuntimeError("pg_cluster.py start failed: " + done.stderr.strip())
        self.dsn = done.stdout.strip()
        return self.dsn

    def stop(self):
        self.run("stop", self.directory, "--remove")
        shutil.rmtree(self.directory, ignore_errors=True)


def with_database(dsn, name):
    """The same dsn for another database."""
    fields = [field for field in dsn.split() if not field.startswith("dbname=")]
    return " ".join(fields + ["dbname=" + name])


def prepare_database(psql, cluster_dsn, schema):
    """hello_world, loaded as TFB loads it; returns its dsn."""
    Database(psql, cluster_dsn).run("CREATE DATABASE hello_world")
    database = Database(psql, with_database(cluster_dsn, "hello_world"))
    database.load(schema)
    database.run("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return database.dsn


class Terminated(Exception):
    pass


def stop_on_sigterm():
    """SIGTERM as an exception, so that the run ends as a failure and the
    `finally` clause stops the server and the cluster."""
    def raise_terminated(signal_number, frame):
        raise Terminated("stopped by SIGTERM")
    signal.signal(signal.SIGTERM, raise_terminated)


class HTTP3Verifier(Verifier):
    """The same checks of each answer over HTTP/3, each GET made by ngtcp2's
    gtlsclient on a connection of its own. The statement counts and the
    Date's change are left to the HTTP/1.1 pass: they do not depend on
    the protocol, and the batches would take a gtlsclient a request.
    gtlsclient sends no Accept header (it has no option for one)."""

    def __init__(self, address, database, report, folder):
        super().__init__(address, database, report, 0, 0)
        self.folder = folder

    def get(self, path, kind):
        download = tempfile.mkdtemp(dir=self.folder)
        done = subprocess.run(
            ["gtlsclient", "--no-quic-dump", "--download", download, "--exit-on-all-streams-close",
             self.address[0], str(self.address[1]),
             "https://%s:%d%s" % (self.address[0], self.address[1], path)],
            capture_output=True, timeout=TIMEOUT)
        headers = http.client.HTTPMessage()
        status = 0
        for line in (done.stdout + done.stderr).decode(errors="replace").splitlines():
            # "http: stream 0x0 [content-type: text/plain]": a response field
            found = re.match(r"http: stream 0x0 \[(:?[^:]+): (.*)\]$", line)
            if found is None:
                continue
            if found.group(1) == ":status":
                status = int(found.group(2))
            else:
                headers[found.group(1)] = found.group(2)
        if status == 0:
            raise OSError("gtlsclient got no answer (exit %d)" % done.returncode)
        name = path.rsplit("/", 1)[1] or "index.html"
        body_path = os.path.join(download, name)
        body = b""
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        shutil.rmtree(download)
        return Response(status, headers, body)

    def count_statements(self, *args):
        pass

    def check_dates(self, tests):
        pass


def run_tests(verifier, report, tests):
    for test in tests:
        if test in ("queries", "updates"):
            verifier.many_rows(test)
        else:
            getattr(verifier, test)()
    verifier.check_dates(tests)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="the server program, started on a cluster of our own")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="one more argument for the server (--server-arg=--threads=2)")
    parser.add_argument("--pg-cluster", default=os.path.join(REPOSITORY, "tools", "pg_cluster.py"))
    parser.add_argument("--schema", default=os.path.join(
        REPOSITORY, "final", "examples", "techempower", "create-postgres.sql"))
    parser.add_argument("--url", help="a server already running: http://127.0.0.1:PORT")
    parser.add_argument("--dsn", help="with --url: its database, already loaded")
    parser.add_argument("--tests", default=",".join(ALL_TESTS),
                        help="a comma-separated choice of " + ",".join(ALL_TESTS))
    parser.add_argument("--count-requests", type=int, default=128,
                        help="requests in each query-counting batch (TFB: 512)")
    parser.add_argument("--count-concurrency", type=int, default=32,
                        help="of them at once (TFB: 512)")
    parser.add_argument("--strict", action="store_true",
                        help="what TFB only warns about fails the run too")
    parser.add_argument("--http3", action="store_true",
                        help="with --server: serve HTTPS and HTTP/3 (a throwaway certificate); "
                             "check over HTTPS, then each answer again over HTTP/3 (gtlsclient)")
    args = parser.parse_args()
    tests = [test for test in args.tests.split(",") if test]
    unknown = set(tests) - set(ALL_TESTS)
    if unknown:
        parser.error("unknown tests: %s" % ", ".join(sorted(unknown)))
    tests = [test for test in ALL_TESTS if test in tests]   # the order that runs updates last
    needs_database = bool(set(tests) - {"plaintext", "json"})
    if bool(args.server) == bool(args.url):
        parser.error("give --server, or --url (and --dsn)")
    if args.url and needs_database and not args.dsn:
        parser.error("--url with database tests needs --dsn")
    if args.http3 and not args.server:
        parser.error("--http3 needs --server")
    if args.http3 and (shutil.which("gtlsclient") is None or shutil.which("openssl") is None):
        print("SKIPPED: --http3 needs gtlsclient (Debian: ngtcp2-client) and openssl "
              "(tools/install-deps.sh build)")
        return EXIT_SKIPPED

    psql = find_psql()
    if args.server and not glob.glob("/usr/lib/postgresql/*/bin/postgres") or \
            needs_database and psql is None:
        print("SKIPPED: PostgreSQL is not installed (Debian: postgresql; "
              "tools/install-deps.sh build)")
        return EXIT_SKIPPED

    stop_on_sigterm()
    started = time.monotonic()
    report = Report(args.strict)
    cluster = None
    server = None
    log = None
    folder = tempfile.mkdtemp(prefix="tfb-verify-")
    try:
        if args.server:
            cluster = Cluster(args.pg_cluster)
            dsn = prepare_database(psql, cluster.start(), args.schema)
            log = tempfile.NamedTemporaryFile(prefix="tfb-verify-", suffix=".log", delete=False)
            tls = https_arguments(folder) if args.http3 else []
            server = ServerProcess(args.server, "--address=127.0.0.1", "--dsn=" + dsn,
                                   *args.server_arg, *tls, stderr=log)
            server.__enter__()   # not a `with`: the `finally` below stops it, then the cluster
            address = ("127.0.0.1", server.port)
        else:
            dsn = args.dsn
            url = urllib.parse.urlsplit(args.url)
            address = (url.hostname or "127.0.0.1", url.port or 80)
        database = Database(psql, dsn) if dsn else None
        print("checking %s://%s:%d/ on %s" % ("https" if args.http3 else "http", address[0],
                                              address[1], dsn), flush=True)
        verifier = Verifier(address, database, report, args.count_requests,
                            args.count_concurrency)
        run_tests(verifier, report, tests)
        if args.http3:
            print("checking the same answers over HTTP/3", flush=True)
            run_tests(HTTP3Verifier(address, database, report, folder), report, tests)
    except Exception as error:  # no cluster, no server, psql failing: report it, then clean up
        report.check("the verification ran to its end", [failure(
            "%s: %s" % (type(error).__name__, str(error).strip()), "ours")])
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.stop()
        if log is not None:
            log.close()
            if report.counts["FAIL"]:
                with open(log.name, errors="replace") as lines:
                    tail = lines.readlines()[-20:]
                if tail:
                    print("the server's last log lines:\n  " + "  ".join(tail), end="")
            os.unlink(log.name)
        shutil.rmtree(folder)
    print("summary: %d ok, %d failed, %d warnings (%.1f s)"
          % (report.counts["ok"], report.counts["FAIL"], report.counts["warn"],
             time.monotonic() - started))
    return 1 if report.counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
