// python_format.h (inside final/src, not installed): Python's formatting of
// values as text, for every part of the library that must write exactly
// what Python writes: the template engine ("%" and str.format() in a
// template, which tornado/template_compiled.h's PercentFormat runs for
// compiled ones too) and locale (translate()'s "%(name)s" messages, as
// Tornado formats them). Errors are PythonErrors with Python's type and
// message ("TypeError: not enough arguments for format string").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "template/python_types.h"
#include "tornado/template.h"

namespace tornado::template_detail {

// "format" % values, Python's printf-style formatting: one value, a tuple
// of them, or a dict for "%(key)s" fields.
std::string percent_format(std::string_view format, const TemplateValue& values);
// The same, appended to `out`.
void append_percent_format(std::string& out, std::string_view format, const TemplateValue& values);

// format.format(*positional, **keywords), Python's str.format().
std::string str_format(std::string_view format, const TemplateArguments& arguments);

// Python's int(x) of a float: truncated toward zero; an OverflowError past
// 64 bits, a ValueError for NaN.
std::int64_t float_to_integer(double number);

}  // namespace tornado::template_detail
