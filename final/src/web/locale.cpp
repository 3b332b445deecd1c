// locale.cpp: tornado/locale.h. Tornado's tornado.locale, and the parts of
// Python it leans on, rebuilt: the csv module's reader, gettext's .mo reader
// and plural-forms compiler, Python's float() for q values, and datetime's
// arithmetic for format_date.
#include "tornado/locale.h"

#include <locale.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "core/python_int.h"
#include "core/python_text.h"
#include "core/text.h"
#include "template/python_format.h"
#include "tornado/log.h"
#include "tornado/template.h"

namespace tornado {

namespace {

struct LocaleName {
    std::string_view code;
    std::string_view name;
};

using namespace std::string_view_literals;

// Tornado's LOCALE_NAMES, sorted by code (final/src/web/locale_data.py writes it).
constexpr LocaleName kLocaleNames[] = {
#include "web/locale_data.inc"
};

std::string_view locale_name(std::string_view code) {
    auto found = std::lower_bound(
        std::begin(kLocaleNames), std::end(kLocaleNames), code,
        [](const LocaleName& entry, std::string_view wanted) { return entry.code < wanted; });
    if (found != std::end(kLocaleNames) && found->code == code) return found->name;
    return "Unknown";
}

bool is_rtl(std::string_view code) {
    return code.starts_with("fa") || code.starts_with("ar") || code.starts_with("he");
}

// ---- text -------------------------------------------------------------------

using detail::ascii_lower;
using detail::is_digit;

std::string lower(std::string_view text) { return detail::lower_ascii(text); }

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = detail::ascii_upper(c);
    return out;
}

// Python's str.split(separator): every piece, empty ones included.
std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> pieces;
    for (;;) {
        std::size_t at = text.find(separator);
        pieces.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return pieces;
        text.remove_prefix(at + 1);
    }
}

// Python's str.strip() on UTF-8 text: Unicode whitespace off both ends.
std::string_view strip_unicode(std::string_view text) {
    std::size_t begin = 0, end = 0, at = 0;
    bool seen_text = false;
    while (at < text.size()) {
        detail::Decoded decoded = detail::decode_utf8(text, at);
        if (!detail::is_python_space(decoded.code_point)) {
            if (!seen_text) begin = at;
            seen_text = true;
            end = at + decoded.length;
        }
        at += decoded.length;
    }
    return seen_text ? text.substr(begin, end - begin) : std::string_view();
}

// Python's str.isspace() for a character of a header, whose bytes Tornado
// reads as Latin-1: ASCII's six, the four information separators, NEL and
// the no-break space.
constexpr bool is_latin1_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
           c == 0xA0;
}

std::string_view strip_latin1(std::string_view text) {
    while (!text.empty() && is_latin1_space(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && is_latin1_space(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    return text;
}

std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) detail::append_utf8(out, static_cast<unsigned char>(c));
    return out;
}

// ---- Python's float(), for q values -------------------------------------

// The C locale, whatever the process set: strtod must read "." as the
// decimal point. Made once, never freed.
locale_t c_numeric_locale() {
    static const locale_t locale =
        ::newlocale(LC_NUMERIC_MASK, "C", static_cast<locale_t>(nullptr));
    return locale;
}

using detail::equals_ignoring_case;

// Whether `text` is digits [ "." digits ] [ e [sign] digits ] with a digit
// before or after the point, the decimal part of Python's float syntax.
bool is_decimal_number(std::string_view text) {
    std::size_t i = 0, digits = 0;
    while (i < text.size() && is_digit(text[i])) ++i, ++digits;
    if (i < text.size() && text[i] == '.') {
        ++i;
        while (i < text.size() && is_digit(text[i])) ++i, ++digits;
    }
    if (digits == 0) return false;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        std::size_t exponent_start = i;
        while (i < text.size() && is_digit(text[i])) ++i;
        if (i == exponent_start) return false;
    }
    return i == text.size();
}

// float(text) for a q value read as Latin-1, or nothing where Python raises
// ValueError. Python first turns non-ASCII spaces into ' ' (and non-ASCII
// decimal digits into ASCII ones, of which Latin-1 has none), strips ASCII
// whitespace, allows "_" only between two digits, and then reads a sign and
// a number, "inf", "infinity" or "nan" in any case.
std::optional<double> python_float(std::string_view latin1) {
    std::string text;
    for (char c : latin1) {
        auto byte = static_cast<unsigned char>(c);
        if (byte == 0x85 || byte == 0xA0) {
            text += ' ';
        } else if (byte >= 0x80) {
            return std::nullopt;  // no other non-ASCII character can be part of a number
        } else {
            text += c;
        }
    }
    std::string_view trimmed = detail::strip(text);
    std::string number;
    for (std::size_t i = 0; i < trimmed.size(); ++i) {
        if (trimmed[i] != '_') {
            number += trimmed[i];
            continue;
        }
        if (i == 0 || i + 1 == trimmed.size() || !is_digit(trimmed[i - 1]) ||
            !is_digit(trimmed[i + 1])) {
            return std::nullopt;
        }
    }
    std::string_view body = number;
    bool negative = false;
    if (!body.empty() && (body.front() == '+' || body.front() == '-')) {
        negative = body.front() == '-';
        body.remove_prefix(1);
    }
    double value;
    if (equals_ignoring_case(body, "inf") || equals_ignoring_case(body, "infinity")) {
        value = std::numeric_limits<double>::infinity();
    } else if (equals_ignoring_case(body, "nan")) {
        value = std::numeric_limits<double>::quiet_NaN();
    } else if (is_decimal_number(body)) {
        // Correctly rounded, as Python's own conversion is.
        value = ::strtod_l(std::string(body).c_str(), nullptr, c_numeric_locale());
    } else {
        return std::nullopt;
    }
    return negative ? -value : value;
}

}  // namespace

// ---- TranslationError ---------------------------------------------------------

namespace {

std::string error_message(const std::string& file, std::size_t line,
                          std::optional<std::size_t> offset, const std::string& problem) {
    std::string message = file;
    if (line > 0) message += ":" + std::to_string(line);
    if (offset) message += ": byte " + std::to_string(*offset);
    return message + ": " + problem;
}

}  // namespace

TranslationError::TranslationError(std::string file, std::size_t line,
                                   std::optional<std::size_t> offset, const std::string& problem)
    : std::runtime_error(error_message(file, line, offset, problem)),
      file_(std::move(file)),
      line_(line),
      offset_(offset) {}

// ---- format_message -----------------------------------------------------------

namespace locale {

std::string format_message(std::string_view message, const JSON& values) {
    try {
        return template_detail::percent_format(message, TemplateValue::borrow(values));
    } catch (const template_detail::PythonError& error) {
        throw std::invalid_argument(std::string(error.what()) + " (formatting \"" +
                                    std::string(message) + "\")");
    }
}

// ---- the CSV reader -------------------------------------------------------------

namespace detail {

namespace {

// Python's csv.field_size_limit(), counted in characters.
constexpr std::size_t kFieldLimit = 131072;

// The states of CPython's Modules/_csv.c reader, for Excel's dialect (no
// escape character, so its two escape states never arise).
enum class CSVState {
    start_record,
    start_field,
    in_field,
    in_quoted_field,
    quote_in_quoted_field,
    eat_crnl
};

class CSVReader {
public:
    CSVReader(std::vector<CSVRecord>& records, const std::string& file)
        : records_(records), file_(file) {}

    // One line, its "\n" included (the last may lack it), then the end of
    // line _csv.c feeds after each.
    void feed_line(std::string_view line, std::size_t number) {
        line_ = number;
        if (state_ == CSVState::start_record) record_line_ = number;
        for (char c : line) process(c, false);
        process('\0', true);
    }

