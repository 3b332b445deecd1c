// hpack_bench.cpp: final/http2's own HPACK (final/http2/src/hpack.h)
// against libnghttp2's coder (nghttp2_hd_deflate_*, nghttp2_hd_inflate_*),
// on the same fields. One iteration is one connection: a fresh coder and
// 100 blocks, as h2load's -m100 sends and is answered; the figure per
// block is items_per_second's inverse.
//
//   HpackEncodeStatic   100 answers of demo_app's 16 KiB static file: its
//                       fields as Tornado sets them, with the 130-byte
//                       Etag (Tornado's quoted SHA-512), which libnghttp2
//                       never adds to its table and ours does
//   HpackEncodeHello    100 answers of the hello (a 42-byte SHA-1 Etag)
//   HpackDecodeRequests h2load's 100 `GET /` blocks (libnghttp2's client
//                       deflater made them: the first has the literals,
//                       the others are table indexes), each field handed
//                       to the caller by reference, not copied
//
// Before the first benchmark, a check: each side's blocks must decode to
// the fields on the other side, or the program stops and says which.
//
// Run (from the build folder):
//   bin/micro_benchmarks --benchmark_filter=Hpack --benchmark_repetitions=3
//
// Built only where CMake found libnghttp2, the coder it compares against
// (COURSE_HAVE_NGHTTP2); elsewhere this file is empty.
#include <benchmark/benchmark.h>

#if COURSE_HAVE_NGHTTP2

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http2/src/hpack.h"

namespace {

using tornado::detail::HPACKDecoder;
using tornado::detail::HPACKEncoder;
using tornado::detail::HPACKField;
using Fields = std::vector<HPACKField>;

constexpr int kBlocksPerConnection = 100;

const Fields kStaticAnswer = {
    {":status", "200"},
    {"server", "TornadoServer/6.2"},
    {"content-type", "application/octet-stream"},
    {"date", "Mon, 30 Nov 2026 10:47:31 GMT"},
    {"accept-ranges", "bytes"},
    {"etag",
     "\"2c6a4ab8d0bc2d3b5d1a0e3c4f7e9b8a6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b3a2918070"
     "f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff001122\""},
    {"last-modified", "Sun, 29 Nov 2026 09:00:00 GMT"},
    {"content-length", "16384"},
};

const Fields kHelloAnswer = {
    {":status", "200"},
    {"content-type", "text/html; charset=UTF-8"},
    {"content-length", "12"},
    {"date", "Mon, 30 Nov 2026 10:47:31 GMT"},
    {"server", "TornadoServer/6.2"},
    {"etag", "\"e02aa1b106d5c7c6a98def2b13005d5b84fd8dc8\""},
};

// What h2load 1.52 sends, in its order.
const Fields kRequest = {
    {":path", "/"},
    {":scheme", "http"},
    {":authority", "127.0.0.1:8443"},
    {":method", "GET"},
    {"user-agent", "h2load nghttp2/1.52.0"},
};

[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "hpack_bench: %s\n", why.c_str());
    std::abort();
}

std::vector<nghttp2_nv> nvs_of(const Fields& fields) {
    std::vector<nghttp2_nv> nvs;
    for (const HPACKField& field : fields) {
        nvs.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(field.name.data())),
                       reinterpret_cast<std::uint8_t*>(const_cast<char*>(field.value.data())),
                       field.name.size(), field.value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nvs;
}

// A connection's blocks from libnghttp2's deflater.
std::vector<std::string> nghttp2_blocks(const Fields& fields) {
    nghttp2_hd_deflater* deflater = nullptr;
    if (nghttp2_hd_deflate_new(&deflater, 4096) != 0) fail("nghttp2_hd_deflate_new");
    std::vector<nghttp2_nv> nvs = nvs_of(fields);
    std::vector<std::string> blocks;
    for (int i = 0; i < kBlocksPerConnection; ++i) {
        std::string block(nghttp2_hd_deflate_bound(deflater, nvs.data(), nvs.size()), '\0');
        ssize_t n = nghttp2_hd_deflate_hd(deflater, reinterpret_cast<std::uint8_t*>(block.data()),
                                          block.size(), nvs.data(), nvs.size());
        if (n < 0) fail("nghttp2_hd_deflate_hd");
        block.resize(static_cast<std::size_t>(n));
        blocks.push_back(std::move(block));
    }
    nghttp2_hd_deflate_del(deflater);
    return blocks;
}

std::vector<std::string> our_blocks(const Fields& fields) {
    HPACKEncoder encoder;
    std::vector<std::string> blocks;
    for (int i = 0; i < kBlocksPerConnection; ++i) {
        std::string block;
        encoder.encode(fields, block);
        blocks.push_back(std::move(block));
    }
    return blocks;
}

// Each block, read by libnghttp2's inflater, calling `on_field` per field.
template <typename OnField>
void nghttp2_inflate(nghttp2_hd_inflater* inflater, std::string_view block, OnField on_field) {
    const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    int flags = 0;
    while ((flags & NGHTTP2_HD_INFLATE_FINAL) == 0) {
        nghttp2_nv field;
        flags = 0;
        ssize_t used = nghttp2_hd_inflate_hd2(inflater, &field, &flags, in, left, 1);
        if (used < 0) fail("nghttp2_hd_inflate_hd2");
        in += used;
        left -= static_cast<std::size_t>(used);
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            on_field(std::string_view(reinterpret_cast<char*>(field.name), field.namelen),
                     std::string_view(reinterpret_cast<char*>(field.value), field.valuelen));
        }
    }
    nghttp2_hd_inflate_end_headers(inflater);
}

