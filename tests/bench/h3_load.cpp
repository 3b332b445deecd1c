// h3_load: an HTTP/3 load generator, h2load's shape for QUIC. Debian's
// h2load is built without HTTP/3, and no other Debian client loads an HTTP/3
// server, so the HTTP/3 benchmarks drive theirs with this one.
//
//   build/bin/h3_load -c 10 -m 10 -n 10000 https://127.0.0.1:4433/file16k.bin
//   build/bin/h3_load -c 1 -m 100 -D 5 --warm-up-time 1 https://127.0.0.1:4433/
//   build/bin/h3_load -c 1 -m 100 -n 3 --log-file=hol.log https://127.0.0.1:4433/{a,b,c}
//
// One thread, one epoll loop, C connections, each on its own non-blocking
// UDP socket. ngtcp2 (with GnuTLS for the TLS 1.3 handshake QUIC carries)
// is the transport, nghttp3 the HTTP/3 layer on top of it. Each connection
// keeps up to M requests (bidirectional streams) in flight; requests cycle
// through the URLs, which must share one host and port. -n ends the run
// once TOTAL requests have finished; -D ends it after SECONDS of measured
// time (after --warm-up-time, whose requests are not counted).
//
// Requests start once the handshake is confirmed (cb_handshake_confirmed
// says why), so a request's time is the server's answer, not the handshake.
//
// The output is h2load's, line for line where h2load has the line, so that
// the scripts that parse h2load's (http2_bench.py, hol_bench.py) parse this
// one: "spawning thread", the -D phase lines, "TLS Protocol", "Cipher",
// "Application protocol", "finished in", "requests:", "status codes:",
// "traffic:", "time for request:", "time for connect:"; then two lines of
// our own: the requests' latency percentiles, and the client's CPU time
// with the time it was ready to run but waited for its core. --log-file
// writes one line per request: its start (µs since the epoch), status,
// duration (µs), stream id and connection index, tab-separated (h2load's
// three columns, then ours).
//
// Failures end the run with a message and exit code 1: a handshake that
// fails, a connection the peer closes before we are done, or no answer at
// all for -T seconds (30 by default). It never waits for ever.
#include <arpa/inet.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "load_tools.h"
#include "quic_client.h"

namespace {

using namespace load_tools;

// --- the command line -------------------------------------------------------

struct Options {
    int connections = 1;              // -c
    int streams = 1;                  // -m: requests in flight per connection
    std::int64_t total_requests = 1;  // -n (when duration_seconds is 0)
    double duration_seconds = 0;      // -D: measure for this long instead
    double warm_up_seconds = 0;       // --warm-up-time, with -D only
    double timeout_seconds = 30;      // -T: no progress for this long ends the run
    bool insecure = false;            // --insecure: no certificate check
    bool verbose = false;             // -v: ngtcp2's log on stderr
    std::string ca_file;              // --ca-file: trust this certificate too
    std::string log_file;             // --log-file
    std::vector<std::string> urls;
};

// Where the requests go: one host and port for every URL (as h2load: the
// first URL's authority), and each URL's path.
struct Target {
    std::string host;
    std::string port;
    std::string authority;  // host:port, for the :authority header
    std::vector<std::string> paths;
    sockaddr_storage address{};
    socklen_t address_size = 0;
};

[[noreturn]] void usage(int exit_code) {
    std::fprintf(
        exit_code == 0 ? stdout : stderr,
        "usage: h3_load [-v] [-c N] [-m M] [-n TOTAL | -D SECONDS [--warm-up-time SECONDS]]\n"
        "               [-T SECONDS] [--insecure] [--ca-file=PEM] [--log-file=FILE]\n"
        "               https://HOST:PORT/PATH...\n"
        "  -c N   connections (1)        -m M  requests in flight per connection (1)\n"
        "  -n N   requests in all (1)    -D S  run for S seconds instead\n"
        "  -T S   give up after S seconds without an answer (30)\n"
        "  -v     ngtcp2's log of every packet on stderr\n"
        "  --log-file=FILE  one line per request: start (us since the epoch), status,\n"
        "              duration (us), stream id, connection index\n"
        "  --ca-file=PEM    trust this certificate as well as the system's\n"
        "  --insecure  skip the certificate check (it is skipped for 127.0.0.1,\n"
        "              ::1 and localhost anyway: test servers have their own)\n");
    std::exit(exit_code);
}

// h2load accepts "-D 5", "-D 5s" and "-D 500ms"; so do we.
double parse_seconds(const char* text) {
    char* end = nullptr;
    double value = std::strtod(text, &end);
    std::string_view unit = end;
    if (unit == "ms") return value / 1000;
    if (unit == "m") return value * 60;
    if (unit.empty() || unit == "s") return value;
    usage(2);
}

Options parse_options(int argc, char** argv) {
    enum { kInsecure = 1000, kLogFile, kWarmUp, kCaFile };
    static const option long_options[] = {
        {"insecure", no_argument, nullptr, kInsecure},
        {"log-file", required_argument, nullptr, kLogFile},
        {"warm-up-time", required_argument, nullptr, kWarmUp},
        {"ca-file", required_argument, nullptr, kCaFile},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    Options options;
    int choice = 0;
    while ((choice = getopt_long(argc, argv, "c:m:n:D:T:t:vh", long_options, nullptr)) != -1) {
        switch (choice) {
            case 'c': options.connections = std::atoi(optarg); break;
            case 'm': options.streams = std::atoi(optarg); break;
            case 'n': options.total_requests = std::atoll(optarg); break;
            case 'D': options.duration_seconds = parse_seconds(optarg); break;
            case 'T': options.timeout_seconds = parse_seconds(optarg); break;
            case 'v': options.verbose = true; break;
            case 't': break;  // h2load's thread count: we always run one thread
            case kInsecure: options.insecure = true; break;
            case kLogFile: options.log_file = optarg; break;
            case kWarmUp: options.warm_up_seconds = parse_seconds(optarg); break;
            case kCaFile: options.ca_file = optarg; break;
            case 'h': usage(0);
            default: usage(2);
        }
    }
    for (int i = optind; i < argc; ++i) options.urls.emplace_back(argv[i]);
    if (options.urls.empty() || options.connections < 1 || options.streams < 1 ||
        options.total_requests < 1 || options.timeout_seconds <= 0 ||
        options.duration_seconds < 0) {
        usage(2);
    }
    return options;
}

// Splits https://HOST:PORT/PATH (HOST may be [IPv6]); false if it is not one.
bool split_url(std::string_view url, std::string& host, std::string& port, std::string& path) {
    constexpr std::string_view scheme = "https://";
    if (url.substr(0, scheme.size()) != scheme) return false;
    url.remove_prefix(scheme.size());
    std::size_t slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    std::size_t colon = authority.rfind(':');
    bool bracketed = !authority.empty() && authority.front() == '[';
    if (colon == std::string_view::npos || (bracketed && authority.find(']') > colon)) {
        port = "443";
        host = std::string(authority);
    } else {
        port = std::string(authority.substr(colon + 1));
        host = std::string(authority.substr(0, colon));
    }
    if (bracketed && host.size() >= 2) host = host.substr(1, host.size() - 2);
    return !host.empty();
}

// The URLs' common host and port, resolved, and their paths. Exits on a
// URL it cannot use.
Target make_target(const std::vector<std::string>& urls) {
    Target target;
    for (const std::string& url : urls) {
        std::string host, port, path;
        if (!split_url(url, host, port, path)) {
            std::fprintf(stderr, "h3_load: not an https:// URL: %s\n", url.c_str());
            std::exit(2);
        }
        if (target.paths.empty()) {
            target.host = host;
            target.port = port;
        } else if (host != target.host || port != target.port) {
            std::fprintf(stderr, "h3_load: every URL must name %s:%s (as the first does)\n",
                         target.host.c_str(), target.port.c_str());
            std::exit(2);
        }
        target.paths.push_back(path);
    }
    bool ipv6 = target.host.find(':') != std::string::npos;
    target.authority = (ipv6 ? "[" + target.host + "]" : target.host) + ":" + target.port;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    int status = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found);
    if (status != 0) {
        std::fprintf(stderr, "h3_load: cannot resolve %s: %s\n", target.host.c_str(),
                     gai_strerror(status));
        std::exit(1);
    }
    std::memcpy(&target.address, found->ai_addr, found->ai_addrlen);
    target.address_size = found->ai_addrlen;
    freeaddrinfo(found);
    return target;
}

bool is_loopback_name(const std::string& host) {
    return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

// --- time -------------------------------------------------------------------

// ngtcp2's clock: nanoseconds on a clock that never jumps.
ngtcp2_tstamp now_ns() {
    return static_cast<ngtcp2_tstamp>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count());
}

// The log's start times: microseconds since the epoch, as h2load's.
std::int64_t wall_clock_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

ngtcp2_tstamp seconds_to_ns(double seconds) { return static_cast<ngtcp2_tstamp>(seconds * 1e9); }

// -v: ngtcp2's own log (every packet and frame) on stderr, for when a
// server and h3_load do not get along.
void print_ngtcp2_log(void*, const char* format, ...) {
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fputc('\n', stderr);
}

// --- the workload: which request comes next, and what came back ------------

// One request's end, as a connection reports it.
struct RequestResult {
    int connection_index = 0;
    std::int64_t stream_id = 0;
    std::int64_t start_wall_us = 0;
    std::int64_t duration_us = 0;
    int status = -1;        // -1: no status line came
    bool complete = false;  // the whole response came, and the stream ended cleanly
};

// What the report adds up, over the measured time.
struct Stats {
    std::int64_t started = 0;
    std::int64_t done = 0;       // ended, one way or another
    std::int64_t succeeded = 0;  // a whole response with a 2xx or 3xx status
    std::int64_t errored = 0;    // ended without a whole response (reset, connection lost)
    std::int64_t timed_out = 0;  // still in flight when -T gave up
    std::array<std::int64_t, 6> status_classes{};  // [2] counts 2xx, and so on
    std::vector<std::int64_t> durations_us;
    std::int64_t bytes_received = 0;  // UDP payloads: what h2load's "total" is for QUIC
    std::int64_t header_bytes = 0;    // decoded header names and values
    std::int64_t body_bytes = 0;
};

// Shared by every connection: hands out the next request and counts the ends.
class Workload {
public:
    Workload(const Options& options, std::size_t path_count, std::FILE* log)
        : options_(options), path_count_(path_count), log_(log) {}

