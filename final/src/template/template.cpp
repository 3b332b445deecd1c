// template.cpp: templates parsed into a tree of nodes, a program made from
// a template and those it extends and includes, and the loaders.
//
// Tornado turns a template into the source of one Python function and
// compiles it; the nodes below do what each piece of that function does:
//
//   Text         _tt_append(b"...")
//   Output       _tt_tmp = expr; _tt_append(xhtml_escape(str(_tt_tmp)))
//   Set          x = ...
//   If/For/While/Try   the Python statement, its body indented
//   NamedBlock   the body of the most derived template's block of that name
//   Include      the included template's body, inline
//   Apply        a nested function that returns its body's text, passed to f
//
// A Template's Program is that function: the root ancestor's body, the
// named blocks chosen from every ancestor, and every included template,
// all resolved when the Template is made (as Tornado generates its code).
//
// A page's path: Template's constructor reads the source (Reader, Parser)
// into a ParsedFile, loads what it extends and includes through the loader,
// and builds the Program; generate() runs the Program's root body over a new
// Scope, each node appending to one std::string. The expressions are
// template_expression.cpp's; the operators and builtins are
// template_operations.cpp's.
#include "tornado/template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "template/template_expression.h"
#include "template/template_operations.h"
#include "tornado/template_compiled.h"

namespace tornado {

using template_detail::PythonError;
using template_detail::Scope;
using template_detail::SyntaxError;

// what() is Tornado's ParseError.__str__: "message at file:line".
ParseError::ParseError(std::string message, std::string filename, int lineno)
    : std::runtime_error(message + " at " + filename + ":" + std::to_string(lineno)),
      message_(std::move(message)),
      filename_(std::move(filename)),
      lineno_(lineno) {}

// what() reads like the last line of a Python traceback, and where:
// "KeyError: 'x' at page.html:3".
TemplateError::TemplateError(std::string python_type, std::string message, std::string filename,
                             int lineno, std::exception_ptr cause)
    : std::runtime_error(python_type + ": " + message + " at " + filename + ":" +
                         std::to_string(lineno)),
      python_type_(std::move(python_type)),
      message_(std::move(message)),
      filename_(std::move(filename)),
      lineno_(lineno),
      cause_(std::move(cause)) {}

// ---- whitespace -------------------------------------------------------------

namespace {

// The length of the whitespace character (Python's \s, Unicode included)
// at text[i], or 0.
// Tornado filters with Python regular expressions, where \s is every
// character str.isspace() accepts: the ASCII ones (the \x1C-\x1F separators
// too) and the list below. 0xC2 is the smallest lead byte of a two-byte UTF-8
// sequence: a byte below it (and above ASCII) starts none of them.
std::size_t whitespace_length(std::string_view text, std::size_t i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte == ' ' || (byte >= '\t' && byte <= '\r') || (byte >= 0x1C && byte <= 0x1F)) return 1;
    if (byte < 0xC2) return 0;
    static constexpr std::string_view kWide[] = {"\u0085", "\u00a0", "\u1680", "\u2000", "\u2001",
                                                 "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
                                                 "\u2007", "\u2008", "\u2009", "\u200a", "\u2028",
                                                 "\u2029", "\u202f", "\u205f", "\u3000"};
    for (std::string_view space : kWide) {
        if (text.substr(i, space.size()) == space) return space.size();
    }
    return 0;
}

// The three modes of tornado/template.h. Tornado checks a mode by filtering
// an empty string with it.
void check_whitespace_mode(std::string_view mode) {
    if (mode != "all" && mode != "single" && mode != "oneline") {
        throw std::invalid_argument("invalid whitespace mode " + std::string(mode));
    }
}

}  // namespace

// Tornado's "single" is two substitutions: [\t ]+ becomes " ", then \s*\n\s*
// becomes "\n". One pass over each run of whitespace gives the same text: a
// run with a newline anywhere becomes one newline (the second substitution
// takes the whole run), a run of spaces and tabs one space.
std::string filter_whitespace(std::string_view mode, std::string_view text) {
    check_whitespace_mode(mode);
    if (mode == "all") return std::string(text);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        std::size_t length = whitespace_length(text, i);
        if (length == 0) {
            out += text[i++];
            continue;
        }
        std::size_t end = i;
        bool has_newline = false, all_blank = true;  // blank: only spaces and tabs
        while (end < text.size() && (length = whitespace_length(text, end)) > 0) {
            has_newline |= text[end] == '\n';
            all_blank &= text[end] == ' ' || text[end] == '\t';
            end += length;
        }
        if (mode == "oneline") {
            out += ' ';
        } else if (has_newline) {
            out += '\n';  // "single": a run holding a newline becomes that newline
        } else if (all_blank) {
            out += ' ';
        } else {
            // Whitespace without a newline that is not only spaces and tabs
            // (a \r, a \f): Python's first rule squeezes only [\t ]+ runs.
            for (std::size_t j = i; j < end;) {
                if (text[j] == ' ' || text[j] == '\t') {
                    out += ' ';
                    while (j < end && (text[j] == ' ' || text[j] == '\t')) ++j;
                } else {
                    std::size_t one = whitespace_length(text, j);
                    out.append(text.substr(j, one));
                    j += one;
                }
            }
        }
        i = end;
    }
    return out;
}

// ---- nodes ------------------------------------------------------------------

namespace template_detail {

// A parsed template is a tree of Nodes. Executing a node appends to the page
// (Context::out) and returns a Flow, which stands for Python's break and
// continue. Nodes are made by the Parser below and never change afterwards:
// every generate(), on any thread, shares them.
struct Node;
using NodePtr = std::unique_ptr<const Node>;
using Body = std::vector<NodePtr>;

// What a loop's body tells the loop.
enum class Flow { normal, break_loop, continue_loop };

struct Context;
struct Program;
struct ParsedFile;

// What a node needs to write its C++ (tornado/template_compiled.h): the
// writer, the program (which block and which include run where), and how
// deep blocks and includes are pasted into each other.
struct Emitter {
    CppWriter& writer;
    const Program& program;
    int depth = 0;
    std::map<const ParsedFile*, std::string> file_ids{};

    // The C++ that tells the page where the next code comes from.
    std::string at(const ParsedFile& file, int line);
};

// Blocks and includes are pasted into the compiled function; a program that
// nests them deeper (a block that includes a template that uses the block)
// is left to the interpreter, whose depth limit reports it.
constexpr int kMaxCompiledDepth = 50;

// `line`: the node's line in its file, for error messages (for a tag, the
// line of its opening braces).
struct Node {
    int line = 0;
    virtual ~Node() = default;
    virtual Flow execute(Context& context) const = 0;
    // Writes the C++ that does what execute() does (template_compiled.h).
    virtual void emit(Emitter&) const { throw NotCompilable("a tag the compiler cannot write"); }
    // The bodies nested in this node, for the walks that find blocks and
    // includes.
    virtual std::vector<const Body*> bodies() const { return {}; }
};

// One template file, parsed.
// `extends`: the parser adds each {% extends %} of the top level to it; one
// nested in an if or a block is a ParseError (see simple_tag()).
struct ParsedFile {
    std::string name;
    std::string autoescape;              // the function's name, "" for none; the last
                                         // {% autoescape %} of the file wins, as in Tornado
    compiled::Name autoescape_name{""};  // the same name, once the file is parsed
    std::vector<std::string> extends;    // {% extends %} at the top level, in order
    Body body;
    std::uint64_t hash = 0;  // of the source and the options it was parsed with
};

std::string Emitter::at(const ParsedFile& file, int line) {
    auto found = file_ids.find(&file);
    if (found == file_ids.end()) {
        std::string id = "file_" + std::to_string(file_ids.size());
        // A literal, so data() ends in a NUL, as Page::at() wants.
        writer.declare("const std::string_view " + id + " = " + CppWriter::quote(file.name) + ";");
        found = file_ids.emplace(&file, id).first;
    }
    return "page.at(" + found->second + ".data(), " + std::to_string(line) + ");";
}

// A body's nodes, compiled in order.
void emit_body(const Body& body, Emitter& emitter) {
    for (const NodePtr& node : body) node->emit(emitter);
}

struct NamedBlock;
struct Include;

struct Apply;

// The names each function of the program assigns (Python's locals).
using Names = std::set<std::string, std::less<>>;

// What Tornado generates as one Python function for a template and its
// ancestors: which file's body runs (root), which block runs for each name,
// which template each include runs, and the local names of each function.
// Made once, in Template's constructor; only read afterwards.
struct Program {
    const ParsedFile* root = nullptr;
    Names locals;                                     // the page's function
    std::map<const Apply*, Names> apply_locals;       // each {% apply %} body's function
    std::map<std::string, const NamedBlock*> blocks;  // the most derived of each name
    // Kept here, not in the Include nodes: nodes are immutable once parsed,
    // and one file's nodes are shared by the program of every template that
    // extends or includes it.
    std::map<const Include*, std::shared_ptr<const Template>> includes;
    std::vector<std::shared_ptr<const Template>> kept;  // ancestors, kept alive

