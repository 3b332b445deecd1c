// nghttp2_client.h: a libnghttp2 client session for the tests of
// final/http2's own frames and session (frame_test.cpp, session_test.cpp):
// libnghttp2 is the oracle there, the peer we did not write.
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frame.h"

namespace http2_test {

using tornado::detail::http2_frame_type_name;
using tornado::detail::HTTP2FrameType;

// A frame as the tests compare them: its header and its payload's bytes.
struct ReadFrame {
    std::uint32_t length;
    HTTP2FrameType type;
    std::uint8_t flags;
    std::uint32_t stream_id;
    std::string payload;
    bool operator==(const ReadFrame&) const = default;
};

// Failures name a frame by its header and its payload's size, not its bytes.
inline void PrintTo(const ReadFrame& frame, std::ostream* out) {
    *out << http2_frame_type_name(frame.type) << " on " << frame.stream_id << ", flags "
         << int{frame.flags} << ", length " << frame.length << ", payload " << frame.payload.size()
         << " bytes";
}

// A libnghttp2 client session, and what it reports.
struct Client {
    nghttp2_session* session = nullptr;
    std::vector<ReadFrame> sent;  // headers of the frames it wrote, payloads left empty
    std::vector<HTTP2FrameType> received;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string data;
    std::vector<std::pair<std::int32_t, std::uint32_t>> closed;  // stream, code
    // The same, stream by stream.
    std::map<std::int32_t, std::vector<std::pair<std::string, std::string>>> fields_of;
    std::map<std::int32_t, std::string> data_of;
    std::map<std::int32_t, std::string> bodies_to_send;

    Client() {
        nghttp2_session_callbacks* callbacks = nullptr;
        nghttp2_session_callbacks_new(&callbacks);
        nghttp2_session_callbacks_set_on_frame_send_callback(
            callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
                auto& hd = frame->hd;
                static_cast<Client*>(self)->sent.push_back(
                    {static_cast<std::uint32_t>(hd.length), static_cast<HTTP2FrameType>(hd.type),
                     hd.flags, static_cast<std::uint32_t>(hd.stream_id), ""});
                return 0;
            });
        nghttp2_session_callbacks_set_on_frame_recv_callback(
            callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
                static_cast<Client*>(self)->received.push_back(
                    static_cast<HTTP2FrameType>(frame->hd.type));
                return 0;
            });
        nghttp2_session_callbacks_set_on_header_callback(
            callbacks, [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                          std::size_t name_length, const std::uint8_t* value,
                          std::size_t value_length, std::uint8_t, void* self) {
                auto* client = static_cast<Client*>(self);
                std::pair<std::string, std::string> field(
                    std::string(reinterpret_cast<const char*>(name), name_length),
                    std::string(reinterpret_cast<const char*>(value), value_length));
                client->fields.push_back(field);
                client->fields_of[frame->hd.stream_id].push_back(field);
                return 0;
            });
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
            callbacks, [](nghttp2_session*, std::uint8_t, std::int32_t id,
                          const std::uint8_t* chunk, std::size_t length, void* self) {
                auto* client = static_cast<Client*>(self);
                client->data.append(reinterpret_cast<const char*>(chunk), length);
                client->data_of[id].append(reinterpret_cast<const char*>(chunk), length);
                return 0;
            });
        nghttp2_session_callbacks_set_on_stream_close_callback(
            callbacks, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* self) {
                static_cast<Client*>(self)->closed.emplace_back(id, code);
                return 0;
            });
        // Every DATA frame padded to a multiple of 32 bytes.
        nghttp2_session_callbacks_set_select_padding_callback(
            callbacks,
            [](nghttp2_session*, const nghttp2_frame* frame, std::size_t most, void*) -> ssize_t {
                return std::min(most, (frame->hd.length + 32) / 32 * 32);
            });
        nghttp2_session_client_new(&session, callbacks, this);
        nghttp2_session_callbacks_del(callbacks);
    }
    ~Client() { nghttp2_session_del(session); }

    std::string send() {
        std::string out;
        const std::uint8_t* bytes = nullptr;
        while (true) {
            ssize_t n = nghttp2_session_mem_send(session, &bytes);
            EXPECT_GE(n, 0) << nghttp2_strerror(static_cast<int>(n));
            if (n <= 0) break;
            out.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(n));
        }
        return out;
    }

    void receive(std::string_view bytes) {
        ssize_t n = nghttp2_session_mem_recv(
            session, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        ASSERT_EQ(n, static_cast<ssize_t>(bytes.size())) << nghttp2_strerror(static_cast<int>(n));
    }

    std::int32_t request(std::vector<std::pair<std::string, std::string>> headers,
                         std::string body) {
        std::vector<nghttp2_nv> nva;
        for (auto& [name, value] : headers) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                           reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                           NGHTTP2_NV_FLAG_NONE});
        }
        nghttp2_data_provider provider{};
        provider.read_callback = [](nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                                    std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                                    void* self) -> ssize_t {
            std::string& rest = static_cast<Client*>(self)->bodies_to_send[id];
            std::size_t n = std::min(length, rest.size());
            std::memcpy(buf, rest.data(), n);
            rest.erase(0, n);
            if (rest.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
            return static_cast<ssize_t>(n);
        };
        std::int32_t id = nghttp2_submit_request(session, nullptr, nva.data(), nva.size(),
                                                 body.empty() ? nullptr : &provider, this);
        bodies_to_send[id] = std::move(body);
        return id;
    }
};

}  // namespace http2_test
