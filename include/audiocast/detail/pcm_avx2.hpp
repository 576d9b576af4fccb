// audiocast — AVX2 kernels for the PCM codec, chosen at run time.
//
// The portable kernels in detail/pcm_kernels.hpp reach a third of memcpy's speed for
// L16 and a fiftieth for L24: baseline x86-64 (SSE2) has no byte shuffle, and
// 3-byte samples defeat the compiler's vectoriser. These do the bulk of a
// buffer with one vpshufb per 8 or 16 samples and return how many samples they
// did; the portable kernels do the rest, so every result is bit-identical to
// theirs (tests/unit/pcm_kernels.cpp checks every length and edge value).
//
// Each function carries gnu::target("avx2"), so the header builds with the
// default -march and the code runs only where avx2_available() says so. That
// check reads a word libgcc / compiler-rt fill in before main(): no system
// call and no lock, so the audio thread may make it.
#pragma once

#include <audiocast/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if !defined(AUDIOCAST_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AUDIOCAST_HAS_AVX2_KERNELS 1
#include <immintrin.h>
#else
#define AUDIOCAST_HAS_AVX2_KERNELS 0
#endif

namespace audiocast::detail::pcm::avx2 {

#if AUDIOCAST_HAS_AVX2_KERNELS

[[nodiscard]] inline bool available() noexcept
{
    return __builtin_cpu_supports("avx2") != 0;
}

// vpshufb indices: -1 (0x80) writes a zero byte. Each 128-bit lane shuffles
// within itself, so the lane patterns repeat.
#define AUDIOCAST_LANES(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)

/// 16-bit byte swap: native int16 <-> L16.
[[gnu::target("avx2")]] inline __m256i swap16() noexcept
{
    return AUDIOCAST_LANES(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
}

/// Four int32 (top-aligned) -> the 12 bytes of four L24 samples, then 4 zeros.
[[gnu::target("avx2")]] inline __m256i int32_to_l24() noexcept
{
    return AUDIOCAST_LANES(3, 2, 1, 7, 6, 5, 11, 10, 9, 15, 14, 13, -1, -1, -1, -1);
}

/// Twelve L24 bytes -> four top-aligned int32, low byte zero: from bytes 0-11
/// of the low lane, 4-15 of the high one.
[[gnu::target("avx2")]] inline __m256i l24_to_int32() noexcept
{
    return _mm256_setr_epi8(-1, 2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9, //
                            -1, 6, 5, 4, -1, 9, 8, 7, -1, 12, 11, 10, -1, 15, 14, 13);
}

#undef AUDIOCAST_LANES

[[gnu::target("avx2")]] inline __m256i load(const void* p) noexcept
{
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

[[gnu::target("avx2")]] inline void store(void* p, __m256i v) noexcept
{
    _mm256_storeu_si256(static_cast<__m256i*>(p), v);
}

/// Two 16-byte loads into the two lanes.
[[gnu::target("avx2")]] inline __m256i load_lanes(const std::byte* low,
                                                  const std::byte* high) noexcept
{
    return _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(high),
                               reinterpret_cast<const __m128i*>(low));
}

/// Eight floats as in floats_to_top() of detail/pcm_kernels.hpp, before its final
/// shift: whole numbers in [-2^(Bits-1), 2^(Bits-1) - 1], NaN as INT32_MIN,
/// which the shift to the top makes 0. Clipping keeps NaN because vmaxps and
/// vminps return their second operand when either is NaN. Rounding half away
/// from zero is adding copysign(0.49999997, y) and truncating: over the
/// clipped range that equals round_half_away(y) for every float (checked
/// exhaustively for Bits = 24, all 2.5e9 of them) and costs two fewer steps.
template <int Bits>
[[gnu::target("avx2")]] inline __m256i floats_to_whole(const float* in) noexcept
{
    const __m256 scale = _mm256_set1_ps(Bits == 24 ? 8388608.0f : 32768.0f);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 y = _mm256_mul_ps(_mm256_loadu_ps(in), scale);
    y = _mm256_max_ps(_mm256_xor_ps(scale, sign_bit), y);
    y = _mm256_min_ps(_mm256_sub_ps(scale, _mm256_set1_ps(1.0f)), y);
    const __m256 nudge =
        _mm256_or_ps(_mm256_set1_ps(0.49999997f), _mm256_and_ps(y, sign_bit)); // copysign
    return _mm256_cvttps_epi32(_mm256_add_ps(y, nudge));
}

template <int Bits>
[[gnu::target("avx2")]] inline __m256i floats_to_top(const float* in) noexcept
{
    return _mm256_slli_epi32(floats_to_whole<Bits>(in), 32 - Bits);
}

/// Eight native samples as top-aligned int32.
template <class T>
[[gnu::target("avx2")]] inline __m256i top_of(const T* in) noexcept
{
    if constexpr (sizeof(T) == 2) {
        const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
        return _mm256_slli_epi32(_mm256_cvtepi16_epi32(s), 16);
    } else {
        return load(in);
    }
}

/// Sixteen int16 values held in int32 -> 32 bytes of L16.
[[gnu::target("avx2")]] inline __m256i int16s_to_l16(__m256i a, __m256i b) noexcept
{
    // The saturating pack is exact for values that fit; it interleaves lanes
    // (a0 b0 a1 b1), which the permute puts back.
    const __m256i packed = _mm256_packs_epi32(a, b);
    return _mm256_shuffle_epi8(_mm256_permute4x64_epi64(packed, 0xD8), swap16());
}

/// Sixteen top-aligned int32 -> 32 bytes of L16.
[[gnu::target("avx2")]] inline __m256i top_to_l16(__m256i a, __m256i b) noexcept
{
    return int16s_to_l16(_mm256_srai_epi32(a, 16), _mm256_srai_epi32(b, 16));
}

[[gnu::target("avx2")]] inline __m256i floats_to_l16(const float* in) noexcept
{
    // The low 16 bits of each whole number, byte-swapped: exact for the
    // clipped range, and 0 for NaN's INT32_MIN. Samples 0-3 and 8-11 land in
    // the low lane, 4-7 and 12-15 in the high one; the permute orders them.
    const __m256i low = _mm256_shuffle_epi8(
        floats_to_whole<16>(in),
        _mm256_setr_epi8(1, 0, 5, 4, 9, 8, 13, 12, -1, -1, -1, -1, -1, -1, -1, -1, 1, 0, 5, 4, 9, 8,
                         13, 12, -1, -1, -1, -1, -1, -1, -1, -1));
    const __m256i high = _mm256_shuffle_epi8(
        floats_to_whole<16>(in + 8),
        _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, 1, 0, 5, 4, 9, 8, 13, 12, -1, -1, -1, -1,
                         -1, -1, -1, -1, 1, 0, 5, 4, 9, 8, 13, 12));
    return _mm256_permute4x64_epi64(_mm256_or_si256(low, high), 0xD8);
}

// Encoders: `n` samples in, wire bytes out; each returns the samples it did.

template <class T>
[[gnu::target("avx2")]] inline std::size_t encode_l16(const T* in, std::size_t n,
                                                      std::byte* out) noexcept
{
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if constexpr (std::is_same_v<T, std::int16_t>)
            store(out + 2 * i, _mm256_shuffle_epi8(load(in + i), swap16()));
        else if constexpr (std::is_same_v<T, float>)
            store(out + 2 * i, floats_to_l16(in + i));
        else
            store(out + 2 * i, top_to_l16(load(in + i), load(in + i + 8)));
    }
    return i;
}

