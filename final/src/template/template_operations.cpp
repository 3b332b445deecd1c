// template_operations.cpp: see template_operations.h. Each error message is
// Python 3.11's for the same mistake.
//
// Python is the specification here: for each operator, method and builtin,
// the question is "what would CPython do with these two values?". The file
// follows the header's order: numbers (arithmetic with 64-bit overflow
// checks), comparisons, strings, number formatting (shared by "%" and
// str.format()), items and slices, attributes and methods, and last the
// builtins and Tornado's template namespace.
//
// Every error is thrown as a PythonError carrying Python's exception type,
// so that a template's {% try %}/{% except ValueError %} sees the same type
// that Tornado's generated Python code would raise.
#include "template/template_operations.h"

#include <wctype.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "core/python_int.h"
#include "core/python_text.h"
#include "core/text.h"
#include "template/python_format.h"
#include "tornado/escape.h"

namespace tornado::template_detail {

namespace {

using Type = TemplateValue::Type;

// The size limits (kMaxItems, kMaxStringBytes) live in template_expression.h.
// A list or string past them (from range(), "*", replace()) is refused:
// Python would make it lazily or use the memory; a page has no use for it,
// and a template should not be able to exhaust the server.

std::string quoted_type(const TemplateValue& value) {
    return "'" + std::string(value.type_name()) + "'";
}

[[noreturn]] void raise_unsupported(std::string_view op, const TemplateValue& left,
                                    const TemplateValue& right) {
    raise("TypeError", "unsupported operand type(s) for " + std::string(op) + ": " +
                           quoted_type(left) + " and " + quoted_type(right));
}

[[noreturn]] void raise_overflow() {
    raise("OverflowError", "integer overflow (a template's integers are 64-bit)");
}

// Python's int never overflows; ours has 64 bits. Rather than wrap around
// silently (and signed overflow is undefined behaviour in C++ anyway), each
// arithmetic step asks the compiler's overflow builtins and turns an
// overflow into Python's OverflowError.
std::int64_t checked_add(std::int64_t a, std::int64_t b) {
    std::int64_t result = 0;
    if (__builtin_add_overflow(a, b, &result)) raise_overflow();
    return result;
}

std::int64_t checked_subtract(std::int64_t a, std::int64_t b) {
    std::int64_t result = 0;
    if (__builtin_sub_overflow(a, b, &result)) raise_overflow();
    return result;
}

std::int64_t checked_multiply(std::int64_t a, std::int64_t b) {
    std::int64_t result = 0;
    if (__builtin_mul_overflow(a, b, &result)) raise_overflow();
    return result;
}

// Python's // and % (core/python_int.h). The caller has ruled out b == 0.
std::int64_t floor_divide(std::int64_t a, std::int64_t b) {
    // The one quotient that does not fit: -2**63 // -1 is 2**63.
    if (a == INT64_MIN && b == -1) raise_overflow();
    return detail::python_floor_divide(a, b);
}

std::int64_t floor_modulo(std::int64_t a, std::int64_t b) {
    return detail::python_floor_modulo(a, b);
}

// CPython's float_rem: fmod() keeps the dividend's sign, Python wants the
// divisor's, so a remainder of the wrong sign is moved by one divisor; a
// zero remainder takes the divisor's sign too (-1.0 % 2.0 is 1.0, and
// 0.0 % -2.0 is -0.0).
double float_modulo(double a, double b) {
    double remainder = std::fmod(a, b);
    if (remainder != 0 && ((remainder < 0) != (b < 0))) remainder += b;
    if (remainder == 0) remainder = std::copysign(0.0, b);
    return remainder;
}

// int ** int. A negative exponent gives a float, as in Python (2 ** -1 is
// 0.5). Otherwise square-and-multiply, each step overflow-checked.
TemplateValue integer_power(std::int64_t base, std::int64_t exponent) {
    if (exponent < 0) {
        if (base == 0) raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
        return std::pow(static_cast<double>(base), static_cast<double>(exponent));
    }
    std::int64_t result = 1;
    while (exponent > 0) {
        if (exponent & 1) result = checked_multiply(result, base);
        exponent >>= 1;
        // Square only when another bit needs it: the last square is never
        // used, and could overflow where the result does not (3 ** 39).
        if (exponent > 0) base = checked_multiply(base, base);
    }
    return result;
}

// Every binary operator on two ints (or bools). "/" is true division and
// always gives a float, as in Python 3. Note that bools come in as ints, so
// True & True gives 1 here where Python keeps a bool (True).
TemplateValue integer_operation(std::string_view op, std::int64_t a, std::int64_t b) {
    if (op == "+") return checked_add(a, b);
    if (op == "-") return checked_subtract(a, b);
    if (op == "*") return checked_multiply(a, b);
    if (op == "/") {
        if (b == 0) raise("ZeroDivisionError", "division by zero");
        return static_cast<double>(a) / static_cast<double>(b);
    }
    if (op == "//" || op == "%") {
        if (b == 0) raise("ZeroDivisionError", "integer division or modulo by zero");
        return op == "//" ? floor_divide(a, b) : floor_modulo(a, b);
    }
    if (op == "**") return integer_power(a, b);
    if (op == "&") return a & b;
    if (op == "|") return a | b;
    if (op == "^") return a ^ b;
    // Only the shifts are left. A shift of 64 or more is undefined in C++,
    // so both directions handle big counts before shifting.
    if (b < 0) raise("ValueError", "negative shift count");
    if (op == "<<") {
        // Overflow unless a fits in the bits left after the shift, tested by
        // shifting the limits right, which cannot overflow. A count of 63 or
        // more is refused outright, even for 0 (Python's 0 << 63 is 0).
        if (b >= 63 || (a != 0 && (a > (INT64_MAX >> b) || a < (INT64_MIN >> b)))) raise_overflow();
        return a * (std::int64_t{1} << b);
    }
    // ">>": an arithmetic shift, so it floors like Python's (-5 >> 1 is -3);
    // shifting everything out leaves the sign.
    return b >= 63 ? (a < 0 ? -1 : 0) : a >> b;  // ">>"
}

// Arithmetic when either side is a float (the other converted, as Python
// does). Two differences from Python to know when fixing a bug: "//" is
// floor(a / b), where CPython derives it from fmod() (so 1 // 0.1 is 10.0
// here, 9.0 in Python), and "**" returns inf or nan where Python raises
// OverflowError or returns a complex number.
TemplateValue float_operation(std::string_view op, double a, double b) {
    if (op == "+") return a + b;
    if (op == "-") return a - b;
    if (op == "*") return a * b;
    if (op == "/") {
        if (b == 0) raise("ZeroDivisionError", "float division by zero");
        return a / b;
    }
    if (op == "//") {
        if (b == 0) raise("ZeroDivisionError", "float floor division by zero");
        return std::floor(a / b);
    }
    if (op == "%") {
        if (b == 0) raise("ZeroDivisionError", "float modulo");
        return float_modulo(a, b);
    }
    if (op == "**") {
        if (a == 0 && b < 0) raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
        return std::pow(a, b);
    }
    return TemplateValue();  // bitwise operators: the caller reports the types
}

// str * int. The size test is done in double so that the product of two
// large numbers cannot overflow before it is compared.
std::string repeat(std::string_view text, std::int64_t times) {
    if (times <= 0 || text.empty()) return "";  // "" * 10**18 is "" at once, not 10**18 rounds
    if (static_cast<double>(text.size()) * static_cast<double>(times) > kMaxStringBytes) {
        raise("MemoryError",
              "a string of more than " + std::to_string(kMaxStringBytes) + " bytes in a template");
    }
    std::string result;
    result.reserve(text.size() * static_cast<std::size_t>(times));
    for (std::int64_t i = 0; i < times; ++i) result += text;
    return result;
}

// A slice or a sum of sequences keeps the type of its operand: a tuple's
// slice is a tuple, a list's a list.
TemplateValue same_kind(const TemplateValue& model, std::vector<TemplateValue> items) {
    return model.type() == Type::tuple ? TemplateValue::tuple(std::move(items))
                                       : TemplateValue::list(std::move(items));
}

// list + list, tuple + tuple, and sequence * int (binary() swaps
// int * sequence so the sequence is always `left`). Python refuses list +
// tuple, with the message below. The result is a new template-made list:
// lists are values here, never changed in place.
TemplateValue sequence_operation(std::string_view op, const TemplateValue& left,
                                 const TemplateValue& right) {
    if (op == "+" && left.type() == right.type()) {
        std::vector<TemplateValue> items = left.items();
        for (TemplateValue& item : right.items()) items.push_back(std::move(item));
        return same_kind(left, std::move(items));
    }
    if (op == "+") {
        raise("TypeError", "can only concatenate " + std::string(left.type_name()) + " (not \"" +
                               std::string(right.type_name()) + "\") to " +
                               std::string(left.type_name()));
    }
    if (op == "*" && is_integral(right)) {
        std::vector<TemplateValue> once = left.items(), items;
        std::int64_t times = once.empty() ? 0 : right.as_integer();  // [] * 10**18 at once
        if (times > 0 &&
            static_cast<double>(once.size()) * static_cast<double>(times) > kMaxItems) {
            raise("MemoryError",
                  "a list of more than " + std::to_string(kMaxItems) + " items in a template");
        }
        for (std::int64_t i = 0; i < times; ++i)
            items.insert(items.end(), once.begin(), once.end());
        return same_kind(left, std::move(items));
    }
    raise_unsupported(op, left, right);
}

// Python's three-way comparison for "<" and friends: numbers by value,
// strings by code point, lists and tuples item by item. Anything else is
// a TypeError naming the operator.
//
// A three-way answer cannot say "unordered", so NaN compares as equal to
// everything: 1.0 <= nan is True here, False in Python.
int order(std::string_view op, const TemplateValue& left, const TemplateValue& right) {
    if (is_numeric(left) && is_numeric(right)) {
        if (is_integral(left) && is_integral(right)) {
            std::int64_t a = left.as_integer(), b = right.as_integer();
            return a < b ? -1 : (a > b ? 1 : 0);
        }
        double a = left.as_float(), b = right.as_float();
        return a < b ? -1 : (a > b ? 1 : 0);
    }
    if (left.is_string() && right.is_string()) {
        int result = left.as_string().compare(right.as_string());  // UTF-8 keeps code point order
        return result < 0 ? -1 : (result > 0 ? 1 : 0);
    }
    // As Python: the first pair of items that differ decides; if one
    // sequence runs out first, the shorter is less. `op` is passed down only
    // for the error message of an item pair that cannot be ordered.
    if (left.is_sequence() && left.type() == right.type()) {
        std::vector<TemplateValue> a = left.items(), b = right.items();
        for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
            if (!equals(a[i], b[i])) return order(op, a[i], b[i]);
        }
        return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
    }
    raise("TypeError", "'" + std::string(op) + "' not supported between instances of " +
                           quoted_type(left) + " and " + quoted_type(right));
}

// `item in container`. A substring test for strings, == for each item of
// a sequence, a key test for dicts. Dict keys are always strings here
// (JSON), so any other item is simply not in the dict (where Python would
// still look, or say an unhashable list cannot be a key).
bool contains(const TemplateValue& container, const TemplateValue& item) {
    switch (container.type()) {
        case Type::string:
            if (!item.is_string()) {
                raise("TypeError", "'in <string>' requires string as left operand, not " +
                                       std::string(item.type_name()));
            }
            return container.as_string().find(item.as_string()) != std::string_view::npos;
        case Type::list:
        case Type::tuple:
            for (const TemplateValue& element : container.items()) {
                if (equals(element, item)) return true;
            }
            return false;
        case Type::dict: return item.is_string() && container.as_json().contains(item.as_string());
        default:
            raise("TypeError", "argument of type " + quoted_type(container) + " is not iterable");
    }
}

// A sequence index, negative counting from the end; IndexError outside.
// `size` is in items, or in code points for a string. The messages differ
// by type, as Python's do (a string's index error names the key's type in
// quotes, a list's does not).
std::size_t checked_index(const TemplateValue& key, std::size_t size,
                          const TemplateValue& container) {
    if (!is_integral(key)) {
        std::string what = container.is_string() ? "string indices must be integers, not "
                                                 : std::string(container.type_name()) +
                                                       " indices must be integers or slices, not ";
        raise("TypeError",
              what + (container.is_string() ? quoted_type(key) : std::string(key.type_name())));
    }
    std::int64_t index = key.as_integer();
    if (index < 0) index += static_cast<std::int64_t>(size);
    if (index < 0 || index >= static_cast<std::int64_t>(size)) {
        std::string name = container.is_string() ? "string" : std::string(container.type_name());
        raise("IndexError", name + " index out of range");
    }
    return static_cast<std::size_t>(index);
}

// s[i] of a str: one code point, as a new string. code_point_offset() walks
// from the start, so each call is linear in non-ASCII text.
std::string character_at(std::string_view text, std::size_t index) {
    std::size_t offset = detail::code_point_offset(text, index);
    return std::string(text.substr(offset, detail::code_point_length(text, offset)));
}

// ---- strings ----------------------------------------------------------------

// Whether the code point that starts at text[at] is whitespace; its length.
// Decoding (not just testing the byte) is what lets U+00A0 or U+3000 count
// as space, as in Python. A malformed byte is never space, and its length
// still moves the caller on.
std::pair<bool, std::size_t> space_at(std::string_view text, std::size_t at) {
    detail::Decoded decoded = detail::decode_utf8(text, at);
    return {decoded.valid && detail::is_python_space(decoded.code_point), decoded.length};
}

// str.strip(), lstrip() and rstrip(); `characters` is the optional chars
// argument (None or absent: Python's whitespace). The result is a view into
// `text`: stripping only moves its ends.
std::string_view strip(std::string_view text, bool left, bool right,
                       const TemplateValue* characters) {
    // Whole characters: "é".strip("©") must not take the byte the two share.
    // Finding one whole UTF-8 character inside the set's UTF-8 can only
    // match at a character boundary (UTF-8 is self-synchronising), so a
    // plain substring search is a correct "is it in the set".
    auto strippable = [&](std::string_view character) {
        if (characters == nullptr || characters->is_none()) return space_at(character, 0).first;
        return characters->as_string().find(character) != std::string_view::npos;
    };
    while (left && !text.empty()) {
        std::size_t length = detail::code_point_length(text, 0);
        if (!strippable(text.substr(0, length))) break;
        text.remove_prefix(length);
    }
    while (right && !text.empty()) {
        // Back up over continuation bytes to where the last character starts.
        std::size_t last = text.size() - 1;
        while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
        if (!strippable(text.substr(last))) break;
        text.remove_suffix(text.size() - last);
    }
    return text;
}

// str.split(sep, maxsplit); a negative max_splits means no limit. The two
// forms behave differently in Python, and so here: without a separator,
// runs of whitespace split and empty parts are dropped ("  a  b ".split()
// is ['a', 'b']); with one, every occurrence splits and empty parts stay
// ("a,,b".split(",") is ['a', '', 'b']).
std::vector<TemplateValue> split(std::string_view text, const TemplateValue* separator,
                                 std::int64_t max_splits) {
    std::vector<TemplateValue> parts;
    if (separator == nullptr || separator->is_none()) {  // runs of whitespace, ends ignored
        std::size_t i = 0;
        while (true) {
            while (i < text.size() && space_at(text, i).first) i += space_at(text, i).second;
            if (i == text.size()) return parts;
            // The splits are used up: the rest is the last part. Python
            // keeps its trailing whitespace ("a b  ".split(None, 1) is
            // ['a', 'b  ']); this strips it, a difference from Python.
            if (max_splits >= 0 && static_cast<std::int64_t>(parts.size()) == max_splits) {
                parts.emplace_back(std::string(strip(text.substr(i), false, true, nullptr)));
                return parts;
            }
            std::size_t end = i;
            while (end < text.size() && !space_at(text, end).first)
                end += space_at(text, end).second;
            parts.emplace_back(std::string(text.substr(i, end - i)));
            i = end;
        }
    }
    std::string_view sep = separator->as_string();
    if (sep.empty()) raise("ValueError", "empty separator");
    std::size_t start = 0;
    while (max_splits < 0 || static_cast<std::int64_t>(parts.size()) < max_splits) {
        std::size_t found = text.find(sep, start);
        if (found == std::string_view::npos) break;
        parts.emplace_back(std::string(text.substr(start, found - start)));
        start = found + sep.size();
    }
    parts.emplace_back(std::string(text.substr(start)));
    return parts;
}

// str.replace(old, new, count); a negative count replaces every one.
// The size is checked as the result grows, because a short template can
// ask for a huge one ("x" * 1000).replace("", "y" * 10000).
std::string replace_all(std::string_view text, std::string_view old, std::string_view replacement,
                        std::int64_t count) {
    std::string result;
    std::size_t start = 0;
    std::int64_t done = 0;
    auto check_size = [&] {  // as repeat(): a template should not exhaust the server
        if (result.size() > static_cast<std::size_t>(kMaxStringBytes)) {
            raise("MemoryError", "a string of more than " + std::to_string(kMaxStringBytes) +
                                     " bytes in a template");
        }
    };
    if (old.empty()) {  // Python puts the replacement between every character (not byte)
        for (std::size_t i = 0; i <= text.size();) {
            if (count >= 0 && done == count) return result + std::string(text.substr(i));
            result += replacement;
            ++done;
            check_size();
            if (i == text.size()) break;
            std::size_t length = detail::code_point_length(text, i);
            result += text.substr(i, length);
            i += length;
        }
        return result;
    }
    while (count < 0 || done < count) {
        std::size_t found = text.find(old, start);
        if (found == std::string_view::npos) break;
        result += text.substr(start, found - start);
        result += replacement;
        check_size();
        start = found + old.size();
        ++done;
    }
    result += text.substr(start);
    return result;
}

// str.startswith() and endswith(): the affix may be a tuple of strings,
// any of which matches (Python accepts a tuple, not a list). The optional
// start and end arguments are not supported (and are ignored).
bool affix_matches(std::string_view text, const TemplateValue& affix, bool at_start) {
    if (affix.type() == Type::tuple) {
        for (const TemplateValue& each : affix.items()) {
            if (affix_matches(text, each, at_start)) return true;
        }
        return false;
    }
    if (!affix.is_string()) {
        raise("TypeError", std::string(at_start ? "startswith" : "endswith") +
                               " first arg must be str or a tuple of str, not " +
                               std::string(affix.type_name()));
    }
    return at_start ? text.starts_with(affix.as_string()) : text.ends_with(affix.as_string());
}

// Python's str.upper(), lower(), title() and capitalize(), code point by
// code point with the C library's Unicode tables ("é".upper() is "É"). The
// tables map one code point to one, so the few letters Python expands
// ("ß".upper() is "SS") keep their case here.
//
// Python's title() and capitalize() use a letter's titlecase form, which
// only differs from upper case for a few digraphs ("ǆ".title() is "ǅ",
// "Ǆ" here). Without the C.UTF-8 locale only ASCII changes case.
std::string change_case(std::string_view text, std::string_view how) {
    locale_t unicode = detail::unicode_ctype();
    auto is_cased = [&](char32_t c) {
        if (c < 0x80 || unicode == static_cast<locale_t>(nullptr)) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        }
        return ::iswupper_l(static_cast<wint_t>(c), unicode) ||
               ::iswlower_l(static_cast<wint_t>(c), unicode);
    };
    auto to_case = [&](char32_t c, bool upper) -> char32_t {
        if (c < 0x80) {
            if (upper && c >= 'a' && c <= 'z') return c - 32;
            if (!upper && c >= 'A' && c <= 'Z') return c + 32;
            return c;
        }
        if (unicode == static_cast<locale_t>(nullptr)) return c;
        auto mapped = upper ? ::towupper_l(static_cast<wint_t>(c), unicode)
                            : ::towlower_l(static_cast<wint_t>(c), unicode);
        return static_cast<char32_t>(mapped);
    };
    std::string result;
    result.reserve(text.size());
    bool after_cased = false;  // title(): a letter after a cased one is lowered
    for (std::size_t at = 0; at < text.size();) {
        detail::Decoded decoded = detail::decode_utf8(text, at);
        if (!decoded.valid) {  // not UTF-8: the bytes stay as they are
            result.append(text.substr(at, decoded.length));
            at += decoded.length;
            after_cased = false;
            continue;
        }
        // title(): upper after an uncased character, lower after a cased
        // one (so "they're" gives "They'Re", as in Python); capitalize():
        // upper only for the first character.
        char32_t c = decoded.code_point;
        bool upper =
            how == "upper" || (how == "title" && !after_cased) || (how == "capitalize" && at == 0);
        detail::append_utf8(result, to_case(c, upper));
        after_cased = is_cased(c);
        at += decoded.length;
    }
    return result;
}