    // Where the input stops inside a record (an unclosed quote, or a last
    // line without "\n" whose field is not empty), _csv.c keeps what it has.
    void finish() {
        if (!field_.empty() || state_ == CSVState::in_quoted_field) {
            save_field();
            end_record();
        }
    }

private:
    void process(char c, bool end_of_line) {
        bool newline = !end_of_line && (c == '\n' || c == '\r');
        switch (state_) {
            case CSVState::start_record:
                if (end_of_line) {  // an empty line: a record without fields
                    end_record();
                    return;
                }
                if (newline) {
                    state_ = CSVState::eat_crnl;
                    return;
                }
                state_ = CSVState::start_field;
                [[fallthrough]];
            case CSVState::start_field:
                if (newline || end_of_line) {
                    save_field();
                    end_line(end_of_line);
                } else if (c == '"') {
                    state_ = CSVState::in_quoted_field;
                } else if (c == ',') {
                    save_field();
                } else {
                    add(c);
                    state_ = CSVState::in_field;
                }
                return;
            case CSVState::in_field:
                if (newline || end_of_line) {
                    save_field();
                    end_line(end_of_line);
                } else if (c == ',') {
                    save_field();
                    state_ = CSVState::start_field;
                } else {
                    add(c);
                }
                return;
            case CSVState::in_quoted_field:
                if (end_of_line) return;  // the field goes on to the next line
                if (c == '"') {
                    state_ = CSVState::quote_in_quoted_field;
                } else {
                    add(c);
                }
                return;
            case CSVState::quote_in_quoted_field:
                if (!end_of_line && c == '"') {  // "" is a quote
                    add(c);
                    state_ = CSVState::in_quoted_field;
                } else if (!end_of_line && c == ',') {
                    save_field();
                    state_ = CSVState::start_field;
                } else if (newline || end_of_line) {
                    save_field();
                    end_line(end_of_line);
                } else {
                    // Not strict: text after the closing quote joins the field.
                    add(c);
                    state_ = CSVState::in_field;
                }
                return;
            case CSVState::eat_crnl:
                if (end_of_line) {
                    state_ = CSVState::start_record;
                    end_record();
                }
                // Lines are split at "\n", so no other character follows one.
                return;
        }
    }

    void end_line(bool end_of_line) {
        if (end_of_line) {
            state_ = CSVState::start_record;
            end_record();
        } else {
            state_ = CSVState::eat_crnl;
        }
    }

    void add(char c) {
        // Characters, not bytes: a UTF-8 continuation byte adds none.
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            if (characters_ >= kFieldLimit) {
                throw TranslationError(
                    file_, line_, std::nullopt,
                    "field larger than field limit (" + std::to_string(kFieldLimit) + ")");
            }
            ++characters_;
        }
        field_ += c;
    }

    void save_field() {
        fields_.push_back(std::move(field_));
        field_.clear();
        characters_ = 0;
    }

    void end_record() {
        records_.push_back({record_line_, std::move(fields_)});
        fields_.clear();
    }

    std::vector<CSVRecord>& records_;
    const std::string& file_;
    CSVState state_ = CSVState::start_record;
    std::vector<std::string> fields_;
    std::string field_;
    std::size_t characters_ = 0;
    std::size_t line_ = 0;
    std::size_t record_line_ = 1;
};

}  // namespace

std::vector<CSVRecord> read_csv(std::string_view text, const std::string& file) {
    std::vector<CSVRecord> records;
    CSVReader reader(records, file);
    // Universal newlines first: "\r\n" and a lone "\r" become "\n".
    std::string line;
    std::size_t number = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\r') {
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
            c = '\n';
        }
        line += c;
        if (c == '\n') {
            reader.feed_line(line, ++number);
            line.clear();
        }
    }
    if (!line.empty()) reader.feed_line(line, ++number);
    reader.finish();
    return records;
}

}  // namespace detail
}  // namespace locale

// ---- gettext's plural forms -------------------------------------------------------

// Python's gettext.c2py() turns the C expression into Python source text and
// compiles that. Python reads the text with its own precedence, which is not
// C's where "!" is concerned ("!n == 1" becomes "not n == 1", that is
// !(n == 1)), and `and`/`or` give one of their operands rather than 0 or 1.
// To give the same numbers, this does the same two steps: c2py's rewriting,
// ported as it is, then a reader of the few forms of Python it writes. Not
// the template engine's expressions: a plural form may nest up to its
// 1,000 characters deep ("!!!...!n" is a chain of `not`s, n?1:n?1:... one
// of conditionals), which Python accepts and the template engine's guard
// against deep nesting (100 levels) refuses.
namespace locale::detail {

struct PluralForms::Node {
    enum class Kind { number, n, negate, binary, boolean_and, boolean_or, conditional };
    Kind kind = Kind::number;
    std::int64_t value = 0;     // number
    std::string_view op = {};   // binary: "==", "//", ...
    int left = -1, right = -1;  // operands (indices into the nodes)
    int condition = -1;         // conditional: left if condition else right
};

namespace {

constexpr std::size_t kMaxPluralLength = 1000;  // c2py's limit
constexpr int kMaxPluralDepth = 20;             // c2py's limit on nested parentheses

[[noreturn]] void plural_error(const std::string& problem) {
    throw std::invalid_argument("plural form: " + problem);
}

bool is_word_byte(char c) {
    auto byte = static_cast<unsigned char>(c);
    return is_digit(c) || tornado::detail::is_ascii_letter(c) || c == '_' ||
           byte >= 0x80;  // Python's \w takes letters beyond ASCII too
}

// gettext._tokenize: numbers, n, parentheses and C's operators; spaces and
// tabs between them; anything else is an error. The last token is "".
std::vector<std::string> c_tokens(std::string_view text) {
    static constexpr std::array<std::string_view, 6> kTwoCharacter = {
        "<=", ">=", "!=", "==", "&&", "||"};
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == ' ' || c == '\t') {
            ++i;
        } else if (is_word_byte(c)) {
            std::size_t start = i;
            while (i < text.size() && is_word_byte(text[i])) ++i;
            std::string_view word = text.substr(start, i - start);
            bool digits = std::all_of(word.begin(), word.end(), is_digit);
            if (!digits && word != "n") plural_error("invalid token " + std::string(word));
            tokens.emplace_back(word);
        } else if (std::string_view("-*/%+?:()").find(c) != std::string_view::npos) {
            tokens.emplace_back(1, c);
            ++i;
        } else {
            std::string_view pair = text.substr(i, 2);
            if (std::find(kTwoCharacter.begin(), kTwoCharacter.end(), pair) !=
                kTwoCharacter.end()) {
                tokens.emplace_back(pair);
                i += 2;
            } else if (c == '<' || c == '>' || c == '!') {
                tokens.emplace_back(1, c);
                ++i;
            } else {
                plural_error(std::string("invalid token ") + c);
            }
        }
    }
    tokens.emplace_back();
    return tokens;
}

// c2py's priorities: || 1, && 2, == != 3, < > <= >= 4, + - 5, * / % 6.
int binary_priority(std::string_view token) {
    if (token == "||") return 1;
    if (token == "&&") return 2;
    if (token == "==" || token == "!=") return 3;
    if (token == "<" || token == ">" || token == "<=" || token == ">=") return 4;
    if (token == "+" || token == "-") return 5;
    if (token == "*" || token == "/" || token == "%") return 6;
    return 0;
}

// gettext._parse, line for line: C tokens in, Python source text out.
class CToPython {
public:
    explicit CToPython(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}

    std::string parse(int priority = -1) {
        std::string result;
        std::string token = next();
        while (token == "!") {
            result += "not ";
            token = next();
        }
        if (token == "(") {
            std::string inner = parse();
            result += "(" + inner + ")";
            if (current_ != ")") plural_error("unbalanced parenthesis");
        } else if (token == "n") {
            result += token;
        } else {
            result += std::to_string(number(token));
        }
        current_ = next();

        int last = 100;
        for (;;) {
            int op_priority = binary_priority(current_);
            if (op_priority == 0 || op_priority < priority) break;
            // Python would chain "a < b < c"; C compares the first result.
            if ((op_priority == 3 || op_priority == 4) && (last == 3 || last == 4)) {
                result = "(" + result + ")";
            }
            std::string op = current_ == "||"   ? "or"
                             : current_ == "&&" ? "and"
                             : current_ == "/"  ? "//"
                                                : current_;
            std::string right = parse(op_priority + 1);
            result += " " + op + " " + right;
            last = op_priority;
        }
        if (last == priority && priority == 4) result = "(" + result + ")";

        if (current_ == "?" && priority <= 0) {
            std::string if_true = parse(0);
            if (current_ != ":") plural_error("unexpected token " + current_);
            std::string if_false = parse();
            result = if_true + " if " + result + " else " + if_false;
            if (priority == 0) result = "(" + result + ")";
        }
        return result;
    }