template <class T>
[[gnu::target("avx2")]] inline std::size_t encode_l24(const T* in, std::size_t n,
                                                      std::byte* out) noexcept
{
    // The permute gathers each lane's 12 bytes into the low 24, so every step
    // writes exactly its own bytes and runs to the last whole 8 samples.
    const __m256i gather = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i top;
        if constexpr (std::is_same_v<T, float>)
            top = floats_to_top<24>(in + i);
        else
            top = top_of(in + i);
        const __m256i bytes =
            _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(top, int32_to_l24()), gather);
        std::byte* o = out + 3 * i;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm256_castsi256_si128(bytes));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(o + 16), _mm256_extracti128_si256(bytes, 1));
    }
    return i;
}

// Decoders: `n` samples of wire bytes in, native samples out.

[[gnu::target("avx2")]] inline void store_top(__m256i top, std::int32_t* out) noexcept
{
    store(out, top);
}
[[gnu::target("avx2")]] inline void store_top(__m256i top, float* out) noexcept
{
    // Exact: a top-aligned value has at most 24 significant bits.
    _mm256_storeu_ps(out,
                     _mm256_mul_ps(_mm256_cvtepi32_ps(top), _mm256_set1_ps(1.0f / 2147483648.0f)));
}

template <class T>
[[gnu::target("avx2")]] inline std::size_t decode_l16(const std::byte* in, std::size_t n,
                                                      T* out) noexcept
{
    std::size_t i = 0;
    if constexpr (std::is_same_v<T, std::int16_t>) {
        for (; i + 16 <= n; i += 16)
            store(out + i, _mm256_shuffle_epi8(load(in + 2 * i), swap16()));
    } else {
        for (; i + 8 <= n; i += 8) {
            const __m128i wire = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * i));
            const __m128i native = _mm_shuffle_epi8(wire, _mm256_castsi256_si128(swap16()));
            const __m256i wide = _mm256_cvtepi16_epi32(native);
            if constexpr (std::is_same_v<T, float>) // v / 32768, exact as in from_l16()
                _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(wide),
                                                        _mm256_set1_ps(1.0f / 32768.0f)));
            else
                store_top(_mm256_slli_epi32(wide, 16), out + i);
        }
    }
    return i;
}

template <class T>
[[gnu::target("avx2")]] inline std::size_t decode_l24(const std::byte* in, std::size_t n,
                                                      T* out) noexcept
{
    // The high lane loads bytes 8-23, so every step reads exactly its own
    // 24 bytes and runs to the last whole 8 samples.
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const std::byte* w = in + 3 * i;
        const __m256i top = _mm256_shuffle_epi8(load_lanes(w, w + 8), l24_to_int32());
        if constexpr (std::is_same_v<T, std::int16_t>) {
            const __m256i v = _mm256_srai_epi32(top, 16);
            const __m128i packed =
                _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
        } else {
            store_top(top, out + i);
        }
    }
    return i;
}

#else

[[nodiscard]] inline bool available() noexcept
{
    return false;
}

template <class T>
std::size_t encode_l16(const T*, std::size_t, std::byte*) noexcept
{
    return 0;
}
template <class T>
std::size_t encode_l24(const T*, std::size_t, std::byte*) noexcept
{
    return 0;
}
template <class T>
std::size_t decode_l16(const std::byte*, std::size_t, T*) noexcept
{
    return 0;
}
template <class T>
std::size_t decode_l24(const std::byte*, std::size_t, T*) noexcept
{
    return 0;
}

#endif

} // namespace audiocast::detail::pcm::avx2
