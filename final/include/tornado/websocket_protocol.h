// tornado/websocket_protocol.h: the WebSocket protocol without I/O (the
// part of tornado/websocket.h that needs no socket and no loop).
//
// The rules of RFC 6455 (and permessage-deflate, RFC 7692) as plain
// functions and classes that take bytes and give bytes: the handshake's
// keys, frames and masks, MessageReader, which checks every rule a peer's
// frames must follow, and PerMessageDeflate. websocket.h's connections feed
// them from an IOStream; tests and the fuzzer feed them bytes directly.
//
// Threads: any; an object belongs to one connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/escape.h"

namespace tornado {

// The most bytes a message may have (Tornado's default, 10 MiB): the
// websocket_max_message_size setting, and the client's max_message_size.
inline constexpr std::size_t kDefaultMaxMessageSize = 10 * 1024 * 1024;

// Something went wrong with a WebSocket (Tornado's WebSocketError): the
// client's handshake was answered without a 101, or the answer broke the
// protocol.
class WebSocketError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The connection is closed, or closing (Tornado's WebSocketClosedError).
class WebSocketClosedError : public WebSocketError {
public:
    WebSocketClosedError() : WebSocketError("the WebSocket is closed") {}
    using WebSocketError::WebSocketError;
};

// permessage-deflate's knobs (what Tornado's get_compression_options
// returns): zlib's level (0-9) and memLevel (1-9). Compression costs each
// connection about 300 KiB of zlib state while it lives.
struct WebSocketCompressionOptions {
    // 0 (none) to 9 (smallest). 6, as Tornado: GZipContentEncoding's level.
    int compression_level = 6;
    // 1 (least memory) to 9 (fastest); 8, zlib's default and Tornado's.
    // Values zlib refuses make PerMessageDeflate's constructor throw
    // std::invalid_argument.
    int mem_level = 8;
};

namespace websocket_protocol {

// A frame's opcode (RFC 6455 section 5.2): the low four bits of its first
// byte. The others are reserved, and a frame that uses one fails the
// connection with 1002.
enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Close codes (RFC 6455 section 7.4.1), and when this framework uses them.
// 1000: close() sends it for a reason given without a code.
inline constexpr int kNormalClosure = 1000;
// A graceful stop of the loop ("server shutting down"), and a peer whose
// pong is later than the ping timeout ("ping timeout").
inline constexpr int kGoingAway = 1001;
// The peer broke a rule of the framing (the table in websocket.h's
// module comment).
inline constexpr int kProtocolError = 1002;
// Never sent by the framework: for an application that refuses a kind of
// message (the chat example closes with it on a binary message).
inline constexpr int kUnsupportedData = 1003;
// Never sent: what Event::code says for a close frame without a code
// (close_code() is then nothing).
inline constexpr int kNoStatusReceived = 1005;
// A text message or close reason that is not UTF-8, or a compressed
// message that does not inflate.
inline constexpr int kInvalidPayload = 1007;
// A message over max_message_size, also once inflated.
inline constexpr int kMessageTooBig = 1009;
// The application failed: open, on_message, on_ping or on_pong (or a
// client's callbacks) threw, or their coroutine did.
inline constexpr int kInternalError = 1011;

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID))
// (Tornado's compute_accept_value).
std::string compute_accept_value(std::string_view key);
// Whether a Sec-WebSocket-Key is what RFC 6455 asks for: 16 bytes, base64.
bool is_valid_key(std::string_view key);
// A new Sec-WebSocket-Key (16 random bytes, base64), for a client.
std::string make_key();

// A new mask key for a client's frame: 4 random bytes, unpredictable
// (RFC 6455 section 10.3: else a page's script could choose the bytes a
// proxy sees).
std::array<char, 4> make_mask();

// The items of a comma-separated header value ("keep-alive, Upgrade"),
// trimmed, empty ones left out: how the handshake reads
// Sec-WebSocket-Protocol.
std::vector<std::string> header_list(std::string_view value);
// Whether one of those items is `token`, compared without regard to case:
// how the handshake reads Upgrade and Connection.
bool header_has_token(std::string_view value, std::string_view token);

// A control frame's payload (close, ping, pong) has at most 125 bytes.
inline constexpr std::size_t kMaxControlPayload = 125;
// A close frame's reason, what its two-byte code leaves: 123 bytes. close()
// throws std::invalid_argument for a longer one.
inline constexpr std::size_t kMaxCloseReason = kMaxControlPayload - 2;

// Whether a close frame may carry `code` (1000-1003, 1007-1014, 3000-4999).
bool is_valid_close_code(int code) noexcept;

// XORs `data` with the 4-byte `mask`, as if data began `offset` bytes into
// the payload. Masking twice with the same key gives the bytes back.
void apply_mask(std::span<char> data, const std::array<char, 4>& mask,
                std::size_t offset = 0) noexcept;

// Appends one frame to `out`: the header, then the payload, masked with
// `mask` when given (a client's frames). rsv1 marks a compressed message.
void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin = true,
                  bool rsv1 = false, const std::array<char, 4>* mask = nullptr);

// permessage-deflate (RFC 7692) for one connection: each message is
// deflated on its own with a sync flush and its last four bytes (00 00 ff
// ff) dropped; the receiver puts them back to inflate. With context
// takeover (the default), each side's zlib stream carries its window over
// from message to message.
class PerMessageDeflate {
public:
    // What the two sides agreed, in the handshake's parameter names.
    struct Agreement {
        bool server_no_context_takeover = false;
        bool client_no_context_takeover = false;
        std::optional<int> server_max_window_bits{};  // 9-15
        std::optional<int> client_max_window_bits{};
    };

