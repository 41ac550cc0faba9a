#include "sql_connection.hpp"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <sqlite3.h>

#include <cstring>
#include <stdexcept>

namespace api::sql {

using namespace Poco::Data::Keywords;

namespace {

[[noreturn]] void fail(sqlite3* db, const char* what) {
    throw std::runtime_error(std::string("SQLite ") + what + ": " + sqlite3_errmsg(db));
}

}  // namespace

Rows::~Rows() {
    if (statement_ != nullptr) {
        sqlite3_reset(statement_);
        sqlite3_clear_bindings(statement_);
    }
}

bool Rows::next() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) {
        return true;
    }
    if (rc == SQLITE_DONE) {
        return false;
    }
    fail(db_, "step");
}

void Rows::run() {
    while (next()) {
    }
}

std::int64_t Rows::integer(int i) const {
    return sqlite3_column_int64(statement_, i);
}

double Rows::real(int i) const {
    return sqlite3_column_double(statement_, i);
}

std::string Rows::text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(statement_, i));
    return p == nullptr
               ? std::string()
               : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(statement_, i)));
}

void Rows::bind_integer(int i, std::int64_t value) {
    if (sqlite3_bind_int64(statement_, i, value) != SQLITE_OK) {
        fail(db_, "bind");
    }
}

void Rows::bind(int i, double value) {
    if (sqlite3_bind_double(statement_, i, value) != SQLITE_OK) {
        fail(db_, "bind");
    }
}

void Rows::bind(int i, std::string_view value) {
    if (sqlite3_bind_text64(statement_, i, value.data(), value.size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8) != SQLITE_OK) {
        fail(db_, "bind");
    }
}

Connection::Connection(const std::string& path, bool read_only) {
    Poco::Data::SQLite::Connector::registerConnector();
    session_ = std::make_unique<Poco::Data::Session>("SQLite", path);
    Poco::Data::Session& s = *session_;
    std::string mode;
    s << "PRAGMA journal_mode=WAL", into(mode), now;
    s << "PRAGMA foreign_keys=ON", now;
    s << "PRAGMA synchronous=FULL", now;
    s << "PRAGMA busy_timeout=5000", now;
    if (read_only) {
        s << "PRAGMA query_only=ON", now;
    }
    db_ = Poco::Data::SQLite::Utility::dbHandle(s);
}

Connection::~Connection() {
    // Before POCO closes the database: a connection with live statements does not close.
    for (auto& [sql, statement] : statements_) {
        sqlite3_finalize(statement);
    }
}

sqlite3_stmt* Connection::prepared(const char* sql) {
    if (const auto it = statements_.find(sql); it != statements_.end()) {
        return it->second;
    }
    sqlite3_stmt* statement = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, &tail) !=
        SQLITE_OK) {
        fail(db_, "prepare");
    }
    if (statement == nullptr || tail[std::strspn(tail, " \t\n")] != '\0') {
        sqlite3_finalize(statement);
        throw std::logic_error(std::string("not one SQL statement: ") + sql);
    }
    statements_.emplace(sqlite3_sql(statement), statement);
    return statement;
}

std::int64_t Connection::last_insert_id() const {
    return sqlite3_last_insert_rowid(db_);
}

int Connection::changes() const {
    return sqlite3_changes(db_);
}

}  // namespace api::sql
