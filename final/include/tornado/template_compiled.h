// tornado/template_compiled.h: templates compiled ahead of time into C++.
//
// Tornado turns each template into the source of a Python function and
// lets Python compile it. The engine here interprets a tree of nodes
// instead (tornado/template.h), which is about ten times faster than
// Tornado; compiling a folder of templates into C++ when the program is
// built is faster again, because nothing is walked or dispatched while a
// page renders. It is an addition, never a requirement:
//
//   # CMakeLists.txt: compiles every template under templates/ into the program
//   tornado_compile_templates(my_server ${CMAKE_CURRENT_SOURCE_DIR}/templates)
//
//   // unchanged C++: the Loader finds the compiled twin of page.html
//   tornado::Loader loader("templates");
//   std::string html = loader.load("page.html")->generate(arguments);
//
// The build runs build/bin/final_template_compile, which loads every file of
// the folder with a Loader (so extends and includes resolve as they will at
// run time), writes one C++ function per template, and registers each under
// its name and a hash of every source it was made from (the file, the files
// it extends and includes, and the loader's autoescape and whitespace). A
// Template made at run time asks for that name and hash: when the sources
// are the same bytes it runs the compiled function, and when a file has
// changed since the build (debug's reloading, an edit on a server) it
// interprets the new source. The page is the same either way, byte for
// byte; tests/final/template_test.cpp renders every case of the oracle
// corpus both ways (TemplateOracle, CompiledTemplateOracle).
//
// What the compiler does not handle yet, it leaves to the interpreter, for
// the whole template: {% try %}, {% apply %}, and a program that assigns
// the name of its own escaping function. final_template_compile lists each
// template it left, and why; Template::is_compiled() says which ran.
//
// The rest of this header is the runtime the generated code calls: a Page
// (the output, the names, where an error happened) and the operations,
// which are the interpreter's own. Nothing here is meant to be called by
// hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/escape.h"
#include "tornado/template.h"

