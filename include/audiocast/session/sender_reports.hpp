// audiocast — a sender's side of RTCP (RFC 3550 §6; docs/architecture.md,
// RTCP): the sender reports it writes, and what its listeners report back.
//
// Out: on schedule, an SR (the NTP time of an RTP timestamp, so that
// listeners can measure latency and their round trip) with SDES and the
// CNAME; BYE when the stream ends. Listeners that ask for this sender's clock
// (RFC 3611 RRTR, for synchronized playout) are answered with a DLRR block
// after an SR, whose NTP time is the answer: with the next report, or sooner
// in a compound of its own, at most one such every clock_answer_interval and
// each for at most clock_answers listeners, the longest waiting first. In: the listeners' receiver
// reports about this stream (loss, jitter, and the LSR/DLSR pair from which the round trip
// follows), their CNAMEs and BYEs; its own reports heard back and reports
// about other sources are ignored. summarize() gives the worst of them, which
// is what a sender's operator wants to see.
//
// The sender session owns one and passes in what only it knows: the sender
// info of `now` and its statistics to count into. Sans-I/O and
// allocation-free after construction.
#pragma once

#include <audiocast/format.hpp>
#include <audiocast/session/participant_table.hpp>
#include <audiocast/session/rtcp_participant.hpp>
#include <audiocast/session/sender_config.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace audiocast {

/// What the sender's listeners report, summed up (RFC 3550 §6.4.1 blocks).
struct listener_summary {
    std::size_t listeners = 0; ///< members heard on RTCP lately
    std::size_t reporting = 0; ///< of those, the ones whose reports cover this stream
    /// The largest fraction lost any listener reported for its last interval, 0-1.
    double worst_fraction_lost = 0;
    /// The largest cumulative loss any listener reported, in packets.
    std::int64_t worst_cumulative_lost = 0;
    /// The largest interarrival jitter any listener reported.
    std::chrono::nanoseconds worst_jitter{};
    /// The longest round trip measured from a listener's LSR/DLSR.
    std::optional<std::chrono::nanoseconds> worst_round_trip{};
};

/// How a sender answers listeners' reference times: each answer for at most
/// `listeners` of them (0: none), answers between the scheduled reports at
/// most every `interval` (sender_config::clock_answers, clock_answer_interval).
struct clock_answering {
    std::size_t listeners = 32;
    std::chrono::nanoseconds interval = std::chrono::milliseconds{10};
};

class sender_reports {
public:
    /// `ssrc` and `cname` are drawn at random when unset or empty.
    sender_reports(const rtcp_timing& timing, std::size_t max_listeners,
                   std::optional<std::uint32_t> ssrc, std::string_view cname,
                   clock_answering answering = {})
        : rtcp_{rtcp_participant::role::sender, timing, max_listeners, ssrc, cname},
          answering_{std::min(answering.listeners, max_answers), answering.interval}
    {}

    [[nodiscard]] std::uint32_t ssrc() const noexcept { return rtcp_.ssrc(); }
    [[nodiscard]] std::string_view cname() const noexcept { return rtcp_.cname(); }

    /// Starts the report schedule when the first packet leaves.
    void join(time_point now) noexcept { rtcp_.join(now); }
    /// Whether a packet has left, so that listeners may know this SSRC.
    [[nodiscard]] bool joined() const noexcept { return rtcp_.joined(); }

