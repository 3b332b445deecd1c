"""A WebSocket client over a plain socket, for tests: it sends exactly the
bytes a test asks for (masked or not, fragmented, broken on purpose) and
reads frames one at a time (RFC 6455).

    with RawWebSocket(port, "/ws/echo") as ws:
        ws.send_frame(OP_TEXT, b"hello")
        assert ws.receive_message() == (OP_TEXT, b"hello")

Failures raise ProtocolError with a message that says what was expected.
Standard library only; every wait is bounded.
"""
import base64
import hashlib
import os
import socket
import struct
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
TIMEOUT = 10


class ProtocolError(Exception):
    pass


def accept_value(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def frame_bytes(opcode, payload, masked=True, fin=True, rsv=0, mask=None):
    """One frame; rsv is the three reserved bits as a number (RSV1 = 4)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if masked:
        mask = mask or os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        header += mask
    return header + payload


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class HandshakeAnswer:
    """The status and headers the server answered the handshake with."""

    def __init__(self, head):
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError("bad status line %r" % lines[0])
        self.status = int(parts[1])
        self.headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                self.headers.append((name.strip(), value.strip()))

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawWebSocket:
    def __init__(self, port, path, extra_headers="", timeout=TIMEOUT, expect_upgrade=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n%s\r\n" % (path, port, self.key, extra_headers)).encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            piece = self.sock.recv(4096)
            if not piece:
                raise ProtocolError("connection closed during the WebSocket handshake")
            self.buffer += piece
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.handshake = HandshakeAnswer(head)
        if expect_upgrade:
            if self.handshake.status != 101:
                raise ProtocolError("handshake status: expected 101, got %d" % self.handshake.status)
            if self.handshake.header("Sec-WebSocket-Accept") != accept_value(self.key):
                raise ProtocolError("wrong Sec-WebSocket-Accept")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send_frame(self, opcode, payload, masked=True, fin=True, rsv=0):
        self.sock.sendall(frame_bytes(opcode, payload, masked, fin, rsv))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_exactly(self, count):
        while len(self.buffer) < count:
            piece = self.sock.recv(65536)
            if not piece:
                raise EOFError("connection closed")
            self.buffer += piece
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive_frame(self):
        """(fin, opcode, payload) of the next frame; a server's must be unmasked."""
        first, second = self._read_exactly(2)
        if second & 0x80:
            raise ProtocolError("the server masked a frame")
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read_exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read_exactly(8))[0]
        return bool(first & 0x80), first & 0x0F, self._read_exactly(length)

    def receive_message(self):
        """(opcode, payload) of the next data message, fragments joined."""
        opcode, parts = None, []
        while True:
            fin, frame_opcode, payload = self.receive_frame()
            if frame_opcode in (OP_CLOSE, OP_PING, OP_PONG):
                raise ProtocolError("expected a data frame, got opcode %d (%r)" % (frame_opcode, payload[:60]))
            if opcode is None:
                opcode = frame_opcode
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def wait_for_close(self, timeout=TIMEOUT):
        """Reads until the server closes the TCP connection; returns the data
        frames received meanwhile and the close frame's payload (or None).
        Raises ProtocolError if the server does not close within timeout."""
        deadline = time.monotonic() + timeout
        frames, close = [], None
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                _, opcode, payload = self.receive_frame()
            except (EOFError, ConnectionResetError):
                return frames, close
            except socket.timeout:
                raise ProtocolError("the server did not close the connection within %.0f s" % timeout)
            if opcode == OP_CLOSE:
                close = payload
            else:
                frames.append((opcode, payload))

    def close_code_and_reason(self, timeout=TIMEOUT):
        """The server's close frame (code, reason), after which it must close
        TCP; (None, None) when it closed without a close frame."""
        frames, close = self.wait_for_close(timeout)
        if frames:
            raise ProtocolError("data frames before the close: %r" % frames[:3])
        if close is None:
            return None, None
        if len(close) < 2:
            return None, close
        return struct.unpack("!H", close[:2])[0], close[2:]