// append_join() for a JSON array of strings, copied from where they lie; false,
// with `out` as it was, when an item is not a string (append_join() then
// raises the TypeError that names it).
bool append_json_strings(std::string& out, std::string_view separator, const JSON& array) {
    std::size_t start = out.size();
    for (std::size_t i = 0; i < array.size(); ++i) {
        if (!array[i].is_string()) {
            out.resize(start);
            return false;
        }
        if (i > 0) out += separator;
        out += array[i].get_ref<const std::string&>();
    }
    return true;
}

}  // namespace

// Asked while a template is compiled, never while a page renders, so the
// escape itself answers, and the five characters are written down once.
bool has_markup(std::string_view text) { return xhtml_escape(text) != text; }

// separator.join(parts). A part that is not a string is a TypeError, and
// `out` is left as it was: it may be the page being written, and a
// {% try %} around the failed join must not leave half of it there.
// Iteration reads a list's items in place; `parts` outlives it.
void append_join(std::string& out, std::string_view separator, const TemplateValue& parts) {
    if (const JSON* array = parts.type() == Type::list ? parts.json_node() : nullptr;
        array != nullptr && append_json_strings(out, separator, *array)) {
        return;
    }
    Iteration values(parts);
    std::size_t start = out.size();
    for (std::size_t i = 0; i < values.size(); ++i) {
        TemplateValue part = values[i];
        if (!part.is_string()) {
            out.resize(start);
            raise("TypeError", "sequence item " + std::to_string(i) + ": expected str instance, " +
                                   std::string(part.type_name()) + " found");
        }
        if (i > 0) out += separator;
        out += part.as_string();
    }
}

