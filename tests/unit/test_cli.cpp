// What every command shares (Station::cli): secrets read from files, the piles' broker
// passwords, log lines for the terminal and for the systemd journal.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "cli/cli.hpp"
#include "cli/pile_passwords.hpp"

namespace {

std::string temp_file(const std::string& name, const std::string& content) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("evcs-cli-test-" + std::to_string(::getpid()) + "-" + name);
    std::ofstream(path) << content;
    return path.string();
}

}  // namespace

TEST_CASE("cli: a secret comes from NAME, or from the file NAME_FILE names, never both") {
    ::unsetenv("EVCS_TEST_SECRET");
    ::unsetenv("EVCS_TEST_SECRET_FILE");
    CHECK(cli::secrets_from_files({"EVCS_TEST_SECRET"}).empty());  // neither: nothing to do
    CHECK(cli::env("EVCS_TEST_SECRET").empty());

    const auto file = temp_file("secret", "s3cret with spaces\n");
    ::setenv("EVCS_TEST_SECRET_FILE", file.c_str(), 1);
    CHECK(cli::secrets_from_files({"EVCS_TEST_SECRET"}).empty());
    CHECK(cli::env("EVCS_TEST_SECRET") == "s3cret with spaces");  // the line feed dropped

    // Both set (the variable now holds the file's value): refused, not silently chosen.
    CHECK(cli::secrets_from_files({"EVCS_TEST_SECRET"}) ==
          "both EVCS_TEST_SECRET and EVCS_TEST_SECRET_FILE are set: give one");
    ::unsetenv("EVCS_TEST_SECRET");

    const auto empty = temp_file("empty", "\n");
    ::setenv("EVCS_TEST_SECRET_FILE", empty.c_str(), 1);
    CHECK(cli::secrets_from_files({"EVCS_TEST_SECRET"}) ==
          "EVCS_TEST_SECRET_FILE: " + empty + " is empty");
    ::setenv("EVCS_TEST_SECRET_FILE", "/nonexistent/evcs/secret", 1);
    CHECK(cli::secrets_from_files({"EVCS_TEST_SECRET"}) ==
          "EVCS_TEST_SECRET_FILE: cannot read /nonexistent/evcs/secret");
    CHECK(cli::env("EVCS_TEST_SECRET").empty());
    ::unsetenv("EVCS_TEST_SECRET_FILE");
    std::filesystem::remove(file);
    std::filesystem::remove(empty);
}

TEST_CASE("cli: a log line carries its syslog priority when stderr is the journal") {
    CHECK(cli::format_log_line("station-api", "info", "listening", false) ==
          "station-api info: listening\n");
    CHECK(cli::format_log_line("station-api", "error", "cannot go on", true) ==
          "<3>station-api error: cannot go on\n");
    CHECK(cli::format_log_line("x", "warn", "w", true) == "<4>x warn: w\n");
    CHECK(cli::format_log_line("x", "info", "i", true) == "<6>x info: i\n");
    CHECK(cli::format_log_line("x", "debug", "d", true) == "<7>x debug: d\n");
    CHECK(cli::format_log_line("x", "notice", "n", true) == "<5>x notice: n\n");
    // A message's own line feeds (a peer's text) cannot start a forged entry.
    CHECK(cli::format_log_line("x", "info", "a\n<3>x error: forged", true) ==
          "<6>x info: a <3>x error: forged\n");
    // Not under systemd here (JOURNAL_STREAM does not name this stderr).
    ::setenv("JOURNAL_STREAM", "1:2", 1);
    CHECK_FALSE(cli::stderr_is_journal());
}

TEST_CASE("cli: each pile's broker password is its own, read from one file") {
    std::map<std::string, std::string, std::less<>> got;
    CHECK(cli::parse_pile_passwords("# pile password\nF1 s3cret\n\n  T1\tother pw \r\n", got)
              .empty());
    CHECK(got ==
          std::map<std::string, std::string, std::less<>>{{"F1", "s3cret"}, {"T1", "other pw"}});
    CHECK(cli::parse_pile_passwords("F1 a\nF1 b\n", got) == "line 2: pile F1 is named twice");
    CHECK(cli::parse_pile_passwords("F1\n", got) == "line 1: a pile id without a password");
    CHECK(cli::parse_pile_passwords("F1   \n", got) == "line 1: a pile id without a password");
    CHECK(cli::parse_pile_passwords("# none\n", got) == "no pile has a password");

    const std::string file = temp_file("pile-passwords", "F1 one\nF2 two\n");
    ::unsetenv("STATION_MQTT_PASSWORD");
    ::setenv("STATION_PILE_PASSWORDS_FILE", file.c_str(), 1);
    cli::PilePasswords p;
    CHECK(cli::load_pile_passwords({"F1", "F2"}, p).empty());
    CHECK(p.of("F1") == "one");
    CHECK(p.of("F2") == "two");
    CHECK(p.of("T1").empty());  // not in the file: no other pile's password either
    const std::string missing = cli::load_pile_passwords({"F1", "T1"}, p);
    CHECK(missing.find("no password for pile T1") != std::string::npos);
    CHECK(missing.find("one") == std::string::npos);
    ::setenv("STATION_MQTT_PASSWORD", "shared", 1);
    CHECK(cli::load_pile_passwords({"F1"}, p).find("give one") != std::string::npos);
    ::unsetenv("STATION_PILE_PASSWORDS_FILE");
    CHECK(cli::load_pile_passwords({"F1"}, p).empty());
    CHECK(p.of("F1") == "shared");
    CHECK(p.of("T1") == "shared");
    ::unsetenv("STATION_MQTT_PASSWORD");
    CHECK(cli::load_pile_passwords({"F1"}, p).empty());
    CHECK(p.of("F1").empty());
    std::filesystem::remove(file);
}
