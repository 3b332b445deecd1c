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
// one), each node one small class with an evaluate() and a cpp() (its C++,
// for a template compiled ahead of time), the two readings of one walk
// (template_expression.cpp); the operators themselves (what "+" means for
// two lists) live in template_operations.cpp.
#pragma once

#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/python_types.h"
#include "tornado/template.h"
#include "tornado/template_compiled.h"

namespace tornado::template_detail {

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
    // The Symbol whose name() is `interned`, a pointer another Symbol's
    // name() gave (compiled::Name keeps one): no lookup, no lock.
    static Symbol from_interned(const std::string* interned) { return Symbol(interned); }
    const std::string& name() const { return *name_; }
    bool operator==(const Symbol& other) const { return name_ == other.name_; }

private:
    explicit Symbol(const std::string* interned) : name_(interned) {}
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

// Thrown while compiling a template into C++ (template_compiled.h) at what
// the compiler leaves to the interpreter; what() says what that is.
class NotCompilable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Writes the C++ function one template compiles to, as Tornado's
// _CodeWriter writes its Python: lines indented as blocks nest, plus the
// declarations the function needs once (interned names, constants, the
// variables). Each node and expression writes its own code (emit(),
// cpp()): the second reading of the walk that the interpreter reads as
// execute() or evaluate() (template.cpp, template_expression.cpp).
// {% try %} and {% apply %} have no walk yet: they throw NotCompilable,
// and a template that holds one is left to the interpreter.
class CppWriter {
public:
    // `locals`: the names the page's function assigns (Program::locals).
    explicit CppWriter(const std::set<std::string, std::less<>>& locals);

    void line(std::string_view text);
    // Literal text for the page. Text that follows text (the end of a block,
    // the start of the next) goes out in one page.text().
    void text(std::string_view text) { pending_text_ += text; }
    // "text {" and one level deeper; close() ends it.
    void open(std::string_view text);
    void close();

    // A new identifier, for a temporary.
    std::string fresh(std::string_view prefix);
    // The identifier of a static compiled::Name for `text`.
    std::string name(const std::string& text);
    // The C++ of the variable `symbol` as Python finds it: the template's
    // local (an UnboundLocalError before it is set) or a global.
    std::string variable(const Symbol& symbol);
    // The compiled::Local of a name the template assigns.
    std::string local(const std::string& name);
    // A value found in the data once and reused: `local["key"]` (or
    // local.key) read again while `local` holds the same value finds the
    // same JSON node, so the compiled code keeps the node it found first.
    // member() is the C++ variable holding it, or "". remember() makes one
    // for the rest of the current block; an assignment to the local
    // forgets its members, and so does a loop (forget_all()), whose body
    // may run after an assignment further down.
    bool is_local(const std::string& name) const { return locals_.contains(name); }
    std::string member(const std::string& local_name, const std::string& key) const;
    void remember(const std::string& local_name, const std::string& key,
                  const std::string& variable);
    void forget(const std::string& local_name);
    void forget_all() { members_.clear(); }

    // The identifier of a static const TemplateValue equal to `value` (a
    // literal: None, a bool, a number, a string).
    std::string constant(const TemplateValue& value);
    // The identifier of a static compiled::PercentFormat of `format`.
    std::string percent_format(const std::string& format);
    // `bytes` as a C++ expression of type std::string_view.
    static std::string quote(std::string_view bytes);

    // Adds a line to the declarations before the function.
    void declare(const std::string& text) { declarations_ += text + "\n"; }

    // What the function declares once: its variables, then what goes
    // before it, then its body.
    std::string local_declarations();
    const std::string& declarations() const { return declarations_; }
    const std::string& body() {
        flush_text();
        return body_;
    }

private:
    const std::set<std::string, std::less<>>& locals_;
    void flush_text();
    // The id of a static `type` made from the string `text`, declared the
    // first time `text` is asked for: `prefix` and a number.
    std::string declare_once(std::map<std::string, std::string, std::less<>>& ids,
                             const std::string& text, const std::string& type,
                             const std::string& prefix);

