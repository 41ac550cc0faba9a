#include "bus/mqtt_client.hpp"

#include <dirent.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "contract/topics.hpp"

namespace bus {

namespace {

// The broker's TCP port in a "tcp://host:port" URI (1883 if none is given).
int uri_port(const std::string& uri) {
    const auto colon = uri.rfind(':');
    if (colon == std::string::npos || colon < uri.find("://") + 3) {
        return 1883;
    }
    try {
        return std::stoi(uri.substr(colon + 1));
    } catch (const std::exception&) {
        return 1883;
    }
}

// The inodes of the established TCP connections (IPv4 and IPv6) of this network
// namespace whose peer port is one of `ports`, from /proc/self/net/tcp{,6}:
//   sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
std::unordered_set<unsigned long> connections_to_ports(const std::vector<int>& ports) {
    std::unordered_set<unsigned long> inodes;
    for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
            unsigned long inode = 0;
            fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                timeout >> inode;
            const auto colon = remote.rfind(':');
            if (!fields || state != "01" || colon == std::string::npos) {  // 01: ESTABLISHED
                continue;
            }
            char* end = nullptr;
            const unsigned long peer_port = std::strtoul(remote.c_str() + colon + 1, &end, 16);
            if (*end == '\0' &&
                std::find(ports.begin(), ports.end(), static_cast<int>(peer_port)) != ports.end()) {
                inodes.insert(inode);
            }
        }
    }
    return inodes;
}

// Paho C 1.3.12 (Debian 12) has no option for TCP_NODELAY (upstream added one later,
// eclipse-paho/paho.mqtt.c#1417). Without it a client that sends two messages back to
// back waits for the broker's delayed ACK: ~40 ms per command or reply. So once connected
// we set it on this process's sockets to the brokers' ports. Remove when Paho offers it.
// The sockets are found by inode (/proc/self/fd links read, never the descriptors
// themselves): other threads open and close descriptors meanwhile, and the only call made
// on a descriptor is the setsockopt, on one that was a connection to the broker a moment
// before (were it closed and reused since, the call fails or sets a harmless option).
void set_nodelay_to_ports(const std::vector<int>& ports) {
    const auto inodes = connections_to_ports(ports);
    if (inodes.empty()) {
        return;
    }
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) {
        return;
    }
    while (const dirent* entry = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || fd <= 2 || fd > std::numeric_limits<int>::max()) {
            continue;
        }
        const std::string path = std::string("/proc/self/fd/") + entry->d_name;
        char target[64];
        const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n <= 0) {
            continue;
        }
        target[n] = '\0';
        unsigned long inode = 0;
        if (std::sscanf(target, "socket:[%lu]", &inode) == 1 && inodes.count(inode) != 0) {
            const int one = 1;
            setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    closedir(dir);
}

}  // namespace

std::vector<std::string> split_uris(std::string_view list) {
    std::vector<std::string> uris;
    while (!list.empty()) {
        const auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (!item.empty()) {
            uris.emplace_back(item);
        }
    }
    return uris;
}

MqttClient::MqttClient(ClientOptions options, MessageFn on_message, EventFn on_connected,
                       EventFn on_lost)
    : options_(std::move(options)),
      on_message_(std::move(on_message)),
      on_connected_(std::move(on_connected)),
      on_lost_(std::move(on_lost)) {
    uris_ = split_uris(options_.uri);
    if (uris_.empty()) {
        throw std::invalid_argument("no broker URI in '" + options_.uri + "'");
    }
    for (const auto& uri : uris_) {
        ports_.push_back(uri_port(uri));
    }
    mqtt::create_options create(MQTTVERSION_3_1_1, options_.max_buffered);
    create.set_send_while_disconnected(true, true);
    client_ = std::make_unique<mqtt::async_client>(uris_.front(), options_.client_id, create);
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        if (m && on_message_) {
            const std::string& topic = m->get_topic();
            const mqtt::binary& payload = m->get_payload();
            on_message_(Received{m, topic, std::string_view(payload.data(), payload.size())});
        }
    });
    client_->set_connected_handler([this](const std::string&) {
        ever_connected_ = true;
        set_nodelay_to_ports(ports_);
        // Subscriptions are renewed on every connection: a broker restarted without
        // persistence has forgotten them.
        for (const auto& [filter, qos] : options_.subscriptions) {
            try {
                client_->subscribe(filter, qos);
            } catch (const std::exception& e) {
                std::cerr << "mqtt " << options_.client_id << ": subscribe " << filter
                          << " failed: " << e.what() << "\n";
            }
        }
        if (on_connected_) {
            on_connected_();
        }
    });
    client_->set_connection_lost_handler([this](const std::string&) {
        if (on_lost_) {
            on_lost_();
        }
    });
}