    // -n: until TOTAL have started. -D: until the measured time is over.
    bool may_start() const {
        if (stopped_starting_) return false;
        return options_.duration_seconds > 0 || handed_out_ < options_.total_requests;
    }

    // The path index of the next request (they cycle through the URLs).
    std::size_t take_next() {
        std::size_t index = static_cast<std::size_t>(handed_out_ % path_count_);
        ++handed_out_;
        if (measuring_) ++stats_.started;
        return index;
    }

    void finished(const RequestResult& result) {
        ++finished_;
        last_progress_ns_ = now_ns();
        if (!measuring_) return;
        ++stats_.done;
        if (!result.complete) {
            ++stats_.errored;
        } else if (result.status >= 200 && result.status < 400) {
            ++stats_.succeeded;
        }
        if (result.status >= 100 && result.status < 600)
            ++stats_.status_classes[result.status / 100];
        stats_.durations_us.push_back(result.duration_us);
        if (log_ != nullptr) {
            std::fprintf(log_, "%" PRId64 "\t%d\t%" PRId64 "\t%" PRId64 "\t%d\n",
                         result.start_wall_us, result.status, result.duration_us, result.stream_id,
                         result.connection_index);
        }
    }

    // -n: every request handed out has ended.
    bool all_finished() const {
        return options_.duration_seconds == 0 && finished_ >= options_.total_requests;
    }

    // Any answer counts as progress for -T: a handshake, a header, body
    // bytes, a request's end. So a long download is not cut off, but a
    // server that takes requests and never answers is.
    void progressed() { last_progress_ns_ = now_ns(); }
    ngtcp2_tstamp last_progress_ns() const { return last_progress_ns_; }

    // The warm-up is over: what happened before it is not counted.
    void start_measuring() {
        stats_ = Stats{};
        measuring_ = true;
    }
    void stop_starting() { stopped_starting_ = true; }
    void stop_measuring() { measuring_ = false; }

    void count_received(std::size_t bytes) {
        if (measuring_) stats_.bytes_received += static_cast<std::int64_t>(bytes);
    }
    void count_header(std::size_t bytes) {
        progressed();
        if (measuring_) stats_.header_bytes += static_cast<std::int64_t>(bytes);
    }
    void count_body(std::size_t bytes) {
        progressed();
        if (measuring_) stats_.body_bytes += static_cast<std::int64_t>(bytes);
    }
    void count_timed_out(std::int64_t requests) {
        if (measuring_) stats_.timed_out += requests;
    }

    const Stats& stats() const { return stats_; }

private:
    const Options& options_;
    std::size_t path_count_;
    std::FILE* log_;
    std::int64_t handed_out_ = 0;
    std::int64_t finished_ = 0;
    bool measuring_ = false;
    bool stopped_starting_ = false;
    ngtcp2_tstamp last_progress_ns_ = now_ns();
    Stats stats_;
};

// --- TLS: what every connection shares --------------------------------------

struct TlsSettings {
    gnutls_certificate_credentials_t credentials = nullptr;
    bool verify = true;
    std::string server_name;  // SNI: a name, never an address
    std::string verify_name;  // the name (or address) the certificate must carry
};

// --- one QUIC connection and its HTTP/3 layer -------------------------------

// A request in flight on a stream.
struct InFlight {
    ngtcp2_tstamp start_ns = 0;
    std::int64_t start_wall_us = 0;
    int status = -1;
    bool ended = false;  // nghttp3 saw the response's end
};

// Why a connection stopped, when it was not our choice.
enum class Failure { None, Handshake, ClosedByPeer, Timeout, Other };

class Connection {
public:
    Connection(int index, const Target& target, const TlsSettings& tls, const Options& options,
               Workload& workload)
        : index_(index), target_(target), tls_(tls), options_(options), workload_(workload) {}

    ~Connection() {
        if (http_ != nullptr) nghttp3_conn_del(http_);
        if (quic_ != nullptr) ngtcp2_conn_del(quic_);
        if (session_ != nullptr) gnutls_deinit(session_);
        if (fd_ >= 0) close(fd_);
    }

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Opens the socket and the QUIC connection, and sends the first flight
    // (the client's Initial packet with its TLS ClientHello).
    bool open(int epoll_fd);

    // The loop's three events: datagrams came, the socket can take one
    // again, the connection's timer is due.
    void on_readable();
    void on_writable();
    void on_timer();

    // Starts requests while this connection has room for them, then sends
    // whatever ngtcp2 has to send. Only for a connection something happened
    // to since the last time (a datagram, its timer): asking ngtcp2 of the
    // others would cost CPU and find nothing.
    void start_requests_and_send();

    // Our goodbye: a CONNECTION_CLOSE with HTTP/3's "no error".
    void close_gracefully();

    bool alive() const { return failure_ == Failure::None && !closed_; }
    Failure failure() const { return failure_; }
    const std::string& error() const { return error_; }
    ngtcp2_tstamp expiry() const { return ngtcp2_conn_get_expiry(quic_); }
    std::size_t in_flight() const { return requests_.size(); }
    int index() const { return index_; }
    const char* cipher_name() const { return gnutls_ciphersuite_get(session_); }
    bool handshake_done() const { return handshake_done_; }
    ngtcp2_tstamp handshake_ns() const { return handshake_ns_; }

    // -T gave up: the requests still in flight end as timed out.
    void give_up(std::string message);

private:
    bool open_socket(int epoll_fd);
    bool open_quic();
    bool open_tls();
    bool open_http();
    void send_packets();
    bool send_datagram(std::size_t size);
    void watch_writable(bool wanted);
    void on_read_error(int error);
    void fail(Failure why, std::string message);
    void send_connection_close(const ngtcp2_connection_close_error& reason);
    void close_socket();
    void finish_request(std::int64_t stream_id, bool clean_close);
    bool submit_request(std::int64_t stream_id, std::size_t path_index);
    int fail_callback(std::string message);

    // --- ngtcp2's callbacks, as members (the static trampolines below call them)
    int on_stream_data(std::uint32_t flags, std::int64_t stream_id, const std::uint8_t* data,
                       std::size_t size);
    int on_stream_close(std::uint32_t flags, std::int64_t stream_id, std::uint64_t app_error);
    int on_rx_key(ngtcp2_crypto_level level);

