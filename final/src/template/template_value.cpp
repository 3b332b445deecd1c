// template_value.cpp: TemplateValue, TemplateNamespace, and Python's str()
// and repr() of each type.
//
// The one idea to keep in mind while reading: a value that came from JSON
// data (generate()'s arguments, a dict a template made) is a shared_ptr to
// the JSON node, never a copy of it, and its parts are read in place with
// element_of(). Only scalars are copied out. Lists and tuples a template
// makes are vectors of TemplateValues (Items), so that they can hold
// functions and tuples, which JSON cannot. A list of C++ structs (rows())
// is a RowList, read in place too. Every reader below therefore asks
// "JSON, Items or rows?" before it looks inside a list.
#include <algorithm>
#include <mutex>
#include <utility>

#include "core/python_text.h"
#include "template/template_expression.h"
#include "tornado/template.h"

namespace tornado {

using template_detail::kMaxContainerDepth;
using template_detail::kMaxReprBytes;
using template_detail::PythonError;

// A call has a handful of keywords at most, so a linear search is enough.
const TemplateValue* TemplateArguments::find_keyword(std::string_view name) const {
    for (const auto& [key, value] : keyword) {
        if (key == name) return &value;
    }
    return nullptr;
}

// ---- making values ----------------------------------------------------------

// Both constructors put the JSON in a node of its own first, so that the
// strings, lists and dicts inside it can share that node's ownership.
TemplateValue::TemplateValue(const JSON& value)
    : TemplateValue(from_json_node(std::make_shared<const JSON>(value))) {}

TemplateValue::TemplateValue(JSON&& value)
    : TemplateValue(from_json_node(std::make_shared<const JSON>(std::move(value)))) {}

TemplateValue TemplateValue::borrow(const JSON& value) {
    // An aliasing shared_ptr that owns nothing: no copy, no reference count
    // to free; the caller promised `value` outlives the result.
    return from_json_node(std::shared_ptr<const JSON>(std::shared_ptr<const JSON>(), &value));
}

// The aliasing constructor again: the result points at `element` but keeps
// `owner` (the whole document) alive. If `owner` was itself borrowed (it
// owns nothing), so is the element, and the borrower's promise covers it.
TemplateValue TemplateValue::element_of(const std::shared_ptr<const JSON>& owner,
                                        const JSON& element) {
    return from_json_node(std::shared_ptr<const JSON>(owner, &element));
}

// Scalars are copied out of the JSON (they are small); strings, arrays and
// objects stay where they are, shared. Python's int has no size limit, but
// ours is 64 bits: a JSON number above INT64_MAX (nlohmann keeps those as
// unsigned) is refused here, where it enters, rather than wrapping around.
// "discarded" is nlohmann's marker for a value a parser callback dropped;
// it reads as None.
TemplateValue TemplateValue::from_json_node(std::shared_ptr<const JSON> node) {
    switch (node->type()) {
        case JSON::value_t::null:
        case JSON::value_t::discarded: return TemplateValue();
        case JSON::value_t::boolean: return TemplateValue(node->get<bool>());
        case JSON::value_t::number_integer: return TemplateValue(node->get<std::int64_t>());
        case JSON::value_t::number_unsigned: {
            auto number = node->get<std::uint64_t>();
            if (number > static_cast<std::uint64_t>(INT64_MAX)) {
                throw PythonError("OverflowError",
                                  "integer too large for a template: " + std::to_string(number));
            }
            return TemplateValue(static_cast<std::int64_t>(number));
        }
        case JSON::value_t::number_float: return TemplateValue(node->get<double>());
        case JSON::value_t::string: return TemplateValue(Type::string, std::move(node));
        case JSON::value_t::array: return TemplateValue(Type::list, std::move(node));
        case JSON::value_t::object: return TemplateValue(Type::dict, std::move(node));
        case JSON::value_t::binary: break;
    }
    throw PythonError("TypeError", "binary JSON values cannot be used in a template");
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

TemplateValue TemplateValue::from_rows(std::shared_ptr<const RowList> rows) {
    TemplateValue value;
    value.data_ = std::move(rows);
    value.type_ = Type::list;
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
    // recurses once per level, and would use up the C++ stack. Each item
    // already knows its depth, so this costs one pass over the new items,
    // not a walk of the whole tree. Only template-made lists and tuples
    // count here: a dict or a JSON list among the items counts as depth 0
    // (a dict a template makes is checked by check_container_depth();
    // JSON data from generate() is not checked at all).
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

// The names Python's error messages use. A C++ function is a
// "builtin_function_or_method", as type(len) is in Python; an object is
// named by the type name its maker gave it.
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
        case Type::object:
            if (is_row()) return "Row";
            return std::get<std::shared_ptr<const Object>>(data_)->type_name;
    }
    // Not reached: the switch covers every Type (the return keeps GCC quiet).
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
        // Python objects are true unless they define __bool__ or __len__,
        // which ours cannot.
        case Type::function:
        case Type::object: return true;
    }
    return true;
}

