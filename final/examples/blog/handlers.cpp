// handlers.cpp: see handlers.h. The names are blog.py's: BaseHandler,
// HomeHandler, ..., EntryModule.
#include "handlers.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>

#include "database.h"
#include "markdown.h"
#include "password.h"
#include "text.h"
#include "tornado/gen.h"

namespace blog {
namespace {

namespace postgres = tornado::postgres;
using tornado::HTTPError;
using tornado::JSON;
using tornado::PathArgs;
using tornado::Task;

constexpr std::string_view kBlogTitle = "Tornado Blog";
// The signed cookie that holds the signed-in author's id.
constexpr std::string_view kUserCookie = "blogdemo_user";
// The columns' sizes in the schema (database.cpp), in characters.
constexpr std::size_t kMaxEmail = 100;
constexpr std::size_t kMaxName = 100;
constexpr std::size_t kMaxTitle = 512;
constexpr std::size_t kMaxSlug = 100;

// A post's dates are now, in UTC. The columns are TIMESTAMP without a time
// zone, as in blog.py's schema; blog.py stores the server's local time
// there, and its feed calls it UTC. An edit sets `updated` too: blog.py
// leaves it, and the feed's readers never hear of the change.
constexpr const char* kInsertEntry =
    "INSERT INTO entries (author_id, title, slug, markdown, html, published, updated) "
    "VALUES ($1, $2, $3, $4, $5, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')";
constexpr const char* kUpdateEntry =
    "UPDATE entries SET title = $1, markdown = $2, html = $3, "
    "updated = now() AT TIME ZONE 'UTC' WHERE id = $4";

// A request the blog refuses, with a sentence for the person who sent it.
// (An HTTPError's log_message is for the log, never for the client.)
class Refusal : public HTTPError {
public:
    Refusal(int status_code, std::string explanation)
        : HTTPError(status_code), explanation_(std::move(explanation)) {}
    const std::string& explanation() const noexcept { return explanation_; }

private:
    std::string explanation_;
};

// The database could not answer: a 503, logged as one line (no stack), the
// way a service says "not now" rather than "I am broken".
[[noreturn]] void throw_unavailable(const postgres::Error& error) {
    throw HTTPError(503, std::string("the database: ") + error.what());
}

// An id of the tables (SERIAL: from 1 up) written in decimal, or nothing.
std::optional<std::int64_t> parse_id(std::string_view text) {
    std::int64_t id = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (error != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
    return id;
}

// A post's id from the query or the form, or a 400.
std::int64_t entry_id(std::string_view text) {
    std::optional<std::int64_t> id = parse_id(text);
    if (!id) throw Refusal(400, "A post's id is a number, such as /compose?id=1.");
    return *id;
}

// A field of a form that must not be empty nor longer than its column.
void check_length(std::string_view field, const std::string& value, std::size_t max_characters) {
    if (value.empty()) throw Refusal(400, "The " + std::string(field) + " cannot be empty.");
    if (count_characters(value) > max_characters) {
        throw Refusal(400, "The " + std::string(field) + " can have at most " +
                               std::to_string(max_characters) + " characters.");
    }
}

// The sentence an error page says, for the status and what caused it.
std::string explanation_of(int status_code, const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const Refusal& refusal) {
        return refusal.explanation();
    } catch (const tornado::MissingArgumentError& missing) {
        return "The form has no field \"" + missing.arg_name() + "\".";
    } catch (...) {}
    switch (status_code) {
        case 403:
            return "Only the author may do this: sign in first. Or the form's XSRF token was "
                   "missing or out of date: load the form again and send it again.";
        case 404: return "There is no such page on this blog.";
        case 405: return "This page does not answer that method.";
        case 503: return "The database cannot be reached just now. Try again in a few seconds.";
        default:
            return status_code < 500 ? "The request was refused."
                                     : "Something went wrong on our side; it has been logged.";
    }
}

struct Author {
    std::int64_t id = 0;
    std::string name;
};

// What every page of the blog shares (blog.py's BaseHandler): the pool,
// the signed-in author, the open-redirect check, the error page.
class BaseHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<postgres::Pool> db) { db_ = std::move(db); }

