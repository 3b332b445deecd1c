// template_operations.h: what Python's operators, builtins and methods do
// to TemplateValues (private to final/src). The operations the compiled
// code calls too (binary, unary, compare, get_item, call_method...) are
// declared once, in tornado/template_compiled.h; this header adds what
// only the interpreter and the library use. Errors are PythonErrors with
// Python's own type and message, as there.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "template/template_expression.h"
#include "tornado/template.h"
#include "tornado/template_compiled.h"

namespace tornado::template_detail {

// a == b (numbers compare across int, float and bool, as in Python).
bool equals(const TemplateValue& left, const TemplateValue& right);

// The value of `key` in `object`, a JSON object, or nullptr.
const JSON* find_key(const JSON& object, std::string_view key);

// function(text), appended to `out`: an escaping function of {{ }} or an
// {% apply %} function. A result that is not a str is the TypeError of
// Tornado's _tt_utf8.
void append_function_text(std::string& out, const TemplateValue& function, TemplateValue text);

// Whether xhtml_escape would change `text`: such text cannot skip it.
bool has_markup(std::string_view text);

// Python's builtins a template can call (len, range, str, ...).
const TemplateNamespace& builtins();
// The names Tornado's Template.generate() adds: escape, xhtml_escape,
// url_escape, json_encode, squeeze, linkify.
const TemplateNamespace& tornado_namespace();

}  // namespace tornado::template_detail
