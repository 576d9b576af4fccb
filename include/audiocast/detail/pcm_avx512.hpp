// audiocast — AVX-512 PCM kernels for the conversions AVX2 does slowest: to
// L24, float to L16, and from the wire to all but int16. Chosen at run time
// where the CPU has AVX-512F and BW (Intel since Skylake-SP, AMD since Zen 4).
//
// Float input is the costly case in detail/pcm_avx2.hpp: scaling, clipping
// and rounding take seven operations per eight samples, and 3-byte samples
// three shuffles more, which held float encode to a third of memcpy's speed.
// Here sixteen samples take the same seven, and the narrowing to 16 bits
// (vpmovdw) or the packing to 24 (one byte shuffle, one dword permute) one or
// two; L24 is read and written sixteen samples, 48 bytes, at a time. Every
// result is bit-identical to the portable kernels' (tests/unit/pcm_kernels.cpp
// compares each kernel family this CPU has at every length and edge value).
//
// Each function carries gnu::target, so the header builds with the default
// -march; available() reads what libgcc / compiler-rt found before main():
// no system call and no lock, so the audio thread may make it.
#pragma once

#include <audiocast/detail/pcm_avx2.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#if AUDIOCAST_HAS_AVX2_KERNELS
#define AUDIOCAST_HAS_AVX512_KERNELS 1
#else
#define AUDIOCAST_HAS_AVX512_KERNELS 0
#endif

namespace audiocast::detail::pcm::avx512 {

#if AUDIOCAST_HAS_AVX512_KERNELS

[[nodiscard]] inline bool available() noexcept
{
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0;
}

// Every lane written: the zero-masking forms with a full mask are the plain
// instructions, and they spare GCC 12's maybe-uninitialized warning about the
// undefined source register the unmasked intrinsics pass.
inline constexpr __mmask16 all = 0xFFFF;
inline constexpr __mmask64 all_bytes = ~__mmask64{0};

/// Sixteen floats as whole numbers in [-2^(Bits-1), 2^(Bits-1) - 1], NaN as
/// INT32_MIN, exactly as avx2::floats_to_whole() does for eight (see there
/// for why the clip keeps NaN and why the nudge rounds half away from zero).
template <int Bits>
[[gnu::target("avx512f,avx512bw")]] inline __m512i floats_to_whole(const float* in) noexcept
{
    const __m512 scale = _mm512_set1_ps(Bits == 24 ? 8388608.0f : 32768.0f);
    const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x8000'0000u));
    __m512 y = _mm512_mul_ps(_mm512_loadu_ps(in), scale);
    y = _mm512_maskz_max_ps(
        all, _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(scale), sign_bit)), y);
    y = _mm512_maskz_min_ps(all, _mm512_sub_ps(scale, _mm512_set1_ps(1.0f)), y);
    // nudge = (y & sign) | 0.49999997: truth table 0xEA is (a & b) | c.
    const __m512i nudge = _mm512_ternarylogic_epi32(
        _mm512_castps_si512(y), sign_bit, _mm512_castps_si512(_mm512_set1_ps(0.49999997f)), 0xEA);
    return _mm512_maskz_cvttps_epi32(all, _mm512_add_ps(y, _mm512_castsi512_ps(nudge)));
}

/// Float samples to L16; returns the samples done (a multiple of 16).
[[gnu::target("avx512f,avx512bw")]] inline std::size_t encode_l16(const float* in, std::size_t n,
                                                                  std::byte* out) noexcept
{
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        // The low 16 bits of each whole number (vpmovdw truncates): exact for
        // the clipped range, and 0 for NaN's INT32_MIN.
        const __m256i native = _mm512_maskz_cvtepi32_epi16(all, floats_to_whole<16>(in + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i),
                            _mm256_shuffle_epi8(native, avx2::swap16()));
    }
    return i;
}

/// Sixteen samples as whole 24-bit numbers: int16 widened, int32's top 24
/// bits (the portable kernels truncate the low byte too), floats rounded.
template <class T>
[[gnu::target("avx512f,avx512bw")]] inline __m512i whole_24(const T* in) noexcept
{
    if constexpr (std::is_same_v<T, float>)
        return floats_to_whole<24>(in);
    else if constexpr (std::is_same_v<T, std::int16_t>)
        return _mm512_maskz_slli_epi32(
            all,
            _mm512_maskz_cvtepi16_epi32(all,
                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))),
            8);
    else
        return _mm512_maskz_srai_epi32(all, _mm512_loadu_si512(in), 8);
}

