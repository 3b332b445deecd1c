// tornado/template.h: Tornado's template language (tornado.template).
//
//   tornado::Template page("<p>Hello, {{ name }}!</p>\n"
//                          "{% for item in items %}<li>{{ item }}</li>{% end %}");
//   std::string html = page.generate({{"name", "<World>"}, {"items", {1, 2, 3}}});
//   // <p>Hello, &lt;World&gt;!</p>\n<li>1</li><li>2</li><li>3</li>
//
//   tornado::Loader loader("templates");              // files under templates/
//   std::string page = loader.load("page.html")->generate({{"title", "Home"}});
//
// The language is Tornado 6's: {{ expression }} writes the expression's
// value, HTML-escaped; {% raw expression %} writes it as it is; {# ... #} is
// a comment; {% if %} / {% elif %} / {% else %} / {% end %}, {% for a, b in
// ... %}, {% while %}, {% break %} and {% continue %}, {% set x = ... %},
// {% try %} / {% except %} / {% finally %}, {% extends "base.html" %} with
// {% block name %}, {% include "part.html" %}, {% apply f %}, {% autoescape
// f %}, {% whitespace mode %}, {% comment ... %} and {% module ... %}. A
// `{{!`, `{%!` or `{#!` writes the braces themselves.
//
// Tornado compiles a template into Python and lets Python evaluate the
// expressions. Here a template is parsed once into a tree of nodes, and the
// expressions, a subset of Python's, are evaluated by an interpreter over
// TemplateValue: None, bool, int (64 bits), float, str (UTF-8), list,
// tuple, dict (a JSON object), function and object (a C++ object whose
// attributes a template reads, such as render()'s `handler`). Data comes in as JSON
// (tornado/escape.h's JSON, nlohmann::json), functions as C++ callables
// registered in a TemplateNamespace. What the subset lacks (lambda,
// comprehensions, imports, assigning to an item or an attribute) is a
// ParseError that names it; an error while rendering (a missing name, a
// missing key, a division by zero) is a TemplateError that names the
// template, the line and the Python exception it stands for. A program's
// build can also compile its templates into C++, which a Loader then runs
// instead of the interpreter while their sources are unchanged
// (tornado/template_compiled.h).
//
// Names are found as Python finds them in Tornado's generated function:
// variables the template assigns ({% set %}, {% for %}), then the values
// passed to generate(), then the loader's namespace, then the template
// namespace Tornado provides (escape, xhtml_escape, url_escape,
// json_encode, squeeze, linkify), then the builtins (len, range, str, int,
// float, bool, list, tuple, dict, enumerate, zip, sorted, reversed, min,
// max, sum, abs, round, any, all, repr).
//
// Differences from Tornado, each a consequence of C++ having no Python:
// * JSON objects are dicts whose keys are sorted (nlohmann::json keeps them
//   so); Python keeps a dict in insertion order. A dict's key can also be
//   read as an attribute (entry.title), standing in for Python objects.
// * Lists, tuples and dicts are values, not shared objects: a template
//   cannot change them (append, item assignment), only make new ones. A
//   dict's values are JSON: a tuple put in one comes back as a list, and a
//   function cannot be put in one.
// * Integers are 64-bit; overflow is an OverflowError, not a big number.
// * range(), enumerate(), zip() and reversed() make lists: {{ range(3) }}
//   writes [0, 1, 2] where Python writes range(0, 3).
// * str.upper() and lower() map one character to one ("ß".upper() stays
//   "ß"; Python's is "SS").
// * A list, tuple or dict nested more than 1000 deep is a RecursionError
//   when it is made (Python's limit, which Python applies when it is
//   printed). A list or range() of more than a million items, a string of
//   more than 10 MB, and str() or repr() of more than 10 MB are a
//   MemoryError: Python's only limit is the memory.
// * `datetime` and Python modules are not in the namespace; register the
//   functions a template needs instead.
// * What Python refuses when it compiles Tornado's code (a bad expression,
//   a {% break %} in a loop's {% else %}) is a ParseError, as is
//   {% extends %} inside a block tag (Tornado's NotImplementedError). So is
//   an expression nested more than 100 levels deep (brackets, calls, unary
//   operators, a.b.c...), where Python refuses 200 brackets; a long run of
//   one operator (1 + 1 + ... + 1) is not nesting, and has no such limit.
//
// Threads: a Template is immutable once made; generate() may run on several
// threads at once. A Loader's cache is guarded by a mutex.
// Lifetime: a Template made by a loader keeps a pointer to it; the loader
// must outlive the templates it made.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tornado/escape.h"