    // `server`: which side this endpoint is (it compresses with its own
    // side's parameters and inflates the other's).
    PerMessageDeflate(bool server, const Agreement& agreement,
                      const WebSocketCompressionOptions& options);
    ~PerMessageDeflate();
    PerMessageDeflate(const PerMessageDeflate&) = delete;
    PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

    // The payload for `message`, to send with rsv1 on its first frame:
    // deflated as the class comment says, with this side's parameters.
    std::string compress(std::string_view message);
    // The message back; throws MessageTooBig when it inflates past
    // max_size, std::invalid_argument when it is not deflate data.
    std::string decompress(std::string_view payload, std::size_t max_size);

    struct MessageTooBig : std::length_error {
        using std::length_error::length_error;
    };

private:
    struct Streams;  // zlib's, kept out of this header
    std::unique_ptr<Streams> streams_;
};

// The handshake's side of permessage-deflate.
//
// Server: what accept_deflate_offer accepted, the agreement, and
// response_header, the Sec-WebSocket-Extensions value of the 101 that
// says so.
struct AcceptedDeflate {
    PerMessageDeflate::Agreement agreement;
    std::string response_header;  // "permessage-deflate; client_max_window_bits=10"
};
// Server: the first offer in a client's Sec-WebSocket-Extensions header
// that it can accept (only Agreement's four parameters, each once;
// server_max_window_bits 9-15, client_max_window_bits 8-15 or bare). As
// Tornado, its parameters become the agreement, echoed in the answer (a
// bare client_max_window_bits is dropped); unlike Tornado, an offer it
// cannot accept is passed over for the next. Nothing when no offer fits.
std::optional<AcceptedDeflate> accept_deflate_offer(std::string_view extensions_header);
// Client: what it offers (Tornado's).
inline constexpr std::string_view kClientDeflateOffer =
    "permessage-deflate; client_max_window_bits";
// Client: what the server's answer means; nothing when the header is
// absent or empty (no compression). Throws WebSocketError when it names
// another extension or more than one, or a parameter that is unknown,
// repeated or has a bad value.
std::optional<PerMessageDeflate::Agreement> parse_deflate_answer(
    std::string_view extensions_header);

// What MessageReader made of the bytes it was given. `kind` says what;
// `data` is a message's bytes (`binary` says which kind of message), a
// ping's or pong's payload, a close frame's reason, or why the reader
// failed; `code` is a close frame's code (kNoStatusReceived when it had
// none), or the code a failure closes with. A field a kind does not use
// keeps its default.
struct Event {
    // What the bytes were; `nothing`: no event yet (a fragment that does
    // not end its message, or a frame's header).
    enum class Kind : std::uint8_t {
        nothing,  // a frame that does not end a message (a fragment), or a header
        message,  // a whole data message: data, binary
        ping,     // data: the payload
        pong,     // data: the payload
        close,    // code (kNoStatusReceived when the frame had none), data: the reason
        fail,     // the peer broke a rule: close with code, data says which
    };
    Kind kind = Kind::nothing;
    std::string data{};
    bool binary = false;
    int code = 0;
};

// Reads frames and puts messages together, checking every rule of the
// table in tornado/websocket.h's module comment. Fed by the caller in the sizes it asks for:
//
//   while (...) {
//       std::string bytes = co_await stream->read_bytes(reader.bytes_wanted());
//       Event event = reader.feed(std::move(bytes));
//       ...
//   }
//
// A frame takes two or three feeds: its first two bytes, then the rest of
// its header with (when it is short) the payload, then a long payload.
// After a `fail` the reader stays failed.
class MessageReader {
public:
    // `expect_masked`: a server reads masked frames, a client unmasked ones.
    // `deflate` (may be null): the connection's permessage-deflate.
    MessageReader(bool expect_masked, std::size_t max_message_size,
                  PerMessageDeflate* deflate = nullptr);

    // How many bytes the next feed() takes: 2 at the start of a frame, 0
    // once failed.
    std::size_t bytes_wanted() const noexcept { return wanted_; }
    // Takes exactly bytes_wanted() bytes (std::invalid_argument for another
    // count).
    Event feed(std::string bytes);
    // Whether a `fail` event came: every later feed() throws.
    bool failed() const noexcept { return stage_ == Stage::failed; }

private:
    enum class Stage : std::uint8_t { frame_start, header_rest, payload, failed };

    Event start_frame(std::string_view two_bytes);
    Event read_header_rest(std::string bytes);
    Event end_frame(std::string payload);
    Event control_frame(std::string payload);
    Event data_frame(std::string payload);
    Event finish_message();
    Event fail(int code, std::string reason);

    std::string message_;  // the message being put together from fragments
    std::size_t max_message_size_;
    std::size_t wanted_ = 2;
    PerMessageDeflate* deflate_;
    std::array<char, 4> mask_{};  // the frame's
    Utf8Validator utf8_;          // the message's, while it comes in plain text
    Stage stage_ = Stage::frame_start;
    Opcode opcode_ = Opcode::continuation;  // the frame's
    std::uint8_t length_code_ = 0;          // the frame's 7-bit length: 0-125, 126 or 127
    bool expect_masked_;
    bool fin_ = false;         // the frame's
    bool compressed_ = false;  // the frame's RSV1
    bool in_message_ = false;
    bool message_binary_ = false;
    bool message_compressed_ = false;
};

}  // namespace websocket_protocol

}  // namespace tornado
