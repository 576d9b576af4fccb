// The PCM codec's AVX2 kernels against its portable ones: the bytes on the
// wire and the samples out must be the same whichever the CPU runs. On a CPU
// without AVX2 both sides are the portable kernels and the cases still pass.
#include <audiocast/codec/pcm.hpp>

#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

using audiocast::sample_format;
namespace pcm = audiocast::detail::pcm;

namespace {

/// Random samples over the whole range of T; for floats, beyond [-1, 1] too.
template <class T>
std::vector<T> random_samples(std::size_t count, std::uint32_t seed)
{
    std::vector<T> out(count);
    std::uint32_t state = seed;
    for (auto& s : out) {
        state = state * 1664525u + 1013904223u;
        if constexpr (std::is_same_v<T, float>)
            s = static_cast<float>(static_cast<std::int32_t>(state)) / 2147483648.0f * 1.25f;
        else
            s = static_cast<T>(state >> (32 - 8 * sizeof(T)));
    }
    return out;
}

/// Every float the encoder treats specially, and the values either side of
/// each rounding tie, for both encodings' steps.
std::vector<float> edge_floats()
{
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> v{0.0f,
                         -0.0f,
                         1.0f,
                         -1.0f,
                         2.0f,
                         -2.0f,
                         inf,
                         -inf,
                         std::numeric_limits<float>::quiet_NaN(),
                         -std::numeric_limits<float>::quiet_NaN(),
                         std::numeric_limits<float>::signaling_NaN(),
                         std::numeric_limits<float>::max(),
                         std::numeric_limits<float>::lowest(),
                         std::numeric_limits<float>::denorm_min(),
                         -std::numeric_limits<float>::denorm_min(),
                         std::numeric_limits<float>::min(),
                         std::nextafter(1.0f, 0.0f),
                         std::nextafter(-1.0f, 0.0f),
                         std::nextafter(1.0f, 2.0f),
                         std::nextafter(-1.0f, -2.0f)};
    for (const float step : {1.0f / 32768.0f, 1.0f / 8388608.0f})
        for (const float k :
             {0.5f, 1.5f, 2.5f, 100.5f, 32766.5f, 32767.5f, 8388606.5f, 8388607.5f}) {
            for (const float sign : {1.0f, -1.0f}) {
                const float tie = sign * k * step;
                v.push_back(tie);
                v.push_back(std::nextafter(tie, 0.0f));
                v.push_back(std::nextafter(tie, sign * 2.0f));
            }
        }
    return v;
}

/// Which kernels: the portable ones, what pcm::encode() or decode() picks on
/// this CPU, or one vector kernel family for the bulk and the portable ones
/// for the tail.
enum class encoder { portable, chosen, avx2, avx512 };

/// The vector kernel families this CPU can run, each compared on its own:
/// pcm::encode() picks only the widest.
std::vector<encoder> vector_encoders()
{
    std::vector<encoder> v{encoder::chosen};
    if (pcm::avx2::available()) v.push_back(encoder::avx2);
    if (pcm::avx512::available()) v.push_back(encoder::avx512);
    return v;
}

template <class T>
std::vector<std::byte> encoded(sample_format f, const std::vector<T>& in, std::size_t n,
                               encoder with)
{
    std::vector<std::byte> out(n * audiocast::bytes_per_sample(f) + 64, std::byte{0xA5});
    const bool l24 = f == sample_format::l24;
    std::size_t done = 0;
    switch (with) {
    case encoder::portable: break;
    case encoder::chosen: pcm::encode(f, in.data(), n, out.data()); return out;
    case encoder::avx2:
        done = l24 ? pcm::avx2::encode_l24(in.data(), n, out.data())
                   : pcm::avx2::encode_l16(in.data(), n, out.data());
        break;
    case encoder::avx512:
        if (l24)
            done = pcm::avx512::encode_l24(in.data(), n, out.data());
        else if constexpr (std::is_same_v<T, float>)
            done = pcm::avx512::encode_l16(in.data(), n, out.data());
        break;
    }
    pcm::portable_encode(f, in.data() + done, n - done,
                         out.data() + done * audiocast::bytes_per_sample(f));
    return out; // the 64 guard bytes must be untouched on both sides
}

template <class T>
std::vector<T> decoded(sample_format f, const std::vector<std::byte>& in, std::size_t n,
                       encoder with)
{
    std::vector<T> out(n + 16, T{42});
    const bool l24 = f == sample_format::l24;
    std::size_t done = 0;
    switch (with) {
    case encoder::portable: break;
    case encoder::chosen: pcm::decode(f, in.data(), n, out.data()); return out;
    case encoder::avx2:
        done = l24 ? pcm::avx2::decode_l24(in.data(), n, out.data())
                   : pcm::avx2::decode_l16(in.data(), n, out.data());
        break;
    case encoder::avx512:
        if constexpr (!std::is_same_v<T, std::int16_t>)
            done = l24 ? pcm::avx512::decode_l24(in.data(), n, out.data())
                       : pcm::avx512::decode_l16(in.data(), n, out.data());
        else if (l24)
            done = pcm::avx512::decode_l24(in.data(), n, out.data());
        break;
    }
    pcm::portable_decode(f, in.data() + done * audiocast::bytes_per_sample(f), n - done,
                         out.data() + done);
    return out;
}

/// Bitwise, so that -0.0 and 0.0 differ and NaN equals itself.
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b)
{
    if constexpr (std::is_same_v<T, float>) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i]))
                return false;
        return true;
    } else {
        return a == b;
    }
}

} // namespace