/// Samples to L24; returns the samples done (a multiple of 16).
template <class T>
[[gnu::target("avx512f,avx512bw")]] inline std::size_t encode_l24(const T* in, std::size_t n,
                                                                  std::byte* out) noexcept
{
    // Bytes 2, 1, 0 of each whole number, big-endian, twelve to a 128-bit
    // lane; the dword permute closes the gaps, so 48 bytes lead the register.
    const __m512i to_l24 = _mm512_maskz_broadcast_i32x4(
        all, _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1));
    const __m512i gather =
        _mm512_setr_epi32(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 15, 15, 15, 15);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i bytes = _mm512_maskz_permutexvar_epi32(
            all, gather, _mm512_maskz_shuffle_epi8(all_bytes, whole_24(in + i), to_l24));
        _mm512_mask_storeu_epi32(out + 3 * i, 0x0FFF, bytes); // its 48 bytes, no more
    }
    return i;
}

/// Whether this file has an encoder from `T` to L24 (`l24`) or L16: L16
/// from integers is a byte swap or a narrowing AVX2 does at memcpy's speed.
template <class T>
[[nodiscard]] constexpr bool encodes(bool l24) noexcept
{
    return l24 || std::is_same_v<T, float>;
}

/// Whether this file has a decoder to `T` from `f`: L16 to int16 is a byte
/// swap, which AVX2 already does at memcpy's speed.
template <class T>
[[nodiscard]] constexpr bool decodes(bool l24) noexcept
{
    return l24 || !std::is_same_v<T, std::int16_t>;
}

/// L16 to int32 (top-aligned) or float; returns the samples done (a
/// multiple of 16).
template <class T>
[[gnu::target("avx512f,avx512bw")]] inline std::size_t decode_l16(const std::byte* in,
                                                                  std::size_t n, T* out) noexcept
{
    static_assert(!std::is_same_v<T, std::int16_t>, "avx2::decode_l16 does that");
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i native = _mm256_shuffle_epi8(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * i)), avx2::swap16());
        const __m512i wide = _mm512_maskz_cvtepi16_epi32(all, native);
        if constexpr (std::is_same_v<T, float>) // v / 32768, exact as in from_l16()
            _mm512_storeu_ps(out + i, _mm512_maskz_mul_ps(all, _mm512_maskz_cvtepi32_ps(all, wide),
                                                          _mm512_set1_ps(1.0f / 32768.0f)));
        else
            _mm512_storeu_si512(out + i, _mm512_maskz_slli_epi32(all, wide, 16));
    }
    return i;
}

/// L24 to int16, int32 (top-aligned) or float; returns the samples done (a
/// multiple of 16).
template <class T>
[[gnu::target("avx512f,avx512bw")]] inline std::size_t decode_l24(const std::byte* in,
                                                                  std::size_t n, T* out) noexcept
{
    // Twelve wire bytes to each 128-bit lane (the load reads exactly the 48
    // bytes of sixteen samples), then each lane's four samples top-aligned.
    const __m512i spread = _mm512_setr_epi32(0, 1, 2, 2, 3, 4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11);
    const __m512i to_top = _mm512_maskz_broadcast_i32x4(
        all, _mm_setr_epi8(-1, 2, 1, 0, -1, 5, 4, 3, -1, 8, 7, 6, -1, 11, 10, 9));
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i wire = _mm512_maskz_loadu_epi32(0x0FFF, in + 3 * i);
        const __m512i top = _mm512_maskz_shuffle_epi8(
            all_bytes, _mm512_maskz_permutexvar_epi32(all, spread, wire), to_top);
        if constexpr (std::is_same_v<T, std::int16_t>)
            _mm256_storeu_si256(
                reinterpret_cast<__m256i*>(out + i),
                _mm512_maskz_cvtepi32_epi16(all, _mm512_maskz_srai_epi32(all, top, 16)));
        else if constexpr (std::is_same_v<T, float>) // exact: at most 24 significant bits
            _mm512_storeu_ps(out + i, _mm512_maskz_mul_ps(all, _mm512_maskz_cvtepi32_ps(all, top),
                                                          _mm512_set1_ps(1.0f / 2147483648.0f)));
        else
            _mm512_storeu_si512(out + i, top);
    }
    return i;
}

#else

[[nodiscard]] inline bool available() noexcept
{
    return false;
}
template <class T>
[[nodiscard]] constexpr bool encodes(bool) noexcept
{
    return false;
}
template <class T>
[[nodiscard]] constexpr bool decodes(bool) noexcept
{
    return false;
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
inline std::size_t encode_l16(const float*, std::size_t, std::byte*) noexcept
{
    return 0;
}
template <class T>
std::size_t encode_l24(const T*, std::size_t, std::byte*) noexcept
{
    return 0;
}

#endif

} // namespace audiocast::detail::pcm::avx512
