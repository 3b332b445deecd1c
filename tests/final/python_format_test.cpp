// Tests of final/src/template/python_format.cpp, Python's "%" and
// str.format() as the template engine and locale use them. Every expected
// text and message is what Python 3.11 prints for the same call. (The
// template oracle checks the same code against Python Tornado through
// whole templates; these name the rule that breaks.)
#include "template/python_format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tornado::template_detail {
namespace {

TemplateValue tuple_of(std::vector<TemplateValue> items) {
    return TemplateValue::tuple(std::move(items));
}

// The Python error `call` raises, as "Type: message"; "" if none.
template <typename Call>
std::string error_raised_by(Call call) {
    try {
        call();
    } catch (const PythonError& error) {
        return error.what();
    }
    return "";
}

TEST(PercentFormat, EachConversionAsPythonWritesIt) {
    EXPECT_EQ(percent_format("%5.2f|%-6d|%+d|%x|%o|%e|%g|%s|%r|%%",
                             tuple_of({3.14159, 42, 7, 255, 8, 12345.678, 0.0001, "a", "b"})),
              " 3.14|42    |+7|ff|10|1.234568e+04|0.0001|a|'b'|%");
    // One value that is not a tuple fills one field; a float's %d truncates.
    EXPECT_EQ(percent_format("%d", TemplateValue(3.99)), "3");
    EXPECT_EQ(percent_format("%d", TemplateValue(-3.99)), "-3");
}

TEST(PercentFormat, NamedFieldsFromADict) {
    EXPECT_EQ(percent_format("%(name)s is %(age)03d", JSON{{"name", "ann"}, {"age", 7}}),
              "ann is 007");
}

TEST(PercentFormat, PythonsErrors) {
    EXPECT_EQ(error_raised_by([] { percent_format("%d", tuple_of({})); }),
              "TypeError: not enough arguments for format string");
    EXPECT_EQ(error_raised_by([] { percent_format("%d %d", tuple_of({1})); }),
              "TypeError: not enough arguments for format string");
    EXPECT_EQ(error_raised_by([] { percent_format("%d", tuple_of({"a"})); }),
              "TypeError: %d format: a real number is required, not str");
    EXPECT_EQ(error_raised_by([] { percent_format("%s", tuple_of({1, 2})); }),
              "TypeError: not all arguments converted during string formatting");
    EXPECT_EQ(error_raised_by([] { percent_format("%(x)s", JSON::object()); }), "KeyError: 'x'");
}

TEST(StrFormat, FieldsByPositionNumberAndName) {
    TemplateArguments arguments{{"x", "y", 2.5, 1234567}, {{"name", "n"}}};
    EXPECT_EQ(str_format("{} and {name}, {:>5}|{:^7.3f}|{:,}", arguments),
              "x and n,     y| 2.500 |1,234,567");
    EXPECT_EQ(str_format("{0}{1}{0}", {{"a", "b"}, {}}), "aba");
    EXPECT_EQ(str_format("{:08.3f}|{:x}|{:#x}|{:+}|{:%}", {{-3.14159, 255, 255, 5, 0.25}, {}}),
              "-003.142|ff|0xff|+5|25.000000%");
    EXPECT_EQ(str_format("{{literal}}", {}), "{literal}");
}

TEST(StrFormat, PythonsErrors) {
    EXPECT_EQ(error_raised_by([] { str_format("{", {}); }),
              "ValueError: Single '{' encountered in format string");
    EXPECT_EQ(error_raised_by([] { str_format("}", {}); }),
              "ValueError: Single '}' encountered in format string");
    EXPECT_EQ(error_raised_by([] { str_format("{1}", {{"a"}, {}}); }),
              "IndexError: Replacement index 1 out of range for positional args tuple");
    EXPECT_EQ(error_raised_by([] { str_format("{x}", {}); }), "KeyError: 'x'");
}

// Python's ints have no bound; ours have 64 bits, and past them int() is
// an OverflowError rather than a wrong number.
TEST(FloatToInteger, TruncatesAndRefusesWhatDoesNotFit) {
    EXPECT_EQ(float_to_integer(-2.7), -2);
    EXPECT_EQ(float_to_integer(-9223372036854775808.0), INT64_MIN);
    EXPECT_EQ(error_raised_by([] { float_to_integer(1e30); }),
              "OverflowError: int() of 1e+30 does not fit in 64 bits");
    EXPECT_EQ(error_raised_by([] { float_to_integer(std::numeric_limits<double>::quiet_NaN()); }),
              "ValueError: cannot convert float NaN to integer");
}

}  // namespace
}  // namespace tornado::template_detail
