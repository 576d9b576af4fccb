// audiocast — the playout resampler's stereo filter in AVX2 and FMA, chosen
// at run time (session/playout_rate.hpp).
//
// One output frame is 32 weighted input frames: 64 multiply-adds, and the 32
// weights themselves interpolated between two rows of the filter table, then
// rounded in a register (std::nearbyint is a library call).
// Baseline x86-64 (SSE2) does two at a time; these do four at a time into
// four independent sums, so no multiply-add waits for the one before it. The
// portable filter stays the reference: results differ from it only in the
// last bits of a double before rounding (tests/unit/playout_rate.cpp holds
// both to the same bounds).
#pragma once

#include <audiocast/detail/config.hpp>

#include <cstddef>
#include <cstdint>

#if !defined(AUDIOCAST_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AUDIOCAST_HAS_SINC_AVX2 1
#include <immintrin.h>
#else
#define AUDIOCAST_HAS_SINC_AVX2 0
#endif

namespace audiocast::detail::sinc_avx2 {

#if AUDIOCAST_HAS_SINC_AVX2

/// Whether this CPU runs stereo(); reads a word the runtime filled before
/// main(), so the audio thread may ask.
[[nodiscard]] inline bool available() noexcept
{
    return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
}

/// The two channels' sums over `Taps` frames (a multiple of 8) of
/// w[j] * window[2j + c], where w[j] = low[j] + between * (high[j] - low[j]),
/// clipped to int32 and rounded to nearest (ties to even, as std::nearbyint
/// in the default rounding mode), into out[0] and out[1].
template <int Taps>
[[gnu::target("avx2,fma")]] inline void stereo(const float* low, const float* high, double between,
                                               const std::int32_t* window,
                                               std::int32_t* out) noexcept
{
    static_assert(Taps % 8 == 0);
    const __m256d t = _mm256_set1_pd(between);
    __m256d sum[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                      _mm256_setzero_pd()};
    for (int j = 0; j < Taps; j += 8) {
        for (int half = 0; half < 2; ++half) {
            const int k = j + 4 * half;
            const __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(low + k));
            const __m256d hi = _mm256_cvtps_pd(_mm_loadu_ps(high + k));
            const __m256d w = _mm256_fmadd_pd(t, _mm256_sub_pd(hi, lo), lo);
            // Frames k, k+1 (L R L R) and k+2, k+3, as doubles, with their weights.
            const __m256d a = _mm256_cvtepi32_pd(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(window + 2 * k)));
            const __m256d b = _mm256_cvtepi32_pd(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(window + 2 * k + 4)));
            sum[2 * half] = _mm256_fmadd_pd(_mm256_permute4x64_pd(w, 0b01010000), a, sum[2 * half]);
            sum[2 * half + 1] =
                _mm256_fmadd_pd(_mm256_permute4x64_pd(w, 0b11111010), b, sum[2 * half + 1]);
        }
    }
    const __m256d total =
        _mm256_add_pd(_mm256_add_pd(sum[0], sum[1]), _mm256_add_pd(sum[2], sum[3])); // L R L R
    __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(total), _mm256_extractf128_pd(total, 1));
    // A full-scale signal can ring past the limits; clip rather than wrap.
    pair = _mm_min_pd(_mm_max_pd(pair, _mm_set1_pd(-2147483648.0)), _mm_set1_pd(2147483647.0));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_cvtpd_epi32(pair));
}

#else

[[nodiscard]] inline bool available() noexcept
{
    return false;
}

template <int Taps>
void stereo(const float*, const float*, double, const std::int32_t*, std::int32_t*) noexcept
{}

#endif

} // namespace audiocast::detail::sinc_avx2
