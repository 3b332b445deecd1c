// hpack.cpp: HPACK (RFC 7541) of our own; hpack.h says what it codes.
#include "hpack.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>
#include <vector>

namespace tornado::detail {

namespace {

// --- the static table (Appendix A) ----------------------------------------------------------

constexpr std::array<HPACKField, HPACKTable::kStaticEntries> kStaticTable = {{
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
}};

// The static entries of a name, by their 1-based indexes: a name's
// entries are side by side (":status" is 8 to 14).
struct IndexRange {
    std::size_t first = 0;
    std::size_t last = 0;
};

// The static table's 52 names, grouped by length: a name is compared only
// with the few of its own length (hashing every name cost the encoder more
// than its whole table search).
class StaticNames {
public:
    StaticNames() {
        for (std::size_t i = 0; i < kStaticTable.size(); ++i) {
            std::string_view name = kStaticTable[i].name;
            if (!names_.empty() && names_.back().name == name) {
                names_.back().range.last = i + 1;
            } else {
                names_.push_back({name, {i + 1, i + 1}});
            }
        }
        std::stable_sort(names_.begin(), names_.end(), [](const Named& a, const Named& b) {
            return a.name.size() < b.name.size();
        });
        for (std::size_t i = names_.size(); i-- > 0;) {
            Bucket& bucket = by_length_[names_[i].name.size()];
            bucket.begin = static_cast<std::uint8_t>(i);
            if (bucket.end == 0) bucket.end = static_cast<std::uint8_t>(i + 1);
        }
    }

