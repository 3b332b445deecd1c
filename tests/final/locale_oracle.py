#!/usr/bin/python3
"""Writes what locale_test.cpp checks tornado/locale.h against: the test
translations (tests/final/locale_data/) and what Python Tornado's
tornado.locale makes of them (tests/final/locale_cases.inc).

    apt-get install python3-tornado        # Tornado 6.2 on Debian 12
    /usr/bin/python3 tests/final/locale_oracle.py

It writes, beside itself:

  locale_data/csv/*.csv      translations in Tornado's CSV format, in each
                             encoding Tornado accepts (UTF-8, UTF-8 with a
                             byte order mark, UTF-16 either way round)
  locale_data/gettext/LANG/LC_MESSAGES/tornado_test.mo
                             gettext catalogs, written here as msgfmt would
                             (both byte orders, three charsets, several
                             plural rules, contexts, a language fallback)
  locale_cases.inc           Tornado's answers, as C++ rows

Tornado's format_date reads the clock; each case fixes `now` by giving
tornado.locale a datetime whose utcnow() is the case's. Tornado's
load_translations reads every file with the encoding it detected in the
first one, so this loads each CSV file on its own and joins the results:
what the twin does (tornado/locale.h lists the difference).
"""
import csv
import datetime
import gettext
import io
import os
import shutil
import struct
import sys
import tempfile
import types

import tornado
import tornado.locale as tlocale
import tornado.web

# The same C++ literals as the escape cases (this folder is on sys.path
# when the script runs).
from escape_oracle import literal

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "locale_data")
DOMAIN = "tornado_test"

# ---- the CSV translations ---------------------------------------------------------

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DATE_FORMATS = ["%(time)s", "yesterday", "yesterday at %(time)s", "%(weekday)s",
                "%(weekday)s at %(time)s", "%(month_name)s %(day)s",
                "%(month_name)s %(day)s at %(time)s", "%(month_name)s %(day)s, %(year)s",
                "%(month_name)s %(day)s, %(year)s at %(time)s",
                "%(weekday)s, %(month_name)s %(day)s", "%(commas)s and %(last)s"]
RELATIVE = [("1 second ago", "%(seconds)d seconds ago"),
            ("1 minute ago", "%(minutes)d minutes ago"),
            ("1 hour ago", "%(hours)d hours ago")]


def quoted(cell):
    return '"' + cell.replace('"', '""') + '"'


def csv_rows(rows):
    """Rows of cells as Excel writes them, every cell quoted."""
    return "".join(",".join(quoted(c) for c in row) + "\n" for row in rows)


def date_rows(months, weekdays, formats, relative):
    rows = [[m, t] for m, t in zip(MONTHS, months)]
    rows += [[d, t] for d, t in zip(WEEKDAYS, weekdays)]
    rows += [[f, t] for f, t in zip(DATE_FORMATS, formats)]
    for (one, many), (one_t, many_t) in zip(RELATIVE, relative):
        rows += [[one, one_t, "singular"], [many, many_t, "plural"]]
    return rows


ES_LA = csv_rows([
    ["I love you", "Te amo"],
    ["%(name)s liked this", "A %(name)s les gust\u00f3 esto", "plural"],
    ["%(name)s liked this", "A %(name)s le gust\u00f3 esto", "singular"],
] + date_rows(
    ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
     "octubre", "noviembre", "diciembre"],
    ["lunes", "martes", "mi\u00e9rcoles", "jueves", "viernes", "s\u00e1bado", "domingo"],
    ["%(time)s", "ayer", "ayer a las %(time)s", "%(weekday)s", "%(weekday)s a las %(time)s",
     "%(day)s de %(month_name)s", "%(day)s de %(month_name)s a las %(time)s",
     "%(day)s de %(month_name)s de %(year)s", "%(day)s de %(month_name)s de %(year)s a las %(time)s",
     "%(weekday)s %(day)s de %(month_name)s", "%(commas)s y %(last)s"],
    [("hace 1 segundo", "hace %(seconds)d segundos"), ("hace 1 minuto", "hace %(minutes)d minutos"),
     ("hace 1 hora", "hace %(hours)d horas")])) + (
    # The corners of the format, as Python's csv module reads them.
    '"Sign out", "Cerrar sesi\u00f3n"\n'           # a space after the comma: the quotes stay
    '"Only one column"\n'                           # skipped
    "\n"                                            # an empty line: skipped
    '"Multi\nline","Varias\nl\u00edneas"\n'         # a quoted line break
    '"He said ""hi""","Dijo ""hola"""\n'            # doubled quotes
    '"a,b","a, b"\n'                                # a quoted comma
    '  Padded  ,  Relleno  \n'                      # unquoted, stripped
    '"Delete","Borrar","unknown"\n'
    '"Delete","Eliminar",""\n'                      # the last row wins; "" is unknown
    '"Quoted"tail,"Cita"cola\n'                     # text after a closing quote joins the field
    '"Tab\tand\u00a0nbsp\u3000","\u3000Tabulador\t"\n'  # Unicode whitespace is stripped
    '"%(count)d file","%(count)d archivo","singular"\n'
    '"%(count)d files","%(count)d archivos","plural"\n'
    '"Unclosed","sin cerrar\n'                      # the last row: a quote never closed
)

