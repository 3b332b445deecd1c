#!/usr/bin/python3
"""The six TechEmpower Framework Benchmarks tests on Python Tornado 6.2 with an asyncpg pool.

    /usr/bin/python3 tests/bench/tfb_tornado.py --dsn="host=... port=... user=... dbname=hello_world"
                                                [--pool=10] [--port=8888] [--address=127.0.0.1]

    GET /plaintext            Hello, World!                      (text/plain)
    GET /json                 {"message":"Hello, World!"}        (application/json)
    GET /db                   {"id":17,"randomNumber":4242}      one World row
    GET /queries?queries=N    [{"id":..,"randomNumber":..}, ...] N World rows, one SELECT each
    GET /updates?queries=N    the same N rows, each given a new randomNumber that is
                              written back (UPDATE) before the answer goes out
    GET /fortunes             the Fortune table and one more row, sorted by message,
                              as an HTML table (text/html; charset=UTF-8)

N is 1 to 500: a missing, unreadable or smaller number counts as 1, a
larger one as 500 (TFB's rules). The database is TFB's, loaded from
final/examples/techempower/create-postgres.sql; tests/clients/tfb_verify.py
checks this server (--url, --dsn) as it checks the C++ one.

Written the way TFB's own Tornado entry with asyncpg works
(frameworks/Python/tornado/server_uvloop.py in TechEmpower/FrameworkBenchmarks):
coroutine handlers, a pool of --pool connections opened at start, each
request taking one connection for all of its queries, a prepared statement
run once per row, and asyncpg's executemany for the updates. Unlike TFB's
entry it runs one process on the standard asyncio loop (no uvloop, no
fork per core), like tests/bench/db_tornado.py, the yardstick it follows:
it prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
picks a free port) and exits 0 at once on SIGTERM or SIGINT. Debian's
/usr/bin/python3 with python3-tornado and python3-asyncpg
(tools/install-deps.sh db).
"""
import argparse
import asyncio
import json
import os
import random
import signal

import asyncpg
import tornado.httpserver
import tornado.netutil
import tornado.template
import tornado.web

# The accept queue, and libpq's dsn read as asyncpg's arguments: as
# make bench-db's Python Tornado server has them (this folder is on the path).
from db_tornado import BACKLOG, connect_arguments

WORLD_ROWS = 10000      # World's ids are 1 to 10000 (create-postgres.sql)
MAX_QUERIES = 500       # TFB's bounds on ?queries=

# The unquoted names, which PostgreSQL folds to lower case: the tables
# world and fortune (TFB's file also makes quoted "World" and "Fortune").
READ_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_WORLD = "UPDATE world SET randomnumber = $2 WHERE id = $1"
READ_FORTUNES = "SELECT id, message FROM fortune"
ADDITIONAL_FORTUNE = "Additional fortune added at request time."

# The page, as a Tornado template. Tornado escapes every {{ }} for HTML by
# default (xhtml_escape: & < > " and '), which is what the <script>
# fortune needs; "oneline" squeezes the template's line breaks away.
FORTUNES_PAGE = tornado.template.Template("""\
<!DOCTYPE html>
<html>
<head><title>Fortunes</title></head>
<body>
<table>
<tr><th>id</th><th>message</th></tr>
{% for fortune_id, message in fortunes %}
<tr><td>{{ fortune_id }}</td><td>{{ message }}</td></tr>
{% end %}
</table>
</body>
</html>
""", whitespace="oneline")


def random_id():
    return random.randint(1, WORLD_ROWS)


def compact_json(value):
    # No spaces after , and : (TFB warns of bytes the answer does not need).
    return json.dumps(value, separators=(",", ":"))