    // Where `name` is in the static table: first 0 when it is not.
    IndexRange find(std::string_view name) const noexcept {
        if (name.size() >= by_length_.size()) return {};
        const Bucket& bucket = by_length_[name.size()];
        for (std::size_t i = bucket.begin; i < bucket.end; ++i) {
            if (names_[i].name == name) return names_[i].range;
        }
        return {};
    }

private:
    struct Named {
        std::string_view name;
        IndexRange range;
    };
    struct Bucket {
        std::uint8_t begin = 0;  // [begin, end) in names_
        std::uint8_t end = 0;
    };
    std::vector<Named> names_;
    std::array<Bucket, 28> by_length_{};  // the longest name has 27 bytes
};

const StaticNames& static_names() {
    static const StaticNames names;
    return names;
}

// --- the Huffman code (Appendix B) ----------------------------------------------------------

struct HuffmanCode {
    std::uint32_t bits;   // the code, in the low `length` bits
    std::uint8_t length;  // 5 to 30
};

constexpr HuffmanCode kHuffman[257] = {
#include "hpack_huffman.inc"
};
constexpr int kEOS = 256;
constexpr int kShortestCode = 5;
constexpr int kLongestCode = 30;

// The code is canonical: sort the symbols by (length, symbol), and each
// code is the one before plus 1, shifted left when the length grows. So
// a decoder needs, per length, the first code of that length, how many
// there are, and where they start in the sorted list: reading a bit at a
// time, the code read so far is a symbol as soon as it falls among its
// length's codes.
//
// Most symbols of paths and values (letters, digits, / . - _ and the
// like) have codes of 8 bits or fewer, so the decoder first looks the
// next 8 bits up in a table of 256: the symbol whose code they start
// with, if its code is that short. Only a longer code is read the
// canonical way, a bit at a time.
constexpr int kTableBits = 8;

struct HuffmanDecoding {
    std::array<std::uint32_t, kLongestCode + 1> first_code{};
    std::array<std::uint32_t, kLongestCode + 1> count{};
    std::array<std::uint16_t, kLongestCode + 1> first_symbol{};  // into `symbols`
    std::array<std::uint16_t, 257> symbols{};
    // By the next 8 bits: a short code's symbol and length (0: the code
    // is longer than 8 bits).
    struct Short {
        std::uint8_t symbol = 0;
        std::uint8_t length = 0;
    };
    std::array<Short, 1 << kTableBits> by_first_byte{};
};

const HuffmanDecoding& huffman_decoding() {
    static const HuffmanDecoding decoding = [] {
        HuffmanDecoding made;
        std::array<std::uint16_t, 257> order{};
        for (std::uint16_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [](std::uint16_t a, std::uint16_t b) {
            return kHuffman[a].length < kHuffman[b].length;
        });
        made.symbols = order;
        for (std::size_t i = order.size(); i-- > 0;) {
            const HuffmanCode& code = kHuffman[order[i]];
            made.first_code[code.length] = code.bits;  // the last one written is the first
            made.first_symbol[code.length] = static_cast<std::uint16_t>(i);
            ++made.count[code.length];
        }
        for (std::uint16_t symbol = 0; symbol < kEOS; ++symbol) {
            const HuffmanCode& code = kHuffman[symbol];
            if (code.length > kTableBits) continue;
            // Every byte that starts with the code: the code, then any bits.
            const int free_bits = kTableBits - code.length;
            for (std::uint32_t rest = 0; rest < (1u << free_bits); ++rest) {
                made.by_first_byte[(code.bits << free_bits) | rest] = {
                    static_cast<std::uint8_t>(symbol), code.length};
            }
        }
        return made;
    }();
    return decoding;
}

// --- integers and strings (section 5) -------------------------------------------------------

// Appends `value` with an N-bit prefix; `flags` are the first byte's bits
// above the prefix (the representation's pattern).
void encode_integer(std::string& out, std::uint8_t flags, int prefix_bits, std::uint64_t value) {
    const std::uint64_t limit = (std::uint64_t{1} << prefix_bits) - 1;
    if (value < limit) {
        out += static_cast<char>(flags | value);
        return;
    }
    out += static_cast<char>(flags | limit);
    value -= limit;
    while (value >= 128) {
        out += static_cast<char>(0x80 | (value & 0x7f));
        value >>= 7;
    }
    out += static_cast<char>(value);
}

// Huffman-coded when that is shorter, as the text is otherwise.
void encode_string(std::string& out, std::string_view text) {
    std::size_t coded = huffman_length(text);
    if (coded < text.size()) {
        encode_integer(out, 0x80, 7, coded);
        huffman_encode(text, out);
    } else {
        encode_integer(out, 0x00, 7, text.size());
        out.append(text);
    }
}

// Reads a block from front to back; every read checks that the bytes are
// there, and a block cut short is an HPACKError.
class BlockReader {
public:
    explicit BlockReader(std::string_view block) : rest_(block) {}

    bool done() const noexcept { return rest_.empty(); }
    std::uint8_t peek() const { return static_cast<std::uint8_t>(rest_.front()); }

    // An integer with an N-bit prefix, the first byte's flags ignored. At
    // most 2^32 - 1: no index, length or table size of a sane block comes
    // near, and it keeps the shifts far from overflow.
    std::uint64_t integer(int prefix_bits) {
        const std::uint64_t limit = (std::uint64_t{1} << prefix_bits) - 1;
        std::uint64_t value = next() & limit;
        if (value < limit) return value;
        for (int shift = 0;; shift += 7) {
            // Five bytes after the prefix hold 35 bits: more is no integer
            // of ours, only zeros padding one out.
            if (shift > 28) throw HPACKError("HPACK integer too long");
            std::uint8_t byte = next();
            value += static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if (value > std::numeric_limits<std::uint32_t>::max()) {
                throw HPACKError("HPACK integer too large");
            }
            if ((byte & 0x80) == 0) return value;
        }
    }

    // A string into `out` (replacing what it held), decoded if it is
    // Huffman-coded.
    void string(std::string& out) {
        if (done()) throw HPACKError("HPACK block ends before a string");
        bool huffman = (peek() & 0x80) != 0;
        std::uint64_t length = integer(7);
        if (length > rest_.size()) throw HPACKError("HPACK string longer than its block");
        std::string_view bytes = rest_.substr(0, static_cast<std::size_t>(length));
        rest_.remove_prefix(bytes.size());
        out.clear();
        if (huffman) {
            huffman_decode(bytes, out);
        } else {
            out.assign(bytes);
        }
    }

private:
    std::uint8_t next() {
        if (rest_.empty()) throw HPACKError("HPACK block ends inside an integer");
        auto byte = static_cast<std::uint8_t>(rest_.front());
        rest_.remove_prefix(1);
        return byte;
    }

