#include "api/password_work.hpp"

#include <future>

#include "api/passwords.hpp"

namespace api {

PasswordWork::PasswordWork(int threads, std::size_t max_waiting) : max_waiting_(max_waiting) {
    for (int i = 0; i < std::max(1, threads); ++i) {
        threads_.emplace_back([this] { work(); });
    }
}

PasswordWork::~PasswordWork() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
}

bool PasswordWork::run(const std::function<void()>& job) {
    std::packaged_task<void()> task(job);
    std::future<void> done = task.get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || waiting_.size() >= max_waiting_) {
            return false;
        }
        // std::function needs a copyable target: the task lives on this frame until done.
        waiting_.emplace_back([&task] { task(); });
    }
    wake_.notify_one();
    done.get();  // rethrows what the job threw
    return true;
}

void PasswordWork::work() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
            if (waiting_.empty()) {
                return;  // stopping, and nothing is left to do
            }
            job = std::move(waiting_.front());
            waiting_.pop_front();
        }
        job();
    }
}

std::optional<bool> PasswordWork::verify(const std::string& password, const std::string& stored) {
    bool ok = false;
    if (!run([&] { ok = verify_password(password, stored); })) {
        return std::nullopt;
    }
    return ok;
}

std::optional<std::string> PasswordWork::hash(const std::string& password, int iterations) {
    std::string out;
    if (!run([&] { out = hash_password(password, iterations); })) {
        return std::nullopt;
    }
    return out;
}

}  // namespace api
