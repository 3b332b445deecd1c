// tornado/auth.h: logging users in through another site: OpenID, OAuth 1.0
// and 1.0a, OAuth 2.0, and the Twitter, Google and Facebook flavours of
// them (Tornado's `tornado.auth`).
//
// Each mixin is a RequestHandler: a login handler derives from the one it
// needs, sends the user to the provider the first time, and reads who the
// user is when the provider sends them back.
//
//   class GoogleLogin : public tornado::GoogleOAuth2Mixin {
//   public:
//       tornado::OAuthToken google_oauth() const override {
//           return {.key = "CLIENT_ID", .secret = "CLIENT_SECRET"};   // the setting
//       }
//       tornado::Task<void> get_async(tornado::PathArgs) override {
//           std::string redirect_uri = "https://your.site/auth/google";
//           std::string code = get_argument("code", "");
//           if (!code.empty()) {
//               tornado::JSON access = co_await get_authenticated_user(redirect_uri, code);
//               std::string userinfo = "https://www.googleapis.com/oauth2/v1/userinfo";
//               std::optional<std::string> token = access["access_token"].get<std::string>();
//               tornado::JSON user = co_await oauth2_request(userinfo, token);
//               set_secure_cookie("user", user["email"].get<std::string>());
//               redirect("/");
//               co_return;
//           }
//           tornado::OAuth2AuthorizeOptions login;   // named: see below
//           login.redirect_uri = redirect_uri;
//           login.client_id = google_oauth().key;
//           login.scope.push_back("profile");
//           login.scope.push_back("email");
//           authorize_redirect(login);
//       }
//   };
//
// How the names map to Tornado's:
//
//   Tornado                          here
//   a dict the user gets back        JSON (an object); None: a null JSON
//   dict(key=..., secret=...)        OAuthToken (a consumer token, the
//                                    google_oauth setting); an access
//                                    token stays JSON (it carries the
//                                    provider's extra fields)
//   keyword arguments for URLs       AuthArguments, in order
//   _OAUTH_AUTHORIZE_URL and the     protected virtual functions in lower
//   other class attributes           case: oauth_authorize_url(), ...;
//                                    Tornado's real URLs by default
//   _oauth_consumer_token,           protected virtual functions without
//   _oauth_get_user_future, ...      the underscore: oauth_consumer_token()
//   _oauth_request_token_url(...)    request_token_url(...) (the endpoint
//                                    itself is oauth_request_token_url())
//   self.settings["twitter_..."]     virtual functions named after the
//   (and facebook_*, google_oauth)   setting, which the user overrides:
//                                    twitter_consumer_key(), google_oauth()
//
// The settings are functions because ApplicationSettings has only the
// settings the framework itself reads; a function the handler overrides
// may take its keys from wherever the program keeps them. Unset, each
// throws std::logic_error with require_setting's message.
//
// The HTTP client: get_auth_http_client() gives, unless overridden, a
// client the handler owns, made on first use and closed with the handler.
// Tornado shares one client per loop; here a client belongs to the loop
// it was made on and must be closed before that loop is, and a handler
// always ends before its loop does, so a client it owns is always closed
// in time. A login costs one or two fetches; a client of its own per
// login costs nothing that matters (every fetch opens its own connection
// anyway).
//
// Failures: a provider that answers with an error status throws
// HTTPClientError out of the co_await, as Tornado's fetch does; what the
// provider sends that cannot be a login (no is_valid:true, an OAuth 1
// request token cookie missing, not matching or malformed) throws AuthError. Thrown
// out of get_async, either becomes a 500 unless the handler catches it.
//
// g++ 12 (see tornado/httpclient.h): inside a coroutine, put the strings,
// vectors and option structs these functions take in named variables, not
// in a braced list or a temporary inside the call or the co_await.
//
// One mixin per handler: each derives from RequestHandler on its own.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/web.h"

