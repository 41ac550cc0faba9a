// Fuzz target: the scheduler's snapshot file (service/snapshot_file.hpp), read back at a
// restart, and the station it is restored into (station::Station::from_image). The first
// byte says how the rest is taken: odd, as the file's bytes; even, as the payload of a
// well-framed file (the harness writes the header and the CRC, which a fuzzer would
// otherwise hardly ever get right). Properties: decoding throws std::runtime_error or
// gives a snapshot; from_image throws std::invalid_argument or gives a station; a decoded
// snapshot encodes back to the same bytes; a restored station images back to the same
// image, runs on (advance_to) and keeps its invariants.
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "service/snapshot_file.hpp"
#include "station/image.hpp"
#include "station/profile.hpp"
#include "station/station.hpp"
#include "station/time.hpp"

namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
    }
}

// A file around `payload`, framed as encode_snapshot frames it.
std::string framed(std::string_view payload) {
    std::string file = "EVSNAP\r\n";
    put_le(file, service::kSnapshotFormatVersion, 4);
    put_le(file, 0, 4);
    put_le(file, payload.size(), 8);
    const std::uint32_t crc = service::crc32(std::string_view(file), service::crc32(payload));
    file.append(payload);
    put_le(file, crc, 4);
    return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view rest = fuzz::text(data + 1, size - 1);
    const std::string bytes = (data[0] & 1U) != 0 ? std::string(rest) : framed(rest);
    service::Snapshot snapshot;
    try {
        snapshot = service::decode_snapshot(bytes);
    } catch (const std::runtime_error&) {
        return 0;
    }
    // The format allows more than one encoding of a value (a double as hundredths or raw),
    // so the bytes written back may differ; what they hold may not.
    const std::string encoded = service::encode_snapshot(snapshot);
    service::Snapshot again;
    try {
        again = service::decode_snapshot(encoded);
    } catch (const std::runtime_error& e) {
        fuzz::check(false, "an encoded snapshot does not decode", e.what());
    }
    fuzz::check(again.station == snapshot.station && again.app == snapshot.app &&
                    again.journal_lines == snapshot.journal_lines,
                "a snapshot written back decodes to another");
    fuzz::check(service::encode_snapshot(again) == encoded,
                "a snapshot is written differently the second time");

    // The built-in profiles differ in their piles; the image says which it was taken under.
    for (const auto name : station::builtin_profile_names()) {
        const auto profile = station::builtin_profile(name);
        try {
            station::Station st = station::Station::from_image(*profile, snapshot.station);
            fuzz::check(st.image() == snapshot.station,
                        "a restored station images back differently");
            st.advance_to(st.now() + 7 * station::kMsPerDay);
            st.run_until_idle();
        } catch (const std::invalid_argument&) {
            // Not a state a station of this profile can be in: refused with the reason.
        }
    }
    return 0;
}
