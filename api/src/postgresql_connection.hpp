#pragma once
// The store's connection to a PostgreSQL database (sql_connection.hpp).

#include <memory>
#include <string>

#include "sql_connection.hpp"

namespace api::sql {

/// Connects to the database a `postgresql://` URI names. A writer commits with
/// synchronous_commit=on, the log's writer with off (sql_connection.hpp's Role); a reader's
/// transactions are read-only. A connection the server dropped is reset on the error that
/// shows it, so the next statement runs on a new one.
std::unique_ptr<Connection> open_postgresql(const std::string& uri, Role role);

/// A migration written in SQLite's words, in PostgreSQL's: 64-bit integers, identity
/// primary keys, double precision reals, lower() for COLLATE NOCASE.
std::string postgresql_ddl(const std::string& script);

/// `sql` with its `?` parameters numbered `$1`, `$2`, ... (not inside '...' literals).
std::string numbered_placeholders(const std::string& sql);

/// The key=value connection string POCO's connector takes, from a URI (libpq's
/// PQconninfoParse). Throws std::invalid_argument for a value POCO cannot carry (a space or a
/// quote: give such a password by PGPASSFILE or PGPASSWORD).
std::string keyword_connection_string(const std::string& uri);

}  // namespace api::sql
