// fuzz_hpack.cpp: a libFuzzer target for final/http2's own HPACK decoder
// (final/http2/src/hpack.h), which reads what a peer sends.
//
//   make fuzz FUZZ_TARGETS=fuzz_hpack FUZZ_SECONDS=60            (clang, libFuzzer)
//   build/bin/fuzz_hpack_replay tests/final/fuzz_corpus/hpack      (any compiler)
//
// The input is one connection: its first byte chooses our
// SETTINGS_HEADER_TABLE_SIZE (that byte times 32), the rest is its header
// blocks, each a length byte and then that many bytes. Besides crashes
// (ASan, UBSan), it checks what the decoder promises: a block decodes or
// throws HPACKError, nothing else, and after an HPACKError the connection
// is over; the table never holds more than the size allowed. Each block
// that decodes is coded again by our encoder and read by a second
// decoder, which must find the same fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hpack.h"

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

void check(bool condition) {
    if (!condition) std::abort();
}

Fields decode(tornado::detail::HPACKDecoder& decoder, std::string_view block) {
    Fields fields;
    decoder.decode(block, [&](std::string_view name, std::string_view value) {
        fields.emplace_back(name, value);
    });
    return fields;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size == 0) return 0;
    std::size_t max_table = std::size_t{bytes[0]} * 32;
    std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
    tornado::detail::HPACKDecoder decoder(max_table);
    tornado::detail::HPACKEncoder encoder;
    tornado::detail::HPACKDecoder second;
    while (!rest.empty()) {
        std::size_t length =
            std::min<std::size_t>(static_cast<std::uint8_t>(rest[0]), rest.size() - 1);
        std::string_view block = rest.substr(1, length);
        rest.remove_prefix(1 + length);
        Fields fields;
        try {
            fields = decode(decoder, block);
        } catch (const tornado::detail::HPACKError&) {
            return 0;  // COMPRESSION_ERROR: the connection ends here
        }
        check(decoder.table().size() <= decoder.table().max_size());
        check(decoder.table().max_size() <= max_table);
        std::vector<tornado::detail::HPACKField> views;
        for (const auto& [name, value] : fields) views.push_back({name, value});
        std::string again;
        encoder.encode(views, again);
        check(decode(second, again) == fields);
    }
    return 0;
}