namespace tornado {

class TemplateValue;

// ---- rows of a C++ struct -----------------------------------------------------
// A vector of structs handed to a template as it is (TemplateValue::rows()):
// a loop reads each row's fields by name (row.id, or row["id"]) from the
// struct, with no JSON object made per row. Which fields a template may
// read, the struct says with a function template_fields() beside it:
//
//   struct Fortune {
//       int id;
//       std::string message;
//   };
//   // The argument only picks this overload (C++ finds it next to
//   // Fortune); it is never read.
//   constexpr auto template_fields(const Fortune*) {
//       return std::array{tornado::TemplateField("id", &Fortune::id),
//                         tornado::TemplateField("message", &Fortune::message)};
//   }
//
//   tornado::TemplateNamespace page;
//   page.set("fortunes", tornado::TemplateValue::rows(std::move(fortunes)));
//   render("fortunes.html", tornado::JSON::object(), page);
//
// A field is a bool, an integer, a double or a std::string. In a template
// a row is an object of type "Row"; json_encode() of one is a dict of its
// fields.

// A field's value where the row holds it (TemplateField::read()): an
// integer widened to 64 bits, a string viewed, copied only where a
// template keeps it.
using FieldValue = std::variant<bool, std::int64_t, double, std::string_view>;

// The rows of a TemplateValue::rows() list, whatever their struct: what a
// template reads of them. rows() makes one, a RowListOf the struct, which
// the values of the list and of its rows share.
class RowList {
public:
    virtual ~RowList() = default;
    virtual std::size_t size() const = 0;
    // Field `name` of row `index`, or nothing when the struct has no such field.
    virtual std::optional<FieldValue> field(std::size_t index, std::string_view name) const = 0;
    // The fields' names, in the order template_fields() lists them.
    virtual std::vector<std::string_view> field_names() const = 0;
};

// One field of struct `Row` that a template may read: its name and the member.
template <typename Row>
class TemplateField {
public:
    template <typename T>
    constexpr TemplateField(std::string_view name, T Row::*member) : name_(name), member_(member) {
        static_assert(std::is_same_v<T, bool> || std::is_same_v<T, int> ||
                          std::is_same_v<T, long> || std::is_same_v<T, long long> ||
                          std::is_same_v<T, double> || std::is_same_v<T, std::string>,
                      "a template field is a bool, int, long, long long, double or std::string");
    }

    constexpr std::string_view name() const { return name_; }
    // The field of `row`: an integer widened to 64 bits, a string viewed.
    FieldValue read(const Row& row) const {
        return std::visit(
            [&row](auto member) -> FieldValue {
                const auto& value = row.*member;
                using T = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, double>) {
                    return value;
                } else if constexpr (std::is_integral_v<T>) {
                    return static_cast<std::int64_t>(value);
                } else {
                    return std::string_view(value);
                }
            },
            member_);
    }

private:
    std::string_view name_;
    std::variant<bool Row::*, int Row::*, long Row::*, long long Row::*, double Row::*,
                 std::string Row::*>
        member_;
};

template <typename Row, typename T>
TemplateField(std::string_view, T Row::*) -> TemplateField<Row>;

// The rows of one struct, kept in the vector they came in; the struct's
// template_fields() names what a template may read (a struct without one
// does not compile here).
template <typename Row>
class RowListOf final : public RowList {
public:
    explicit RowListOf(std::vector<Row> rows) : rows_(std::move(rows)) {}