    // --- nghttp3's callbacks
    int on_http_stream_close(std::int64_t stream_id);
    void on_header(std::int64_t stream_id, std::int32_t token, nghttp3_rcbuf* name,
                   nghttp3_rcbuf* value);
    void on_response_end(std::int64_t stream_id);

    // The C callbacks: each casts user_data back to the Connection and runs
    // the member inside a try block, because an exception must never
    // unwind through ngtcp2's or nghttp3's C frames.
    static const ngtcp2_callbacks quic_callbacks_;
    static const nghttp3_callbacks http_callbacks_;
    static ngtcp2_conn* conn_from_ref(ngtcp2_crypto_conn_ref* ref);
    template <typename Body>
    static int guarded(void* user_data, int failure_code, Body body) noexcept;

    static int cb_recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                                   std::uint64_t offset, const std::uint8_t* data, std::size_t size,
                                   void* user_data, void* stream_user_data);
    static int cb_acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id,
                                           std::uint64_t offset, std::uint64_t size,
                                           void* user_data, void* stream_user_data);
    static int cb_stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                               std::uint64_t app_error, void* user_data, void* stream_user_data);
    static int cb_stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t final_size,
                               std::uint64_t app_error, void* user_data, void* stream_user_data);
    static int cb_stream_stop_sending(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                      void* user_data, void* stream_user_data);
    static int cb_extend_max_local_streams_bidi(ngtcp2_conn*, std::uint64_t max_streams,
                                                void* user_data);
    static int cb_extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id,
                                         std::uint64_t max_data, void* user_data,
                                         void* stream_user_data);
    static int cb_handshake_confirmed(ngtcp2_conn*, void* user_data);
    static int cb_recv_rx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* user_data);

    static int cb_http_stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                    void* user_data, void* stream_user_data);
    static int cb_http_recv_data(nghttp3_conn*, std::int64_t stream_id, const std::uint8_t* data,
                                 std::size_t size, void* user_data, void* stream_user_data);
    static int cb_http_deferred_consume(nghttp3_conn*, std::int64_t stream_id, std::size_t consumed,
                                        void* user_data, void* stream_user_data);
    static int cb_http_recv_header(nghttp3_conn*, std::int64_t stream_id, std::int32_t token,
                                   nghttp3_rcbuf* name, nghttp3_rcbuf* value, std::uint8_t flags,
                                   void* user_data, void* stream_user_data);
    static int cb_http_end_stream(nghttp3_conn*, std::int64_t stream_id, void* user_data,
                                  void* stream_user_data);
    static int cb_http_stop_sending(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                    void* user_data, void* stream_user_data);
    static int cb_http_reset_stream(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                    void* user_data, void* stream_user_data);

    int index_;
    const Target& target_;
    const TlsSettings& tls_;
    const Options& options_;
    Workload& workload_;

    int fd_ = -1;
    int epoll_fd_ = -1;
    bool watching_writable_ = false;
    sockaddr_storage local_address_{};
    socklen_t local_address_size_ = 0;
    ngtcp2_conn* quic_ = nullptr;
    gnutls_session_t session_ = nullptr;
    ngtcp2_crypto_conn_ref conn_ref_{};
    nghttp3_conn* http_ = nullptr;

    bool handshake_done_ = false;  // confirmed: see cb_handshake_confirmed
    bool touched_ = true;          // see start_requests_and_send
    ngtcp2_tstamp opened_ns_ = 0;
    ngtcp2_tstamp handshake_ns_ = 0;  // how long the handshake took
    bool closing_ = false;            // we said goodbye; the peer's close is expected
    bool closed_ = false;
    Failure failure_ = Failure::None;
    std::string error_;

    // The datagram being written; while `blocked_` it waits for the socket.
    std::array<std::uint8_t, 1500> packet_{};
    std::size_t blocked_size_ = 0;

    std::unordered_map<std::int64_t, InFlight> requests_;
};

// --- opening ----------------------------------------------------------------

bool Connection::open(int epoll_fd) {
    opened_ns_ = now_ns();
    if (!open_socket(epoll_fd) || !open_quic() || !open_tls()) return false;
    send_packets();
    return alive();
}

// A connected UDP socket: the kernel then drops datagrams from anyone but
// the server, and tells us (ECONNREFUSED) when nothing listens on its port.
bool Connection::open_socket(int epoll_fd) {
    epoll_fd_ = epoll_fd;
    fd_ = socket(target_.address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<const sockaddr*>(&target_.address),
                           target_.address_size) != 0) {
        fail(Failure::Other, std::string("UDP socket: ") + std::strerror(errno));
        return false;
    }
    // ngtcp2 wants the path's both ends; the kernel chose ours at connect().
    local_address_size_ = sizeof local_address_;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local_address_), &local_address_size_);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = this;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_, &event);
    return true;
}

bool Connection::open_quic() {
    // Connection IDs: random, of the usual lengths (ngtcp2's client uses 17 and 18).
    ngtcp2_cid source_id{};
    ngtcp2_cid destination_id{};
    source_id.datalen = 17;
    destination_id.datalen = 18;
    gnutls_rnd(GNUTLS_RND_RANDOM, source_id.data, source_id.datalen);
    gnutls_rnd(GNUTLS_RND_RANDOM, destination_id.data, destination_id.datalen);

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    if (options_.verbose) settings.log_printf = print_ngtcp2_log;
    // A silent server ends the handshake after -T seconds, not ngtcp2's default.
    settings.handshake_timeout = seconds_to_ns(options_.timeout_seconds);

    // Windows large enough that flow control never sets the pace on a
    // loopback: 100 streams of 16 KiB each in flight is 1.6 MB.
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_data = 16 * 1024 * 1024;
    params.initial_max_stream_data_bidi_local = 1024 * 1024;
    params.initial_max_stream_data_uni = 1024 * 1024;
    params.initial_max_streams_bidi = 0;   // the server opens no request streams
    params.initial_max_streams_uni = 100;  // its control and QPACK streams (and pushes)
    params.max_idle_timeout = seconds_to_ns(options_.timeout_seconds);

    ngtcp2_path path{
        {reinterpret_cast<sockaddr*>(&local_address_), local_address_size_},
        {reinterpret_cast<sockaddr*>(const_cast<sockaddr_storage*>(&target_.address)),
         target_.address_size},
        nullptr,
    };
    int status =
        ngtcp2_conn_client_new(&quic_, &destination_id, &source_id, &path, NGTCP2_PROTO_VER_V1,
                               &quic_callbacks_, &settings, &params, nullptr, this);
    if (status != 0) {
        fail(Failure::Other, std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(status));
        return false;
    }
    return true;
}

bool Connection::open_tls() {
    // ngtcp2's crypto helper drives the handshake through this session, and
    // finds the QUIC connection again through conn_ref_. With verification,
    // GnuTLS checks the chain and the name during the handshake; a failure
    // aborts it with a TLS alert, which on_read_error reports.
    conn_ref_.get_conn = conn_from_ref;
    conn_ref_.user_data = this;
    std::string why =
        quic_client::open_client_session(session_, tls_.credentials, conn_ref_, tls_.server_name,
                                         tls_.verify ? tls_.verify_name : "");
    if (!why.empty()) {
        fail(Failure::Other, why);
        return false;
    }
    ngtcp2_conn_set_tls_native_handle(quic_, session_);
    return true;
}

ngtcp2_conn* Connection::conn_from_ref(ngtcp2_crypto_conn_ref* ref) {
    return static_cast<Connection*>(ref->user_data)->quic_;
}

// HTTP/3 over the connection: nghttp3, and the three unidirectional streams
// every HTTP/3 endpoint opens (control, QPACK encoder, QPACK decoder).
bool Connection::open_http() {
    if (http_ != nullptr) return true;
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    // QPACK's dynamic table, as gtlsclient (and h2load for HTTP/3) allow it:
    // the server may then compress repeated response headers.
    settings.qpack_max_dtable_capacity = 4096;
    settings.qpack_blocked_streams = 100;
    if (nghttp3_conn_client_new(&http_, &http_callbacks_, &settings, nghttp3_mem_default(), this) !=
        0) {
        return false;
    }
    std::int64_t control = 0, encoder = 0, decoder = 0;
    return ngtcp2_conn_open_uni_stream(quic_, &control, nullptr) == 0 &&
           nghttp3_conn_bind_control_stream(http_, control) == 0 &&
           ngtcp2_conn_open_uni_stream(quic_, &encoder, nullptr) == 0 &&
           ngtcp2_conn_open_uni_stream(quic_, &decoder, nullptr) == 0 &&
           nghttp3_conn_bind_qpack_streams(http_, encoder, decoder) == 0;
}

