// The host's own address on an interface, for the origin of the server's SDP
// and SAP announcements, from the library's interface list (getifaddrs(3), or
// GetAdaptersAddresses on Windows).
#pragma once

#include <audiocast/transport/detail/multicast_interface.hpp>

#include <asio/ip/address.hpp>

#include <optional>
#include <string>

namespace audiocast_examples {

/// The first address of the family of `group` on the interface called
/// `name`, for SDP's and SAP's origin (without an IPv6 scope, which SDP does
/// not carry); nullopt when none.
inline std::optional<asio::ip::address> address_of_interface(const std::string& name, bool v6)
{
    if (name.empty()) return std::nullopt;
    for (const auto& i : audiocast::detail::list_network_interfaces()) {
        if (i.name != name) continue;
        for (const asio::ip::address& a : i.addresses) {
            if (!v6 && a.is_v4()) return a;
            if (v6 && a.is_v6()) return asio::ip::address_v6{a.to_v6().to_bytes()};
        }
    }
    return std::nullopt;
}

} // namespace audiocast_examples