    // Whether some function of the page assigns `name` ({% set %}, {% for %}).
    bool assigns(std::string_view name) const {
        if (locals.contains(name)) return true;
        return std::any_of(apply_locals.begin(), apply_locals.end(),
                           [&](const auto& entry) { return entry.second.contains(name); });
    }
};

// The state of one generate(), or of one {% apply %} body: where the text
// goes, the variables, the program. Nodes are const; what running them
// changes is here.
struct Context {
    std::string* out;
    Scope* scope;
    const Program* program;
    int depth;  // blocks and includes inside each other
    // What {{ }} writes through, as compiled code does: escaping, the text
    // buffer, the escaping function found once.
    compiled::Page page;
    // Whether the program assigns the escaping function's name (then it is
    // looked up at every {{ }}), found once for the name last asked about.
    const std::string* escape_checked = nullptr;
    bool escape_assigned = false;
};

// A body's nodes in order. A break or continue ends the body at once and goes
// up, through if, try, blocks and includes, to the loop that handles it.
Flow run(const Body& body, Context& context) {
    for (const NodePtr& node : body) {
        Flow flow = node->execute(context);
        if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
}

// Runs `action` for the node at `line` of `file`: a Python error inside
// becomes a TemplateError naming both (the innermost node names it).
template <typename Action>
auto with_location(const ParsedFile& file, int line, Action action) {
    try {
        return action();
    } catch (const PythonError& error) {
        throw TemplateError(error.type(), error.message(), file.name, line, error.cause());
    }
}

// Python allows a few hundred nested calls; a template that includes or
// extends itself through blocks would otherwise use up the stack.
constexpr int kMaxDepth = 200;

// One more block or include for as long as it runs. The depth goes back
// down however the body ends: an error that a {% try %} around it caught
// used to leave it one higher for good, so that a loop over a failing
// include failed with a RecursionError after 200 rounds (found while
// writing tests/final/fuzz_template.cpp).
class Deeper {
public:
    Deeper(Context& context, const ParsedFile& file, int line, const char* what)
        : depth_(context.depth) {
        if (depth_ + 1 > kMaxDepth) {
            throw TemplateError("RecursionError", std::string(what) + " nested more than 200 deep",
                                file.name, line);
        }
        ++depth_;
    }
    ~Deeper() { --depth_; }
    Deeper(const Deeper&) = delete;
    Deeper& operator=(const Deeper&) = delete;

private:
    int& depth_;
};

// Blocks and includes are pasted in, one level deeper.
void emit_nested(const Body& body, Emitter& emitter) {
    if (emitter.depth + 1 > kMaxCompiledDepth) {
        throw NotCompilable("blocks and includes nested more than " +
                            std::to_string(kMaxCompiledDepth) + " deep");
    }
    ++emitter.depth;
    emit_body(body, emitter);
    --emitter.depth;
}

// ---- one walk, two readings, for statements ---------------------------------
//
// As each expression does (template_expression.cpp), each statement below
// says once, in walk(), what it does, and a reading gives the walk its
// meaning:
//
//   Execute  runs it, over a Context: what a walk returns is the Flow that
//            goes up to the enclosing loop (a break, a continue).
//   Emit     writes it as lines of the page's C++ function, over an
//            Emitter. A break is C++'s own there, so every walk returns
//            Flow::normal; a test is a C++ expression of type bool.
//
// A node's execute() is walk(Execute), its emit() walk(Emit), so the two
// engines cannot differ in the order of the steps or where an error is
// placed. The verbs:
//
//   r.normal()                        the Flow of a statement that just ends
//   r.program()                       the Program (blocks, includes)
//   r.write_text(s)                   literal text for the page
//   r.at(file, line, step)            step(), its Python errors placed at the line
//   r.test(expression)                whether a condition holds (a part of
//                                     the data is tested where it lies)
//   r.body(body)                      a body's statements in order
//   r.nested(body, file, line, what)  the same, one block or include deeper
//   r.when(test, then)                then() if the test holds
//   r.if_else(test, then, otherwise)  then() or otherwise()
//   r.loop_while(test, round)         round() while test() holds, up to a
//                                     break; whether the test ended it
//   r.loop_control(flow)              a break or a continue
//   r.set(assignment)                 {% set %}'s walk (template_expression.cpp)
//   r.block(step)                     step() in a block of its own (a loop)
//   r.extends_not_at_top_level(file, line)   {% extends %} reached while running
//   r.escape(file, raw), r.find_json(expression), r.scratch(),
//   r.unless_written_from_data(json, escape, rest), r.append_str(e, text),
//   r.write(text, escape, expression) {{ }}'s, through compiled::Page
//   r.hold(expression)                its value, kept for the statement
//   r.hold_either(test, a, b)         the value of a or of b, by the test
//   r.never(), r.enumerate_is_builtin(), r.items(iterable),
//   r.loop_over(items, round), r.assign_item(target, items, index),
//   r.assign_number(target, index), r.assign_numbered_item(...)   {% for %}'s

// The interpreter's reading: every verb does its step at once.
class Execute {
public:
    explicit Execute(Context& context) : context_(context) {}

    Flow normal() { return Flow::normal; }
    const Program& program() { return *context_.program; }
    void write_text(const std::string& text) { *context_.out += text; }
    template <typename Step>
    auto at(const ParsedFile& file, int line, Step step) {
        return with_location(file, line, step);
    }
    bool test(const Expression& condition) {
        if (const JSON* json = condition.find_json(*context_.scope)) return compiled::truthy(*json);
        return condition.evaluate(*context_.scope).truthy();
    }
    Flow body(const Body& body) { return run(body, context_); }
    Flow nested(const Body& body, const ParsedFile& file, int line, const char* what) {
        Deeper deeper(context_, file, line, what);
        return run(body, context_);
    }
    template <typename Then>
    Flow when(bool test, Then then) {
        return test ? then() : Flow::normal;
    }
    template <typename Then, typename Otherwise>
    Flow if_else(bool test, Then then, Otherwise otherwise) {
        return test ? then() : otherwise();
    }
    template <typename Test, typename Round>
    bool loop_while(Test test, Round round) {
        while (test()) {
            if (round() == Flow::break_loop) return false;
        }
        return true;
    }
    Flow loop_control(Flow flow) { return flow; }
    void set(const Assignment& assignment) { assignment.execute(*context_.scope); }
    template <typename Step>
    Flow block(Step step) {
        return step();
    }
    [[noreturn]] void extends_not_at_top_level(const ParsedFile& file, int line) {
        throw TemplateError("NotImplementedError", "{% extends %} is only allowed at the top level",
                            file.name, line);
    }

    TemplateValue hold(const Expression& expression) {
        return expression.evaluate(*context_.scope);
    }
    TemplateValue hold_either(bool test, const Expression& a, const Expression& b) {
        return (test ? a : b).evaluate(*context_.scope);
    }

    // {{ }}: the escaping function's name (nullptr: the text is written as
    // it is), and whether the page assigns that name, so that it is looked
    // up at each use instead of once per page.
    struct Escape {
        const compiled::Name* name = nullptr;
        bool assigned = false;
    };
    Escape escape(const ParsedFile& file, bool raw) {
        if (raw || file.autoescape.empty()) return {};
        return {&file.autoescape_name, assigns(file.autoescape_name)};
    }
    const JSON* find_json(const Expression& expression) {
        return expression.find_json(*context_.scope);
    }
    template <typename Rest>
    void unless_written_from_data(const JSON* json, const Escape& escape, Rest rest) {
        if (escape.assigned || !context_.page.write_json(json, escape.name)) rest();
    }
    std::string& scratch() {
        std::string& text = context_.page.scratch();
        text.clear();
        return text;
    }
    void append_str(const Expression& expression, std::string& text) {
        expression.append_str(*context_.scope, text);
    }
    // Whether the text can hold markup (Expression::writes_no_markup()) is
    // not asked here: finding out at every {{ }} costs more than escaping.
    void write(const std::string& text, const Escape& escape, const Expression&) {
        compiled::Page& page = context_.page;
        if (escape.name == nullptr) {
            page.write_raw(text);
        } else if (escape.assigned) {
            const TemplateValue& function =
                context_.scope->lookup(Symbol::from_interned(escape.name->id()));
            append_function_text(*context_.out, function, TemplateValue(text));
        } else {
            page.write(text, *escape.name);
        }
    }

    // {% for %}
    bool never() { return false; }
    bool enumerate_is_builtin() {
        static const Symbol kEnumerate("enumerate");
        return context_.scope->lookup(kEnumerate).is_same(compiled::builtin_enumerate());
    }
    Iteration items(const TemplateValue& iterable) { return Iteration(iterable); }
    template <typename Round>
    bool loop_over(const Iteration& items, Round round) {
        for (std::size_t index = 0; index < items.size(); ++index) {
            if (round(index) == Flow::break_loop) return false;
        }
        return true;
    }
    void assign_item(const Target& target, const Iteration& items, std::size_t index) {
        target.assign(*context_.scope, items[index]);
    }
    void assign_number(const Target& target, std::size_t index) {
        target.assign(*context_.scope, static_cast<std::int64_t>(index));
    }
    void assign_numbered_item(const Target& target, const Iteration& items, std::size_t index) {
        target.assign(*context_.scope,
                      TemplateValue::tuple({static_cast<std::int64_t>(index), items[index]}));
    }

private:
    bool assigns(const compiled::Name& name) {
        if (context_.escape_checked != name.id()) {
            context_.escape_checked = name.id();
            context_.escape_assigned = context_.program->assigns(name.text());
        }
        return context_.escape_assigned;
    }

    Context& context_;
};

// The compiler's reading: every verb writes its step.
class Emit {
public:
    explicit Emit(Emitter& emitter) : emitter_(emitter), writer_(emitter.writer) {}

    Flow normal() { return Flow::normal; }
    const Program& program() { return emitter_.program; }
    void write_text(const std::string& text) { writer_.text(text); }
    // The page's location is set once for steps that follow each other
    // (a loop's header): nothing between them can move it.
    template <typename Step>
    auto at(const ParsedFile& file, int line, Step step) {
        std::string location = emitter_.at(file, line);
        if (location != located_) writer_.line(location);
        located_ = location;
        return step();
    }
    std::string test(const Expression& condition) {
        std::string taken = writer_.fresh("taken");
        std::string json = cpp_json_statement(condition, writer_);
        if (json.empty()) {
            writer_.line("bool " + taken + " = (" + condition.cpp(writer_) + ").truthy();");
        } else {
            writer_.line("bool " + taken + " = " + json +
                         " != nullptr ? tornado::compiled::truthy(*" + json + ") : (" +
                         condition.cpp(writer_) + ").truthy();");
        }
        return taken;
    }
    Flow body(const Body& body) {
        emit_body(body, emitter_);
        located_.clear();
        return Flow::normal;
    }
    Flow nested(const Body& body, const ParsedFile&, int, const char*) {
        emit_nested(body, emitter_);
        located_.clear();
        return Flow::normal;
    }
    template <typename Then>
    Flow when(const std::string& test, Then then) {
        writer_.open("if (" + test + ")");
        then();
        writer_.close();
        located_.clear();
        return Flow::normal;
    }
    template <typename Then, typename Otherwise>
    Flow if_else(const std::string& test, Then then, Otherwise otherwise) {
        std::string location = located_;
        when(test, then);
        located_ = location;
        writer_.open("else");
        otherwise();
        writer_.close();
        located_.clear();
        return Flow::normal;
    }
    // A flag says the test turned false: what follows the loop (a while's
    // {% else %}) runs after it, where a break reaches the enclosing loop.
    template <typename Test, typename Round>
    std::string loop_while(Test test, Round round) {
        std::string ended = writer_.fresh("ended");
        writer_.line("bool " + ended + " = false;");
        writer_.open("for (;;)");
        located_.clear();  // the round before moved it
        std::string goes_on = test();
        writer_.open("if (!" + goes_on + ")");
        writer_.line(ended + " = true;");
        writer_.line("break;");
        writer_.close();
        round();
        writer_.close();
        located_.clear();
        return ended;
    }
    Flow loop_control(Flow flow) {
        writer_.line(flow == Flow::break_loop ? "break;" : "continue;");
        return Flow::normal;
    }
    void set(const Assignment& assignment) { assignment.emit(writer_); }
    // A loop's body may run after an assignment further down: the members
    // the writer found before are not reused inside it, nor after it.
    template <typename Step>
    Flow block(Step step) {
        writer_.forget_all();
        writer_.open("");
        step();
        writer_.close();
        writer_.forget_all();
        return Flow::normal;
    }
    void extends_not_at_top_level(const ParsedFile&, int) {
        writer_.line("tornado::compiled::extends_not_at_top_level(page);");
    }

    std::string hold(const Expression& expression) {
        return declare_value(expression.cpp(writer_));
    }
    std::string hold_either(const std::string& test, const Expression& a, const Expression& b) {
        return declare_value(test + " ? tornado::TemplateValue(" + a.cpp(writer_) +
                             ") : tornado::TemplateValue(" + b.cpp(writer_) + ")");
    }

    // {{ }}: the escaping function's compiled::Name, "" to write the text as
    // it is. A program that assigns that name is left to the interpreter.
    std::string escape(const ParsedFile& file, bool raw) {
        if (raw || file.autoescape.empty()) return "";
        if (emitter_.program.assigns(file.autoescape)) {
            throw NotCompilable("the template assigns its escaping function's name, " +
                                file.autoescape);
        }
        return writer_.name(file.autoescape);
    }
    std::string find_json(const Expression& expression) {
        return cpp_json_statement(expression, writer_);
    }
    template <typename Rest>
    void unless_written_from_data(const std::string& json, const std::string& escape, Rest rest) {
        writer_.open(json.empty() ? ""
                                  : "if (!page.write_json(" + json + ", " +
                                        (escape.empty() ? "nullptr" : "&" + escape) + "))");
        rest();
        writer_.close();
    }
    std::string scratch() {
        std::string text = writer_.fresh("text");
        writer_.line("std::string& " + text + " = page.scratch();");
        writer_.line(text + ".clear();");
        return text;
    }
    // Past a part of the data that write_json() did not write, the
    // expression's own append walk, as the interpreter's: the data it looks
    // for again is the one this block found (CppWriter::member()), and an
    // attribute of a row is appended without its value made.
    void append_str(const Expression& expression, const std::string& text) {
        expression.emit_append_str(writer_, text);
    }
    void write(const std::string& text, const std::string& escape, const Expression& expression) {
        if (escape.empty()) {
            writer_.line("page.write_raw(" + text + ");");
        } else if (expression.writes_no_markup()) {
            writer_.line("page.write_no_markup(" + text + ", " + escape + ");");
        } else {
            writer_.line("page.write(" + text + ", " + escape + ");");
        }
    }

    // {% for %}: an index over a compiled::Iteration; the loop ran to its
    // end (its {% else %} runs) when the index reached the size.
    std::string never() { return "false"; }
    std::string enumerate_is_builtin() {
        std::string counting = writer_.fresh("counting");
        writer_.line("bool " + counting + " = " + writer_.variable(Symbol("enumerate")) +
                     ".is_same(tornado::compiled::builtin_enumerate());");
        return counting;
    }
    std::string items(const std::string& iterable) {
        std::string items = writer_.fresh("items");
        writer_.line("tornado::compiled::Iteration " + items + "(" + iterable + ");");
        return items;
    }
    template <typename Round>
    std::string loop_over(const std::string& items, Round round) {
        std::string index = writer_.fresh("index");
        writer_.line("std::size_t " + index + " = 0;");
        writer_.open("for (; " + index + " < " + items + ".size(); ++" + index + ")");
        located_.clear();  // the round before moved it
        round(index);
        writer_.close();
        located_.clear();
        return index + " == " + items + ".size()";
    }
    // A name is given the item by Iteration::assign(), which reuses the
    // name's value when it can.
    void assign_item(const Target& target, const std::string& items, const std::string& index) {
        if (target.name.empty()) {
            target.emit_assign(writer_, items + "[" + index + "]");
            return;
        }
        writer_.line(items + ".assign(" + index + ", " + writer_.local(target.name) + ");");
        writer_.forget(target.name);
    }
    void assign_number(const Target& target, const std::string& index) {
        target.emit_assign(writer_, number(index));
    }
    void assign_numbered_item(const Target& target, const std::string& items,
                              const std::string& index) {
        target.emit_assign(writer_, "tornado::TemplateValue::tuple({" + number(index) + ", " +
                                        items + "[" + index + "]})");
    }

private:
    std::string declare_value(const std::string& value) {
        std::string variable = writer_.fresh("value");
        writer_.line("tornado::TemplateValue " + variable + " = " + value + ";");
        return variable;
    }
    static std::string number(const std::string& index) {
        return "tornado::TemplateValue(static_cast<long long>(" + index + "))";
    }

    Emitter& emitter_;
    CppWriter& writer_;
    std::string located_;  // the location the last at() set, "" when unknown
};

// A node whose execute() and emit() are the two readings of its walk().
template <typename Statement>
struct Walked : Node {
    Flow execute(Context& context) const final {
        Execute reading(context);
        return static_cast<const Statement&>(*this).walk(reading);
    }
    void emit(Emitter& emitter) const final {
        Emit reading(emitter);
        static_cast<const Statement&>(*this).walk(reading);
    }
};

// Literal text, its whitespace already filtered by the parser.
struct Text : Walked<Text> {
    std::string text;
    template <typename Reading>
    Flow walk(Reading& r) const {
        r.write_text(text);
        return r.normal();
    }
};

// {{ expr }}, {% raw expr %} and {% module expr %}.
struct Output : Walked<Output> {
    const ParsedFile* file = nullptr;
    ExpressionPtr expression;
    bool raw = false;

    // Tornado writes str() of the value, escaped. A part of the data
    // ({{ row["name"] }}) is written from where it lies. Other text is made
    // in the page's buffer: a value that fails half way then writes
    // nothing, as in Tornado (its _tt_append comes last), and making it
    // allocates nothing. The escaping is the holding file's: an included
    // template or a block escapes with its own file's setting, as with
    // Tornado's current_template; {% raw %}, {% module %} and an autoescape
    // of None write the text as it is. Otherwise the function is looked up
    // like any name (a template or an argument may replace it) and given
    // the text; the builtin xhtml_escape is done inline (compiled::Page). A
    // result that is not a str is the TypeError of Tornado's _tt_utf8.
    template <typename Reading>
    Flow walk(Reading& r) const {
        r.at(*file, line, [&] {
            auto escape = r.escape(*file, raw);
            auto json = r.find_json(*expression);
            r.unless_written_from_data(json, escape, [&] {
                auto&& text = r.scratch();
                r.append_str(*expression, text);
                r.write(text, escape, *expression);
            });
        });
        return r.normal();
    }
};

// {% set %}: Tornado writes the statement into its function as it is.
struct Set : Walked<Set> {
    const ParsedFile* file = nullptr;
    Assignment assignment;
    template <typename Reading>
    Flow walk(Reading& r) const {
        r.at(*file, line, [&] { r.set(assignment); });
        return r.normal();
    }
};

// {% break %} and {% continue %}: the Flow goes up to the nearest For or
// While (run()). Compiled, the loops are C++ loops and what lies between
// (if, blocks, includes) is pasted inline, so C++'s own break and continue
// do. The parser allows them only inside a loop, but a loop's {% else %}
// counts as inside: see For.
struct LoopControl : Walked<LoopControl> {
    Flow flow;
    explicit LoopControl(Flow f) : flow(f) {}
    template <typename Reading>
    Flow walk(Reading& r) const {
        return r.loop_control(flow);
    }
};

// One {% if %}, {% elif %} or {% else %} clause; `line` is its own tag's, for
// an error in its condition.
struct Branch {
    ExpressionPtr condition;  // null for else
    int line = 0;
    Body body;
};

// The first branch whose condition is true runs: if / else { if / else
// { ... } }, each condition's line set just before it is tested.
struct If : Walked<If> {
    const ParsedFile* file = nullptr;
    std::vector<Branch> branches;
    template <typename Reading>
    Flow walk(Reading& r) const {
        return walk_from(r, 0);
    }
    template <typename Reading>
    Flow walk_from(Reading& r, std::size_t index) const {
        if (index == branches.size()) return r.normal();
        const Branch& branch = branches[index];
        if (!branch.condition) return r.body(branch.body);  // else
        auto taken = r.at(*file, branch.line, [&] { return r.test(*branch.condition); });
        auto then = [&] { return r.body(branch.body); };
        if (index + 1 == branches.size()) return r.when(taken, then);
        return r.if_else(taken, then, [&] { return walk_from(r, index + 1); });
    }
    std::vector<const Body*> bodies() const override {
        std::vector<const Body*> result;
        for (const Branch& branch : branches) result.push_back(&branch.body);
        return result;
    }
};

// {% for target in iterable %}: each item assigned to the target, then the
// body; else_body runs when the loop ran to its end (no break).
struct For : Walked<For> {
    const ParsedFile* file = nullptr;
    ForHeader header;
    // A {% break %} in else_body goes up to an enclosing loop, as in Python;
    // with no loop around, the parser refuses it (Parser::Loop).
    Body body, else_body;

    // What fails in the header (the iterable, unpacking an item) is this
    // line's error; the body's statements place their own.
    template <typename Reading>
    Flow walk(Reading& r) const {
        return r.block([&] {
            auto counting = r.at(*file, line, [&] {
                return header.enumerated != nullptr ? r.enumerate_is_builtin() : r.never();
            });
            auto iterable = r.at(*file, line, [&] {
                if (header.enumerated == nullptr) return r.hold(*header.iterable);
                return r.hold_either(counting, *header.enumerated, *header.iterable);
            });
            auto items = r.at(*file, line, [&] { return r.items(iterable); });
            auto ran_to_end = r.loop_over(items, [&](const auto& index) {
                r.at(*file, line, [&] { assign_item(r, counting, items, index); });
                return r.body(body);
            });
            return r.when(ran_to_end, [&] { return r.body(else_body); });
        });
    }

    // For `enumerate(xs)`, the loop counts as it walks xs instead of making
    // (i, x) tuples first. The counting path must give what Python would,
    // so it is taken only when the name enumerate means the builtin at this
    // moment: a template or an argument may have rebound it. The iterable is
    // evaluated once; Iteration reads a list in place, which is safe because
    // the body cannot change it (lists are values here).
    template <typename Reading, typename Counting, typename Items, typename Index>
    void assign_item(Reading& r, const Counting& counting, const Items& items,
                     const Index& index) const {
        if (header.enumerated == nullptr) {
            r.assign_item(header.target, items, index);
            return;
        }
        const std::vector<Target>& pair = header.target.items;
        r.if_else(
            counting,
            [&] {
                if (pair.size() == 2) {  // for i, x in enumerate(xs)
                    r.assign_number(pair[0], index);
                    r.assign_item(pair[1], items, index);
                } else {
                    r.assign_numbered_item(header.target, items, index);
                }
                return r.normal();
            },
            [&] {
                r.assign_item(header.target, items, index);
                return r.normal();
            });
    }
    std::vector<const Body*> bodies() const override { return {&body, &else_body}; }
};

// The condition is tested before each round, its errors at the {% while %}
// line; else_body runs when it turns false, not after a break.
struct While : Walked<While> {
    const ParsedFile* file = nullptr;
    ExpressionPtr condition;
    Body body, else_body;

    template <typename Reading>
    Flow walk(Reading& r) const {
        return r.block([&] {
            auto ended =
                r.loop_while([&] { return r.at(*file, line, [&] { return r.test(*condition); }); },
                             [&] { return r.body(body); });
            return r.when(ended, [&] { return r.body(else_body); });
        });
    }
    std::vector<const Body*> bodies() const override { return {&body, &else_body}; }
};

// One {% except %} clause.
struct Handler {
    ExceptHeader header;
    int line = 0;
    Body body;
};

// Python's try statement. finally runs however the rest ends: normally, by a
// break or continue (which a break or continue in finally replaces, as in
// Python), or by an error, which then goes on. Unlike Python, a break or
// continue in finally does not swallow that error.
struct Try : Node {
    const ParsedFile* file = nullptr;
    Body body, else_body, finally_body;
    std::vector<Handler> handlers;

    Flow execute(Context& context) const override {
        Flow flow = Flow::normal;
        try {
            flow = run_guarded(context);
        } catch (...) {
            run(finally_body, context);  // and the error goes on
            throw;
        }
        Flow after = run(finally_body, context);
        return after != Flow::normal ? after : flow;
    }

    // The body, then a handler or else_body. Only TemplateErrors are caught:
    // every Python error a node raises has become one (with_location), and
    // anything else is no Python exception a template could catch. The first
    // handler whose types match runs. "as name" binds the error's message
    // (Python's str(e)), not an exception object, and the name stays set
    // after the handler, where Python 3 unbinds it.
    Flow run_guarded(Context& context) const {
        // What the body wrote before it failed stays written, as in Tornado
        // (its _tt_append calls already happened).
        try {
            Flow flow = run(body, context);
            if (flow != Flow::normal) return flow;
        } catch (const TemplateError& error) {
            for (const Handler& handler : handlers) {
                if (!handler.header.catches(error.python_type())) continue;
                if (handler.header.name)
                    context.scope->assign(*handler.header.name, error.message());
                return run(handler.body, context);
            }
            throw;
        }
        return run(else_body, context);
    }

    std::vector<const Body*> bodies() const override {
        std::vector<const Body*> result = {&body, &else_body, &finally_body};
        for (const Handler& handler : handlers) result.push_back(&handler.body);
        return result;
    }
    // Not yet: a Python error inside must become the TemplateError the
    // handlers test where it happens, not when the page ends.
    void emit(Emitter&) const override { throw NotCompilable("{% try %} is not compiled yet"); }
};

// {% block name %}: wherever it is written, the most derived template's block
// of that name runs (Program::blocks), as Tornado's _NamedBlock.generate
// writes that block's body in its place. This node's own body runs only where
// it is that block.
struct NamedBlock : Walked<NamedBlock> {
    const ParsedFile* file = nullptr;
    std::string name;
    Body body;

    template <typename Reading>
    Flow walk(Reading& r) const {
        return r.nested(r.program().blocks.at(name)->body, *file, line, "blocks");
    }
    std::vector<const Body*> bodies() const override { return {&body}; }
};

// {% include %}: the included template's body runs here, in the same scope:
// it reads and sets the page's variables, as in Tornado, which pastes its
// code into the page's function. (Template::file_ is private: Include is a
// friend of Template.)
struct Include : Walked<Include> {
    const ParsedFile* file = nullptr;
    std::string name;

    template <typename Reading>
    Flow walk(Reading& r) const {
        return r.nested(r.program().includes.at(this)->file_->body, *file, line, "includes");
    }
};

struct Apply : Node {
    const ParsedFile* file = nullptr;
    ExpressionPtr function;
    Body body;

    Flow execute(Context& context) const override {
        // The body is a nested function in Tornado: its own locals, its own
        // buffer; its text goes to the function, the result to the page.
        // Python evaluates the function before it calls the body's function
        // (Tornado writes f(_tt_apply0())): a function that is not there
        // is the error, even when the body would fail too.
        TemplateValue apply =
            with_location(*file, line, [&] { return function->evaluate(*context.scope); });
        std::string text;
        Scope inner(*context.scope, &context.program->apply_locals.at(this));
        Context nested{&text, &inner, context.program, context.depth, compiled::Page(text, inner)};
        run(body, nested);
        with_location(*file, line, [&] {
            append_function_text(*context.out, apply, TemplateValue(std::move(text)));
        });
        return Flow::normal;
    }
    std::vector<const Body*> bodies() const override { return {&body}; }
    // Not yet: the body is a function of its own, with its own locals.
    void emit(Emitter&) const override { throw NotCompilable("{% apply %} is not compiled yet"); }
};

// {% extends %} is read when the program is made. It is reached while
// running only in a template that another one includes: Tornado then writes
// the included body's code, and fails with a NotImplementedError at the
// extends.
struct Extends : Walked<Extends> {
    const ParsedFile* file = nullptr;
    template <typename Reading>
    Flow walk(Reading& r) const {
        r.at(*file, line, [&] { r.extends_not_at_top_level(*file, line); });
        return r.normal();
    }
};

// ---- the reader and the parser ----------------------------------------------

// Tornado's _TemplateReader: the text, a position, and the line number
// counted from the newlines consumed so far.
class Reader {
public:
    Reader(const std::string& file_name, std::string_view text, std::string mode)
        : name(file_name), whitespace(std::move(mode)), text_(text) {}

    // Offsets count from the current position, as in Tornado's reader; npos
    // when the needle is absent.
    std::size_t find(std::string_view needle, std::size_t start = 0) const {
        std::size_t found = text_.find(needle, position_ + start);
        return found == std::string_view::npos ? found : found - position_;
    }
    std::string_view consume(std::size_t count = std::string_view::npos) {
        std::string_view taken = text_.substr(position_, count);
        line += static_cast<int>(std::count(taken.begin(), taken.end(), '\n'));
        position_ += taken.size();
        return taken;
    }
    std::size_t remaining() const { return text_.size() - position_; }
    char operator[](std::size_t offset) const { return text_[position_ + offset]; }
    // A ParseError at the current line.
    [[noreturn]] void fail(const std::string& message) const {
        throw ParseError(message, name, line);
    }

    // The Template's name_, which outlives the reader. `whitespace` is the
    // mode in force, changed by {% whitespace %} for the text after it.
    const std::string& name;
    std::string whitespace;
    int line = 1;

private:
    std::string_view text_;
    std::size_t position_ = 0;
};

std::string_view trim(std::string_view text) {
    // Python's str.strip(): the template's own whitespace, Unicode included.
    while (!text.empty() && whitespace_length(text, 0) > 0)
        text.remove_prefix(whitespace_length(text, 0));
    while (!text.empty()) {
        std::size_t last = text.size() - 1;
        while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80) --last;
        if (whitespace_length(text, last) != text.size() - last) break;
        text.remove_suffix(text.size() - last);
    }
    return text;
}

std::string strip_quotes(std::string_view text) {
    // Tornado's suffix.strip('"').strip("'")
    while (!text.empty() && text.front() == '"') text.remove_prefix(1);
    while (!text.empty() && text.back() == '"') text.remove_suffix(1);
    while (!text.empty() && text.front() == '\'') text.remove_prefix(1);
    while (!text.empty() && text.back() == '\'') text.remove_suffix(1);
    return std::string(text);
}

// Tornado's _parse, one body per call: the nodes of a file, each block tag
// parsing its own body by calling parse() again.
class Parser {
public:
    Parser(ParsedFile& file, Reader& reader) : file_(file), reader_(reader) {}