namespace tornado {

// What a provider sent that cannot be a login (Tornado's AuthError).
class AuthError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Arguments of a URL's query or a form body, in the order they are sent
// (Tornado's dicts, which keep their insertion order).
using AuthArguments = std::vector<std::pair<std::string, std::string>>;

// A key and its secret: an OAuth 1 consumer token or access token, or an
// OAuth 2 client's id and secret (the google_oauth setting).
struct OAuthToken {
    std::string key{};
    std::string secret{};
};

namespace detail {

// The client a handler's get_auth_http_client() gives by default: made on
// first use, on the loop current then (the handler's), closed with it.
class OwnedHTTPClient {
public:
    AsyncHTTPClient& get() {
        if (!client_) client_ = std::make_unique<AsyncHTTPClient>();
        return *client_;
    }

private:
    std::unique_ptr<AsyncHTTPClient> client_;
};

}  // namespace detail

// --- OpenID -------------------------------------------------------------------------

// OpenID 2.0 with Attribute Exchange (Tornado's OpenIdMixin). A subclass
// names the provider with openid_endpoint().
class OpenIdMixin : public RequestHandler {
public:
    // Redirects to the provider, which sends the user back to
    // `callback_uri` (this request's URI when empty) with openid.mode
    // and the attributes asked for: of name, email, language, username.
    void authenticate_redirect(std::string callback_uri = {},
                               const std::vector<std::string>& ax_attrs = default_ax_attrs());
    // On the way back: asks the provider whether the arguments it sent
    // are genuine, and returns the user: name, first_name, last_name,
    // email, locale, username, claimed_id, those that were given. Throws
    // AuthError unless the provider says "is_valid:true". `http_client`:
    // nullptr for get_auth_http_client().
    Task<JSON> get_authenticated_user(AsyncHTTPClient* http_client = nullptr);
    // The client for the provider's requests when none is passed: unless
    // overridden, one the handler owns, made on first use (see the top of
    // this header). An override's client must belong to the handler's loop
    // and outlive the fetches.
    virtual AsyncHTTPClient& get_auth_http_client() { return http_client_.get(); }

