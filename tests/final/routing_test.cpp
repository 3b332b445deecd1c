// Tests of routing (final/src/web/routing.cpp): how a request finds its
// handler. Application's route table and reverse_url, default_handler_class,
// the host tables of add_handlers and default_host, RuleRouter with its
// matchers, and PathMatches' patterns (named groups, the leading-text
// shortcut). The host rules are what Python Tornado 6.2's
// Application.find_handler gives for the same tables and requests.
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "tornado/routing.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado {
namespace {

// Writes the name it was routed with, to tell the tables apart.
class NamedRouteHandler : public RequestHandler {
public:
    void initialize(std::string name) { name_ = std::move(name); }
    void get(const PathArgs&) override { write(name_); }

private:
    std::string name_;
};

// --- the route table ------------------------------------------------------------------

TEST(ApplicationTest, ReverseUrlFillsAndEscapesGroups) {
    Application app({{"/story/([0-9]+)", handler<NamedRouteHandler>("story"), "story"},
                     {"/tag/(.*)/page/([0-9]+)", handler<NamedRouteHandler>("tag"), "tag"},
                     {"/(a|b)+", handler<NamedRouteHandler>("complex"), "complex"}});
    EXPECT_EQ(app.reverse_url("story", 7), "/story/7");
    EXPECT_EQ(app.reverse_url("tag", "a b/c", "2"), "/tag/a%20b/c/page/2");
    EXPECT_THROW(app.reverse_url("nope"), std::out_of_range);
    EXPECT_THROW(app.reverse_url("story"), std::invalid_argument);
    EXPECT_THROW(app.reverse_url("complex", "a"), std::invalid_argument);  // Tornado: "/a+"
}

class DefaultHandlerTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.default_handler_class = handler<NamedRouteHandler>("default");
        return std::make_shared<Application>(std::vector<URLSpec>{}, settings);
    }
};

TEST_F(DefaultHandlerTest, DefaultHandlerClassServesUnmatchedPaths) {
    EXPECT_EQ(fetch("/anything").body, "default");
}

// --- routing by host: add_handlers(host_pattern, ...) and default_host --------
// Every expectation below is what Python Tornado 6.2's Application.find_handler
// gives for the same tables and requests.

class HostRoutingTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.default_host = default_host;
        auto app = std::make_shared<Application>(
            std::vector<URLSpec>{{"/", handler<NamedRouteHandler>("every host")},
                                 {"/shared", handler<NamedRouteHandler>("every host")}},
            settings);
        app->add_handlers("api\\.example\\.com",
                          {{"/", handler<NamedRouteHandler>("api")},
                           {"/only-api", handler<NamedRouteHandler>("api only"), "api-only"}});
        // Also matches api.example.com, but was added later: api's table
        // is asked first.
        app->add_handlers(".*\\.example\\.com$",
                          {{"/", handler<NamedRouteHandler>("any example")}});
        application = app;
        return app;
    }

    HTTPResponse fetch_from(const std::string& host, const std::string& path,
                            HTTPHeaders headers = {}) {
        headers.set("Host", host);
        HTTPRequest request;
        request.headers = std::move(headers);
        return fetch(path, std::move(request));
    }

    std::string default_host;
    std::shared_ptr<Application> application;
};

TEST_F(HostRoutingTest, TheHostsTableComesFirstInTheOrderTheyWereAdded) {
    EXPECT_EQ(fetch_from("api.example.com", "/").body, "api");
    EXPECT_EQ(fetch_from("www.example.com", "/").body, "any example");
    EXPECT_EQ(fetch_from("example.org", "/").body, "every host");
    EXPECT_EQ(fetch_from("api.example.com", "/only-api").body, "api only");
}

// The host name is the Host header in lower case, without its port.
TEST_F(HostRoutingTest, TheHostIsMatchedWithoutItsPortInLowerCase) {
    EXPECT_EQ(fetch_from("API.Example.COM:8080", "/").body, "api");
    EXPECT_EQ(fetch_from("[::1]:8080", "/").body, "every host");
    // The whole name must match: "$" is added, and the match starts at the
    // first character.
    EXPECT_EQ(fetch_from("api.example.com.evil.org", "/").body, "every host");
    EXPECT_EQ(fetch_from("xapi.example.com", "/").body, "any example");
}

// A host's table with no route for the path hands the request on.
TEST_F(HostRoutingTest, AHostTableWithoutThePathFallsThroughToEveryHostsRoutes) {
    EXPECT_EQ(fetch_from("api.example.com", "/shared").body, "every host");
    EXPECT_EQ(fetch_from("www.example.com", "/only-api").code, 404);
    EXPECT_EQ(fetch_from("example.org", "/only-api").code, 404);
}

TEST_F(HostRoutingTest, ReverseUrlFindsRoutesOfHostTables) {
    EXPECT_EQ(application->reverse_url("api-only"), "/only-api");
}