// --- requests ---------------------------------------------------------------

void Connection::start_requests_and_send() {
    if (!alive() || !touched_) return;
    touched_ = false;
    while (handshake_done_ && !closing_ &&
           requests_.size() < static_cast<std::size_t>(options_.streams) && workload_.may_start()) {
        std::int64_t stream_id = 0;
        // The server's MAX_STREAMS limits how many we may open; when it
        // allows more, extend_max_local_streams_bidi brings us back here.
        if (ngtcp2_conn_open_bidi_stream(quic_, &stream_id, nullptr) != 0) break;
        if (!submit_request(stream_id, workload_.take_next())) {
            fail(Failure::Other, "nghttp3_conn_submit_request failed");
            return;
        }
    }
    send_packets();
}

nghttp3_nv header(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP3_NV_FLAG_NONE};
}

bool Connection::submit_request(std::int64_t stream_id, std::size_t path_index) {
    const std::string& path = target_.paths[path_index];
    std::array<nghttp3_nv, 5> headers{
        header(":method", "GET"),
        header(":scheme", "https"),
        header(":authority", target_.authority),
        header(":path", path),
        header("user-agent", "h3_load"),
    };
    InFlight request;
    request.start_ns = now_ns();
    request.start_wall_us = wall_clock_us();
    requests_.emplace(stream_id, request);
    // No data reader: a GET has no body, so nghttp3 ends the stream after
    // the headers. nghttp3 copies the headers, so they may go out of scope.
    return nghttp3_conn_submit_request(http_, stream_id, headers.data(), headers.size(), nullptr,
                                       nullptr) == 0;
}

// The stream closed: a request ended, whole or not.
void Connection::finish_request(std::int64_t stream_id, bool clean_close) {
    auto found = requests_.find(stream_id);
    if (found == requests_.end()) return;
    const InFlight& request = found->second;
    RequestResult result;
    result.connection_index = index_;
    result.stream_id = stream_id;
    result.start_wall_us = request.start_wall_us;
    result.duration_us = static_cast<std::int64_t>((now_ns() - request.start_ns) / 1000);
    result.status = request.status;
    result.complete = clean_close && request.ended && request.status > 0;
    requests_.erase(found);
    workload_.finished(result);
}

// --- sending ----------------------------------------------------------------

// Asks ngtcp2 for packets and sends them, until it has none or the
// congestion controller's send quantum is used up (the timer, which then
// includes ngtcp2's pacing, brings us back for the rest). Each packet may
// carry stream data nghttp3 hands over: request headers, its SETTINGS, QPACK.
void Connection::send_packets() {
    if (!alive() || blocked_size_ > 0) return;
    ngtcp2_tstamp now = now_ns();
    std::size_t max_size = std::min(ngtcp2_conn_get_max_tx_udp_payload_size(quic_), packet_.size());
    std::size_t max_packets =
        std::max<std::size_t>(1, ngtcp2_conn_get_send_quantum(quic_) / max_size);
    for (std::size_t sent = 0; sent < max_packets;) {
        std::int64_t stream_id = -1;
        int fin = 0;
        std::array<nghttp3_vec, 16> data{};
        nghttp3_ssize data_count = 0;
        if (http_ != nullptr && ngtcp2_conn_get_max_data_left(quic_) > 0) {
            data_count =
                nghttp3_conn_writev_stream(http_, &stream_id, &fin, data.data(), data.size());
            if (data_count < 0) {
                fail(Failure::Other,
                     std::string("nghttp3: ") + nghttp3_strerror(static_cast<int>(data_count)));
                return;
            }
        }
        std::uint32_t flags =
            NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
        ngtcp2_ssize accepted = -1;  // how much of the stream data went into the packet
        ngtcp2_pkt_info info{};
        // nghttp3_vec and ngtcp2_vec have the same layout (a pointer and a length).
        ngtcp2_ssize size = ngtcp2_conn_writev_stream(
            quic_, nullptr, &info, packet_.data(), max_size, &accepted, flags, stream_id,
            reinterpret_cast<const ngtcp2_vec*>(data.data()), static_cast<std::size_t>(data_count),
            now);
        if (accepted >= 0 && nghttp3_conn_add_write_offset(
                                 http_, stream_id, static_cast<std::size_t>(accepted)) != 0) {
            fail(Failure::Other, "nghttp3_conn_add_write_offset failed");
            return;
        }
        if (size == NGTCP2_ERR_WRITE_MORE) continue;   // room left in the packet: more data
        if (size == NGTCP2_ERR_STREAM_DATA_BLOCKED) {  // the stream's flow control window is full
            nghttp3_conn_block_stream(http_, stream_id);
            continue;
        }
        if (size == NGTCP2_ERR_STREAM_SHUT_WR) {  // the server stopped this stream
            nghttp3_conn_shutdown_stream_write(http_, stream_id);
            continue;
        }
        if (size < 0) {
            fail(Failure::Other, std::string("ngtcp2_conn_writev_stream: ") +
                                     ngtcp2_strerror(static_cast<int>(size)));
            return;
        }
        if (size == 0) break;  // nothing more to send now
        if (!send_datagram(static_cast<std::size_t>(size))) break;
        ++sent;
    }
    ngtcp2_conn_update_pkt_tx_time(quic_, now);
}

// False when the socket's buffer is full: the datagram waits in packet_
// for EPOLLOUT.
bool Connection::send_datagram(std::size_t size) {
    while (send(fd_, packet_.data(), size, 0) < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            blocked_size_ = size;
            watch_writable(true);
            return false;
        }
        if (errno == ECONNREFUSED) {
            on_read_error(errno);
        } else {
            fail(Failure::Other, std::string("send: ") + std::strerror(errno));
        }
        return false;
    }
    return true;
}

void Connection::watch_writable(bool wanted) {
    if (wanted == watching_writable_) return;
    watching_writable_ = wanted;
    epoll_event event{};
    event.events = EPOLLIN | (wanted ? EPOLLOUT : 0u);
    event.data.ptr = this;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &event);
}

void Connection::on_writable() {
    touched_ = true;
    if (blocked_size_ == 0 || !alive()) return;
    std::size_t size = blocked_size_;
    blocked_size_ = 0;
    watch_writable(false);
    if (send_datagram(size)) send_packets();
}

// --- receiving --------------------------------------------------------------

void Connection::on_readable() {
    touched_ = true;
    std::array<std::uint8_t, 65536> datagram;
    ngtcp2_path path{
        {reinterpret_cast<sockaddr*>(&local_address_), local_address_size_},
        {reinterpret_cast<sockaddr*>(const_cast<sockaddr_storage*>(&target_.address)),
         target_.address_size},
        nullptr,
    };
    // At most 64 datagrams in one go, so that one busy connection does not
    // keep the loop from the others.
    for (int i = 0; i < 64 && alive(); ++i) {
        ssize_t size = recv(fd_, datagram.data(), datagram.size(), 0);
        if (size < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) on_read_error(errno);
            return;
        }
        workload_.count_received(static_cast<std::size_t>(size));
        ngtcp2_pkt_info info{};  // no ECN: the socket does not ask for it
        int status = ngtcp2_conn_read_pkt(quic_, &path, &info, datagram.data(),
                                          static_cast<std::size_t>(size), now_ns());
        if (status != 0) {
            on_read_error(status);
            return;
        }
    }
}

