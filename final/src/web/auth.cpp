// auth.cpp: see tornado/auth.h. Each function follows Tornado 6.2's of the
// same name (tornado/auth.py); where the C++ differs, a comment says why.
//
// An OAuth 1 login, as the functions below do it:
//
//   authorize_redirect      GET request_token_url()  (signed, no token)
//                           <- oauth_token=K&oauth_token_secret=S
//                           cookie _oauth_request_token = b64(K)|b64(S),
//                           302 to the provider's authorize page
//   (the user says yes; the provider sends them back with ?oauth_token=K)
//   get_authenticated_user  cookie checked against oauth_token,
//                           GET access_token_url(K)  (signed with S)
//                           <- oauth_token=A&oauth_token_secret=B&...
//                           oauth_get_user_future({key: A, secret: B, ...})
#include "tornado/auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "core/hex.h"
#include "core/percent_encoding.h"
#include "http/base64.h"
#include "tornado/httputil.h"
#include "web/hmac.h"
#include "web/random_bytes.h"

namespace tornado {

namespace {

// --- arguments -------------------------------------------------------------------------

// args[key] = value, as a Python dict assigns: an existing key keeps its
// place and takes the new value, a new one goes at the end. The URLs come
// out in the same order as Tornado's.
void set_argument(AuthArguments& args, std::string_view key, std::string value) {
    for (auto& [name, old_value] : args) {
        if (name == key) {
            old_value = std::move(value);
            return;
        }
    }
    args.emplace_back(std::string(key), std::move(value));
}

// args.update(more).
void update_arguments(AuthArguments& args, const AuthArguments& more) {
    for (const auto& [key, value] : more) set_argument(args, key, value);
}

// "a=1&b=x+y" (Python's urlencode, which quotes with quote_plus).
std::string urlencode(const AuthArguments& args) {
    std::string out;
    for (const auto& [key, value] : args) {
        if (!out.empty()) out += '&';
        out += url_escape(key);
        out += '=';
        out += url_escape(value);
    }
    return out;
}

// Python's truth value of a JSON value ("if not user:").
bool is_truthy(const JSON& value) {
    if (value.is_null()) return false;
    if (value.is_boolean()) return value.get<bool>();
    if (value.is_number()) return value != 0;
    if (value.is_string()) return !value.get_ref<const std::string&>().empty();
    return !value.empty();  // object, array
}

// Python's str() of a JSON value, for session_expires: "3600" for 3600,
// "None" for a missing one, a string as it is.
std::string python_str(const JSON& value) {
    if (value.is_null()) return "None";
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
    return value.dump();
}

std::string lowercase_ascii(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
}

// --- OAuth 1 pieces --------------------------------------------------------------------

// Seconds since the epoch, as text (str(int(time.time()))).
std::string oauth_timestamp() { return std::to_string(static_cast<long long>(std::time(nullptr))); }

// A fresh nonce: a version 4 UUID's 16 bytes in hex, as Tornado's
// b2a_hex(uuid4().bytes). The version and variant bits are set as uuid4
// sets them, so that the nonce has the same form; the other 122 bits are
// random.
std::string oauth_nonce() {
    std::string bytes = detail::random_bytes(16);
    bytes[6] = static_cast<char>((static_cast<unsigned char>(bytes[6]) & 0x0f) | 0x40);
    bytes[8] = static_cast<char>((static_cast<unsigned char>(bytes[8]) & 0x3f) | 0x80);
    return detail::to_hex(bytes);
}

// The arguments every signed OAuth 1 request starts with, in Tornado's
// order; `token_key` adds oauth_token after the consumer key.
AuthArguments oauth_base_arguments(const OAuthToken& consumer_token,
                                   const std::optional<std::string>& token_key) {
    AuthArguments args;
    args.emplace_back("oauth_consumer_key", consumer_token.key);
    if (token_key) args.emplace_back("oauth_token", *token_key);
    args.emplace_back("oauth_signature_method", "HMAC-SHA1");
    args.emplace_back("oauth_timestamp", oauth_timestamp());
    args.emplace_back("oauth_nonce", oauth_nonce());
    args.emplace_back("oauth_version", "1.0");
    return args;
}

// Percent-encodes every byte but letters, digits and "_.-~" (Tornado's
// _oauth_escape, Python's quote(value, safe="~"); RFC 5849 section 3.6).
// url_escape(value, false) would keep '/'; OAuth encodes it.
std::string oauth_escape(std::string_view value) {
    std::string out;
    detail::append_percent_encoded(out, value, detail::is_unreserved);
    return out;
}

// scheme://netloc/path of `url`, scheme and netloc in lower case: what
// Tornado keeps of urlparse(url) to sign. The query and the fragment go,
// and so do the ";params" of the last path segment, which urlparse splits
// off as well.
std::string normalized_url(std::string_view url) {
    std::string_view scheme;
    std::string_view netloc;
    std::string_view rest = url;
    std::size_t separator = url.find("://");
    if (separator != std::string_view::npos) {
        scheme = url.substr(0, separator);
        rest = url.substr(separator + 3);
        std::size_t netloc_end = std::min(rest.find_first_of("/?#"), rest.size());
        netloc = rest.substr(0, netloc_end);
        rest = rest.substr(netloc_end);
    }
    std::string_view path = rest.substr(0, std::min(rest.find_first_of("?#"), rest.size()));
    std::size_t last_slash = path.rfind('/');
    std::size_t params = path.find(';', last_slash == std::string_view::npos ? 0 : last_slash);
    path = path.substr(0, std::min(params, path.size()));
    return lowercase_ascii(std::string(scheme)) + "://" + lowercase_ascii(std::string(netloc)) +
           std::string(path);
}

// METHOD&url&parameters, each escaped, the parameters sorted by name and
// joined as name=escaped value. As in Tornado, the names are not escaped
// inside the parameter string (only once, with the whole string): a name
// outside the unreserved set signs differently from RFC 5849, the same as
// Tornado's.
std::string signature_base_string(std::string_view method, std::string_view url,
                                  const AuthArguments& parameters) {
    AuthArguments sorted = parameters;
    std::sort(sorted.begin(), sorted.end());  // bytes in order: code points, as Python's sort
    std::string joined;
    for (const auto& [key, value] : sorted) {
        if (!joined.empty()) joined += '&';
        joined += key;
        joined += '=';
        joined += oauth_escape(value);
    }
    std::string upper_method(method);
    for (char& c : upper_method) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return oauth_escape(upper_method) + "&" + oauth_escape(normalized_url(url)) + "&" +
           oauth_escape(joined);
}

// base64(HMAC-SHA1(key, base string)), the signature both versions send.
std::string hmac_sha1_base64(std::string_view key, std::string_view base_string) {
    return detail::base64_encode(detail::hmac_digest(EVP_sha1(), key, base_string));
}

// A JSON access token's key and secret (the signing needs no more).
OAuthToken token_from_json(const JSON& token) {
    return {.key = token.at("key").get<std::string>(),
            .secret = token.at("secret").get<std::string>()};
}

// A provider's "oauth_token=K&oauth_token_secret=S&more=..." as {key: K,
// secret: S, more: ...} (Tornado's _oauth_parse_response). Blank values
// are dropped and each name keeps its first value, as parse_qs gives them.
// Tornado's KeyError for a missing token is an AuthError here.
JSON oauth_parse_response(std::string_view body) {
    ArgumentMap fields = parse_qs_bytes(body);
    auto first = [&fields](std::string_view name) {
        return replace_invalid_utf8(fields.at(name).front());
    };
    if (!fields.contains("oauth_token") || !fields.contains("oauth_token_secret")) {
        throw AuthError("OAuth response without oauth_token and oauth_token_secret");
    }
    JSON token = {{"key", first("oauth_token")}, {"secret", first("oauth_token_secret")}};
    for (const auto& [name, values] : fields) {
        if (name == "oauth_token" || name == "oauth_token_secret") continue;
        token[replace_invalid_utf8(name)] = first(name);
    }
    return token;
}

// --- bodies built outside the coroutines ----------------------------------------------
//
// g++ 12 mishandles a braced list of strings inside a coroutine (see
// tornado/httpclient.h), so the coroutines below get theirs from these.

// The request token get_authenticated_user trades: {key, secret[, verifier]}.
JSON request_token_json(const std::string& key, const std::string& secret,
                        const std::string& verifier) {
    JSON token = {{"key", key}, {"secret", replace_invalid_utf8(secret)}};
    if (!verifier.empty()) token["verifier"] = verifier;
    return token;
}

// The form Google's token endpoint takes.
AuthArguments google_token_form(std::string redirect_uri, std::string code,
                                const OAuthToken& client) {
    return {
        {"redirect_uri", std::move(redirect_uri)},
        {"code", std::move(code)},
        {"client_id", client.key},
        {"client_secret", client.secret},
        {"grant_type", "authorization_code"},
    };
}

// The user fields asked of Facebook: Tornado's set, and the caller's.
// Python's set has no fixed order; sorted here, so that the request is
// the same every time.
std::set<std::string> facebook_fields(const std::vector<std::string>& extra_fields) {
    std::set<std::string> fields = {"id",     "name",    "first_name", "last_name",
                                    "locale", "picture", "link"};
    fields.insert(extra_fields.begin(), extra_fields.end());
    return fields;
}

// /me's query: appsecret_proof proves that the call comes from the
// application's server, which knows the secret
// (https://developers.facebook.com/docs/graph-api/securing-requests).
AuthArguments facebook_me_arguments(const std::string& client_secret,
                                    const std::string& access_token,
                                    const std::set<std::string>& fields) {
    std::string joined;
    for (const std::string& field : fields) joined += (joined.empty() ? "" : ",") + field;
    std::string proof =
        detail::to_hex(detail::hmac_digest(EVP_sha256(), client_secret, access_token));
    return {{"appsecret_proof", std::move(proof)}, {"fields", std::move(joined)}};
}

// The user get_authenticated_user returns: each field asked for (null
// when Facebook left it out), the token, and expires_in as text
// (session_expires, text as Tornado gives it: older Facebooks sent it
// url-encoded).
JSON facebook_user(const JSON& me, const std::set<std::string>& fields,
                   const std::string& access_token, const JSON& expires_in) {
    JSON user = JSON::object();
    for (const std::string& field : fields) {
        user[field] = me.is_object() && me.contains(field) ? me[field] : JSON();
    }
    user["access_token"] = access_token;
    user["session_expires"] = python_str(expires_in);
    return user;
}

// What a default hook throws (Tornado's AttributeError for a missing
// class attribute, NotImplementedError for a missing method).
[[noreturn]] void not_defined(const std::string& what) {
    throw std::logic_error(what + " is not defined: override it in the handler");
}

// require_setting's message, for the settings-as-functions.
[[noreturn]] void setting_missing(std::string_view name, std::string_view feature) {
    throw std::logic_error("You must define the '" + std::string(name) +
                           "' setting in your application to use " + std::string(feature));
}

}  // namespace

// --- signatures ---------------------------------------------------------------------------

std::string oauth_signature(const OAuthToken& consumer_token, std::string_view method,
                            std::string_view url, const AuthArguments& parameters,
                            const std::optional<OAuthToken>& token) {
    std::string key = consumer_token.secret + "&" + (token ? token->secret : std::string());
    return hmac_sha1_base64(key, signature_base_string(method, url, parameters));
}

std::string oauth10a_signature(const OAuthToken& consumer_token, std::string_view method,
                               std::string_view url, const AuthArguments& parameters,
                               const std::optional<OAuthToken>& token) {
    std::string key = oauth_escape(consumer_token.secret) + "&" +
                      (token ? oauth_escape(token->secret) : std::string());
    return hmac_sha1_base64(key, signature_base_string(method, url, parameters));
}

// --- OpenIdMixin ----------------------------------------------------------------------------

void OpenIdMixin::authenticate_redirect(std::string callback_uri,
                                        const std::vector<std::string>& ax_attrs) {
    if (callback_uri.empty()) callback_uri = request().uri;
    AuthArguments args = openid_args(callback_uri, ax_attrs);
    redirect(openid_endpoint() + "?" + urlencode(args));
}

// Every argument the provider sent back, its last value, goes back to it
// with openid.mode=check_authentication: the provider says whether it
// signed them.
Task<JSON> OpenIdMixin::get_authenticated_user(AsyncHTTPClient* http_client) {
    AuthArguments args;
    for (const auto& [name, values] : request().arguments) {
        if (!values.empty()) args.emplace_back(name, values.back());
    }
    set_argument(args, "openid.mode", "check_authentication");
    if (http_client == nullptr) http_client = &get_auth_http_client();
    HTTPRequest verify;
    verify.url = openid_endpoint();
    verify.method = "POST";
    verify.body = urlencode(args);
    HTTPResponse response = co_await http_client->fetch(std::move(verify));
    co_return on_authentication_verified(response);
}

std::string OpenIdMixin::openid_endpoint() const { not_defined("OpenIdMixin::openid_endpoint()"); }

AuthArguments OpenIdMixin::openid_args(const std::string& callback_uri,
                                       const std::vector<std::string>& ax_attrs,
                                       const std::string& oauth_scope) const {
    std::string url = detail::urljoin(request().full_url(), callback_uri);
    AuthArguments args = {
        {"openid.ns", "http://specs.openid.net/auth/2.0"},
        {"openid.claimed_id", "http://specs.openid.net/auth/2.0/identifier_select"},
        {"openid.identity", "http://specs.openid.net/auth/2.0/identifier_select"},
        {"openid.return_to", url},
        {"openid.realm", detail::urljoin(url, "/")},
        {"openid.mode", "checkid_setup"},
    };
    if (!ax_attrs.empty()) {
        args.emplace_back("openid.ns.ax", "http://openid.net/srv/ax/1.0");
        args.emplace_back("openid.ax.mode", "fetch_request");
        // Tornado makes a set of the names, whose order Python does not
        // fix; here they keep the caller's order, each once. "name" asks
        // for the three name attributes, and stands for them.
        std::vector<std::string> wanted;
        for (const std::string& name : ax_attrs) {
            if (std::find(wanted.begin(), wanted.end(), name) == wanted.end())
                wanted.push_back(name);
        }
        std::vector<std::string> required;
        if (std::find(wanted.begin(), wanted.end(), "name") != wanted.end()) {
            std::erase_if(wanted, [](const std::string& name) {
                return name == "name" || name == "firstname" || name == "fullname" ||
                       name == "lastname";
            });
            required = {"firstname", "fullname", "lastname"};
            args.emplace_back("openid.ax.type.firstname", "http://axschema.org/namePerson/first");
            args.emplace_back("openid.ax.type.fullname", "http://axschema.org/namePerson");
            args.emplace_back("openid.ax.type.lastname", "http://axschema.org/namePerson/last");
        }
        const std::vector<std::pair<std::string, std::string>> known_attrs = {
            {"email", "http://axschema.org/contact/email"},
            {"language", "http://axschema.org/pref/language"},
            {"username", "http://axschema.org/namePerson/friendly"},
        };
        for (const std::string& name : wanted) {
            auto known = std::find_if(known_attrs.begin(), known_attrs.end(),
                                      [&name](const auto& attr) { return attr.first == name; });
            if (known == known_attrs.end()) {
                throw std::invalid_argument("unknown OpenID attribute '" + name + "'");
            }
            set_argument(args, "openid.ax.type." + name, known->second);
            required.push_back(name);
        }
        std::string joined;
        for (const std::string& name : required) joined += (joined.empty() ? "" : ",") + name;
        set_argument(args, "openid.ax.required", joined);
    }
    if (!oauth_scope.empty()) {
        set_argument(args, "openid.ns.oauth", "http://specs.openid.net/extensions/oauth/1.0");
        set_argument(args, "openid.oauth.consumer",
                     request().host.substr(0, request().host.find(':')));
        set_argument(args, "openid.oauth.scope", oauth_scope);
    }
    return args;
}

// The attributes come back as openid.<alias>.type.<name> = <its URI> and
// openid.<alias>.value.<name> = <the value>, where <alias> is whatever the
// provider declared with openid.ns.<alias> = the Attribute Exchange URI.
JSON OpenIdMixin::on_authentication_verified(const HTTPResponse& response) const {
    if (response.body.find("is_valid:true") == std::string::npos) {
        throw AuthError("Invalid OpenID response: " + response.body);
    }
    const std::string ax_uri = "http://openid.net/srv/ax/1.0";
    std::string ax_ns;
    for (const auto& [key, values] : request().arguments) {
        if (key.starts_with("openid.ns.") && get_argument(key) == ax_uri) {
            ax_ns = key.substr(10);
            break;
        }
    }
    auto get_ax_arg = [this, &ax_ns](const std::string& uri) -> std::string {
        if (ax_ns.empty()) return {};
        std::string prefix = "openid." + ax_ns + ".type.";
        for (const auto& [name, values] : request().arguments) {
            if (name.starts_with(prefix) && get_argument(name) == uri) {
                return get_argument("openid." + ax_ns + ".value." + name.substr(prefix.size()), "");
            }
        }
        return {};
    };
    std::string email = get_ax_arg("http://axschema.org/contact/email");
    std::string name = get_ax_arg("http://axschema.org/namePerson");
    std::string first_name = get_ax_arg("http://axschema.org/namePerson/first");
    std::string last_name = get_ax_arg("http://axschema.org/namePerson/last");
    std::string username = get_ax_arg("http://axschema.org/namePerson/friendly");
    // A language tag; ASCII, so ASCII lower case is Python's lower() here.
    std::string locale = lowercase_ascii(get_ax_arg("http://axschema.org/pref/language"));

    JSON user = JSON::object();
    std::string name_parts;
    if (!first_name.empty()) {
        user["first_name"] = first_name;
        name_parts = first_name;
    }
    if (!last_name.empty()) {
        user["last_name"] = last_name;
        name_parts += (name_parts.empty() ? "" : " ") + last_name;
    }
    if (!name.empty()) {
        user["name"] = name;
    } else if (!name_parts.empty()) {
        user["name"] = name_parts;
    } else if (!email.empty()) {
        user["name"] = email.substr(0, email.find('@'));
    }
    if (!email.empty()) user["email"] = email;
    if (!locale.empty()) user["locale"] = locale;
    if (!username.empty()) user["username"] = username;
    std::string claimed_id = get_argument("openid.claimed_id", "");
    if (!claimed_id.empty()) user["claimed_id"] = claimed_id;
    return user;
}

// --- OAuthMixin -----------------------------------------------------------------------------

Task<void> OAuthMixin::authorize_redirect(std::string callback_uri, AuthArguments extra_params,
                                          AsyncHTTPClient* http_client) {
    if (!callback_uri.empty() && oauth_no_callbacks()) {
        throw std::runtime_error("This service does not support oauth_callback");
    }
    if (http_client == nullptr) http_client = &get_auth_http_client();
    // OAuth 1.0 sends no callback with the request token (it has no
    // oauth_callback); the authorize redirect below still carries it.
    std::string url = oauth_version() == "1.0a" ? request_token_url(callback_uri, extra_params)
                                                : request_token_url();
    HTTPResponse response = co_await http_client->fetch(std::move(url));
    on_request_token(oauth_authorize_url(), callback_uri, response);
}

Task<JSON> OAuthMixin::get_authenticated_user(AsyncHTTPClient* http_client) {
    std::string request_key = get_argument("oauth_token");
    std::string oauth_verifier = get_argument("oauth_verifier", "");
    std::optional<std::string> request_cookie = get_cookie("_oauth_request_token");
    if (!request_cookie || request_cookie->empty()) {
        throw AuthError("Missing OAuth request token cookie");
    }
    clear_cookie("_oauth_request_token");
    // Tornado's b64decode of a cookie that is not two base64 parts raises
    // ValueError; here it is one more AuthError, the one exception a login
    // handler catches for a login that cannot go on.
    std::size_t bar = request_cookie->find('|');
    std::optional<std::string> cookie_key;
    std::optional<std::string> cookie_secret;
    if (bar != std::string::npos && request_cookie->find('|', bar + 1) == std::string::npos) {
        cookie_key = detail::base64_decode(std::string_view(*request_cookie).substr(0, bar));
        cookie_secret = detail::base64_decode(std::string_view(*request_cookie).substr(bar + 1));
    }
    if (!cookie_key || !cookie_secret) {
        throw AuthError("Malformed OAuth request token cookie");
    }
    if (*cookie_key != request_key) throw AuthError("Request token does not match cookie");
    JSON token = request_token_json(*cookie_key, *cookie_secret, oauth_verifier);
    if (http_client == nullptr) http_client = &get_auth_http_client();
    std::string url = access_token_url(token);
    HTTPResponse response = co_await http_client->fetch(std::move(url));
    JSON access_token = oauth_parse_response(response.body);
    JSON user = co_await oauth_get_user_future(access_token);
    if (!is_truthy(user)) throw AuthError("Error getting user");
    user["access_token"] = std::move(access_token);
    co_return user;
}

std::string OAuthMixin::oauth_request_token_url() const {
    not_defined("OAuthMixin::oauth_request_token_url()");
}

std::string OAuthMixin::oauth_access_token_url() const {
    not_defined("OAuthMixin::oauth_access_token_url()");
}

std::string OAuthMixin::oauth_authorize_url() const {
    not_defined("OAuthMixin::oauth_authorize_url()");
}

OAuthToken OAuthMixin::oauth_consumer_token() const {
    not_defined("OAuthMixin::oauth_consumer_token()");
}

// Not a coroutine: it throws before there is a Task, and the caller's
// co_await sees the exception all the same (it comes out of the call).
Task<JSON> OAuthMixin::oauth_get_user_future(JSON) {
    not_defined("OAuthMixin::oauth_get_user_future()");
}

std::string OAuthMixin::request_token_url(const std::string& callback_uri,
                                          const AuthArguments& extra_params) const {
    OAuthToken consumer_token = oauth_consumer_token();
    std::string url = oauth_request_token_url();
    AuthArguments args = oauth_base_arguments(consumer_token, std::nullopt);
    if (oauth_version() == "1.0a") {
        if (callback_uri == "oob") {
            args.emplace_back("oauth_callback", "oob");
        } else if (!callback_uri.empty()) {
            args.emplace_back("oauth_callback",
                              detail::urljoin(request().full_url(), callback_uri));
        }
        update_arguments(args, extra_params);
    }
    args.emplace_back("oauth_signature", sign(consumer_token, "GET", url, args, std::nullopt));
    return url + "?" + urlencode(args);
}

void OAuthMixin::on_request_token(const std::string& authorize_url, const std::string& callback_uri,
                                  const HTTPResponse& response) {
    JSON request_token = oauth_parse_response(response.body);
    std::string key = request_token["key"].get<std::string>();
    std::string secret = request_token["secret"].get<std::string>();
    set_cookie("_oauth_request_token",
               detail::base64_encode(key) + "|" + detail::base64_encode(secret));
    AuthArguments args = {{"oauth_token", key}};
    if (callback_uri == "oob") {
        finish(authorize_url + "?" + urlencode(args));
        return;
    }
    if (!callback_uri.empty()) {
        args.emplace_back("oauth_callback", detail::urljoin(request().full_url(), callback_uri));
    }
    redirect(authorize_url + "?" + urlencode(args));
}

std::string OAuthMixin::access_token_url(const JSON& request_token) const {
    OAuthToken consumer_token = oauth_consumer_token();
    std::string url = oauth_access_token_url();
    OAuthToken token = token_from_json(request_token);
    AuthArguments args = oauth_base_arguments(consumer_token, token.key);
    if (request_token.contains("verifier")) {
        args.emplace_back("oauth_verifier", request_token["verifier"].get<std::string>());
    }
    args.emplace_back("oauth_signature", sign(consumer_token, "GET", url, args, token));
    return url + "?" + urlencode(args);
}

AuthArguments OAuthMixin::oauth_request_parameters(const std::string& url, const JSON& access_token,
                                                   const AuthArguments& parameters,
                                                   const std::string& method) const {
    OAuthToken consumer_token = oauth_consumer_token();
    OAuthToken token = token_from_json(access_token);
    AuthArguments base_args = oauth_base_arguments(consumer_token, token.key);
    AuthArguments signed_args = base_args;
    update_arguments(signed_args, parameters);
    base_args.emplace_back("oauth_signature",
                           sign(consumer_token, method, url, signed_args, token));
    return base_args;
}

std::string OAuthMixin::sign(const OAuthToken& consumer_token, const std::string& method,
                             const std::string& url, const AuthArguments& parameters,
                             const std::optional<OAuthToken>& token) const {
    return oauth_version() == "1.0a"
               ? oauth10a_signature(consumer_token, method, url, parameters, token)
               : oauth_signature(consumer_token, method, url, parameters, token);
}

// --- OAuth2Mixin ----------------------------------------------------------------------------

void OAuth2Mixin::authorize_redirect(const OAuth2AuthorizeOptions& options) {
    AuthArguments args = {{"response_type", options.response_type}};
    if (options.redirect_uri) args.emplace_back("redirect_uri", *options.redirect_uri);
    if (options.client_id) args.emplace_back("client_id", *options.client_id);
    update_arguments(args, options.extra_params);
    if (!options.scope.empty()) {
        std::string scope;
        for (const std::string& item : options.scope) scope += (scope.empty() ? "" : " ") + item;
        set_argument(args, "scope", scope);
    }
    redirect(url_concat(oauth_authorize_url(), args));
}

namespace {

// A provider's API call: GET, or POST with the form `post_args`; the
// answer's JSON. The client is the handler's (get_auth_http_client), and
// the handler's coroutine awaits this at once, so the reference outlives it.
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<JSON> fetch_json(AsyncHTTPClient& client, std::string url,
                      std::optional<AuthArguments> post_args) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    HTTPRequest fetched;
    fetched.url = std::move(url);
    if (post_args) {
        fetched.method = "POST";
        fetched.body = urlencode(*post_args);
    }
    HTTPResponse response = co_await client.fetch(std::move(fetched));
    co_return json_decode(response.body);
}

}  // namespace

