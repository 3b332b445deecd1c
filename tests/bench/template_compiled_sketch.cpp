// template_compiled_sketch.cpp: the benchmark page as a template compiler
// would write it in C++ (template_bench --compiled-sketch), to measure what
// compiling templates ahead of time would gain before anyone builds the
// compiler; make bench-template still shows it beside the real compiler.
//
// Tornado compiles a template into Python source; a C++ engine could do the
// same into C++. What such code cannot know is the type of the data: a
// variable is a TemplateValue, `row["id"]` is looked up at each use (a
// template may print a different row's key each time), and every operation
// keeps Python's meaning. So this file does what a compiler could emit,
// given a good runtime: the page's text as literals, each name looked up once
// per page, loops as C++ loops, and the engine's own operations
// (template_operations.h) for everything else, with the fast paths a
// compiler would pick from the expression's shape (a string or an integer
// from the data written without making a value, an int % int done inline,
// "a" if c else "b" written as a literal). No tree is walked, no virtual
// call made. It does not check for errors a real compiler would report
// (a missing name is a std::runtime_error here).
//
// Measured beside the interpreter and the hand-written page, it says how
// much of the interpreter's time a compiler would take away.
#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "template_compiled_sketch.h"
#include "template/python_format.h"
#include "template/template_operations.h"
#include "tornado/escape.h"
#include "tornado/template.h"

namespace bench {
namespace {

using tornado::JSON;
using tornado::TemplateValue;
namespace runtime = tornado::template_detail;

// The page and the buffer one {{ }}'s text is made in before it is escaped,
// as the interpreter's Output does.
struct Page {
    std::string out;
    std::string scratch;

    // {{ value }} with the default xhtml_escape.
    void write(const TemplateValue& value) {
        if (const JSON* json = value.json_node()) {
            write(json, value, "");
            return;
        }
        scratch.clear();
        value.append_str(scratch);
        tornado::append_xhtml_escape(out, scratch);
    }

    // {{ container["key"] }}, where `json` is the member found in the data
    // (nullptr: not JSON, or missing; then the engine's get_item decides).
    void write(const JSON* json, const TemplateValue& container, std::string_view key) {
        if (json != nullptr && json->is_string()) {
            tornado::append_xhtml_escape(out, json->get_ref<const std::string&>());
            return;
        }
        if (json != nullptr && json->is_number_integer()) {  // digits need no escaping
            char digits[24];
            out.append(digits,
                       std::to_chars(digits, digits + sizeof digits, json->get<std::int64_t>()).ptr);
            return;
        }
        scratch.clear();
        if (json != nullptr) {
            TemplateValue::borrow(*json).append_str(scratch);
        } else {
            runtime::get_item(container, TemplateValue(key)).append_str(scratch);
        }
        tornado::append_xhtml_escape(out, scratch);
    }

    // {{ "format" % value }} and {{ "sep".join(value) }}: made in scratch,
    // then escaped.
    template <typename Make>
    void write_made(Make make) {
        scratch.clear();
        make(scratch);
        tornado::append_xhtml_escape(out, scratch);
    }
};

// container["key"] in the data, without making a value; nullptr if it is not
// there (or the container is not a JSON dict).
const JSON* member(const TemplateValue& container, std::string_view key) {
    const JSON* json = container.json_node();
    if (json == nullptr || !json->is_object()) return nullptr;
    return runtime::find_key(*json, key);
}

// container["key"] as a value, for an operation that takes one.
TemplateValue item(const TemplateValue& container, std::string_view key) {
    if (const JSON* json = member(container, key)) return TemplateValue::borrow(*json);
    return runtime::get_item(container, TemplateValue(key));
}

// A name the page reads but never assigns: generate()'s argument, else the
// builtin, looked up once per page.
TemplateValue global(const JSON& arguments, const char* name) {
    auto found = arguments.find(name);
    if (found != arguments.end()) return TemplateValue::borrow(*found);
    if (const TemplateValue* builtin = runtime::builtins().find(name)) return *builtin;
    throw std::runtime_error(std::string("NameError: name '") + name + "' is not defined");
}

}  // namespace

std::string render_page_compiled_sketch(const JSON& arguments, std::size_t reserve) {
    Page page;
    page.out.reserve(reserve);
    const TemplateValue title = global(arguments, "title");
    const TemplateValue nav = global(arguments, "nav");
    const TemplateValue rows = global(arguments, "rows");
    const TemplateValue user = global(arguments, "user");
    const TemplateValue footer_note = global(arguments, "footer_note");
    const TemplateValue len = global(arguments, "len");
    const TemplateValue two(2);

    // base.html, with page.html's blocks in place
    page.out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
    page.write(title);
    page.out += " | The Shop</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n"
                "</head>\n<body>\n<nav>\n<ul>\n";
    for (std::size_t k = 0, count = nav.length(); k < count; ++k) {
        const TemplateValue link = nav.item(k);
        page.out += "<li><a href=\"";
        page.write(member(link, "href"), link, "href");
        page.out += "\">";
        page.write(member(link, "label"), link, "label");
        page.out += "</a></li>\n";
    }
    page.out += "</ul>\n</nav>\n<main>\n\n<h1>";
    page.write(title);
    page.out += "</h1>\n<p class=\"intro\">";
    page.write(runtime::call_function(len, {{rows}, {}}));
    page.out += " products for ";
    page.write(member(user, "name"), user, "name");
    page.out += "</p>\n<table class=\"products\">\n<thead>\n"
                "<tr><th>#</th><th>Name</th><th>Price</th><th>Tags</th><th>Stock</th></tr>\n"
                "</thead>\n<tbody>\n";
    // {% for i, row in enumerate(rows) %}{% include "row.html" %}{% end %}
    for (std::size_t k = 0, count = rows.length(); k < count; ++k) {
        const TemplateValue i(static_cast<long long>(k));
        const TemplateValue row = rows.item(k);
        page.out += "<tr class=\"";
        bool odd = i.type() == TemplateValue::Type::integer
                       ? i.as_integer() % 2 != 0
                       : runtime::binary("%", i, two).truthy();
        page.out += odd ? "odd" : "even";
        page.out += "\" id=\"row-";
        page.write(member(row, "id"), row, "id");
        page.out += "\">\n<td>";
        page.write(member(row, "id"), row, "id");
        page.out += "</td>\n<td><a href=\"/item/";
        page.write(member(row, "id"), row, "id");
        page.out += "\" title=\"";
        page.write(member(row, "name"), row, "name");
        page.out += "\">";
        page.write(member(row, "name"), row, "name");
        page.out += "</a></td>\n<td class=\"price\">";
        page.write_made([&](std::string& text) {
            runtime::append_percent_format(text, "%.2f", item(row, "price"));
        });
        page.out += "</td>\n<td>";
        page.write_made(
            [&](std::string& text) { runtime::append_join(text, ", ", item(row, "tags")); });
        page.out += "</td>\n<td>";
        page.out += item(row, "in_stock").truthy() ? "<span class=\"ok\">in stock</span>"
                                                   : "<span class=\"out\">sold out</span>";
        page.out += "</td>\n</tr>\n";
    }
    page.out += "\n</tbody>\n</table>\n\n</main>\n<footer>\n\n<p>";
    page.write(footer_note);  // footer.html
    page.out += "</p>\n<p>&copy; 2024 The Shop &middot; ";
    page.write(runtime::call_function(len, {{rows}, {}}));
    page.out += " items</p>\n\n\n</footer>\n</body>\n</html>\n";
    return std::move(page.out);
}

}  // namespace bench
