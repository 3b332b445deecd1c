// tornado/locale.h: translated messages, and dates, lists and numbers written
// the way the user's language writes them (Tornado's tornado.locale).
//
// A Locale is a language code ("es_LA") and its translations. Load the
// translations once, at start-up: CSV files (load_translations) or gettext's
// .mo files (load_gettext_translations). Then ask for the locale nearest to
// what a user prefers; without translations, every message stays as written
// (in the default locale's language, en_US unless set_default_locale says
// otherwise).
//
//   tornado::locale::load_translations("translations");   // es_LA.csv, fr_FR.csv, ...
//   const tornado::Locale& user = tornado::locale::get({"es-la", "en"});
//   user.translate("Sign out");                            // "Cerrar sesión"
//   std::string online = tornado::locale::format_message(
//       user.translate("%(list)s is online", "%(list)s are online", people.size()),
//       {{"list", user.list(people)}});                    // Python's `... % {"list": ...}`
//   user.format_date(posted_at);                           // "hace 2 minutos"
//   user.format_date(posted_at, {.gmt_offset = 300, .relative = false});
//   const tornado::Locale& browser =
//       tornado::locale::get_browser_locale("fr-CH, fr;q=0.9, en;q=0.8");
//
// Every answer is Tornado 6.2's, byte for byte (tests/final/locale_test.cpp
// checks tables that Python Tornado rendered: locale_oracle.py). What
// differs, and why:
//
// * Names. The module's functions are in namespace tornado::locale
//   (tornado::locale::get is tornado.locale.get), because a bare
//   tornado::get would collide with RequestHandler::get and std::get; the
//   classes are tornado::Locale, tornado::CSVLocale, tornado::GettextLocale.
//   Tornado's RequestHandler.get_browser_locale is the free function
//   locale::get_browser_locale(accept_language), for the handler to call.
// * Keyword arguments. format_date takes a FormatDateOptions
//   ({.gmt_offset = 480, .shorter = true}), plus `now`, which Tornado reads
//   from the clock and a test wants to fix.
// * Loading throws where Tornado logs and carries on, so that a broken
//   translation file stops the start-up instead of quietly losing
//   messages: a CSV row with a plural indicator other than "plural",
//   "singular" or "unknown", and a .mo file gettext cannot read, throw
//   TranslationError naming the file and the line or byte. A load is all or
//   nothing: when it throws, the translations loaded before stay in force.
//   (Files whose names are not locale codes are skipped with an error in
//   the log, as in Tornado.)
// * Tornado bugs not copied: its load_translations reads every file with
//   the encoding it detected in the first one (here each file's byte order
//   mark decides); it keeps the Locales made before a new load (here a load
//   makes the next get() build fresh ones); and after one gettext load it
//   treats every later CSV load as gettext (here each load sets the kind).
// * gettext's search for a language's files: `pt_BR` also reads `pt` (as a
//   fallback for the messages pt_BR lacks), as Python does, but Python's
//   locale.normalize() aliases are not applied (Python would also look in
//   `pt_BR.ISO8859-1/`, and read `pt_PT/` first for `pt`). A catalog's
//   charset may be UTF-8, ASCII or Latin-1 (Python's names for them, in any
//   spelling Python accepts); another one throws TranslationError.
// * Plural forms: the whole of gettext's C-like expression language, read
//   as Python's gettext reads it (its rules for `!` included), with 64-bit
//   integers: a number beyond them throws where Python would carry on.
// * Case: get_closest() changes the case of ASCII letters only; Python's
//   lower() and upper() change other letters too, which no locale code has.
//
// Thread safety: the translations are global to the process, as in Tornado.
// Loading and set_default_locale() take a lock, and so does get() (which
// builds each Locale the first time it is asked for), so any thread may call
// any of them; but load before serving, since a request served during a
// load may see the old translations or the new. A Locale never changes once
// made, and every Locale returned stays valid until the process ends (a
// reload keeps the old ones alive, with their old translations), so a
// handler may keep the reference.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "tornado/escape.h"  // JSON, for format_message

