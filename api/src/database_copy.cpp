#include "api/database_copy.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <variant>

#include "api/store.hpp"
#include "sql_connection.hpp"

namespace api {

namespace {

enum class Type { integer, real, text };

struct Column {
    const char* name;
    Type type;
};

struct Table {
    const char* name;
    std::vector<Column> columns;
    std::vector<const char*> key;  ///< the primary key: the order rows are compared in
    bool identity = false;         ///< `id` is an identity (PostgreSQL's sequence moved on)
};

constexpr Type I = Type::integer;
constexpr Type R = Type::real;
constexpr Type T = Type::text;

// The schema of version 8 (api/src/store.cpp), parents before the tables that refer to them.
const std::vector<Table>& tables() {
    static const std::vector<Table> all{
        {"settings", {{"key", T}, {"value", T}}, {"key"}},
        {"users",
         {{"id", I},
          {"account", T},
          {"name", T},
          {"password_hash", T},
          {"balance_cents", I},
          {"token_version", I}},
         {"id"},
         true},
        {"admins", {{"id", I}, {"account", T}, {"password_hash", T}}, {"id"}, true},
        {"cars",
         {{"id", I},
          {"user_id", I},
          {"name", T},
          {"capacity_kwh", R},
          {"current_kwh", R},
          {"deleted", I}},
         {"id"},
         true},
        {"orders",
         {{"id", I},
          {"station", T},
          {"station_key", T},
          {"user_id", I},
          {"car_id", I},
          {"mode", T},
          {"number", I},
          {"number_text", T},
          {"state", T},
          {"apply_kwh", R},
          {"charge_kwh", R},
          {"pile", T},
          {"create_time", T},
          {"dispatch_time", T},
          {"start_time", T},
          {"finish_time", T},
          {"front_cars", I},
          {"open", I},
          {"settled", I},
          {"log_pos", I},
          {"charge_fee_cents", I},
          {"service_fee_cents", I}},
         {"id"},
         true},
        {"bills",
         {{"id", I},
          {"station", T},
          {"station_key", T},
          {"order_key", T},
          {"pile", T},
          {"start_ms", I},
          {"stop_ms", I},
          {"kwh", R},
          {"hours", R},
          {"reason", T},
          {"log_pos", I},
          {"charge_fee_cents", I},
          {"service_fee_cents", I}},
         {"id"},
         true},
        {"pile_totals",
         {{"station", T},
          {"pile", T},
          {"charges", I},
          {"hours", R},
          {"kwh", R},
          {"charge_fee_cents", I},
          {"service_fee_cents", I}},
         {"station", "pile"}},
        {"settlements",
         {{"station", T}, {"station_key", T}, {"user_id", I}, {"fee_cents", I}, {"kwh", R}},
         {"station", "station_key"}},
        {"log_position", {{"station", T}, {"run", T}, {"pos", I}}, {"station"}},
        {"idempotency",
         {{"user_id", I},
          {"key", T},
          {"request", T},
          {"status", I},
          {"body", T},
          {"created_ms", I}},
         {"user_id", "key"}},
        {"car_claims", {{"car_id", I}, {"station", T}, {"expires_ms", I}}, {"car_id"}},
    };
    return all;
}

using Value = std::variant<std::int64_t, double, std::string>;

Value value_of(const sql::Rows& rows, int i, Type type) {
    switch (type) {
        case Type::integer:
            return rows.integer(i);
        case Type::real:
            return rows.real(i);
        case Type::text:
            return rows.text(i);
    }
    return std::int64_t{0};
}

sql::Param param_of(const Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return sql::Param(std::in_place_index<0>, *i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return sql::Param(std::in_place_index<1>, *d);
    }
    return sql::Param(std::in_place_index<2>, std::string_view(std::get<std::string>(v)));
}

std::string column_list(const Table& t) {
    std::string out;
    for (const Column& c : t.columns) {
        out += (out.empty() ? "" : ", ") + std::string(c.name);
    }
    return out;
}

// Rows in the order of the primary key, by bytes on both engines (PostgreSQL's default
// collation orders text by locale, SQLite's by bytes), so that two copies read alike.
std::string select_all(const Table& t, sql::Dialect dialect) {
    std::string order;
    for (const char* k : t.key) {
        order += (order.empty() ? "" : ", ") + std::string(k);
        for (const Column& c : t.columns) {
            if (std::string_view(c.name) == k && c.type == Type::text &&
                dialect == sql::Dialect::postgresql) {
                order += " COLLATE \"C\"";
            }
        }
    }
    return "SELECT " + column_list(t) + " FROM " + t.name + " ORDER BY " + order;
}

std::string insert_into(const Table& t) {
    std::string marks;
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
        marks += i == 0 ? "?" : ", ?";
    }
    return "INSERT INTO " + std::string(t.name) + "(" + column_list(t) + ") VALUES(" + marks + ")";
}

std::int64_t count_rows(sql::Connection& c, const Table& t) {
    const std::string sql = "SELECT COUNT(*) FROM " + std::string(t.name);
    sql::Rows rows = c.query(sql.c_str());
    return rows.next() ? rows.integer(0) : 0;
}

std::vector<Value> row_of(const sql::Rows& rows, const Table& t) {
    std::vector<Value> row;
    row.reserve(t.columns.size());
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
        row.push_back(value_of(rows, static_cast<int>(i), t.columns[i].type));
    }
    return row;
}