class BaseHandler(tornado.web.RequestHandler):
    def initialize(self, pool=None):
        self.pool = pool

    def compute_etag(self):
        # Tornado would hash every answer for an ETag; these pages change
        # at each request (and TFB's clients never send If-None-Match).
        return None

    def send_json(self, value):
        self.set_header("Content-Type", "application/json")
        self.finish(compact_json(value))

    def number_of_queries(self):
        """?queries=N as TFB wants it read: 1 when absent or not a number,
        then kept between 1 and 500."""
        try:
            count = int(self.get_argument("queries", "1"))
        except ValueError:
            return 1
        return min(max(count, 1), MAX_QUERIES)


class PlaintextHandler(BaseHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.finish(b"Hello, World!")


class JsonHandler(BaseHandler):
    def get(self):
        # A new object at each request, serialized then (TFB's rule: no
        # answer cached as bytes).
        self.send_json({"message": "Hello, World!"})


class DbHandler(BaseHandler):
    async def get(self):
        row = await self.pool.fetchrow(READ_WORLD, random_id())
        self.send_json({"id": row["id"], "randomNumber": row["randomnumber"]})


async def read_worlds(connection, count):
    """count random World rows, one SELECT each, one after the other on
    one connection: TFB forbids answering them all with one `IN (...)`."""
    statement = await connection.prepare(READ_WORLD)
    worlds = []
    for _ in range(count):
        row = await statement.fetchrow(random_id())
        worlds.append({"id": row["id"], "randomNumber": row["randomnumber"]})
    return worlds


class QueriesHandler(BaseHandler):
    async def get(self):
        count = self.number_of_queries()
        # One connection for the whole request: taking one from the pool
        # per row would make 500 round trips to the pool as well.
        async with self.pool.acquire() as connection:
            worlds = await read_worlds(connection, count)
        self.send_json(worlds)


class UpdatesHandler(BaseHandler):
    async def get(self):
        count = self.number_of_queries()
        async with self.pool.acquire() as connection:
            worlds = await read_worlds(connection, count)
            for world in worlds:
                world["randomNumber"] = random_id()
            # Written in the order of the ids: two requests that update
            # some of the same rows then lock them in the same order, and
            # cannot wait for each other for ever (a deadlock). The sort
            # is stable, so when an id came twice its last value wins, as
            # in the answer below.
            changes = [(world["id"], world["randomNumber"]) for world in worlds]
            changes.sort(key=lambda change: change[0])
            await connection.executemany(WRITE_WORLD, changes)
        # Only now, with every row written, does the answer go out.
        self.send_json(worlds)


class FortunesHandler(BaseHandler):
    async def get(self):
        rows = await self.pool.fetch(READ_FORTUNES)
        fortunes = [(row["id"], row["message"]) for row in rows]
        fortunes.append((0, ADDITIONAL_FORTUNE))
        fortunes.sort(key=lambda fortune: fortune[1])
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(FORTUNES_PAGE.generate(fortunes=fortunes))


def make_application(pool):
    database = {"pool": pool}
    return tornado.web.Application([
        (r"/plaintext", PlaintextHandler),
        (r"/json", JsonHandler),
        (r"/db", DbHandler, database),
        (r"/queries", QueriesHandler, database),
        (r"/updates", UpdatesHandler, database),
        (r"/fortunes", FortunesHandler, database),
    ])


async def serve(options):
    pool = await asyncpg.create_pool(min_size=options.pool, max_size=options.pool,
                                     **connect_arguments(options.dsn))
    sockets = tornado.netutil.bind_sockets(options.port, options.address, backlog=BACKLOG)
    server = tornado.httpserver.HTTPServer(make_application(pool))
    server.add_sockets(sockets)
    print("Listening on http://%s:%d/" % (options.address, sockets[0].getsockname()[1]),
          flush=True)

    # SIGTERM / SIGINT end the process at once, exit code 0 (as db_tornado.py).
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, os._exit, 0)
    await asyncio.Event().wait()  # for ever


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("TORNADO_POSTGRES_DSN", ""))
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--address", default="127.0.0.1")
    options = parser.parse_args()
    if not options.dsn:
        parser.error("which database? give --dsn or set TORNADO_POSTGRES_DSN")
    asyncio.run(serve(options))


if __name__ == "__main__":
    main()
