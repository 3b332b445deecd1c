#!/usr/bin/python3
"""The page of `make bench-db` on Python Tornado 6.2 with an asyncpg pool.

    /usr/bin/python3 tests/bench/db_tornado.py --dsn="host=... port=... user=... dbname=..."
                                               [--pool=10] [--port=8888] [--address=127.0.0.1]

    GET /page?ms=N   SELECT id, title FROM items WHERE id = $1 (a random id
                     from 1 to 1,000), then SELECT pg_sleep($1 / 1000.0)
                     with $1 = N (0 to 10000, default 50); answers
                     "item 17: item number 17 (and 50 ms in pg_sleep)"

What Tornado's own documentation points to for a database: a coroutine
handler awaiting a driver that never blocks the loop (asyncpg), with a
pool of --pool connections opened at start. The dsn is libpq's keyword
string (tools/pg_cluster.py prints one; the default is the environment's
TORNADO_POSTGRES_DSN). It prints "Listening on http://ADDRESS:PORT/" once
it accepts, and exits 0 at once on SIGTERM or SIGINT. Debian's /usr/bin/python3
with python3-tornado and python3-asyncpg (tools/install-deps.sh db).
"""
import argparse
import asyncio
import os
import random
import signal

import asyncpg
import tornado.httpserver
import tornado.netutil
import tornado.web

ITEMS = 1000
MAX_DELAY_MS = 10000
# As tornado_hello.py: the accept queue of the course's servers, not
# Tornado's default of 128, so that 1,000 connections opened at once fit.
BACKLOG = 4096


class PageHandler(tornado.web.RequestHandler):
    def initialize(self, pool):
        self.pool = pool

    async def get(self):
        text = self.get_argument("ms", "50")
        if not text.isdigit() or int(text) > MAX_DELAY_MS:
            raise tornado.web.HTTPError(400, "ms must be a number from 0 to 10000")
        ms = int(text)
        # Each query takes a connection from the pool and gives it back.
        item = await self.pool.fetchrow("SELECT id, title FROM items WHERE id = $1",
                                        random.randint(1, ITEMS))
        await self.pool.execute("SELECT pg_sleep($1 / 1000.0)", ms)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.write("item %d: %s (and %d ms in pg_sleep)\n" % (item["id"], item["title"], ms))


def connect_arguments(dsn):
    """libpq's "host=/dir port=5432 user=u dbname=d" as asyncpg's arguments
    (a host that starts with '/' is the folder of the unix socket, for both)."""
    fields = dict(field.split("=", 1) for field in dsn.split())
    arguments = {"host": fields.get("host"), "user": fields.get("user"),
                 "database": fields.get("dbname")}
    if "port" in fields:
        arguments["port"] = int(fields["port"])
    return {key: value for key, value in arguments.items() if value is not None}


async def serve(options):
    pool = await asyncpg.create_pool(min_size=options.pool, max_size=options.pool,
                                     **connect_arguments(options.dsn))
    application = tornado.web.Application([(r"/page", PageHandler, {"pool": pool})])
    sockets = tornado.netutil.bind_sockets(options.port, options.address, backlog=BACKLOG)
    server = tornado.httpserver.HTTPServer(application)
    server.add_sockets(sockets)
    print("Listening on http://%s:%d/" % (options.address, sockets[0].getsockname()[1]),
          flush=True)

    # SIGTERM / SIGINT end the process at once, exit code 0: the pages in
    # flight are dropped with it, rather than each logging its cancelled
    # query as the pool closes under it.
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
