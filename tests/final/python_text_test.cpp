// Tests of final/src/core/python_text.cpp, text as Python writes and counts
// it: repr() of floats and strings, UTF-8 read as Python's decoder reads
// it with errors="replace", and code point counts and offsets. Every
// expected value is what Python 3.11 prints for the same input.
#include "core/python_text.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace {

namespace detail = tornado::detail;

std::string float_repr(double number) {
    std::string out;
    detail::append_python_float_repr(out, number);
    return out;
}

std::string string_repr(std::string_view text) {
    std::string out;
    detail::append_python_string_repr(out, text);
    return out;
}

TEST(PythonFloatRepr, TheShortestDigitsThatReadBack) {
    EXPECT_EQ(float_repr(0.1), "0.1");
    EXPECT_EQ(float_repr(0.1 + 0.2), "0.30000000000000004");
    EXPECT_EQ(float_repr(1.0), "1.0");
    EXPECT_EQ(float_repr(-0.0), "-0.0");
    EXPECT_EQ(float_repr(123456789.0), "123456789.0");
    EXPECT_EQ(float_repr(9007199254740992.0), "9007199254740992.0");
    EXPECT_EQ(float_repr(5e-324), "5e-324");
}

// Python switches to the exponent form at 1e16 and below 1e-4.
TEST(PythonFloatRepr, TheExponentFormWherePythonUsesIt) {
    EXPECT_EQ(float_repr(1e15), "1000000000000000.0");
    EXPECT_EQ(float_repr(1e16), "1e+16");
    EXPECT_EQ(float_repr(1e22), "1e+22");
    EXPECT_EQ(float_repr(1.5e300), "1.5e+300");
    EXPECT_EQ(float_repr(0.0001), "0.0001");
    EXPECT_EQ(float_repr(1e-05), "1e-05");
}

TEST(PythonFloatRepr, InfinitiesAndNan) {
    EXPECT_EQ(float_repr(std::numeric_limits<double>::infinity()), "inf");
    EXPECT_EQ(float_repr(-std::numeric_limits<double>::infinity()), "-inf");
    EXPECT_EQ(float_repr(std::numeric_limits<double>::quiet_NaN()), "nan");
}

TEST(PythonStringRepr, QuotesAndEscapesAsPythonChooses) {
    EXPECT_EQ(string_repr("a"), "'a'");
    EXPECT_EQ(string_repr("it's"), "\"it's\"");
    EXPECT_EQ(string_repr("both ' \""), "'both \\' \"'");
    EXPECT_EQ(string_repr("\t\n\r\x01\x7f\\"), "'\\t\\n\\r\\x01\\x7f\\\\'");
    EXPECT_EQ(string_repr("\xc3\xa9"), "'\xc3\xa9'");  // é, as it is
}

TEST(DecodeUtf8, ValidSequencesOfEachLength) {
    for (auto [text, code_point] : {std::pair<std::string_view, char32_t>{"a", U'a'},
                                    {"\xc3\xa9", U'\u00e9'},
                                    {"\xe2\x82\xac", U'\u20ac'},
                                    {"\xf0\x9f\x98\x80", U'\U0001f600'}}) {
        detail::Decoded decoded = detail::decode_utf8(text, 0);
        EXPECT_TRUE(decoded.valid) << text;
        EXPECT_EQ(decoded.code_point, code_point) << text;
        EXPECT_EQ(decoded.length, text.size()) << text;
    }
}

// Python: b"\xe0\x80a".decode("utf-8", "replace") is "\ufffd\ufffda" (E0
// cannot be followed by 80: that would be an overlong form), and
// b"\xf0\x9f\x98".decode(...) is one "\ufffd" (a sequence cut short).
TEST(DecodeUtf8, MalformedSequencesReadAsTheirMaximalSubpart) {
    detail::Decoded overlong = detail::decode_utf8("\xe0\x80" "a", 0);
    EXPECT_FALSE(overlong.valid);
    EXPECT_EQ(overlong.code_point, detail::kReplacement);
    EXPECT_EQ(overlong.length, 1u);
    detail::Decoded cut = detail::decode_utf8("\xf0\x9f\x98", 0);
    EXPECT_FALSE(cut.valid);
    EXPECT_EQ(cut.length, 3u);
    EXPECT_FALSE(detail::decode_utf8("\xed\xa0\x80", 0).valid);  // a surrogate
    EXPECT_FALSE(detail::decode_utf8("\xf4\x90\x80\x80", 0).valid);  // past U+10FFFF
    EXPECT_FALSE(detail::decode_utf8("\x80", 0).valid);              // a stray continuation
}

TEST(CodePoints, CountOffsetAndLength) {
    std::string_view text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a é € 😀
    EXPECT_EQ(detail::code_point_count(text), 4u);
    EXPECT_EQ(detail::code_point_offset(text, 0), 0u);
    EXPECT_EQ(detail::code_point_offset(text, 2), 3u);
    EXPECT_EQ(detail::code_point_offset(text, 4), text.size());
    EXPECT_EQ(detail::code_point_length(text, 6), 4u);
    std::string encoded;
    detail::append_utf8(encoded, U'\U0001f600');
    EXPECT_EQ(encoded, "\xf0\x9f\x98\x80");
}

TEST(PythonSpace, WhatStrIsspaceSays) {
    for (char32_t space : {U' ', U'\t', U'\n', U'\x1c', U'\u00a0', U'\u2028', U'\u3000'})
        EXPECT_TRUE(detail::is_python_space(space)) << static_cast<unsigned>(space);
    for (char32_t other : {U'a', U'_', U'\u200b', U'\ufeff'})
        EXPECT_FALSE(detail::is_python_space(other)) << static_cast<unsigned>(other);
}

}  // namespace
