// database.cpp: see database.h.
#include "database.h"

#include <array>
#include <cmath>
#include <ctime>

namespace blog {

namespace postgres = tornado::postgres;

namespace {

// blog.py's schema.sql, one statement per string: a statement sent with
// parameters (every query of tornado::postgres) may hold only one. IF NOT
// EXISTS where blog.py drops the table first: a half-made schema (authors
// without entries) is completed rather than emptied.
constexpr std::array<const char*, 3> kSchema = {
    "CREATE TABLE IF NOT EXISTS authors ("
    " id SERIAL PRIMARY KEY,"
    " email VARCHAR(100) NOT NULL UNIQUE,"
    " name VARCHAR(100) NOT NULL,"
    " hashed_password VARCHAR(100) NOT NULL)",

    "CREATE TABLE IF NOT EXISTS entries ("
    " id SERIAL PRIMARY KEY,"
    " author_id INT NOT NULL REFERENCES authors(id),"
    " slug VARCHAR(100) NOT NULL UNIQUE,"
    " title VARCHAR(512) NOT NULL,"
    " markdown TEXT NOT NULL,"
    " html TEXT NOT NULL,"
    " published TIMESTAMP NOT NULL,"
    " updated TIMESTAMP NOT NULL)",

    "CREATE INDEX IF NOT EXISTS entries_published ON entries (published)",
};

}  // namespace

tornado::Task<void> maybe_create_tables(std::shared_ptr<postgres::Pool> db) {
    // The catalog is asked (blog.py tries a SELECT and catches the error):
    // a failed statement would be logged by the server as an error.
    postgres::Result found = co_await db->query("SELECT to_regclass('entries') IS NOT NULL");
    if (found[0].get<bool>(0)) co_return;
    postgres::Transaction transaction = co_await db->transaction();
    for (const char* statement : kSchema) co_await transaction.execute(statement);
    co_await transaction.commit();
}

tornado::JSON entry_json(const postgres::Row& row) {
    auto published = row.get<double>("published");
    auto updated = row.get<double>("updated");
    return {
        {"id", row.get<std::int64_t>("id")},
        {"author_id", row.get<std::int64_t>("author_id")},
        {"slug", row.get<std::string>("slug")},
        {"title", row.get<std::string>("title")},
        {"markdown", row.get<std::string>("markdown")},
        {"html", row.get<std::string>("html")},
        {"published", published},
        {"updated", updated},
        {"published_utc", atom_date(published)},
        {"updated_utc", atom_date(updated)},
    };
}

tornado::JSON entries_json(const postgres::Result& rows) {
    tornado::JSON entries = tornado::JSON::array();
    for (const postgres::Row& row : rows) entries.push_back(entry_json(row));
    return entries;
}

std::string atom_date(double seconds) {
    auto whole_seconds = static_cast<std::time_t>(std::floor(seconds));
    std::tm utc{};
    gmtime_r(&whole_seconds, &utc);
    char text[sizeof "2024-05-01T12:00:00Z"];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

}  // namespace blog
