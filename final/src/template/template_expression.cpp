// template_expression.cpp: the Python expressions inside a template; see
// template_expression.h for the grammar and the classes it declares.
//
// An expression's path: template.cpp hands the text of a {{ }}, an {% if %}
// or a {% set %} to parse_expression() (or parse_assignment, parse_for,
// parse_except) -> the Tokenizer cuts it into tokens -> the
// ExpressionParser, one function per grammar level, builds a tree of
// Expression nodes, once per template. Each generate() then calls evaluate() (or append_str(), for
// {{ }}) on that tree over a Scope; the operators themselves are in
// template_operations.cpp.
//
// Tornado has none of this: it pastes the expression into the Python source
// it generates and lets Python compile it. So the rules here are Python's
// (precedence, chained comparisons, "and"/"or" giving back an operand, which
// names are local), and what the subset leaves out is a SyntaxError whose
// message says so; template.cpp turns it into a ParseError at the tag's line.
//
// Four parts: the tokenizer, the expression nodes, the parser with its entry
// points, and the run-time pieces (assignment, exceptions, scopes, iteration).
#include "template/template_expression.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "core/hex.h"
#include "core/python_text.h"
#include "core/text.h"
#include "template/template_operations.h"

namespace tornado::template_detail {

namespace {

// ---- tokens -----------------------------------------------------------------

// The tokenizer cuts the whole text up front (Tornado leaves this to Python's
// own tokenizer). Only what the parser needs is kept: names (keywords among
// them: the parser tells them apart), numbers and strings with their values
// already computed, operators, and one `end` token at the end, so that the
// parser can look ahead without bounds checks.
enum class TokenKind { name, number, string, op, end };

struct Token {
    TokenKind kind;
    std::string text;     // a name, an operator, a number's digits
    TemplateValue value;  // a number's or a string's value
};

using detail::is_digit;

// Python's identifiers; a byte beyond ASCII is taken as part of a letter.
// So "café" is one name. Python also checks that such characters are letters;
// this does not.
bool is_name_start(char c) {
    return detail::is_ascii_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// Every error of the tokenizer and the parser; [[noreturn]] lets a function
// that must return a value end with it.
[[noreturn]] void syntax_error(const std::string& message) { throw SyntaxError(message); }

// A code point from a string escape; UTF-8 has no surrogates ("\ud800").
// Python would keep the lone surrogate in its str, and Tornado would then
// fail to encode the page; U+FFFD is the replacement character.
void append_code_point(std::string& out, std::uint32_t code_point) {
    if (code_point >= 0xD800 && code_point <= 0xDFFF) code_point = 0xFFFD;
    detail::append_utf8(out, code_point);
}

// Whether the name just read, followed by a quote, is a string prefix (r'',
// b'', ...), in either case as in Python. The f forms are listed so that
// string() can refuse f-strings with a message instead of reading f as a
// name.
bool is_string_prefix(const std::string& name) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(c | 0x20);
    static constexpr std::string_view kPrefixes[] = {"r", "b", "u", "f", "br", "rb", "fr", "rf"};
    return std::find(std::begin(kPrefixes), std::end(kPrefixes), lower) != std::end(kPrefixes);
}

// One pass over the text: `at_` is the offset of the next byte to read, and
// each method that reads a token leaves it just after that token.
class Tokenizer {
public:
    explicit Tokenizer(std::string_view text) : text_(text) {}

    std::vector<Token> tokens() {
        std::vector<Token> tokens;
        while (true) {
            skip_space();
            if (at_ == text_.size()) break;
            tokens.push_back(next());
        }
        tokens.push_back({TokenKind::end, "", {}});
        return tokens;
    }

private:
    // Newlines count as spaces, so an expression may span lines (Python,
    // which gets Tornado's expression pasted into one statement, allows that
    // only inside brackets or after a backslash). A '#' would start a Python
    // comment, which in Tornado's generated line comments out the rest:
    // refused.
    void skip_space() {
        while (at_ < text_.size()) {
            char c = text_[at_];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
                ++at_;
            } else if (c == '\\' && at_ + 1 < text_.size() && text_[at_ + 1] == '\n') {
                at_ += 2;  // a line continuation
            } else if (c == '#') {
                syntax_error("a comment (#) inside an expression");
            } else {
                return;
            }
        }
    }

    // The token at at_, which is not whitespace. A digit, or a '.' before one
    // (".5"), starts a number; a name followed at once by a quote may be a
    // string prefix (r"...").
    Token next() {
        char c = text_[at_];
        if (is_digit(c) || (c == '.' && at_ + 1 < text_.size() && is_digit(text_[at_ + 1]))) {
            return number();
        }
        if (is_name_start(c)) {
            std::size_t start = at_;
            while (at_ < text_.size() && is_name_char(text_[at_])) ++at_;
            std::string name(text_.substr(start, at_ - start));
            if (at_ < text_.size() && (text_[at_] == '\'' || text_[at_] == '"') &&
                is_string_prefix(name)) {
                return string(name);  // a prefix: r'...', b"..."
            }
            return {TokenKind::name, name, {}};
        }
        if (c == '\'' || c == '"') return string("");
        // Longest first, so that "**=" is not read as "**" then "=". The list
        // holds more than the parser accepts (":=", "->", "@", ";", augmented
        // assignments outside {% set %}): as tokens they get an error that
        // names them, and ":=" lets parse_assignment refuse the walrus by
        // name.
        static constexpr std::string_view kOperators[] = {
            "**=", "//=", ">>=", "<<=", "**", "//", "==", "!=", "<=", ">=", "<<", ">>",
            "+=",  "-=",  "*=",  "/=",  "%=", "&=", "|=", "^=", "->", ":=", "+",  "-",
            "*",   "/",   "%",   "<",   ">",  "=",  "(",  ")",  "[",  "]",  "{",  "}",
            ",",   ":",   ".",   "~",   "&",  "|",  "^",  "@",  ";"};
        for (std::string_view op : kOperators) {
            if (text_.substr(at_).starts_with(op)) {
                at_ += op.size();
                return {TokenKind::op, std::string(op), {}};
            }
        }
        syntax_error("unexpected character '" + std::string(1, c) + "'");
    }

    // A numeric literal in Python's syntax: 0x, 0o and 0b integers, decimal
    // integers and floats, a '_' between two digits. The token keeps the
    // literal's text for messages and its value as an int64 or a double. An
    // integer past 64 bits is a SyntaxError (Python would make a big int),
    // except 9223372036854775808, which -9223372036854775808 needs (see
    // below). What Python refuses is refused with its message: 1_, 1__0, 1e,
    // 0x, 0b12.
    Token number() {
        std::size_t start = at_;
        bool is_float = false;
        int base = 10;
        if (text_[at_] == '0' && at_ + 1 < text_.size() &&
            std::string_view("xXoObB").find(text_[at_ + 1]) != std::string_view::npos) {
            prefixed_digits(base);
        } else {
            // The integer part is missing only in .5, which next() saw.
            digit_part(is_digit, "decimal");
            if (at_ < text_.size() && text_[at_] == '.') {
                is_float = true;
                ++at_;
                digit_part(is_digit, "decimal");  // 1. is a float too
            }
            if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
                is_float = true;
                ++at_;
                if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
                if (!digit_part(is_digit, "decimal")) syntax_error("invalid decimal literal");
            }
        }
        // 1j, Python's imaginary literal, is refused by name rather than as a
        // stray letter.
        if (at_ < text_.size() && (text_[at_] == 'j' || text_[at_] == 'J')) {
            syntax_error("complex numbers are not supported in templates");
        }
        // A letter or a '_' right after the number (12abc, 1.5x, 1._5) is
        // Python's "invalid decimal literal" too.
        if (at_ < text_.size() && is_name_char(text_[at_])) syntax_error("invalid decimal literal");
        std::string digits(text_.substr(start, at_ - start));
        std::string clean = digits;
        clean.erase(std::remove(clean.begin(), clean.end(), '_'), clean.end());
        if (is_float)
            return {TokenKind::number, digits, TemplateValue(std::strtod(clean.c_str(), nullptr))};
        // Python 3 refuses 012 (Python 2's octal); 00 and 0_0 are zero.
        std::string_view body = clean;
        if (base != 10) {
            body.remove_prefix(2);
        } else if (clean.size() > 1 && clean[0] == '0' &&
                   clean.find_first_not_of('0') != std::string::npos) {
            syntax_error("leading zeros in decimal integer literals are not permitted");
        }
        std::int64_t number = 0;
        auto [end, error] = std::from_chars(body.data(), body.data() + body.size(), number, base);
        if (error == std::errc::result_out_of_range) {
            // 2**63 fits only negated, as -2**63 (the smallest int, whose
            // repr() must read back): no value, and factor() takes it with
            // its "-"; anywhere else atom() refuses it.
            if (base == 10 && body == "9223372036854775808")
                return {TokenKind::number, digits, TemplateValue()};
            syntax_error("the integer " + digits + " does not fit in 64 bits");
        }
        if (error != std::errc() || end != body.data() + body.size())
            syntax_error("invalid number " + digits);
        return {TokenKind::number, digits, TemplateValue(number)};
    }

    // Python's digitpart at at_: digits that `is_valid` accepts, each '_'
    // between two of them. False, reading nothing, when no digit is there; a
    // '_' that no digit follows (1_, 1__0) is Python's "invalid <kind>
    // literal".
    template <typename IsDigit>
    bool digit_part(IsDigit is_valid, std::string_view kind) {
        if (at_ == text_.size() || !is_valid(text_[at_])) return false;
        while (at_ < text_.size()) {
            if (is_valid(text_[at_])) {
                ++at_;
            } else if (text_[at_] == '_') {
                ++at_;
                if (at_ == text_.size() || !is_valid(text_[at_]))
                    syntax_error("invalid " + std::string(kind) + " literal");
            } else {
                break;
            }
        }
        return true;
    }

    // The digits of 0x, 0o or 0b, from the '0' at at_; sets `base`. One '_'
    // may come right after the prefix (0x_ff), as in Python. A digit too big
    // for the base (0o8, 0b12) and a letter after the digits (0x1g) are
    // Python's errors, with its messages.
    void prefixed_digits(int& base) {
        char kind = static_cast<char>(text_[at_ + 1] | 0x20);
        base = kind == 'x' ? 16 : (kind == 'o' ? 8 : 2);
        std::string name = base == 16 ? "hexadecimal" : (base == 8 ? "octal" : "binary");
        auto valid = [base](char c) {
            return base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                              : c >= '0' && c < '0' + base;
        };
        at_ += 2;
        if (at_ < text_.size() && text_[at_] == '_') ++at_;
        bool any = digit_part(valid, name);
        if (at_ < text_.size() && is_digit(text_[at_])) {
            syntax_error("invalid digit '" + std::string(1, text_[at_]) + "' in " + name +
                         " literal");
        }
        if (!any || (at_ < text_.size() && is_name_char(text_[at_])))
            syntax_error("invalid " + name + " literal");
    }

