// curl_httpclient.cpp: CurlAsyncHTTPClient (tornado/curl_httpclient.h).
//
// The shape is Tornado's curl_httpclient.py: one libcurl "multi" handle
// per client, whose sockets and timer the IOLoop watches; one "easy"
// handle per transfer, set up from the HTTPRequest; finished transfers
// read back with curl_multi_info_read. libcurl must not be called back
// into from its own callbacks, so those only record what came (the head's
// lines, the body's pieces); everything else happens after
// curl_multi_socket_action has returned.
#include "tornado/curl_httpclient.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/httputil.h"
#include "tornado/ioloop.h"

namespace tornado {

CurlError::CurlError(int curl_code, std::string message)
    : HTTPClientError(599, std::move(message)), curl_code_(curl_code) {}

namespace detail {

// libcurl's global state is set up once per process, before any handle.
void init_libcurl_once() {
    static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!ready) throw std::runtime_error("libcurl: curl_global_init failed");
}

// One fetch: its request and Future, its easy handle while it runs, and
// the response as libcurl hands it over.
struct CurlFetch {
    HTTPRequest request;
    bool raise_error = true;
    Future<HTTPResponse> result;
    std::weak_ptr<CurlClientState> client;
    IOLoop* loop = nullptr;

    // The request of the current hop: `request`, or the redirect it led to.
    HTTPRequest hop;
    int redirects = 0;  // followed so far

    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    curl_slist* connect_to = nullptr;
    char error_text[CURL_ERROR_SIZE] = {};

    // The response of the current hop: its status line's code and reason,
    // its head's lines (for header_callback), headers and body (or what
    // went to streaming_callback). A redirect starts the next hop with
    // `response = {}`, so no field of one hop's answer reaches the next.
    struct HopResponse {
        int code = 0;
        std::string reason;
        std::vector<std::string> head_lines;
        bool following = false;  // this response is a redirect the fetch follows
        HTTPHeaders headers;
        std::string body;
        std::size_t body_bytes = 0;
        bool body_too_large = false;
        bool body_started = false;
        // decompress_response's inflater, made at the first piece of a gzip
        // body; what it refused ends the transfer and becomes the error.
        std::unique_ptr<GzipDecompressor> gunzip;
        std::exception_ptr body_error;
        bool unasked_upgrade = false;  // a 101 came, and libcurl was stopped
    };
    HopResponse response;

    IOLoop::Clock::time_point queued{};
    IOLoop::Clock::time_point started{};
    IOLoop::Clock::time_point hop_started{};
    std::chrono::system_clock::time_point wall_started{};
    std::optional<IOLoop::Timeout> queue_timer;
    bool settled = false;
};

// A client's insides, shared with the loop's handlers and timer (which
// hold it weakly): a callback after the client is gone finds nothing.
struct CurlClientState : std::enable_shared_from_this<CurlClientState> {
    CurlClientState(IOLoop& io_loop, AsyncHTTPClientOptions client_options)
        : loop(&io_loop), options(std::move(client_options)) {}
    ~CurlClientState();

