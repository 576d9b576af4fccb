// audiocast — when RTCP reports go out (RFC 3550 §6.2, §6.3, Appendix A.7).
//
// RTCP is held to a share of the session bandwidth (5 %, a quarter of it for
// senders while they are few), so the interval between one participant's
// reports grows with the number of members. The interval is randomized over
// [0.5, 1.5] times its value, so reports of many receivers do not synchronize,
// and divided by e - 3/2 as A.7 does. That factor compensates for timer
// reconsideration (§6.3.6), which audiocast does not do, so a session that
// grows fast may overshoot its RTCP share for a while. The first report after joining waits half
// the minimum. Sans-I/O: it takes time points and gives time points.
#pragma once

#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace audiocast {

/// The inputs of RFC 3550's interval computation that do not change per report.
struct rtcp_timing {
    /// The session's bandwidth: the RTP rate of every sender, headers included.
    double session_bytes_per_s = 200'000;
    /// RFC 3550 §6.2: the fixed minimum between reports is RECOMMENDED at 5 s.
    std::chrono::nanoseconds minimum = std::chrono::seconds{5};
    /// Seeds the randomized intervals (RFC 3550 §6.3.1); unset draws one from
    /// std::random_device. A simulation sets it to run the same way each time.
    std::optional<std::uint64_t> seed{};
};

/// RFC 3550 §6.2's session bandwidth of a stream in `format` sent in packets
/// of `frames_per_packet` frames and `payload_bytes` bytes, each with
/// `header_bytes` of RTP header and extensions, plus IPv4 and UDP.
[[nodiscard]] inline double rtcp_session_bandwidth(std::uint32_t sample_rate,
                                                   std::size_t frames_per_packet,
                                                   std::size_t payload_bytes,
                                                   std::size_t header_bytes) noexcept
{
    const double packets_per_s = static_cast<double>(sample_rate) /
                                 static_cast<double>(std::max<std::size_t>(frames_per_packet, 1));
    return packets_per_s * static_cast<double>(payload_bytes + header_bytes + 20 + 8);
}

/// The deterministic interval Td of RFC 3550 A.7 (before randomization).
[[nodiscard]] inline std::chrono::nanoseconds
rtcp_deterministic_interval(const rtcp_timing& t, std::size_t members, std::size_t senders,
                            bool we_sent, double avg_rtcp_bytes, bool initial) noexcept
{
    constexpr double rtcp_fraction = 0.05;
    constexpr double sender_share = 0.25;
    double bandwidth = t.session_bytes_per_s * rtcp_fraction;
    double n = static_cast<double>(std::max<std::size_t>(members, 1));
    // Senders share a quarter of the RTCP bandwidth while they are at most a
    // quarter of the members, so their reports (the NTP/RTP mapping) stay frequent.
    if (senders > 0 && static_cast<double>(senders) <= n * sender_share) {
        if (we_sent) {
            bandwidth *= sender_share;
            n = static_cast<double>(senders);
        } else {
            bandwidth *= 1 - sender_share;
            n -= static_cast<double>(senders);
        }
    }
    const double minimum_s = std::chrono::duration<double>(t.minimum).count() / (initial ? 2 : 1);
    const double interval_s =
        bandwidth > 0 ? std::max(minimum_s, avg_rtcp_bytes * n / bandwidth) : minimum_s;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>{interval_s});
}

namespace detail {

/// The most members a session's table may be asked to hold.
inline constexpr std::size_t max_rtcp_members = 65'536;

inline constexpr setting_limit rtcp_cname_limit{
    "CNAME of", 0, rtcp::max_text, "bytes", errc::invalid_rtcp, "what RTCP carries"};
inline constexpr setting_limit rtcp_minimum_interval_limit{"RTCP minimum interval", 1, unbounded,
                                                           "ns", errc::invalid_rtcp};

/// The first of the RTCP settings both sessions take that breaks its limit:
/// a CNAME RTCP can carry, a positive minimum interval, and a member table
/// within `members_limit`.
[[nodiscard]] constexpr setting_problem
check_rtcp_settings(std::string_view cname, std::chrono::nanoseconds minimum, std::size_t members,
                    const setting_limit& members_limit) noexcept
{
    if (auto p = rtcp_cname_limit.check(static_cast<double>(cname.size()))) return p;
    if (auto p = rtcp_minimum_interval_limit.check(static_cast<double>(minimum.count()))) return p;
    return members_limit.check(static_cast<double>(members));
}

} // namespace detail

/// One participant's report timer.
class rtcp_schedule {
public:
    /// `seed` makes the randomization reproducible (tests); a participant
    /// should draw it at random.
    explicit rtcp_schedule(const rtcp_timing& timing, std::uint64_t seed) noexcept
        : timing_{timing}, random_{seed}
    {}

    [[nodiscard]] bool started() const noexcept { return started_; }

    /// Joins at `now`: the first report is due after the initial interval.
    void start(time_point now, std::size_t members, std::size_t senders, bool we_sent) noexcept
    {
        started_ = true;
        initial_ = true;
        next_ = now + randomized(members, senders, we_sent);
    }

    /// When the next report is due.
    [[nodiscard]] time_point next() const noexcept { return next_; }
    [[nodiscard]] bool due(time_point now) const noexcept { return started_ && now >= next_; }

    /// A report of `bytes` (its UDP payload) went out at `now`: folds its size
    /// into the average (§6.3.3) and sets the next deadline.
    void sent(time_point now, std::size_t bytes, std::size_t members, std::size_t senders,
              bool we_sent) noexcept
    {
        // IPv4 and UDP headers count too (A.7 uses packet sizes on the wire).
        const double size = static_cast<double>(bytes + 28);
        avg_bytes_ = have_avg_ ? size / 16 + avg_bytes_ * 15 / 16 : size;
        have_avg_ = true;
        initial_ = false;
        next_ = now + randomized(members, senders, we_sent);
    }

    /// Td for the present state: what a member's silence is measured in
    /// (§6.3.5 times a member out after 5 Td of silence).
    [[nodiscard]] std::chrono::nanoseconds deterministic(std::size_t members, std::size_t senders,
                                                         bool we_sent) const noexcept
    {
        return rtcp_deterministic_interval(timing_, members, senders, we_sent, avg_bytes_, false);
    }

private:
    std::chrono::nanoseconds randomized(std::size_t members, std::size_t senders,
                                        bool we_sent) noexcept
    {
        const auto td =
            rtcp_deterministic_interval(timing_, members, senders, we_sent, avg_bytes_, initial_);
        // A.7: t = Td * U[0.5, 1.5] / (e - 3/2).
        constexpr double compensation = 2.71828182845904523536 - 1.5;
        const double factor = std::uniform_real_distribution<double>{0.5, 1.5}(random_);
        return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>{
            std::chrono::duration<double>(td).count() * factor / compensation});
    }

    rtcp_timing timing_;
    std::mt19937_64 random_;
    time_point next_{};
    double avg_bytes_ = 128; // a first guess until the first report (SR + SDES ~ 80 B + headers)
    bool have_avg_ = false;
    bool initial_ = true;
    bool started_ = false;
};

} // namespace audiocast