// ---- calls ------------------------------------------------------------------

// The order of the handlers matters: PythonError and TemplateError are
// std::exceptions too, and must pass through untouched before the generic
// translations below catch them. (SyntaxError derives from
// std::invalid_argument, so it too would become a ValueError.) Anything
// not derived from std::exception passes through as it is. The original
// exception is kept as the cause, for TemplateError::cause().
TemplateValue call_function(const TemplateValue& function, const TemplateArguments& arguments) {
    try {
        return function.call(arguments);
    } catch (const PythonError&) {
        throw;  // the builtins raise Python's own
    } catch (const TemplateError&) {
        // Another template's error (a module's render_string): it already
        // names its own file and line, the innermost, as Python's traceback
        // would; a {% try %} around the call still catches it by its type.
        throw;
    } catch (const std::invalid_argument& error) {
        throw PythonError("ValueError", error.what(), std::current_exception());
    } catch (const std::out_of_range& error) {
        throw PythonError("IndexError", error.what(), std::current_exception());
    } catch (const std::overflow_error& error) {
        throw PythonError("OverflowError", error.what(), std::current_exception());
    } catch (const std::exception& error) {
        throw PythonError("Exception", error.what(), std::current_exception());
    }
}

// The result must be text: Tornado's _tt_utf8 raises the TypeError.
void append_function_text(std::string& out, const TemplateValue& function, TemplateValue text) {
    TemplateValue result = call_function(function, {{std::move(text)}, {}});
    if (!result.is_string()) {
        throw PythonError("TypeError", "Expected bytes, unicode, or None; got <class '" +
                                           std::string(result.type_name()) + "'>");
    }
    out += result.as_string();
}

// ---- operators --------------------------------------------------------------

