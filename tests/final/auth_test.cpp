// Tests of tornado/auth.h: Tornado 6.2's tornado/test/auth_test.py,
// ported. As there, one Application is both sides: the client handlers
// (the mixins under test) and a fake provider (OpenID server, OAuth 1
// token endpoints, Twitter's API, Facebook's and Google's OAuth 2
// endpoints), whose URLs the client handlers' endpoint functions point at.
// The fake OAuth 1 endpoints also check each request's signature, which
// Tornado's do not. Then the signatures, byte for byte against Python's.
#include "tornado/auth.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/escape.h"
#include "tornado/httputil.h"
#include "tornado/log.h"
#include "tornado/testing.h"

namespace tornado {
namespace {

// What the client handlers know of the test (Tornado passes them the
// test case): where the fake provider is, and the test's HTTP client
// (Tornado's http_client setting), which exists only once the fixture's
// SetUp has made it, after the Application.
struct FakeProvider {
    std::string base_url;  // "http://127.0.0.1:PORT"
    std::function<AsyncHTTPClient&()> client;

    std::string url(std::string_view path) const { return base_url + std::string(path); }
};

// A coroutine that is done at once with `value`, for hooks that need no
// I/O (Tornado's @gen.coroutine that returns without yielding).
Task<JSON> ready(JSON value) { co_return value; }

// The answer of a fake provider whose checks failed: a 400 the client
// sees as HTTPClientError, with the reason in the server's log.
void require(bool condition, const std::string& what) {
    if (!condition) throw HTTPError(400, "fake provider: " + what);
}

// --- the fake provider ----------------------------------------------------------------

// The secrets the fake OAuth 1 provider knows: the consumers' and the
// tokens' it hands out.
std::string known_secret(const std::string& key) {
    if (key == "asdf") return "qwer";
    if (key == "test_twitter_consumer_key") return "test_twitter_consumer_secret";
    if (key == "zxcv") return "1234";  // the request token
    if (key == "uiop") return "5678";  // an access token
    if (key == "hjkl") return "vbnm";  // Twitter's access token
    throw HTTPError(400, "fake provider: unknown key " + key);
}

// Checks an OAuth 1.0a request as a provider would: every argument but
// the signature, signed with the consumer's secret and the token's (if
// any), must give the signature sent. (The secrets here are unreserved
// characters only, so a 1.0 signature is the same bytes.)
void check_oauth_signature(const RequestHandler& handler) {
    const HTTPServerRequest& request = handler.request();
    AuthArguments signed_args;
    for (const auto& [name, values] : request.arguments) {
        if (name != "oauth_signature") signed_args.emplace_back(name, values.back());
    }
    OAuthToken consumer{.key = handler.get_argument("oauth_consumer_key"), .secret = ""};
    consumer.secret = known_secret(consumer.key);
    std::optional<OAuthToken> token;
    std::string token_key = handler.get_argument("oauth_token", "");
    if (!token_key.empty()) token = OAuthToken{.key = token_key, .secret = known_secret(token_key)};
    std::string expected =
        oauth10a_signature(consumer, request.method, request.full_url(), signed_args, token);
    require(handler.get_argument("oauth_signature") == expected, "bad oauth_signature");
    require(handler.get_argument("oauth_signature_method") == "HMAC-SHA1", "signature method");
    require(handler.get_argument("oauth_version") == "1.0", "oauth_version");
    require(handler.get_argument("oauth_nonce").size() == 32, "oauth_nonce");
    require(!handler.get_argument("oauth_timestamp").empty(), "oauth_timestamp");
}

class OpenIdServerAuthenticateHandler : public RequestHandler {
public:
    void post(const PathArgs&) override {
        require(get_argument("openid.mode") == "check_authentication", "incorrect openid.mode");
        write("is_valid:true");
    }
};

// A provider that does not vouch for what it is shown.
class OpenIdServerRefusingHandler : public RequestHandler {
public:
    void post(const PathArgs&) override { write("is_valid:false"); }
};

class OAuth1ServerRequestTokenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        check_oauth_signature(*this);
        require(get_argument("oauth_token", "").empty(), "a request token needs no token");
        write("oauth_token=zxcv&oauth_token_secret=1234");
    }
};

// Tornado mocks the request token handler to raise (test_oauth10a_redirect_error).
class OAuth1ServerFailingRequestTokenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw std::runtime_error("boom"); }
};

class OAuth1ServerAccessTokenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        check_oauth_signature(*this);
        require(get_argument("oauth_token") == "zxcv", "the request token");
        write("oauth_token=uiop&oauth_token_secret=5678");
    }
};

class FacebookServerAccessTokenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        require(get_argument("code") == "1234", "code");
        require(get_argument("client_id") == "test_facebook_api_key", "client_id");
        require(get_argument("client_secret") == "test_facebook_secret", "client_secret");
        write(JSON{{"access_token", "asdf"}, {"expires_in", 3600}});
    }
};

class FacebookServerMeHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        require(get_argument("access_token") == "asdf", "access_token");
        // HMAC-SHA256("test_facebook_secret", "asdf"), from Python:
        // hmac.new(b"test_facebook_secret", b"asdf", hashlib.sha256).hexdigest()
        require(get_argument("appsecret_proof") ==
                    "c2c3dae916637d5799f4bdf4ab20b5cbf3291919187d34974097bc68bed57daf",
                "appsecret_proof");
        require(get_argument("fields") == "first_name,id,last_name,link,locale,name,picture",
                "fields");
        write("{}");
    }
};

class TwitterServerAccessTokenHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        check_oauth_signature(*this);
        write("oauth_token=hjkl&oauth_token_secret=vbnm&screen_name=foo");
    }
};

// The checks Tornado's Twitter API handlers assert.
void check_twitter_call(const RequestHandler& handler) {
    check_oauth_signature(handler);
    require(handler.get_argument("oauth_consumer_key") == "test_twitter_consumer_key",
            "oauth_consumer_key");
    require(handler.get_argument("oauth_token") == "hjkl", "oauth_token");
}

class TwitterServerShowUserHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        const std::string& screen_name = args.at(0);
        if (screen_name == "error") throw HTTPError(500);
        check_twitter_call(*this);
        std::string name = screen_name;
        if (!name.empty() && name[0] >= 'a' && name[0] <= 'z') name[0] = char(name[0] - 32);
        write(JSON{{"screen_name", screen_name}, {"name", name}});
    }
};

class TwitterServerVerifyCredentialsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        check_twitter_call(*this);
        write(JSON{{"screen_name", "foo"}, {"name", "Foo"}});
    }
};

// --- the client handlers (the mixins under test) ------------------------------------------

class OpenIdClientLoginHandler : public OpenIdMixin {
public:
    void initialize(const FakeProvider* provider,
                    std::string endpoint_path = "/openid/server/authenticate") {
        provider_ = provider;
        endpoint_path_ = std::move(endpoint_path);
    }

    Task<void> get_async(PathArgs) override {
        if (!get_argument("openid.mode", "").empty()) {
            AsyncHTTPClient* client = &provider_->client();
            JSON user = co_await get_authenticated_user(client);
            write(user);
            co_return;
        }
        authenticate_redirect();
    }

protected:
    std::string openid_endpoint() const override { return provider_->url(endpoint_path_); }

private:
    const FakeProvider* provider_ = nullptr;
    std::string endpoint_path_;
};

class OAuth1ClientLoginHandler : public OAuthMixin {
public:
    void initialize(const FakeProvider* provider, std::string version,
                    std::string request_token_path = "/oauth1/server/request_token") {
        provider_ = provider;
        version_ = std::move(version);
        request_token_path_ = std::move(request_token_path);
    }

    Task<void> get_async(PathArgs) override {
        AsyncHTTPClient* client = &provider_->client();
        if (!get_argument("oauth_token", "").empty()) {
            JSON user = co_await get_authenticated_user(client);
            write(user);
            co_return;
        }
        std::string callback_uri = get_argument("callback_uri", "");
        AuthArguments extra_params;
        co_await authorize_redirect(std::move(callback_uri), std::move(extra_params), client);
    }

protected:
    std::string oauth_request_token_url() const override {
        return provider_->url(request_token_path_);
    }
    std::string oauth_authorize_url() const override {
        return provider_->url("/oauth1/server/authorize");
    }
    std::string oauth_access_token_url() const override {
        return provider_->url("/oauth1/server/access_token");
    }
    std::string oauth_version() const override { return version_; }
    OAuthToken oauth_consumer_token() const override { return {.key = "asdf", .secret = "qwer"}; }

    // Not a coroutine: what it throws comes out of the call, inside
    // get_authenticated_user's coroutine, which is where Tornado's lands.
    Task<JSON> oauth_get_user_future(JSON access_token) override {
        if (!get_argument("fail_in_get_user", "").empty()) {
            throw std::runtime_error("failing in get_user");
        }
        if (access_token != JSON{{"key", "uiop"}, {"secret", "5678"}}) {
            throw std::runtime_error("incorrect access token " + access_token.dump());
        }
        return ready(JSON{{"email", "foo@example.com"}});
    }

    const FakeProvider* provider_ = nullptr;

private:
    std::string version_;
    std::string request_token_path_;
};

// Catches what get_authenticated_user throws and answers 503 with it
// (Tornado checks there that the exception reaches the coroutine), and
// uses the handler's own client (get_auth_http_client's default).
class OAuth1ClientLoginCoroutineHandler : public OAuth1ClientLoginHandler {
public:
    Task<void> get_async(PathArgs) override {
        if (get_argument("oauth_token", "").empty()) {
            co_await authorize_redirect();
            co_return;
        }
        std::string error;
        try {
            co_await get_authenticated_user();
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) {
            set_status(503);
            write("got exception: " + error);
        }
    }
};

