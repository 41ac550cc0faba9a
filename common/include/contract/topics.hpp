#pragma once
/// @file The MQTT topic tree, defined once (docs/asyncapi.yaml documents it).
///
///   evcs/v1/piles/{pile}/status       pile -> all      retained, QoS 1, last will
///   evcs/v1/piles/{pile}/telemetry    pile -> all      QoS 0
///   evcs/v1/piles/{pile}/events       pile -> all      QoS 1
///   evcs/v1/piles/{pile}/commands     scheduler -> pile QoS 1
///   evcs/v1/piles/{pile}/acks         pile -> scheduler QoS 1
///   evcs/v1/station/state             scheduler -> all retained, QoS 1
///   evcs/v1/station/clock             scheduler -> all retained, QoS 1
///   evcs/v1/station/changes           scheduler -> all QoS 1
///   evcs/v1/scheduler/requests        clients -> scheduler QoS 1
///   evcs/v1/replies/{client}          scheduler -> client QoS 1
///
/// At a centre serving several stations, a station's station/, scheduler/ and replies/
/// topics are under evcs/v1/stations/{station}/ (at_centre); its piles' stay at the edge.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace contract {

/// Versioned root of every topic.
inline constexpr std::string_view kRoot = "evcs/v1";

/// The largest MQTT packet the station's brokers take (`max_packet_size` in
/// broker/*.conf): a client that sends a larger one is disconnected. No service publishes
/// a payload above kMaxPublishBytes (which leaves room for the topic and headers).
inline constexpr std::size_t kMaxPacketBytes = 8 * 1024 * 1024;
inline constexpr std::size_t kMaxPublishBytes = kMaxPacketBytes - 64 * 1024;

/// What a pile publishes or receives on its own topics.
enum class PileChannel { Status, Telemetry, Events, Commands, Acks };

std::string pile_topic(std::string_view pile, PileChannel channel);
/// "evcs/v1/piles/+/<channel>": one channel of every pile.
std::string all_piles(PileChannel channel);

std::string station_state_topic();
std::string station_clock_topic();
/// The scheduler's change log: orders and bills with their positions (contract/changes.hpp).
std::string station_changes_topic();
std::string scheduler_requests_topic();
std::string replies_topic(std::string_view client);

/// Whether `topic` is a replies/{client} topic with a valid client id.
bool is_replies_topic(std::string_view topic);

/// A pile topic taken apart; nullopt for any other topic.
struct PileTopic {
    std::string pile;
    PileChannel channel;
};
std::optional<PileTopic> parse_pile_topic(std::string_view topic);

/// A station's topic as a centre that serves several stations carries it:
/// "evcs/v1/X" becomes "evcs/v1/stations/{station}/X" (the station's broker bridges its
/// topics there: broker/bridge.conf). An empty `station` leaves the topic as it is (one
/// station, on its own broker). Throws std::invalid_argument for an id valid_topic_id
/// refuses or a topic outside the root.
std::string at_centre(std::string_view station, std::string_view topic);

/// Whether `id` may be used in a topic level: non-empty, at most 64 bytes, no '/', '+',
/// '#', blanks or control characters.
bool valid_topic_id(std::string_view id);

}  // namespace contract
