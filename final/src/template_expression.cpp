// template_expression.cpp: see template_expression.h. Three parts: the
// tokenizer, the expression nodes, and the recursive-descent parser that
// builds them (one function per grammar level).
#include "template_expression.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "hex.h"
#include "python_text.h"
#include "template_operations.h"
#include "text.h"

namespace tornado::template_detail {

namespace {

// ---- tokens -----------------------------------------------------------------

enum class TokenKind { name, number, string, op, end };

struct Token {
    TokenKind kind;
    std::string text;     // a name, an operator, a number's digits
    TemplateValue value;  // a number's or a string's value
};

using detail::is_digit;

// Python's identifiers; a byte beyond ASCII is taken as part of a letter.
bool is_name_start(char c) {
    return detail::is_ascii_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

[[noreturn]] void syntax_error(const std::string& message) { throw SyntaxError(message); }

// A code point from a string escape; UTF-8 has no surrogates ("\ud800").
void append_code_point(std::string& out, std::uint32_t code_point) {
    if (code_point >= 0xD800 && code_point <= 0xDFFF) code_point = 0xFFFD;
    detail::append_utf8(out, code_point);
}

bool is_string_prefix(const std::string& name) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(c | 0x20);
    static constexpr std::string_view kPrefixes[] = {"r", "b", "u", "f", "br", "rb", "fr", "rf"};
    return std::find(std::begin(kPrefixes), std::end(kPrefixes), lower) != std::end(kPrefixes);
}

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