class OAuth1ClientRequestParametersHandler : public OAuthMixin {
public:
    void initialize(std::string version) { version_ = std::move(version); }

    void get(const PathArgs&) override {
        JSON access_token = {{"key", "uiop"}, {"secret", "5678"}};
        AuthArguments params = oauth_request_parameters("http://www.example.com/api/asdf",
                                                        access_token, {{"foo", "bar"}});
        JSON answer = JSON::object();
        for (const auto& [name, value] : params) answer[name] = value;
        write(answer);
    }

protected:
    std::string oauth_version() const override { return version_; }
    OAuthToken oauth_consumer_token() const override { return {.key = "asdf", .secret = "qwer"}; }

private:
    std::string version_;
};

class OAuth2ClientLoginHandler : public OAuth2Mixin {
public:
    void initialize(const FakeProvider* provider) { provider_ = provider; }
    void get(const PathArgs&) override { authorize_redirect(); }

protected:
    std::string oauth_authorize_url() const override {
        return provider_->url("/oauth2/server/authorize");
    }

private:
    const FakeProvider* provider_ = nullptr;
};

class FacebookClientLoginHandler : public FacebookGraphMixin {
public:
    void initialize(const FakeProvider* provider) { provider_ = provider; }

    Task<void> get_async(PathArgs) override {
        std::string code = get_argument("code", "");
        if (code.empty()) {
            redirect_to_facebook();
            co_return;
        }
        std::string redirect_uri = request().full_url();
        std::string client_id = facebook_api_key();
        std::string client_secret = facebook_secret();
        JSON user = co_await get_authenticated_user(std::move(redirect_uri), std::move(client_id),
                                                    std::move(client_secret), std::move(code));
        write(user);
    }

    std::string facebook_api_key() const override { return "test_facebook_api_key"; }
    std::string facebook_secret() const override { return "test_facebook_secret"; }

protected:
    std::string oauth_authorize_url() const override {
        return provider_->url("/facebook/server/authorize");
    }
    std::string oauth_access_token_url() const override {
        return provider_->url("/facebook/server/access_token");
    }
    std::string facebook_base_url() const override { return provider_->url("/facebook/server"); }

private:
    // Outside the coroutine: its braced lists (see tornado/httpclient.h).
    void redirect_to_facebook() {
        authorize_redirect({.redirect_uri = request().full_url(),
                            .client_id = facebook_api_key(),
                            .extra_params = {{"scope", "read_stream,offline_access"}}});
    }

    const FakeProvider* provider_ = nullptr;
};

class TwitterClientHandler : public TwitterMixin {
public:
    void initialize(const FakeProvider* provider) { provider_ = provider; }

    AsyncHTTPClient& get_auth_http_client() override { return provider_->client(); }
    std::string twitter_consumer_key() const override { return "test_twitter_consumer_key"; }
    std::string twitter_consumer_secret() const override { return "test_twitter_consumer_secret"; }

protected:
    std::string oauth_request_token_url() const override {
        return provider_->url("/oauth1/server/request_token");
    }
    std::string oauth_access_token_url() const override {
        return provider_->url("/twitter/server/access_token");
    }
    std::string oauth_authorize_url() const override {
        return provider_->url("/oauth1/server/authorize");
    }
    std::string oauth_authenticate_url() const override {
        return provider_->url("/twitter/server/authenticate");
    }
    std::string twitter_base_url() const override { return provider_->url("/twitter/api"); }

    const FakeProvider* provider_ = nullptr;
};

// Sends the user off with authorize_redirect, or with
// authenticate_redirect when `authenticate`; reads the user on the way back.
class TwitterClientLoginHandler : public TwitterClientHandler {
public:
    void initialize(const FakeProvider* provider, bool authenticate) {
        TwitterClientHandler::initialize(provider);
        authenticate_ = authenticate;
    }

    Task<void> get_async(PathArgs) override {
        if (!get_argument("oauth_token", "").empty()) {
            JSON user = co_await get_authenticated_user();
            write(user);
        } else if (authenticate_) {
            co_await authenticate_redirect();
        } else {
            co_await authorize_redirect();
        }
    }

private:
    bool authenticate_ = false;
};

class TwitterClientShowUserHandler : public TwitterClientHandler {
public:
    // Tornado's test, too, uses a fixed access token instead of a login.
    Task<void> get_async(PathArgs) override {
        std::string path = "/users/show/" + get_argument("name");
        JSON access_token = hard_coded_access_token();
        bool failed = false;
        JSON user;
        try {
            user = co_await twitter_request(std::move(path), std::move(access_token));
        } catch (const HTTPClientError&) {
            failed = true;
        }
        if (failed) {
            set_status(500);
            finish("error from twitter request");
            co_return;
        }
        finish_with(user);
    }

private:
    static JSON hard_coded_access_token() { return JSON{{"key", "hjkl"}, {"secret", "vbnm"}}; }
    void finish_with(const JSON& user) {
        write(user);
        finish();
    }
};