    // Where a body is, for {% break %} and {% continue %}. `else_only`: in the
    // else clause of a for or while that is in no loop itself. Tornado's
    // parser takes that clause as part of the loop, but Python runs it after
    // the loop, and refuses a break there when it compiles Tornado's code
    // ("'break' outside loop"): a ParseError here, with Python's message.
    enum class Loop { outside, inside, else_only };

    // The tag that ended a body: "end", or an intermediate one (else, elif,
    // except, finally) with its text and line.
    struct Stop {
        std::string op, suffix;
        int line = 0;
    };

    // Tornado's _parse: the nodes up to the {% end %} of `block` (or the end
    // of the file when block is empty). An intermediate tag ends the current
    // body too; `stop` says which tag it was.
    Body parse(const std::string& block, Loop loop, Stop* stop = nullptr) {
        // Each block tag parses its body by calling this again: a limit
        // keeps a hostile template from using up the stack.
        if (++depth_ > kMaxBlockNesting) reader_.fail("blocks nested more than 100 deep");
        struct Leave {
            int& depth;
            ~Leave() { --depth; }
        } leave{depth_};
        Body body;
        while (true) {
            // Text up to the next tag is a Text node. The end of the file is
            // only allowed when no block is open; the rest is then text.
            std::size_t curly = next_tag();
            if (curly == std::string_view::npos) {
                if (!block.empty()) reader_.fail("Missing {% end %} block for " + block);
                add_text(body, reader_.consume());
                return body;
            }
            if (curly > 0) add_text(body, reader_.consume(curly));
            std::string start(reader_.consume(2));
            int line = reader_.line;
            if (reader_.remaining() > 0 && reader_[0] == '!') {  // {{! {%! {#! write the braces
                reader_.consume(1);
                add_text(body, start);
                continue;
            }
            // {# ... #} writes nothing. As in Tornado, only the "#}" is
            // looked for: a {{ inside a comment is not a tag.
            if (start == "{#") {
                std::size_t end = reader_.find("#}");
                if (end == std::string_view::npos) reader_.fail("Missing end comment #}");
                reader_.consume(end);
                reader_.consume(2);
                continue;
            }
            // The first "}}" ends the expression, even one inside a string
            // literal ({{ "}}" }} does not work, in Tornado either).
            if (start == "{{") {
                std::size_t end = reader_.find("}}");
                if (end == std::string_view::npos) reader_.fail("Missing end expression }}");
                std::string contents(trim(reader_.consume(end)));
                reader_.consume(2);
                if (contents.empty()) reader_.fail("Empty expression");
                body.push_back(output(contents, line, false));
                continue;
            }
            // A block tag: the operator up to the first space, the suffix the
            // rest, trimmed (Tornado's contents.partition(" ")).
            std::size_t end = reader_.find("%}");
            if (end == std::string_view::npos) reader_.fail("Missing end block %}");
            std::string contents(trim(reader_.consume(end)));
            reader_.consume(2);
            if (contents.empty()) reader_.fail("Empty block tag ({% %})");
            std::size_t space = contents.find(' ');
            std::string op = contents.substr(0, space);
            std::string suffix =
                space == std::string::npos
                    ? ""
                    : std::string(trim(std::string_view(contents).substr(space + 1)));

            // An intermediate tag ends the clause's body; clauses() starts
            // the next one, and `stop` tells it which tag this was.
            if (op == "else" || op == "elif" || op == "except" || op == "finally") {
                check_intermediate(op, block);
                if (stop != nullptr) *stop = {op, suffix, line};
                return body;
            }
            if (op == "end") {
                if (block.empty()) reader_.fail("Extra {% end %} block");
                if (stop != nullptr) *stop = {"end", "", line};
                return body;
            }
            if (NodePtr node = simple_tag(op, suffix, contents, line, block, loop)) {
                body.push_back(std::move(node));
                continue;
            }
            // {% comment %} is ignored; autoescape and whitespace leave no
            // node either (simple_tag() has already acted on them).
            if (op == "comment" || op == "autoescape" || op == "whitespace") continue;
            if (op == "apply" || op == "block" || op == "try" || op == "if" || op == "for" ||
                op == "while") {
                body.push_back(block_tag(op, suffix, contents, line, loop));
                continue;
            }
            reader_.fail("unknown operator: " + python_repr(op));
        }
    }

private:
    // Python's repr() of a str, for messages that quote the template as
    // Tornado's %r does.
    static std::string python_repr(std::string_view text) {
        std::string out;
        TemplateValue(text).append_repr(out);
        return out;
    }