    std::size_t size() const override { return rows_.size(); }
    // A struct has a handful of fields: a linear search by name is enough.
    std::optional<FieldValue> field(std::size_t index, std::string_view name) const override {
        for (const TemplateField<Row>& field : kFields) {
            if (field.name() == name) return field.read(rows_[index]);
        }
        return std::nullopt;
    }
    std::vector<std::string_view> field_names() const override {
        std::vector<std::string_view> names;
        for (const TemplateField<Row>& field : kFields) names.push_back(field.name());
        return names;
    }

private:
    static constexpr auto kFields = template_fields(static_cast<const Row*>(nullptr));
    std::vector<Row> rows_;
};

// The arguments of a call from a template: for f(1, 2, key="x"),
// `positional` holds 1 and 2 and `keyword` the pair ("key", "x"), keyword
// arguments in the order written (a name given twice is a ParseError).
struct TemplateArguments {
    std::vector<TemplateValue> positional;
    std::vector<std::pair<std::string, TemplateValue>> keyword;

    // The keyword argument `name`, or nullptr.
    const TemplateValue* find_keyword(std::string_view name) const;
};

// A C++ function a template can call. What it throws reaches the template
// as a Python exception a {% try %} can catch: std::invalid_argument as a
// ValueError, std::out_of_range as an IndexError, std::overflow_error as an
// OverflowError, any other std::exception as an Exception. A TemplateError
// (from a template the function renders) goes on as it is, naming its own
// file and line.
using TemplateFunction = std::function<TemplateValue(const TemplateArguments&)>;

// The attributes of a C++ object a template reads (Tornado hands templates
// Python objects: `handler`, `request`): the value of attribute `name`, or
// nothing for Python's AttributeError. Called at each `object.name`.
using TemplateAttributes = std::function<std::optional<TemplateValue>(std::string_view name)>;

// A value in a template: one of Python's built-in types.
class TemplateValue {
public:
    // Python's type: floating is float, string str; function is a C++
    // callable (TemplateFunction), object a C++ object (TemplateAttributes).
    enum class Type {
        none,
        boolean,
        integer,
        floating,
        string,
        list,
        tuple,
        dict,
        function,
        object
    };

    TemplateValue() = default;  // None
    TemplateValue(std::nullptr_t) {}
    TemplateValue(bool value) : data_(value), type_(Type::boolean) {}
    TemplateValue(int value) : data_(std::int64_t{value}), type_(Type::integer) {}
    TemplateValue(long value) : data_(std::int64_t{value}), type_(Type::integer) {}
    TemplateValue(long long value) : data_(std::int64_t{value}), type_(Type::integer) {}
    TemplateValue(double value) : data_(value), type_(Type::floating) {}
    TemplateValue(std::string value) : data_(std::move(value)), type_(Type::string) {}
    TemplateValue(std::string_view value) : data_(std::string(value)), type_(Type::string) {}
    TemplateValue(const char* value) : data_(std::string(value)), type_(Type::string) {}
    // A copy of `value`; null, booleans, numbers and strings become the
    // matching Python type, arrays lists and objects dicts.
    TemplateValue(const JSON& value);
    TemplateValue(JSON&& value);

    // Refers to `value` without copying it. `value` must outlive every use
    // of the result (generate() borrows its arguments this way).
    static TemplateValue borrow(const JSON& value);
    // A part of a JSON value this one holds, sharing its ownership.
    static TemplateValue element_of(const std::shared_ptr<const JSON>& owner, const JSON& element);
    // A function value; `name` is what repr() (`<built-in function name>`)
    // and error messages show.
    static TemplateValue function(std::string name, TemplateFunction function);
    // A tuple of `items`. Lists and tuples nested more than 1000 deep throw
    // Python's RecursionError (see the top of this file).
    static TemplateValue tuple(std::vector<TemplateValue> items);
    // The same, as a list.
    static TemplateValue list(std::vector<TemplateValue> items);
    // An object of C++ type `type_name` whose attributes `attributes` gives
    // (`attributes` must stay valid as long as the value is used). A
    // function attribute "__getitem__" makes object[key] work.
    static TemplateValue object(std::string type_name, TemplateAttributes attributes);
    // A list of `rows`, each an object whose fields a template reads by
    // name from the struct itself (see "rows of a C++ struct" above).
    template <typename Row>
    static TemplateValue rows(std::vector<Row> rows) {
        return from_rows(std::make_shared<const RowListOf<Row>>(std::move(rows)));
    }