    // What authenticate_redirect asks for unless told otherwise (Tornado's
    // default), which is every attribute openid_args knows: "name" (it
    // stands for the first, last and full names), "email", "language" and
    // "username".
    static std::vector<std::string> default_ax_attrs() {
        return {"name", "email", "language", "username"};
    }

protected:
    // Tornado's _OPENID_ENDPOINT; there is no default (std::logic_error).
    virtual std::string openid_endpoint() const;
    // The arguments of the redirect (Tornado's _openid_args). Asking for
    // an attribute it does not know throws std::invalid_argument.
    // `oauth_scope` asks for an OAuth token as well (hybrid protocol).
    AuthArguments openid_args(const std::string& callback_uri,
                              const std::vector<std::string>& ax_attrs = {},
                              const std::string& oauth_scope = {}) const;
    // The user from the request's arguments, once the provider's answer
    // is known (Tornado's _on_authentication_verified).
    JSON on_authentication_verified(const HTTPResponse& response) const;

private:
    detail::OwnedHTTPClient http_client_;
};

// --- OAuth 1.0 and 1.0a ---------------------------------------------------------------

// OAuth 1.0 and 1.0a, HMAC-SHA1 signed (Tornado's OAuthMixin). A subclass
// gives the endpoints, the consumer token, and how to get the user with an
// access token; TwitterMixin is one.
class OAuthMixin : public RequestHandler {
public:
    // Gets a request token from the provider, keeps it in the
    // "_oauth_request_token" cookie (base64 key|base64 secret) and
    // redirects the user to the provider's authorization page, which
    // sends them back to `callback_uri` (none: the one registered with
    // the provider; "oob": no redirect, the page's URL is written as
    // the response instead). `extra_params` go to the request token URL
    // (1.0a only). Throws std::runtime_error for a callback_uri when the
    // provider takes none (oauth_no_callbacks()).
    Task<void> authorize_redirect(std::string callback_uri = {}, AuthArguments extra_params = {},
                                  AsyncHTTPClient* http_client = nullptr);
    // On the way back: checks the oauth_token argument against the
    // cookie (AuthError "Missing OAuth request token cookie" or "Request
    // token does not match cookie"), trades the request token for an
    // access token, and returns oauth_get_user_future()'s user with
    // "access_token" added: {key, secret, the provider's other fields}.
    // AuthError "Error getting user" when there is none.
    Task<JSON> get_authenticated_user(AsyncHTTPClient* http_client = nullptr);
    // The client for the provider's requests when none is passed, as
    // OpenIdMixin's: unless overridden, one the handler owns.
    virtual AsyncHTTPClient& get_auth_http_client() { return http_client_.get(); }

protected:
    // The provider's endpoints (Tornado's _OAUTH_REQUEST_TOKEN_URL,
    // _OAUTH_ACCESS_TOKEN_URL, _OAUTH_AUTHORIZE_URL): no default here
    // (std::logic_error).
    virtual std::string oauth_request_token_url() const;
    virtual std::string oauth_access_token_url() const;
    virtual std::string oauth_authorize_url() const;
    // "1.0a" (the default) or "1.0" (Tornado's _OAUTH_VERSION).
    virtual std::string oauth_version() const { return "1.0a"; }
    // The provider only takes callbacks registered in advance (Tornado's
    // _OAUTH_NO_CALLBACKS).
    virtual bool oauth_no_callbacks() const { return false; }
    // Tornado's _oauth_consumer_token: the application's key and secret.
    // Must be overridden (std::logic_error).
    virtual OAuthToken oauth_consumer_token() const;
    // Tornado's _oauth_get_user_future: the user (a JSON object) that
    // `access_token` ({key, secret, ...}) belongs to. Must be overridden.
    virtual Task<JSON> oauth_get_user_future(JSON access_token);

    // The signed URL that asks for a request token (Tornado's
    // _oauth_request_token_url).
    std::string request_token_url(const std::string& callback_uri = {},
                                  const AuthArguments& extra_params = {}) const;
    // Sets the cookie and redirects to `authorize_url` (Tornado's
    // _on_request_token).
    void on_request_token(const std::string& authorize_url, const std::string& callback_uri,
                          const HTTPResponse& response);
    // The signed URL that trades `request_token` ({key, secret, and the
    // verifier if any}) for an access token (Tornado's _oauth_access_token_url).
    std::string access_token_url(const JSON& request_token) const;
    // The oauth_* arguments that sign a request to `url` with
    // `access_token`; `parameters` are all the request's other query and
    // body arguments (Tornado's _oauth_request_parameters).
    AuthArguments oauth_request_parameters(const std::string& url, const JSON& access_token,
                                           const AuthArguments& parameters = {},
                                           const std::string& method = "GET") const;

private:
    // The signature oauth_version() asks for.
    std::string sign(const OAuthToken& consumer_token, const std::string& method,
                     const std::string& url, const AuthArguments& parameters,
                     const std::optional<OAuthToken>& token) const;

