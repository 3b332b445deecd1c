// fuzz_http_client.cpp: a libFuzzer target for final/'s HTTP client: the
// bytes a server answers, read by AsyncHTTPClient over a real loopback
// connection.
//
//   make fuzz FUZZ_TARGETS=fuzz_http_client FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_http_client_replay tests/final/fuzz_corpus/http_client   (any compiler)
//   FUZZ_VERBOSE=1 build/bin/fuzz_http_client_replay FILE     (prints what each fetch gave)
//
// The input is the whole answer: a server on 127.0.0.1 reads the request,
// writes the input as it is, and closes. Closing (rather than keeping the
// connection open) lets a body that runs until the close end, and makes
// every fetch end at once, so a fetch that waits for its timeout is a bug,
// not a slow input. Each input is fetched three ways: GET following
// redirects (every host a redirect names resolves to the same server, which
// answers the same bytes: the hops run out after max_redirects), HEAD
// failing with an exception, and GET not following redirects, without gzip
// decoding, its body streamed and limited to 4 KiB.
//
// What the client promises (tornado/httpclient.h), checked on every input:
//
// * it never crashes, and every fetch ends: a response, or an
//   HTTPClientError (599 with a message when there was no response), never
//   any other exception, and never the request timeout (see above);
// * a code outside 2xx is always an error carrying that code;
// * the body is exactly the bytes the response framed: after the final head
//   (1xx heads skipped), Content-Length bytes, or the chunks' data, or
//   everything up to the close; none for HEAD, 204 and 304;
// * afterwards nothing is left open: no fetch active or queued, and as many
//   descriptors open as before the input.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net_test_util.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/tcpserver.h"

namespace {

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer keeps the input that got here
}

// --- the server: it answers every connection with the input ------------------------------

std::string answer;        // the current input
int open_connections = 0;  // the server's side of the connections still open

// Counts the connection while its coroutine runs, whichever way it ends.
struct CountedConnection {
    CountedConnection() { ++open_connections; }
    ~CountedConnection() { --open_connections; }
    CountedConnection(const CountedConnection&) = delete;
    CountedConnection& operator=(const CountedConnection&) = delete;
};

// Reads the client's request (a head: no fetch here sends a body) before
// answering. A socket closed with bytes left unread sends a reset, not a
// FIN, and the reset could destroy the answer before the client reads it.
// A TLS ClientHello (a redirect to https://) holds no empty line: anything
// that does not start like a request line is answered as soon as it comes.
tornado::Task<void> read_request(tornado::IOStream& stream) {
    std::string request;
    do {
        request += co_await stream.read_bytes(64 * 1024, /*partial=*/true);
    } while (request.front() >= 'A' && request.front() <= 'Z' &&
             request.find("\r\n\r\n") == std::string::npos);
}

tornado::Task<void> answer_and_close(std::shared_ptr<tornado::IOStream> stream) {
    CountedConnection counted;
    try {
        co_await read_request(*stream);
        co_await stream->write(answer);
    } catch (const tornado::StreamClosedError&) {
        // The client gave up first (a head it refused): nothing to answer.
    }
    stream->close();
}

// Every host, and every port, is the server: a redirect can lead nowhere
// else, not even to another port of this machine.
class EveryNameIsTheServer : public tornado::Resolver {
public:
    explicit EveryNameIsTheServer(std::uint16_t port) : port_(port) {}
    tornado::Future<std::vector<tornado::SocketAddress>> resolve(std::string, std::uint16_t,
                                                                 int) override {
        tornado::Future<std::vector<tornado::SocketAddress>> addresses;
        addresses.set_result(std::vector{tornado::SocketAddress::from_ip("127.0.0.1", port_)});
        return addresses;
    }

private:
    std::uint16_t port_;
};

// One loop, server and client for the whole run: making them per input
// would cost more than the input.
struct Harness {
    tornado::IOLoop loop;
    tornado::TCPServer server{
        [](std::shared_ptr<tornado::IOStream> stream, tornado::SocketAddress) {
            return answer_and_close(std::move(stream));
        }};
    std::unique_ptr<tornado::AsyncHTTPClient> client;

    Harness() {
        // Refused answers are what most inputs are: no log line for each.
        tornado::gen_log.set_level(tornado::LogLevel::none);
        tornado::app_log.set_level(tornado::LogLevel::none);
        tornado::access_log.set_level(tornado::LogLevel::none);
        server.listen(0, "127.0.0.1");
        tornado::AsyncHTTPClientOptions options;
        options.resolver = std::make_shared<EveryNameIsTheServer>(server.port());
        // Small, so that inputs under libFuzzer's max_len reach the limit.
        options.max_header_size = 2048;
        client = std::make_unique<tornado::AsyncHTTPClient>(options);
    }
};

// --- the fetches --------------------------------------------------------------------------

struct Variant {
    const char* method;
    bool follow_redirects;
    bool decompress;
    bool streaming;
    bool raise_error;
};