// --- the fixture ----------------------------------------------------------------------------

class AuthTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        provider_.base_url = get_url("");
        provider_.client = [this]() -> AsyncHTTPClient& { return http_client(); };
        const FakeProvider* p = &provider_;
        return std::make_shared<Application>(std::vector<URLSpec>{
            // the client handlers
            {"/openid/client/login", handler<OpenIdClientLoginHandler>(p)},
            {"/openid/client/login_refused",
             handler<OpenIdClientLoginHandler>(p, std::string("/openid/server/refuse"))},
            {"/oauth10/client/login", handler<OAuth1ClientLoginHandler>(p, std::string("1.0"))},
            {"/oauth10/client/request_params",
             handler<OAuth1ClientRequestParametersHandler>(std::string("1.0"))},
            {"/oauth10a/client/login", handler<OAuth1ClientLoginHandler>(p, std::string("1.0a"))},
            {"/oauth10a/client/login_coroutine",
             handler<OAuth1ClientLoginCoroutineHandler>(p, std::string("1.0a"))},
            {"/oauth10a/client/login_error",
             handler<OAuth1ClientLoginHandler>(p, std::string("1.0a"),
                                               std::string("/oauth1/server/request_token_error"))},
            {"/oauth10a/client/request_params",
             handler<OAuth1ClientRequestParametersHandler>(std::string("1.0a"))},
            {"/oauth2/client/login", handler<OAuth2ClientLoginHandler>(p)},
            {"/facebook/client/login", handler<FacebookClientLoginHandler>(p)},
            {"/twitter/client/login", handler<TwitterClientLoginHandler>(p, false)},
            {"/twitter/client/authenticate", handler<TwitterClientLoginHandler>(p, true)},
            {"/twitter/client/show_user", handler<TwitterClientShowUserHandler>(p)},
            // the fake provider
            {"/openid/server/authenticate", handler<OpenIdServerAuthenticateHandler>()},
            {"/openid/server/refuse", handler<OpenIdServerRefusingHandler>()},
            {"/oauth1/server/request_token", handler<OAuth1ServerRequestTokenHandler>()},
            {"/oauth1/server/request_token_error",
             handler<OAuth1ServerFailingRequestTokenHandler>()},
            {"/oauth1/server/access_token", handler<OAuth1ServerAccessTokenHandler>()},
            {"/facebook/server/access_token", handler<FacebookServerAccessTokenHandler>()},
            {"/facebook/server/me", handler<FacebookServerMeHandler>()},
            {"/twitter/server/access_token", handler<TwitterServerAccessTokenHandler>()},
            {R"(/twitter/api/users/show/(.*)\.json)", handler<TwitterServerShowUserHandler>()},
            {R"(/twitter/api/account/verify_credentials\.json)",
             handler<TwitterServerVerifyCredentialsHandler>()},
        });
    }

    HTTPResponse fetch_without_redirects(const std::string& path) {
        HTTPRequest options;
        options.follow_redirects = false;
        return fetch(path, options);
    }

    // A fetch with the request token cookie authorize_redirect set:
    // base64("zxcv") | base64("1234").
    HTTPResponse fetch_with_token_cookie(
        const std::string& path,
        const std::string& cookie = "_oauth_request_token=enhjdg==|MTIzNA==") {
        HTTPRequest options;
        options.headers.set("Cookie", cookie);
        return fetch(path, options);
    }

    // Tornado's base_twitter_redirect and test_oauth10(a)_redirect: a 302
    // to `authorize_path` with the request token, and the token in the cookie.
    void expect_redirect_with_token(const std::string& path, const std::string& authorize_path) {
        HTTPResponse response = fetch_without_redirects(path);
        ASSERT_EQ(response.code, 302) << response.body;
        EXPECT_TRUE(
            response.headers.get("Location").ends_with(authorize_path + "?oauth_token=zxcv"))
            << response.headers.get("Location");
        EXPECT_NE(
            response.headers.get("Set-Cookie").find("_oauth_request_token=\"enhjdg==|MTIzNA==\""),
            std::string::npos)
            << response.headers.get("Set-Cookie");
    }

    FakeProvider provider_;
};

// --- OpenID ---------------------------------------------------------------------------------

TEST_F(AuthTest, OpenIdRedirect) {
    HTTPResponse response = fetch_without_redirects("/openid/client/login");
    ASSERT_EQ(response.code, 302);
    std::string location = response.headers.get("Location");
    EXPECT_NE(location.find("/openid/server/authenticate?"), std::string::npos) << location;
    // Beyond Tornado's test: the arguments the provider gets.
    ArgumentMap args = parse_qs_bytes(location.substr(location.find('?') + 1));
    EXPECT_EQ(args.at("openid.mode").front(), "checkid_setup");
    EXPECT_EQ(args.at("openid.return_to").front(), get_url("/openid/client/login"));
    EXPECT_EQ(args.at("openid.realm").front(), get_url("/"));
    EXPECT_EQ(args.at("openid.ax.required").front(),
              "firstname,fullname,lastname,email,language,username");
    EXPECT_EQ(args.at("openid.ax.type.email").front(), "http://axschema.org/contact/email");
}