    const std::string& current() const { return current_; }

private:
    std::string next() {
        if (position_ >= tokens_.size()) plural_error("unexpected end");
        return tokens_[position_++];
    }

    static std::int64_t number(const std::string& token) {
        if (token.empty()) plural_error("unexpected end");
        if (!std::all_of(token.begin(), token.end(), is_digit)) {
            plural_error("unexpected token " + token);
        }
        std::int64_t value = 0;
        for (char c : token) {
            if (value > (std::numeric_limits<std::int64_t>::max() - (c - '0')) / 10) {
                plural_error("number " + token + " does not fit in 64 bits");
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }

    std::vector<std::string> tokens_;
    std::size_t position_ = 0;
    std::string current_;
};

// The operators of the Python text, as literals that outlive it.
std::string_view python_operator(std::string_view token) {
    static constexpr std::array<std::string_view, 11> kOperators = {
        "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "//", "%"};
    auto found = std::find(kOperators.begin(), kOperators.end(), token);
    return found == kOperators.end() ? std::string_view() : *found;
}

// Reads the Python text c2py wrote: ternaries, or, and, not, comparisons
// (chained, as Python chains them), + -, * // %, parentheses, n, numbers.
class PythonReader {
public:
    explicit PythonReader(std::string_view text) : text_(text) {}

    std::vector<PluralForms::Node> read() {
        advance();
        int root = expression();
        if (!token_.empty()) plural_error("cannot compile: unexpected " + std::string(token_));
        // The root must be the last node.
        if (root != static_cast<int>(nodes_.size()) - 1) {
            PluralForms::Node copy = nodes_[static_cast<std::size_t>(root)];
            nodes_.push_back(copy);
        }
        return std::move(nodes_);
    }

private:
    using Node = PluralForms::Node;

    void advance() {
        while (position_ < text_.size() && text_[position_] == ' ') ++position_;
        if (position_ == text_.size()) {
            token_ = {};
            return;
        }
        std::size_t start = position_;
        char c = text_[position_];
        if (is_digit(c) || (c >= 'a' && c <= 'z')) {
            while (position_ < text_.size() &&
                   (is_digit(text_[position_]) ||
                    (text_[position_] >= 'a' && text_[position_] <= 'z'))) {
                ++position_;
            }
        } else {
            std::string_view two = text_.substr(position_, 2);
            bool pair = two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "//";
            position_ += pair ? 2 : 1;
        }
        token_ = text_.substr(start, position_ - start);
    }

    int add(Node node) {
        nodes_.push_back(node);
        return static_cast<int>(nodes_.size()) - 1;
    }

    // expression := or_test [ "if" or_test "else" expression ]
    int expression() {
        int value = or_test();
        if (token_ != "if") return value;
        advance();
        int condition = or_test();
        if (token_ != "else") plural_error("cannot compile: expected else");
        advance();
        int otherwise = expression();
        return add({.kind = Node::Kind::conditional,
                    .left = value,
                    .right = otherwise,
                    .condition = condition});
    }

    int or_test() {
        int left = and_test();
        while (token_ == "or") {
            advance();
            left = add({.kind = Node::Kind::boolean_or, .left = left, .right = and_test()});
        }
        return left;
    }

    int and_test() {
        int left = not_test();
        while (token_ == "and") {
            advance();
            left = add({.kind = Node::Kind::boolean_and, .left = left, .right = not_test()});
        }
        return left;
    }

    // A run of "not"s is counted, not recursed into.
    int not_test() {
        int nots = 0;
        while (token_ == "not") {
            ++nots;
            advance();
        }
        int value = comparison();
        for (int i = 0; i < nots; ++i) value = add({.kind = Node::Kind::negate, .left = value});
        return value;
    }

    static bool is_comparison(std::string_view token) {
        std::string_view op = python_operator(token);
        return !op.empty() && (op[0] == '=' || op[0] == '!' || op[0] == '<' || op[0] == '>');
    }

    // a < b < c is (a < b) and (b < c); b is pure, so reading it twice is
    // the same as Python's once.
    int comparison() {
        int left = arithmetic();
        int result = -1;
        while (is_comparison(token_)) {
            std::string_view op = python_operator(token_);
            advance();
            int right = arithmetic();
            int test = add({.kind = Node::Kind::binary, .op = op, .left = left, .right = right});
            result = result < 0
                         ? test
                         : add({.kind = Node::Kind::boolean_and, .left = result, .right = test});
            left = right;
        }
        return result < 0 ? left : result;
    }

    int arithmetic() {
        int left = term();
        while (token_ == "+" || token_ == "-") {
            std::string_view op = python_operator(token_);
            advance();
            left = add({.kind = Node::Kind::binary, .op = op, .left = left, .right = term()});
        }
        return left;
    }

    int term() {
        int left = atom();
        while (token_ == "*" || token_ == "//" || token_ == "%") {
            std::string_view op = python_operator(token_);
            advance();
            left = add({.kind = Node::Kind::binary, .op = op, .left = left, .right = atom()});
        }
        return left;
    }

    int atom() {
        if (token_ == "(") {
            advance();
            int inner = expression();
            if (token_ != ")") plural_error("cannot compile: expected )");
            advance();
            return inner;
        }
        if (token_ == "n") {
            advance();
            return add({.kind = Node::Kind::n});
        }
        if (!token_.empty() && std::all_of(token_.begin(), token_.end(), is_digit)) {
            std::int64_t value = 0;
            for (char c : token_) value = value * 10 + (c - '0');  // c2py checked the size
            advance();
            return add({.kind = Node::Kind::number, .value = value});
        }
        // "n * not n": Python's compiler refuses what c2py wrote.
        plural_error("cannot compile: unexpected " + std::string(token_));
    }

    std::string_view text_;
    std::size_t position_ = 0;
    std::string_view token_;
    std::vector<Node> nodes_;
};

[[noreturn]] void overflow() {
    throw std::overflow_error("plural form: a result does not fit in 64 bits");
}

[[noreturn]] void division_by_zero() {
    throw std::domain_error("plural form: integer division or modulo by zero");
}

// Python's // and % (core/python_int.h), with this file's errors.
std::int64_t floor_divide(std::int64_t a, std::int64_t b) {
    if (b == 0) division_by_zero();
    if (a == std::numeric_limits<std::int64_t>::min() && b == -1) overflow();
    return tornado::detail::python_floor_divide(a, b);
}

std::int64_t floor_modulo(std::int64_t a, std::int64_t b) {
    if (b == 0) division_by_zero();
    return tornado::detail::python_floor_modulo(a, b);
}

std::int64_t apply(std::string_view op, std::int64_t a, std::int64_t b) {
    std::int64_t result = 0;
    if (op == "+") {
        if (__builtin_add_overflow(a, b, &result)) overflow();
    } else if (op == "-") {
        if (__builtin_sub_overflow(a, b, &result)) overflow();
    } else if (op == "*") {
        if (__builtin_mul_overflow(a, b, &result)) overflow();
    } else if (op == "//") {
        result = floor_divide(a, b);
    } else if (op == "%") {
        result = floor_modulo(a, b);
    } else if (op == "==") {
        result = a == b;
    } else if (op == "!=") {
        result = a != b;
    } else if (op == "<") {
        result = a < b;
    } else if (op == ">") {
        result = a > b;
    } else if (op == "<=") {
        result = a <= b;
    } else {
        result = a >= b;
    }
    return result;
}

std::int64_t evaluate(const std::vector<PluralForms::Node>& nodes, int index, std::int64_t n) {
    using Kind = PluralForms::Node::Kind;
    const PluralForms::Node& node = nodes[static_cast<std::size_t>(index)];
    switch (node.kind) {
        case Kind::number: return node.value;
        case Kind::n: return n;
        case Kind::negate: return evaluate(nodes, node.left, n) == 0;
        // Python's `and` and `or` give an operand, not a truth value.
        case Kind::boolean_and: {
            std::int64_t left = evaluate(nodes, node.left, n);
            return left == 0 ? left : evaluate(nodes, node.right, n);
        }
        case Kind::boolean_or: {
            std::int64_t left = evaluate(nodes, node.left, n);
            return left != 0 ? left : evaluate(nodes, node.right, n);
        }
        case Kind::conditional:
            return evaluate(nodes, node.condition, n) != 0 ? evaluate(nodes, node.left, n)
                                                           : evaluate(nodes, node.right, n);
        case Kind::binary:
            return apply(node.op, evaluate(nodes, node.left, n), evaluate(nodes, node.right, n));
    }
    return 0;
}

}  // namespace

PluralForms::PluralForms(std::string_view expression) {
    if (expression.size() > kMaxPluralLength) plural_error("expression is too long");
    // The Python text nests at least as deep as the C; refusing deep nesting
    // now also bounds the recursion below.
    int nesting = 0;
    for (char c : expression) {
        if (c == '(' && ++nesting > kMaxPluralDepth) plural_error("expression is too complex");
        if (c == ')') --nesting;
    }
    CToPython converter(c_tokens(expression));
    std::string python = converter.parse();
    if (!converter.current().empty()) plural_error("unexpected token " + converter.current());
    int depth = 0;
    for (char c : python) {
        if (c == '(' && ++depth > kMaxPluralDepth) plural_error("expression is too complex");
        if (c == ')') --depth;
    }
    nodes_ = std::make_shared<const std::vector<Node>>(PythonReader(python).read());
}

std::int64_t PluralForms::operator()(std::int64_t n) const {
    return evaluate(*nodes_, static_cast<int>(nodes_->size()) - 1, n);
}

}  // namespace locale::detail

// ---- gettext catalogs -------------------------------------------------------

// One .mo file, as Python's GNUTranslations reads it.
struct GettextCatalog {
    TranslationTable messages;  // msgid -> msgstr
    std::unordered_map<std::string, std::vector<std::string>, TranslationHash, std::equal_to<>>
        plurals;                                   // msgid -> the msgstr of each form
    locale::detail::PluralForms plural{"n != 1"};  // Python's default: Germanic
};

class GettextCatalogs {
public:
    // A language's own catalog first, then the ones it falls back on.
    std::vector<std::shared_ptr<const GettextCatalog>> chain;
};

namespace {

using locale::detail::PluralForms;

// The charsets a catalog may declare, by Python's codec names: how Python's
// codecs.lookup() spells a name before looking it up (lower case, every run
// of other characters than letters, digits and "." as one "_").
enum class Charset { utf8, ascii, latin1 };

std::string normalize_encoding(std::string_view name) {
    std::string out;
    bool pending_underscore = false;
    for (char c : name) {
        char low = ascii_lower(c);
        bool keep = is_digit(low) || (low >= 'a' && low <= 'z') || low == '.';
        if (!keep) {
            pending_underscore = true;
            continue;
        }
        if (pending_underscore && !out.empty()) out += '_';
        pending_underscore = false;
        out += low;
    }
    return out;
}

std::optional<Charset> find_charset(std::string_view name) {
    static const std::map<std::string_view, Charset> kNames = {
        {"utf_8", Charset::utf8},
        {"utf8", Charset::utf8},
        {"u8", Charset::utf8},
        {"utf", Charset::utf8},
        {"utf8_ucs2", Charset::utf8},
        {"utf8_ucs4", Charset::utf8},
        {"cp65001", Charset::utf8},
        {"ascii", Charset::ascii},
        {"us_ascii", Charset::ascii},
        {"646", Charset::ascii},
        {"us", Charset::ascii},
        {"cp367", Charset::ascii},
        {"csascii", Charset::ascii},
        {"ibm367", Charset::ascii},
        {"iso646_us", Charset::ascii},
        {"iso_ir_6", Charset::ascii},
        {"ansi_x3.4_1968", Charset::ascii},
        {"ansi_x3_4_1968", Charset::ascii},
        {"ansi_x3.4_1986", Charset::ascii},
        {"iso_646.irv_1991", Charset::ascii},
        {"latin_1", Charset::latin1},
        {"latin1", Charset::latin1},
        {"latin", Charset::latin1},
        {"l1", Charset::latin1},
        {"iso8859_1", Charset::latin1},
        {"iso_8859_1", Charset::latin1},
        {"iso8859", Charset::latin1},
        {"8859", Charset::latin1},
        {"cp819", Charset::latin1},
        {"ibm819", Charset::latin1},
        {"csisolatin1", Charset::latin1},
        {"iso_ir_100", Charset::latin1},
        {"iso_8859_1_1987", Charset::latin1},
    };
    std::string normalized = normalize_encoding(name);
    auto found = kNames.find(normalized);
    if (found == kNames.end()) {
        // Python also tries the name with "." as "_".
        std::replace(normalized.begin(), normalized.end(), '.', '_');
        found = kNames.find(normalized);
    }
    if (found == kNames.end()) return std::nullopt;
    return found->second;
}

// Reads a .mo file's bytes. Every error names the file and the byte where
// the file stopped making sense.
class MoReader {
public:
    MoReader(std::string_view bytes, std::string file) : bytes_(bytes), file_(std::move(file)) {}

