// http1connection.h: one HTTP/1.1 connection. It reads each request from an
// IOStream with the parser of httputil.h, hands it to the application,
// writes the response the application gives, and goes on to the next
// request. Tornado's tornado.http1connection.HTTP1Connection.
//
//   ┌─► read_request_head    read_until("\r\n\r\n", max_header_size)
//   │        │               parse_request_head(), body_framing(), limits
//   │        ▼               (Expect: 100-continue? write "100 Continue")
//   │   read the body        Content-Length: read_bytes(n)
//   │        │               chunked: size line, data, ..., 0, trailers
//   │        ▼
//   │   the application      callback(request); now or later it calls
//   │        │               write_headers(), write()..., finish()
//   │        ▼
//   │   response written     (the stream's write callback for finish())
//   │        │
//   └─ keep-alive?  no ──► close
//
// One request at a time: the next request is not read until the response
// to this one has gone to the kernel. Pipelined requests wait in the
// stream's buffer (or the socket's) meanwhile, so their responses go out in
// order, however long the application takes over each one.
//
// A request that breaks a rule gets an error response naming the problem
// (400, 413, 505; 500 if the application throws) and the connection closes
// once it is written. A request head over max_header_size closes the
// connection without an answer: the stream's read_until gives up on it
// (see the chapter README, "Limits").
//
// Lifetime: the stream's pending read (or the application, holding the
// request) keeps the connection alive; the connection owns the stream. The
// application must end every request it is given with finish().
//
// Threads: everything on the loop's thread, like the stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "httputil.h"
#include "ioloop.h"
#include "iostream.h"

namespace course {

// The limits a connection enforces; each one is explained in the README.
struct HTTP1ConnectionParameters {
    // Request line plus headers. Tornado's default, and far above what a
    // browser sends (about 1 KiB).
    std::size_t max_header_size = 64 * 1024;
    // The body, after chunked decoding. Larger: 413 (the demo app's 10 MiB).
    std::size_t max_body_size = 10 * 1024 * 1024;
    // From starting to wait for a request (on a new or a kept-alive
    // connection) to having its whole head; then closes. Zero: no limit.
    std::chrono::milliseconds header_timeout = std::chrono::seconds(60);
    // From the end of the head to the end of the body. Zero: no limit.
    std::chrono::milliseconds body_timeout = std::chrono::seconds(60);
};

// Where a request's response goes, whatever carries it (Tornado's
// httputil.HTTPConnection): HTTP1Connection here, one HTTP/2 stream in
// chapter 10. The application and chapter 06's handlers see only this, so
// they answer over either protocol unchanged. HTTP1Connection documents
// what each call does.
class HTTPConnection {
public:
    virtual ~HTTPConnection() = default;
    virtual void write_headers(int status, HTTPHeaders headers) = 0;
    // on_flushed, if given, runs once these bytes are on their way.
    virtual void write(std::string_view chunk, std::function<void()> on_flushed = {}) = 0;
    virtual void finish() = 0;
    virtual void close() = 0;
    virtual bool closed() const = 0;
};

// One request, as the application receives it (Tornado's
// httputil.HTTPServerRequest).
struct HTTPServerRequest {
    std::string method;    // "GET"
    std::string uri;       // the request target as sent: "/search?q=a+b"
    std::string path;      // "/search" (not percent-decoded)
    std::string query;     // "q=a+b"
    std::string version;   // "HTTP/1.1"
    HTTPHeaders headers;
    std::string body;      // the whole body, chunked encoding removed
    std::string remote_ip;       // "127.0.0.1"
    std::string remote_address;  // "127.0.0.1:54321"
    QueryArguments query_arguments;  // from the query string
    QueryArguments body_arguments;   // from an application/x-www-form-urlencoded body
    QueryArguments arguments;        // both together, query first

    // Where the response goes: write_headers(), write(), finish().
    std::shared_ptr<HTTPConnection> connection;

    // The whole response at once (Content-Length is set for you): the same
    // as connection->write_headers(), write(content), finish().
    void reply(int status, std::string_view content, HTTPHeaders response_headers = {});

    // Tornado's _parse_body: body_arguments from a form body, then
    // arguments, the query's and the body's together. A connection calls
    // it once the whole body is in, before the application sees the request.
    void parse_body();
};

class HTTP1Connection : public HTTPConnection,
                        public std::enable_shared_from_this<HTTP1Connection> {
public:
    using RequestCallback = std::function<void(std::shared_ptr<HTTPServerRequest>)>;

    HTTP1Connection(std::shared_ptr<IOStream> stream, std::string remote_address,
                    HTTP1ConnectionParameters params, RequestCallback callback);
    HTTP1Connection(const HTTP1Connection&) = delete;
    HTTP1Connection& operator=(const HTTP1Connection&) = delete;

    // Starts reading the first request.
    void start();

    // The response to the current request, in three steps (Tornado's
    // write_headers / write / finish). Framing is chosen here:
    //   - headers with Content-Length: the body is exactly that long;
    //   - without, to an HTTP/1.1 request: chunked, one chunk per write();
    //   - without, to HTTP/1.0: the body ends when the connection closes.
    // Date, Server and Connection are added. The head goes out with the
    // first write() or finish(), in the same packet. A HEAD request, a 204
    // and a 304 get no body, whatever write() is given. On a closed
    // connection these calls do nothing.
    void write_headers(int status, HTTPHeaders headers) override;
    // on_flushed, if given, runs once these bytes have gone to the kernel:
    // a handler streaming a large response waits for it before writing more.
    void write(std::string_view chunk, std::function<void()> on_flushed = {}) override;
    void finish() override;

    void close() override { stream_->close(); }
    bool closed() const override { return stream_->closed(); }

private:
    // Reading a request, one step per stream callback.
    void read_request_head();
    void on_request_head(std::string data);
    void start_request(std::string_view head);
    void read_body();
    void on_fixed_body(std::string body);
    void read_chunk_size();
    void on_chunk_size(std::string line);
    void on_chunk_data(std::string data);
    void read_trailer();
    void on_trailer(std::string line);
    void dispatch_request();

    // After the response.
    void on_response_written();

    // Errors and time limits.
    template <typename Step>
    void run_parser_step(Step step);
    void send_error(int status, const std::string& message);
    void start_timer(std::chrono::milliseconds limit, const char* waiting_for);
    void stop_timer();

    std::shared_ptr<IOStream> stream_;
    std::string remote_address_;
    HTTP1ConnectionParameters params_;
    RequestCallback callback_;

    // The request being read, and how its body is framed.
    std::shared_ptr<HTTPServerRequest> request_;
    BodyFraming framing_;
    std::size_t trailer_bytes_ = 0;

    // The response being written. Only what framing needs of the request
    // is kept: the application holds the request itself.
    bool keep_alive_ = false;
    bool head_request_ = false;
    bool http10_ = false;
    enum class Response { NotStarted, Started, Finished };
    Response response_ = Response::NotStarted;
    bool response_has_body_ = true;
    bool chunked_response_ = false;
    std::optional<std::uint64_t> content_remaining_;  // Content-Length left to write
    std::string unsent_head_;  // from write_headers(), until the first write()

    // The pending time limit. Shared with the stream's close callback, which
    // cancels it, so that the callback need not hold the connection itself.
    std::shared_ptr<IOLoop::Timeout> timer_ = std::make_shared<IOLoop::Timeout>();
};

}  // namespace course
