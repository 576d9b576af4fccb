// audiocast — the PCM codec: L16 / L24 on the wire, int16 / int32 / float in the API.
//
// Wire format: signed, big-endian, channels interleaved within each frame
// (RFC 3551 §4.5.11 for L16, RFC 3190 §4 for L24). The codec turns the
// application's frames into packet payloads of one packet each, the whole
// frames that fit in the packet time, and payloads back into frames; RTP
// headers are the session's business.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/pcm_kernels.hpp>
#include <audiocast/detail/whole_frames.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/limits.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace audiocast {

/// Ethernet's MTU, the default for every stream.
inline constexpr std::size_t default_mtu = 1500;
/// IPv4 (20) + UDP (8) + RTP fixed header (12) + send-time extension (16): the
/// bytes of every packet that are not payload.
inline constexpr std::size_t default_header_overhead = 56;
/// 576 is the datagram size every IPv4 host must accept (RFC 791); 65535 is
/// the largest an IPv4 datagram can be.
inline constexpr std::size_t min_mtu = 576;
inline constexpr std::size_t max_mtu = 65535;
inline constexpr setting_limit mtu_limit{"MTU", min_mtu, max_mtu, "bytes", errc::invalid_mtu};

/// What a pcm_codec is made from. Checked by pcm_codec::validate().
///
/// `packet_time` is nominal: a packet holds floor(sample_rate * packet_time)
/// frames, so where that product is not whole (44.1 kHz at 1, 2 or 5 ms) a
/// packet plays slightly shorter than it says: 5 ms at 44.1 kHz is 220 frames,
/// 4.988662 ms. Rounding down, not refusing, is what lets 44.1 kHz stereo L16,
/// the rate of most music files, stream on the defaults: 220 frames are 880
/// bytes, where the nearest whole-frame packet time, 10 ms, is 1764 bytes and
/// does not fit a 1500-byte MTU.
struct pcm_config {
    audio_format format{};                                 ///< L16, 48 kHz, stereo
    std::chrono::milliseconds packet_time{5};              ///< 1, 2, 5, 10 or 20 ms, nominal
    std::size_t mtu = default_mtu;                         ///< min_mtu .. max_mtu
    std::size_t header_overhead = default_header_overhead; ///< packet bytes that are not payload
};

/// The packet times a PCM stream may use, in ms. RFC 3551 §4.2 makes 20 ms
/// the default for telephony; live audio wants less delay, so shorter ones
/// are allowed too.
inline constexpr std::array<int, 5> pcm_packet_times_ms{1, 2, 5, 10, 20};

/// Whether `t` is one of pcm_packet_times_ms.
[[nodiscard]] constexpr bool is_allowed_packet_time(std::chrono::milliseconds t) noexcept
{
    for (int allowed : pcm_packet_times_ms)
        if (t.count() == allowed) return true;
    return false;
}

/// pcm_packet_times_ms as text, "1, 2, 5, 10, 20", for messages.
[[nodiscard]] inline std::string pcm_packet_times_text()
{
    std::string text;
    for (int ms : pcm_packet_times_ms)
        text += (text.empty() ? "" : ", ") + std::to_string(ms);
    return text;
}

namespace detail::pcm {

/// A packet time that passed is_allowed_packet_time() as a count of ms.
[[nodiscard]] constexpr std::uint64_t packet_ms(std::chrono::milliseconds t) noexcept
{
    return static_cast<std::uint64_t>(t.count());
}

/// The whole frames that fit in an allowed packet time at `rate`, rounded
/// down: 44 for 1 ms at 44.1 kHz. No overflow: 192000 * 20 is far below 2^64.
[[nodiscard]] constexpr std::size_t frames_per_packet(std::uint32_t rate,
                                                      std::chrono::milliseconds t) noexcept
{
    return static_cast<std::size_t>(std::uint64_t{rate} * packet_ms(t) / 1000);
}

[[nodiscard]] inline std::string describe_channels(unsigned channels)
{
    if (channels == 1) return "mono";
    if (channels == 2) return "stereo";
    return std::to_string(channels) + " channels";
}

} // namespace detail::pcm