    detail::OwnedHTTPClient http_client_;
};

// --- OAuth 2.0 ------------------------------------------------------------------------

// authorize_redirect's arguments (Tornado's keyword arguments), sent in
// Tornado's order: response_type, redirect_uri, client_id, extra_params,
// scope. Unset optionals are not sent; an empty one is sent empty.
struct OAuth2AuthorizeOptions {
    std::optional<std::string> redirect_uri{};
    std::optional<std::string> client_id{};
    // Taken and not sent, as in Tornado (a secret has no place in a URL
    // the browser sees).
    std::optional<std::string> client_secret{};
    // More arguments, in order; one named response_type, redirect_uri or
    // client_id replaces that one's value, as Python's dict.update does.
    AuthArguments extra_params{};
    // Sent space-separated as one "scope" argument, which replaces one in
    // extra_params; empty: none.
    std::vector<std::string> scope{};
    std::string response_type = "code";
};

// OAuth 2.0 (Tornado's OAuth2Mixin). A subclass names the endpoints;
// GoogleOAuth2Mixin and FacebookGraphMixin are two.
class OAuth2Mixin : public RequestHandler {
public:
    // Redirects the user to the provider's authorization page, which
    // sends them back to redirect_uri with a code (or to the URL
    // registered with the provider).
    void authorize_redirect(const OAuth2AuthorizeOptions& options = {});
    // Fetches `url` with the access token and `args` in its query (Tornado
    // adds `args` only along with a token, and so does this), POSTing
    // `post_args` as a form when given (even empty); returns the JSON
    // answer (null for a "null" body).
    Task<JSON> oauth2_request(std::string url, std::optional<std::string> access_token = {},
                              std::optional<AuthArguments> post_args = {}, AuthArguments args = {});
    // The client every request of this mixin uses, as OpenIdMixin's: unless
    // overridden, one the handler owns.
    virtual AsyncHTTPClient& get_auth_http_client() { return http_client_.get(); }

protected:
    // Tornado's _OAUTH_AUTHORIZE_URL and _OAUTH_ACCESS_TOKEN_URL: no
    // default here (std::logic_error).
    virtual std::string oauth_authorize_url() const;
    virtual std::string oauth_access_token_url() const;
    // The access token URL with these arguments (Tornado's
    // _oauth_request_token_url); unset ones are left out.
    std::string request_token_url(const std::optional<std::string>& redirect_uri = {},
                                  const std::optional<std::string>& client_id = {},
                                  const std::optional<std::string>& client_secret = {},
                                  const std::optional<std::string>& code = {},
                                  const AuthArguments& extra_params = {}) const;

private:
    detail::OwnedHTTPClient http_client_;
};

// --- Twitter --------------------------------------------------------------------------

// Twitter's OAuth 1.0a (Tornado's TwitterMixin). The consumer key and
// secret come from twitter_consumer_key() and twitter_consumer_secret(),
// which the handler overrides. The user get_authenticated_user() returns
// is verify_credentials' answer with "username" (the screen_name) and
// "access_token" added.
class TwitterMixin : public OAuthMixin {
public:
    // authorize_redirect, to the page that lets a user who already
    // authorized the application through at once (single sign-on).
    Task<void> authenticate_redirect(std::string callback_uri = {});
    // Calls the API: `path` is "/statuses/update" (".json" and the base
    // URL are added) or a whole http(s) URL. Signed with `access_token`
    // ({key, secret}; null or empty: not signed). `post_args` make it a
    // POST (even empty). Returns the JSON answer.
    Task<JSON> twitter_request(std::string path, JSON access_token,
                               std::optional<AuthArguments> post_args = {},
                               AuthArguments args = {});

    // The twitter_consumer_key setting, the key of oauth_consumer_token():
    // override it (unset: std::logic_error).
    virtual std::string twitter_consumer_key() const;
    // The twitter_consumer_secret setting, that token's secret: override it
    // too (unset: std::logic_error).
    virtual std::string twitter_consumer_secret() const;

protected:
    std::string oauth_request_token_url() const override {
        return "https://api.twitter.com/oauth/request_token";
    }
    std::string oauth_access_token_url() const override {
        return "https://api.twitter.com/oauth/access_token";
    }
    std::string oauth_authorize_url() const override {
        return "https://api.twitter.com/oauth/authorize";
    }
    // Tornado's _OAUTH_AUTHENTICATE_URL and _TWITTER_BASE_URL.
    virtual std::string oauth_authenticate_url() const {
        return "https://api.twitter.com/oauth/authenticate";
    }
    virtual std::string twitter_base_url() const { return "https://api.twitter.com/1.1"; }

