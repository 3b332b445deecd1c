// arguments_test.cpp: get_argument(s) from the query and a form body,
// redirect(), RedirectHandler's substitution, and reverse_url from inside a
// handler. Not graded by an exercise task: this is given code.
#include <string>

#include "escape.h"
#include "web_fixture.h"

namespace course::testing {
namespace {

class Arguments : public WebTest {};
class Redirects : public WebTest {};

// Answers "name=[v1|v2|...] one=LAST" for argument `name`.
class ArgumentsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { describe(); }
    void post(const PathArgs&) override { describe(); }

private:
    void describe() {
        std::string values;
        for (const std::string& value : get_arguments("name")) {
            values += (values.empty() ? "" : "|") + value;
        }
        write("name=[" + values + "] one=" + get_argument("name", "(default)"));
    }
};

TEST_F(Arguments, FromTheQueryStringLastValueWins) {
    serve({{"/", handler<ArgumentsHandler>()}});
    EXPECT_EQ(get("/?name=ada").body, "name=[ada] one=ada");
    EXPECT_EQ(get("/?name=ada&name=grace").body, "name=[ada|grace] one=grace");
    EXPECT_EQ(get("/?name=a+b%26c").body, "name=[a b&c] one=a b&c") << "decoded";
}

TEST_F(Arguments, TheDefaultWhenMissing) {
    serve({{"/", handler<ArgumentsHandler>()}});
    EXPECT_EQ(get("/").body, "name=[] one=(default)");
    EXPECT_EQ(get("/?other=1").body, "name=[] one=(default)");
    EXPECT_EQ(get("/?name=").body, "name=[] one=") << "present but empty is not missing";
}

TEST_F(Arguments, FromAFormBodyAfterTheQuery) {
    serve({{"/", handler<ArgumentsHandler>()}});
    std::string form = "Content-Type: application/x-www-form-urlencoded\r\n";
    EXPECT_EQ(fetch(post_request("/?name=query", "name=body1&name=body2", form)).body,
              "name=[query|body1|body2] one=body2");
    EXPECT_EQ(fetch(post_request("/", "name=x", "Content-Type: text/plain\r\n")).body,
              "name=[] one=(default)")
        << "only a form body holds arguments";
}

TEST_F(Arguments, StrippedAndControlBytesBecomeSpaces) {
    serve({{"/", handler<ArgumentsHandler>()}});
    EXPECT_EQ(get("/?name=%20%20padded%09%0A").body, "name=[padded] one=padded");
    EXPECT_EQ(get("/?name=a%01b%00c").body, "name=[a b c] one=a b c");
}

class RawArgumentsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("[" + get_arguments("name", false).at(0) + "]"); }
};

TEST_F(Arguments, GetArgumentsCanKeepWhitespace) {
    serve({{"/", handler<RawArgumentsHandler>()}});
    EXPECT_EQ(get("/?name=+x+").body, "[ x ]");
}

class RedirectingHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        std::string kind = get_argument("kind");
        if (kind == "temp") redirect("/new");
        if (kind == "perm") redirect("/new", true);
        if (kind == "other") redirect("/new", false, 303);
        if (kind == "bad") redirect("/new", false, 200);
    }
};

TEST_F(Redirects, TemporaryIs302PermanentIs301) {
    serve({{"/old", handler<RedirectingHandler>()}});
    Response temp = get("/old?kind=temp");
    EXPECT_EQ(temp.status, 302);
    EXPECT_EQ(temp.header("location"), "/new");
    EXPECT_EQ(temp.header("content-length"), "0");
    Response perm = get("/old?kind=perm");
    EXPECT_EQ(perm.status, 301);
    EXPECT_EQ(perm.header("location"), "/new");
    EXPECT_EQ(get("/old?kind=other").status, 303);
    EXPECT_EQ(get("/old?kind=bad").status, 500) << "a redirect status is 3xx";
}

TEST_F(Redirects, RedirectHandlerSubstitutesTheGroups) {
    serve({
        {"/pictures/(.*)", handler<RedirectHandler>("/photos/{0}")},
        {"/swap/(.*?)/(.*?)/(.*)", handler<RedirectHandler>("/{1}/{0}/{2}", false)},
        {"/plain", handler<RedirectHandler>("/")},
    });
    Response pictures = get("/pictures/cat.jpg");
    EXPECT_EQ(pictures.status, 301) << "permanent by default";
    EXPECT_EQ(pictures.header("location"), "/photos/cat.jpg");
    Response swap = get("/swap/a/b/c/d");
    EXPECT_EQ(swap.status, 302);
    EXPECT_EQ(swap.header("location"), "/b/a/c/d");
    EXPECT_EQ(get("/plain").header("location"), "/");
}

TEST_F(Redirects, RedirectHandlerKeepsTheQueryGroupedByName) {
    serve({{"/pictures/(.*)", handler<RedirectHandler>("/photos/{0}")}});
    // Tornado 6.2 answers exactly this (its query arguments are a dict of
    // lists, so values are grouped under the name that came first).
    EXPECT_EQ(get("/pictures/a%20b?z=1&a=2&z=3&e").header("location"),
              "/photos/a b?z=1&z=3&a=2&e=");
    EXPECT_EQ(get("/pictures/x?q=a+b%2Fc").header("location"), "/photos/x?q=a+b%2Fc");
}

TEST_F(Redirects, RedirectHandlerAnswersOnlyGet) {
    serve({{"/old", handler<RedirectHandler>("/new")}});
    EXPECT_EQ(fetch(post_request("/old", "")).status, 405);
}

TEST_F(Redirects, ABadFormatIs500) {
    serve({{"/(.*)", handler<RedirectHandler>("/{1}")}});
    EXPECT_EQ(get("/x").status, 500);
}

class LinkHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("<a href=\"" + xhtml_escape(reverse_url("tag", get_argument("tag"))) + "\">tag</a>");
    }
};

TEST_F(Redirects, ReverseUrlFromAHandlerEscapesTheArguments) {
    serve({{"/tag/([^/]+)", handler<RedirectHandler>("/"), "tag"},
           {"/link", handler<LinkHandler>()}});
    EXPECT_EQ(get("/link?tag=c%2B%2B+%26+more").body,
              "<a href=\"/tag/c%2B%2B%20%26%20more\">tag</a>");
}

}  // namespace
}  // namespace course::testing
