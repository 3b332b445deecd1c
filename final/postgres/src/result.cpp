// result.cpp: the values side of tornado/postgres.h: errors, parameters,
// and reading results (Result, Row, Field) in their text form.
#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <string>

#include "postgres_internal.h"
#include "tornado/postgres.h"

namespace tornado::postgres {
namespace {

// The type OIDs a Field checks before reading (pg_type.dat).
constexpr unsigned kBoolOid = 16, kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23,
                   kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

bool is_integer_type(unsigned type) {
    return type == kInt2Oid || type == kInt4Oid || type == kInt8Oid || type == kOidOid;
}

std::string server_error_text(const ServerErrorFields& fields) {
    std::string text =
        fields.severity + ": " + fields.message + " (SQLSTATE " + fields.sqlstate + ")";
    if (!fields.detail.empty()) text += "\nDETAIL: " + fields.detail;
    if (!fields.hint.empty()) text += "\nHINT: " + fields.hint;
    return text;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

// ---- errors ----------------------------------------------------------------

ServerError::ServerError(ServerErrorFields fields)
    : Error(server_error_text(fields)), fields_(std::move(fields)) {}

namespace detail {

// The server's error as the exception its SQLSTATE class names (23:
// IntegrityError, 22: DataError, 42: ProgrammingError, 40:
// TransactionRollbackError, else ServerError), with every field it sent,
// as the Python DB-API drivers (psycopg) sort theirs.
std::exception_ptr server_error(const pg_result* result) {
    auto field = [result](int code) {
        const char* value = PQresultErrorField(result, code);
        return std::string(value != nullptr ? value : "");
    };
    ServerErrorFields fields;
    fields.sqlstate = field(PG_DIAG_SQLSTATE);
    fields.severity = field(PG_DIAG_SEVERITY_NONLOCALIZED);
    if (fields.severity.empty()) fields.severity = "ERROR";
    fields.message = field(PG_DIAG_MESSAGE_PRIMARY);
    if (fields.message.empty()) {
        // An error libpq made itself (no ErrorResponse behind it) has only
        // its message.
        fields.message = PQresultErrorMessage(result);
        while (!fields.message.empty() && fields.message.back() == '\n') fields.message.pop_back();
    }
    fields.detail = field(PG_DIAG_MESSAGE_DETAIL);
    fields.hint = field(PG_DIAG_MESSAGE_HINT);
    fields.constraint = field(PG_DIAG_CONSTRAINT_NAME);
    fields.table = field(PG_DIAG_TABLE_NAME);
    fields.column = field(PG_DIAG_COLUMN_NAME);
    std::string position = field(PG_DIAG_STATEMENT_POSITION);
    std::from_chars(position.data(), position.data() + position.size(), fields.position);

    std::string_view code_class = std::string_view(fields.sqlstate).substr(0, 2);
    if (code_class == "23") return std::make_exception_ptr(IntegrityError(std::move(fields)));
    if (code_class == "22") return std::make_exception_ptr(DataError(std::move(fields)));
    if (code_class == "42") return std::make_exception_ptr(ProgrammingError(std::move(fields)));
    if (code_class == "40") {
        return std::make_exception_ptr(TransactionRollbackError(std::move(fields)));
    }
    return std::make_exception_ptr(ServerError(std::move(fields)));
}

// What libpq would send wrong without a word (a text cut at a NUL, a
// parameter count past 16 bits) is refused here, before it is queued.
void check_sendable(std::string_view sql, const std::vector<Param>& params) {
    if (sql.find('\0') != std::string_view::npos) {
        throw UsageError("the statement holds a NUL byte, which PostgreSQL text cannot hold");
    }
    // The protocol counts parameters in 16 bits.
    if (params.size() > 65535) {
        throw UsageError("a statement takes at most 65535 parameters, not " +
                         std::to_string(params.size()));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
        // libpq reads a text parameter up to its first NUL: the rest would
        // be dropped without a word.
        if (!params[i].binary() && params[i].value().find('\0') != std::string_view::npos) {
            throw UsageError("parameter $" + std::to_string(i + 1) +
                             " holds a NUL byte, which PostgreSQL text cannot hold "
                             "(send binary data as postgres::Bytes)");
        }
    }
}

}  // namespace detail

// ---- parameters --------------------------------------------------------------

Param::Param(double value) : type_(kFloat8) {
    if (std::isnan(value)) {
        value_ = "NaN";
    } else if (std::isinf(value)) {
        value_ = value > 0 ? "Infinity" : "-Infinity";
    } else {
        // The shortest text that reads back as the same double.
        char text[32];
        auto [end, error] = std::to_chars(text, text + sizeof text, value);
        value_ = std::string(text, end);
    }
}

std::string quote_identifier(std::string_view name) {
    if (name.find('\0') != std::string_view::npos) {
        throw UsageError("an identifier cannot hold a NUL byte");
    }
    std::string quoted = "\"";
    for (char c : name) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + '"';
}

// ---- Field -----------------------------------------------------------------

bool Field::is_null() const noexcept { return PQgetisnull(result_, row_, column_) != 0; }

std::string_view Field::name() const noexcept { return PQfname(result_, column_); }

unsigned Field::type() const noexcept { return PQftype(result_, column_); }

std::string_view Field::text() const noexcept {
    return {PQgetvalue(result_, row_, column_),
            static_cast<std::size_t>(PQgetlength(result_, row_, column_))};
}

std::string_view Field::as_text() const {
    if (is_null()) {
        throw UsageError("column \"" + std::string(name()) +
                         "\" is NULL: read it as a std::optional");
    }
    return text();
}

namespace {

[[noreturn]] void wrong_type(const Field& field, const char* wanted) {
    throw UsageError("column \"" + std::string(field.name()) + "\" (type OID " +
                     std::to_string(field.type()) + ") cannot be read as " + wanted);
}

}  // namespace

bool Field::as_bool() const {
    if (type() != kBoolOid) wrong_type(*this, "bool");
    return as_text() == "t";
}

std::int64_t Field::as_int64() const {
    if (!is_integer_type(type())) wrong_type(*this, "an integer");
    std::string_view digits = as_text();
    std::int64_t value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size()) {
        // oid is unsigned 32-bit and always fits; no integer column holds
        // anything else, so this is a value libpq did not deliver whole.
        throw UsageError("column \"" + std::string(name()) + "\": '" + std::string(digits) +
                         "' is not an integer");
    }
    return value;
}

double Field::as_double() const {
    unsigned column_type = type();
    if (column_type != kFloat4Oid && column_type != kFloat8Oid && column_type != kNumericOid &&
        !is_integer_type(column_type)) {
        wrong_type(*this, "a floating-point number");
    }
    std::string_view digits = as_text();
    if (digits == "NaN") return std::nan("");
    if (digits == "Infinity") return HUGE_VAL;
    if (digits == "-Infinity") return -HUGE_VAL;
    double value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error == std::errc::result_out_of_range) {
        // numeric holds more than a double: the nearest one, as libpq's
        // users get from strtod.
        return std::strtod(std::string(digits).c_str(), nullptr);
    }
    if (error != std::errc() || end != digits.data() + digits.size()) {
        throw UsageError("column \"" + std::string(name()) + "\": '" + std::string(digits) +
                         "' is not a number");
    }
    return value;
}

// bytea comes in one of its two text forms: hex ("\x6869", the default
// since PostgreSQL 9.0) or escape (bytea_output = escape: printable bytes
// as they are, "\\" for a backslash, "\ooo" in octal for the rest).
Bytes Field::as_bytes() const {
    if (type() != kByteaOid) wrong_type(*this, "Bytes");
    std::string_view text = as_text();
    Bytes bytes;
    auto malformed = [this]() {
        return UsageError("column \"" + std::string(name()) + "\": malformed bytea text");
    };
    if (text.starts_with("\\x")) {
        if (text.size() % 2 != 0) throw malformed();
        bytes.data.reserve((text.size() - 2) / 2);
        for (std::size_t i = 2; i < text.size(); i += 2) {
            int high = hex_value(text[i]), low = hex_value(text[i + 1]);
            if (high < 0 || low < 0) throw malformed();
            bytes.data += static_cast<char>(high * 16 + low);
        }
        return bytes;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            bytes.data += text[i];
        } else if (i + 1 < text.size() && text[i + 1] == '\\') {
            bytes.data += '\\';
            ++i;
        } else if (text.size() - i >= 4) {
            int value = 0;
            for (std::size_t k = 1; k <= 3; ++k) {
                if (text[i + k] < '0' || text[i + k] > '7') throw malformed();
                value = value * 8 + (text[i + k] - '0');
            }
            bytes.data += static_cast<char>(value);
            i += 3;
        } else {
            throw malformed();
        }
    }
    return bytes;
}

