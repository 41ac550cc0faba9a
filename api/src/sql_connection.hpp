#pragma once
// One database connection of the store, SQLite or PostgreSQL: opening, transactions,
// migrations, and the statements prepared on it, kept for the connection's life.
//
// The store writes its SQL once, in the dialect both engines share (`?` parameters,
// INSERT ... ON CONFLICT, RETURNING, lower(), COALESCE(SUM())): each connection prepares a
// statement on its first use and only binds, executes and reads it after that.
//
// Why not POCO Data statements for the queries: POCO 1.11's SQLite connector compiles a
// statement again on every execution (StatementImpl::compile in the reset state calls
// sqlite3_prepare_v2), also when a Statement object is kept and re-executed, and a
// RecordSet converts every cell through Dynamic::Var. Under the order benchmark that was a
// third of the API's CPU time (docs/benchmarks.md). POCO Data opens the sessions (its
// SQLite and PostgreSQL connectors) and runs the migrations; the engines' own C APIs run
// the prepared statements on the session's handle.

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace api::sql {

enum class Dialect { sqlite, postgresql };

/// What a connection is for, which sets how it is tuned.
enum class Role {
    writer,      ///< a commit is on disk when it returns
    log_writer,  ///< the log's copy: may lose its last commits on a power cut (replayed)
    reader,      ///< refuses every write
};

/// A value bound to a `?` parameter.
using Param = std::variant<std::int64_t, double, std::string_view>;

class Connection;

/// The rows of one execution of a prepared statement (Connection::query). `next()` steps.
/// The execution is finished when this goes (also on an exception), so that a reader never
/// keeps its snapshot of the database open. One at a time per connection.
class Rows {
  public:
    explicit Rows(Connection* c) : c_(c) {}
    ~Rows();
    Rows(Rows&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
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

  private:
    Connection* c_;
};

class Connection {
  public:
    virtual ~Connection() = default;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    virtual Dialect dialect() const = 0;

    /// `sql` (one statement, `?` parameters) prepared on its first use and kept; binds
    /// `args` in order. Read the rows before the next query on this connection.
    template <typename... Args>
    Rows query(const char* sql, const Args&... args) {
        const Param params[] = {Param(std::in_place_index<0>, 0), to_param(args)...};
        start(sql, std::span<const Param>(params).subspan(1));
        return Rows(this);
    }
    /// As `query`, for a statement made at run time: `params` bound in order. `sql` is
    /// prepared once per text and kept, like every other statement.
    Rows query_params(const char* sql, std::span<const Param> params) {
        start(sql, params);
        return Rows(this);
    }
    /// Runs a statement without rows; returns the number of rows it changed.
    template <typename... Args>
    int exec(const char* sql, const Args&... args) {
        query(sql, args...).run();
        return changes();
    }
    /// Rows changed by the last statement that ran to its end.
    virtual int changes() const = 0;

    virtual void begin() = 0;
    virtual void commit() = 0;
    virtual void rollback() = 0;

    /// The schema version stored in the database (0 in a new one).
    virtual int schema_version() = 0;
    /// Runs one migration (statements separated by `;`, written in SQLite's words and
    /// translated where the engine needs it) and records `version`, in one transaction.
    virtual void migrate(const std::string& script, int version) = 0;

  protected:
    Connection() = default;

    virtual void start(const char* sql, std::span<const Param> params) = 0;
    virtual bool step() = 0;
    virtual std::int64_t integer(int i) const = 0;
    virtual double real(int i) const = 0;
    virtual std::string text(int i) const = 0;
    /// Ends the execution under way (resets the statement, frees the result); never throws.
    virtual void finish() noexcept = 0;

  private:
    friend class Rows;

    template <std::integral T>
    static Param to_param(T value) {
        return Param(std::in_place_index<0>, static_cast<std::int64_t>(value));
    }
    static Param to_param(double value) { return Param(std::in_place_index<1>, value); }
    static Param to_param(std::string_view value) { return Param(std::in_place_index<2>, value); }
    static Param to_param(const std::string& value) { return to_param(std::string_view(value)); }
    static Param to_param(const char* value) { return to_param(std::string_view(value)); }
};

/// A migration's statements (split on `;`, blank ones left out): POCO runs one per
/// execution, on either engine.
std::vector<std::string> statements_of(const std::string& script);

/// A migration as `engine` runs it: a line that begins with "--postgresql: " is a statement
/// of PostgreSQL's alone (e.g. moving an identity's sequence on after rows were copied with
/// their ids): PostgreSQL runs what follows the prefix, SQLite drops the line.
std::string for_engine(const std::string& script, Dialect engine);

/// True if `location` names a PostgreSQL database (a `postgresql://` or `postgres://` URI)
/// rather than a SQLite file.
bool is_postgresql(std::string_view location);

/// `location` fit for a log: a PostgreSQL URI's password replaced by "***".
std::string redacted(std::string_view location);

/// Opens a connection to `location`: a SQLite file path, or a PostgreSQL URI
/// (`postgresql://USER@HOST:PORT/DB?...`; a password is best given by libpq's PGPASSFILE
/// or PGPASSWORD rather than in the URI). Throws std::runtime_error if it cannot.
std::unique_ptr<Connection> open_connection(const std::string& location, Role role);

}  // namespace api::sql