Task<JSON> OAuth2Mixin::oauth2_request(std::string url, std::optional<std::string> access_token,
                                       std::optional<AuthArguments> post_args, AuthArguments args) {
    AuthArguments all_args;
    if (access_token && !access_token->empty()) {
        all_args.emplace_back("access_token", *access_token);
        update_arguments(all_args, args);
    }
    if (!all_args.empty()) url += "?" + urlencode(all_args);
    co_return co_await fetch_json(get_auth_http_client(), std::move(url), std::move(post_args));
}

std::string OAuth2Mixin::oauth_authorize_url() const {
    not_defined("OAuth2Mixin::oauth_authorize_url()");
}

std::string OAuth2Mixin::oauth_access_token_url() const {
    not_defined("OAuth2Mixin::oauth_access_token_url()");
}

std::string OAuth2Mixin::request_token_url(const std::optional<std::string>& redirect_uri,
                                           const std::optional<std::string>& client_id,
                                           const std::optional<std::string>& client_secret,
                                           const std::optional<std::string>& code,
                                           const AuthArguments& extra_params) const {
    AuthArguments args;
    if (redirect_uri) args.emplace_back("redirect_uri", *redirect_uri);
    if (code) args.emplace_back("code", *code);
    if (client_id) args.emplace_back("client_id", *client_id);
    if (client_secret) args.emplace_back("client_secret", *client_secret);
    update_arguments(args, extra_params);
    return url_concat(oauth_access_token_url(), args);
}