namespace tornado {

// What a load throws for a file it cannot read: the message names the file
// and, when known, the line ("es_LA.csv:7: ..."), the byte offset (".mo:
// byte 28: ...") or both (a CSV file whose bytes do not decode).
class TranslationError : public std::runtime_error {
public:
    TranslationError(std::string file, std::size_t line, std::optional<std::size_t> offset,
                     const std::string& problem);
    const std::string& file() const noexcept { return file_; }
    // 1-based; 0 when the problem is not on a line (a .mo file, a directory).
    std::size_t line() const noexcept { return line_; }
    // The byte of the file where its bytes stop making sense: a .mo file's,
    // or a CSV file's that is not valid UTF-8 or UTF-16 (which has a line
    // too); nothing for any other problem.
    std::optional<std::size_t> offset() const noexcept { return offset_; }

private:
    std::string file_;
    std::size_t line_;
    std::optional<std::size_t> offset_;
};

// format_date's keyword arguments (Tornado's, plus `now`).
struct FormatDateOptions {
    // Minutes to subtract from UTC to get the user's local time: 300 for
    // New York in winter (UTC-5), -60 for Paris. JavaScript's
    // Date.getTimezoneOffset() gives it in this sign.
    int gmt_offset = 0;
    // "2 minutes ago", "yesterday at 3:05 pm"; false always writes the date.
    bool relative = true;
    // Without the time: "yesterday", "Monday", "March 3".
    bool shorter = false;
    // Always the whole date with its year: "March 3, 2023 at 3:05 pm".
    bool full_format = false;
    // The present, for tests (Tornado reads the clock; so does nothing here).
    std::optional<std::chrono::system_clock::time_point> now = std::nullopt;
};

// A language's translations and formats. Get one with Locale::get_closest
// (or locale::get), never build one: a Locale is shared and never changes.
class Locale {
public:
    Locale(const Locale&) = delete;
    Locale& operator=(const Locale&) = delete;
    virtual ~Locale();

    // The first of `codes` that a supported locale matches, or the default
    // locale. A code matches exactly ("es_LA"; "-" may stand for "_" and the
    // case is fixed: "es-la" is es_LA), or by its language alone ("es_MX"
    // gets "es" when "es" has translations). Codes with two "_" and empty
    // codes are skipped. Note that "fr" does not match "fr_FR".
    static const Locale& get_closest(std::initializer_list<std::string_view> codes);
    // The same for any range of strings (a std::vector<std::string>, ...).
    template <std::ranges::input_range Codes>
        requires(std::convertible_to<std::ranges::range_reference_t<Codes>, std::string_view>)
    static const Locale& get_closest(const Codes& codes);

    // The Locale of a supported code (one with translations, or the default).
    // Throws std::invalid_argument for any other (Tornado asserts).
    static const Locale& get(std::string_view code);

    // The supported code: "es_LA", or "es" when get_closest() was asked for
    // "es_MX" and only "es" has translations.
    const std::string code;
    // The language's name in its own language, from Tornado's table:
    // "Español (América Latina)"; "Unknown" for a code the table lacks.
    const std::string name;
    // Written right to left: a code that starts with "fa", "ar" or "he"
    // (Persian, Arabic, Hebrew), as Tornado tests it.
    const bool rtl;

    // The translation of `message`, or `message` itself. With a plural form,
    // the form `count` asks for: `plural_message` unless count is 1 (more
    // forms with gettext's plural rules). A plural form without a count
    // throws std::invalid_argument (Tornado asserts).
    std::string translate(std::string_view message,
                          std::optional<std::string_view> plural_message = std::nullopt,
                          std::optional<std::int64_t> count = std::nullopt) const;

