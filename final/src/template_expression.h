// template_expression.h: the Python expressions inside a template, parsed
// into a tree and evaluated over TemplateValue (private to final/src).
//
// The grammar is Python's, cut down to what templates use:
//
//   expression  := or_test ["if" or_test "else" expression]
//   or_test     := and_test ("or" and_test)*
//   and_test    := not_test ("and" not_test)*
//   not_test    := "not" not_test | comparison
//   comparison  := bit_or (("<"|">"|"=="|">="|"<="|"!="|"in"|"not in"|"is"|"is not") bit_or)*
//   bit_or ... shift, arith ("+" "-"), term ("*" "/" "//" "%"), factor ("+" "-" "~"),
//   power       := primary ["**" factor]
//   primary     := atom (".name" | "[" subscript "]" | "(" arguments ")")*
//   atom        := name | number | string+ | "(" [list] ")" | "[" [list] "]" | "{" [dict] "}"
//
// A run of one level's operator (a + b - c, a or b or c) is one node that
// evaluates its operands in a loop, not a tree as deep as the run; anything
// that nests (brackets, calls, trailers, unary operators, "**", "if else")
// may nest at most kMaxExpressionDepth levels (below).
//
// Each level is one function of the parser (the binary operators' six share
// one), each node one small class with an evaluate(); the operators
// themselves (what "+" means for two lists) live in template_operations.h.
#pragma once

#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/template.h"

namespace tornado::template_detail {

// A Python exception raised while evaluating: its type ("KeyError") and
// Python's str() of it ("'x'"). The template's node adds the file and the
// line and turns it into a TemplateError.
class PythonError : public std::exception {
public:
    PythonError(std::string type, std::string message, std::exception_ptr cause = nullptr)
        : type_(std::move(type)),
          message_(std::move(message)),
          what_(type_ + ": " + message_),
          cause_(std::move(cause)) {}
    const std::string& type() const { return type_; }
    const std::string& message() const { return message_; }
    const char* what() const noexcept override { return what_.c_str(); }
    // What a C++ function threw, when this error stands for it.
    const std::exception_ptr& cause() const { return cause_; }

private:
    std::string type_;
    std::string message_;
    std::string what_;
    std::exception_ptr cause_;
};

// The most items a list, and bytes a string, a template makes may hold
// (Python's limit is the memory; a page's should be far below it). A list
// of a million items takes 48 MB and a good part of a second to copy.
constexpr std::int64_t kMaxItems = 1'000'000;
constexpr std::int64_t kMaxStringBytes = 10'000'000;

// How deep lists, tuples and dicts a template makes may nest: Python's
// recursion limit, past which its repr() fails too. Printing, comparing and
// freeing a container recurse once per level; deeper would use up the stack.
constexpr int kMaxContainerDepth = 1000;

// How deep an expression's tree may be: brackets, calls, trailers (a.b,
// a[i]), unary operators, "**" and "x if c else y" each add a level; the
// items of a list and a run of one binary operator (a + b + c) do not.
// Parsing and evaluating recurse once per level, on the stack of whatever
// thread loads or renders the template, which may be a secondary thread
// with a stack far smaller than the main thread's 8 MB. At this limit the
// deepest expressions take about 120 KB of stack to parse and 50 KB to
// render (measured in a Release build; a bracket costs the parser about
// 1.2 KB). Python refuses deep expressions too: 200 nested brackets, or
// between 1,000 and 3,000 levels of anything else (Python 3.11). Pages nest
// a handful of levels.
constexpr int kMaxExpressionDepth = 100;

// A RecursionError if `dict`, a dict a template made, nests deeper.
void check_container_depth(const JSON& dict);

// The most bytes str() or repr() of a container may write: a list that
// holds itself twice at each level prints 2**depth items.
constexpr std::size_t kMaxReprBytes = 10'000'000;

// What is not Python as the parser knows it: the text, and why.
class SyntaxError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A name interned when a template is parsed: every Symbol made from the
// same text holds the same pointer, so finding a variable while rendering
// compares pointers, not strings (string compares were a tenth of a page's
// time). Interning takes a lock; rendering only copies Symbols.
class Symbol {
public:
    explicit Symbol(std::string_view name);
    const std::string& name() const { return *name_; }
    bool operator==(const Symbol& other) const { return name_ == other.name_; }

private:
    const std::string* name_;
};

// The names a running template sees. Locals are the variables the template
// assigns; then come the arguments of generate(), the namespaces (the
// caller's extra names, the loader's, Tornado's defaults) and the builtins.
// An {% apply %} body runs in a child scope: Python compiles it into a
// nested function, which assigns its own locals and reads the outer ones.
class Scope {
public:
    // `local_names`: every name the function assigns somewhere. Python makes
    // them local to the whole function, so reading one before it is set is
    // an UnboundLocalError, not a read of the outer name.
    Scope(const JSON& arguments, std::vector<const TemplateNamespace*> namespaces,
          const std::set<std::string, std::less<>>* local_names);
    // A nested function's scope.
    Scope(const Scope& enclosing, const std::set<std::string, std::less<>>* local_names);

