// The host's own address on an interface, for the origin of the server's SDP
// and SAP announcements (getifaddrs(3)).
#pragma once

#include <asio/ip/address.hpp>

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <string>

namespace audiocast_examples {

/// The first address of the family of `group` on the interface called
/// `name` (getifaddrs(3)), for SDP's and SAP's origin; nullopt when none.
inline std::optional<asio::ip::address> address_of_interface(const std::string& name, bool v6)
{
    ::ifaddrs* list = nullptr;
    if (name.empty() || ::getifaddrs(&list) != 0) return std::nullopt;
    std::optional<asio::ip::address> found;
    for (const ::ifaddrs* a = list; a != nullptr && !found; a = a->ifa_next) {
        if (a->ifa_addr == nullptr || name != a->ifa_name) continue;
        if (!v6 && a->ifa_addr->sa_family == AF_INET) {
            ::sockaddr_in in{};
            std::memcpy(&in, a->ifa_addr, sizeof in);
            asio::ip::address_v4::bytes_type b{};
            std::memcpy(b.data(), &in.sin_addr, b.size());
            found = asio::ip::address_v4{b};
        } else if (v6 && a->ifa_addr->sa_family == AF_INET6) {
            ::sockaddr_in6 in6{};
            std::memcpy(&in6, a->ifa_addr, sizeof in6);
            asio::ip::address_v6::bytes_type b{};
            std::memcpy(b.data(), &in6.sin6_addr, b.size());
            found = asio::ip::address_v6{b};
        }
    }
    ::freeifaddrs(list);
    return found;
}

} // namespace audiocast_examples
