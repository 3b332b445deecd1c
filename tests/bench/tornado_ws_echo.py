#!/usr/bin/python3
"""Python Tornado's WebSocket echo, a yardstick of the "websocket" scenario of `make bench`.

    /usr/bin/python3 tests/bench/tornado_ws_echo.py [--port=8888] [--address=127.0.0.1]
                                                    [--processes=1]

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
import tornado.websocket

from tornado_hello import main


class EchoHandler(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        # Tornado hands over text as str and binary as bytes.
        self.write_message(message, binary=isinstance(message, bytes))


if __name__ == "__main__":
    main([(r"/.*", EchoHandler)], "Python Tornado WebSocket echo")
