// fuzz_http2_frames.cpp: a libFuzzer target for final/http2's own frame
// reader (final/http2/src/frame.h), which reads what a peer sends.
//
//   make fuzz FUZZ_TARGETS=fuzz_http2_frames FUZZ_SECONDS=60       (clang, libFuzzer)
//   build/bin/fuzz_http2_frames_replay tests/final/fuzz_corpus/http2_frames   (any compiler)
//
// The input is a connection's bytes after the preface; its first byte
// says where to cut them in two, as two reads from the socket would. Besides
// crashes (ASan, UBSan), it checks what the reader promises: read whole or
// in two pieces, the same frames come out, or the same error; a frame's
// payload is never longer than its header's length nor the reader's limit;
// nothing but HTTP2ConnectionError and HTTP2StreamError is thrown, and only
// a stream error lets the reading go on. Each frame's payload is decoded
// as its type says (SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"

namespace {

using namespace tornado::detail;

void check(bool condition) {
    if (!condition) std::abort();
}

// What a read of the whole input gives: the frames, then how it ended
// ("" when the input ran out, else the error's message).
struct Reading {
    std::vector<std::string> frames;
    std::string ended;
};

void decode_payload(const HTTP2Frame& frame) {
    switch (frame.header.type) {
        case HTTP2FrameType::settings: http2_settings(frame); break;
        case HTTP2FrameType::window_update: http2_window_increment(frame); break;
        case HTTP2FrameType::rst_stream: http2_rst_stream_code(frame); break;
        case HTTP2FrameType::goaway:
            check(http2_goaway(frame).debug.size() + 8 == frame.header.length);
            break;
        default: break;
    }
}

// Reads `pieces` in turn; a stream error skips its frame and goes on.
Reading read(const std::vector<std::string_view>& pieces) {
    HTTP2FrameReader reader;
    Reading reading;
    for (std::string_view input : pieces) {
        while (true) {
            try {
                auto frame = reader.next(input);
                if (!frame) break;
                check(frame->payload.size() <= frame->header.length);
                check(frame->header.length <= kHTTP2DefaultMaxFrameSize);
                check(frame->header.stream_id <= 0x7fffffff);
                std::string described = std::to_string(frame->header.length) + " " +
                                        http2_frame_type_name(frame->header.type) + " " +
                                        std::to_string(frame->header.stream_id) + " ";
                reading.frames.push_back(described.append(frame->payload));
                decode_payload(*frame);
            } catch (const HTTP2StreamError& error) {
                reading.frames.push_back(error.what());
            } catch (const HTTP2ConnectionError& error) {
                reading.ended = error.what();
                return reading;
            }
            check(reader.partial_bytes() <= kHTTP2FrameHeaderSize + kHTTP2DefaultMaxFrameSize);
        }
    }
    return reading;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size == 0) return 0;
    std::string_view input(reinterpret_cast<const char*>(bytes) + 1, size - 1);
    std::size_t cut = std::min<std::size_t>(bytes[0], input.size());
    Reading whole = read({input});
    Reading in_two = read({input.substr(0, cut), input.substr(cut)});
    check(whole.frames == in_two.frames);
    check(whole.ended == in_two.ended);
    return 0;
}
