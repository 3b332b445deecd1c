// fuzz_template.cpp: a libFuzzer target for final/'s template engine
// (tornado/template.h): the template parser, the expression parser and the
// interpreter behind generate().
//
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++
//   cmake --build build-fuzz --target fuzz_template
//   cp -r tests/final/fuzz_corpus/template /tmp/corpus-template
//   build-fuzz/bin/fuzz_template -rss_limit_mb=2048 -timeout=10 -max_total_time=600 /tmp/corpus-template
//
// (Add -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 to go on
// past findings; keep what is worth it with -merge=1 into the committed
// folder, from a build without them, so that no open finding goes in.)
//
// The first byte of an input chooses the mode (its lowest bit) and the
// options; the rest is text. TEMPLATE_FUZZ_MODE=template or =expression in
// the environment fixes the mode, whatever the byte says.
// * template: the text is a template, made with a DictLoader that holds a
//   few fixed templates (a base with blocks, includes, a cycle, one that
//   fails), so that {% extends %} and {% include %} find something; the
//   byte chooses the whitespace mode, the autoescape function, the name
//   (.html or .txt, in a folder or not) and the loader's options.
// * expression: the text goes into one of eight tags, {{ ... }}, {% set x =
//   ... %}, {% for ... %}, {% if ... %}, {% except ... %}, ..., so that
//   mutations stay in the expression grammar instead of the tag syntax.
// Either way, a template that parses is generated (twice, with a small
// fixed set of arguments: strings holding <>&"', a list of dicts, numbers
// at the 64-bit limits, None), and both runs must give the same page or
// the same error; a UTF-8 template must give a UTF-8 page. In the {% set x
// = ... %} tag, repr(x) must also read back as the same value (Python's
// promise for None, bools, ints, floats, strs, lists, tuples and dicts).
// A template that parses is also compiled to C++ (compile_templates, in
// template mode): it must give code, or name what it leaves to the
// interpreter; the code itself is not built here.
//
// What may come out: a page, a ParseError, a TemplateError naming a Python
// exception, or (while making the template, from the loader) the
// std::runtime_error of a name the DictLoader lacks. Anything else leaving
// the engine, a crash, a sanitizer report, or a hang is a finding.
// Templates may loop forever as Python's do ({% while True %}): an input
// holding "while" is parsed but not generated, except in the one
// expression tag whose loop stops itself. A template can still ask for
// work without end (loops inside loops over range(10**7)); -timeout=10
// reports those, and they are not bugs unless Python would finish them.
//
// CTest replays the corpus in tests/final/fuzz_corpus/template with a g++
// build of this file (fuzz_replay_main.cpp provides main()).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

#include "tornado/template.h"
#include "tornado/template_compiled.h"

namespace {

using tornado::JSON;
using tornado::TemplateArguments;
using tornado::TemplateValue;

volatile std::size_t sink = 0;  // what every run writes, so nothing is optimised away

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "fuzz_template: broken promise: %s\n", what);
        std::abort();  // libFuzzer keeps the input that got here
    }
}

[[noreturn]] void unexpected(const char* where, const std::exception& error) {
    std::fprintf(stderr, "fuzz_template: %s threw %s: %s\n", where, typeid(error).name(), error.what());
    std::abort();
}

// The exceptions a template can raise (template_operations.cpp, template.cpp,
// template_value.cpp, and call_function for a C++ function's exception).
bool is_known_python_type(const std::string& type) {
    static const std::set<std::string> kTypes = {
        "AttributeError", "Exception", "IndexError", "KeyError", "MemoryError", "NameError",
        "NotImplementedError", "OverflowError", "RecursionError", "TypeError", "UnboundLocalError",
        "ValueError", "ZeroDivisionError"};
    return kTypes.contains(type);
}

std::string text_of(const TemplateArguments& arguments) {
    if (arguments.positional.empty() || !arguments.positional[0].is_string()) return "";
    return std::string(arguments.positional[0].as_string());
}