    // A string literal from the quote at at_; `prefix` is the name read just
    // before it ("" for none). Single or triple quotes, raw or not. A b"..."
    // literal makes a str, not bytes: {{ b"x" }} writes x, as Tornado does
    // (it writes bytes as they are).
    Token string(const std::string& prefix) {
        std::string lower = prefix;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](char c) { return static_cast<char>(c | 0x20); });
        if (lower.find('f') != std::string::npos)
            syntax_error("f-strings are not supported in templates: use % or str.format()");
        if (lower != "" && lower != "r" && lower != "b" && lower != "u" && lower != "br" &&
            lower != "rb") {
            syntax_error("invalid string prefix " + prefix);
        }
        bool raw = lower.find('r') != std::string::npos;
        char quote = text_[at_];
        bool triple = text_.substr(at_, 3) == std::string(3, quote);
        at_ += triple ? 3 : 1;
        std::string value;
        while (true) {
            if (at_ >= text_.size()) syntax_error("unterminated string literal");
            char c = text_[at_];
            if (c == quote && (!triple || text_.substr(at_, 3) == std::string(3, quote))) {
                at_ += triple ? 3 : 1;
                break;
            }
            if (c == '\n' && !triple) syntax_error("unterminated string literal");
            if (c == '\\' && at_ + 1 < text_.size()) {
                // In a raw string a backslash escapes nothing, but still
                // keeps the next character from ending the string: r"\"" is
                // the two characters \".
                if (raw) {
                    value += c;
                    value += text_[at_ + 1];
                    at_ += 2;
                } else {
                    escape(value);
                }
                continue;
            }
            value += c;
            ++at_;
        }
        return {TokenKind::string, "", TemplateValue(std::move(value))};
    }

    // One backslash escape of a (non-raw) string literal, as Python reads it.
    void escape(std::string& value) {
        char c = text_[at_ + 1];
        at_ += 2;
        // A backslash before a newline joins the lines and writes nothing;
        // \x, \u and \U take exactly 2, 4 and 8 hex digits; \N{name} would
        // need Unicode's table of names.
        switch (c) {
            case '\n': return;
            case '\\': value += '\\'; return;
            case '\'': value += '\''; return;
            case '"': value += '"'; return;
            case 'a': value += '\a'; return;
            case 'b': value += '\b'; return;
            case 'f': value += '\f'; return;
            case 'n': value += '\n'; return;
            case 'r': value += '\r'; return;
            case 't': value += '\t'; return;
            case 'v': value += '\v'; return;
            case 'x': append_code_point(value, hex_digits(2)); return;
            case 'u': append_code_point(value, hex_digits(4)); return;
            case 'U': append_code_point(value, hex_digits(8)); return;
            case 'N': syntax_error("\\N{...} escapes are not supported in templates");
            default: break;
        }
        // \0 to \777: one to three octal digits, Python's \ooo.
        if (c >= '0' && c <= '7') {
            std::uint32_t code = static_cast<std::uint32_t>(c - '0');
            for (int i = 0; i < 2 && at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '7';
                 ++i) {
                code = code * 8 + static_cast<std::uint32_t>(text_[at_++] - '0');
            }
            append_code_point(value, code);
            return;
        }
        value += '\\';  // an unknown escape stays as written, as in Python
        value += c;
    }

    // Exactly `count` hex digits, as Python demands: "\x4" is an error, not
    // "\x04".
    std::uint32_t hex_digits(int count) {
        std::uint32_t code = 0;
        for (int i = 0; i < count; ++i) {
            int digit = at_ < text_.size() ? detail::hex_value(text_[at_]) : -1;
            if (digit < 0) syntax_error("truncated \\x, \\u or \\U escape in a string");
            ++at_;
            code = code * 16 + static_cast<std::uint32_t>(digit);
        }
        if (code > 0x10FFFF) syntax_error("illegal Unicode character in a string escape");
        return code;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

// ---- expression nodes -------------------------------------------------------

// Each node below is one piece of Python syntax, with an evaluate() that does
// what Python does for it at run time. The tree is built once per template
// and shared by every generate(), on any thread, so evaluating changes
// nothing in a node: what changes lives in the Scope. Each node also writes
// itself as C++ for a template compiled ahead of time (cpp(), cpp_json(),
// emit_append_str(); see CppWriter in template_expression.h): the same steps
// in the same order, over template_compiled.h's runtime. evaluate() and
// cpp(), and find_json() and cpp_json(), are one walk read two ways
// (below), and so are append_str() and emit_append_str(), which write
// str() of the value straight into the page.

// The C++ names the compiled code uses (tornado/template_compiled.h).
constexpr const char* kValue = "tornado::TemplateValue";
constexpr const char* kRuntime = "tornado::compiled::";

// evaluate_briefly() (below) as C++.
std::string cpp_briefly(const Expression& expression, CppWriter& writer) {
    std::string json = expression.cpp_json(writer);
    if (json.empty()) return expression.cpp(writer);
    std::string found = writer.fresh("json");
    return cpp_sequence("if (const tornado::JSON* " + found + " = " + json + ") return " +
                        kRuntime + "briefly(" + found + "); return " + expression.cpp(writer) +
                        ";");
}

// The value of `expression` for a use that ends before the template goes
// on (formatting it, joining it): a part of the data is borrowed where it
// lies instead of being shared (see find_json).
TemplateValue evaluate_briefly(const Expression& expression, Scope& scope) {
    if (const JSON* json = expression.find_json(scope)) return TemplateValue::borrow(*json);
    return expression.evaluate(scope);
}

// (local name, key) when `container` is a variable the template assigns.
std::pair<std::string, std::string> local_member_of(const Expression& container,
                                                    const std::string& key,
                                                    const CppWriter& writer);

// A dict's value for `key` inside JSON data, or nullptr.
const JSON* find_member(const JSON* object, std::string_view key) {
    if (object == nullptr || !object->is_object()) return nullptr;
    return find_key(*object, key);
}

// ---- one walk, two readings -------------------------------------------------
//
// A node whose value comes from its operands says once, in walk(), what
// Python does for it: which operands are evaluated, in which order, and
// which operation of the runtime (tornado/template_compiled.h) gets them.
// A reading gives the walk its meaning:
//
//   Run       evaluates as it goes; a Value is a TemplateValue.
//             The node's evaluate() is walk(Run).
//   WriteCpp  writes the C++ that will evaluate it; a Value is a C++
//             expression, and a step a statement. The node's cpp() is
//             walk(WriteCpp).
//
// So the interpreter and a compiled template cannot take different steps, or
// take them in another order: there is one list of them. The verbs a walk
// may use, which both readings offer:
//
//   r(node)                    the value of an operand
//   r.literal(v), r.variable(name)   a literal's value, a variable's
//   r.hold(node)               its value kept for later steps (a named
//                              temporary in C++): what fixes Python's
//                              left-to-right order, since C++ leaves the
//                              order of a call's arguments open
//   r.set(held, v)             a held value replaced
//   r.call(RUNTIME(f), a...)   the runtime's f of the arguments
//   r.perform(RUNTIME(f), a...) the same, for an f that returns nothing
//   r.text(s), r.character(c), r.none()   literal arguments
//   r.truthy_is(v, b)          whether bool(v) is b
//   r.choose(test, then, otherwise)   one of two walks, by the test
//   r.ends_unless(test, v)     whether the walk ends here, with v (which the
//                              walk then returns), because test is false
//   r.briefly(node), r.format(f, v)   an operand's value for a use that
//                              ends at once (evaluate_briefly()); f % v
//   r.new_arguments(n), r.add_positional(a, v), r.add_keyword(a, name, v),
//   r.sequence(is_list, items), r.new_dict(), r.move(held)
//                              what calls, lists and dicts are made of
//
// A walk returns its value: Run's is the result, WriteCpp's the C++
// expression of the last step.
//
// A node that can point into generate()'s JSON data (a variable, entry.key,
// row["key"]) has a second walk, json_walk(), read the same two ways: Run's
// is find_json(), WriteCpp's cpp_json(). Its verbs:
//
//   r.json_of_variable(name)   the JSON node a variable holds, if any
//   r.member(node, key)        the value of `key` in the dict of data the
//                              node points at, if any
//   r.no_json()                never a part of the data
//
// What {{ }} writes is a third walk, append_walk(), read as append_str()
// and emit_append_str(): str() of the value appended to the page's text
// `out`, with no value made where none is needed (a literal's text, a
// string in the data, "%.2f" % x). Its steps are statements; its verbs:
//
//   r.append(node, out)        the operand's own append_walk()
//   r.append_text(out, s), r.append_value(out, v), r.append_format(out, f, v),
//   r.append_data(out, found)  a text, a value, f % v, a part of the data
//   r.if_data(json, then, otherwise)   then(found) where json_walk() found
//                              a part of the data, otherwise() where not
//   r.branch(test, then, otherwise), r.unless(test, step)   walks of steps
//   r.value_of(node)           the node's own walk(), as a value
//   r.keep(node)               its value kept unchanged (a const
//                              reference in C++: no copy of a literal)
//   r.is_string(v), r.as_string(v), r.only_argument(v)
//
// {% set %} is a walk too (assign_walk(), Assignment::walk() below), with
// the verbs r.assign(target, v), r.unpack(v, n),
// r.part(parts, i) and r.discard(node).
//
// RUNTIME(f) names the runtime's function twice, once as text for the C++
// and once as a function for the interpreter: the only place each name is
// spelled.
// clang-format off
#define RUNTIME(function)                                                     \
    #function, [](auto&&... runtime_arguments) -> decltype(auto) {            \
        return compiled::function(                                            \
            std::forward<decltype(runtime_arguments)>(runtime_arguments)...); \
    }
// clang-format on

// The interpreter's reading: every verb does its step at once.
class Run {
public:
    using Value = TemplateValue;
    explicit Run(Scope& scope) : scope_(scope) {}