// Errors from recv() (errno values, positive) and from ngtcp2_conn_read_pkt
// (ngtcp2's, negative), each said in words.
void Connection::on_read_error(int error) {
    if (error == ECONNREFUSED && !handshake_done_) {
        fail(Failure::Handshake, "nothing answers on UDP " + target_.authority +
                                     " (ICMP port unreachable): is the server running?");
    } else if (error == ECONNREFUSED) {
        // Closing its socket, the server sent no CONNECTION_CLOSE: the
        // kernel's ICMP "port unreachable" is all that says it has gone.
        fail(Failure::ClosedByPeer,
             "the server went away (ICMP port unreachable on " + target_.authority + ")");
    } else if (error > 0) {
        fail(Failure::Other, std::string("recv: ") + std::strerror(error));
    } else if (error == NGTCP2_ERR_DRAINING) {
        // The server sent CONNECTION_CLOSE. After our own goodbye it is the
        // expected answer; before it, the connection was lost.
        if (closing_) {
            closed_ = true;
        } else {
            fail(handshake_done_ ? Failure::ClosedByPeer : Failure::Handshake,
                 handshake_done_ ? "the server closed the connection"
                                 : "the server closed the connection during the handshake");
        }
    } else if (error == NGTCP2_ERR_CRYPTO) {
        // The TLS handshake failed here (a bad certificate, no common ALPN):
        // tell the server with the TLS alert GnuTLS chose.
        std::uint8_t alert = ngtcp2_conn_get_tls_alert(quic_);
        ngtcp2_connection_close_error reason;
        ngtcp2_connection_close_error_set_transport_error_tls_alert(&reason, alert, nullptr, 0);
        send_connection_close(reason);
        const char* alert_name =
            gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
        fail(Failure::Handshake,
             std::string("TLS handshake failed: ") +
                 (alert_name != nullptr ? alert_name : "unknown alert") +
                 (tls_.verify ? " (try --insecure for a test certificate)" : ""));
    } else if (error == NGTCP2_ERR_DROP_CONN) {
        fail(Failure::Other,
             "ngtcp2 dropped the connection (" + std::string(ngtcp2_strerror(error)) + ")");
    } else {
        // One of our callbacks failed (it set error_ already) or ngtcp2 saw
        // a protocol error: either way, tell the server and stop.
        ngtcp2_connection_close_error reason;
        ngtcp2_connection_close_error_set_transport_error_liberr(&reason, error, nullptr, 0);
        send_connection_close(reason);
        fail(Failure::Other, error_.empty()
                                 ? std::string("ngtcp2_conn_read_pkt: ") + ngtcp2_strerror(error)
                                 : error_);
    }
}

// --- the timer --------------------------------------------------------------

// ngtcp2's one timer covers loss detection, acknowledgement delay, pacing,
// the idle timeout and the handshake timeout; the loop calls this when
// ngtcp2_conn_get_expiry says it is due.
void Connection::on_timer() {
    touched_ = true;
    if (!alive()) return;
    int status = ngtcp2_conn_handle_expiry(quic_, now_ns());
    if (status == NGTCP2_ERR_IDLE_CLOSE) {
        fail(Failure::Timeout, "no packet from the server for " +
                                   std::to_string(static_cast<int>(options_.timeout_seconds)) +
                                   " s (idle timeout)");
        return;
    }
    if (status == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
        fail(Failure::Handshake, "the handshake did not finish in " +
                                     std::to_string(static_cast<int>(options_.timeout_seconds)) +
                                     " s");
        return;
    }
    if (status != 0) {
        fail(Failure::Other, std::string("ngtcp2_conn_handle_expiry: ") + ngtcp2_strerror(status));
        return;
    }
    send_packets();
}

// --- closing ----------------------------------------------------------------

void Connection::send_connection_close(const ngtcp2_connection_close_error& reason) {
    if (quic_ == nullptr || ngtcp2_conn_is_in_closing_period(quic_) ||
        ngtcp2_conn_is_in_draining_period(quic_)) {
        return;
    }
    ngtcp2_pkt_info info{};
    ngtcp2_ssize size = ngtcp2_conn_write_connection_close(quic_, nullptr, &info, packet_.data(),
                                                           packet_.size(), &reason, now_ns());
    if (size > 0 && fd_ >= 0) send(fd_, packet_.data(), static_cast<std::size_t>(size), 0);
}

void Connection::close_gracefully() {
    if (!alive()) return;
    closing_ = true;
    ngtcp2_connection_close_error reason;
    ngtcp2_connection_close_error_set_application_error(&reason, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    send_connection_close(reason);
    closed_ = true;
    close_socket();
}

// The connection is lost: its requests in flight end as errors. The first
// reason is the one reported.
void Connection::fail(Failure why, std::string message) {
    if (failure_ != Failure::None) return;
    failure_ = why;
    error_ = std::move(message);
    while (!requests_.empty()) finish_request(requests_.begin()->first, false);
    close_socket();
}

// A connection that is over leaves the loop: datagrams still on their way
// to its socket would otherwise wake epoll (level-triggered) for ever.
// Closing the descriptor also takes it out of the epoll set.
void Connection::close_socket() {
    if (fd_ < 0) return;
    close(fd_);
    fd_ = -1;
}

void Connection::give_up(std::string message) {
    if (!alive()) return;
    workload_.count_timed_out(static_cast<std::int64_t>(requests_.size()));
    requests_.clear();
    ngtcp2_connection_close_error reason;
    ngtcp2_connection_close_error_set_application_error(&reason, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    send_connection_close(reason);
    fail(Failure::Timeout, std::move(message));
}

// --- ngtcp2's callbacks -----------------------------------------------------

template <typename Body>
int Connection::guarded(void* user_data, int failure_code, Body body) noexcept {
    auto* connection = static_cast<Connection*>(user_data);
    try {
        return body(*connection);
    } catch (const std::exception& error) {
        connection->error_ = std::string("in a callback: ") + error.what();
    } catch (...) {
        connection->error_ = "in a callback: an unknown exception";
    }
    return failure_code;
}

// Remembers why a callback failed (on_read_error reports it) and returns
// ngtcp2's "the callback failed".
int Connection::fail_callback(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return NGTCP2_ERR_CALLBACK_FAILURE;
}

// Stream data from the server goes to nghttp3, which hands back what it
// consumed; that much flow-control credit goes back to the server.
int Connection::on_stream_data(std::uint32_t flags, std::int64_t stream_id,
                               const std::uint8_t* data, std::size_t size) {
    if (http_ == nullptr) return fail_callback("stream data before HTTP/3 was set up");
    nghttp3_ssize consumed = nghttp3_conn_read_stream(http_, stream_id, data, size,
                                                      (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (consumed < 0) {
        return fail_callback(std::string("nghttp3_conn_read_stream: ") +
                             nghttp3_strerror(static_cast<int>(consumed)));
    }
    ngtcp2_conn_extend_max_stream_offset(quic_, stream_id, static_cast<std::uint64_t>(consumed));
    ngtcp2_conn_extend_max_offset(quic_, static_cast<std::uint64_t>(consumed));
    return 0;
}

int Connection::on_stream_close(std::uint32_t flags, std::int64_t stream_id,
                                std::uint64_t app_error) {
    if ((flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) == 0) app_error = NGHTTP3_H3_NO_ERROR;
    if (http_ == nullptr) return 0;
    int status = nghttp3_conn_close_stream(http_, stream_id, app_error);
    if (status == NGHTTP3_ERR_STREAM_NOT_FOUND) {
        // nghttp3 never saw the stream (no byte came on it). A server's
        // unidirectional stream: let it open another. One of our requests:
        // it ended without an answer.
        if (!ngtcp2_is_bidi_stream(stream_id)) {
            ngtcp2_conn_extend_max_streams_uni(quic_, 1);
        } else {
            finish_request(stream_id, false);
        }
        return 0;
    }
    if (status != 0)
        return fail_callback(std::string("nghttp3_conn_close_stream: ") + nghttp3_strerror(status));
    return 0;
}

// The 1-RTT keys are in: set up HTTP/3 now, before the first 1-RTT packet
// (which may carry the server's SETTINGS) is decrypted.
int Connection::on_rx_key(ngtcp2_crypto_level level) {
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    return open_http() ? 0 : fail_callback("could not set up HTTP/3 (nghttp3)");
}

int Connection::cb_recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                                    std::uint64_t, const std::uint8_t* data, std::size_t size,
                                    void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE,
                   [&](Connection& c) { return c.on_stream_data(flags, stream_id, data, size); });
}

// The server acknowledged stream data: nghttp3 may free it.
int Connection::cb_acked_stream_data_offset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t,
                                            std::uint64_t size, void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        if (c.http_ == nullptr || nghttp3_conn_add_ack_offset(c.http_, stream_id, size) == 0)
            return 0;
        return c.fail_callback("nghttp3_conn_add_ack_offset failed");
    });
}

