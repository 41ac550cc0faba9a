#include "sql_connection.hpp"

#include "postgresql_connection.hpp"
#include "sqlite_connection.hpp"

namespace api::sql {

Rows::~Rows() {
    if (c_ != nullptr) {
        c_->finish();
    }
}

bool Rows::next() {
    return c_->step();
}

void Rows::run() {
    while (next()) {
    }
}

std::int64_t Rows::integer(int i) const {
    return c_->integer(i);
}

double Rows::real(int i) const {
    return c_->real(i);
}

std::string Rows::text(int i) const {
    return c_->text(i);
}

std::vector<std::string> statements_of(const std::string& script) {
    std::vector<std::string> out;
    std::size_t from = 0;
    while (from < script.size()) {
        std::size_t end = script.find(';', from);
        if (end == std::string::npos) {
            end = script.size();
        }
        std::string one = script.substr(from, end - from);
        if (one.find_first_not_of(" \n\t") != std::string::npos) {
            out.push_back(std::move(one));
        }
        from = end + 1;
    }
    return out;
}

std::string for_engine(const std::string& script, Dialect engine) {
    constexpr std::string_view kPrefix = "--postgresql: ";
    std::string out;
    out.reserve(script.size());
    std::size_t from = 0;
    while (from < script.size()) {
        std::size_t end = script.find('\n', from);
        end = end == std::string::npos ? script.size() : end + 1;
        const std::string_view line(script.data() + from, end - from);
        if (!line.starts_with(kPrefix)) {
            out.append(line);
        } else if (engine == Dialect::postgresql) {
            out.append(line.substr(kPrefix.size()));
        }
        from = end;
    }
    return out;
}

bool is_postgresql(std::string_view location) {
    return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redacted(std::string_view location) {
    std::string out(location);
    if (!is_postgresql(location)) {
        return out;
    }
    const std::size_t from = out.find("://") + 3;
    const std::size_t at = out.find('@', from);
    const std::size_t colon = out.find(':', from);
    if (at != std::string::npos && colon < at && out.find('/', from) > at) {
        out.replace(colon + 1, at - colon - 1, "***");
    }
    if (const std::size_t p = out.find("password=", out.find('?')); p != std::string::npos) {
        const std::size_t end = out.find('&', p);
        out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
    }
    return out;
}

std::unique_ptr<Connection> open_connection(const std::string& location, Role role) {
    if (is_postgresql(location)) {
        return open_postgresql(location, role);
    }
    return open_sqlite(location, role);
}

}  // namespace api::sql