    Value operator()(const Expression& operand) { return operand.evaluate(scope_); }
    Value literal(const TemplateValue& value) { return value; }
    Value variable(const Symbol& name) { return scope_.lookup(name); }
    // Made where it is kept: no copy, no move (the interpreter's hot path).
    Value hold(const Expression& operand) { return operand.evaluate(scope_); }
    Value keep(const Expression& operand) { return hold(operand); }  // WriteCpp's differs
    Value hold(Value value) { return value; }
    // The node's walk, called directly (WriteCpp::value_of() says why).
    template <typename Node>
    Value value_of(const Node& node) {
        return node.walk(*this);
    }
    void set(Value& held, Value value) { held = std::move(value); }
    template <typename T>
    T&& move(T& held) {
        return std::move(held);
    }
    template <typename Function, typename... Arguments>
    decltype(auto) call(const char* /*name*/, Function function, Arguments&&... arguments) {
        return function(std::forward<Arguments>(arguments)...);
    }
    template <typename Function, typename... Arguments>
    void perform(const char* /*name*/, Function function, Arguments&&... arguments) {
        function(std::forward<Arguments>(arguments)...);
    }
    std::string_view text(std::string_view text) { return text; }
    char character(char c) { return c; }
    Value none() { return {}; }
    Value as_value(bool test) { return test; }
    bool truthy_is(const Value& value, bool expected) { return value.truthy() == expected; }
    template <typename Then, typename Otherwise>
    Value choose(bool test, Then then, Otherwise otherwise) {
        return test ? then() : otherwise();
    }
    bool ends_unless(bool test, const Value& /*value*/) { return !test; }

    // What a call, a list or a dict is made of.
    TemplateArguments new_arguments(std::size_t positional) {
        TemplateArguments arguments;
        arguments.positional.reserve(positional);
        return arguments;
    }
    void add_positional(TemplateArguments& arguments, Value value) {
        arguments.positional.push_back(std::move(value));
    }
    void add_keyword(TemplateArguments& arguments, const std::string& name, Value value) {
        arguments.keyword.emplace_back(name, std::move(value));
    }
    Value sequence(bool is_list, std::vector<Value> items) {
        return is_list ? TemplateValue::list(std::move(items))
                       : TemplateValue::tuple(std::move(items));
    }
    JSON new_dict() { return JSON::object(); }

    // For a use that ends before the template goes on: evaluate_briefly().
    Value briefly(const Expression& operand) { return evaluate_briefly(operand, scope_); }
    // "format" % values with the format read when parsed.
    Value format(const compiled::PercentFormat& format, const Value& values) {
        return format.apply(values);
    }

    using Json = const JSON*;
    Json json_of_variable(const Symbol& name) { return scope_.find(name)->json_node(); }
    Json member(const Expression& object, const std::string& key) {
        return find_member(object.find_json(scope_), key);
    }
    Json no_json() { return nullptr; }

    // What {{ }} appends to the page's text (append_walk()).
    using Out = std::string&;
    void append(const Expression& operand, Out out) { operand.append_str(scope_, out); }
    void append_text(Out out, const std::string& text) { out += text; }
    void append_value(Out out, const Value& value) { value.append_str(out); }
    void append_format(Out out, const compiled::PercentFormat& format, const Value& values) {
        format.append(out, values);
    }
    // A string of the data is appended as it is, anything else printed
    // from where it lies.
    void append_data(Out out, const JSON* found) {
        if (found->is_string()) {
            out += found->get_ref<const std::string&>();
        } else {
            TemplateValue::borrow(*found).append_str(out);
        }
    }
    template <typename Then, typename Otherwise>
    void if_data(const JSON* json, Then then, Otherwise otherwise) {
        json != nullptr ? then(json) : otherwise();
    }
    template <typename Then, typename Otherwise>
    void branch(bool test, Then then, Otherwise otherwise) {
        test ? then() : otherwise();
    }
    template <typename Step>
    void unless(bool test, Step step) {
        if (!test) step();
    }
    bool is_string(const Value& value) { return value.is_string(); }
    std::string_view as_string(const Value& value) { return value.as_string(); }
    TemplateArguments only_argument(Value& value) { return {{std::move(value)}, {}}; }

    void assign(const Target& target, const Value& value) { scope_.assign(target.symbol, value); }
    std::vector<Value> unpack(const Value& value, std::size_t count) {
        return template_detail::unpack(value, count);
    }
    const Value& part(const std::vector<Value>& parts, std::size_t index) { return parts[index]; }
    void discard(const Expression& operand) { operand.evaluate(scope_); }

private:
    Scope& scope_;
};

// The compiler's reading: every verb writes its step. Reading an
// expression, the steps become statements of a lambda called at once
// (cpp_sequence), whose value is the result; a walk without steps is a
// plain C++ expression. Reading a statement ({% set %}, or what {{ }}
// appends), they are lines of the page's function.
class WriteCpp {
public:
    using Value = std::string;
    enum class Mode { expression, statements };
    explicit WriteCpp(CppWriter& writer, Mode mode = Mode::expression)
        : writer_(writer), mode_(mode) {}

    Value operator()(const Expression& operand) { return operand.cpp(writer_); }
    Value literal(const TemplateValue& value) { return writer_.constant(value); }
    Value variable(const Symbol& name) { return writer_.variable(name); }
    Value hold(const Expression& operand) { return hold(operand.cpp(writer_)); }
    Value hold(const Value& value) { return declare(kValue, "value", value); }
    void set(const Value& held, const Value& value) { step(held + " = " + value + ";"); }
    Value move(const Value& held) { return "std::move(" + held + ")"; }
    template <typename Function, typename... Arguments>
    Value call(const char* name, Function /*function*/, const Arguments&... arguments) {
        std::string list;
        ((list += (list.empty() ? "" : ", ") + arguments), ...);
        return std::string(kRuntime) + name + "(" + list + ")";
    }
    template <typename Function, typename... Arguments>
    void perform(const char* name, Function function, const Arguments&... arguments) {
        step(call(name, function, arguments...) + ";");
    }
    Value text(std::string_view text) { return CppWriter::quote(text); }
    Value character(char c) { return std::string("'") + c + "'"; }
    Value none() { return std::string(kValue) + "()"; }
    Value as_value(const Value& test) { return std::string(kValue) + "(" + test + ")"; }
    Value truthy_is(const Value& value, bool expected) {
        return std::string(expected ? "" : "!") + "(" + value + ").truthy()";
    }
    template <typename Then, typename Otherwise>
    Value choose(const Value& test, Then then, Otherwise otherwise) {
        return "(" + test + " ? " + kValue + "(" + then() + ") : " + kValue + "(" + otherwise() +
               "))";
    }
    // Never ends the walk that writes it: the C++ it writes does.
    bool ends_unless(const Value& test, const Value& value) {
        step("if (!(" + test + ")) return " + value + ";");
        return false;
    }
    // The walk's C++ as one expression: its steps, then its value.
    Value finish(const Value& value) {
        return steps_.empty() ? value : cpp_sequence(steps_ + "return " + value + ";");
    }
    // A node's walk as one C++ expression (its cpp()).
    template <typename Node>
    static Value expression_of(CppWriter& writer, const Node& node) {
        WriteCpp write(writer);
        return write.finish(node.walk(write));
    }
    // Not operand.cpp(): g++ 12.2 at -O2 turns a node's emit_append_str()
    // that calls its own cpp() or cpp_json() through the virtual function
    // (which it then devirtualizes and inlines) into code that frees a
    // garbage pointer (-fno-devirtualize or -fno-tree-dse avoid it; clang
    // and g++ -O1 are fine). Walks therefore call their own node's walks
    // directly.
    template <typename Node>
    Value value_of(const Node& node) {
        return expression_of(writer_, node);
    }

    Value new_arguments(std::size_t /*positional*/) {
        return declare("tornado::TemplateArguments", "arguments", "");
    }
    void add_positional(const Value& arguments, const Value& value) {
        step(arguments + ".positional.push_back(" + value + ");");
    }
    void add_keyword(const Value& arguments, const std::string& name, const Value& value) {
        step(arguments + ".keyword.emplace_back(" + CppWriter::quote(name) + ", " + value + ");");
    }
    Value sequence(bool is_list, const std::vector<Value>& items) {
        std::string list;
        for (const Value& item : items) {
            list += (list.empty() ? "" : ", ") + std::string(kValue) + "(" + item + ")";
        }
        return std::string(kValue) + (is_list ? "::list({" : "::tuple({") + list + "})";
    }
    Value new_dict() { return declare("tornado::JSON", "dict", "tornado::JSON::object()"); }

    Value briefly(const Expression& operand) { return cpp_briefly(operand, writer_); }
    Value format(const compiled::PercentFormat& format, const Value& values) {
        return writer_.percent_format(format.format()) + ".apply(" + values + ")";
    }

    // A C++ expression of type `const JSON*`; "" where it is always nullptr.
    using Json = std::string;
    Json json_of_variable(const Symbol& name) { return writer_.variable(name) + ".json_node()"; }
    // A member already found in this block is found again where it was kept
    // (CppWriter::member()).
    Json member(const Expression& object, const std::string& key) {
        auto [local_name, member_key] = local_member_of(object, key, writer_);
        if (std::string found = writer_.member(local_name, member_key); !found.empty()) {
            return found;
        }
        std::string json = object.cpp_json(writer_);
        if (json.empty()) return "";
        return std::string(kRuntime) + "member(" + json + ", " + CppWriter::quote(key) + ")";
    }
    Json no_json() { return ""; }

    // What {{ }} appends to the page's text (append_walk()), as statements;
    // `out` is the name of the C++ std::string.
    using Out = const std::string&;
    void append(const Expression& operand, Out out) { operand.emit_append_str(writer_, out); }
    void append_text(Out out, const std::string& text) {
        step(out + " += " + CppWriter::quote(text) + ";");
    }
    void append_value(Out out, const Value& value) {
        step("(" + value + ").append_str(" + out + ");");
    }
    void append_format(Out out, const compiled::PercentFormat& format, const Value& values) {
        step(writer_.percent_format(format.format()) + ".append(" + out + ", " + values + ");");
    }
    void append_data(Out out, const Json& found) {
        step("tornado::TemplateValue::borrow(*" + found + ").append_str(" + out + ");");
    }
    // Data that is never there (a cpp_json() of "") leaves only otherwise().
    template <typename Then, typename Otherwise>
    void if_data(const Json& json, Then then, Otherwise otherwise) {
        if (json.empty()) {
            otherwise();
            return;
        }
        std::string found = writer_.fresh("json");
        branch(
            "const tornado::JSON* " + found + " = " + json, [&] { then(found); }, otherwise);
    }
    // branch() and unless() write lines at once, which only a reading of
    // statements may do: append_walk() is read so (emit_append_str()).
    template <typename Then, typename Otherwise>
    void branch(const Value& test, Then then, Otherwise otherwise) {
        writer_.open("if (" + test + ")");
        then();
        writer_.close();
        writer_.open("else");
        otherwise();
        writer_.close();
    }
    template <typename Step>
    void unless(const Value& test, Step step) {
        writer_.open("if (!" + test + ")");
        step();
        writer_.close();
    }
    // A reference: what is kept is most often a literal, a constant.
    Value keep(const Expression& operand) {
        return declare((std::string("const ") + kValue + "&").c_str(), "kept",
                       operand.cpp(writer_));
    }
    Value is_string(const Value& value) { return value + ".is_string()"; }
    Value as_string(const Value& value) { return value + ".as_string()"; }
    Value only_argument(const Value& value) { return "{{std::move(" + value + ")}, {}}"; }

