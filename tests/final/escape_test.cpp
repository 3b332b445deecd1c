// Tests of tornado/escape.h. Most expectations come from Python Tornado
// itself: escape_cases.inc is written by escape_oracle.py, which runs
// tornado.escape on a table of inputs (rows Tornado cannot answer are marked
// and hold the twin's documented behaviour instead).
#include "tornado/escape.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "alloc_counter.h"
#include "test_util.h"

namespace tornado {
namespace {

using namespace std::string_view_literals;
using testing::printable;

struct EscapeCase {
    std::string_view input;
    std::string_view expected;
    bool deviates;  // Tornado raises here, or makes text UTF-8 cannot hold
};

struct LinkifyCase {
    std::string_view text;
    bool shorten;
    std::string_view extra_params;
    bool require_protocol;
    std::vector<std::string_view> permitted_protocols;
    std::string_view expected;
};

struct EntityCase {
    std::string_view name;
    std::string_view text;
};

#include "escape_cases.inc"

template <std::size_t N, typename Function>
void expect_table(const EscapeCase (&cases)[N], Function function) {
    for (const EscapeCase& row : cases) {
        EXPECT_EQ(function(row.input), row.expected)
            << "input: \"" << printable(row.input) << "\"" << (row.deviates ? " (a deviation)" : "");
    }
}

// ---- HTML ---------------------------------------------------------------------

TEST(EscapeTest, XhtmlEscapeMatchesTornado) {
    expect_table(kXhtmlEscape, [](std::string_view input) { return xhtml_escape(input); });
    expect_table(kXhtmlEscape, [](std::string_view input) {
        std::string out = "prefix:";
        append_xhtml_escape(out, input);
        return out.substr(7);
    });
}

TEST(EscapeTest, XhtmlEscapeRoundTrips) {
    for (const EscapeCase& row : kXhtmlEscape) {
        if (!row.deviates) {
            EXPECT_EQ(xhtml_unescape(xhtml_escape(row.input)), row.input);
        }
    }
}

TEST(EscapeTest, XhtmlUnescapeMatchesTornado) {
    expect_table(kXhtmlUnescape, [](std::string_view input) { return xhtml_unescape(input); });
}

TEST(EscapeTest, XhtmlUnescapeKnowsEveryNamedEntityPythonKnows) {
    ASSERT_EQ(std::size(kNamedEntities), 252u);
    for (const EntityCase& entity : kNamedEntities) {
        std::string reference = "&" + std::string(entity.name) + ";";
        EXPECT_EQ(xhtml_unescape(reference), entity.text) << reference;
    }
}

// Every length up to 50, with a byte to escape at each position (and
// none), against a plain loop: the counting pass and the writing pass of
// append_xhtml_escape must agree wherever the bytes fall.
TEST(EscapeTest, XhtmlEscapeAtEveryPositionOfEveryLength) {
    auto one_by_one = [](std::string_view text) {
        std::string out;
        for (char c : text) {
            switch (c) {
                case '&': out += "&amp;"; break;
                case '<': out += "&lt;"; break;
                case '>': out += "&gt;"; break;
                case '"': out += "&quot;"; break;
                case '\'': out += "&#39;"; break;
                default: out += c;
            }
        }
        return out;
    };
    const std::string specials = "&<>\"'";
    for (std::size_t length = 0; length <= 50; ++length) {
        std::string plain(length, 'x');
        for (std::size_t i = 0; i < length; ++i) plain[i] = static_cast<char>('a' + i % 26);
        EXPECT_EQ(xhtml_escape(plain), plain);
        for (std::size_t position = 0; position < length; ++position) {
            for (char special : specials) {
                std::string text = plain;
                text[position] = special;
                text[length - 1 - position] = specials[(position + length) % specials.size()];
                ASSERT_EQ(xhtml_escape(text), one_by_one(text)) << text;
                std::string appended = "already ";
                append_xhtml_escape(appended, text);
                ASSERT_EQ(appended, "already " + one_by_one(text)) << text;
            }
        }
    }
    EXPECT_EQ(xhtml_escape(std::string(40, '&')), one_by_one(std::string(40, '&')));
    EXPECT_EQ(xhtml_escape(std::string("a\0<b\0", 5)), std::string("a\0&lt;b\0", 8));
}

TEST(EscapeTest, XhtmlEscapeAllocatesOnceAndAppendNotAtAll) {
    std::string text(1000, 'a');
    text += "<b>&amp;</b>";
    std::int64_t before = testing::total_allocations();
    std::string escaped = xhtml_escape(text);
    EXPECT_EQ(testing::total_allocations() - before, 1);  // sized up front
    EXPECT_EQ(escaped.size(), 1000u + std::string_view("&lt;b&gt;&amp;amp;&lt;/b&gt;").size());

    std::string buffer;
    buffer.reserve(4096);
    before = testing::total_allocations();
    append_xhtml_escape(buffer, text);
    append_xhtml_escape(buffer, "plain");
    EXPECT_EQ(testing::total_allocations(), before);
    EXPECT_EQ(buffer, escaped + "plain");
}

// ---- URLs -----------------------------------------------------------------------

TEST(EscapeTest, UrlEscapeMatchesTornado) {
    expect_table(kUrlEscapePlus, [](std::string_view input) { return url_escape(input); });
    expect_table(kUrlEscapePath, [](std::string_view input) { return url_escape(input, false); });
}

TEST(EscapeTest, UrlUnescapeMatchesTornado) {
    expect_table(kUrlUnescapePlus, [](std::string_view input) { return url_unescape(input); });
    expect_table(kUrlUnescapePath, [](std::string_view input) { return url_unescape(input, false); });
    expect_table(kUrlUnescapeToBytesPlus,
                 [](std::string_view input) { return url_unescape_to_bytes(input); });
    expect_table(kUrlUnescapeToBytesPath,
                 [](std::string_view input) { return url_unescape_to_bytes(input, false); });
}

TEST(EscapeTest, UrlEscapeRoundTripsEveryByte) {
    std::string all_bytes;
    for (int byte = 0; byte < 256; ++byte) all_bytes += static_cast<char>(byte);
    EXPECT_EQ(url_unescape_to_bytes(url_escape(all_bytes)), all_bytes);
    EXPECT_EQ(url_unescape_to_bytes(url_escape(all_bytes, false), false), all_bytes);
}

TEST(EscapeTest, UrlUnescapeAlwaysGivesUtf8) {
    // Raw bytes that are not UTF-8 (Tornado would raise on them) become U+FFFD too.
    EXPECT_EQ(url_unescape("a\xff%41"), "a\xef\xbf\xbd" "A");
    EXPECT_TRUE(is_valid_utf8(url_unescape("%80%C0%AF%ED%A0%80\xfe")));
}

// ---- JSON -------------------------------------------------------------------------

TEST(EscapeTest, JsonEncodeMatchesTornado) {
    expect_table(kJsonEncode, [](std::string_view text) { return json_encode(json_decode(text)); });
}

TEST(EscapeTest, JsonEncodeTakesValuesBuiltInCpp) {
    JSON value = {{"name", "caf\xc3\xa9"}, {"ids", {1, 2, 3}}, {"ok", true}, {"none", nullptr}};
    EXPECT_EQ(json_encode(value), R"({"ids": [1, 2, 3], "name": "caf\u00e9", "none": null, "ok": true})");
    EXPECT_EQ(json_encode(std::map<std::string, double>{{"pi", 3.25}}), R"({"pi": 3.25})");
    EXPECT_EQ(json_encode(std::vector<std::string>{"</script>"}), R"(["<\/script>"])");
    EXPECT_EQ(json_encode("plain"), R"("plain")");
    EXPECT_EQ(json_encode(1.0), "1.0");
    EXPECT_EQ(json_encode(-7), "-7");
}

TEST(EscapeTest, JsonEncodeKeepsAnOrderedJsonsInsertionOrder) {
    nlohmann::ordered_json value;
    value["zebra"] = 1;
    value["apple"] = nlohmann::ordered_json::array({"</", 2.5});
    EXPECT_EQ(json_encode(value), R"({"zebra": 1, "apple": ["<\/", 2.5]})");
}

TEST(EscapeTest, JsonEncodeWritesNullForNaNAndInfinity) {
    JSON value = JSON::array({std::nan(""), std::numeric_limits<double>::infinity(),
                              -std::numeric_limits<double>::infinity()});
    EXPECT_EQ(json_encode(value), "[null, null, null]");
}

TEST(EscapeTest, JsonEncodeRefusesStringsThatAreNotUtf8) {
    JSON value = {{"bad", std::string("ab\xff")}};
    try {
        json_encode(value);
        FAIL() << "json_encode took a string that is not UTF-8";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("not valid UTF-8 at byte 2"), std::string::npos)
            << error.what();
    }
    EXPECT_THROW(json_encode(JSON(std::string("\xed\xa0\x80"))), std::invalid_argument);  // a surrogate
}

TEST(EscapeTest, JsonDecodeReadsValues) {
    JSON value = json_decode(R"( {"a": [1, 2.5, "caf\u00e9", null, true], "b": {"c": "d"}} )");
    EXPECT_EQ(value["a"][0].get<int>(), 1);
    EXPECT_EQ(value["a"][1].get<double>(), 2.5);
    EXPECT_EQ(value["a"][2].get<std::string>(), "caf\xc3\xa9");
    EXPECT_TRUE(value["a"][3].is_null());
    EXPECT_EQ(value["b"]["c"], "d");
    EXPECT_EQ(json_decode("\"caf\xc3\xa9\"").get<std::string>(), "caf\xc3\xa9");  // raw UTF-8
    EXPECT_EQ(json_decode(R"({"k": 1, "k": 2})")["k"], 2);  // the last duplicate wins, as in Python
}

// The error names the place, and its position() is the byte where parsing stopped.
void expect_decode_error(std::string_view text, std::string_view message_part, std::size_t position) {
    try {
        json_decode(text);
        ADD_FAILURE() << "json_decode accepted \"" << printable(text) << "\"";
    } catch (const JSONDecodeError& error) {
        std::string message = error.what();
        EXPECT_EQ(message.rfind("json_decode: ", 0), 0u) << message;
        EXPECT_NE(message.find(message_part), std::string::npos)
            << "\"" << printable(text) << "\" gave: " << message;
        EXPECT_EQ(error.position(), position) << message;
    }
}

TEST(EscapeTest, JsonDecodeExplainsMalformedInput) {
    expect_decode_error("", "line 1, column 1", 0);
    expect_decode_error("{\"a\": tru}", "line 1, column 10", 9);
    expect_decode_error("1e99999", "number overflow", 0);  // out_of_range, not a parse error
    expect_decode_error(std::string_view("[1]\0junk", 8), "NUL byte at byte 3", 3);
    expect_decode_error("[1, 2", "unexpected end of input", 5);
    expect_decode_error("[1,\n2,]", "line 2, column 3", 6);
    expect_decode_error("{} extra", "line 1, column 4", 3);
    expect_decode_error("\"ab\xff\"", "ill-formed UTF-8", 3);
    expect_decode_error("[NaN]", "line 1, column 2", 1);
    expect_decode_error("\"\\ud800\"", "surrogate", 7);
    // A JSONDecodeError is a std::invalid_argument, Python's ValueError.
    EXPECT_THROW(json_decode("{"), std::invalid_argument);
}

TEST(EscapeTest, JsonNestingIsBoundedBothWays) {
    std::string deep_ok = std::string(1000, '[') + std::string(1000, ']');
    EXPECT_EQ(json_encode(json_decode(deep_ok)).size(), 2000u);

    std::string too_deep = std::string(100000, '[') + std::string(100000, ']');
    expect_decode_error(too_deep, "nesting deeper than 1000 levels at byte 1000", 1000);
    // Brackets inside strings do not count.
    std::string in_string = "[\"" + std::string(5000, '[') + "\\\"\"]";
    EXPECT_EQ(json_decode(in_string)[0].get<std::string>().size(), 5001u);

    JSON built = JSON::array();
    for (int i = 0; i < 1001; ++i) built = JSON::array({std::move(built)});
    EXPECT_THROW(json_encode(built), std::invalid_argument);
}

// ---- UTF-8 ---------------------------------------------------------------------------

TEST(EscapeTest, ReplaceInvalidUtf8MatchesPython) {
    expect_table(kReplaceInvalidUtf8, [](std::string_view input) { return replace_invalid_utf8(input); });
}

TEST(EscapeTest, ValidityAgreesWithPython) {
    for (const EscapeCase& row : kReplaceInvalidUtf8) {
        bool python_says_valid = row.input == row.expected;
        EXPECT_EQ(is_valid_utf8(row.input), python_says_valid) << printable(row.input);
    }
}

TEST(EscapeTest, ToUnicodeNamesTheFirstBadByte) {
    EXPECT_EQ(to_unicode("caf\xc3\xa9"), "caf\xc3\xa9");
    try {
        to_unicode("abc\xff");
        FAIL() << "to_unicode accepted a byte that is not UTF-8";
    } catch (const UnicodeDecodeError& error) {
        EXPECT_STREQ(error.what(), "'utf-8' codec can't decode byte 0xff in position 3");
        EXPECT_EQ(error.position(), 3u);
    }
    EXPECT_THROW(to_unicode("\xc3"), std::invalid_argument);  // cut short
}

// ---- Text ----------------------------------------------------------------------------

TEST(EscapeTest, SqueezeMatchesTornado) {
    expect_table(kSqueeze, [](std::string_view input) { return squeeze(input); });
}

TEST(EscapeTest, LinkifyMatchesTornado) {
    for (const LinkifyCase& row : kLinkify) {
        LinkifyOptions options;
        options.shorten = row.shorten;
        options.extra_params = std::string(row.extra_params);
        options.require_protocol = row.require_protocol;
        options.permitted_protocols.assign(row.permitted_protocols.begin(), row.permitted_protocols.end());
        EXPECT_EQ(linkify(row.text, options), row.expected) << "text: \"" << printable(row.text) << "\"";
    }
}

TEST(EscapeTest, LinkifyDefaultsAreTornados) {
    EXPECT_EQ(linkify("Hello http://tornadoweb.org!"),
              "Hello <a href=\"http://tornadoweb.org\">http://tornadoweb.org</a>!");
    EXPECT_EQ(linkify("go to https://a.com or ftp://b.com"),
              "go to <a href=\"https://a.com\">https://a.com</a> or ftp://b.com");
}

TEST(EscapeTest, LinkifyComputesParamsPerLink) {
    // Tornado's own test of a callable extra_params.
    LinkifyOptions options;
    options.extra_params_for = [](const std::string& href) -> std::string {
        return href.starts_with("http://www.internal-link.com") ? "class=\"internal\""
                                                                 : "  rel=\"nofollow\" class=\"external\"  ";
    };
    EXPECT_EQ(linkify("www.external-link.com and www.internal-link.com/blogs extra", options),
              "<a href=\"http://www.external-link.com\" rel=\"nofollow\" class=\"external\">"
              "www.external-link.com</a> and <a href=\"http://www.internal-link.com/blogs\" "
              "class=\"internal\">www.internal-link.com/blogs</a> extra");
    options.extra_params_for = [](const std::string&) { return std::string(); };
    EXPECT_EQ(linkify("www.a.com", options), "<a href=\"http://www.a.com\" >www.a.com</a>");
}

TEST(EscapeTest, LinkifySurvivesHostileInput) {
    // Patterns that make backtracking regular expressions exponential, or a
    // recursive matcher overflow its stack, a megabyte each.
    const std::string hostile[] = {
        "http://a.com/" + std::string(1 << 20, '('),
        "http://a.com/" + std::string(1 << 20, '.'),
        "http://a.com/" + std::string(1 << 20, 'x'),
        std::string(1 << 20, '-'),
    };
    for (const std::string& text : hostile) {
        std::string linked = linkify(text);
        EXPECT_GT(linked.size(), text.size() - 1);
    }
    std::string words_and_dashes;
    for (int i = 0; i < (1 << 18); ++i) words_and_dashes += "a-";
    EXPECT_EQ(linkify(words_and_dashes), words_and_dashes);
    std::string many_links;
    for (int i = 0; i < 10000; ++i) many_links += "http://x.com/" + std::to_string(i) + " ";
    std::string linked = linkify(many_links);
    EXPECT_NE(linked.find("<a href=\"http://x.com/9999\">http://x.com/9999</a> "), std::string::npos);
}

}  // namespace
}  // namespace tornado