    // translate() with a context that tells apart two uses of one message
    // ("right" as in law, "right" as in direction). gettext only: CSV files
    // have no contexts, so a CSVLocale logs a warning and translates the
    // message alone.
    std::string pgettext(std::string_view context, std::string_view message,
                         std::optional<std::string_view> plural_message = std::nullopt,
                         std::optional<std::int64_t> count = std::nullopt) const;

    // A moment in UTC, as this language writes it: "5 seconds ago", "2 hours
    // ago", "yesterday at 3:05 pm", "Monday at 9:30 am", "March 3 at 1:00 pm",
    // "March 3, 2021 at 1:00 pm" (12-hour clock in English, 上午/下午 in
    // zh_CN, 24-hour elsewhere). A moment in the future is written in full
    // (less than a minute ahead counts as now). Throws std::out_of_range for
    // a date outside years 1 to 9999, as Python does.
    std::string format_date(std::chrono::system_clock::time_point date,
                            const FormatDateOptions& options = {}) const;
    // The same for seconds since the epoch (Tornado takes an int or a float;
    // a time_t converts), rounded to the microsecond as Python rounds.
    std::string format_date(double timestamp, const FormatDateOptions& options = {}) const;

    // The day alone: "Monday, January 22", or "January 22" without `dow`.
    std::string format_day(std::chrono::system_clock::time_point date, int gmt_offset = 0,
                           bool dow = true) const;

    // "A", "A and B", "A, B and C" (" و " between the first ones in Persian).
    std::string list(std::initializer_list<std::string_view> parts) const;
    // The same for any range of strings.
    template <std::ranges::input_range Parts>
        requires(std::convertible_to<std::ranges::range_reference_t<Parts>, std::string_view>)
    std::string list(const Parts& parts)
    const;

    // 1234567 as "1,234,567" in English; other locales write the digits
    // alone. (Negative numbers keep Tornado's grouping: -123 is "-,123".)
    std::string friendly_number(std::int64_t value) const;

protected:
    explicit Locale(std::string code);

    // What translate() and pgettext() do for each kind of translations; the
    // public functions check the arguments first.
    virtual std::string do_translate(std::string_view message,
                                     std::optional<std::string_view> plural_message,
                                     std::optional<std::int64_t> count) const = 0;
    virtual std::string do_pgettext(std::string_view context, std::string_view message,
                                    std::optional<std::string_view> plural_message,
                                    std::optional<std::int64_t> count) const = 0;

private:
    static const Locale& get_closest_of(std::span<const std::string_view> codes);
    std::string list_of(std::span<const std::string_view> parts) const;
};

// Looks strings up by std::string_view without making a std::string.
struct TranslationHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
        return std::hash<std::string_view>{}(text);
    }
};
// Message -> translation, looked up by std::string_view.
using TranslationTable =
    std::unordered_map<std::string, std::string, TranslationHash, std::equal_to<>>;

// One LOCALE.csv file: message -> translation, a table per plural indicator
// (the third column; "unknown" when it is empty or absent).
struct CSVTranslations {
    // The "singular" rows: what translate(message, plural, 1) looks
    // `message` up in.
    TranslationTable singular;
    // The "plural" rows, keyed by the plural message: what translate(message,
    // plural, n) looks `plural` up in when n is not 1.
    TranslationTable plural;
    // The rows without an indicator: what translate(message) looks in.
    TranslationTable unknown;
    bool empty() const { return singular.empty() && plural.empty() && unknown.empty(); }
};

// A Locale whose translations came from load_translations (or none at all:
// the default locale, and every locale before a load).
class CSVLocale final : public Locale {
public:
    CSVLocale(std::string code, std::shared_ptr<const CSVTranslations> translations);
    const CSVTranslations& translations() const { return *translations_; }

protected:
    std::string do_translate(std::string_view message,
                             std::optional<std::string_view> plural_message,
                             std::optional<std::int64_t> count) const override;
    std::string do_pgettext(std::string_view context, std::string_view message,
                            std::optional<std::string_view> plural_message,
                            std::optional<std::int64_t> count) const override;

private:
    std::shared_ptr<const CSVTranslations> translations_;
};