    std::string_view rest_;
};

// Fields the encoder never adds to the table. content-length differs from
// answer to answer, and each new entry would push out one that repeats;
// :path likewise. set-cookie and the credentials are sent "never
// indexed" as well (section 7.1.3): a secret in a shared table can be
// guessed a byte at a time by whoever can add entries beside it (CRIME).
bool never_indexed(std::string_view name) {
    return name == "set-cookie" || name == "authorization" || name == "proxy-authorization";
}

bool not_worth_indexing(std::string_view name) {
    return name == "content-length" || name == ":path";
}

}  // namespace

// --- Huffman ------------------------------------------------------------------------------

std::size_t huffman_length(std::string_view text) noexcept {
    std::size_t bits = 0;
    for (char c : text) bits += kHuffman[static_cast<std::uint8_t>(c)].length;
    return (bits + 7) / 8;
}

// The bits gather in a 64-bit word and leave a byte at a time. Fewer than
// 8 wait between symbols, and a code has at most 30, so the bits not yet
// written never pass 37: the older ones shifted out of the top are ones
// already written.
void huffman_encode(std::string_view text, std::string& out) {
    std::uint64_t pending = 0;
    int pending_bits = 0;
    for (char c : text) {
        const HuffmanCode& code = kHuffman[static_cast<std::uint8_t>(c)];
        pending = (pending << code.length) | code.bits;
        pending_bits += code.length;
        while (pending_bits >= 8) {
            pending_bits -= 8;
            out += static_cast<char>(pending >> pending_bits);
        }
    }
    // Padding: the most significant bits of EOS, which are all 1s.
    if (pending_bits > 0) {
        out += static_cast<char>((pending << (8 - pending_bits)) | (0xffu >> pending_bits));
    }
}

namespace {

// huffman_decode's work: the symbols of `coded` into `symbols`, which has
// room for them; how many there are.
//
// The bits wait in a 64-bit word, the next one at the top; it is refilled
// a byte at a time while it has room for one, so that a whole code (30
// bits at most) is there whenever the string still has bytes. The symbols
// are written into room made first, for the most the string can hold, and
// the rest is cut off at the end: a request's :path comes this way every
// time (clients do not index it), and appending a byte at a time cost a
// capacity check each.
std::size_t huffman_decode_into(std::string_view coded, char* symbols) {
    const HuffmanDecoding& table = huffman_decoding();
    std::size_t written = 0;
    std::uint64_t bits = 0;
    int count = 0;  // bits waiting in `bits`
    std::size_t next = 0;
    while (true) {
        while (count <= 56 && next < coded.size()) {
            bits |= std::uint64_t{static_cast<std::uint8_t>(coded[next++])} << (56 - count);
            count += 8;
        }
        if (count == 0) break;
        HuffmanDecoding::Short short_code = table.by_first_byte[bits >> (64 - kTableBits)];
        int length = short_code.length;
        std::uint16_t symbol = short_code.symbol;
        if (length == 0 || length > count) {
            if (next == coded.size() && count <= 7) {
                // The string's last bits, and no code is that short: they
                // must be the start of EOS (all 1s).
                if ((bits >> (64 - count)) != (std::uint64_t{1} << count) - 1)
                    throw HPACKError("HPACK Huffman padding is not EOS");
                break;
            }
            // A longer code, one bit at a time.
            length = 0;
            std::uint32_t code = 0;
            while (true) {
                if (length == count) throw HPACKError("HPACK Huffman padding longer than 7 bits");
                code = (code << 1) | static_cast<std::uint32_t>((bits >> (63 - length)) & 1);
                ++length;
                if (length < kShortestCode) continue;
                std::uint32_t offset = code - table.first_code[length];
                if (code >= table.first_code[length] && offset < table.count[length]) {
                    symbol = table.symbols[table.first_symbol[length] + offset];
                    break;
                }
                if (length == kLongestCode) throw HPACKError("HPACK Huffman code not in the table");
            }
            if (symbol == kEOS) throw HPACKError("HPACK Huffman string holds EOS");
        }
        symbols[written++] = static_cast<char>(symbol);
        bits <<= length;
        count -= length;
    }
    return written;
}

}  // namespace

void huffman_decode(std::string_view coded, std::string& out) {
    const std::size_t start = out.size();
    out.resize(start + coded.size() * 8 / kShortestCode);  // the most symbols it can hold
    try {
        out.resize(start + huffman_decode_into(coded, out.data() + start));
    } catch (const HPACKError&) {
        out.resize(start);  // as it was: a refused string adds nothing
        throw;
    }
}

// --- the table ------------------------------------------------------------------------------

HPACKField HPACKTable::at(std::size_t index) const {
    if (index <= kStaticEntries) return kStaticTable[index - 1];
    const Entry& entry = entries_[index - kStaticEntries - 1];
    return {entry.name, entry.value};
}

void HPACKTable::add(std::string_view name, std::string_view value) {
    std::size_t size = name.size() + value.size() + kEntryOverhead;
    if (size > max_size_) {  // section 4.4: not an error, an empty table
        evict_down_to(0);
        return;
    }
    evict_down_to(max_size_ - size);
    entries_.push_front({std::string(name), std::string(value)});
    size_ += size;
}

void HPACKTable::set_max_size(std::size_t max_size) {
    max_size_ = max_size;
    evict_down_to(max_size);
}

void HPACKTable::evict_down_to(std::size_t max_size) {
    while (size_ > max_size) {
        const Entry& oldest = entries_.back();
        size_ -= oldest.name.size() + oldest.value.size() + kEntryOverhead;
        entries_.pop_back();
    }
}

HPACKTable::Match HPACKTable::find(std::string_view name, std::string_view value) const {
    Match match;
    if (IndexRange found = static_names().find(name); found.first != 0) {
        match.index = found.first;
        for (std::size_t i = found.first; i <= found.last; ++i) {
            if (kStaticTable[i - 1].value == value) return {i, true};
        }
    }
    std::size_t index = kStaticEntries + 1;
    for (const Entry& entry : entries_) {  // by iterator: a deque's [] finds the block each time
        if (entry.name == name) {
            if (entry.value == value) return {index, true};
            if (match.index == 0) match.index = index;
        }
        ++index;
    }
    return match;
}

// --- encoding -------------------------------------------------------------------------------

// Our table is at most the default 4 KiB even when the peer allows more:
// an encoder may keep less than the decoder offers, and a connection's
// memory stays bounded.
void HPACKEncoder::set_max_table_size(std::size_t max_size) {
    std::size_t ours = std::min(max_size, HPACKTable::kDefaultMaxSize);
    if (ours == table_.max_size() && !size_update_due_) return;
    if (!size_update_due_ || ours < smallest_size_since_block_) smallest_size_since_block_ = ours;
    size_update_due_ = true;
    table_.set_max_size(ours);
}

void HPACKEncoder::encode(std::span<const HPACKField> fields, std::string& out) {
    if (!size_update_due_ && last_.valid && last_.codes(fields)) {
        out += last_.block;
        return;
    }
    last_.valid = false;  // until this block is whole
    std::size_t start = out.size();
    bool changes_table = size_update_due_;
    if (size_update_due_) {
        if (smallest_size_since_block_ < table_.max_size()) {
            encode_integer(out, 0x20, 5, smallest_size_since_block_);
        }
        encode_integer(out, 0x20, 5, table_.max_size());
        size_update_due_ = false;
    }
    for (const HPACKField& field : fields) {
        if (encode_field(field, out)) changes_table = true;
    }
    last_.valid = !changes_table;
    if (last_.valid) last_.remember(fields, std::string_view(out).substr(start));
}

bool HPACKEncoder::LastBlock::codes(std::span<const HPACKField> fields) const noexcept {
    if (sizes.size() != 2 * fields.size()) return false;
    std::string_view rest = bytes;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const HPACKField& field = fields[i];
        if (sizes[2 * i] != field.name.size() || sizes[2 * i + 1] != field.value.size())
            return false;
        if (!rest.starts_with(field.name)) return false;
        rest.remove_prefix(field.name.size());
        if (!rest.starts_with(field.value)) return false;
        rest.remove_prefix(field.value.size());
    }
    return true;
}