FR_FR = csv_rows([
    ["I love you", "Je t'aime"],
    ["%(name)s liked this", "%(name)s ont aim\u00e9 \u00e7a", "plural"],
    ["%(name)s liked this", "%(name)s a aim\u00e9 \u00e7a", "singular"],
] + date_rows(
    ["janvier", "f\u00e9vrier", "mars", "avril", "mai", "juin", "juillet", "ao\u00fbt",
     "septembre", "octobre", "novembre", "d\u00e9cembre"],
    ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    ["%(time)s", "hier", "hier \u00e0 %(time)s", "%(weekday)s", "%(weekday)s \u00e0 %(time)s",
     "%(day)s %(month_name)s", "%(day)s %(month_name)s \u00e0 %(time)s",
     "%(day)s %(month_name)s %(year)s", "%(day)s %(month_name)s %(year)s \u00e0 %(time)s",
     "%(weekday)s %(day)s %(month_name)s", "%(commas)s et %(last)s"],
    [("il y a 1 seconde", "il y a %(seconds)d secondes"),
     ("il y a 1 minute", "il y a %(minutes)d minutes"),
     ("il y a 1 heure", "il y a %(hours)d heures")])).replace("\n", "\r\n")  # Windows lines

DE_DE = csv_rows([
    ["I love you", "Ich liebe dich"],
] + date_rows(
    ["Januar", "Februar", "M\u00e4rz", "April", "Mai", "Juni", "Juli", "August", "September",
     "Oktober", "November", "Dezember"],
    ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    ["%(time)s", "gestern", "gestern um %(time)s", "%(weekday)s", "%(weekday)s um %(time)s",
     "%(day)s. %(month_name)s", "%(day)s. %(month_name)s um %(time)s",
     "%(day)s. %(month_name)s %(year)s", "%(day)s. %(month_name)s %(year)s um %(time)s",
     "%(weekday)s, %(day)s. %(month_name)s", "%(commas)s und %(last)s"],
    [("vor 1 Sekunde", "vor %(seconds)d Sekunden"), ("vor 1 Minute", "vor %(minutes)d Minuten"),
     ("vor 1 Stunde", "vor %(hours)d Stunden")])) + '"Emoji \U0001F600","\U0001F600 Emoji"\n'

ZH_CN = csv_rows([
    ["I love you", "\u6211\u7231\u4f60"],
] + date_rows(
    ["%d\u6708" % m for m in range(1, 13)],
    ["\u661f\u671f" + d for d in "\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u65e5"],
    ["%(time)s", "\u6628\u5929", "\u6628\u5929%(time)s", "%(weekday)s", "%(weekday)s %(time)s",
     "%(month_name)s%(day)s\u65e5", "%(month_name)s%(day)s\u65e5 %(time)s",
     "%(year)s\u5e74%(month_name)s%(day)s\u65e5", "%(year)s\u5e74%(month_name)s%(day)s\u65e5 %(time)s",
     "%(month_name)s%(day)s\u65e5 %(weekday)s", "%(commas)s\u548c%(last)s"],
    [("1\u79d2\u524d", "%(seconds)d\u79d2\u524d"), ("1\u5206\u949f\u524d", "%(minutes)d\u5206\u949f\u524d"),
     ("1\u5c0f\u65f6\u524d", "%(hours)d\u5c0f\u65f6\u524d")]))

PT = csv_rows([["I love you", "Eu te amo"], ["Sign out", "Sair"]])

CSV_FILES = {
    # name: (text, encoding as written)
    "es_LA.csv": (ES_LA, "utf-8"),
    "fr_FR.csv": (FR_FR, "utf-8-sig"),
    "de_DE.csv": (DE_DE, "utf-16-le-bom"),
    "zh_CN.csv": (ZH_CN, "utf-16-be-bom"),
    "pt.csv": (PT, "utf-8"),
}


def encode(text, encoding):
    if encoding == "utf-16-le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


# ---- the gettext catalogs -----------------------------------------------------------

def header(plural_forms, charset="UTF-8", extra=""):
    return ("Project-Id-Version: tornado_test\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=%s\n"
            "Content-Transfer-Encoding: 8bit\n"
            "Plural-Forms: %s\n%s" % (charset, plural_forms, extra))


def plural(singular, plural_text, forms, context=None):
    key = singular + "\x00" + plural_text
    if context is not None:
        key = context + "\x04" + key
    return (key, "\x00".join(forms))


def message(msgid, msgstr, context=None):
    return ((context + "\x04" + msgid) if context is not None else msgid, msgstr)


ES_MONTHS = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"]