// A language's .mo catalogs: its own, then the ones it falls back on.
class GettextCatalogs;

// A Locale whose translations came from load_gettext_translations.
class GettextLocale final : public Locale {
public:
    GettextLocale(std::string code, std::shared_ptr<const GettextCatalogs> catalogs);
    // Python's gettext.gettext on this locale's catalogs: the translation
    // from its own catalog, else from the first it falls back on that has
    // one, else `message`.
    std::string gettext(std::string_view message) const;
    // Python's gettext.ngettext: `singular` translated in the form for
    // `count`, from the first catalog that has that form, each catalog
    // choosing the form by its own plural rule (which may throw, as
    // PluralForms does); with none, `singular` when count is 1, else
    // `plural`.
    std::string ngettext(std::string_view singular, std::string_view plural,
                         std::int64_t count) const;

protected:
    std::string do_translate(std::string_view message,
                             std::optional<std::string_view> plural_message,
                             std::optional<std::int64_t> count) const override;
    std::string do_pgettext(std::string_view context, std::string_view message,
                            std::optional<std::string_view> plural_message,
                            std::optional<std::int64_t> count) const override;

private:
    std::shared_ptr<const GettextCatalogs> catalogs_;
};

namespace locale {

// What gettext puts between a context and its message in a .mo file.
inline constexpr std::string_view CONTEXT_SEPARATOR = "\x04";

// Tornado's locale.get(*codes): Locale::get_closest.
inline const Locale& get(std::initializer_list<std::string_view> codes) {
    return Locale::get_closest(codes);
}
// The same for any range of strings.
template <std::ranges::input_range Codes>
    requires(std::convertible_to<std::ranges::range_reference_t<Codes>, std::string_view>)
const Locale& get(const Codes& codes) { return Locale::get_closest(codes); }
// One code: the closest supported locale, or the default (unlike
// Locale::get, which throws for a code that is not supported).
inline const Locale& get(std::string_view code) { return Locale::get_closest({code}); }

// The language the messages are written in (default "en_US"): it needs no
// translation file, is always supported, and is what get() falls back on.
void set_default_locale(std::string_view code);

// Reads LOCALE.csv files (es_LA.csv, pt.csv: a language, and an optional
// territory, as [a-z]+(_[A-Z]+)?) from `directory`, in place of any
// translations loaded before. Each row: message, translation, and an
// optional plural indicator ("singular", "plural", or empty), in Excel's
// CSV dialect as Python's csv module reads it (no spaces after the commas;
// the cells are stripped of whitespace):
//
//   "I love you","Te amo"
//   "%(name)s liked this","A %(name)s les gustó esto","plural"
//   "%(name)s liked this","A %(name)s le gustó esto","singular"
//
// A file is UTF-8, or UTF-16 or UTF-8 with a byte order mark; `encoding`
// overrides the detection with one of Python's names for these ("utf-8",
// "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", in any case; another
// throws std::invalid_argument). Throws TranslationError for a file that
// cannot be read or decoded, a field of more than 131072 characters
// (Python's csv limit) or an unknown plural indicator, and for a file named
// like "es_LA.old.csv" (more dots than LOCALE.csv has), where Tornado raises.
void load_translations(const std::filesystem::path& directory, std::string_view encoding = {});

// Reads gettext catalogs DIRECTORY/LANG/LC_MESSAGES/DOMAIN.mo, in place of
// any translations loaded before. Make them with gettext's tools:
//
//   xgettext --language=C++ --keyword=translate:1,2 --keyword=pgettext:1c,2,3 *.cpp
//   msgfmt es_LA.po -o translations/es_LA/LC_MESSAGES/myapp.mo
//
// Throws TranslationError naming the file and the byte for a file that is
// not a .mo catalog Python's gettext could read.
void load_gettext_translations(const std::filesystem::path& directory, std::string_view domain);

// The codes with translations, and the default: what get() can return.
// Sorted (Tornado returns a frozenset).
std::vector<std::string> get_supported_locales();

// RequestHandler.get_browser_locale: the locale an Accept-Language header
// asks for ("fr-CH, fr;q=0.9, en;q=0.8"), trying the codes by their q
// values (a q that is not a number, or not above 0, drops the code) and
// then the default locale. `default_code` answers when there is no header,
// or no code with a positive q. The header's bytes are read as Latin-1, as
// Tornado reads headers. Never throws on the header's content: malformed
// text leads to the default.
const Locale& get_browser_locale(std::optional<std::string_view> accept_language,
                                 std::string_view default_code = "en_US");

// Python's `message % values` with named fields, for translated messages:
// format_message("%(name)s liked this", {{"name", "Ana"}}). Fields are
// "%(key)s", "%(key)d" and the rest of printf's forms as Python writes
// them; "%%" is a percent sign. Throws std::invalid_argument for a key that
// is not in `values` or a field that does not suit its value.
std::string format_message(std::string_view message, const JSON& values);

// ---- implementation details, exposed for the tests -------------------------

namespace detail {

// One record of a CSV file and the line it starts on.
struct CSVRecord {
    std::size_t line;
    std::vector<std::string> fields;
};

// Python's csv.reader (Excel's dialect) over text read as Python's text
// files read it (universal newlines: "\r\n" and "\r" end a line as "\n"
// does). An empty line gives a record without fields. Throws
// TranslationError naming `file` for a field longer than Python's limit.
std::vector<CSVRecord> read_csv(std::string_view text, const std::string& file = "<csv>");

// Reads a .mo file's bytes as load_gettext_translations does, and says how
// many messages it holds (plural ones count once). Throws TranslationError
// naming `file` and the byte where the bytes stop making sense.
std::size_t read_mo(std::string_view bytes, const std::string& file = "<mo>");

// A gettext plural-forms expression ("n != 1", "n%10==1 && n%100!=11 ? 0 :
// 2"), compiled as Python's gettext.c2py compiles it.
class PluralForms {
public:
    struct Node;
    // Throws std::invalid_argument for an expression Python refuses.
    explicit PluralForms(std::string_view expression);
    // The form for `n`. Throws std::domain_error for a division by zero and
    // std::overflow_error past 64 bits.
    std::int64_t operator()(std::int64_t n) const;

private:
    std::shared_ptr<const std::vector<Node>> nodes_;  // the root is the last node
};

}  // namespace detail
}  // namespace locale