    // The offset of the next "{{", "{%" or "{#", or npos. With more than
    // two braces in a row the innermost pair counts (for LaTeX and such).
    std::size_t next_tag() {
        std::size_t curly = 0;
        while (true) {
            curly = reader_.find("{", curly);
            if (curly == std::string_view::npos || curly + 1 == reader_.remaining())
                return std::string_view::npos;
            char next = reader_[curly + 1];
            if (next != '{' && next != '%' && next != '#') {
                ++curly;
                continue;
            }
            if (curly + 2 < reader_.remaining() && next == '{' && reader_[curly + 2] == '{') {
                ++curly;
                continue;
            }
            return curly;
        }
    }

    // Filters the text with the whitespace mode in force where it is, but
    // never text that holds "<pre>" (Tornado's rough test for preformatted
    // text). Empty text makes no node.
    void add_text(Body& body, std::string_view text) {
        std::string value = text.find("<pre>") == std::string_view::npos
                                ? filter_whitespace(reader_.whitespace, text)
                                : std::string(text);  // Tornado leaves preformatted text alone
        if (value.empty()) return;
        auto node = std::make_unique<Text>();
        node->text = std::move(value);
        node->line = reader_.line;
        body.push_back(std::move(node));
    }

    // The expression's text, parsed; a SyntaxError becomes a ParseError at
    // the tag's line.
    template <typename Result, typename Parse>
    Result parsed(Parse parse_text, std::string_view text, int line) {
        try {
            return parse_text(text);
        } catch (const SyntaxError& error) {
            throw ParseError(std::string(error.what()) + " in " + python_repr(text), file_.name,
                             line);
        }
    }

