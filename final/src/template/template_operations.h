// template_operations.h: what Python's operators, builtins and methods do
// to TemplateValues (private to final/src). Errors are PythonErrors with
// Python's own type and message, so that a template's {% try %} / {% except
// KeyError %} and the error a user reads match Tornado's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "template/template_expression.h"
#include "tornado/template.h"

namespace tornado::template_detail {

// a + b, a - b, a * b, a / b, a // b, a % b, a ** b, a << b, a >> b, a & b,
// a | b, a ^ b; `op` is the operator's text.
TemplateValue binary_operation(std::string_view op, const TemplateValue& left,
                               const TemplateValue& right);
// -a, +a, ~a
TemplateValue unary_operation(char op, const TemplateValue& operand);
// a == b (numbers compare across int, float and bool, as in Python).
bool equals(const TemplateValue& left, const TemplateValue& right);
// a < b, a <= b, a > b, a >= b, a == b, a != b, a in b, a not in b,
// a is b, a is not b.
bool compare(std::string_view op, const TemplateValue& left, const TemplateValue& right);

// The value of `key` in `object`, a JSON object, or nullptr.
const JSON* find_key(const JSON& object, std::string_view key);

// container[key]: a list's or tuple's item (negative counts from the end),
// a dict's value, a string's character.
TemplateValue get_item(const TemplateValue& container, const TemplateValue& key);
// container[start:stop:step] for lists, tuples and strings.
TemplateValue get_slice(const TemplateValue& container, const TemplateValue& start,
                        const TemplateValue& stop, const TemplateValue& step);
// object.name: a dict's key (standing in for a Python object's attribute).
TemplateValue get_attribute(const TemplateValue& object, std::string_view name);
// The error object.name(...) raises when `object` has no such method:
// Python looks a method up before it evaluates the arguments, so
// "abc".nosuch(1 / 0) is an AttributeError. Nothing if it has one.
void check_method(const TemplateValue& object, std::string_view name);
// object.name(arguments): the methods of str, list, tuple and dict that
// templates use; for a dict without such a method, its key's function.
TemplateValue call_method(const TemplateValue& object, std::string_view name,
                          const TemplateArguments& arguments);

// "format" % values, Python's printf-style formatting.
std::string percent_format(std::string_view format, const TemplateValue& values);
// The same, appended to `out`.
void append_percent_format(std::string& out, std::string_view format, const TemplateValue& values);
// separator.join(parts), appended to `out`.
void append_join(std::string& out, std::string_view separator, const TemplateValue& parts);
// The same for a JSON array of strings, copied from where they lie; false,
// with `out` as it was, when an item is not a string (append_join() then
// raises the TypeError that names it).
bool append_json_strings(std::string& out, std::string_view separator, const JSON& array);
// Whether xhtml_escape would change `text`: such text cannot skip it.
bool has_markup(std::string_view text);

// function(arguments), for every call the engine makes to a function value
// (a template's call, an escape or apply function, a sort key): what a C++
// function throws becomes the Python exception tornado/template.h promises
// (std::invalid_argument a ValueError, ...).
TemplateValue call_function(const TemplateValue& function, const TemplateArguments& arguments);

// Python's builtins a template can call (len, range, str, ...).
const TemplateNamespace& builtins();
// The names Tornado's Template.generate() adds: escape, xhtml_escape,
// url_escape, json_encode, squeeze, linkify.
const TemplateNamespace& tornado_namespace();

}  // namespace tornado::template_detail
