// database.h: the blog's tables (blog.py's schema.sql and its
// maybe_create_tables) and how a row of entries reaches a template.
#pragma once

#include <memory>
#include <string>

#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/postgres.h"

namespace blog {

// Creates the tables and the index if the database has no `entries` table
// yet, in one transaction (all or nothing).
tornado::Task<void> maybe_create_tables(std::shared_ptr<tornado::postgres::Pool> db);

// The start of every query for entries, followed by a WHERE or an ORDER BY:
// each column entry_json() reads, the dates as seconds since the epoch.
inline const std::string kSelectEntries =
    "SELECT id, author_id, slug, title, markdown, html,"
    " extract(epoch FROM published)::float8 AS published,"
    " extract(epoch FROM updated)::float8 AS updated FROM entries ";

// A row of kSelectEntries as the templates read it: entry.title, .slug,
// .html, .id, .published and .updated (seconds, for locale.format_date),
// and .published_utc and .updated_utc ("2024-05-01T12:00:00Z", for the feed).
tornado::JSON entry_json(const tornado::postgres::Row& row);
// Every row of a result, in order.
tornado::JSON entries_json(const tornado::postgres::Result& rows);

// Seconds since the epoch as Atom writes a date: "2024-05-01T12:00:00Z".
std::string atom_date(double seconds);

}  // namespace blog
