// python_format.cpp: Python's formatting of values as text (see
// python_format.h): printf-style "%" and str.format(), over one set of
// number and padding routines, so that "%5.2f" % x and "{:5.2f}".format(x)
// are written by the same code. Every message is Python's, checked against
// Python Tornado by the template oracle (tests/final/template_oracle).
#include "template/python_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "core/python_text.h"
#include "core/text.h"
#include "template/template_operations.h"  // has_markup, for PercentFormat::writes_no_markup
#include "tornado/template_compiled.h"

namespace tornado::template_detail {

// Python's int(x) of a float: truncated toward zero. Python's ints grow
// without bound; here one past 64 bits is an OverflowError (converting it
// in C++ would be undefined: "%d" % 1e30, found by fuzz_template).
std::int64_t float_to_integer(double number) {
    if (std::isnan(number)) raise("ValueError", "cannot convert float NaN to integer");
    if (std::isinf(number)) raise("OverflowError", "cannot convert float infinity to integer");
    // 2**63 written out: INT64_MAX itself is not a double, and converting
    // it would round up to 2**63 anyway. -2**63 is exact and allowed.
    if (number >= 9223372036854775808.0 || number < -9223372036854775808.0) {
        std::string text;
        detail::append_python_float_repr(text, number);
        raise("OverflowError", "int() of " + text + " does not fit in 64 bits");
    }
    return static_cast<std::int64_t>(number);
}

namespace {

using Type = TemplateValue::Type;

// One conversion of printf-style and str.format() specs, after the value
// was chosen: flags, width, precision and the type letter. Both syntaxes
// are parsed into this one shape (append_percent_format() and
// parse_format_spec() below), so that the formatting itself is written once.
// -1 in width or precision means "not given".
struct FormatSpec {
    char fill = ' ';
    char align = 0;  // '<', '>', '^', '=' or 0 for the type's default
    char sign = '-';
    bool alternate = false;
    bool zero_pad = false;
    bool thousands = false;
    int width = -1;
    int precision = -1;
    char type = 0;
};

// Pads a formatted value to the spec's width, counted in code points as
// Python counts it. `default_align` is the type's: numbers to the right,
// strings to the left. The "=" alignment (and the "0" flag with no explicit
// alignment) puts the padding between the sign or 0x prefix and the digits:
// "%+05d" % 3 is "+0003".
//
// A known difference: the "0" flag does nothing for strings here, where
// Python pads them too ("%05s" % "ab" is "   ab", "{:05}".format("ab") is
// "ab000"; both give "ab   " here).
std::string pad(std::string body, const FormatSpec& spec, char default_align) {
    auto length = static_cast<int>(detail::code_point_count(body));
    if (spec.width <= length) return body;
    auto missing = static_cast<std::size_t>(spec.width - length);
    char align = spec.align != 0 ? spec.align : default_align;
    if (align == '=' || (spec.zero_pad && align != '<' && align != '^' && spec.align == 0)) {
        std::size_t sign_length =
            (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
        if (body.size() > sign_length + 1 && body[sign_length] == '0' &&
            (body[sign_length + 1] == 'x' || body[sign_length + 1] == 'X' ||
             body[sign_length + 1] == 'o')) {
            sign_length += 2;  // "0x" stays in front of the zeros
        }
        char fill = spec.zero_pad && spec.align == 0 ? '0' : spec.fill;
        return body.insert(sign_length, missing, fill);
    }
    if (align == '<') return body + std::string(missing, spec.fill);
    if (align == '^') {
        std::size_t before = missing / 2;
        return std::string(before, spec.fill) + body + std::string(missing - before, spec.fill);
    }
    return std::string(missing, spec.fill) + body;
}

// The "," option: a comma every three digits of the integer part, which
// ends at the decimal point or the exponent. The zeros pad() adds later are
// not grouped (Python's "{:010,}" would write "00,001,234").
std::string group_thousands(std::string digits) {
    std::size_t end = digits.find_first_of(".eE");
    if (end == std::string::npos) end = digits.size();
    std::size_t start = (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) ? 1 : 0;
    for (std::size_t i = end; i > start + 3; i -= 3) digits.insert(i - 3, ",");
    return digits;
}

// The sign option: '-' (only negatives), '+' (always), ' ' (a space for
// positives, so columns line up). The digits come without a sign, which lets
// "%x" % -255 give "-ff" as Python does, not two's complement.
std::string with_sign(std::string digits, bool negative, char sign) {
    if (negative) return "-" + digits;
    if (sign == '+') return "+" + digits;
    if (sign == ' ') return " " + digits;
    return digits;
}

// "%d", "%x", "%X", "%o" and str.format()'s "d", "x", "X", "o". The
// precision is ignored: Python's "%.3d" % 5 is "005", here "5".
std::string format_integer(std::int64_t number, const FormatSpec& spec) {
    bool negative = number < 0;
    // The magnitude in unsigned arithmetic: -INT64_MIN does not fit in a
    // signed 64-bit integer, but 0 - n wraps to the right unsigned value.
    auto magnitude = negative ? static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(number)
                              : static_cast<std::uint64_t>(number);
    char buffer[80];
    std::string prefix;
    switch (spec.type) {
        case 'x':
            std::snprintf(buffer, sizeof buffer, "%llx",
                          static_cast<unsigned long long>(magnitude));
            prefix = "0x";
            break;
        case 'X':
            std::snprintf(buffer, sizeof buffer, "%llX",
                          static_cast<unsigned long long>(magnitude));
            prefix = "0X";
            break;
        case 'o':
            std::snprintf(buffer, sizeof buffer, "%llo",
                          static_cast<unsigned long long>(magnitude));
            prefix = "0o";
            break;
        default:
            std::snprintf(buffer, sizeof buffer, "%llu",
                          static_cast<unsigned long long>(magnitude));
            break;
    }
    std::string digits = buffer;
    if (spec.thousands) digits = group_thousands(digits);
    if (spec.alternate) digits = prefix + digits;
    return pad(with_sign(digits, negative, spec.sign), spec, '>');
}

// printf's "%.<precision>f" of a magnitude whose product with
// 10**precision is below 2**52, the prices and percentages of a page, in
// less than half the instructions of std::to_chars's general algorithm
// (which was an eighth of a page that prints 100 prices). False when the
// number is out of that range.
//
// The product is exactly y + e, where y is the rounded product and fma()
// gives e, the part rounding dropped. y's fraction is a multiple of y's
// ulp, and so is 0.5 below 2**52: a fraction other than 0.5 is further
// than e can reach from it, and decides alone; at exactly 0.5 e's sign
// decides, or, when e is 0 (a true tie), the even neighbour, as printf and
// Python round.
bool append_fixed_digits(std::string& out, double magnitude, int precision) {
    static constexpr double kPowersOfTen[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                              1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    constexpr double kTwoToThe52 = 4503599627370496.0;
    if (precision < 0 || precision > 15) return false;
    double scale = kPowersOfTen[precision];
    double product = magnitude * scale;
    if (!(product < kTwoToThe52)) return false;  // too large, inf, or nan
    double dropped = std::fma(magnitude, scale, -product);
    double whole = std::floor(product);
    double fraction = product - whole;
    auto units = static_cast<std::uint64_t>(whole);
    if (fraction > 0.5 || (fraction == 0.5 && (dropped > 0 || (dropped == 0 && units % 2 == 1)))) {
        ++units;
    }
    // The digits of `units`, at least precision + 1 of them ("0.05"), with
    // the point before the last `precision`, made in a buffer and appended
    // once.
    char digits[24];
    char* end = std::to_chars(digits, digits + sizeof digits, units).ptr;
    auto count = static_cast<int>(end - digits);
    int leading_zeros = std::max(precision + 1 - count, 0);
    char text[48];
    char* next = std::fill_n(text, leading_zeros, '0');
    next = std::copy(digits, end, next);
    if (precision > 0) {
        char* point = next - precision;
        std::copy_backward(point, next, next + 1);
        *point = '.';
        ++next;
    }
    out.append(text, next);
    return true;
}

// printf's %f, %e or %g of a finite number. std::to_chars prints the same
// digits without reading a format string each time (a page's "%.2f" % price
// spent a seventh of its time in snprintf); it has no "#" (alternate form).
// Its output has no sign: callers pass the magnitude and add the sign with
// with_sign(). A result longer than the buffer (a precision in the hundreds)
// is an OverflowError, where Python would print it. float_digits() is
// the same as a string.
void append_float_digits(std::string& out, double magnitude, char type, int precision,
                         bool alternate) {
    char buffer[512];
    char lower = static_cast<char>(type | 0x20);
    if (!alternate) {
        if (lower == 'f' && append_fixed_digits(out, magnitude, precision)) return;
        std::chars_format style = lower == 'f'   ? std::chars_format::fixed
                                  : lower == 'e' ? std::chars_format::scientific
                                                 : std::chars_format::general;
        auto [end, error] =
            std::to_chars(buffer, buffer + sizeof buffer, magnitude, style, precision);
        if (error != std::errc())
            raise("OverflowError", "formatted float is too long (precision too large?)");
        if (type == 'E' || type == 'G') std::transform(buffer, end, buffer, ::toupper);
        out.append(buffer, end);
        return;
    }
    std::string format = "%#." + std::to_string(precision) + type;
    int written = std::snprintf(buffer, sizeof buffer, format.c_str(), magnitude);
    if (written < 0 || written >= static_cast<int>(sizeof buffer)) {
        raise("OverflowError", "formatted float is too long (precision too large?)");
    }
    out.append(buffer, written);
}

std::string float_digits(double magnitude, char type, int precision, bool alternate) {
    std::string digits;
    append_float_digits(digits, magnitude, type, precision, alternate);
    return digits;
}

// A float (or an int given a float type) for "%" or str.format(), by
// Python's rules: inf and nan are words, which the "0" flag does not fill
// with zeros; no type and no precision is repr() (format(1.0, "") is "1.0",
// where "g" gives "1"); "%" is "f" of the value times 100, then a percent
// sign. With a precision but no type this uses "g", where Python keeps a
// ".0" ("{:.3}".format(1.0) is "1.0", here "1").
std::string format_float(double number, const FormatSpec& spec) {
    char type = spec.type == 0 ? 'g' : spec.type;
    if (std::isnan(number) || std::isinf(number)) {
        std::string word = std::isnan(number) ? "nan" : "inf";
        if (type == 'F' || type == 'E' || type == 'G')
            std::transform(word.begin(), word.end(), word.begin(), ::toupper);
        FormatSpec plain = spec;
        plain.zero_pad = false;
        return pad(with_sign(word, std::signbit(number) && !std::isnan(number), spec.sign), plain,
                   '>');
    }
    if (spec.type == 0 && spec.precision < 0) {  // str.format's "{:}" of a float is its repr
        std::string text;
        detail::append_python_float_repr(text, std::fabs(number));
        return pad(with_sign(text, std::signbit(number), spec.sign), spec, '>');
    }
    bool percent = type == '%';
    if (percent) {
        number *= 100;
        type = 'f';
    }
    int precision = spec.precision < 0 ? 6 : spec.precision;
    std::string digits = float_digits(std::fabs(number), type, precision, spec.alternate);
    if (spec.thousands) digits = group_thousands(digits);
    if (percent) digits += '%';
    return pad(with_sign(digits, std::signbit(number), spec.sign), spec, '>');
}

// A precision on a string is a maximum length, in code points:
// "%.3s" % "héllo" is "hél", never half a character.
std::string format_string(std::string text, const FormatSpec& spec) {
    if (spec.precision >= 0) {
        text.resize(detail::code_point_offset(
            text, std::min<std::size_t>(static_cast<std::size_t>(spec.precision),
                                        detail::code_point_count(text))));
    }
    return pad(std::move(text), spec, '<');
}

// ---- "..." % values ---------------------------------------------------------

// One "%" field in full generality; append_conversion() below takes the
// common cases faster and falls back to this.
std::string percent_conversion(const FormatSpec& spec, const TemplateValue& value) {
    switch (spec.type) {
        case 's': return format_string(value.str(), spec);
        // "%a" is ascii(), which would also escape non-ASCII; here it is repr().
        case 'r':
        case 'a': return format_string(value.repr(), spec);
        case 'c': {
            // A one-character string, or a code point: "%c" % 233 is "é".
            if (value.is_string() && detail::code_point_count(value.as_string()) == 1) {
                return format_string(std::string(value.as_string()), spec);
            }
            if (!is_integral(value)) raise("TypeError", "%c requires int or char");
            std::int64_t code_point = value.as_integer();
            if (code_point < 0 || code_point > 0x10FFFF)
                raise("OverflowError", "%c arg not in range(0x110000)");
            bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;  // UTF-8 has none
            std::string character;
            detail::append_utf8(
                character, surrogate ? detail::kReplacement : static_cast<char32_t>(code_point));
            return format_string(std::move(character), spec);
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            // Python: "%d" % 3.7 is "3" (any real number, truncated), but
            // "%x" % 3.7 is a TypeError (only integers). Hence the two checks
            // and the two messages.
            if (!is_numeric(value)) {
                raise("TypeError", std::string("%") + spec.type + " format: " +
                                       (spec.type == 'd' || spec.type == 'i' || spec.type == 'u'
                                            ? "a real number is required, not "
                                            : "an integer is required, not ") +
                                       std::string(value.type_name()));
            }
            FormatSpec integer = spec;
            if (integer.type == 'i' || integer.type == 'u') integer.type = 'd';
            if (value.type() == Type::floating) {
                if (spec.type != 'd' && spec.type != 'i' && spec.type != 'u') {
                    raise("TypeError", std::string("%") + spec.type +
                                           " format: an integer is required, not float");
                }
                return format_integer(float_to_integer(value.as_float()), integer);
            }
            return format_integer(value.as_integer(), integer);
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
            if (!is_numeric(value)) {
                raise("TypeError", "must be real number, not " + std::string(value.type_name()));
            }
            return format_float(value.as_float(), spec);
        default:
            raise("ValueError", std::string("unsupported format character '") + spec.type + "'");
    }
}

// One field of "..." % values. "%s", "%d" and "%.2f" without a width or a
// flag, most of what pages format, are written straight into `out`.
void append_conversion(std::string& out, const FormatSpec& spec, const TemplateValue& value) {
    // Nothing to pad, no sign to force and no "#": the digits alone are
    // the answer. (A precision on "%d" is dropped here, as it is in
    // format_integer().)
    bool plain = spec.width < 0 && spec.sign == '-' && !spec.alternate;
    char lower = static_cast<char>(spec.type | 0x20);
    if (plain && spec.type == 's' && spec.precision < 0 && value.is_string()) {
        out += value.as_string();
        return;
    }
    if (plain && (spec.type == 'd' || spec.type == 'i' || spec.type == 'u') && is_integral(value)) {
        char digits[24];
        out.append(digits, std::to_chars(digits, digits + sizeof digits, value.as_integer()).ptr);
        return;
    }
    // inf and nan go the long way, which spells them as Python does.
    if (plain && (lower == 'f' || lower == 'e' || lower == 'g') && is_numeric(value) &&
        std::isfinite(value.as_float())) {
        double number = value.as_float();
        int precision = spec.precision < 0 ? 6 : spec.precision;
        if (std::signbit(number)) out += '-';
        append_float_digits(out, std::fabs(number), spec.type, precision, false);
        return;
    }
    out += percent_conversion(spec, value);
}

// The values of "..." % values, and how many of them the fields have taken.
// Python's rules: a tuple gives one value per field, any other value is the
// only one, and a dict may also be read by key with "%(name)s". Not
// copyable: positional_ may point into tuple_items_.
class PercentArguments {
public:
    explicit PercentArguments(const TemplateValue& values)
        : values_(values), is_mapping_(values.type() == Type::dict) {
        // A tuple's items fill the fields in turn; any other value is the
        // one field's, without a vector to hold it.
        if (values.type() == Type::tuple) tuple_items_ = values.items();
        positional_ = values.type() == Type::tuple ? std::span<const TemplateValue>(tuple_items_)
                                                   : std::span<const TemplateValue>(&values, 1);
    }
    PercentArguments(const PercentArguments&) = delete;
    PercentArguments& operator=(const PercentArguments&) = delete;

    // The value of a "%(key)s" field.
    TemplateValue by_key(std::string_view key) {
        if (!is_mapping_) raise("TypeError", "format requires a mapping");
        TemplateValue value = get_item(values_, TemplateValue(key));
        used_mapping_ = true;
        return value;
    }

    // A field without a key takes the next positional value. With a dict,
    // that "value" is the dict itself, and only while no key has been used
    // yet.
    const TemplateValue& next() {
        if (used_ >= positional_.size() || (is_mapping_ && used_mapping_)) {
            raise("TypeError", "not enough arguments for format string");
        }
        return positional_[used_++];
    }

    // Called after the last field: leftover values are an error, except
    // with a dict, whose keys a format need not all use.
    void check_all_used() const {
        if (!is_mapping_ && used_ < positional_.size()) {
            raise("TypeError", "not all arguments converted during string formatting");
        }
    }

private:
    const TemplateValue& values_;
    std::vector<TemplateValue> tuple_items_;
    std::span<const TemplateValue> positional_;
    bool is_mapping_;
    std::size_t used_ = 0;
    bool used_mapping_ = false;
};

// The readers below take `i`, the position in the format, and leave it on
// the first character they did not use.

// The optional "(key)" right after the "%": the dict's value for it, or
// nothing when the field has no key. Python allows nested parentheses in a
// key; the key here ends at the first ")".
std::optional<TemplateValue> read_keyed_argument(std::string_view format, std::size_t& i,
                                                 PercentArguments& arguments) {
    if (format[i] != '(') return std::nullopt;
    std::size_t close = format.find(')', i);
    if (close == std::string_view::npos) raise("ValueError", "incomplete format key");
    TemplateValue value = arguments.by_key(format.substr(i + 1, close - i - 1));
    i = close + 1;
    return value;
}

// The flags, in any order. When both "+" and " " are given, "+" wins, as
// in C.
FormatSpec read_percent_flags(std::string_view format, std::size_t& i) {
    FormatSpec spec;
    for (; i < format.size(); ++i) {
        char flag = format[i];
        if (flag == '-')
            spec.align = '<';
        else if (flag == '+' || flag == ' ')
            spec.sign = spec.sign == '+' ? '+' : flag;
        else if (flag == '0')
            spec.zero_pad = true;
        else if (flag == '#')
            spec.alternate = true;
        else
            break;
    }
    return spec;
}

// A width or a precision: -1 when there are no digits. Past 10000 it is
// refused, far below Python's own limit, so that one field cannot make a
// huge string.
int read_percent_number(std::string_view format, std::size_t& i) {
    int value = -1;
    if (i < format.size() && format[i] == '*') {
        raise("ValueError", "'*' widths are not supported in templates");
    }
    while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
        value = (value < 0 ? 0 : value) * 10 + (format[i++] - '0');
        if (value > 10000) raise("ValueError", "width too big");
    }
    return value;
}

// pad() would put a string on the left, as str.format() does; printf
// puts every type on the right unless "-" is given, and "-" turns the "0"
// flag off ("%-05d" % 3 is "3    ").
void apply_printf_alignment(FormatSpec& spec) {
    if (spec.align == '<') {
        spec.zero_pad = false;
    } else {
        spec.align = '>';                   // printf-style: everything right-aligned unless "-"
        if (spec.zero_pad) spec.align = 0;  // zeros go after the sign
    }
}

// What follows "%" or "%(key)": flags [width] [ "." precision ] type. `i`
// is left on the type letter.
FormatSpec read_percent_spec(std::string_view format, std::size_t& i) {
    FormatSpec spec = read_percent_flags(format, i);
    spec.width = read_percent_number(format, i);
    if (i < format.size() && format[i] == '.') {
        ++i;
        // "%.f" is precision 0, as in C.
        spec.precision = std::max(read_percent_number(format, i), 0);
    }
    if (i == format.size()) raise("ValueError", "incomplete format");
    spec.type = format[i];
    apply_printf_alignment(spec);
    return spec;
}

// "{} and {name}".format(...): fields by position, number or name, each
// with an optional format spec ([[fill]align][sign][#][0][width][,][.precision][type]).
// The fill is one byte here, so a non-ASCII fill character is an "Invalid
// format specifier"; "_" grouping and the "z" option are not supported.
FormatSpec parse_format_spec(std::string_view spec) {
    FormatSpec parsed;
    std::size_t i = 0;
    auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    // An align character in second place means the first is the fill;
    // test that first, since the fill may itself be an align character.
    if (spec.size() >= 2 && is_align(spec[1])) {
        parsed.fill = spec[0];
        parsed.align = spec[1];
        i = 2;
    } else if (!spec.empty() && is_align(spec[0])) {
        parsed.align = spec[0];
        i = 1;
    }
    if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' '))
        parsed.sign = spec[i++];
    if (i < spec.size() && spec[i] == '#') parsed.alternate = (++i, true);
    if (i < spec.size() && spec[i] == '0') parsed.zero_pad = (++i, true);
    auto number = [&]() {
        int value = -1;
        // Capped so that the int cannot overflow and a template cannot ask
        // for a gigabyte of padding.
        while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
            value = (value < 0 ? 0 : value) * 10 + (spec[i++] - '0');
            if (value > 10000) raise("ValueError", "Too many decimal digits in format string");
        }
        return value;
    };
    parsed.width = number();
    if (i < spec.size() && spec[i] == ',') parsed.thousands = (++i, true);
    if (i < spec.size() && spec[i] == '.') {
        ++i;
        parsed.precision = number();
        if (parsed.precision < 0) raise("ValueError", "Format specifier missing precision");
    }
    if (i < spec.size()) parsed.type = spec[i++];
    if (i != spec.size()) raise("ValueError", "Invalid format specifier");
    return parsed;
}

// One "{...}" field's value under its spec: Python's format(value, spec),
// each type accepting its own type letters. Python's int also takes "b",
// "c" and "n", which are not supported here.
std::string format_field(const TemplateValue& value, std::string_view spec_text) {
    FormatSpec spec = parse_format_spec(spec_text);
    if (value.is_string()) {
        if (spec.type != 0 && spec.type != 's') {
            raise("ValueError",
                  std::string("Unknown format code '") + spec.type + "' for object of type 'str'");
        }
        return format_string(std::string(value.as_string()), spec);
    }
    if (is_integral(value) &&
        (spec.type == 0 || std::string_view("dxXo").find(spec.type) != std::string_view::npos)) {
        // format(True, "") is "True", but format(True, "d") is "1".
        if (value.type() == Type::boolean && spec_text.empty()) return value.str();
        return format_integer(value.as_integer(), spec);
    }
    if (is_numeric(value) &&
        (spec.type == 0 || std::string_view("eEfFgG%").find(spec.type) != std::string_view::npos)) {
        return format_float(value.as_float(), spec);
    }
    // Python's object.__format__: an empty spec is str(), anything else an
    // error.
    if (spec_text.empty()) return value.str();
    raise("ValueError", std::string("Unknown format code '") + spec.type +
                            "' for object of type '" + std::string(value.type_name()) + "'");
}

}  // namespace

