// audiocast — NTP timestamps, the wall-clock format of RTP and RTCP.
//
// RTCP sender reports (RFC 3550 §6.4.1) and the per-packet send-time header
// extension (RFC 6051 §3.3, `urn:ietf:params:rtp-hdrext:ntp-64`) carry wall
// time as a 64-bit NTP timestamp: 32 bits of seconds since 1900-01-01 00:00 UTC
// and 32 bits of fraction (RFC 5905 §6). All arithmetic here is integer and
// exact; no floating point touches a timestamp.
#pragma once

#include <audiocast/time.hpp>

#include <chrono>
#include <cstdint>

namespace audiocast::ntp {

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01):
/// 70 years, 17 of them leap.
inline constexpr std::uint32_t unix_epoch_offset = 2'208'988'800u;

/// A 64-bit NTP timestamp as it travels on the wire: whole seconds and the
/// fraction of a second in units of 2^-32 s (about 233 ps).
struct timestamp {
    std::uint32_t seconds = 0;
    std::uint32_t fraction = 0;

    /// The 64-bit wire value, seconds in the high half.
    [[nodiscard]] constexpr std::uint64_t to_u64() const noexcept
    {
        return std::uint64_t{seconds} << 32 | fraction;
    }

    [[nodiscard]] static constexpr timestamp from_u64(std::uint64_t v) noexcept
    {
        return {static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
    }

    friend constexpr bool operator==(const timestamp&, const timestamp&) = default;
};

/// Converts wall time to NTP. The seconds wrap modulo 2^32, so times from
/// 2036-02-07 06:28:16 UTC on land in era 1 with small seconds values, which
/// to_wall() reads back (RFC 4330 §3). The fraction is ns * 2^32 / 10^9
/// rounded to nearest.
[[nodiscard]] constexpr timestamp from_wall(wall_time t) noexcept
{
    using namespace std::chrono;
    const auto since_epoch = t.time_since_epoch();
    const auto whole = floor<seconds>(since_epoch); // floor keeps the fraction non-negative
    const auto ns = static_cast<std::uint64_t>((since_epoch - whole).count()); // [0, 10^9)
    // Modular on purpose: the wire keeps seconds modulo 2^32.
    const auto secs = static_cast<std::uint64_t>(whole.count()) + unix_epoch_offset;
    // ns < 10^9 < 2^30, so ns * 2^32 < 2^62 fits; the result is below 2^32
    // because 999'999'999 ns rounds to 2^32 - 4.
    const std::uint64_t fraction = ((ns << 32) + 500'000'000u) / 1'000'000'000u;
    return {static_cast<std::uint32_t>(secs), static_cast<std::uint32_t>(fraction)};
}

/// Converts NTP to wall time. Seconds with the top bit set are era 0 (1968 to
/// 2036, counted from 1900-01-01); seconds with it clear are era 1 (2036 to
/// 2104, counted from 2036-02-07 06:28:16 UTC), as RFC 4330 §3 specifies. The
/// fraction is rounded to the nearest nanosecond, so to_wall(from_wall(t)) == t
/// for every t in 1968-01-20 .. 2104-02-26.
[[nodiscard]] constexpr wall_time to_wall(timestamp ts) noexcept
{
    using namespace std::chrono;
    std::int64_t secs = ts.seconds;
    if (ts.seconds < 0x8000'0000u) secs += std::int64_t{1} << 32;
    secs -= unix_epoch_offset;
    // fraction * 10^9 < 2^62 fits; 0xFFFF'FFFF rounds up to a whole second,
    // which the addition below carries.
    const auto ns = (std::uint64_t{ts.fraction} * 1'000'000'000u + (std::uint64_t{1} << 31)) >> 32;
    return wall_time{seconds{secs} + nanoseconds{static_cast<std::int64_t>(ns)}};
}

/// The middle 32 bits of a timestamp (16 bits of seconds, 16 of fraction):
/// the "last SR" (LSR) field of an RTCP report block (RFC 3550 §6.4.1).
[[nodiscard]] constexpr std::uint32_t short_form(timestamp ts) noexcept
{
    return ts.seconds << 16 | ts.fraction >> 16;
}

/// Reads a 16.16 fixed-point count of seconds, the unit of the "delay since
/// last SR" (DLSR) field (RFC 3550 §6.4.1), rounded to the nearest nanosecond.
[[nodiscard]] constexpr std::chrono::nanoseconds from_short_duration(std::uint32_t v) noexcept
{
    const std::uint64_t whole = v >> 16;
    const std::uint64_t fraction = v & 0xFFFFu;
    const std::uint64_t ns = whole * 1'000'000'000u + ((fraction * 1'000'000'000u + 0x8000u) >> 16);
    return std::chrono::nanoseconds{static_cast<std::int64_t>(ns)};
}

/// The inverse of from_short_duration(), for writing DLSR: rounds to the
/// nearest 1/65536 s; negative durations give 0 and durations of 65536 s or
/// more saturate at 0xFFFF'FFFF (the field cannot say more).
[[nodiscard]] constexpr std::uint32_t to_short_duration(std::chrono::nanoseconds d) noexcept
{
    if (d.count() <= 0) return 0;
    const auto ns = static_cast<std::uint64_t>(d.count());
    constexpr std::uint64_t limit_ns = std::uint64_t{65'536} * 1'000'000'000u;
    if (ns >= limit_ns) return 0xFFFF'FFFFu;
    // ns < 2^46, so ns * 2^16 < 2^62 fits.
    const std::uint64_t units = ((ns << 16) + 500'000'000u) / 1'000'000'000u;
    return units > 0xFFFF'FFFFu ? 0xFFFF'FFFFu : static_cast<std::uint32_t>(units);
}

} // namespace audiocast::ntp