    Type type() const { return type_; }
    bool is_none() const { return type_ == Type::none; }
    bool is_string() const { return type_ == Type::string; }
    // An int or a float; not a bool, though Python's bool is an int.
    bool is_number() const { return type_ == Type::integer || type_ == Type::floating; }
    // A list or a tuple (not a str or a dict).
    bool is_sequence() const { return type_ == Type::list || type_ == Type::tuple; }
    // Python's type name: "NoneType", "bool", "int", "str", "list", ...
    std::string_view type_name() const;

    // Python's bool(value): false for None, False, 0, 0.0, "", [], (), {}.
    bool truthy() const;
    // The value as a C++ integer: an int, or a bool as 0 or 1. Any other
    // type throws Python's TypeError: a std::exception of no standard
    // subclass, whose what() starts with "TypeError: ". Let out of a
    // TemplateFunction, it reaches the template as that TypeError.
    std::int64_t as_integer() const;
    // The value as a double: a float, or an int or bool converted; a
    // TypeError, as as_integer(), for any other type.
    double as_float() const;
    // A str's UTF-8, valid as long as this value (or a copy of it) lives; a
    // TypeError, as as_integer(), for any other type.
    std::string_view as_string() const;
    // The number of items of a list or tuple, or of keys of a dict.
    std::size_t length() const;
    // A list's or tuple's item (index < length()), sharing the list.
    TemplateValue item(std::size_t index) const;
    // Every item of a list or tuple, in order.
    std::vector<TemplateValue> items() const;
    // A dict's JSON object.
    const JSON& as_json() const;
    // The JSON node a value read from JSON data stands for (a string, list
    // or dict of generate()'s arguments, or a part of one), or nullptr for
    // numbers and for values a template made. It lives as long as the value.
    const JSON* json_node() const;
    // The value as JSON (a function cannot be: std::invalid_argument).
    JSON to_json() const;
    // Calls a function value.
    TemplateValue call(const TemplateArguments& arguments) const;
    // A function value's name (function()'s `name`); std::bad_variant_access
    // for a value of any other type.
    const std::string& function_name() const;
    // An object value's attribute (a row's field), or nothing.
    std::optional<TemplateValue> attribute(std::string_view name) const;
    // A row's field (is_row()) where the row holds it, or nothing: for any
    // other value, and for a name the row's struct does not have.
    std::optional<FieldValue> row_field(std::string_view name) const;
    // Whether this is one of the rows of a rows() list.
    bool is_row() const { return std::holds_alternative<ListRow>(data_); }
    // Whether both are the same list, tuple, dict, function or object
    // (Python's `is`).
    bool is_same(const TemplateValue& other) const;

    // Python's str(): a str's text as it is, any other value as its repr().
    std::string str() const;
    // Python's repr(): a str in quotes, [1, 2], (1,) for a one-item tuple,
    // None, True, <built-in function f>; an object's is <T object>, T its
    // type name, without Python's address; a dict's keys come in sorted order.
    std::string repr() const;
    // str(), appended to `out`.
    void append_str(std::string& out) const;
    // repr(), appended to `out`.
    void append_repr(std::string& out) const;

    // Makes this value `element` of `owner`, in place, when it already
    // holds a string, list or dict of JSON data and `element` is one of the
    // same type; false (and unchanged) otherwise. A loop's variable is
    // pointed at each item this way (compiled::Local::set_element()).
    bool point_to(const std::shared_ptr<const JSON>& owner, const JSON& element);
    // Makes this value row `index` of the rows() list `rows`, in place, when
    // it already holds a row of that same list; false (and unchanged)
    // otherwise. A loop's variable over rows moves this way
    // (compiled::Local::set_item()).
    bool point_to_row(const TemplateValue& rows, std::size_t index);

