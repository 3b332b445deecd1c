// hpack_test.cpp: final/http2's own HPACK (hpack.h) against RFC 7541's
// examples (Appendix C), and against libnghttp2's coder both ways: what
// our encoder writes, libnghttp2's inflater must read back field for
// field, and what its deflater writes, our decoder must.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hpack.h"

namespace {

using tornado::detail::HPACKDecoder;
using tornado::detail::HPACKEncoder;
using tornado::detail::HPACKError;
using tornado::detail::HPACKField;
using Fields = std::vector<std::pair<std::string, std::string>>;

std::string from_hex(std::string_view hex) {
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    }
    return bytes;
}

std::string to_hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (char c : bytes) {
        hex += digits[static_cast<std::uint8_t>(c) >> 4];
        hex += digits[static_cast<std::uint8_t>(c) & 0xf];
    }
    return hex;
}

Fields decode(HPACKDecoder& decoder, std::string_view block) {
    Fields fields;
    decoder.decode(block, [&](std::string_view name, std::string_view value) {
        fields.emplace_back(name, value);
    });
    return fields;
}

std::vector<HPACKField> views_of(const Fields& fields) {
    std::vector<HPACKField> views;
    for (const auto& [name, value] : fields) views.push_back({name, value});
    return views;
}

// --- Huffman ---------------------------------------------------------------------------------

TEST(HPACKHuffman, CodesTheRFCsExampleAndEveryByteBack) {
    std::string coded;
    tornado::detail::huffman_encode("www.example.com", coded);
    EXPECT_EQ(to_hex(coded), "f1e3c2e5f23a6ba0ab90f4ff");  // RFC 7541 C.4.1
    EXPECT_EQ(tornado::detail::huffman_length("www.example.com"), 12u);
    std::string every;
    for (int byte = 0; byte < 256; ++byte) every += static_cast<char>(byte);
    coded.clear();
    tornado::detail::huffman_encode(every, coded);
    EXPECT_EQ(coded.size(), tornado::detail::huffman_length(every));
    std::string back;
    tornado::detail::huffman_decode(coded, back);
    EXPECT_EQ(back, every);
}

// Strings of every length up to 200, mixing short codes (the decoder's
// table of 8 bits) with long ones, so that codes cross every byte and
// refill boundary: each comes back as it went.
TEST(HPACKHuffman, StringsOfEveryLengthComeBack) {
    std::uint32_t seed = 12345;
    auto random_byte = [&] {
        seed = seed * 1103515245u + 12345u;
        std::uint32_t pick = (seed >> 16) % 4;
        // Three in four from a path's usual characters (codes of 5 to 8 bits).
        if (pick != 0) return "abcdefghijklmnopqrstuvwxyz0123456789/.-_"[(seed >> 8) % 40];
        return static_cast<char>((seed >> 8) & 0xff);
    };
    for (std::size_t length = 0; length <= 200; ++length) {
        std::string text;
        for (std::size_t i = 0; i < length; ++i) text += random_byte();
        std::string coded;
        tornado::detail::huffman_encode(text, coded);
        std::string back;
        tornado::detail::huffman_decode(coded, back);
        ASSERT_EQ(back, text) << "length " << length;
    }
}

TEST(HPACKHuffman, RefusesEOSAndPaddingThatIsNotEOSsStart) {
    std::string out;
    // EOS is 30 1s: with two padding bits, four bytes of 0xff.
    EXPECT_THROW(tornado::detail::huffman_decode(from_hex("ffffffff"), out), HPACKError);
    // "0" is 00000 (5 bits): three padding bits of 1 are right, of 0 not.
    EXPECT_NO_THROW(tornado::detail::huffman_decode(from_hex("07"), out));
    EXPECT_EQ(out, "0");
    EXPECT_THROW(tornado::detail::huffman_decode(from_hex("00"), out), HPACKError);
    // "0" then a whole byte of padding: 11 bits of it.
    EXPECT_THROW(tornado::detail::huffman_decode(from_hex("07ff"), out), HPACKError);
}

// --- RFC 7541's examples -------------------------------------------------------------------