TEST(HostMatchesTest, AWholeNameMatchesAndABadPatternIsRefused) {
    EXPECT_TRUE(HostMatches("a\\.b").match("a.b"));
    EXPECT_TRUE(HostMatches("a\\.b$").match("a.b"));
    EXPECT_FALSE(HostMatches("a\\.b").match("a.b.c"));
    EXPECT_FALSE(HostMatches("a\\.b").match("xa.b"));
    EXPECT_TRUE(HostMatches(".*").match(""));
    EXPECT_THROW(HostMatches("(unclosed"), std::regex_error);
}

// default_host: a request straight from a client (no X-Real-Ip) that no
// table of its own host serves goes to the tables default_host matches.
class DefaultHostTest : public HostRoutingTest {
protected:
    void SetUp() override {
        default_host = "api.example.com";
        HostRoutingTest::SetUp();
    }
};

TEST_F(DefaultHostTest, AnUnknownHostIsServedAsTheDefaultHost) {
    EXPECT_EQ(fetch_from("10.0.0.1", "/only-api").body, "api only");
    // Every host's routes still come first.
    EXPECT_EQ(fetch_from("10.0.0.1", "/").body, "every host");
}

TEST_F(DefaultHostTest, NotForARequestThatCameThroughAProxy) {
    HTTPHeaders proxied;
    proxied.set("X-Real-Ip", "192.0.2.7");
    EXPECT_EQ(fetch_from("10.0.0.1", "/only-api", proxied).code, 404);
}

// --- RuleRouter: whole requests to one of several delegates -------------------

// Writes its name and the body it got, to tell the applications apart.
class NamedEchoHandler : public RequestHandler {
public:
    void initialize(std::string name) { name_ = std::move(name); }
    void get(const PathArgs&) override { write(name_); }
    void post(const PathArgs&) override { write(name_ + ":" + request().body); }
    void delete_(const PathArgs&) override { write(name_ + " deletes"); }

private:
    std::string name_;
};

std::shared_ptr<Application> application_named(const std::string& name) {
    return std::make_shared<Application>(
        std::vector<URLSpec>{{"/.*", handler<NamedEchoHandler>(name)}});
}

class RuleRouterTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        // A router as a rule's target: it takes only /x/ paths of its host,
        // and passes the rest on to the rules after it.
        auto x_site = std::make_shared<RuleRouter>(
            std::vector<Rule>{{PathMatches("/x/.*"), application_named("x")}});
        return std::make_shared<RuleRouter>(std::vector<Rule>{
            {HostMatches("api\\.example\\.com"), application_named("api")},
            {PathMatches("/api/.*"), application_named("api")},
            {HostMatches("x\\.example\\.com"), x_site},
            {[](const HTTPServerRequest& request) { return request.method == "DELETE"; },
             application_named("deleter")},
            {HostMatches(".*\\.example\\.com"), application_named("site")},
        });
    }

    HTTPResponse fetch_from(const std::string& host, const std::string& path,
                            const std::string& method = "GET", const std::string& body = "") {
        HTTPRequest request;
        request.headers.set("Host", host);
        request.method = method;
        if (method == "POST") request.body = body;
        return fetch(path, std::move(request));
    }
};

TEST_F(RuleRouterTest, TheFirstRuleThatMatchesTakesTheRequest) {
    EXPECT_EQ(fetch_from("api.example.com", "/anything").body, "api");
    EXPECT_EQ(fetch_from("www.example.com", "/api/items").body, "api");
    EXPECT_EQ(fetch_from("www.example.com", "/").body, "site");
    EXPECT_EQ(fetch_from("www.example.com", "/", "DELETE").body, "deleter deletes");
}

TEST_F(RuleRouterTest, TheBodyReachesTheApplicationChosen) {
    EXPECT_EQ(fetch_from("api.example.com", "/upload", "POST", "some bytes").body,
              "api:some bytes");
    std::string large(200 * 1024, 'b');
    EXPECT_EQ(fetch_from("www.example.com", "/", "POST", large).body, "site:" + large);
}

TEST_F(RuleRouterTest, ARouterThatFindsNothingPassesTheRequestOn) {
    EXPECT_EQ(fetch_from("x.example.com", "/x/1").body, "x");
    EXPECT_EQ(fetch_from("x.example.com", "/other").body, "site");
}

TEST_F(RuleRouterTest, ARequestNoRuleTakesIs404AndTheConnectionGoesOn) {
    HTTPResponse response = fetch_from("example.org", "/", "POST", "dropped");
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body, "");
    EXPECT_EQ(fetch_from("www.example.com", "/").body, "site");
}

TEST(RuleRouterRulesTest, ARuleNeedsAMatcherAndATarget) {
    EXPECT_THROW(RuleRouter({{AnyMatches(), nullptr}}), std::invalid_argument);
    EXPECT_THROW(RuleRouter({{nullptr, application_named("a")}}), std::invalid_argument);
}

TEST(PathMatchesTest, PlainTextAndRegexPatterns) {
    PathMatches root("/");
    EXPECT_TRUE(root.match("/"));
    EXPECT_FALSE(root.match("/x"));
    PathMatches dotted("/a.b");  // '.' is regex syntax: any character
    EXPECT_TRUE(dotted.match("/axb"));
    PathMatches optional_group("/a(/b)?");
    ASSERT_TRUE(optional_group.match("/a"));
    EXPECT_EQ(*optional_group.match("/a"), PathArgs{""});
}