    OAuthToken oauth_consumer_token() const override;
    Task<JSON> oauth_get_user_future(JSON access_token) override;
};

// --- Google ---------------------------------------------------------------------------

// Google's OAuth 2.0 (Tornado's GoogleOAuth2Mixin). The client id and
// secret come from google_oauth(), which the handler overrides (Tornado's
// google_oauth setting, {"key": ..., "secret": ...}).
class GoogleOAuth2Mixin : public OAuth2Mixin {
public:
    // Trades the `code` Google sent back for an access token; returns
    // Google's JSON answer (access_token, expires_in, ...), no more: ask
    // oauth2_request(oauth_userinfo_url(), token) for who the user is.
    Task<JSON> get_authenticated_user(std::string redirect_uri, std::string code);

    // The google_oauth setting: override it (unset: std::logic_error).
    virtual OAuthToken google_oauth() const;

protected:
    std::string oauth_authorize_url() const override {
        return "https://accounts.google.com/o/oauth2/v2/auth";
    }
    std::string oauth_access_token_url() const override {
        return "https://www.googleapis.com/oauth2/v4/token";
    }
    // Tornado's _OAUTH_USERINFO_URL.
    virtual std::string oauth_userinfo_url() const {
        return "https://www.googleapis.com/oauth2/v1/userinfo";
    }
};

// --- Facebook -------------------------------------------------------------------------

// Facebook's Graph API and its OAuth 2.0 (Tornado's FacebookGraphMixin).
// As in Tornado, the caller passes the client id and secret;
// facebook_api_key() and facebook_secret() are where a handler may keep
// them (Tornado's facebook_api_key and facebook_secret settings).
class FacebookGraphMixin : public OAuth2Mixin {
public:
    // Trades `code` for an access token, then asks the Graph API for
    // /me. Returns the user: each of id, name, first_name, last_name,
    // locale, picture, link and `extra_fields` (null when Facebook gave
    // none), access_token, and session_expires (expires_in as text, as
    // Tornado gives it); null when /me answered null. AuthError when no
    // access token came back.
    Task<JSON> get_authenticated_user(std::string redirect_uri, std::string client_id,
                                      std::string client_secret, std::string code,
                                      std::vector<std::string> extra_fields = {});
    // oauth2_request on facebook_base_url() + `path` ("/me/feed").
    Task<JSON> facebook_request(std::string path, std::optional<std::string> access_token = {},
                                std::optional<AuthArguments> post_args = {},
                                AuthArguments args = {});

    // The facebook_api_key setting, for the handler's own use (nothing here
    // reads it): override it (unset: std::logic_error).
    virtual std::string facebook_api_key() const;
    // The facebook_secret setting, likewise for the handler's own use
    // (unset: std::logic_error).
    virtual std::string facebook_secret() const;

protected:
    std::string oauth_access_token_url() const override {
        return "https://graph.facebook.com/oauth/access_token?";
    }
    std::string oauth_authorize_url() const override {
        return "https://www.facebook.com/dialog/oauth?";
    }
    // Tornado's _FACEBOOK_BASE_URL.
    virtual std::string facebook_base_url() const { return "https://graph.facebook.com"; }
};

// --- signatures -----------------------------------------------------------------------

// The HMAC-SHA1 signature of an OAuth 1.0 request, base64 (Tornado's
// _oauth_signature): the key is the two secrets as they are. `url`'s query
// and fragment are not signed; `parameters` are all the arguments.
std::string oauth_signature(const OAuthToken& consumer_token, std::string_view method,
                            std::string_view url, const AuthArguments& parameters,
                            const std::optional<OAuthToken>& token = std::nullopt);
// The same for OAuth 1.0a (Tornado's _oauth10a_signature): the secrets
// are percent-encoded in the key.
std::string oauth10a_signature(const OAuthToken& consumer_token, std::string_view method,
                               std::string_view url, const AuthArguments& parameters,
                               const std::optional<OAuthToken>& token = std::nullopt);

}  // namespace tornado