namespace tornado {

namespace template_detail {
class Scope;

// ---- the operations both engines run (template_operations.cpp) -------------
// What Python's operators, item and attribute access, methods and calls do
// to TemplateValues: the interpreter's nodes call them, and so does the C++
// a template compiles to (through the using-declarations in `compiled`
// below). Errors are PythonErrors with Python's own type and message, so
// that {% try %} / {% except KeyError %} and the error a user reads match
// Tornado's.

// a + b, a - b, a * b, a / b, a // b, a % b, a ** b, a << b, a >> b, a & b,
// a | b, a ^ b; `op` is the operator's text.
TemplateValue binary(std::string_view op, const TemplateValue& left, const TemplateValue& right);
// -a, +a, ~a
TemplateValue unary(char op, const TemplateValue& operand);
// a < b, a <= b, a > b, a >= b, a == b, a != b, a in b, a not in b,
// a is b, a is not b.
bool compare(std::string_view op, const TemplateValue& left, const TemplateValue& right);
// container[key]: a list's or tuple's item (negative counts from the end),
// a dict's value, a string's character.
TemplateValue get_item(const TemplateValue& container, const TemplateValue& key);
// container[start:stop:step] for lists, tuples and strings.
TemplateValue get_slice(const TemplateValue& container, const TemplateValue& start,
                        const TemplateValue& stop, const TemplateValue& step);
// object.name: a dict's key (standing in for a Python object's attribute).
TemplateValue get_attribute(const TemplateValue& object, std::string_view name);
// str(object.name) appended to `out`, as get_attribute(object, name) and
// then append_str() would: a row's field is appended from where the row
// holds it, with no value made ({{ fortune.message }} in a loop over rows).
void append_attribute(std::string& out, const TemplateValue& object, std::string_view name);
// The error object.name(...) raises when `object` has no such method:
// Python looks a method up before it evaluates the arguments, so
// "abc".nosuch(1 / 0) is an AttributeError. Nothing if it has one.
void check_method(const TemplateValue& object, std::string_view name);
// object.name(arguments): the methods of str, list, tuple and dict that
// templates use; for a dict without such a method, its key's function.
TemplateValue call_method(const TemplateValue& object, std::string_view name,
                          const TemplateArguments& arguments);
// function(arguments), for every call the engine makes to a function value
// (a template's call, an escape or apply function, a sort key): what a C++
// function throws becomes the Python exception tornado/template.h promises
// (std::invalid_argument a ValueError, ...).
TemplateValue call_function(const TemplateValue& function, const TemplateArguments& arguments);
// separator.join(parts), appended to `out`.
void append_join(std::string& out, std::string_view separator, const TemplateValue& parts);

}  // namespace template_detail

// What compiling a set of templates gave: `cpp`, the C++ source of one file
// (linked into a program, it registers its functions before main());
// `compiled`, the names of the templates it holds; `interpreted`, each
// template left to the interpreter, as (name, the reason).
struct CompiledTemplates {
    std::string cpp;
    std::vector<std::string> compiled;
    std::vector<std::pair<std::string, std::string>> interpreted;
};

// Compiles the templates `names` of `loader` into one C++ file, each in a
// namespace named `prefix` and a number. A template that does not parse is
// the ParseError; one the compiler cannot handle is listed in `interpreted`.
// Files made with different prefixes can be pasted into one.
CompiledTemplates compile_templates(const BaseLoader& loader, const std::vector<std::string>& names,
                                    const std::string& prefix = "template_");

namespace compiled {

// A name interned as the interpreter's parser interns it, so a compiled page
// and an interpreted one find a name the same way.
class Name {
public:
    explicit Name(std::string_view text);
    // The interned text, which lives as long as the program.
    const std::string& text() const { return *text_; }
    // The same pointer for every Name of the same text: names compare by it.
    const std::string* id() const { return text_; }

private:
    const std::string* text_;
};

// A variable the template assigns ({% set %}, {% for %}): Python's local,
// which is an UnboundLocalError when read before it is set.
class Local {
public:
    explicit Local(const Name& name) : name_(&name) {}
    // The value set last; an UnboundLocalError while nothing is set.
    const TemplateValue& get() const {
        if (!value_) unbound();
        return *value_;
    }
    void set(TemplateValue value) { value_ = std::move(value); }
    // A loop's variable, at each turn: `element` of the JSON `owner` holds.
    // The value already there is pointed at it when it is of the same type
    // (TemplateValue::point_to()), rather than made again.
    void set_element(const std::shared_ptr<const JSON>& owner, const JSON& element) {
        if (!value_ || !value_->point_to(owner, element)) {
            value_ = TemplateValue::element_of(owner, element);
        }
    }
    // The same for item `index` of a list or tuple: a row of a rows() list
    // already here is moved to that row (TemplateValue::point_to_row()).
    void set_item(const TemplateValue& sequence, std::size_t index) {
        if (!value_ || !value_->point_to_row(sequence, index)) value_ = sequence.item(index);
    }

private:
    [[noreturn]] void unbound() const;
    const Name* name_;
    std::optional<TemplateValue> value_;
};

// One generate() of a compiled template.
class Page {
public:
    Page(std::string& out, template_detail::Scope& scope) : out_(&out), scope_(&scope) {}

    // Literal text.
    void text(std::string_view text) { out_->append(text.data(), text.size()); }
    // Where the code that runs next comes from: an error names it.
    void at(const char* file, int line) {
        file_ = file;
        line_ = line;
    }
    // What at() recorded last ("" and 0 before it): where a TemplateError
    // says the error happened.
    const char* file() const { return file_; }
    // The line at() recorded last.
    int line() const { return line_; }

    // A name the template reads but never assigns: generate()'s argument,
    // a namespace's, or a builtin; a NameError if none. Looked up once per
    // page, as the interpreter does.
    const TemplateValue& global(const Name& name);