    // What statements do with values ({% set %}, below).
    void assign(const Target& target, const Value& value) {
        step(writer_.local(target.name) + ".set(" + value + ");");
        writer_.forget(target.name);
    }
    Value unpack(const Value& value, std::size_t count) {
        return declare(
            "std::vector<tornado::TemplateValue>", "parts",
            std::string(kRuntime) + "unpack(" + value + ", " + std::to_string(count) + ")");
    }
    Value part(const Value& parts, std::size_t index) {
        return parts + "[" + std::to_string(index) + "]";
    }
    void discard(const Expression& operand) {
        step("static_cast<void>(" + operand.cpp(writer_) + ");");
    }

private:
    void step(const std::string& statement) {
        if (mode_ == Mode::statements) {
            writer_.line(statement);
        } else {
            steps_ += statement + " ";
        }
    }
    // A new variable of `type`, set to `value` (or default-made).
    Value declare(const char* type, const char* prefix, const Value& value) {
        std::string variable = writer_.fresh(prefix);
        step(std::string(type) + " " + variable + (value.empty() ? "" : " = " + value) + ";");
        return variable;
    }

    CppWriter& writer_;
    Mode mode_;
    std::string steps_;
};

// A node whose evaluate() and cpp() are the two readings of its walk(),
// find_json() and cpp_json() those of its json_walk(), and append_str()
// and emit_append_str() those of its append_walk().
template <typename Node>
struct Walked : Expression {
    TemplateValue evaluate(Scope& scope) const final {
        Run run(scope);
        return node().walk(run);
    }
    std::string cpp(CppWriter& writer) const final {
        return WriteCpp::expression_of(writer, node());
    }
    const JSON* find_json(Scope& scope) const final {
        Run run(scope);
        return node().json_walk(run);
    }
    std::string cpp_json(CppWriter& writer) const final {
        WriteCpp write(writer);
        return node().json_walk(write);
    }
    void append_str(Scope& scope, std::string& out) const final {
        Run run(scope);
        node().append_walk(run, out);
    }
    void emit_append_str(CppWriter& writer, const std::string& out) const final {
        WriteCpp write(writer, WriteCpp::Mode::statements);
        node().append_walk(write, out);
    }

    // What a node that declares no walk of its own for these does (a node's
    // own hides the one here): never a part of the data; str() of the
    // value appended to `out`, a part of the data from where it lies,
    // anything else made, then printed.
    template <typename Reading>
    typename Reading::Json json_walk(Reading& r) const {
        return r.no_json();
    }
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        auto json = node().json_walk(r);
        r.if_data(
            json, [&](const auto& found) { r.append_data(out, found); },
            [&] { r.append_value(out, r.value_of(node())); });
    }

private:
    const Node& node() const { return static_cast<const Node&>(*this); }
};

// A literal (a number, a string, None, True, False). Its str() is made once,
// when parsed, so {{ 3 }} or {{ "text" }} converts nothing while rendering.
struct Constant : Walked<Constant> {
    TemplateValue value;
    std::string text;  // its str(), made once
    explicit Constant(TemplateValue v) : value(std::move(v)), text(value.str()) {}
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        return r.literal(value);
    }
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        r.append_text(out, text);
    }
    bool writes_no_markup() const override { return !has_markup(text); }
};

// A variable. find_json() hands out the JSON node the variable holds, if any,
// so that Attribute and Subscript can reach into generate()'s data without
// copying it. A missing name is a NameError on both paths.
struct Name : Walked<Name> {
    Symbol name;
    explicit Name(std::string_view n) : name(n) {}
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        return r.variable(name);
    }
    template <typename Reading>
    typename Reading::Json json_walk(Reading& r) const {
        return r.json_of_variable(name);
    }
};

// [a, b], (a, b), {k: v}
// A new value each time. A dict is a JSON object (see tornado/template.h):
// keys must be strings, values become JSON, and its nesting is checked here,
// where it is made; a list or tuple checks its own in TemplateValue::list()
// and tuple().
struct Display : Walked<Display> {
    enum class Kind { list, tuple, dict } kind;
    std::vector<ExpressionPtr> items;  // for a dict: key, value, key, value...
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        if (kind == Kind::dict) {
            auto dict = r.new_dict();
            for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
                auto key = r.hold(*items[i]);
                r.perform(RUNTIME(check_dict_key), key);
                r.perform(RUNTIME(put), dict, key, r(*items[i + 1]));
            }
            return r.call(RUNTIME(make_dict), r.move(dict));
        }
        // A braced list's items are evaluated in order, as Python's are.
        std::vector<typename Reading::Value> values;
        values.reserve(items.size());
        for (const ExpressionPtr& item : items) values.push_back(r(*item));
        return r.sequence(kind == Kind::list, std::move(values));
    }
};

// object.name: a dict's key, an object's attribute, or a bound method
// (get_attribute() in template_operations.cpp). A call object.name(...) does
// not come here: Call handles it through `method`.
struct Attribute : Walked<Attribute> {
    ExpressionPtr object;
    std::string name;
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        return r.call(RUNTIME(get_attribute), r(*object), r.text(name));
    }
    // A dict's key read as an attribute (entry.title) comes before its
    // methods, as get_attribute() does.
    template <typename Reading>
    typename Reading::Json json_walk(Reading& r) const {
        return r.member(*object, name);
    }
    // {{ entry.title }}: a part of the data from where it lies, else the
    // attribute's str() appended by append_attribute(), which writes a
    // row's field without making its value.
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        auto json = json_walk(r);
        r.if_data(
            json, [&](const auto& found) { r.append_data(out, found); },
            [&] { r.perform(RUNTIME(append_attribute), out, r(*object), r.text(name)); });
    }
    std::pair<std::string, std::string> local_member(const CppWriter& writer) const override {
        return local_member_of(*object, name, writer);
    }
};

// container[key]. With a string literal as the key (row["name"]), find_json()
// can look the key up in the data without evaluating anything.
struct Subscript : Walked<Subscript> {
    ExpressionPtr container, key;
    std::optional<std::string> constant_key;  // the key, when it is a string literal
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        auto target = r.hold(*container);
        return r.call(RUNTIME(get_item), target, r(*key));
    }
    template <typename Reading>
    typename Reading::Json json_walk(Reading& r) const {
        return constant_key ? r.member(*container, *constant_key) : r.no_json();
    }
    std::pair<std::string, std::string> local_member(const CppWriter& writer) const override {
        return constant_key ? local_member_of(*container, *constant_key, writer)
                            : std::pair<std::string, std::string>{};
    }
};

// container[start:stop:step]; a part left out is None, as Python passes it to
// the slice.
struct Slice : Walked<Slice> {
    ExpressionPtr container, start, stop, step;  // any of the three may be null
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        std::vector<typename Reading::Value> parts;
        for (const ExpressionPtr* part : {&container, &start, &stop, &step}) {
            parts.push_back(*part ? r.hold(**part) : r.hold(r.none()));
        }
        return r.call(RUNTIME(get_slice), parts[0], parts[1], parts[2], parts[3]);
    }
};

// f(args) and object.method(args), in Python's order: the callee first (for a
// method, the object and then the lookup of the method, which check_method()
// does), then the arguments left to right, then the call. A method is never
// made into a function value: call_method() runs it on the object directly.
struct Call : Walked<Call> {
    ExpressionPtr callee;
    // `object.method(...)`: the callee as an Attribute, called directly
    // without making a bound method first.
    const Attribute* method = nullptr;
    std::vector<ExpressionPtr> positional;
    std::vector<std::pair<std::string, ExpressionPtr>> keyword;
    bool is_join = false;  // x.join(parts), what templates call most

    // "sep".join(parts) is joined straight into the page, parts that are
    // JSON data (row["tags"]) read where they lie (briefly()).
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        if (!is_join) {
            Walked::append_walk(r, out);
            return;
        }
        auto separator = r.keep(*method->object);
        auto is_text = r.is_string(separator);
        r.unless(is_text,
                 [&] { r.perform(RUNTIME(check_method), separator, r.text(method->name)); });
        auto parts = r.hold(r.briefly(*positional[0]));
        r.branch(
            is_text, [&] { r.perform(RUNTIME(append_join), out, r.as_string(separator), parts); },
            [&] {
                r.append_value(out, r.call(RUNTIME(call_method), separator, r.text(method->name),
                                           r.only_argument(parts)));
            });
    }

    // Python's order: the object and the method's check, or the function;
    // the arguments left to right; the call.
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        auto callee_value = r.hold(method != nullptr ? *method->object : *callee);
        if (method != nullptr) r.perform(RUNTIME(check_method), callee_value, r.text(method->name));
        auto arguments = r.new_arguments(positional.size());
        for (const ExpressionPtr& argument : positional) r.add_positional(arguments, r(*argument));
        for (const auto& [name, argument] : keyword) r.add_keyword(arguments, name, r(*argument));
        if (method != nullptr) {
            return r.call(RUNTIME(call_method), callee_value, r.text(method->name), arguments);
        }
        return r.call(RUNTIME(call_function), callee_value, arguments);
    }
};

// -x, +x, ~x, and "not x" (op '!': "not" is not one character).
struct Unary : Walked<Unary> {
    char op;
    ExpressionPtr operand;
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        if (op == '!') return r.as_value(r.truthy_is(r(*operand), false));
        return r.call(RUNTIME(unary), r.character(op), r(*operand));
    }
};

// "format" % values with a string literal on the left, formatted straight
// into the page ({{ "%.2f" % price }}).
// A "%" whose left side is not a string literal stays a Binary, which formats
// too when its left value turns out to be a string, but through a value.
// The format is read once, when the template is parsed (compiled::PercentFormat).
struct PercentFormat : Walked<PercentFormat> {
    compiled::PercentFormat format;
    ExpressionPtr values;
    explicit PercentFormat(std::string_view text) : format(text) {}
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        return r.format(format, r.briefly(*values));
    }
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        r.append_format(out, format, r.briefly(*values));
    }
    bool writes_no_markup() const override { return format.writes_no_markup(); }
};

