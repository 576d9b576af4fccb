// audiocast — a receiver's side of RTCP (RFC 3550 §6; docs/architecture.md,
// RTCP): what it learns from the group's compounds, and the receiver reports
// it writes about its source.
//
// In: the source's sender reports (the NTP time of an RTP timestamp, for
// latency without the send-time extension, and LSR for the source's round
// trip), BYEs, and the other members (for the report interval). Reports and
// BYEs about the source count only from the source's host. A sender may
// report before its first packet (ffmpeg does): the report is kept until its
// packets make it the source.
// Out: on schedule, an RR with a block about the source when it sent since
// the last report, SDES with the CNAME; BYE when the receiver leaves.
// Synchronized playout asks the source for its clock (session/sender_clock.hpp):
// a report written when a question is due carries an RRTR block, and between
// reports the questions go in compounds of their own (an RR without blocks,
// SDES, RRTR). Answers (DLRR after the source's SR) count only from the
// source's host.
//
// The receiver session owns one and hands it the parts it reads: the source
// selector, the reception meter and the source's sequence tracker. Sans-I/O
// and allocation-free after construction, like the session.
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/session/receiver_config.hpp>
#include <audiocast/session/reception_meter.hpp>
#include <audiocast/session/rtcp_participant.hpp>
#include <audiocast/session/sender_clock.hpp>
#include <audiocast/session/sequence_tracker.hpp>
#include <audiocast/session/source_selector.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace audiocast {

class receiver_reports {
public:
    /// `ssrc` and `cname` are drawn at random when unset or empty.
    /// `synchronizing`: learn the source's clock, as `knowledge` says
    /// (synchronized playout).
    receiver_reports(const rtcp_timing& timing, std::size_t max_members,
                     std::optional<std::uint32_t> ssrc, std::string_view cname,
                     bool synchronizing = false,
                     clock_knowledge knowledge = clock_knowledge::round_trips)
        : rtcp_{rtcp_participant::role::receiver, timing, max_members, ssrc, cname},
          clock_{synchronizing && knowledge == clock_knowledge::round_trips,
                 synchronizing && knowledge == clock_knowledge::shared_wall_clock}
    {}

    /// This receiver's SSRC and canonical name, fixed at construction.
    [[nodiscard]] std::uint32_t ssrc() const noexcept { return rtcp_.ssrc(); }
    [[nodiscard]] std::string_view cname() const noexcept { return rtcp_.cname(); }

    /// Starts the report schedule at the first datagram, media or control.
    void join(time_point arrival, wall_time arrival_wall) noexcept
    {
        rtcp_.join(arrival);
        clock_.start(arrival, arrival_wall);
        clock_.on_local_times(arrival, arrival_wall);
    }