CATALOGS = {
    # language: (header, entries, charset of the bytes, big-endian)
    "es_LA": (header("nplurals=2; plural=(n != 1);"), [
        message("I love you", "Te amo"),
        plural("%(name)s liked this", "%(name)s liked these",
               ["A %(name)s le gust\u00f3 esto", "A %(name)s les gustaron estos"]),
        message("right", "derecho", "law"),
        message("right", "correcto", "good"),
        plural("club", "clubs", ["club", "clubes"], "organization"),
        plural("club", "clubs", ["palo", "palos"], "stick"),
        message("Monday", "lunes"),
        message("yesterday at %(time)s", "ayer a las %(time)s"),
        message("%(month_name)s %(day)s, %(year)s at %(time)s",
                "%(day)s de %(month_name)s de %(year)s a las %(time)s"),
        message("%(commas)s and %(last)s", "%(commas)s y %(last)s"),
        plural("1 second ago", "%(seconds)d seconds ago",
               ["hace 1 segundo", "hace %(seconds)d segundos"]),
        plural("1 minute ago", "%(minutes)d minutes ago",
               ["hace 1 minuto", "hace %(minutes)d minutos"]),
    ] + [message(m, t) for m, t in zip(MONTHS, ES_MONTHS)], "utf-8", False),
    "ru_RU": (header("nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
                     "(n%100<10 || n%100>=20) ? 1 : 2);",
                     extra="#-#-#-#-#  ru.po (tornado_test)  #-#-#-#-#\n"
                           "X-Comment: a value\n  continued on a line of its own\n"), [
        message("I love you", "\u042f \u0442\u0435\u0431\u044f \u043b\u044e\u0431\u043b\u044e"),
        plural("%(count)d file", "%(count)d files",
               ["%(count)d \u0444\u0430\u0439\u043b", "%(count)d \u0444\u0430\u0439\u043b\u0430",
                "%(count)d \u0444\u0430\u0439\u043b\u043e\u0432"]),
        plural("1 minute ago", "%(minutes)d minutes ago",
               ["%(minutes)d \u043c\u0438\u043d\u0443\u0442\u0443 \u043d\u0430\u0437\u0430\u0434",
                "%(minutes)d \u043c\u0438\u043d\u0443\u0442\u044b \u043d\u0430\u0437\u0430\u0434",
                "%(minutes)d \u043c\u0438\u043d\u0443\u0442 \u043d\u0430\u0437\u0430\u0434"]),
        message("March", "\u043c\u0430\u0440\u0442\u0430"),
        message("%(month_name)s %(day)s at %(time)s", "%(day)s %(month_name)s \u0432 %(time)s"),
    ], "utf-8", True),
    "pt": (header("nplurals=2; plural=(n != 1);"), [
        message("I love you", "Eu te amo"),
        message("Sign out", "Sair"),
        plural("%(count)d file", "%(count)d files", ["%(count)d arquivo", "%(count)d arquivos"]),
    ], "utf-8", False),
    # Brazilian Portuguese counts 0 as one; its other messages come from pt.
    "pt_BR": (header("nplurals=2; plural=(n > 1);"), [
        message("Sign out", "Encerrar sess\u00e3o"),
        plural("%(count)d item", "%(count)d items", ["%(count)d item", "%(count)d itens"]),
    ], "utf-8", False),
    "ar_AR": (header("nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
                     "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5;"), [
        plural("%(count)d book", "%(count)d books",
               ["\u0644\u0627 \u0643\u062a\u0628", "\u0643\u062a\u0627\u0628 \u0648\u0627\u062d\u062f",
                "\u0643\u062a\u0627\u0628\u0627\u0646", "%(count)d \u0643\u062a\u0628",
                "%(count)d \u0643\u062a\u0627\u0628\u064b\u0627", "%(count)d \u0643\u062a\u0627\u0628"]),
    ], "utf-8", False),
    # Latin-1 bytes: the twin turns them into UTF-8.
    "fr_FR": (header("nplurals=2; plural=(n > 1);", charset="ISO-8859-1"), [
        message("I love you", "Je t'aime"),
        message("February", "f\u00e9vrier"),
        message("August", "ao\u00fbt"),
        message("Caf\u00e9", "Caf\u00e9 cr\u00e8me"),
        plural("%(count)d file", "%(count)d files", ["%(count)d fichier", "%(count)d fichiers"]),
    ], "latin-1", False),
    "ja_JP": (header("nplurals=1; plural=0;"), [
        plural("%(count)d file", "%(count)d files", ["%(count)d \u30d5\u30a1\u30a4\u30eb"]),
    ], "utf-8", False),
    # gettext never translates "C": Tornado logs an error and skips it.
    "C": (header("nplurals=2; plural=(n != 1);"), [message("I love you", "C")], "utf-8", False),
}