    // The value of `name`; a NameError if there is none.
    TemplateValue lookup(Symbol name) const { return *find(name); }
    // The same, where it is kept: valid until the next assign().
    const TemplateValue* find(Symbol name) const;
    void assign(Symbol name, TemplateValue value);

private:
    const TemplateValue* find_local(Symbol name) const;
    TemplateValue lookup_global(Symbol name) const;

    const Scope* enclosing_ = nullptr;
    const JSON* arguments_ = nullptr;
    const std::set<std::string, std::less<>>* local_names_ = nullptr;
    std::vector<const TemplateNamespace*> namespaces_;
    // Few variables per template: a vector searched in order beats a map.
    std::vector<std::pair<Symbol, TemplateValue>> locals_;
    // The names found outside the template's variables (arguments,
    // namespaces, builtins), each looked up once per generate(): they
    // cannot change while it runs.
    // A deque: find() hands out pointers that later lookups must not move.
    mutable std::deque<std::pair<Symbol, TemplateValue>> globals_;
};

class Expression {
public:
    virtual ~Expression() = default;
    // How many levels of nodes the tree has from this node down, itself
    // included: 1 for a name or a literal, 2 for -x. The parser sets it as
    // it builds each node and refuses a tree deeper than its limit, since
    // evaluate(), append_str(), find_json() and the destructor recurse once
    // per level.
    int depth = 1;

    virtual TemplateValue evaluate(Scope& scope) const = 0;
    // Where the value already is, when it is a part of the JSON data a
    // variable or an argument holds: {{ row["name"] }} then writes the
    // string from where it lies instead of making a TemplateValue of it
    // (it saved a seventh of the benchmark page's time). nullptr when the
    // expression makes a new value, or the part is missing: then call
    // evaluate(), which reports the error. It only looks names up and calls
    // nothing, so evaluate() after it repeats no side effect. The node stays
    // valid until the template assigns a variable.
    virtual const JSON* find_json(Scope&) const { return nullptr; }
    // Appends str() of the value to `out`: what {{ }} writes. Nodes that
    // can write their text straight into the page (a literal, a string in
    // the data, "%.2f" % x, ", ".join(x)) override it and make no value.
    virtual void append_str(Scope& scope, std::string& out) const;
};
using ExpressionPtr = std::unique_ptr<const Expression>;

// Where {% set %}, {% for %} and "except ... as" put values: a name, or a
// tuple of targets to unpack a sequence into ("for key, value in ...").
struct Target {
    std::string name;           // empty for a tuple
    std::vector<Target> items;  // the tuple's targets
    Symbol symbol = Symbol(name);

    void assign(Scope& scope, const TemplateValue& value) const;
    // Adds the names this target assigns to `names`.
    void collect_names(std::set<std::string, std::less<>>& names) const;
};

// {% set %}: `target = value`, `name += value` (any arithmetic operator), or
// an expression evaluated for its effect.
struct Assignment {
    Target target;
    std::string augmented_operator;  // "+" for "+=", "" for "="
    ExpressionPtr value;

    void execute(Scope& scope) const;
};

// {% for target in iterable %}
struct ForHeader {
    Target target;
    ExpressionPtr iterable;
    // For `enumerate(xs)`, xs: the loop counts as it walks xs instead of
    // making a list of (i, x) tuples first, while the name enumerate is the
    // builtin (a page's loop over its rows spent a twentieth of its time
    // making those tuples).
    const Expression* enumerated = nullptr;
};

// Runs {% for %}: assigns each value of the header's iterable to its
// target, then calls `body`, which returns false to stop (a break).
// Returns whether the loop ran to its end (then {% else %} runs).
bool for_each(const ForHeader& header, Scope& scope, const std::function<bool()>& body);

// {% except [type [as name]] %}
struct ExceptHeader {
    std::vector<std::string> types;  // empty: every exception
    std::optional<Symbol> name;      // none: not bound

    bool catches(const std::string& python_type) const;
};

// Each throws SyntaxError for text that is not what it expects.
ExpressionPtr parse_expression(std::string_view text);  // `a`, `a, b` is a tuple
Assignment parse_assignment(std::string_view text);
ForHeader parse_for(std::string_view text);
ExceptHeader parse_except(std::string_view text);

// The values a for loop walks: a list's or tuple's items, a dict's keys, a
// string's characters. A TypeError for anything else.
std::vector<TemplateValue> iterate(const TemplateValue& value);

// The values iterate() gives, without copying a list's or tuple's items:
// those are read in place (a template never changes a list); anything else
// (a string's characters, a dict's keys) is iterated once, up front.
// `value` must outlive the Iteration.
class Iteration {
public:
    explicit Iteration(const TemplateValue& value)
        : value_(value),
          iterated_(value.is_sequence() ? std::vector<TemplateValue>() : iterate(value)) {}
    std::size_t size() const { return value_.is_sequence() ? value_.length() : iterated_.size(); }
    TemplateValue operator[](std::size_t index) const {
        return value_.is_sequence() ? value_.item(index) : iterated_[index];
    }

private:
    const TemplateValue& value_;
    std::vector<TemplateValue> iterated_;
};

}  // namespace tornado::template_detail