TEST_F(AuthTest, OpenIdGetUser) {
    HTTPResponse response = fetch(
        "/openid/client/login?openid.mode=blah"
        "&openid.ns.ax=http://openid.net/srv/ax/1.0"
        "&openid.ax.type.email=http://axschema.org/contact/email"
        "&openid.ax.value.email=foo@example.com");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON parsed = json_decode(response.body);
    EXPECT_EQ(parsed["email"], "foo@example.com");
    EXPECT_EQ(parsed["name"], "foo");  // the email's local part, without a name
}

// Not in Tornado's tests: a provider that says no is an AuthError (a 500).
TEST_F(AuthTest, OpenIdGetUserRefusedByTheProvider) {
    testing::ExpectLog expected(app_log, "Invalid OpenID response: is_valid:false");
    HTTPResponse response = fetch(
        "/openid/client/login_refused?openid.mode=blah"
        "&openid.ns.ax=http://openid.net/srv/ax/1.0");
    EXPECT_EQ(response.code, 500);
}

// --- OAuth 1.0 and 1.0a ---------------------------------------------------------------------

TEST_F(AuthTest, OAuth10Redirect) {
    expect_redirect_with_token("/oauth10/client/login", "/oauth1/server/authorize");
}

TEST_F(AuthTest, OAuth10GetUser) {
    HTTPResponse response = fetch_with_token_cookie("/oauth10/client/login?oauth_token=zxcv");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON parsed = json_decode(response.body);
    EXPECT_EQ(parsed["email"], "foo@example.com");
    EXPECT_EQ(parsed["access_token"], (JSON{{"key", "uiop"}, {"secret", "5678"}}));
}

TEST_F(AuthTest, OAuth10RequestParameters) {
    HTTPResponse response = fetch("/oauth10/client/request_params");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON parsed = json_decode(response.body);
    EXPECT_EQ(parsed["oauth_consumer_key"], "asdf");
    EXPECT_EQ(parsed["oauth_token"], "uiop");
    EXPECT_TRUE(parsed.contains("oauth_nonce"));
    EXPECT_TRUE(parsed.contains("oauth_signature"));
}

TEST_F(AuthTest, OAuth10aRedirect) {
    expect_redirect_with_token("/oauth10a/client/login", "/oauth1/server/authorize");
}

TEST_F(AuthTest, OAuth10aRedirectError) {
    // The fake provider's exception, then the client handler's HTTPClientError.
    testing::ExpectLog expected(app_log, "Uncaught exception");
    HTTPResponse response = fetch_without_redirects("/oauth10a/client/login_error");
    EXPECT_EQ(response.code, 500);
}

TEST_F(AuthTest, OAuth10aGetUser) {
    HTTPResponse response = fetch_with_token_cookie("/oauth10a/client/login?oauth_token=zxcv");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON parsed = json_decode(response.body);
    EXPECT_EQ(parsed["email"], "foo@example.com");
    EXPECT_EQ(parsed["access_token"], (JSON{{"key", "uiop"}, {"secret", "5678"}}));
    // The cookie has done its work: get_authenticated_user clears it.
    EXPECT_NE(response.headers.get("Set-Cookie").find("_oauth_request_token=;"), std::string::npos)
        << response.headers.get("Set-Cookie");
}

// The fake provider's signature check, which the tests above rely on,
// does refuse a bad signature.
TEST_F(AuthTest, TheFakeProviderRefusesABadSignature) {
    testing::ExpectLog expected(gen_log, "bad oauth_signature");
    HTTPResponse response = fetch(
        "/oauth1/server/request_token?oauth_consumer_key=asdf&oauth_signature_method=HMAC-SHA1"
        "&oauth_timestamp=1300000000&oauth_nonce=0123456789abcdef0123456789abcdef"
        "&oauth_version=1.0&oauth_signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D");
    EXPECT_EQ(response.code, 400);
}

TEST_F(AuthTest, OAuth10aRequestParameters) {
    HTTPResponse response = fetch("/oauth10a/client/request_params");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON parsed = json_decode(response.body);
    EXPECT_EQ(parsed["oauth_consumer_key"], "asdf");
    EXPECT_EQ(parsed["oauth_token"], "uiop");
    EXPECT_TRUE(parsed.contains("oauth_nonce"));
    EXPECT_TRUE(parsed.contains("oauth_signature"));
}

