// http2_framer_bench.cpp: what HTTP/2's framing costs per request, libnghttp2's
// whole session against chapter 10's frame parser and writer, on the same bytes.
//
// The bytes are one connection of h2load (`h2load -c100 -m100` sends this on
// each of its connections): the preface, SETTINGS (ENABLE_PUSH 0,
// INITIAL_WINDOW_SIZE 2^30-1), a WINDOW_UPDATE of the connection, then 100
// HEADERS frames (END_STREAM|END_HEADERS), each `GET /` with h2load's five
// fields. libnghttp2's client session makes them, as h2load does, so the
// HPACK is a real client's: the first block puts its Huffman-coded literals
// in the dynamic table, and requests 2..100 are 5 bytes of table indexes.
//
//   ReceiveNghttp2     nghttp2_session_mem_recv on a server session with a
//                      real server's callbacks (on_begin_headers, on_header
//                      copying each field, on_frame_recv), then its replies
//                      (SETTINGS, SETTINGS ACK, WINDOW_UPDATE) taken with
//                      nghttp2_session_mem_send. /no_http_checks: the same
//                      without RFC 9113 section 8's field checks
//                      (nghttp2_option_set_no_http_messaging): framing only.
//   ReceiveChapter10   chapter 10's parse_frame_header, check_frame_header,
//                      parse_settings, remove_padding and HeaderDecoder, used
//                      as its HTTP2Connection uses them (ChapterConnection
//                      below), collecting the same fields.
//   HpackDecode        HeaderDecoder alone on the 100 blocks. Chapter 10's
//                      HPACK is libnghttp2's own (nghttp2_hd_inflate_*), so
//                      this part is the same code on both sides.
//   HpackInflateOnly   the inflater alone, no field copied.
//   SendNghttp2        one response per stream (:status 200, content-type,
//                      content-length, date, server, etag, then a 12-byte DATA
//                      frame with END_STREAM): nghttp2_submit_response with a
//                      data provider, then nghttp2_session_mem_send.
//   SendChapter10      the same responses with chapter 10's HeaderEncoder
//                      and make_frame, within its flow-control Windows.
//   HpackEncode        HeaderEncoder alone on the 100 responses.
//   ServeNghttp2,      both halves: a connection received and answered.
//   ServeChapter10
//   ...OwnHpack        ReceiveChapter10, SendChapter10 and ServeChapter10
//                      with final/http2's own HPACK (final/http2/src/hpack.h)
//                      for chapter 10's: a framer and HPACK of our own
//   ...Session         the same three with final/http2's own session
//                      (final/http2/src/http2session.h), which the server
//                      runs on: its frames, HPACK, stream states, windows
//                      and section 8's checks, the Listener collecting the
//                      fields and giving each body as a server does
//
// One iteration is one whole connection, on a fresh session (or decoder):
// HPACK is stateful, so requests 2..100 decode only against the table the
// first one built, and a session that has seen stream 1 refuses it again.
// The connection's own cost (a session, the SETTINGS exchange) is shared by
// its 100 requests (a connection of h2load carries -n/-c requests, often
// many more); /connection_only times it alone, without requests, to show
// how much of the figure it is. Sending times only
// the answers: the session that received the requests is made with the
// timer paused. items are requests, and the counter per_request is the time
// per request (items_per_second's inverse).
//
// Before the first benchmark, a check: both receivers must collect the same
// fields, and both senders' bytes must decode to the same responses; if
// not, the program stops and says which.
//
// Run (from the build folder):
//   bin/micro_benchmarks --benchmark_filter=Http2Framer --benchmark_repetitions=3
//
// Built only where CMake found chapter 10 and libnghttp2 (it defines
// COURSE_HAVE_NGHTTP2); elsewhere this file is empty.
#include <benchmark/benchmark.h>

#if COURSE_HAVE_NGHTTP2

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "hpack.h"
#include "http2/src/hpack.h"
#include "http2/src/http2session.h"
#include "window.h"

namespace {

// Chapter 10's names (FrameHeader, HeaderList, Window, ...) throughout.
using namespace course::http2;

// h2load -m100: a hundred requests in flight on each connection.
constexpr int kRequestsPerConnection = 100;

// What h2load 1.52 sends, in its order (seen on the wire: h2load against a
// listener that kept the bytes). It sends no accept-encoding.
const HeaderList kRequestFields = {
    {":path", "/"},
    {":scheme", "http"},
    {":authority", "127.0.0.1:8443"},
    {":method", "GET"},
    {"user-agent", "h2load nghttp2/1.52.0"},
};

// The demo app's "Hello, world", with the fields Tornado gives it. Fixed
// strings: formatting a date is not framing.
const HeaderList kResponseFields = {
    {":status", "200"},
    {"content-type", "text/html; charset=UTF-8"},
    {"content-length", "12"},
    {"date", "Sun, 29 Nov 2026 08:49:25 GMT"},
    {"server", "TornadoServer/0.1.0"},
    {"etag", "\"e02aa1b106d5c7c6a98def2b13005d5b84fd8dc8\""},
};
constexpr std::string_view kResponseBody = "Hello, world";

// h2load's windows (its -w 30 and -W 30): 2^30-1 for each stream and for
// the connection.
constexpr std::uint32_t kH2loadWindow = (1u << 30) - 1;

// The server's limits, the same on both sides: chapter 10's
// HTTP2ConnectionParameters (final/'s HTTP/2 announces these too, but for
// a stream window of 65536).
constexpr std::uint32_t kMaxConcurrentStreams = 100;
constexpr std::uint32_t kStreamWindow = 65535;
constexpr std::uint32_t kConnectionWindow = 1024 * 1024;
constexpr std::uint32_t kMaxHeaderListSize = 64 * 1024;

[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "http2_framer_bench: %s\n", why.c_str());
    std::abort();
}

// What both servers hand the application: one request per stream.
struct ReceivedRequest {
    std::uint32_t stream_id = 0;
    HeaderList fields;
    bool complete = false;  // END_STREAM seen: no body follows