// A path without a regex's leading text is turned away before std::regex
// runs; the patterns where that text is not certain must still match.
TEST(PathMatchesTest, TheLeadingTextShortcutKeepsEveryMatch) {
    PathMatches files("/static/(.*)");
    EXPECT_TRUE(files.match("/static/app.css"));
    EXPECT_FALSE(files.match("/stati/app.css"));
    EXPECT_FALSE(files.match("/"));
    // A quantifier makes the character before it optional or repeated.
    PathMatches optional_s("/items?/([0-9]+)");
    EXPECT_TRUE(optional_s.match("/item/1"));
    EXPECT_TRUE(optional_s.match("/items/1"));
    EXPECT_TRUE(PathMatches("/ab*/x").match("/a/x"));
    EXPECT_TRUE(PathMatches("/ab{0,2}/x").match("/a/x"));
    // Alternation: a path may match without the first alternative's text.
    PathMatches either("/left/x|/right/(.*)");
    EXPECT_TRUE(either.match("/right/y"));
    EXPECT_TRUE(either.match("/left/x"));
    // Syntax at the start leaves no leading text to check.
    EXPECT_TRUE(PathMatches("^/anchored/(.*)").match("/anchored/z"));
    EXPECT_TRUE(PathMatches("\\/escaped/(.*)").match("/escaped/z"));
}

// "prefix(.*)" (StaticFileHandler's route) is matched without std::regex:
// the rest of the path is the value, as the regex would give it.
TEST(PathMatchesTest, APrefixAndOneGroupToTheEndMatchAsTheRegexWould) {
    for (std::string pattern : {"/static/(.*)", "/static/(.*)$", "/static/(?P<path>.*)"}) {
        SCOPED_TRACE(pattern);
        PathMatches files(pattern);
        EXPECT_EQ(files.match("/static/css/app%20x.css"), PathArgs{"css/app x.css"});
        EXPECT_EQ(files.match("/static/"), PathArgs{""});
        EXPECT_FALSE(files.match("/static"));
        // "." matches no line break, so neither does the pattern.
        EXPECT_FALSE(files.match("/static/a\nb"));
        EXPECT_FALSE(files.match("/static/a\rb"));
        EXPECT_EQ(files.match("/static/a%0Ab"), PathArgs{"a\nb"});  // decoded after matching
    }
    EXPECT_EQ(PathMatches("/static/(?P<path>.*)").group_names(), std::vector<std::string>{"path"});
    // Not the shortcut's shape: std::regex decides.
    EXPECT_FALSE(PathMatches("/static/(.+)").match("/static/"));
    EXPECT_FALSE(PathMatches("/static/(.*)x").match("/static/a"));
    EXPECT_EQ(PathMatches("/static/(.*)(.*)").match("/static/ab"), (PathArgs{"ab", ""}));
}

// Python's named groups: taken out for std::regex, their names kept.
TEST(PathMatchesTest, NamedGroups) {
    PathMatches item("/item/(?P<id>[0-9]+)/(?P<action>[a-z]+)");
    EXPECT_EQ(item.group_names(), (std::vector<std::string>{"id", "action"}));
    ASSERT_TRUE(item.match("/item/9/edit"));
    EXPECT_EQ(*item.match("/item/9/edit"), (PathArgs{"9", "edit"}));
    EXPECT_FALSE(item.match("/item/x/edit"));
    EXPECT_EQ(item.reverse({"7", "view"}), "/item/7/view");
    // "(?:", "\(" and "[(]" open no group; an unnamed group among named ones is "".
    PathMatches mixed("/(?:a|b)/\\((x)\\)/[(](?P<n>[0-9])");
    EXPECT_EQ(mixed.group_names(), (std::vector<std::string>{"", "n"}));
    ASSERT_TRUE(mixed.match("/a/(x)/(5"));
    EXPECT_EQ(*mixed.match("/a/(x)/(5"), (PathArgs{"x", "5"}));
    EXPECT_TRUE(PathMatches("/plain/([0-9]+)").group_names().empty());
    EXPECT_THROW(PathMatches("/(?P<unclosed"), std::regex_error);
}

class NamedGroupsHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        write(std::to_string(args.size()) + " args; id=" + path_kwargs().at("id") +
              " action=" + path_kwargs().at("action"));
    }
};

class NamedGroupsTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(std::vector<URLSpec>{
            {"/item/(?P<id>[0-9]+)/(?P<action>[^/]+)", handler<NamedGroupsHandler>(), "item"}});
    }
};

TEST_F(NamedGroupsTest, TheHandlerGetsThemByNameDecoded) {
    EXPECT_EQ(fetch("/item/42/caf%C3%A9").body, "0 args; id=42 action=caf\xc3\xa9");
    EXPECT_EQ(fetch("/item/x/edit").code, 404);
}

}  // namespace
}  // namespace tornado