// The arithmetic and bitwise operators: a + b - c is ((a + b) - c) in Python,
// which evaluates a, then b, then adds, then c, then subtracts. One node
// holds the whole run and does the same in a loop: a tree of one node per
// operator would be as deep as the run, and 100,000 operators would overflow
// the stack in evaluate(). binary() does what Python does for the
// two types. "**" is right-associative: its node has one operator, and the
// exponent may be another "**".
struct Binary : Walked<Binary> {
    ExpressionPtr first;
    std::vector<std::pair<std::string, ExpressionPtr>> rest;  // (operator, right operand)
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        // x op literal ({{ i % 2 }}, {{ n + 1 }}): the literal has nothing
        // to evaluate, so the order of the arguments does not matter, and
        // arithmetic() does two ints inline.
        if (rest.size() == 1 && rest[0].first.size() == 1 &&
            dynamic_cast<const Constant*>(rest[0].second.get()) != nullptr) {
            return r.call(RUNTIME(arithmetic), r.character(rest[0].first[0]), r(*first),
                          r(*rest[0].second));
        }
        auto result = r.hold(*first);
        for (const auto& [op, operand] : rest) {
            auto right = r.hold(*operand);
            r.set(result, r.call(RUNTIME(binary), r.text(op), result, right));
        }
        return result;
    }
};

// a < b <= c: each pair compared, each operand evaluated once.
// Lazily, as in Python: a < b < c stops at the first false pair, without
// evaluating the operands after it.
struct Comparison : Walked<Comparison> {
    std::vector<ExpressionPtr> operands;
    std::vector<std::string> ops;
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        const auto no = r.literal(false);
        auto left = r.hold(*operands[0]);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            auto right = r.hold(*operands[i + 1]);
            auto pair_holds = r.call(RUNTIME(compare), r.text(ops[i]), left, right);
            if (r.ends_unless(pair_holds, no)) return no;
            r.set(left, r.move(right));
        }
        return r.literal(true);
    }
};

// "and" / "or" give one of their operands, as in Python (x or "default"):
// a run a or b or c is one node, like Python's BoolOp, and gives the first
// operand that decides, or the last. An operand is evaluated only when the
// ones before it did not decide (x and x.y).
struct Logical : Walked<Logical> {
    bool is_and;
    std::vector<ExpressionPtr> operands;  // two or more
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        auto value = r.hold(*operands[0]);
        for (std::size_t i = 1; i < operands.size(); ++i) {
            // "and" goes on while its operands are true, "or" while false.
            if (r.ends_unless(r.truthy_is(value, is_and), value)) return value;
            r.set(value, r(*operands[i]));
        }
        return value;
    }
};

// a if condition else b: only the branch taken is evaluated. append_str()
// passes on to that branch, so it keeps the branch's fast path (a string from
// the data, a literal).
struct Conditional : Walked<Conditional> {
    ExpressionPtr condition, if_true, if_false;
    template <typename Reading>
    typename Reading::Value walk(Reading& r) const {
        return r.choose(
            r.truthy_is(r(*condition), true), [&] { return r(*if_true); },
            [&] { return r(*if_false); });
    }
    template <typename Reading>
    void append_walk(Reading& r, typename Reading::Out out) const {
        r.branch(
            r.truthy_is(r(*condition), true), [&] { r.append(*if_true, out); },
            [&] { r.append(*if_false, out); });
    }
    bool writes_no_markup() const override {
        return if_true->writes_no_markup() && if_false->writes_no_markup();
    }
};

// ---- the parser -------------------------------------------------------------

// The parser has one function per level of the grammar in
// template_expression.h; each calls the next tighter level for its operands,
// so precedence comes from the order of the calls. The six levels of binary
// operators share one function, binary(), which reads each operator's level
// from a table (precedence climbing). The checks Python's
// compiler makes on the text (a keyword where a name must be, f(a=1, a=2),
// what the subset leaves out) are made here, so that a bad template fails
// when it is loaded, not when a page first reaches the expression.
//
// make<Binary>() and the like: the nodes have no constructors (but Constant,
// Name and PercentFormat); the parser fills their fields one by one.
template <typename Node>
std::unique_ptr<Node> make() {
    return std::make_unique<Node>();
}

// Tokenizes the whole text in its constructor; at_ is the next token. The
// public part is what the parse_* entry points below use.
class ExpressionParser {
public:
    explicit ExpressionParser(std::string_view text) : tokens_(Tokenizer(text).tokens()) {}

    bool at_end() const { return peek().kind == TokenKind::end; }

    // An expression must use every token: {{ a b }} is an error at 'b'.
    void expect_end() {
        if (!at_end()) syntax_error("unexpected '" + describe(peek()) + "'");
    }

    // A comma-separated list at the top: `a, b` is a tuple, `a` itself.
    // It stops at what may follow a list (the end, ')', the '=' of
    // {% set a, b = ... %}, the 'in' of {% for %}), which allows a trailing
    // comma: a, b, is a tuple.
    ExpressionPtr expression_list() {
        ExpressionPtr first = expression();
        if (!is_op(",")) return first;
        auto tuple = std::make_unique<Display>();
        tuple->kind = Display::Kind::tuple;
        tuple->items.push_back(child_of(*tuple, std::move(first)));
        while (accept_op(",")) {
            if (at_end() || is_op(")") || is_op("=") || is_name("in")) break;
            tuple->items.push_back(child_of(*tuple, expression()));
        }
        return tuple;
    }

    // The names {% set %} and {% for %} assign: a, (a, b) or a, b; each part
    // is a single_target(). A trailing comma is allowed, as in Python.
    Target target_list() {
        Target first = single_target();
        if (!is_op(",")) return first;
        Target tuple;
        tuple.items.push_back(std::move(first));
        while (accept_op(",")) {
            if (at_end() || is_op("=") || is_name("in")) break;
            tuple.items.push_back(single_target());
        }
        return tuple;
    }

    // Token tests: accept_* consumes the token when it matches; is_* and peek
    // only look. A keyword is a name token to is_name(); name() is the one
    // that refuses keywords.
    bool accept_op(std::string_view op) {
        if (!is_op(op)) return false;
        ++at_;
        return true;
    }
    bool accept_name(std::string_view name) {
        if (!is_name(name)) return false;
        ++at_;
        return true;
    }
    bool is_op(std::string_view op) const {
        return peek().kind == TokenKind::op && peek().text == op;
    }
    bool is_name(std::string_view name) const {
        return peek().kind == TokenKind::name && peek().text == name;
    }
    // Past the end it keeps returning the end token, so that looking ahead
    // (peek(2)) needs no bounds checks.
    const Token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(at_ + ahead, tokens_.size() - 1)];
    }
    std::string name() {
        if (peek().kind != TokenKind::name || is_keyword(peek().text)) {
            syntax_error("expected a name, not '" + describe(peek()) + "'");
        }
        return tokens_[at_++].text;
    }

    // expression := or_test ["if" or_test "else" expression]. The value comes
    // before the condition in the text, as Python writes it; the else side
    // recurses, for a if b else c if d else e.
    ExpressionPtr expression() {
        Nesting nesting(*this);
        if (is_name("lambda"))
            syntax_error("lambda is not supported in templates: register a C++ function");
        ExpressionPtr value = or_test();
        if (!accept_name("if")) return value;
        auto node = make<Conditional>();
        node->if_true = child_of(*node, std::move(value));
        node->condition = child_of(*node, or_test());
        if (!accept_name("else")) syntax_error("expected 'else' after 'if' expression");
        node->if_false = child_of(*node, expression());
        return node;
    }