// Python dispatches on both operands' types; the order of the tests below
// is that dispatch: int with int first (so bools do integer arithmetic),
// then any number pair as floats, then str on the left ("%" is formatting,
// not modulo), then int * str, then sequences (either side of "*").
TemplateValue binary(std::string_view op, const TemplateValue& left, const TemplateValue& right) {
    if (is_integral(left) && is_integral(right)) {
        return integer_operation(op, left.as_integer(), right.as_integer());
    }
    if (is_numeric(left) && is_numeric(right)) {
        // None back means a bitwise operator, which floats do not have.
        TemplateValue result = float_operation(op, left.as_float(), right.as_float());
        if (!result.is_none()) return result;
        raise_unsupported(op, left, right);
    }
    if (left.is_string()) {
        if (op == "%") return percent_format(left.as_string(), right);
        if (op == "+" && right.is_string()) {
            std::string joined(left.as_string());
            joined += right.as_string();
            return joined;
        }
        if (op == "+") {
            raise("TypeError", "can only concatenate str (not \"" + std::string(right.type_name()) +
                                   "\") to str");
        }
        if (op == "*" && is_integral(right)) return repeat(left.as_string(), right.as_integer());
    }
    if (op == "*" && is_integral(left) && right.is_string()) {
        return repeat(right.as_string(), left.as_integer());
    }
    if (left.is_sequence()) return sequence_operation(op, left, right);
    if (op == "*" && is_integral(left) && right.is_sequence()) {
        return sequence_operation(op, right, left);
    }
    raise_unsupported(op, left, right);
}

TemplateValue unary(char op, const TemplateValue& operand) {
    if (is_integral(operand)) {
        std::int64_t number = operand.as_integer();
        // -INT64_MIN does not fit; the checked subtraction says so.
        if (op == '-') return checked_subtract(0, number);
        if (op == '+') return number;
        return ~number;
    }
    if (operand.type() == Type::floating && op != '~') {
        return op == '-' ? -operand.as_float() : operand.as_float();
    }
    raise("TypeError",
          std::string("bad operand type for unary ") + op + ": " + quoted_type(operand));
}

// Python's ==. Numbers compare by value across int, float and bool
// (1 == 1.0 == True); two integral ones as integers, so that large ints
// do not lose digits in a double. Other types must match: [1] == (1,) is
// False, as in Python. Dicts are JSON, and nlohmann's == compares numbers
// across its integer and float kinds as Python does.
bool equals(const TemplateValue& left, const TemplateValue& right) {
    if (is_numeric(left) && is_numeric(right)) {
        if (is_integral(left) && is_integral(right)) return left.as_integer() == right.as_integer();
        return left.as_float() == right.as_float();
    }
    if (left.type() != right.type()) return false;
    switch (left.type()) {
        case Type::none: return true;
        case Type::string: return left.as_string() == right.as_string();
        case Type::list:
        case Type::tuple: {
            // The same list equals itself at once, as in Python: a list that
            // holds one list twice at each level would take 2**depth steps.
            if (left.is_same(right)) return true;
            if (left.length() != right.length()) return false;
            for (std::size_t i = 0; i < left.length(); ++i) {
                if (!equals(left.item(i), right.item(i))) return false;
            }
            return true;
        }
        case Type::dict: return left.as_json() == right.as_json();
        case Type::function:
        case Type::object: return left.is_same(right);
        default: return false;
    }
}

bool compare(std::string_view op, const TemplateValue& left, const TemplateValue& right) {
    if (op == "==") return equals(left, right);
    if (op == "!=") return !equals(left, right);
    if (op == "in") return contains(right, left);
    if (op == "not in") return !contains(right, left);
    if (op == "is" || op == "is not") {
        // Identity: None, True and False are singletons; containers are the
        // same object when they share their items. Numbers and strings are
        // compared by value: CPython caches small ints and interns short
        // strings, so `x is 1` usually holds there too, but a template
        // relying on it is relying on an accident.
        bool same = left.type() == right.type() &&
                    (left.is_sequence() || left.type() == Type::dict ? left.is_same(right)
                                                                     : equals(left, right));
        return op == "is" ? same : !same;
    }
    int result = order(op, left, right);
    if (op == "<") return result < 0;
    if (op == "<=") return result <= 0;
    if (op == ">") return result > 0;
    return result >= 0;  // ">="
}

// ---- items, slices, attributes ----------------------------------------------

const JSON* find_key(const JSON& object, std::string_view key) {
    // A record's few keys are searched in order, comparing lengths first:
    // the map's own find() compares whole strings at each step down its
    // tree, and finding keys in rows was a tenth of a page's time.
    const auto& members = object.get_ref<const JSON::object_t&>();
    if (members.size() <= 8) {
        for (const auto& [name, value] : members) {
            if (name.size() == key.size() &&
                std::memcmp(name.data(), key.data(), key.size()) == 0) {
                return &value;
            }
        }
        return nullptr;
    }
    auto found = members.find(key);
    return found != members.end() ? &found->second : nullptr;
}

// container[key]. For a dict the value is read in place: element_of()
// shares the dict's JSON instead of copying the value out.
TemplateValue get_item(const TemplateValue& container, const TemplateValue& key) {
    switch (container.type()) {
        case Type::list:
        case Type::tuple: {
            return container.item(checked_index(key, container.length(), container));
        }
        case Type::string: {
            std::string_view text = container.as_string();
            return character_at(text,
                                checked_index(key, detail::code_point_count(text), container));
        }
        case Type::dict: {
            const std::shared_ptr<const JSON>& object = container.shared_json();
            if (key.is_string()) {
                if (const JSON* found = find_key(*object, key.as_string())) {
                    return TemplateValue::element_of(object, *found);
                }
            }
            // Keys are strings, so any other key is missing; only a list
            // is a different error in Python, since it cannot be a key.
            if (key.is_sequence() && key.type() == Type::list)
                raise("TypeError", "unhashable type: 'list'");
            raise("KeyError", key.repr());
        }
        case Type::object:
            // A row's fields are its keys too: row["id"] as row.id.
            if (container.is_row()) {
                if (key.is_string()) {
                    if (std::optional<TemplateValue> field = container.attribute(key.as_string())) {
                        return std::move(*field);
                    }
                }
                raise("KeyError", key.repr());
            }
            // A C++ object with item access says so with a __getitem__, as in Python.
            if (std::optional<TemplateValue> get = container.attribute("__getitem__")) {
                return call_function(*get, {{key}, {}});
            }
            raise("TypeError", quoted_type(container) + " object is not subscriptable");
        default: raise("TypeError", quoted_type(container) + " object is not subscriptable");
    }
}

TemplateValue get_slice(const TemplateValue& container, const TemplateValue& start_value,
                        const TemplateValue& stop_value, const TemplateValue& step_value) {
    bool is_text = container.is_string();
    if (!is_text && !container.is_sequence()) {
        raise("TypeError", quoted_type(container) + " object is not subscriptable");
    }
    auto bound = [](const TemplateValue& value) -> std::optional<std::int64_t> {
        if (value.is_none()) return std::nullopt;
        if (!is_integral(value)) {
            raise("TypeError",
                  "slice indices must be integers or None or have an __index__ method");
        }
        return value.as_integer();
    };
    std::int64_t step = bound(step_value).value_or(1);
    if (step == 0) raise("ValueError", "slice step cannot be zero");
    auto size = static_cast<std::int64_t>(is_text ? detail::code_point_count(container.as_string())
                                                  : container.length());
    // Python's PySlice_AdjustIndices: defaults by direction, negatives from
    // the end, then clamped into range.
    auto adjust = [&](std::optional<std::int64_t> index, std::int64_t missing) {
        if (!index) return missing;
        std::int64_t value = *index < 0 ? *index + size : *index;
        if (value < 0) return step < 0 ? std::int64_t{-1} : std::int64_t{0};
        if (value >= size) return step < 0 ? size - 1 : size;
        return value;
    };
    // A missing start or stop is the end the step walks away from or to.
    std::int64_t start = adjust(bound(start_value), step < 0 ? size - 1 : 0);
    std::int64_t stop = adjust(bound(stop_value), step < 0 ? -1 : size);
    std::vector<std::int64_t> picked;
    // i + step may pass INT64_MAX ("abc"[2::2**63-1]): stop there, as the
    // slice has no item beyond the end anyway.
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop;) {
        picked.push_back(i);
        if (__builtin_add_overflow(i, step, &i)) break;
    }
    // Indices are in code points; character_at() finds each one from the
    // start, so a long slice of non-ASCII text is quadratic (fine for the
    // strings a page slices).
    if (is_text) {
        std::string_view text = container.as_string();
        std::string result;
        for (std::int64_t i : picked) result += character_at(text, static_cast<std::size_t>(i));
        return result;
    }
    std::vector<TemplateValue> items;
    items.reserve(picked.size());
    for (std::int64_t i : picked) items.push_back(container.item(static_cast<std::size_t>(i)));
    return same_kind(container, std::move(items));
}