// C.3 and C.4: three requests on one connection, without and with Huffman
// coding; the table grows to 57, 110 and 164 bytes.
TEST(HPACKDecoder, ReadsTheRFCsRequestExamples) {
    for (const auto& blocks :
         {std::vector<std::string>{"828684410f7777772e6578616d706c652e636f6d",
                                   "828684be58086e6f2d6361636865",
                                   "828785bf400a637573746f6d2d6b65790c637573"
                                   "746f6d2d76616c7565"},
          std::vector<std::string>{"828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf",
                                   "828785bf408825a849e95ba97d7f8925a849e95bb8"
                                   "e8b4bf"}}) {
        HPACKDecoder decoder;
        Fields base{{":method", "GET"},
                    {":scheme", "http"},
                    {":path", "/"},
                    {":authority", "www.example.com"}};
        EXPECT_EQ(decode(decoder, from_hex(blocks[0])), base);
        EXPECT_EQ(decoder.table().size(), 57u);
        base.emplace_back("cache-control", "no-cache");
        EXPECT_EQ(decode(decoder, from_hex(blocks[1])), base);
        EXPECT_EQ(decoder.table().size(), 110u);
        Fields third{{":method", "GET"},
                     {":scheme", "https"},
                     {":path", "/index.html"},
                     {":authority", "www.example.com"},
                     {"custom-key", "custom-value"}};
        EXPECT_EQ(decode(decoder, from_hex(blocks[2])), third);
        EXPECT_EQ(decoder.table().size(), 164u);
    }
}

// C.6: responses with a 256-byte table, so that entries are evicted.
TEST(HPACKDecoder, ReadsTheRFCsResponseExamplesWithEvictions) {
    HPACKDecoder decoder(256);
    Fields first{{":status", "302"},
                 {"cache-control", "private"},
                 {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                 {"location", "https://www.example.com"}};
    EXPECT_EQ(
        decode(decoder, from_hex("488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e0"
                                 "82a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3")),
        first);
    EXPECT_EQ(decoder.table().size(), 222u);
    first[0].second = "307";
    EXPECT_EQ(decode(decoder, from_hex("4883640effc1c0bf")), first);
    Fields third{{":status", "200"},
                 {"cache-control", "private"},
                 {"date", "Mon, 21 Oct 2013 20:13:22 GMT"},
                 {"location", "https://www.example.com"},
                 {"content-encoding", "gzip"},
                 {"set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"}};
    EXPECT_EQ(decode(decoder, from_hex("88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a83"
                                       "9bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1"
                                       "ab270fb5291f9587316065c003ed4ee5b1063d5007")),
              third);
    EXPECT_EQ(decoder.table().size(), 215u);
    EXPECT_EQ(decoder.table().dynamic_count(), 3u);
}

// --- bad blocks ---------------------------------------------------------------------------

TEST(HPACKDecoder, RefusesBlocksThatAreNotHPACK) {
    auto refused = [](std::string_view hex, std::size_t max_table = 4096) {
        HPACKDecoder decoder(max_table);
        try {
            decode(decoder, from_hex(hex));
        } catch (const HPACKError&) {
            return true;
        }
        return false;
    };
    EXPECT_TRUE(refused("80")) << "index 0";
    EXPECT_TRUE(refused("be")) << "index 62, an empty dynamic table";
    EXPECT_TRUE(refused("ff")) << "an integer cut short";
    EXPECT_TRUE(refused("ffffffffff0f")) << "an integer past 2^32";
    EXPECT_TRUE(refused("400561")) << "a name longer than the block";
    EXPECT_TRUE(refused("823f00")) << "a table size update after a field";
    EXPECT_TRUE(refused("ff8080808080808000")) << "an integer padded past 5 bytes";
    EXPECT_TRUE(refused("3fe21f")) << "a table size of 4,097, over our 4,096";
    EXPECT_FALSE(refused("3fe11f82")) << "4,096 exactly, then :method GET";
    EXPECT_FALSE(refused("3fe21f82", 8192)) << "4,097 within a larger setting";
    EXPECT_TRUE(refused("4081ff0161")) << "a Huffman name that is EOS's start only";
}

// --- our encoder, read by libnghttp2's inflater -------------------------------------------

class Nghttp2Inflater {
public:
    Nghttp2Inflater() {
        if (nghttp2_hd_inflate_new(&inflater_) != 0) throw std::runtime_error("inflater");
    }
    ~Nghttp2Inflater() { nghttp2_hd_inflate_del(inflater_); }
    Nghttp2Inflater(const Nghttp2Inflater&) = delete;
    Nghttp2Inflater& operator=(const Nghttp2Inflater&) = delete;

    void set_max_table_size(std::size_t size) {
        nghttp2_hd_inflate_change_table_size(inflater_, size);
    }

    Fields inflate(std::string_view block) {
        Fields fields;
        const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
        std::size_t left = block.size();
        for (;;) {
            nghttp2_nv field;
            int flags = 0;
            ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &field, &flags, in, left, 1);
            if (used < 0) throw std::runtime_error(nghttp2_strerror(static_cast<int>(used)));
            in += used;
            left -= static_cast<std::size_t>(used);
            if (flags & NGHTTP2_HD_INFLATE_EMIT) {
                fields.emplace_back(
                    std::string(reinterpret_cast<char*>(field.name), field.namelen),
                    std::string(reinterpret_cast<char*>(field.value), field.valuelen));
            }
            if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
            if (used == 0 && left == 0) break;
        }
        nghttp2_hd_inflate_end_headers(inflater_);
        return fields;
    }

private:
    nghttp2_hd_inflater* inflater_ = nullptr;
};