def mo_bytes(head, entries, charset, big_endian):
    """A .mo file as GNU msgfmt lays it out: the header, the tables of
    originals and translations sorted by original, no hash table, then
    each string with a NUL after it."""
    pairs = [(b"", head.encode(charset))]
    pairs += [(k.encode(charset), v.encode(charset)) for k, v in entries]
    pairs.sort(key=lambda pair: pair[0])
    order = ">" if big_endian else "<"
    count = len(pairs)
    originals_at = 28
    translations_at = originals_at + 8 * count
    strings_at = translations_at + 8 * count
    tables, translation_table, strings = b"", b"", b""
    for original, _ in pairs:
        tables += struct.pack(order + "II", len(original), strings_at + len(strings))
        strings += original + b"\x00"
    for _, translated in pairs:
        translation_table += struct.pack(order + "II", len(translated), strings_at + len(strings))
        strings += translated + b"\x00"
    head_words = struct.pack(order + "7I", 0x950412de, 0, count, originals_at, translations_at,
                             0, strings_at)
    return head_words + tables + translation_table + strings


def write_data():
    csv_dir = os.path.join(DATA, "csv")
    gettext_dir = os.path.join(DATA, "gettext")
    for directory in (csv_dir, gettext_dir):
        if os.path.isdir(directory):
            shutil.rmtree(directory)
        os.makedirs(directory)
    for name, (text, encoding) in CSV_FILES.items():
        with open(os.path.join(csv_dir, name), "wb") as f:
            f.write(encode(text, encoding))
    with open(os.path.join(csv_dir, "notes.txt"), "w") as f:
        f.write("Not a translation: load_translations reads only LOCALE.csv files.\n")
    for language, (head, entries, charset, big_endian) in CATALOGS.items():
        directory = os.path.join(gettext_dir, language, "LC_MESSAGES")
        os.makedirs(directory)
        with open(os.path.join(directory, DOMAIN + ".mo"), "wb") as f:
            f.write(mo_bytes(head, entries, charset, big_endian))
    # A language folder without this domain's catalog is not a locale.
    os.makedirs(os.path.join(gettext_dir, "de_DE", "LC_MESSAGES"))
    with open(os.path.join(gettext_dir, "de_DE", "LC_MESSAGES", "other.mo"), "wb") as f:
        f.write(mo_bytes(header("nplurals=2; plural=(n != 1);"), [], "utf-8", False))


# ---- rendering C++ ---------------------------------------------------------------------

def optional_text(value):
    return "std::nullopt" if value is None else literal(value)


def optional_number(value):
    return "std::nullopt" if value is None else str(value)


def boolean(value):
    return "true" if value else "false"


EPOCH = datetime.datetime(1970, 1, 1)


def to_datetime(micros):
    return EPOCH + datetime.timedelta(microseconds=micros)


def to_micros(moment):
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds


class Clock:
    """Stands in for the datetime module inside tornado.locale, with a
    utcnow() the oracle sets."""

    now = None

    def __init__(self):
        clock = self

        class FixedDatetime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return clock.now

        self.module = types.SimpleNamespace(datetime=FixedDatetime, timedelta=datetime.timedelta)


CLOCK = Clock()
tlocale.datetime = CLOCK.module


def cxx_int(value):
    # INT64_MIN has no literal of its own.
    return str(value) if value > -2 ** 63 else "(-9223372036854775807 - 1)"


# ---- the cases -----------------------------------------------------------------------------

NOWS = [
    datetime.datetime(2023, 3, 15, 14, 30, 45, 250000),  # a Wednesday afternoon
    datetime.datetime(2024, 1, 1, 0, 10, 0),             # just after New Year, a Monday
    datetime.datetime(2024, 3, 1, 23, 59, 59, 999999),   # after a leap day
]

DAY = 86400
# Seconds before now (negative: in the future).
DELTAS = [0, 0.1, 1, 2, 30, 49, 49.9, 50, 59, 60, 89, 90, 91, 149, 150, 151, 209, 210, 211,
          1799, 2999, 3000, 3599, 3600, 5399, 5400, 5401, 9000, 43200, 86399, 86399.5, DAY,
          DAY + 1, DAY + 36000, 2 * DAY, 2 * DAY + 18000, 3 * DAY, 4 * DAY, 5 * DAY - 1, 5 * DAY,
          6 * DAY, 30 * DAY, 100 * DAY, 333 * DAY, 334 * DAY - 1, 334 * DAY, 365 * DAY,
          400 * DAY, 1000 * DAY, 7300 * DAY,
          -0.5, -1, -30, -59, -59.9, -60, -61, -3600, -DAY, -DAY - 30, -3 * DAY - 10, -400 * DAY]
OFFSETS = [0, 480, -330]
MORE_OFFSETS = [-60, 300, 720, -840, 1439]
FLAGS = [(True, False, False), (True, True, False), (False, False, False), (True, False, True)]
OTHER_FLAGS = [(True, False, False), (True, True, False), (False, False, False)]
CSV_LOCALES = ["es_LA", "fr_FR", "de_DE", "zh_CN", "pt"]


def date_cases(code, nows, deltas, offsets, flags):
    rows = []
    locale = tlocale.Locale.get(code)
    for now in nows:
        CLOCK.now = now
        for delta in deltas:
            date = now - datetime.timedelta(seconds=delta)
            for offset in offsets:
                for relative, shorter, full_format in flags:
                    text = locale.format_date(date, offset, relative, shorter, full_format)
                    rows.append("    {%s, %d, %d, %d, %s, %s, %s, %s}," % (
                        literal(code), to_micros(now), to_micros(date), offset, boolean(relative),
                        boolean(shorter), boolean(full_format), literal(text)))
    return rows


