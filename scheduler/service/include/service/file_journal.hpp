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
    /// Appends a line, durable only after the next sync() (group commit: the scheduler
    /// writes the lines of a burst, syncs once, and only then publishes what they did).
    void write(const std::string& line);
    /// Makes every line written so far durable (fdatasync); throws if the disk refuses.
    void sync();
    /// Replaces the whole file by `first_line` alone, atomically (a new file renamed over
    /// it, the folder synced): after a snapshot, the lines it covers go.
    void compact(const std::string& first_line);

  private:
    std::string path_;
    int fd_ = -1;
    bool unsynced_ = false;
    std::vector<std::string> lines_;
};

}  // namespace service
