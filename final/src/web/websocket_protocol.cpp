// websocket_protocol.cpp: the WebSocket protocol without I/O (see
// tornado/websocket_protocol.h for the contract): keys, frames, masking,
// permessage-deflate and its negotiation, and MessageReader, which applies
// the rules of RFC 6455 to the bytes it is fed.
//
// A received frame's path: websocket.cpp feeds MessageReader the bytes it
// asks for; it checks the header (start_frame, read_header_rest), unmasks
// the payload (end_frame), and returns a control frame's event at once or
// adds a data frame to its message (data_frame, finish_message, inflating
// it when it was compressed). A sent message: compress, then append_frame.
//
// Nothing here touches a socket or the loop, so the fuzzer
// (tests/final/fuzz_websocket_frames.cpp) builds this file with only
// escape.cpp and python_text.cpp, and feeds it whatever bytes it likes.
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "core/text.h"
#include "http/base64.h"
#include "tornado/websocket_protocol.h"
#include "web/random_bytes.h"

namespace tornado::websocket_protocol {

namespace {

// RFC 6455 section 1.3: the server proves it read the key by hashing it
// with this GUID, which no other protocol would know to use.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kRsv1 = 0x40;
constexpr std::uint8_t kRsv2 = 0x20;
constexpr std::uint8_t kRsv3 = 0x10;
constexpr std::uint8_t kMaskBit = 0x80;

bool is_control(Opcode opcode) noexcept { return (static_cast<std::uint8_t>(opcode) & 0x8) != 0; }

// The opcodes RFC 6455 defines. The rest (3-7, B-F) are reserved, and a
// frame that uses one fails the connection (section 5.2).
bool is_known(std::uint8_t opcode) noexcept {
    return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA);
}

using detail::equals_ignoring_case;
using detail::for_each_item;
using detail::trim_ows;

}  // namespace

// --- keys ------------------------------------------------------------------------------------