def timestamp_cases():
    """format_date of a float: Python rounds it to microseconds, half to even."""
    rows = []
    now = NOWS[0]
    CLOCK.now = now
    base = (now - EPOCH).total_seconds()
    stamps = [base, base - 49.9999995, base - 49.99999949, base - 50.0000004, base + 59.9999996,
              base - 86400.0000005, 1678890000.5, 1678890000.0000005, 1678890000.0000015,
              0.0, -0.5, -1e-7, 86399.9999999, 1.5e9, 1234567890.123456789, -62135596800.0,
              253402300799.0]
    locale = tlocale.Locale.get("en_US")
    for stamp in stamps:
        for relative in (True, False):
            text = locale.format_date(stamp, 0, relative, False, False)
            rows.append("    {%d, %r, %s, %s}," % (to_micros(now), stamp, boolean(relative),
                                                    literal(text)))
    return rows


def day_cases():
    rows = []
    dates = [datetime.datetime(2023, 3, 15, 14, 30), datetime.datetime(2024, 1, 1, 0, 10),
             datetime.datetime(2024, 2, 29, 23, 0), datetime.datetime(1999, 12, 31, 23, 59)]
    for code in ["en_US"] + CSV_LOCALES:
        locale = tlocale.Locale.get(code)
        for date in dates:
            for offset in (0, 480, -60):
                for dow in (True, False):
                    rows.append("    {%s, %d, %d, %s, %s}," % (
                        literal(code), to_micros(date), offset, boolean(dow),
                        literal(locale.format_day(date, offset, dow))))
    return rows


LISTS = [[], ["A"], ["A", "B"], ["A", "B", "C"], ["caf\u00e9", "%(last)s", "100%", "d"],
         ["", ""], ["x"] * 5]
LIST_CODES = ["en_US", "es_LA", "fr_FR", "zh_CN", "fa_IR", "fa", "ar_AR"]


def list_cases(locale_for):
    rows = []
    for code in LIST_CODES:
        locale = locale_for(code)
        for parts in LISTS:
            rows.append("    {%s, {%s}, %s}," % (literal(code), ", ".join(literal(p) for p in parts),
                                                 literal(locale.list(parts))))
    return rows


def csv_locale(code):
    """A Locale with the loaded translations if the code has them, else an
    empty CSVLocale (Tornado's get() would assert)."""
    if code in tlocale.get_supported_locales():
        return tlocale.Locale.get(code)
    return tlocale.CSVLocale(code, {})


NUMBERS = [0, 7, 12, 123, 999, 1000, 1234, 12345, 123456, 1234567, 1000000, -1, -12, -123,
           -1234, -123456, -1234567, 2 ** 63 - 1, -2 ** 63]


def number_cases():
    rows = []
    for code in ["en", "en_US", "en_GB", "es_LA", "zh_CN"]:
        locale = tlocale.CSVLocale(code, {})
        for number in NUMBERS:
            rows.append("    {%s, %s, %s}," % (literal(code), cxx_int(number),
                                               literal(locale.friendly_number(number))))
    return rows


NAME_CODES = ["en_US", "es_LA", "fr_FR", "zh_CN", "zh_TW", "ja_JP", "ar_AR", "fa_IR", "he_IL",
              "fa", "ar", "he", "hebrew", "fr", "xx_YY", "", "de_DE", "pt_BR", "pt_PT", "am_ET"]


def name_cases():
    rows = []
    for code in NAME_CODES:
        locale = tlocale.CSVLocale(code, {})
        rows.append("    {%s, %s, %s}," % (literal(code), literal(locale.name), boolean(locale.rtl)))
    return rows


def translate_rows(code, calls):
    rows = []
    locale = tlocale.Locale.get(code)
    for args in calls:
        message, plural_message, count = (list(args) + [None, None])[:3]
        rows.append("    {%s, %s, %s, %s, %s}," % (
            literal(code), literal(message), optional_text(plural_message),
            optional_number(count), literal(locale.translate(message, plural_message, count))))
    return rows


CSV_CALLS = [("I love you",), ("Not translated",), ("",), ("%(name)s liked this",),
             ("%(name)s liked this", "%(name)s liked this", 1),
             ("%(name)s liked this", "%(name)s liked this", 2),
             ("%(name)s liked this", "%(name)s liked this", 0),
             ("%(name)s liked this", "%(name)s liked this", -1),
             ("%(count)d file", "%(count)d files", 1), ("%(count)d file", "%(count)d files", 5),
             ("%(count)d file", "%(count)d files", 0),
             ("Sign out",), ('"Sign out"',), ("Only one column",), ("Multi\nline",),
             ('He said "hi"',), ("a,b",), ("Padded",), ("Delete",), ("Quotedtail",),
             ("Quoted",), ("Tab\tand\u00a0nbsp",), ("Unclosed",), ("Unclosed,",),
             ("March",), ("Sunday",), ("yesterday",), ("Emoji \U0001F600",),
             ("1 second ago", "%(seconds)d seconds ago", 1),
             ("1 second ago", "%(seconds)d seconds ago", 7)]