// Python's bool is a subclass of int, so True works wherever an int does
// (range(True) is range(1)); a float does not (range(1.0) is a TypeError).
// The messages are Python's own for those cases.
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

// A string is kept either as our own std::string (a template made it) or
// as a JSON string node (it came from the data); the view points into
// whichever, and lives as long as this value does.
std::string_view TemplateValue::as_string() const {
    if (const std::string* text = std::get_if<std::string>(&data_)) return *text;
    if (const RowText* text = std::get_if<RowText>(&data_)) return text->text;
    if (const auto* json = std::get_if<std::shared_ptr<const JSON>>(&data_)) {
        if ((*json)->is_string()) return (*json)->get_ref<const std::string&>();
    }
    throw PythonError("TypeError", "expected str, not " + std::string(type_name()));
}

// A JSON node of type list can only be an array (from_json_node() makes
// JSON strings type string and objects type dict), so the type is enough
// to tell it from a dict's node.
const JSON* TemplateValue::json_array() const {
    const auto* json = std::get_if<std::shared_ptr<const JSON>>(&data_);
    return json != nullptr && type_ == Type::list ? json->get() : nullptr;
}

const RowList* TemplateValue::row_list() const {
    const auto* rows = std::get_if<std::shared_ptr<const RowList>>(&data_);
    return rows != nullptr ? rows->get() : nullptr;
}

const std::vector<TemplateValue>* TemplateValue::native_items() const {
    const auto* items = std::get_if<std::shared_ptr<const Items>>(&data_);
    return items != nullptr ? &(*items)->values : nullptr;
}

// Strings are left out on purpose: len() of a str counts code points, which
// is the builtin's job (template_operations.cpp), not a byte size.
std::size_t TemplateValue::length() const {
    if (const auto* items = native_items()) return items->size();
    if (const auto* rows = row_list()) return rows->size();
    if (type_ == Type::list || type_ == Type::dict)
        return std::get<std::shared_ptr<const JSON>>(data_)->size();
    throw PythonError("TypeError",
                      "object of type '" + std::string(type_name()) + "' has no len()");
}

// Callers have already turned Python's negative index into a position and
// checked it against length() (checked_index() in template_operations.cpp);
// at() is only a last guard.
TemplateValue TemplateValue::item(std::size_t index) const {
    if (const auto* items = native_items()) return items->at(index);
    if (const JSON* array = json_array()) {
        return element_of(std::get<std::shared_ptr<const JSON>>(data_), array->at(index));
    }
    if (const auto* rows = row_list()) {
        if (index >= rows->size()) throw std::out_of_range("a row past the end of the list");
        TemplateValue row;
        row.data_ = ListRow{std::get<std::shared_ptr<const RowList>>(data_), index};
        row.type_ = Type::object;
        return row;
    }
    throw PythonError("TypeError",
                      "'" + std::string(type_name()) + "' object is not subscriptable");
}

// A copy of the items, each sharing the list's JSON: prefer item() or
// template_detail::Iteration, which read in place, when the list may be long.
std::vector<TemplateValue> TemplateValue::items() const {
    if (const auto* items = native_items()) return *items;
    std::vector<TemplateValue> result;
    if (const auto* rows = row_list()) {
        result.reserve(rows->size());
        for (std::size_t index = 0; index < rows->size(); ++index) result.push_back(item(index));
        return result;
    }
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

bool TemplateValue::point_to(const std::shared_ptr<const JSON>& owner, const JSON& element) {
    auto* node = std::get_if<std::shared_ptr<const JSON>>(&data_);
    if (node == nullptr) return false;
    Type type = element.is_object()   ? Type::dict
                : element.is_array()  ? Type::list
                : element.is_string() ? Type::string
                                      : Type::none;
    if (type != type_) return false;
    *node = std::shared_ptr<const JSON>(owner, &element);
    return true;
}

bool TemplateValue::point_to_row(const TemplateValue& rows, std::size_t index) {
    auto* row = std::get_if<ListRow>(&data_);
    const RowList* list = rows.row_list();
    if (row == nullptr || list == nullptr || row->list.get() != list) return false;
    if (index >= list->size()) throw std::out_of_range("a row past the end of the list");
    row->index = index;
    return true;
}

const JSON& TemplateValue::as_json() const {
    if (type_ != Type::dict) {
        throw PythonError("TypeError", "'" + std::string(type_name()) + "' object is not a dict");
    }
    return *std::get<std::shared_ptr<const JSON>>(data_);
}

const std::shared_ptr<const JSON>& TemplateValue::shared_json() const {
    if (type_ != Type::dict && json_array() == nullptr) {
        throw PythonError("TypeError",
                          "'" + std::string(type_name()) + "' object is not a dict or a JSON list");
    }
    return std::get<std::shared_ptr<const JSON>>(data_);
}

// The budget counts every value made, not only list items: a template-made
// list that holds the same list at every level shares it in memory, but its
// JSON would spell each copy out. A list that is already JSON is copied whole
// and counts as one, since it can be no bigger than data already in memory.
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
        // JSON has no tuple: a tuple put into a dict comes back as a list,
        // as the header warns.
        case Type::list:
        case Type::tuple: {
            if (const JSON* array = json_array()) return *array;
            JSON array = JSON::array();
            if (row_list() != nullptr) {
                for (const TemplateValue& row : items()) array.push_back(row.to_json(budget));
                return array;
            }
            for (const TemplateValue& item : *native_items()) array.push_back(item.to_json(budget));
            return array;
        }
        // A dict is JSON already: copied whole, counted as one.
        case Type::dict: return as_json();
        case Type::function:
            throw PythonError("TypeError",
                              "a function (" + function_name() +
                                  ") cannot be kept in a list or a dict in a template");
        case Type::object:
            if (is_row()) return row_to_json();
            break;
    }
    // An object's attributes are a C++ callback, with nothing JSON could hold.
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

