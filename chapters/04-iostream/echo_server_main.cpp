// echo_server_main.cpp: ch04_echo_server, a line-echo server on TCPServer
// and IOStream that also answers "Hello, world" to HTTP requests.
//
//   build/bin/ch04_echo_server [--port=8888] [--address=127.0.0.1]
//
// Compare it with chapter 03's server: no byte counting, no "have I got a
// whole line yet", no send buffer. Each step says what it waits for
// (read_until a line, read_bytes a body, write a reply) and what to do next.
//
// The first line chooses the protocol, as in chapters 01-03:
//   "GET /path HTTP/1.1"  minimal HTTP/1.1 (keep-alive, HEAD, Connection:
//                         close, Content-Length bodies skipped), so that
//                         `make bench` can drive it with wrk;
//   anything else         each line comes back as is.
// A line longer than kMaxLine closes the connection (read_until's max_bytes).
//
// Ctrl-C (SIGINT) or SIGTERM stops the loop; the program then exits.

#include <cctype>
#include <cstdio>
#include <exception>
#include <memory>
#include <regex>
#include <string>

#include "command_line.h"
#include "ioloop.h"
#include "stop_on_signals.h"
#include "iostream.h"
#include "tcpserver.h"

namespace {

using course::IOStream;

constexpr std::size_t kMaxLine = 8192;
const std::regex kRequestLine("[A-Z]+ [^ ]+ HTTP/1\\.[01]\r?\n");
const std::string kHelloBody = "Hello, world";

// One connection. The stream's pending callback holds the session and the
// session holds the stream; closing the stream drops the callback and so
// frees both.
class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(std::shared_ptr<IOStream> stream) : stream_(std::move(stream)) {
        // Say why when a limit closed a connection (not for ordinary closes:
        // a benchmark closes thousands). A plain pointer is enough: only the
        // stream runs this callback, so the stream is alive when it runs.
        stream_->set_close_callback([stream = stream_.get()] {
            if (stream->close_reason().find("max_") != std::string::npos) {
                std::fprintf(stderr, "ch04_echo_server: closed a connection: %s\n",
                             stream->close_reason().c_str());
            }
        });
    }

    void read_line() {
        stream_->read_until("\n", [self = shared_from_this()](std::string line) {
            self->on_line(std::move(line));
        }, kMaxLine);
    }

private:
    void on_line(std::string line) {
        if (mode_ == Mode::Undecided) {
            mode_ = std::regex_match(line, kRequestLine) ? Mode::Http : Mode::Echo;
        }
        if (mode_ == Mode::Echo) {
            // Read the next line only once this one is sent: a peer that
            // sends without reading is slowed down, not buffered for.
            stream_->write(line, [self = shared_from_this()] { self->read_line(); });
        } else {
            on_http_line(strip_line_end(line));
        }
    }

    void on_http_line(const std::string& line) {
        if (!in_request_) {
            if (line.empty()) return read_line();  // blank lines between requests
            if (!std::regex_match(line + "\n", kRequestLine)) return bad_request();
            in_request_ = true;
            head_ = line.starts_with("HEAD ");
            http_1_0_ = line.ends_with("HTTP/1.0");
            keep_alive_ = !http_1_0_;  // HTTP/1.1 keeps the connection by default
            body_bytes_ = 0;
            return read_line();
        }
        if (!line.empty()) {
            if (!on_header(line)) return bad_request();
            return read_line();
        }
        // The empty line ends the headers; skip the body, if any, then answer.
        in_request_ = false;
        if (body_bytes_ == 0) return answer();
        stream_->read_bytes(body_bytes_, [self = shared_from_this()](std::string) { self->answer(); });
    }

    // False for a header line we cannot accept.
    bool on_header(const std::string& line) {
        static const std::regex header("([A-Za-z0-9-]+):[ \t]*(.*?)[ \t]*");
        static const std::regex length("[0-9]{1,9}");  // a body under 1 GB
        std::smatch parts;
        if (!std::regex_match(line, parts, header)) return false;
        std::string name = lower(parts[1]);
        std::string value = lower(parts[2]);
        if (name == "connection" && value == "close") keep_alive_ = false;
        if (name == "connection" && value == "keep-alive") keep_alive_ = true;
        if (name == "content-length") {
            if (!std::regex_match(value, length)) return false;
            body_bytes_ = std::stoul(value);
        }
        return true;
    }

    void answer() {
        std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                            std::to_string(kHelloBody.size()) + "\r\n";
        if (!keep_alive_) reply += "Connection: close\r\n";
        if (keep_alive_ && http_1_0_) reply += "Connection: keep-alive\r\n";
        reply += "\r\n";
        if (!head_) reply += kHelloBody;
        auto self = shared_from_this();
        stream_->write(reply, [self] { self->keep_alive_ ? self->read_line() : self->stream_->close(); });
    }

    void bad_request() {
        stream_->write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                       [self = shared_from_this()] { self->stream_->close(); });
    }

    static std::string strip_line_end(std::string line) {
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        return line;
    }

    static std::string lower(std::string text) {
        for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return text;
    }

    enum class Mode { Undecided, Echo, Http };

    std::shared_ptr<IOStream> stream_;
    Mode mode_ = Mode::Undecided;
    bool in_request_ = false;  // request line read, headers not yet ended
    bool head_ = false;
    bool http_1_0_ = false;
    bool keep_alive_ = true;
    std::size_t body_bytes_ = 0;
};

class EchoServer : public course::TCPServer {
public:
    using TCPServer::TCPServer;

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
        std::make_shared<Session>(std::move(stream))->read_line();
    }
};


}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        course::IOLoop loop;
        EchoServer server(loop);
        server.listen(options.port, options.address);
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch04_echo_server");
        course::announce_listening(options.address, server.port());
        loop.start();
        std::fprintf(stderr, "ch04_echo_server: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch04_echo_server: %s\n", error.what());
        return 1;
    }
    return 0;
}