    // A dict's JSON, or a list's that came in as JSON, shared: its values
    // are read with element_of(shared_json(), ...) and keep the whole alive.
    const std::shared_ptr<const JSON>& shared_json() const;

private:
    struct Function {
        std::string name;
        TemplateFunction call;
    };
    struct Object {
        std::string type_name;
        TemplateAttributes attributes;
    };
    // A list or tuple made by a template (a literal, enumerate(), a
    // slice): its items are shared, never copied into JSON.
    struct Items {
        std::vector<TemplateValue> values;
        int depth;  // 1 + the deepest list or tuple among the values
    };
    // One row of a rows() list: the list, shared, and the row's place in it.
    struct ListRow {
        std::shared_ptr<const RowList> list;
        std::size_t index;
    };
    // A string field of a row, read where the row holds it: a page writes
    // row.message without a copy of it.
    struct RowText {
        std::shared_ptr<const RowList> list;
        std::string_view text;
    };
    // A list that came in as JSON stays a JSON array, and its items are
    // read from it in place: generate()'s data is never copied. A rows()
    // list is a RowList, read in place too.
    using Data = std::variant<std::monostate, bool, std::int64_t, double, std::string,
                              std::shared_ptr<const JSON>, std::shared_ptr<const Items>,
                              std::shared_ptr<const Function>, std::shared_ptr<const Object>,
                              std::shared_ptr<const RowList>, ListRow, RowText>;
    static TemplateValue from_rows(std::shared_ptr<const RowList> rows);
    const RowList* row_list() const;  // a rows() list's, or nullptr
    JSON row_to_json() const;
    static TemplateValue from_json_node(std::shared_ptr<const JSON> node);
    // A string, list or dict read from JSON (from_json_node()), made in
    // place: a loop makes one for each item it walks.
    TemplateValue(Type type, std::shared_ptr<const JSON>&& node)
        : data_(std::move(node)), type_(type) {}
    static TemplateValue from_items(std::vector<TemplateValue> items, Type type);
    // to_json(), making at most `budget` more JSON values: a list that
    // holds the same list twice at each level would expand to 2**depth.
    JSON to_json(std::int64_t& budget) const;
    const JSON* json_array() const;  // a list that is a JSON array, or nullptr
    // A list's or tuple's items when a template made it, or nullptr.
    const std::vector<TemplateValue>* native_items() const;
    int depth() const;  // how deep lists and tuples a template made nest here

    Data data_;
    // Kept beside the data: type() runs for nearly every operation, and a
    // JSON node would have to be asked what it holds each time.
    Type type_ = Type::none;
};

// The value a lazy namespace gives `name`, or nothing (TemplateNamespace::
// set_lookup()).
using TemplateLookup = std::function<std::optional<TemplateValue>(std::string_view name)>;

// Names a template can use besides the arguments of generate(): a
// loader's namespace, or the one RequestHandler::render() adds.
class TemplateNamespace {
public:
    TemplateNamespace() = default;
    // Binds `name`, replacing what it held.
    void set(std::string name, TemplateValue value);
    // set(name, TemplateValue::function(name, function)).
    void set_function(std::string name, TemplateFunction function);
    // Names made only when a template first reads them: `lookup` answers
    // a name that no set() bound, and its answer is kept for the next
    // find(). For names that cost more to make than a page reads:
    // RequestHandler's namespace has a dozen, and a page reads one or two,
    // if any. A name set() binds wins over the lookup's. Copies of this
    // namespace share the lookup and what it made.
    void set_lookup(TemplateLookup lookup);
    // The value of `name` in this namespace alone, or nullptr. The pointer
    // stays valid while the namespace lives; a later set() of the same name
    // changes the value it points to.
    const TemplateValue* find(std::string_view name) const;
    // Adds every name of `other`, replacing those this one has; other's
    // lookup is asked before this one's.
    void update(const TemplateNamespace& other);

private:
    struct Lazy;  // a lookup and the values it made
    std::map<std::string, TemplateValue, std::less<>> values_;
    std::shared_ptr<Lazy> lazy_;
};