TEST_F(AuthTest, OAuth10aGetUserCoroutineException) {
    HTTPResponse response = fetch_with_token_cookie(
        "/oauth10a/client/login_coroutine?oauth_token=zxcv&fail_in_get_user=true");
    EXPECT_EQ(response.code, 503);
    EXPECT_EQ(response.body, "got exception: failing in get_user");
}

// Not in Tornado's tests: the two AuthErrors of a bad cookie.
TEST_F(AuthTest, OAuth10aGetUserWithoutTokenCookie) {
    HTTPResponse response = fetch("/oauth10a/client/login_coroutine?oauth_token=zxcv");
    EXPECT_EQ(response.code, 503);
    EXPECT_EQ(response.body, "got exception: Missing OAuth request token cookie");
}

TEST_F(AuthTest, OAuth10aGetUserWithAnotherTokenInTheCookie) {
    // base64("other") | base64("1234")
    HTTPResponse response =
        fetch_with_token_cookie("/oauth10a/client/login_coroutine?oauth_token=zxcv",
                                "_oauth_request_token=b3RoZXI=|MTIzNA==");
    EXPECT_EQ(response.code, 503);
    EXPECT_EQ(response.body, "got exception: Request token does not match cookie");
}

TEST_F(AuthTest, OAuth10aGetUserWithAMalformedTokenCookie) {
    HTTPResponse response = fetch_with_token_cookie(
        "/oauth10a/client/login_coroutine?oauth_token=zxcv", "_oauth_request_token=enhjdg==");
    EXPECT_EQ(response.code, 503);
    EXPECT_EQ(response.body, "got exception: Malformed OAuth request token cookie");
}

// The handler's own client (get_auth_http_client's default) does the fetch.
TEST_F(AuthTest, OAuth10aRedirectWithTheHandlersOwnClient) {
    expect_redirect_with_token("/oauth10a/client/login_coroutine", "/oauth1/server/authorize");
}

// A callback URI goes, made absolute, to the request token (signed with
// it: the fake provider checks) and to the authorize redirect.
TEST_F(AuthTest, OAuth10aRedirectWithCallback) {
    HTTPResponse response = fetch_without_redirects("/oauth10a/client/login?callback_uri=/done");
    ASSERT_EQ(response.code, 302) << response.body;
    EXPECT_TRUE(response.headers.get("Location")
                    .ends_with("/oauth1/server/authorize?oauth_token=zxcv&oauth_callback=" +
                               url_escape(get_url("/done"))))
        << response.headers.get("Location");
}

// "oob": no redirect; the authorize URL is the response.
TEST_F(AuthTest, OAuth10aOutOfBandCallback) {
    HTTPResponse response = fetch_without_redirects("/oauth10a/client/login?callback_uri=oob");
    ASSERT_EQ(response.code, 200) << response.body;
    EXPECT_EQ(response.body, get_url("/oauth1/server/authorize?oauth_token=zxcv"));
    EXPECT_NE(response.headers.get("Set-Cookie").find("_oauth_request_token="), std::string::npos);
}

// --- OAuth 2 and Facebook -------------------------------------------------------------------

TEST_F(AuthTest, OAuth2Redirect) {
    HTTPResponse response = fetch_without_redirects("/oauth2/client/login");
    ASSERT_EQ(response.code, 302);
    EXPECT_NE(response.headers.get("Location").find("/oauth2/server/authorize?"),
              std::string::npos);
    EXPECT_EQ(response.headers.get("Location"),
              get_url("/oauth2/server/authorize?response_type=code"));
}

TEST_F(AuthTest, FacebookLogin) {
    HTTPResponse response = fetch_without_redirects("/facebook/client/login");
    ASSERT_EQ(response.code, 302);
    EXPECT_NE(response.headers.get("Location").find("/facebook/server/authorize?"),
              std::string::npos);
    EXPECT_EQ(response.headers.get("Location"),
              get_url("/facebook/server/authorize?response_type=code&redirect_uri=") +
                  url_escape(get_url("/facebook/client/login")) +
                  "&client_id=test_facebook_api_key&scope=read_stream%2Coffline_access");

    response = fetch_without_redirects("/facebook/client/login?code=1234");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON user = json_decode(response.body);
    EXPECT_EQ(user["access_token"], "asdf");
    EXPECT_EQ(user["session_expires"], "3600");
    EXPECT_TRUE(user["name"].is_null());  // asked for; /me gave nothing
}

// --- Twitter --------------------------------------------------------------------------------

TEST_F(AuthTest, TwitterRedirect) {
    expect_redirect_with_token("/twitter/client/login", "/oauth1/server/authorize");
}

TEST_F(AuthTest, TwitterAuthenticateRedirect) {
    expect_redirect_with_token("/twitter/client/authenticate", "/twitter/server/authenticate");
}