    bool operator==(const ReceivedRequest&) const = default;
};
// A deque: its elements stay where they are as it grows, so libnghttp2 may
// keep a pointer to one (nghttp2_session_set_stream_user_data).
using ReceivedRequests = std::deque<ReceivedRequest>;

// --- libnghttp2: small helpers ------------------------------------------------------

void check_nghttp2(int result, const char* call) {
    if (result < 0) fail(std::string(call) + ": " + nghttp2_strerror(result));
}

std::uint8_t* nghttp2_bytes(std::string_view text) {
    // libnghttp2 takes non-const pointers but does not write through them.
    return const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(text.data()));
}

std::string_view text_of(const std::uint8_t* bytes, std::size_t size) {
    return {reinterpret_cast<const char*>(bytes), size};
}

// Pointers into `fields`, which must outlive the result.
std::vector<nghttp2_nv> nghttp2_fields(const HeaderList& fields) {
    std::vector<nghttp2_nv> nva;
    nva.reserve(fields.size());
    for (const auto& [name, value] : fields) {
        nva.push_back(nghttp2_nv{nghttp2_bytes(name), nghttp2_bytes(value), name.size(),
                                 value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nva;
}

struct SessionDeleter {
    void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
};
using Session = std::unique_ptr<nghttp2_session, SessionDeleter>;

// Everything the session has queued, appended to `out` (a real server's
// write buffer).
void drain(nghttp2_session* session, std::string& out) {
    while (true) {
        const std::uint8_t* data = nullptr;
        ssize_t size = nghttp2_session_mem_send(session, &data);
        if (size < 0) check_nghttp2(static_cast<int>(size), "nghttp2_session_mem_send");
        if (size == 0) return;
        out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
    }
}

// --- the client's bytes, made as h2load makes them -----------------------------------

std::string h2load_connection_bytes(int requests) {
    nghttp2_session_callbacks* callbacks = nullptr;
    check_nghttp2(nghttp2_session_callbacks_new(&callbacks), "nghttp2_session_callbacks_new");
    nghttp2_session* raw = nullptr;
    int result = nghttp2_session_client_new(&raw, callbacks, nullptr);
    nghttp2_session_callbacks_del(callbacks);
    check_nghttp2(result, "nghttp2_session_client_new");
    Session client(raw);

    // h2load's Http2Session::on_connect(): these two settings, then the
    // connection's window raised with a WINDOW_UPDATE.
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kH2loadWindow},
    };
    check_nghttp2(
        nghttp2_submit_settings(client.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings)),
        "nghttp2_submit_settings");
    check_nghttp2(nghttp2_session_set_local_window_size(client.get(), NGHTTP2_FLAG_NONE, 0,
                                                        static_cast<std::int32_t>(kH2loadWindow)),
                  "nghttp2_session_set_local_window_size");
    std::vector<nghttp2_nv> fields = nghttp2_fields(kRequestFields);
    for (int i = 0; i < requests; ++i) {
        check_nghttp2(nghttp2_submit_request(client.get(), nullptr, fields.data(), fields.size(),
                                             nullptr, nullptr),
                      "nghttp2_submit_request");
    }
    std::string bytes;  // mem_send starts with the preface
    drain(client.get(), bytes);
    return bytes;
}

// --- libnghttp2's server ---------------------------------------------------------------

// The callbacks and options every connection's session is made with, made
// once: like a server's, they do not change from one connection to the next.
class NghttpServerSetup {
public:
    // http_checks: libnghttp2's RFC 9113 section 8 checks on every field
    // (pseudo-headers, characters, content-length), on by default.
    explicit NghttpServerSetup(bool http_checks);
    ~NghttpServerSetup();
    NghttpServerSetup(const NghttpServerSetup&) = delete;
    NghttpServerSetup& operator=(const NghttpServerSetup&) = delete;

    nghttp2_session_callbacks* callbacks() const { return callbacks_; }
    nghttp2_option* options() const { return options_; }

private:
    nghttp2_session_callbacks* callbacks_ = nullptr;
    nghttp2_option* options_ = nullptr;
};

// One connection served by libnghttp2: its session, the requests its
// callbacks collected, and the bytes it has to send.
class NghttpConnection {
public:
    // The session, with our SETTINGS and WINDOW_UPDATE queued, as final/'s
    // HTTP/2 starts (final/http2/src/http2connection.cpp).
    explicit NghttpConnection(const NghttpServerSetup& setup);
    NghttpConnection(const NghttpConnection&) = delete;
    NghttpConnection& operator=(const NghttpConnection&) = delete;

    // Bytes read from the client, all of them taken.
    void receive(std::string_view bytes);
    // One response, queued: the HEADERS now, the DATA when flush() asks.
    void respond(std::uint32_t stream_id);
    // Everything queued, appended to output().
    void flush() { drain(session_.get(), output_); }

    const ReceivedRequests& requests() const { return requests_; }
    std::string& output() { return output_; }
    int closed_streams() const { return closed_streams_; }

    // The callbacks (NghttpServerSetup); user_data is the NghttpConnection.
    static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                void* user_data);
    static int on_header(nghttp2_session* session, const nghttp2_frame* frame,
                         const std::uint8_t* name, std::size_t name_length,
                         const std::uint8_t* value, std::size_t value_length,
                         std::uint8_t field_flags, void* user_data);
    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
    static int on_stream_close(nghttp2_session* session, std::int32_t stream_id,
                               std::uint32_t error_code, void* user_data);
    static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buffer,
                             std::size_t length, std::uint32_t* data_flags,
                             nghttp2_data_source* source, void* user_data);

private:
    static ReceivedRequest* request_of(nghttp2_session* session, std::int32_t stream_id) {
        return static_cast<ReceivedRequest*>(
            nghttp2_session_get_stream_user_data(session, stream_id));
    }

    ReceivedRequests requests_;
    int closed_streams_ = 0;
    std::string output_;
    Session session_;  // last: its callbacks use the members above
};

