#include "postgresql_connection.hpp"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionImpl.h>
#include <Poco/Data/Session.h>
#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace api::sql {

using namespace Poco::Data::Keywords;

namespace {

// Type OIDs of the parameters (pg_type.dat): each is sent as text and parsed by the server.
constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;
constexpr Oid kFloat8 = 701;

// Serialises concurrent first migrations of several API instances on one database.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(5357524)";

bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Every whole-word `from` in `text` replaced by `to`.
std::string replace_words(const std::string& text, const std::string& from, const std::string& to) {
    std::string out;
    std::size_t at = 0;
    while (true) {
        const std::size_t hit = text.find(from, at);
        if (hit == std::string::npos) {
            out.append(text, at);
            return out;
        }
        const bool starts = hit == 0 || !is_word_char(text[hit - 1]);
        const std::size_t end = hit + from.size();
        const bool ends = end == text.size() || !is_word_char(text[end]);
        out.append(text, at, hit - at);
        out += starts && ends ? to : from;
        at = end;
    }
}

void ignore_notice(void*, const char*) {}

class PostgresqlConnection final : public Connection {
  public:
    PostgresqlConnection(const std::string& uri, Role role) : role_(role) {
        Poco::Data::PostgreSQL::Connector::registerConnector();
        try {
            session_ = std::make_unique<Poco::Data::Session>(Poco::Data::PostgreSQL::Connector::KEY,
                                                             keyword_connection_string(uri));
        } catch (const Poco::Exception& e) {
            throw std::runtime_error("PostgreSQL: cannot connect: " + e.displayText());
        }
        auto* impl = static_cast<Poco::Data::PostgreSQL::SessionImpl*>(session_->impl());
        conn_ = impl->handle();
        PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
        set_up();
    }

    ~PostgresqlConnection() override { finish(); }

    Dialect dialect() const override { return Dialect::postgresql; }
    int changes() const override { return changes_; }

    void begin() override {
        try {
            command("BEGIN");
        } catch (const std::runtime_error&) {
            if (!reconnected_) {
                throw;
            }
            command("BEGIN");  // nothing had been done on the lost session: once more
        }
    }
    void commit() override { command("COMMIT"); }
    void rollback() override {
        // Called while an error is handled: it must not replace that error with its own.
        PGresult* r = PQexec(conn_, "ROLLBACK");
        PQclear(r);
        reset_if_lost();
    }

    int schema_version() override {
        command(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
        return stored_version();
    }

    void migrate(const std::string& script, int version) override {
        begin();
        try {
            command(kMigrationLock);
            // Another instance may have run it while this one waited for the lock.
            if (stored_version() < version) {
                for (const std::string& one :
                     statements_of(postgresql_ddl(for_engine(script, Dialect::postgresql)))) {
                    *session_ << one, now;
                }
                command(("INSERT INTO schema_version(id, version) VALUES(1, " +
                         std::to_string(version) +
                         ") ON CONFLICT(id) DO UPDATE SET version = excluded.version")
                            .c_str());
            }
            commit();
        } catch (const Poco::Exception& e) {
            rollback();
            throw std::runtime_error("PostgreSQL migration to version " + std::to_string(version) +
                                     ": " + e.displayText());
        } catch (...) {
            rollback();
            throw;
        }
    }

  protected:
    void start(const char* sql, std::span<const Param> params) override {
        try {
            execute(sql, params);
        } catch (const std::runtime_error&) {
            // A reader's statement is a query of its own, outside any transaction: on a
            // new session it can simply run again. A writer's is part of a transaction the
            // lost session took with it, so the error goes up (the write is not done).
            if (role_ != Role::reader || !reconnected_) {
                throw;
            }
            execute(sql, params);
        }
    }

    bool step() override { return ++row_ < rows_; }

    std::int64_t integer(int i) const override {
        std::int64_t value = 0;
        const auto [text, size] = cell(i);
        std::from_chars(text, text + size, value);
        return value;
    }

    double real(int i) const override {
        double value = 0;
        const auto [text, size] = cell(i);
        std::from_chars(text, text + size, value);
        return value;
    }

    std::string text(int i) const override {
        const auto [text, size] = cell(i);
        return std::string(text, size);
    }

    void finish() noexcept override {
        if (result_ != nullptr) {
            PQclear(result_);
            result_ = nullptr;
        }
    }

  private:
    void execute(const char* sql, std::span<const Param> params) {
        finish();
        reconnected_ = false;
        const std::string& name = prepared(sql, params);
        std::vector<std::string> texts;
        texts.reserve(params.size());
        for (const Param& p : params) {
            if (const auto* n = std::get_if<std::int64_t>(&p)) {
                texts.push_back(std::to_string(*n));
            } else if (const auto* d = std::get_if<double>(&p)) {
                char buffer[32];
                const auto end = std::to_chars(buffer, buffer + sizeof buffer, *d).ptr;
                texts.emplace_back(buffer, end);
            } else {
                const auto text = std::get<std::string_view>(p);
                if (text.find('\0') != std::string_view::npos) {
                    throw std::invalid_argument("PostgreSQL text cannot hold a NUL character");
                }
                texts.emplace_back(text);
            }
        }
        std::vector<const char*> values;
        values.reserve(texts.size());
        for (const std::string& t : texts) {
            values.push_back(t.c_str());
        }
        result_ = PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
        const ExecStatusType status = PQresultStatus(result_);
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            const std::string message = PQresultErrorMessage(result_);
            finish();
            reset_if_lost();
            throw std::runtime_error("PostgreSQL: " + message);
        }
        const char* tuples = PQcmdTuples(result_);
        changes_ = *tuples == '\0' ? 0 : std::atoi(tuples);
        rows_ = PQntuples(result_);
        row_ = -1;
    }

