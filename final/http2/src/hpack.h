// hpack.h (final/http2/src, not installed): HPACK, HTTP/2's header
// compression (RFC 7541), of our own: the session (http2session.h) codes
// and reads every header block with it. Unlike libnghttp2's coder, which
// never adds an `etag` to the table, its encoder indexes what repeats
// (tests/bench/README.md, "A static file's own work"). The tests check it
// against libnghttp2's coder both ways.
//
// A header block is a list of representations, one field each; the first
// bits of a representation's first byte say which (section 6):
//
//   1xxxxxxx  indexed: the field is entry x of the table
//   01xxxxxx  a literal that joins the table (x: the name's index, or 0
//             and the name as a string), then the value as a string
//   0000xxxx  a literal that does not join it
//   0001xxxx  a literal that no intermediary may add to a table either
//   001xxxxx  a new size for the dynamic table (only at a block's start)
//
// x is an integer with an N-bit prefix (section 5.1): if it fits under
// 2^N - 1 it is in the first byte; otherwise the first byte holds 2^N - 1
// and the rest follows 7 bits a byte, lowest first. A string is a length
// of that kind with a 7-bit prefix, whose top bit says whether the bytes
// are Huffman-coded (section 5.2).
//
// The table is the 61 fields of the static table (Appendix A), then the
// dynamic table, newest first (index 62 is the last field added). Both
// ends keep the same dynamic table: every block must be decoded, in the
// order it was sent, or the next one means something else. A decoding
// error therefore ends the connection (COMPRESSION_ERROR), never a stream.
//
//   HPACKEncoder encoder;                       // one per connection and direction
//   std::string block;
//   encoder.encode({{":status", "200"}, {"etag", tag}}, block);
//   HPACKDecoder decoder;
//   decoder.decode(block, [](std::string_view name, std::string_view value) { ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/util.h"

namespace tornado::detail {

// A block that is not valid HPACK (the peer's mistake): the connection's
// end, with COMPRESSION_ERROR.
class HPACKError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct HPACKField {
    std::string_view name;  // lower case: HTTP/2 wants no capital in a name
    std::string_view value;
};

// The table every field of a block may point into: the static table, then
// the dynamic one, newest first. An entry's size is its name's and
// value's bytes plus 32 (section 4.1); adding one evicts the oldest until
// the total fits max_size. An entry larger than max_size empties the table.
class HPACKTable {
public:
    static constexpr std::size_t kStaticEntries = 61;
    static constexpr std::size_t kEntryOverhead = 32;
    // SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 section 6.5.2).
    static constexpr std::size_t kDefaultMaxSize = 4096;

    explicit HPACKTable(std::size_t max_size = kDefaultMaxSize) : max_size_(max_size) {}

    // Entry `index`, 1-based over both tables; the caller has checked it
    // with has_index.
    HPACKField at(std::size_t index) const;
    bool has_index(std::size_t index) const noexcept {
        return index >= 1 && index <= kStaticEntries + entries_.size();
    }
    void add(std::string_view name, std::string_view value);
    void set_max_size(std::size_t max_size);
    std::size_t size() const noexcept { return size_; }
    std::size_t max_size() const noexcept { return max_size_; }
    std::size_t dynamic_count() const noexcept { return entries_.size(); }

    // Where a field is: `index` 0 when nowhere, else an entry with its
    // name, and `whole` when the value is the same too. A whole match
    // wins; among name matches, the static table's (it never moves).
    struct Match {
        std::size_t index = 0;
        bool whole = false;
    };
    Match find(std::string_view name, std::string_view value) const;

private:
    struct Entry {
        std::string name;
        std::string value;
    };
    void evict_down_to(std::size_t max_size);

    std::deque<Entry> entries_;  // newest at the front
    std::size_t size_ = 0;
    std::size_t max_size_;
};

class HPACKEncoder {
public:
    // Appends the block that codes `fields`, in order, to `out`.
    void encode(std::span<const HPACKField> fields, std::string& out);
    void encode(std::initializer_list<HPACKField> fields, std::string& out) {
        encode(std::span<const HPACKField>(fields.begin(), fields.size()), out);
    }
    // The peer's SETTINGS_HEADER_TABLE_SIZE: the most its decoder keeps.
    // Our table takes that size (never more than the default 4 KiB) now;
    // the next block begins by saying so (section 4.2: the smallest size
    // since the last block, then the new one).
    void set_max_table_size(std::size_t max_size);
    const HPACKTable& table() const noexcept { return table_; }

private:
    // The last block, when coding it added nothing to the table and said
    // no size, and the fields it codes. Coding is a function of the fields
    // and the table alone, and only a block or a size changes the table, so
    // the same fields next time code to the same bytes. A server's answers
    // mostly repeat their headers (the Etag and the date are entries by
    // then), and each field's search of the table costs about 280
    // instructions.
    struct LastBlock {
        bool valid = false;
        std::vector<std::uint32_t> sizes;  // each field's name's, then value's
        std::string bytes;                 // each field's name, then value
        std::string block;

        bool codes(std::span<const HPACKField> fields) const noexcept;
        void remember(std::span<const HPACKField> fields, std::string_view coded);
    };

    // Whether the field joined the table.
    bool encode_field(const HPACKField& field, std::string& out);

    HPACKTable table_;
    LastBlock last_;
    // A size change the decoder has not heard of yet: the smallest since
    // the last block (it must hear of that one: it evicts) and the last.
    bool size_update_due_ = false;
    std::size_t smallest_size_since_block_ = 0;
};

class HPACKDecoder {
public:
    // Room inline for a callback that captures eight references (the
    // session's does): a std::function would put it on the heap, once a
    // block, so once a request.
    using OnField =
        Function<void(std::string_view name, std::string_view value), 8 * sizeof(void*)>;

    // max_table_size: our SETTINGS_HEADER_TABLE_SIZE, the largest table
    // the peer's encoder may ask us to keep.
    explicit HPACKDecoder(std::size_t max_table_size = HPACKTable::kDefaultMaxSize)
        : table_(max_table_size), max_table_size_(max_table_size) {}

    // Decodes one whole block (a HEADERS frame's fragment and its
    // CONTINUATIONs' together), calling on_field for each field in order;
    // the name and value are valid during the call only. Throws HPACKError
    // when the block is not valid HPACK; the table is then of no more use.
    // The caller bounds the header list (SETTINGS_MAX_HEADER_LIST_SIZE) in
    // on_field: the fields may be many times the block's size, each byte
    // of it naming one large table entry (an HPACK bomb).
    void decode(std::string_view block, OnField on_field);
    const HPACKTable& table() const noexcept { return table_; }

private:
    HPACKTable table_;
    std::size_t max_table_size_;
    std::string name_;  // the current field's strings, when not in the table
    std::string value_;
};

// The Huffman code of section 5.2 (Appendix B), for the tests and the
// encoder: the coded length of `text` in bytes, and its coding appended to
// `out` (the last byte padded with the 1 bits that begin EOS).
std::size_t huffman_length(std::string_view text) noexcept;
void huffman_encode(std::string_view text, std::string& out);
// Appends the decoding of `coded` to `out`. Throws HPACKError for EOS in
// the text, or padding that is longer than 7 bits or not all 1s; `out` is
// then as it was.
void huffman_decode(std::string_view coded, std::string& out);

}  // namespace tornado::detail