private:
    // Two guards keep a hostile template from using up the stack, both at
    // kMaxExpressionDepth levels. Nesting counts how deep the parser has
    // recursed: brackets, calls and conditionals nest through expression(),
    // unary operators through factor() and not_test(), "**" through power(),
    // parenthesised targets through single_target(). Each of those opens one
    // while it parses what it holds, so "((((...))))" or 1**1**...**1 is
    // refused before the recursion gets deep. child_of() checks the tree
    // itself, as each node is built: a chain of trailers (a.b.c..., f()()...)
    // is parsed in a loop, so only the depth of the tree it makes can tell.
    [[noreturn]] static void too_deep() {
        syntax_error("expression nested too deeply: more than " +
                     std::to_string(kMaxExpressionDepth) + " levels");
    }

    // `child`, a part of `parent` that the parser has just built: the
    // parent's depth becomes at least the child's plus one. Every node with
    // parts takes them through here. A null child (a slice's missing bound)
    // adds nothing.
    static ExpressionPtr child_of(Expression& parent, ExpressionPtr child) {
        if (child == nullptr) return child;
        parent.depth = std::max(parent.depth, child->depth + 1);
        if (parent.depth > kMaxExpressionDepth) too_deep();
        return child;
    }

    struct Nesting {
        ExpressionParser& parser;
        explicit Nesting(ExpressionParser& p) : parser(p) {
            if (++parser.nesting_ > kMaxExpressionDepth) too_deep();
        }
        ~Nesting() { --parser.nesting_; }
        Nesting(const Nesting&) = delete;
        Nesting& operator=(const Nesting&) = delete;
    };

    // Python's keywords, which cannot be a variable or an attribute name:
    // refused in name(), they give a clear message for {% set if = 1 %} or
    // x.class. The soft keywords (match, case, type) are ordinary names, as
    // they are in Python.
    static bool is_keyword(std::string_view word) {
        static constexpr std::string_view kKeywords[] = {
            "and",     "or",     "not",    "in",       "is",    "if",       "else",
            "for",     "lambda", "None",   "True",     "False", "yield",    "await",
            "async",   "import", "from",   "as",       "def",   "class",    "return",
            "del",     "pass",   "global", "nonlocal", "while", "try",      "except",
            "finally", "with",   "raise",  "assert",   "break", "continue", "elif"};
        return std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords);
    }

    // How a token is quoted in an error message: a string by its repr(), the
    // end in words, anything else by its text.
    static std::string describe(const Token& token) {
        if (token.kind == TokenKind::end) return "end of expression";
        if (token.kind == TokenKind::string) return token.value.repr();
        return token.text;
    }

    // One assignment target: a name, or a target list in parentheses. Python
    // also assigns to [a, b], to x.attr and to x[i]; the first is refused
    // with advice, the others because a template's values are not shared
    // objects that could be changed in place.
    Target single_target() {
        if (accept_op("(")) {
            Nesting nesting(*this);
            Target inner = target_list();  // "(a)" is the name a; "(a, b)" a tuple
            if (!accept_op(")")) syntax_error("expected ')' in an assignment target");
            return inner;
        }
        if (is_op("[")) syntax_error("list targets are not supported in templates: use a tuple");
        std::string target = name();
        if (is_op(".") || is_op("[")) {
            syntax_error(
                "only names can be assigned in a template, not items or attributes "
                "(values are not shared objects here)");
        }
        return Target{target, {}};
    }

    // or_test and and_test: a run a or b or c is one Logical node, as it is
    // one BoolOp in Python; a single operand is itself.
    ExpressionPtr or_test() { return logical_run(false); }
    ExpressionPtr and_test() { return logical_run(true); }

    ExpressionPtr logical_run(bool is_and) {
        const std::string_view word = is_and ? "and" : "or";
        auto operand = [&] { return is_and ? not_test() : and_test(); };
        ExpressionPtr first = operand();
        if (!is_name(word)) return first;
        auto node = make<Logical>();
        node->is_and = is_and;
        node->operands.push_back(child_of(*node, std::move(first)));
        while (accept_name(word)) node->operands.push_back(child_of(*node, operand()));
        return node;
    }

    // "not" binds looser than a comparison: not a == b is not (a == b).
    ExpressionPtr not_test() {
        if (!accept_name("not")) return comparison();
        Nesting nesting(*this);
        auto node = make<Unary>();
        node->op = '!';
        node->operand = child_of(*node, not_test());
        return node;
    }

    // The next comparison operator, consumed, or "" if there is none.
    // "not in" and "is not" are two name tokens each; a "not" that no "in"
    // follows is not an operator here (a not b fails later, at 'not').
    std::string_view comparison_operator() {
        static constexpr std::string_view kSymbols[] = {"<", ">", "==", ">=", "<=", "!="};
        for (std::string_view symbol : kSymbols) {
            if (accept_op(symbol)) return symbol;
        }
        if (accept_name("in")) return "in";
        if (is_name("not") && peek(1).kind == TokenKind::name && peek(1).text == "in") {
            at_ += 2;
            return "not in";
        }
        if (accept_name("is")) return accept_name("not") ? "is not" : "is";
        return "";
    }

    // A whole chain (a < b <= c) goes into one Comparison node, which
    // compares each pair and evaluates each operand once.
    ExpressionPtr comparison() {
        ExpressionPtr first = binary(0);
        std::string_view op = comparison_operator();
        if (op.empty()) return first;
        auto node = make<Comparison>();
        node->operands.push_back(child_of(*node, std::move(first)));
        for (; !op.empty(); op = comparison_operator()) {
            node->ops.emplace_back(op);
            node->operands.push_back(child_of(*node, binary(0)));
        }
        return node;
    }

    // The binary operators' levels, loosest first: | ^ & (<< >>) (+ -)
    // (* / // % @); -1 for a token that is none of them. Python's "**" binds
    // tighter still (power()).
    int binary_level() const {
        static constexpr std::pair<std::string_view, int> kOperators[] = {
            {"|", 0}, {"^", 1}, {"&", 2}, {"<<", 3}, {">>", 3}, {"+", 4},
            {"-", 4}, {"*", 5}, {"/", 5}, {"//", 5}, {"%", 5},  {"@", 5}};
        if (peek().kind != TokenKind::op) return -1;
        for (const auto& [op, level] : kOperators) {
            if (peek().text == op) return level;
        }
        return -1;
    }

    // Operands joined by binary operators of `min_level` or tighter
    // (precedence climbing): a * b + c is (a * b) + c. One function for all
    // six levels, where a function per level would recurse six deep for
    // every operand, and so for every bracket of "((((...))))": this is
    // what keeps the parser's stack small per level of nesting.
    ExpressionPtr binary(int min_level) {
        ExpressionPtr left = factor();
        for (int level = binary_level(); level >= min_level; level = binary_level()) {
            left = binary_run(std::move(left), level);
        }
        return left;
    }

    // The run of `level`'s operators after `left` (a + b - c), as one
    // Binary node; each right operand takes the tighter operators
    // (binary(level + 1)). The run ends at a looser operator, which the
    // caller's loop takes next.
    ExpressionPtr binary_run(ExpressionPtr left, int level) {
        std::unique_ptr<Binary> run;  // made at the run's first operator
        while (binary_level() == level) {
            std::string op = tokens_[at_++].text;
            // Matrix multiplication: Python parses it, but no built-in type
            // has it.
            if (op == "@") syntax_error("the @ operator is not supported in templates");
            const auto* constant = dynamic_cast<const Constant*>(left.get());
            // A string literal % values is formatting, known at parse time: a
            // PercentFormat writes it into the page without making a string
            // value. Only the run's first operator can have the literal on its
            // left; the PercentFormat becomes the run's first operand.
            if (op == "%" && run == nullptr && constant != nullptr && constant->value.is_string()) {
                auto format = std::make_unique<PercentFormat>(constant->value.as_string());
                format->values = child_of(*format, binary(level + 1));
                left = std::move(format);
                continue;
            }
            if (run == nullptr) {
                run = make<Binary>();
                run->first = child_of(*run, std::move(left));
            }
            run->rest.emplace_back(std::move(op), child_of(*run, binary(level + 1)));
        }
        if (run == nullptr) return left;
        return run;
    }

    // factor := ("-" | "+" | "~") factor | power. The first branch folds "-"
    // and the literal 9223372036854775808 (which the tokenizer could not
    // hold) into the smallest int64. When "**" or a trailer ('.', '[', '(')
    // follows the literal, that binds first and the minus applies to its
    // result: that case takes the general path, where atom() refuses the
    // literal.
    ExpressionPtr factor() {
        if (is_op("-") && peek(1).kind == TokenKind::number && peek(1).value.is_none()) {
            const Token& after = peek(2);
            bool trailer =
                after.kind == TokenKind::op &&
                (after.text == "**" || after.text == "." || after.text == "[" || after.text == "(");
            if (!trailer) {  // not -9223372036854775808 ** 2, which negates a power
                at_ += 2;
                return std::make_unique<Constant>(
                    TemplateValue(std::numeric_limits<std::int64_t>::min()));
            }
        }
        for (char op : {'-', '+', '~'}) {
            if (accept_op(std::string(1, op))) {
                Nesting nesting(*this);
                auto node = make<Unary>();
                node->op = op;
                node->operand = child_of(*node, factor());
                return node;
            }
        }
        return power();
    }

    // power := primary ["**" factor]: "**" binds tighter than a unary minus
    // on its left (-2**2 is -4) and looser than one on its right (2**-1).
    ExpressionPtr power() {
        ExpressionPtr base = primary();
        if (!accept_op("**")) return base;
        Nesting nesting(*this);  // 1**1**1... recurses here once per "**"
        auto node = make<Binary>();
        node->first = child_of(*node, std::move(base));
        // Right-associative, and -x binds looser: 2**-1.
        node->rest.emplace_back("**", child_of(*node, factor()));
        return node;
    }

    // The trailers, left to right: a.b[c](d) is ((a.b)[c])(d). A loop: a long
    // chain of trailers costs no parser recursion, but evaluating it
    // recurses once per trailer, so each counts a level of the tree.
    ExpressionPtr primary() {
        ExpressionPtr value = atom();
        while (true) {
            if (accept_op(".")) {
                auto node = make<Attribute>();
                node->object = child_of(*node, std::move(value));
                node->name = name();
                value = std::move(node);
            } else if (accept_op("[")) {
                value = subscript(std::move(value));
            } else if (accept_op("(")) {
                value = call(std::move(value));
            } else {
                return value;
            }
        }
    }

    // After '[': x[key], or a slice x[start:stop:step] with any part left
    // out. A key with commas (x[a, b]) is a tuple, as in Python. A
    // string-literal key is kept apart for Subscript::find_json().
    ExpressionPtr subscript(ExpressionPtr container) {
        ExpressionPtr start;
        if (!is_op(":")) {
            start = expression_list();
            if (accept_op("]")) {
                auto node = make<Subscript>();
                node->container = child_of(*node, std::move(container));
                const auto* constant = dynamic_cast<const Constant*>(start.get());
                if (constant != nullptr && constant->value.is_string()) {
                    node->constant_key = std::string(constant->value.as_string());
                }
                node->key = child_of(*node, std::move(start));
                return node;
            }
        }
        if (!accept_op(":")) syntax_error("expected ']' or ':' in a subscript");
        auto node = make<Slice>();
        node->container = child_of(*node, std::move(container));
        node->start = child_of(*node, std::move(start));
        if (!is_op(":") && !is_op("]")) node->stop = child_of(*node, expression());
        if (accept_op(":") && !is_op("]")) node->step = child_of(*node, expression());
        if (!accept_op("]")) syntax_error("expected ']' after a slice");
        return node;
    }

    // After '(': the arguments, positional before keyword as Python requires.
    // A keyword argument is a name followed by "=" ("==" is one token, so
    // f(a == b) stays positional). `method` is set when the callee is an
    // attribute (obj.name(...)); is_join marks sep.join(parts), which
    // append_str writes straight into the page.
    ExpressionPtr call(ExpressionPtr callee) {
        auto node = make<Call>();
        node->method = dynamic_cast<const Attribute*>(callee.get());
        node->callee = child_of(*node, std::move(callee));
        while (!accept_op(")")) {
            if (is_op("*") || is_op("**"))
                syntax_error("*args and **kwargs are not supported in templates");
            if (peek().kind == TokenKind::name && peek(1).kind == TokenKind::op &&
                peek(1).text == "=") {
                std::string keyword = name();
                ++at_;  // "="
                // Python refuses f(a=1, a=2) when it compiles; the call
                // would otherwise see only the first.
                for (const auto& [seen, value] : node->keyword) {
                    if (seen == keyword) syntax_error("keyword argument repeated: " + keyword);
                }
                node->keyword.emplace_back(keyword, child_of(*node, expression()));
            } else {
                if (!node->keyword.empty())
                    syntax_error("positional argument follows keyword argument");
                node->positional.push_back(child_of(*node, expression()));
            }
            if (is_name("for"))
                syntax_error("generator expressions are not supported in templates");
            if (!accept_op(",") && !is_op(")")) syntax_error("expected ',' or ')' in a call");
        }
        node->is_join = node->method != nullptr && node->method->name == "join" &&
                        node->positional.size() == 1 && node->keyword.empty();
        return node;
    }

    // atom := number | string+ | None | True | False | name | ( ) | [ ] |
    // { }. Adjacent string literals make one string, as in Python ("a" "b" is
    // "ab"). None, True and False are constants, not names, so nothing can
    // rebind them.
    ExpressionPtr atom() {
        const Token& token = peek();
        if (token.kind == TokenKind::number) {
            if (token.value.is_none())
                syntax_error("the integer " + token.text + " does not fit in 64 bits");
            ++at_;
            return std::make_unique<Constant>(token.value);
        }
        if (token.kind == TokenKind::string) {
            std::string text;
            while (peek().kind == TokenKind::string) text += tokens_[at_++].value.as_string();
            return std::make_unique<Constant>(TemplateValue(std::move(text)));
        }
        if (token.kind == TokenKind::name) {
            if (accept_name("None")) return std::make_unique<Constant>(TemplateValue());
            if (accept_name("True")) return std::make_unique<Constant>(TemplateValue(true));
            if (accept_name("False")) return std::make_unique<Constant>(TemplateValue(false));
            if (is_name("yield") || is_name("await")) {
                syntax_error("'" + token.text + "' is not supported in templates");
            }
            return std::make_unique<Name>(name());
        }
        if (accept_op("(")) return parenthesized();
        if (accept_op("[")) return display(Display::Kind::list, "]");
        if (accept_op("{")) return display(Display::Kind::dict, "}");
        if (token.kind == TokenKind::end) syntax_error("unexpected end of expression");
        syntax_error("unexpected '" + describe(token) + "'");
    }

    // After '(': () is the empty tuple, (x) is x itself, (x,) and (x, y) are
    // tuples.
    ExpressionPtr parenthesized() {
        if (accept_op(")")) {
            auto empty = std::make_unique<Display>();
            empty->kind = Display::Kind::tuple;
            return empty;
        }
        ExpressionPtr first = expression();
        if (is_name("for")) syntax_error("generator expressions are not supported in templates");
        if (accept_op(")")) return first;
        auto tuple = std::make_unique<Display>();
        tuple->kind = Display::Kind::tuple;
        tuple->items.push_back(child_of(*tuple, std::move(first)));
        while (accept_op(",")) {
            if (is_op(")")) break;
            tuple->items.push_back(child_of(*tuple, expression()));
        }
        if (!accept_op(")")) syntax_error("expected ')'");
        return tuple;
    }

    // After '[' or '{': the items up to `close`, a trailing comma allowed. A
    // '{' always makes a dict: {a, b}, a set, is refused, since TemplateValue
    // has no set type.
    ExpressionPtr display(Display::Kind kind, std::string_view close) {
        auto node = std::make_unique<Display>();
        node->kind = kind;
        while (!accept_op(close)) {
            node->items.push_back(child_of(*node, expression()));
            if (is_name("for")) syntax_error("comprehensions are not supported in templates");
            if (kind == Display::Kind::dict) {
                if (!accept_op(":"))
                    syntax_error("sets are not supported in templates (expected ':' in a dict)");
                node->items.push_back(child_of(*node, expression()));
                if (is_name("for")) syntax_error("comprehensions are not supported in templates");
            }
            if (!accept_op(",") && !is_op(close))
                syntax_error("expected ',' or '" + std::string(close) + "'");
        }
        return node;
    }

    std::vector<Token> tokens_;
    std::size_t at_ = 0;
    // How many Nesting guards are open now.
    int nesting_ = 0;
};

}  // namespace

