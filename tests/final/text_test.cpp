// Tests for final/src/core/text.h, the private ASCII helpers the parsers share.
#include "core/text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace std::string_literals;
namespace detail = tornado::detail;

TEST(Text, QuotedWritesInputAsPythonWritesBytes) {
    EXPECT_EQ(detail::quoted("abc"), "'abc'");
    EXPECT_EQ(detail::quoted("a\r\n\t"), "'a\\r\\n\\t'");
    EXPECT_EQ(detail::quoted("it's a \\"), "'it\\'s a \\\\'");
    EXPECT_EQ(detail::quoted("\0\x7f\x80\xff"s), "'\\x00\\x7f\\x80\\xff'");
    EXPECT_EQ(detail::quoted(""), "''");
}

TEST(Text, QuotedCutsLongInputAt60Bytes) {
    EXPECT_EQ(detail::quoted(std::string(60, 'a')), "'" + std::string(60, 'a') + "'");
    EXPECT_EQ(detail::quoted(std::string(61, 'a')), "'" + std::string(60, 'a') + "...'");
}

TEST(Text, TrimOwsTakesSpacesAndTabsOnly) {
    EXPECT_EQ(detail::trim_ows(" \t a b \t"), "a b");
    EXPECT_EQ(detail::trim_ows("\r\na\r\n"), "\r\na\r\n");
    EXPECT_EQ(detail::trim_ows("  "), "");
}

TEST(Text, StripTakesAsciiWhitespaceAsBytesStripDoes) {
    EXPECT_EQ(detail::strip(" \t\n\v\f\ra b\r\n"), "a b");
    EXPECT_EQ(detail::strip("\xa0x\xa0"), "\xa0x\xa0");  // not ASCII: not space here
}

TEST(Text, CaseHelpersLookOnlyAtAscii) {
    EXPECT_EQ(detail::lower_ascii("Content-TYPE \xc3\x89"), "content-type \xc3\x89");
    EXPECT_TRUE(detail::equals_ignoring_case("Content-Length", "content-LENGTH"));
    EXPECT_FALSE(detail::equals_ignoring_case("Content-Length", "Content-Lengths"));
    EXPECT_FALSE(detail::equals_ignoring_case("\xc3\x89", "\xc3\xa9"));
    EXPECT_EQ(detail::ascii_upper('q'), 'Q');
}

TEST(Text, ForEachItemSplitsACommaListAndTrimsEachItem) {
    std::vector<std::string> items;
    detail::for_each_item(" close ,Upgrade,, x\t", [&](std::string_view item) { items.emplace_back(item); });
    EXPECT_EQ(items, (std::vector<std::string>{"close", "Upgrade", "", "x"}));
}

}  // namespace
