// audiocast — big-endian loads and stores for the wire.
//
// Every multi-byte field on the wire is big-endian (RFC 3550 §4 "network byte
// order"; L16/L24 samples per RFC 3551 §4.5.11 and RFC 3190 §4). These helpers
// build values byte by byte: that is valid for any alignment, is constexpr, and
// GCC and Clang turn it into a single load plus bswap/movbe at -O2. Callers
// check bounds; the helpers read or write exactly the bytes their name says.
#pragma once

#include <cstddef>
#include <cstdint>

namespace audiocast::detail {

[[nodiscard]] constexpr std::uint16_t load_be16(const std::byte* p) noexcept
{
    return static_cast<std::uint16_t>(std::to_integer<std::uint16_t>(p[0]) << 8 |
                                      std::to_integer<std::uint16_t>(p[1]));
}

/// Reads a signed 24-bit value (an L24 sample, RTCP's cumulative loss) and
/// sign-extends it.
[[nodiscard]] constexpr std::int32_t load_be24(const std::byte* p) noexcept
{
    const std::uint32_t u = std::to_integer<std::uint32_t>(p[0]) << 24 |
                            std::to_integer<std::uint32_t>(p[1]) << 16 |
                            std::to_integer<std::uint32_t>(p[2]) << 8;
    // C++20: the conversion is modular and >> on a negative value is arithmetic.
    return static_cast<std::int32_t>(u) >> 8;
}

[[nodiscard]] constexpr std::uint32_t load_be32(const std::byte* p) noexcept
{
    return std::to_integer<std::uint32_t>(p[0]) << 24 | std::to_integer<std::uint32_t>(p[1]) << 16 |
           std::to_integer<std::uint32_t>(p[2]) << 8 | std::to_integer<std::uint32_t>(p[3]);
}

[[nodiscard]] constexpr std::uint64_t load_be64(const std::byte* p) noexcept
{
    return std::uint64_t{load_be32(p)} << 32 | load_be32(p + 4);
}

constexpr void store_be16(std::byte* p, std::uint16_t v) noexcept
{
    p[0] = static_cast<std::byte>(v >> 8);
    p[1] = static_cast<std::byte>(v);
}

/// Writes the low 24 bits of `v` (two's complement), the inverse of load_be24.
constexpr void store_be24(std::byte* p, std::int32_t v) noexcept
{
    const auto u = static_cast<std::uint32_t>(v);
    p[0] = static_cast<std::byte>(u >> 16);
    p[1] = static_cast<std::byte>(u >> 8);
    p[2] = static_cast<std::byte>(u);
}

constexpr void store_be32(std::byte* p, std::uint32_t v) noexcept
{
    p[0] = static_cast<std::byte>(v >> 24);
    p[1] = static_cast<std::byte>(v >> 16);
    p[2] = static_cast<std::byte>(v >> 8);
    p[3] = static_cast<std::byte>(v);
}

constexpr void store_be64(std::byte* p, std::uint64_t v) noexcept
{
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

} // namespace audiocast::detail
