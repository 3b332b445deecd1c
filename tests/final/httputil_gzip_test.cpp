// Tests of GzipDecompressor (final/src/http/httputil_gzip.cpp), the inflater
// behind the client's decompress_response and the server's
// decompress_request, fed as bodies arrive: in pieces of any size, within
// a limit on what they inflate to, every member of a gzip file inflated,
// and refusing what is not gzip. The data is made by zlib itself
// (gzip_test_util.h).
#include <gtest/gtest.h>

#include <string>

#include "gzip_test_util.h"
#include "tornado/httputil.h"

namespace tornado {
namespace {

// 60,000 bytes that compress well.
std::string some_text() {
    std::string text;
    while (text.size() < 60000) text += "line " + std::to_string(text.size()) + " of the body\n";
    return text;
}

// Everything `gzipped` inflates to, handed over `piece` bytes at a time.
std::string inflate_in_pieces(GzipDecompressor& decompressor, const std::string& gzipped,
                              std::size_t piece) {
    std::string out;
    for (std::size_t at = 0; at < gzipped.size(); at += piece)
        out += decompressor.decompress(std::string_view(gzipped).substr(at, piece));
    return out;
}

TEST(GzipDecompressor, InflatesWholeOrInPiecesOfAnySize) {
    std::string text = some_text();
    std::string gzipped = testing::gzip(text);
    for (std::size_t piece : {gzipped.size(), std::size_t{1000}, std::size_t{7}, std::size_t{1}}) {
        GzipDecompressor decompressor(1 << 20);
        EXPECT_EQ(inflate_in_pieces(decompressor, gzipped, piece), text) << piece;
        EXPECT_NO_THROW(decompressor.check_ended()) << piece;
    }
}

TEST(GzipDecompressor, PastTheLimitIsA413) {
    std::string gzipped = testing::gzip(std::string(200000, 'a'));  // a few hundred bytes
    GzipDecompressor decompressor(100000);
    try {
        decompressor.decompress(gzipped);
        FAIL() << "inflated past the limit";
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), 413);
        EXPECT_STREQ(error.what(), "gzip body inflates past the limit of 100000 bytes");
    }
}

TEST(GzipDecompressor, ExactlyTheLimitIsAllowed) {
    std::string text(100000, 'a');
    GzipDecompressor decompressor(text.size());
    EXPECT_EQ(decompressor.decompress(testing::gzip(text)), text);
}

TEST(GzipDecompressor, ACutOffBodyIsMalformedButNoBodyIsFine) {
    std::string gzipped = testing::gzip(some_text());
    GzipDecompressor cut(1 << 20);
    cut.decompress(std::string_view(gzipped).substr(0, gzipped.size() - 4));
    EXPECT_THROW(cut.check_ended(), HTTPInputError);
    GzipDecompressor empty(1 << 20);
    EXPECT_EQ(empty.decompress(""), "");
    EXPECT_NO_THROW(empty.check_ended());
}

TEST(GzipDecompressor, EveryMemberIsInflated) {
    // RFC 1952 section 2.2: a gzip file is a series of members.
    std::string first = testing::gzip("hello, ");
    std::string second = testing::gzip(some_text());
    std::string both = first + second + testing::gzip("");
    for (std::size_t piece : {both.size(), first.size(), std::size_t{7}, std::size_t{1}}) {
        GzipDecompressor decompressor(1 << 20);
        EXPECT_EQ(inflate_in_pieces(decompressor, both, piece), "hello, " + some_text()) << piece;
        EXPECT_NO_THROW(decompressor.check_ended()) << piece;
    }
    // A second member cut short is a body cut short.
    GzipDecompressor cut(1 << 20);
    cut.decompress(first + second.substr(0, second.size() / 2));
    EXPECT_THROW(cut.check_ended(), HTTPInputError);
    // The limit counts every member's output.
    std::string big = testing::gzip(std::string(60000, 'a'));
    GzipDecompressor limited(100000);
    EXPECT_EQ(limited.decompress(big).size(), 60000u);
    EXPECT_THROW(limited.decompress(big), HTTPInputError);
}

TEST(GzipDecompressor, BytesAfterATrailerThatAreNoMemberAreRefused) {
    std::string gzipped = testing::gzip("hello");
    GzipDecompressor together(1000);
    try {
        together.decompress(gzipped + "xy");
        ADD_FAILURE() << "no error";
    } catch (const HTTPInputError& error) {
        EXPECT_STREQ(error.what(), "malformed gzip body: incorrect header check");
    }
    // One byte cannot be told from the start of a member (gzip's magic is
    // two bytes): it is refused as a member that never ends.
    GzipDecompressor one_byte(1000);
    EXPECT_EQ(one_byte.decompress(gzipped + "x"), "hello");
    EXPECT_THROW(one_byte.check_ended(), HTTPInputError);
    // The same bytes in a piece of their own; an empty piece is not bytes.
    GzipDecompressor apart(1000);
    EXPECT_EQ(apart.decompress(gzipped), "hello");
    EXPECT_EQ(apart.decompress(""), "");
    EXPECT_THROW(apart.decompress("plain text after the member"), HTTPInputError);
}

TEST(GzipDecompressor, DataThatIsNotGzipIsA400) {
    GzipDecompressor decompressor(1000);
    try {
        decompressor.decompress("this is plain text, not gzip");
        FAIL() << "plain text inflated";
    } catch (const HTTPInputError& error) {
        EXPECT_EQ(error.status(), 400);
        EXPECT_TRUE(std::string(error.what()).starts_with("malformed gzip body: ")) << error.what();
    }
    // A flipped byte of the deflate data: zlib's CRC or block check fails.
    std::string gzipped = testing::gzip(some_text());
    gzipped[gzipped.size() / 2] ^= 0x55;
    GzipDecompressor damaged(1 << 20);
    EXPECT_THROW(
        {
            damaged.decompress(gzipped);
            damaged.check_ended();
        },
        HTTPInputError);
}

}  // namespace
}  // namespace tornado