void Field::out_of_range(std::int64_t value, const char* type_name) const {
    throw UsageError("column \"" + std::string(name()) + "\": " + std::to_string(value) +
                     " does not fit in " + type_name + " integer of the size asked for");
}

// ---- Row and Result --------------------------------------------------------

namespace {

// The position of the column named exactly `name` (PQfnumber would fold
// an unquoted name to lower case), or -1.
int find_column(const pg_result* result, std::string_view name) {
    int columns = PQnfields(result);
    for (int column = 0; column < columns; ++column) {
        if (name == PQfname(result, column)) return column;
    }
    return -1;
}

[[noreturn]] void no_such_column(std::string_view name) {
    throw UsageError("the result has no column \"" + std::string(name) + "\"");
}

}  // namespace

std::size_t Row::size() const noexcept {
    return static_cast<std::size_t>(PQnfields(result_.get()));
}

Field Row::operator[](std::size_t column) const {
    if (column >= size()) {
        throw UsageError("column " + std::to_string(column) + " is past the last of " +
                         std::to_string(size()));
    }
    return Field(result_.get(), row_, static_cast<int>(column));
}

Field Row::operator[](std::string_view name) const {
    int column = find_column(result_.get(), name);
    if (column < 0) no_such_column(name);
    return Field(result_.get(), row_, column);
}

std::size_t Result::size() const noexcept {
    return static_cast<std::size_t>(PQntuples(result_.get()));
}

std::size_t Result::columns() const noexcept {
    return static_cast<std::size_t>(PQnfields(result_.get()));
}

std::string_view Result::column_name(std::size_t column) const {
    if (column >= columns()) {
        throw UsageError("column " + std::to_string(column) + " is past the last of " +
                         std::to_string(columns()));
    }
    return PQfname(result_.get(), static_cast<int>(column));
}

std::size_t Result::column_index(std::string_view name) const {
    int column = find_column(result_.get(), name);
    if (column < 0) no_such_column(name);
    return static_cast<std::size_t>(column);
}

Row Result::at(std::size_t row) const {
    if (row >= size()) {
        throw UsageError("row " + std::to_string(row) + " is past the last of " +
                         std::to_string(size()));
    }
    return (*this)[row];
}

std::string_view Result::command() const noexcept {
    return PQcmdStatus(const_cast<pg_result*>(result_.get()));
}

std::uint64_t Result::affected_rows() const noexcept {
    const char* count = PQcmdTuples(const_cast<pg_result*>(result_.get()));
    std::uint64_t rows = 0;
    std::from_chars(count, count + std::char_traits<char>::length(count), rows);
    return rows;
}

}  // namespace tornado::postgres