constexpr Variant kVariants[] = {
    {"GET", true, true, false, false},
    {"HEAD", true, true, false, true},
    {"GET", false, false, true, true},
};

constexpr std::size_t kStreamedBodyLimit = 4096;

// What one fetch gave, whichever way it gave it: a response (2xx, or inside
// the HTTPClientError for another code), or an error without one.
struct Outcome {
    std::optional<tornado::HTTPResponse> response;
    bool failed = false;  // an HTTPClientError came; its code (any number: "HTTP/1.1 000")
    int error_code = 0;
    std::string error_message;
    bool timed_out = false;  // the error is an HTTPTimeoutError
    std::string streamed;    // what the streaming_callback got
};

void read_client_error(const tornado::HTTPClientError& error, Outcome& outcome) {
    outcome.failed = true;
    outcome.error_code = error.code();
    outcome.error_message = error.what();
    outcome.timed_out = dynamic_cast<const tornado::HTTPTimeoutError*>(&error) != nullptr;
}

// Reads the error a response carries (raise_error = false): a
// HTTPClientError with the response's code, or a 599 without a response.
void read_error(std::exception_ptr error, Outcome& outcome) {
    try {
        std::rethrow_exception(error);
    } catch (const tornado::HTTPClientError& client_error) {
        read_client_error(client_error, outcome);
        if (!client_error.response()) outcome.response.reset();  // the 599 stand-in
    } catch (...) {
        check(false);  // the contract: every failure is an HTTPClientError
    }
}

tornado::Task<Outcome> fetch(tornado::AsyncHTTPClient& client, const Variant& variant) {
    Outcome outcome;
    auto streamed = std::make_shared<std::string>();
    // Built in a variable: see httpclient.h on g++ 12 and aggregates in co_await.
    tornado::HTTPRequest request;
    request.url = "http://fuzz.example/start";
    request.method = variant.method;
    request.follow_redirects = variant.follow_redirects;
    request.max_redirects = 2;
    request.decompress_response = variant.decompress;
    request.validate_cert = false;  // a redirect to https:// meets no certificate anyway
    request.connect_timeout = std::chrono::seconds(2);
    request.request_timeout = std::chrono::seconds(2);
    if (variant.streaming) {
        request.max_body_size = kStreamedBodyLimit;
        request.streaming_callback = [streamed](std::string piece) { *streamed += piece; };
    }
    try {
        outcome.response = co_await client.fetch(std::move(request), variant.raise_error);
        if (outcome.response->error) read_error(outcome.response->error, outcome);
    } catch (const tornado::HTTPClientError& error) {
        check(variant.raise_error);  // without raise_error the Future never fails
        read_client_error(error, outcome);
        if (error.response()) outcome.response = *error.response();
    }
    outcome.streamed = std::move(*streamed);
    co_return outcome;
}

// --- what the body should be --------------------------------------------------------------

// Where the head at the start of `bytes` ends, as the client's
// read_until_empty_line finds it: after a LF followed by LF or CRLF.
std::optional<std::size_t> head_end(std::string_view bytes) {
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
        if (bytes[i] != '\n') continue;
        if (bytes[i + 1] == '\n') return i + 2;
        if (bytes[i + 1] == '\r' && i + 2 < bytes.size() && bytes[i + 2] == '\n') return i + 3;
    }
    return std::nullopt;
}

// The code of a status line the client took: "HTTP/1.x " then digits.
int status_code(std::string_view head) {
    int code = 0;
    for (std::size_t i = 9; i < head.size() && head[i] >= '0' && head[i] <= '9'; ++i)
        code = code * 10 + (head[i] - '0');
    return code;
}

// What follows the final head: interim (1xx) heads are skipped, as the client
// skips them. Nothing if the bytes hold no final head.
std::optional<std::string_view> after_final_head(std::string_view bytes) {
    for (;;) {
        std::optional<std::size_t> end = head_end(bytes);
        if (!end) return std::nullopt;
        int code = status_code(bytes);
        bytes.remove_prefix(*end);
        if (code < 100 || code >= 200) return bytes;
    }
}

// The hex digits at the start of a chunk-size line (extensions ignored),
// or nothing. Sixteen digits at most: the client refuses sizes past 64 bits.
std::optional<std::uint64_t> chunk_size(std::string_view line) {
    std::uint64_t size = 0;
    std::size_t digits = 0;
    for (; digits < line.size() && digits <= 16; ++digits) {
        char c = line[digits];
        int value = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (value < 0) break;
        size = size * 16 + static_cast<std::uint64_t>(value);
    }
    if (digits == 0 || digits > 16) return std::nullopt;
    return size;
}