// Functions the loader gives every template: an escape function (a name
// the autoescape option may choose), a function that fails, one that
// returns what it gets.
tornado::TemplateNamespace loader_functions() {
    tornado::TemplateNamespace names;
    names.set_function("upper", [](const TemplateArguments& a) {
        std::string text = text_of(a);
        for (char& c : text) {
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        return TemplateValue(text);
    });
    names.set_function("wrap", [](const TemplateArguments& a) { return TemplateValue("[" + text_of(a) + "]"); });
    names.set_function("fail", [](const TemplateArguments&) -> TemplateValue {
        throw std::invalid_argument("boom");  // a ValueError in the template
    });
    names.set_function("echo", [](const TemplateArguments& a) {
        return a.positional.empty() ? TemplateValue() : a.positional[0];
    });
    names.set("answer", TemplateValue(42));
    return names;
}

// generate()'s own extra names: a function that throws what no Python
// exception stands for (an Exception in the template).
tornado::TemplateNamespace extra_names() {
    tornado::TemplateNamespace names;
    names.set_function("odd", [](const TemplateArguments&) -> TemplateValue {
        throw std::logic_error("odd");
    });
    names.set("unit", TemplateValue(1.0));
    return names;
}

const std::map<std::string, std::string>& fixed_templates() {
    static const std::map<std::string, std::string> kTemplates = {
        {"base.html",
         "<title>{% block title %}Default{% end %}</title>\n"
         "<body>{% block body %}<p>{{ name }}</p>{% end %}</body>\n"
         "{% block footer %}{% include \"part.html\" %}{% end %}\n"},
        {"layout.html",
         "{% extends \"base.html\" %}{% block body %}[{% block content %}layout {{ count }}{% end %}]"
         "{% end %}{% block title %}Layout{% end %}"},
        {"part.html", "part {{ count + 1 }}{% set from_part = 1 %}"},
        {"items.txt",
         "{% for i, item in enumerate(items) %}{{ i }}:{{ item['title'] }} "
         "{% if item.tags %}{{ ','.join(item.tags) }}{% else %}-{% end %}\n{% end %}"},
        {"sub/part.html", "{% include \"../part.html\" %}|{% block nav %}nav{% end %}"},
        {"sub/page.html", "{% extends \"/layout.html\" %}{% block content %}sub page{% end %}"},
        {"apply.html", "{% apply upper %}{{ name }}{% end %}{% apply wrap %}{% raw name %}{% end %}"},
        {"error.html", "before\n{{ 1 // 0 }}"},
        {"missing.html", "{{ nowhere }}"},
        {"bad.html", "{% if %}{% end %}"},
        {"loop.html", "{% include \"loop.html\" %}"},
        {"a.html", "{% extends \"b.html\" %}"},
        {"b.html", "{% extends \"a.html\" %}"},
        {"ghost.html", "{% include \"nowhere.html\" %}"},
    };
    return kTemplates;
}

const JSON& arguments() {
    static const JSON kArguments = JSON::parse(R"({
        "name": "<World & \"Co\" 'x'>",
        "text": "h\u00e9llo \u2603 \ud83d\ude00",
        "empty": "",
        "count": 3,
        "ratio": 0.5,
        "big": 9223372036854775807,
        "small": -9223372036854775808,
        "huge": 18446744073709551615,
        "none": null,
        "flag": true,
        "items": [
            {"title": "a<b", "n": 1, "tags": ["x", "y"]},
            {"title": "c&d", "n": 2.5, "tags": []},
            {"title": "'q'", "n": null, "tags": ["\""]}
        ],
        "matrix": [[1, 2], [3, 4]],
        "d": {"k": "v", "a": 1, "nested": {"deep": [true, false]}}
    })");
    return kArguments;
}

// What one generate() gave: the page, or the error's text.
struct Outcome {
    bool failed = false;
    std::string text;
    bool operator==(const Outcome&) const = default;
};

Outcome generate_once(const tornado::Template& page, const tornado::TemplateNamespace& extra) {
    try {
        return {false, page.generate(arguments(), extra)};
    } catch (const tornado::TemplateError& error) {
        check(is_known_python_type(error.python_type()), "a TemplateError names a Python exception");
        check(error.lineno() >= 0, "a TemplateError's line is not negative");
        return {true, error.what()};
    } catch (const std::exception& error) {
        unexpected("generate()", error);
    }
}

