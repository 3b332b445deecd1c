// Tests of RequestHandler::render() and its namespace, UIModules and the
// template settings (tornado/web.h). The pages of
// template_oracle/render/templates/ are checked against what Python
// Tornado 6.2 answers for them (template_oracle/render_expected.json,
// written by render_oracle.py).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "test_util.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado {
namespace {

const std::string kRenderRoot = TEMPLATE_ORACLE_DIR "/render";

// The module the oracle's pages use, as render_oracle.py's Entry.
class Entry : public UIModule {
public:
    using UIModule::UIModule;
    std::string render(const TemplateArguments& arguments) override {
        return render_string("entry.html", {{"entry", arguments.positional.at(0).to_json()}});
    }
    std::vector<std::string> css_files() override { return {"entry.css"}; }
    std::string embedded_javascript() override { return "var e = 1;"; }
    std::string html_body() override { return "<!-- entry -->"; }
};

TemplateValue shout(RequestHandler& handler, const TemplateArguments& arguments) {
    std::string text(arguments.positional.at(0).as_string());
    for (char& c : text) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return text + " at " + handler.request().path;
}

class PageHandler : public RequestHandler {
public:
    std::optional<std::string> get_current_user() override { return "ann"; }
    void get(const PathArgs&) override {
        render("page.html", {{"greeting", "Hello <you>"}, {"entry", {{"title", "A & B"}}}});
    }
};

class StringHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write(render_string("plain.html", {{"title", "<t>"}})); }
};

class TemplateHandler : public RequestHandler {
public:
    void initialize(std::string name) { name_ = std::move(name); }
    void get(const PathArgs&) override { render(name_, {{"title", "<t>"}}); }

private:
    std::string name_;
};

ApplicationSettings oracle_settings() {
    ApplicationSettings settings;
    settings.template_path = kRenderRoot + "/templates";
    settings.static_path = kRenderRoot + "/static";
    settings.ui_modules["Entry"] = ui_module<Entry>();
    settings.ui_methods["shout"] = shout;
    return settings;
}

// The request render_oracle.py made for `path`.
HTTPRequest oracle_request(const std::string& path) {
    HTTPRequest request;
    if (path.starts_with("/page")) request.headers.set("X-Test", "t&t");
    return request;
}

const JSON& oracle_answers() {
    static const JSON answers =
        JSON::parse(testing::read_file(TEMPLATE_ORACLE_DIR "/render_expected.json"));
    return answers;
}

class RenderTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(
            std::vector<URLSpec>{
                {"/page", handler<PageHandler>()},
                {"/story/([0-9]+)", handler<StringHandler>(), "story"},
                {"/string", handler<StringHandler>()},
                {"/needs-arg", handler<TemplateHandler>("needs_arg.html")},
                {"/no-body", handler<TemplateHandler>("no_body.html")},
                {"/error", handler<TemplateHandler>("error.html")},
                {"/locale", handler<TemplateHandler>("locale.html")},
            },
            oracle_settings());
    }
};

TEST_F(RenderTest, EveryPageIsWhatTornadoAnswers) {
    for (const auto& [path, expected] : oracle_answers().items()) {
        if (path == "/no-autoescape") continue;  // UnescapedRenderTest's
        HTTPResponse response = fetch(path, oracle_request(path));
        EXPECT_EQ(response.code, expected["code"].get<int>()) << path;
        EXPECT_EQ(response.body, expected["body"].get<std::string>()) << path;
    }
}

class UnescapedRenderTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.template_path = kRenderRoot + "/templates";
        settings.autoescape = "";
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/no-autoescape", handler<TemplateHandler>("plain.html")}},
            settings);
    }
};

TEST_F(UnescapedRenderTest, TheAutoescapeSettingTurnsEscapingOff) {
    HTTPResponse response = fetch("/no-autoescape");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, oracle_answers()["/no-autoescape"]["body"].get<std::string>());
}

// --- a template folder the test writes, for reloading -----------------------------

class TemplateFolder {
public:
    TemplateFolder()
        : path_(std::filesystem::temp_directory_path() /
                ("web_template_test_" + std::to_string(::getpid()))) {
        std::filesystem::create_directories(path_);
    }
    ~TemplateFolder() { std::filesystem::remove_all(path_); }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary | std::ios::trunc) << text;
    }
    std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

class ReloadTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        folder_.write("page.html", "first");
        ApplicationSettings settings;
        settings.template_path = folder_.path();
        settings.debug = debug_;
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/", handler<TemplateHandler>("page.html")}}, settings);
    }
    bool debug_ = false;
    TemplateFolder folder_;
};

TEST_F(ReloadTest, ATemplateIsParsedOnceAndKept) {
    EXPECT_EQ(fetch("/").body, "first");
    folder_.write("page.html", "second");
    EXPECT_EQ(fetch("/").body, "first");
}

class DebugReloadTest : public ReloadTest {
protected:
    void SetUp() override {
        debug_ = true;  // compiled_template_cache follows it: off
        ReloadTest::SetUp();
    }
};

TEST_F(DebugReloadTest, InDebugEveryRequestReadsTheFileAgain) {
    EXPECT_EQ(fetch("/").body, "first");
    folder_.write("page.html", "second");
    EXPECT_EQ(fetch("/").body, "second");
}

// --- the namespace, errors, and what a subclass may change ------------------------

class NamespaceHandler : public RequestHandler {
public:
    TemplateNamespace get_template_namespace() override {
        TemplateNamespace names = RequestHandler::get_template_namespace();
        names.set("site", "Example");
        return names;
    }
    void get(const PathArgs&) override {
        std::string kind = get_argument("kind", "");
        if (kind == "twice") {
            render("page.html", {{"who", "x"}});
            render("page.html",
                   {{"who", "x"}});  // after finish(): an error, logged, the page already sent
        } else {
            render("page.html", {{"who", "<b>"}});
        }
    }
};

// What making the namespace costs: Tornado reads current_user as it
// builds the namespace, so get_current_user() runs (once per request)
// though the page never shows the user; the names themselves are made
// only when a page reads them, so that the namespace is one block.
class LazyNamespaceHandler : public RequestHandler {
public:
    std::optional<std::string> get_current_user() override {
        ++user_reads_;
        return std::nullopt;
    }
    void get(const PathArgs&) override {
        get_template_namespace();  // the first reads the user, and keeps it
        std::int64_t before = testing::total_allocations();
        TemplateNamespace names = get_template_namespace();
        std::int64_t blocks = testing::total_allocations() - before;
        render("plain.html", {{"blocks", blocks}, {"user_reads", user_reads_}});
    }

private:
    int user_reads_ = 0;
};

class NamespaceTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        folder_.write("page.html",
                      "{{ site }} {{ who }} {{ handler.get_argument('kind', 'none') }} "
                      "{{ request.headers.get('x-lower', '?') }} {% module xsrf_form_html() %}");
        folder_.write("broken.html", "line one\n{% if %}\n");
        folder_.write("w.html", "{{ set_resources(embedded_css='.n' + str(n)) }}");
        folder_.write("conflict.html",
                      "<head></head>{% module Template('w.html', n=1) %}{% module "
                      "Template('w.html', n=2) %}");
        folder_.write("same.html",
                      "<head></head>{% module Template('w.html', n=1) %}{% module "
                      "Template('w.html', n=1) %}");
        folder_.write("itself.html", "<p>{% module Template('itself.html') %}</p>");
        folder_.write("plain.html", "{{ blocks }} {{ user_reads }}");
        folder_.write("override.html", "{{ static_url('x.css') }}");
        ApplicationSettings settings;
        settings.template_path = folder_.path();
        // A ui_method named as one of the handler's names wins, as in
        // Tornado, where the ui_methods are added last.
        settings.ui_methods["static_url"] = [](RequestHandler&, const TemplateArguments&) {
            return TemplateValue("the ui_method's");
        };
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/", handler<NamespaceHandler>()},
                                 {"/broken", handler<TemplateHandler>("broken.html")},
                                 {"/missing", handler<TemplateHandler>("missing.html")},
                                 {"/conflict", handler<TemplateHandler>("conflict.html")},
                                 {"/same", handler<TemplateHandler>("same.html")},
                                 {"/itself", handler<TemplateHandler>("itself.html")},
                                 {"/lazy", handler<LazyNamespaceHandler>()},
                                 {"/override", handler<TemplateHandler>("override.html")}},
            settings);
    }
    TemplateFolder folder_;
};