NghttpServerSetup::NghttpServerSetup(bool http_checks) {
    check_nghttp2(nghttp2_session_callbacks_new(&callbacks_), "nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks_,
                                                            NghttpConnection::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks_, NghttpConnection::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks_,
                                                         NghttpConnection::on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks_,
                                                           NghttpConnection::on_stream_close);
    check_nghttp2(nghttp2_option_new(&options_), "nghttp2_option_new");
    // As final/'s HTTP/2 (http2callbacks.cpp): the application gives the
    // windows back. No DATA arrives here, so it changes nothing measured.
    nghttp2_option_set_no_auto_window_update(options_, 1);
    if (!http_checks) nghttp2_option_set_no_http_messaging(options_, 1);
}

NghttpServerSetup::~NghttpServerSetup() {
    nghttp2_option_del(options_);
    nghttp2_session_callbacks_del(callbacks_);
}

NghttpConnection::NghttpConnection(const NghttpServerSetup& setup) {
    nghttp2_session* raw = nullptr;
    check_nghttp2(nghttp2_session_server_new2(&raw, setup.callbacks(), this, setup.options()),
                  "nghttp2_session_server_new2");
    session_.reset(raw);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderListSize},
    };
    check_nghttp2(
        nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings)),
        "nghttp2_submit_settings");
    check_nghttp2(nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0,
                                                        kConnectionWindow),
                  "nghttp2_session_set_local_window_size");
}

void NghttpConnection::receive(std::string_view bytes) {
    ssize_t used = nghttp2_session_mem_recv(
        session_.get(), reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (used < 0) check_nghttp2(static_cast<int>(used), "nghttp2_session_mem_recv");
    if (static_cast<std::size_t>(used) != bytes.size()) fail("nghttp2 left bytes unread");
}

void NghttpConnection::respond(std::uint32_t stream_id) {
    // Made per response, as a server makes it from its response's headers
    // (final/'s submit_response); chapter 10's encode() does the same inside.
    std::vector<nghttp2_nv> fields = nghttp2_fields(kResponseFields);
    nghttp2_data_provider body{};
    body.read_callback = read_body;
    check_nghttp2(nghttp2_submit_response(session_.get(), static_cast<std::int32_t>(stream_id),
                                          fields.data(), fields.size(), &body),
                  "nghttp2_submit_response");
}

// A new request: its object, which the session keeps for the callbacks below.
int NghttpConnection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                       void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto& connection = *static_cast<NghttpConnection*>(user_data);
    ReceivedRequest& request = connection.requests_.emplace_back();
    request.stream_id = static_cast<std::uint32_t>(frame->hd.stream_id);
    return nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, &request);
}

// One field, decoded: copied, since libnghttp2's buffers do not outlive the call.
int NghttpConnection::on_header(nghttp2_session* session, const nghttp2_frame* frame,
                                const std::uint8_t* name, std::size_t name_length,
                                const std::uint8_t* value, std::size_t value_length,
                                std::uint8_t /*flags*/, void* /*user_data*/) {
    if (ReceivedRequest* request = request_of(session, frame->hd.stream_id)) {
        request->fields.emplace_back(text_of(name, name_length), text_of(value, value_length));
    }
    return 0;
}

int NghttpConnection::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame,
                                    void* /*user_data*/) {
    bool carries_request = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
    bool ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (!carries_request || !ends) return 0;
    if (ReceivedRequest* request = request_of(session, frame->hd.stream_id)) {
        request->complete = true;
    }
    return 0;
}

// Where a server lets go of its stream; here it is only counted.
int NghttpConnection::on_stream_close(nghttp2_session* /*session*/, std::int32_t /*stream_id*/,
                                      std::uint32_t /*error_code*/, void* user_data) {
    ++static_cast<NghttpConnection*>(user_data)->closed_streams_;
    return 0;
}

// Every response's body is the same 12 bytes, which fit in any frame.
ssize_t NghttpConnection::read_body(nghttp2_session* /*session*/, std::int32_t /*stream_id*/,
                                    std::uint8_t* buffer, std::size_t length,
                                    std::uint32_t* data_flags, nghttp2_data_source* /*source*/,
                                    void* /*user_data*/) {
    if (length < kResponseBody.size()) fail("nghttp2 offered less room than one body");
    std::memcpy(buffer, kResponseBody.data(), kResponseBody.size());
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(kResponseBody.size());
}

// --- chapter 10's framer ---------------------------------------------------------------

// Chapter 10's HTTP2Connection without its IOStream and its coroutine:
// serve(), handle_frame() and the streams' send_head() and send_data()
// reduced to the frames an h2load GET needs, on bytes already read. The
// calls into frame.h, hpack.h and window.h are the chapter's own. Unlike
// the chapter (whose read_bytes() copies each payload into a string), a
// payload is read where it lies in the input, as a framer of our own would.
// Whose HPACK ChapterConnection codes its blocks with: chapter 10's
// (libnghttp2's inflater and deflater), or final/http2's own.
enum class Hpack { libnghttp2, ours };

class ChapterConnection {
public:
    // Queues our SETTINGS and WINDOW_UPDATE, as HTTP2Connection::start() does.
    explicit ChapterConnection(Hpack hpack = Hpack::libnghttp2);

    // Reads the preface, then every whole frame in `bytes`; returns how many
    // bytes it used (a frame cut short waits for the next read). Throws
    // ConnectionError; a StreamError becomes RST_STREAM, as in serve().
    std::size_t receive(std::string_view bytes);
    // The response for an open stream: HEADERS, then one DATA frame with
    // END_STREAM; the stream is then closed.
    void respond(std::uint32_t stream_id);
    // Nothing to do: every frame went to output() as it was made. (Here for
    // the benchmarks, which call both connections alike.)
    void flush() {}

    const ReceivedRequests& requests() const { return requests_; }
    std::string& output() { return output_; }

private:
    // What a stream needs once its request is in: the client's window for
    // the response. (The chapter's HTTP2Stream holds much more: its state,
    // its request, its unsent chunks.)
    struct OpenStream {
        Window send_window;
    };
    // A header block in pieces: HEADERS without END_HEADERS, and the
    // CONTINUATIONs that follow it.
    struct PendingBlock {
        std::uint32_t stream_id;
        bool end_stream;
        std::string bytes;
    };