// A template that cannot be parsed: its name and line are in what(), as
// Tornado's "message at name:line".
class ParseError : public std::runtime_error {
public:
    ParseError(std::string message, std::string filename = "<unknown>", int lineno = 0);
    // what() without its " at name:line".
    const std::string& message() const { return message_; }
    // The template's name; `"<unknown>"` for an error that belongs to no file
    // ({% extends %} in a template that has no loader).
    const std::string& filename() const { return filename_; }
    // The line, counted from 1; 0 for an error that belongs to no line.
    int lineno() const { return lineno_; }

private:
    std::string message_;
    std::string filename_;
    int lineno_;
};

// An error while generating: what() is "KeyError: 'x' at page.html:3".
// python_type() is the exception Python would have raised, message() its
// text (Python's str() of it); cause() what a C++ function the template
// called threw, if the error comes from one (render() lets an HTTPError
// from get_argument answer its own status this way).
class TemplateError : public std::runtime_error {
public:
    TemplateError(std::string python_type, std::string message, std::string filename, int lineno,
                  std::exception_ptr cause = nullptr);
    const std::string& python_type() const { return python_type_; }
    const std::string& message() const { return message_; }
    // The file whose code failed: an included or extended template's own
    // name when the error is in it.
    const std::string& filename() const { return filename_; }
    // The line of that code, counted from 1.
    int lineno() const { return lineno_; }
    const std::exception_ptr& cause() const { return cause_; }

private:
    std::string python_type_;
    std::string message_;
    std::string filename_;
    int lineno_;
    std::exception_ptr cause_;
};

// Applies a whitespace mode to text, as Tornado's filter_whitespace():
// "all" keeps it; "single" turns each run of spaces and tabs into one space
// and each run of whitespace holding a newline into one newline; "oneline"
// turns every run of whitespace into one space. Another mode is an
// std::invalid_argument.
std::string filter_whitespace(std::string_view mode, std::string_view text);

class BaseLoader;
struct CompiledTemplates;
namespace compiled {
class Page;
}
namespace template_detail {
struct Node;
struct Include;
struct ParsedFile;
struct Program;
using Body = std::vector<std::unique_ptr<const Node>>;
}  // namespace template_detail

// How a Template is made (Template::Options).
struct TemplateOptions {
    // Resolves {% extends %} and {% include %}; nullptr: the template
    // may not use them.
    const BaseLoader* loader = nullptr;
    // The name of the namespace function that escapes {{ }} output, ""
    // for none. Unset: the loader's, or "xhtml_escape".
    std::optional<std::string> autoescape = std::nullopt;
    // "all", "single" or "oneline". Unset: the loader's, or "single"
    // for a name ending in .html or .js and "all" for the rest.
    std::optional<std::string> whitespace = std::nullopt;
    // Whether generate() may run the compiled twin of this template
    // (tornado/template_compiled.h) when one was built from the same sources.
    bool compiled = true;
};

// A parsed template, ready to generate pages (Tornado's Template). It keeps
// the templates it extends and includes; one made by a loader points at it
// (see Lifetime at the top of this file).
class Template {
public:
    using Options = TemplateOptions;

    // Parses `source` (throws ParseError), and loads the templates it
    // extends and includes through the loader.
    explicit Template(std::string_view source, std::string name = "<string>", Options options = {});
    ~Template();
    Template(const Template&) = delete;
    Template& operator=(const Template&) = delete;

    // The page, for these arguments (a JSON object: name -> value) and
    // extra names (functions, or values that are not JSON). Throws
    // TemplateError.
    std::string generate(const JSON& arguments = JSON::object(),
                         const TemplateNamespace& extra = {}) const;

    // The name given when it was made: `"<string>"` unless given, a loader's
    // resolved name for a template it made. Errors name it, and a compiled
    // twin is found by it.
    const std::string& name() const { return name_; }
    // The escaping function's name for {{ }} in this file ("" for none).
    const std::string& autoescape() const;