    std::shared_ptr<const GettextCatalog> read() {
        auto catalog = std::make_shared<GettextCatalog>();
        if (bytes_.size() < 20) fail(0, "too short for a .mo file");
        std::uint32_t magic = word_le(0);
        if (magic == 0x950412de) {
            big_endian_ = false;
        } else if (magic == 0xde120495) {
            big_endian_ = true;
        } else {
            fail(0, "bad magic number");
        }
        std::uint32_t version = word(4);
        if ((version >> 16) > 1) fail(4, "bad version number " + std::to_string(version >> 16));
        std::uint64_t count = word(8);
        std::uint64_t originals = word(12);
        std::uint64_t translations = word(16);
        for (std::uint64_t i = 0; i < count; ++i) {
            read_entry(*catalog, originals + 8 * i, translations + 8 * i);
        }
        return catalog;
    }

private:
    [[noreturn]] void fail(std::size_t offset, const std::string& problem) const {
        throw TranslationError(file_, 0, offset, problem);
    }

    std::uint32_t word_le(std::size_t offset) const {
        auto byte = [&](std::size_t i) {
            return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes_[offset + i]));
        };
        return byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
    }

    std::uint32_t word(std::uint64_t offset) const {
        if (offset + 4 > bytes_.size()) fail(bytes_.size(), "the file ends inside its tables");
        std::uint32_t value = word_le(static_cast<std::size_t>(offset));
        if (!big_endian_) return value;
        return (value & 0xFF) << 24 | (value & 0xFF00) << 8 | (value >> 8 & 0xFF00) | value >> 24;
    }

    // A string a table entry (length, offset) points at. Python wants its
    // end strictly inside the file: gettext writes a NUL after each.
    std::string_view string_at(std::uint64_t entry) const {
        if (entry + 8 > bytes_.size()) fail(bytes_.size(), "the file ends inside its tables");
        std::uint64_t length = word(entry);
        std::uint64_t offset = word(entry + 4);
        if (offset + length >= bytes_.size()) {
            fail(static_cast<std::size_t>(entry), "file is corrupt: a string ends past the end");
        }
        return bytes_.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
    }

    std::size_t offset_of(std::string_view part) const {
        return static_cast<std::size_t>(part.data() - bytes_.data());
    }

    // str(bytes, charset): the text as UTF-8.
    std::string decode(std::string_view bytes) const {
        Charset charset = Charset::ascii;
        if (!charset_name_.empty()) {
            std::optional<Charset> found = find_charset(charset_name_);
            if (!found) {
                fail(offset_of(bytes), "charset \"" + charset_name_ +
                                           "\" is not supported (UTF-8, ASCII or Latin-1 are)");
            }
            charset = *found;
        }
        switch (charset) {
            case Charset::utf8:
                if (!is_valid_utf8(bytes)) fail(offset_of(bytes), "not UTF-8");
                return std::string(bytes);
            case Charset::ascii:
                for (char c : bytes) {
                    if (static_cast<unsigned char>(c) >= 0x80) fail(offset_of(bytes), "not ASCII");
                }
                return std::string(bytes);
            case Charset::latin1: return latin1_to_utf8(bytes);
        }
        return {};
    }

