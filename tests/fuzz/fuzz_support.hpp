#pragma once
// Shared by the fuzz targets: the entry point's declaration, a check that aborts (so that
// libFuzzer, and the corpus replay in the normal builds, report it as a crash) and an
// output stream that discards what it is given.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fuzz {

/// Aborts with `what` when `condition` does not hold: an input broke a property.
inline void check(bool condition, const char* what, std::string_view detail = {}) {
    if (!condition) {
        std::fprintf(stderr, "fuzz check failed: %s\n", what);
        std::fwrite(detail.data(), 1, detail.size(), stderr);
        std::fputc('\n', stderr);
        std::abort();
    }
}

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Splits `rest` at the first `sep`: returns what precedes it and leaves what follows.
inline std::string_view take_until(std::string_view& rest, char sep) {
    const auto at = rest.find(sep);
    const std::string_view head = rest.substr(0, at);
    rest = at == std::string_view::npos ? std::string_view{} : rest.substr(at + 1);
    return head;
}

class NullBuffer : public std::streambuf {
  protected:
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

/// An output stream that writes nowhere (but still formats what it is given). The buffer
/// is a base class so that it exists before the stream is given it.
class NullStream : private NullBuffer, public std::ostream {
  public:
    NullStream() : std::ostream(static_cast<NullBuffer*>(this)) {}
};

}  // namespace fuzz
