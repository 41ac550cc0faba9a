#include "service/file_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace service {

namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
    return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

FileJournal::FileJournal(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
        throw io_error("cannot open the journal", path);
    }
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0) {
            throw io_error("cannot read the journal", path);
        }
        if (n == 0) {
            break;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    std::size_t from = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
        lines_.push_back(text.substr(from, nl - from));
        from = nl + 1;
    }
    if (from < text.size()) {
        // A write cut short by a crash: its command never took effect, so it goes.
        if (::ftruncate(fd_, static_cast<off_t>(from)) != 0) {
            throw io_error("cannot drop the torn last line of", path);
        }
    }
}

FileJournal::~FileJournal() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void FileJournal::append(const std::string& line) {
    write(line);
    sync();
}

void FileJournal::write(const std::string& line) {
    const std::string record = line + "\n";
    std::size_t done = 0;
    while (done < record.size()) {
        const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw io_error("cannot write the journal", "");
        }
        done += static_cast<std::size_t>(n);
    }
    unsynced_ = true;
}

void FileJournal::sync() {
    if (unsynced_ && ::fdatasync(fd_) != 0) {
        throw io_error("cannot flush the journal", "");
    }
    unsynced_ = false;
}

void FileJournal::compact(const std::string& first_line) {
    sync();
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        throw io_error("cannot create", tmp);
    }
    const std::string text = first_line + "\n";
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written || ::rename(tmp.c_str(), path_.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw io_error("cannot replace", path_);
    }
    const auto slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    const int fresh = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fresh < 0) {
        throw io_error("cannot reopen", path_);
    }
    ::close(fd_);
    fd_ = fresh;
}

}  // namespace service