    void handle_frame(const FrameHeader& header, std::string_view payload);
    void on_settings(const FrameHeader& header, std::string_view payload);
    void apply_setting(const Setting& setting);
    void on_window_update(const FrameHeader& header, std::string_view payload);
    void on_headers(const FrameHeader& header, std::string_view payload);
    void on_continuation(const FrameHeader& header, std::string_view payload);
    void on_header_block(std::uint32_t stream_id, bool end_stream, std::string_view block);
    void send_head(std::uint32_t stream_id, const HeaderList& fields);
    void send_body(std::uint32_t stream_id, OpenStream& stream, std::string_view body);
    DecodedHeaders decode_block(std::string_view block);
    std::string encode_block(const HeaderList& fields);

    Hpack hpack_;
    HeaderDecoder decoder_{kMaxHeaderListSize};
    HeaderEncoder encoder_;
    tornado::detail::HPACKDecoder own_decoder_;
    tornado::detail::HPACKEncoder own_encoder_;
    bool preface_seen_ = false;
    bool client_settings_seen_ = false;
    std::uint32_t last_stream_id_ = 0;
    std::optional<PendingBlock> pending_block_;
    std::map<std::uint32_t, OpenStream> streams_;  // the chapter's container too
    // What the client's SETTINGS and WINDOW_UPDATEs allow us.
    std::int64_t peer_initial_window_ = kDefaultWindowSize;
    std::uint32_t peer_max_frame_size_ = kDefaultMaxFrameSize;
    Window send_window_;
    ReceivedRequests requests_;
    std::string output_;
};

ChapterConnection::ChapterConnection(Hpack hpack) : hpack_(hpack) {
    output_ += settings_frame({
        {SettingId::max_concurrent_streams, kMaxConcurrentStreams},
        {SettingId::initial_window_size, kStreamWindow},
        {SettingId::max_header_list_size, kMaxHeaderListSize},
    });
    output_ += window_update_frame(0, kConnectionWindow - kDefaultWindowSize);
}

std::size_t ChapterConnection::receive(std::string_view bytes) {
    std::size_t used = 0;
    if (!preface_seen_) {
        if (bytes.size() < kConnectionPreface.size()) return 0;
        if (bytes.substr(0, kConnectionPreface.size()) != kConnectionPreface) {
            throw ConnectionError(ErrorCode::protocol_error, "not the HTTP/2 connection preface");
        }
        preface_seen_ = true;
        used = kConnectionPreface.size();
    }
    while (bytes.size() - used >= kFrameHeaderSize) {
        FrameHeader header = parse_frame_header(bytes.substr(used, kFrameHeaderSize));
        // Before waiting for the payload: a length over our limit must not
        // make us wait for (and buffer) it.
        check_frame_header(header, kDefaultMaxFrameSize);
        if (bytes.size() - used - kFrameHeaderSize < header.length) break;  // not all here yet
        std::string_view payload = bytes.substr(used + kFrameHeaderSize, header.length);
        used += kFrameHeaderSize + header.length;
        try {
            handle_frame(header, payload);
        } catch (const StreamError& error) {
            output_ += rst_stream_frame(header.stream_id, error.code());
        }
    }
    return used;
}

void ChapterConnection::handle_frame(const FrameHeader& header, std::string_view payload) {
    // A header block in pieces admits nothing in between (section 6.10).
    if (pending_block_ &&
        (header.type != FrameType::continuation || header.stream_id != pending_block_->stream_id)) {
        throw ConnectionError(ErrorCode::protocol_error, "a frame inside a header block");
    }
    // The client's preface ends with its SETTINGS (section 3.4).
    if (!client_settings_seen_ && header.type != FrameType::settings) {
        throw ConnectionError(ErrorCode::protocol_error, "the first frame must be SETTINGS");
    }
    switch (header.type) {
        case FrameType::settings: return on_settings(header, payload);
        case FrameType::window_update: return on_window_update(header, payload);
        case FrameType::headers: return on_headers(header, payload);
        case FrameType::continuation: return on_continuation(header, payload);
        case FrameType::ping:
            if (!header.has(flags::kAck)) output_ += ping_ack_frame(payload);
            return;
        case FrameType::push_promise:
            throw ConnectionError(ErrorCode::protocol_error, "a client cannot push");
        // A GET from h2load sends none of these. The chapter handles them
        // (flow_control.cpp, http2connection.cpp); this benchmark does not.
        case FrameType::data:
        case FrameType::rst_stream:
            throw std::logic_error(frame_type_name(header.type) + " is not in these bytes");
        // PRIORITY (deprecated), GOAWAY and unknown types: nothing to do here.
        default: return;
    }
}

void ChapterConnection::on_settings(const FrameHeader& header, std::string_view payload) {
    // An ACK changes our streams' receive windows in the chapter; here no
    // DATA is received, so there is nothing to change.
    if (header.has(flags::kAck)) return;
    client_settings_seen_ = true;
    for (const Setting& setting : parse_settings(payload)) apply_setting(setting);
    output_ += settings_ack_frame();
}

void ChapterConnection::apply_setting(const Setting& setting) {
    switch (setting.id) {
        case SettingId::header_table_size:
            encoder_.set_max_table_size(setting.value);
            own_encoder_.set_max_table_size(setting.value);
            break;
        case SettingId::initial_window_size: {
            // Every open stream's window moves by the difference (6.9.2).
            std::int64_t change = std::int64_t{setting.value} - peer_initial_window_;
            for (auto& [id, stream] : streams_) {
                if (!stream.send_window.update(change)) {
                    throw ConnectionError(ErrorCode::flow_control_error, "a window over 2^31-1");
                }
            }
            peer_initial_window_ = setting.value;
            break;
        }
        case SettingId::max_frame_size: peer_max_frame_size_ = setting.value; break;
        default: break;
    }
}