GETTEXT_CALLS = [("I love you",), ("Not translated",), ("",),
                 ("%(name)s liked this", "%(name)s liked these", 1),
                 ("%(name)s liked this", "%(name)s liked these", 3),
                 ("%(name)s liked this", "%(name)s liked these", 0),
                 ("%(count)d file", "%(count)d files", 0), ("%(count)d file", "%(count)d files", 1),
                 ("%(count)d file", "%(count)d files", 2), ("%(count)d file", "%(count)d files", 5),
                 ("%(count)d file", "%(count)d files", 11), ("%(count)d file", "%(count)d files", 21),
                 ("%(count)d file", "%(count)d files", 22), ("%(count)d file", "%(count)d files", 111),
                 ("%(count)d file", "%(count)d files", -1),
                 ("%(count)d item", "%(count)d items", 0), ("%(count)d item", "%(count)d items", 1),
                 ("%(count)d item", "%(count)d items", 2),
                 ("%(count)d book", "%(count)d books", 0), ("%(count)d book", "%(count)d books", 1),
                 ("%(count)d book", "%(count)d books", 2), ("%(count)d book", "%(count)d books", 7),
                 ("%(count)d book", "%(count)d books", 11), ("%(count)d book", "%(count)d books", 100),
                 ("%(count)d book", "%(count)d books", 102),
                 ("Sign out",), ("February",), ("August",), ("Caf\u00e9",), ("March",),
                 ("right",), ("club",), ("club", "clubs", 2),
                 ("1 second ago", "%(seconds)d seconds ago", 1),
                 ("1 second ago", "%(seconds)d seconds ago", 30)]

GETTEXT_LOCALES = ["es_LA", "ru_RU", "pt", "pt_BR", "ar_AR", "fr_FR", "ja_JP", "en_US"]

PGETTEXT_CALLS = [("law", "right"), ("good", "right"), ("other", "right"), ("law", "left"),
                  ("organization", "club", "clubs", 1), ("organization", "club", "clubs", 2),
                  ("stick", "club", "clubs", 1), ("stick", "club", "clubs", 5),
                  ("other", "club", "clubs", 5), ("other", "%(count)d file", "%(count)d files", 5),
                  ("", "I love you"), ("law", "I love you")]


def pgettext_rows(code, calls):
    rows = []
    locale = tlocale.Locale.get(code)
    for args in calls:
        context, message, plural_message, count = (list(args) + [None, None])[:4]
        rows.append("    {%s, %s, %s, %s, %s, %s}," % (
            literal(code), literal(context), literal(message), optional_text(plural_message),
            optional_number(count),
            literal(locale.pgettext(context, message, plural_message, count))))
    return rows


CLOSEST = [("en_US",), ("es_LA",), ("es-la",), ("ES-LA",), ("Es_lA",), ("es",), ("es_MX",),
           ("fr",), ("fr_FR",), ("fr-fr",), ("FR_fr",), ("fr_CA",), ("pt",), ("PT",),
           ("pt_BR",), ("pt-PT",), ("pt_BR_x",), ("zh_cn",), ("zh-Hans-CN",), ("de",),
           ("xx",), ("",), (), ("", "es_LA"), ("xx", "fr_FR", "es_LA"), ("en",), ("EN_us",),
           ("es__LA",), ("_LA",), ("es_",), ("-",), ("de-de", "fr-fr"), ("zh_CN ",),
           ("caf\u00e9_FR",), ("es_L\u00c1",)]


def closest_rows():
    rows = []
    for codes in CLOSEST:
        result = tlocale.get(*codes)
        rows.append("    {{%s}, %s}," % (", ".join(literal(c) for c in codes), literal(result.code)))
    return rows


