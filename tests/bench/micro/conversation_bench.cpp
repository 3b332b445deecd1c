// conversation_bench.cpp: what Conversation::receive costs per request.
//
// Every server in chapters 01-03 hands each chunk it reads to
// Conversation::receive, so this is the protocol work a server does per
// request, with no I/O at all. Compare it with the req/s of `make bench`:
// if the servers manage far fewer requests than this allows, their time goes
// to system calls and waiting, not to parsing.
#include <benchmark/benchmark.h>

#include <string>

#include "conversation.h"

namespace {

// The request wrk sends for http://127.0.0.1:PORT/.
const std::string kHelloRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n";

std::string repeated(const std::string& text, int times) {
    std::string all;
    for (int i = 0; i < times; ++i) all += text;
    return all;
}

// One keep-alive connection answering one request per read.
void BM_ConversationOneRequest(benchmark::State& state) {
    course::Conversation conversation;
    for (auto _ : state) {
        std::string reply = conversation.receive(kHelloRequest);
        benchmark::DoNotOptimize(reply);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kHelloRequest.size()));
}
BENCHMARK(BM_ConversationOneRequest);

// Sixteen pipelined requests arriving in one read: one call answers them all,
// so the per-call overhead is shared (items/s counts requests, not calls).
void BM_ConversationSixteenPipelined(benchmark::State& state) {
    constexpr int kPipelined = 16;
    const std::string batch = repeated(kHelloRequest, kPipelined);
    course::Conversation conversation;
    for (auto _ : state) {
        std::string reply = conversation.receive(batch);
        benchmark::DoNotOptimize(reply);
    }
    state.SetItemsProcessed(state.iterations() * kPipelined);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
}
BENCHMARK(BM_ConversationSixteenPipelined);

}  // namespace
