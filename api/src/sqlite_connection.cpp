#include "sqlite_connection.hpp"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <sqlite3.h>

#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace api::sql {

using namespace Poco::Data::Keywords;

namespace {

[[noreturn]] void fail(sqlite3* db, const char* what) {
    throw std::runtime_error(std::string("SQLite ") + what + ": " + sqlite3_errmsg(db));
}

class SqliteConnection final : public Connection {
  public:
    SqliteConnection(const std::string& path, Role role) {
        Poco::Data::SQLite::Connector::registerConnector();
        session_ = std::make_unique<Poco::Data::Session>("SQLite", path);
        Poco::Data::Session& s = *session_;
        std::string mode;
        s << "PRAGMA journal_mode=WAL", into(mode), now;
        s << "PRAGMA foreign_keys=ON", now;
        s << (role == Role::log_writer ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL"),
            now;
        s << "PRAGMA busy_timeout=5000", now;
        if (role == Role::reader) {
            s << "PRAGMA query_only=ON", now;
        }
        db_ = Poco::Data::SQLite::Utility::dbHandle(s);
    }

    ~SqliteConnection() override {
        // Before POCO closes the database: a connection with live statements does not close.
        for (auto& [sql, statement] : statements_) {
            sqlite3_finalize(statement);
        }
    }

    Dialect dialect() const override { return Dialect::sqlite; }
    int changes() const override { return sqlite3_changes(db_); }

    void begin() override { session_->begin(); }
    void commit() override { session_->commit(); }
    void rollback() override { session_->rollback(); }

    int schema_version() override {
        int version = 0;
        *session_ << "PRAGMA user_version", into(version), now;
        return version;
    }

    void migrate(const std::string& script, int version) override {
        Poco::Data::Session& s = *session_;
        s.begin();
        try {
            // POCO runs one SQL statement per execution.
            for (const std::string& one : statements_of(for_engine(script, Dialect::sqlite))) {
                s << one, now;
            }
            s << "PRAGMA user_version=" + std::to_string(version), now;
            s.commit();
        } catch (...) {
            s.rollback();
            throw;
        }
    }

  protected:
    void start(const char* sql, std::span<const Param> params) override {
        current_ = prepared(sql);
        int i = 0;
        for (const Param& p : params) {
            ++i;
            int rc = SQLITE_OK;
            if (const auto* n = std::get_if<std::int64_t>(&p)) {
                rc = sqlite3_bind_int64(current_, i, *n);
            } else if (const auto* d = std::get_if<double>(&p)) {
                rc = sqlite3_bind_double(current_, i, *d);
            } else {
                const auto text = std::get<std::string_view>(p);
                rc = sqlite3_bind_text64(current_, i, text.data(), text.size(), SQLITE_TRANSIENT,
                                         SQLITE_UTF8);
            }
            if (rc != SQLITE_OK) {
                finish();
                fail(db_, "bind");
            }
        }
    }

    bool step() override {
        const int rc = sqlite3_step(current_);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        fail(db_, "step");
    }

    std::int64_t integer(int i) const override { return sqlite3_column_int64(current_, i); }
    double real(int i) const override { return sqlite3_column_double(current_, i); }
    std::string text(int i) const override {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(current_, i));
        return p == nullptr
                   ? std::string()
                   : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(current_, i)));
    }

    void finish() noexcept override {
        if (current_ != nullptr) {
            sqlite3_reset(current_);
            sqlite3_clear_bindings(current_);
            current_ = nullptr;
        }
    }

  private:
    sqlite3_stmt* prepared(const char* sql) {
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

    std::unique_ptr<Poco::Data::Session> session_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* current_ = nullptr;  // the statement of the Rows alive, if any
    // Keyed by the statement's own copy of its text (sqlite3_sql), so any string may ask.
    std::unordered_map<std::string_view, sqlite3_stmt*> statements_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path, Role role) {
    return std::make_unique<SqliteConnection>(path, role);
}

}  // namespace api::sql
