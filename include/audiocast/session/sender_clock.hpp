// audiocast — a listener learning its source's clock (docs/architecture.md,
// Synchronized playout): it asks with RTCP XR Receiver Reference Time blocks
// (RFC 3611 §4.4), the source answers with DLRR blocks (§4.5) after an SR,
// and each answer that echoes a question of ours is one round trip for
// clock_offset_estimator (session/clock_offset.hpp).
//
// The four times of a round trip:
//   t1  when our question left, on our steady clock. The question's NTP time
//       is that clock, mapped once onto our wall clock, so the answer's echo
//       (its middle 32 bits) reads back as a steady time to 1/65536 s. A
//       question that waits before it leaves has its time moved on by the
//       wait (rtcp::add_report_delay), so t1 is when it left, not when it was
//       written.
//   t2  when the source received it: t3 less the answer's delay.
//   t3  when the source answered: the NTP time of the SR before the DLRR.
//   t4  when the answer arrived, on our steady clock.
//
// Only an answer to a question still open counts, each question once: a
// stranger cannot make up exchanges without seeing our questions, and the
// receiver_reports that owns this one takes answers only from the source's
// host (source selection). Questions go out fast while the estimate settles
// and slowly after, and less often the more members the group has, so a
// source's answers stay within what it sends (sender_config::clock_answers).
//
// Sans-I/O, fixed memory, allocation-free: it runs on the audio thread.
#pragma once

#include <audiocast/session/clock_offset.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace audiocast {