// What a static file's answer carries: its Etag (Tornado's quoted SHA-512
// hex), a date that changes every few answers, a length that changes on
// each.
Fields static_answer(int n) {
    std::string etag = "\"" + std::string(128, "0123456789abcdef"[n % 3]) + "\"";
    return {{":status", n % 5 == 0 ? "304" : "200"},
            {"server", "TornadoServer/6.2"},
            {"content-type", "application/octet-stream"},
            {"date", "Mon, 30 Nov 2026 10:00:" + std::to_string(10 + n / 4) + " GMT"},
            {"accept-ranges", "bytes"},
            {"etag", etag},
            {"last-modified", "Sun, 29 Nov 2026 09:00:00 GMT"},
            {"content-length", std::to_string(16384 + n)}};
}

TEST(HPACKEncoder, WhatItWritesLibnghttp2ReadsBack) {
    HPACKEncoder encoder;
    Nghttp2Inflater inflater;
    for (int n = 0; n < 200; ++n) {
        Fields fields = static_answer(n);
        // Now and then a field too large to index, and one too large for
        // the rest of the table (it evicts what is there).
        if (n % 17 == 0) fields.emplace_back("x-large", std::string(3500, 'x'));
        if (n % 23 == 0) fields.emplace_back("x-evicting", std::string(2000, 'y'));
        if (n % 11 == 0) fields.emplace_back("set-cookie", "session=" + std::to_string(n));
        std::string block;
        encoder.encode(views_of(fields), block);
        ASSERT_EQ(inflater.inflate(block), fields) << "block " << n;
    }
}

// The peer's SETTINGS_HEADER_TABLE_SIZE, lowered and raised between two
// blocks: the next block says the smallest and then the last, and the
// inflater (told the same setting) follows.
TEST(HPACKEncoder, ATableSizeChangeIsSaidAtTheNextBlocksStart) {
    HPACKEncoder encoder;
    Nghttp2Inflater inflater;
    std::size_t sizes[] = {4096, 256, 0, 4096, 1024, 100, 2048, 65536};
    for (int n = 0; n < 40; ++n) {
        if (n % 5 == 4) {
            std::size_t next = sizes[(n / 5) % std::size(sizes)];
            if (n % 10 == 9) {  // twice before a block: down to 0, then up
                encoder.set_max_table_size(0);
                inflater.set_max_table_size(0);
            }
            encoder.set_max_table_size(next);
            inflater.set_max_table_size(next);
        }
        Fields fields = static_answer(n);
        std::string block;
        encoder.encode(views_of(fields), block);
        ASSERT_EQ(inflater.inflate(block), fields) << "block " << n;
    }
    EXPECT_LE(encoder.table().max_size(), 4096u) << "a larger setting is not taken";
}

// libnghttp2 never adds an etag to its table; ours does, so the same
// answer again is a few bytes.
TEST(HPACKEncoder, TheSameStaticAnswerAgainIsAFewBytes) {
    HPACKEncoder encoder;
    Fields fields = static_answer(1);
    std::string first;
    encoder.encode(views_of(fields), first);
    std::string second;
    encoder.encode(views_of(fields), second);
    EXPECT_GT(first.size(), 150u);
    // Seven indexes of one byte, and content-length (never indexed) by
    // its name's index and 5 bytes coded as 4.
    EXPECT_LE(second.size(), 14u) << to_hex(second);
}

