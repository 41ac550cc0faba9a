#include "databases.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "harness.hpp"

namespace harness {

namespace {

// The test server's URI (its maintenance database), "" when the tests run on SQLite.
std::string server_uri() {
    const char* file = std::getenv("STATION_TEST_POSTGRES_URI_FILE");
    if (file == nullptr || *file == '\0') {
        return "";
    }
    std::string uri = read_text(file);
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == ' ')) {
        uri.pop_back();
    }
    if (uri.empty()) {
        throw std::runtime_error(std::string("no PostgreSQL test server's URI in ") + file);
    }
    return uri;
}

using PgConn = std::unique_ptr<PGconn, decltype(&PQfinish)>;

PgConn connect(const std::string& uri) {
    PgConn c(PQconnectdb(uri.c_str()), &PQfinish);
    if (PQstatus(c.get()) != CONNECTION_OK) {
        throw std::runtime_error("cannot connect to " + uri + ": " + PQerrorMessage(c.get()));
    }
    return c;
}

std::int64_t pg_value(const std::string& uri, const std::string& sql) {
    PgConn c = connect(uri);
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c.get(), sql.c_str()), &PQclear);
    const ExecStatusType status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        throw std::runtime_error(sql + ": " + PQresultErrorMessage(r.get()));
    }
    if (status != PGRES_TUPLES_OK || PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) {
        return 0;
    }
    return std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10);
}

std::int64_t sqlite_value(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        throw std::runtime_error("cannot open " + path);
    }
    std::unique_ptr<sqlite3, decltype(&sqlite3_close)> owner(db, &sqlite3_close);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
        throw std::runtime_error(sql + ": " + sqlite3_errmsg(db));
    }
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> statement(st, &sqlite3_finalize);
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        return sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_DONE) {
        throw std::runtime_error(sql + ": " + sqlite3_errmsg(db));
    }
    return 0;
}

}  // namespace

bool on_postgresql() {
    return !server_uri().empty();
}

std::string test_database(const std::string& dir, const std::string& name) {
    const std::string server = server_uri();
    if (server.empty()) {
        return dir + "/" + name;
    }
    static std::atomic<int> made{0};
    const std::string db = "t" + std::to_string(::getpid()) + "_" + std::to_string(++made);
    pg_value(server, "CREATE DATABASE " + db);
    // The server's URI names its maintenance database last: the new one takes its place.
    const auto slash = server.rfind('/');
    const auto query = server.find('?', slash);
    return server.substr(0, slash + 1) + db +
           (query == std::string::npos ? "" : server.substr(query));
}

std::int64_t sql_value(const std::string& location, const std::string& sql) {
    if (location.starts_with("postgresql://") || location.starts_with("postgres://")) {
        return pg_value(location, sql);
    }
    return sqlite_value(location, sql);
}

}  // namespace harness
