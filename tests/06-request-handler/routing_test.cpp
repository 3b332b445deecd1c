// routing_test.cpp: matching paths against route patterns (task 1) and
// building paths back from them (task 2). No server: PathMatches and the
// Application's find_handler / reverse_url are plain functions of strings.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "routing.h"
#include "web.h"

namespace course::testing {
namespace {

class Named : public RequestHandler {};

// --- Task 1: route matching with captures ---------------------------------------

TEST(Task1_RouteMatching, MatchesTheWholePathOnly) {
    PathMatches story("/story/([0-9]+)");
    ASSERT_TRUE(story.match("/story/12"));
    EXPECT_FALSE(story.match("/story/12/edit")) << "a prefix match is not a match";
    EXPECT_FALSE(story.match("/xstory/12")) << "the match starts at the start of the path";
    EXPECT_FALSE(story.match("/story/"));
    EXPECT_FALSE(story.match("/story/abc"));
}

TEST(Task1_RouteMatching, GivesTheGroupsInOrder) {
    EXPECT_EQ(PathMatches("/story/([0-9]+)").match("/story/12"), PathArgs{"12"});
    EXPECT_EQ(PathMatches("/([a-z]+)/([0-9]+)/(.*)").match("/blog/2024/hello/world"),
              (PathArgs{"blog", "2024", "hello/world"}));
}

TEST(Task1_RouteMatching, APatternWithoutGroupsGivesNoArguments) {
    std::optional<PathArgs> args = PathMatches("/").match("/");
    ASSERT_TRUE(args.has_value());
    EXPECT_TRUE(args->empty());
    EXPECT_FALSE(PathMatches("/").match("/index"));
}

TEST(Task1_RouteMatching, DecodesPercentEscapesInGroupsButNotPlus) {
    // "+" means a space only in query strings; in a path it is a plus.
    EXPECT_EQ(PathMatches("/tag/(.*)").match("/tag/a%20b+c%2Fd"), PathArgs{"a b+c/d"});
}

// Decoded once: "%25" is a percent sign, and what follows it is text. A
// second decoding would make "100%2525" "100%" (and "%2541" "A"), a value
// the client never sent.
TEST(Task1_RouteMatching, DecodesEachGroupOnce) {
    EXPECT_EQ(PathMatches("/tag/(.*)").match("/tag/100%2525"), PathArgs{"100%25"})
        << "a group is percent-decoded once: decoding its value again turns \"%25\" into \"%\"";
    EXPECT_EQ(PathMatches("/tag/(.*)").match("/tag/%2541"), PathArgs{"%41"})
        << "a group is percent-decoded once: decoding its value again turns \"%41\" into \"A\"";
}

TEST(Task1_RouteMatching, MatchesThePathAsSentThenDecodes) {
    // "%2F" is not a "/" for the pattern: one segment, decoded afterwards.
    EXPECT_EQ(PathMatches("/file/([^/]+)").match("/file/a%2Fb"), PathArgs{"a/b"});
    EXPECT_FALSE(PathMatches("/file/([^/]+)").match("/file/a/b"));
}

TEST(Task1_RouteMatching, AGroupThatDidNotTakePartIsEmpty) {
    EXPECT_EQ(PathMatches("/a(/b)?").match("/a"), PathArgs{""});
    EXPECT_EQ(PathMatches("/a(/b)?").match("/a/b"), PathArgs{"/b"});
}

TEST(Task1_RouteMatching, AnchorsInThePatternAreHarmless) {
    EXPECT_TRUE(PathMatches("^/x$").match("/x"));
    EXPECT_FALSE(PathMatches("^/x$").match("/xy"));
}

TEST(Task1_RouteMatching, TheApplicationTriesRoutesInOrder) {
    Application app({
        {"/story/new", handler<Named>(), "new"},
        {"/story/([a-z]+)", handler<Named>(), "word"},
        {"/story/(.*)", handler<Named>(), "any"},
    });
    Application::HandlerMatch found = app.find_handler("/story/new");
    ASSERT_NE(found.route, nullptr);
    EXPECT_EQ(found.route->name, "new") << "the first matching route wins, not the most specific";
    EXPECT_TRUE(found.path_args.empty());

    found = app.find_handler("/story/old");
    ASSERT_NE(found.route, nullptr);
    EXPECT_EQ(found.route->name, "word");
    EXPECT_EQ(found.path_args, PathArgs{"old"});

    found = app.find_handler("/story/42");
    ASSERT_NE(found.route, nullptr);
    EXPECT_EQ(found.route->name, "any");
    EXPECT_EQ(found.path_args, PathArgs{"42"});
}

TEST(Task1_RouteMatching, AnUnknownPathHasNoRoute) {
    Application app({{"/", handler<Named>()}, {"/story/([0-9]+)", handler<Named>()}});
    EXPECT_EQ(app.find_handler("/nope").route, nullptr);
    EXPECT_EQ(app.find_handler("/story/x").route, nullptr);
    EXPECT_EQ(app.find_handler("").route, nullptr);
}

// --- Task 2: reverse_url -----------------------------------------------------------

TEST(Task2_ReverseUrl, FillsTheGroupWithTheValue) {
    EXPECT_EQ(PathMatches("/story/([0-9]+)").reverse({"7"}), "/story/7");
    EXPECT_EQ(PathMatches("/story/([0-9]+)/edit").reverse({"7"}), "/story/7/edit");
}

TEST(Task2_ReverseUrl, FillsSeveralGroupsInOrder) {
    EXPECT_EQ(PathMatches("/([0-9]{4})/([a-z-]+)/").reverse({"2024", "hello-world"}),
              "/2024/hello-world/");
}

TEST(Task2_ReverseUrl, APlainPatternIsItsOwnPath) {
    EXPECT_EQ(PathMatches("/about").reverse({}), "/about");
    EXPECT_EQ(PathMatches("^/about$").reverse({}), "/about");
}

TEST(Task2_ReverseUrl, EscapesTheValues) {
    // Tornado: url_escape(value, plus=False). "/" stays, the rest of what
    // is not a letter, digit or _.-~ is percent-encoded.
    EXPECT_EQ(PathMatches("/tag/(.*)").reverse({"a b/c?d&e#f"}), "/tag/a%20b/c%3Fd%26e%23f");
    EXPECT_EQ(PathMatches("/tag/(.*)").reverse({"100%"}), "/tag/100%25");
}

// Both tasks at once: not graded, since either could be the one at fault.
TEST(Routing, AReversedPathMatchesAndDecodesBackToTheValue) {
    PathMatches tag("/tag/([^/]*)");
    std::string path = tag.reverse({"x?y z"});
    EXPECT_EQ(tag.match(path), PathArgs{"x?y z"}) << path;
}

TEST(Task2_ReverseUrl, UnescapesLiteralTextOfThePattern) {
    EXPECT_EQ(PathMatches("/files/v1\\.0/(.*)").reverse({"x"}), "/files/v1.0/x");
    // The text after a group is literal text too, read the same way.
    EXPECT_EQ(PathMatches("/report/([0-9]+)\\.csv").reverse({"7"}), "/report/7.csv")
        << "the literal text after a group must be unescaped like the text before it";
    EXPECT_THROW(PathMatches("/(x)/\\d+").reverse({"x"}), std::invalid_argument)
        << "a character class after a group is not text: unescape_fragment refuses it there too";
}

TEST(Task2_ReverseUrl, RefusesTheWrongNumberOfValues) {
    PathMatches story("/story/([0-9]+)");
    EXPECT_THROW(story.reverse({}), std::invalid_argument);
    EXPECT_THROW(story.reverse({"1", "2"}), std::invalid_argument);
}

TEST(Task2_ReverseUrl, RefusesPatternsItCannotReverse) {
    EXPECT_THROW(PathMatches("/(?:a|b)/(x)").reverse({"x"}), std::invalid_argument)
        << "a non-capturing group";
    EXPECT_THROW(PathMatches("/\\d+/(x)").reverse({"x"}), std::invalid_argument)
        << "a character class outside the groups";
    EXPECT_THROW(PathMatches("/((a)b)").reverse({"x", "y"}), std::invalid_argument)
        << "nested groups";
}

TEST(Task2_ReverseUrl, TheApplicationFindsTheRouteByName) {
    Application app({
        {"/", handler<Named>(), "home"},
        {"/story/([0-9]+)", handler<Named>(), "story"},
        {"/tag/(.*)", handler<Named>(), "tag"},
    });
    EXPECT_EQ(app.reverse_url("home"), "/");
    EXPECT_EQ(app.reverse_url("story", 42), "/story/42") << "numbers are converted";
    EXPECT_EQ(app.reverse_url("story", "7"), "/story/7");
    EXPECT_EQ(app.reverse_url("tag", std::string("a b")), "/tag/a%20b");
    EXPECT_THROW(app.reverse_url("nope"), std::out_of_range);
}

}  // namespace
}  // namespace course::testing
