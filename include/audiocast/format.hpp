// audiocast — sample formats, audio formats and their arithmetic.
//
// Words, fixed once: a *sample* is one value of one channel; a *frame* is one
// sample for every channel; a *packet* is one RTP datagram. Counts are in
// frames; sizes come from bytes_per_sample() and bytes_per_frame().
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast {

/// How samples travel on the wire: linear PCM, big-endian, interleaved,
/// signed (RFC 3551 §4.5.11 for L16, RFC 3190 §4 for L24), or compressed.
enum class sample_format : std::uint8_t {
    l16,  ///< 16-bit
    l24,  ///< 24-bit
    opus, ///< Opus (RFC 7587): no fixed size a sample; only opus_codec carries it
};

/// The sample types the API takes and gives: int16, int32 holding a 24-bit
/// sample in its most significant bits (the low byte is ignored when encoding
/// and zero when decoding, so full-scale int32 audio works unchanged), and
/// float in [-1, 1] (clipped outside it).
template <class T>
concept pcm_sample =
    std::same_as<T, std::int16_t> || std::same_as<T, std::int32_t> || std::same_as<T, float>;

/// Bytes of one sample on the wire; 0 for a compressed format, whose
/// packets say how many frames they hold.
[[nodiscard]] constexpr std::size_t bytes_per_sample(sample_format f) noexcept
{
    switch (f) {
    case sample_format::l16: return 2;
    case sample_format::l24: return 3;
    case sample_format::opus: return 0;
    }
    return 2; // no such format: validate() refuses it
}

/// The RTP encoding name used in SDP `a=rtpmap` lines.
[[nodiscard]] constexpr std::string_view encoding_name(sample_format f) noexcept
{
    switch (f) {
    case sample_format::l16: return "L16";
    case sample_format::l24: return "L24";
    case sample_format::opus: return "opus";
    }
    return "L16";
}

[[nodiscard]] constexpr std::size_t bytes_per_frame(sample_format f, unsigned channels) noexcept
{
    return bytes_per_sample(f) * channels;
}

inline constexpr std::uint32_t min_sample_rate = 8'000;
inline constexpr std::uint32_t max_sample_rate = 192'000;
inline constexpr unsigned min_channels = 1;
inline constexpr unsigned max_channels = 64;

/// What one stream carries: its wire encoding, frames per second and channels.
/// Defaults are the design's: L16, 48 kHz, stereo.
struct audio_format {
    sample_format encoding = sample_format::l16;
    std::uint32_t sample_rate = 48'000; ///< frames per second, Hz
    unsigned channels = 2;

    friend constexpr bool operator==(const audio_format&, const audio_format&) = default;
};

[[nodiscard]] constexpr std::size_t bytes_per_frame(const audio_format& f) noexcept
{
    return bytes_per_frame(f.encoding, f.channels);
}

/// "L16/48000/2": the rtpmap spelling, also used in messages.
[[nodiscard]] inline std::string to_string(const audio_format& f)
{
    return std::string(encoding_name(f.encoding)) + '/' + std::to_string(f.sample_rate) + '/' +
           std::to_string(f.channels);
}

/// The linear formats: what check() and validate() take. Opus is checked by
/// opus_codec::validate(), which knows its own limits.
inline constexpr setting_limit sample_format_limit{
    "sample format", 0, 1, "", errc::invalid_sample_format, "0 is L16, 1 is L24"};
inline constexpr setting_limit sample_rate_limit{"sample rate", min_sample_rate, max_sample_rate,
                                                 "Hz", errc::invalid_sample_rate};
inline constexpr setting_limit channel_count_limit{"channel count", min_channels, max_channels, "",
                                                   errc::invalid_channel_count};

/// The first limit above that `f` breaks.
[[nodiscard]] constexpr setting_problem check(const audio_format& f) noexcept
{
    if (auto p = sample_format_limit.check(static_cast<double>(f.encoding))) return p;
    if (auto p = sample_rate_limit.check(f.sample_rate)) return p;
    return channel_count_limit.check(f.channels);
}

/// Sets `ec` to the first rule `f` breaks (check()), or clears it.
inline void validate(const audio_format& f, std::error_code& ec) noexcept
{
    detail::assign(ec, check(f));
}

/// Throwing form of validate(); the message names the value and the limit.
inline void validate(const audio_format& f)
{
    detail::throw_if(check(f));
}

/// Frames in `d` at `sample_rate`, rounded down.
[[nodiscard]] constexpr std::uint64_t frames_in(std::chrono::nanoseconds d,
                                                std::uint32_t sample_rate) noexcept
{
    if (d.count() <= 0) return 0;
    const auto ns = static_cast<std::uint64_t>(d.count());
    // Split to avoid overflow: 2^63 ns * 192000 would not fit.
    return ns / 1'000'000'000u * sample_rate + ns % 1'000'000'000u * sample_rate / 1'000'000'000u;
}

/// Frames in `d` for format `f`, rounded down.
[[nodiscard]] constexpr std::uint64_t frames_in(std::chrono::nanoseconds d,
                                                const audio_format& f) noexcept
{
    return frames_in(d, f.sample_rate);
}

/// How long `frames` frames play at `sample_rate`, rounded up to the
/// nanosecond, so that frames_in(duration_of(n, rate), rate) == n.
[[nodiscard]] constexpr std::chrono::nanoseconds duration_of(std::uint64_t frames,
                                                             std::uint32_t sample_rate) noexcept
{
    if (sample_rate == 0) return std::chrono::nanoseconds{0};
    const auto whole = frames / sample_rate;
    const auto part = frames % sample_rate;
    return std::chrono::nanoseconds{static_cast<std::int64_t>(
        whole * 1'000'000'000u + (part * 1'000'000'000u + sample_rate - 1) / sample_rate)};
}

[[nodiscard]] constexpr std::chrono::nanoseconds duration_of(std::uint64_t frames,
                                                             const audio_format& f) noexcept
{
    return duration_of(frames, f.sample_rate);
}

/// Bytes that `frames` frames take on the wire.
[[nodiscard]] constexpr std::size_t bytes_for(std::uint64_t frames, const audio_format& f) noexcept
{
    return static_cast<std::size_t>(frames) * bytes_per_frame(f);
}

} // namespace audiocast