// Both ways, every block decodes to the fields it coded.
void check(const Fields& fields) {
    auto same = [&](const std::vector<std::pair<std::string, std::string>>& got, const char* who) {
        bool equal = got.size() == fields.size();
        for (std::size_t i = 0; equal && i < got.size(); ++i) {
            equal = got[i].first == fields[i].name && got[i].second == fields[i].value;
        }
        if (!equal) fail(std::string(who) + " decoded other fields");
    };
    nghttp2_hd_inflater* inflater = nullptr;
    if (nghttp2_hd_inflate_new(&inflater) != 0) fail("nghttp2_hd_inflate_new");
    for (const std::string& block : our_blocks(fields)) {
        std::vector<std::pair<std::string, std::string>> got;
        nghttp2_inflate(inflater, block, [&](std::string_view name, std::string_view value) {
            got.emplace_back(name, value);
        });
        same(got, "libnghttp2's inflater, on our blocks,");
    }
    nghttp2_hd_inflate_del(inflater);
    HPACKDecoder decoder;
    for (const std::string& block : nghttp2_blocks(fields)) {
        std::vector<std::pair<std::string, std::string>> got;
        decoder.decode(block, [&](std::string_view name, std::string_view value) {
            got.emplace_back(name, value);
        });
        same(got, "our decoder, on libnghttp2's blocks,");
    }
}

void checked_once() {
    static const bool done = [] {
        check(kStaticAnswer);
        check(kHelloAnswer);
        check(kRequest);
        return true;
    }();
    (void)done;
}

void report(benchmark::State& state, std::size_t bytes_per_connection) {
    state.SetItemsProcessed(state.iterations() * kBlocksPerConnection);
    state.counters["bytes_per_block"] =
        static_cast<double>(bytes_per_connection) / kBlocksPerConnection;
}

void BM_HpackEncode_Nghttp2(benchmark::State& state, const Fields* fields) {
    checked_once();
    std::vector<nghttp2_nv> nvs = nvs_of(*fields);
    std::string block(4096, '\0');
    std::size_t bytes = 0;
    for (auto _ : state) {
        nghttp2_hd_deflater* deflater = nullptr;
        nghttp2_hd_deflate_new(&deflater, 4096);
        bytes = 0;
        for (int i = 0; i < kBlocksPerConnection; ++i) {
            ssize_t n =
                nghttp2_hd_deflate_hd(deflater, reinterpret_cast<std::uint8_t*>(block.data()),
                                      block.size(), nvs.data(), nvs.size());
            benchmark::DoNotOptimize(n);
            bytes += static_cast<std::size_t>(n);
        }
        nghttp2_hd_deflate_del(deflater);
    }
    report(state, bytes);
}

void BM_HpackEncode_Ours(benchmark::State& state, const Fields* fields) {
    checked_once();
    std::string block;
    block.reserve(4096);
    std::size_t bytes = 0;
    for (auto _ : state) {
        HPACKEncoder encoder;
        bytes = 0;
        for (int i = 0; i < kBlocksPerConnection; ++i) {
            block.clear();
            encoder.encode(*fields, block);
            benchmark::DoNotOptimize(block.data());
            bytes += block.size();
        }
    }
    report(state, bytes);
}

BENCHMARK_CAPTURE(BM_HpackEncode_Nghttp2, static_answer, &kStaticAnswer);
BENCHMARK_CAPTURE(BM_HpackEncode_Ours, static_answer, &kStaticAnswer);
BENCHMARK_CAPTURE(BM_HpackEncode_Nghttp2, hello, &kHelloAnswer);
BENCHMARK_CAPTURE(BM_HpackEncode_Ours, hello, &kHelloAnswer);

void BM_HpackDecodeRequests_Nghttp2(benchmark::State& state) {
    checked_once();
    static const std::vector<std::string> blocks = nghttp2_blocks(kRequest);
    std::size_t bytes = 0;
    for (const std::string& block : blocks) bytes += block.size();
    for (auto _ : state) {
        nghttp2_hd_inflater* inflater = nullptr;
        nghttp2_hd_inflate_new(&inflater);
        for (const std::string& block : blocks) {
            nghttp2_inflate(inflater, block, [](std::string_view name, std::string_view value) {
                benchmark::DoNotOptimize(name.data());
                benchmark::DoNotOptimize(value.data());
            });
        }
        nghttp2_hd_inflate_del(inflater);
    }
    report(state, bytes);
}
BENCHMARK(BM_HpackDecodeRequests_Nghttp2);

void BM_HpackDecodeRequests_Ours(benchmark::State& state) {
    checked_once();
    static const std::vector<std::string> blocks = nghttp2_blocks(kRequest);
    std::size_t bytes = 0;
    for (const std::string& block : blocks) bytes += block.size();
    auto on_field = [](std::string_view name, std::string_view value) {
        benchmark::DoNotOptimize(name.data());
        benchmark::DoNotOptimize(value.data());
    };
    for (auto _ : state) {
        HPACKDecoder decoder;
        for (const std::string& block : blocks) decoder.decode(block, on_field);
    }
    report(state, bytes);
}
BENCHMARK(BM_HpackDecodeRequests_Ours);

}  // namespace

#endif  // COURSE_HAVE_NGHTTP2