void ChapterConnection::on_window_update(const FrameHeader& header, std::string_view payload) {
    std::uint32_t increment = read_u32(payload, 0) & 0x7fffffff;  // reserved bit ignored
    if (header.stream_id == 0) {
        if (increment == 0) {
            throw ConnectionError(ErrorCode::protocol_error, "WINDOW_UPDATE of 0");
        }
        if (!send_window_.update(increment)) {
            throw ConnectionError(ErrorCode::flow_control_error, "a window over 2^31-1");
        }
        return;
    }
    auto found = streams_.find(header.stream_id);
    if (found == streams_.end()) return;  // it may cross our END_STREAM
    if (increment == 0) throw StreamError(ErrorCode::protocol_error, "WINDOW_UPDATE of 0");
    if (!found->second.send_window.update(increment)) {
        throw StreamError(ErrorCode::flow_control_error, "a window over 2^31-1");
    }
}

void ChapterConnection::on_headers(const FrameHeader& header, std::string_view payload) {
    std::string_view block = remove_padding(header, payload);
    if (header.has(flags::kPriority)) {  // 5 bytes of (ignored) priority first
        if (block.size() < 5) {
            throw ConnectionError(ErrorCode::frame_size_error, "HEADERS too short");
        }
        block.remove_prefix(5);
    }
    bool end_stream = header.has(flags::kEndStream);
    // A block in one frame is decoded where it lies; the chapter copies
    // every block first.
    if (header.has(flags::kEndHeaders)) {
        return on_header_block(header.stream_id, end_stream, block);
    }
    pending_block_ = PendingBlock{header.stream_id, end_stream, std::string(block)};
}

void ChapterConnection::on_continuation(const FrameHeader& header, std::string_view payload) {
    if (!pending_block_) {
        throw ConnectionError(ErrorCode::protocol_error, "CONTINUATION without a HEADERS");
    }
    pending_block_->bytes.append(payload);
    // The CONTINUATION flood: a block may not grow without bound.
    if (pending_block_->bytes.size() > kMaxHeaderListSize) {
        throw ConnectionError(ErrorCode::enhance_your_calm, "CONTINUATION flood");
    }
    if (!header.has(flags::kEndHeaders)) return;
    PendingBlock block = std::move(*pending_block_);
    pending_block_.reset();  // before on_header_block, which may throw
    on_header_block(block.stream_id, block.end_stream, block.bytes);
}

void ChapterConnection::on_header_block(std::uint32_t stream_id, bool end_stream,
                                        std::string_view block) {
    // Decoded first, whatever becomes of the stream: HPACK's table must see
    // every block, in order (hpack.h).
    DecodedHeaders decoded = decode_block(block);
    if (streams_.contains(stream_id)) {
        throw std::logic_error("trailers are not in these bytes");
    }
    if (stream_id % 2 == 0) {
        throw ConnectionError(ErrorCode::protocol_error, "clients open odd stream ids");
    }
    if (stream_id <= last_stream_id_) {
        throw ConnectionError(ErrorCode::protocol_error, "stream ids must increase");
    }
    last_stream_id_ = stream_id;
    if (streams_.size() >= kMaxConcurrentStreams) {
        throw StreamError(ErrorCode::refused_stream, "over SETTINGS_MAX_CONCURRENT_STREAMS");
    }
    // The chapter answers 431 (HTTP2Stream::refuse); no such block here.
    if (decoded.over_limit) throw std::logic_error("a header list over the limit");
    streams_.emplace(stream_id, OpenStream{Window(peer_initial_window_)});
    requests_.push_back(ReceivedRequest{stream_id, std::move(decoded.fields), end_stream});
}

// The chapter's HeaderDecoder, or ours with the same result: the fields
// copied out, and whether the list went over SETTINGS_MAX_HEADER_LIST_SIZE.
DecodedHeaders ChapterConnection::decode_block(std::string_view block) {
    if (hpack_ == Hpack::ours) {
        DecodedHeaders decoded;
        std::size_t list_size = 0;
        try {
            own_decoder_.decode(block, [&](std::string_view name, std::string_view value) {
                list_size += name.size() + value.size() + 32;
                if (list_size > kMaxHeaderListSize) {
                    decoded.over_limit = true;
                } else {
                    decoded.fields.emplace_back(name, value);
                }
            });
        } catch (const tornado::detail::HPACKError& error) {
            throw ConnectionError(ErrorCode::compression_error, error.what());
        }
        return decoded;
    }
    return decoder_.decode(block);
}

std::string ChapterConnection::encode_block(const HeaderList& fields) {
    if (hpack_ == Hpack::ours) {
        thread_local std::vector<tornado::detail::HPACKField> views;
        views.clear();
        for (const auto& [name, value] : fields) views.push_back({name, value});
        std::string block;
        own_encoder_.encode(views, block);
        return block;
    }
    return encoder_.encode(fields);
}

void ChapterConnection::respond(std::uint32_t stream_id) {
    auto found = streams_.find(stream_id);
    if (found == streams_.end()) throw std::logic_error("no open stream to answer");
    send_head(stream_id, kResponseFields);
    send_body(stream_id, found->second, kResponseBody);
    // Both sides have ended: the stream is closed and forgotten.
    streams_.erase(found);
}

// HTTP2Stream::send_head: HEADERS, and CONTINUATIONs for a block larger
// than the client's frame size.
void ChapterConnection::send_head(std::uint32_t stream_id, const HeaderList& fields) {
    std::string block = encode_block(fields);
    std::string_view rest = block;
    FrameType type = FrameType::headers;
    do {
        std::string_view piece = rest.substr(0, peer_max_frame_size_);
        rest.remove_prefix(piece.size());
        std::uint8_t frame_flags = rest.empty() ? flags::kEndHeaders : 0;
        output_ += make_frame(type, frame_flags, stream_id, piece);
        type = FrameType::continuation;
    } while (!rest.empty());
}