    // Tornado's prepare() may be a coroutine, and blog.py's is: it reads
    // the author from the database. Ours is synchronous (tornado/web.h),
    // so GET and POST run one coroutine that awaits prepare_async() and
    // then the method's own (get_async, post_async), as Tornado does.
    void get(const PathArgs& args) override {
        run_coroutine(prepare_then(&RequestHandler::get_async, args));
    }
    void post(const PathArgs& args) override {
        run_coroutine(prepare_then(&RequestHandler::post_async, args));
    }

    // Every template sees blog_title (blog.py's handler.settings["blog_title"]:
    // our settings hold only the framework's own).
    tornado::TemplateNamespace get_template_namespace() override {
        tornado::TemplateNamespace names = RequestHandler::get_template_namespace();
        names.set("blog_title", kBlogTitle);
        return names;
    }

    // The blog's own error page (templates/error.html), with a sentence
    // that says what happened; the framework's plain one if that fails.
    void write_error(int status_code, std::exception_ptr error) override {
        if (status_code == 503) set_header("Retry-After", "5");
        try {
            render("error.html", {{"status_code", status_code},
                                  {"explanation", explanation_of(status_code, error)}});
        } catch (const std::exception&) {
            if (!finished()) RequestHandler::write_error(status_code, error);
        }
    }

protected:
    postgres::Pool& db() const { return *db_; }
    // The signed-in author (set by prepare_async), or nothing.
    const std::optional<Author>& author() const { return author_; }

    Task<bool> any_author_exists() {
        postgres::Result rows = co_await db().query("SELECT 1 FROM authors LIMIT 1");
        co_return !rows.empty();
    }

    void sign_in(std::int64_t author_id) {
        set_secure_cookie(kUserCookie, std::to_string(author_id));
    }

    // Redirects to the `next` argument (default "/"), if it is a path of
    // this site. Anything else would make the blog an open redirect
    // (CWE-601): a link to /auth/login?next=//evil.example would send a
    // signed-in author there. blog.py's test, and "/\": browsers read a
    // backslash there as a second slash.
    void redirect_to_next() {
        std::string next = get_argument("next", "/");
        if (next.starts_with("//") || next.starts_with("/\\") || !next.starts_with("/")) {
            throw Refusal(400, "\"next\" must be a path on this site, such as /compose.");
        }
        redirect(next);
    }

private:
    using Method = Task<void> (RequestHandler::*)(PathArgs);

    // prepare_async(), then the method, unless prepare answered already.
    // Also where the pool's errors become answers: the database is down
    // or too slow (ConnectionError, PoolError, QueryTimeout: 503), or it
    // refused a value (DataError: 400) or a duplicate (IntegrityError: 409).
    Task<void> prepare_then(Method method, PathArgs args) {
        try {
            co_await prepare_async();
            if (!finished()) co_await (this->*method)(std::move(args));
        } catch (const postgres::ConnectionError& error) {
            throw_unavailable(error);
        } catch (const postgres::PoolError& error) {
            throw_unavailable(error);
        } catch (const postgres::QueryTimeout& error) {
            throw_unavailable(error);
        } catch (const postgres::DataError&) {
            throw Refusal(400, "The database refused a value of the form.");
        } catch (const postgres::IntegrityError&) {
            throw Refusal(409, "Someone else saved the same thing at the same moment: try again.");
        }
    }

    // blog.py's prepare(): the author whose id the signed cookie holds.
    // Its get_current_user() cannot query (it is not a coroutine), so it
    // sets current_user here; so do we, with the author's name.
    Task<void> prepare_async() {
        std::optional<std::string> cookie = get_secure_cookie(kUserCookie);
        std::optional<std::int64_t> id = cookie ? parse_id(*cookie) : std::nullopt;
        if (!id) co_return;
        postgres::Result rows =
            co_await db().query("SELECT id, name FROM authors WHERE id = $1", *id);
        // No such author (the tables were made anew): nobody is signed in
        // (blog.py answers 500 there).
        if (rows.empty()) co_return;
        author_ = Author{rows[0].get<std::int64_t>("id"), rows[0].get<std::string>("name")};
        set_current_user(author_->name);
    }

