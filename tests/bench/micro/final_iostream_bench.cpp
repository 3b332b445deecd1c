// final_iostream_bench.cpp: what the framework's IOStream costs on its hot
// paths.
//
//   BM_FinalIOStreamReadUntilBuffered   read_until("\r\n") answered from bytes
//                                       already buffered: no system call, a
//                                       done Future and a 20-byte string
//   BM_FinalIOStreamReadBytesBuffered   the same for read_bytes(20)
//   BM_FinalIOStreamWriteSmall          write() of 40 bytes that the kernel
//                                       takes at once (one send(), a done
//                                       Future); a peer thread drains them
//   BM_FinalIOStreamRoundTrip           two streams on a socketpair, one
//                                       coroutine: write "ping\n" on one,
//                                       read_until on the other, write it
//                                       back, read it: two sends, two recvs,
//                                       and the loop turns that wake the
//                                       reader each time
//   BM_FinalIOStreamRoundTripTCP        the same over TCP on 127.0.0.1
//   BM_RawSocketPairRoundTrip           the floor: the same four system
//                                       calls, blocking, with no loop at all
//
// The difference between the last three is the price of the loop, the
// Futures and the coroutine around the system calls.
#if __has_include("tornado/iostream.h")

#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"

namespace {

using tornado::FileDescriptor;
using tornado::Future;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::Task;

struct Pair {
    FileDescriptor left;
    FileDescriptor right;
};

Pair socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) tornado::throw_errno("socketpair");
    return {FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

Pair tcp_pair() {
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    auto address = tornado::SocketAddress::local_of(listeners[0].get());
    Pair pair;
    pair.right.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(pair.right.get(), address.data(), address.size()) < 0) tornado::throw_errno("connect");
    while (!pair.left) pair.left.reset(::accept(listeners[0].get(), nullptr, nullptr));
    return pair;
}

// About 60 KB of 20-byte lines, sent from the peer's end.
void send_lines(int fd) {
    static const std::string block = [] {
        std::string lines;
        while (lines.size() < 60000) lines += "GET /path HTTP/1.1\r\n";
        return lines;
    }();
    std::string_view rest = block;
    while (!rest.empty()) {
        ssize_t n = ::send(fd, rest.data(), rest.size(), 0);
        if (n <= 0) tornado::throw_errno("send");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

template <typename Read>
void read_buffered(benchmark::State& state, Read read) {
    IOLoop loop;
    Pair pair = socket_pair();
    auto stream = IOStream::create(std::move(pair.left));
    for (auto _ : state) {
        Future<std::string> line = read(*stream);
        if (!line.done()) {
            // The buffer ran dry: refill it (not timed).
            state.PauseTiming();
            send_lines(pair.right.get());
            loop.run_sync([&] { return line; });
            state.ResumeTiming();
        }
        benchmark::DoNotOptimize(line.result().data());
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_FinalIOStreamReadUntilBuffered(benchmark::State& state) {
    read_buffered(state, [](IOStream& stream) { return stream.read_until("\r\n"); });
}
BENCHMARK(BM_FinalIOStreamReadUntilBuffered);

void BM_FinalIOStreamReadBytesBuffered(benchmark::State& state) {
    read_buffered(state, [](IOStream& stream) { return stream.read_bytes(20); });
}
BENCHMARK(BM_FinalIOStreamReadBytesBuffered);

void BM_FinalIOStreamWriteSmall(benchmark::State& state) {
    IOLoop loop;
    Pair pair = socket_pair();
    auto stream = IOStream::create(std::move(pair.left));
    std::atomic<bool> done{false};
    std::thread drain([&, fd = pair.right.get()] {
        char sink[65536];
        while (::recv(fd, sink, sizeof sink, 0) > 0) {
        }
        done = true;
    });
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok\r\n";
    std::int64_t waited = 0;
    for (auto _ : state) {
        Future<void> sent = stream->write(response);
        if (!sent.done()) {  // the drain thread fell behind
            loop.run_sync([&] { return sent; });
            ++waited;
        }
    }
    stream->close();
    ::shutdown(pair.right.get(), SHUT_RDWR);
    drain.join();
    state.counters["waited"] = static_cast<double>(waited);
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(response.size()));
}
BENCHMARK(BM_FinalIOStreamWriteSmall)->UseRealTime();

void round_trips(benchmark::State& state, Pair pair) {
    IOLoop loop;
    auto a = IOStream::create(std::move(pair.left));
    auto b = IOStream::create(std::move(pair.right));
    loop.run_sync([&]() -> Task<void> {
        for (auto _ : state) {
            co_await a->write("ping\n");
            std::string got = co_await b->read_until("\n");
            co_await b->write(std::move(got));
            benchmark::DoNotOptimize((co_await a->read_until("\n")).data());
        }
    });
    state.SetItemsProcessed(state.iterations());
}

void BM_FinalIOStreamRoundTrip(benchmark::State& state) {
    round_trips(state, socket_pair());
}
BENCHMARK(BM_FinalIOStreamRoundTrip);

void BM_FinalIOStreamRoundTripTCP(benchmark::State& state) {
    round_trips(state, tcp_pair());
}
BENCHMARK(BM_FinalIOStreamRoundTripTCP);

void BM_RawSocketPairRoundTrip(benchmark::State& state) {
    Pair pair = socket_pair();
    char buffer[64];
    for (auto _ : state) {
        if (::send(pair.left.get(), "ping\n", 5, 0) != 5) state.SkipWithError("send");
        ssize_t n = ::recv(pair.right.get(), buffer, sizeof buffer, 0);
        if (::send(pair.right.get(), buffer, static_cast<std::size_t>(n), 0) != n) state.SkipWithError("send");
        benchmark::DoNotOptimize(::recv(pair.left.get(), buffer, sizeof buffer, 0));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSocketPairRoundTrip);

}  // namespace

#endif
