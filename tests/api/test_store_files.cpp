// The API's database holds the token key and the password hashes: the database file and
// the -wal and -shm files SQLite keeps next to it are readable by their owner only (0600),
// whatever the umask, for a new database and for one left readable by an older run.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "api/store.hpp"

namespace {

/// A fresh folder, removed with everything in it at the end of the test.
struct TempDir {
    std::string path = make();
    ~TempDir() { std::filesystem::remove_all(path); }
    static std::string make() {
        std::string dir = "/tmp/station-store-files-XXXXXX";
        REQUIRE(::mkdtemp(dir.data()) != nullptr);
        return dir;
    }
};

/// The permission bits of `path`, or -1 if it does not exist.
int mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return -1;
    }
    return static_cast<int>(st.st_mode & 07777);
}

/// Runs the test under the usual umask 022, which made the files 0644 before.
struct Umask022 {
    mode_t old = ::umask(022);
    ~Umask022() { ::umask(old); }
};

}  // namespace

TEST_CASE("store files — a new database and its -wal and -shm are 0600", "[api][store]") {
    const Umask022 umask;
    const TempDir dir;
    const std::string db = dir.path + "/station.db";
    api::Store store(db);
    // A write in WAL mode: SQLite now has the -wal and -shm files open next to the database.
    CHECK(store.setting_or_insert("jwt_secret", "k1") == "k1");
    CHECK(mode_of(db) == 0600);
    CHECK(mode_of(db + "-wal") == 0600);
    CHECK(mode_of(db + "-shm") == 0600);
}

TEST_CASE("store files — a database left 0644 by an older run is made 0600 with its data",
          "[api][store]") {
    const Umask022 umask;
    const TempDir dir;
    const std::string db = dir.path + "/station.db";
    {
        api::Store store(db);
        store.setting_or_insert("jwt_secret", "k1");
    }
    // As an older run left them: readable by everyone, with -wal and -shm beside them.
    REQUIRE(::chmod(db.c_str(), 0644) == 0);
    for (const char* suffix : {"-wal", "-shm"}) {
        std::ofstream(db + suffix).flush();
        REQUIRE(::chmod((db + suffix).c_str(), 0644) == 0);
    }
    api::Store store(db);
    CHECK(store.setting_or_insert("jwt_secret", "k2") == "k1");
    CHECK(mode_of(db) == 0600);
    CHECK(mode_of(db + "-wal") == 0600);
    CHECK(mode_of(db + "-shm") == 0600);
}