    std::shared_ptr<postgres::Pool> db_;
    std::optional<Author> author_;
};

class HomeHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        postgres::Result rows =
            co_await db().query(kSelectEntries + "ORDER BY published DESC LIMIT 5");
        if (rows.empty()) {
            redirect("/compose");
            co_return;
        }
        render("home.html", {{"entries", entries_json(rows)}});
    }
};

class EntryHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs args) override {
        postgres::Result rows = co_await db().query(kSelectEntries + "WHERE slug = $1", args[0]);
        if (rows.empty()) throw HTTPError(404);
        render("entry.html", {{"entry", entry_json(rows[0])}});
    }
};

class ArchiveHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        postgres::Result rows = co_await db().query(kSelectEntries + "ORDER BY published DESC");
        render("archive.html", {{"entries", entries_json(rows)}});
    }
};

class FeedHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        postgres::Result rows =
            co_await db().query(kSelectEntries + "ORDER BY published DESC LIMIT 10");
        JSON entries = entries_json(rows);
        // The feed's <updated>: blog.py's template computes it, with
        // max(e.updated for e in entries); ours has no generator
        // expressions, so it comes in ready.
        auto now = std::chrono::system_clock::now().time_since_epoch();
        double newest = entries.empty() ? std::chrono::duration<double>(now).count() : 0;
        for (const JSON& entry : entries) {
            newest = std::max(newest, entry.at("updated").get<double>());
        }
        set_header("Content-Type", "application/atom+xml");
        render("feed.xml", {{"entries", entries}, {"updated", atom_date(newest)}});
    }
};

class ComposeHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        require_authenticated();
        JSON entry = nullptr;
        std::string id = get_argument("id", "");
        if (!id.empty()) {
            postgres::Result rows =
                co_await db().query(kSelectEntries + "WHERE id = $1", entry_id(id));
            if (rows.empty()) throw HTTPError(404);
            entry = entry_json(rows[0]);
        }
        render("compose.html", {{"entry", entry}});
    }

    Task<void> post_async(PathArgs) override {
        require_authenticated();
        std::string id = get_argument("id", "");
        std::string title = xml_safe(get_argument("title"));
        std::string text = xml_safe(get_argument("markdown"));
        check_length("title", title, kMaxTitle);
        std::string html = xml_safe(markdown_to_html(text));
        std::string slug;
        if (!id.empty()) {
            std::int64_t post_id = entry_id(id);
            postgres::Result rows =
                co_await db().query("SELECT slug FROM entries WHERE id = $1", post_id);
            if (rows.empty()) throw HTTPError(404);
            slug = rows[0].get<std::string>("slug");
            co_await db().execute(kUpdateEntry, title, text, html, post_id);
        } else {
            slug = slug_of(title);
            while (co_await slug_taken(slug)) slug += "-2";
            if (slug.size() > kMaxSlug) {
                throw Refusal(409, "Too many posts have this title already: change it a little.");
            }
            co_await db().execute(kInsertEntry, author()->id, title, slug, text, html);
        }
        redirect("/entry/" + slug);
    }

private:
    Task<bool> slug_taken(std::string slug) {
        postgres::Result rows = co_await db().query("SELECT 1 FROM entries WHERE slug = $1", slug);
        co_return !rows.empty();
    }
};

class AuthCreateHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        render("create_author.html", {{"next", get_argument("next", "/")}});
        co_return;
    }

    Task<void> post_async(PathArgs) override {
        bool exists = co_await any_author_exists();
        if (exists) throw Refusal(400, "This blog has its author already: sign in instead.");
        std::string email = get_argument("email");
        std::string name = get_argument("name");
        // Not stripped, unlike the other fields: a password's spaces are part of it.
        std::string password = get_argument("password", /*strip=*/false);
        check_length("email", email, kMaxEmail);
        check_length("name", name, kMaxName);
        if (password.empty() || password.size() > kMaxPasswordBytes) {
            throw Refusal(400, "A password has 1 to 72 bytes (bcrypt reads no further).");
        }
        // A quarter of a second of CPU, on an executor thread: meanwhile
        // the loop serves every other request (blog.py: run_in_executor).
        auto hash = [password] { return hash_password(password); };
        std::string hashed = co_await tornado::run_in_executor(hash);
        // Inserted only if there is still no author: two forms sent at once
        // both passed the test above while their passwords were hashed.
        postgres::Result rows = co_await db().query(
            "INSERT INTO authors (email, name, hashed_password) SELECT $1, $2, $3 "
            "WHERE NOT EXISTS (SELECT 1 FROM authors) RETURNING id",
            email, name, hashed);
        if (rows.empty()) throw Refusal(400, "This blog has its author already: sign in instead.");
        sign_in(rows[0].get<std::int64_t>("id"));
        redirect_to_next();
    }
};

class AuthLoginHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        bool exists = co_await any_author_exists();
        if (!exists) {
            redirect("/auth/create");  // the first visitor makes the author
            co_return;
        }
        render_form(nullptr);
    }

    Task<void> post_async(PathArgs) override {
        std::string email = get_argument("email");
        std::string password = get_argument("password", /*strip=*/false);
        postgres::Result rows =
            co_await db().query("SELECT id, hashed_password FROM authors WHERE email = $1", email);
        if (rows.empty()) {
            render_form("email not found");
            co_return;
        }
        std::string hashed = rows[0].get<std::string>("hashed_password");
        // NOLINTNEXTLINE(cppcoreguidelines-avoid-reference-coroutine-parameters): as above
        auto check = [password, hashed] { return check_password(password, hashed); };
        bool password_equal = co_await tornado::run_in_executor(check);
        if (!password_equal) {
            render_form("incorrect password");
            co_return;
        }
        sign_in(rows[0].get<std::int64_t>("id"));
        redirect_to_next();
    }

private:
    void render_form(JSON error) {
        render("login.html", {{"error", std::move(error)}, {"next", get_argument("next", "/")}});
    }
};

class AuthLogoutHandler : public BaseHandler {
public:
    Task<void> get_async(PathArgs) override {
        clear_cookie(kUserCookie);
        redirect_to_next();
        co_return;
    }
};

// {% module Entry(entry) %}: one post, as the home page and the post's own
// page show it (templates/modules/entry.html).
class EntryModule : public tornado::UIModule {
public:
    using UIModule::UIModule;
    std::string render(const tornado::TemplateArguments& arguments) override {
        return render_string("modules/entry.html",
                             {{"entry", arguments.positional.at(0).to_json()}});
    }
};

}  // namespace

std::vector<tornado::URLSpec> routes(std::shared_ptr<postgres::Pool> db) {
    return {
        {"/", tornado::handler<HomeHandler>(db)},
        {"/archive", tornado::handler<ArchiveHandler>(db)},
        {"/feed", tornado::handler<FeedHandler>(db)},
        {"/entry/([^/]+)", tornado::handler<EntryHandler>(db)},
        {"/compose", tornado::handler<ComposeHandler>(db)},
        {"/auth/create", tornado::handler<AuthCreateHandler>(db)},
        {"/auth/login", tornado::handler<AuthLoginHandler>(db)},
        {"/auth/logout", tornado::handler<AuthLogoutHandler>(db)},
    };
}

tornado::ApplicationSettings settings(std::string cookie_secret) {
    tornado::ApplicationSettings made;
    made.template_path = BLOG_TEMPLATE_DIR;
    made.static_path = BLOG_STATIC_DIR;
    made.ui_modules["Entry"] = tornado::ui_module<EntryModule>();
    made.xsrf_cookies = true;
    made.cookie_secret = std::move(cookie_secret);
    made.login_url = "/auth/login";
    return made;
}

}  // namespace blog