    /// When the next report, or the next question for the source's clock,
    /// is due; nullopt before anything arrived.
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        const auto scheduled = rtcp_.next_report_due();
        const auto question = clock_.next_question_due(rtcp_.members().size());
        if (!scheduled || !question) return scheduled;
        return std::min(*scheduled, *question);
    }

    /// A packet of the source that carries its send time (session/sender_clock.hpp).
    bool on_source_packet(std::uint32_t rtp_timestamp, ntp::timestamp sent,
                          std::uint32_t sample_rate) noexcept
    {
        return clock_.on_source_packet(rtp_timestamp, sent, sample_rate);
    }

    /// What this receiver has learnt of the source's clock.
    [[nodiscard]] const sender_clock& source_clock() const noexcept { return clock_; }

    /// One RTCP datagram from `from`; see the file comment. Malformed ones
    /// are counted and change nothing.
    void on_control(std::span<const std::byte> datagram, time_point arrival, wall_time arrival_wall,
                    const endpoint& from, source_selector& selector,
                    reception_meter& meter) noexcept
    {
        join(arrival, arrival_wall);
        // The source's SR earlier in this compound: the time of its answers.
        std::optional<ntp::timestamp> answered;
        const bool well_formed = rtcp_.on_compound(
            datagram, arrival, [&](const rtcp::packet_view& p, const participant*) {
                const std::uint32_t ssrc = *p.ssrc();
                if (p.type() == rtcp::type_sr) {
                    const auto info = p.sender();
                    if (!info) return;
                    if (selector.is_source(ssrc, from)) {
                        meter.on_sender_report(*info, arrival);
                        clock_.on_sender_report(*info);
                        answered = info->ntp;
                    } else if (!selector.has_source() || ssrc != selector.ssrc()) {
                        pending_sr_ = {ssrc, *info, arrival, from};
                    }
                } else if (p.type() == rtcp::type_xr) {
                    if (!answered || !clock_.asking() || !selector.is_source(ssrc, from)) return;
                    (void)p.for_each_dlrr([&](const rtcp::dlrr_item& item) {
                        clock_.on_answer(item, rtcp_.ssrc(), *answered, arrival);
                    });
                } else if (p.type() == rtcp::type_bye) {
                    for (std::size_t i = 0; i < p.bye_count(); ++i)
                        (void)selector.on_bye(p.bye_source(i), from, arrival);
                }
            });
        if (!well_formed) ++malformed_;
    }

    /// The selector has chosen a new source: a report it sent before its
    /// first packet, from its host, now counts.
    void on_new_source(const source_selector& selector, reception_meter& meter,
                       time_point now) noexcept
    {
        clock_.new_source(now);
        if (pending_sr_ && pending_sr_->ssrc == selector.ssrc() &&
            pending_sr_->from.same_host(selector.source_endpoint()))
            clock_.on_sender_report(pending_sr_->info);
        if (pending_sr_ && pending_sr_->ssrc == selector.ssrc() &&
            pending_sr_->from.same_host(selector.source_endpoint()))
            meter.on_sender_report(pending_sr_->info, pending_sr_->arrival);
        pending_sr_.reset();
    }

    /// A packet of the source was played: the next report has news of it.
    void heard_from_source() noexcept { heard_since_report_ = true; }

    /// If a report is due at `now`, writes it into `out` and returns its
    /// size; 0 otherwise. errc::buffer_too_small when `out` cannot hold
    /// max_bytes().
    std::size_t write_report(time_point now, std::span<std::byte> out, std::error_code& ec,
                             const source_selector& selector, sequence_tracker& tracker,
                             const reception_meter& meter) noexcept
    {
        const bool about_source = selector.has_source() && heard_since_report_ && tracker.valid();
        const std::uint32_t self = rtcp_.ssrc();
        const auto question = clock_.next_question_due(rtcp_.members().size());
        // A source that said BYE is asked nothing more.
        const bool asking = question && *question <= now && !selector.left();
        const auto ask = [&](rtcp::compound_writer& w) {
            if (asking) w.reference_time(self, clock_.ask(now));
        };
        std::size_t size = rtcp_.write_report(
            now, out, ec,
            [&](rtcp::compound_writer& w) {
                if (about_source) {
                    const rtcp::report_block b = block_about(selector.ssrc(), tracker, meter, now);
                    w.receiver_report(self, std::span<const rtcp::report_block>{&b, 1});
                } else {
                    w.receiver_report(self);
                }
            },
            ask);
        if (size != 0) {
            heard_since_report_ = false;
        } else if (!ec && asking) {
            // A question between reports: an RR without blocks leaves the
            // loss interval to the next report.
            size = rtcp_.write_unscheduled(
                out, ec, [&](rtcp::compound_writer& w) { w.receiver_report(self); }, ask);
        }
        if (size == 0) return 0;
        ++sent_;
        return size;
    }

    /// RR, SDES and BYE, for a receiver that leaves (RFC 3550 §6.6); 0 when
    /// it never sent a report, since nobody knows its SSRC (§6.3.7).
    std::size_t write_bye(std::span<std::byte> out, std::error_code& ec,
                          std::string_view reason = {}) const noexcept
    {
        ec.clear();
        if (sent_ == 0) return 0;
        return bye_for(rtcp_.ssrc(), rtcp_.cname(), out, ec, reason);
    }

    /// The BYE compound of the receiver `ssrc` called `cname`, for a caller
    /// on another thread than the session's that knows it has reported.
    static std::size_t bye_for(std::uint32_t ssrc, std::string_view cname, std::span<std::byte> out,
                               std::error_code& ec, std::string_view reason = {}) noexcept
    {
        return rtcp_participant::bye_for(
            ssrc, cname, out, ec, [ssrc](rtcp::compound_writer& w) { w.receiver_report(ssrc); },
            reason);
    }

    /// Bytes write_report() and write_bye() need at most: an RR with one
    /// block, SDES with a 255-byte CNAME, the larger of a BYE with a 255-byte
    /// reason and an RRTR block.
    [[nodiscard]] static constexpr std::size_t max_bytes() noexcept
    {
        return rtcp::receiver_report_size(1) + rtcp::cname_size(rtcp::max_text) +
               std::max(rtcp::bye_size(1, rtcp::max_text), rtcp::reference_time_size());
    }

    [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
    /// Control datagrams that were not valid RTCP.
    [[nodiscard]] std::uint64_t malformed() const noexcept { return malformed_; }

private:
    // RFC 3550 §6.4.1 and A.3: loss over the interval since the last report,
    // cumulative loss, the extended highest sequence number, jitter, and the
    // LSR/DLSR pair from which the source computes the round trip.
    static rtcp::report_block block_about(std::uint32_t source, sequence_tracker& tracker,
                                          const reception_meter& meter, time_point now) noexcept
    {
        rtcp::report_block b;
        b.ssrc = source;
        b.fraction_lost = tracker.fraction_lost(); // A.3, the interval since the last call
        b.cumulative_lost = static_cast<std::int32_t>(std::clamp<std::int64_t>(
            tracker.lost(), rtcp::min_cumulative_lost, rtcp::max_cumulative_lost));
        b.highest_sequence = static_cast<std::uint32_t>(tracker.extended_max());
        meter.fill(b, now);
        return b;
    }

    struct sender_report_seen {
        std::uint32_t ssrc;
        rtcp::sender_info info;
        time_point arrival;
        endpoint from;
    };

    rtcp_participant rtcp_;
    sender_clock clock_;
    bool heard_since_report_ = false;
    std::optional<sender_report_seen> pending_sr_;
    std::uint64_t sent_ = 0;
    std::uint64_t malformed_ = 0;
};

} // namespace audiocast