    // {{ }}'s text, escaped by the function `escape` names (the holding
    // file's autoescape), or as it is. The builtin xhtml_escape, once found
    // for this name, is called inline.
    void write(std::string_view text, const Name& escape) {
        if (escapes_by_default(escape)) {
            append_xhtml_escape(*out_, text);
            return;
        }
        write_escaped(text, escape);
    }
    // The same for text the compiler knows holds no character xhtml_escape
    // changes (Expression::writes_no_markup()): with the builtin escape it is
    // written as it is; another escape function is still called.
    void write_no_markup(std::string_view text, const Name& escape);
    // {{ }}'s text not to escape ({% raw %}, or a file without autoescape).
    void write_raw(std::string_view text) { out_->append(text); }
    // {{ }} of a part of the data (`json`, nullptr if it is none): a string
    // or an integer is written from where it lies. False when `json` is
    // something else; the caller then writes str() of the value.
    bool write_json(const JSON* json, const Name* escape) {
        if (json != nullptr && json->is_string() && escape != nullptr &&
            escapes_by_default(*escape)) {
            append_xhtml_escape(*out_, json->get_ref<const std::string&>());
            return true;
        }
        return write_any_json(json, escape);
    }
    // The buffer one {{ }}'s text is made in before it is escaped: a value
    // that fails half way writes nothing, as in Tornado.
    std::string& scratch() { return scratch_; }

private:
    void find_escape(const Name& escape);
    bool escapes_by_default(const Name& escape) const {
        return escape.id() == escape_name_ && escape_is_default_;
    }
    void write_escaped(std::string_view text, const Name& escape);
    bool write_any_json(const JSON* json, const Name* escape);