namespace {

// One method of str, list, tuple or dict: its name and the function that
// runs it on `self` (one function may serve several names: upper and
// lower). find_method() looks it up in its type's table, the one list of
// what exists, so that get_attribute(), check_method() and call_method()
// always agree: `name.upper` (without a call) and `name.upper()` alike.
struct Method {
    std::string_view name;
    TemplateValue (*run)(const TemplateValue& self, std::string_view name,
                         const TemplateArguments& arguments);
};
// nullptr when `object`'s type has no method of that name.
const Method* find_method(const TemplateValue& object, std::string_view name);

}  // namespace

// object.name. The order is the lookup: a C++ object's own attributes,
// then a dict's key (our stand-in for a Python object's attribute, so
// that entry.title reads entry["title"]), then a method as a bound method.
// So `d.items` without a call is the key "items" when d has one, while
// `d.items()` always calls the method (see call_method()).
TemplateValue get_attribute(const TemplateValue& object, std::string_view name) {
    if (object.type() == Type::object) {
        if (std::optional<TemplateValue> value = object.attribute(name)) return std::move(*value);
    }
    if (object.type() == Type::dict) {
        if (const JSON* found = find_key(object.as_json(), name)) {
            return TemplateValue::element_of(object.shared_json(), *found);
        }
    }
    if (find_method(object, name) != nullptr) {
        // A bound method, to be called later: `{% set up = name.upper %}`.
        // The lambda holds a copy of `object` (a TemplateValue shares, not
        // copies, its data), so it stays valid after this expression ends.
        return TemplateValue::function(std::string(name), [object, method = std::string(name)](
                                                              const TemplateArguments& arguments) {
            return call_method(object, method, arguments);
        });
    }
    raise("AttributeError",
          quoted_type(object) + " object has no attribute '" + std::string(name) + "'");
}

// A row's field is an object's attribute, the first place get_attribute()
// looks: its text or number is appended as str() of the value would be,
// without the value (a share of the row list) made and dropped.
void append_attribute(std::string& out, const TemplateValue& object, std::string_view name) {
    std::optional<FieldValue> field = object.row_field(name);
    if (!field) {
        get_attribute(object, name).append_str(out);
    } else if (const auto* text = std::get_if<std::string_view>(&*field)) {
        out += *text;
    } else if (const auto* integer = std::get_if<std::int64_t>(&*field)) {
        detail::append_python_int_repr(out, *integer);
    } else {
        std::visit([&out](auto value) { TemplateValue(value).append_str(out); }, *field);
    }
}

// ---- methods ----------------------------------------------------------------

namespace {

// Argument `index`, given by position or, if it has a keyword name, by
// keyword: str.split(",", maxsplit=1). nullptr when absent.
const TemplateValue* argument(const TemplateArguments& arguments, std::size_t index,
                              std::string_view keyword = {}) {
    if (index < arguments.positional.size()) return &arguments.positional[index];
    return keyword.empty() ? nullptr : arguments.find_keyword(keyword);
}

const TemplateValue& required(const TemplateArguments& arguments, std::size_t index,
                              std::string_view function) {
    const TemplateValue* value = argument(arguments, index);
    if (value == nullptr) {
        raise("TypeError", std::string(function) + "() missing required argument (pos " +
                               std::to_string(index + 1) + ")");
    }
    return *value;
}

// Only some methods call this. The others ignore extra positional
// arguments: "abcabc".find("a", 1) is 0 here (the start is ignored), 3 in
// Python.
void check_at_most(const TemplateArguments& arguments, std::size_t count,
                   std::string_view function) {
    if (arguments.positional.size() > count) {
        raise("TypeError", std::string(function) + "() takes at most " + std::to_string(count) +
                               " arguments (" + std::to_string(arguments.positional.size()) +
                               " given)");
    }
}

// The str methods templates use. Positions and counts are in code points,
// as Python's are; finding is done on the UTF-8 bytes (a match of whole
// valid UTF-8 can only start at a character boundary) and the byte offset
// converted back.

TemplateValue str_change_case(const TemplateValue& self, std::string_view name,
                              const TemplateArguments& arguments) {
    check_at_most(arguments, 0, name);
    return change_case(self.as_string(), name);
}

TemplateValue str_strip(const TemplateValue& self, std::string_view name,
                        const TemplateArguments& arguments) {
    check_at_most(arguments, 1, name);
    return std::string(
        strip(self.as_string(), name != "rstrip", name != "lstrip", argument(arguments, 0)));
}

TemplateValue str_split(const TemplateValue& self, std::string_view name,
                        const TemplateArguments& arguments) {
    check_at_most(arguments, 2, name);
    const TemplateValue* limit = argument(arguments, 1, "maxsplit");
    return TemplateValue::list(split(self.as_string(), argument(arguments, 0, "sep"),
                                     limit != nullptr ? limit->as_integer() : -1));
}

// Ends lines at \n, \r and \r\n only; Python also ends them at \v, \f,
// \x1c-\x1e, U+0085, U+2028 and U+2029. Line ends are not kept
// (keepends is not supported), and a final line end makes no empty line.
TemplateValue str_splitlines(const TemplateValue& self, std::string_view,
                             const TemplateArguments&) {
    std::string_view text = self.as_string();
    std::vector<TemplateValue> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find_first_of("\r\n", start);
        if (end == std::string_view::npos) end = text.size();
        lines.emplace_back(std::string(text.substr(start, end - start)));
        start = end + (text.substr(end, 2) == "\r\n" ? 2 : 1);
    }
    return TemplateValue::list(std::move(lines));
}

TemplateValue str_join(const TemplateValue& self, std::string_view name,
                       const TemplateArguments& arguments) {
    std::string joined;
    append_join(joined, self.as_string(), required(arguments, 0, name));
    return joined;
}

TemplateValue str_replace(const TemplateValue& self, std::string_view name,
                          const TemplateArguments& arguments) {
    const TemplateValue* count = argument(arguments, 2);
    return replace_all(self.as_string(), required(arguments, 0, name).as_string(),
                       required(arguments, 1, name).as_string(),
                       count != nullptr ? count->as_integer() : -1);
}

TemplateValue str_affix(const TemplateValue& self, std::string_view name,
                        const TemplateArguments& arguments) {
    return affix_matches(self.as_string(), required(arguments, 0, name), name == "startswith");
}

// find, index and count.
TemplateValue str_search(const TemplateValue& self, std::string_view name,
                         const TemplateArguments& arguments) {
    std::string_view text = self.as_string();
    std::string_view needle = required(arguments, 0, name).as_string();
    if (name == "count") {
        // Python counts the empty string once per gap: len(text) + 1.
        // Otherwise matches do not overlap ("aaaa".count("aa") is 2).
        if (needle.empty()) return static_cast<std::int64_t>(detail::code_point_count(text) + 1);
        std::int64_t count = 0;
        for (std::size_t at = text.find(needle); at != std::string_view::npos;
             at = text.find(needle, at + needle.size())) {
            ++count;
        }
        return count;
    }
    std::size_t found = text.find(needle);
    if (found == std::string_view::npos) {
        if (name == "index") raise("ValueError", "substring not found");
        return -1;
    }
    return static_cast<std::int64_t>(detail::code_point_count(text.substr(0, found)));
}

TemplateValue str_isspace(const TemplateValue& self, std::string_view, const TemplateArguments&) {
    std::string_view text = self.as_string();
    if (text.empty()) return false;
    for (std::size_t at = 0; at < text.size();) {
        auto [space, length] = space_at(text, at);
        if (!space) return false;
        at += length;
    }
    return true;
}

