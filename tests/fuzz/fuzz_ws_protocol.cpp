// Fuzz target: the WebSocket protocol of station-gateway (gateway/service/ws_protocol.hpp),
// what every charger sends before and after the upgrade. The first byte picks:
//   'h': the rest is an upgrade request head (find_head_end, parse_upgrade);
//   anything else: the rest is a client's byte stream after the upgrade, fed to the frame
//   decoder in pieces whose sizes the first byte's low bits choose.
// Properties: nothing throws or crashes; a head is accepted (status 0) only with a valid
// identity; the decoder holds at most one frame and one message (bounded by its limit),
// hands out texts of valid UTF-8 within the limit, and nothing after a Close or an Error.
#include <string>

#include "fuzz_support.hpp"
#include "gateway/charger_registry.hpp"
#include "ws_protocol.hpp"

namespace {

constexpr std::size_t kMax = 4096;

void fuzz_head(std::string_view in) {
    const auto end = gateway::ws::find_head_end(in);
    fuzz::check(!end || *end <= in.size(), "the head ends inside the input");
    const auto r = gateway::ws::parse_upgrade(end ? in.substr(0, *end) : in);
    if (r.status == 0) {
        fuzz::check(gateway::valid_identity(r.identity), "accepted an invalid identity",
                    r.identity);
        if (r.upgrade_status == 0) {
            fuzz::check(gateway::ws::accept_key(r.key).size() == 28, "an accept key of 28");
        }
    }
    (void)gateway::ws::refusal_response(r.status == 0 ? 400 : r.status, r.problem, true);
}

void fuzz_frames(unsigned char mode, std::string_view in) {
    gateway::ws::Decoder d(kMax);
    const std::size_t piece = 1 + (mode & 0x3FU) * 7;
    bool ended = false;
    for (std::size_t at = 0; at < in.size(); at += piece) {
        d.feed(in.substr(at, piece));
        while (true) {
            const auto e = d.next();
            if (e.kind == gateway::ws::Event::Kind::NeedMore) {
                break;
            }
            fuzz::check(!ended, "an event after a Close or an Error");
            if (e.kind == gateway::ws::Event::Kind::Text) {
                fuzz::check(e.data.size() <= kMax, "a text over the limit");
                fuzz::check(gateway::ws::valid_utf8(e.data), "a text that is not UTF-8");
            }
            if (e.kind == gateway::ws::Event::Kind::Close ||
                e.kind == gateway::ws::Event::Kind::Error) {
                ended = true;
                (void)gateway::ws::encode_close(e.code, e.data);
                break;
            }
            if (e.kind == gateway::ws::Event::Kind::Ping) {
                fuzz::check(e.data.size() <= 125, "a ping over 125 bytes");
            }
        }
        fuzz::check(d.buffered() <= 2 * kMax + 14 + piece, "the decoder holds too much");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view rest = fuzz::text(data + 1, size - 1);
    if (data[0] == 'h') {
        fuzz_head(rest);
    } else {
        fuzz_frames(data[0], rest);
    }
    return 0;
}
