// audiocast — the PCM codec's sample kernels: int16, int32 and float to L16
// and L24 on the wire and back, portable, with the AVX2 kernels
// (detail/pcm_avx2.hpp, and detail/pcm_avx512.hpp for float input) taking the
// bulk of a buffer where the CPU has them.
// Internal to codec/pcm.hpp, whose pcm_codec comment gives the conversion
// table these implement.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/endian.hpp>
#include <audiocast/detail/pcm_avx2.hpp>
#include <audiocast/detail/pcm_avx512.hpp>
#include <audiocast/format.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace audiocast::detail::pcm {

// Sample conversions. L16 wire values are the 16-bit two's complement sample;
// L24 wire values are carried "top-aligned", the 24-bit sample in bits 31..8
// of a 32-bit word, which is also how the API's int32 samples hold them.

[[nodiscard]] constexpr std::uint16_t to_l16(std::int16_t s) noexcept
{
    return static_cast<std::uint16_t>(s);
}
[[nodiscard]] constexpr std::uint16_t to_l16(std::int32_t s) noexcept
{
    return static_cast<std::uint16_t>(static_cast<std::uint32_t>(s) >> 16);
}

[[nodiscard]] constexpr std::uint32_t to_l24(std::int16_t s) noexcept
{
    return static_cast<std::uint32_t>(s) << 16;
}
[[nodiscard]] constexpr std::uint32_t to_l24(std::int32_t s) noexcept
{
    return static_cast<std::uint32_t>(s) & 0xFFFF'FF00u;
}

/// Rounds to nearest, ties away from zero; exact for |y| <= 2^23. By hand
/// because std::lround is a library call that does not vectorise, and adding
/// 0.5 before truncating is wrong for 0.49999997.
[[nodiscard]] constexpr std::int32_t round_half_away(float y) noexcept
{
    const auto whole = static_cast<std::int32_t>(y);
    const float fraction = y - static_cast<float>(whole);
    return whole + static_cast<std::int32_t>(fraction >= 0.5f) -
           static_cast<std::int32_t>(fraction <= -0.5f);
}

/// Floats are converted in chunks through int32 samples, so they share the
/// integer kernels below.
inline constexpr std::size_t float_chunk = 64;

/// Converts float_chunk floats to int32 samples whose top `Bits` bits are the
/// wire value: scales by 2^(Bits-1), clips to [-1, 1], rounds to nearest with
/// ties away from zero, clamps to the largest wire value (+1.0 gives 0x7FFF)
/// and maps NaN to 0, so that no input is undefined behaviour.
template <int Bits>
void floats_to_top(const float* in, std::int32_t* out) noexcept
{
    constexpr float scale = Bits == 24 ? 8388608.0f : 32768.0f;
    // Two loops, not one: GCC -O2 vectorises each of them but not the two fused.
    float clipped[float_chunk];
    for (std::size_t i = 0; i < float_chunk; ++i) {
        // Scaling by a power of two is exact, so clipping after it is clipping
        // x to [-1, 1]; clipping at scale - 1 also does the final clamp.
        float y = in[i] * scale;
        y = y == y ? y : 0.0f;
        y = y < -scale ? -scale : y;
        clipped[i] = y > scale - 1.0f ? scale - 1.0f : y;
    }
    for (std::size_t i = 0; i < float_chunk; ++i)
        out[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(round_half_away(clipped[i]))
                                           << (32 - Bits));
}

template <pcm_sample T>
[[nodiscard]] constexpr T from_l16(std::int16_t v) noexcept
{
    if constexpr (std::same_as<T, std::int16_t>)
        return v;
    else if constexpr (std::same_as<T, std::int32_t>)
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) << 16);
    else
        return static_cast<float>(v) * (1.0f / 32768.0f);
}

