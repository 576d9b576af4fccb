// audiocast — the settings of a receiver, their limits, and the check that
// names the first one broken (limits.hpp). receiver_session and the stream's
// receiver are built from a receiver_config; the examples check their
// command lines against the same limits.
#pragma once

#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/session/playout_rate.hpp>
#include <audiocast/session/rtcp_schedule.hpp>
#include <audiocast/session/sequence_tracker.hpp>
#include <audiocast/wire/rtp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace audiocast {

inline constexpr std::chrono::nanoseconds min_playout_latency = std::chrono::milliseconds{1};
inline constexpr std::chrono::nanoseconds max_playout_latency = std::chrono::seconds{5};

/// How synchronized playout knows the source's wall clock.
enum class clock_knowledge {
    /// Learnt from round trips over RTCP (RFC 3611 RRTR and DLRR): any two
    /// hosts, with a source that answers (audiocast's does).
    round_trips,
    /// The hosts' wall clocks are one clock (NTP or PTP keeps them together;
    /// a stream description says so with RFC 7273's a=ts-refclk): the
    /// source's reports are read on our own wall clock and nothing is asked.
    /// How well the hosts agree is theirs to keep; no figure here shows it.
    shared_wall_clock,
};

/// Settings of a receiver_session.
struct receiver_config {
    /// Target playout latency: the time from a talkspurt's first arrival to its playout.
    std::chrono::nanoseconds latency = std::chrono::milliseconds{40};
    /// The payload type to accept; unset accepts the first one seen from the source.
    std::optional<std::uint8_t> payload_type;
    std::uint8_t send_time_extension_id = rtp::default_send_time_extension_id;
    /// After this long without a packet from the source being played, another
    /// validated source may take over (a restarted sender); after its BYE, at
    /// once. Until then every other source is counted as foreign and ignored
    /// (session/source_selector.hpp).
    std::chrono::nanoseconds source_timeout = std::chrono::milliseconds{250};
    /// How many packets behind the newest one a packet may arrive and still
    /// play (RFC 3550 A.1 MAX_MISORDER, 100); one further behind is taken for
    /// a restarted sender's. A receiver of FEC raises it to the repair window:
    /// a column's repair rebuilds a packet up to 2 x L x D packets late
    /// (protection/parity_fec_config.hpp). At most 1023.
    std::uint32_t max_misorder = sequence_tracker::default_max_misorder;
    /// Length of the fade out of a concealed gap and the fade back in after it.
    std::chrono::nanoseconds fade = std::chrono::milliseconds{2};
    /// How far playout may run faster or slower than the stream to stay at the
    /// target latency when the sender's and the audio device's clocks drift
    /// apart (session/playout_rate.hpp): 0.001 is 0.1 %, 1.7 cents of pitch.
    /// 0 turns it off; at most max_playout_rate_adjustment.
    double max_rate_adjustment = 0.001;
    /// RTCP: this receiver's own SSRC in its reports; random when unset.
    std::optional<std::uint32_t> ssrc{};
    /// RTCP: its canonical name; empty draws 96 random bits (RFC 7022). At most 255 bytes.
    std::string cname{};
    /// RTCP: the fixed minimum between reports (RFC 3550 §6.2 recommends 5 s).
    std::chrono::nanoseconds rtcp_minimum_interval = std::chrono::seconds{5};
    /// RTCP: other members counted at once, for the report interval. Each
    /// report is looked up among them on the audio thread, so this bounds
    /// that work too; members beyond it are not tracked.
    std::size_t max_members = 256;
    /// RTCP: seeds the randomized report intervals; unset draws a seed. Set
    /// it where runs must repeat exactly (a simulation, a test).
    std::optional<std::uint64_t> rtcp_seed{};
    /// A receiving stream (stream/receiver_stream.hpp): how often pull()
    /// publishes the figures stats() returns; 0 at every pull. Publishing
    /// reads counters from all over the session, a few cache misses a pull:
    /// a process that plays a thousand streams spent a fifth of its playout
    /// thread on them (benchmarks/fanout.cpp), and 20 ms saves that while
    /// stats() stays fresh enough for a display. At most 1 s.
    std::chrono::nanoseconds stats_interval{};
    /// Play each frame when every listener that synchronizes plays it: at
    /// the source's wall-clock time of its RTP timestamp plus the latency
    /// (docs/architecture.md, Synchronized playout). How the source's clock
    /// is known: `source_clock`.
    bool synchronized_playout = false;
    clock_knowledge source_clock = clock_knowledge::round_trips;
    /// How long synchronized playout waits in silence for the source's clock
    /// after a source starts, before it plays on its own schedule (a source
    /// that answers no clock questions: ffmpeg, GStreamer); 0 plays at once
    /// and jumps into step later. Round trips settle in well under a second
    /// with a few listeners; a group of 100 on a busy network takes seconds.
    std::chrono::nanoseconds sync_wait = std::chrono::seconds{8};
};

inline constexpr setting_limit playout_latency_limit{
    "playout latency", std::chrono::duration<double, std::milli>(min_playout_latency).count(),
    std::chrono::duration<double, std::milli>(max_playout_latency).count(), "ms",
    errc::invalid_latency};
inline constexpr setting_limit playout_rate_adjustment_limit{
    "playout rate adjustment", 0, max_playout_rate_adjustment, "", errc::invalid_rate_adjustment};
inline constexpr setting_limit stats_interval_limit{"statistics interval", 0, 1'000, "ms",
                                                    errc::invalid_stats_interval};
inline constexpr setting_limit receiver_members_limit{
    "RTCP members to remember", 1, detail::max_rtcp_members, "", errc::invalid_rtcp};

inline constexpr setting_limit reorder_window_limit{"reorder window", 1,
                                                    sequence_tracker::max_max_misorder, "packets",
                                                    errc::invalid_reorder_window};

/// The first setting of `config` that breaks its limit; none when all hold.
[[nodiscard]] constexpr setting_problem check(const receiver_config& config) noexcept
{
    const double latency_ms = std::chrono::duration<double, std::milli>(config.latency).count();
    if (auto p = playout_latency_limit.check(latency_ms)) return p;
    if (config.payload_type)
        if (auto p = rtp::payload_type_limit.check(*config.payload_type)) return p;
    if (auto p = playout_rate_adjustment_limit.check(config.max_rate_adjustment)) return p;
    if (auto p = reorder_window_limit.check(config.max_misorder)) return p;
    if (auto p = rtp::extension_id_limit.check(config.send_time_extension_id)) return p;
    if (auto p = stats_interval_limit.check(
            std::chrono::duration<double, std::milli>(config.stats_interval).count()))
        return p;
    return detail::check_rtcp_settings(config.cname, config.rtcp_minimum_interval,
                                       config.max_members, receiver_members_limit);
}

} // namespace audiocast