// --- TwitterMixin ---------------------------------------------------------------------------

Task<void> TwitterMixin::authenticate_redirect(std::string callback_uri) {
    std::string url = request_token_url(callback_uri);
    HTTPResponse response = co_await get_auth_http_client().fetch(std::move(url));
    on_request_token(oauth_authenticate_url(), std::string(), response);
}

Task<JSON> TwitterMixin::twitter_request(std::string path, JSON access_token,
                                         std::optional<AuthArguments> post_args,
                                         AuthArguments args) {
    // A whole URL is for the API calls outside the usual pattern (search).
    std::string url = path.starts_with("http:") || path.starts_with("https:")
                          ? path
                          : twitter_base_url() + path + ".json";
    if (is_truthy(access_token)) {
        AuthArguments all_args = args;
        if (post_args) update_arguments(all_args, *post_args);
        std::string method = post_args ? "POST" : "GET";
        update_arguments(args, oauth_request_parameters(url, access_token, all_args, method));
    }
    if (!args.empty()) url += "?" + urlencode(args);
    co_return co_await fetch_json(get_auth_http_client(), std::move(url), std::move(post_args));
}

std::string TwitterMixin::twitter_consumer_key() const {
    setting_missing("twitter_consumer_key", "Twitter OAuth");
}

std::string TwitterMixin::twitter_consumer_secret() const {
    setting_missing("twitter_consumer_secret", "Twitter OAuth");
}

