// fanout_load: the client of the broadcast fan-out benchmark
// (tests/bench/fanout_bench.py, `make bench-fanout`).
//
//   build/bin/fanout_load --port=8888 --mode=longpoll --clients=10000 --repeats=20
//   build/bin/fanout_load --port=8888 --mode=websocket --clients=10000 --repeats=20
//
// A chat's real cost is not one request but one message delivered to
// everyone waiting for it. This client speaks the demo app's chat
// (final/examples/demo_app/README.md): POST /chat/new, POST /chat/updates (a long poll) and
// WS /chat/ws. One thread, epoll, non-blocking sockets. It opens --clients
// connections (at most --in-flight being opened at once), then repeats:
//
//   longpoll:  every client has a POST /chat/updates waiting, with the
//              cursor of the newest message; one more connection POSTs
//              /chat/new. The clock starts as that request is written, and
//              each client's time is when its whole answer has arrived.
//              Then every client asks again, with the new cursor.
//   websocket: every client is connected to /chat/ws; client 0 sends
//              {"body": ...}; the clock starts then, and each client's time
//              is when the message's frame has arrived (client 0 gets it
//              too).
//
// Before each message it waits until the server is idle (its CPU time, read
// from /proc/--server-pid/stat, stops growing): every waiter has then been
// parked, and the message finds them all waiting.
//
// Output, one line per repeat and a summary:
//   REPEAT n=1 received=10000 last_ms=12.3 median_ms=6.1 server_busy_ms=12.0
//   SUMMARY mode=longpoll clients=10000 repeats=20 failed=0 last_p50_ms=... last_p99_ms=...
//           server_busy_p50_pct=...
// server_busy_ms: how long the server ran on a CPU between the message and
// its last delivery (/proc/--server-pid/task/*/schedstat, in nanoseconds);
// its share of last_ms says whether the server's core was the bound (near
// 100%) or something else (this client, say) kept it waiting. Without
// --server-pid it is 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "load_tools.h"
#include "option_value.h"

namespace {

using namespace load_tools;

struct Options {
    int port = 0;
    std::string mode = "longpoll";
    int clients = 10000;
    int repeats = 20;
    int in_flight = 200;
    int server_pid = 0;
    double timeout_seconds = 30.0;  // for each step
};

[[noreturn]] void usage(const char* program) {
    std::fprintf(stderr,
                 "usage: %s --port=P [--mode=longpoll|websocket] [--clients=N] [--repeats=R]\n"
                 "          [--in-flight=K] [--server-pid=PID] [--timeout=SECONDS]\n",
                 program);
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string value;
        std::string_view argument = argv[i];
        if (bench::option_value(argument, "port", value)) {
            options.port = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "mode", value)) {
            options.mode = value;
        } else if (bench::option_value(argument, "clients", value)) {
            options.clients = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "repeats", value)) {
            options.repeats = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "in-flight", value)) {
            options.in_flight = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "server-pid", value)) {
            options.server_pid = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "timeout", value)) {
            options.timeout_seconds = std::atof(value.c_str());
        } else {
            usage(argv[0]);
        }
    }
    if (options.port <= 0 || options.clients <= 0 || options.repeats <= 0 ||
        options.in_flight <= 0 || (options.mode != "longpoll" && options.mode != "websocket")) {
        usage(argv[0]);
    }
    return options;
}

// utime + stime of the server, in clock ticks (proc(5): fields 14 and 15).
long server_ticks(int pid) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    std::size_t end_of_name = text.rfind(')');
    if (end_of_name == std::string::npos) return -1;
    std::istringstream fields(text.substr(end_of_name + 2));
    std::string field;
    long utime = 0;
    long stime = 0;
    for (int index = 3; fields >> field; ++index) {
        if (index == 14) utime = std::atol(field.c_str());
        if (index == 15) {
            stime = std::atol(field.c_str());
            break;
        }
    }
    return utime + stime;
}

