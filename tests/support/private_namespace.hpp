// The guard every program that sends multicast runs first: the network tests
// and the benchmarks refuse to run unless they are inside a private network
// namespace made by tests/network/netns-run (or scripts/bench), so that no
// datagram can leave the machine. Made before any socket exists.
#pragma once

#include <net/if.h>

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
    struct ::if_nameindex* list = ::if_nameindex();
    if (list == nullptr)
        return "cannot list the network interfaces (if_nameindex failed), so cannot tell a "
               "private namespace from the host";
    std::string others;
    bool loopback = false;
    for (const struct ::if_nameindex* i = list; i->if_index != 0; ++i) {
        const std::string_view name{i->if_name};
        if (name == "lo")
            loopback = true;
        else if (name != "v0" && name != "v1")
            others += (others.empty() ? "" : ", ") + std::string{name};
    }
    ::if_freenameindex(list);
    if (!others.empty())
        return "interfaces other than lo, v0 and v1 are present (" + others +
               "): this is not a private namespace made for the run";
    if (!loopback) return "no lo interface";
    return {};
}

} // namespace audiocast_test