MqttClient::~MqttClient() {
    stopping_ = true;
    if (connector_.joinable()) {
        connector_.join();
    }
    try {
        if (client_->is_connected()) {
            client_->disconnect(std::chrono::milliseconds(200))
                ->wait_for(std::chrono::milliseconds(500));
        }
    } catch (...) {  // a destructor must not throw; the broker drops the link anyway
    }
}

std::shared_ptr<void> MqttClient::connect_once() {
    auto builder = mqtt::connect_options_builder()
                       .clean_session(!options_.persistent_session)
                       .keep_alive_interval(options_.keep_alive)
                       .automatic_reconnect(std::chrono::milliseconds(250), std::chrono::seconds(5))
                       .connect_timeout(std::chrono::seconds(5));
    if (uris_.size() > 1) {
        builder.servers(std::make_shared<mqtt::string_collection>(uris_));
    }
    if (std::any_of(uris_.begin(), uris_.end(),
                    [](const std::string& u) { return u.starts_with("ssl://"); })) {
        auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true).verify(true);
        if (!options_.ca_file.empty()) {
            ssl.trust_store(options_.ca_file);
        }
        builder.ssl(ssl.finalize());
    }
    if (!options_.username.empty()) {
        builder.user_name(options_.username);
        builder.password(options_.password);
    }
    if (options_.will) {
        const auto& w = *options_.will;
        builder.will(mqtt::message(w.topic, w.payload, w.qos, w.retain));
    }
    return std::static_pointer_cast<void>(client_->connect(builder.finalize()));
}

void MqttClient::start() {
    // The first connection may fail (the broker is not up yet); retry in the background
    // until it succeeds, after which Paho's automatic reconnect takes over.
    connector_ = std::thread([this] {
        auto delay = std::chrono::milliseconds(100);
        while (!stopping_ && !ever_connected_) {
            try {
                auto tok = std::static_pointer_cast<mqtt::token>(connect_once());
                if (tok->wait_for(std::chrono::seconds(6)) && client_->is_connected()) {
                    return;
                }
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::milliseconds(2000));
        }
    });
}

bool MqttClient::wait_connected(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (client_->is_connected()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return client_->is_connected();
}

bool MqttClient::connected() const {
    return client_->is_connected();
}

bool MqttClient::publish(const contract::Publication& p) {
    if (p.payload.size() > contract::kMaxPublishBytes) {
        // The broker would disconnect us for it, and Paho would send it again after every
        // reconnect: such a message must never reach the client library.
        ++failures_;
        std::cerr << "mqtt " << options_.client_id << ": not published to " << p.topic << ": "
                  << p.payload.size() << " bytes is above the bus's limit\n";
        return false;
    }
    try {
        client_->publish(p.topic, p.payload.data(), p.payload.size(), p.qos, p.retain);
        return true;
    } catch (const std::exception& e) {
        ++failures_;
        std::cerr << "mqtt " << options_.client_id << ": publish to " << p.topic
                  << " failed: " << e.what() << "\n";
        return false;
    }
}

void MqttClient::begin_stop(const std::optional<contract::Publication>& farewell) {
    stopping_ = true;
    try {
        if (farewell && client_->is_connected()) {
            client_->publish(farewell->topic, farewell->payload.data(), farewell->payload.size(),
                             farewell->qos, farewell->retain);
        }
        if (client_->is_connected()) {
            disconnect_token_ =
                std::static_pointer_cast<void>(client_->disconnect(std::chrono::milliseconds(500)));
        }
    } catch (const std::exception&) {
    }
}

void MqttClient::finish_stop(std::chrono::milliseconds timeout) {
    if (auto tok = std::static_pointer_cast<mqtt::token>(disconnect_token_)) {
        try {
            tok->wait_for(timeout);
        } catch (const std::exception&) {
        }
    }
}

}  // namespace bus