    std::string* out_;
    template_detail::Scope* scope_;
    const char* file_ = "";
    int line_ = 0;
    std::string scratch_;
    // The escaping function, found once (see write()).
    const std::string* escape_name_ = nullptr;
    const TemplateValue* escape_ = nullptr;
    bool escape_is_default_ = false;
};

// The compiled function of one template.
using RenderFunction = void (*)(Page&);

// Makes `render` the compiled twin of the template `name` whose sources hash
// to `hash` (Template::source_hash()). Generated code calls it from a static
// object, before main().
void register_template(std::string_view name, std::uint64_t hash, RenderFunction render);
// The function registered for this name and hash, or nullptr.
RenderFunction find_template(const std::string& name, std::uint64_t hash);

// ---- the operations, the interpreter's own ----------------------------------

using template_detail::append_attribute;
using template_detail::append_join;
using template_detail::binary;
using template_detail::call_function;
using template_detail::call_method;
using template_detail::check_method;
using template_detail::compare;
using template_detail::get_attribute;
using template_detail::get_item;
using template_detail::get_slice;
using template_detail::unary;

// left op right for a one-character operator and a literal on the right:
// two ints are added, subtracted, multiplied or taken modulo a positive
// number here ({{ i % 2 }}, {{ n + 1 }}); other types, an overflow, and
// other divisors go to binary(), which raises what Python would.
inline TemplateValue arithmetic(char op, const TemplateValue& left, const TemplateValue& right) {
    using Type = TemplateValue::Type;
    if (left.type() == Type::integer && right.type() == Type::integer) {
        std::int64_t a = left.as_integer();
        std::int64_t b = right.as_integer();
        std::int64_t result = 0;
        switch (op) {
            case '+':
                if (!__builtin_add_overflow(a, b, &result)) return result;
                break;
            case '-':
                if (!__builtin_sub_overflow(a, b, &result)) return result;
                break;
            case '*':
                if (!__builtin_mul_overflow(a, b, &result)) return result;
                break;
            case '%':
                // Python's sign is the divisor's: -7 % 2 is 1.
                if (b > 0) return a % b < 0 ? a % b + b : a % b;
                break;
            default: break;
        }
    }
    return binary(std::string_view(&op, 1), left, right);
}
// "format" % values where the format is a literal of the template, read
// once: a constant of the generated code, a node of the interpreter. A
// format of one plain field (`"%.2f"`, `"%d items"`), given one value, is
// written without reading the format again; any other format, or a tuple
// or dict of values, is read at each call as the interpreter's Binary
// reads a format it meets at run time, so the text and the errors are the
// same either way.
class PercentFormat {
public:
    explicit PercentFormat(std::string_view format);
    PercentFormat(const PercentFormat&) = delete;
    PercentFormat& operator=(const PercentFormat&) = delete;
    ~PercentFormat();
    const std::string& format() const { return format_; }
    // Whether the text can never hold a character xhtml_escape changes: one
    // field of a number type (`"%d"`, `"%.2f"`, `"%x"`) in literal text without
    // one. Its digits, sign, point, padding, "inf" and "nan" need none.
    bool writes_no_markup() const;
    // format % values, appended to `out`; what Python raises for a format
    // and values that do not fit (a TypeError, a ValueError...).
    void append(std::string& out, const TemplateValue& values) const;
    // The same, as a new str.
    TemplateValue apply(const TemplateValue& values) const;

private:
    struct OneField;
    std::string format_;
    std::unique_ptr<const OneField> one_field_;  // nullptr: not that shape
};
// Python's bool() of a part of the data, without making a value of it.
bool truthy(const JSON& json);
// A dict's value for `key` in JSON data (nullptr: not a dict, or no such key).
const JSON* member(const JSON* object, std::string_view key);
// The part of the data `json` points at (never nullptr), borrowed rather
// than shared, for a use that ends before the template goes on (formatting
// it, joining it): evaluate_briefly in the interpreter.
inline TemplateValue briefly(const JSON* json) { return TemplateValue::borrow(*json); }
// {k: v, ...}: a new dict, its keys checked as they come (a TypeError for a
// key that is not a str).
void check_dict_key(const TemplateValue& key);
// dict[key] = value, for a key check_dict_key() passed; a value JSON cannot
// hold (a function, an object) is a TypeError, and a tuple becomes a list.
void put(JSON& dict, const TemplateValue& key, const TemplateValue& value);
// The finished dict as a value; nested more than 1000 deep, a RecursionError.
TemplateValue make_dict(JSON dict);
// Unpacks `value` into exactly `count` values (a ValueError otherwise).
std::vector<TemplateValue> unpack(const TemplateValue& value, std::size_t count);
// The builtin enumerate, to tell it from a name a template rebinds.
const TemplateValue& builtin_enumerate();
// The values a {% for %} walks: a list's or tuple's items, read in place (a
// template never changes a list), or what iterate() gives for anything
// else (a string's characters, a dict's keys), made once, up front.
// `value` must outlive the Iteration. The interpreter's loops use it too.
class Iteration {
public:
    explicit Iteration(const TemplateValue& value);
    // The number of values, counted once, when made.
    std::size_t size() const { return size_; }
    TemplateValue operator[](std::size_t index) const {
        if (array_ != nullptr) return TemplateValue::element_of(*owner_, (*array_)[index]);
        return value_.is_sequence() ? value_.item(index) : iterated_[index];
    }
    // local = (*this)[index], for {% for local in ... %}.
    void assign(std::size_t index, Local& local) const {
        if (array_ != nullptr) {
            local.set_element(*owner_, (*array_)[index]);
        } else if (value_.is_sequence()) {
            local.set_item(value_, index);
        } else {
            local.set(iterated_[index]);
        }
    }

private:
    const TemplateValue& value_;
    const JSON* array_;                         // the list's JSON array, or nullptr
    const std::shared_ptr<const JSON>* owner_;  // the array's owner, when array_ is set
    std::vector<TemplateValue> iterated_;
    std::size_t size_ = 0;  // found once: size() is asked at every turn of a loop
};
// {% extends %} reached in an included template: Tornado's NotImplementedError.
[[noreturn]] void extends_not_at_top_level(const Page& page);

}  // namespace compiled
}  // namespace tornado
