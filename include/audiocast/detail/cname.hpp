// audiocast — RTCP canonical names for participants that were given none.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace audiocast::detail {

/// A CNAME of 96 random bits in hex, as RFC 7022 §4.2 recommends for
/// short-term persistent names: unique in the session, and saying nothing
/// about the host or the user.
inline std::string random_cname(std::random_device& rd)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string name;
    for (int word = 0; word < 3; ++word) {
        const auto v = static_cast<std::uint32_t>(rd());
        for (int nibble = 7; nibble >= 0; --nibble)
            name += digits[(v >> (4 * nibble)) & 0xF];
    }
    return name;
}

} // namespace audiocast::detail
