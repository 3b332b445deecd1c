// template_test_util.h: what the template tests share (template_test.cpp,
// template_errors_test.cpp): a source rendered, and the ParseError a
// source gets.
#pragma once

#include <string>
#include <string_view>

#include "tornado/template.h"

namespace tornado::testing {

// `source` rendered as the template "t.html" with `args`.
inline std::string render(std::string_view source, const JSON& args = JSON::object()) {
    return Template(source, "t.html").generate(args);
}

// The ParseError that `source` gets as the template "bad.html", as
// "message at bad.html:line"; "no error" if it parses.
inline std::string parse_error_of(std::string_view source) {
    try {
        Template made(source, "bad.html");
    } catch (const ParseError& error) {
        return error.what();
    }
    return "no error";
}

}  // namespace tornado::testing
