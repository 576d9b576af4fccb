// The guard every program that sends multicast runs first: the network tests
// and the benchmarks refuse to run unless they are inside a private network
// namespace made by tests/network/netns-run (or scripts/bench), so that no
// datagram can leave the machine. Made before any socket exists.
#pragma once

#include <audiocast/transport/detail/multicast_interface.hpp>

#include <cstdlib>
#include <string>
#include <string_view>

namespace audiocast_test {

/// Why multicast must not be sent from here; empty inside a namespace made
/// for the run: AUDIOCAST_NETNS=1 and no interface but lo, v0 and v1.
/// `made_by` names what makes one, for the message.
inline std::string namespace_refusal(std::string_view made_by = "tests/network/netns-run")
{
    const char* flag = std::getenv("AUDIOCAST_NETNS");
    if (flag == nullptr || std::string_view{flag} != "1")
        return "AUDIOCAST_NETNS=1 is not set; run through " + std::string{made_by} +
               ", which makes a private network namespace";
    // The system's own list (getifaddrs, or GetAdaptersAddresses under wine,
    // which names Linux's interfaces as Linux does).
    const auto interfaces = audiocast::detail::list_network_interfaces();
    if (interfaces.empty())
        return "cannot list the network interfaces, so cannot tell a private namespace from "
               "the host";
    std::string others;
    bool loopback = false;
    for (const auto& i : interfaces) {
        const std::string_view name{i.name};
        if (name == "lo")
            loopback = true;
        else if (name != "v0" && name != "v1")
            others += (others.empty() ? "" : ", ") + std::string{name};
    }
    if (!others.empty())
        return "interfaces other than lo, v0 and v1 are present (" + others +
               "): this is not a private namespace made for the run";
    if (!loopback) return "no lo interface";
    return {};
}

/// The index of the interface called `name`; 0 when there is none.
inline unsigned int interface_index(const std::string& name);

/// Why the IPv6 tests cannot run; empty when v0 is there for them.
inline std::string ipv6_refusal()
{
    const char* flag = std::getenv("AUDIOCAST_NETNS_IPV6");
    if (flag != nullptr && std::string_view{flag} == "1" && interface_index("v0") != 0) return {};
    const char* why = std::getenv("AUDIOCAST_NETNS_IPV6_WHY");
    return why != nullptr && *why != '\0' ? why : "the namespace has no veth pair v0/v1";
}

/// The index of the interface called `name`; 0 when there is none.
inline unsigned int interface_index(const std::string& name)
{
    for (const auto& i : audiocast::detail::list_network_interfaces())
        if (i.name == name) return i.index;
    return 0;
}

} // namespace audiocast_test