    // Whether generate() runs a function compiled into the program
    // (tornado/template_compiled.h) rather than the interpreter.
    bool is_compiled() const { return compiled_ != nullptr; }
    // A hash of every source this template is made from: its file, the files
    // it extends and includes, and the options they were parsed with. A
    // compiled twin is used only when its hash is the same.
    std::uint64_t source_hash() const { return source_hash_; }

private:
    friend CompiledTemplates compile_templates(const BaseLoader& loader,
                                               const std::vector<std::string>& names,
                                               const std::string& prefix);
    // The C++ of this template's compiled twin, in `namespace_name`
    // (template_compiled.h); throws template_detail::NotCompilable.
    std::string emit_cpp(const std::string& namespace_name) const;
    std::uint64_t hash_sources() const;
    friend struct template_detail::Include;
    void collect_blocks(const template_detail::ParsedFile& file);
    void resolve_includes(const template_detail::Body& body);
    void collect_locals(const template_detail::Body& body,
                        std::set<std::string, std::less<>>& names);
    std::shared_ptr<const Template> load_include(const template_detail::Include& include) const;

    std::string name_;
    const BaseLoader* loader_;
    std::shared_ptr<template_detail::ParsedFile> file_;
    std::unique_ptr<template_detail::Program> program_;
    std::uint64_t source_hash_ = 0;
    void (*compiled_)(compiled::Page&) = nullptr;
    mutable std::atomic<std::size_t> last_size_{0};  // of the last page, to reserve the next
};

// Finds templates by name and keeps each once parsed. Tornado's BaseLoader.
class BaseLoader {
public:
    struct Options {
        // The escaping function's name for {{ }}, "" for none.
        std::string autoescape = "xhtml_escape";
        // Names every template of this loader can use.
        TemplateNamespace namespace_ = {};
        // The whitespace mode for every template; unset: by file name.
        std::optional<std::string> whitespace = std::nullopt;
        // Whether templates run their compiled twins (tornado/template_compiled.h).
        bool compiled = true;
    };

    explicit BaseLoader(Options options);
    virtual ~BaseLoader() = default;
    BaseLoader(const BaseLoader&) = delete;
    BaseLoader& operator=(const BaseLoader&) = delete;

    // The template called `name` (relative to the template named
    // `parent_path`, if any), parsed on first use and kept.
    std::shared_ptr<const Template> load(const std::string& name,
                                         const std::string& parent_path = "") const;
    // Forgets every parsed template: the next load() reads them again.
    void reset();

    // The Options given to the constructor, one by one.
    const std::string& autoescape() const { return options_.autoescape; }
    const TemplateNamespace& namespace_() const { return options_.namespace_; }
    const std::optional<std::string>& whitespace() const { return options_.whitespace; }
    bool compiled() const { return options_.compiled; }

    // A name made relative to its parent, as the loader stores it.
    virtual std::string resolve_path(const std::string& name,
                                     const std::string& parent_path = "") const = 0;

protected:
    // Parses the template with this (resolved) name; throws if it has none.
    virtual std::shared_ptr<const Template> create_template(const std::string& name) const = 0;

private:
    Options options_;
    // Recursive: loading a template loads those it extends and includes.
    mutable std::recursive_mutex mutex_;
    mutable std::map<std::string, std::shared_ptr<const Template>> templates_;
    mutable std::set<std::string> loading_;  // being made now: a cycle if asked again
};

// Templates in files under one directory. A name that leads outside it is
// refused (std::invalid_argument); a missing file is a std::runtime_error
// naming it.
class Loader : public BaseLoader {
public:
    explicit Loader(std::string root_directory, Options options = {});
    std::string resolve_path(const std::string& name,
                             const std::string& parent_path = "") const override;
    // The directory as an absolute, normalised path without a trailing slash
    // ("templates/" run from /srv gives "/srv/templates"; "/" stays "/").
    const std::string& root() const { return root_; }

protected:
    std::shared_ptr<const Template> create_template(const std::string& name) const override;

private:
    std::string root_;
};

// Templates from a map of name -> source, as Tornado's DictLoader.
class DictLoader : public BaseLoader {
public:
    explicit DictLoader(std::map<std::string, std::string> templates, Options options = {});
    std::string resolve_path(const std::string& name,
                             const std::string& parent_path = "") const override;

protected:
    std::shared_ptr<const Template> create_template(const std::string& name) const override;

private:
    std::map<std::string, std::string> sources_;
};

}  // namespace tornado