// ---- parsing entry points ---------------------------------------------------

// The text of {{ }}, {% raw %}, {% if %}, {% elif %}, {% while %} and
// {% apply %}: an expression list, so {{ a, b }} writes a tuple, as Python
// would.
ExpressionPtr parse_expression(std::string_view text) {
    ExpressionParser parser(text);
    if (parser.at_end()) syntax_error("empty expression");
    ExpressionPtr expression = parser.expression_list();
    parser.expect_end();
    return expression;
}

// {% set %}: `target = value`, `name op= value`, or a bare expression
// (Python's expression statement, run for its effect, such as a call). The
// operator is found first, since the text before it must be parsed as a
// target, not as an expression. A comparison that ends in '=' is not it, nor
// an '=' inside brackets (f(a=1)).
Assignment parse_assignment(std::string_view text) {
    // Find the assignment operator at the top level, outside brackets and
    // strings, by tokenizing once.
    ExpressionParser probe(text);
    std::size_t depth = 0, index = 0;
    std::string op;
    for (;; ++index) {
        const Token& token = probe.peek(index);
        if (token.kind == TokenKind::end) break;
        if (token.kind != TokenKind::op) continue;
        if (token.text == "(" || token.text == "[" || token.text == "{") ++depth;
        if ((token.text == ")" || token.text == "]" || token.text == "}") && depth > 0) --depth;
        if (depth == 0 && token.text.size() >= 1 && token.text.back() == '=' &&
            token.text != "==" && token.text != "!=" && token.text != "<=" && token.text != ">=") {
            op = token.text;
            break;
        }
    }
    Assignment assignment;
    ExpressionParser parser(text);
    if (op.empty()) {  // an expression statement, for its effect
        assignment.value = parser.expression_list();
        parser.expect_end();
        return assignment;
    }
    if (op == ":=") syntax_error("the walrus operator := is not supported in templates");
    assignment.target = parser.target_list();
    if (!parser.accept_op(op)) syntax_error("expected '" + op + "' in {% set %}");
    if (op != "=") {
        if (!assignment.target.items.empty())
            syntax_error("illegal expression for augmented assignment");
        // x += 1 keeps "+": Assignment::execute() applies it with
        // binary(). A tuple cannot take an augmented assignment, in
        // Python either.
        assignment.augmented_operator = op.substr(0, op.size() - 1);
    }
    if (parser.at_end()) syntax_error("nothing to assign after '" + op + "'");
    assignment.value = parser.expression_list();
    if (parser.is_op("="))
        syntax_error("chained assignment (a = b = c) is not supported in templates");
    parser.expect_end();
    return assignment;
}

// {% for target in iterable %}. When the iterable is exactly enumerate(xs),
// the header also keeps xs, for the counting path of template.cpp's For.
ForHeader parse_for(std::string_view text) {
    ExpressionParser parser(text);
    ForHeader header;
    header.target = parser.target_list();
    if (!parser.accept_name("in")) syntax_error("expected 'in' in {% for %}");
    header.iterable = parser.expression_list();
    parser.expect_end();
    const auto* call = dynamic_cast<const Call*>(header.iterable.get());
    const auto* callee = call != nullptr ? dynamic_cast<const Name*>(call->callee.get()) : nullptr;
    if (callee != nullptr && callee->name.name() == "enumerate" && call->positional.size() == 1 &&
        call->keyword.empty()) {
        header.enumerated = call->positional[0].get();
    }
    return header;
}

// {% except %}, {% except E %} or {% except (E1, E2) %}, each with an
// optional "as name". The types stay names: there are no exception classes to
// look up, and ExceptHeader::catches() compares them with the Python type a
// TemplateError carries.
ExceptHeader parse_except(std::string_view text) {
    ExpressionParser parser(text);
    ExceptHeader header;
    if (parser.at_end()) return header;
    if (parser.accept_op("(")) {
        do {
            header.types.push_back(parser.name());
        } while (parser.accept_op(",") && !parser.is_op(")"));
        if (!parser.accept_op(")")) syntax_error("expected ')' in {% except %}");
    } else {
        header.types.push_back(parser.name());
    }
    if (parser.accept_name("as")) header.name = Symbol(parser.name());
    parser.expect_end();
    return header;
}

// ---- assignment and exceptions ----------------------------------------------

// Python's unpacking: a name is set; a tuple target takes any iterable (a
// list, a string's characters, a dict's keys) with exactly as many values,
// each assigned to its part, recursively. The ValueError messages are
// Python's.
template <typename Reading>
void assign_walk(const Target& target, Reading& r, const typename Reading::Value& value) {
    if (!target.name.empty()) {
        r.assign(target, value);
        return;
    }
    auto parts = r.unpack(value, target.items.size());
    for (std::size_t i = 0; i < target.items.size(); ++i) {
        assign_walk(target.items[i], r, r.part(parts, i));
    }
}

void Target::assign(Scope& scope, const TemplateValue& value) const {
    Run run(scope);
    assign_walk(*this, run, value);
}

void Target::emit_assign(CppWriter& writer, const std::string& value) const {
    WriteCpp write(writer, WriteCpp::Mode::statements);
    assign_walk(*this, write, value);
}

std::vector<TemplateValue> unpack(const TemplateValue& value, std::size_t expected) {
    Iteration values(value);
    std::size_t count = values.size();
    if (count > expected) {
        throw PythonError("ValueError",
                          "too many values to unpack (expected " + std::to_string(expected) + ")");
    }
    if (count < expected) {
        throw PythonError("ValueError", "not enough values to unpack (expected " +
                                            std::to_string(expected) + ", got " +
                                            std::to_string(count) + ")");
    }
    std::vector<TemplateValue> result;
    result.reserve(count);
    for (std::size_t i = 0; i < count; ++i) result.push_back(values[i]);
    return result;
}

// template.cpp collects these for each function of the page: Python makes
// every name a function assigns local to all of it (see Scope).
void Target::collect_names(std::set<std::string, std::less<>>& names) const {
    if (!name.empty()) names.insert(name);
    for (const Target& item : items) item.collect_names(names);
}

// For x += f(), Python loads x, then calls f(), then adds: when x is not set
// yet, the UnboundLocalError comes before f() runs, so x is looked up first
// here too.
template <typename Reading>
void Assignment::walk(Reading& r) const {
    if (!augmented_operator.empty()) {
        auto current = r.hold(r.variable(target.symbol));
        auto operand = r.hold(*value);
        assign_walk(target, r,
                    r.call(RUNTIME(binary), r.text(augmented_operator), current, operand));
        return;
    }
    if (target.name.empty() && target.items.empty()) {  // an expression statement
        r.discard(*value);
        return;
    }
    auto result = r.hold(*value);
    assign_walk(target, r, result);
}

void Assignment::execute(Scope& scope) const {
    Run run(scope);
    walk(run);
}

void Assignment::emit(CppWriter& writer) const {
    WriteCpp write(writer, WriteCpp::Mode::statements);
    walk(write);
}

// Whether this clause catches an error of Python type `python_type`; a bare
// {% except %} catches everything.
bool ExceptHeader::catches(const std::string& python_type) const {
    if (types.empty()) return true;
    // A part of Python's built-in hierarchy: Exception and BaseException
    // catch everything, LookupError catches KeyError and IndexError,
    // ArithmeticError ZeroDivisionError and OverflowError. Not modelled,
    // although templates raise them: NameError catching UnboundLocalError,
    // and RuntimeError catching RecursionError and NotImplementedError. A
    // name that is no exception type (a typo) just never matches; Python
    // would raise a NameError when it tried the clause.
    auto is_a = [&](std::string_view wanted) {
        if (wanted == python_type || wanted == "Exception" || wanted == "BaseException")
            return true;
        if (wanted == "LookupError")
            return python_type == "KeyError" || python_type == "IndexError";
        if (wanted == "ArithmeticError") {
            return python_type == "ZeroDivisionError" || python_type == "OverflowError";
        }
        return false;
    };
    return std::any_of(types.begin(), types.end(), is_a);
}

// ---- scopes -----------------------------------------------------------------

// The page's scope: `local_names` are the names the page's function assigns
// (Program::locals in template.cpp).
Scope::Scope(const JSON& arguments, std::vector<const TemplateNamespace*> namespaces,
             const std::set<std::string, std::less<>>* local_names)
    : arguments_(&arguments), local_names_(local_names), namespaces_(std::move(namespaces)) {}

