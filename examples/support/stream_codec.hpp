// The examples' codec: linear PCM or Opus, chosen at run time by --format
// or by the stream's SDP. It models audiocast's `codec` and
// `loss_repairing_codec` concepts by handing each call to the codec it
// holds, and says at run time what the library would otherwise learn from
// the type: whether its decoder carries state (Opus: decoded in stream order,
// losses repaired by the decoder; PCM: any packet decodes alone) and how a
// payload's frames are counted.
//
// A build without libopus (support/build_features.hpp) holds PCM alone.
#pragma once

#include "support/build_features.hpp"

#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/steady_clock.hpp>
#if AUDIOCAST_EXAMPLES_HAS_OPUS
#include <audiocast/codec/opus.hpp>
#endif
#include <audiocast/codec/pcm.hpp>
#include <audiocast/concepts.hpp>
#include <audiocast/protection/parity_fec_transport.hpp>
#if AUDIOCAST_EXAMPLES_HAS_SRTP
#include <audiocast/protection/srtp_transport.hpp>
#endif
#include <audiocast/session/packet_screen.hpp>
#include <audiocast/session/receiver_sizes.hpp>
#include <audiocast/transport/udp_multicast.hpp>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <system_error>
#include <variant>

namespace audiocast_examples {

class stream_codec {
public:
    explicit stream_codec(audiocast::pcm_codec c) : codec_{std::move(c)} {}
#if AUDIOCAST_EXAMPLES_HAS_OPUS
    explicit stream_codec(audiocast::opus_codec c) : codec_{std::move(c)} {}

    [[nodiscard]] bool is_opus() const noexcept
    {
        return std::holds_alternative<audiocast::opus_codec>(codec_);
    }
    [[nodiscard]] const audiocast::opus_codec* opus() const noexcept
    {
        return std::get_if<audiocast::opus_codec>(&codec_);
    }
#else
    [[nodiscard]] static constexpr bool is_opus() noexcept { return false; }
#endif

    // ---- codec -----------------------------------------------------------
    [[nodiscard]] const audiocast::audio_format& format() const noexcept
    {
        return std::visit(
            [](const auto& c) -> const audiocast::audio_format& { return c.format(); }, codec_);
    }
    [[nodiscard]] std::chrono::nanoseconds packet_time() const noexcept
    {
        return std::visit([](const auto& c) { return c.packet_time(); }, codec_);
    }
    [[nodiscard]] std::size_t frames_per_packet() const noexcept
    {
        return std::visit([](const auto& c) { return c.frames_per_packet(); }, codec_);
    }
    [[nodiscard]] std::size_t payload_bytes() const noexcept
    {
        return std::visit([](const auto& c) { return c.payload_bytes(); }, codec_);
    }
    [[nodiscard]] std::size_t max_payload_bytes() const noexcept
    {
        return std::visit([](const auto& c) { return c.max_payload_bytes(); }, codec_);
    }
    /// The most frames one payload decodes to: 120 ms of Opus, or what the
    /// largest UDP payload holds of PCM.
    [[nodiscard]] std::size_t max_packet_frames() const noexcept
    {
#if AUDIOCAST_EXAMPLES_HAS_OPUS
        if (const auto* o = opus()) return o->max_packet_frames();
#endif
        return audiocast::receiver_sizes::max_payload_bytes / audiocast::bytes_per_frame(format());
    }
    [[nodiscard]] std::size_t frames_in(std::span<const std::byte> payload) const noexcept
    {
        return std::visit([&](const auto& c) { return c.frames_in(payload); }, codec_);
    }
    template <audiocast::pcm_sample T>
    std::size_t decode(std::span<const std::byte> payload, std::span<T> out) noexcept
    {
        return std::visit([&](auto& c) { return c.decode(payload, out); }, codec_);
    }
    template <audiocast::pcm_sample T, class Sink>
    std::size_t write(std::span<const T> samples, Sink&& sink)
    {
        return std::visit([&](auto& c) { return c.write(samples, sink); }, codec_);
    }
    template <class Sink>
    void flush(Sink&& sink)
    {
        std::visit([&](auto& c) { c.flush(sink); }, codec_);
    }
    [[nodiscard]] std::size_t pending_frames() const noexcept
    {
        return std::visit([](const auto& c) { return c.pending_frames(); }, codec_);
    }
    void reset() noexcept
    {
        std::visit([](auto& c) { c.reset(); }, codec_);
    }