// The data of a chunked body, decoded more leniently than the client does
// (extensions and trailer lines are not checked), so that whatever the
// client takes this takes too. Nothing when the chunks or the trailers are
// cut off, or a chunk's data is not followed by CRLF.
std::optional<std::string> decode_chunked(std::string_view bytes) {
    std::string data;
    for (;;) {
        std::size_t line_end = bytes.find("\r\n");
        if (line_end == std::string_view::npos) return std::nullopt;
        std::optional<std::uint64_t> size = chunk_size(bytes.substr(0, line_end));
        if (!size) return std::nullopt;
        bytes.remove_prefix(line_end + 2);
        if (*size == 0) break;
        if (bytes.size() < *size || bytes.size() - *size < 2) return std::nullopt;
        data.append(bytes.substr(0, *size));
        if (bytes.substr(*size, 2) != "\r\n") return std::nullopt;
        bytes.remove_prefix(*size + 2);
    }
    for (;;) {  // the trailer lines, up to an empty one
        std::size_t line_end = bytes.find("\r\n");
        if (line_end == std::string_view::npos) return std::nullopt;
        if (line_end == 0) return data;
        bytes.remove_prefix(line_end + 2);
    }
}

// The body the response's framing gives from the bytes after its head.
std::optional<std::string> framed_body(std::string_view bytes,
                                       const tornado::HTTPHeaders& headers) {
    tornado::BodyFraming framing = tornado::parse_body_framing(headers, "Response");
    if (framing.chunked) return decode_chunked(bytes);
    if (framing.content_length) {
        if (bytes.size() < *framing.content_length) return std::nullopt;
        return std::string(bytes.substr(0, static_cast<std::size_t>(*framing.content_length)));
    }
    return std::string(bytes);  // until the close
}

// --- the checks -----------------------------------------------------------------------------

void check_error(const Outcome& outcome) {
    check(!outcome.error_message.empty());
    if (outcome.response) {
        check(outcome.error_code == outcome.response->code);
    } else {
        check(outcome.error_code == 599);
        // The server always closes at once: a fetch that waited for its
        // deadline missed the close.
        check(!outcome.timed_out);
    }
}

void check_body(const Outcome& outcome, const Variant& variant) {
    const tornado::HTTPResponse& response = *outcome.response;
    const std::string& body = variant.streaming ? outcome.streamed : response.body;
    if (variant.streaming) check(response.body.empty());
    bool no_body =
        std::string_view(variant.method) == "HEAD" || response.code == 204 || response.code == 304;
    if (no_body) {
        check(body.empty());
        return;
    }
    // An inflated body is not the bytes sent; its framing was checked on the
    // way in all the same.
    if (response.headers.contains("X-Consumed-Content-Encoding")) return;
    std::optional<std::string_view> rest = after_final_head(answer);
    check(rest.has_value());
    std::optional<std::string> expected = framed_body(*rest, response.headers);
    check(expected.has_value());
    check(body == *expected);
    if (variant.streaming) check(body.size() <= kStreamedBodyLimit);
}

void check_outcome(const Outcome& outcome, const Variant& variant) {
    if (outcome.failed) check_error(outcome);
    if (!outcome.response) return;
    int code = outcome.response->code;
    check((code >= 200 && code < 300) == !outcome.failed);
    check_body(outcome, variant);
}

// Runs the loop until the server has closed its side too (it may still be
// finishing its write when the client is done), within a second.
tornado::Task<void> server_done() {
    auto deadline = tornado::IOLoop::time() + std::chrono::seconds(1);
    while (open_connections > 0 && tornado::IOLoop::time() < deadline) co_await tornado::moment;
}

void print_outcome(const Outcome& outcome, const Variant& variant) {
    std::fprintf(stderr, "%s%s: ", variant.method,
                 variant.follow_redirects ? "" : " (no redirects)");
    if (outcome.response) {
        const tornado::HTTPResponse& response = *outcome.response;
        std::fprintf(stderr, "%d %s, body %zu bytes, streamed %zu", response.code,
                     response.reason.c_str(), response.body.size(), outcome.streamed.size());
    }
    if (outcome.failed) std::fprintf(stderr, " [%s]", outcome.error_message.c_str());
    std::fputc('\n', stderr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    static Harness* harness = new Harness();  // never destroyed: the process ends with the run
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
    answer.assign(reinterpret_cast<const char*>(bytes), size);
    int descriptors = tornado::testing::open_descriptor_count();
    for (const Variant& variant : kVariants) {
        Outcome outcome;
        try {
            outcome = harness->loop.run_sync([&] { return fetch(*harness->client, variant); },
                                             std::chrono::seconds(5));
        } catch (const tornado::TimeoutError&) {
            check(false);  // the fetch outlived its own request_timeout
        }
        if (verbose) print_outcome(outcome, variant);
        check_outcome(outcome, variant);
        harness->loop.run_sync(server_done);
        check(open_connections == 0);
        check(harness->client->active_count() == 0 && harness->client->queued_count() == 0);
        check(tornado::testing::open_descriptor_count() == descriptors);
    }
    return 0;
}