// An {% apply %} body's scope: the same arguments and namespaces, its own
// variables, and the enclosing scope's to read (find_local()).
Scope::Scope(const Scope& enclosing, const std::set<std::string, std::less<>>* local_names)
    : enclosing_(&enclosing),
      arguments_(enclosing.arguments_),
      local_names_(local_names),
      namespaces_(enclosing.namespaces_) {}

// ---- expressions ----------------------------------------------------------

// ---- compiling to C++ -------------------------------------------------------

namespace {

std::pair<std::string, std::string> local_member_of(const Expression& container,
                                                    const std::string& key,
                                                    const CppWriter& writer) {
    const auto* name = dynamic_cast<const Name*>(&container);
    if (name == nullptr || !writer.is_local(name->name.name())) return {};
    return {name->name.name(), key};
}

}  // namespace

std::string cpp_json_statement(const Expression& expression, CppWriter& writer) {
    std::string json = expression.cpp_json(writer);
    auto [local_name, key] = expression.local_member(writer);
    if (json.empty() || local_name.empty() || !writer.member(local_name, key).empty()) return json;
    std::string variable = writer.fresh("member");
    writer.line("const tornado::JSON* " + variable + " = " + json + ";");
    writer.remember(local_name, key, variable);
    return variable;
}

std::string CppWriter::member(const std::string& local_name, const std::string& key) const {
    if (local_name.empty()) return "";
    for (const Member& entry : members_) {
        if (entry.local_name == local_name && entry.key == key) return entry.variable;
    }
    return "";
}

void CppWriter::remember(const std::string& local_name, const std::string& key,
                         const std::string& variable) {
    members_.push_back({local_name, key, variable, indent_});
}

void CppWriter::forget(const std::string& local_name) {
    std::erase_if(members_, [&](const Member& entry) { return entry.local_name == local_name; });
}

std::string cpp_sequence(const std::string& statements) {
    return "[&]() -> tornado::TemplateValue { " + statements + " }()";
}

CppWriter::CppWriter(const std::set<std::string, std::less<>>& locals) : locals_(locals) {}

void CppWriter::flush_text() {
    if (pending_text_.empty()) return;
    std::string text = std::move(pending_text_);
    pending_text_.clear();
    line("page.text(" + quote(text) + ");");
}

void CppWriter::line(std::string_view text) {
    flush_text();
    body_.append(static_cast<std::size_t>(indent_) * 4, ' ');
    body_ += text;
    body_ += '\n';
}

void CppWriter::open(std::string_view text) {
    line(text.empty() ? std::string("{") : std::string(text) + " {");
    ++indent_;
}

void CppWriter::close() {
    flush_text();  // inside the block it belongs to
    // What the block declared goes out of scope with it.
    std::erase_if(members_, [&](const Member& entry) { return entry.indent >= indent_; });
    --indent_;
    line("}");
}

std::string CppWriter::fresh(std::string_view prefix) {
    return std::string(prefix) + "_" + std::to_string(++counter_);
}

std::string CppWriter::declare_once(std::map<std::string, std::string, std::less<>>& ids,
                                    const std::string& text, const std::string& type,
                                    const std::string& prefix) {
    auto found = ids.find(text);
    if (found != ids.end()) return found->second;
    std::string id = prefix + std::to_string(ids.size());
    declarations_ += "const " + type + " " + id + "(" + quote(text) + ");\n";
    ids.emplace(text, id);
    return id;
}

std::string CppWriter::percent_format(const std::string& format) {
    return declare_once(formats_, format, "tornado::compiled::PercentFormat", "format_");
}

// Names are interned when the compiled program starts, once each.
std::string CppWriter::name(const std::string& text) {
    return declare_once(names_, text, "tornado::compiled::Name", "name_");
}

std::string CppWriter::local(const std::string& text) {
    auto found = local_ids_.find(text);
    if (found != local_ids_.end()) return found->second;
    std::string id = "local_" + std::to_string(local_ids_.size());
    local_ids_.emplace(text, id);
    return id;
}

std::string CppWriter::local_declarations() {
    std::string text;
    for (const auto& [name_text, id] : local_ids_) {
        text += "    tornado::compiled::Local " + id + "(" + name(name_text) + ");\n";
    }
    return text;
}

std::string CppWriter::variable(const Symbol& symbol) {
    if (locals_.contains(symbol.name())) return local(symbol.name()) + ".get()";
    return "page.global(" + name(symbol.name()) + ")";
}

// Declared for the life of the program: a literal costs what copying a
// TemplateValue costs, as the interpreter's Constant does.
std::string CppWriter::constant(const TemplateValue& value) {
    std::string key = std::string(value.type_name()) + " " + value.repr();
    auto found = constants_.find(key);
    if (found != constants_.end()) return found->second;
    std::string id = "constant_" + std::to_string(constants_.size());
    constants_.emplace(key, id);
    std::string made;
    switch (value.type()) {
        case TemplateValue::Type::none: made = "tornado::TemplateValue()"; break;
        case TemplateValue::Type::boolean:
            made =
                value.truthy() ? "tornado::TemplateValue(true)" : "tornado::TemplateValue(false)";
            break;
        case TemplateValue::Type::integer:
            // INT64_MIN has no literal: -9223372036854775808 is the negation of
            // a number too large for long long.
            made = value.as_integer() == std::numeric_limits<std::int64_t>::min()
                       ? "tornado::TemplateValue(-9223372036854775807LL - 1)"
                       : "tornado::TemplateValue(" + std::to_string(value.as_integer()) + "LL)";
            break;
        case TemplateValue::Type::floating: {
            // The bits themselves: exact for every double, infinities too.
            double number = value.as_float();
            std::uint64_t bits = 0;
            std::memcpy(&bits, &number, sizeof bits);
            made = "tornado::TemplateValue(std::bit_cast<double>(std::uint64_t{" +
                   std::to_string(bits) + "u}))";
            break;
        }
        case TemplateValue::Type::string:
            made = "tornado::TemplateValue(" + quote(value.as_string()) + ")";
            break;
        default: throw NotCompilable("a constant of type " + std::string(value.type_name()));
    }
    declarations_ += "const tornado::TemplateValue " + id + " = " + made + ";\n";
    return id;
}

// Printable ASCII stays as it is, so the generated file reads like the
// template; every other byte is an octal escape (three digits, so that a
// digit after it cannot join it). A newline also ends the literal's line.
std::string CppWriter::quote(std::string_view bytes) {
    std::string literal = "std::string_view(\"";
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        char c = bytes[i];
        auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            literal += '\\';
            literal += c;
        } else if (c == '\n') {
            literal += "\\n";
            if (i + 1 < bytes.size()) literal += "\"\n    \"";
        } else if (byte >= 0x20 && byte < 0x7F) {
            literal += c;
        } else {
            char octal[5];
            std::snprintf(octal, sizeof octal, "\\%03o", byte);
            literal += octal;
        }
    }
    return literal + "\", " + std::to_string(bytes.size()) + ")";
}

// ---- name lookup ----------------------------------------------------------

// The variables set so far, this function's first, then the enclosing ones':
// an {% apply %} body reads the page's variables, as a Python closure does.
// Unlike Python, a name the apply body assigns but has not set yet finds the
// enclosing variable instead of an UnboundLocalError.
const TemplateValue* Scope::find_local(Symbol name) const {
    for (const auto& [local, value] : locals_) {
        if (local == name) return &value;
    }
    return enclosing_ != nullptr ? enclosing_->find_local(name) : nullptr;
}

// Python's order: the variables, then the names already found outside them in
// this generate(), then the global chain, looked up once and kept in globals_
// (a deque, so that the pointers handed out stay valid). A name the function
// assigns somewhere but has not set yet is an UnboundLocalError, as in
// Python, even when an argument of that name exists.
const TemplateValue* Scope::find(Symbol name) const {
    if (const TemplateValue* local = find_local(name)) return local;
    for (const auto& [global, value] : globals_) {
        if (global == name) return &value;
    }
    if (local_names_ != nullptr && local_names_->contains(name.name())) {
        throw PythonError("UnboundLocalError", "cannot access local variable '" + name.name() +
                                                   "' where it is not associated with a value");
    }
    return &globals_.emplace_back(name, lookup_global(name)).second;
}

// Python's globals, then its builtins, in the order Tornado's generated
// function sees them: generate()'s arguments (borrowed, not copied), the
// namespaces (the caller's extra names, the loader's, Tornado's escape
// functions), then builtins().
TemplateValue Scope::lookup_global(Symbol symbol) const {
    const std::string& name = symbol.name();
    if (arguments_->is_object()) {
        auto found = arguments_->find(name);
        if (found != arguments_->end()) return TemplateValue::borrow(*found);
    }
    for (const TemplateNamespace* names : namespaces_) {
        if (const TemplateValue* value = names->find(name)) return *value;
    }
    if (const TemplateValue* value = builtins().find(name)) return *value;
    throw PythonError("NameError", "name '" + name + "' is not defined");
}

// Sets or replaces a variable of this function, never of an enclosing one (a
// Python nested function cannot assign its parent's names without nonlocal).
// locals_ may grow and move: pointers from find() die here.
void Scope::assign(Symbol name, TemplateValue value) {
    for (auto& [local, current] : locals_) {
        if (local == name) {
            current = std::move(value);
            return;
        }
    }
    locals_.emplace_back(name, std::move(value));
}

// Interned for the life of the process: the set only grows, one entry per
// distinct name any template has used.
Symbol::Symbol(std::string_view name) {
    // Node-based: a name's address never changes once interned.
    static std::mutex mutex;
    static std::unordered_set<std::string> names;
    std::lock_guard<std::mutex> lock(mutex);
    name_ = &*names.emplace(name).first;
}

// What Python's for walks, as a vector: a dict's keys in the JSON object's
// order (sorted; see tornado/template.h), a string's characters as code
// points (each a UTF-8 sequence), not bytes.
std::vector<TemplateValue> iterate(const TemplateValue& value) {
    std::vector<TemplateValue> items;
    switch (value.type()) {
        case TemplateValue::Type::list:
        case TemplateValue::Type::tuple: return value.items();
        case TemplateValue::Type::dict:
            for (const auto& entry : value.as_json().items()) items.emplace_back(entry.key());
            return items;
        case TemplateValue::Type::string: {
            std::string_view text = value.as_string();
            for (std::size_t at = 0; at < text.size();) {
                std::size_t length = detail::code_point_length(text, at);
                items.emplace_back(std::string(text.substr(at, length)));
                at += length;
            }
            return items;
        }
        default:
            throw PythonError("TypeError",
                              "'" + std::string(value.type_name()) + "' object is not iterable");
    }
}

#undef RUNTIME

}  // namespace tornado::template_detail