    std::pair<const char*, std::size_t> cell(int i) const {
        if (PQgetisnull(result_, row_, i)) {
            return {"", 0};
        }
        return {PQgetvalue(result_, row_, i),
                static_cast<std::size_t>(PQgetlength(result_, row_, i))};
    }

    const std::string& prepared(const char* sql, std::span<const Param> params) {
        if (const auto it = statements_.find(sql); it != statements_.end()) {
            return it->second;
        }
        std::vector<Oid> types;
        for (const Param& p : params) {
            types.push_back(p.index() == 0 ? kInt8 : p.index() == 1 ? kFloat8 : kText);
        }
        std::string name = "s" + std::to_string(statements_.size());
        PGresult* r = PQprepare(conn_, name.c_str(), numbered_placeholders(sql).c_str(),
                                static_cast<int>(types.size()), types.data());
        const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        const std::string message = ok ? "" : PQresultErrorMessage(r);
        PQclear(r);
        if (!ok) {
            reset_if_lost();
            throw std::runtime_error("PostgreSQL prepare: " + message + " in: " + sql);
        }
        return statements_.emplace(sql, std::move(name)).first->second;
    }

    // A statement without parameters or rows, not kept prepared.
    void command(const char* sql) {
        reconnected_ = false;
        PGresult* r = PQexec(conn_, sql);
        const ExecStatusType status = PQresultStatus(r);
        const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
        const std::string message = ok ? "" : PQresultErrorMessage(r);
        PQclear(r);
        if (!ok) {
            reset_if_lost();
            throw std::runtime_error(std::string("PostgreSQL: ") + message + " in: " + sql);
        }
    }

    int stored_version() {
        PGresult* r = PQexec(conn_, "SELECT version FROM schema_version WHERE id = 1");
        const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        const int version = ok && PQntuples(r) == 1 ? std::atoi(PQgetvalue(r, 0, 0)) : 0;
        const std::string message = ok ? "" : PQresultErrorMessage(r);
        PQclear(r);
        if (!ok) {
            throw std::runtime_error("PostgreSQL: " + message);
        }
        return version;
    }

    // The session's settings for its role; again after a reset (a new server session).
    void set_up() {
        command("SET client_min_messages = warning");
        switch (role_) {
            case Role::writer:
                command("SET synchronous_commit = on");
                break;
            case Role::log_writer:
                // As SQLite's synchronous=NORMAL for the same connection: the log's copy may
                // lose its last commits on a crash of the server, position and rows together,
                // and the catch-up brings them back from the scheduler's journal.
                command("SET synchronous_commit = off");
                break;
            case Role::reader:
                command("SET default_transaction_read_only = on");
                break;
        }
    }

    // After an error: if the server went away (a restart, a failover), reconnects, so that
    // the next statement runs on a new session, with its statements prepared afresh.
    void reset_if_lost() noexcept {
        if (PQstatus(conn_) != CONNECTION_BAD) {
            return;
        }
        statements_.clear();
        PQreset(conn_);
        if (PQstatus(conn_) == CONNECTION_OK) {
            try {
                set_up();
                reconnected_ = true;
            } catch (...) {
                // The next statement meets the same error and tries again.
            }
        }
    }

    Role role_;
    std::unique_ptr<Poco::Data::Session> session_;
    PGconn* conn_ = nullptr;  // the session's, for its life
    PGresult* result_ = nullptr;
    int rows_ = 0;
    int row_ = -1;
    int changes_ = 0;
    bool reconnected_ = false;  // the last failing call found the session lost and made a new one
    std::unordered_map<std::string, std::string> statements_;  // SQL text -> prepared name
};

}  // namespace

std::string postgresql_ddl(const std::string& script) {
    std::string out = replace_words(script, "INTEGER PRIMARY KEY",
                                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
    out = replace_words(out, "INTEGER", "BIGINT");
    out = replace_words(out, "REAL", "DOUBLE PRECISION");
    return replace_words(out, "account COLLATE NOCASE", "lower(account)");
}

std::string numbered_placeholders(const std::string& sql) {
    std::string out;
    int n = 0;
    bool quoted = false;
    for (const char c : sql) {
        if (c == '\'') {
            quoted = !quoted;
        }
        if (c == '?' && !quoted) {
            out += '$' + std::to_string(++n);
        } else {
            out += c;
        }
    }
    return out;
}

std::string keyword_connection_string(const std::string& uri) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(uri.c_str(), &error);
    if (options == nullptr) {
        const std::string reason = error != nullptr ? error : "out of memory";
        PQfreemem(error);
        throw std::invalid_argument("not a PostgreSQL URI: " + reason);
    }
    std::string out;
    std::string bad;
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val == nullptr || *o->val == '\0') {
            continue;
        }
        const std::string value = o->val;
        if (value.find_first_of(" \t\n'\\") != std::string::npos) {
            bad = o->keyword;
            break;
        }
        out += (out.empty() ? "" : " ") + std::string(o->keyword) + "=" + value;
    }
    PQconninfoFree(options);
    if (out.find("application_name=") == std::string::npos) {
        out += std::string(out.empty() ? "" : " ") + "application_name=station-api";
    }
    if (!bad.empty()) {
        throw std::invalid_argument("the PostgreSQL setting " + bad +
                                    " holds a space or a quote, which POCO's connector cannot "
                                    "pass on; give a password by PGPASSFILE or PGPASSWORD");
    }
    return out;
}

std::unique_ptr<Connection> open_postgresql(const std::string& uri, Role role) {
    return std::make_unique<PostgresqlConnection>(uri, role);
}

}  // namespace api::sql