    // {{ }}, {% raw %} and {% module %} all become Output nodes.
    NodePtr output(std::string_view expression, int line, bool raw) {
        auto node = std::make_unique<Output>();
        node->file = &file_;
        node->line = line;
        node->raw = raw;
        node->expression = parsed<ExpressionPtr>(parse_expression, expression, line);
        return node;
    }

    // Which block tags an intermediate tag may follow, with Tornado's
    // messages. `block` is the innermost open block tag: an {% else %} in an
    // {% if %} inside a {% for %} belongs to the if.
    void check_intermediate(const std::string& op, const std::string& block) {
        static const std::map<std::string, std::vector<std::string>> kParents = {
            {"else", {"for", "if", "try", "while"}},
            {"elif", {"if"}},
            {"except", {"try"}},
            {"finally", {"try"}}};
        const std::vector<std::string>& parents = kParents.at(op);
        if (block.empty()) {
            std::string set = "{";
            for (std::size_t i = 0; i < parents.size(); ++i)
                set += (i ? ", '" : "'") + parents[i] + "'";
            reader_.fail(op + " outside " + set + "} block");
        }
        if (std::find(parents.begin(), parents.end(), block) == parents.end()) {
            reader_.fail(op + " block cannot be attached to " + block + " block");
        }
    }