    void read_entry(GettextCatalog& catalog, std::uint64_t original_entry,
                    std::uint64_t translation_entry) {
        std::string_view original = string_at(original_entry);
        std::string_view translation = string_at(translation_entry);
        if (original.empty()) read_header(catalog, translation);
        std::size_t nul = original.find('\0');
        if (nul == std::string_view::npos) {
            catalog.messages[decode(original)] = decode(translation);
            return;
        }
        // "singular\0plural" -> "form 0\0form 1\0...". Python keeps each form
        // under (singular, i), so a later entry overwrites only the forms it has.
        if (original.find('\0', nul + 1) != std::string_view::npos) {
            fail(offset_of(original), "a message with more than two plural forms");
        }
        std::vector<std::string>& forms = catalog.plurals[decode(original.substr(0, nul))];
        std::size_t index = 0;
        for (std::string_view form : split(translation, '\0')) {
            if (index >= forms.size()) forms.resize(index + 1);
            forms[index++] = decode(form);
        }
    }

    // The header, the translation of "": "Key: value" lines, of which
    // Python reads Content-Type's charset and Plural-Forms' expression.
    void read_header(GettextCatalog& catalog, std::string_view header) {
        for (std::string_view raw : split(header, '\n')) {
            if (!is_valid_utf8(raw)) fail(offset_of(raw), "header line is not UTF-8");
            std::string_view item = strip_unicode(raw);
            if (item.empty()) continue;
            if (item.starts_with("#-#-#-#-#") && item.ends_with("#-#-#-#-#")) continue;
            std::size_t colon = item.find(':');
            if (colon == std::string_view::npos) continue;  // continues the previous value
            std::string key = lower(strip_unicode(item.substr(0, colon)));
            std::string_view value = strip_unicode(item.substr(colon + 1));
            if (key == "content-type") {
                std::size_t at = value.find("charset=");
                if (at == std::string_view::npos)
                    fail(offset_of(raw), "Content-Type without charset=");
                charset_name_ = std::string(value.substr(at + 8));
            } else if (key == "plural-forms") {
                std::vector<std::string_view> parts = split(value, ';');
                std::size_t at =
                    parts.size() > 1 ? parts[1].find("plural=") : std::string_view::npos;
                if (at == std::string_view::npos)
                    fail(offset_of(raw), "Plural-Forms without plural=");
                std::string_view expression = parts[1].substr(at + 7);
                // Python takes the text up to a second "plural=", if any.
                expression = expression.substr(0, expression.find("plural="));
                try {
                    catalog.plural = PluralForms(expression);
                } catch (const std::invalid_argument& error) {
                    fail(offset_of(raw), error.what());
                }
            }
        }
    }

    std::string_view bytes_;
    std::string file_;
    bool big_endian_ = false;
    std::string charset_name_;  // Content-Type's; none means ASCII
};

}  // namespace

std::size_t locale::detail::read_mo(std::string_view bytes, const std::string& file) {
    std::shared_ptr<const GettextCatalog> catalog = MoReader(bytes, file).read();
    return catalog->messages.size() + catalog->plurals.size();
}

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::error_code error;
    if (std::filesystem::is_directory(path, error)) {
        throw TranslationError(path.string(), 0, std::nullopt, "is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw TranslationError(path.string(), 0, std::nullopt,
                               std::generic_category().message(errno));
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) throw TranslationError(path.string(), 0, std::nullopt, "cannot be read");
    return std::move(content).str();
}

}  // namespace

// ---- the registry ----------------------------------------------------------------

namespace {

// What the last load brought, and the Locales made from it.
struct Registry {
    std::mutex mutex;
    std::string default_code = "en_US";
    bool use_gettext = false;
    std::map<std::string, std::shared_ptr<const CSVTranslations>, std::less<>> csv;
    std::map<std::string, std::shared_ptr<const GettextCatalogs>, std::less<>> gettext;
    std::set<std::string, std::less<>> supported = {"en_US"};
    std::map<std::string, std::unique_ptr<Locale>, std::less<>> cache;
    // The Locales of earlier loads: a handler may still hold one.
    std::vector<std::unique_ptr<Locale>> retired;

    void update_supported() {
        supported.clear();
        for (const auto& [code, translations] : csv) supported.insert(code);
        for (const auto& [code, catalogs] : gettext) supported.insert(code);
        supported.insert(default_code);
    }

    void retire_cache() {
        for (auto& [code, locale] : cache) retired.push_back(std::move(locale));
        cache.clear();
    }

    std::string supported_list() const {
        std::string list = "[";
        for (const std::string& code : supported) {
            if (list.size() > 1) list += ", ";
            list += "'" + code + "'";
        }
        return list + "]";
    }

    // Locale.get, with the lock held.
    const Locale& get(std::string_view code) {
        auto found = cache.find(code);
        if (found != cache.end()) return *found->second;
        if (!supported.contains(code)) {
            throw std::invalid_argument("locale \"" + std::string(code) + "\" is not supported");
        }
        std::unique_ptr<Locale> locale;
        if (use_gettext && gettext.contains(code)) {
            locale = std::make_unique<GettextLocale>(std::string(code), gettext.find(code)->second);
        } else if (auto translations = csv.find(code); translations != csv.end()) {
            locale = std::make_unique<CSVLocale>(std::string(code), translations->second);
        } else {
            locale = std::make_unique<CSVLocale>(std::string(code),
                                                 std::make_shared<const CSVTranslations>());
        }
        return *cache.emplace(std::string(code), std::move(locale)).first->second;
    }
};

// Never destroyed: a Locale reference may be used by static objects' destructors.
Registry& registry() {
    static Registry* instance = new Registry;
    return *instance;
}

}  // namespace

// ---- Locale -----------------------------------------------------------------------

Locale::Locale(std::string locale_code)
    : code(std::move(locale_code)), name(locale_name(code)), rtl(is_rtl(code)) {}

Locale::~Locale() = default;

const Locale& Locale::get(std::string_view locale_code) {
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    return state.get(locale_code);
}

const Locale& Locale::get_closest(std::initializer_list<std::string_view> codes) {
    return get_closest_of(std::span<const std::string_view>(codes.begin(), codes.size()));
}

const Locale& Locale::get_closest_of(std::span<const std::string_view> codes) {
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    for (std::string_view given : codes) {
        if (given.empty()) continue;
        std::string candidate(given);
        std::replace(candidate.begin(), candidate.end(), '-', '_');
        std::vector<std::string_view> parts = split(candidate, '_');
        if (parts.size() > 2) continue;
        std::string language = lower(parts[0]);
        if (parts.size() == 2) candidate = language + "_" + upper(parts[1]);
        if (state.supported.contains(candidate)) return state.get(candidate);
        if (state.supported.contains(language)) return state.get(language);
    }
    return state.get(state.default_code);
}

std::string Locale::translate(std::string_view message,
                              std::optional<std::string_view> plural_message,
                              std::optional<std::int64_t> count) const {
    if (plural_message && !count) {
        throw std::invalid_argument("translate(): a plural message needs a count");
    }
    return do_translate(message, plural_message, count);
}

std::string Locale::pgettext(std::string_view context, std::string_view message,
                             std::optional<std::string_view> plural_message,
                             std::optional<std::int64_t> count) const {
    if (plural_message && !count) {
        throw std::invalid_argument("pgettext(): a plural message needs a count");
    }
    return do_pgettext(context, message, plural_message, count);
}

// ---- dates ------------------------------------------------------------------------