/// The PCM codec: a model of `codec` (requirements in concepts.hpp).
///
/// Conversions between the API's samples and the wire:
///
///   | API sample | to L16             | to L24     | from L16 | from L24  |
///   |------------|--------------------|------------|----------|-----------|
///   | int16      | as is              | value << 8 | as is    | >> 8      |
///   | int32      | >> 16 (arithmetic) | >> 8       | << 16    | << 8      |
///   | float      | * 32768            | * 8388608  | / 32768  | / 8388608 |
///
/// int32 carries 24 significant bits in its top; its low byte is ignored.
/// float is clipped to [-1, 1], rounded to nearest with ties away from zero,
/// clamped to the largest wire value (+1.0 gives 0x7FFF), and NaN encodes as 0.
/// So int16 -> L16 -> int16, int32 -> L24 -> int32 (low byte zero) and
/// float k/32768 -> L16 -> float are exact.
///
/// Packet size: a full packet holds frames_per_packet() frames, the whole
/// frames in the configured packet time rounded down, floor(sample_rate *
/// packet_time). Where that is not whole the packet time is only nominal:
/// packet_time() is the exact duration of the frames a packet holds, which is
/// what pacing follows, and the RTP timestamp advances by frames_per_packet()
/// a packet (RFC 3550 §5.1); nominal_packet_time() is the configured value, which
/// SDP's a=ptime states.
///
/// Chunking: write() stages whole frames in a buffer of one packet, allocated
/// once at construction, and hands each full packet to the sink; flush() hands
/// over what is left as one shorter packet. Nothing allocates after
/// construction. A codec is a value: copies have their own buffer and pending
/// frames. A moved-from codec may only be assigned to or destroyed.
class pcm_codec {
public:
    /// L16, 48 kHz, stereo, 5 ms, 1500-byte MTU: 240 frames, 960 bytes a packet.
    pcm_codec() : pcm_codec(pcm_config{}, validated) {}

    /// Throws std::system_error with the codes of validate().
    explicit pcm_codec(const pcm_config& config) : pcm_codec(checked(config), validated) {}

    /// On an invalid configuration sets `ec` and returns a default codec.
    /// Throws only std::bad_alloc.
    [[nodiscard]] static pcm_codec make(const pcm_config& config, std::error_code& ec)
    {
        validate(config, ec);
        if (ec) return pcm_codec{};
        return pcm_codec{config, validated};
    }

    /// Checks, in this order: the audio format (format.hpp's validate); the
    /// packet time is 1, 2, 5, 10 or 20 ms and holds at least one frame
    /// (errc::invalid_packet_time; it need not be a whole number of frames,
    /// see the class comment, and the fewest frames the allowed rates give is
    /// 8, at 8 kHz and 1 ms); the MTU is within min_mtu..max_mtu
    /// (errc::invalid_mtu); one packet's payload, its whole frames only, fits
    /// mtu - header_overhead (errc::packet_exceeds_mtu).
    static void validate(const pcm_config& config, std::error_code& ec) noexcept
    {
        audiocast::validate(config.format, ec);
        if (ec) return;
        if (!is_allowed_packet_time(config.packet_time) || frames_per_packet_of(config) == 0)
            ec = errc::invalid_packet_time;
        else if (!mtu_limit.holds(static_cast<double>(config.mtu)))
            ec = errc::invalid_mtu;
        else if (payload_bytes_of(config) > max_payload_bytes_of(config))
            ec = errc::packet_exceeds_mtu;
    }