    // The tags without a body; nullptr for the others. `block` is the
    // innermost open block tag, "" at the top level of the file.
    NodePtr simple_tag(const std::string& op, const std::string& suffix,
                       const std::string& contents, int line, const std::string& block, Loop loop) {
        // Kept in file_.extends, which the constructor loads; the node only
        // matters if it is ever run (see Extends). Tornado's _get_ancestors
        // follows only the top level's. One nested in a block tag is never
        // followed: Tornado fails with a NotImplementedError where it writes
        // code for it (in the root template, or a block that is used), and
        // ignores it elsewhere. Refused here in every case, at its line.
        if (op == "extends") {
            std::string name = strip_quotes(suffix);
            if (name.empty()) reader_.fail("extends missing file path");
            if (!block.empty()) {
                reader_.fail("{% extends %} inside {% " + block +
                             " %}: it is only allowed at the top level of a template");
            }
            file_.extends.push_back(name);
            auto node = std::make_unique<Extends>();
            node->file = &file_;
            node->line = line;
            return node;
        }
        // Loaded later, once the Template can ask its loader
        // (collect_blocks, resolve_includes).
        if (op == "include") {
            std::string name = strip_quotes(suffix);
            if (name.empty()) reader_.fail("include missing file path");
            auto node = std::make_unique<Include>();
            node->file = &file_;
            node->line = line;
            node->name = name;
            return node;
        }
        if (op == "set") {
            if (suffix.empty()) reader_.fail("set missing statement");
            auto node = std::make_unique<Set>();
            node->file = &file_;
            node->line = line;
            node->assignment = parsed<Assignment>(parse_assignment, suffix, line);
            return node;
        }
        // Tornado runs the Python import; there is no Python here.
        if (op == "import" || op == "from") {
            if (suffix.empty()) reader_.fail("import missing statement");
            reader_.fail("{% " + op +
                         " %} is not supported in C++ templates: register the "
                         "functions the template needs in a TemplateNamespace");
        }
        // The last one in the file wins, for the whole file, even the {{ }}
        // before it: Tornado sets the template's attribute, which its code
        // generator reads after parsing.
        if (op == "autoescape") {
            file_.autoescape = suffix == "None" ? "" : suffix;
            return nullptr;
        }
        // For the text after it in this file, until the next
        // {% whitespace %}.
        if (op == "whitespace") {
            try {
                check_whitespace_mode(suffix);
            } catch (const std::invalid_argument& error) {
                reader_.fail(error.what());
            }
            reader_.whitespace = suffix;
            return nullptr;
        }
        if (op == "raw") return output(suffix, line, true);
        // Tornado's _Module: a UI module's HTML, written raw.
        if (op == "module") return output("_tt_modules." + suffix, line, true);
        // Nothing may follow the word: Python refuses "break x" too.
        if (op == "break" || op == "continue") {
            if (loop == Loop::outside) reader_.fail(op + " outside {'for', 'while'} block");
            if (loop == Loop::else_only)
                reader_.fail(op == "break" ? "'break' outside loop"
                                           : "'continue' not properly in loop");
            if (contents != op) reader_.fail("unexpected text after " + op);
            auto node = std::make_unique<LoopControl>(op == "break" ? Flow::break_loop
                                                                    : Flow::continue_loop);
            node->line = line;
            return node;
        }
        return nullptr;
    }

    // The tags with a body up to {% end %}. A for or while body is in a loop
    // (its else clause only if the loop itself is: loop_tag()); an apply body
    // is not (Tornado makes it a nested function, which a break could not
    // leave); the others inherit. As in Tornado, apply and block check their
    // suffix after the body is parsed, so an error in the body comes first.
    NodePtr block_tag(const std::string& op, const std::string& suffix, const std::string& contents,
                      int line, Loop loop) {
        if (op == "apply" || op == "block") {
            Body body = parse(op, op == "apply" ? Loop::outside : loop);
            if (suffix.empty())
                reader_.fail(op == "apply" ? "apply missing method name" : "block missing name");
            if (op == "block") {
                auto node = std::make_unique<NamedBlock>();
                node->file = &file_;
                node->line = line;
                node->name = suffix;
                node->body = std::move(body);
                return node;
            }
            auto node = std::make_unique<Apply>();
            node->file = &file_;
            node->line = line;
            node->function = parsed<ExpressionPtr>(parse_expression, suffix, line);
            node->body = std::move(body);
            return node;
        }
        if (op == "if") return if_tag(suffix, line, loop);
        if (op == "try") return try_tag(contents, line, loop);
        return loop_tag(op, suffix, line, loop);
    }

    // The clauses of a compound tag: the first body, then one per
    // intermediate tag, until {% end %}. The first body is parsed in
    // `first_loop`, the others in `later_loop`: they differ for a loop's
    // else.
    struct Clause {
        std::string op, suffix;
        int line;
        Body body;
    };
    std::vector<Clause> clauses(const std::string& op, const std::string& suffix, int line,
                                Loop first_loop, Loop later_loop) {
        std::vector<Clause> result;
        Stop opened{op, suffix, line};
        while (true) {
            Stop stop;
            Body body = parse(op, result.empty() ? first_loop : later_loop, &stop);
            result.push_back({opened.op, opened.suffix, opened.line, std::move(body)});
            if (stop.op == "end") return result;
            opened = stop;
        }
    }

    // The condition of if, elif or while. Tornado's missing one is a Python
    // SyntaxError when it compiles; here a ParseError at the tag's line.
    ExpressionPtr condition(const std::string& text, int line, const std::string& op) {
        if (text.empty())
            throw ParseError("invalid syntax: " + op + " needs a condition", file_.name, line);
        return parsed<ExpressionPtr>(parse_expression, text, line);
    }

    // An elif or else after the else is refused, as Python's grammar does.
    NodePtr if_tag(const std::string& suffix, int line, Loop loop) {
        auto node = std::make_unique<If>();
        node->file = &file_;
        node->line = line;
        bool seen_else = false;
        for (Clause& clause : clauses("if", suffix, line, loop, loop)) {
            if (seen_else)
                throw ParseError("invalid syntax: " + clause.op + " after else", file_.name,
                                 clause.line);
            Branch branch;
            branch.line = clause.line;
            if (clause.op == "else") {
                seen_else = true;
            } else {
                branch.condition = condition(clause.suffix, clause.line, clause.op);
            }
            branch.body = std::move(clause.body);
            node->branches.push_back(std::move(branch));
        }
        return node;
    }

    // for or while, with an optional else. Only else can be a second clause
    // here: check_intermediate() refuses elif, except and finally. `loop` is
    // where the tag itself is: the else clause runs there, after the loop.
    NodePtr loop_tag(const std::string& op, const std::string& suffix, int line, Loop loop) {
        Loop else_loop = loop == Loop::inside ? Loop::inside : Loop::else_only;
        std::vector<Clause> parts = clauses(op, suffix, line, Loop::inside, else_loop);
        if (parts.size() > 2)
            throw ParseError("invalid syntax: a second else", file_.name, parts[2].line);
        Body else_body = parts.size() > 1 ? std::move(parts[1].body) : Body{};
        if (op == "for") {
            auto node = std::make_unique<For>();
            node->file = &file_;
            node->line = line;
            node->header = parsed<ForHeader>(parse_for, suffix, line);
            node->body = std::move(parts[0].body);
            node->else_body = std::move(else_body);
            return node;
        }
        auto node = std::make_unique<While>();
        node->file = &file_;
        node->line = line;
        node->condition = condition(suffix, line, op);
        node->body = std::move(parts[0].body);
        node->else_body = std::move(else_body);
        return node;
    }