namespace {

using Micros = std::int64_t;  // since 1970-01-01 UTC, as a naive Python datetime
constexpr Micros kMicrosPerSecond = 1'000'000;
constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;
// Python's datetime.min and datetime.max: years 1 to 9999.
constexpr Micros kMinMicros = -62'135'596'800 * kMicrosPerSecond;
constexpr Micros kMaxMicros = 253'402'300'799 * kMicrosPerSecond + 999'999;

Micros checked(Micros value) {
    if (value < kMinMicros || value > kMaxMicros) {
        throw std::out_of_range("date value out of range (years 1 to 9999)");
    }
    return value;
}

// Python's datetime can hold only microseconds; the rest is cut off.
Micros to_micros(std::chrono::system_clock::time_point time) {
    return std::chrono::floor<std::chrono::microseconds>(time).time_since_epoch().count();
}

// datetime.utcfromtimestamp(float): the fraction rounded to microseconds,
// half to even, as Python's _PyTime_ObjectToTimeval does.
Micros timestamp_to_micros(double timestamp) {
    if (std::isnan(timestamp)) throw std::invalid_argument("Invalid value NaN (not a number)");
    double whole;
    double fraction = std::modf(timestamp, &whole) * 1e6;
    double rounded = std::round(fraction);
    if (std::fabs(fraction - rounded) == 0.5) rounded = 2.0 * std::round(fraction / 2.0);
    if (rounded >= 1e6) {
        rounded -= 1e6;
        whole += 1.0;
    } else if (rounded < 0) {
        rounded += 1e6;
        whole -= 1.0;
    }
    // Compared as doubles first: a huge timestamp must not overflow the product.
    if (!(whole >= static_cast<double>(kMinMicros / kMicrosPerSecond) &&
          whole <= static_cast<double>(kMaxMicros / kMicrosPerSecond))) {
        throw std::out_of_range("timestamp out of range (years 1 to 9999)");
    }
    return static_cast<Micros>(whole) * kMicrosPerSecond + static_cast<Micros>(rounded);
}

struct CivilTime {
    int year;
    unsigned month;    // 1 to 12
    unsigned day;      // 1 to 31
    unsigned weekday;  // Monday 0, as Python's weekday()
    int hour;
    int minute;
};

CivilTime civil_time(Micros micros) {
    using namespace std::chrono;
    sys_time<microseconds> time{microseconds(micros)};
    sys_days day = floor<days>(time);
    year_month_day date(day);
    auto since_midnight = duration_cast<minutes>(time - day).count();
    return {static_cast<int>(date.year()),         static_cast<unsigned>(date.month()),
            static_cast<unsigned>(date.day()),     weekday(day).iso_encoding() - 1,
            static_cast<int>(since_midnight / 60), static_cast<int>(since_midnight % 60)};
}

constexpr std::array<std::string_view, 12> kMonthNames = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

// round(numerator / denominator) as Python rounds: half to even.
std::int64_t round_half_even(std::int64_t numerator, std::int64_t denominator) {
    std::int64_t quotient = numerator / denominator;
    std::int64_t twice_remainder = 2 * (numerator % denominator);
    if (twice_remainder > denominator || (twice_remainder == denominator && quotient % 2 == 1)) {
        ++quotient;
    }
    return quotient;
}

std::string two_digits(int value) {
    return std::string(1, static_cast<char>('0' + value / 10)) +
           static_cast<char>('0' + value % 10);
}

}  // namespace

namespace {

// Locale.format_date on a moment in microseconds.
std::string format_date_at(const Locale& locale, Micros date, const FormatDateOptions& options) {
    Micros now = checked(to_micros(options.now.value_or(std::chrono::system_clock::now())));
    date = checked(date);
    bool full_format = options.full_format;
    if (date > now) {
        // timedelta.seconds: the seconds beyond whole days, so that a moment
        // a day and ten seconds ahead counts as "now" too, as in Tornado.
        std::int64_t seconds_ahead = ((date - now) / kMicrosPerSecond) % 86'400;
        if (options.relative && seconds_ahead < 60) {
            date = now;  // a little clock skew: a moment ago, not the future
        } else {
            full_format = true;
        }
    }
    Micros offset = static_cast<Micros>(options.gmt_offset) * 60 * kMicrosPerSecond;
    CivilTime local_date = civil_time(checked(date - offset));
    Micros local_now = checked(now - offset);
    CivilTime local_yesterday = civil_time(checked(local_now - kMicrosPerDay));
    // timedelta's days and seconds: floor division, seconds never negative.
    Micros difference = now - date;
    std::int64_t days = difference / kMicrosPerDay;
    if (difference % kMicrosPerDay < 0) --days;
    std::int64_t seconds = (difference - days * kMicrosPerDay) / kMicrosPerSecond;

    auto _ = [&locale](std::string_view message) { return locale.translate(message); };
    std::optional<std::string> format;
    if (!full_format) {
        if (options.relative && days == 0) {
            if (seconds < 50) {
                return locale::format_message(
                    locale.translate("1 second ago", "%(seconds)d seconds ago", seconds),
                    {{"seconds", seconds}});
            }
            if (seconds < 50 * 60) {
                std::int64_t minutes = round_half_even(seconds, 60);
                return locale::format_message(
                    locale.translate("1 minute ago", "%(minutes)d minutes ago", minutes),
                    {{"minutes", minutes}});
            }
            std::int64_t hours = round_half_even(seconds, 60 * 60);
            return locale::format_message(
                locale.translate("1 hour ago", "%(hours)d hours ago", hours), {{"hours", hours}});
        }
        if (days == 0) {
            format = _("%(time)s");
        } else if (days == 1 && local_date.day == local_yesterday.day && options.relative) {
            format = options.shorter ? _("yesterday") : _("yesterday at %(time)s");
        } else if (days < 5) {
            format = options.shorter ? _("%(weekday)s") : _("%(weekday)s at %(time)s");
        } else if (days < 334) {  // 11 months: "March 3" must not mean last year's
            format = options.shorter ? _("%(month_name)s %(day)s")
                                     : _("%(month_name)s %(day)s at %(time)s");
        }
    }
    if (!format) {
        format = options.shorter ? _("%(month_name)s %(day)s, %(year)s")
                                 : _("%(month_name)s %(day)s, %(year)s at %(time)s");
    }

    int hour12 = local_date.hour % 12 == 0 ? 12 : local_date.hour % 12;
    std::string time;
    if (locale.code != "en" && locale.code != "en_US" && locale.code != "zh_CN") {
        time = std::to_string(local_date.hour) + ":" + two_digits(local_date.minute);
    } else if (locale.code == "zh_CN") {
        time = (local_date.hour >= 12 ? "\u4e0b\u5348" : "\u4e0a\u5348") + std::to_string(hour12) +
               ":" + two_digits(local_date.minute);
    } else {
        time = std::to_string(hour12) + ":" + two_digits(local_date.minute) +
               (local_date.hour >= 12 ? " pm" : " am");
    }
    return locale::format_message(*format, {{"month_name", _(kMonthNames[local_date.month - 1])},
                                            {"weekday", _(kWeekdayNames[local_date.weekday])},
                                            {"day", std::to_string(local_date.day)},
                                            {"year", std::to_string(local_date.year)},
                                            {"time", time}});
}

}  // namespace

std::string Locale::format_date(std::chrono::system_clock::time_point date,
                                const FormatDateOptions& options) const {
    return format_date_at(*this, to_micros(date), options);
}

std::string Locale::format_date(double timestamp, const FormatDateOptions& options) const {
    return format_date_at(*this, timestamp_to_micros(timestamp), options);
}

std::string Locale::format_day(std::chrono::system_clock::time_point date, int gmt_offset,
                               bool dow) const {
    Micros offset = static_cast<Micros>(gmt_offset) * 60 * kMicrosPerSecond;
    CivilTime local_date = civil_time(checked(to_micros(date) - offset));
    std::string month_name = translate(kMonthNames[local_date.month - 1]);
    std::string day = std::to_string(local_date.day);
    if (dow) {
        return locale::format_message(translate("%(weekday)s, %(month_name)s %(day)s"),
                                      {{"month_name", month_name},
                                       {"weekday", translate(kWeekdayNames[local_date.weekday])},
                                       {"day", day}});
    }
    return locale::format_message(translate("%(month_name)s %(day)s"),
                                  {{"month_name", month_name}, {"day", day}});
}

// ---- lists and numbers ----------------------------------------------------------

std::string Locale::list(std::initializer_list<std::string_view> parts) const {
    return list_of(std::span<const std::string_view>(parts.begin(), parts.size()));
}