// HTTP2Stream::send_data, for a body that fits in one frame and both
// windows (the chapter holds the rest back until a WINDOW_UPDATE).
void ChapterConnection::send_body(std::uint32_t stream_id, OpenStream& stream,
                                  std::string_view body) {
    auto size = static_cast<std::int64_t>(body.size());
    std::int64_t room = std::min(
        {send_window_.size(), stream.send_window.size(), std::int64_t{peer_max_frame_size_}});
    if (size > room) throw std::logic_error("a body that does not go in one DATA frame now");
    send_window_.consume(size);
    stream.send_window.consume(size);
    output_ += make_frame(FrameType::data, flags::kEndStream, stream_id, body);
}

// One connection served by final/http2's session, as HTTP2ServerConnection
// drives it: receive(), then submit_response() a stream, then send() into
// a batch (whose bytes are appended to output()).
class SessionConnection final : public tornado::detail::HTTP2Session::Listener {
public:
    SessionConnection()
        : session_(*this, {.max_concurrent_streams = kMaxConcurrentStreams,
                           .stream_window = kStreamWindow,
                           .connection_window = kConnectionWindow,
                           .max_header_list_size = kMaxHeaderListSize}) {
        batch_.start(false, 0);
    }

    void receive(std::string_view bytes) {
        session_.receive(bytes);
        if (!session_.want_read()) fail("the session refused: " + session_.error_message());
    }
    void respond(std::uint32_t stream_id) {
        // Views of the response's fields, made per response as
        // response_fields() makes them (and NghttpConnection its nghttp2_nv).
        std::vector<tornado::detail::HPACKField> fields;
        fields.reserve(kResponseFields.size());
        for (const auto& [name, value] : kResponseFields) fields.push_back({name, value});
        session_.submit_response(stream_id, fields, true);
    }
    void flush() {
        while (session_.want_write()) {
            session_.send(batch_, 64 * 1024);
            output_.append(batch_.copied_bytes());
            batch_.start(false, 0);
        }
    }

    const ReceivedRequests& requests() const { return requests_; }
    std::string& output() { return output_; }

    // The Listener.
    void on_stream_open(std::uint32_t id) noexcept override {
        requests_.push_back({id, {}, false});
    }
    void on_field(std::uint32_t, std::string_view name, std::string_view value) noexcept override {
        requests_.back().fields.emplace_back(name, value);
    }
    void on_request(std::uint32_t) noexcept override {}
    void on_data(std::uint32_t, std::string_view) noexcept override {}
    void on_request_end(std::uint32_t) noexcept override { requests_.back().complete = true; }
    void on_stream_close(std::uint32_t, tornado::detail::HTTP2ErrorCode) noexcept override {}
    Body body_ready(std::uint32_t, std::size_t most) noexcept override {
        return {std::min(kResponseBody.size(), most), most >= kResponseBody.size()};
    }
    void take_body(std::uint32_t, tornado::detail::HTTP2FrameBatch& batch,
                   std::size_t length) noexcept override {
        batch.append(kResponseBody.substr(0, length));
    }

private:
    ReceivedRequests requests_;
    std::string output_;
    tornado::detail::HTTP2FrameBatch batch_;
    tornado::detail::HTTP2Session session_;  // last: it calls the members above
};

// --- the one-time check: the same fields in, the same responses out -------------------

// A response as the client would see it.
struct ReceivedResponse {
    std::uint32_t stream_id = 0;
    HeaderList fields;
    std::string body;
    bool complete = false;

    bool operator==(const ReceivedResponse&) const = default;
};

// The responses in a server's bytes, decoded as a client would (frames of
// other types, the server's SETTINGS and the like, are passed over).
std::vector<ReceivedResponse> read_responses(std::string_view server_bytes) {
    HeaderDecoder decoder(kMaxHeaderListSize);
    std::map<std::uint32_t, ReceivedResponse> responses;
    while (!server_bytes.empty()) {
        FrameHeader header = parse_frame_header(server_bytes.substr(0, kFrameHeaderSize));
        std::string_view payload = server_bytes.substr(kFrameHeaderSize, header.length);
        server_bytes.remove_prefix(kFrameHeaderSize + header.length);
        ReceivedResponse& response = responses[header.stream_id];
        response.stream_id = header.stream_id;
        if (header.type == FrameType::headers) {
            if (!header.has(flags::kEndHeaders)) fail("a response's HEADERS in pieces");
            response.fields = decoder.decode(remove_padding(header, payload)).fields;
        } else if (header.type == FrameType::data) {
            response.body += remove_padding(header, payload);
        } else {
            continue;
        }
        if (header.has(flags::kEndStream)) response.complete = true;
    }
    responses.erase(0);  // the connection's own frames
    std::vector<ReceivedResponse> in_order;
    for (auto& [id, response] : responses) in_order.push_back(std::move(response));
    return in_order;
}

// The HPACK blocks of the client's HEADERS frames, for HpackDecode.
std::vector<std::string> header_blocks(std::string_view client_bytes) {
    std::vector<std::string> blocks;
    client_bytes.remove_prefix(kConnectionPreface.size());
    while (!client_bytes.empty()) {
        FrameHeader header = parse_frame_header(client_bytes.substr(0, kFrameHeaderSize));
        std::string_view payload = client_bytes.substr(kFrameHeaderSize, header.length);
        client_bytes.remove_prefix(kFrameHeaderSize + header.length);
        if (header.type != FrameType::headers) continue;
        if (header.flags != (flags::kEndStream | flags::kEndHeaders)) {
            fail("a request HEADERS with flags other than END_STREAM|END_HEADERS");
        }
        blocks.emplace_back(payload);
    }
    return blocks;
}

// One response for each request the connection has received.
template <typename Connection>
void answer_every_request(Connection& connection) {
    for (const ReceivedRequest& request : connection.requests()) {
        connection.respond(request.stream_id);
    }
}

// Both servers on the same connection: one receives and answers it all.
struct Served {
    ReceivedRequests requests;
    std::vector<ReceivedResponse> responses;
};

