// audiocast — where a datagram came from, without a socket library.
//
// The receiver chooses its source by SSRC *and* by the address and port the
// packets come from (docs/architecture.md, Source selection), so a host that
// borrows the stream's SSRC from another address is a stranger. The protocol
// core is sans-I/O, so the transport reports the sender as this plain value:
// an IPv4 or IPv6 address and a UDP port, or `unknown` from a transport that
// cannot tell (then every datagram looks as if it came from the same place and
// the choice falls back to the SSRC alone).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

namespace audiocast {

/// A datagram's source address and port.
struct endpoint {
    enum class family_type : std::uint8_t { unknown, ipv4, ipv6 };

    family_type family = family_type::unknown;
    /// IPv4 in the first 4 bytes, network order; IPv6 in all 16.
    std::array<std::uint8_t, 16> address{};
    std::uint16_t port = 0;

    [[nodiscard]] static endpoint ipv4(std::array<std::uint8_t, 4> a, std::uint16_t port) noexcept
    {
        endpoint e;
        e.family = family_type::ipv4;
        for (std::size_t i = 0; i < a.size(); ++i)
            e.address[i] = a[i];
        e.port = port;
        return e;
    }

    [[nodiscard]] static endpoint ipv6(const std::array<std::uint8_t, 16>& a,
                                       std::uint16_t port) noexcept
    {
        endpoint e;
        e.family = family_type::ipv6;
        e.address = a;
        e.port = port;
        return e;
    }

    [[nodiscard]] bool known() const noexcept { return family != family_type::unknown; }

    /// Same address, any port: RTCP comes from another port of the host that
    /// sends the media (RFC 3550 §11). Unknown matches every address, so a
    /// transport that cannot tell loses no function.
    [[nodiscard]] bool same_host(const endpoint& other) const noexcept
    {
        if (!known() || !other.known()) return true;
        return family == other.family && address == other.address;
    }

    /// "192.0.2.1:5004", "[2001:db8::1]:5004", or "unknown".
    [[nodiscard]] std::string to_string() const
    {
        char text[64];
        if (family == family_type::ipv4) {
            std::snprintf(text, sizeof text, "%u.%u.%u.%u:%u", address[0], address[1], address[2],
                          address[3], static_cast<unsigned>(port));
            return text;
        }
        if (family == family_type::ipv6) {
            // The uncompressed form: unambiguous, and no socket library needed.
            std::string s = "[";
            for (std::size_t i = 0; i < 16; i += 2) {
                std::snprintf(text, sizeof text, "%x", (address[i] << 8) | address[i + 1]);
                s += text;
                if (i < 14) s += ':';
            }
            return s + "]:" + std::to_string(port);
        }
        return "unknown";
    }

    friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// What a transport knows of a datagram besides its bytes (concepts.hpp,
/// origin_reporting_receiver).
struct datagram_origin {
    /// Its source address and port; unknown when the transport cannot tell.
    endpoint from{};
    /// How long it had waited in the transport (a socket's receive queue)
    /// when receive() returned it: the receiver dates its arrival that much
    /// earlier, so a backlog read at once is not mistaken for fresh packets.
    /// Zero when unknown.
    std::chrono::nanoseconds waited{};
    /// How many datagrams the transport had dropped for want of room in its
    /// receive queue, in all, when this one was queued (Linux SO_RXQ_OVFL,
    /// socket(7): the socket's count since it opened, modulo 2^32). Unset
    /// when the transport cannot tell.
    std::optional<std::uint32_t> dropped_before{};
    /// A protection layer rebuilt it from other packets (FEC) rather than
    /// receiving it now: its arrival says nothing of the network, so the
    /// receiver plays it but does not time it.
    bool rebuilt = false;
};

/// One datagram of a batch (batch_receiver in concepts.hpp): the caller gives
/// `buffer`; the transport fills the rest.
struct received_datagram {
    std::span<std::byte> buffer{};
    /// The datagram's size, at most buffer.size().
    std::size_t size = 0;
    /// It was larger than `buffer`, and cut to fit.
    bool truncated = false;
    datagram_origin origin{};
};

} // namespace audiocast