std::string Locale::list_of(std::span<const std::string_view> parts) const {
    if (parts.empty()) return {};
    if (parts.size() == 1) return std::string(parts[0]);
    std::string_view comma = code.starts_with("fa") ? " \u0648 " : ", ";
    std::string commas;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        if (i > 0) commas += comma;
        commas += parts[i];
    }
    return locale::format_message(translate("%(commas)s and %(last)s"),
                                  {{"commas", commas}, {"last", std::string(parts.back())}});
}

// Tornado groups the text of the number from the right, sign included:
// "-1,234", and "-,123" for -123. Kept as it is.
std::string Locale::friendly_number(std::int64_t value) const {
    std::string digits = std::to_string(value);
    if (code != "en" && code != "en_US") return digits;
    std::string grouped;
    std::size_t first = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
    grouped += digits.substr(0, first);
    for (std::size_t at = first; at < digits.size(); at += 3) {
        grouped += ',';
        grouped += digits.substr(at, 3);
    }
    return grouped;
}

// ---- CSVLocale ----------------------------------------------------------------------

CSVLocale::CSVLocale(std::string locale_code, std::shared_ptr<const CSVTranslations> translations)
    : Locale(std::move(locale_code)),
      translations_(translations ? std::move(translations)
                                 : std::make_shared<const CSVTranslations>()) {}

namespace {

std::string look_up(const TranslationTable& table, std::string_view message) {
    auto found = table.find(message);
    return found == table.end() ? std::string(message) : found->second;
}

}  // namespace

std::string CSVLocale::do_translate(std::string_view message,
                                    std::optional<std::string_view> plural_message,
                                    std::optional<std::int64_t> count) const {
    if (!plural_message) return look_up(translations_->unknown, message);
    if (*count != 1) return look_up(translations_->plural, *plural_message);
    return look_up(translations_->singular, message);
}

std::string CSVLocale::do_pgettext(std::string_view, std::string_view message,
                                   std::optional<std::string_view> plural_message,
                                   std::optional<std::int64_t> count) const {
    if (!translations_->empty()) gen_log.warning("pgettext is not supported by CSVLocale");
    return do_translate(message, plural_message, count);
}

// ---- GettextLocale --------------------------------------------------------------------

GettextLocale::GettextLocale(std::string locale_code,
                             std::shared_ptr<const GettextCatalogs> catalogs)
    : Locale(std::move(locale_code)), catalogs_(std::move(catalogs)) {
    if (!catalogs_) catalogs_ = std::make_shared<const GettextCatalogs>();
}

std::string GettextLocale::gettext(std::string_view message) const {
    for (const auto& catalog : catalogs_->chain) {
        auto found = catalog->messages.find(message);
        if (found != catalog->messages.end()) return found->second;
    }
    return std::string(message);
}

std::string GettextLocale::ngettext(std::string_view singular, std::string_view plural,
                                    std::int64_t count) const {
    for (const auto& catalog : catalogs_->chain) {
        // Each catalog chooses the form by its own rule.
        std::int64_t form = catalog->plural(count);
        auto found = catalog->plurals.find(singular);
        if (found != catalog->plurals.end() && form >= 0 &&
            static_cast<std::uint64_t>(form) < found->second.size()) {
            return found->second[static_cast<std::size_t>(form)];
        }
    }
    return std::string(count == 1 ? singular : plural);
}

std::string GettextLocale::do_translate(std::string_view message,
                                        std::optional<std::string_view> plural_message,
                                        std::optional<std::int64_t> count) const {
    if (plural_message) return ngettext(message, *plural_message, *count);
    return gettext(message);
}

// Tornado looks up "context\x04message"; when the answer still holds the
// separator, nothing matched, and the plain message's translation (for a
// plural) or the message itself answers.
std::string GettextLocale::do_pgettext(std::string_view context, std::string_view message,
                                       std::optional<std::string_view> plural_message,
                                       std::optional<std::int64_t> count) const {
    std::string prefix = std::string(context) + std::string(locale::CONTEXT_SEPARATOR);
    if (plural_message) {
        std::string result =
            ngettext(prefix + std::string(message), prefix + std::string(*plural_message), *count);
        if (result.find(locale::CONTEXT_SEPARATOR) != std::string::npos) {
            result = ngettext(message, *plural_message, *count);
        }
        return result;
    }
    std::string result = gettext(prefix + std::string(message));
    if (result.find(locale::CONTEXT_SEPARATOR) != std::string::npos) return std::string(message);
    return result;
}

// ---- loading ------------------------------------------------------------------------------