// Generates the page twice. `source_is_utf8`: the template's text is UTF-8
// (the arguments and the fixed templates are), so the page must be too: a
// str in Python holds characters, never a piece of one.
void generate(const tornado::Template& page, bool source_is_utf8) {
    static const tornado::TemplateNamespace kExtra = extra_names();
    Outcome first = generate_once(page, kExtra);
    Outcome second = generate_once(page, kExtra);
    check(first == second, "generate() twice gives the same page or the same error");
    if (!first.failed && source_is_utf8) {
        check(tornado::is_valid_utf8(first.text), "a UTF-8 template makes a UTF-8 page");
    }
    sink = sink + std::hash<std::string>{}(first.text) + (first.failed ? 1 : 0);
}

// repr(x) of the value of `expression`, or nullopt if the expression does
// not parse or fails. `must_work`: a failure is a broken promise.
std::optional<std::string> repr_of(std::string_view expression, bool must_work) {
    std::string source = "{% set x = ";
    source.append(expression).append(" %}{% raw repr(x) %}");
    try {
        return tornado::Template(source, "repr.txt").generate(arguments());
    } catch (const tornado::ParseError& error) {
        if (must_work) std::fprintf(stderr, "fuzz_template: %s\n", error.what());
    } catch (const tornado::TemplateError& error) {
        if (must_work) std::fprintf(stderr, "fuzz_template: %s\n", error.what());
    } catch (const std::exception& error) {
        unexpected("repr()", error);
    }
    check(!must_work, "repr() of a value reads back");
    return std::nullopt;
}

// Python's promise for the built-in types: repr() of a value made of
// None, bools, ints, finite floats, strs, lists, tuples and dicts reads
// back as an equal value, so its repr() is the same text. (A function,
// an inf or a nan has no literal; a text holding %} would end the tag.)
void check_repr_reads_back(std::string_view expression) {
    if (expression.find("%}") != std::string_view::npos) return;  // text besides the repr
    std::optional<std::string> first = repr_of(expression, false);
    if (!first || first->size() > 4096) return;
    for (std::string_view unreadable : {"%}", "inf", "nan", "<built-in", " object>"}) {
        if (first->find(unreadable) != std::string::npos) return;
    }
    std::optional<std::string> second = repr_of(*first, true);
    if (second != first) {
        std::fprintf(stderr, "fuzz_template: repr() gave %s, which reads back as %s\n", first->c_str(),
                     second.value_or("").c_str());
    }
    check(second == first, "repr() of a value reads back as the same value");
}

// Makes the template; nullptr when it does not parse (as it may not).
std::unique_ptr<tornado::Template> make(std::string_view source, std::string name,
                                        tornado::Template::Options options) {
    try {
        return std::make_unique<tornado::Template>(source, std::move(name), std::move(options));
    } catch (const tornado::ParseError& error) {
        check(error.lineno() >= 0, "a ParseError's line is not negative");
        sink = sink + error.message().size();
        return nullptr;
    } catch (const tornado::TemplateError& error) {
        unexpected("Template()", error);
    } catch (const std::runtime_error& error) {
        // DictLoader::create_template: a name the loader does not hold.
        check(std::string_view(error.what()).starts_with("no template named "),
              "the only other error of Template() is the loader's missing name");
        return nullptr;
    } catch (const std::exception& error) {
        unexpected("Template()", error);
    }
}

// The compiler over a template that parsed: loaded by a loader that holds it
// beside the fixed ones (with the loader's options only, since
// compile_templates() takes what a loader makes).
void compile(std::string_view source, const std::string& name, std::uint8_t setup) {
    std::map<std::string, std::string> sources = fixed_templates();
    sources[name] = std::string(source);
    tornado::BaseLoader::Options loader_options;
    if ((setup & 0x80) != 0) {
        loader_options.autoescape = "";
        loader_options.whitespace = "oneline";
    }
    tornado::DictLoader loader(std::move(sources), std::move(loader_options));
    try {
        tornado::CompiledTemplates result = tornado::compile_templates(loader, {name});
        check(result.compiled.size() + result.interpreted.size() == 1,
              "a template is compiled or left to the interpreter");
        check(result.compiled.empty() || result.cpp.find("render") != std::string::npos,
              "a compiled template has its function");
    } catch (const tornado::ParseError&) {
        // Parsed with the Template's own options, not the loader's: the
        // whitespace mode or the escaping can make a difference.
    } catch (const std::runtime_error& error) {
        // The loader's: a name it lacks.
        check(std::string_view(error.what()).find("no template named") != std::string_view::npos,
              "only a missing template name stops the compiler");
    }
}

