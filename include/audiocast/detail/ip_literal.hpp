// audiocast — whether text is an IPv4 or IPv6 address literal.
//
// The sans-I/O core reads addresses out of SDP and has to know an address's
// family without a socket library. These accept exactly what inet_pton(3)
// accepts for AF_INET and AF_INET6 (tests/unit/detail_ip_literal.cpp holds
// them to it): dotted quads without leading zeros, and RFC 4291 §2.2 text with
// at most one "::" and an optional dotted quad in the last 32 bits. No zone
// ("%eth0"), no prefix length, no brackets.
#pragma once

#include <cstddef>
#include <string_view>

namespace audiocast::detail {

[[nodiscard]] constexpr bool is_ipv4_literal(std::string_view s) noexcept
{
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        const std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            value = value * 10 + static_cast<unsigned>(s[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return false;
        ++octets;
        if (i == s.size()) return octets == 4;
        if (s[i] != '.' || octets == 4) return false;
        ++i;
    }
}

[[nodiscard]] constexpr bool is_ipv6_literal(std::string_view s) noexcept
{
    const auto is_hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    int groups = 0; // 16-bit groups written out; a dotted quad counts two
    bool compressed = false;
    std::size_t i = 0;
    if (s.starts_with("::")) {
        compressed = true;
        i = 2;
        if (i == s.size()) return true;
    }
    while (true) {
        std::size_t end = i;
        while (end < s.size() && is_hex(s[end]))
            ++end;
        if (end < s.size() && s[end] == '.') { // a dotted quad ends the address
            if (!is_ipv4_literal(s.substr(i))) return false;
            groups += 2;
            break;
        }
        if (end == i || end - i > 4) return false;
        ++groups;
        if (end == s.size()) break;
        if (s[end] != ':') return false;
        i = end + 1;
        if (i < s.size() && s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            ++i;
            if (i == s.size()) break;
        } else if (i == s.size()) {
            return false; // a lone trailing colon
        }
    }
    // "::" stands for at least one zero group.
    return compressed ? groups <= 7 : groups == 8;
}

} // namespace audiocast::detail