// isdigit and isalpha, ASCII only: a documented difference.
TemplateValue str_is_ascii_class(const TemplateValue& self, std::string_view name,
                                 const TemplateArguments&) {
    std::string_view text = self.as_string();
    if (text.empty()) return false;
    return std::all_of(text.begin(), text.end(), [&](char c) {
        return name == "isdigit" ? detail::is_digit(c) : detail::is_ascii_letter(c);
    });
}

TemplateValue str_format_method(const TemplateValue& self, std::string_view,
                                const TemplateArguments& arguments) {
    return str_format(self.as_string(), arguments);
}

// list.index(x) and count(x), with == as the test (so 1 is found as 1.0).
// Python's message for a missing tuple item differs ("tuple.index(x): x not
// in tuple"); this one names the type.
TemplateValue sequence_search(const TemplateValue& sequence, std::string_view name,
                              const TemplateArguments& arguments) {
    const TemplateValue& wanted = required(arguments, 0, name);
    std::vector<TemplateValue> items = sequence.items();
    std::int64_t count = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!equals(items[i], wanted)) continue;
        if (name == "index") return static_cast<std::int64_t>(i);
        ++count;
    }
    if (name == "count") return count;
    raise("ValueError", wanted.repr() + " is not in " + std::string(sequence.type_name()));
}

TemplateValue dict_get(const TemplateValue& dict, std::string_view name,
                       const TemplateArguments& arguments) {
    const TemplateValue& key = required(arguments, 0, name);
    if (key.is_string()) {
        if (const JSON* found = find_key(dict.as_json(), key.as_string())) {
            return TemplateValue::element_of(dict.shared_json(), *found);
        }
    }
    const TemplateValue* fallback = argument(arguments, 1);
    return fallback != nullptr ? *fallback : TemplateValue();
}

// dict.keys(), values() and items(). Python returns views; these are
// lists, which serve the same uses (a for loop, len(), "in"). The order is
// the JSON object's, sorted by key. Values share the dict's JSON.
TemplateValue dict_view(const TemplateValue& dict, std::string_view name,
                        const TemplateArguments&) {
    const JSON& object = dict.as_json();
    std::vector<TemplateValue> result;
    for (auto entry = object.begin(); entry != object.end(); ++entry) {
        TemplateValue value = TemplateValue::element_of(dict.shared_json(), entry.value());
        if (name == "keys") {
            result.emplace_back(entry.key());
        } else if (name == "values") {
            result.push_back(std::move(value));
        } else {  // items
            result.push_back(TemplateValue::tuple({TemplateValue(entry.key()), std::move(value)}));
        }
    }
    return TemplateValue::list(std::move(result));
}

const Method* find_method(const TemplateValue& object, std::string_view name) {
    static constexpr Method kStr[] = {
        {"upper", str_change_case},
        {"lower", str_change_case},
        {"title", str_change_case},
        {"capitalize", str_change_case},
        {"strip", str_strip},
        {"lstrip", str_strip},
        {"rstrip", str_strip},
        {"split", str_split},
        {"splitlines", str_splitlines},
        {"join", str_join},
        {"replace", str_replace},
        {"startswith", str_affix},
        {"endswith", str_affix},
        {"find", str_search},
        {"index", str_search},
        {"count", str_search},
        {"isspace", str_isspace},
        {"isdigit", str_is_ascii_class},
        {"isalpha", str_is_ascii_class},
        {"format", str_format_method},
    };
    static constexpr Method kSequence[] = {{"index", sequence_search}, {"count", sequence_search}};
    static constexpr Method kDict[] = {
        {"get", dict_get}, {"keys", dict_view}, {"values", dict_view}, {"items", dict_view}};
    std::span<const Method> methods;
    if (object.is_string()) {
        methods = kStr;
    } else if (object.is_sequence()) {
        methods = kSequence;
    } else if (object.type() == Type::dict) {
        methods = kDict;
    }
    for (const Method& method : methods) {
        if (method.name == name) return &method;
    }
    return nullptr;
}

}  // namespace

// Called by the expression's call node before it evaluates the arguments.
// A C++ object's attribute is looked up once, at the call, so its callback
// runs once; the price is that its AttributeError comes after the
// arguments were evaluated.
void check_method(const TemplateValue& object, std::string_view name) {
    if (object.type() == Type::object || find_method(object, name) != nullptr) return;
    if (object.type() == Type::dict) {
        get_attribute(object, name);  // a key read as an attribute, or the AttributeError
        return;
    }
    // Without the method, call_method() always raises (AttributeError, or
    // the TypeError for list methods that change the list).
    call_method(object, name, {});  // raises the error the call would
}

// A dict's own methods (get, keys, values, items) win over keys of the
// same name; any other name on a dict calls the function stored under that
// key, Python's obj.method() for the objects dicts stand in for.
TemplateValue call_method(const TemplateValue& object, std::string_view name,
                          const TemplateArguments& arguments) {
    if (object.type() == Type::object) return call_function(get_attribute(object, name), arguments);
    const Method* method = find_method(object, name);
    if (method != nullptr) return method->run(object, name, arguments);
    if (object.type() == Type::dict) return call_function(get_attribute(object, name), arguments);
    // Lists are values here (see tornado/template.h): a method that changes
    // one gets an error that says what to write instead.
    if ((object.is_sequence()) && (name == "append" || name == "extend" || name == "insert" ||
                                   name == "pop" || name == "remove" || name == "sort")) {
        raise("TypeError", "lists cannot be changed in a template (" + std::string(name) +
                               "): make a new one, as in {% set items = items + [x] %}");
    }
    raise("AttributeError",
          quoted_type(object) + " object has no attribute '" + std::string(name) + "'");
}

// ---- builtins ---------------------------------------------------------------

namespace {

// len(): code points for a str, counted here since TemplateValue::length()
// refuses strings.
std::int64_t length_of(const TemplateValue& value) {
    if (value.is_string())
        return static_cast<std::int64_t>(detail::code_point_count(value.as_string()));
    if (value.is_sequence() || value.type() == Type::dict)
        return static_cast<std::int64_t>(value.length());
    raise("TypeError", "object of type " + quoted_type(value) + " has no len()");
}

// range(stop), range(start, stop[, step]). Python's range is lazy; this
// one is a list (a documented difference), so its length is limited. The
// length is estimated in double so that stop - start cannot overflow.
TemplateValue make_range(const TemplateArguments& arguments) {
    std::size_t count = arguments.positional.size();
    if (count < 1 || count > 3)
        raise("TypeError", "range expected 1 to 3 arguments, got " + std::to_string(count));
    std::int64_t start = 0, stop = 0, step = 1;
    if (count == 1) {
        stop = arguments.positional[0].as_integer();
    } else {
        start = arguments.positional[0].as_integer();
        stop = arguments.positional[1].as_integer();
        if (count == 3) step = arguments.positional[2].as_integer();
    }
    if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
    double items = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                             static_cast<double>(step));
    if (items > kMaxItems) {
        raise("MemoryError",
              "range() of more than " + std::to_string(kMaxItems) + " items in a template");
    }
    // Made as a JSON array: a list of plain ints needs no TemplateValues.
    JSON array = JSON::array();
    // range(2**63 - 2, 2**63 - 1, 2): the next value would not fit in 64
    // bits, and is past stop anyway.
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop;) {
        array.push_back(i);
        if (__builtin_add_overflow(i, step, &i)) break;
    }
    return TemplateValue(std::move(array));
}