// RFC 6455 section 4.2.2: the key is hashed as the text the client sent,
// not decoded from base64 (Tornado's compute_accept_value does the same).
std::string compute_accept_value(std::string_view key) {
    std::string input = std::string(key) + std::string(kAcceptGuid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(input.data(), input.size(), digest, &size, EVP_sha1(), nullptr);
    return detail::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

// RFC 6455 section 4.2.1, item 5: the key decodes to 16 bytes. Tornado only
// checks that the header is there.
bool is_valid_key(std::string_view key) {
    std::optional<std::string> decoded = detail::base64_decode(key);
    return decoded && decoded->size() == 16;
}

// A fresh random nonce for each handshake (section 4.1).
std::string make_key() { return detail::base64_encode(detail::random_bytes(16)); }

std::array<char, 4> make_mask() {
    std::string bytes = detail::random_bytes(4);
    std::array<char, 4> mask{};
    std::copy(bytes.begin(), bytes.end(), mask.begin());
    return mask;
}

// Unlike Tornado's split, this leaves out empty items (a stray comma).
std::vector<std::string> header_list(std::string_view value) {
    std::vector<std::string> items;
    for_each_item(value, [&](std::string_view item) {
        if (!item.empty()) items.emplace_back(item);
    });
    return items;
}

// Upgrade and Connection are lists of tokens compared without case (RFC
// 6455 section 4.2.1, items 3 and 4): Firefox sends "Connection: keep-alive,
// Upgrade", which must pass.
bool header_has_token(std::string_view value, std::string_view token) {
    return detail::list_has_token(value, token);
}

// The codes a close frame may carry on the wire (RFC 6455 section 7.4): the
// test for a peer's code, and for the code the application asks to send.
// 3000-3999 are registered with IANA and 4000-4999 are private; below 1000
// nothing is used, and the rest of 1000-2999 is kept for the protocol.
bool is_valid_close_code(int code) noexcept {
    // 1004 is reserved; 1005, 1006 and 1015 only say what happened, locally,
    // and must never be sent; 1012-1014 were added after RFC 6455 (restart,
    // try again later, bad gateway) and real servers send them.
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

// --- frames ----------------------------------------------------------------------------------

// RFC 6455 section 5.3: payload byte i is XORed with mask[i % 4]. The
// words go through memcpy, which needs no alignment and compiles to loads.
void apply_mask(std::span<char> data, const std::array<char, 4>& mask,
                std::size_t offset) noexcept {
    // The key repeated over eight bytes, starting where `offset` falls in
    // it: then a payload is XORed a word at a time.
    char repeated[8];
    for (std::size_t i = 0; i < 8; ++i) repeated[i] = mask[(offset + i) % 4];
    std::uint64_t key;
    std::memcpy(&key, repeated, 8);
    char* bytes = data.data();
    std::size_t i = 0;
    for (; i + 8 <= data.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i, 8);
        word ^= key;
        std::memcpy(bytes + i, &word, 8);
    }
    for (; i < data.size(); ++i) bytes[i] = static_cast<char>(bytes[i] ^ repeated[i % 8]);
}

// RFC 6455 section 5.2. The length takes the shortest of its three forms,
// as the RFC requires. A client's payload is appended first and masked in
// place in `out`: one copy of the payload, not two.
void append_frame(std::string& out, Opcode opcode, std::string_view payload, bool fin, bool rsv1,
                  const std::array<char, 4>* mask) {
    char header[14];
    std::size_t size = 0;
    header[size++] = static_cast<char>((fin ? kFin : 0) | (rsv1 ? kRsv1 : 0) |
                                       static_cast<std::uint8_t>(opcode));
    const std::uint8_t mask_bit = mask != nullptr ? kMaskBit : 0;
    const std::uint64_t length = payload.size();
    if (length < 126) {
        header[size++] = static_cast<char>(mask_bit | length);
    } else if (length <= 0xFFFF) {
        header[size++] = static_cast<char>(mask_bit | 126);
        header[size++] = static_cast<char>(length >> 8);
        header[size++] = static_cast<char>(length);
    } else {
        header[size++] = static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8)
            header[size++] = static_cast<char>(length >> shift);
    }
    if (mask != nullptr) {
        std::memcpy(header + size, mask->data(), 4);
        size += 4;
    }
    const std::size_t payload_at = out.size() + size;
    out.reserve(payload_at + payload.size());
    out.append(header, size);
    out.append(payload);
    if (mask != nullptr)
        apply_mask(std::span<char>(out.data() + payload_at, payload.size()), *mask);
}

// --- permessage-deflate ----------------------------------------------------------------------

namespace {

// The last four bytes of a sync flush: dropped by the sender, put back by
// the receiver (RFC 7692 section 7.2.1).
constexpr char kFlushTail[4] = {0x00, 0x00, static_cast<char>(0xff), static_cast<char>(0xff)};

// Raw deflate (no zlib header) needs the window as a negative number.
int raw(int window_bits) { return -window_bits; }

}  // namespace

// One deflater and one inflater for the connection's whole life: each keeps
// its window from message to message (context takeover, RFC 7692 section
// 7.1.1) unless its side agreed to no_context_takeover.
struct PerMessageDeflate::Streams {
    z_stream deflater{};
    z_stream inflater{};
    bool reset_deflater = false;  // our no_context_takeover: each message starts afresh
    bool reset_inflater = false;  // the peer's

    Streams(int level, int mem_level, int window_bits) {
        if (deflateInit2(&deflater, level, Z_DEFLATED, raw(window_bits), mem_level,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            throw std::invalid_argument("permessage-deflate: bad compression options");
        }
        // Inflating with the largest window reads a stream made with any
        // smaller one, whatever the peer chose.
        if (inflateInit2(&inflater, raw(MAX_WBITS)) != Z_OK) {
            deflateEnd(&deflater);
            throw std::bad_alloc();
        }
    }
    ~Streams() {
        deflateEnd(&deflater);
        inflateEnd(&inflater);
    }
    Streams(const Streams&) = delete;
    Streams& operator=(const Streams&) = delete;
};

PerMessageDeflate::PerMessageDeflate(bool server, const Agreement& agreement,
                                     const WebSocketCompressionOptions& options) {
    // Which parameters concern which stream: a server deflates under the
    // server_* ones and inflates what the client deflated under the client_*
    // ones, a client the other way round. Only our own window size goes to
    // zlib: the inflater always takes the largest (see Streams).
    bool ours_fresh =
        server ? agreement.server_no_context_takeover : agreement.client_no_context_takeover;
    bool theirs_fresh =
        server ? agreement.client_no_context_takeover : agreement.server_no_context_takeover;
    std::optional<int> our_bits =
        server ? agreement.server_max_window_bits : agreement.client_max_window_bits;
    streams_ = std::make_unique<Streams>(options.compression_level, options.mem_level,
                                         our_bits.value_or(MAX_WBITS));
    streams_->reset_deflater = ours_fresh;
    streams_->reset_inflater = theirs_fresh;
}

PerMessageDeflate::~PerMessageDeflate() = default;

// RFC 7692 section 7.2.1: deflate the message, end it with a sync flush (an
// empty stored block, whose last four bytes are 00 00 ff ff) and drop those
// four bytes, as Tornado's compress() does.
std::string PerMessageDeflate::compress(std::string_view message) {
    z_stream& stream = streams_->deflater;
    if (streams_->reset_deflater) deflateReset(&stream);
    // deflateBound is for one Z_FINISH call; a sync flush adds a few bytes (the
    // empty block), hence the margin, and the loop grows the buffer if needed.
    std::string out(deflateBound(&stream, message.size()) + 16, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    stream.avail_in = static_cast<uInt>(message.size());
    std::size_t produced = 0;
    // A sync flush is done when deflate leaves room in the output.
    do {
        if (out.size() - produced < 64) out.resize(out.size() * 2);
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        stream.avail_out = static_cast<uInt>(out.size() - produced);
        deflate(&stream, Z_SYNC_FLUSH);
        produced = out.size() - stream.avail_out;
    } while (stream.avail_out == 0);
    out.resize(produced);
    if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, kFlushTail, 4) == 0)
        out.resize(out.size() - 4);
    return out;
}

// RFC 7692 section 7.2.2: put the four bytes back and inflate. The output
// is measured as it is made, so a small payload that would inflate to
// gigabytes (a "zip bomb") fails at max_size, as Tornado's max_length does.
std::string PerMessageDeflate::decompress(std::string_view payload, std::size_t max_size) {
    z_stream& stream = streams_->inflater;
    if (streams_->reset_inflater) inflateReset(&stream);
    std::string out;
    bool ended = false;  // the sender ended its deflate stream inside this message
    auto inflate_all = [&](std::string_view input) {
        if (ended) return;
        stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
        stream.avail_in = static_cast<uInt>(input.size());
        for (;;) {
            char piece[16 * 1024];
            stream.next_out = reinterpret_cast<Bytef*>(piece);
            stream.avail_out = sizeof piece;
            int status = inflate(&stream, Z_SYNC_FLUSH);
            std::size_t made = sizeof piece - stream.avail_out;
            if (out.size() + made > max_size) throw MessageTooBig("message too big once inflated");
            out.append(piece, made);
            if (status == Z_STREAM_END) {
                // The sender ended its stream with a final block (BFINAL,
                // RFC 7692 section 7.2.3.4). All that may follow is what is
                // left of the empty stored block its framing appends: one
                // 0x00 byte of the payload, and our own tail, which is not
                // fed. The next message starts a new stream.
                std::string_view rest(reinterpret_cast<const char*>(stream.next_in),
                                      stream.avail_in);
                inflateReset(&stream);
                ended = true;
                if (!rest.empty() && rest != std::string_view("\0", 1))
                    throw std::invalid_argument("data after the end of the deflate stream");
                return;
            }
            // Done with this input: no progress possible (Z_BUF_ERROR), or all input
            // used with room to spare. A full piece may have more behind it.
            if (status == Z_BUF_ERROR ||
                (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0))
                return;
            if (status != Z_OK) {
                throw std::invalid_argument(std::string("invalid deflate data: ") +
                                            (stream.msg != nullptr ? stream.msg : "zlib error"));
            }
        }
    };
    inflate_all(payload);
    // The tail goes through the same inflater: it completes the empty stored
    // block the sender's sync flush began, so the inflater stops on a block
    // boundary, ready for the next message.
    inflate_all(std::string_view(kFlushTail, 4));
    return out;
}

// --- negotiating permessage-deflate ----------------------------------------------------------

namespace {

struct Extension {
    std::string name;
    std::vector<std::pair<std::string, std::optional<std::string>>> params;
};

// "permessage-deflate; client_max_window_bits, x-other; a=\"1\"": each
// extension with its parameters (RFC 6455 section 9.1), quotes removed.
std::vector<Extension> parse_extensions(std::string_view header) {
    std::vector<Extension> extensions;
    // Simpler than section 9.1's grammar: a comma or semicolon inside quotes
    // would split a value. Enough for permessage-deflate, whose values are
    // numbers; an unknown extension is skipped or refused anyway.
    while (!header.empty()) {
        std::size_t comma = header.find(',');
        std::string_view item = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
        Extension extension;
        bool first = true;
        while (true) {
            std::size_t semicolon = item.find(';');
            std::string_view part = trim_ows(item.substr(0, semicolon));
            if (first) {
                extension.name = std::string(part);
                first = false;
            } else if (!part.empty()) {
                std::size_t equals = part.find('=');
                std::string name(trim_ows(part.substr(0, equals)));
                std::optional<std::string> value;
                if (equals != std::string_view::npos) {
                    std::string_view raw_value = trim_ows(part.substr(equals + 1));
                    // A value may be quoted: client_max_window_bits="10".
                    if (raw_value.size() >= 2 && raw_value.front() == '"' &&
                        raw_value.back() == '"') {
                        raw_value = raw_value.substr(1, raw_value.size() - 2);
                    }
                    value = std::string(raw_value);
                }
                extension.params.emplace_back(std::move(name), std::move(value));
            }
            if (semicolon == std::string_view::npos) break;
            item = item.substr(semicolon + 1);
        }
        if (!extension.name.empty()) extensions.push_back(std::move(extension));
    }
    return extensions;
}

// A window size: one or two decimal digits (RFC 7692 section 7.1.2); the
// caller checks the range.
std::optional<int> window_bits(const std::optional<std::string>& value) {
    if (!value || value->empty() || value->size() > 2) return std::nullopt;
    if (!std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    return std::stoi(*value);
}

// The agreement an extension's parameters make, or nothing when one is
// unknown, repeated, or out of range. `offer`: they come from a client's
// offer (else from the server's answer). zlib cannot deflate with a window
// of 8 (it would use 9, which a peer inflating with 8 cannot read), so 8 is
// accepted only for a window this side inflates.
std::optional<PerMessageDeflate::Agreement> agreement_from(const Extension& extension, bool offer) {
    PerMessageDeflate::Agreement agreement;
    // RFC 7692 section 7: a server declines an offer, and a client fails the
    // connection on an answer, that has an unknown parameter, one with a bad
    // value, or the same parameter twice.
    std::vector<std::string> seen;
    for (const auto& [name, value] : extension.params) {
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) return std::nullopt;
        seen.push_back(name);
        // The two no_context_takeover parameters take no value (section 7.1.1); one
        // given a value falls through to the refusal at the end.
        if (name == "server_no_context_takeover" && !value) {
            agreement.server_no_context_takeover = true;
        } else if (name == "client_no_context_takeover" && !value) {
            agreement.client_no_context_takeover = true;
        } else if (name == "server_max_window_bits") {
            // The server deflates with it: zlib's smallest raw window is 9.
            std::optional<int> bits = window_bits(value);
            if (!bits || *bits < 9 || *bits > 15) return std::nullopt;
            agreement.server_max_window_bits = bits;
        } else if (name == "client_max_window_bits") {
            // In an offer, no value says "the client can take any"; in an
            // answer, it is the client's window, which the client deflates
            // with (so 9 or more).
            if (!value && offer) continue;
            std::optional<int> bits = window_bits(value);
            int lowest = offer ? 8 : 9;
            if (!bits || *bits < lowest || *bits > 15) return std::nullopt;
            agreement.client_max_window_bits = bits;
        } else {
            return std::nullopt;
        }
    }
    return agreement;
}

// The accepted offer, written back for the 101 (Tornado's _encode_header).
std::string encode_extension(const Extension& extension) {
    std::string out = extension.name;
    for (const auto& [name, value] : extension.params) {
        out += "; " + name;
        if (value) out += "=" + *value;
    }
    return out;
}

// The name compared without regard to case (Tornado wants it exact).
bool is_deflate(const Extension& extension) {
    constexpr std::string_view kName = "permessage-deflate";
    return equals_ignoring_case(extension.name, kName);
}

}  // namespace

// The server's side (RFC 7692 section 5): a client may list several offers,
// in its order of preference; the first this side can honour is accepted.
// Tornado takes the first permessage-deflate offer whatever it holds, and
// drops the connection on a parameter it does not know.
std::optional<AcceptedDeflate> accept_deflate_offer(std::string_view extensions_header) {
    for (Extension& offer : parse_extensions(extensions_header)) {
        if (!is_deflate(offer)) continue;
        std::optional<PerMessageDeflate::Agreement> agreement =
            agreement_from(offer, /*offer=*/true);
        if (!agreement) continue;  // RFC 7692: decline an offer we cannot meet, try the next
        // The answer repeats the offer's parameters, as Tornado's does, but a
        // client_max_window_bits without a value (a capability, not a request).
        std::erase_if(offer.params, [](const auto& param) {
            return param.first == "client_max_window_bits" && !param.second;
        });
        // The name as the RFC spells it, whatever case the client used.
        offer.name = "permessage-deflate";
        return AcceptedDeflate{*agreement, encode_extension(offer)};
    }
    return std::nullopt;
}

// The client's side (RFC 6455 section 4.1, RFC 7692 section 7): the answer
// may accept only what was offered, which is permessage-deflate, once. No
// header, or an empty one, means the server declined: no compression.
std::optional<PerMessageDeflate::Agreement> parse_deflate_answer(
    std::string_view extensions_header) {
    std::vector<Extension> extensions = parse_extensions(extensions_header);
    if (extensions.empty()) return std::nullopt;
    if (extensions.size() > 1 || !is_deflate(extensions.front())) {
        throw WebSocketError("the server accepted an extension that was not offered: " +
                             std::string(extensions_header));
    }
    std::optional<PerMessageDeflate::Agreement> agreement =
        agreement_from(extensions.front(), /*offer=*/false);
    if (!agreement) {
        throw WebSocketError("the server's permessage-deflate parameters cannot be used: " +
                             std::string(extensions_header));
    }
    return agreement;
}

// --- MessageReader ---------------------------------------------------------------------------

MessageReader::MessageReader(bool expect_masked, std::size_t max_message_size,
                             PerMessageDeflate* deflate)
    : max_message_size_(max_message_size), deflate_(deflate), expect_masked_(expect_masked) {}

// A state machine driven by the sizes it asks for: exact sizes let the
// caller use read_bytes, and nothing is buffered or parsed twice. A feed of
// the wrong size is the caller's bug, so it throws rather than fails.
Event MessageReader::feed(std::string bytes) {
    if (bytes.size() != wanted_)
        throw std::invalid_argument("MessageReader::feed: not the bytes it asked for");
    switch (stage_) {
        case Stage::frame_start: return start_frame(bytes);
        case Stage::header_rest: return read_header_rest(std::move(bytes));
        case Stage::payload: return end_frame(std::move(bytes));
        case Stage::failed: break;
    }
    throw std::logic_error("MessageReader::feed after a failure");
}

// Final: any further feed throws. The caller sends a close frame with `code`
// and drops the connection (RFC 6455 section 7.1.7).
Event MessageReader::fail(int code, std::string reason) {
    stage_ = Stage::failed;
    wanted_ = 0;
    return Event{Event::Kind::fail, std::move(reason), false, code};
}

// The first two bytes: every rule that the header alone can break is
// checked here, before any payload is read.
Event MessageReader::start_frame(std::string_view two_bytes) {
    const auto first = static_cast<std::uint8_t>(two_bytes[0]);
    const auto second = static_cast<std::uint8_t>(two_bytes[1]);
    fin_ = (first & kFin) != 0;
    const std::uint8_t opcode = first & 0x0F;
    const bool masked = (second & kMaskBit) != 0;
    length_code_ = second & 0x7F;

    // Each check is a rule of RFC 6455 section 5.2 unless said otherwise. Their
    // order decides which reason a frame that breaks several rules is given.
    if (!is_known(opcode)) return fail(kProtocolError, "unknown opcode " + std::to_string(opcode));
    opcode_ = static_cast<Opcode>(opcode);
    if ((first & (kRsv2 | kRsv3)) != 0) return fail(kProtocolError, "reserved bits set");
    // RSV1 marks a compressed message, and only on its first frame, never on a
    // control frame (RFC 7692 section 6); without the extension it is unknown.
    compressed_ = (first & kRsv1) != 0;
    if (compressed_ &&
        (deflate_ == nullptr || opcode_ == Opcode::continuation || is_control(opcode_))) {
        return fail(kProtocolError, deflate_ == nullptr
                                        ? "reserved bits set"
                                        : "RSV1 set on a frame that does not begin a message");
    }
    // Section 5.1: a client masks every frame, a server none.
    if (masked != expect_masked_) {
        return fail(kProtocolError,
                    expect_masked_ ? "client frame not masked" : "server frame masked");
    }
    // Section 5.5: a control frame is whole and small; section 5.4: a
    // continuation needs a message to continue, and a data frame may not
    // start a new message in the middle of one.
    if (is_control(opcode_)) {
        if (!fin_) return fail(kProtocolError, "fragmented control frame");
        if (length_code_ > kMaxControlPayload)
            return fail(kProtocolError, "control frame over 125 bytes");
    } else if (opcode_ == Opcode::continuation && !in_message_) {
        return fail(kProtocolError, "continuation frame with nothing to continue");
    } else if (opcode_ != Opcode::continuation && in_message_) {
        return fail(kProtocolError, "new data frame inside a fragmented message");
    }

    // What is left of the header: 0, 2 or 8 length bytes, then the mask key.
    std::size_t length_bytes = length_code_ == 126 ? 2 : length_code_ == 127 ? 8 : 0;
    std::size_t mask_bytes = masked ? 4 : 0;
    // A short payload comes with the rest of the header: one read less.
    std::size_t short_payload = length_code_ < 126 ? length_code_ : 0;
    wanted_ = length_bytes + mask_bytes + short_payload;
    stage_ = Stage::header_rest;
    // An empty unmasked frame (a server's): the header is all there was.
    if (wanted_ == 0) return end_frame({});
    return {};
}

// The extended length (network byte order), the mask key, and the payload
// of a short frame. The size limit is checked before a long payload is
// read, so announcing 2^62 bytes allocates nothing. It adds the message's
// fragments so far (for a control frame between fragments too, as
// Tornado's does). A length not in its shortest form is accepted, as in
// Tornado.
Event MessageReader::read_header_rest(std::string bytes) {
    std::size_t at = 0;
    std::uint64_t length = length_code_;
    if (length_code_ >= 126) {
        const std::size_t length_bytes = length_code_ == 126 ? 2 : 8;
        length = 0;
        for (std::size_t i = 0; i < length_bytes; ++i)
            length = (length << 8) | static_cast<std::uint8_t>(bytes[i]);
        // Section 5.2: the most significant bit of a 64-bit length must be 0.
        if (length >> 63 != 0) return fail(kProtocolError, "frame length with its top bit set");
        at = length_bytes;
    }
    if (expect_masked_) {
        std::memcpy(mask_.data(), bytes.data() + at, 4);
        at += 4;
    }
    std::uint64_t so_far = in_message_ ? message_.size() : 0;
    if (length > max_message_size_ || so_far + length > max_message_size_) {
        return fail(kMessageTooBig, "message too big");
    }
    if (length_code_ < 126) {
        bytes.erase(0, at);  // what is left is the payload
        return end_frame(std::move(bytes));
    }
    wanted_ = static_cast<std::size_t>(length);
    stage_ = Stage::payload;
    if (wanted_ == 0) return end_frame({});
    return {};
}

// A whole payload is here. The reader is set for the next frame's first two
// bytes before the event goes back, so the caller may feed on at once.
Event MessageReader::end_frame(std::string payload) {
    stage_ = Stage::frame_start;
    wanted_ = 2;
    if (expect_masked_) apply_mask(payload, mask_);
    if (is_control(opcode_)) return control_frame(std::move(payload));
    return data_frame(std::move(payload));
}

// The pong that answers a ping is the caller's to send (RFC 6455 section
// 5.5.2). A close frame's body is checked here (section 5.5.1).
Event MessageReader::control_frame(std::string payload) {
    switch (opcode_) {
        case Opcode::ping: return Event{Event::Kind::ping, std::move(payload)};
        case Opcode::pong: return Event{Event::Kind::pong, std::move(payload)};
        default: break;
    }
    // A close frame: nothing, or a two-byte code and a UTF-8 reason.
    if (payload.empty()) return Event{Event::Kind::close, {}, false, kNoStatusReceived};
    if (payload.size() == 1) return fail(kProtocolError, "close frame of one byte");
    int code = (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
    if (!is_valid_close_code(code))
        return fail(kProtocolError, "invalid close code " + std::to_string(code));
    std::string reason = payload.substr(2);
    if (!is_valid_utf8(reason)) return fail(kInvalidPayload, "close reason is not UTF-8");
    return Event{Event::Kind::close, std::move(reason), false, code};
}

// The first frame records the message's type and compression (RSV1 is on
// the first frame only); continuations add to it. Control frames between
// the fragments (RFC 6455 section 5.4) leave this state alone.
Event MessageReader::data_frame(std::string payload) {
    if (opcode_ != Opcode::continuation) {
        in_message_ = true;
        message_binary_ = opcode_ == Opcode::binary;
        message_compressed_ = compressed_;
        utf8_.reset();
        // The message without a copy: the UTF-8 check below reads message_.
        message_ = std::move(payload);
        payload.clear();
    }
    // Text that arrives plain is checked as it comes, so a bad byte fails
    // the connection at once, not at the end of a long message.
    bool check_now = !message_binary_ && !message_compressed_;
    if (opcode_ == Opcode::continuation) {
        if (check_now && !utf8_.feed(payload))
            return fail(kInvalidPayload, "text message is not UTF-8");
        message_ += payload;
    } else if (check_now && !utf8_.feed(message_)) {
        return fail(kInvalidPayload, "text message is not UTF-8");
    }
    if (!fin_) return {};
    return finish_message();
}

// A compressed message is inflated whole (RFC 7692 compresses messages,
// not frames) and its text checked then; plain text was checked as it came
// and must only end on a whole character.
Event MessageReader::finish_message() {
    in_message_ = false;
    std::string message = std::move(message_);
    message_.clear();
    if (message_compressed_) {
        try {
            message = deflate_->decompress(message, max_message_size_);
        } catch (const PerMessageDeflate::MessageTooBig&) {
            return fail(kMessageTooBig, "message too big once inflated");
        } catch (const std::invalid_argument& error) {
            return fail(kInvalidPayload, error.what());
        }
        if (!message_binary_ && !is_valid_utf8(message))
            return fail(kInvalidPayload, "text message is not UTF-8");
    } else if (!message_binary_ && !utf8_.complete()) {
        return fail(kInvalidPayload, "text message is not UTF-8");
    }
    return Event{Event::Kind::message, std::move(message), message_binary_};
}

}  // namespace tornado::websocket_protocol
