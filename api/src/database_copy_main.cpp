// station-db-copy: copies the API's database to another engine (api/database_copy.hpp).
// This file only reads the two locations and reports.

#include <exception>
#include <iostream>
#include <string>

#include "api/database_copy.hpp"
#include "sql_connection.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-db-copy FROM TO\n"
    "\n"
    "Copies every row of the API's database FROM into the empty database TO, each a SQLite\n"
    "file or a PostgreSQL database, postgresql://USER@HOST:PORT/DB (it must exist), whose\n"
    "password libpq reads from PGPASSFILE or PGPASSWORD. Both are migrated to this\n"
    "program's schema first. Stop every station-api on FROM before. The copy is compared\n"
    "with FROM before it is committed: on any error TO is left without a copied row.\n"
    "docs/operations.md, \"Moving a station's database to PostgreSQL\".\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 || std::string(argv[1]).starts_with("-")) {
        std::cerr << kUsage;
        return 2;
    }
    const std::string from = argv[1];
    const std::string to = argv[2];
    try {
        std::int64_t total = 0;
        for (const api::CopiedTable& t : api::copy_database(from, to)) {
            std::cout << t.table << ": " << t.rows << " rows\n";
            total += t.rows;
        }
        std::cout << "copied " << total << " rows from " << api::sql::redacted(from) << " to "
                  << api::sql::redacted(to) << ", compared with the source\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "station-db-copy: " << e.what() << '\n';
        return 1;
    }
}