    /// Throwing form of validate(); the message names the value and the limit,
    /// e.g. "ptime 20 ms at 48000 Hz L24 stereo is 5760 bytes; the MTU allows 1444".
    static void validate(const pcm_config& config)
    {
        audiocast::validate(config.format);
        std::error_code ec;
        validate(config, ec);
        if (!ec) return;
        const std::string ptime = "ptime " + std::to_string(config.packet_time.count()) + " ms";
        if (ec == errc::invalid_packet_time && !is_allowed_packet_time(config.packet_time))
            detail::throw_error(ec, ptime + " is not one of " + pcm_packet_times_text() + " ms");
        if (ec == errc::invalid_packet_time)
            detail::throw_error(ec, ptime + " at " + std::to_string(config.format.sample_rate) +
                                        " Hz holds no whole frame");
        if (ec == errc::invalid_mtu)
            detail::throw_if(mtu_limit.check(static_cast<double>(config.mtu)));
        detail::throw_error(ec, ptime + " at " + std::to_string(config.format.sample_rate) +
                                    " Hz " + std::string(encoding_name(config.format.encoding)) +
                                    " " + detail::pcm::describe_channels(config.format.channels) +
                                    " is " + std::to_string(payload_bytes_of(config)) +
                                    " bytes; the MTU allows " +
                                    std::to_string(max_payload_bytes_of(config)));
    }

    [[nodiscard]] const audio_format& format() const noexcept { return format_; }
    /// How long a full packet plays: the exact duration of its
    /// frames_per_packet() frames, rounded up to the nanosecond (4988663 ns
    /// for 5 ms at 44.1 kHz). Adding it up packet after packet drifts by under
    /// a nanosecond a packet; a sender that must not drift paces by
    /// duration_of(frames sent, rate) instead.
    [[nodiscard]] std::chrono::nanoseconds packet_time() const noexcept { return packet_time_; }
    /// The packet time as configured, for SDP's a=ptime; equal to
    /// packet_time() only where it is a whole number of frames.
    [[nodiscard]] std::chrono::milliseconds nominal_packet_time() const noexcept
    {
        return nominal_packet_time_;
    }
    /// floor(sample_rate * nominal_packet_time()): 220 for 5 ms at 44.1 kHz.
    [[nodiscard]] std::size_t frames_per_packet() const noexcept { return frames_per_packet_; }
    /// Bytes of a full packet's payload: frames_per_packet() whole frames.
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return payload_bytes_; }
    /// The largest payload the MTU allows after the header overhead.
    [[nodiscard]] std::size_t max_payload_bytes() const noexcept { return max_payload_bytes_; }

    /// Converts interleaved samples, whole frames, to wire bytes at the start of
    /// `out`; returns the bytes written. Preconditions (asserted; if assertions
    /// are off a violation writes nothing and returns 0): samples.size() is a
    /// whole number of frames, `out` holds them, the two do not overlap.
    template <pcm_sample T>
    std::size_t encode(std::span<const T> samples, std::span<std::byte> out) const
    {
        const std::size_t bytes_each = bytes_per_sample(format_.encoding);
        const bool whole_frames = samples.size() % format_.channels == 0;
        const bool fits = samples.size() <= out.size() / bytes_each;
        AUDIOCAST_ASSERT(whole_frames && "encode takes whole frames");
        AUDIOCAST_ASSERT(fits && "encode output buffer too small");
        if (!whole_frames || !fits) return 0;
        detail::pcm::encode(format_.encoding, samples.data(), samples.size(), out.data());
        return samples.size() * bytes_each;
    }

    /// Converts wire bytes to interleaved samples; returns the samples written:
    /// the whole samples in `payload` (a trailing incomplete sample is not
    /// produced) or as many whole frames as `out` holds, whichever is fewer.
    /// A valid payload is whole frames; that is the receiver's check. `payload`
    /// and `out` must not overlap.
    template <pcm_sample T>
    std::size_t decode(std::span<const std::byte> payload, std::span<T> out) const noexcept
    {
        const std::size_t n = std::min(payload.size() / bytes_per_sample(format_.encoding),
                                       out.size() / format_.channels * format_.channels);
        detail::pcm::decode(format_.encoding, payload.data(), n, out.data());
        return n;
    }

    /// Frames in `payload`: its size over the bytes a frame, or 0 when that
    /// is not whole (no payload of this codec).
    [[nodiscard]] std::size_t frames_in(std::span<const std::byte> payload) const noexcept
    {
        const std::size_t frame_bytes = bytes_per_frame(format_);
        return payload.size() % frame_bytes == 0 ? payload.size() / frame_bytes : 0;
    }

    /// Appends whole frames and calls `sink(std::span<const std::byte>)` once
    /// per full packet of payload_bytes(); keeps the remainder for the next
    /// call. Returns the frames consumed, which is all of them. If samples.size()
    /// is not a whole number of frames, sets errc::frames_not_whole and consumes
    /// nothing. The sink must not call back into this codec; if it throws, the
    /// packet it was given is gone, later frames are not consumed and the codec
    /// stays usable.
    template <pcm_sample T, class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    std::size_t write(std::span<const T> samples, Sink&& sink, std::error_code& ec)
    {
        if (!detail::whole_frames(samples.size(), format_.channels, ec)) return 0;
        return write_frames(samples, sink);
    }

    /// Throwing form: "7 samples is not a whole number of 2-channel frames".
    template <pcm_sample T, class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    std::size_t write(std::span<const T> samples, Sink&& sink)
    {
        detail::require_whole_frames(samples.size(), format_.channels);
        return write_frames(samples, sink);
    }

    /// If frames are pending, hands them to `sink` as one shorter packet and
    /// clears them.
    template <class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    void flush(Sink&& sink)
    {
        if (pending_frames_ == 0) return;
        const std::size_t bytes = pending_frames_ * bytes_per_frame(format_);
        pending_frames_ = 0;
        sink(std::span<const std::byte>(staging_.data(), bytes));
    }

    /// Frames staged for the next packet.
    [[nodiscard]] std::size_t pending_frames() const noexcept { return pending_frames_; }

    /// Drops the pending frames.
    void reset() noexcept { pending_frames_ = 0; }