void fuzz_template(std::uint8_t setup, std::string_view source) {
    static constexpr const char* kWhitespace[] = {nullptr, "all", "single", "oneline"};
    static constexpr const char* kAutoescape[] = {nullptr, "", "xhtml_escape", "upper"};
    tornado::BaseLoader::Options loader_options;
    loader_options.namespace_ = loader_functions();
    if ((setup & 0x80) != 0) {
        loader_options.autoescape = "";
        loader_options.whitespace = "oneline";
    }
    tornado::DictLoader loader(fixed_templates(), std::move(loader_options));
    tornado::Template::Options options{.loader = &loader};
    if (const char* mode = kWhitespace[(setup >> 1) & 3]) options.whitespace = mode;
    if (const char* escape = kAutoescape[(setup >> 3) & 3]) options.autoescape = escape;
    std::string name = (setup & 0x40) != 0 ? "sub/page" : "page";
    name += (setup & 0x20) != 0 ? ".txt" : ".html";
    std::unique_ptr<tornado::Template> page = make(source, name, std::move(options));
    if (page == nullptr) return;
    compile(source, name, setup);
    if (source.find("while") != std::string_view::npos) return;
    generate(*page, tornado::is_valid_utf8(source));
}

void fuzz_expression(std::uint8_t setup, std::string_view expression) {
    // Each tag around the expression; the last one's loop stops itself.
    static constexpr std::string_view kTags[][2] = {
        {"{{ ", " }}"},
        {"{% set x = ", " %}{{ x }}|{% raw repr(x) %}"},
        {"{% set ", " %}"},
        {"{% for x in ", " %}[{{ x }}]{% else %}none{% end %}"},
        {"{% for ", " %}{% end %}"},
        {"{% if ", " %}yes{% elif name %}name{% else %}no{% end %}"},
        {"{% try %}{{ fail() }}{% except ", " %}caught{% end %}"},
        {"{% set i = 0 %}{% while ", " %}{% set i += 1 %}{% if i > 3 %}{% break %}{% end %}{% end %}{{ i }}"},
    };
    const std::size_t which = (setup >> 1) & 7;
    const auto& tag = kTags[which];
    std::string source;
    source.reserve(tag[0].size() + expression.size() + tag[1].size());
    source.append(tag[0]).append(expression).append(tag[1]);
    tornado::DictLoader loader(fixed_templates(), {.namespace_ = loader_functions()});
    tornado::Template::Options options{.loader = &loader};
    if ((setup & 0x10) != 0) options.autoescape = "upper";
    std::unique_ptr<tornado::Template> page = make(source, "expression.html", std::move(options));
    if (page == nullptr || expression.find("while") != std::string_view::npos) return;
    // The last tag's loop stops itself only if the text does not close
    // the {% while %} tag and write a body of its own.
    if (which == 7 && expression.find("%}") != std::string_view::npos) return;
    generate(*page, tornado::is_valid_utf8(source));
    if (which == 1) check_repr_reads_back(expression);
}

// TEMPLATE_FUZZ_MODE fixes the mode: 0 template, 1 expression, -1 the byte's.
int fixed_mode() {
    static const int kMode = [] {
        const char* mode = std::getenv("TEMPLATE_FUZZ_MODE");
        if (mode == nullptr) return -1;
        if (std::string_view(mode) == "template") return 0;
        if (std::string_view(mode) == "expression") return 1;
        std::fprintf(stderr, "fuzz_template: TEMPLATE_FUZZ_MODE is template or expression\n");
        std::exit(2);
    }();
    return kMode;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::uint8_t setup = data[0];
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    int mode = fixed_mode() >= 0 ? fixed_mode() : (setup & 1);
    if (mode == 0) {
        fuzz_template(setup, text);
    } else {
        fuzz_expression(setup, text);
    }
    return 0;
}