// int(x[, base]). From a string: surrounding Python whitespace allowed,
// "_" between digits allowed, a sign allowed. strtoll does the parsing, so
// it differs from Python at the edges: every "_" is dropped (Python refuses
// "_1" and "1__0"), base 0 reads "010" as octal (Python refuses it), an
// invalid base is an "invalid literal" error, and a base given with a
// number is ignored (Python's TypeError).
TemplateValue to_int(const TemplateArguments& arguments) {
    if (arguments.positional.empty()) return 0;
    const TemplateValue& value = arguments.positional[0];
    if (value.type() == Type::floating) {
        return float_to_integer(value.as_float());
    }
    if (is_integral(value)) return value.as_integer();
    if (!value.is_string()) {
        raise("TypeError",
              "int() argument must be a string, a bytes-like object or a real number, not " +
                  quoted_type(value));
    }
    std::int64_t base = arguments.positional.size() > 1 ? arguments.positional[1].as_integer() : 10;
    std::string digits(strip(value.as_string(), true, true, nullptr));
    digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
    // strtoll sets errno only on failure, so it is cleared first. A space
    // left at the front (from "_ 1", whose "_" hid it from strip()) would
    // be skipped by strtoll, so it is refused below.
    errno = 0;
    char* end = nullptr;
    long long number =
        digits.empty() ? 0 : std::strtoll(digits.c_str(), &end, static_cast<int>(base));
    if (digits.empty() || end != digits.c_str() + digits.size() || space_at(digits, 0).first) {
        raise("ValueError",
              "invalid literal for int() with base " + std::to_string(base) + ": " + value.repr());
    }
    if (errno == ERANGE) raise_overflow();
    return static_cast<std::int64_t>(number);
}

// float(x). Python's spellings of infinity and nan are caught before
// strtod, which has more of its own: hex floats, refused here as Python
// does, and "nan(123)", let through. strtod follows LC_NUMERIC: this
// assumes the process keeps the "C" locale's "." decimal point. Underscores
// are refused (Python allows them between digits).
TemplateValue to_float(const TemplateArguments& arguments) {
    if (arguments.positional.empty()) return 0.0;
    const TemplateValue& value = arguments.positional[0];
    if (is_numeric(value)) return value.as_float();
    if (!value.is_string()) {
        raise("TypeError",
              "float() argument must be a string or a real number, not " + quoted_type(value));
    }
    std::string text(strip(value.as_string(), true, true, nullptr));
    std::string lower = change_case(text, "lower");
    std::string unsigned_text =
        lower.empty() || (lower[0] != '+' && lower[0] != '-') ? lower : lower.substr(1);
    bool negative = !lower.empty() && lower[0] == '-';
    if (unsigned_text == "inf" || unsigned_text == "infinity")
        return negative ? -INFINITY : INFINITY;
    if (unsigned_text == "nan") return NAN;
    char* end = nullptr;
    double number = text.empty() ? 0 : std::strtod(text.c_str(), &end);
    bool hex = lower.find('x') != std::string::npos;
    if (text.empty() || hex || end != text.c_str() + text.size()) {
        raise("ValueError", "could not convert string to float: " + value.repr());
    }
    return number;
}

// round(x[, ndigits]), Python's banker's rounding: halves go to the even
// neighbour (round(2.5) is 2, round(1250, -2) is 1200). An int stays an
// int, and a float without ndigits becomes an int; with ndigits a float.
TemplateValue round_number(const TemplateArguments& arguments) {
    const TemplateValue& value = required(arguments, 0, "round");
    const TemplateValue* digits = argument(arguments, 1, "ndigits");
    if (is_integral(value) &&
        (digits == nullptr || digits->is_none() || digits->as_integer() >= 0)) {
        return value.as_integer();
    }
    // Below -18 digits the scale, 10**19, does not fit in 64 bits. Returning
    // 0 is right for numbers below 5 * 10**18; above it Python gives 10**19,
    // which should be an OverflowError here.
    if (is_integral(value)) {                      // round(1234, -2) == 1200, ties to even
        if (digits->as_integer() < -18) return 0;  // and -INT64_MIN would overflow
        std::int64_t places = -digits->as_integer();
        std::int64_t scale = 1;
        for (std::int64_t i = 0; i < places; ++i) scale *= 10;
        std::int64_t number = value.as_integer();
        // Floor division leaves 0 <= remainder < scale whatever the sign,
        // so one test rounds negatives too.
        std::int64_t quotient = floor_divide(number, scale), remainder = number - quotient * scale;
        if (remainder * 2 > scale || (remainder * 2 == scale && quotient % 2 != 0)) ++quotient;
        return checked_multiply(quotient, scale);
    }
    double number = value.as_float();
    if (digits == nullptr || digits->is_none()) {
        return float_to_integer(std::nearbyint(number));  // ties to even, as Python
    }
    // printf rounds the exact binary value correctly, as Python's round() does.
    char buffer[400];
    std::int64_t places = std::clamp<std::int64_t>(digits->as_integer(), -300, 300);
    // The clamp keeps pow() finite and "%.*f" short. If the output is still
    // longer than the buffer, snprintf cuts it, which only drops trailing
    // zeros: a double with more than 90 integer digits has no fraction.
    // Negative places divide, round and multiply, which is not exact as
    // Python's is, but close at the digits a page shows.
    if (places < 0) {
        double scale = std::pow(10.0, static_cast<double>(-places));
        return std::nearbyint(number / scale) * scale;
    }
    std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(places), number);
    return std::strtod(buffer, nullptr);
}

// min() and max(): of one iterable argument, or of several arguments.
// Only a strictly better key replaces the best so far, so ties keep the
// first, as Python's do. The key function is called once per item.
TemplateValue extreme(const TemplateArguments& arguments, bool want_max) {
    std::string_view name = want_max ? "max" : "min";
    std::vector<TemplateValue> candidates =
        arguments.positional.size() == 1 ? iterate(arguments.positional[0]) : arguments.positional;
    const TemplateValue* key = arguments.find_keyword("key");
    if (candidates.empty()) {
        if (const TemplateValue* fallback = arguments.find_keyword("default")) return *fallback;
        raise("ValueError", std::string(name) + "() arg is an empty sequence");
    }
    auto keyed = [&](const TemplateValue& value) {
        return key == nullptr || key->is_none() ? value : call_function(*key, {{value}, {}});
    };
    std::size_t best = 0;
    TemplateValue best_key = keyed(candidates[0]);
    for (std::size_t i = 1; i < candidates.size(); ++i) {
        TemplateValue candidate_key = keyed(candidates[i]);
        if (compare(want_max ? ">" : "<", candidate_key, best_key)) {
            best = i;
            best_key = candidate_key;
        }
    }
    return candidates[best];
}

// sorted(iterable, key=..., reverse=...). Each key is computed once, as
// Python does (the key function may be a costly C++ call), and kept beside
// the item's index; compare("<") gives Python's ordering and its TypeError
// for mixed types.
TemplateValue sorted_list(const TemplateArguments& arguments) {
    std::vector<TemplateValue> items = iterate(required(arguments, 0, "sorted"));
    const TemplateValue* key = arguments.find_keyword("key");
    const TemplateValue* reverse = arguments.find_keyword("reverse");
    std::vector<std::pair<TemplateValue, std::size_t>> keyed;
    for (std::size_t i = 0; i < items.size(); ++i) {
        keyed.emplace_back(
            key == nullptr || key->is_none() ? items[i] : call_function(*key, {{items[i]}, {}}), i);
    }
    bool descending = reverse != nullptr && reverse->truthy();
    // Stable, and reverse keeps equal items in their order, as Python's sort.
    // (Reversing the comparison, not the sorted list, is what keeps equal
    // items in their order.)
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        return descending ? compare("<", b.first, a.first) : compare("<", a.first, b.first);
    });
    std::vector<TemplateValue> result;
    for (const auto& entry : keyed) result.push_back(items[entry.second]);
    return TemplateValue::list(std::move(result));
}