private:
    struct validated_t {};
    static constexpr validated_t validated{};

    pcm_codec(const pcm_config& config, validated_t)
        : format_(config.format), nominal_packet_time_(config.packet_time),
          frames_per_packet_(frames_per_packet_of(config)),
          packet_time_(duration_of(frames_per_packet_, config.format.sample_rate)),
          payload_bytes_(payload_bytes_of(config)),
          max_payload_bytes_(max_payload_bytes_of(config)), staging_(payload_bytes_)
    {}

    static const pcm_config& checked(const pcm_config& config)
    {
        validate(config);
        return config;
    }

    // Only for configurations whose format and packet time are valid.
    static std::size_t frames_per_packet_of(const pcm_config& config) noexcept
    {
        return detail::pcm::frames_per_packet(config.format.sample_rate, config.packet_time);
    }
    static std::size_t payload_bytes_of(const pcm_config& config) noexcept
    {
        return frames_per_packet_of(config) * bytes_per_frame(config.format);
    }
    static std::size_t max_payload_bytes_of(const pcm_config& config) noexcept
    {
        return config.mtu > config.header_overhead ? config.mtu - config.header_overhead : 0;
    }

    template <pcm_sample T, class Sink>
    std::size_t write_frames(std::span<const T> samples, Sink& sink)
    {
        const std::size_t channels = format_.channels;
        const std::size_t frame_bytes = bytes_per_frame(format_);
        const std::size_t frames = samples.size() / channels;
        const T* next = samples.data();
        for (std::size_t left = frames; left != 0;) {
            const std::size_t take = std::min(left, frames_per_packet_ - pending_frames_);
            detail::pcm::encode(format_.encoding, next, take * channels,
                                staging_.data() + pending_frames_ * frame_bytes);
            pending_frames_ += take;
            next += take * channels;
            left -= take;
            if (pending_frames_ == frames_per_packet_) {
                // Cleared before the call so that a throwing sink leaves a usable codec.
                pending_frames_ = 0;
                sink(std::span<const std::byte>(staging_.data(), payload_bytes_));
            }
        }
        return frames;
    }

    audio_format format_;
    std::chrono::milliseconds nominal_packet_time_;
    std::size_t frames_per_packet_;
    std::chrono::nanoseconds packet_time_; // from frames_per_packet_, so declared after it
    std::size_t payload_bytes_;
    std::size_t max_payload_bytes_;
    std::vector<std::byte> staging_; // one full packet's payload
    std::size_t pending_frames_ = 0;
};

} // namespace audiocast
