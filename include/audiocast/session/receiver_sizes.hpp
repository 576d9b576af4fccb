// audiocast — the sizes a receiver session fixes at construction, from its
// codec and its configuration. After construction the session allocates
// nothing, so each buffer must be as large as anything it will be asked to
// hold; each size says here why it is what it is.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/format.hpp>
#include <audiocast/session/receiver_config.hpp>
#include <audiocast/session/rtcp_schedule.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace audiocast {

struct receiver_sizes {
    /// The largest RTP payload: 65507 bytes (the UDP limit) less the fixed header.
    static constexpr std::size_t max_payload_bytes = 65'507 - rtp::fixed_header_size;

    /// Samples of the largest payload, decoded: the codec's max_packet_frames()
    /// where it has one, else what the largest UDP payload holds.
    std::size_t decoded_samples = 0;
    /// The playout buffer: the target latency twice over plus generous
    /// headroom for jitter and large packets; memory stays bounded by the latency.
    std::size_t buffer_frames = 0;
    /// How far from the newest packet another may lie and be believed alone:
    /// a lone packet that far ahead still fits the buffer's window behind the
    /// latency's worth of frames already stored, so it can never force
    /// playout to start over (session/source_timeline.hpp).
    std::uint64_t believable_step = 0;
    /// Each datagram held while its source is on probation: up to the codec's
    /// MTU when it says (a sender's packets may be longer than its own).
    std::size_t max_held_bytes = 0;
    /// The RTCP schedule's bandwidth: the sender's rate as the format implies
    /// it, with audiocast's headers.
    rtcp_timing rtcp{};

    template <codec Codec>
    [[nodiscard]] static receiver_sizes of(const Codec& c, const receiver_config& config) noexcept
    {
        const audio_format& f = c.format();
        const auto latency = std::clamp(config.latency, min_playout_latency, max_playout_latency);
        std::size_t payload = c.payload_bytes();
        if constexpr (requires { c.max_payload_bytes(); })
            payload = std::max(payload, c.max_payload_bytes());
        std::size_t decoded_samples = 0;
        if constexpr (requires { c.max_packet_frames(); })
            decoded_samples = c.max_packet_frames() * f.channels;
        else
            decoded_samples = max_payload_bytes / bytes_per_sample(f.encoding);
        return {
            .decoded_samples = decoded_samples,
            .buffer_frames = static_cast<std::size_t>(
                frames_in(2 * latency + std::chrono::milliseconds{200}, f.sample_rate)),
            .believable_step = frames_in(latency + std::chrono::milliseconds{100}, f.sample_rate),
            .max_held_bytes = std::max<std::size_t>(2048, payload + 256),
            .rtcp = {.session_bytes_per_s = rtcp_session_bandwidth(
                         f.sample_rate, c.frames_per_packet(), c.payload_bytes(),
                         rtp::fixed_header_size + rtp::send_time_extension_size),
                     .minimum = config.rtcp_minimum_interval,
                     .seed = config.rtcp_seed},
        };
    }
};

} // namespace audiocast