// sum(iterable, start=0), with "+" as binary() does it, so a
// sum of lists concatenates them. Strings are refused with Python's
// message pointing at join().
TemplateValue sum_of(const TemplateArguments& arguments) {
    TemplateValue total =
        arguments.positional.size() > 1 ? arguments.positional[1] : TemplateValue(0);
    if (const TemplateValue* start = arguments.find_keyword("start")) total = *start;
    if (total.is_string()) raise("TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
    for (const TemplateValue& item : iterate(required(arguments, 0, "sum"))) {
        total = binary("+", total, item);
    }
    return total;
}

// dict(mapping or pairs, **keywords). A dict is a JSON object here, so keys
// must be strings and values are converted to JSON (a tuple becomes a
// list; a function is refused). The depth check is the dict's share of the
// nesting limit that from_items() applies to lists.
TemplateValue make_dict(const TemplateArguments& arguments) {
    JSON object = JSON::object();
    if (!arguments.positional.empty()) {
        const TemplateValue& source = arguments.positional[0];
        if (source.type() == Type::dict) {
            object = source.as_json();
        } else {
            for (const TemplateValue& pair : iterate(source)) {
                std::vector<TemplateValue> parts = iterate(pair);
                if (parts.size() != 2) {
                    raise("ValueError", "dictionary update sequence element has length " +
                                            std::to_string(parts.size()) + "; 2 is required");
                }
                if (!parts[0].is_string())
                    raise("TypeError", "a template's dict keys must be strings");
                object[std::string(parts[0].as_string())] = parts[1].to_json();
            }
        }
    }
    for (const auto& [name, value] : arguments.keyword) object[name] = value.to_json();
    check_container_depth(object);
    return TemplateValue(std::move(object));
}

// The text argument of Tornado's escape functions. The message is the one
// tornado.escape's to_unicode() raises for a value that is not a string.
std::string_view string_argument(const TemplateArguments& arguments, std::string_view function) {
    const TemplateValue& value = required(arguments, 0, function);
    if (!value.is_string()) {
        raise("TypeError", "Expected bytes, unicode, or None; got <class '" +
                               std::string(value.type_name()) + "'>");
    }
    return value.as_string();
}

// tornado.escape.linkify(text, shorten, extra_params, require_protocol,
// permitted_protocols), by position or keyword. extra_params may be a
// string or a function of the link's href, as in Tornado.
TemplateValue call_linkify(const TemplateArguments& arguments) {
    LinkifyOptions options;
    if (const TemplateValue* shorten = argument(arguments, 1, "shorten"))
        options.shorten = shorten->truthy();
    if (const TemplateValue* extra = argument(arguments, 2, "extra_params")) {
        if (extra->type() == Type::function) {
            // The lambda keeps its own copy of the function value (a shared
            // handle, cheap to copy) rather than a pointer into `arguments`.
            TemplateValue function = *extra;
            options.extra_params_for = [function](const std::string& href) {
                return call_function(function, {{TemplateValue(href)}, {}}).str();
            };
        } else {
            options.extra_params = std::string(extra->as_string());
        }
    }
    if (const TemplateValue* require = argument(arguments, 3, "require_protocol")) {
        options.require_protocol = require->truthy();
    }
    if (const TemplateValue* protocols = argument(arguments, 4, "permitted_protocols")) {
        options.permitted_protocols.clear();
        for (const TemplateValue& protocol : iterate(*protocols)) {
            options.permitted_protocols.emplace_back(protocol.as_string());
        }
    }
    return linkify(string_argument(arguments, "linkify"), options);
}

// Python's builtins, as far as templates use them. Each is a plain
// TemplateFunction; a name is looked for here last, after the template's
// variables, generate()'s arguments and the namespaces (see Scope in
// template_expression.h), so a template can shadow any of them.
TemplateNamespace make_builtins() {
    TemplateNamespace names;
    names.set_function("len",
                       [](const TemplateArguments& a) { return length_of(required(a, 0, "len")); });
    names.set_function("range", make_range);
    names.set_function("str", [](const TemplateArguments& a) {
        return a.positional.empty() ? TemplateValue("") : TemplateValue(a.positional[0].str());
    });
    names.set_function("repr",
                       [](const TemplateArguments& a) { return required(a, 0, "repr").repr(); });
    names.set_function("int", to_int);
    names.set_function("float", to_float);
    names.set_function("bool", [](const TemplateArguments& a) {
        return TemplateValue(!a.positional.empty() && a.positional[0].truthy());
    });
    names.set_function("list", [](const TemplateArguments& a) {
        return TemplateValue::list(a.positional.empty() ? std::vector<TemplateValue>{}
                                                        : iterate(a.positional[0]));
    });
    names.set_function("tuple", [](const TemplateArguments& a) {
        return TemplateValue::tuple(a.positional.empty() ? std::vector<TemplateValue>{}
                                                         : iterate(a.positional[0]));
    });
    names.set_function("dict", make_dict);
    names.set_function("enumerate", [](const TemplateArguments& a) {
        const TemplateValue* start = argument(a, 1, "start");
        std::int64_t index = start != nullptr ? start->as_integer() : 0;
        std::vector<TemplateValue> pairs;
        for (TemplateValue& item : iterate(required(a, 0, "enumerate"))) {
            pairs.push_back(TemplateValue::tuple({TemplateValue(index++), std::move(item)}));
        }
        return TemplateValue::list(std::move(pairs));
    });
    // zip() stops at the shortest argument, as in Python.
    names.set_function("zip", [](const TemplateArguments& a) {
        std::vector<std::vector<TemplateValue>> columns;
        std::size_t rows = a.positional.empty() ? 0 : SIZE_MAX;
        for (const TemplateValue& column : a.positional) {
            columns.push_back(iterate(column));
            rows = std::min(rows, columns.back().size());
        }
        std::vector<TemplateValue> zipped;
        for (std::size_t row = 0; row < rows; ++row) {
            std::vector<TemplateValue> tuple;
            for (const auto& column : columns) tuple.push_back(column[row]);
            zipped.push_back(TemplateValue::tuple(std::move(tuple)));
        }
        return TemplateValue::list(std::move(zipped));
    });
    names.set_function("sorted", sorted_list);
    names.set_function("reversed", [](const TemplateArguments& a) {
        std::vector<TemplateValue> items = iterate(required(a, 0, "reversed"));
        std::reverse(items.begin(), items.end());
        return TemplateValue::list(std::move(items));
    });
    names.set_function("min", [](const TemplateArguments& a) { return extreme(a, false); });
    names.set_function("max", [](const TemplateArguments& a) { return extreme(a, true); });
    names.set_function("sum", sum_of);
    names.set_function("abs", [](const TemplateArguments& a) {
        const TemplateValue& value = required(a, 0, "abs");
        if (is_integral(value))
            return unary(value.as_integer() < 0 ? '-' : '+', value.as_integer());
        return TemplateValue(std::fabs(value.as_float()));
    });
    names.set_function("round", round_number);
    names.set_function("any", [](const TemplateArguments& a) {
        for (const TemplateValue& item : iterate(required(a, 0, "any"))) {
            if (item.truthy()) return TemplateValue(true);
        }
        return TemplateValue(false);
    });
    names.set_function("all", [](const TemplateArguments& a) {
        for (const TemplateValue& item : iterate(required(a, 0, "all"))) {
            if (!item.truthy()) return TemplateValue(false);
        }
        return TemplateValue(true);
    });
    return names;
}

// What Tornado's Template.generate() adds to the namespace: escape is
// xhtml_escape, url_escape's plus defaults to True, json_encode takes any
// value a template has that JSON can hold.
TemplateNamespace make_tornado_namespace() {
    TemplateNamespace names;
    TemplateFunction escape_html = [](const TemplateArguments& a) {
        return TemplateValue(xhtml_escape(string_argument(a, "xhtml_escape")));
    };
    names.set_function("escape", escape_html);
    names.set_function("xhtml_escape", escape_html);
    names.set_function("url_escape", [](const TemplateArguments& a) {
        const TemplateValue* plus = argument(a, 1, "plus");
        return TemplateValue(
            url_escape(string_argument(a, "url_escape"), plus == nullptr || plus->truthy()));
    });
    names.set_function("json_encode", [](const TemplateArguments& a) {
        return TemplateValue(json_encode(required(a, 0, "json_encode").to_json()));
    });
    names.set_function("squeeze", [](const TemplateArguments& a) {
        return TemplateValue(squeeze(string_argument(a, "squeeze")));
    });
    names.set_function("linkify", call_linkify);
    return names;
}

}  // namespace

// Both namespaces are built once, on first use (thread-safe, as a
// function-local static), and only read after that.
const TemplateNamespace& builtins() {
    static const TemplateNamespace names = make_builtins();
    return names;
}

const TemplateNamespace& tornado_namespace() {
    static const TemplateNamespace names = make_tornado_namespace();
    return names;
}

}  // namespace tornado::template_detail
