// The WebSocket protocol of station-gateway's event loop (gateway/service/ws_protocol.hpp):
// the upgrade request, its answers, and client frames read byte by byte. No sockets.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ws_protocol.hpp"
#include "ws_test_frames.hpp"

using namespace gateway::ws;
using ws_test::client_frame;

namespace {

std::string request(const std::string& path, const std::string& extra = "",
                    const std::string& protocol = "ocpp1.6") {
    std::string head = "GET " + path +
                       " HTTP/1.1\r\nHost: cs.example\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n";
    if (!protocol.empty()) {
        head += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
    }
    return head + extra + "\r\n";
}

std::string basic(const std::string& user, const std::string& password) {
    return "Authorization: Basic " + base64_encode(user + ":" + password) + "\r\n";
}

std::vector<Event> drain(Decoder& d) {
    std::vector<Event> out;
    while (true) {
        Event e = d.next();
        if (e.kind == Event::Kind::NeedMore) {
            return out;
        }
        out.push_back(e);
        if (e.kind == Event::Kind::Close || e.kind == Event::Kind::Error) {
            return out;
        }
    }
}

}  // namespace

TEST_CASE("ws handshake: RFC 6455's sample key gives its sample accept value") {
    CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const std::string answer = accept_response("dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(answer.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
    CHECK(answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
          std::string::npos);
    CHECK(answer.find("Sec-WebSocket-Protocol: ocpp1.6\r\n") != std::string::npos);
    CHECK(answer.substr(answer.size() - 4) == "\r\n\r\n");
}

TEST_CASE("ws handshake: base64 both ways, padding and bad input") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_decode("Zm9vYmFy") == std::optional<std::string>("foobar"));
    CHECK(base64_decode("Zg==") == std::optional<std::string>("f"));
    for (const char* bad : {"Zg=", "Z===", "Zg==Zg==", "Zm9v!mFy", "=Zm9", "Zm=v"}) {
        CHECK_FALSE(base64_decode(bad));
    }
}

