#pragma once
/// @file The scheduler's snapshot on disk: a station image (station/image.hpp) plus an
/// opaque text of the scheduler's own and the number of journal lines it covers, so that a
/// restart restores the image and replays only the journal lines after those.
///
/// Format (version 2), all integers little-endian:
///
///     offset  size  field
///          0     8  magic "EVSNAP\r\n"
///          8     4  format version (u32) = 2
///         12     4  flags (u32) = 0
///         16     8  payload length in bytes (u64)
///         24     n  payload
///       24+n     4  CRC-32 (ISO-HDLC, as zlib's crc32) of the payload, then the header:
///                   crc32(bytes [0, 24), crc32(bytes [24, 24+n)))
///
/// The payload starts with the scalars (journal lines, profile digest, now, the
/// event-recording flag, the counters' day, the two counters, the next issue sequence;
/// 49 bytes), then every count (u64 each: app bytes, piles, timers, cars, orders, bills,
/// waiting F/T, group F/T, order positions, bill positions) so that a reader checks all of
/// them against the bytes left before it allocates anything; then the sections: app,
/// piles, timers, cars, bills, orders, the waiting and group lists, the order positions and
/// the bill positions (each a zigzag-LEB128 delta against the one before: a change log
/// hands them out in increasing order, so most take a byte or two). Piles, timers and the lists are
/// fixed-width fields; car names are length-prefixed (LEB128) strings; bills and orders, which make
/// up nearly all of a big station, are compact records: presence bits for the fields that may be
/// unset, zigzag-LEB128 deltas against a predicted value (the previous record; for an order, its
/// bills: its first session started when it first charged, its last one stopped when it closed)
/// and, for each double, a two-bit tag: equal to its prediction (e.g. an order with one session has
/// that bill's amounts), +0.0, a whole number of hundredths, or the 8 raw bytes. Every value
/// round-trips bit for bit, whatever the image holds.
///
/// Version 1 is version 2 without the two position counts and sections (the scheduler
/// kept its positions in `app` then); it is still read, with empty positions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/image.hpp"

namespace service {

struct Snapshot {
    station::StationImage station;
    std::string app;                 ///< opaque text the scheduler adds (JSON)
    std::int64_t journal_lines = 0;  ///< how many journal lines it covers
    /// The change-log position of each order's last change and of each bill (index = id),
    /// at most one per order or bill of the image. Opaque numbers to the format; they are
    /// the scheduler's large part, kept here in binary rather than in `app`.
    std::vector<std::int64_t> order_pos;
    std::vector<std::int64_t> bill_pos;
};

/// The version `encode_snapshot` writes; `decode_snapshot` also reads version 1.
inline constexpr std::uint32_t kSnapshotFormatVersion = 2;

/// The snapshot as bytes.
std::string encode_snapshot(const Snapshot& snapshot);
/// Reads bytes written by `encode_snapshot`. Throws std::runtime_error with the reason on
/// anything malformed: bad magic, another version, truncation, trailing bytes, a CRC
/// mismatch, counts the bytes cannot hold, values out of range, more positions than orders
/// or bills. Never allocates more than a
/// small multiple of `bytes.size()`. Checks the framing only: whether the image is a state
/// a station can be in is for `station::Station::from_image`.
Snapshot decode_snapshot(std::string_view bytes);

/// Writes the snapshot to `path` atomically and durably: to `path.tmp` (mode 0600; the
/// disk writes chunks while the rest is encoded), fsync, rename over `path`, fsync the
/// directory. Throws std::runtime_error with the reason if any step fails: before the
/// rename, `path.tmp` is removed and `path` is untouched; if only the directory's fsync
/// fails, the new file is in place but may not survive a power loss. One writer at a time.
void write_snapshot_file(const std::string& path, const Snapshot& snapshot);
/// The snapshot in `path`; nullopt if there is no such file. Throws std::runtime_error
/// if it cannot be read or is malformed.
std::optional<Snapshot> read_snapshot_file(const std::string& path);

/// CRC-32 (ISO-HDLC: reflected polynomial 0xEDB88320, as zlib's crc32) of `bytes`,
/// continuing from `crc` (the CRC of the bytes before; 0 to start).
std::uint32_t crc32(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace service
