// Tests of cookies (final/src/web/web.cpp's cookie functions): Set-Cookie
// lines in the order and quoting Python's Morsel gives, expiry and
// clearing, signed values byte for byte as Python Tornado 6.2 signs them,
// and key rotation. require_setting is here too: it is how the signed
// cookie functions insist on cookie_secret.
#include <gtest/gtest.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "test_util.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado {
namespace {

using testing::with_header;

class CookieHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        const std::string& what = args[0];
        if (what == "set") {
            set_cookie("plain", "value");
            CookieOptions options;
            options.path = "/sub";
            options.domain = "example.com";
            options.httponly = true;
            options.secure = true;
            options.samesite = "Lax";
            options.max_age = 60;
            set_cookie("full", "x", options);
            set_cookie("quoted", "a;b\"c");
        } else if (what == "expires") {
            CookieOptions options;
            options.expires_days = 1;
            set_cookie("day", "1", options);
        } else if (what == "expires_both") {
            CookieOptions options;
            options.expires = 1300000000;
            options.expires_days = 1;  // expires wins, as in Tornado
            set_cookie("both", "1", options);
        } else if (what == "clear") {
            clear_cookie("gone");
        } else if (what == "clear_all") {
            clear_all_cookies("/sub");
        } else if (what == "require_present") {
            require_setting("cookie_secret");
            write("present");
        } else if (what == "require_missing") {
            require_setting("template_path", "templates");
        } else if (what == "require_unknown") {
            require_setting("no_such_setting");
        } else if (what == "bad") {
            set_cookie("bad name", "v");
        } else if (what == "read") {
            write(get_cookie("a", "none") + "," + get_cookie("b", "none"));
        } else if (what == "sign") {
            set_secure_cookie("user", get_argument("name"));
        } else if (what == "check") {
            std::optional<std::string> user = get_secure_cookie("user");
            write(user ? *user : std::string("(none)"));
        }
    }
};

class CookieTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.cookie_secret = "test-secret";
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/cookie/(.*)", handler<CookieHandler>()}}, settings);
    }
};

TEST_F(CookieTest, SetCookieHeaders) {
    HTTPResponse response = fetch("/cookie/set");
    std::vector<std::string> cookies = response.headers.get_list("Set-Cookie");
    ASSERT_EQ(cookies.size(), 3u);
    EXPECT_EQ(cookies[0], "plain=value; Path=/");
    // The order of Python's Morsel.OutputString, which Tornado's headers have.
    EXPECT_EQ(cookies[1],
              "full=x; Domain=example.com; HttpOnly; Max-Age=60; Path=/sub; SameSite=Lax; Secure");
    EXPECT_EQ(cookies[2], "quoted=\"a\\073b\\\"c\"; Path=/");  // as Python's SimpleCookie quotes it
}

TEST_F(CookieTest, CookieExpiresAndClear) {
    std::string day = fetch("/cookie/expires").headers.get("Set-Cookie");
    EXPECT_NE(day.find("expires="), std::string::npos);
    EXPECT_EQ(fetch("/cookie/expires_both").headers.get("Set-Cookie"),
              "both=1; expires=Sun, 13 Mar 2011 07:06:40 GMT; Path=/");
    std::string cleared = fetch("/cookie/clear").headers.get("Set-Cookie");
    EXPECT_TRUE(cleared.starts_with("gone=; expires=")) << cleared;
    std::optional<std::time_t> when = parse_http_date(cleared.substr(15, 29));
    ASSERT_TRUE(when);
    EXPECT_LT(*when, std::time(nullptr));
}

TEST_F(CookieTest, ClearAllCookiesClearsEachOneTheRequestSent) {
    HTTPResponse response = fetch("/cookie/clear_all", with_header("Cookie", "a=1; b=2"));
    std::vector<std::string> cleared = response.headers.get_list("Set-Cookie");
    ASSERT_EQ(cleared.size(), 2u);
    EXPECT_TRUE(cleared[0].starts_with("a=; expires=")) << cleared[0];
    EXPECT_TRUE(cleared[1].starts_with("b=; expires=")) << cleared[1];
    EXPECT_NE(cleared[1].find("; Path=/sub"), std::string::npos) << cleared[1];
    EXPECT_TRUE(fetch("/cookie/clear_all").headers.get_list("Set-Cookie").empty());
}

// Present: nothing happens; absent: Tornado's message, as a logic_error
// (500); a name that is no setting: invalid_argument (500 as well).
TEST_F(CookieTest, RequireSettingNamesTheMissingSetting) {
    EXPECT_EQ(fetch("/cookie/require_present").body, "present");
    testing::LogCapture capture;
    EXPECT_EQ(fetch("/cookie/require_missing").code, 500);
    EXPECT_EQ(capture
                  .matching("You must define the 'template_path' setting in your application "
                            "to use templates")
                  .size(),
              1u);
    EXPECT_EQ(fetch("/cookie/require_unknown").code, 500);
    EXPECT_EQ(capture.matching("require_setting: no setting named 'no_such_setting'").size(), 1u);
}

TEST_F(CookieTest, BadCookieNameIsRefused) { EXPECT_EQ(fetch("/cookie/bad").code, 500); }

TEST_F(CookieTest, GetCookieReadsTheRequest) {
    EXPECT_EQ(fetch("/cookie/read", with_header("Cookie", "a=1; b=\"two\"")).body, "1,two");
    EXPECT_EQ(fetch("/cookie/read").body, "none,none");
}