// How long the server's threads have run on a CPU, in nanoseconds (the first
// field of each thread's schedstat), or -1 without a --server-pid.
long long server_run_ns(int pid) {
    if (pid <= 0) return -1;
    long long total = 0;
    std::error_code error;
    std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
        std::ifstream file(task.path() / "schedstat");
        long long run_ns = 0;
        if (file >> run_ns) total += run_ns;
    }
    return total;
}

// Until the server's CPU time stays put for 200 ms (at most `limit`).
void wait_until_server_idle(int pid, double limit) {
    if (pid <= 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        return;
    }
    Clock::time_point start = Clock::now();
    long before = server_ticks(pid);
    while (seconds_since(start) < limit) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        long now = server_ticks(pid);
        if (now == before) return;
        before = now;
    }
}

// The string value of "id" in a JSON text (the newest message's, in a chat
// answer: the last one).
std::string last_id(std::string_view json) {
    std::string id;
    for (std::size_t at = json.find("\"id\""); at != std::string_view::npos;
         at = json.find("\"id\"", at + 4)) {
        std::size_t open = json.find('"', json.find(':', at + 4));
        std::size_t close = json.find('"', open + 1);
        if (open == std::string_view::npos || close == std::string_view::npos) break;
        id = std::string(json.substr(open + 1, close - open - 1));
    }
    return id;
}

// The size of the whole HTTP response at the start of `data`, or 0 while it
// has not all arrived (a head and a Content-Length body).
std::size_t response_size(std::string_view data) {
    std::size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return 0;
    std::string_view length = header_value(data.substr(0, head_end + 2), "Content-Length");
    std::size_t total = head_end + 4 + static_cast<std::size_t>(std::atol(std::string(length).c_str()));
    return data.size() >= total ? total : 0;
}