class sender_clock {
public:
    /// Questions while the estimate settles, at most this often, for this
    /// long after a source is chosen (or its clock stepped and the estimate
    /// started over); then at most `steady_interval`. The
    /// estimate's error shrinks with the round trips it has seen, so they
    /// come fast at first: a minute of them takes the first seconds' error
    /// from hundreds of microseconds to a few. After that, ten a second hold
    /// it there on 2 ms of jitter (two a second let it wander by 30 us).
    static constexpr std::chrono::nanoseconds settling_interval = std::chrono::milliseconds{10};
    static constexpr std::chrono::nanoseconds settling_time = std::chrono::seconds{60};
    static constexpr std::chrono::nanoseconds steady_interval = std::chrono::milliseconds{100};
    /// Each member of the group adds this to the interval, so a whole group
    /// settling at once asks at most 400 times a second (about 290 kbit/s
    /// of RTCP with the answers), and settles more slowly the larger it is.
    static constexpr std::chrono::nanoseconds per_member = std::chrono::microseconds{2'500};
    /// Questions remembered, and how long one waits for its answer.
    static constexpr std::size_t open_questions = 64;
    static constexpr std::chrono::nanoseconds answer_timeout = std::chrono::seconds{2};

    /// `asking`: whether questions are asked at all. `shared`: the hosts'
    /// wall clocks are one (clock_knowledge::shared_wall_clock), so the
    /// source's clock is our own wall clock, read against our steady clock.
    explicit sender_clock(bool asking, bool shared = false) noexcept
        : asking_{asking && !shared}, shared_{shared}
    {}

    [[nodiscard]] bool asking() const noexcept { return asking_; }

    /// Our steady and wall clocks, read together at `now` (a datagram's
    /// arrival). On a shared clock they are the estimate, fitted like round
    /// trips of reading_slack so that a wall clock slewed against the steady
    /// one is followed, and one that steps starts it over; otherwise ignored.
    void on_local_times(time_point now, wall_time wall) noexcept
    {
        if (!shared_) return;
        if (last_reading_ && now - *last_reading_ < reading_interval) return;
        last_reading_ = now;
        // Two reads a moment apart, taken as a round trip of reading_slack
        // around them: readings alike within it leave the hull a corridor
        // to fit (identical bounds each way cross at the least jitter). A
        // read delayed beyond the estimator's contradiction tolerance (the
        // thread preempted between the two) is held back as a contradiction;
        // one delayed less, but past the slack, crosses the hulls, and the
        // estimator drops the older half of its readings until a line fits.
        const clock_exchange e{.t1 = now.time_since_epoch() - reading_slack / 2,
                               .t2 = wall.time_since_epoch(),
                               .t3 = wall.time_since_epoch(),
                               .t4 = now.time_since_epoch() + reading_slack / 2};
        estimator_.add(e);
        estimate_ = estimator_.estimate();
    }

    /// Maps our steady clock onto our wall clock for the questions' times:
    /// once, at the first datagram that carries both.
    void start(time_point now, wall_time wall) noexcept
    {
        if (started_) return;
        started_ = true;
        base_steady_ = now;
        base_ntp_ = ntp::from_wall(wall).to_u64();
    }

    /// A new source was chosen at `now`: what was learnt of the last one's
    /// clock is forgotten, and its questions with it.
    void new_source(time_point now) noexcept
    {
        has_source_ = true;
        settling_since_ = now;
        last_question_.reset();
        report_.reset();
        media_anchor_.reset();
        unconfirmed_.reset();
        window_best_.reset();
        questions_ = {};
        if (shared_) return; // our own clocks: still right
        estimator_.reset();
        estimate_.reset();
    }

    /// When the next question is due, for a group of `members` others;
    /// nullopt when not asking or there is nobody to ask.
    [[nodiscard]] std::optional<time_point> next_question_due(std::size_t members) const noexcept
    {
        if (!asking_ || !has_source_ || !started_) return std::nullopt;
        if (!last_question_) return settling_since_;
        const bool settling = *last_question_ - settling_since_ < settling_time;
        const std::chrono::nanoseconds interval =
            (settling ? settling_interval : steady_interval) +
            per_member * static_cast<std::int64_t>(std::min<std::size_t>(members, 1u << 20));
        return *last_question_ + interval;
    }

    /// Asks at `now`: remembers the question and returns the time to send in
    /// its RRTR block.
    ntp::timestamp ask(time_point now) noexcept
    {
        const std::uint64_t t = base_ntp_ + to_ntp_units(now - base_steady_);
        questions_[next_question_++ % open_questions] = {t, now, true};
        last_question_ = now;
        ++asked_;
        return ntp::timestamp::from_u64(t);
    }

    /// One DLRR sub-block from the source, in a compound whose SR (the
    /// answer's time) says `answered`, arrived at `arrival`. Sub-blocks for
    /// other listeners are ignored; ours count when they answer an open
    /// question, and are counted as unmatched otherwise.
    void on_answer(const rtcp::dlrr_item& item, std::uint32_t self, ntp::timestamp answered,
                   time_point arrival) noexcept
    {
        if (item.ssrc != self) return;
        const std::optional<time_point> asked = open_question(item.last_rr, arrival);
        if (!asked) {
            ++unmatched_;
            return;
        }
        // The delay was rounded to 1/65536 s: t2 as late as it can be, so
        // the bound t2 - t1 is never tighter than the truth.
        const auto sent = ntp::to_wall(answered).time_since_epoch();
        const clock_exchange e{.t1 = asked->time_since_epoch(),
                               .t2 = sent - ntp::from_short_duration(item.delay_since_last_rr) +
                                     half_unit,
                               .t3 = sent,
                               .t4 = arrival.time_since_epoch()};
        // A source clock that stepped (NTP setting it at boot, say) is the
        // estimator's to find: round trips that contradict what it holds,
        // four of eight, start it over (steps()). One answer alone, however
        // far off, does not: it may be forged.
        const std::size_t before = estimator_.exchanges();
        const std::uint64_t restarts = estimator_.restarts();
        estimator_.add(e);
        estimate_ = estimator_.estimate();
        // Started over: it settles again as it did at first, with questions
        // coming fast.
        if ((before == 0 && estimator_.exchanges() == 1) || estimator_.restarts() != restarts)
            settling_since_ = arrival;
    }

    /// The source's clock (its wall clock, in nanoseconds since the Unix
    /// epoch) against our steady clock; nullopt before the first exchange.
    [[nodiscard]] const std::optional<clock_estimate>& estimate() const noexcept
    {
        return estimate_;
    }

    /// The source's last sender report: the wall-clock time of an RTP
    /// timestamp (RFC 3550 §6.4.1), which places its media on its clock.
    void on_sender_report(const rtcp::sender_info& info) noexcept { report_ = info; }
    [[nodiscard]] const std::optional<rtcp::sender_info>& sender_report() const noexcept
    {
        return report_;
    }

    /// A packet of the source whose header carries its send time (RFC 6051's
    /// ntp-64 extension): like a report, the wall-clock time of an RTP
    /// timestamp, but in every packet, from the first, and not rounded to a
    /// frame. A packet leaves no earlier than its time, often a little later
    /// (pacing), so the one sent most promptly in each media_window stands
    /// for the source's media clock. Returns whether that changed.
    bool on_source_packet(std::uint32_t rtp_timestamp, ntp::timestamp sent,
                          std::uint32_t sample_rate) noexcept
    {
        if (!asking_ && !shared_) return false;
        const auto wall = ntp::to_wall(sent).time_since_epoch();
        // A packet reordered across a window's start is no new window; far
        // earlier than it is a step (or a forgery), which the next window
        // must confirm before it counts.
        if (window_best_ && wall < window_opened_ && window_opened_ - wall <= media_window)
            return false;
        if (!window_best_ || wall - window_opened_ >= media_window || wall < window_opened_) {
            const bool changed = window_best_ && adopt(*window_best_, sample_rate);
            window_opened_ = wall;
            window_ts_ = rtp_timestamp;
            window_best_ = rtcp::sender_info{.ntp = sent, .rtp_timestamp = rtp_timestamp};
            window_best_lateness_ = 0;
            return changed;
        }
        // How much later than the window's first packet this one left, for
        // its place on the media clock.
        const double lateness =
            static_cast<double>((wall - window_opened_).count()) -
            static_cast<double>(static_cast<std::int32_t>(rtp_timestamp - window_ts_)) * 1e9 /
                sample_rate;
        if (lateness < window_best_lateness_) {
            window_best_lateness_ = lateness;
            window_best_ = rtcp::sender_info{.ntp = sent, .rtp_timestamp = rtp_timestamp};
        }
        return false;
    }

    /// Times the media clock's anchor moved further than anchor_tolerance
    /// and the next window confirmed it (a step of the source's clock or
    /// media); one window alone moves nothing.
    [[nodiscard]] std::uint64_t anchor_steps() const noexcept { return anchor_steps_; }

    /// The wall-clock time of an RTP timestamp of the source: from its
    /// packets' send times when they carry them, else from its last report.
    [[nodiscard]] const std::optional<rtcp::sender_info>& media_anchor() const noexcept
    {
        // A window not yet over may hold only late packets: not before one is.
        return media_anchor_ ? media_anchor_ : report_;
    }

    /// Our steady time at which the source's wall clock reads `sender`
    /// (nanoseconds since the Unix epoch); nullopt before the first exchange.
    [[nodiscard]] std::optional<time_point>
    local_time(std::chrono::nanoseconds sender) const noexcept
    {
        if (!estimate_) return std::nullopt;
        // sender = t + offset + (t - at) * r, solved for t.
        const double r = estimate_->rate_ppm * 1e-6;
        const auto from_at = sender - estimate_->offset - estimate_->at;
        const double t = static_cast<double>(from_at.count()) / (1 + r);
        return time_point{estimate_->at + std::chrono::nanoseconds{std::llround(t)}};
    }

    /// Whether the estimate rests on enough round trips to be judged by
    /// (clock_offset_estimator::exchanges_to_judge, a fifth of a second of
    /// them at first). A rate beyond what any two crystals disagree by is
    /// not believed: the first few round trips, close together, give one.
    [[nodiscard]] bool settled() const noexcept
    {
        return estimator_.exchanges() >= clock_offset_estimator::exchanges_to_judge && estimate_ &&
               std::abs(estimate_->rate_ppm) <= max_believable_ppm;
    }

    /// Times the source's clock was seen to step and the estimate started over.
    [[nodiscard]] std::uint64_t steps() const noexcept { return estimator_.restarts(); }

    [[nodiscard]] std::uint64_t asked() const noexcept { return asked_; }
    /// Round trips believed (the estimator refuses impossible ones).
    [[nodiscard]] std::uint64_t exchanges() const noexcept { return estimator_.accepted(); }
    /// Answers addressed to us that echoed no open question: late, repeated
    /// or forged.
    [[nodiscard]] std::uint64_t unmatched() const noexcept
    {
        return unmatched_ + estimator_.refused();
    }

private:
    // A window's most prompt packet becomes the anchor if it lies within
    // anchor_tolerance of where the anchor now puts it, or if the window
    // before said the same: one packet with a forged or mistaken send time
    // (a spoofer with the source's address and the next sequence number)
    // moves no one's timeline by more than the tolerance.
    bool adopt(const rtcp::sender_info& best, std::uint32_t sample_rate) noexcept
    {
        const auto off_from = [&](const rtcp::sender_info& from) {
            const double predicted =
                static_cast<double>(ntp::to_wall(from.ntp).time_since_epoch().count()) +
                static_cast<double>(
                    static_cast<std::int32_t>(best.rtp_timestamp - from.rtp_timestamp)) *
                    1e9 / sample_rate;
            return std::abs(static_cast<double>(ntp::to_wall(best.ntp).time_since_epoch().count()) -
                            predicted);
        };
        const double tolerance = static_cast<double>(anchor_tolerance.count());
        if (!media_anchor_ || off_from(*media_anchor_) <= tolerance) {
            media_anchor_ = best;
            unconfirmed_.reset();
            return true;
        }
        if (unconfirmed_ && off_from(*unconfirmed_) <= tolerance) {
            ++anchor_steps_;
            media_anchor_ = best;
            unconfirmed_.reset();
            return true;
        }
        unconfirmed_ = best;
        return false;
    }

    struct question {
        std::uint64_t ntp = 0; ///< the time sent, before any wait was added
        time_point written{};
        bool open = false;
    };

    static std::uint64_t to_ntp_units(std::chrono::nanoseconds d) noexcept
    {
        if (d.count() <= 0) return 0;
        const auto ns = static_cast<std::uint64_t>(d.count());
        return (ns / 1'000'000'000u << 32) + ((ns % 1'000'000'000u << 32) / 1'000'000'000u);
    }

    // When the question that `echo` answers left: the question written last
    // before it (the echo is its time plus the wait before it left, to
    // 1/65536 s), closed so that it counts once. nullopt when that question
    // is answered already (a copy of its answer must not be credited to an
    // earlier question whose answer was lost: the bound would be its wait
    // too loose) or none is recent.
    std::optional<time_point> open_question(std::uint32_t echo, time_point arrival) noexcept
    {
        if (echo == 0) return std::nullopt; // "no reference time received"
        question* best = nullptr;
        std::uint32_t best_wait = 0;
        for (question& q : questions_) {
            if (q.ntp == 0) continue; // never asked
            if (arrival - q.written > answer_timeout) {
                q.open = false;
                continue;
            }
            const std::uint32_t wait = echo - ntp::short_form(ntp::timestamp::from_u64(q.ntp));
            if (wait > max_wait_units) continue;
            if (best == nullptr || wait < best_wait) {
                best = &q;
                best_wait = wait;
            }
        }
        if (best == nullptr || !best->open) return std::nullopt;
        best->open = false;
        // The echo dropped the low 16 bits of the fraction: the least it can
        // mean, so that t1 is never after the question left and the bound
        // t2 - t1 never tighter than the truth.
        const std::int64_t units =
            (std::int64_t{best_wait} << 16) - static_cast<std::int64_t>(best->ntp & 0xFFFF);
        const std::int64_t ns =
            std::max<std::int64_t>(0, units) * 1'000'000'000 / (std::int64_t{1} << 32);
        return best->written + std::chrono::nanoseconds{ns};
    }

    // A question leaves within a poll of being written; more than this and
    // it is another question's echo.
    static constexpr std::uint32_t max_wait_units = 65'536 / 4; // 250 ms
    static constexpr std::chrono::nanoseconds half_unit{7'629}; // 1/131072 s
    static constexpr double max_believable_ppm = 1'000;
    // On a shared clock: readings at most this often (a flood of datagrams
    // is not a flood of readings).
    static constexpr std::chrono::nanoseconds reading_interval = std::chrono::milliseconds{10};
    static constexpr std::chrono::nanoseconds reading_slack = std::chrono::microseconds{20};

    // The media clock from packets' send times: the most promptly sent of a
    // window; half a second holds 100 packets of 5 ms.
    static constexpr std::chrono::nanoseconds media_window = std::chrono::milliseconds{500};

    bool asking_;
    bool shared_;
    static constexpr std::chrono::nanoseconds anchor_tolerance = std::chrono::milliseconds{2};
    std::optional<rtcp::sender_info> media_anchor_;
    std::optional<rtcp::sender_info> unconfirmed_;
    std::uint64_t anchor_steps_ = 0;
    std::optional<rtcp::sender_info> window_best_;
    std::chrono::nanoseconds window_opened_{};
    std::uint32_t window_ts_ = 0;
    double window_best_lateness_ = 0;
    std::optional<time_point> last_reading_;
    bool started_ = false;
    bool has_source_ = false;
    time_point base_steady_{};
    std::uint64_t base_ntp_ = 0;
    time_point settling_since_{}; ///< a source chosen, or its estimate started over
    std::optional<time_point> last_question_;
    std::array<question, open_questions> questions_{};
    std::size_t next_question_ = 0;
    clock_offset_estimator estimator_;
    std::optional<clock_estimate> estimate_;
    std::optional<rtcp::sender_info> report_;
    std::uint64_t asked_ = 0;
    std::uint64_t unmatched_ = 0;
};

} // namespace audiocast