    IOLoop* loop;
    AsyncHTTPClientOptions options;
    CURLM* multi = nullptr;
    std::deque<std::shared_ptr<CurlFetch>> queue;
    std::vector<std::shared_ptr<CurlFetch>> active;
    std::map<int, std::uint32_t> watched;  // the sockets libcurl asked for, and their events
    std::optional<IOLoop::Timeout> timer;
    bool closed = false;
};

namespace {

std::size_t slots(const CurlClientState& client) {
    return std::max<std::size_t>(client.options.max_clients, 1);
}

double seconds_between(IOLoop::Clock::time_point from, IOLoop::Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

double seconds_since_start(const CurlFetch& fetch) {
    if (fetch.started == IOLoop::Clock::time_point{}) return 0.0;
    return seconds_between(fetch.started, IOLoop::time());
}

void start_next(CurlClientState& client);
std::exception_ptr as_client_error(std::exception_ptr error);
void follow_redirect(CurlFetch& fetch);

// Ends a fetch once: its transfer out of the multi handle and freed, its
// Future resolved (unless its owner cancelled it), its slot handed on.
// Never called from inside a libcurl callback.
void settle(CurlFetch& fetch, std::optional<HTTPResponse> response, std::exception_ptr error) {
    if (fetch.settled) return;
    fetch.settled = true;
    std::shared_ptr<CurlClientState> client = fetch.client.lock();
    if (fetch.queue_timer) fetch.loop->remove_timeout(*std::exchange(fetch.queue_timer, {}));
    if (fetch.easy != nullptr) {
        if (client && client->multi != nullptr) curl_multi_remove_handle(client->multi, fetch.easy);
        curl_easy_cleanup(std::exchange(fetch.easy, nullptr));
    }
    curl_slist_free_all(std::exchange(fetch.header_list, nullptr));
    curl_slist_free_all(std::exchange(fetch.connect_to, nullptr));
    if (!fetch.result.done()) {
        if (response) response->request = fetch.request;
        resolve_fetch(fetch.result, fetch.raise_error, fetch.request, seconds_since_start(fetch),
                      std::move(response), std::move(error));
    }
    if (!client) return;
    auto same = [&fetch](const std::shared_ptr<CurlFetch>& other) { return other.get() == &fetch; };
    std::erase_if(client->active, same);
    std::erase_if(client->queue, same);
    start_next(*client);
}

// ---- what libcurl calls while a transfer runs ----

// Whether the response whose head just ended is a redirect this fetch
// follows: the simple client's rule (detail::is_redirect, a Location,
// follow_redirects, max_redirects), so that both clients follow alike.
bool will_follow(const CurlFetch& fetch) {
    return fetch.hop.follow_redirects && is_redirect(fetch.response.code) &&
           fetch.response.headers.contains("Location") && fetch.redirects < fetch.hop.max_redirects;
}

// The end of a head: header_callback gets its lines unless it is an
// interim (1xx) head or a redirect that is followed, as in the simple
// client, which shows the final response's head only.
void end_of_head(CurlFetch& fetch) {
    bool interim = fetch.response.code >= 100 && fetch.response.code < 200;
    fetch.response.following = !interim && will_follow(fetch);
    if (!interim && !fetch.response.following && fetch.hop.header_callback) {
        for (std::string& line : fetch.response.head_lines) {
            fetch.loop->add_callback(
                [callback = fetch.hop.header_callback, text = std::move(line)]() mutable {
                    callback(std::move(text));
                });
        }
    }
    fetch.response.head_lines.clear();
}

// Each line of each response's head, as it arrives. A status line starts
// a new response (a 100 Continue's, then the real one): what the last one
// had is dropped, as in Tornado's _curl_header_callback.
std::size_t on_header_line(char* data, std::size_t size, std::size_t count, void* pointer) {
    auto& fetch = *static_cast<CurlFetch*>(pointer);
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
        fetch.response.headers.clear();
        fetch.response.reason.clear();
        fetch.response.head_lines.clear();
        // "HTTP/1.1 200 OK" or "HTTP/2 200": the code, then the reason if any.
        std::size_t code_at = line.find(' ');
        fetch.response.code = 0;
        for (std::size_t i = code_at + 1; code_at != std::string_view::npos && i < line.size() &&
                                          line[i] >= '0' && line[i] <= '9';
             ++i) {
            fetch.response.code = fetch.response.code * 10 + (line[i] - '0');
        }
        // RFC 9110 section 15.2.2: after a 101 the connection speaks another
        // protocol, and libcurl would wait on it for ever; no fetch here
        // asks for an upgrade, so the transfer stops.
        if (fetch.response.code == 101) {
            fetch.response.unasked_upgrade = true;
            return 0;
        }
        std::size_t reason_at =
            code_at == std::string_view::npos ? code_at : line.find(' ', code_at + 1);
        if (reason_at != std::string_view::npos) {
            std::string_view reason = line.substr(reason_at + 1);
            while (!reason.empty() && (reason.back() == '\r' || reason.back() == '\n'))
                reason.remove_suffix(1);
            fetch.response.reason = std::string(reason);
        }
    } else if (line.find_first_not_of("\r\n") != std::string_view::npos) {
        try {
            fetch.response.headers.parse_line(line);
        } catch (const std::exception&) {
            return 0;  // a malformed line ends the transfer (CURLE_WRITE_ERROR)
        }
    }
    fetch.response.head_lines.emplace_back(line);
    if (line.find_first_not_of("\r\n") == std::string_view::npos) end_of_head(fetch);
    return size * count;
}

// The body's pieces, a gzip body inflated by the framework's own
// GzipDecompressor (as the simple client does it: every member, and
// max_body_size counting what it inflates to); libcurl's decoder stops
// at the first member. Past max_body_size, or on bytes that are not gzip,
// the transfer stops (libcurl's CURLE_WRITE_ERROR; finish() says why).
std::size_t on_body_piece(char* data, std::size_t size, std::size_t count, void* pointer) {
    auto& fetch = *static_cast<CurlFetch*>(pointer);
    std::size_t length = size * count;
    if (fetch.response.following) return length;  // a redirect's body: nobody reads it
    if (!fetch.response.body_started) {
        fetch.response.body_started = true;
        if (fetch.hop.decompress_response &&
            fetch.response.headers.get("Content-Encoding") == "gzip")
            fetch.response.gunzip = std::make_unique<GzipDecompressor>(fetch.hop.max_body_size);
    }
    std::string piece(data, length);
    if (fetch.response.gunzip) {
        try {
            piece = fetch.response.gunzip->decompress(piece);
        } catch (...) {
            fetch.response.body_error = std::current_exception();
            return 0;
        }
    }
    fetch.response.body_bytes += piece.size();
    if (fetch.response.body_bytes > fetch.hop.max_body_size) {
        fetch.response.body_too_large = true;
        return 0;
    }
    if (fetch.hop.streaming_callback) {
        fetch.loop->add_callback(
            [callback = fetch.hop.streaming_callback, bytes = std::move(piece)]() mutable {
                callback(std::move(bytes));
            });
    } else {
        fetch.response.body += piece;
    }
    return length;
}

// ---- a request as libcurl options ----

template <typename Value>
void set(CURL* easy, CURLoption option, Value value) {
    CURLcode code = curl_easy_setopt(easy, option, value);
    if (code != CURLE_OK) {
        throw std::invalid_argument(std::string("libcurl refused an option: ") +
                                    curl_easy_strerror(code));
    }
}

long milliseconds(IOLoop::Clock::duration duration) {
    return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(duration).count());
}

// A "user:password@" in the URL's authority: it wins over auth_username,
// as in Tornado, and libcurl reads it itself.
bool url_has_credentials(std::string_view url) {
    std::size_t start = url.find("://");
    if (start == std::string_view::npos) return false;
    std::string_view rest = url.substr(start + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    return authority.find('@') != std::string_view::npos;
}

// `lines` as libcurl's list of strings; `what` names it if memory runs out.
curl_slist* slist_of(const std::vector<std::string>& lines, const char* what) {
    curl_slist* list = nullptr;
    for (const std::string& line : lines) {
        curl_slist* longer = curl_slist_append(list, line.c_str());
        if (longer == nullptr) {
            curl_slist_free_all(list);
            throw std::runtime_error(std::string("libcurl: out of memory for ") + what);
        }
        list = longer;
    }
    return list;
}

// The header lines: the caller's, then what keeps libcurl from adding its
// own (an empty "Expect:" removes its 100-continue for large bodies;
// "Content-Type:" the form type it gives any body sent this way but a
// POST's, as Tornado's simple client gives it only to a POST).
curl_slist* header_lines(const HTTPRequest& request) {
    std::vector<std::string> lines;
    for (auto [name, value] : request.headers)
        lines.push_back(std::string(name) + ": " + std::string(value));
    if (!request.headers.contains("Expect"))
        lines.emplace_back(request.expect_100_continue ? "Expect: 100-continue" : "Expect:");
    if (request.body && request.method != "POST" && !request.headers.contains("Content-Type"))
        lines.emplace_back("Content-Type:");
    if (request.decompress_response && !request.headers.contains("Accept-Encoding"))
        lines.emplace_back("Accept-Encoding: gzip");
    if (request.if_modified_since && !request.headers.contains("If-Modified-Since"))
        lines.push_back("If-Modified-Since: " + format_timestamp(*request.if_modified_since));
    return slist_of(lines, "the header list");
}

void set_method_and_body(CURL* easy, const HTTPRequest& request) {
    if (request.method == "HEAD") {
        set(easy, CURLOPT_NOBODY, 1L);
    } else if (request.method == "POST") {
        set(easy, CURLOPT_POST, 1L);
    } else if (request.method != "GET") {
        set(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.body) {
        // Not copied: the fetch keeps its request until the easy handle is gone.
        set(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body->size()));
        set(easy, CURLOPT_POSTFIELDS, request.body->data());
    } else if (request.method == "POST") {
        set(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{0});
        set(easy, CURLOPT_POSTFIELDS, "");
    }
}

void set_tls(CURL* easy, const HTTPRequest& request) {
    set(easy, CURLOPT_SSL_VERIFYPEER, request.validate_cert ? 1L : 0L);
    set(easy, CURLOPT_SSL_VERIFYHOST, request.validate_cert ? 2L : 0L);
    if (!request.ca_certs.empty()) set(easy, CURLOPT_CAINFO, request.ca_certs.c_str());
    if (!request.client_cert.empty()) set(easy, CURLOPT_SSLCERT, request.client_cert.c_str());
    if (!request.client_key.empty()) set(easy, CURLOPT_SSLKEY, request.client_key.c_str());
}

void set_auth_and_proxy(CURL* easy, const HTTPRequest& request) {
    if (request.auth_username && !url_has_credentials(request.url)) {
        set(easy, CURLOPT_USERNAME, request.auth_username->c_str());
        set(easy, CURLOPT_PASSWORD, request.auth_password.value_or("").c_str());
        set(easy, CURLOPT_HTTPAUTH,
            request.auth_mode == "digest" ? CURLAUTH_DIGEST : CURLAUTH_BASIC);
    }
    if (request.proxy_host.empty()) {
        set(easy, CURLOPT_PROXY, "");  // no proxy, not even one from the environment
        return;
    }
    set(easy, CURLOPT_PROXY, request.proxy_host.c_str());
    set(easy, CURLOPT_PROXYPORT, static_cast<long>(*request.proxy_port));
    if (!request.proxy_username.empty()) {
        set(easy, CURLOPT_PROXYUSERNAME, request.proxy_username.c_str());
        set(easy, CURLOPT_PROXYPASSWORD, request.proxy_password.c_str());
        set(easy, CURLOPT_PROXYAUTH, CURLAUTH_BASIC);
    }
}

// hostname_mapping as libcurl's "connect to": HOST on any port goes to
// the other address, on the same port.
curl_slist* connect_to_list(const AsyncHTTPClientOptions& options) {
    std::vector<std::string> entries;
    for (const auto& [from, to] : options.hostname_mapping)
        entries.push_back(from + "::" + to + ":");
    return slist_of(entries, "hostname_mapping");
}

// What is left of request_timeout, which spans every hop (as in the
// simple client); zero when there is none, and at least 1 ms.
long milliseconds_left(const CurlFetch& fetch) {
    if (fetch.hop.request_timeout <= IOLoop::Clock::duration::zero()) return 0;
    IOLoop::Clock::duration left = fetch.started + fetch.hop.request_timeout - IOLoop::time();
    return std::max(milliseconds(left), 1L);
}

// The easy handle for the fetch's current hop, every option set from its
// request. Redirects are followed here, not by libcurl, by the simple
// client's rule (libcurl keeps a PUT a PUT after a 303, and drops its
// body after a 302).
void set_up(CurlFetch& fetch, const CurlClientState& client) {
    const HTTPRequest& request = fetch.hop;
    fetch.easy = curl_easy_init();
    if (fetch.easy == nullptr) throw std::runtime_error("libcurl: curl_easy_init failed");
    CURL* easy = fetch.easy;
    set(easy, CURLOPT_PRIVATE, static_cast<void*>(&fetch));
    set(easy, CURLOPT_ERRORBUFFER, fetch.error_text);
    set(easy, CURLOPT_NOSIGNAL, 1L);
    set(easy, CURLOPT_URL, request.url.c_str());
    set(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    set(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // HTTP/2 where TLS's ALPN agrees on it, HTTP/1.1 otherwise; a fetch
    // started while another opens a connection to the same server waits
    // to share it rather than opening one more.
    set(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    set(easy, CURLOPT_PIPEWAIT, 1L);
    set(easy, CURLOPT_HEADERFUNCTION, on_header_line);
    set(easy, CURLOPT_HEADERDATA, static_cast<void*>(&fetch));
    set(easy, CURLOPT_WRITEFUNCTION, on_body_piece);
    set(easy, CURLOPT_WRITEDATA, static_cast<void*>(&fetch));
    fetch.header_list = header_lines(request);
    set(easy, CURLOPT_HTTPHEADER, fetch.header_list);
    fetch.connect_to = connect_to_list(client.options);
    if (fetch.connect_to != nullptr) set(easy, CURLOPT_CONNECT_TO, fetch.connect_to);
    set(easy, CURLOPT_FOLLOWLOCATION, 0L);
    set(easy, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connect_timeout));
    set(easy, CURLOPT_TIMEOUT_MS, milliseconds_left(fetch));
    if (!request.user_agent.empty()) set(easy, CURLOPT_USERAGENT, request.user_agent.c_str());
    set(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_body_size));
    if (!request.network_interface.empty())
        set(easy, CURLOPT_INTERFACE, request.network_interface.c_str());
    set(easy, CURLOPT_IPRESOLVE, request.allow_ipv6 ? CURL_IPRESOLVE_WHATEVER : CURL_IPRESOLVE_V4);
    set_method_and_body(easy, request);
    set_tls(easy, request);
    set_auth_and_proxy(easy, request);
}

// ---- a finished transfer ----

// time_info with Tornado's curl names, in seconds from the start of the
// fetch: libcurl's marks of the last hop, "redirect" when the hops before
// it took time, "total", and how long the fetch waited in the queue.
void add_times(const CurlFetch& fetch, HTTPResponse& response) {
    using Seconds = std::chrono::duration<double>;
    response.start_time = Seconds(fetch.wall_started.time_since_epoch()).count();
    response.time_info["queue"] = seconds_between(fetch.queued, fetch.started);
    double hop_offset = seconds_between(fetch.started, fetch.hop_started);
    const std::pair<const char*, CURLINFO> marks[] = {
        {"namelookup", CURLINFO_NAMELOOKUP_TIME},
        {"connect", CURLINFO_CONNECT_TIME},
        {"appconnect", CURLINFO_APPCONNECT_TIME},
        {"pretransfer", CURLINFO_PRETRANSFER_TIME},
        {"starttransfer", CURLINFO_STARTTRANSFER_TIME}};
    for (const auto& [name, info] : marks) {
        double seconds = 0;
        if (curl_easy_getinfo(fetch.easy, info, &seconds) == CURLE_OK)
            response.time_info[name] = hop_offset + seconds;
    }
    if (fetch.redirects > 0) response.time_info["redirect"] = hop_offset;
    response.time_info["total"] = response.request_time;
}

HTTPResponse response_of(CurlFetch& fetch) {
    HTTPResponse response;
    long code = 0;
    curl_easy_getinfo(fetch.easy, CURLINFO_RESPONSE_CODE, &code);
    response.code = static_cast<int>(code);
    response.reason = fetch.response.reason.empty() ? std::string(reason_phrase(response.code))
                                                    : fetch.response.reason;
    char* effective = nullptr;
    curl_easy_getinfo(fetch.easy, CURLINFO_EFFECTIVE_URL, &effective);
    response.effective_url = effective != nullptr ? effective : fetch.hop.url;
    response.headers = std::move(fetch.response.headers);
    // As the simple client says it: the coding is undone, and named so.
    if (fetch.response.gunzip) {
        response.headers.remove("Content-Encoding");
        response.headers.add("X-Consumed-Content-Encoding", "gzip");
    }
    response.body = std::move(fetch.response.body);
    response.request_time = seconds_since_start(fetch);
    add_times(fetch, response);
    return response;
}

void finish(CurlFetch& fetch, CURLcode code) {
    if (code == CURLE_OK) {
        try {
            if (fetch.response.gunzip) fetch.response.gunzip->check_ended();
        } catch (...) {
            fetch.response.body_error = std::current_exception();
        }
    }
    if (fetch.response.body_error) {
        settle(fetch, std::nullopt, as_client_error(fetch.response.body_error));
        return;
    }
    if (code == CURLE_OK && fetch.response.following) {
        follow_redirect(fetch);
        return;
    }
    if (code == CURLE_OK) {
        settle(fetch, response_of(fetch), nullptr);
        return;
    }
    if (fetch.response.unasked_upgrade) {
        settle(
            fetch, std::nullopt,
            std::make_exception_ptr(HTTPClientError(
                599, "Response 101 Switching Protocols to a request that asked for no upgrade")));
        return;
    }
    if (fetch.response.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
        settle(fetch, std::nullopt,
               std::make_exception_ptr(
                   HTTPClientError(599, "Response body larger than max_body_size (" +
                                            std::to_string(fetch.hop.max_body_size) + " bytes)")));
        return;
    }
    std::string message = fetch.error_text[0] != '\0' ? fetch.error_text : curl_easy_strerror(code);
    settle(fetch, std::nullopt, std::make_exception_ptr(CurlError(code, std::move(message))));
}

// Every transfer libcurl has finished since it was last asked.
void read_finished(CurlClientState& client) {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(client.multi, &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        void* pointer = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &pointer);
        CURLcode code = message->data.result;
        // finish() removes the handle, which ends `message`: read it first.
        finish(*static_cast<CurlFetch*>(pointer), code);
    }
}

// libcurl's work for one socket (or for its timer: CURL_SOCKET_TIMEOUT),
// then whatever that finished. The state is held for the call: a fetch
// settled here may drop the client's last other owner.
void socket_action(CurlClientState& client, curl_socket_t socket, int events) {
    if (client.multi == nullptr) return;
    std::shared_ptr<CurlClientState> keep = client.shared_from_this();
    int running = 0;
    curl_multi_socket_action(client.multi, socket, events, &running);
    read_finished(client);
}

// ---- libcurl's sockets and timer on the loop ----

int watch_socket(CURL*, curl_socket_t socket, int what, void* pointer, void*) {
    auto& client = *static_cast<CurlClientState*>(pointer);
    if (what == CURL_POLL_REMOVE) {
        if (client.watched.erase(socket) > 0) client.loop->remove_handler(socket);
        return 0;
    }
    std::uint32_t events = ((what & CURL_POLL_IN) != 0 ? IOLoop::READ : 0) |
                           ((what & CURL_POLL_OUT) != 0 ? IOLoop::WRITE : 0);
    auto known = client.watched.find(socket);
    if (known != client.watched.end()) {
        if (known->second != events) client.loop->update_handler(socket, events);
        known->second = events;
        return 0;
    }
    client.watched.emplace(socket, events);
    std::weak_ptr<CurlClientState> weak = client.weak_from_this();
    client.loop->add_handler(
        socket,
        [weak](int fd, std::uint32_t ready) {
            std::shared_ptr<CurlClientState> state = weak.lock();
            if (!state) return;
            int bits = ((ready & IOLoop::READ) != 0 ? CURL_CSELECT_IN : 0) |
                       ((ready & IOLoop::WRITE) != 0 ? CURL_CSELECT_OUT : 0) |
                       ((ready & IOLoop::ERROR) != 0 ? CURL_CSELECT_ERR : 0);
            socket_action(*state, fd, bits);
        },
        events);
    return 0;
}

// One loop timeout, replaced each time libcurl names a new one; -1: none.
int set_timer(CURLM*, long timeout_ms, void* pointer) {
    auto& client = *static_cast<CurlClientState*>(pointer);
    if (client.timer) client.loop->remove_timeout(*std::exchange(client.timer, {}));
    if (timeout_ms < 0) return 0;
    std::weak_ptr<CurlClientState> weak = client.weak_from_this();
    client.timer = client.loop->call_later(std::chrono::milliseconds(timeout_ms), [weak] {
        std::shared_ptr<CurlClientState> state = weak.lock();
        if (!state) return;
        state->timer.reset();
        socket_action(*state, CURL_SOCKET_TIMEOUT, 0);
    });
    return 0;
}

// ---- the queue ----

// The transfer of the fetch's current hop, handed to libcurl.
void begin_hop(CurlClientState& client, CurlFetch& fetch) {
    fetch.hop_started = IOLoop::time();
    try {
        set_up(fetch, client);
        CURLMcode added = curl_multi_add_handle(client.multi, fetch.easy);
        if (added != CURLM_OK)
            throw std::runtime_error(std::string("libcurl: ") + curl_multi_strerror(added));
    } catch (...) {
        settle(fetch, std::nullopt, as_client_error(std::current_exception()));
    }
}

void start(CurlClientState& client, const std::shared_ptr<CurlFetch>& fetch) {
    if (fetch->queue_timer) client.loop->remove_timeout(*std::exchange(fetch->queue_timer, {}));
    fetch->started = IOLoop::time();
    fetch->wall_started = std::chrono::system_clock::now();
    fetch->hop = fetch->request;
    client.active.push_back(fetch);
    begin_hop(client, *fetch);
}

// The next hop of a redirect (detail::redirected: Tornado's rules), on a
// new easy handle; libcurl's connection cache keeps the connection if the
// hop goes to the same server. The slot and the deadline stay the fetch's.
void follow_redirect(CurlFetch& fetch) {
    std::shared_ptr<CurlClientState> client = fetch.client.lock();
    if (!client) return;
    curl_multi_remove_handle(client->multi, fetch.easy);
    curl_easy_cleanup(std::exchange(fetch.easy, nullptr));
    curl_slist_free_all(std::exchange(fetch.header_list, nullptr));
    curl_slist_free_all(std::exchange(fetch.connect_to, nullptr));
    fetch.hop =
        redirected(fetch.hop, fetch.response.code, fetch.response.headers.get_first("Location"));
    ++fetch.redirects;
    fetch.response = {};
    fetch.error_text[0] = '\0';
    begin_hop(*client, fetch);
}

void start_next(CurlClientState& client) {
    while (!client.closed && client.active.size() < slots(client) && !client.queue.empty()) {
        std::shared_ptr<CurlFetch> next = std::move(client.queue.front());
        client.queue.pop_front();
        start(client, next);
    }
}

// Any exception as an HTTPClientError: a request that breaks the rules
// (std::invalid_argument) or an option libcurl refused is a 599.
std::exception_ptr as_client_error(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const HTTPClientError&) {
        return error;
    } catch (const std::exception& other) {
        return std::make_exception_ptr(HTTPClientError(599, other.what(), nullptr, error));
    }
}

}  // namespace

