// template_bench: how fast the framework's template engine renders one
// realistic page (tornado/template.h), for `make bench-template`.
//
//   build/bin/template_bench tests/bench/template                        # 5 rounds of 2 s
//   build/bin/template_bench tests/bench/template --out=page.html --rounds=0   # the page only
//   build/bin/template_bench tests/bench/template --seconds=1 --rounds=3 --warmup=0.2
//   build/bin/template_bench tests/bench/template --by-hand            # the page in plain C++
//   build/bin/template_bench tests/bench/template --compiled-sketch    # as a compiler would write it
//   build/bin/template_bench tests/bench/template --compiled           # compiled ahead of time
//
// It loads page.html (which extends base.html and includes row.html and
// footer.html) with a tornado::Loader over the folder it is given, to
// interpret it or, with --compiled, to run the C++ the build compiled from
// the same folder (tornado_compile_templates in CMakeLists.txt; it fails if
// the page it loads is not that one), builds
// the page's data as JSON (100 product rows: the same values, in the same
// order, as template_bench.py's make_arguments()), renders once and, with
// --out, writes that page to a file (the harness compares it byte for byte
// with Python Tornado's). Then it renders for --warmup seconds, unmeasured,
// and then --rounds rounds of --seconds seconds each, counting the renders
// of every round. Output (stdout), for template_bench.py:
//
//   BYTES 24783                                   the page's size
//   ROUND 1 renders=5722 seconds=2.000113 renders_per_second=2860.8
//   ...
//   RESULT renders_per_second=2861.2 us_per_render=349.50 rounds=5
//
// RESULT holds the median round's renders per second. Each render is a whole
// Template::generate() call on the loaded template: the page's data as a
// JSON object in, the page as a std::string out (parsing happened once, in
// the loader, as it does in a server).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "option_value.h"
#include "template_compiled_sketch.h"
#include "tornado/escape.h"
#include "tornado/template.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int row_count = 100;

// The page's data; template_bench.py's make_arguments() builds the same.
tornado::JSON make_arguments() {
    static const char* const names[] = {"Widget <b>\"Deluxe\"</b>", "Tom's Gadget",
                                        "Salt & Pepper Mill", "Plain Mug",
                                        "Caf\u00e9 <Cr\u00e8me>"};
    static const char* const tags[] = {"new", "sale", "b&w", "<eco>", "gift's"};
    tornado::JSON rows = tornado::JSON::array();
    for (int i = 0; i < row_count; ++i) {
        tornado::JSON row_tags = tornado::JSON::array();
        for (int k = 0; k < i % 3 + 1; ++k) {
            row_tags.push_back(tags[(i + k) % 5]);
        }
        rows.push_back({
            {"id", i + 1},
            {"name", std::string(names[i % 5]) + " #" + std::to_string(i + 1)},
            {"price", 1.5 + i * 3.17},
            {"tags", std::move(row_tags)},
            {"in_stock", i % 4 != 3},
        });
    }
    tornado::JSON nav = tornado::JSON::array();
    nav.push_back({{"href", "/"}, {"label", "Home"}});
    nav.push_back({{"href", "/shop?sort=price&dir=asc"}, {"label", "Shop"}});
    nav.push_back({{"href", "/cart"}, {"label", "Cart <3>"}});
    nav.push_back({{"href", "/about"}, {"label", "About \"us\""}});
    return {
        {"title", "Spring \"Sale\" <2024> & more"},
        {"user", {{"name", "O'Brien & <Sons>"}}},
        {"nav", std::move(nav)},
        {"footer_note", "Prices in \u20ac, \"VAT\" included & <no> refunds"},
        {"rows", std::move(rows)},
    };
}

// The same page written by plain C++ over the same JSON, with no template
// (--by-hand): what any engine reading this data pays at least, for
// escaping, finding keys in the rows' objects, formatting the prices and
// copying the text. The harness checks that it is the page Tornado makes.
std::string render_page_by_hand(const tornado::JSON& data) {
    std::string out;
    out.reserve(32 * 1024);
    auto escaped = [&](const tornado::JSON& text) {
        tornado::append_xhtml_escape(out, text.get_ref<const std::string&>());
    };
    auto integer = [&](std::int64_t number) {
        char digits[24];
        out.append(digits, std::to_chars(digits, digits + sizeof digits, number).ptr);
    };
    const tornado::JSON& rows = data["rows"];
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
    escaped(data["title"]);
    out += " | The Shop</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n"
           "<body>\n<nav>\n<ul>\n";
    for (const tornado::JSON& link : data["nav"]) {
        out += "<li><a href=\"";
        escaped(link["href"]);
        out += "\">";
        escaped(link["label"]);
        out += "</a></li>\n";
    }
    out += "</ul>\n</nav>\n<main>\n\n<h1>";
    escaped(data["title"]);
    out += "</h1>\n<p class=\"intro\">";
    integer(static_cast<std::int64_t>(rows.size()));
    out += " products for ";
    escaped(data["user"]["name"]);
    out += "</p>\n<table class=\"products\">\n<thead>\n"
           "<tr><th>#</th><th>Name</th><th>Price</th><th>Tags</th><th>Stock</th></tr>\n"
           "</thead>\n<tbody>\n";
    std::int64_t index = 0;
    for (const tornado::JSON& row : rows) {
        std::int64_t id = row["id"].get<std::int64_t>();
        out += index++ % 2 ? "<tr class=\"odd\" id=\"row-" : "<tr class=\"even\" id=\"row-";
        integer(id);
        out += "\">\n<td>";
        integer(id);
        out += "</td>\n<td><a href=\"/item/";
        integer(id);
        out += "\" title=\"";
        escaped(row["name"]);
        out += "\">";
        escaped(row["name"]);
        out += "</a></td>\n<td class=\"price\">";
        char price[32];
        out.append(price, std::to_chars(price, price + sizeof price, row["price"].get<double>(),
                                        std::chars_format::fixed, 2).ptr);
        out += "</td>\n<td>";
        bool first = true;
        for (const tornado::JSON& tag : row["tags"]) {
            if (!first) out += ", ";
            first = false;
            escaped(tag);
        }
        out += row["in_stock"].get<bool>() ? "</td>\n<td><span class=\"ok\">in stock</span></td>\n</tr>\n"
                                           : "</td>\n<td><span class=\"out\">sold out</span></td>\n</tr>\n";
    }
    out += "\n</tbody>\n</table>\n\n</main>\n<footer>\n\n<p>";
    escaped(data["footer_note"]);
    out += "</p>\n<p>&copy; 2024 The Shop &middot; ";
    integer(static_cast<std::int64_t>(rows.size()));
    out += " items</p>\n\n\n</footer>\n</body>\n</html>\n";
    return out;
}

