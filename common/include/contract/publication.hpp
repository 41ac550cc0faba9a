#pragma once
/// @file A message to publish, as the service logic hands it to its MQTT adapter.

#include <string>

namespace contract {

struct Publication {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
};

}  // namespace contract