    NodePtr try_tag(const std::string& contents, int line, Loop loop) {
        if (contents != "try") throw ParseError("invalid syntax: text after try", file_.name, line);
        auto node = std::make_unique<Try>();
        node->file = &file_;
        node->line = line;
        std::vector<Clause> parts = clauses("try", "", line, loop, loop);
        node->body = std::move(parts[0].body);
        // Python's order: except..., then else, then finally.
        std::string last = "try";
        for (std::size_t i = 1; i < parts.size(); ++i) {
            Clause& clause = parts[i];
            bool in_order = (clause.op == "except" && (last == "try" || last == "except")) ||
                            (clause.op == "else" && last == "except") ||
                            (clause.op == "finally" && last != "finally");
            if (!in_order)
                throw ParseError("invalid syntax: " + clause.op + " after " + last, file_.name,
                                 clause.line);
            if (clause.op == "except") {
                node->handlers.push_back(
                    {parsed<ExceptHeader>(parse_except, clause.suffix, clause.line), clause.line,
                     std::move(clause.body)});
            } else if (clause.op == "else") {
                node->else_body = std::move(clause.body);
            } else {
                node->finally_body = std::move(clause.body);
            }
            last = clause.op;
        }
        // A try needs an except or a finally, as in Python.
        if (last == "try")
            throw ParseError("invalid syntax: try without except or finally", file_.name, line);
        return node;
    }

    static constexpr int kMaxBlockNesting = 100;
    ParsedFile& file_;
    Reader& reader_;
    int depth_ = 0;
};

// Every node of a body and the bodies inside it, depth first.
template <typename Visit>
void walk(const Body& body, Visit& visit) {
    for (const NodePtr& node : body) {
        visit(*node);
        for (const Body* inner : node->bodies()) walk(*inner, visit);
    }
}

}  // namespace template_detail

// ---- Template ---------------------------------------------------------------

using namespace template_detail;

namespace {

// Changes whenever the generated code would: a program built with an older
// compiler then interprets its templates rather than run stale code.
constexpr std::string_view kCompiledFormat = "tornado compiled templates 1";

// FNV-1a over the parts, each followed by a NUL: a hash to tell sources
// apart, not to resist someone choosing them.
template <typename... Parts>
std::uint64_t hash_text(const Parts&... parts) {
    std::uint64_t hash = 14695981039346656037u;
    auto add = [&](std::string_view part) {
        for (char c : part) {
            hash ^= static_cast<unsigned char>(c);
            hash *= 1099511628211u;
        }
        hash ^= 0;  // the NUL after the part: "ab", "c" and "a", "bc" differ
        hash *= 1099511628211u;
    };
    (add(parts), ...);
    return hash;
}

// Tornado's default: the loader's mode if it has one, else "single" for HTML
// and JavaScript, where a run of whitespace means no more than one space, and
// "all" for the rest.
std::string default_whitespace(const std::string& name, const BaseLoader* loader) {
    if (loader != nullptr && loader->whitespace()) return *loader->whitespace();
    return name.ends_with(".html") || name.ends_with(".js") ? "single" : "all";
}

}  // namespace

// What Tornado does when it compiles a template happens here, once: parse,
// load the ancestors and the includes (through the loader, which keeps them),
// choose the blocks, find each function's locals. generate() then only runs
// the Program.
Template::Template(std::string_view source, std::string name, Options options)
    : name_(std::move(name)), loader_(options.loader), file_(std::make_shared<ParsedFile>()) {
    std::string whitespace =
        options.whitespace ? *options.whitespace : default_whitespace(name_, loader_);
    check_whitespace_mode(whitespace);
    file_->name = name_;
    // The option, else the loader's, else xhtml_escape, as in Tornado; a
    // {% autoescape %} in the file replaces it while parsing.
    if (options.autoescape) {
        file_->autoescape = *options.autoescape;
    } else {
        file_->autoescape = loader_ != nullptr ? loader_->autoescape() : "xhtml_escape";
    }
    file_->hash = hash_text(kCompiledFormat, name_, file_->autoescape, whitespace, source);
    Reader reader(name_, source, whitespace);
    Parser parser(*file_, reader);
    file_->body = parser.parse("", Parser::Loop::outside);
    // After parsing: {% autoescape %} may have changed the name.
    file_->autoescape_name = compiled::Name(file_->autoescape);

    program_ = std::make_unique<Program>();
    // The ancestors, this template first: each {% extends %} adds the
    // parent's own ancestors (Tornado's _get_ancestors). Tornado walks them
    // depth first, a parent's ancestors before the next parent; this stack
    // takes a file's last parent's ancestors first. The two differ only for
    // a file with more than one {% extends %}, and then the root (the last
    // ancestor) and which blocks win differ too.
    std::vector<const ParsedFile*> ancestors = {file_.get()};
    std::vector<const Template*> pending = {this};
    while (!pending.empty()) {
        const Template* current = pending.back();
        pending.pop_back();
        for (const std::string& parent : current->file_->extends) {
            if (loader_ == nullptr)
                throw ParseError("{% extends %} block found, but no template loader");
            std::shared_ptr<const Template> loaded = loader_->load(parent, current->name_);
            program_->kept.push_back(loaded);
            ancestors.push_back(loaded->file_.get());
            pending.push_back(loaded.get());
        }
    }
    program_->root = ancestors.back();
    // Blocks: the root's first, then each descendant's replace them.
    for (auto ancestor = ancestors.rbegin(); ancestor != ancestors.rend(); ++ancestor) {
        collect_blocks(**ancestor);
    }
    // Includes are resolved where they can run: in the root's body (its
    // blocks' bodies too) and in each chosen block, and in what those
    // include. The locals come last: they need the chosen blocks and the
    // includes.
    resolve_includes(program_->root->body);
    for (const auto& [block_name, block] : program_->blocks) resolve_includes(block->body);
    collect_locals(program_->root->body, program_->locals);
    source_hash_ = hash_sources();
    if (options.compiled) compiled_ = compiled::find_template(name_, source_hash_);
}

// This file's hash, then each template this one extends or includes, by
// name: theirs cover what they extend and include in turn.
std::uint64_t Template::hash_sources() const {
    std::map<std::string, std::uint64_t> parts;
    for (const auto& kept : program_->kept) parts[kept->name_] = kept->source_hash_;
    for (const auto& [node, included] : program_->includes) {
        parts[included->name_] = included->source_hash_;
    }
    std::string text = std::to_string(file_->hash);
    for (const auto& [part_name, part_hash] : parts) {
        text += "\n" + part_name + "\n" + std::to_string(part_hash);
    }
    return hash_text(text);
}

Template::~Template() = default;

const std::string& Template::autoescape() const { return file_->autoescape; }

// Tornado's find_named_blocks: every {% block %} of the file, and of every
// file it includes.
// Called for the root first, then each descendant: the last to set a name
// wins. Inside a file, a block is visited before the blocks nested in it, so
// a nested block of the same name wins over its outer one.
void Template::collect_blocks(const ParsedFile& file) {
    auto visit = [&](const Node& node) {
        if (const auto* block = dynamic_cast<const NamedBlock*>(&node)) {
            program_->blocks[block->name] = block;
        } else if (const auto* include = dynamic_cast<const Include*>(&node)) {
            collect_blocks(*load_include(*include)->file_);
        }
    };
    walk(file.body, visit);
}

// Every Include node reachable from `body` gets its template, once per node;
// the includes of an included template too. The loader refuses a template
// that includes itself.
void Template::resolve_includes(const Body& body) {
    auto visit = [&](const Node& node) {
        const auto* include = dynamic_cast<const Include*>(&node);
        if (include == nullptr || program_->includes.contains(include)) return;
        std::shared_ptr<const Template> included = load_include(*include);
        program_->includes[include] = included;
        resolve_includes(included->file_->body);
    };
    walk(body, visit);
}

// Python's rule: a name assigned anywhere in a function is local to all of
// it. Blocks and includes are inlined into the page's function; an {% apply
// %} body is a function of its own.
void Template::collect_locals(const Body& body, std::set<std::string, std::less<>>& names) {
    for (const NodePtr& node : body) {
        if (const auto* set = dynamic_cast<const Set*>(node.get())) {
            set->assignment.target.collect_names(names);
        } else if (const auto* loop = dynamic_cast<const For*>(node.get())) {
            loop->header.target.collect_names(names);
        } else if (const auto* guarded = dynamic_cast<const Try*>(node.get())) {
            for (const Handler& handler : guarded->handlers) {
                if (handler.header.name) names.insert(handler.header.name->name());
            }
        } else if (const auto* block = dynamic_cast<const NamedBlock*>(node.get())) {
            collect_locals(program_->blocks.at(block->name)->body, names);
            continue;  // the block that runs, not the one written here
        } else if (const auto* include = dynamic_cast<const Include*>(node.get())) {
            collect_locals(program_->includes.at(include)->file_->body, names);
        } else if (const auto* apply = dynamic_cast<const Apply*>(node.get())) {
            Names& own = program_->apply_locals[apply];
            collect_locals(apply->body, own);
            continue;
        }
        for (const Body* inner : node->bodies()) collect_locals(*inner, names);
    }
}

