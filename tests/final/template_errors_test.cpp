// tornado/template.h: what a template may not do, and the errors it gets
// instead of a crash or a silent wrong page. Each test is a regression test
// for a bug a review found: expressions deep enough to overflow the stack, a
// {% break %} in a loop's {% else %}, a nested {% extends %}, a Loader whose
// root is "/", the order of {% set x += f() %}, and number literals Python
// refuses. The behaviour each is compared with is Python Tornado 6.2's (on
// Python 3.11), as noted at each test.
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "template/template_expression.h"  // kMaxExpressionDepth
#include "template_test_util.h"
#include "test_util.h"
#include "tornado/template.h"

namespace {

using tornado::JSON;
using tornado::TemplateArguments;
using tornado::TemplateValue;
using tornado::template_detail::kMaxExpressionDepth;

using tornado::testing::parse_error_of;
using tornado::testing::render;

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// `part` repeated `count` times.
std::string repeat(std::string_view part, int count) {
    std::string out;
    out.reserve(part.size() * static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) out += part;
    return out;
}

// `levels` unary operators, "-", "+" and "~" in turn.
std::string mixed_unary(int levels) {
    std::string out;
    for (int i = 0; i < levels; ++i) out += "-+~"[i % 3];
    return out;
}

// Expressions that nest `levels` levels above their innermost operand, one
// per way of nesting: a tree levels + 1 deep (parentheses make no node, but
// the parser counts them the same).
std::vector<std::pair<std::string, std::string>> deep_expressions(int levels) {
    return {
        {"power chain", "1" + repeat("**1", levels)},
        {"not chain", repeat("not ", levels) + "1"},
        {"minus chain", repeat("- ", levels) + "1"},
        {"mixed unary", mixed_unary(levels) + "1"},
        {"attribute chain", "x" + repeat(".real", levels)},
        {"subscript chain", "x" + repeat("[0]", levels)},
        {"slice chain", "x" + repeat("[:]", levels)},
        {"call chain", "f" + repeat("()", levels)},
        {"nested calls", repeat("f(", levels) + "1" + repeat(")", levels)},
        {"nested lists", repeat("[", levels) + "1" + repeat("]", levels)},
        {"nested dicts", repeat("{'k': ", levels) + "1" + repeat("} ", levels)},  // "}}" would end {{
        {"parentheses", repeat("(", levels) + "1" + repeat(")", levels)},
        {"nested tuples", repeat("(1, ", levels) + "1" + repeat(")", levels)},
        {"conditional chain", repeat("1 if x else ", levels) + "2"},
        // The innermost else is a level of its own.
        {"nested conditions", repeat("(1 if ", levels - 1) + "x" + repeat(" else 2)", levels - 1)},
        {"keyword arguments", repeat("f(a=", levels) + "1" + repeat(")", levels)},
        {"nested subscripts", repeat("x[", levels) + "0" + repeat("]", levels)},
        {"power of unary", "2" + repeat("**-2", levels / 2) + (levels % 2 ? "**2" : "")},
    };
}

// Python 3.11 (through Tornado 6.2) refuses each of these with 100,000
// levels: a RecursionError or MemoryError while compiling, or "too many
// nested parentheses". Before the fix, the power chain overflowed the stack
// while parsing, and the chains of trailers and of "+" while rendering.
TEST(TemplateErrors, ExpressionsNestedTooDeeplyAreAParseErrorNotACrash) {
    for (const auto& [what, expression] : deep_expressions(100'000)) {
        std::string error = parse_error_of("line 1\n{{ " + expression + " }}");
        EXPECT_TRUE(contains(error, "expression nested too deeply")) << what << ": " << error.substr(0, 200);
        EXPECT_TRUE(error.ends_with(" at bad.html:2")) << what << ": " << error.substr(0, 200);
    }
    // The same in every tag that holds an expression, and in a target.
    std::string deep = repeat("not ", 100'000) + "x";
    EXPECT_TRUE(contains(parse_error_of("{% if " + deep + " %}{% end %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% while " + deep + " %}{% end %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% set y = " + deep + " %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% set y += " + deep + " %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% for i in " + deep + " %}{% end %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% raw " + deep + " %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% apply " + deep + " %}{% end %}"), "nested too deeply"));
    std::string target = repeat("(", 100'000) + "a" + repeat(")", 100'000);
    EXPECT_TRUE(contains(parse_error_of("{% set " + target + " = 1 %}"), "nested too deeply"));
    EXPECT_TRUE(contains(parse_error_of("{% for " + target + " in [] %}{% end %}"), "nested too deeply"));
}

// The limit is exact: kMaxExpressionDepth levels of tree parse and render,
// one more is refused. Parentheses make no node but count the same (Python
// 3.11's own limit for them is 200: 199 nested "(" compile).
TEST(TemplateErrors, TheDepthLimitIsExactAndTheDeepestAllowedRenders) {
    const int most = kMaxExpressionDepth - 1;  // the levels above the innermost leaf
    JSON args = {{"x", 0}};
    EXPECT_EQ(tornado::Template("{{ " + repeat("- ", most) + "1 }}").generate(), most % 2 ? "-1" : "1");
    EXPECT_EQ(tornado::Template("{{ " + repeat("not ", most) + "1 }}").generate(), most % 2 ? "False" : "True");
    EXPECT_EQ(tornado::Template("{{ " + repeat("(", most) + "7" + repeat(")", most) + " }}").generate(), "7");
    EXPECT_EQ(tornado::Template("{{ 1" + repeat("**1", most) + " }}").generate(), "1");
    EXPECT_EQ(tornado::Template("{{ 'ab'" + repeat("[:]", most) + " }}").generate(args), "ab");
    EXPECT_EQ(tornado::Template("{{ " + repeat("1 if x else ", most) + "2 }}").generate(args), "2");
    EXPECT_EQ(tornado::Template("{{ len(" + repeat("[", most - 1) + repeat("]", most - 1) + ") }}").generate(), "1");
    for (const auto& [what, expression] : deep_expressions(kMaxExpressionDepth)) {
        EXPECT_TRUE(contains(parse_error_of("{{ " + expression + " }}"), "nested too deeply")) << what;
    }
    EXPECT_EQ(parse_error_of("{{ " + repeat("- ", most) + "1 }}"), "no error");
    EXPECT_TRUE(contains(parse_error_of("{{ " + repeat("- ", most + 1) + "1 }}"),
                         "expression nested too deeply: more than " + std::to_string(kMaxExpressionDepth) + " levels"));
    EXPECT_EQ(parse_error_of("{{ " + repeat("(", most) + "1" + repeat(")", most) + " }}"), "no error");
    EXPECT_TRUE(contains(parse_error_of("{{ " + repeat("(", most + 1) + "1" + repeat(")", most + 1) + " }}"), "nested too deeply"));
    // A trailer on a deep operand counts both: (- - ... x).real.
    std::string half = repeat("- ", most / 2);
    EXPECT_EQ(parse_error_of("{{ (" + half + "x)" + repeat(".real", most / 2 - 1) + " }}"), "no error");
    EXPECT_TRUE(contains(parse_error_of("{{ (" + half + "x)" + repeat(".real", most / 2 + 2) + " }}"), "nested too deeply"));
}

// Runs `body` on a thread whose stack is `bytes` large (a secondary thread
// of a program that asked for small stacks), and waits for it.
void run_on_small_stack(std::size_t bytes, const std::function<void()>& body) {
    pthread_attr_t attributes;
    ASSERT_EQ(pthread_attr_init(&attributes), 0);
    ASSERT_EQ(pthread_attr_setstacksize(&attributes, bytes), 0);
    pthread_t thread;
    auto call = [](void* argument) -> void* {
        (*static_cast<const std::function<void()>*>(argument))();
        return nullptr;
    };
    ASSERT_EQ(pthread_create(&thread, &attributes, call, const_cast<std::function<void()>*>(&body)), 0);
    pthread_join(thread, nullptr);
    pthread_attr_destroy(&attributes);
}

// The limit is meant to keep parsing and rendering far from a small stack's
// end: the deepest expressions allowed, each way of nesting, are parsed and
// rendered on a thread with a 1 MB stack (an eighth of the main thread's;
// the limit's comment in template_expression.h gives the measured use).
// ASan gives every frame red zones, so frames are several times larger:
// the point (a small stack is enough) is kept with more room.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kSmallStack = 8 << 20;
#else
constexpr std::size_t kSmallStack = 1 << 20;
#endif

TEST(TemplateErrors, TheDeepestExpressionsFitASmallStack) {
    tornado::TemplateNamespace functions;
    // f() is a function, f(x) is x: so f()()() and f(f(1)) both render.
    functions.set_function("f", [](const TemplateArguments& arguments) {
        if (!arguments.positional.empty()) return arguments.positional[0];
        if (!arguments.keyword.empty()) return arguments.keyword[0].second;
        return TemplateValue::function("g", [](const TemplateArguments&) { return TemplateValue(1); });
    });
    std::vector<std::string> failures;
    std::size_t rendered = 0;
    const std::vector<std::pair<std::string, std::string>> deepest = deep_expressions(kMaxExpressionDepth - 1);
    run_on_small_stack(kSmallStack, [&] {
        for (const auto& [what, expression] : deepest) {
            try {
                tornado::Template page("{{ " + expression + " }}");
                page.generate({{"x", {0}}}, functions);
                ++rendered;
            } catch (const tornado::TemplateError&) {
                ++rendered;  // x.real of a list, 1() of an int: an error, but one rendering met
            } catch (const std::exception& error) {
                failures.push_back(what + ": " + std::string(error.what()).substr(0, 200));
            }
        }
    });
    EXPECT_EQ(rendered, deepest.size());
    EXPECT_TRUE(failures.empty()) << testing::PrintToString(failures);
}

// A long run of one operator is flat: Python 3.11 accepts 1+1+...+1 of 1,000
// terms (a RecursionError at 3,000) and "or" runs of any length; here the
// run is one node evaluated in a loop, so 100,000 terms render. List and
// dict items are not nesting: Python takes a list of 10,000 items.
TEST(TemplateErrors, LongFlatRunsOfOneOperatorRender) {
    std::string sum = "1" + repeat(" + 1", 99'999);
    EXPECT_EQ(render("{{ " + sum + " }}"), "100000");
    EXPECT_EQ(render("{{ 0" + repeat(" or 0", 99'999) + " or 'last' }}"), "last");
    EXPECT_EQ(render("{{ 1" + repeat(" and 1", 99'999) + " and 0 }}"), "0");
    EXPECT_EQ(render("{{ 100000" + repeat(" - 1", 100'000) + " }}"), "0");
    EXPECT_EQ(render("{{ 1" + repeat(" * 1", 100'000) + " }}"), "1");
    EXPECT_EQ(render("{{ 1" + repeat(" | 2", 100'000) + " }}"), "3");
    EXPECT_EQ(render("{{ 1" + repeat(" < 2", 100'000) + " }}"), "False");
    EXPECT_EQ(render("{{ 0" + repeat(" < 1", 1) + repeat(" <= 1", 100'000) + " }}"), "True");
    std::string names;
    JSON args = JSON::object();
    for (int i = 0; i < 200; ++i) {
        std::string name = "v";
        name += std::to_string(i);
        names += (i ? " + " : "") + name;
        args[name] = i;
    }
    EXPECT_EQ(render("{{ " + names + " }}", args), "19900");
    EXPECT_EQ(render("{{ len([" + repeat("1, ", 10'000) + "]) }}"), "10000");
    std::string dict = "{";
    for (int i = 0; i < 10'000; ++i) dict += "'k" + std::to_string(i) + "': [" + std::to_string(i) + "], ";
    EXPECT_EQ(render("{{ len(" + dict + "}) }}"), "10000");
    EXPECT_EQ(render("{{ len((" + repeat("1, ", 10'000) + ")) }}"), "10000");
    EXPECT_EQ(render("{{ max(" + repeat("1, ", 10'000) + "2) }}"), "2");
}

// A run evaluates as Python's left-deep tree would: left to right, each
// operand once, "and"/"or" stopping at the operand that decides, and "**"
// still right-associative.
TEST(TemplateErrors, FlatRunsKeepPythonsOrder) {
    EXPECT_EQ(render("{{ 10 - 2 - 3 }}"), "5");
    EXPECT_EQ(render("{{ 100 // 7 % 3 * 2 }}"), "4");
    EXPECT_EQ(render("{{ 2 ** 3 ** 2 }}"), "512");
    EXPECT_EQ(render("{{ -2 ** 2 }}"), "-4");
    EXPECT_EQ(render("{{ 2 ** -1 }}"), "0.5");
    EXPECT_EQ(render("{{ 1 + 2 * 3 - 4 }}"), "3");
    EXPECT_EQ(render("{{ 'a' + 'b' * 2 + 'c' }}"), "abbc");
    EXPECT_EQ(render("{{ '%s-%s' % (1, 2) + '!' + '?' }}"), "1-2!?");
    EXPECT_EQ(render("{{ '%s' % 'x' % () }}"), "x");
    EXPECT_EQ(render("{{ 1 + 2 if 0 else 3 - 1 - 1 }}"), "1");
    EXPECT_EQ(render("{{ 0 or '' or None }}"), "None");
    EXPECT_EQ(render("{{ 1 and 'x' and [] and 1 // 0 }}"), "[]");
    EXPECT_EQ(render("{{ 0 or 2 or 1 // 0 }}"), "2");
    EXPECT_EQ(render("{{ not 0 and 1 or 2 }}"), "1");
    // The first failing operand stops the run, at its own place.
    try {
        render("{{ 1 + 1 + 'a' + missing }}");
        ADD_FAILURE() << "no error";
    } catch (const tornado::TemplateError& error) {
        EXPECT_EQ(error.python_type(), "TypeError");
    }
}

// Tornado 6.2 lets Python compile the for's else clause after the loop:
// "{% for %}{% else %}{% break %}" is Python's SyntaxError "'break' outside
// loop" ("'continue' not properly in loop" for continue) when the template
// is made. The engine used to take the else as inside the loop, and the
// page came out empty. Inside an outer loop, the break is the outer loop's.
TEST(TemplateErrors, BreakInALoopsElseIsAParseError) {
    std::string error = parse_error_of("{% for i in [1] %}\n{% else %}{% break %}{% end %}after");
    EXPECT_EQ(error, "'break' outside loop at bad.html:2");
    EXPECT_EQ(parse_error_of("{% for i in [1] %}{% else %}\n\n{% continue %}{% end %}"),
              "'continue' not properly in loop at bad.html:3");
    EXPECT_EQ(parse_error_of("{% while False %}{% else %}{% break %}{% end %}"), "'break' outside loop at bad.html:1");
    // Anywhere in the else clause, but not in a loop inside it.
    EXPECT_TRUE(contains(parse_error_of("{% for i in [] %}{% else %}{% if 1 %}{% break %}{% end %}{% end %}"), "'break' outside loop"));
    EXPECT_TRUE(contains(parse_error_of("{% for i in [] %}{% else %}{% try %}{% continue %}{% except %}{% end %}{% end %}"),
                         "'continue' not properly in loop"));
    EXPECT_TRUE(contains(parse_error_of("{% for i in [] %}{% else %}{% for j in [] %}{% else %}{% break %}{% end %}{% end %}"),
                         "'break' outside loop"));
    EXPECT_EQ(render("{% for i in [] %}{% else %}{% for j in [1, 2] %}{{ j }}{% break %}{% end %}{% end %}after"), "1after");
    // An apply body is a function of its own: no loop reaches into it.
    EXPECT_TRUE(contains(parse_error_of("{% for i in [] %}{% else %}{% apply str %}{% break %}{% end %}{% end %}"),
                         "break outside {'for', 'while'} block"));
    // The else of a loop inside a loop: the break ends the outer loop.
    EXPECT_EQ(render("{% for k in [1, 2] %}{% for i in [1] %}{% else %}{% break %}{% end %}{{ k }}{% end %}after"), "after");
    EXPECT_EQ(render("{% for k in [1, 2] %}{% for i in [] %}{% else %}{% continue %}{% end %}{{ k }}{% end %}after"),
              "after");
    EXPECT_EQ(render("{% for k in [1, 2] %}{% for i in [1] %}{% break %}{% else %}no{% end %}{{ k }}{% end %}"), "12");
}

// Tornado 6.2 raises NotImplementedError when it makes a template whose
// {% extends %} is inside a block tag ({% if 1 %}, {% if 0 %}, {% for %},
// {% block %} alike): only a top-level extends is followed. The engine used
// to follow it; now it is a ParseError at its line.
TEST(TemplateErrors, ANestedExtendsIsAParseError) {
    tornado::DictLoader loader(std::map<std::string, std::string>{
        {"b.html", "base {% block x %}{% end %}"},
        {"if.html", "{% if 1 %}\n{% extends \"b.html\" %}{% end %}"},
        {"block.html", "{% block x %}{% extends 'b.html' %}{% end %}"},
        {"for.html", "{% for i in [] %}\n\n{% extends 'b.html' %}{% end %}"},
        {"top.html", "{% extends 'b.html' %}{% block x %}child{% end %}"},
    });
    auto parse_error = [&](const std::string& name) -> std::string {
        try {
            loader.load(name);
        } catch (const tornado::ParseError& error) {
            return error.what();
        }
        return "no error";
    };
    EXPECT_EQ(parse_error("if.html"),
              "{% extends %} inside {% if %}: it is only allowed at the top level of a template at if.html:2");
    EXPECT_TRUE(contains(parse_error("block.html"), "inside {% block %}")) << parse_error("block.html");
    EXPECT_TRUE(parse_error("for.html").ends_with("at for.html:3")) << parse_error("for.html");
    EXPECT_EQ(loader.load("top.html")->generate(), "base child");
}

// Loader("/") refused every template: its root kept the slash, and the
// check for "inside the root" looked for "//". A root with or without a
// trailing slash now works the same, and a name leading out is refused.
class TemplateErrorsLoader : public testing::Test {
protected:
    void SetUp() override {
        root_ = std::filesystem::temp_directory_path() /
                ("template_errors_test_" + std::to_string(::getpid()) + "_" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(root_ / "site" / "sub");
        write("site/page.html", "page {% include 'sub/part.html' %}");
        write("site/sub/part.html", "part {% include '../note.html' %}");
        write("site/note.html", "{{ note }}");
        write("secret.html", "secret");
    }
    void TearDown() override { std::filesystem::remove_all(root_); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(root_ / name, std::ios::binary) << text;
    }
    std::filesystem::path root_;
};

TEST_F(TemplateErrorsLoader, ARootWithOrWithoutATrailingSlashLoadsTheSame) {
    for (const std::string& root : {(root_ / "site").string(), (root_ / "site").string() + "/",
                             (root_ / "site").string() + "//", (root_ / "site" / ".").string()}) {
        tornado::Loader loader(root);
        EXPECT_EQ(loader.root(), (root_ / "site").string()) << root;
        EXPECT_EQ(loader.load("page.html")->generate({{"note", "n"}}), "page part n") << root;
        EXPECT_EQ(loader.resolve_path("../note.html", "sub/part.html"), "note.html") << root;
        EXPECT_THROW(loader.load("../secret.html"), std::invalid_argument) << root;
        EXPECT_THROW(loader.load("sub/../../secret.html"), std::invalid_argument) << root;
        EXPECT_THROW(loader.load((root_ / "secret.html").string()), std::invalid_argument) << root;
        EXPECT_THROW(loader.load("."), std::runtime_error) << root;  // the root itself, a directory
    }
}

TEST_F(TemplateErrorsLoader, TheRootSlashLoadsAnyFileByItsPathWithoutTheSlash) {
    tornado::Loader loader("/");
    EXPECT_EQ(loader.root(), "/");
    std::string page = (root_ / "site" / "page.html").string().substr(1);  // "tmp/.../page.html"
    EXPECT_EQ(loader.load(page)->generate({{"note", "n"}}), "page part n");
    // An include is relative to the including file, inside "/" too.
    EXPECT_EQ(loader.resolve_path("sub/part.html", page), (root_ / "site" / "sub" / "part.html").string().substr(1));
    // Names stay relative to the root: an absolute one is refused, as with
    // any root.
    EXPECT_THROW(loader.load((root_ / "secret.html").string()), std::invalid_argument);
    EXPECT_THROW(loader.load("."), std::runtime_error);
}

// Python runs x += f() as: load x, call f(), add. Tornado 6.2 with x unset:
// UnboundLocalError, and f() is never called. The engine used to call f()
// first.
TEST(TemplateErrors, AugmentedAssignmentLooksTheNameUpFirst) {
    int calls = 0;
    tornado::TemplateNamespace functions;
    functions.set_function("f", [&](const TemplateArguments&) {
        ++calls;
        return TemplateValue(2);
    });
    try {
        tornado::Template("\n{% set x += f() %}").generate(JSON::object(), functions);
        ADD_FAILURE() << "no error";
    } catch (const tornado::TemplateError& error) {
        EXPECT_EQ(error.python_type(), "UnboundLocalError");
        EXPECT_EQ(error.lineno(), 2);
    }
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(tornado::Template("{% set x = 1 %}{% set x += f() %}{{ x }}").generate(JSON::object(), functions), "3");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(render("{% set s = 'a' %}{% set s *= 3 %}{% set s += 'b' %}{{ s }}"), "aaab");
}

// Python 3.11's tokenizer, which Tornado's code goes through: a '_' only
// between two digits (or right after 0x, 0o, 0b), an exponent with digits,
// and digits the base has. Each refusal is a SyntaxError with the message
// below; here a ParseError with the same message. The engine used to read
// 1e as 1.0, 1__0 as 10 and 1_ as 1.
TEST(TemplateErrors, NumberLiteralsPythonRefusesAreParseErrors) {
    const std::pair<const char*, const char*> refused[] = {
        {"1e", "invalid decimal literal"},
        {"1e+", "invalid decimal literal"},
        {"1E+_1", "invalid decimal literal"},
        {"1__0", "invalid decimal literal"},
        {"1_", "invalid decimal literal"},
        {"0_", "invalid decimal literal"},
        {"1_e1", "invalid decimal literal"},
        {"1e_1", "invalid decimal literal"},
        {"1e5_", "invalid decimal literal"},
        {"1._5", "invalid decimal literal"},
        {"1_.5", "invalid decimal literal"},
        {"1.5_", "invalid decimal literal"},
        {"1__0.5", "invalid decimal literal"},
        {"1.__class__", "invalid decimal literal"},
        {"0 if 1else 2", "invalid decimal literal"},
        {"0x", "invalid hexadecimal literal"},
        {"0x_", "invalid hexadecimal literal"},
        {"0x1_", "invalid hexadecimal literal"},
        {"0x1__0", "invalid hexadecimal literal"},
        {"0x1g", "invalid hexadecimal literal"},
        {"0b", "invalid binary literal"},
        {"0b1a", "invalid binary literal"},
        {"0b12", "invalid digit '2' in binary literal"},
        {"0o8", "invalid digit '8' in octal literal"},
        {"0_7", "leading zeros in decimal integer literals are not permitted"},
    };
    for (const auto& [literal, message] : refused) {
        std::string error = parse_error_of(std::string("\n{{ ") + literal + " }}");
        EXPECT_TRUE(contains(error, message)) << literal << ": " << error;
        EXPECT_TRUE(error.ends_with("at bad.html:2")) << literal << ": " << error;
    }
    const std::pair<const char*, const char*> accepted[] = {
        {"1_000", "1000"}, {"0x_1", "1"},   {"0x1_f", "31"},  {"0O1_7", "15"},       {"0o_7", "7"},
        {"0b1_0", "2"},    {"0_0", "0"},    {"00", "0"},      {"07.5", "7.5"},       {".5_0", "0.5"},
        {"1.", "1.0"},     {"1.e1", "10.0"}, {"1e-1_0", "1e-10"}, {"1_0.2_5e1", "102.5"}, {"1E+2", "100.0"},
    };
    for (const auto& [literal, value] : accepted) {
        EXPECT_EQ(render(std::string("{{ ") + literal + " }}"), value) << literal;
    }
}

}  // namespace