    /// When the next report, or the next answer to a listener's clock
    /// request, is due; nullopt until the first packet left.
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        const auto scheduled = rtcp_.next_report_due();
        if (!scheduled || unanswered_ == 0) return scheduled;
        const time_point answer =
            last_answer_ ? std::max(*last_answer_ + answering_.interval, asked_at_) : asked_at_;
        return std::min(*scheduled, answer);
    }

    /// If a report is due at `now`, writes an SR with `info`, then SDES and
    /// the answers to listeners' clock requests, into `out` and returns its
    /// size; if only answers are due, the same outside the schedule; 0
    /// otherwise.
    std::size_t write_report(time_point now, const rtcp::sender_info& info,
                             std::span<std::byte> out, std::error_code& ec,
                             sender_stats& stats) noexcept
    {
        const auto sr = [&](rtcp::compound_writer& w) { w.sender_report(ssrc(), info); };
        std::size_t answered = 0;
        const bool answering = answer_due(now);
        // The interval starts whether or not anyone is still waiting (a
        // member that asked may have left): no compound outside the
        // schedule without an answer in it.
        if (answering) last_answer_ = now;
        const auto answers = [&](rtcp::compound_writer& w) {
            if (answering) answered = answer(w, info.ntp);
        };
        std::size_t size = rtcp_.write_report(now, out, ec, sr, answers);
        if (size == 0 && !ec && answering && count_waiting() != 0)
            size = rtcp_.write_unscheduled(out, ec, sr, answers);
        if (size == 0) return 0;
        ++stats.reports_sent;
        stats.clock_answers += answered;
        return size;
    }

    /// A last SR with `info`, SDES and BYE; 0 when no packet ever left,
    /// since nobody knows this SSRC to say goodbye to (RFC 3550 §6.3.7).
    std::size_t write_bye(const rtcp::sender_info& info, std::span<std::byte> out,
                          std::error_code& ec, std::string_view reason,
                          sender_stats& stats) noexcept
    {
        ec.clear();
        if (!joined()) return 0;
        const std::size_t size = rtcp_.write_bye(
            out, ec, [&](rtcp::compound_writer& w) { w.sender_report(ssrc(), info); }, reason);
        if (size != 0) ++stats.reports_sent;
        return size;
    }

    /// Bytes write_report() and write_bye() need at most: an SR, SDES with a
    /// 255-byte CNAME, and the larger of a BYE with a 255-byte reason and the
    /// most answers.
    [[nodiscard]] static constexpr std::size_t max_bytes() noexcept
    {
        return rtcp::sender_report_size(0) + rtcp::cname_size(rtcp::max_text) +
               std::max(rtcp::bye_size(1, rtcp::max_text), rtcp::dlrr_size(max_answers));
    }

    /// One RTCP datagram from the group; see the file comment. Malformed ones
    /// are counted and change nothing.
    void on_control(std::span<const std::byte> datagram, time_point arrival, wall_time arrival_wall,
                    sender_stats& stats) noexcept
    {
        const std::uint32_t self = ssrc();
        const bool well_formed = rtcp_.on_compound(
            datagram, arrival, [&](const rtcp::packet_view& p, participant* listener) {
                if (p.type() == rtcp::type_rr || p.type() == rtcp::type_sr) {
                    ++stats.reports_received;
                    if (listener == nullptr) return; // the table is full
                    ++listener->reports;
                    for (std::size_t i = 0; i < p.block_count(); ++i) {
                        const rtcp::report_block b = p.block(i);
                        if (b.ssrc != self) continue;
                        listener->about_us = b;
                        listener->note_round_trip(round_trip(b, arrival_wall));
                    }
                } else if (p.type() == rtcp::type_xr) {
                    const auto reference = p.reference_time();
                    if (!reference || answering_.listeners == 0) return;
                    ++stats.clock_requests;
                    // Only members that report (an RR or SR, which a question's
                    // compound starts with) are answered: an XR alone adds none.
                    participant* l = rtcp_.members().find(*p.ssrc());
                    if (l == nullptr) return;
                    ++l->clock_questions;
                    if (unanswered_ == 0) asked_at_ = arrival;
                    if (!l->reference_unanswered) {
                        ++unanswered_;
                        l->waiting_since = arrival_wall;
                    }
                    l->reference_unanswered = ntp::short_form(*reference);
                    l->reference_arrival = arrival_wall;
                } else if (p.type() == rtcp::type_sdes) {
                    p.for_each_cname([&](std::uint32_t who, std::string_view name) {
                        if (who == self) return;
                        if (participant* l = rtcp_.heard(who, arrival)) l->set_cname(name);
                    });
                }
            });
        if (!well_formed) ++stats.control_malformed;
    }

    /// The listeners heard lately (RFC 3550 §6.3.5 times them out after five
    /// report intervals of silence).
    [[nodiscard]] const participant_table& listeners() const noexcept { return rtcp_.members(); }

    /// The listeners still heard at `now`, and the worst of what they report;
    /// jitter comes in RTP timestamp units of `sample_rate`.
    [[nodiscard]] listener_summary summarize(time_point now, std::uint32_t sample_rate) noexcept
    {
        rtcp_.expire(now);
        listener_summary sum;
        sum.listeners = rtcp_.members().size();
        for (const participant& l : rtcp_.members()) {
            if (!l.about_us) continue;
            ++sum.reporting;
            sum.worst_fraction_lost =
                std::max(sum.worst_fraction_lost, l.about_us->fraction_lost / 256.0);
            sum.worst_cumulative_lost =
                std::max<std::int64_t>(sum.worst_cumulative_lost, l.about_us->cumulative_lost);
            sum.worst_jitter =
                std::max(sum.worst_jitter, duration_of(l.about_us->jitter, sample_rate));
            if (l.round_trip)
                sum.worst_round_trip =
                    std::max(sum.worst_round_trip.value_or(*l.round_trip), *l.round_trip);
        }
        return sum;
    }