std::int64_t copy_table(sql::Connection& from, sql::Connection& to, const Table& t) {
    const std::string select = select_all(t, from.dialect());
    const std::string insert = insert_into(t);
    std::int64_t copied = 0;
    sql::Rows rows = from.query(select.c_str());
    std::vector<sql::Param> params;
    while (rows.next()) {
        const std::vector<Value> row = row_of(rows, t);
        params.clear();
        for (const Value& v : row) {
            params.push_back(param_of(v));
        }
        to.query_params(insert.c_str(), params).run();
        ++copied;
    }
    return copied;
}

// Reads both tables in key order and compares them value by value.
void compare_table(sql::Connection& from, sql::Connection& to, const Table& t) {
    const std::string select_from = select_all(t, from.dialect());
    const std::string select_to = select_all(t, to.dialect());
    sql::Rows a = from.query(select_from.c_str());
    sql::Rows b = to.query(select_to.c_str());
    std::int64_t n = 0;
    for (;;) {
        const bool more_a = a.next();
        const bool more_b = b.next();
        if (more_a != more_b) {
            throw std::runtime_error("the copy of table " + std::string(t.name) +
                                     " has a different number of rows");
        }
        if (!more_a) {
            return;
        }
        ++n;
        if (row_of(a, t) != row_of(b, t)) {
            throw std::runtime_error("row " + std::to_string(n) + " of table " + t.name +
                                     " differs in the copy");
        }
    }
}

}  // namespace

std::vector<CopiedColumns> copied_tables() {
    std::vector<CopiedColumns> out;
    for (const Table& t : tables()) {
        CopiedColumns c{t.name, {}};
        for (const Column& col : t.columns) {
            c.columns.emplace_back(col.name);
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<CopiedTable> copy_database(const std::string& from, const std::string& to) {
    if (from == to) {
        throw std::runtime_error("the source and the target are the same database");
    }
    if (!sql::is_postgresql(from) && !std::filesystem::exists(from)) {
        throw std::runtime_error("there is no database file " + from);
    }
    {
        // Both at the current schema, which tables() describes: opening a Store migrates
        // as the API does. Closed again before the copy's own connections open.
        const Store migrated_from(from, 1);
        const Store migrated_to(to, 1);
    }
    const auto source = sql::open_connection(from, sql::Role::writer);
    const auto target = sql::open_connection(to, sql::Role::writer);
    for (const Table& t : tables()) {
        if (const std::int64_t n = count_rows(*target, t); n > 0) {
            throw std::runtime_error("the target database is not empty: table " +
                                     std::string(t.name) + " has " + std::to_string(n) + " rows");
        }
    }
    std::vector<CopiedTable> copied;
    source->begin();
    target->begin();
    try {
        for (const Table& t : tables()) {
            copied.push_back(CopiedTable{t.name, copy_table(*source, *target, t)});
        }
        if (target->dialect() == sql::Dialect::postgresql) {
            for (const Table& t : tables()) {
                if (t.identity) {
                    const std::string name = t.name;
                    const std::string move_on =
                        "SELECT setval(pg_get_serial_sequence('" + name + "', 'id'), " +
                        "(SELECT COALESCE(MAX(id), 0) + 1 FROM " + name + "), false)";
                    target->query(move_on.c_str()).run();
                }
            }
        }
        for (const Table& t : tables()) {
            compare_table(*source, *target, t);
        }
        target->commit();
        source->rollback();
    } catch (...) {
        target->rollback();
        source->rollback();
        throw;
    }
    return copied;
}

}  // namespace api
