#pragma once
// One SQLite connection of the store: a POCO Data session (opening, PRAGMAs, transactions,
// migrations) and the statements prepared on it, kept for the connection's life.
//
// Why not POCO Data statements for the queries: POCO 1.11's SQLite connector compiles a
// statement again on every execution (StatementImpl::compile in the reset state calls
// sqlite3_prepare_v2), also when a Statement object is kept and re-executed, and a
// RecordSet converts every cell through Dynamic::Var. Under the order benchmark that was a
// third of the API's CPU time (docs/benchmarks.md). Here each SQL text is prepared once
// per connection and only bound, stepped and reset after that.

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace Poco::Data {
class Session;
}

namespace api::sql {

/// The rows of one execution of a prepared statement. Binds are done by Connection::query;
/// `next()` steps. The statement is reset when this goes (also on an exception), so that a
/// reader never keeps its snapshot of the database open.
class Rows {
  public:
    Rows(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
    ~Rows();
    Rows(Rows&& other) noexcept
        : db_(other.db_), statement_(std::exchange(other.statement_, nullptr)) {}
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;
    Rows& operator=(Rows&&) = delete;

    /// Steps to the next row: true if there is one. Throws std::runtime_error on an error.
    bool next();
    /// Steps to the end (a statement without rows).
    void run();
    /// Column `i` (0-based) of the current row; NULL reads as 0 / "".
    std::int64_t integer(int i) const;
    double real(int i) const;
    std::string text(int i) const;

    template <std::integral T>
    void bind(int i, T value) {
        bind_integer(i, static_cast<std::int64_t>(value));
    }
    void bind(int i, double value);
    void bind(int i, std::string_view value);
    void bind(int i, const std::string& value) { bind(i, std::string_view(value)); }
    void bind(int i, const char* value) { bind(i, std::string_view(value)); }

  private:
    void bind_integer(int i, std::int64_t value);

    sqlite3* db_;
    sqlite3_stmt* statement_;
};

class Connection {
  public:
    /// Opens `path` in WAL mode with foreign keys, synchronous=FULL and a busy timeout;
    /// `read_only` refuses every write on it (PRAGMA query_only).
    Connection(const std::string& path, bool read_only);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// The POCO session: transactions, PRAGMAs, migrations.
    Poco::Data::Session& session() { return *session_; }

    /// `sql` (one statement, `?` parameters) prepared on its first use and kept; binds
    /// `args` in order. Read the rows before the next query on this connection.
    template <typename... Args>
    Rows query(const char* sql, const Args&... args) {
        Rows rows(db_, prepared(sql));
        int i = 0;
        (rows.bind(++i, args), ...);
        return rows;
    }
    /// Runs a statement without rows; returns the number of rows it changed.
    template <typename... Args>
    int exec(const char* sql, const Args&... args) {
        query(sql, args...).run();
        return changes();
    }
    /// The rowid of the last INSERT on this connection.
    std::int64_t last_insert_id() const;
    /// Rows changed by the last statement.
    int changes() const;

  private:
    sqlite3_stmt* prepared(const char* sql);

    std::unique_ptr<Poco::Data::Session> session_;
    sqlite3* db_ = nullptr;
    // Keyed by the statement's own copy of its text (sqlite3_sql), so any string may ask.
    std::unordered_map<std::string_view, sqlite3_stmt*> statements_;
};

}  // namespace api::sql