// The encoder codes the fields it coded last time from that block, when
// the block added nothing and the table has not changed since. Answers
// that repeat, alternate with one of the same sizes, follow a size change
// or an answer that adds entries, each read back by libnghttp2, whose
// table would part from ours at the first block reused wrongly.
TEST(HPACKEncoder, AnAnswerAgainIsCodedAsBeforeOnlyWhileTheTableIsTheSame) {
    HPACKEncoder encoder;
    Nghttp2Inflater inflater;
    Fields first = static_answer(1);
    Fields same_sizes = static_answer(2);  // another Etag and length, as long
    Fields renamed = first;
    renamed[1].first = "x-tail";      // as long as "server"
    Fields adds = static_answer(40);  // another date: a new entry
    auto code = [&](const Fields& fields) {
        std::string block;
        encoder.encode(views_of(fields), block);
        EXPECT_EQ(inflater.inflate(block), fields) << to_hex(block);
        return block;
    };
    code(first);
    code(same_sizes);
    code(renamed);
    std::string again = code(first);
    EXPECT_EQ(code(first), again) << "nothing changed: the same bytes";
    EXPECT_NE(code(same_sizes), again) << "values of the same sizes are not the same values";
    code(first);
    EXPECT_NE(code(renamed), again) << "names of the same sizes are not the same names";
    code(adds);
    EXPECT_NE(code(first), again) << "an entry added since moves the indexes";
    // A size said once, at the next block's start, and not again.
    encoder.set_max_table_size(1024);
    inflater.set_max_table_size(1024);
    std::string sized = code(first);
    EXPECT_EQ(static_cast<std::uint8_t>(sized[0]) & 0xe0, 0x20) << to_hex(sized);
    std::string after = code(first);
    EXPECT_NE(static_cast<std::uint8_t>(after[0]) & 0xe0, 0x20) << to_hex(after);
    EXPECT_EQ(code(first), code(first));
}

TEST(HPACKEncoder, ASetCookieIsNeverIndexed) {
    HPACKEncoder encoder;
    std::string block;
    encoder.encode({{"set-cookie", "session=secret"}}, block);
    EXPECT_EQ(static_cast<std::uint8_t>(block[0]) & 0xf0, 0x10) << to_hex(block);
    EXPECT_EQ(encoder.table().dynamic_count(), 0u);
}

// --- libnghttp2's deflater, read by our decoder -------------------------------------------

class Nghttp2Deflater {
public:
    Nghttp2Deflater() {
        if (nghttp2_hd_deflate_new(&deflater_, 4096) != 0) throw std::runtime_error("deflater");
    }
    ~Nghttp2Deflater() { nghttp2_hd_deflate_del(deflater_); }
    Nghttp2Deflater(const Nghttp2Deflater&) = delete;
    Nghttp2Deflater& operator=(const Nghttp2Deflater&) = delete;

    std::string deflate(const Fields& fields) {
        std::vector<nghttp2_nv> nvs;
        for (const auto& [name, value] : fields) {
            nvs.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                           name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
        }
        std::string block(nghttp2_hd_deflate_bound(deflater_, nvs.data(), nvs.size()), '\0');
        ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(block.data()),
                                          block.size(), nvs.data(), nvs.size());
        if (n < 0) throw std::runtime_error(nghttp2_strerror(static_cast<int>(n)));
        block.resize(static_cast<std::size_t>(n));
        return block;
    }

private:
    nghttp2_hd_deflater* deflater_ = nullptr;
};

TEST(HPACKDecoder, ReadsWhatLibnghttp2Writes) {
    Nghttp2Deflater deflater;
    HPACKDecoder decoder;
    for (int n = 0; n < 200; ++n) {
        Fields fields{
            {":method", n % 7 == 0 ? "POST" : "GET"},
            {":scheme", "https"},
            {":authority", "example.com:8443"},
            {":path", "/static/file" + std::to_string(n % 13) + ".css?v=" + std::to_string(n)},
            {"user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"},
            {"accept", "text/css,*/*;q=0.1"},
            {"accept-encoding", "gzip, deflate, br"},
            {"cookie", "_xsrf=2|abc|" + std::to_string(n % 4)},
            {"if-none-match", "\"" + std::string(40, 'a' + n % 26) + "\""}};
        if (n % 19 == 0) fields.emplace_back("x-big", std::string(5000, 'b'));
        ASSERT_EQ(decode(decoder, deflater.deflate(fields)), fields) << "block " << n;
    }
}

}  // namespace