namespace {

JSON json_of(const FieldValue& field) {
    return std::visit(
        [](const auto& value) -> JSON {
            if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string_view>) {
                return std::string(value);
            } else {
                return value;
            }
        },
        field);
}

}  // namespace

// A row as a dict of its fields (json_encode(row), a row put in a dict).
JSON TemplateValue::row_to_json() const {
    const auto& row = std::get<ListRow>(data_);
    JSON object = JSON::object();
    for (std::string_view name : row.list->field_names()) {
        object[std::string(name)] = json_of(*row.list->field(row.index, name));
    }
    return object;
}

// A row's field as a value: a string stays in the row (RowText), sharing
// the list's ownership, rather than copied.
std::optional<TemplateValue> TemplateValue::attribute(std::string_view name) const {
    if (const auto* row = std::get_if<ListRow>(&data_)) {
        std::optional<FieldValue> found = row_field(name);
        if (!found) return std::nullopt;
        if (const auto* text = std::get_if<std::string_view>(&*found)) {
            TemplateValue value;
            value.data_ = RowText{row->list, *text};
            value.type_ = Type::string;
            return value;
        }
        return std::visit([](auto number) { return TemplateValue(number); }, *found);
    }
    const auto* object = std::get_if<std::shared_ptr<const Object>>(&data_);
    if (object == nullptr) return std::nullopt;
    return (*object)->attributes(name);
}

std::optional<FieldValue> TemplateValue::row_field(std::string_view name) const {
    const auto* row = std::get_if<ListRow>(&data_);
    if (row == nullptr) return std::nullopt;
    return row->list->field(row->index, name);
}

// Identity for the types that are objects in Python. The scalars (None,
// bools, numbers, strings) fall through to the last line and are never
// "the same" here: compare() in template_operations.cpp decides `is` for
// them by value, as CPython's cached small ints and interned strings
// usually make them.
bool TemplateValue::is_same(const TemplateValue& other) const {
    if (type_ != other.type_) return false;
    if (is_sequence() || type_ == Type::dict) {
        // A list may be a template's own or JSON data; same means the same of either.
        if (const auto* items = native_items()) return items == other.native_items();
        if (const auto* rows = row_list()) return rows == other.row_list();
        return json_node() == other.json_node();
    }
    if (const auto* mine = std::get_if<std::shared_ptr<const Function>>(&data_)) {
        const auto* theirs = std::get_if<std::shared_ptr<const Function>>(&other.data_);
        return theirs != nullptr && *mine == *theirs;
    }
    if (const auto* row = std::get_if<ListRow>(&data_)) {
        const auto* other_row = std::get_if<ListRow>(&other.data_);
        return other_row != nullptr && row->list == other_row->list &&
               row->index == other_row->index;
    }
    const auto* mine = std::get_if<std::shared_ptr<const Object>>(&data_);
    const auto* theirs = std::get_if<std::shared_ptr<const Object>>(&other.data_);
    return mine != nullptr && theirs != nullptr && *mine == *theirs;
}

// ---- str() and repr() -------------------------------------------------------

