#!/usr/bin/python3
"""Python Tornado's WebSocket echo, a yardstick of the "websocket" scenario of `make bench`.

    /usr/bin/python3 tests/bench/tornado_ws_echo.py [--port=8888] [--address=127.0.0.1]

The classic Tornado program, a WebSocketHandler whose on_message writes the
message back (text as text, binary as binary), on any path (the benchmark
uses /ws/echo): the same server as the course's final_websocket_echo and
as beast_ws_echo.cpp, written against the real thing. Like every demo
server of the course it prints "Listening on http://ADDRESS:PORT/" once
it accepts (--port=0 picks a free port), and exits 0 on SIGTERM or SIGINT.

It must run under Debian's /usr/bin/python3 with python3-tornado (6.2);
tools/install-deps.sh bench installs it. Logging is not configured, so
Tornado's access log (one line per upgrade) is off and only warnings reach
stderr, as `--logging=warning` does for the course's servers. No
compression and no pings, Tornado's defaults, as the other servers.
"""
import argparse
import asyncio
import signal

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

# Tornado's default backlog is 128; the course's servers and the other
# yardsticks listen with 4096, and the benchmark opens up to 200 connections
# at once. The same queue for all keeps a refused SYN out of the numbers.
BACKLOG = 4096


class EchoHandler(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        # Tornado hands over text as str and binary as bytes.
        self.write_message(message, binary=isinstance(message, bytes))


def parse_options():
    parser = argparse.ArgumentParser(description="Python Tornado WebSocket echo")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--address", default="127.0.0.1")
    return parser.parse_args()


async def serve(options):
    application = tornado.web.Application([(r"/.*", EchoHandler)])
    sockets = tornado.netutil.bind_sockets(options.port, options.address, backlog=BACKLOG)
    server = tornado.httpserver.HTTPServer(application)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print("Listening on http://%s:%d/" % (options.address, port), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(serve(parse_options()))
