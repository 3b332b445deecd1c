// XSRF protection (the xsrf_cookies setting, Tornado's check_xsrf_cookie,
// xsrf_token and xsrf_form_html), through a real server and client.
#include <gtest/gtest.h>

#include <string>

#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado {
namespace {

// GET: a form with the hidden _xsrf field; POST: "posted".
class FormHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("<form method=\"post\">" + xsrf_form_html() + "</form>"); }
    void post(const PathArgs&) override { write("posted"); }
};

// Exempt from the check, as an API called with its own credentials might be.
class ExemptHandler : public RequestHandler {
public:
    void check_xsrf_cookie() override {}
    void post(const PathArgs&) override { write("exempt"); }
};

class XsrfTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.xsrf_cookies = true;
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/form", handler<FormHandler>()}, {"/exempt", handler<ExemptHandler>()}},
            settings);
    }

    // The _xsrf cookie's value and the form's token, from one GET.
    struct Tokens {
        std::string cookie;
        std::string form;
    };
    Tokens get_tokens() {
        HTTPResponse page = fetch("/form");
        std::string set_cookie = page.headers.get("Set-Cookie");
        EXPECT_TRUE(set_cookie.starts_with("_xsrf=")) << set_cookie;
        std::string cookie = set_cookie.substr(6, set_cookie.find(';') - 6);
        std::size_t value = page.body.find("value=\"") + 7;
        return {cookie, page.body.substr(value, page.body.find('"', value) - value)};
    }

    HTTPResponse post(std::string path, std::string body, std::string cookie = "",
                      std::string header_token = "") {
        HTTPRequest request;
        request.method = "POST";
        request.body = std::move(body);
        if (!cookie.empty()) request.headers.set("Cookie", "_xsrf=" + cookie);
        if (!header_token.empty()) request.headers.set("X-Xsrftoken", header_token);
        return fetch(std::move(path), std::move(request));
    }
};

TEST_F(XsrfTest, TheFormCarriesAVersion2TokenAndTheCookieIsSet) {
    Tokens tokens = get_tokens();
    EXPECT_TRUE(tokens.form.starts_with("2|")) << tokens.form;
    EXPECT_EQ(tokens.form, tokens.cookie);  // the first page writes the cookie it shows
    // Masked anew on every page: a second page shows other bytes for the same token.
    HTTPRequest again;
    again.headers.set("Cookie", "_xsrf=" + tokens.cookie);
    HTTPResponse second = fetch("/form", again);
    EXPECT_FALSE(second.headers.contains("Set-Cookie"));  // the cookie is kept
    EXPECT_EQ(second.body.find(tokens.form), std::string::npos);
}

TEST_F(XsrfTest, APostWithTheCookiesTokenIsServed) {
    Tokens tokens = get_tokens();
    HTTPResponse by_form = post("/form", "_xsrf=" + url_escape(tokens.form), tokens.cookie);
    EXPECT_EQ(by_form.code, 200);
    EXPECT_EQ(by_form.body, "posted");
    EXPECT_EQ(post("/form", "", tokens.cookie, tokens.form).code, 200);  // X-Xsrftoken
}

TEST_F(XsrfTest, APostWithoutAMatchingTokenIs403) {
    Tokens tokens = get_tokens();
    Tokens other = get_tokens();  // another browser's cookie
    EXPECT_EQ(post("/form", "a=1", tokens.cookie).code, 403);                                   // no token
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape(tokens.form)).code, 403);                     // no cookie
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape(other.form), tokens.cookie).code, 403);       // not its token
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape("2|zz|00|1"), tokens.cookie).code, 403);      // malformed
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape("7|00|00|1"), tokens.cookie).code, 403);      // unknown version
}

TEST_F(XsrfTest, GetAndExemptHandlersAreNotChecked) {
    EXPECT_EQ(fetch("/form").code, 200);
    EXPECT_EQ(post("/exempt", "a=1").body, "exempt");
}

// ErrorHandler skips the check, as Tornado's does: a POST to a path no
// route has is a 404, not a 403 for the missing token.
TEST_F(XsrfTest, APostToAnUnknownPathIs404) { EXPECT_EQ(post("/nowhere", "a=1").code, 404); }

// Tornado's two formats side by side: a version 1 cookie (the token in
// hex) and a version 2 form token that Python Tornado's own code made from
// the same 16 bytes (mask 01020304).
TEST_F(XsrfTest, TornadosVersion1And2TokensAreUnderstood) {
    std::string v1_cookie = "000102030405060708090a0b0c0d0e0f";
    std::string v2_from_tornado = "2|01020304|0103010705070503090b090f0d0f0d0b|1700000000";
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape(v2_from_tornado), v1_cookie).code, 200);
    EXPECT_EQ(post("/form", "_xsrf=" + v1_cookie, v1_cookie).code, 200);
    EXPECT_EQ(post("/form", "_xsrf=" + url_escape(v2_from_tornado), v2_from_tornado).code, 200);
}

}  // namespace
}  // namespace tornado