# Accept-Language values as bytes (Tornado reads headers as Latin-1).
HEADERS = [
    None, b"", b"  ", b",,,", b"*", b"es-LA", b"es-LA,es;q=0.9,en;q=0.8",
    b"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", b"de;q=0.5, zh-CN", b"zh-cn;q=abc, es-la",
    b"en;q=-1, de", b"es-LA;q=0", b"es-LA;q=0.0, de;q=0.001", b"es-LA;level=1;q=0.1,de",
    b"pt-BR;q=1e-1, de;q=0.05", b"x;q=inf,de", b"fr-FR;q=-inf, de", b"x;q=nan,de;q=0.1",
    b"de ;q=0.5", b"es_LA;q=0.5, fr_FR;q=0.5, de_DE;q=0.5", b"fr_FR;q=0.5, es_LA;q=0.5",
    b"es-LA;q= 0.5 , de;q=0.4", b"de;q=1_0, es-LA;q=2", b"de;q=1__0, es-LA;q=0.1",
    b"de;Q=0.1, es-LA;q=0.5", b"de; q=0.1, es-LA;q=0.5", b"de;q=.5, es-LA;q=5.",
    b"de;q=0x1, es-LA;q=0.2", b"de;q=\xa00.9, es-LA;q=0.5", b"de;q=0.9\x85, es-LA;q=0.5",
    b"de;q=\x1c0.9, es-LA;q=0.5", b"\x1c de \x1f;q=0.9", b"\xa0de\x85", b"\xff\xfe\x00garbage",
    b"caf\xe9, es-LA;q=0.3", b"de\x00;q=0.9", b"de;q=0.9;q=0.1, es-LA", b"de;q=1e400, es-LA",
    b"de;q=1e-400, es-LA;q=0.1", b"de;q=+0.5, es-LA;q=0.4", b"de;q=-0, es-LA;q=0.1",
    b"de;q=Infinity, es-LA;q=INF", b"de;q=0.5e, es-LA;q=0.1", b"de;q=, es-LA;q=0.1",
    b"de;q, es-LA;q=0.1", b"zh-Hans-CN, es", b"pt-PT, de", b";q=0.9", b"es-LA;;q=0.1",
]
DEFAULTS = ["en_US", "es_LA", "xx", "", "fr-fr"]


def browser_rows():
    rows = []
    for value in HEADERS:
        for default in (DEFAULTS if value in (None, b"", b"es-LA;q=0") else ["en_US"]):
            headers = {} if value is None else {"Accept-Language": value.decode("latin-1")}
            handler = types.SimpleNamespace(request=types.SimpleNamespace(headers=headers))
            result = tornado.web.RequestHandler.get_browser_locale(handler, default)
            rows.append("    {%s, %s, %s}," % (optional_text(value), literal(default),
                                               literal(result.code)))
    return rows


PLURAL_EXPRESSIONS = [
    "n != 1", "(n != 1)", "n>1", "0", "n==1 ? 0 : 1", "n == 1 ? 0 : n == 2 ? 1 : 2",
    "n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2",
    "(n==1) ? 0 : (n>=2 && n<=4) ? 1 : 2",
    "n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2",
    "n%100==1 ? 0 : n%100==2 ? 1 : n%100==3 || n%100==4 ? 2 : 3",
    "n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5",
    "(n==1 ? 0 : (n==0 || (n%100 > 0 && n%100 < 20)) ? 1 : 2)",
    "n%10==1 && n%100!=11 ? 0 : n != 0 ? 1 : 2", "n==1 ? 0 : n==2 ? 1 : n<7 ? 2 : n<11 ? 3 : 4",
    "!n", "!n == 1", "!n + 1", "!!n", "!!!n", "!n * 2", "!(n == 1)", "n && 2", "n || 3",
    "0 || n", "0 && n", "n && n - 1", "n ? 5 : 6", "n ? n ? 1 : 2 : 3", "n == 1 == 0",
    "1 < n < 5", "n < 2 == 1", "n == 1 < 2", "n - 1 - 1", "10 / 3 * n", "n / 2", "n % 3",
    "n / 0", "n % 0", "n - n", "1 - n > 0 ? 1 : 0", "n%10==1&&n%100!=11?0:1", "\tn != 1\t",
    "007", "n == 007", "(((n)))", "(" * 20 + "n" + ")" * 20, "(" * 21 + "n" + ")" * 21,
    "n" + "+n" * 499, "n?1:" * 200 + "0", "!" * 300 + "n",
    # errors
    "", " ", "-n", "n ? 1", "(n", "n)", "n +", "2n", "nn", "N", "n = 1", "n & 1", "n | 1",
    "n * !n", "n != 1;", "x", "n\u00e9", "n ? 1 : 2 : 3", "()", "n n", "n" + "+n" * 500,
    "n == 1 ? 0 :",
]
PLURAL_NS = [0, 1, 2, 3, 4, 5, 7, 10, 11, 12, 14, 19, 20, 21, 22, 25, 100, 101, 102, 103, 111,
             112, 1000, 1001, -1, -2, -11]


def plural_rows():
    rows = []
    for expression in PLURAL_EXPRESSIONS:
        try:
            function = gettext.c2py(expression)
        except (ValueError, SyntaxError):
            rows.append("    {%s, false, {}}," % literal(expression))
            continue
        results = []
        for n in PLURAL_NS:
            try:
                results.append("{%d, %d, false}" % (n, function(n)))
            except ZeroDivisionError:
                results.append("{%d, 0, true}" % n)
        rows.append("    {%s, true, {%s}}," % (literal(expression), ", ".join(results)))
    return rows