TEST_F(AuthTest, TwitterGetUser) {
    HTTPResponse response = fetch_with_token_cookie("/twitter/client/login?oauth_token=zxcv");
    ASSERT_EQ(response.code, 200) << response.body;
    JSON expected = {
        {"access_token", {{"key", "hjkl"}, {"screen_name", "foo"}, {"secret", "vbnm"}}},
        {"name", "Foo"},
        {"screen_name", "foo"},
        {"username", "foo"},
    };
    EXPECT_EQ(json_decode(response.body), expected);
}

TEST_F(AuthTest, TwitterShowUser) {
    HTTPResponse response = fetch("/twitter/client/show_user?name=somebody");
    ASSERT_EQ(response.code, 200) << response.body;
    EXPECT_EQ(json_decode(response.body),
              (JSON{{"name", "Somebody"}, {"screen_name", "somebody"}}));
}

TEST_F(AuthTest, TwitterShowUserError) {
    HTTPResponse response = fetch("/twitter/client/show_user?name=error");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.body, "error from twitter request");
}

// The settings are functions; one not overridden says so as
// require_setting does.
TEST(AuthSettings, AMissingSettingThrowsRequireSettingsMessage) {
    TwitterMixin twitter;
    try {
        (void)twitter.twitter_consumer_key();
        ADD_FAILURE() << "no exception";
    } catch (const std::logic_error& e) {
        EXPECT_STREQ(e.what(),
                     "You must define the 'twitter_consumer_key' setting in your application "
                     "to use Twitter OAuth");
    }
    GoogleOAuth2Mixin google;
    EXPECT_THROW((void)google.google_oauth(), std::logic_error);
    FacebookGraphMixin facebook;
    EXPECT_THROW((void)facebook.facebook_api_key(), std::logic_error);
}

// --- Google ---------------------------------------------------------------------------------

class GoogleLoginHandler : public GoogleOAuth2Mixin {
public:
    void initialize(const FakeProvider* provider) { provider_ = provider; }

    Task<void> get_async(PathArgs) override {
        std::string code = get_argument("code", "");
        if (code.empty()) {
            redirect_to_google();
            co_return;
        }
        std::string redirect_uri = provider_->url("/client/login");
        JSON access = co_await get_authenticated_user(std::move(redirect_uri), std::move(code));
        std::string userinfo = oauth_userinfo_url();
        std::optional<std::string> token = access["access_token"].get<std::string>();
        JSON user = co_await oauth2_request(std::move(userinfo), std::move(token));
        user["access_token"] = access["access_token"];
        write(user);
    }

    OAuthToken google_oauth() const override {
        return {.key = "fake_google_client_id", .secret = "fake_google_client_secret"};
    }

protected:
    std::string oauth_authorize_url() const override {
        return provider_->url("/google/oauth2/authorize");
    }
    std::string oauth_access_token_url() const override {
        return provider_->url("/google/oauth2/token");
    }
    std::string oauth_userinfo_url() const override {
        return provider_->url("/google/oauth2/userinfo");
    }

private:
    // Outside the coroutine: its braced lists (see tornado/httpclient.h).
    void redirect_to_google() {
        authorize_redirect({.redirect_uri = provider_->url("/client/login"),
                            .client_id = google_oauth().key,
                            .client_secret = google_oauth().secret,
                            .extra_params = {{"prompt", "select_account"}},
                            .scope = {"profile", "email"},
                            .response_type = "code"});
    }

    const FakeProvider* provider_ = nullptr;
};

// Issues a code and sends the browser back to redirect_uri with it.
class GoogleOAuth2AuthorizeHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        require(get_argument("client_id") == "fake_google_client_id", "client_id");
        require(get_argument("scope") == "profile email", "scope");
        require(get_argument("prompt") == "select_account", "prompt");
        require(get_argument("client_secret", "").empty(), "the secret stays on the server");
        redirect(url_concat(get_argument("redirect_uri"), {{"code", "fake-authorization-code"}}));
    }
};

class GoogleOAuth2TokenHandler : public RequestHandler {
public:
    void post(const PathArgs&) override {
        require(get_argument("code") == "fake-authorization-code", "code");
        require(get_argument("client_secret") == "fake_google_client_secret", "client_secret");
        require(get_argument("grant_type") == "authorization_code", "grant_type");
        finish_json(JSON{{"access_token", "fake-access-token"}, {"expires_in", "never-expires"}});
    }

private:
    void finish_json(const JSON& answer) {
        write(answer);
        finish();
    }
};

class GoogleOAuth2UserinfoHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        require(get_argument("access_token") == "fake-access-token", "access_token");
        write(JSON{{"name", "Foo"}, {"email", "foo@example.com"}});
    }
};

class GoogleOAuth2Test : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        provider_.base_url = get_url("");
        provider_.client = [this]() -> AsyncHTTPClient& { return http_client(); };
        return std::make_shared<Application>(std::vector<URLSpec>{
            {"/client/login", handler<GoogleLoginHandler>(&provider_)},
            {"/google/oauth2/authorize", handler<GoogleOAuth2AuthorizeHandler>()},
            {"/google/oauth2/token", handler<GoogleOAuth2TokenHandler>()},
            {"/google/oauth2/userinfo", handler<GoogleOAuth2UserinfoHandler>()},
        });
    }

    FakeProvider provider_;
};