TEST_F(NamespaceTest, ASubclassAddsNamesAndTheBuiltInModulesWork) {
    HTTPRequest request;
    request.headers.set("X-Lower", "header");
    HTTPResponse response = fetch("/", request);
    EXPECT_EQ(response.code, 200);
    // Header names are found whatever their case, as Tornado's HTTPHeaders.
    EXPECT_TRUE(response.body.starts_with(
        "Example &lt;b&gt; none header <input type=\"hidden\" name=\"_xsrf\" value=\""))
        << response.body;
}

TEST_F(NamespaceTest, TheNamespaceIsOneBlockAndStillReadsTheUser) {
    HTTPResponse response = fetch("/lazy");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "1 1");
}

TEST_F(NamespaceTest, AUIMethodWinsOverTheHandlersOwnName) {
    EXPECT_EQ(fetch("/override").body, "the ui_method&#39;s");
}

TEST_F(NamespaceTest, RenderingTwiceIsAnErrorAfterTheFirstPage) {
    HTTPResponse response = fetch("/?kind=twice");
    EXPECT_EQ(response.code, 200);
    EXPECT_TRUE(response.body.starts_with("Example x twice")) << response.body;
}

TEST_F(NamespaceTest, ABrokenOrMissingTemplateIsA500) {
    EXPECT_EQ(fetch("/broken").code, 500);
    EXPECT_EQ(fetch("/missing").code, 500);
}

TEST_F(NamespaceTest, ATemplateThatRendersItselfIsA500NotACrash) {
    EXPECT_EQ(fetch("/itself").code, 500);
}

TEST_F(NamespaceTest, OneTemplateAskingForDifferentResourcesIsA500) {
    // Python's ValueError from TemplateModule's set_resources.
    EXPECT_EQ(fetch("/conflict").code, 500);
    EXPECT_EQ(fetch("/same").code, 200);
}

// ---- the handler's locale (Tornado's self.locale) --------------------------------------

// Writes what a page sees of its locale; with ?user=CODE its
// get_user_locale() chooses instead of the browser.
class LocalePageHandler : public RequestHandler {
public:
    const Locale* get_user_locale() override {
        std::string code = get_argument("user", "");
        return code.empty() ? nullptr : &Locale::get(code);
    }
    void get(const PathArgs&) override {
        write(render_string("page.html"));
        write("|" + locale().translate("I love you"));
    }
};

class LocaleTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        // The CSV files locale_test.cpp reads: es_LA has "I love you",
        // "January" and the plural forms below.
        locale::load_translations(std::filesystem::path(LOCALE_DATA_DIR) / "csv");
        ApplicationSettings settings;
        settings.template_loader = std::make_shared<DictLoader>(std::map<std::string, std::string>{
            {"page.html",
             "{{ locale.code }} {{ locale.rtl }}: {{ _('I love you') }}; "
             "{{ _('%(name)s liked this', '%(name)s liked this', 2) % {'name': 'Ana'} }}; "
             "{{ locale.translate('January') }}; {{ locale.list(['a', 'b', 'c']) }}; "
             "{{ locale.friendly_number(1234567) }}"}});
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/", handler<LocalePageHandler>()}}, settings);
    }
    HTTPResponse fetch_with_language(const std::string& path, const std::string& accept_language) {
        HTTPRequest request;
        request.headers.set("Accept-Language", accept_language);
        return fetch(path, request);
    }
};

// Both pages are what Python Tornado 6.2 renders from the same template and
// es_LA.csv (checked by hand with tornado.locale and tornado.template).
TEST_F(LocaleTest, TheBrowsersLanguageTranslatesThePage) {
    EXPECT_EQ(fetch_with_language("/", "es-LA, en;q=0.5").body,
              "es_LA False: Te amo; A Ana les gustó esto; enero; a, b y c; 1234567|Te amo");
}

TEST_F(LocaleTest, WithoutAHeaderItIsTheDefaultLocale) {
    EXPECT_EQ(fetch("/").body,
              "en_US False: I love you; Ana liked this; January; a, b and c; 1,234,567|I love you");
}

TEST_F(LocaleTest, GetUserLocaleWinsOverTheHeader) {
    EXPECT_TRUE(fetch_with_language("/?user=es_LA", "en-US").body.starts_with("es_LA False: Te amo"));
}

}  // namespace
}  // namespace tornado