CSV_TEXTS = [
    "", "a,b\n", "a,b", "a\0b,c\n", '"a\0b",c\n', '"a\nb",c\n', '"abc"def,g\n', 'abc"def",g\n',
    '"unterminated\n', '"unterminated', "\n\n", ' "a",b\n', '"a" ,b\n', "a\rb\n", '"a\rb"\n',
    '"a\r\nb"\r\n', "x,\"\"\n", '"""",y\n', ",\n", ",,\n", "a,\n", "a,", ",a", "\r\n\r\n",
    '"a""b"c"d",e\n', '"a"\n"b"\n', "a\n\nb\n", '"\n"\n', 'a,"b\n\nc",d\ne\n',
    '"a",\r"b"\r', "\u00e9,\u4e2d\n\U0001F600", '"x"y"z"\n', 'x"y,"z\n', '""\n', '"""\n',
]


def csv_read_rows():
    rows = []
    for text in CSV_TEXTS:
        records = list(csv.reader(io.StringIO(text, newline=None)))
        cells = ", ".join("{%s}" % ", ".join(literal(c) for c in record) for record in records)
        rows.append("    {%s, {%s}}," % (literal(text), cells))
    return rows


# ---- loading, as the twin loads --------------------------------------------------------------

def load_csv_like_the_twin(directory):
    """tornado.locale.load_translations on each file alone, joined: Tornado
    would read every file with the first file's encoding."""
    merged = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".csv"):
            continue
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(os.path.join(directory, name), alone)
            tlocale.load_translations(alone)
            merged.update(tlocale._translations)
    tlocale._translations = merged
    tlocale._supported_locales = frozenset(list(merged.keys()) + [tlocale._default_locale])
    tlocale.Locale._cache = {}


def main():
    write_data()
    out = [
        "// Generated by tests/final/locale_oracle.py from Python Tornado %s: do not edit."
        % tornado.version,
        "// What tornado.locale answers for the translations in locale_data/; the",
        "// types are locale_test.cpp's. Times are microseconds since 1970 (UTC).",
        "// clang-format off",
        "",
    ]

    def table(declaration, rows):
        out.append(declaration + " = {")
        out.extend(rows)
        out.append("};")
        out.append("")

    table("inline const NameCase kNames[]", name_cases())
    table("inline const NumberCase kFriendlyNumbers[]", number_cases())
    table("inline const PluralCase kPluralForms[]", plural_rows())
    table("inline const CsvTextCase kCsvTexts[]", csv_read_rows())

    # CSV translations.
    load_csv_like_the_twin(os.path.join(DATA, "csv"))
    out.append("inline const std::vector<std::string_view> kCsvSupported = {%s};" % ", ".join(
        literal(c) for c in sorted(tlocale.get_supported_locales())))
    out.append("")
    translate = []
    for code in ["en_US"] + CSV_LOCALES:
        translate += translate_rows(code, CSV_CALLS)
    table("inline const TranslateCase kCsvTranslate[]", translate)
    table("inline const PgettextCase kCsvPgettext[]",
          pgettext_rows("es_LA", PGETTEXT_CALLS[:3]) + pgettext_rows("en_US", PGETTEXT_CALLS[:3]))
    dates = date_cases("en_US", NOWS, DELTAS, OFFSETS, FLAGS)
    dates += date_cases("en_US", NOWS[1:2], DELTAS, MORE_OFFSETS, FLAGS[:2])
    for code in CSV_LOCALES:
        dates += date_cases(code, NOWS[:1], DELTAS, [0, 480], OTHER_FLAGS)
    table("inline const DateCase kCsvDates[]", dates)
    table("inline const TimestampCase kTimestamps[]", timestamp_cases())
    table("inline const DayCase kCsvDays[]", day_cases())
    table("inline const ListCase kCsvLists[]", list_cases(csv_locale))
    table("inline const ClosestCase kCsvClosest[]", closest_rows())
    table("inline const BrowserCase kCsvBrowser[]", browser_rows())

    # gettext catalogs.
    tlocale.Locale._cache = {}
    tlocale.load_gettext_translations(os.path.join(DATA, "gettext"), DOMAIN)
    out.append("inline const std::vector<std::string_view> kGettextSupported = {%s};" % ", ".join(
        literal(c) for c in sorted(tlocale.get_supported_locales())))
    out.append("")
    translate, pgettext = [], []
    for code in GETTEXT_LOCALES:
        translate += translate_rows(code, GETTEXT_CALLS)
        pgettext += pgettext_rows(code, PGETTEXT_CALLS)
    table("inline const TranslateCase kGettextTranslate[]", translate)
    table("inline const PgettextCase kGettextPgettext[]", pgettext)
    dates = []
    for code in ["es_LA", "ru_RU", "fr_FR", "pt_BR"]:
        dates += date_cases(code, NOWS[:1], DELTAS, [0], OTHER_FLAGS)
    table("inline const DateCase kGettextDates[]", dates)
    table("inline const ListCase kGettextLists[]",
          list_cases(lambda code: tlocale.Locale.get(code) if code in
                     tlocale.get_supported_locales() else tlocale.CSVLocale(code, {})))
    table("inline const ClosestCase kGettextClosest[]", closest_rows())

    out.append("// clang-format on")
    with open(os.path.join(HERE, "locale_cases.inc"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    sys.stderr.write("locale_oracle.py: wrote locale_data/ and locale_cases.inc\n")


if __name__ == "__main__":
    main()
