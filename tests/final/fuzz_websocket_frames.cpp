// fuzz_websocket_frames.cpp: a libFuzzer target for final/'s WebSocket frame
// reader and the rest of tornado/websocket_protocol.h.
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++
//   cmake --build build-fuzz --target fuzz_websocket_frames
//   cp -r tests/final/fuzz_corpus/websocket_frames /tmp/corpus-ws
//   build-fuzz/bin/fuzz_websocket_frames -max_total_time=60 /tmp/corpus-ws
//
// The first byte of an input chooses the reader: a server's or a client's,
// with or without permessage-deflate (and context takeover), and a small or
// a large message limit; the rest is the bytes a peer sends, fed in the
// sizes the reader asks for. Besides crashes (ASan, UBSan), it checks what
// the reader promises: a message is never over the limit, text is UTF-8, a
// close code is one a peer may send, a failure is 1002, 1007 or 1009 and
// is the last event. The same bytes also go through the deflate
// negotiation's parsers and the inflater.
//
// CTest replays the corpus in tests/final/fuzz_corpus/websocket_frames with
// a g++ build of this file (fuzz_replay_main.cpp provides main()): every
// input found worth keeping, and every past crash, stays a regression test.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/escape.h"
#include "tornado/websocket_protocol.h"

namespace {

namespace ws = tornado::websocket_protocol;

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer keeps the input that got here
}

void check_event(const ws::Event& event, std::size_t max_message_size) {
    using Kind = ws::Event::Kind;
    switch (event.kind) {
        case Kind::message:
            check(event.data.size() <= max_message_size);
            if (!event.binary) check(tornado::is_valid_utf8(event.data));
            break;
        case Kind::ping:
        case Kind::pong: check(event.data.size() <= 125); break;
        case Kind::close:
            check(event.code == ws::kNoStatusReceived || ws::is_valid_close_code(event.code));
            check(tornado::is_valid_utf8(event.data) && event.data.size() <= 123);
            break;
        case Kind::fail:
            check(event.code == ws::kProtocolError || event.code == ws::kInvalidPayload ||
                  event.code == ws::kMessageTooBig);
            check(!event.data.empty());
            break;
        case Kind::nothing: break;
    }
}

void fuzz_reader(std::uint8_t setup, std::string_view bytes) {
    const bool server = (setup & 1) != 0;
    const bool compressed = (setup & 2) != 0;
    const std::size_t max_message_size = (setup & 4) != 0 ? 64 : 1 << 20;
    ws::PerMessageDeflate::Agreement agreement;
    agreement.client_no_context_takeover = agreement.server_no_context_takeover = (setup & 8) != 0;
    std::unique_ptr<ws::PerMessageDeflate> deflate;
    if (compressed) deflate = std::make_unique<ws::PerMessageDeflate>(server, agreement, tornado::WebSocketCompressionOptions{});
    ws::MessageReader reader(/*expect_masked=*/server, max_message_size, deflate.get());
    while (!reader.failed()) {
        std::size_t wanted = reader.bytes_wanted();
        check(wanted > 0);
        if (bytes.size() < wanted) break;  // the peer sent no more
        ws::Event event = reader.feed(std::string(bytes.substr(0, wanted)));
        bytes.remove_prefix(wanted);
        check_event(event, max_message_size);
        if (event.kind == ws::Event::Kind::fail) check(reader.failed());
    }
}

bool same(const ws::PerMessageDeflate::Agreement& a, const ws::PerMessageDeflate::Agreement& b) {
    return a.server_no_context_takeover == b.server_no_context_takeover &&
           a.client_no_context_takeover == b.client_no_context_takeover &&
           a.server_max_window_bits == b.server_max_window_bits && a.client_max_window_bits == b.client_max_window_bits;
}

void fuzz_negotiation(std::string_view text) {
    // What the server answers, a client reads back as the same agreement.
    // (Unless the offer asked the client to deflate with a window of 8,
    // which a client may offer, the server may grant, and our own client,
    // which zlib cannot serve so, never offers: it refuses that answer.)
    if (auto accepted = ws::accept_deflate_offer(text); accepted && accepted->agreement.client_max_window_bits != 8) {
        std::optional<ws::PerMessageDeflate::Agreement> read_back = ws::parse_deflate_answer(accepted->response_header);
        check(read_back.has_value() && same(*read_back, accepted->agreement));
    }
    try {
        ws::parse_deflate_answer(text);
    } catch (const tornado::WebSocketError&) {
    }
}

void fuzz_inflate(std::string_view payload) {
    ws::PerMessageDeflate inflater(/*server=*/true, {}, {});
    try {
        std::string message = inflater.decompress(payload, 4096);
        check(message.size() <= 4096);
    } catch (const ws::PerMessageDeflate::MessageTooBig&) {
    } catch (const std::invalid_argument&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    fuzz_reader(data[0], bytes);
    fuzz_negotiation(bytes);
    fuzz_inflate(bytes);
    return 0;
}