void HPACKEncoder::LastBlock::remember(std::span<const HPACKField> fields, std::string_view coded) {
    sizes.clear();
    bytes.clear();
    for (const HPACKField& field : fields) {
        sizes.push_back(static_cast<std::uint32_t>(field.name.size()));
        sizes.push_back(static_cast<std::uint32_t>(field.value.size()));
        bytes.append(field.name).append(field.value);
    }
    block.assign(coded);
}

// The shortest representation this encoder allows itself: the entry when
// the whole field is in the table; otherwise a literal, its name by index
// when the name is there, which joins the table unless the field is one
// not to index or would push out most of the table (over 3/4 of it).
bool HPACKEncoder::encode_field(const HPACKField& field, std::string& out) {
    HPACKTable::Match match = table_.find(field.name, field.value);
    bool secret = never_indexed(field.name);
    if (match.whole && !secret) {
        encode_integer(out, 0x80, 7, match.index);
        return false;
    }
    std::size_t size = field.name.size() + field.value.size() + HPACKTable::kEntryOverhead;
    bool join = !secret && !not_worth_indexing(field.name) && size <= table_.max_size() * 3 / 4;
    if (join) {
        encode_integer(out, 0x40, 6, match.index);
    } else {
        encode_integer(out, secret ? 0x10 : 0x00, 4, match.index);
    }
    if (match.index == 0) encode_string(out, field.name);
    encode_string(out, field.value);
    if (join) table_.add(field.name, field.value);
    return join;
}