// The loop lets go of libcurl's sockets before libcurl closes them (a
// closed descriptor still registered would meet its number's next owner),
// and libcurl is told not to call back into a state being destroyed.
CurlClientState::~CurlClientState() {
    if (timer) loop->remove_timeout(*timer);
    for (const auto& [socket, events] : watched) loop->remove_handler(socket);
    watched.clear();
    if (multi == nullptr) return;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, nullptr);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, nullptr);
    curl_multi_cleanup(multi);
}

}  // namespace detail

using detail::CurlClientState;
using detail::CurlFetch;

CurlAsyncHTTPClient::CurlAsyncHTTPClient(AsyncHTTPClientOptions options) {
    detail::init_libcurl_once();
    state_ = std::make_shared<CurlClientState>(IOLoop::current(), std::move(options));
    state_->multi = curl_multi_init();
    if (state_->multi == nullptr) throw std::runtime_error("libcurl: curl_multi_init failed");
    CURLM* multi = state_->multi;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, detail::watch_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, static_cast<void*>(state_.get()));
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, detail::set_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, static_cast<void*>(state_.get()));
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

CurlAsyncHTTPClient::~CurlAsyncHTTPClient() { close(); }

Future<HTTPResponse> CurlAsyncHTTPClient::fetch(std::string url, bool raise_error) {
    HTTPRequest request;
    request.url = std::move(url);
    return fetch(std::move(request), raise_error);
}

