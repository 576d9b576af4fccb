// audiocast — SAP (RFC 2974): announcing streams on a well-known group so
// that receivers find them, and withdrawing them when they stop.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   | V=1 |A|R|T|E|C|   auth len    |         msg id hash           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   :            originating source (32 bits IPv4, 128 bits IPv6)   :
//   :            authentication data (auth len words), optional     :
//   :            payload type "application/sdp\0", optional         :
//   :            payload: the SDP                                   :
//
// A: the source is IPv6; T: 1 withdraws (deletes) the announcement; E and C:
// encrypted and compressed payloads, which audiocast does not read. The
// stream is known by (originating source, msg id hash); an announcement
// without the payload type carries SDP (RFC 2974 §6, "v=0" first).
//
// sap_announcer is the sans-I/O timer of one announcement (§3.1: repeat it,
// with a random offset of up to a third of the interval, so announcers do not
// synchronize); parse() reads one from the wire.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/endian.hpp>
#include <audiocast/error.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast::sap {

/// The IPv4 group and port of SAP on the administratively scoped range
/// (RFC 2974 §3: the highest address of 239.255.0.0/16).
inline constexpr std::string_view ipv4_group = "239.255.255.255";
inline constexpr std::uint16_t port = 9875;
inline constexpr std::string_view sdp_type = "application/sdp";

/// PipeWire's RTP modules announce and listen here by default
/// (module-rtp-sap's sap.ip), a link-local group outside RFC 2974's list.
inline constexpr std::string_view pipewire_ipv4_group = "224.0.0.56";

/// The SAP groups of every IPv4 scope (RFC 2974 §3: local, organization-local,
/// global), then PipeWire's: where a listener for any IPv4 stream listens.
inline constexpr std::array<std::string_view, 4> ipv4_listening_groups{
    ipv4_group, "239.195.255.255", "224.2.127.254", pipewire_ipv4_group};

/// The IPv6 multicast scopes a listener hears announcements in: link,
/// site, organization and global (FF0X::2:7FFE, RFC 2974 §3).
inline constexpr std::array<unsigned, 4> ipv6_listening_scopes{0x2, 0x5, 0x8, 0xE};

/// The SAP group for an IPv4 session on `group` (RFC 2974 §3): the highest
/// address of its administrative scope, 239.255.255.255 for the local scope
/// 239.255.0.0/16 and 239.195.255.255 for the organization-local
/// 239.192.0.0/14; 224.2.127.254 for the global scope.
[[nodiscard]] inline std::string ipv4_group_for(const std::array<std::uint8_t, 4>& group)
{
    if (group[0] == 239 && group[1] == 255) return std::string{ipv4_group};
    if (group[0] == 239 && (group[1] & 0xFC) == 192) return "239.195.255.255";
    return "224.2.127.254";
}

/// The SAP group for an IPv6 session of multicast scope `scope` (the fourth
/// hex digit of its group, ff15::1 -> 5): FF0X::2:7FFE (RFC 2974 §3).
[[nodiscard]] inline std::string ipv6_group(unsigned scope)
{
    static constexpr char digits[] = "0123456789abcdef";
    return std::string{"ff0"} + digits[scope & 0xF] + "::2:7ffe";
}

/// One announcement read from the wire; the views point into the datagram.
struct announcement_view {
    bool deletion = false;
    std::uint16_t message_id_hash = 0;
    bool ipv6_origin = false;
    std::array<std::byte, 16> origin{}; ///< 4 or 16 bytes used
    std::string_view payload;           ///< the SDP

    /// The origin as text ("192.0.2.1", "fe80::1").
    [[nodiscard]] std::string origin_text() const
    {
        char text[64];
        if (!ipv6_origin) {
            std::snprintf(text, sizeof text, "%u.%u.%u.%u", unsigned(origin[0]),
                          unsigned(origin[1]), unsigned(origin[2]), unsigned(origin[3]));
            return text;
        }
        std::string out;
        for (std::size_t i = 0; i < 16; i += 2) {
            std::snprintf(text, sizeof text, "%s%x", i == 0 ? "" : ":",
                          unsigned(origin[i]) << 8 | unsigned(origin[i + 1]));
            out += text;
        }
        return out;
    }
};

