// client_bench: one of the two HTTP clients fetching one URL over and
// over, `concurrency` fetches in flight, for `seconds`; for
// tests/bench/client_bench.py (make bench-client).
//
//   client_bench --client=simple|curl --url=URL [--concurrency=1] [--seconds=5]
//                [--ca_certs=PEM]
//
// Prints one line: "fetches=N errors=E seconds=S cpu=C", C the process's
// user + system CPU seconds over the run (the loop, the client, and for
// curl libcurl's resolver threads).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tornado/curl_httpclient.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"

namespace {

auto& client_name = tornado::define("client", std::string("simple"), "simple or curl");
auto& url = tornado::define("url", std::string(), "what every fetch asks for");
auto& concurrency = tornado::define("concurrency", 1, "fetches in flight at once");
auto& seconds = tornado::define("seconds", 5.0, "how long to fetch");
auto& ca_certs = tornado::define("ca_certs", std::string(), "PEM file of CAs to trust");

struct Tally {
    long fetches = 0;
    long errors = 0;
};

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds_of = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

// One of the `concurrency` workers: fetch, count, again, until the end.
template <typename Client>
tornado::Task<void> keep_fetching(Client* client, Tally* tally,
                                  tornado::IOLoop::Clock::time_point end) {
    while (tornado::IOLoop::time() < end) {
        tornado::HTTPRequest request;
        request.url = *url;
        request.ca_certs = *ca_certs;
        tornado::HTTPResponse response = co_await client->fetch(request, /*raise_error=*/false);
        ++tally->fetches;
        if (response.code != 200) ++tally->errors;
    }
}

template <typename Client>
tornado::Task<Tally> run() {
    tornado::AsyncHTTPClientOptions options;
    options.max_clients = static_cast<std::size_t>(*concurrency);
    Client client(options);
    Tally tally;
    auto end = tornado::IOLoop::time() + std::chrono::duration_cast<tornado::IOLoop::Clock::duration>(
                                               std::chrono::duration<double>(*seconds));
    std::vector<tornado::Task<void>> workers;
    for (int i = 0; i < *concurrency; ++i) workers.push_back(keep_fetching(&client, &tally, end));
    co_await tornado::multi(std::move(workers));
    client.close();
    co_return tally;
}

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (url->empty() || *concurrency < 1 || (*client_name != "simple" && *client_name != "curl")) {
        std::fprintf(stderr, "usage: client_bench --client=simple|curl --url=URL [--concurrency=N]\n");
        return 2;
    }
    tornado::IOLoop loop;
    double cpu_before = cpu_seconds();
    auto started = std::chrono::steady_clock::now();
    Tally tally = *client_name == "curl"
                      ? loop.run_sync([] { return run<tornado::CurlAsyncHTTPClient>(); }, std::nullopt)
                      : loop.run_sync([] { return run<tornado::AsyncHTTPClient>(); }, std::nullopt);
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("fetches=%ld errors=%ld seconds=%.3f cpu=%.3f\n", tally.fetches, tally.errors, elapsed,
                cpu_seconds() - cpu_before);
    return 0;
}