TEST_F(GoogleOAuth2Test, GoogleLogin) {
    HTTPResponse response = fetch("/client/login");
    ASSERT_EQ(response.code, 200) << response.body;
    EXPECT_EQ(json_decode(response.body), (JSON{{"name", "Foo"},
                                                {"email", "foo@example.com"},
                                                {"access_token", "fake-access-token"}}));
}

// --- signatures, byte for byte against Python Tornado ----------------------------------------

// The expected values were printed by Tornado 6.2 (Debian's python3-tornado):
//
//   /usr/bin/python3 -c "from tornado.auth import _oauth10a_signature as s10a,
//       _oauth_signature as s10; c = dict(key='asdf', secret='qwer'); ..."
//
// with, for each case, the call written in its comment.

TEST(OAuthSignature, OAuth10aWithAToken) {
    // s10a(c, 'GET', 'http://www.example.com/api/asdf',
    //      dict(foo='bar', oauth_nonce='abc', oauth_timestamp='1300000000'),
    //      dict(key='uiop', secret='5678'))
    AuthArguments parameters = {
        {"foo", "bar"}, {"oauth_nonce", "abc"}, {"oauth_timestamp", "1300000000"}};
    EXPECT_EQ(oauth10a_signature({.key = "asdf", .secret = "qwer"}, "GET",
                                 "http://www.example.com/api/asdf", parameters,
                                 OAuthToken{.key = "uiop", .secret = "5678"}),
              "G5zlt5DdpCBvtu6P5sjQg636bLI=");
}

// Non-ASCII and reserved characters in the secrets, the names, the values
// and the URL (whose scheme and host are lowered, whose ;params, query and
// fragment are not signed), and a method in lower case.
TEST(OAuthSignature, OAuth10aWithNonAsciiAndReservedCharacters) {
    // s10a(dict(key='k', secret='s\u00e9cr\u00e8t/+&~'), 'post',
    //      'HTTP://Example.COM:8080/P\u00e4th/x;p?q=1#f',
    //      {'na me': 'v\u00e4l ue/&=+~*', 'a': '1', 'b': 'x y', '\u00fc': '\u2603'},
    //      dict(key='t', secret='t s\u00e9cret&'))
    AuthArguments parameters = {
        {"na me", "v\u00e4l ue/&=+~*"}, {"a", "1"}, {"b", "x y"}, {"\u00fc", "\u2603"}};
    EXPECT_EQ(oauth10a_signature({.key = "k", .secret = "s\u00e9cr\u00e8t/+&~"}, "post",
                                 "HTTP://Example.COM:8080/P\u00e4th/x;p?q=1#f", parameters,
                                 OAuthToken{.key = "t", .secret = "t s\u00e9cret&"}),
              "H0Fib43sdnZ4Te98A1NGkBYMYfQ=");
}

TEST(OAuthSignature, OAuth10aWithoutAToken) {
    // s10a(c, 'GET', 'https://api.twitter.com/1.1/statuses/update.json',
    //      {'status': 'Hello Ladies + Gentlemen, a signed OAuth request!',
    //       'include_entities': 'true', 'oauth_version': '1.0'})
    AuthArguments parameters = {{"status", "Hello Ladies + Gentlemen, a signed OAuth request!"},
                                {"include_entities", "true"},
                                {"oauth_version", "1.0"}};
    EXPECT_EQ(oauth10a_signature({.key = "asdf", .secret = "qwer"}, "GET",
                                 "https://api.twitter.com/1.1/statuses/update.json", parameters),
              "1BONWutMqcJYaEB5qqnU9cnzKsw=");
}

// OAuth 1.0 puts the secrets in the key as they are (1.0a escapes them).
TEST(OAuthSignature, OAuth10WithNonAsciiAndReservedCharacters) {
    // s10(dict(key='k', secret='s\u00e9cr\u00e8t/+&~'), 'post',
    //     'HTTP://Example.COM:8080/P\u00e4th/x;p?q=1#f',
    //     {'na me': 'v\u00e4l ue/&=+~*', 'a': '1', 'b': 'x y'},
    //     dict(key='t', secret='t s\u00e9cret&'))
    AuthArguments parameters = {{"na me", "v\u00e4l ue/&=+~*"}, {"a", "1"}, {"b", "x y"}};
    EXPECT_EQ(oauth_signature({.key = "k", .secret = "s\u00e9cr\u00e8t/+&~"}, "post",
                              "HTTP://Example.COM:8080/P\u00e4th/x;p?q=1#f", parameters,
                              OAuthToken{.key = "t", .secret = "t s\u00e9cret&"}),
              "A6i5loqRKKaAPFzV1awdTfhLbXk=");
}

}  // namespace
}  // namespace tornado