/// `top` is the 24-bit sample in bits 31..8, low byte zero.
template <pcm_sample T>
[[nodiscard]] constexpr T from_l24(std::int32_t top) noexcept
{
    if constexpr (std::same_as<T, std::int16_t>)
        return static_cast<std::int16_t>(top >> 16);
    else if constexpr (std::same_as<T, std::int32_t>)
        return top;
    else
        return static_cast<float>(top) * (1.0f / 2147483648.0f);
}

/// Each of `in` (the codec concept's samples: 24 bits in the top of an
/// int32, as L24) as the application's sample type, into `out`.
template <pcm_sample T>
constexpr void from_l24(std::span<const std::int32_t> in, std::span<T> out) noexcept
{
    for (std::size_t i = 0; i < in.size(); ++i)
        out[i] = from_l24<T>(in[i]);
}

[[nodiscard]] constexpr std::int32_t load_l24(const std::byte* p) noexcept
{
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(load_be24(p)) << 8);
}

constexpr void store_l24(std::byte* p, std::uint32_t top) noexcept
{
    store_be24(p, static_cast<std::int32_t>(top >> 8));
}

// The kernels. Each is kept out of line and takes __restrict pointers because
// GCC at -O2 vectorises only loops that need no runtime alias check and no
// scalar epilogue, and the restrict promise is lost when a function is inlined;
// the main loops therefore run over a multiple of `block` samples. L24 moves
// four samples (12 bytes) per step through one 64-bit and one 32-bit word,
// which beats byte-at-a-time code where the target has no byte shuffle.

inline constexpr std::size_t block = 16;

template <std::integral T>
[[gnu::noinline]] void encode_l16(const T* __restrict in, std::size_t n,
                                  std::byte* __restrict out) noexcept
{
    const std::size_t blocked = n / block * block;
    for (std::size_t i = 0; i < blocked; ++i)
        store_be16(out + 2 * i, to_l16(in[i]));
    for (std::size_t i = blocked; i < n; ++i)
        store_be16(out + 2 * i, to_l16(in[i]));
}

