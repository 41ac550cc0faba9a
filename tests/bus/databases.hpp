#pragma once
// The API's database in tests, on either engine the store runs on (api/store.hpp). The
// suite runs on SQLite files; with STATION_TEST_POSTGRES_URI_FILE set (the file
// tests/tools/pg_test_server.sh writes, holding a test server's URI) the same tests run
// on PostgreSQL, each on a database of its own.

#include <cstdint>
#include <string>

namespace harness {

/// True when the tests run on PostgreSQL.
bool on_postgresql();

/// Where a test keeps the API's database: a new, empty PostgreSQL database on the test
/// server when on_postgresql(), else the file `dir`/`name`.
std::string test_database(const std::string& dir, const std::string& name = "api.db");

/// Runs one SQL statement on the database at `location` (a SQLite file or a PostgreSQL
/// URI) and returns the first column of its first row as an integer (0 without rows).
/// Throws std::runtime_error on an error.
std::int64_t sql_value(const std::string& location, const std::string& sql);

}  // namespace harness