TEST_CASE("the CPU's PCM kernels are reported")
{
    // Which kernels the rest of this file compares against the portable ones.
    INFO("AVX2 kernels compiled in: " << AUDIOCAST_HAS_AVX2_KERNELS
                                      << ", used on this CPU: " << pcm::avx2::available()
                                      << "; AVX-512 float encoders: " << pcm::avx512::available());
    SUCCEED();
}

TEMPLATE_TEST_CASE("encode writes the portable kernels' bytes at every length and offset", "",
                   std::int16_t, std::int32_t, float)
{
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    const std::vector<TestType> all = random_samples<TestType>(300, 7);
    for (std::size_t offset = 0; offset < 4; ++offset) {
        const std::vector<TestType> in(all.begin() + static_cast<std::ptrdiff_t>(offset),
                                       all.end());
        for (const encoder with : vector_encoders())
            for (std::size_t n = 0; n <= 130; ++n) {
                CAPTURE(offset, n, static_cast<int>(with));
                REQUIRE(encoded(f, in, n, with) == encoded(f, in, n, encoder::portable));
            }
    }
}

TEST_CASE("encode rounds, clips and maps NaN like the portable kernels in every lane")
{
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    std::vector<float> in = edge_floats();
    // Each value in every position of a vector: rotate the list through 16 lanes.
    for (std::size_t shift = 0; shift < 16; ++shift) {
        for (const encoder with : vector_encoders()) {
            CAPTURE(shift, static_cast<int>(with));
            REQUIRE(encoded(f, in, in.size(), with) ==
                    encoded(f, in, in.size(), encoder::portable));
        }
        in.insert(in.begin(), 0.25f);
    }
}

TEMPLATE_TEST_CASE("decode gives the portable kernels' samples at every length", "", std::int16_t,
                   std::int32_t, float)
{
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    const std::vector<std::int32_t> noise = random_samples<std::int32_t>(200, 11);
    std::vector<std::byte> wire(noise.size() * 4);
    for (std::size_t i = 0; i < noise.size(); ++i)
        for (std::size_t b = 0; b < 4; ++b)
            wire[4 * i + b] =
                static_cast<std::byte>(static_cast<std::uint32_t>(noise[i]) >> (8 * b));
    for (const encoder with : vector_encoders())
        for (std::size_t n = 0; n <= 130; ++n) {
            CAPTURE(n, static_cast<int>(with));
            REQUIRE(same_bits(decoded<TestType>(f, wire, n, with),
                              decoded<TestType>(f, wire, n, encoder::portable)));
        }
}