    Token number() {
        std::size_t start = at_;
        bool is_float = false;
        if (text_[at_] == '0' && at_ + 1 < text_.size() &&
            std::string_view("xXoObB").find(text_[at_ + 1]) != std::string_view::npos) {
            at_ += 2;
            while (at_ < text_.size() &&
                   (std::isxdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_'))
                ++at_;
        } else {
            while (at_ < text_.size() && (is_digit(text_[at_]) || text_[at_] == '_')) ++at_;
            if (at_ < text_.size() && text_[at_] == '.') {
                is_float = true;
                ++at_;
                while (at_ < text_.size() && (is_digit(text_[at_]) || text_[at_] == '_')) ++at_;
            }
            if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
                is_float = true;
                ++at_;
                if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
                while (at_ < text_.size() && is_digit(text_[at_])) ++at_;
            }
        }
        if (at_ < text_.size() && (text_[at_] == 'j' || text_[at_] == 'J')) {
            syntax_error("complex numbers are not supported in templates");
        }
        if (at_ < text_.size() && is_name_char(text_[at_])) syntax_error("invalid decimal literal");
        std::string digits(text_.substr(start, at_ - start));
        std::string clean = digits;
        clean.erase(std::remove(clean.begin(), clean.end(), '_'), clean.end());
        if (is_float)
            return {TokenKind::number, digits, TemplateValue(std::strtod(clean.c_str(), nullptr))};
        int base = 10;
        std::string_view body = clean;
        if (clean.size() > 1 && clean[0] == '0' && !is_digit(clean[1])) {
            char kind = static_cast<char>(clean[1] | 0x20);
            base = kind == 'x' ? 16 : (kind == 'o' ? 8 : 2);
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

struct Constant : Expression {
    TemplateValue value;
    std::string text;  // its str(), made once
    explicit Constant(TemplateValue v) : value(std::move(v)), text(value.str()) {}
    TemplateValue evaluate(Scope&) const override { return value; }
    void append_str(Scope&, std::string& out) const override { out += text; }
};

struct Name : Expression {
    Symbol name;
    explicit Name(std::string_view n) : name(n) {}
    TemplateValue evaluate(Scope& scope) const override { return scope.lookup(name); }
    const JSON* find_json(Scope& scope) const override { return scope.find(name)->json_node(); }
};

// The value of `expression` for a use that ends before the template goes
// on (formatting it, joining it): a part of the data is borrowed where it
// lies instead of being shared (see find_json).
TemplateValue evaluate_briefly(const Expression& expression, Scope& scope) {
    if (const JSON* json = expression.find_json(scope)) return TemplateValue::borrow(*json);
    return expression.evaluate(scope);
}

// A dict's value for `key` inside JSON data, or nullptr.
const JSON* find_member(const JSON* object, std::string_view key) {
    if (object == nullptr || !object->is_object()) return nullptr;
    return find_key(*object, key);
}

// [a, b], (a, b), {k: v}
struct Display : Expression {
    enum class Kind { list, tuple, dict } kind;
    std::vector<ExpressionPtr> items;  // for a dict: key, value, key, value...
    TemplateValue evaluate(Scope& scope) const override {
        if (kind == Kind::dict) {
            JSON object = JSON::object();
            for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
                TemplateValue key = items[i]->evaluate(scope);
                if (!key.is_string()) {
                    throw PythonError("TypeError", "a template's dict keys must be strings, not " +
                                                       std::string(key.type_name()));
                }
                object[std::string(key.as_string())] = items[i + 1]->evaluate(scope).to_json();
            }
            check_container_depth(object);
            return TemplateValue(std::move(object));
        }
        std::vector<TemplateValue> values;
        values.reserve(items.size());
        for (const ExpressionPtr& item : items) values.push_back(item->evaluate(scope));
        return kind == Kind::list ? TemplateValue::list(std::move(values))
                                  : TemplateValue::tuple(std::move(values));
    }
};

struct Attribute : Expression {
    ExpressionPtr object;
    std::string name;
    TemplateValue evaluate(Scope& scope) const override {
        return get_attribute(object->evaluate(scope), name);
    }
    // A dict's key read as an attribute (entry.title) comes before its
    // methods, as get_attribute() does.
    const JSON* find_json(Scope& scope) const override {
        return find_member(object->find_json(scope), name);
    }
};

struct Subscript : Expression {
    ExpressionPtr container, key;
    std::optional<std::string> constant_key;  // the key, when it is a string literal
    TemplateValue evaluate(Scope& scope) const override {
        TemplateValue target = container->evaluate(scope);
        return get_item(target, key->evaluate(scope));
    }
    const JSON* find_json(Scope& scope) const override {
        return constant_key ? find_member(container->find_json(scope), *constant_key) : nullptr;
    }
};

struct Slice : Expression {
    ExpressionPtr container, start, stop, step;  // any of the three may be null
    TemplateValue evaluate(Scope& scope) const override {
        TemplateValue target = container->evaluate(scope);
        auto bound = [&](const ExpressionPtr& e) {
            return e ? e->evaluate(scope) : TemplateValue();
        };
        return get_slice(target, bound(start), bound(stop), bound(step));
    }
};

struct Call : Expression {
    ExpressionPtr callee;
    // `object.method(...)`: the callee as an Attribute, called directly
    // without making a bound method first.
    const Attribute* method = nullptr;
    std::vector<ExpressionPtr> positional;
    std::vector<std::pair<std::string, ExpressionPtr>> keyword;
    bool is_join = false;  // x.join(parts), what templates call most

    // "sep".join(parts) is joined straight into the page.
    void append_str(Scope& scope, std::string& out) const override {
        if (!is_join) {
            evaluate(scope).append_str(out);
            return;
        }
        TemplateValue object = method->object->evaluate(scope);
        if (!object.is_string()) check_method(object, method->name);  // a str has join
        TemplateValue parts = evaluate_briefly(*positional[0], scope);
        if (object.is_string()) {
            append_join(out, object.as_string(), parts);
        } else {
            call_method(object, method->name, {{std::move(parts)}, {}}).append_str(out);
        }
    }

    TemplateValue evaluate(Scope& scope) const override {
        TemplateArguments arguments;
        TemplateValue object =
            method != nullptr ? method->object->evaluate(scope) : TemplateValue();
        if (method != nullptr) check_method(object, method->name);
        TemplateValue function = method != nullptr ? TemplateValue() : callee->evaluate(scope);
        arguments.positional.reserve(positional.size());
        for (const ExpressionPtr& argument : positional)
            arguments.positional.push_back(argument->evaluate(scope));
        for (const auto& [name, argument] : keyword)
            arguments.keyword.emplace_back(name, argument->evaluate(scope));
        if (method != nullptr) return call_method(object, method->name, arguments);
        return call_function(function, arguments);
    }
};

struct Unary : Expression {
    char op;
    ExpressionPtr operand;
    TemplateValue evaluate(Scope& scope) const override {
        if (op == '!') return !operand->evaluate(scope).truthy();  // "not"
        return unary_operation(op, operand->evaluate(scope));
    }
};

// "format" % values with a string literal on the left, formatted straight
// into the page ({{ "%.2f" % price }}).
struct PercentFormat : Expression {
    std::string format;
    ExpressionPtr values;
    TemplateValue evaluate(Scope& scope) const override {
        return percent_format(format, evaluate_briefly(*values, scope));
    }
    void append_str(Scope& scope, std::string& out) const override {
        append_percent_format(out, format, evaluate_briefly(*values, scope));
    }
};

struct Binary : Expression {
    std::string op;
    ExpressionPtr left, right;
    TemplateValue evaluate(Scope& scope) const override {
        TemplateValue a = left->evaluate(scope);
        return binary_operation(op, a, right->evaluate(scope));
    }
};

// a < b <= c: each pair compared, each operand evaluated once.
struct Comparison : Expression {
    std::vector<ExpressionPtr> operands;
    std::vector<std::string> ops;
    TemplateValue evaluate(Scope& scope) const override {
        TemplateValue left = operands[0]->evaluate(scope);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            TemplateValue right = operands[i + 1]->evaluate(scope);
            if (!compare(ops[i], left, right)) return false;
            left = std::move(right);
        }
        return true;
    }
};

// "and" / "or" give one of their operands, as in Python (x or "default").
struct Logical : Expression {
    bool is_and;
    ExpressionPtr left, right;
    TemplateValue evaluate(Scope& scope) const override {
        TemplateValue first = left->evaluate(scope);
        if (first.truthy() != is_and) return first;
        return right->evaluate(scope);
    }
};

struct Conditional : Expression {
    ExpressionPtr condition, if_true, if_false;
    TemplateValue evaluate(Scope& scope) const override {
        return condition->evaluate(scope).truthy() ? if_true->evaluate(scope)
                                                   : if_false->evaluate(scope);
    }
    void append_str(Scope& scope, std::string& out) const override {
        (condition->evaluate(scope).truthy() ? if_true : if_false)->append_str(scope, out);
    }
};

// ---- the parser -------------------------------------------------------------

template <typename Node>
std::unique_ptr<Node> make() {
    return std::make_unique<Node>();
}

class Parser {
public:
    explicit Parser(std::string_view text) : tokens_(Tokenizer(text).tokens()) {}

    bool at_end() const { return peek().kind == TokenKind::end; }

    void expect_end() {
        if (!at_end()) syntax_error("unexpected '" + describe(peek()) + "'");
    }

    // A comma-separated list at the top: `a, b` is a tuple, `a` itself.
    ExpressionPtr expression_list() {
        ExpressionPtr first = expression();
        if (!is_op(",")) return first;
        auto tuple = std::make_unique<Display>();
        tuple->kind = Display::Kind::tuple;
        tuple->items.push_back(std::move(first));
        while (accept_op(",")) {
            if (at_end() || is_op(")") || is_op("=") || is_name("in")) break;
            tuple->items.push_back(expression());
        }
        return tuple;
    }

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
    const Token& peek(std::size_t ahead = 0) const {
        return tokens_[std::min(at_ + ahead, tokens_.size() - 1)];
    }
    std::string name() {
        if (peek().kind != TokenKind::name || is_keyword(peek().text)) {
            syntax_error("expected a name, not '" + describe(peek()) + "'");
        }
        return tokens_[at_++].text;
    }

    ExpressionPtr expression() {
        Nesting nesting(*this);
        if (is_name("lambda"))
            syntax_error("lambda is not supported in templates: register a C++ function");
        ExpressionPtr value = or_test();
        if (!accept_name("if")) return value;
        auto node = make<Conditional>();
        node->if_true = std::move(value);
        node->condition = or_test();
        if (!accept_name("else")) syntax_error("expected 'else' after 'if' expression");
        node->if_false = expression();
        return node;
    }

private:
    // Every nested expression passes through expression(), factor() or
    // not_test(); without a limit, "((((...))))" from a hostile template
    // would recurse until the stack ran out.
    static constexpr int kMaxNesting = 100;
    struct Nesting {
        Parser& parser;
        explicit Nesting(Parser& p) : parser(p) {
            if (++parser.nesting_ > kMaxNesting) syntax_error("expression nested too deeply");
        }
        ~Nesting() { --parser.nesting_; }
        Nesting(const Nesting&) = delete;
        Nesting& operator=(const Nesting&) = delete;
    };

    static bool is_keyword(std::string_view word) {
        static constexpr std::string_view kKeywords[] = {
            "and",     "or",     "not",    "in",       "is",    "if",       "else",
            "for",     "lambda", "None",   "True",     "False", "yield",    "await",
            "async",   "import", "from",   "as",       "def",   "class",    "return",
            "del",     "pass",   "global", "nonlocal", "while", "try",      "except",
            "finally", "with",   "raise",  "assert",   "break", "continue", "elif"};
        return std::find(std::begin(kKeywords), std::end(kKeywords), word) != std::end(kKeywords);
    }

    static std::string describe(const Token& token) {
        if (token.kind == TokenKind::end) return "end of expression";
        if (token.kind == TokenKind::string) return token.value.repr();
        return token.text;
    }

    Target single_target() {
        if (accept_op("(")) {
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

    ExpressionPtr or_test() {
        ExpressionPtr left = and_test();
        while (accept_name("or")) {
            auto node = make<Logical>();
            node->is_and = false;
            node->left = std::move(left);
            node->right = and_test();
            left = std::move(node);
        }
        return left;
    }

    ExpressionPtr and_test() {
        ExpressionPtr left = not_test();
        while (accept_name("and")) {
            auto node = make<Logical>();
            node->is_and = true;
            node->left = std::move(left);
            node->right = not_test();
            left = std::move(node);
        }
        return left;
    }

    ExpressionPtr not_test() {
        if (!accept_name("not")) return comparison();
        Nesting nesting(*this);
        auto node = make<Unary>();
        node->op = '!';
        node->operand = not_test();
        return node;
    }

    std::string comparison_operator() {
        static constexpr std::string_view kSymbols[] = {"<", ">", "==", ">=", "<=", "!="};
        for (std::string_view symbol : kSymbols) {
            if (accept_op(symbol)) return std::string(symbol);
        }
        if (accept_name("in")) return "in";
        if (is_name("not") && peek(1).kind == TokenKind::name && peek(1).text == "in") {
            at_ += 2;
            return "not in";
        }
        if (accept_name("is")) return accept_name("not") ? "is not" : "is";
        return "";
    }

    ExpressionPtr comparison() {
        ExpressionPtr first = binary_level(0);
        std::string op = comparison_operator();
        if (op.empty()) return first;
        auto node = make<Comparison>();
        node->operands.push_back(std::move(first));
        for (; !op.empty(); op = comparison_operator()) {
            node->ops.push_back(op);
            node->operands.push_back(binary_level(0));
        }
        return node;
    }

    // The binary operators, loosest first; each level's operands are the
    // next level's. Python's "**" binds tighter still (power()).
    ExpressionPtr binary_level(std::size_t level) {
        static const std::vector<std::vector<std::string_view>> kLevels = {
            {"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "//", "%", "@"}};
        if (level == kLevels.size()) return factor();
        ExpressionPtr left = binary_level(level + 1);
        while (true) {
            auto op = std::find_if(kLevels[level].begin(), kLevels[level].end(),
                                   [&](std::string_view candidate) { return is_op(candidate); });
            if (op == kLevels[level].end()) return left;
            if (*op == "@") syntax_error("the @ operator is not supported in templates");
            ++at_;
            const auto* constant = dynamic_cast<const Constant*>(left.get());
            if (*op == "%" && constant != nullptr && constant->value.is_string()) {
                auto format = make<PercentFormat>();
                format->format = std::string(constant->value.as_string());
                format->values = binary_level(level + 1);
                left = std::move(format);
                continue;
            }
            auto node = make<Binary>();
            node->op = std::string(*op);
            node->left = std::move(left);
            node->right = binary_level(level + 1);
            left = std::move(node);
        }
    }

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
                node->operand = factor();
                return node;
            }
        }
        return power();
    }

    ExpressionPtr power() {
        ExpressionPtr base = primary();
        if (!accept_op("**")) return base;
        auto node = make<Binary>();
        node->op = "**";
        node->left = std::move(base);
        node->right = factor();  // right-associative, and -x binds looser: 2**-1
        return node;
    }

    ExpressionPtr primary() {
        ExpressionPtr value = atom();
        while (true) {
            if (accept_op(".")) {
                auto node = make<Attribute>();
                node->object = std::move(value);
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

    ExpressionPtr subscript(ExpressionPtr container) {
        ExpressionPtr start;
        if (!is_op(":")) {
            start = expression_list();
            if (accept_op("]")) {
                auto node = make<Subscript>();
                node->container = std::move(container);
                const auto* constant = dynamic_cast<const Constant*>(start.get());
                if (constant != nullptr && constant->value.is_string()) {
                    node->constant_key = std::string(constant->value.as_string());
                }
                node->key = std::move(start);
                return node;
            }
        }
        if (!accept_op(":")) syntax_error("expected ']' or ':' in a subscript");
        auto node = make<Slice>();
        node->container = std::move(container);
        node->start = std::move(start);
        if (!is_op(":") && !is_op("]")) node->stop = expression();
        if (accept_op(":") && !is_op("]")) node->step = expression();
        if (!accept_op("]")) syntax_error("expected ']' after a slice");
        return node;
    }

    ExpressionPtr call(ExpressionPtr callee) {
        auto node = make<Call>();
        node->method = dynamic_cast<const Attribute*>(callee.get());
        node->callee = std::move(callee);
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
                node->keyword.emplace_back(keyword, expression());
            } else {
                if (!node->keyword.empty())
                    syntax_error("positional argument follows keyword argument");
                node->positional.push_back(expression());
            }
            if (is_name("for"))
                syntax_error("generator expressions are not supported in templates");
            if (!accept_op(",") && !is_op(")")) syntax_error("expected ',' or ')' in a call");
        }
        node->is_join = node->method != nullptr && node->method->name == "join" &&
                        node->positional.size() == 1 && node->keyword.empty();
        return node;
    }

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
        tuple->items.push_back(std::move(first));
        while (accept_op(",")) {
            if (is_op(")")) break;
            tuple->items.push_back(expression());
        }
        if (!accept_op(")")) syntax_error("expected ')'");
        return tuple;
    }

    ExpressionPtr display(Display::Kind kind, std::string_view close) {
        auto node = std::make_unique<Display>();
        node->kind = kind;
        while (!accept_op(close)) {
            node->items.push_back(expression());
            if (is_name("for")) syntax_error("comprehensions are not supported in templates");
            if (kind == Display::Kind::dict) {
                if (!accept_op(":"))
                    syntax_error("sets are not supported in templates (expected ':' in a dict)");
                node->items.push_back(expression());
                if (is_name("for")) syntax_error("comprehensions are not supported in templates");
            }
            if (!accept_op(",") && !is_op(close))
                syntax_error("expected ',' or '" + std::string(close) + "'");
        }
        return node;
    }

    std::vector<Token> tokens_;
    std::size_t at_ = 0;
    int nesting_ = 0;
};

}  // namespace

// ---- parsing entry points ---------------------------------------------------

ExpressionPtr parse_expression(std::string_view text) {
    Parser parser(text);
    if (parser.at_end()) syntax_error("empty expression");
    ExpressionPtr expression = parser.expression_list();
    parser.expect_end();
    return expression;
}

Assignment parse_assignment(std::string_view text) {
    // Find the assignment operator at the top level, outside brackets and
    // strings, by tokenizing once.
    Parser probe(text);
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
    Parser parser(text);
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
        assignment.augmented_operator = op.substr(0, op.size() - 1);
    }
    if (parser.at_end()) syntax_error("nothing to assign after '" + op + "'");
    assignment.value = parser.expression_list();
    if (parser.is_op("="))
        syntax_error("chained assignment (a = b = c) is not supported in templates");
    parser.expect_end();
    return assignment;
}

ForHeader parse_for(std::string_view text) {
    Parser parser(text);
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

bool for_each(const ForHeader& header, Scope& scope, const std::function<bool()>& body) {
    static const Symbol kEnumerate("enumerate");
    static const TemplateValue& builtin_enumerate = *builtins().find("enumerate");
    bool counting =
        header.enumerated != nullptr && scope.lookup(kEnumerate).is_same(builtin_enumerate);
    TemplateValue iterable = (counting ? *header.enumerated : *header.iterable).evaluate(scope);
    Iteration values(iterable);
    const std::vector<Target>& pair = header.target.items;
    for (std::size_t i = 0; i < values.size(); ++i) {
        TemplateValue item = values[i];
        if (!counting) {
            header.target.assign(scope, item);
        } else if (pair.size() == 2) {  // for i, x in enumerate(xs)
            pair[0].assign(scope, static_cast<std::int64_t>(i));
            pair[1].assign(scope, item);
        } else {
            header.target.assign(
                scope, TemplateValue::tuple({static_cast<std::int64_t>(i), std::move(item)}));
        }
        if (!body()) return false;
    }
    return true;
}

ExceptHeader parse_except(std::string_view text) {
    Parser parser(text);
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

void Target::assign(Scope& scope, const TemplateValue& value) const {
    if (!name.empty()) {
        scope.assign(symbol, value);
        return;
    }
    Iteration values(value);
    std::size_t count = values.size();
    if (count != items.size()) {
        if (count > items.size()) {
            throw PythonError("ValueError", "too many values to unpack (expected " +
                                                std::to_string(items.size()) + ")");
        }
        throw PythonError("ValueError", "not enough values to unpack (expected " +
                                            std::to_string(items.size()) + ", got " +
                                            std::to_string(count) + ")");
    }
    for (std::size_t i = 0; i < items.size(); ++i) items[i].assign(scope, values[i]);
}

void Target::collect_names(std::set<std::string, std::less<>>& names) const {
    if (!name.empty()) names.insert(name);
    for (const Target& item : items) item.collect_names(names);
}

void Assignment::execute(Scope& scope) const {
    TemplateValue result = value->evaluate(scope);
    if (target.name.empty() && target.items.empty()) return;  // an expression statement
    if (!augmented_operator.empty()) {
        result = binary_operation(augmented_operator, scope.lookup(target.symbol), result);
    }
    target.assign(scope, result);
}

bool ExceptHeader::catches(const std::string& python_type) const {
    if (types.empty()) return true;
    // The built-in exception hierarchy, as far as templates raise it.
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

Scope::Scope(const JSON& arguments, std::vector<const TemplateNamespace*> namespaces,
             const std::set<std::string, std::less<>>* local_names)
    : arguments_(&arguments), local_names_(local_names), namespaces_(std::move(namespaces)) {}

Scope::Scope(const Scope& enclosing, const std::set<std::string, std::less<>>* local_names)
    : enclosing_(&enclosing),
      arguments_(enclosing.arguments_),
      local_names_(local_names),
      namespaces_(enclosing.namespaces_) {}

// ---- expressions ----------------------------------------------------------

void Expression::append_str(Scope& scope, std::string& out) const {
    if (const JSON* json = find_json(scope)) {
        if (json->is_string()) {
            out += json->get_ref<const std::string&>();
        } else {
            TemplateValue::borrow(*json).append_str(out);
        }
        return;
    }
    evaluate(scope).append_str(out);
}

// ---- name lookup ----------------------------------------------------------

const TemplateValue* Scope::find_local(Symbol name) const {
    for (const auto& [local, value] : locals_) {
        if (local == name) return &value;
    }
    return enclosing_ != nullptr ? enclosing_->find_local(name) : nullptr;
}

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

void Scope::assign(Symbol name, TemplateValue value) {
    for (auto& [local, current] : locals_) {
        if (local == name) {
            current = std::move(value);
            return;
        }
    }
    locals_.emplace_back(name, std::move(value));
}

Symbol::Symbol(std::string_view name) {
    // Node-based: a name's address never changes once interned.
    static std::mutex mutex;
    static std::unordered_set<std::string> names;
    std::lock_guard<std::mutex> lock(mutex);
    name_ = &*names.emplace(name).first;
}

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

}  // namespace tornado::template_detail