Future<HTTPResponse> CurlAsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
    if (state_->closed) throw std::runtime_error("fetch() called on closed CurlAsyncHTTPClient");
    detail::apply_defaults(request, state_->options.defaults);
    auto fetch = std::make_shared<CurlFetch>();
    fetch->request = std::move(request);
    fetch->raise_error = raise_error;
    fetch->client = state_;
    fetch->loop = state_->loop;
    fetch->queued = IOLoop::time();
    // Whoever gives up on the Future frees the transfer, from the loop
    // (not from inside a libcurl callback that may have cancelled it).
    fetch->result.add_done_callback(
        [weak = std::weak_ptr<CurlFetch>(fetch)](Future<HTTPResponse> done) {
            if (!done.cancelled()) return;
            if (std::shared_ptr<CurlFetch> abandoned = weak.lock()) {
                abandoned->loop->add_callback(
                    [abandoned] { detail::settle(*abandoned, std::nullopt, nullptr); });
            }
        });
    try {
        detail::validate_request(fetch->request, /*digest_allowed=*/true);
        if (fetch->request.body_producer) {
            throw std::invalid_argument("body_producer is not supported by CurlAsyncHTTPClient");
        }
    } catch (...) {
        detail::settle(*fetch, std::nullopt, detail::as_client_error(std::current_exception()));
        return fetch->result;
    }
    if (state_->active.size() < detail::slots(*state_)) {
        detail::start(*state_, fetch);
        return fetch->result;
    }
    if (std::optional<IOLoop::Clock::duration> wait = detail::queue_wait(fetch->request)) {
        fetch->queue_timer = state_->loop->call_later(*wait, [weak =
                                                                  std::weak_ptr<CurlFetch>(fetch)] {
            std::shared_ptr<CurlFetch> waiting = weak.lock();
            if (!waiting) return;
            waiting->queue_timer.reset();
            detail::settle(*waiting, std::nullopt,
                           std::make_exception_ptr(HTTPTimeoutError("Timeout in request queue")));
        });
    }
    state_->queue.push_back(std::move(fetch));
    return state_->queue.back()->result;
}

void CurlAsyncHTTPClient::close() {
    if (!state_ || state_->closed) return;
    state_->closed = true;
    std::vector<std::shared_ptr<CurlFetch>> all(state_->queue.begin(), state_->queue.end());
    all.insert(all.end(), state_->active.begin(), state_->active.end());
    for (const auto& fetch : all) {
        detail::settle(*fetch, std::nullopt,
                       std::make_exception_ptr(HTTPClientError(599, "Client closed")));
    }
}

std::size_t CurlAsyncHTTPClient::active_count() const noexcept { return state_->active.size(); }
std::size_t CurlAsyncHTTPClient::queued_count() const noexcept { return state_->queue.size(); }

std::string CurlAsyncHTTPClient::libcurl_version() {
    return curl_version_info(CURLVERSION_NOW)->version;
}

bool CurlAsyncHTTPClient::has_http2() {
    return (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2) != 0;
}

}  // namespace tornado
