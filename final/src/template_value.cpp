// template_value.cpp: TemplateValue, TemplateNamespace, and Python's str()
// and repr() of each type.
#include <algorithm>
#include <charconv>
#include <utility>

#include "python_text.h"
#include "template_expression.h"
#include "tornado/template.h"

namespace tornado {

using template_detail::kMaxContainerDepth;
using template_detail::kMaxReprBytes;
using template_detail::PythonError;

const TemplateValue* TemplateArguments::find_keyword(std::string_view name) const {
    for (const auto& [key, value] : keyword) {
        if (key == name) return &value;
    }
    return nullptr;
}

// ---- making values ----------------------------------------------------------

TemplateValue::TemplateValue(const JSON& value)
    : TemplateValue(from_json_node(std::make_shared<const JSON>(value))) {}

TemplateValue::TemplateValue(JSON&& value)
    : TemplateValue(from_json_node(std::make_shared<const JSON>(std::move(value)))) {}

TemplateValue TemplateValue::borrow(const JSON& value) {
    // An aliasing shared_ptr that owns nothing: no copy, no reference count
    // to free; the caller promised `value` outlives the result.
    return from_json_node(std::shared_ptr<const JSON>(std::shared_ptr<const JSON>(), &value));
}

TemplateValue TemplateValue::element_of(const std::shared_ptr<const JSON>& owner,
                                        const JSON& element) {
    return from_json_node(std::shared_ptr<const JSON>(owner, &element));
}

// Scalars are copied out of the JSON (they are small); strings, arrays and
// objects stay where they are, shared.
TemplateValue TemplateValue::from_json_node(std::shared_ptr<const JSON> node) {
    TemplateValue value;
    switch (node->type()) {
        case JSON::value_t::null:
        case JSON::value_t::discarded: break;
        case JSON::value_t::boolean: value = TemplateValue(node->get<bool>()); break;
        case JSON::value_t::number_integer: value = TemplateValue(node->get<std::int64_t>()); break;
        case JSON::value_t::number_unsigned: {
            auto number = node->get<std::uint64_t>();
            if (number > static_cast<std::uint64_t>(INT64_MAX)) {
                throw PythonError("OverflowError",
                                  "integer too large for a template: " + std::to_string(number));
            }
            value = TemplateValue(static_cast<std::int64_t>(number));
            break;
        }
        case JSON::value_t::number_float: value = TemplateValue(node->get<double>()); break;
        case JSON::value_t::string:
            value.type_ = Type::string;
            value.data_ = std::move(node);
            break;
        case JSON::value_t::array:
            value.type_ = Type::list;
            value.data_ = std::move(node);
            break;
        case JSON::value_t::object:
            value.type_ = Type::dict;
            value.data_ = std::move(node);
            break;
        case JSON::value_t::binary:
            throw PythonError("TypeError", "binary JSON values cannot be used in a template");
    }
    return value;
}

TemplateValue TemplateValue::function(std::string name, TemplateFunction function) {
    TemplateValue value;
    value.data_ = std::make_shared<const Function>(Function{std::move(name), std::move(function)});
    value.type_ = Type::function;
    return value;
}

TemplateValue TemplateValue::object(std::string type_name, TemplateAttributes attributes) {
    TemplateValue value;
    value.data_ =
        std::make_shared<const Object>(Object{std::move(type_name), std::move(attributes)});
    value.type_ = Type::object;
    return value;
}

TemplateValue TemplateValue::list(std::vector<TemplateValue> items) {
    return from_items(std::move(items), Type::list);
}

TemplateValue TemplateValue::tuple(std::vector<TemplateValue> items) {
    return from_items(std::move(items), Type::tuple);
}

TemplateValue TemplateValue::from_items(std::vector<TemplateValue> items, Type type) {
    // Python's own limit: printing, comparing or freeing a deeper list
    // recurses once per level, and would use up the C++ stack.
    int depth = 1;
    for (const TemplateValue& item : items) depth = std::max(depth, item.depth() + 1);
    if (depth > kMaxContainerDepth) {
        throw PythonError("RecursionError", "lists and tuples nested more than " +
                                                std::to_string(kMaxContainerDepth) +
                                                " deep in a template");
    }
    TemplateValue value;
    value.data_ = std::make_shared<const Items>(Items{std::move(items), depth});
    value.type_ = type;
    return value;
}

int TemplateValue::depth() const {
    const auto* items = std::get_if<std::shared_ptr<const Items>>(&data_);
    return items != nullptr ? (*items)->depth : 0;
}

// ---- reading values ---------------------------------------------------------

std::string_view TemplateValue::type_name() const {
    switch (type()) {
        case Type::none: return "NoneType";
        case Type::boolean: return "bool";
        case Type::integer: return "int";
        case Type::floating: return "float";
        case Type::string: return "str";
        case Type::list: return "list";
        case Type::tuple: return "tuple";
        case Type::dict: return "dict";
        case Type::function: return "builtin_function_or_method";
        case Type::object: return std::get<std::shared_ptr<const Object>>(data_)->type_name;
    }
    return "object";
}

bool TemplateValue::truthy() const {
    switch (type()) {
        case Type::none: return false;
        case Type::boolean: return std::get<bool>(data_);
        case Type::integer: return std::get<std::int64_t>(data_) != 0;
        case Type::floating: return std::get<double>(data_) != 0.0;
        case Type::string: return !as_string().empty();
        case Type::list:
        case Type::tuple:
        case Type::dict: return length() != 0;
        case Type::function:
        case Type::object: return true;
    }
    return true;
}

std::int64_t TemplateValue::as_integer() const {
    if (const bool* flag = std::get_if<bool>(&data_)) return *flag ? 1 : 0;
    if (const std::int64_t* number = std::get_if<std::int64_t>(&data_)) return *number;
    throw PythonError("TypeError", "'" + std::string(type_name()) +
                                       "' object cannot be interpreted as an integer");
}

double TemplateValue::as_float() const {
    if (const double* number = std::get_if<double>(&data_)) return *number;
    if (type() == Type::boolean || type() == Type::integer) {
        return static_cast<double>(as_integer());
    }
    throw PythonError("TypeError", "must be real number, not " + std::string(type_name()));
}

std::string_view TemplateValue::as_string() const {
    if (const std::string* text = std::get_if<std::string>(&data_)) return *text;
    if (const auto* json = std::get_if<std::shared_ptr<const JSON>>(&data_)) {
        if ((*json)->is_string()) return (*json)->get_ref<const std::string&>();
    }
    throw PythonError("TypeError", "expected str, not " + std::string(type_name()));
}

const JSON* TemplateValue::json_array() const {
    const auto* json = std::get_if<std::shared_ptr<const JSON>>(&data_);
    return json != nullptr && type_ == Type::list ? json->get() : nullptr;
}

const std::vector<TemplateValue>* TemplateValue::native_items() const {
    const auto* items = std::get_if<std::shared_ptr<const Items>>(&data_);
    return items != nullptr ? &(*items)->values : nullptr;
}

std::size_t TemplateValue::length() const {
    if (const auto* items = native_items()) return items->size();
    if (type_ == Type::list || type_ == Type::dict)
        return std::get<std::shared_ptr<const JSON>>(data_)->size();
    throw PythonError("TypeError",
                      "object of type '" + std::string(type_name()) + "' has no len()");
}

TemplateValue TemplateValue::item(std::size_t index) const {
    if (const auto* items = native_items()) return items->at(index);
    if (const JSON* array = json_array()) {
        return element_of(std::get<std::shared_ptr<const JSON>>(data_), array->at(index));
    }
    throw PythonError("TypeError",
                      "'" + std::string(type_name()) + "' object is not subscriptable");
}

std::vector<TemplateValue> TemplateValue::items() const {
    if (const auto* items = native_items()) return *items;
    std::vector<TemplateValue> result;
    if (const JSON* array = json_array()) {
        const auto& owner = std::get<std::shared_ptr<const JSON>>(data_);
        result.reserve(array->size());
        for (const JSON& element : *array) result.push_back(element_of(owner, element));
        return result;
    }
    throw PythonError("TypeError",
                      "'" + std::string(type_name()) + "' object is not a list or a tuple");
}

const JSON* TemplateValue::json_node() const {
    const auto* json = std::get_if<std::shared_ptr<const JSON>>(&data_);
    return json != nullptr ? json->get() : nullptr;
}

const JSON& TemplateValue::as_json() const { return *shared_json(); }

const std::shared_ptr<const JSON>& TemplateValue::shared_json() const {
    if (type_ != Type::dict) {
        throw PythonError("TypeError", "'" + std::string(type_name()) + "' object is not a dict");
    }
    return std::get<std::shared_ptr<const JSON>>(data_);
}

JSON TemplateValue::to_json() const {
    std::int64_t budget = template_detail::kMaxItems;
    return to_json(budget);
}

JSON TemplateValue::to_json(std::int64_t& budget) const {
    if (--budget < 0) {
        throw PythonError("MemoryError", "a list of more than " +
                                             std::to_string(template_detail::kMaxItems) +
                                             " items in a template");
    }
    switch (type()) {
        case Type::none: return nullptr;
        case Type::boolean: return std::get<bool>(data_);
        case Type::integer: return std::get<std::int64_t>(data_);
        case Type::floating: return std::get<double>(data_);
        case Type::string: return std::string(as_string());
        case Type::list:
        case Type::tuple: {
            if (const JSON* array = json_array()) return *array;
            JSON array = JSON::array();
            for (const TemplateValue& item : *native_items()) array.push_back(item.to_json(budget));
            return array;
        }
        case Type::dict: return as_json();
        case Type::function:
            throw PythonError("TypeError",
                              "a function (" + function_name() +
                                  ") cannot be kept in a list or a dict in a template");
        case Type::object: break;
    }
    throw PythonError("TypeError", "a " + std::string(type_name()) +
                                       " object cannot be kept in a list or a dict in a template");
}

TemplateValue TemplateValue::call(const TemplateArguments& arguments) const {
    const auto* function = std::get_if<std::shared_ptr<const Function>>(&data_);
    if (function == nullptr) {
        throw PythonError("TypeError", "'" + std::string(type_name()) + "' object is not callable");
    }
    return (*function)->call(arguments);
}

const std::string& TemplateValue::function_name() const {
    return std::get<std::shared_ptr<const Function>>(data_)->name;
}

std::optional<TemplateValue> TemplateValue::attribute(std::string_view name) const {
    const auto* object = std::get_if<std::shared_ptr<const Object>>(&data_);
    if (object == nullptr) return std::nullopt;
    return (*object)->attributes(name);
}

bool TemplateValue::is_same(const TemplateValue& other) const {
    if (type_ != other.type_) return false;
    if (is_sequence() || type_ == Type::dict) {
        // A list may be a template's own or JSON data; same means the same of either.
        if (const auto* items = native_items()) return items == other.native_items();
        return json_node() == other.json_node();
    }
    if (const auto* mine = std::get_if<std::shared_ptr<const Function>>(&data_)) {
        const auto* theirs = std::get_if<std::shared_ptr<const Function>>(&other.data_);
        return theirs != nullptr && *mine == *theirs;
    }
    const auto* mine = std::get_if<std::shared_ptr<const Object>>(&data_);
    const auto* theirs = std::get_if<std::shared_ptr<const Object>>(&other.data_);
    return mine != nullptr && theirs != nullptr && *mine == *theirs;
}

// ---- str() and repr() -------------------------------------------------------

namespace {

void append_json_repr(std::string& out, const JSON& json);

void check_repr_size(const std::string& out) {
    if (out.size() > kMaxReprBytes) {
        throw PythonError("MemoryError", "str() or repr() of more than " +
                                             std::to_string(kMaxReprBytes) +
                                             " bytes in a template");
    }
}

// The depth of `json`, counted no further than `limit` levels below.
int json_depth(const JSON& json, int limit) {
    if (!json.is_structured() || limit == 0) return 0;
    int deepest = 0;
    for (const JSON& child : json) deepest = std::max(deepest, json_depth(child, limit - 1));
    return deepest + 1;
}

void append_json_sequence(std::string& out, const JSON& array, char open, char close) {
    out += open;
    bool first = true;
    for (const JSON& item : array) {
        if (!first) out += ", ";
        first = false;
        append_json_repr(out, item);
        check_repr_size(out);
    }
    out += close;
}

void append_json_repr(std::string& out, const JSON& json) {
    switch (json.type()) {
        case JSON::value_t::string:
            detail::append_python_string_repr(out, json.get_ref<const std::string&>());
            return;
        case JSON::value_t::array: append_json_sequence(out, json, '[', ']'); return;
        case JSON::value_t::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : json.items()) {
                if (!first) out += ", ";
                first = false;
                detail::append_python_string_repr(out, key);
                out += ": ";
                append_json_repr(out, value);
                check_repr_size(out);
            }
            out += '}';
            return;
        }
        default: TemplateValue::borrow(json).append_repr(out); return;
    }
}