// str.format(): "{{" and "}}" are literal braces, and each field names an
// argument: "{}" the next positional one, "{0}" by number, "{name}" by
// keyword. Not supported: nested fields in a spec ("{:{width}}"), field
// attributes and items ("{0.x}", "{0[1]}") and conversions ("{!r}"), which
// are a ValueError. Python's error for mixing "{}" and "{0}" is not
// raised; numbering simply goes on.
std::string str_format(std::string_view format, const TemplateArguments& arguments) {
    std::string out;
    std::size_t next_automatic = 0;
    for (std::size_t i = 0; i < format.size(); ++i) {
        char c = format[i];
        if (c == '}') {
            if (i + 1 < format.size() && format[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            raise("ValueError", "Single '}' encountered in format string");
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < format.size() && format[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        std::size_t close = format.find('}', i);
        if (close == std::string_view::npos)
            raise("ValueError", "Single '{' encountered in format string");
        std::string_view field = format.substr(i + 1, close - i - 1);
        std::string_view spec;
        if (std::size_t colon = field.find(':'); colon != std::string_view::npos) {
            spec = field.substr(colon + 1);
            field = field.substr(0, colon);
        }
        if (field.find_first_of(".[!") != std::string_view::npos) {
            raise("ValueError",
                  "format fields with attributes, items or conversions are not "
                  "supported in templates: " +
                      std::string(field));
        }
        const TemplateValue* value = nullptr;
        if (field.empty() || (field[0] >= '0' && field[0] <= '9')) {
            // from_chars reads the leading digits only: "{0a}" reads as
            // "{0}" here, where Python looks up the keyword "0a".
            std::size_t index = next_automatic;
            if (field.empty()) {
                ++next_automatic;
            } else if (std::from_chars(field.data(), field.data() + field.size(), index).ec !=
                       std::errc()) {
                raise("ValueError", "Too many decimal digits in format string");  // Python's words
            }
            value = index < arguments.positional.size() ? &arguments.positional[index] : nullptr;
            if (value == nullptr) {
                raise("IndexError", "Replacement index " + std::to_string(index) +
                                        " out of range for positional args tuple");
            }
        } else {
            value = arguments.find_keyword(field);
            if (value == nullptr) raise("KeyError", "'" + std::string(field) + "'");
        }
        out += format_field(*value, spec);
        i = close;
    }
    return out;
}

std::string percent_format(std::string_view format, const TemplateValue& values) {
    std::string out;
    append_percent_format(out, format, values);
    return out;
}

// Python's printf-style formatting, parsed as it goes: "%" [ "(" key ")" ]
// flags [width] [ "." precision ] type. A field's positional value is
// taken only once its spec has been read: "%%" takes none. As in Python, a
// dict can also fill one plain "%s" (itself), and leftover values are an
// error except with a dict.
void append_percent_format(std::string& out, std::string_view format, const TemplateValue& values) {
    PercentArguments arguments(values);
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            out += format[i];
            continue;
        }
        if (++i == format.size()) raise("ValueError", "incomplete format");
        std::optional<TemplateValue> keyed = read_keyed_argument(format, i, arguments);
        FormatSpec spec = read_percent_spec(format, i);
        // "%%" is a literal percent sign and takes no value.
        if (spec.type == '%') {
            out += '%';
            continue;
        }
        const TemplateValue& value = keyed ? *keyed : arguments.next();
        append_conversion(out, spec, value);
    }
    arguments.check_all_used();
}

}  // namespace tornado::template_detail

// ---- compiled::PercentFormat --------------------------------------------------

namespace tornado::compiled {

// "before %<spec> after": the one field's spec, read as append_percent_format()
// reads it, and the literal text around it ("%%" already made "%").
struct PercentFormat::OneField {
    std::string before;
    std::string after;
    template_detail::FormatSpec spec;
};

// Any format the general way must read (a "(key)", two fields, none, one
// that does not parse) leaves one_field_ empty: append() then reads it at
// each call, and raises its errors where Python would, when it is applied.
PercentFormat::PercentFormat(std::string_view format) : format_(format) {
    auto field = std::make_unique<OneField>();
    std::string* literal = &field->before;
    bool found = false;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            *literal += format[i];
            continue;
        }
        if (++i == format.size() || format[i] == '(') return;
        template_detail::FormatSpec spec;
        try {
            spec = template_detail::read_percent_spec(format, i);
        } catch (const template_detail::PythonError&) {
            return;
        }
        if (spec.type == '%') {
            *literal += '%';
            continue;
        }
        if (found) return;
        found = true;
        field->spec = spec;
        literal = &field->after;
    }
    if (found) one_field_ = std::move(field);
}

PercentFormat::~PercentFormat() = default;

bool PercentFormat::writes_no_markup() const {
    return one_field_ != nullptr &&
           std::string_view("diuoxXeEfFgG").find(one_field_->spec.type) != std::string_view::npos &&
           !template_detail::has_markup(one_field_->before) &&
           !template_detail::has_markup(one_field_->after);
}

void PercentFormat::append(std::string& out, const TemplateValue& values) const {
    using Type = TemplateValue::Type;
    if (one_field_ == nullptr || values.type() == Type::tuple || values.type() == Type::dict) {
        template_detail::append_percent_format(out, format_, values);
        return;
    }
    out += one_field_->before;
    template_detail::append_conversion(out, one_field_->spec, values);
    out += one_field_->after;
}

TemplateValue PercentFormat::apply(const TemplateValue& values) const {
    std::string out;
    append(out, values);
    return out;
}

}  // namespace tornado::compiled
