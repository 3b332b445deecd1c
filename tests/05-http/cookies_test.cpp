// cookies_test.cpp: parse_cookie (exercises/05-http/cookies.h), the
// chapter's extension task 6. Compiled against the reference solution in
// exercises/05-http/solutions/ for ch05_tests, against the learner's file
// for the exercise (course_extension in cmake/Course.cmake). Every expected
// answer below is what Tornado 6.2's tornado.httputil.parse_cookie returns
// for the same header (run with Debian's python3-tornado).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "cookies.h"
#include "escaped.h"

namespace course::testing {
namespace {

using Cookies = std::map<std::string, std::string>;

TEST(Task6_ParseCookie, NamesAndValuesSplitAtSemicolons) {
    EXPECT_EQ(parse_cookie("a=1; b=2"), (Cookies{{"a", "1"}, {"b", "2"}}));
    EXPECT_EQ(parse_cookie("session=abc123"), (Cookies{{"session", "abc123"}}));
    EXPECT_EQ(parse_cookie(""), Cookies{});
}

TEST(Task6_ParseCookie, BlanksAroundNamesAndValuesAreDropped) {
    EXPECT_EQ(parse_cookie("  a = 1 ;b=2;"), (Cookies{{"a", "1"}, {"b", "2"}}));
    EXPECT_EQ(parse_cookie("tab=\tx\t"), (Cookies{{"tab", "x"}}));
}

TEST(Task6_ParseCookie, EmptyPiecesAreSkipped) {
    EXPECT_EQ(parse_cookie(";;"), Cookies{});
    EXPECT_EQ(parse_cookie("; a=1 ;; "), (Cookies{{"a", "1"}}));
}

TEST(Task6_ParseCookie, OnlyTheFirstEqualsSplits) {
    EXPECT_EQ(parse_cookie("k=v=w"), (Cookies{{"k", "v=w"}}));
    EXPECT_EQ(parse_cookie("e="), (Cookies{{"e", ""}}));
    EXPECT_EQ(parse_cookie("=v"), (Cookies{{"", "v"}}));
}

TEST(Task6_ParseCookie, APieceWithoutEqualsIsAValueWithAnEmptyName) {
    EXPECT_EQ(parse_cookie("lonely"), (Cookies{{"", "lonely"}}));
}

TEST(Task6_ParseCookie, TheLaterOfTwoEqualNamesWins) {
    EXPECT_EQ(parse_cookie("a=1; a=2"), (Cookies{{"a", "2"}}));
}

TEST(Task6_ParseCookie, QuotedValuesLoseTheirQuotesAndEscapes) {
    EXPECT_EQ(parse_cookie(R"(q="hello \"world\"")"), (Cookies{{"q", R"(hello "world")"}}));
    EXPECT_EQ(parse_cookie(R"(t="a\\b")"), (Cookies{{"t", R"(a\b)"}}));
    EXPECT_EQ(parse_cookie(R"(c="")"), (Cookies{{"c", ""}}));
    EXPECT_EQ(parse_cookie(R"(u="\x41")"), (Cookies{{"u", "x41"}})) << "no \\x escapes: just the x";
}

TEST(Task6_ParseCookie, OctalEscapesAreBytes) {
    EXPECT_EQ(parse_cookie(R"(o="\101\102c")"), (Cookies{{"o", "ABc"}}));
    EXPECT_EQ(parse_cookie(R"(f="\377")"), (Cookies{{"f", "\xff"}}));
    EXPECT_EQ(parse_cookie(R"(e="\400")"), (Cookies{{"e", "400"}})) << "the first digit is 0 to 3";
    EXPECT_EQ(parse_cookie(R"(d="\1x")"), (Cookies{{"d", "1x"}})) << "three digits, or no octal escape";
    EXPECT_EQ(parse_cookie(R"(h="\\101")"), (Cookies{{"h", R"(\101)"}}));
}

TEST(Task6_ParseCookie, ValuesNotQuotedAtBothEndsStayAsTheyAre) {
    EXPECT_EQ(parse_cookie(R"(s="unterminated)"), (Cookies{{"s", R"("unterminated)"}}));
    EXPECT_EQ(parse_cookie(R"(b=")"), (Cookies{{"b", R"(")"}}));
    EXPECT_EQ(parse_cookie(R"(g=a"b")"), (Cookies{{"g", R"(a"b")"}}));
    EXPECT_EQ(parse_cookie(R"(n=a\101)"), (Cookies{{"n", R"(a\101)"}}));
}

// Catches looking for the quotes before the blanks around the value are
// dropped: a quoted value with blanks around it is still quoted.
TEST(Task6_ParseCookie, AQuotedValueMayHaveBlanksAroundIt) {
    EXPECT_EQ(parse_cookie("q = \"a b\" ; r=\t\"\\101\"\t; s=\" \""),
              (Cookies{{"q", "a b"}, {"r", "A"}, {"s", " "}}));
}

TEST(Task6_ParseCookie, ALoneBackslashAtTheEndStays) {
    EXPECT_EQ(parse_cookie(R"(a="x\\")"), (Cookies{{"a", R"(x\)"}}));
    EXPECT_EQ(parse_cookie(R"(a="x\")"), (Cookies{{"a", R"(x\)"}}));
}

// A parser of what strangers send: any bytes give some table, never a
// crash or an exception (run it under AddressSanitizer to see reads out of
// bounds).
TEST(Task6_ParseCookie, AnyBytesGiveATableNeverACrash) {
    std::mt19937 random(12345);
    const std::string alphabet = "ab=;\" \t\\0137\x01\xff";
    for (int round = 0; round < 20000; ++round) {
        std::string header;
        std::size_t length = random() % 24;
        for (std::size_t i = 0; i < length; ++i) header += alphabet[random() % alphabet.size()];
        EXPECT_NO_THROW(parse_cookie(header)) << "the header: " << escaped(header);
    }
}

}  // namespace
}  // namespace course::testing