int Connection::cb_stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t stream_id,
                                std::uint64_t app_error, void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE,
                   [&](Connection& c) { return c.on_stream_close(flags, stream_id, app_error); });
}

// The server reset its side (RESET_STREAM) or asked us to stop sending
// (STOP_SENDING): either way nghttp3 stops reading the stream.
int Connection::cb_stream_reset(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t, std::uint64_t,
                                void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        if (c.http_ == nullptr || nghttp3_conn_shutdown_stream_read(c.http_, stream_id) == 0)
            return 0;
        return c.fail_callback("nghttp3_conn_shutdown_stream_read failed");
    });
}

int Connection::cb_stream_stop_sending(ngtcp2_conn* conn, std::int64_t stream_id,
                                       std::uint64_t app_error, void* user_data, void* data) {
    return cb_stream_reset(conn, stream_id, 0, app_error, user_data, data);
}

// The server allows more streams: the loop starts more requests on its
// next turn (start_requests_and_send), not from inside ngtcp2.
int Connection::cb_extend_max_local_streams_bidi(ngtcp2_conn*, std::uint64_t, void*) { return 0; }

// A stream's flow-control window grew: nghttp3 may write to it again.
int Connection::cb_extend_max_stream_data(ngtcp2_conn*, std::int64_t stream_id, std::uint64_t,
                                          void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        if (c.http_ == nullptr || nghttp3_conn_unblock_stream(c.http_, stream_id) == 0) return 0;
        return c.fail_callback("nghttp3_conn_unblock_stream failed");
    });
}

// Requests start once the handshake is confirmed (the server's
// HANDSHAKE_DONE: it has our Finished), not when it completes on our side.
// ngtcp2 0.12.1 with GnuTLS sends the client's Finished only on its third
// loss-detection probe, about 20 ms after the server's answer on a
// loopback (gtlsclient does the same); requests sent before that wait for
// it too, and their times would measure that stall, not the server. So it
// counts in "time for connect", as a TCP+TLS handshake does in h2load's.
int Connection::cb_handshake_confirmed(ngtcp2_conn*, void* user_data) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [](Connection& c) {
        c.handshake_done_ = true;
        c.handshake_ns_ = now_ns() - c.opened_ns_;
        c.workload_.progressed();
        return 0;
    });
}

int Connection::cb_recv_rx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* user_data) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE,
                   [&](Connection& c) { return c.on_rx_key(level); });
}

// In the order of ngtcp2_callbacks' fields; ngtcp2_crypto's ready-made
// callbacks do the cryptography.
const ngtcp2_callbacks Connection::quic_callbacks_ = {
    .client_initial = ngtcp2_crypto_client_initial_cb,
    .recv_client_initial = nullptr,
    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
    .handshake_completed = nullptr,
    .recv_version_negotiation = nullptr,
    .encrypt = ngtcp2_crypto_encrypt_cb,
    .decrypt = ngtcp2_crypto_decrypt_cb,
    .hp_mask = ngtcp2_crypto_hp_mask_cb,
    .recv_stream_data = cb_recv_stream_data,
    .acked_stream_data_offset = cb_acked_stream_data_offset,
    .stream_open = nullptr,
    .stream_close = cb_stream_close,
    .recv_stateless_reset = nullptr,
    .recv_retry = ngtcp2_crypto_recv_retry_cb,
    .extend_max_local_streams_bidi = cb_extend_max_local_streams_bidi,
    .extend_max_local_streams_uni = nullptr,
    .rand = quic_client::random_bytes,
    .get_new_connection_id = quic_client::new_connection_id,
    .remove_connection_id = nullptr,
    .update_key = ngtcp2_crypto_update_key_cb,
    .path_validation = nullptr,
    .select_preferred_addr = nullptr,
    .stream_reset = cb_stream_reset,
    .extend_max_remote_streams_bidi = nullptr,
    .extend_max_remote_streams_uni = nullptr,
    .extend_max_stream_data = cb_extend_max_stream_data,
    .dcid_status = nullptr,
    .handshake_confirmed = cb_handshake_confirmed,
    .recv_new_token = nullptr,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .recv_datagram = nullptr,
    .ack_datagram = nullptr,
    .lost_datagram = nullptr,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .stream_stop_sending = cb_stream_stop_sending,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
    .recv_rx_key = cb_recv_rx_key,
    .recv_tx_key = nullptr,
    .early_data_rejected = nullptr,
};

// --- nghttp3's callbacks ----------------------------------------------------

int Connection::on_http_stream_close(std::int64_t stream_id) {
    if (ngtcp2_is_bidi_stream(stream_id)) {
        finish_request(stream_id, true);
    } else {
        // A server's unidirectional stream ended: it may open another.
        ngtcp2_conn_extend_max_streams_uni(quic_, 1);
    }
    return 0;
}

void Connection::on_header(std::int64_t stream_id, std::int32_t token, nghttp3_rcbuf* name,
                           nghttp3_rcbuf* value) {
    nghttp3_vec name_bytes = nghttp3_rcbuf_get_buf(name);
    nghttp3_vec value_bytes = nghttp3_rcbuf_get_buf(value);
    workload_.count_header(name_bytes.len + value_bytes.len);
    if (token != NGHTTP3_QPACK_TOKEN__STATUS) return;
    auto found = requests_.find(stream_id);
    if (found == requests_.end()) return;
    std::string text(reinterpret_cast<const char*>(value_bytes.base), value_bytes.len);
    found->second.status = std::atoi(text.c_str());
}

void Connection::on_response_end(std::int64_t stream_id) {
    auto found = requests_.find(stream_id);
    if (found != requests_.end()) found->second.ended = true;
}

int Connection::cb_http_stream_close(nghttp3_conn*, std::int64_t stream_id, std::uint64_t,
                                     void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE,
                   [&](Connection& c) { return c.on_http_stream_close(stream_id); });
}

// Body bytes: counted, then dropped; their flow-control credit goes back
// to the server at once.
int Connection::cb_http_recv_data(nghttp3_conn*, std::int64_t stream_id, const std::uint8_t*,
                                  std::size_t size, void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        c.workload_.count_body(size);
        ngtcp2_conn_extend_max_stream_offset(c.quic_, stream_id, size);
        ngtcp2_conn_extend_max_offset(c.quic_, size);
        return 0;
    });
}

// Bytes nghttp3 held back (a header block waiting for QPACK's dynamic
// table) and has now consumed: their credit goes back too.
int Connection::cb_http_deferred_consume(nghttp3_conn*, std::int64_t stream_id,
                                         std::size_t consumed, void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        ngtcp2_conn_extend_max_stream_offset(c.quic_, stream_id, consumed);
        ngtcp2_conn_extend_max_offset(c.quic_, consumed);
        return 0;
    });
}

int Connection::cb_http_recv_header(nghttp3_conn*, std::int64_t stream_id, std::int32_t token,
                                    nghttp3_rcbuf* name, nghttp3_rcbuf* value, std::uint8_t,
                                    void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        c.on_header(stream_id, token, name, value);
        return 0;
    });
}

int Connection::cb_http_end_stream(nghttp3_conn*, std::int64_t stream_id, void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        c.on_response_end(stream_id);
        return 0;
    });
}

// nghttp3 wants the reading side stopped (STOP_SENDING to the server)...
int Connection::cb_http_stop_sending(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                     void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        return ngtcp2_conn_shutdown_stream_read(c.quic_, stream_id, app_error) == 0
                   ? 0
                   : NGHTTP3_ERR_CALLBACK_FAILURE;
    });
}

// ... or the writing side reset (RESET_STREAM).
int Connection::cb_http_reset_stream(nghttp3_conn*, std::int64_t stream_id, std::uint64_t app_error,
                                     void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&](Connection& c) {
        return ngtcp2_conn_shutdown_stream_write(c.quic_, stream_id, app_error) == 0
                   ? 0
                   : NGHTTP3_ERR_CALLBACK_FAILURE;
    });
}