// --- decoding -------------------------------------------------------------------------------

void HPACKDecoder::decode(std::string_view block, OnField on_field) {
    BlockReader reader(block);
    bool at_start = true;  // size updates come before the first field
    while (!reader.done()) {
        std::uint8_t first = reader.peek();
        if ((first & 0xe0) == 0x20) {  // 001xxxxx: a table size update
            if (!at_start) throw HPACKError("HPACK table size update after a field");
            std::uint64_t size = reader.integer(5);
            if (size > max_table_size_) {
                throw HPACKError("HPACK table size update above SETTINGS_HEADER_TABLE_SIZE");
            }
            table_.set_max_size(static_cast<std::size_t>(size));
            continue;
        }
        at_start = false;
        if ((first & 0x80) != 0) {  // 1xxxxxxx: indexed
            std::uint64_t index = reader.integer(7);
            if (!table_.has_index(index)) throw HPACKError("HPACK index not in the table");
            HPACKField field = table_.at(static_cast<std::size_t>(index));
            on_field(field.name, field.value);
            continue;
        }
        // A literal: 01 joins the table (6-bit index), 0000 and 0001 do not (4-bit).
        bool join = (first & 0xc0) == 0x40;
        std::uint64_t index = reader.integer(join ? 6 : 4);
        if (index != 0) {
            if (!table_.has_index(index)) throw HPACKError("HPACK index not in the table");
            name_.assign(table_.at(static_cast<std::size_t>(index)).name);
        } else {
            reader.string(name_);
        }
        reader.string(value_);
        // It joins the table before on_field sees it; on_field is given
        // name_ and value_, not the entry, so the order changes nothing.
        if (join) table_.add(name_, value_);
        on_field(name_, value_);
    }
}

}  // namespace tornado::detail
