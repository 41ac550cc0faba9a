// The corpus replay of a fuzz target in the normal builds (no libFuzzer): feeds every file
// under the folders (or the files) given on the command line to LLVMFuzzerTestOneInput
// once, in name order. A folder that does not exist is skipped (a target may have no
// regression inputs yet). A failed property aborts, which fails the test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg(argv[i]);
        if (fs::is_directory(arg)) {
            for (const auto& entry : fs::recursive_directory_iterator(arg)) {
                if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
                    files.push_back(entry.path());
                }
            }
        } else if (fs::is_regular_file(arg)) {
            files.push_back(arg);
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
        std::string bytes;
        const std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"),
                                                                 &std::fclose);
        char buffer[65536];
        for (std::size_t n = 0; in && (n = std::fread(buffer, 1, sizeof buffer, in.get())) > 0;) {
            bytes.append(buffer, n);
        }
        std::cout << path.string() << std::endl;  // flushed: names the input if it aborts
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::cout << files.size() << " inputs replayed\n";
    return files.empty() ? 1 : 0;
}
