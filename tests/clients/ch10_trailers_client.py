#!/usr/bin/env python3
"""One GET over h2c with Debian's python3-h2, printing what came back: the
client we did not write of Task5_Trailers.PythonH2SeesTheTrailers
(tests/10-http2/trailers_test.cpp), which starts it against its server.

    /usr/bin/python3 ch10_trailers_client.py --port PORT [--path /trailers]

h2's H2Connection is a whole client state machine: it checks what the
server sends as a real client does (an upper-case name, a pseudo-header
in trailers, a connection-specific field, a header block after the body
without END_STREAM, DATA after the end are protocol errors to it), and
reports trailers as an event of their own. Prints one line per thing
seen:

    status 200
    body 40000          (the body's length, once the stream has ended)
    trailer NAME VALUE  (one per trailer field, as h2 decoded it)
    ended

or "error: ..." and exits 1. Exits 77 when python3-h2 is missing (the
test then skips). Every wait is bounded: 10 s in all.
"""
import argparse
import socket
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
except ImportError:
    print("ch10_trailers_client.py: needs python3-h2 (Debian), run by /usr/bin/python3")
    sys.exit(77)

TIMEOUT = 10.0


def fetch(port, path):
    """(lines, ok): what the server's answer to GET path was, event by event."""
    lines, body, ended = [], 0, False
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    connection = h2.connection.H2Connection(config=config)
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        connection.initiate_connection()
        stream_id = connection.get_next_available_stream_id()
        connection.send_headers(stream_id, [(":method", "GET"), (":scheme", "http"),
                                            (":authority", "127.0.0.1:%d" % port),
                                            (":path", path), ("te", "trailers")],
                                end_stream=True)
        sock.sendall(connection.data_to_send())
        while not ended:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                lines.append("error: no end of stream %d within %.0f s" % (stream_id, TIMEOUT))
                return lines, False
            if not data:
                lines.append("error: the server closed the connection before the stream ended")
                return lines, False
            try:
                events = connection.receive_data(data)
            except h2.exceptions.ProtocolError as error:
                lines.append("error: h2 refused what the server sent: %r" % error)
                return lines, False
            for event in events:
                if isinstance(event, h2.events.ResponseReceived):
                    for name, value in event.headers:
                        if name == ":status":
                            lines.append("status %s" % value)
                elif isinstance(event, h2.events.DataReceived):
                    body += len(event.data)
                    connection.acknowledge_received_data(event.flow_controlled_length,
                                                         event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    for name, value in event.headers:
                        lines.append("trailer %s %s" % (name, value))
                elif isinstance(event, h2.events.StreamEnded):
                    lines.append("body %d" % body)
                    lines.append("ended")
                    ended = True
                elif isinstance(event, h2.events.StreamReset):
                    lines.append("error: stream reset, code %s" % event.error_code)
                    return lines, False
                elif isinstance(event, h2.events.ConnectionTerminated):
                    lines.append("error: GOAWAY %s" % event.error_code)
                    return lines, False
            outgoing = connection.data_to_send()
            if outgoing:
                sock.sendall(outgoing)
        connection.close_connection()
        sock.sendall(connection.data_to_send())
    return lines, True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/trailers")
    args = parser.parse_args()
    try:
        lines, ok = fetch(args.port, args.path)
    except OSError as error:
        lines, ok = ["error: %s" % error], False
    print("\n".join(lines), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
