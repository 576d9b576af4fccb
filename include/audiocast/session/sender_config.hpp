// audiocast — the settings of a sender, their limits, and the check that
// names the first one broken (limits.hpp). sender_session and the stream's
// sender are built from a sender_config.
#pragma once

#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/session/rtcp_schedule.hpp>
#include <audiocast/wire/rtp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace audiocast {

/// When queued packets leave.
enum class pacing_mode {
    /// Each packet is due at an absolute deadline on the sender's timeline, so a
    /// source that writes ahead of real time (a file, a tone) still goes out at
    /// the audio rate and error never accumulates.
    paced,
    /// Each packet is due as soon as its frames are written: for a source that
    /// is itself real time, such as a capture callback.
    as_written,
};

/// The RTP payload type for `f`: the static types of RFC 3551 (10: L16 stereo
/// 44.1 kHz, 11: L16 mono 44.1 kHz) where they apply, else dynamic 96.
[[nodiscard]] constexpr std::uint8_t default_payload_type(const audio_format& f) noexcept
{
    if (f.encoding == sample_format::l16 && f.sample_rate == 44'100) {
        if (f.channels == 2) return 10;
        if (f.channels == 1) return 11;
    }
    return 96;
}

/// Settings of a sender_session. Unset identifiers are drawn at random, as
/// RFC 3550 §5.1 asks for the sequence number and timestamp and §8 for the SSRC.
struct sender_config {
    std::optional<std::uint32_t> ssrc;
    std::optional<std::uint16_t> initial_sequence;
    std::optional<std::uint32_t> initial_timestamp;
    std::optional<std::uint8_t> payload_type; ///< default_payload_type(format) when unset
    bool send_time_extension = true;          ///< stamp each packet with its wall send time
    std::uint8_t send_time_extension_id = rtp::default_send_time_extension_id;
    pacing_mode pacing = pacing_mode::paced;
    std::size_t queue_packets = 64; ///< packets written ahead and not yet due
    /// A packet that would leave later than this after its deadline moves the
    /// schedule forward instead of sending a burst to catch up.
    std::chrono::nanoseconds max_lateness = std::chrono::milliseconds{20};
    /// RTCP: the canonical name in this sender's reports (RFC 3550 §6.5.1);
    /// empty draws 96 random bits (RFC 7022). At most 255 bytes.
    std::string cname{};
    /// RTCP: the fixed minimum between reports (RFC 3550 §6.2 recommends 5 s).
    std::chrono::nanoseconds rtcp_minimum_interval = std::chrono::seconds{5};
    /// RTCP: listeners remembered at once; reports from more are counted, not kept.
    std::size_t max_listeners = 1024;
    /// RTCP: seeds the randomized report intervals; unset draws a seed. Set
    /// it where runs must repeat exactly (a simulation, a test).
    std::optional<std::uint64_t> rtcp_seed{};
    /// RTCP XR: a listener that asks (RFC 3611 RRTR) learns this sender's
    /// clock from the answer (an SR with a DLRR block), for synchronized
    /// playout (session/clock_offset.hpp). One answer covers at most this
    /// many listeners; 0 answers none. At most max_clock_answers_per_report.
    std::size_t clock_answers = 32;
    /// Answers go out with the scheduled reports, and between them at most
    /// this often: so the answers' bandwidth is bounded however many ask.
    std::chrono::nanoseconds clock_answer_interval = std::chrono::milliseconds{10};
};

/// The most listeners one answer covers: the compound still fits 1,200 bytes.
inline constexpr std::size_t max_clock_answers_per_report = 64;
inline constexpr setting_limit clock_answers_limit{
    "listeners one clock answer covers", 0, max_clock_answers_per_report, "", errc::invalid_rtcp};
inline constexpr setting_limit clock_answer_interval_limit{"interval between clock answers", 1,
                                                           60'000, "ms", errc::invalid_rtcp};

inline constexpr setting_limit sender_queue_limit{"sender queue", 1, unbounded, "packets",
                                                  errc::buffer_too_small};
inline constexpr setting_limit sender_listeners_limit{
    "RTCP listeners to remember", 1, detail::max_rtcp_members, "", errc::invalid_rtcp};

/// The first setting of `config` that breaks its limit; none when all hold.
[[nodiscard]] constexpr setting_problem check(const sender_config& config) noexcept
{
    if (config.payload_type)
        if (auto p = rtp::payload_type_limit.check(*config.payload_type)) return p;
    if (auto p = rtp::extension_id_limit.check(config.send_time_extension_id)) return p;
    if (auto p = sender_queue_limit.check(static_cast<double>(config.queue_packets))) return p;
    if (auto p = clock_answers_limit.check(static_cast<double>(config.clock_answers))) return p;
    if (auto p = clock_answer_interval_limit.check(
            std::chrono::duration<double, std::milli>(config.clock_answer_interval).count()))
        return p;
    return detail::check_rtcp_settings(config.cname, config.rtcp_minimum_interval,
                                       config.max_listeners, sender_listeners_limit);
}

} // namespace audiocast