Served serve_with_nghttp2(const NghttpServerSetup& setup, std::string_view client_bytes) {
    NghttpConnection connection(setup);
    connection.receive(client_bytes);
    answer_every_request(connection);
    connection.flush();
    if (connection.closed_streams() != static_cast<int>(connection.requests().size())) {
        fail("nghttp2 did not close every stream it answered");
    }
    return {connection.requests(), read_responses(connection.output())};
}

Served serve_with_chapter10(std::string_view client_bytes, Hpack hpack) {
    ChapterConnection connection(hpack);
    if (connection.receive(client_bytes) != client_bytes.size()) fail("chapter 10 left bytes");
    answer_every_request(connection);
    return {connection.requests(), read_responses(connection.output())};
}

Served serve_with_session(std::string_view client_bytes) {
    SessionConnection connection;
    connection.receive(client_bytes);
    answer_every_request(connection);
    connection.flush();
    return {connection.requests(), read_responses(connection.output())};
}

void check_served(const Served& served, const char* server) {
    std::string who = server;
    if (served.requests.size() != kRequestsPerConnection) fail(who + ": not 100 requests");
    std::uint32_t stream_id = 1;  // clients number their streams 1, 3, 5, ...
    for (const ReceivedRequest& request : served.requests) {
        if (request != ReceivedRequest{stream_id, kRequestFields, true}) {
            fail(who + ": stream " + std::to_string(request.stream_id) + " is not h2load's GET");
        }
        stream_id += 2;
    }
    if (served.responses.size() != kRequestsPerConnection) fail(who + ": not 100 responses");
    for (std::size_t i = 0; i < served.responses.size(); ++i) {
        ReceivedResponse expected{served.requests[i].stream_id, kResponseFields,
                                  std::string(kResponseBody), true};
        if (served.responses[i] != expected) {
            fail(who + ": the response on stream " + std::to_string(expected.stream_id) +
                 " is not the one sent");
        }
    }
}

// The bytes every benchmark reads, made and checked once.
struct Fixture {
    std::string connection_bytes;  // preface, SETTINGS, WINDOW_UPDATE, 100 HEADERS
    std::string preface_bytes;     // the same without the requests
    std::vector<std::string> blocks;
};

Fixture make_fixture() {
    Fixture fixture{
        h2load_connection_bytes(kRequestsPerConnection), h2load_connection_bytes(0), {}};
    fixture.blocks = header_blocks(fixture.connection_bytes);
    if (fixture.blocks.size() != kRequestsPerConnection) fail("not 100 HEADERS frames");
    Served nghttp2 = serve_with_nghttp2(NghttpServerSetup(true), fixture.connection_bytes);
    Served framing_only = serve_with_nghttp2(NghttpServerSetup(false), fixture.connection_bytes);
    Served chapter10 = serve_with_chapter10(fixture.connection_bytes, Hpack::libnghttp2);
    check_served(nghttp2, "nghttp2");
    check_served(framing_only, "nghttp2 without HTTP checks");
    check_served(chapter10, "chapter 10");
    check_served(serve_with_chapter10(fixture.connection_bytes, Hpack::ours),
                 "chapter 10 with our HPACK");
    check_served(serve_with_session(fixture.connection_bytes), "final/http2's session");
    return fixture;
}

const Fixture& fixture() {
    static const Fixture made = make_fixture();
    return made;
}

// --- the benchmarks -----------------------------------------------------------------------

// items: requests; per_request: the time of one (in seconds, so 1.2u is
// 1.2 microseconds). A connection without requests reports its time alone.
void report(benchmark::State& state, int requests_per_iteration) {
    if (requests_per_iteration == 0) return;
    state.SetItemsProcessed(state.iterations() * requests_per_iteration);
    state.counters["per_request"] =
        benchmark::Counter(requests_per_iteration, benchmark::Counter::kIsIterationInvariantRate |
                                                       benchmark::Counter::kInvert);
}

enum class Bytes { requests, connection_only };

const std::string& bytes_of(Bytes which) {
    return which == Bytes::requests ? fixture().connection_bytes : fixture().preface_bytes;
}

int requests_in(Bytes which) { return which == Bytes::requests ? kRequestsPerConnection : 0; }

// The three measurements, each written once for both connections:
// NghttpConnection and ChapterConnection have the same receive(),
// respond(), flush() and output(). `make` opens a new connection.

// Receiving: a connection's bytes read, and the replies they call for
// (SETTINGS, its ACK, WINDOW_UPDATE) made.
template <typename MakeConnection>
void time_receiving(benchmark::State& state, Bytes which, MakeConnection make) {
    const std::string& bytes = bytes_of(which);
    for (auto _ : state) {
        auto connection = make();
        connection->receive(bytes);
        connection->flush();
        benchmark::DoNotOptimize(connection->requests().size());
        benchmark::DoNotOptimize(connection->output().data());
    }
    report(state, requests_in(which));
}

// Sending alone: the connection that received the requests is made, and
// later destroyed, with the timer paused; the answers are timed.
template <typename MakeConnection>
void time_sending(benchmark::State& state, MakeConnection make) {
    const std::string& bytes = fixture().connection_bytes;
    for (auto _ : state) {
        state.PauseTiming();
        auto connection = make();
        connection->receive(bytes);
        connection->flush();
        connection->output().clear();  // only the responses are timed
        state.ResumeTiming();
        answer_every_request(*connection);
        connection->flush();
        benchmark::DoNotOptimize(connection->output().data());
        state.PauseTiming();
        connection.reset();
        state.ResumeTiming();
    }
    report(state, kRequestsPerConnection);
}

// Serving: a whole connection received, every request answered, all sent.
template <typename MakeConnection>
void time_serving(benchmark::State& state, MakeConnection make) {
    const std::string& bytes = fixture().connection_bytes;
    for (auto _ : state) {
        auto connection = make();
        connection->receive(bytes);
        answer_every_request(*connection);
        connection->flush();
        benchmark::DoNotOptimize(connection->output().data());
    }
    report(state, kRequestsPerConnection);
}

auto nghttp2_connections(const NghttpServerSetup& setup) {
    return [&setup] { return std::make_unique<NghttpConnection>(setup); };
}