void append_items_repr(std::string& out, const std::vector<TemplateValue>& items, char open,
                       char close) {
    out += open;
    bool first = true;
    for (const TemplateValue& item : items) {
        if (!first) out += ", ";
        first = false;
        item.append_repr(out);
        check_repr_size(out);
    }
    out += close;
}

}  // namespace

void template_detail::check_container_depth(const JSON& dict) {
    if (json_depth(dict, kMaxContainerDepth + 1) > kMaxContainerDepth) {
        throw PythonError("RecursionError", "dicts and lists nested more than " +
                                                std::to_string(kMaxContainerDepth) +
                                                " deep in a template");
    }
}

void TemplateValue::append_str(std::string& out) const {
    if (is_string()) {
        out += as_string();
    } else {
        append_repr(out);
    }
}

void TemplateValue::append_repr(std::string& out) const {
    switch (type()) {
        case Type::none: out += "None"; return;
        case Type::boolean: out += std::get<bool>(data_) ? "True" : "False"; return;
        case Type::integer: {
            char digits[24];
            out.append(
                digits,
                std::to_chars(digits, digits + sizeof digits, std::get<std::int64_t>(data_)).ptr);
            return;
        }
        case Type::floating: detail::append_python_float_repr(out, std::get<double>(data_)); return;
        case Type::string: detail::append_python_string_repr(out, as_string()); return;
        case Type::dict: append_json_repr(out, as_json()); return;
        case Type::list:
            if (const JSON* array = json_array()) {
                append_json_repr(out, *array);
            } else {
                append_items_repr(out, *native_items(), '[', ']');
            }
            return;
        case Type::tuple:
            append_items_repr(out, *native_items(), '(', ')');
            if (length() == 1) out.insert(out.size() - 1, ",");  // (1,)
            return;
        case Type::function: out += "<built-in function " + function_name() + ">"; return;
        case Type::object: out += "<" + std::string(type_name()) + " object>"; return;
    }
}

std::string TemplateValue::str() const {
    std::string out;
    append_str(out);
    return out;
}

std::string TemplateValue::repr() const {
    std::string out;
    append_repr(out);
    return out;
}

// ---- TemplateNamespace ------------------------------------------------------

void TemplateNamespace::set(std::string name, TemplateValue value) {
    values_.insert_or_assign(std::move(name), std::move(value));
}

void TemplateNamespace::set_function(std::string name, TemplateFunction function) {
    TemplateValue value = TemplateValue::function(name, std::move(function));
    set(std::move(name), std::move(value));
}

const TemplateValue* TemplateNamespace::find(std::string_view name) const {
    auto found = values_.find(name);
    return found == values_.end() ? nullptr : &found->second;
}

void TemplateNamespace::update(const TemplateNamespace& other) {
    for (const auto& [name, value] : other.values_) set(name, value);
}

}  // namespace tornado