TEST_CASE("ws handshake: the head ends at its empty line, CRLF or LF") {
    CHECK_FALSE(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n"));
    CHECK(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nrest") == std::optional<std::size_t>(27));
    CHECK(find_head_end("GET / HTTP/1.1\nHost: x\n\n") == std::optional<std::size_t>(24));
}

TEST_CASE("ws handshake: a charger's upgrade is read: identity, credentials, subprotocol") {
    const auto r = parse_upgrade(request("/ocpp/CP1", basic("CP1", "se:cret")));
    CHECK(r.status == 0);
    CHECK(r.identity == "CP1");
    CHECK(r.has_basic);
    CHECK(r.user == "CP1");
    CHECK(r.password == "se:cret");
    CHECK(r.offers_ocpp16);
    CHECK(r.upgrade_status == 0);
    CHECK(r.key == "dGhlIHNhbXBsZSBub25jZQ==");
    // Identities percent-encoded by the client (ocpp-rpc encodes ':'), a query ignored.
    CHECK(parse_upgrade(request("/ocpp/site%3A7?x=1")).identity == "site:7");
    // ocpp1.6 among other offers, over several fields.
    CHECK(parse_upgrade(
              request("/ocpp/CP1", "Sec-WebSocket-Protocol: ocpp2.0.1\r\n", "ocpp1.5, ocpp1.6"))
              .offers_ocpp16);
    CHECK_FALSE(parse_upgrade(request("/ocpp/CP1", "", "ocpp2.0.1")).offers_ocpp16);
    CHECK_FALSE(parse_upgrade(request("/ocpp/CP1", "", "")).offers_ocpp16);
    CHECK_FALSE(parse_upgrade(request("/ocpp/CP1", "Authorization: Bearer abc\r\n")).has_basic);
    CHECK_FALSE(parse_upgrade(request("/ocpp/CP1", "Authorization: Basic !!!!\r\n")).has_basic);
}

TEST_CASE("ws handshake: bad paths are 404, bad requests 400/405/505, bad upgrades 400/426") {
    for (const char* path : {"/", "/ocpp/", "/ocpp/a/b", "/other/CP1", "/ocpp/%ZZ", "/ocpp/a%00",
                             "/ocpp/with space"}) {
        const auto r = parse_upgrade(request(path));
        CHECK((r.status == 404 || r.status == 400));
        CHECK(r.identity.empty());
    }
    CHECK(parse_upgrade(request("/ocpp/CP1").replace(0, 3, "PUT")).status == 405);
    CHECK(parse_upgrade("GET /ocpp/CP1 HTTP/2.0\r\n\r\n").status == 505);
    CHECK(parse_upgrade("GET /ocpp/CP1\r\n\r\n").status == 400);
    CHECK(parse_upgrade("GET /ocpp/CP1 HTTP/1.1\r\nNo colon\r\n\r\n").status == 400);
    CHECK(parse_upgrade("GET /ocpp/CP1 HTTP/1.1\r\nBad\rField: x\r\n\r\n").status == 400);
    CHECK(parse_upgrade("").status == 400);
    // Well-formed HTTP, but not a WebSocket upgrade: judged after the credentials.
    const auto plain = parse_upgrade("GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(plain.status == 0);
    CHECK(plain.upgrade_status == 400);
    std::string old = request("/ocpp/CP1");
    old.replace(old.find("Version: 13"), 11, "Version: 8");
    CHECK(parse_upgrade(old).upgrade_status == 426);
    std::string short_key = request("/ocpp/CP1");
    short_key.replace(short_key.find("dGhl"), 24, "c2hvcnQ=");
    CHECK(parse_upgrade(short_key).upgrade_status == 400);
    CHECK(parse_upgrade(request("/ocpp/CP1", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"))
              .upgrade_status == 400);
}

TEST_CASE("ws handshake: refusals close the connection and say why") {
    const std::string r = refusal_response(401, "unauthorized\n", true);
    CHECK(r.rfind("HTTP/1.1 401 Unauthorized\r\n", 0) == 0);
    CHECK(r.find("WWW-Authenticate: Basic realm=\"ocpp\"\r\n") != std::string::npos);
    CHECK(r.find("Connection: close\r\n") != std::string::npos);
    CHECK(r.find("Content-Length: 13\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 13) == "unauthorized\n");
    CHECK(refusal_response(426, "").find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
}

TEST_CASE("ws frames: server frames are unmasked with the shortest length encoding") {
    CHECK(encode_frame(Opcode::Text, "hi") == std::string("\x81\x02hi", 4));
    const std::string mid = encode_frame(Opcode::Text, std::string(300, 'a'));
    CHECK(mid.substr(0, 4) == std::string("\x81\x7e\x01\x2c", 4));
    const std::string big = encode_frame(Opcode::Text, std::string(70000, 'a'));
    CHECK(big.substr(0, 10) == std::string("\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
    CHECK(encode_close(1000, "bye") == std::string("\x88\x05\x03\xe8"
                                                   "bye",
                                                   7));
    CHECK(encode_close(kCloseNoStatus, "ignored") == std::string("\x88\x00", 2));
    CHECK(encode_close(1000, std::string(200, 'x')).size() == 2 + 125);
}

TEST_CASE("ws frames: texts, fragments and control frames, fed one byte at a time") {
    const std::string stream = client_frame(0x1, "[2,\"1\",\"Heartbeat\",{}]") +
                               client_frame(0x1, "frag", false) + client_frame(0x9, "p") +
                               client_frame(0x0, "men", false) + client_frame(0x0, "ted") +
                               client_frame(0xA, "") + client_frame(0x1, std::string(300, 'x')) +
                               client_frame(0x8, std::string("\x03\xe8"
                                                             "done",
                                                             6));
    Decoder d(64 * 1024);
    std::vector<Event> events;
    for (const char ch : stream) {
        d.feed(std::string_view(&ch, 1));
        for (auto& e : drain(d)) {
            events.push_back(e);
        }
        CHECK(d.buffered() <= 64 * 1024 + 14);
    }
    REQUIRE(events.size() == 6);
    CHECK(events[0].kind == Event::Kind::Text);
    CHECK(events[0].data == "[2,\"1\",\"Heartbeat\",{}]");
    CHECK(events[1].kind == Event::Kind::Ping);  // between fragments, as RFC 6455 §5.4 allows
    CHECK(events[1].data == "p");
    CHECK(events[2].kind == Event::Kind::Text);
    CHECK(events[2].data == "fragmented");
    CHECK(events[3].kind == Event::Kind::Pong);
    CHECK(events[4].data == std::string(300, 'x'));
    CHECK(events[5].kind == Event::Kind::Close);
    CHECK(events[5].code == 1000);
    CHECK(events[5].data == "done");
    CHECK(d.finished());
    d.feed(client_frame(0x1, "after the close"));
    CHECK(d.next().kind == Event::Kind::NeedMore);
}

TEST_CASE("ws frames: protocol violations close with the code RFC 6455 names") {
    struct Case {
        std::string bytes;
        std::uint16_t code;
    };
    std::string unmasked = "\x81\x02hi";
    std::string rsv = client_frame(0x1, "x");
    rsv[0] = static_cast<char>(rsv[0] | 0x40);
    const std::string huge_length("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x00mask", 14);
    const std::vector<Case> cases = {
        {unmasked, kCloseProtocolError},
        {rsv, kCloseProtocolError},
        {client_frame(0x3, "x"), kCloseProtocolError},
        {client_frame(0x2, "bin"), kCloseUnsupported},
        {client_frame(0x0, "orphan"), kCloseProtocolError},
        {client_frame(0x1, "a", false) + client_frame(0x1, "b"), kCloseProtocolError},
        {client_frame(0x9, "p", false), kCloseProtocolError},
        {client_frame(0x9, std::string(126, 'p')), kCloseProtocolError},
        {client_frame(0x1, std::string(1025, 'x')), kCloseTooBig},
        {client_frame(0x1, std::string(600, 'x'), false) + client_frame(0x0, std::string(600, 'x')),
         kCloseTooBig},
        {huge_length, kCloseProtocolError},
        {client_frame(0x1, "\xc3\x28"), kCloseBadPayload},
        {client_frame(0x1, "\xed\xa0\x80"), kCloseBadPayload},  // a surrogate
        {client_frame(0x1, "\xc0\xaf"), kCloseBadPayload},      // an overlong '/'
        {client_frame(0x8, "\x03"), kCloseProtocolError},
        {client_frame(0x8, std::string("\x03\xed", 2)), kCloseProtocolError},  // code 1005
        {client_frame(0x8, std::string("\x03\xe8\xff", 3)), kCloseBadPayload},
    };
    for (const auto& c : cases) {
        Decoder d(1024);
        d.feed(c.bytes);
        const auto events = drain(d);
        REQUIRE_FALSE(events.empty());
        CHECK(events.back().kind == Event::Kind::Error);
        CHECK(events.back().code == c.code);
        CHECK_FALSE(events.back().data.empty());
        CHECK(d.finished());
        CHECK(d.buffered() == 0);
    }
    // A too-big length is refused from the header alone, before its payload arrives.
    Decoder d(1024);
    d.feed(client_frame(0x1, std::string(70000, 'x')).substr(0, 14));
    CHECK(d.next().code == kCloseTooBig);
}

TEST_CASE("ws frames: a close without a code, and UTF-8 rules") {
    Decoder d(1024);
    d.feed(client_frame(0x8, ""));
    const Event e = d.next();
    CHECK(e.kind == Event::Kind::Close);
    CHECK(e.code == kCloseNoStatus);
    CHECK(valid_utf8("plain ascii"));
    CHECK(valid_utf8("\xe5\x85\x85\xe7\x94\xb5 \xf0\x9f\x94\x8c"));
    CHECK_FALSE(valid_utf8("\xe5\x85"));
    CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(valid_utf8("\xff"));
}
