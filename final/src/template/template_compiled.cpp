// template_compiled.cpp: the runtime of templates compiled into C++ (see
// tornado/template_compiled.h). The code that writes them is the
// interpreter's own nodes, in template.cpp and template_expression.cpp: each
// node's walk is run by the interpreter and written as C++ by the compiler.
// The interpreter writes {{ }} through a Page too.
#include "tornado/template_compiled.h"

#include <charconv>
#include <map>
#include <mutex>
#include <utility>

#include "template/template_expression.h"
#include "template/template_operations.h"

namespace tornado::compiled {

using template_detail::PythonError;
using template_detail::Symbol;

Name::Name(std::string_view text) : text_(&Symbol(text).name()) {}

// Scope::find()'s message, so both engines say the same.
void Local::unbound() const {
    throw PythonError("UnboundLocalError", "cannot access local variable '" + name_->text() +
                                               "' where it is not associated with a value");
}

const TemplateValue& Page::global(const Name& name) {
    return *scope_->find(Symbol::from_interned(name.id()));
}

// The escaping function is found once per page (a program that assigns its
// name is compiled by nobody, and interpreted by template.cpp's Execute
// without the page's help), and the builtin xhtml_escape is done inline.
void Page::find_escape(const Name& escape) {
    if (escape_name_ == escape.id()) return;
    static const TemplateValue& builtin_escape =
        *template_detail::tornado_namespace().find("xhtml_escape");
    escape_ = &global(escape);
    escape_name_ = escape.id();
    escape_is_default_ = escape_->is_same(builtin_escape);
}

// write()'s other cases: the function not found yet, or not the builtin.
void Page::write_escaped(std::string_view text, const Name& escape) {
    find_escape(escape);
    if (escape_is_default_) {
        append_xhtml_escape(*out_, text);
        return;
    }
    template_detail::append_function_text(*out_, *escape_, TemplateValue(text));
}

void Page::write_no_markup(std::string_view text, const Name& escape) {
    find_escape(escape);
    if (escape_is_default_) {
        out_->append(text);
        return;
    }
    write(text, escape);
}

// A string is escaped from where it lies; an integer's digits need no
// escaping by xhtml_escape, so they are written straight into the page.
bool Page::write_any_json(const JSON* json, const Name* escape) {
    if (json == nullptr) return false;
    if (json->is_string()) {
        const std::string& text = json->get_ref<const std::string&>();
        escape != nullptr ? write(text, *escape) : write_raw(text);
        return true;
    }
    if (json->type() == JSON::value_t::number_integer) {
        if (escape != nullptr) find_escape(*escape);
        if (escape == nullptr || escape_is_default_) {
            char digits[24];
            out_->append(
                digits,
                std::to_chars(digits, digits + sizeof digits, json->get<std::int64_t>()).ptr);
            return true;
        }
    }
    scratch_.clear();
    TemplateValue::borrow(*json).append_str(scratch_);
    escape != nullptr ? write(scratch_, *escape) : write_raw(scratch_);
    return true;
}

// ---- the registry -------------------------------------------------------------

namespace {

struct Registry {
    std::mutex mutex;
    std::map<std::pair<std::string, std::uint64_t>, RenderFunction> functions;
};

// Made on first use: generated files register from their static
// initializers, in an order nobody chooses.
Registry& registry() {
    static Registry instance;
    return instance;
}

}  // namespace

void register_template(std::string_view name, std::uint64_t hash, RenderFunction render) {
    Registry& all = registry();
    std::lock_guard lock(all.mutex);
    all.functions[{std::string(name), hash}] = render;
}

RenderFunction find_template(const std::string& name, std::uint64_t hash) {
    Registry& all = registry();
    std::lock_guard lock(all.mutex);
    auto found = all.functions.find({name, hash});
    return found != all.functions.end() ? found->second : nullptr;
}

// ---- the operations ---------------------------------------------------------

// TemplateValue::truthy() of the value the node stands for. A number too
// large for a template is made into a value, for its OverflowError.
bool truthy(const JSON& json) {
    switch (json.type()) {
        case JSON::value_t::null: return false;
        case JSON::value_t::boolean: return json.get<bool>();
        case JSON::value_t::number_integer: return json.get<std::int64_t>() != 0;
        case JSON::value_t::number_float: return json.get<double>() != 0.0;
        case JSON::value_t::string: return !json.get_ref<const std::string&>().empty();
        case JSON::value_t::array:
        case JSON::value_t::object: return !json.empty();
        default: return TemplateValue::borrow(json).truthy();
    }
}

const JSON* member(const JSON* object, std::string_view key) {
    if (object == nullptr || !object->is_object()) return nullptr;
    return template_detail::find_key(*object, key);
}

// The interpreter's Display, step by step.
void check_dict_key(const TemplateValue& key) {
    if (!key.is_string()) {
        throw PythonError("TypeError", "a template's dict keys must be strings, not " +
                                           std::string(key.type_name()));
    }
}

void put(JSON& dict, const TemplateValue& key, const TemplateValue& value) {
    dict[std::string(key.as_string())] = value.to_json();
}

TemplateValue make_dict(JSON dict) {
    template_detail::check_container_depth(dict);
    return TemplateValue(std::move(dict));
}

std::vector<TemplateValue> unpack(const TemplateValue& value, std::size_t count) {
    return template_detail::unpack(value, count);
}

const TemplateValue& builtin_enumerate() {
    static const TemplateValue& enumerate = *template_detail::builtins().find("enumerate");
    return enumerate;
}

// A list with a JSON node is a JSON array (see TemplateValue::json_node()).
Iteration::Iteration(const TemplateValue& value)
    : value_(value),
      array_(value.type() == TemplateValue::Type::list ? value.json_node() : nullptr),
      owner_(array_ != nullptr ? &value.shared_json() : nullptr) {
    if (array_ != nullptr) {
        size_ = array_->size();
    } else if (value.is_sequence()) {
        size_ = value.length();
    } else {
        iterated_ = template_detail::iterate(value);
        size_ = iterated_.size();
    }
}

void extends_not_at_top_level(const Page& page) {
    throw TemplateError("NotImplementedError", "{% extends %} is only allowed at the top level",
                        page.file(), page.line());
}

}  // namespace tornado::compiled
