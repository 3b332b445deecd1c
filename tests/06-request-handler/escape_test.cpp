// escape_test.cpp: escape.h (HTML, URL, JSON, query strings) and
// RedirectHandler's str.format. Expected values are what Python answers
// (tornado.escape, urllib.parse, json.dumps, str.format).
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "escape.h"
#include "web.h"

namespace course::testing {
namespace {

TEST(Escape, XhtmlEscapeEscapesTheFiveCharacters) {
    EXPECT_EQ(xhtml_escape("<a href=\"x\">Tom & 'Jerry'</a>"),
              "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    EXPECT_EQ(xhtml_escape("plain text, caf\xc3\xa9"), "plain text, caf\xc3\xa9");
}

TEST(Escape, UrlEscapeForQueryStrings) {
    EXPECT_EQ(url_escape("a b/c?d=e&f"), "a+b%2Fc%3Fd%3De%26f");
    EXPECT_EQ(url_escape("safe_.-~AZaz09"), "safe_.-~AZaz09");
    EXPECT_EQ(url_escape("caf\xc3\xa9"), "caf%C3%A9");
}

TEST(Escape, UrlEscapeForPaths) {
    EXPECT_EQ(url_escape("a b/c+d", false), "a%20b/c%2Bd");
}

TEST(Escape, UrlEscapeAndUnescapeAreInverses) {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    EXPECT_EQ(url_unescape(url_escape(all), true), all);
    EXPECT_EQ(url_unescape(url_escape(all, false), false), all);
}

TEST(Escape, JsonEncodeQuotesAndEscapes) {
    EXPECT_EQ(json_encode("hello"), "\"hello\"");
    EXPECT_EQ(json_encode("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    EXPECT_EQ(json_encode("a\nb\tc\r\x01"), "\"a\\nb\\tc\\r\\u0001\"");
    EXPECT_EQ(json_encode(std::string("\0", 1)), "\"\\u0000\"");
    EXPECT_EQ(json_encode("\x7f"), "\"\\u007f\"");
}

TEST(Escape, JsonEncodeEscapesTheEndOfAScriptTag) {
    EXPECT_EQ(json_encode("</script>"), "\"<\\/script>\"");
    EXPECT_EQ(json_encode("a/b"), "\"a/b\"") << "only \"</\" needs it";
}

TEST(Escape, ParseQslKeepsOrderAndBlanks) {
    QueryPairs expected = {{"b", "1"}, {"a", "x y"}, {"b", "3"}, {"e", ""}, {"f", ""}};
    EXPECT_EQ(parse_qsl("b=1&a=x+y&&b=3&e&f="), expected);
    EXPECT_EQ(parse_qsl("k=%26%3D"), (QueryPairs{{"k", "&="}}));
    EXPECT_TRUE(parse_qsl("").empty());
}

TEST(Escape, UrlConcatAppendsToTheQuery) {
    EXPECT_EQ(url_concat("/a", {{"x", "1"}, {"y", "b c"}}), "/a?x=1&y=b+c");
    EXPECT_EQ(url_concat("/a?x=1", {{"y", "2"}}), "/a?x=1&y=2");
    EXPECT_EQ(url_concat("/a?x=%7e#top", {{"y", "2"}}), "/a?x=~&y=2#top");
    EXPECT_EQ(url_concat("/a", {}), "/a");
}

TEST(FormatUrl, PositionalFieldsLikePythonsStrFormat) {
    EXPECT_EQ(format_url("/photos/{0}", {"cat.jpg"}), "/photos/cat.jpg");
    EXPECT_EQ(format_url("/{1}/{0}/{2}", {"a", "b", "c"}), "/b/a/c");
    EXPECT_EQ(format_url("/{}/{}", {"a", "b"}), "/a/b");
    EXPECT_EQ(format_url("/{0}/{0}", {"a"}), "/a/a");
    EXPECT_EQ(format_url("/x{{y}}/{0}", {"z"}), "/x{y}/z");
    EXPECT_EQ(format_url("/plain", {"unused"}), "/plain");
}

TEST(FormatUrl, RefusesWhatPythonRefuses) {
    EXPECT_THROW(format_url("/{1}", {"a"}), std::out_of_range);
    EXPECT_THROW(format_url("/{0", {"a"}), std::invalid_argument);
    EXPECT_THROW(format_url("/0}", {"a"}), std::invalid_argument);
    EXPECT_THROW(format_url("/{name}", {"a"}), std::invalid_argument);
}

}  // namespace
}  // namespace course::testing