auto chapter10_connections(Hpack hpack = Hpack::libnghttp2) {
    return [hpack] { return std::make_unique<ChapterConnection>(hpack); };
}

void BM_Http2Framer_ReceiveNghttp2(benchmark::State& state, Bytes which, bool http_checks) {
    NghttpServerSetup setup(http_checks);
    time_receiving(state, which, nghttp2_connections(setup));
}
BENCHMARK_CAPTURE(BM_Http2Framer_ReceiveNghttp2, requests_100, Bytes::requests, true);
BENCHMARK_CAPTURE(BM_Http2Framer_ReceiveNghttp2, requests_100_no_http_checks, Bytes::requests,
                  false);
BENCHMARK_CAPTURE(BM_Http2Framer_ReceiveNghttp2, connection_only, Bytes::connection_only, true);

void BM_Http2Framer_ReceiveChapter10(benchmark::State& state, Bytes which) {
    time_receiving(state, which, chapter10_connections());
}
BENCHMARK_CAPTURE(BM_Http2Framer_ReceiveChapter10, requests_100, Bytes::requests);
BENCHMARK_CAPTURE(BM_Http2Framer_ReceiveChapter10, connection_only, Bytes::connection_only);

// HPACK alone, a connection's decoder on its 100 blocks: the code both
// sides share.
void BM_Http2Framer_HpackDecode(benchmark::State& state) {
    const std::vector<std::string>& blocks = fixture().blocks;
    for (auto _ : state) {
        HeaderDecoder decoder(kMaxHeaderListSize);
        for (const std::string& block : blocks) {
            DecodedHeaders decoded = decoder.decode(block);
            benchmark::DoNotOptimize(decoded.fields.data());
        }
    }
    report(state, static_cast<int>(blocks.size()));
}
BENCHMARK(BM_Http2Framer_HpackDecode);

// The same blocks through libnghttp2's inflater with nothing kept: what
// HeaderDecoder::decode() costs beyond it is the copies into a HeaderList
// (which the session's on_header callback makes too).
void BM_Http2Framer_HpackInflateOnly(benchmark::State& state) {
    const std::vector<std::string>& blocks = fixture().blocks;
    for (auto _ : state) {
        nghttp2_hd_inflater* inflater = nullptr;
        check_nghttp2(nghttp2_hd_inflate_new(&inflater), "nghttp2_hd_inflate_new");
        for (const std::string& block : blocks) {
            const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
            std::size_t left = block.size();
            int inflate_flags = 0;
            // One field per call, until the block's end (hpack.cpp's loop).
            while ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) == 0) {
                nghttp2_nv field;
                inflate_flags = 0;
                ssize_t used = nghttp2_hd_inflate_hd2(inflater, &field, &inflate_flags, in, left,
                                                      /*in_final=*/1);
                if (used < 0) check_nghttp2(static_cast<int>(used), "nghttp2_hd_inflate_hd2");
                in += used;
                left -= static_cast<std::size_t>(used);
                benchmark::DoNotOptimize(field);
            }
            nghttp2_hd_inflate_end_headers(inflater);
        }
        nghttp2_hd_inflate_del(inflater);
    }
    report(state, static_cast<int>(blocks.size()));
}
BENCHMARK(BM_Http2Framer_HpackInflateOnly);

void BM_Http2Framer_SendNghttp2(benchmark::State& state) {
    NghttpServerSetup setup(true);
    time_sending(state, nghttp2_connections(setup));
}
BENCHMARK(BM_Http2Framer_SendNghttp2);

void BM_Http2Framer_SendChapter10(benchmark::State& state) {
    time_sending(state, chapter10_connections());
}
BENCHMARK(BM_Http2Framer_SendChapter10);

// HPACK alone, a connection's encoder on its 100 responses.
void BM_Http2Framer_HpackEncode(benchmark::State& state) {
    for (auto _ : state) {
        HeaderEncoder encoder;
        for (int i = 0; i < kRequestsPerConnection; ++i) {
            std::string block = encoder.encode(kResponseFields);
            benchmark::DoNotOptimize(block.data());
        }
    }
    report(state, kRequestsPerConnection);
}
BENCHMARK(BM_Http2Framer_HpackEncode);

void BM_Http2Framer_ServeNghttp2(benchmark::State& state) {
    NghttpServerSetup setup(true);
    time_serving(state, nghttp2_connections(setup));
}
BENCHMARK(BM_Http2Framer_ServeNghttp2);

void BM_Http2Framer_ServeChapter10(benchmark::State& state) {
    time_serving(state, chapter10_connections());
}
BENCHMARK(BM_Http2Framer_ServeChapter10);

void BM_Http2Framer_ReceiveChapter10OwnHpack(benchmark::State& state) {
    time_receiving(state, Bytes::requests, chapter10_connections(Hpack::ours));
}
BENCHMARK(BM_Http2Framer_ReceiveChapter10OwnHpack);

void BM_Http2Framer_SendChapter10OwnHpack(benchmark::State& state) {
    time_sending(state, chapter10_connections(Hpack::ours));
}
BENCHMARK(BM_Http2Framer_SendChapter10OwnHpack);

void BM_Http2Framer_ServeChapter10OwnHpack(benchmark::State& state) {
    time_serving(state, chapter10_connections(Hpack::ours));
}
BENCHMARK(BM_Http2Framer_ServeChapter10OwnHpack);

auto session_connections() {
    return [] { return std::make_unique<SessionConnection>(); };
}

void BM_Http2Framer_ReceiveSession(benchmark::State& state) {
    time_receiving(state, Bytes::requests, session_connections());
}
BENCHMARK(BM_Http2Framer_ReceiveSession);

void BM_Http2Framer_SendSession(benchmark::State& state) {
    time_sending(state, session_connections());
}
BENCHMARK(BM_Http2Framer_SendSession);

void BM_Http2Framer_ServeSession(benchmark::State& state) {
    time_serving(state, session_connections());
}
BENCHMARK(BM_Http2Framer_ServeSession);

}  // namespace

#endif  // COURSE_HAVE_NGHTTP2