struct Round {
    long renders = 0;
    double seconds = 0;
    double rate() const { return seconds > 0 ? static_cast<double>(renders) / seconds : 0; }
};

// Renders until `seconds` have passed; the clock is read after every render
// (about 20 ns, against tens of microseconds a render).
template <typename Render>
Round render_for(const Render& render, double seconds) {
    Round round;
    std::size_t bytes = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
    auto now = start;
    do {
        bytes += render().size();
        ++round.renders;
        now = Clock::now();
    } while (now < deadline);
    round.seconds = std::chrono::duration<double>(now - start).count();
    if (bytes == 0) {  // keeps the renders observable; a page is never empty
        std::fputs("template_bench: empty page\n", stderr);
        std::exit(1);
    }
    return round;
}

int usage() {
    std::fputs("usage: template_bench TEMPLATE_DIR [--out=FILE] [--seconds=2] [--rounds=5] "
               "[--warmup=0.5] [--template=page.html] [--by-hand | --compiled-sketch | --compiled]\n",
               stderr);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string directory;
    std::string out;
    std::string name = "page.html";
    double seconds = 2;
    double warmup = 0.5;
    int rounds = 5;
    bool by_hand = false;
    bool compiled_sketch = false;
    bool compiled = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        std::string value;
        if (bench::option_value(argument, "out", value)) {
            out = value;
        } else if (bench::option_value(argument, "seconds", value)) {
            seconds = std::atof(value.c_str());
        } else if (bench::option_value(argument, "warmup", value)) {
            warmup = std::atof(value.c_str());
        } else if (bench::option_value(argument, "rounds", value)) {
            rounds = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "template", value)) {
            name = value;
        } else if (argument == "--by-hand") {
            by_hand = true;
        } else if (argument == "--compiled-sketch") {
            compiled_sketch = true;
        } else if (argument == "--compiled") {
            compiled = true;
        } else if (argument.substr(0, 2) != "--" && directory.empty()) {
            directory = argument;
        } else {
            return usage();
        }
    }
    if (directory.empty() || seconds <= 0 || rounds < 0 || warmup < 0) {
        return usage();
    }

    try {
        tornado::BaseLoader::Options options;  // autoescape: xhtml_escape, as Tornado's
        options.compiled = compiled;
        tornado::Loader loader(directory, options);
        const auto page = loader.load(name);
        if (compiled && !page->is_compiled()) {
            std::fprintf(stderr, "template_bench: %s has no compiled twin (was the folder compiled "
                                 "into this program, and is it unchanged since?)\n", name.c_str());
            return 1;
        }
        const tornado::JSON arguments = make_arguments();

        auto render = [&] {
            if (by_hand) return render_page_by_hand(arguments);
            if (compiled_sketch) return bench::render_page_compiled_sketch(arguments, 32 * 1024);
            return page->generate(arguments);
        };
        const std::string html = render();
        std::printf("BYTES %zu\n", html.size());
        if (!out.empty()) {
            std::ofstream file(out, std::ios::binary);
            file << html;
            if (!file.flush()) {
                std::fprintf(stderr, "template_bench: cannot write %s\n", out.c_str());
                return 1;
            }
        }
        std::fflush(stdout);
        if (rounds == 0) {
            return 0;
        }

        if (warmup > 0) {
            render_for(render, warmup);
        }
        std::vector<double> rates;
        for (int r = 1; r <= rounds; ++r) {
            Round round = render_for(render, seconds);
            rates.push_back(round.rate());
            std::printf("ROUND %d renders=%ld seconds=%.6f renders_per_second=%.1f\n", r,
                        round.renders, round.seconds, round.rate());
            std::fflush(stdout);
        }
        std::sort(rates.begin(), rates.end());
        // The median; of an even count, the mean of the middle two.
        const std::size_t middle = rates.size() / 2;
        const double median =
            rates.size() % 2 ? rates[middle] : (rates[middle - 1] + rates[middle]) / 2;
        std::printf("RESULT renders_per_second=%.1f us_per_render=%.2f rounds=%d\n", median,
                    1e6 / median, rounds);
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "template_bench: %s\n", error.what());
        return 1;
    }
}
