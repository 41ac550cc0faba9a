#pragma once
/// @file The scheduler's journal on disk (`station-scheduler --journal`): one JSON line per
/// command, appended and flushed to the disk (fdatasync) before the command takes effect.

#include <string>
#include <vector>

namespace service {

class FileJournal {
  public:
    /// Opens (creating) `path`. A last line cut short by a crash is dropped from the file.
    explicit FileJournal(const std::string& path);
    ~FileJournal();
    FileJournal(const FileJournal&) = delete;
    FileJournal& operator=(const FileJournal&) = delete;

    /// The complete lines the file held when opened.
    const std::vector<std::string>& lines() const { return lines_; }
    /// Appends a line durably; throws std::runtime_error if the disk refuses.
    void append(const std::string& line);

  private:
    int fd_ = -1;
    std::vector<std::string> lines_;
};

}  // namespace service