    std::string declarations_;
    std::string body_;
    std::string pending_text_;
    int indent_ = 1;
    int counter_ = 0;
    std::map<std::string, std::string, std::less<>> names_;
    std::map<std::string, std::string, std::less<>> local_ids_;
    std::map<std::string, std::string, std::less<>> constants_;  // by type and repr()
    std::map<std::string, std::string, std::less<>> formats_;
    struct Member {
        std::string local_name, key, variable;
        int indent;  // of the block that declares it
    };
    std::vector<Member> members_;
};

// `statements` (each ending in ';') wrapped so that they run in order as
// one C++ expression of type TemplateValue: Python evaluates operands left
// to right, and C++ leaves the order of a call's arguments open.
std::string cpp_sequence(const std::string& statements);

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
    virtual const JSON* find_json(Scope& scope) const = 0;
    // Appends str() of the value to `out`: what {{ }} writes. Nodes that
    // can write their text straight into the page (a literal, a string in
    // the data, "%.2f" % x, ", ".join(x)) make no value for it.
    virtual void append_str(Scope& scope, std::string& out) const = 0;

    // The compiler's twins of the three above (see CppWriter): a C++
    // expression of type TemplateValue; one of type `const JSON*`, or ""
    // where find_json() always gives nullptr; statements that append str()
    // to the std::string named `out`. The three are the walks that
    // evaluate(), find_json() and append_str() are, read by WriteCpp
    // instead of Run (template_expression.cpp). What the compiler cannot
    // write (a constant of a type C++ has no literal for) throws
    // NotCompilable.
    virtual std::string cpp(CppWriter& writer) const = 0;
    virtual std::string cpp_json(CppWriter& writer) const = 0;
    virtual void emit_append_str(CppWriter& writer, const std::string& out) const = 0;
    // For local["key"] and local.key (a string key, a variable the template
    // assigns): the local's name and the key, which CppWriter::member()
    // finds again. Empty names otherwise.
    virtual std::pair<std::string, std::string> local_member(const CppWriter&) const { return {}; }
    // Whether str() of the value can never hold a character xhtml_escape
    // changes, whatever the data: a literal without one, "%.2f" % x, a
    // choice between such. The compiled page then skips the builtin escape.
    virtual bool writes_no_markup() const { return false; }
};

// The C++ of `expression`'s find_json() at the start of a statement: for a
// local's member, a variable that later statements reuse (CppWriter::member).
std::string cpp_json_statement(const Expression& expression, CppWriter& writer);
using ExpressionPtr = std::unique_ptr<const Expression>;

// Where {% set %}, {% for %} and "except ... as" put values: a name, or a
// tuple of targets to unpack a sequence into ("for key, value in ...").
struct Target {
    std::string name;           // empty for a tuple
    std::vector<Target> items;  // the tuple's targets
    Symbol symbol = Symbol(name);

    void assign(Scope& scope, const TemplateValue& value) const;
    // The compiled assignment of the C++ expression `value`.
    void emit_assign(CppWriter& writer, const std::string& value) const;
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
    void emit(CppWriter& writer) const;

private:
    // Both of the above: template_expression.cpp's readings.
    template <typename Reading>
    void walk(Reading& r) const;
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

// Python's unpacking of `value` into exactly `count` values (for a, b in
// ...): a ValueError with Python's message for any other number.
std::vector<TemplateValue> unpack(const TemplateValue& value, std::size_t count);

// The values a for loop walks: a list's or tuple's items, a dict's keys, a
// string's characters. A TypeError for anything else.
std::vector<TemplateValue> iterate(const TemplateValue& value);

// The values iterate() gives, without copying a list's or tuple's items
// (the compiled code's class, shared: tornado/template_compiled.h).
using Iteration = compiled::Iteration;

}  // namespace tornado::template_detail