// The name is relative to the file that holds the {% include %}.
std::shared_ptr<const Template> Template::load_include(const Include& include) const {
    if (loader_ == nullptr) {
        throw ParseError("{% include %} found, but no template loader", include.file->name,
                         include.line);
    }
    return loader_->load(include.name, include.file->name);
}

// One call of Tornado's generated function: a new Scope over the arguments
// and the namespaces, in the order Scope::lookup_global() reads them, and one
// output string. A Template is shared between threads: all the state is local
// here, and last_size_ is atomic.
std::string Template::generate(const JSON& arguments, const TemplateNamespace& extra) const {
    std::vector<const TemplateNamespace*> namespaces = {&extra};
    if (loader_ != nullptr) namespaces.push_back(&loader_->namespace_());
    namespaces.push_back(&tornado_namespace());
    Scope scope(arguments, std::move(namespaces), &program_->locals);
    std::string out;
    // Pages of one template are about the same size: growing the string
    // step by step copied a large page several times.
    out.reserve(last_size_.load(std::memory_order_relaxed));
    if (compiled_ != nullptr) {
        compiled::Page page(out, scope);
        try {
            compiled_(page);
        } catch (const PythonError& error) {
            // What with_location() does for each node: the page knows which
            // node ran last.
            throw TemplateError(error.type(), error.message(), page.file(), page.line(),
                                error.cause());
        }
    } else {
        Context context{&out, &scope, program_.get(), 0, compiled::Page(out, scope)};
        run(program_->root->body, context);
    }
    last_size_.store(out.size(), std::memory_order_relaxed);
    return out;
}

// ---- compiling to C++ -------------------------------------------------------

// One function per template, in a namespace of its own, registered under
// the template's name and source hash when the program starts. The
// variables are the function's locals, declared first.
std::string Template::emit_cpp(const std::string& namespace_name) const {
    template_detail::CppWriter writer(program_->locals);
    template_detail::Emitter emitter{writer, *program_};
    template_detail::emit_body(program_->root->body, emitter);
    std::string locals = writer.local_declarations();
    std::string code = "// " + name_ + "\nnamespace " + namespace_name + " {\n\n";
    code += writer.declarations();
    code += "\nvoid render(tornado::compiled::Page& page) {\n";
    code += locals;
    code += writer.body();
    code +=
        "}\n\n[[maybe_unused]] const bool registered =\n    "
        "(tornado::compiled::register_template(" +
        template_detail::CppWriter::quote(name_) + ", " + std::to_string(source_hash_) +
        "u, render), true);\n\n}  // namespace " + namespace_name + "\n\n";
    return code;
}

CompiledTemplates compile_templates(const BaseLoader& loader, const std::vector<std::string>& names,
                                    const std::string& prefix) {
    CompiledTemplates result;
    result.cpp =
        "// Generated by tornado::compile_templates (final_template_compile): do not edit.\n"
        "// Each function renders one template as the interpreter would; see\n"
        "// tornado/template_compiled.h.\n"
        "#include <bit>\n#include <cstdint>\n#include <string>\n#include <string_view>\n"
        "#include <vector>\n\n#include \"tornado/template_compiled.h\"\n\n"
        "namespace {\n\n";
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::shared_ptr<const Template> loaded = loader.load(names[i]);
        try {
            result.cpp += loaded->emit_cpp(prefix + std::to_string(i));
            result.compiled.push_back(names[i]);
        } catch (const template_detail::NotCompilable& why) {
            result.interpreted.emplace_back(names[i], why.what());
        }
    }
    result.cpp += "}  // namespace\n";
    return result;
}

// ---- loaders ----------------------------------------------------------------

// A bad whitespace mode fails here rather than at the first template.
BaseLoader::BaseLoader(Options options) : options_(std::move(options)) {
    if (options_.whitespace) check_whitespace_mode(*options_.whitespace);
}

// Tornado's BaseLoader.load: resolve the name, make the template once, keep
// it. The lock is recursive because making a template loads those it extends
// and includes through this function, on the same thread. A template that
// fails to parse is not kept: the next load() tries again.
std::shared_ptr<const Template> BaseLoader::load(const std::string& name,
                                                 const std::string& parent_path) const {
    std::string resolved = resolve_path(name, parent_path);
    std::lock_guard lock(mutex_);
    auto found = templates_.find(resolved);
    if (found != templates_.end()) return found->second;
    // A template that extends or includes itself would be made forever.
    if (!loading_.insert(resolved).second) {
        throw ParseError("template " + resolved + " extends or includes itself",
                         parent_path.empty() ? resolved : parent_path);
    }
    std::shared_ptr<const Template> made;
    try {
        made = create_template(resolved);
    } catch (...) {
        loading_.erase(resolved);
        throw;
    }
    loading_.erase(resolved);
    templates_[resolved] = made;
    return made;
}

// Templates already handed out stay valid: their holders share them.
void BaseLoader::reset() {
    std::lock_guard lock(mutex_);
    templates_.clear();
}

namespace {

// Tornado's rule in both loaders: a name is relative to the template that
// names it, unless that template has no path (a name like "<string>") or
// either is absolute.
bool is_relative_to_parent(const std::string& name, const std::string& parent_path) {
    return !parent_path.empty() && !parent_path.starts_with("<") && !parent_path.starts_with("/") &&
           !name.starts_with("/");
}

// What every path inside the directory `root` (a Loader's root_) starts
// with: the root and one slash. The root "/" already ends with its slash;
// adding another would give "//", which begins no normalised path.
std::string inside_prefix(const std::string& root) { return root == "/" ? root : root + "/"; }

}  // namespace

// The root as an absolute, normalised path without a trailing slash ("dir/"
// becomes "/cwd/dir"), except the root "/" itself: inside_prefix() then
// gives the prefix of every path inside it.
Loader::Loader(std::string root_directory, Options options)
    : BaseLoader(std::move(options)),
      root_(std::filesystem::absolute(root_directory).lexically_normal().string()) {
    while (root_.size() > 1 && root_.ends_with('/')) root_.pop_back();
}

// Tornado's Loader.resolve_path: the name joined to the parent's directory,
// made relative to the root again if it stays inside; if not, the name as
// given, for create_template() to judge. Tornado tests startswith(root),
// which a sibling directory such as /templates2 for /templates passes too;
// inside_prefix() does not.
std::string Loader::resolve_path(const std::string& name, const std::string& parent_path) const {
    if (!is_relative_to_parent(name, parent_path)) return name;
    namespace fs = std::filesystem;
    fs::path current = fs::path(root_) / parent_path;
    std::string relative = (current.parent_path() / name).lexically_normal().string();
    std::string prefix = inside_prefix(root_);
    if (relative.starts_with(prefix)) return relative.substr(prefix.size());
    return name;
}

// Unlike Tornado, which opens whatever path the name makes, this refuses a
// name that leads outside the root (tornado/template.h promises it). The test
// is lexical: a symbolic link inside the root is followed wherever it points.
std::shared_ptr<const Template> Loader::create_template(const std::string& name) const {
    namespace fs = std::filesystem;
    fs::path path = (fs::path(root_) / name).lexically_normal();
    if (name.starts_with("/") || !path.string().starts_with(inside_prefix(root_))) {
        throw std::invalid_argument("template " + name + " is outside the template directory " +
                                    root_);
    }
    // A directory ("." names the root itself) opens, but reads as nothing.
    std::ifstream file(path, std::ios::binary);
    if (!file || fs::is_directory(path))
        throw std::runtime_error("cannot read template " + path.string());
    std::ostringstream source;
    source << file.rdbuf();
    return std::make_shared<const Template>(
        source.str(), name, Template::Options{.loader = this, .compiled = compiled()});
}

DictLoader::DictLoader(std::map<std::string, std::string> templates, Options options)
    : BaseLoader(std::move(options)), sources_(std::move(templates)) {}

// Tornado's DictLoader: posixpath.normpath of the name joined to the parent's
// directory. normpath gives "." where lexically_normal gives "".
std::string DictLoader::resolve_path(const std::string& name,
                                     const std::string& parent_path) const {
    if (!is_relative_to_parent(name, parent_path)) return name;
    std::filesystem::path directory = std::filesystem::path(parent_path).parent_path();
    std::string joined = (directory / name).lexically_normal().string();
    return joined.empty() ? "." : joined;
}

// A name missing from the map: Tornado's KeyError, a runtime_error here.
std::shared_ptr<const Template> DictLoader::create_template(const std::string& name) const {
    auto found = sources_.find(name);
    if (found == sources_.end()) throw std::runtime_error("no template named " + name);
    return std::make_shared<const Template>(
        found->second, name, Template::Options{.loader = this, .compiled = compiled()});
}

}  // namespace tornado