namespace {

// The names in a directory, sorted (Python's order is the file system's).
std::vector<std::string> directory_names(const std::filesystem::path& directory) {
    std::error_code error;
    std::filesystem::directory_iterator entries(directory, error);
    if (error) throw TranslationError(directory.string(), 0, std::nullopt, error.message());
    std::vector<std::string> names;
    for (const auto& entry : entries) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// re.match("[a-z]+(_[A-Z]+)?$", code); "$" also matches before a final "\n".
bool is_csv_locale_code(std::string_view code) {
    if (code.ends_with('\n')) code.remove_suffix(1);
    std::size_t i = 0;
    while (i < code.size() && code[i] >= 'a' && code[i] <= 'z') ++i;
    if (i == 0) return false;
    if (i == code.size()) return true;
    if (code[i] != '_' || i + 1 == code.size()) return false;
    for (++i; i < code.size(); ++i) {
        if (code[i] < 'A' || code[i] > 'Z') return false;
    }
    return true;
}

std::size_t line_at(std::string_view decoded, std::size_t end) {
    return static_cast<std::size_t>(std::count(decoded.begin(), decoded.begin() + end, '\n')) + 1;
}

// Bytes of UTF-16 to UTF-8. Python's decoder refuses an odd byte and a
// surrogate without its pair; so does this, naming the line.
std::string utf16_to_utf8(std::string_view bytes, bool big_endian, const std::string& file,
                          std::size_t start) {
    std::string out;
    auto unit = [&](std::size_t at) {
        auto first = static_cast<unsigned char>(bytes[at]);
        auto second = static_cast<unsigned char>(bytes[at + 1]);
        return static_cast<char32_t>(big_endian ? first << 8 | second : second << 8 | first);
    };
    auto fail = [&](std::size_t at, const std::string& problem) {
        throw TranslationError(file, line_at(out, out.size()), at, problem);
    };
    std::size_t at = start;
    for (; at + 1 < bytes.size(); at += 2) {
        char32_t code = unit(at);
        if (code >= 0xDC00 && code <= 0xDFFF) fail(at, "not UTF-16: a lone low surrogate");
        if (code >= 0xD800 && code <= 0xDBFF) {
            if (at + 3 >= bytes.size()) fail(at, "not UTF-16: a lone high surrogate");
            char32_t low = unit(at + 2);
            if (low < 0xDC00 || low > 0xDFFF) fail(at, "not UTF-16: a lone high surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            at += 2;
        }
        detail::append_utf8(out, code);
    }
    if (at < bytes.size()) fail(at, "not UTF-16: truncated data (an odd number of bytes)");
    return out;
}

std::string checked_utf8(std::string_view bytes, const std::string& file, std::size_t start) {
    std::string_view text = bytes.substr(start);
    if (!is_valid_utf8(text)) {
        std::size_t at = 0;
        while (at < text.size()) {
            detail::Decoded decoded = detail::decode_utf8(text, at);
            if (!decoded.valid) break;
            at += decoded.length;
        }
        throw TranslationError(file, line_at(text, at), start + at, "not UTF-8");
    }
    return std::string(text);
}

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// A CSV file's text as UTF-8, by `encoding` or, without one, by its byte
// order mark, as Tornado detects it.
std::string decode_csv(std::string_view bytes, std::string_view encoding, const std::string& file) {
    std::string name = normalize_encoding(encoding);
    bool bom16 = bytes.starts_with("\xFF\xFE") || bytes.starts_with("\xFE\xFF");
    if (name.empty()) name = bom16 ? "utf_16" : "utf_8_sig";
    if (name == "utf_8_sig") {
        return checked_utf8(bytes, file, bytes.starts_with(kUtf8Bom) ? kUtf8Bom.size() : 0);
    }
    if (name == "utf_8" || name == "utf8" || name == "u8" || name == "utf") {
        return checked_utf8(bytes, file, 0);  // a BOM stays, as U+FEFF
    }
    if (name == "utf_16" || name == "utf16" || name == "u16") {
        // The mark decides; without one, little-endian (Python's native order here).
        return utf16_to_utf8(bytes, bytes.starts_with("\xFE\xFF"), file, bom16 ? 2 : 0);
    }
    if (name == "utf_16_le" || name == "utf_16le") return utf16_to_utf8(bytes, false, file, 0);
    if (name == "utf_16_be" || name == "utf_16be") return utf16_to_utf8(bytes, true, file, 0);
    throw std::invalid_argument("load_translations: encoding \"" + std::string(encoding) +
                                "\" is not supported (UTF-8 or UTF-16 are)");
}

// One LOCALE.csv file's rows.
std::shared_ptr<const CSVTranslations> read_csv_translations(const std::filesystem::path& path,
                                                             std::string_view encoding) {
    std::string file = path.string();
    std::string text = decode_csv(read_file(path), encoding, file);
    auto translations = std::make_shared<CSVTranslations>();
    for (const locale::detail::CSVRecord& record : locale::detail::read_csv(text, file)) {
        if (record.fields.size() < 2) continue;
        std::string_view english = strip_unicode(record.fields[0]);
        std::string_view translation = strip_unicode(record.fields[1]);
        std::string_view plural =
            record.fields.size() > 2 ? strip_unicode(record.fields[2]) : std::string_view();
        if (plural.empty()) plural = "unknown";
        TranslationTable* table = plural == "plural"     ? &translations->plural
                                  : plural == "singular" ? &translations->singular
                                  : plural == "unknown"  ? &translations->unknown
                                                         : nullptr;
        if (table == nullptr) {
            throw TranslationError(file, record.line, std::nullopt,
                                   "unrecognized plural indicator '" + std::string(plural) +
                                       "' (plural, singular, unknown or empty)");
        }
        (*table)[std::string(english)] = std::string(translation);
    }
    return translations;
}

// gettext's _expand_lang without locale.normalize(): "pt_BR" gives pt_BR,
// pt; "sr_RS.UTF-8@latin" gives its eight combinations, most specific first.
std::vector<std::string> expand_language(std::string_view language) {
    std::string_view modifier, codeset, territory;
    if (std::size_t at = language.find('@'); at != std::string_view::npos) {
        modifier = language.substr(at);
        language = language.substr(0, at);
    }
    if (std::size_t at = language.find('.'); at != std::string_view::npos) {
        codeset = language.substr(at);
        language = language.substr(0, at);
    }
    if (std::size_t at = language.find('_'); at != std::string_view::npos) {
        territory = language.substr(at);
        language = language.substr(0, at);
    }
    unsigned mask =
        (codeset.empty() ? 0 : 1) | (territory.empty() ? 0 : 2) | (modifier.empty() ? 0 : 4);
    std::vector<std::string> expansions;
    for (unsigned i = mask + 1; i-- > 0;) {
        if ((i & ~mask) != 0) continue;
        std::string value(language);
        if (i & 2) value += territory;
        if (i & 1) value += codeset;
        if (i & 4) value += modifier;
        expansions.push_back(value);
    }
    return expansions;
}

// Python's gettext.translation(domain, directory, [language]): the catalogs
// of the language's expansions that exist, stopping at "C".
std::shared_ptr<const GettextCatalogs> read_catalogs(
    const std::filesystem::path& directory, std::string_view language, std::string_view domain,
    std::map<std::string, std::shared_ptr<const GettextCatalog>>& parsed) {
    auto catalogs = std::make_shared<GettextCatalogs>();
    std::string file_name = std::string(domain) + ".mo";
    for (const std::string& expansion : expand_language(language)) {
        if (expansion == "C") break;
        std::filesystem::path path = directory / expansion / "LC_MESSAGES" / file_name;
        std::error_code error;
        if (!std::filesystem::exists(path, error)) continue;
        std::string key = path.string();
        auto found = parsed.find(key);
        if (found == parsed.end()) {
            std::string bytes = read_file(path);
            found = parsed.emplace(key, MoReader(bytes, key).read()).first;
        }
        catalogs->chain.push_back(found->second);
    }
    return catalogs;
}

}  // namespace

namespace locale {

void set_default_locale(std::string_view code) {
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    state.default_code = std::string(code);
    state.update_supported();
}

void load_translations(const std::filesystem::path& directory, std::string_view encoding) {
    std::map<std::string, std::shared_ptr<const CSVTranslations>, std::less<>> loaded;
    for (const std::string& name : directory_names(directory)) {
        if (!name.ends_with(".csv")) continue;
        std::filesystem::path path = directory / name;
        std::vector<std::string_view> parts = split(name, '.');
        if (parts.size() != 2) {
            // Tornado's `locale, extension = path.split(".")` raises here.
            throw TranslationError(path.string(), 0, std::nullopt,
                                   "a translation file is named LOCALE.csv");
        }
        std::string code(parts[0]);
        if (!is_csv_locale_code(code)) {
            gen_log.error("Unrecognized locale '{}' (path: {})", code, path.string());
            continue;
        }
        loaded[code] = read_csv_translations(path, encoding);
    }
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    state.csv = std::move(loaded);
    state.gettext.clear();
    state.use_gettext = false;
    state.retire_cache();
    state.update_supported();
    gen_log.debug("Supported locales: {}", state.supported_list());
}

void load_gettext_translations(const std::filesystem::path& directory, std::string_view domain) {
    std::map<std::string, std::shared_ptr<const GettextCatalogs>, std::less<>> loaded;
    std::map<std::string, std::shared_ptr<const GettextCatalog>> parsed;
    std::string file_name = std::string(domain) + ".mo";
    for (const std::string& language : directory_names(directory)) {
        if (language.starts_with('.')) continue;  // glob's "*" skips hidden names
        std::error_code error;
        if (!std::filesystem::exists(std::filesystem::symlink_status(
                directory / language / "LC_MESSAGES" / file_name, error))) {
            continue;
        }
        if (language == "C") {
            // gettext never translates the C locale: Python finds no file.
            gen_log.error("Cannot load translation for 'C': no translation file for domain '{}'",
                          domain);
            continue;
        }
        loaded[language] = read_catalogs(directory, language, domain, parsed);
    }
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    state.gettext = std::move(loaded);
    state.csv.clear();
    state.use_gettext = true;
    state.retire_cache();
    state.update_supported();
    gen_log.debug("Supported locales: {}", state.supported_list());
}

std::vector<std::string> get_supported_locales() {
    Registry& state = registry();
    std::lock_guard lock(state.mutex);
    return {state.supported.begin(), state.supported.end()};
}

// ---- Accept-Language ---------------------------------------------------------------------

namespace {

// RequestHandler.get_browser_locale's parsing: the codes with a q above 0,
// best first (ties keep their order), read as Latin-1 and given as UTF-8.
std::vector<std::string> accepted_codes(std::string_view header) {
    std::vector<std::pair<std::string, double>> accepted;
    for (std::string_view language : split(header, ',')) {
        std::vector<std::string_view> parts = split(strip_latin1(language), ';');
        double score = 1.0;
        if (parts.size() > 1 && strip_latin1(parts[1]).starts_with("q=")) {
            std::optional<double> q = python_float(strip_latin1(parts[1]).substr(2));
            score = q && !(*q < 0) ? *q : 0.0;
        }
        if (score > 0) accepted.emplace_back(latin1_to_utf8(parts[0]), score);
    }
    std::stable_sort(accepted.begin(), accepted.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::string> codes;
    for (auto& [code, score] : accepted) codes.push_back(std::move(code));
    return codes;
}

}  // namespace

const Locale& get_browser_locale(std::optional<std::string_view> accept_language,
                                 std::string_view default_code) {
    if (accept_language) {
        std::vector<std::string> codes;
        try {
            codes = accepted_codes(*accept_language);
        } catch (const std::exception&) {
            codes.clear();  // out of memory on a huge header: the default will do
        }
        if (!codes.empty()) return Locale::get_closest(codes);
    }
    return Locale::get_closest({default_code});
}

}  // namespace locale
}  // namespace tornado