TEST_F(CookieTest, SignedCookieRoundTripAndTampering) {
    std::string set = fetch("/cookie/sign?name=ann").headers.get("Set-Cookie");
    std::string value = set.substr(5, set.find(';') - 5);
    EXPECT_TRUE(value.starts_with("2|1:0|10:"));
    EXPECT_EQ(fetch("/cookie/check", with_header("Cookie", "user=" + value)).body, "ann");
    std::string tampered = value;
    tampered[tampered.size() - 1] = tampered.back() == '0' ? '1' : '0';
    EXPECT_EQ(fetch("/cookie/check", with_header("Cookie", "user=" + tampered)).body, "(none)");
    EXPECT_EQ(fetch("/cookie/check").body, "(none)");
}

TEST(SignedValueTest, MatchesPythonTornado) {
    // tornado.web.create_signed_value("secret", "user", "ann <&>", clock=lambda: 1300000000)
    const std::string python =
        "2|1:0|10:1300000000|4:user|12:YW5uIDwmPg==|"
        "583ead77ef5097e93741c4a330148027e51d2c1bdafcc92d995541f8961e8be5";
    EXPECT_EQ(create_signed_value("secret", "user", "ann <&>", 1300000000), python);
    EXPECT_EQ(decode_signed_value("secret", "user", python, 31, 1300000000 + 30 * 86400),
              "ann <&>");
    EXPECT_EQ(decode_signed_value("secret", "user", python, 31, 1300000000 + 32 * 86400),
              std::nullopt);
    EXPECT_EQ(decode_signed_value("other", "user", python, 31, 1300000000), std::nullopt);
    EXPECT_EQ(decode_signed_value("secret", "admin", python, 31, 1300000000), std::nullopt);
    for (std::string_view junk : {"", "2|", "2|1:0|10:13|", "1|x|y", "2|9999999999:0|"}) {
        EXPECT_EQ(decode_signed_value("secret", "user", junk), std::nullopt) << junk;
    }
}

TEST(SignedValueTest, KeyVersionsMatchPythonTornado) {
    // tornado.web.create_signed_value({1: "old", 2: "new"}, "user", "ann",
    //                                 clock=lambda: 1300000000, key_version=2)
    const std::string python =
        "2|1:2|10:1300000000|4:user|4:YW5u|"
        "11ea5a7f0221df41b48d4834a4de3a4f89020f3d9df747aba5fcfb6d56b2885d";
    const SigningKeys keys{{1, "old"}, {2, "new"}};
    EXPECT_EQ(create_signed_value(keys, 2, "user", "ann", 1300000000), python);
    EXPECT_EQ(decode_signed_value(keys, "user", python, 31, 1300000000), "ann");
    EXPECT_EQ(get_signature_key_version(python), 2);
    // The key of the version the value names, and no other.
    EXPECT_EQ(decode_signed_value(SigningKeys{{1, "old"}}, "user", python, 31, 1300000000),
              std::nullopt);
    EXPECT_EQ(decode_signed_value(SigningKeys{{2, "old"}}, "user", python, 31, 1300000000),
              std::nullopt);
    EXPECT_EQ(decode_signed_value("new", "user", python, 31, 1300000000), "ann");
    EXPECT_THROW(create_signed_value(keys, 3, "user", "ann"), std::out_of_range);
    for (std::string_view other : {"", "1|x|y", "2|1:x|10:1300000000|4:user|4:YW5u|00", "2|1:1|"}) {
        EXPECT_EQ(get_signature_key_version(other), std::nullopt) << other;
    }
}

// Replacing a key: cookies signed with the old one are still read while it
// is kept, and the handler can see which key signed each (to sign it anew).
class KeyRotationTest : public testing::AsyncHTTPTestCase {
protected:
    class SignHandler : public RequestHandler {
    public:
        void get(const PathArgs&) override { set_secure_cookie("user", "ann"); }
    };
    class CheckHandler : public RequestHandler {
    public:
        void get(const PathArgs&) override {
            std::optional<int> version = get_secure_cookie_key_version("user");
            write(get_secure_cookie("user").value_or("(none)") + " " +
                  (version ? std::to_string(*version) : "-"));
        }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.cookie_secrets = {{1, "old"}, {2, "new"}};
        settings.key_version = 2;
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/sign", handler<SignHandler>()},
                                 {"/check", handler<CheckHandler>()}},
            settings);
    }
};

TEST_F(KeyRotationTest, OldKeysAreReadNewCookiesUseKeyVersion) {
    std::string set = fetch("/sign").headers.get("Set-Cookie");
    std::string value = set.substr(5, set.find(';') - 5);
    EXPECT_TRUE(value.starts_with("2|1:2|")) << value;
    EXPECT_EQ(fetch("/check", with_header("Cookie", "user=" + value)).body, "ann 2");
    std::string old = create_signed_value(SigningKeys{{1, "old"}}, 1, "user", "bob");
    EXPECT_EQ(fetch("/check", with_header("Cookie", "user=\"" + old + "\"")).body, "bob 1");
    std::string unknown = create_signed_value(SigningKeys{{7, "old"}}, 7, "user", "eve");
    EXPECT_EQ(fetch("/check", with_header("Cookie", "user=\"" + unknown + "\"")).body, "(none) 7");
    EXPECT_EQ(fetch("/check").body, "(none) -");
}

}  // namespace
}  // namespace tornado