std::string form_post(std::string_view path, std::string_view body) {
    return "POST " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

struct Client {
    int fd = -1;
    bool connected = false;
    bool open = false;           // websocket: handshake done
    std::string accept;          // websocket: the Sec-WebSocket-Accept we expect
    std::string in;
    std::string out;
    bool arrived = false;        // this repeat's message is in
    Clock::time_point arrived_at;
    std::string body;            // longpoll: the last answer's body
};

class FanOut {
public:
    explicit FanOut(const Options& options) : options_(options), clients_(options.clients + 1) {
        epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0) {
            std::perror("epoll_create1");
            std::exit(1);
        }
    }

    int run() {
        if (!open_all()) return 1;
        bool websocket = options_.mode == "websocket";
        Client& trigger = clients_[static_cast<std::size_t>(options_.clients)];
        std::string cursor;
        if (!websocket) {
            // The cursor of a first message, so that the waiters have one.
            cursor = post_message(trigger, "start");
            if (cursor.empty()) return fail("the first POST /chat/new had no id");
        }
        std::vector<double> lasts;
        std::vector<double> busy_percents;  // server_busy_ms ÷ last_ms
        int failed = 0;
        for (int repeat = 1; repeat <= options_.repeats && !stop_requested; ++repeat) {
            for (int i = 0; i < options_.clients; ++i) {
                Client& client = clients_[static_cast<std::size_t>(i)];
                client.arrived = false;
                if (!websocket) send(client, form_post("/chat/updates", "cursor=" + cursor));
            }
            // Written before the wait: the waiters' requests must all be
            // parked in the server when the message comes.
            pump_until([&] { return all_written(); });
            wait_until_server_idle(options_.server_pid, options_.timeout_seconds);
            long long run_before = server_run_ns(options_.server_pid);
            Clock::time_point start = Clock::now();
            std::string text = "fanout " + std::to_string(repeat);
            if (websocket) {
                std::string frame;
                append_masked_frame(frame, kOpText, "{\"body\": \"" + text + "\"}",
                                    static_cast<std::uint32_t>(random_.next()));
                send(clients_[0], frame);
            } else {
                send(trigger, form_post("/chat/new", "body=" + text));
            }
            bool all = pump_until([&] { return received() == options_.clients; });
            long long run_after = server_run_ns(options_.server_pid);
            double busy_ms = run_before < 0 ? 0 : static_cast<double>(run_after - run_before) / 1e6;
            int got = received();
            std::vector<double> times;
            for (int i = 0; i < options_.clients; ++i) {
                const Client& client = clients_[static_cast<std::size_t>(i)];
                if (client.arrived) {
                    times.push_back(
                        std::chrono::duration<double, std::milli>(client.arrived_at - start).count());
                }
            }
            std::sort(times.begin(), times.end());
            double last = times.empty() ? 0 : times.back();
            double median = times.empty() ? 0 : times[times.size() / 2];
            std::printf("REPEAT n=%d received=%d last_ms=%.2f median_ms=%.2f server_busy_ms=%.2f\n",
                        repeat, got, last, median, busy_ms);
            std::fflush(stdout);
            if (!all) {
                ++failed;
                break;  // the others would wait on the same stragglers
            }
            lasts.push_back(last);
            if (last > 0) busy_percents.push_back(100.0 * busy_ms / last);
            if (!websocket) {
                // The trigger's answer, and the new cursor from it.
                pump_until([&] { return response_size(trigger.in) != 0; });
                std::size_t size = response_size(trigger.in);
                cursor = last_id(std::string_view(trigger.in).substr(0, size));
                trigger.in.erase(0, size);
                if (cursor.empty()) return fail("POST /chat/new answered without an id");
            }
        }
        std::printf("SUMMARY mode=%s clients=%d repeats=%zu failed=%d last_p50_ms=%.2f "
                    "last_p99_ms=%.2f server_busy_p50_pct=%.0f\n",
                    options_.mode.c_str(), options_.clients, lasts.size(), failed,
                    percentile(lasts, 0.5), percentile(lasts, 0.99),
                    percentile(busy_percents, 0.5));
        return failed == 0 ? 0 : 1;
    }

private:
    static double percentile(std::vector<double> values, double fraction) {
        if (values.empty()) return 0.0;
        std::sort(values.begin(), values.end());
        auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size()));
        return values[std::min(index, values.size() - 1)];
    }

    int fail(const char* why) {
        std::fprintf(stderr, "fanout_load: %s\n", why);
        return 1;
    }

    // --- connections ---------------------------------------------------------

    bool open_all() {
        int total = options_.clients + (options_.mode == "longpoll" ? 1 : 0);
        int next = 0;
        Clock::time_point start = Clock::now();
        while (seconds_since(start) < options_.timeout_seconds * 4) {
            while (next < total && connecting_ < options_.in_flight) start_connect(next++);
            if (next == total && connecting_ == 0) break;
            pump_once(100);
        }
        int ready = 0;
        for (int i = 0; i < total; ++i) {
            const Client& client = clients_[static_cast<std::size_t>(i)];
            ready += options_.mode == "websocket" ? client.open : client.connected;
        }
        std::printf("OPEN clients=%d ready=%d seconds=%.2f\n", total, ready, seconds_since(start));
        std::fflush(stdout);
        return ready == total;
    }

    void start_connect(int index) {
        Client& client = clients_[static_cast<std::size_t>(index)];
        client.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (client.fd < 0) {
            std::perror("socket");
            std::exit(1);
        }
        int one = 1;
        ::setsockopt(client.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in server{};
        server.sin_family = AF_INET;
        server.sin_port = htons(static_cast<std::uint16_t>(options_.port));
        ::inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
        ::connect(client.fd, reinterpret_cast<sockaddr*>(&server), sizeof server);
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT | EPOLLET;
        event.data.u32 = static_cast<std::uint32_t>(index);
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, client.fd, &event);
        ++connecting_;
    }

    void on_connected(Client& client) {
        client.connected = true;
        if (options_.mode != "websocket") {
            --connecting_;
            return;
        }
        std::string key = handshake_key(random_);
        client.accept = expected_accept(key);
        send(client, "GET /chat/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                         "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    }

    // --- the loop ------------------------------------------------------------

    template <typename Done>
    bool pump_until(Done done) {
        Clock::time_point start = Clock::now();
        while (!done()) {
            if (stop_requested || seconds_since(start) > options_.timeout_seconds) return false;
            pump_once(10);
        }
        return true;
    }

    void pump_once(int timeout_ms) {
        epoll_event events[1024];
        int count = ::epoll_wait(epoll_, events, 1024, timeout_ms);
        Clock::time_point now = Clock::now();
        for (int i = 0; i < count; ++i) {
            Client& client = clients_[events[i].data.u32];
            if (!client.connected && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int error = 0;
                socklen_t length = sizeof error;
                ::getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &error, &length);
                if (error != 0) {
                    --connecting_;
                    continue;
                }
                on_connected(client);
            }
            if (events[i].events & EPOLLOUT) flush(client);
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(client, now);
        }
    }

    void send(Client& client, std::string_view data) {
        client.out.append(data);
        flush(client);
    }

    void flush(Client& client) {
        while (!client.out.empty()) {
            ssize_t n = ::send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL);
            if (n <= 0) return;  // EAGAIN: the EPOLLOUT edge brings us back
            client.out.erase(0, static_cast<std::size_t>(n));
        }
    }

    bool all_written() const {
        return std::all_of(clients_.begin(), clients_.end(),
                           [](const Client& client) { return client.out.empty(); });
    }

    int received() const {
        return static_cast<int>(std::count_if(clients_.begin(), clients_.begin() + options_.clients,
                                              [](const Client& client) { return client.arrived; }));
    }

    void receive(Client& client, Clock::time_point now) {
        char buffer[16384];
        for (;;) {
            ssize_t n = ::recv(client.fd, buffer, sizeof buffer, 0);
            if (n <= 0) break;
            client.in.append(buffer, static_cast<std::size_t>(n));
        }
        if (options_.mode == "websocket") {
            take_frames(client, now);
        } else if (&client != &clients_.back()) {
            std::size_t size = response_size(client.in);
            if (size == 0) return;
            client.arrived = true;
            client.arrived_at = now;
            client.in.erase(0, size);
        }
    }

    void take_frames(Client& client, Clock::time_point now) {
        if (!client.open) {
            std::size_t head_end = client.in.find("\r\n\r\n");
            if (head_end == std::string::npos) return;
            std::string_view head = std::string_view(client.in).substr(0, head_end + 2);
            if (head.starts_with("HTTP/1.1 101") && header_value(head, "Sec-WebSocket-Accept") ==
                                                         client.accept) {
                client.open = true;
            }
            --connecting_;
            client.in.erase(0, head_end + 4);
        }
        Frame frame;
        while (parse_frame(client.in, frame)) {
            if (frame.opcode == kOpText && !client.arrived) {
                client.arrived = true;
                client.arrived_at = now;
            }
            client.in.erase(0, frame.total_size);
        }
    }

    // POSTs /chat/new and waits for its answer: the new message's id.
    std::string post_message(Client& trigger, std::string_view text) {
        send(trigger, form_post("/chat/new", "body=" + std::string(text)));
        pump_until([&] { return response_size(trigger.in) != 0; });
        std::size_t size = response_size(trigger.in);
        std::string id = last_id(std::string_view(trigger.in).substr(0, size));
        trigger.in.erase(0, size);
        return id;
    }

    Options options_;
    std::vector<Client> clients_;  // the waiters, then the longpoll trigger
    int epoll_ = -1;
    int connecting_ = 0;
    FastRandom random_;
};

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    raise_descriptor_limit(static_cast<rlim_t>(options.clients) + 100);
    install_signal_handlers();
    return FanOut(options).run();
}