    // ---- loss_repairing_codec (Opus; PCM repairs nothing) --------------------
    /// Whether the decoder carries state: the receiver then decodes in order.
    [[nodiscard]] bool carries_state() const noexcept { return is_opus(); }
    /// How the receiver's screen counts a payload's frames: Opus's TOC, or
    /// (none) PCM's size over the format's frame.
#if AUDIOCAST_EXAMPLES_HAS_OPUS
    [[nodiscard]] audiocast::packet_screen::frame_counter frame_counter() const noexcept
    {
        return is_opus() ? &audiocast::opus_codec::frames_in : nullptr;
    }
    std::size_t conceal(std::size_t frames, std::span<std::int32_t> out) noexcept
    {
        auto* o = std::get_if<audiocast::opus_codec>(&codec_);
        return o != nullptr ? o->conceal(frames, out) : 0;
    }
    std::size_t recover(std::span<const std::byte> next, std::size_t frames,
                        std::span<std::int32_t> out) noexcept
    {
        auto* o = std::get_if<audiocast::opus_codec>(&codec_);
        return o != nullptr ? o->recover(next, frames, out) : 0;
    }
    [[nodiscard]] std::size_t repair_step() const noexcept
    {
        const auto* o = opus();
        return o != nullptr ? o->repair_step() : 1;
    }
    /// The decoder's state of `other`, which holds the same kind of codec.
    void copy_decoder_from(const stream_codec& other) noexcept
    {
        auto* to = std::get_if<audiocast::opus_codec>(&codec_);
        const auto* from = other.opus();
        if (to != nullptr && from != nullptr) to->copy_decoder_from(*from);
    }
    void reset_decoder() noexcept
    {
        if (auto* o = std::get_if<audiocast::opus_codec>(&codec_)) o->reset_decoder();
    }
#else
    [[nodiscard]] static audiocast::packet_screen::frame_counter frame_counter() noexcept
    {
        return nullptr;
    }
    static std::size_t conceal(std::size_t, std::span<std::int32_t>) noexcept { return 0; }
    static std::size_t recover(std::span<const std::byte>, std::size_t,
                               std::span<std::int32_t>) noexcept
    {
        return 0;
    }
    [[nodiscard]] static std::size_t repair_step() noexcept { return 1; }
    static void copy_decoder_from(const stream_codec&) noexcept {}
    static void reset_decoder() noexcept {}
#endif

    // ---- for SDP and messages ----------------------------------------------
    /// The packet time SDP's a=ptime states: PCM's as configured, Opus's frame.
    [[nodiscard]] std::chrono::microseconds nominal_packet_time() const noexcept
    {
#if AUDIOCAST_EXAMPLES_HAS_OPUS
        if (const auto* o = opus()) return o->frame_time();
#endif
        return std::get<audiocast::pcm_codec>(codec_).nominal_packet_time();
    }
    /// a=fmtp: Opus's parameters; none for PCM.
    [[nodiscard]] std::string sdp_format_parameters() const
    {
#if AUDIOCAST_EXAMPLES_HAS_OPUS
        if (const auto* o = opus()) return o->sdp_format_parameters();
#endif
        return {};
    }

private:
#if AUDIOCAST_EXAMPLES_HAS_OPUS
    std::variant<audiocast::pcm_codec, audiocast::opus_codec> codec_;
#else
    std::variant<audiocast::pcm_codec> codec_;
#endif
};

static_assert(audiocast::loss_repairing_codec<stream_codec>);

/// The examples' transport: real multicast, with SMPTE 2022-1 FEC when
/// --fec asks for it (unprotected() otherwise, and for RTCP), and SRTP over
/// it when --srtp does. SRTP is outermost: the FEC layer repairs protected
/// packets, so a packet it rebuilds is authenticated like any other, and
/// repairs a stranger forges can only make packets that fail.
/// A build without libsrtp2 streams over the FEC layer alone.
using fec_transport = audiocast::parity_fec_transport<audiocast::udp_multicast_transport>;
#if AUDIOCAST_EXAMPLES_HAS_SRTP
using multicast_transport = audiocast::srtp_transport<fec_transport>;
#else
using multicast_transport = fec_transport;
#endif

/// The examples' streams: real multicast, the steady clock, either codec.
using multicast_stream =
    audiocast::basic_multicast_stream<multicast_transport, stream_codec, audiocast::steady_clock>;
using multicast_sender = multicast_stream::sender;
using multicast_receiver = multicast_stream::receiver;

/// The FEC layer of a stream's transport, under SRTP where the build has it.
[[nodiscard]] inline fec_transport& fec_layer(multicast_transport& t) noexcept
{
#if AUDIOCAST_EXAMPLES_HAS_SRTP
    return t.inner();
#else
    return t;
#endif
}
[[nodiscard]] inline const fec_transport& fec_layer(const multicast_transport& t) noexcept
{
#if AUDIOCAST_EXAMPLES_HAS_SRTP
    return t.inner();
#else
    return t;
#endif
}

} // namespace audiocast_examples