const nghttp3_callbacks Connection::http_callbacks_ = {
    .acked_stream_data = nullptr,  // our requests have no body to free
    .stream_close = cb_http_stream_close,
    .recv_data = cb_http_recv_data,
    .deferred_consume = cb_http_deferred_consume,
    .begin_headers = nullptr,
    .recv_header = cb_http_recv_header,
    .end_headers = nullptr,
    .begin_trailers = nullptr,
    .recv_trailer = cb_http_recv_header,
    .end_trailers = nullptr,
    .stop_sending = cb_http_stop_sending,
    .end_stream = cb_http_end_stream,
    .reset_stream = cb_http_reset_stream,
    .shutdown = nullptr,  // a GOAWAY: our requests end one way or another anyway
};

// --- the report -------------------------------------------------------------

// h2load's way with durations: "850us", "12.34ms", "1.20s".
std::string format_duration_us(double micros) {
    char text[32];
    if (micros < 1000) {
        std::snprintf(text, sizeof text, "%.0fus", micros);
    } else if (micros < 1e6) {
        std::snprintf(text, sizeof text, "%.2fms", micros / 1000);
    } else {
        std::snprintf(text, sizeof text, "%.2fs", micros / 1e6);
    }
    return text;
}

// h2load's way with byte counts: "1.50MB" (powers of 1024).
std::string format_bytes(double bytes) {
    const char* units[] = {"B", "KB", "MB", "GB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 3) {
        bytes /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f%s" : "%.2f%s", bytes, units[unit]);
    return text;
}

double percentile(const std::vector<std::int64_t>& sorted, double fraction) {
    if (sorted.empty()) return 0;
    std::size_t rank =
        static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return static_cast<double>(sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1]);
}

// One row of h2load's timing table ("time for request:", "time for
// connect:"): min, max, mean, standard deviation, and the share of values
// within one deviation of the mean. `durations` in µs, sorted.
void print_time_row(const char* label, const std::vector<std::int64_t>& durations) {
    double mean = 0, deviation = 0, within = 100;
    if (!durations.empty()) {
        for (std::int64_t d : durations) mean += static_cast<double>(d);
        mean /= static_cast<double>(durations.size());
        for (std::int64_t d : durations)
            deviation += (static_cast<double>(d) - mean) * (static_cast<double>(d) - mean);
        deviation = std::sqrt(deviation / static_cast<double>(durations.size()));
        auto inside = std::count_if(durations.begin(), durations.end(), [&](std::int64_t d) {
            return std::fabs(static_cast<double>(d) - mean) <= deviation;
        });
        within = 100.0 * static_cast<double>(inside) / static_cast<double>(durations.size());
    }
    double low = durations.empty() ? 0 : static_cast<double>(durations.front());
    double high = durations.empty() ? 0 : static_cast<double>(durations.back());
    std::printf("%-17s %10s  %10s  %10s  %10s  %8.2f%%\n", label, format_duration_us(low).c_str(),
                format_duration_us(high).c_str(), format_duration_us(mean).c_str(),
                format_duration_us(deviation).c_str(), within);
}

// The requests' and the handshakes' rows, then the requests' percentiles
// on a line of their own (h2load has none; our scripts read it).
void print_latency(std::vector<std::int64_t> durations, std::vector<std::int64_t> handshakes) {
    std::sort(durations.begin(), durations.end());
    std::sort(handshakes.begin(), handshakes.end());
    std::printf("                     min         max         mean         sd        +/- sd\n");
    print_time_row("time for request:", durations);
    print_time_row("time for connect:", handshakes);
    std::printf("latency percentiles: p50 %s, p90 %s, p99 %s\n",
                format_duration_us(percentile(durations, 0.50)).c_str(),
                format_duration_us(percentile(durations, 0.90)).c_str(),
                format_duration_us(percentile(durations, 0.99)).c_str());
}

// CPU time this process used, user and system apart, in microseconds.
// And the time it was ready to run but its core ran other work: a run
// beside other busy processes says so there.
struct CpuTimes {
    std::int64_t user_us = 0;
    std::int64_t system_us = 0;
    std::int64_t waiting_us = 0;
};

CpuTimes cpu_times() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto micros = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1000000 + t.tv_usec; };
    return {micros(usage.ru_utime), micros(usage.ru_stime), waiting_for_core_us()};
}

void print_report(const Stats& stats, const std::vector<std::int64_t>& handshakes_us,
                  double seconds, const CpuTimes& cpu, int connections) {
    double rate = seconds > 0 ? static_cast<double>(stats.done) / seconds : 0;
    // MB as in the traffic line and h2load: 1024 x 1024 bytes.
    double megabytes =
        seconds > 0 ? static_cast<double>(stats.bytes_received) / seconds / (1024.0 * 1024.0) : 0;
    std::printf("\nfinished in %.2fs, %.2f req/s, %.2fMB/s\n", seconds, rate, megabytes);
    std::printf("requests: %" PRId64 " total, %" PRId64 " started, %" PRId64 " done, %" PRId64
                " succeeded, %" PRId64 " failed, %" PRId64 " errored, %" PRId64 " timeout\n",
                stats.started, stats.started, stats.done, stats.succeeded,
                stats.done - stats.succeeded + stats.timed_out, stats.errored, stats.timed_out);
    const auto& classes = stats.status_classes;
    std::printf("status codes: %" PRId64 " 2xx, %" PRId64 " 3xx, %" PRId64 " 4xx, %" PRId64
                " 5xx\n",
                classes[2], classes[3], classes[4], classes[5]);
    std::printf("traffic: %s (%" PRId64 ") total, %s (%" PRId64 ") headers (decoded), %s (%" PRId64
                ") data\n",
                format_bytes(static_cast<double>(stats.bytes_received)).c_str(),
                stats.bytes_received, format_bytes(static_cast<double>(stats.header_bytes)).c_str(),
                stats.header_bytes, format_bytes(static_cast<double>(stats.body_bytes)).c_str(),
                stats.body_bytes);
    print_latency(stats.durations_us, handshakes_us);
    std::printf("cpu: %" PRId64 " user-ms %" PRId64
                " sys-ms (h3_load's own, %d connection%s; "
                "%" PRId64 " ms ready but waiting for its core)\n",
                cpu.user_us / 1000, cpu.system_us / 1000, connections, connections == 1 ? "" : "s",
                cpu.waiting_us / 1000);
}

// --- the loop ---------------------------------------------------------------

class LoadRun {
public:
    LoadRun(const Options& options, const Target& target, const TlsSettings& tls, std::FILE* log)
        : options_(options),
          target_(target),
          tls_(tls),
          workload_(options, target.paths.size(), log),
          epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {}

    ~LoadRun() { close(epoll_fd_); }

    int run();

private:
    void open_connections();
    void serve_events(ngtcp2_tstamp deadline);
    void run_timers();
    void advance_phase();
    bool finished() const;
    ngtcp2_tstamp next_deadline() const;
    int report();

    const Options& options_;
    const Target& target_;
    const TlsSettings& tls_;
    Workload workload_;
    int epoll_fd_;
    std::vector<std::unique_ptr<Connection>> connections_;

    // The phases of -D: warm-up until measure_from_, measured until measure_until_.
    ngtcp2_tstamp measure_from_ = 0;
    ngtcp2_tstamp measure_until_ = 0;
    bool measuring_ = false;
    bool over_ = false;
    bool gave_up_ = false;
    ngtcp2_tstamp measured_start_ns_ = 0;
    ngtcp2_tstamp measured_end_ns_ = 0;
    CpuTimes cpu_at_start_;
    CpuTimes cpu_at_end_;
};

int LoadRun::run() {
    // h2load's first lines (hol_bench.py reads the number of clients).
    std::printf("starting benchmark...\n");
    if (options_.duration_seconds > 0) {
        std::printf(
            "spawning thread #0: %d total client(s). Timing-based test with %gs of warm-up "
            "time and %gs of main duration for measurements.\n",
            options_.connections, options_.warm_up_seconds, options_.duration_seconds);
    } else {
        std::printf("spawning thread #0: %d total client(s). %" PRId64 " total requests\n",
                    options_.connections, options_.total_requests);
    }
    ngtcp2_tstamp start = now_ns();
    if (options_.duration_seconds > 0) {
        measure_from_ = start + seconds_to_ns(options_.warm_up_seconds);
        measure_until_ = measure_from_ + seconds_to_ns(options_.duration_seconds);
        if (options_.warm_up_seconds > 0) std::printf("Warm-up started for thread #0.\n");
    }
    advance_phase();  // -n (or -D without a warm-up): measuring from now
    open_connections();
    while (!finished()) {
        serve_events(next_deadline());
        run_timers();
        for (auto& connection : connections_) connection->start_requests_and_send();
        advance_phase();
    }
    if (!measured_end_ns_) {
        measured_end_ns_ = now_ns();
        cpu_at_end_ = cpu_times();
    }
    workload_.stop_measuring();
    for (auto& connection : connections_) connection->close_gracefully();
    return report();
}