namespace {

void append_json_repr(std::string& out, const JSON& json);

// Called after each item a container writes, so a repr that doubles at
// every level (a list holding one list twice, nested 40 deep) stops once it
// passes the limit, long before it has written 2**40 items.
void check_repr_size(const std::string& out) {
    if (out.size() > kMaxReprBytes) {
        throw PythonError("MemoryError", "str() or repr() of more than " +
                                             std::to_string(kMaxReprBytes) +
                                             " bytes in a template");
    }
}

// The depth of `json`, counted no further than `limit` levels below. The
// limit bounds this function's own recursion: it is what protects us from
// a structure too deep to walk.
int json_depth(const JSON& json, int limit) {
    if (!json.is_structured() || limit == 0) return 0;
    int deepest = 0;
    for (const JSON& child : json) deepest = std::max(deepest, json_depth(child, limit - 1));
    return deepest + 1;
}

// The repr() of a JSON array: Python's "[1, 'a']", with ", " between items.
// Used by append_json_repr() for arrays; `open` and `close` are the brackets.
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

// repr() of JSON data read in place, without making a TemplateValue per
// node. A dict prints in nlohmann's sorted key order, not Python's insertion
// order (a difference the header lists). Scalars go through a borrowed
// TemplateValue, so that numbers print by the same rules as anywhere else;
// borrowing is safe because it does not outlive this call.
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

// The same for a list or tuple a template made; its items may be any type.
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

// Walks at most kMaxContainerDepth + 1 levels: enough to see that a dict
// is too deep, without recursing as far as the too-deep part goes.
void template_detail::check_container_depth(const JSON& dict) {
    if (json_depth(dict, kMaxContainerDepth + 1) > kMaxContainerDepth) {
        throw PythonError("RecursionError", "dicts and lists nested more than " +
                                                std::to_string(kMaxContainerDepth) +
                                                " deep in a template");
    }
}

// Python's str() differs from repr() only at the top level and only for a
// string (no quotes); str(['a']) still quotes the items, hence repr for
// everything else.
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
        case Type::integer:
            detail::append_python_int_repr(out, std::get<std::int64_t>(data_));
            return;
        case Type::floating: detail::append_python_float_repr(out, std::get<double>(data_)); return;
        case Type::string: detail::append_python_string_repr(out, as_string()); return;
        case Type::dict: append_json_repr(out, as_json()); return;
        case Type::list:
            if (const JSON* array = json_array()) {
                append_json_repr(out, *array);
            } else if (row_list() != nullptr) {
                append_items_repr(out, items(), '[', ']');
            } else {
                append_items_repr(out, *native_items(), '[', ']');
            }
            return;
        case Type::tuple:
            append_items_repr(out, *native_items(), '(', ')');
            if (length() == 1) out.insert(out.size() - 1, ",");  // (1,)
            return;
        case Type::function: out += "<built-in function " + function_name() + ">"; return;
        // Python adds the object's address ("<X object at 0x7f...>"); we
        // leave it out, which also keeps a page the same from run to run.
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

// The function value keeps its own copy of the name, for repr() and error
// messages; the map gets the other.
void TemplateNamespace::set_function(std::string name, TemplateFunction function) {
    TemplateValue value = TemplateValue::function(name, std::move(function));
    set(std::move(name), std::move(value));
}

// The lookup, and its answers kept in a std::map, whose nodes never
// move: find() hands out pointers into it. Behind a mutex, since a
// loader's namespace is read by every thread that renders its templates.
struct TemplateNamespace::Lazy {
    explicit Lazy(TemplateLookup answer) : lookup(std::move(answer)) {}

    const TemplateValue* find(std::string_view name) {
        std::lock_guard<std::mutex> lock(mutex);
        auto kept = made.find(name);
        if (kept != made.end()) return &kept->second;
        std::optional<TemplateValue> value = lookup(name);
        if (!value) return nullptr;
        return &made.emplace(std::string(name), std::move(*value)).first->second;
    }

    TemplateLookup lookup;
    std::mutex mutex;
    std::map<std::string, TemplateValue, std::less<>> made;
};

void TemplateNamespace::set_lookup(TemplateLookup lookup) {
    lazy_ = std::make_shared<Lazy>(std::move(lookup));
}

// A std::map node never moves, so the pointer stays valid while the
// namespace lives, whatever other names are set later (a set() of this
// same name replaces the value it points to).
const TemplateValue* TemplateNamespace::find(std::string_view name) const {
    auto found = values_.find(name);
    if (found != values_.end()) return &found->second;
    return lazy_ == nullptr ? nullptr : lazy_->find(name);
}

void TemplateNamespace::update(const TemplateNamespace& other) {
    for (const auto& [name, value] : other.values_) set(name, value);
    if (other.lazy_ == nullptr) return;
    if (lazy_ == nullptr) {
        lazy_ = other.lazy_;
        return;
    }
    auto first = other.lazy_;
    auto then = lazy_;
    set_lookup([first, then](std::string_view name) -> std::optional<TemplateValue> {
        const TemplateValue* value = first->find(name);
        if (value == nullptr) value = then->find(name);
        if (value == nullptr) return std::nullopt;
        return *value;
    });
}

}  // namespace tornado
