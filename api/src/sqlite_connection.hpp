#pragma once
// The store's connection to a SQLite file (sql_connection.hpp).

#include <memory>
#include <string>

#include "sql_connection.hpp"

namespace api::sql {

/// Opens `path` in WAL mode with foreign keys and a busy timeout; a writer commits with
/// synchronous=FULL, the log's writer with NORMAL; a reader refuses writes (query_only).
std::unique_ptr<Connection> open_sqlite(const std::string& path, Role role);

}  // namespace api::sql