void LoadRun::open_connections() {
    for (int i = 0; i < options_.connections; ++i) {
        connections_.push_back(std::make_unique<Connection>(i, target_, tls_, options_, workload_));
        connections_.back()->open(epoll_fd_);
    }
}

// Waits for datagrams until the earliest timer is due, then handles what came.
void LoadRun::serve_events(ngtcp2_tstamp deadline) {
    ngtcp2_tstamp now = now_ns();
    ngtcp2_tstamp wait = deadline > now ? deadline - now : 0;
    // epoll_pwait2 takes nanoseconds: ngtcp2's pacing asks for sub-millisecond waits.
    timespec timeout{static_cast<time_t>(wait / 1000000000), static_cast<long>(wait % 1000000000)};
    std::array<epoll_event, 64> events;
    int count =
        epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &timeout, nullptr);
    for (int i = 0; i < count; ++i) {
        auto* connection = static_cast<Connection*>(events[i].data.ptr);
        if (events[i].events & EPOLLOUT) connection->on_writable();
        if (events[i].events & (EPOLLIN | EPOLLERR)) connection->on_readable();
    }
}

void LoadRun::run_timers() {
    ngtcp2_tstamp now = now_ns();
    for (auto& connection : connections_) {
        if (connection->alive() && connection->expiry() <= now) connection->on_timer();
    }
}

// The earliest of the connections' timers, the phases' ends and -T's check.
ngtcp2_tstamp LoadRun::next_deadline() const {
    ngtcp2_tstamp deadline = workload_.last_progress_ns() + seconds_to_ns(options_.timeout_seconds);
    for (const auto& connection : connections_) {
        if (connection->alive()) deadline = std::min(deadline, connection->expiry());
    }
    if (options_.duration_seconds > 0) {
        deadline = std::min(deadline, measuring_ ? measure_until_ : measure_from_);
    }
    return deadline;
}

// Moves through warm-up, measured time and the end, printing h2load's lines
// (the scripts watch for them to read the server's CPU time in step).
void LoadRun::advance_phase() {
    ngtcp2_tstamp now = now_ns();
    if (!measuring_ && !over_ && now >= measure_from_) {
        if (options_.duration_seconds > 0 && options_.warm_up_seconds > 0) {
            std::printf("Warm-up phase is over for thread #0.\n");
        }
        if (options_.duration_seconds > 0)
            std::printf("Main benchmark duration is started for thread #0.\n");
        std::fflush(stdout);
        workload_.start_measuring();
        measuring_ = true;
        measured_start_ns_ = now;
        cpu_at_start_ = cpu_times();
    }
    if (measuring_ && options_.duration_seconds > 0 && now >= measure_until_) {
        measured_end_ns_ = now;
        cpu_at_end_ = cpu_times();
        workload_.stop_starting();
        workload_.stop_measuring();
        measuring_ = false;
        over_ = true;
        std::printf("Main benchmark duration is over for thread #0. Stopping all clients.\n");
        std::fflush(stdout);
    }
    // -T: nothing answered for that long while requests were wanted.
    if (!over_ && now - workload_.last_progress_ns() >= seconds_to_ns(options_.timeout_seconds)) {
        gave_up_ = true;
        for (auto& connection : connections_) {
            connection->give_up("no answer for " +
                                std::to_string(static_cast<int>(options_.timeout_seconds)) +
                                " s (-T)");
        }
    }
}

bool LoadRun::finished() const {
    if (over_ || gave_up_ || stop_requested || workload_.all_finished()) return true;
    return std::none_of(connections_.begin(), connections_.end(),
                        [](const auto& connection) { return connection->alive(); });
}

int LoadRun::report() {
    // Each failed connection says why, once, on stderr.
    int failed = 0;
    for (const auto& connection : connections_) {
        if (connection->failure() == Failure::None) continue;
        ++failed;
        std::fprintf(stderr, "h3_load: connection %d: %s\n", connection->index(),
                     connection->error().c_str());
    }
    // TLS as h2load reports it, from the first connection that got through
    // its handshake (QUIC always runs TLS 1.3).
    auto connected =
        std::find_if(connections_.begin(), connections_.end(),
                     [](const auto& connection) { return connection->handshake_done(); });
    if (connected != connections_.end()) {
        std::printf("TLS Protocol: TLSv1.3\nCipher: %s\n", (*connected)->cipher_name());
    }
    std::printf("Application protocol: %s\n", connected != connections_.end() ? "h3" : "none");
    double seconds = static_cast<double>(measured_end_ns_ - measured_start_ns_) / 1e9;
    CpuTimes cpu{cpu_at_end_.user_us - cpu_at_start_.user_us,
                 cpu_at_end_.system_us - cpu_at_start_.system_us,
                 cpu_at_end_.waiting_us - cpu_at_start_.waiting_us};
    // "time for connect": each handshake, from the first packet to its end.
    std::vector<std::int64_t> handshakes_us;
    for (const auto& connection : connections_) {
        if (connection->handshake_done()) {
            handshakes_us.push_back(static_cast<std::int64_t>(connection->handshake_ns() / 1000));
        }
    }
    print_report(workload_.stats(), handshakes_us, seconds, cpu, options_.connections);
    const Stats& stats = workload_.stats();
    if (failed > 0 || stats.errored > 0 || stats.timed_out > 0) {
        std::fprintf(stderr,
                     "h3_load: %d of %d connections failed, %" PRId64 " requests errored, %" PRId64
                     " timed out\n",
                     failed, options_.connections, stats.errored, stats.timed_out);
        return 1;
    }
    if (stop_requested) {
        std::fprintf(
            stderr,
            "h3_load: interrupted (SIGINT or SIGTERM): the figures cover the run until then\n");
        return 1;
    }
    return 0;
}

// The certificates GnuTLS trusts: the system's, and --ca-file's.
gnutls_certificate_credentials_t make_credentials(const Options& options) {
    gnutls_certificate_credentials_t credentials = nullptr;
    gnutls_certificate_allocate_credentials(&credentials);
    gnutls_certificate_set_x509_system_trust(credentials);
    if (!options.ca_file.empty() &&
        gnutls_certificate_set_x509_trust_file(credentials, options.ca_file.c_str(),
                                               GNUTLS_X509_FMT_PEM) < 0) {
        std::fprintf(stderr, "h3_load: cannot read %s\n", options.ca_file.c_str());
        std::exit(2);
    }
    return credentials;
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    Target target = make_target(options.urls);
    raise_descriptor_limit(static_cast<rlim_t>(options.connections) + 64);
    install_signal_handlers();

    TlsSettings tls;
    tls.credentials = make_credentials(options);
    // A test server on this machine has a certificate of its own making:
    // checking it would only get in the way (h2load does not check either).
    tls.verify = !options.insecure && !is_loopback_name(target.host);
    // SNI takes a name, never an address: for an address, "localhost".
    in6_addr scratch{};
    bool numeric = inet_pton(AF_INET, target.host.c_str(), &scratch) == 1 ||
                   inet_pton(AF_INET6, target.host.c_str(), &scratch) == 1;
    tls.server_name = numeric ? "localhost" : target.host;
    tls.verify_name = target.host;

    std::FILE* log = nullptr;
    if (!options.log_file.empty()) {
        log = std::fopen(options.log_file.c_str(), "w");
        if (log == nullptr) {
            std::fprintf(stderr, "h3_load: cannot write %s: %s\n", options.log_file.c_str(),
                         std::strerror(errno));
            return 2;
        }
    }
    int exit_code = 0;
    {
        LoadRun run(options, target, tls, log);
        exit_code = run.run();
    }
    if (log != nullptr) std::fclose(log);
    gnutls_certificate_free_credentials(tls.credentials);
    return exit_code;
}