OAuthToken TwitterMixin::oauth_consumer_token() const {
    return {.key = twitter_consumer_key(), .secret = twitter_consumer_secret()};
}

Task<JSON> TwitterMixin::oauth_get_user_future(JSON access_token) {
    std::string path = "/account/verify_credentials";
    JSON user = co_await twitter_request(std::move(path), std::move(access_token));
    if (is_truthy(user)) user["username"] = user.at("screen_name");
    co_return user;
}

// --- GoogleOAuth2Mixin ----------------------------------------------------------------------

Task<JSON> GoogleOAuth2Mixin::get_authenticated_user(std::string redirect_uri, std::string code) {
    OAuthToken client = google_oauth();
    AuthArguments form = google_token_form(std::move(redirect_uri), std::move(code), client);
    HTTPRequest token_request;
    token_request.url = oauth_access_token_url();
    token_request.method = "POST";
    token_request.headers.set("Content-Type", "application/x-www-form-urlencoded");
    token_request.body = urlencode(form);
    HTTPResponse response = co_await get_auth_http_client().fetch(std::move(token_request));
    co_return json_decode(response.body);
}

OAuthToken GoogleOAuth2Mixin::google_oauth() const {
    setting_missing("google_oauth", "Google OAuth2");
}

// --- FacebookGraphMixin ---------------------------------------------------------------------

