// Tests of tornado/locale.h. Most expectations come from Python Tornado
// itself: locale_oracle.py writes the translations in locale_data/ and what
// tornado.locale answers for them (locale_cases.inc); each table's test
// below gives the twin the same files and the same questions. The rest
// checks what Tornado does not decide: errors, threads, lifetimes.
#include "tornado/locale.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tornado/log.h"

namespace tornado {
namespace {

using namespace std::string_view_literals;
using testing::printable;

struct NameCase {
    std::string_view code;
    std::string_view name;
    bool rtl;
};

struct NumberCase {
    std::string_view code;
    std::int64_t value;
    std::string_view expected;
};

struct PluralResult {
    std::int64_t n;
    std::int64_t form;
    bool divides_by_zero;
};

struct PluralCase {
    std::string_view expression;
    bool compiles;
    std::vector<PluralResult> results;
};

struct CsvTextCase {
    std::string_view text;
    std::vector<std::vector<std::string_view>> records;
};

struct TranslateCase {
    std::string_view code;
    std::string_view message;
    std::optional<std::string_view> plural;
    std::optional<std::int64_t> count;
    std::string_view expected;
};

struct PgettextCase {
    std::string_view code;
    std::string_view context;
    std::string_view message;
    std::optional<std::string_view> plural;
    std::optional<std::int64_t> count;
    std::string_view expected;
};

struct DateCase {
    std::string_view code;
    std::int64_t now;  // microseconds since 1970, UTC
    std::int64_t date;
    int gmt_offset;
    bool relative;
    bool shorter;
    bool full_format;
    std::string_view expected;
};

struct TimestampCase {
    std::int64_t now;
    double timestamp;
    bool relative;
    std::string_view expected;
};

struct DayCase {
    std::string_view code;
    std::int64_t date;
    int gmt_offset;
    bool dow;
    std::string_view expected;
};

struct ListCase {
    std::string_view code;
    std::vector<std::string_view> parts;
    std::string_view expected;
};

struct ClosestCase {
    std::vector<std::string_view> codes;
    std::string_view expected;
};

struct BrowserCase {
    std::optional<std::string_view> header;
    std::string_view default_code;
    std::string_view expected;
};

#include "locale_cases.inc"

// The test data sits beside this file (CMake may say where instead).
std::filesystem::path data_directory() {
#ifdef LOCALE_DATA_DIR
    return LOCALE_DATA_DIR;
#else
    return std::filesystem::path(__FILE__).parent_path() / "locale_data";
#endif
}

std::chrono::system_clock::time_point at(std::int64_t micros) {
    return std::chrono::system_clock::time_point(std::chrono::microseconds(micros));
}

// Keeps the log lines of a scope (loading and pgettext log some) out of the
// test output, and lets a test look at them.
class CapturedLog {
public:
    CapturedLog() {
        previous_ = set_log_handler([this](const LogRecord& record) {
            std::lock_guard lock(mutex_);
            lines_.emplace_back(record.message);
        });
    }
    ~CapturedLog() { set_log_handler(std::move(previous_)); }

    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    LogHandler previous_;
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

void load_csv() {
    CapturedLog quiet;
    locale::set_default_locale("en_US");
    locale::load_translations(data_directory() / "csv");
}

void load_gettext() {
    CapturedLog quiet;
    locale::set_default_locale("en_US");
    locale::load_gettext_translations(data_directory() / "gettext", "tornado_test");
}

// Tornado builds a Locale for any code when asked directly; get() only
// gives supported ones. The oracle did the same.
const Locale& supported_or_empty(std::string_view code, std::unique_ptr<CSVLocale>& holder) {
    std::vector<std::string> supported = locale::get_supported_locales();
    if (std::find(supported.begin(), supported.end(), code) != supported.end()) {
        return Locale::get(code);
    }
    holder = std::make_unique<CSVLocale>(std::string(code), nullptr);
    return *holder;
}

template <std::size_t N>
void expect_translations(const TranslateCase (&cases)[N]) {
    for (const TranslateCase& row : cases) {
        const Locale& locale = Locale::get(row.code);
        EXPECT_EQ(locale.translate(row.message, row.plural, row.count), row.expected)
            << row.code << " translate(\"" << printable(row.message) << "\", "
            << (row.plural ? printable(*row.plural) : "None") << ", "
            << (row.count ? std::to_string(*row.count) : "None") << ")";
    }
}

template <std::size_t N>
void expect_pgettext(const PgettextCase (&cases)[N]) {
    CapturedLog quiet;
    for (const PgettextCase& row : cases) {
        const Locale& locale = Locale::get(row.code);
        EXPECT_EQ(locale.pgettext(row.context, row.message, row.plural, row.count), row.expected)
            << row.code << " pgettext(\"" << row.context << "\", \"" << printable(row.message)
            << "\")";
    }
}

template <std::size_t N>
void expect_dates(const DateCase (&cases)[N]) {
    for (const DateCase& row : cases) {
        const Locale& locale = Locale::get(row.code);
        FormatDateOptions options{.gmt_offset = row.gmt_offset,
                                  .relative = row.relative,
                                  .shorter = row.shorter,
                                  .full_format = row.full_format,
                                  .now = at(row.now)};
        EXPECT_EQ(locale.format_date(at(row.date), options), row.expected)
            << row.code << " now=" << row.now << " date=" << row.date
            << " offset=" << row.gmt_offset << " relative=" << row.relative
            << " shorter=" << row.shorter << " full_format=" << row.full_format;
    }
}

template <std::size_t N>
void expect_lists(const ListCase (&cases)[N]) {
    for (const ListCase& row : cases) {
        std::unique_ptr<CSVLocale> holder;
        const Locale& locale = supported_or_empty(row.code, holder);
        EXPECT_EQ(locale.list(row.parts), row.expected) << row.code;
    }
}

template <std::size_t N>
void expect_closest(const ClosestCase (&cases)[N]) {
    for (const ClosestCase& row : cases) {
        std::string codes;
        for (std::string_view code : row.codes) codes += "\"" + printable(code) + "\" ";
        EXPECT_EQ(Locale::get_closest(row.codes).code, row.expected) << codes;
        EXPECT_EQ(locale::get(row.codes).code, row.expected) << codes;
    }
}

std::vector<std::string> supported_as_strings(const std::vector<std::string_view>& codes) {
    return {codes.begin(), codes.end()};
}

// ---- the tables of Python Tornado's answers --------------------------------------------------

TEST(LocaleNames, MatchTornadosTable) {
    for (const NameCase& row : kNames) {
        CSVLocale locale{std::string(row.code), nullptr};
        EXPECT_EQ(locale.code, row.code);
        EXPECT_EQ(locale.name, row.name) << row.code;
        EXPECT_EQ(locale.rtl, row.rtl) << row.code;
    }
}

TEST(LocaleFriendlyNumber, MatchesTornado) {
    for (const NumberCase& row : kFriendlyNumbers) {
        CSVLocale locale{std::string(row.code), nullptr};
        EXPECT_EQ(locale.friendly_number(row.value), row.expected) << row.code << " " << row.value;
    }
}

TEST(LocalePluralForms, CompileAndChooseAsPythonGettext) {
    for (const PluralCase& row : kPluralForms) {
        if (!row.compiles) {
            EXPECT_THROW(locale::detail::PluralForms{row.expression}, std::invalid_argument)
                << printable(row.expression);
            continue;
        }
        locale::detail::PluralForms forms{row.expression};
        for (const PluralResult& result : row.results) {
            if (result.divides_by_zero) {
                EXPECT_THROW(forms(result.n), std::domain_error) << row.expression;
            } else {
                EXPECT_EQ(forms(result.n), result.form)
                    << printable(row.expression) << " with n = " << result.n;
            }
        }
    }
}

TEST(LocaleCsvReader, ReadsAsPythonsCsvModule) {
    for (const CsvTextCase& row : kCsvTexts) {
        std::vector<locale::detail::CSVRecord> records = locale::detail::read_csv(row.text);
        std::vector<std::vector<std::string_view>> fields;
        for (const auto& record : records)
            fields.emplace_back(record.fields.begin(), record.fields.end());
        EXPECT_EQ(fields, row.records) << "text: \"" << printable(row.text) << "\"";
    }
}

TEST(LocaleCsv, SupportedLocales) {
    load_csv();
    EXPECT_EQ(locale::get_supported_locales(), supported_as_strings(kCsvSupported));
}

TEST(LocaleCsv, TranslateMatchesTornado) {
    load_csv();
    expect_translations(kCsvTranslate);
    EXPECT_NE(dynamic_cast<const CSVLocale*>(&Locale::get("es_LA")), nullptr);
}

TEST(LocaleCsv, PgettextWarnsAndTranslatesTheMessageAlone) {
    load_csv();
    expect_pgettext(kCsvPgettext);
    CapturedLog log;
    Locale::get("es_LA").pgettext("law", "right");
    Locale::get("en_US").pgettext("law", "right");  // no translations: no warning
    EXPECT_EQ(log.lines(), std::vector<std::string>{"pgettext is not supported by CSVLocale"});
}

TEST(LocaleCsv, FormatDateMatchesTornado) {
    load_csv();
    expect_dates(kCsvDates);
}

TEST(LocaleCsv, FormatDateOfATimestampRoundsAsPython) {
    load_csv();
    const Locale& english = Locale::get("en_US");
    for (const TimestampCase& row : kTimestamps) {
        EXPECT_EQ(
            english.format_date(row.timestamp, {.relative = row.relative, .now = at(row.now)}),
            row.expected)
            << std::to_string(row.timestamp) << " relative=" << row.relative;
    }
}

TEST(LocaleCsv, FormatDayMatchesTornado) {
    load_csv();
    for (const DayCase& row : kCsvDays) {
        EXPECT_EQ(Locale::get(row.code).format_day(at(row.date), row.gmt_offset, row.dow),
                  row.expected)
            << row.code << " " << row.date << " " << row.gmt_offset << " " << row.dow;
    }
}

TEST(LocaleCsv, ListMatchesTornado) {
    load_csv();
    expect_lists(kCsvLists);
}

TEST(LocaleCsv, GetClosestMatchesTornado) {
    load_csv();
    expect_closest(kCsvClosest);
}

TEST(LocaleCsv, BrowserLocaleMatchesTornado) {
    load_csv();
    for (const BrowserCase& row : kCsvBrowser) {
        EXPECT_EQ(locale::get_browser_locale(row.header, row.default_code).code, row.expected)
            << "Accept-Language: " << (row.header ? printable(*row.header) : "(none)")
            << " default " << row.default_code;
    }
}

TEST(LocaleGettext, SupportedLocalesSkipC) {
    CapturedLog log;
    locale::set_default_locale("en_US");
    locale::load_gettext_translations(data_directory() / "gettext", "tornado_test");
    EXPECT_EQ(locale::get_supported_locales(), supported_as_strings(kGettextSupported));
    std::vector<std::string> lines = log.lines();
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines[0].find("Cannot load translation for 'C'"), std::string::npos) << lines[0];
}

TEST(LocaleGettext, TranslateMatchesTornado) {
    load_gettext();
    expect_translations(kGettextTranslate);
    auto* spanish = dynamic_cast<const GettextLocale*>(&Locale::get("es_LA"));
    ASSERT_NE(spanish, nullptr);
    EXPECT_EQ(spanish->gettext("I love you"), "Te amo");
    EXPECT_EQ(spanish->ngettext("%(name)s liked this", "%(name)s liked these", 2),
              "A %(name)s les gustaron estos");
    // The header is the translation of "", as in Python.
    EXPECT_NE(spanish->gettext("").find("Plural-Forms: nplurals=2"), std::string::npos);
}

TEST(LocaleGettext, PgettextMatchesTornado) {
    load_gettext();
    expect_pgettext(kGettextPgettext);
}

TEST(LocaleGettext, FormatDateMatchesTornado) {
    load_gettext();
    expect_dates(kGettextDates);
}

TEST(LocaleGettext, ListMatchesTornado) {
    load_gettext();
    expect_lists(kGettextLists);
}

TEST(LocaleGettext, GetClosestMatchesTornado) {
    load_gettext();
    expect_closest(kGettextClosest);
}

// ---- what the tables do not cover -----------------------------------------------------------

TEST(LocaleApi, NamesAndShapes) {
    load_csv();
    const Locale& spanish = locale::get("es-la");
    EXPECT_EQ(spanish.code, "es_LA");
    EXPECT_EQ(&spanish, &Locale::get("es_LA"));  // one Locale per code
    std::vector<std::string> people = {"Ana", "Luis", "Eva"};
    EXPECT_EQ(spanish.list(people), "Ana, Luis y Eva");
    EXPECT_EQ(spanish.list({"Ana", "Luis"}), "Ana y Luis");
    EXPECT_EQ(locale::format_message(
                  spanish.translate("%(name)s liked this", "%(name)s liked this", people.size()),
                  {{"name", spanish.list(people)}}),
              "A Ana, Luis y Eva les gust\u00f3 esto");
    std::vector<std::string_view> codes = {"xx", "fr-FR"};
    EXPECT_EQ(locale::get(codes).code, "fr_FR");
    EXPECT_EQ(locale::CONTEXT_SEPARATOR, "\x04");
}

TEST(LocaleApi, PluralWithoutCountThrows) {
    load_csv();
    EXPECT_THROW(Locale::get("es_LA").translate("one", "many"), std::invalid_argument);
    EXPECT_THROW(Locale::get("es_LA").pgettext("c", "one", "many"), std::invalid_argument);
}

TEST(LocaleApi, GetOfAnUnsupportedCodeThrows) {
    load_csv();
    EXPECT_THROW(Locale::get("xx_YY"), std::invalid_argument);
    EXPECT_EQ(Locale::get_closest({"xx_YY"}).code, "en_US");
}

TEST(LocaleApi, SetDefaultLocale) {
    load_csv();
    locale::set_default_locale("es_LA");
    EXPECT_EQ(locale::get({"xx"}).code, "es_LA");
    locale::set_default_locale("it_IT");  // without translations: supported all the same
    EXPECT_EQ(locale::get({"xx"}).code, "it_IT");
    EXPECT_EQ(locale::get({"xx"}).translate("I love you"), "I love you");
    std::vector<std::string> supported = locale::get_supported_locales();
    EXPECT_NE(std::find(supported.begin(), supported.end(), "it_IT"), supported.end());
    locale::set_default_locale("en_US");
}

TEST(LocaleApi, FormatMessageErrors) {
    EXPECT_EQ(locale::format_message("%(a)s and %(b)d, 100%%", {{"a", "x"}, {"b", 2}}),
              "x and 2, 100%");
    EXPECT_THROW(locale::format_message("%(missing)s", {{"a", "x"}}), std::invalid_argument);
    EXPECT_THROW(locale::format_message("%(a)d", {{"a", "x"}}), std::invalid_argument);
}

TEST(LocaleApi, FormatDateOutOfRange) {
    load_csv();
    const Locale& english = Locale::get("en_US");
    FormatDateOptions options{.now = at(1'678'890'645'250'000)};
    EXPECT_THROW(english.format_date(1e300, options), std::out_of_range);
    EXPECT_THROW(english.format_date(-1e20, options), std::out_of_range);
    EXPECT_THROW(english.format_date(std::numeric_limits<double>::quiet_NaN(), options),
                 std::invalid_argument);
    EXPECT_THROW(english.format_date(std::numeric_limits<double>::infinity(), options),
                 std::out_of_range);
    // A year-9999 moment seen from east of UTC runs past datetime.max.
    options.gmt_offset = -60;
    EXPECT_THROW(english.format_date(253402300799.0, options), std::out_of_range);
    // Without `now`, the clock: a moment ago.
    EXPECT_EQ(english.format_date(std::chrono::system_clock::now()), "0 seconds ago");
}

TEST(LocaleApi, BrowserLocaleOfAHugeHeader) {
    load_csv();
    std::string header;
    for (int i = 0; i < 100'000; ++i) header += "xx;q=0.5,";
    header += "de-DE;q=0.6";
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(locale::get_browser_locale(header).code, "de_DE");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    std::string garbage;
    for (int i = 0; i < 256; ++i) garbage += static_cast<char>(i);
    EXPECT_EQ(locale::get_browser_locale(garbage, "es_LA").code, "en_US");
}

// ---- loading errors ---------------------------------------------------------------------------

class TemporaryDirectory {
public:
    TemporaryDirectory() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("locale_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::filesystem::path& path() const { return path_; }

    void write(const std::filesystem::path& name, std::string_view bytes) const {
        std::filesystem::create_directories((path_ / name).parent_path());
        std::ofstream out(path_ / name, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }

private:
    std::filesystem::path path_;
};

std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Loads `directory` expecting a TranslationError that names `file` and
// `line` (0: any) and says `words`; then checks that the translations loaded
// before are still in force.
void expect_csv_error(const TemporaryDirectory& directory, std::string_view file, std::size_t line,
                      std::string_view words) {
    load_csv();
    try {
        CapturedLog quiet;
        locale::load_translations(directory.path());
        ADD_FAILURE() << "no TranslationError for " << file;
    } catch (const TranslationError& error) {
        EXPECT_EQ(error.file(), (directory.path() / file).string());
        if (line != 0) {
            EXPECT_EQ(error.line(), line) << error.what();
        }
        EXPECT_NE(std::string_view(error.what()).find(words), std::string_view::npos)
            << error.what();
    }
    EXPECT_EQ(Locale::get("es_LA").translate("I love you"), "Te amo");
}

TEST(LocaleLoadErrors, UnknownPluralIndicatorNamesTheLine) {
    TemporaryDirectory directory;
    directory.write("es_LA.csv", "\"a\",\"b\"\n\"c\",\"d\",\"plurl\"\n");
    expect_csv_error(directory, "es_LA.csv", 2, "'plurl'");
}

TEST(LocaleLoadErrors, InvalidUtf8NamesTheLine) {
    TemporaryDirectory directory;
    directory.write("es_LA.csv", "\"a\",\"b\"\n\"c\",\"\xff\"\n");
    expect_csv_error(directory, "es_LA.csv", 2, "not UTF-8");
}

TEST(LocaleLoadErrors, BrokenUtf16) {
    TemporaryDirectory odd, lone;
    odd.write("de_DE.csv",
              "\xFF\xFE"
              "a\0,\0b\0\n"sv);  // an odd number of bytes
    expect_csv_error(odd, "de_DE.csv", 0, "odd number of bytes");
    lone.write("de_DE.csv",
               "\xFF\xFE"
               "a\0\x00\xDC"sv);  // a lone low surrogate
    expect_csv_error(lone, "de_DE.csv", 1, "surrogate");
}

TEST(LocaleLoadErrors, FieldLargerThanPythonsLimit) {
    TemporaryDirectory directory;
    directory.write("es_LA.csv", "\"ok\",\"fine\"\n\"" + std::string(131073, 'x') + "\",\"y\"\n");
    expect_csv_error(directory, "es_LA.csv", 2, "field larger than field limit (131072)");
    TemporaryDirectory at_limit;
    at_limit.write("es_LA.csv", "\"" + std::string(131072, 'x') + "\",\"y\"\n");
    EXPECT_NO_THROW(locale::load_translations(at_limit.path()));
}

TEST(LocaleLoadErrors, FileNamesAreLocaleCodes) {
    TemporaryDirectory dots;
    dots.write("es_LA.old.csv", "\"a\",\"b\"\n");
    expect_csv_error(dots, "es_LA.old.csv", 0, "LOCALE.csv");

    // Names that are not codes are skipped, with an error in the log.
    TemporaryDirectory names;
    names.write("en-GB.csv", "\"a\",\"b\"\n");
    names.write("README.csv", "\"a\",\"b\"\n");
    names.write("es.csv", "\"I love you\",\"Te quiero\"\n");
    CapturedLog log;
    locale::load_translations(names.path());
    EXPECT_EQ(locale::get_supported_locales(), (std::vector<std::string>{"en_US", "es"}));
    EXPECT_EQ(locale::get({"es_AR"}).translate("I love you"), "Te quiero");
    int errors = 0;
    for (const std::string& line : log.lines()) {
        if (line.starts_with("Unrecognized locale ")) ++errors;
    }
    EXPECT_EQ(errors, 2);
}

TEST(LocaleLoadErrors, MissingDirectory) {
    EXPECT_THROW(locale::load_translations("/nonexistent/locale_test"), TranslationError);
    EXPECT_THROW(locale::load_gettext_translations("/nonexistent/locale_test", "x"),
                 TranslationError);
}

TEST(LocaleLoadErrors, ExplicitEncodings) {
    TemporaryDirectory directory;
    directory.write("es_LA.csv", "\xEF\xBB\xBF\"I love you\",\"Te amo\"\n");
    locale::load_translations(directory.path(), "utf-8");  // the mark stays, in the first cell
    EXPECT_EQ(Locale::get("es_LA").translate("I love you"), "I love you");
    locale::load_translations(directory.path(), "UTF-8-sig");
    EXPECT_EQ(Locale::get("es_LA").translate("I love you"), "Te amo");
    // Python's names only: it has no "utf8-sig" either.
    EXPECT_THROW(locale::load_translations(directory.path(), "utf8-sig"), std::invalid_argument);
    EXPECT_THROW(locale::load_translations(directory.path(), "koi8-r"), std::invalid_argument);
    TemporaryDirectory utf16;
    utf16.write("de_DE.csv", "\0a\0,\0b\0\n"sv);
    locale::load_translations(utf16.path(), "utf-16-be");
    EXPECT_EQ(Locale::get("de_DE").translate("a"), "b");
    load_csv();
}

// Puts `bytes` where es_LA's catalog goes in `directory`.
void write_catalog(const TemporaryDirectory& directory, const std::string& bytes) {
    directory.write("es_LA/LC_MESSAGES/tornado_test.mo", bytes);
}

std::string es_catalog() {
    return read_bytes(data_directory() / "gettext/es_LA/LC_MESSAGES/tornado_test.mo");
}

TEST(LocaleLoadErrors, EveryTruncatedOrCorruptedCatalogThrowsOrLoads) {
    std::string good = es_catalog();
    EXPECT_EQ(locale::detail::read_mo(good), 25u);
    for (std::size_t size = 0; size < good.size(); ++size) {
        try {
            locale::detail::read_mo(good.substr(0, size), "es.mo");
        } catch (const TranslationError& error) {
            EXPECT_EQ(error.file(), "es.mo");
            EXPECT_TRUE(error.offset().has_value()) << error.what();
        }
    }
    // Every byte changed to three values: the tables' numbers, the header's
    // text, the strings.
    for (std::size_t at = 0; at < good.size(); ++at) {
        for (unsigned char value : {0x00, 0x7F, 0xFF}) {
            std::string bad = good;
            bad[at] = static_cast<char>(value);
            try {
                locale::detail::read_mo(bad);
            } catch (const TranslationError&) {}
        }
    }
}

TEST(LocaleLoadErrors, ACorruptCatalogKeepsTheTranslationsLoadedBefore) {
    load_gettext();
    TemporaryDirectory directory;
    write_catalog(directory, es_catalog().substr(0, 100));
    EXPECT_THROW(locale::load_gettext_translations(directory.path(), "tornado_test"),
                 TranslationError);
    EXPECT_EQ(Locale::get("es_LA").pgettext("law", "right"), "derecho");
    // What did load answers without crashing, whatever the bytes said.
    std::string bad = es_catalog();
    bad[40] = '\xFF';  // a string's length
    write_catalog(directory, bad);
    try {
        locale::load_gettext_translations(directory.path(), "tornado_test");
        (void)Locale::get("es_LA").translate("I love you");
        (void)Locale::get("es_LA").translate("a", "b", 3);
    } catch (const TranslationError&) {}
    load_gettext();
}

// A catalog with `header` (the translation of "") and one message.
std::string catalog_with_header(std::string_view header, std::string_view translation = "t") {
    std::string strings_original = std::string("\0m\0", 3);
    std::string out;
    auto word = [&out](std::uint32_t value) {
        for (int i = 0; i < 4; ++i) out += static_cast<char>(value >> (8 * i) & 0xFF);
    };
    std::uint32_t strings_at = 28 + 32;
    std::uint32_t header_at = strings_at + 3;
    std::uint32_t translation_at = header_at + static_cast<std::uint32_t>(header.size()) + 1;
    word(0x950412de);
    word(0);
    word(2);
    word(28);
    word(44);
    word(0);
    word(60);
    word(0);
    word(strings_at);
    word(1);
    word(strings_at + 1);
    word(static_cast<std::uint32_t>(header.size()));
    word(header_at);
    word(static_cast<std::uint32_t>(translation.size()));
    word(translation_at);
    out += strings_original;
    out += header;
    out += '\0';
    out += translation;
    out += '\0';
    return out;
}

void expect_catalog_error(const std::string& bytes, std::string_view words) {
    TemporaryDirectory directory;
    write_catalog(directory, bytes);
    try {
        locale::load_gettext_translations(directory.path(), "tornado_test");
        ADD_FAILURE() << "no TranslationError, expected " << words;
    } catch (const TranslationError& error) {
        EXPECT_NE(std::string_view(error.what()).find(words), std::string_view::npos)
            << error.what();
        EXPECT_NE(std::string_view(error.what()).find("byte "), std::string_view::npos);
    }
}

TEST(LocaleLoadErrors, CorruptCatalogsNameTheProblem) {
    std::string good = es_catalog();
    std::string bad_magic = good;
    bad_magic[0] = 'x';
    expect_catalog_error(bad_magic, "bad magic number");
    std::string bad_version = good;
    bad_version[6] = 2;
    expect_catalog_error(bad_version, "bad version number 2");
    expect_catalog_error(good.substr(0, good.size() - 1), "file is corrupt");
    expect_catalog_error(catalog_with_header("Content-Type: text/plain; charset=KOI8-R\n"),
                         "charset \"KOI8-R\" is not supported");
    expect_catalog_error(catalog_with_header("Content-Type: text/plain\n"), "charset=");
    expect_catalog_error(catalog_with_header("Plural-Forms: nplurals=2\n"), "plural=");
    expect_catalog_error(catalog_with_header("Plural-Forms: nplurals=2; plural=n ? 1;\n"),
                         "plural form");
    expect_catalog_error(catalog_with_header("Content-Type: text/plain; charset=UTF-8\n", "\xff"),
                         "not UTF-8");
    expect_catalog_error(catalog_with_header("X: \xff\n"), "not UTF-8");
    // No header: the charset is ASCII.
    expect_catalog_error(catalog_with_header("", "caf\xc3\xa9"), "not ASCII");
    // Spellings Python accepts.
    for (std::string_view charset : {"utf8", "UTF_8", "u8", "Latin-1", "iso8859-1", "ASCII",
                                     "us-ascii", "ANSI_X3.4-1968", "ISO_8859-1"}) {
        TemporaryDirectory directory;
        write_catalog(directory, catalog_with_header("Content-Type: text/plain; charset=" +
                                                     std::string(charset) + "\n"));
        EXPECT_NO_THROW(locale::load_gettext_translations(directory.path(), "tornado_test"))
            << charset;
        EXPECT_EQ(Locale::get("es_LA").translate("m"), "t") << charset;
    }
    load_gettext();
}

// ---- threads and lifetimes ---------------------------------------------------------------------

TEST(LocaleThreads, ReferencesOutliveReloads) {
    load_csv();
    const Locale& before = Locale::get("es_LA");
    load_gettext();
    const Locale& after = Locale::get("es_LA");
    EXPECT_NE(&before, &after);
    EXPECT_EQ(before.translate("I love you"), "Te amo");  // the old Locale, still valid
    EXPECT_EQ(after.pgettext("law", "right"), "derecho");
}

TEST(LocaleThreads, ReadersDuringLoads) {
    load_csv();
    CapturedLog quiet;
    std::atomic<bool> stop{false};
    std::atomic<long> answers{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 4; ++i) {
        readers.emplace_back([&] {
            while (!stop) {
                const Locale& locale = locale::get_browser_locale("es-LA;q=0.9, de;q=0.8");
                std::string text = locale.translate("I love you");
                EXPECT_TRUE(text == "Te amo" || text == "I love you") << text;
                (void)locale.format_date(1.6e9);
                ++answers;
            }
        });
    }
    // At least 20 loads, and on until the readers have answered: on a busy
    // machine the threads may not have been scheduled before 20 are done.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; (i < 20 || answers.load() == 0) && std::chrono::steady_clock::now() < deadline;
         ++i) {
        locale::load_translations(data_directory() / "csv");
        locale::load_gettext_translations(data_directory() / "gettext", "tornado_test");
    }
    stop = true;
    for (std::thread& reader : readers) reader.join();
    EXPECT_GT(answers.load(), 0);
    load_csv();
}

}  // namespace
}  // namespace tornado
