#!/usr/bin/python3
"""Python Tornado's hello world, the yardstick of the "framework" scenario of `make bench`.

    /usr/bin/python3 tests/bench/tornado_hello.py [--port=8888] [--address=127.0.0.1]
                                                  [--processes=1] [--reuse_port]

The classic Tornado program, web.Application + RequestHandler, answering
GET / with "Hello, world" as text/plain over keep-alive: the same program
as the course's build/bin/final_hello, written against the real thing.
Like every demo server of the course it prints
"Listening on http://ADDRESS:PORT/" once it accepts (--port=0 picks a free
port), and exits 0 on SIGTERM or SIGINT.

It must run under Debian's /usr/bin/python3 with python3-tornado (6.2);
tools/install-deps.sh bench installs it. Tornado's access log is off
unless logging is configured, which this program does not do, so a
request costs no log line (as nginx's `access_log off` in nginx.conf.in).

--processes=N forks N workers after binding, with Tornado's own
tornado.process.fork_processes: Tornado's multi-process set-up, and how
`c100k.py --websocket` holds 100,000 connections with tornado_ws_echo.py
where one process may have 20,000 descriptors. Tornado's parent passes
no signal on: stop the workers by their PIDs too (c100k.py does).
With --reuse_port (or --reuse-port; and a --port other than 0) the
workers are forked first and each binds a socket of its own with
reuse_port=True, the socket per process that Tornado's documentation
gives reuse_port for; the first prints the ready line.
"""
import argparse
import asyncio
import signal

import tornado.httpserver
import tornado.netutil
import tornado.process
import tornado.web

# Tornado's default backlog is 128; nginx.conf.in and the course's framework
# listen with 4096, and wrk opens 1,000 connections at once. The same queue
# for all keeps a refused SYN (and its one-second retry) out of the numbers.
BACKLOG = 4096


class HelloHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("Hello, world")


def parse_options(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--reuse-port", "--reuse_port", action="store_true")
    options = parser.parse_args()
    if options.reuse_port and options.port == 0:
        parser.error("--reuse-port needs a --port other than 0 (every worker binds it)")
    return options


async def serve(application, sockets):
    server = tornado.httpserver.HTTPServer(application)
    server.add_sockets(sockets)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()
    server.stop()


def main(routes, description):
    """Serves `routes` as the benchmark's servers do (tornado_ws_echo.py
    uses it too)."""
    options = parse_options(description)
    # With reuse_port every worker binds a socket of its own, so the fork
    # comes first; otherwise one socket is bound and the workers forked
    # after it inherit it. The ready line comes once, from the first.
    worker = 0
    if options.reuse_port and options.processes > 1:
        worker = tornado.process.fork_processes(options.processes)  # returns in each worker
    sockets = tornado.netutil.bind_sockets(options.port, options.address, backlog=BACKLOG,
                                           reuse_port=options.reuse_port)
    if worker == 0:
        port = sockets[0].getsockname()[1]
        print("Listening on http://%s:%d/" % (options.address, port), flush=True)
    if options.processes > 1 and not options.reuse_port:
        tornado.process.fork_processes(options.processes)  # returns in each worker
    asyncio.run(serve(tornado.web.Application(routes), sockets))


if __name__ == "__main__":
    main([(r"/", HelloHandler)], "Python Tornado hello world")