/// Writes an announcement (or with `deletion`, its withdrawal) of `sdp` from
/// `origin` (4 bytes for IPv4, 16 for IPv6) into `out`; returns its size.
/// errc::buffer_too_small when `out` cannot hold it, errc::invalid_sap for
/// an origin of another size.
inline std::size_t write(std::span<std::byte> out, bool deletion, std::uint16_t message_id_hash,
                         std::span<const std::byte> origin, std::string_view sdp,
                         std::error_code& ec) noexcept
{
    ec.clear();
    if (origin.size() != 4 && origin.size() != 16) {
        ec = errc::invalid_sap;
        return 0;
    }
    const std::size_t n = 4 + origin.size() + sdp_type.size() + 1 + sdp.size();
    if (out.size() < n) {
        ec = errc::buffer_too_small;
        return 0;
    }
    const bool v6 = origin.size() == 16;
    out[0] = static_cast<std::byte>(1 << 5 | (v6 ? 0x10 : 0) | (deletion ? 0x04 : 0));
    out[1] = std::byte{0}; // no authentication
    detail::store_be16(out.data() + 2, message_id_hash);
    std::memcpy(out.data() + 4, origin.data(), origin.size());
    std::byte* p = out.data() + 4 + origin.size();
    std::memcpy(p, sdp_type.data(), sdp_type.size());
    p[sdp_type.size()] = std::byte{0};
    std::memcpy(p + sdp_type.size() + 1, sdp.data(), sdp.size());
    return n;
}

/// Reads one announcement. errc::invalid_sap for what is not SAP version 1,
/// is cut short, is encrypted or compressed (audiocast reads neither), or
/// carries something other than SDP.
[[nodiscard]] inline announcement_view parse(std::span<const std::byte> datagram,
                                             std::error_code& ec) noexcept
{
    ec = errc::invalid_sap;
    announcement_view a;
    if (datagram.size() < 4) return {};
    const auto b0 = static_cast<std::uint8_t>(datagram[0]);
    if ((b0 >> 5) != 1) return {};
    if ((b0 & 0x03) != 0) return {}; // E or C
    a.ipv6_origin = (b0 & 0x10) != 0;
    a.deletion = (b0 & 0x04) != 0;
    a.message_id_hash = detail::load_be16(datagram.data() + 2);
    const std::size_t origin = a.ipv6_origin ? 16 : 4;
    const std::size_t auth = std::size_t{static_cast<std::uint8_t>(datagram[1])} * 4;
    std::size_t at = 4 + origin + auth;
    if (datagram.size() < at) return {};
    std::memcpy(a.origin.data(), datagram.data() + 4, origin);
    std::string_view rest{reinterpret_cast<const char*>(datagram.data() + at),
                          datagram.size() - at};
    if (!rest.starts_with("v=0")) {
        // A payload type: a MIME type ending in a null octet.
        const std::size_t end = rest.find('\0');
        if (end == std::string_view::npos || rest.substr(0, end) != sdp_type) return {};
        rest.remove_prefix(end + 1);
    }
    a.payload = rest;
    ec.clear();
    return a;
}

/// When one stream's announcements go out. RFC 2974 §3.1 limits all of a
/// scope's announcements to a bandwidth (4 kbit/s by default) and puts at
/// least 300 s between repeats; on a LAN streams are announced far more often
/// (PulseAudio's RTP sender does every 5 s), and receivers wait that long
/// to find one, so the interval is the caller's choice.
class sap_announcer {
public:
    sap_announcer(std::chrono::nanoseconds interval, std::uint64_t seed) noexcept
        : interval_{interval}, random_{seed}
    {}

    /// The first announcement is due at once.
    void start(time_point now) noexcept
    {
        next_ = now;
        started_ = true;
    }

    [[nodiscard]] bool due(time_point now) const noexcept { return started_ && now >= next_; }
    [[nodiscard]] time_point next() const noexcept { return next_; }

    /// One went out at `now`: the next is due an interval later, offset at
    /// random by up to a third of it either way (§3.1).
    void sent(time_point now) noexcept
    {
        const double third = std::chrono::duration<double>(interval_).count() / 3;
        const double offset = std::uniform_real_distribution<double>{-third, third}(random_);
        next_ = now + interval_ +
                std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::duration<double>{offset});
    }

private:
    std::chrono::nanoseconds interval_;
    std::mt19937_64 random_;
    time_point next_{};
    bool started_ = false;
};

} // namespace audiocast::sap