template <std::integral T>
[[gnu::noinline]] void encode_l24(const T* __restrict in, std::size_t n,
                                  std::byte* __restrict out) noexcept
{
    std::size_t i = 0;
    for (; n - i >= 4; i += 4, out += 12) {
        const std::uint32_t s0 = to_l24(in[i]);
        const std::uint32_t s1 = to_l24(in[i + 1]);
        const std::uint32_t s2 = to_l24(in[i + 2]);
        const std::uint32_t s3 = to_l24(in[i + 3]);
        store_be64(out, std::uint64_t{s0 >> 8} << 40 | std::uint64_t{s1 >> 8} << 16 | s2 >> 16);
        store_be32(out + 8, (s2 << 16 & 0xFF00'0000u) | s3 >> 8);
    }
    for (; i < n; ++i, out += 3)
        store_l24(out, to_l24(in[i]));
}

template <pcm_sample T>
[[gnu::noinline]] void decode_l16(const std::byte* __restrict in, std::size_t n,
                                  T* __restrict out) noexcept
{
    const std::size_t blocked = n / block * block;
    for (std::size_t i = 0; i < blocked; ++i)
        out[i] = from_l16<T>(static_cast<std::int16_t>(load_be16(in + 2 * i)));
    for (std::size_t i = blocked; i < n; ++i)
        out[i] = from_l16<T>(static_cast<std::int16_t>(load_be16(in + 2 * i)));
}

template <pcm_sample T>
[[gnu::noinline]] void decode_l24(const std::byte* __restrict in, std::size_t n,
                                  T* __restrict out) noexcept
{
    std::size_t i = 0;
    for (; n - i >= 4; i += 4, in += 12) {
        const std::uint64_t w0 = load_be64(in);
        const std::uint32_t w1 = load_be32(in + 8);
        out[i] = from_l24<T>(
            static_cast<std::int32_t>(static_cast<std::uint32_t>(w0 >> 32) & 0xFFFF'FF00u));
        out[i + 1] = from_l24<T>(
            static_cast<std::int32_t>(static_cast<std::uint32_t>(w0 >> 8) & 0xFFFF'FF00u));
        out[i + 2] = from_l24<T>(static_cast<std::int32_t>(static_cast<std::uint32_t>(w0 << 16) |
                                                           (w1 >> 16 & 0x0000'FF00u)));
        out[i + 3] = from_l24<T>(static_cast<std::int32_t>(w1 << 8));
    }
    for (; i < n; ++i, in += 3)
        out[i] = from_l24<T>(load_l24(in));
}

template <sample_format F>
void encode_floats(const float* in, std::size_t n, std::byte* out) noexcept
{
    constexpr std::size_t bytes_each = bytes_per_sample(F);
    std::int32_t top[float_chunk];
    for (std::size_t i = 0; i < n; i += float_chunk) {
        const std::size_t count = std::min(float_chunk, n - i);
        if (count == float_chunk) {
            floats_to_top<bytes_each * 8>(in + i, top);
        } else {
            float last[float_chunk] = {};
            std::copy_n(in + i, count, last);
            floats_to_top<bytes_each * 8>(last, top);
        }
        if constexpr (F == sample_format::l24)
            encode_l24(top, count, out + i * bytes_each);
        else
            encode_l16(top, count, out + i * bytes_each);
    }
}

/// The portable kernels alone: what the AVX2 ones must match bit for bit.
template <pcm_sample T>
void portable_encode(sample_format f, const T* in, std::size_t n, std::byte* out) noexcept
{
    if constexpr (std::same_as<T, float>) {
        if (f == sample_format::l24)
            encode_floats<sample_format::l24>(in, n, out);
        else
            encode_floats<sample_format::l16>(in, n, out);
    } else if (f == sample_format::l24) {
        encode_l24(in, n, out);
    } else {
        encode_l16(in, n, out);
    }
}

template <pcm_sample T>
void portable_decode(sample_format f, const std::byte* in, std::size_t n, T* out) noexcept
{
    if (f == sample_format::l24)
        decode_l24(in, n, out);
    else
        decode_l16(in, n, out);
}

/// The AVX2 kernels where the CPU has them (AVX-512 where it has those, for
/// the conversions detail/pcm_avx512.hpp does), for all but a short tail,
/// which the portable ones finish.
template <pcm_sample T>
void encode(sample_format f, const T* in, std::size_t n, std::byte* out) noexcept
{
    std::size_t done = 0;
    const bool l24 = f == sample_format::l24;
    if (avx512::encodes<T>(l24) && avx512::available()) {
        if (l24)
            done = avx512::encode_l24(in, n, out);
        else if constexpr (std::is_same_v<T, float>)
            done = avx512::encode_l16(in, n, out);
        portable_encode(f, in + done, n - done, out + done * bytes_per_sample(f));
        return;
    }
    if (avx2::available())
        done =
            f == sample_format::l24 ? avx2::encode_l24(in, n, out) : avx2::encode_l16(in, n, out);
    portable_encode(f, in + done, n - done, out + done * bytes_per_sample(f));
}

template <pcm_sample T>
void decode(sample_format f, const std::byte* in, std::size_t n, T* out) noexcept
{
    std::size_t done = 0;
    const bool l24 = f == sample_format::l24;
    if (avx512::decodes<T>(l24) && avx512::available()) {
        if (l24)
            done = avx512::decode_l24(in, n, out);
        else if constexpr (avx512::decodes<T>(false)) // L16 to int16 is AVX2's
            done = avx512::decode_l16(in, n, out);
        portable_decode(f, in + done * bytes_per_sample(f), n - done, out + done);
        return;
    }
    if (avx2::available()) done = l24 ? avx2::decode_l24(in, n, out) : avx2::decode_l16(in, n, out);
    portable_decode(f, in + done * bytes_per_sample(f), n - done, out + done);
}

} // namespace audiocast::detail::pcm