private:
    static constexpr std::uint32_t round_trip_rounding_units = 2;
    static constexpr std::size_t max_answers = max_clock_answers_per_report;

    // Recounts the listeners waiting for an answer: the count keeps members
    // that left while waiting until this forgets them.
    std::size_t count_waiting() noexcept
    {
        std::size_t waiting = 0;
        for (const participant& l : rtcp_.members())
            waiting += l.reference_unanswered ? 1u : 0u;
        return unanswered_ = waiting;
    }

    [[nodiscard]] bool answer_due(time_point now) const noexcept
    {
        return unanswered_ != 0 && rtcp_.joined() &&
               (!last_answer_ || now - *last_answer_ >= answering_.interval);
    }

    // A DLRR block (RFC 3611 §4.5) for the listeners waiting longest, their
    // delay counted up to `sent`, the SR's time; returns how many it holds.
    std::size_t answer(rtcp::compound_writer& w, ntp::timestamp sent) noexcept
    {
        if (unanswered_ == 0 || answering_.listeners == 0) return 0;
        const wall_time now_wall = ntp::to_wall(sent);
        // The longest waiting, in one pass over the table: a max-heap (by
        // waiting_since) of the oldest found so far.
        std::array<participant*, max_answers> oldest;
        std::size_t count = 0;
        const auto later = [](const participant* a, const participant* b) {
            return a->waiting_since < b->waiting_since;
        };
        for (participant& l : rtcp_.members().all()) {
            if (!l.reference_unanswered) continue;
            if (count < answering_.listeners) {
                oldest[count++] = &l;
                std::push_heap(oldest.begin(), oldest.begin() + count, later);
            } else if (l.waiting_since < oldest[0]->waiting_since) {
                std::pop_heap(oldest.begin(), oldest.begin() + count, later);
                oldest[count - 1] = &l;
                std::push_heap(oldest.begin(), oldest.begin() + count, later);
            }
        }
        std::array<rtcp::dlrr_item, max_answers> items;
        for (std::size_t i = 0; i < count; ++i) {
            participant& l = *oldest[i];
            items[i] = {l.ssrc, *l.reference_unanswered,
                        ntp::to_short_duration(now_wall - l.reference_arrival)};
            l.reference_unanswered.reset();
        }
        unanswered_ -= std::min(unanswered_, count);
        if (count != 0) w.delay_since_last_rr(ssrc(), std::span{items.data(), count});
        return count;
    }

    // RFC 3550 §6.4.1: round trip = arrival - LSR - DLSR, in 1/65536 s.
    static std::optional<std::chrono::nanoseconds> round_trip(const rtcp::report_block& b,
                                                              wall_time arrival_wall) noexcept
    {
        if (b.last_sr == 0) return std::nullopt;
        const std::uint32_t a = ntp::short_form(ntp::from_wall(arrival_wall));
        const std::uint32_t rtt = a - b.last_sr - b.delay_since_last_sr;
        if ((rtt & 0x8000'0000u) == 0) return ntp::from_short_duration(rtt);
        // Three fields each cut to 1/65536 s, and the listener's delay timed
        // on its own clock, can put a round trip shorter than that resolution
        // (a LAN's, loopback's) a unit or two below zero: that is zero. More
        // than that, the clocks or the fields disagree, and it is unknown.
        if (0u - rtt <= round_trip_rounding_units) return std::chrono::nanoseconds::zero();
        return std::nullopt;
    }

    rtcp_participant rtcp_;
    clock_answering answering_;
    std::size_t unanswered_ = 0; ///< listeners waiting for an answer, or fewer who left
    time_point asked_at_{};      ///< when the first of them asked
    std::optional<time_point> last_answer_;
};

} // namespace audiocast
