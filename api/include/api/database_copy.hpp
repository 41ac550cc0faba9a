#pragma once
/// @file Copying the API's database from one engine to another: a station that ran on
/// SQLite moving to the centre's PostgreSQL (docs/operations.md), or a PostgreSQL
/// database kept as a SQLite file. Both ends are brought to the current schema first;
/// the target must hold no rows. Every row of every table is copied with its ids in one
/// transaction, PostgreSQL's identities are moved past the copied ids, and the copy is
/// then read back and compared with the source, value by value.

#include <cstdint>
#include <string>
#include <vector>

namespace api {

/// The rows copied into one table.
struct CopiedTable {
    std::string table;
    std::int64_t rows = 0;
};

/// Copies the database at `from` into the one at `to` (each a SQLite file or a
/// `postgresql://` URI, as Store takes them) and returns the rows copied per table.
/// Every API instance on `from` must be stopped: its rows are read as they are. Throws
/// std::runtime_error, leaving `to` without a copied row, when a database cannot be opened
/// or migrated, `to` already holds rows, or the copy read back differs from the source.
std::vector<CopiedTable> copy_database(const std::string& from, const std::string& to);

/// The tables copy_database copies, with their columns in order, as the current schema
/// has them (a test compares them with the database, so that a migration that adds a
/// table or a column cannot be forgotten here).
struct CopiedColumns {
    std::string table;
    std::vector<std::string> columns;
};
std::vector<CopiedColumns> copied_tables();

}  // namespace api