Task<JSON> FacebookGraphMixin::get_authenticated_user(std::string redirect_uri,
                                                      std::string client_id,
                                                      std::string client_secret, std::string code,
                                                      std::vector<std::string> extra_fields) {
    std::set<std::string> fields = facebook_fields(extra_fields);
    std::string url = request_token_url(redirect_uri, client_id, client_secret, code);
    HTTPResponse response = co_await get_auth_http_client().fetch(std::move(url));
    JSON args = json_decode(response.body);
    JSON expires_in = args.is_object() && args.contains("expires_in") ? args["expires_in"] : JSON();
    if (!args.is_object() || !args.contains("access_token") || args["access_token"].is_null()) {
        // Tornado asserts; an assert is not for what another site sends.
        throw AuthError("Facebook sent no access_token");
    }
    std::string access_token = args["access_token"].get<std::string>();
    AuthArguments me_args = facebook_me_arguments(client_secret, access_token, fields);
    std::string me = "/me";
    std::optional<std::string> token = access_token;
    std::optional<AuthArguments> no_post;
    JSON user = co_await facebook_request(std::move(me), std::move(token), std::move(no_post),
                                          std::move(me_args));
    if (user.is_null()) co_return JSON();
    co_return facebook_user(user, fields, access_token, expires_in);
}

Task<JSON> FacebookGraphMixin::facebook_request(std::string path,
                                                std::optional<std::string> access_token,
                                                std::optional<AuthArguments> post_args,
                                                AuthArguments args) {
    std::string url = facebook_base_url() + path;
    JSON answer = co_await oauth2_request(std::move(url), std::move(access_token),
                                          std::move(post_args), std::move(args));
    co_return answer;
}

std::string FacebookGraphMixin::facebook_api_key() const {
    setting_missing("facebook_api_key", "Facebook Graph API");
}

std::string FacebookGraphMixin::facebook_secret() const {
    setting_missing("facebook_secret", "Facebook Graph API");
}

}  // namespace tornado
