// postgres_bench.cpp: tornado::postgres under the load of
// tests/bench/postgres_floor.c, for `make bench-postgres`.
//
//   postgres_bench DSN IN_FLIGHT SECONDS [MAX_PIPELINE]
//
// IN_FLIGHT coroutines on one loop share a pool of one connection; each
// runs "SELECT id, randomnumber FROM world WHERE id = $1" with a random id
// from 1 to 10,000, reads the row, and starts again, for SECONDS.
// MAX_PIPELINE (default: IN_FLIGHT) is the pool's max_pipeline: 1 sends
// one query at a time, the others waiting in the pool's queue. Prints
// "queries N seconds S checksum C", as the floor does.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/postgres.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
    long queries = 0;
    long checksum = 0;
};

tornado::Task<void> client(std::shared_ptr<tornado::postgres::Pool> pool, Clock::time_point end,
                           unsigned seed, Totals* totals) {
    std::minstd_rand random(seed);
    while (Clock::now() < end) {
        int id = 1 + static_cast<int>(random() % 10000);
        tornado::postgres::Result result =
            co_await pool->query("SELECT id, randomnumber FROM world WHERE id = $1", id);
        totals->checksum += result[0].get<int>(0) + result[0].get<int>(1);
        ++totals->queries;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: postgres_bench DSN IN_FLIGHT SECONDS [MAX_PIPELINE]\n");
        return 2;
    }
    int in_flight = std::atoi(argv[2]);
    double seconds = std::atof(argv[3]);
    tornado::postgres::PoolOptions options;
    options.dsn = argv[1];
    options.max_connections = 1;
    options.max_pipeline = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : in_flight;
    options.max_waiters = static_cast<std::size_t>(in_flight) + 1;
    tornado::IOLoop loop;
    Totals totals;
    double elapsed = loop.run_sync([&]() -> tornado::Task<double> {
        auto pool = co_await tornado::postgres::Pool::connect(options);
        auto start = Clock::now();
        auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
        std::vector<tornado::Task<void>> clients;
        for (int i = 0; i < in_flight; ++i) clients.push_back(client(pool, end, i + 1, &totals));
        co_await tornado::multi(std::move(clients));
        co_return std::chrono::duration<double>(Clock::now() - start).count();
    });
    std::printf("queries %ld seconds %.6f checksum %ld\n", totals.queries, elapsed, totals.checksum);
    return 0;
}