// ---- templates --------------------------------------------------------------

namespace locale::detail {

// Calls function(span of string_views) over `range`'s strings. A range that
// makes its strings on the fly (a transform) has them copied first, so that
// no view outlives its string.
template <typename Range, typename Function>
decltype(auto) with_views(const Range& range, Function&& function) {
    std::vector<std::string_view> views;
    if constexpr (std::is_reference_v<std::ranges::range_reference_t<const Range>>) {
        for (auto&& item : range) views.emplace_back(item);
        return function(std::span<const std::string_view>(views));
    } else {
        std::vector<std::string> copies;
        for (auto&& item : range) copies.emplace_back(std::string_view(item));
        views.assign(copies.begin(), copies.end());
        return function(std::span<const std::string_view>(views));
    }
}

}  // namespace locale::detail

template <std::ranges::input_range Codes>
    requires(std::convertible_to<std::ranges::range_reference_t<Codes>, std::string_view>)
const Locale& Locale::get_closest(const Codes& codes) {
    return locale::detail::with_views(codes,
                                      [](std::span<const std::string_view> views) -> const Locale& {
                                          return get_closest_of(views);
                                      });
}

template <std::ranges::input_range Parts>
    requires(std::convertible_to<std::ranges::range_reference_t<Parts>, std::string_view>)
std::string Locale::list(const Parts& parts)
const {
    return locale::detail::with_views(
        parts, [this](std::span<const std::string_view> views) { return list_of(views); });
}

}  // namespace tornado
