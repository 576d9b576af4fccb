// audiocast — the sender's clock as a listener can know it without a common
// clock: from round trips (RFC 3611 RRTR and DLRR blocks, with the SR that
// carries the DLRR), filtered as NTP-class tools filter theirs.
//
// An exchange gives four times. The listener sends its Receiver Reference
// Time at t1 (its own clock); the sender receives it at t2 and answers at t3
// (the sender's clock: t3 is the answering SR's NTP time, t3 - t2 its DLRR);
// the listener receives the answer at t4 (its own clock). Then
//
//   offset = ((t2 - t1) + (t3 - t4)) / 2   the sender's clock minus the listener's
//   delay  = (t4 - t1) - (t3 - t2)         the round trip spent on the network
//
// and the offset is wrong by half the difference between the two one-way
// delays, which no exchange can observe: at most delay / 2, and exactly that
// when the path is asymmetric for good (the known limit of the method).
//
// Every exchange bounds the truth: the offset lies within delay / 2 of what
// the exchange says, since neither one-way delay is negative. Queueing only
// ever adds delay, so the estimator (1) fits the sender's rate through the
// fastest exchange of each `window` (the most symmetric ones) over the last
// `history` windows, and (2) with that rate taken out, intersects the bounds
// of the last `recent` exchanges and takes the middle of what is left. The
// tightest upper bound comes from the fastest trip out and the tightest lower
// bound from the fastest trip back, which need not be the same exchange: so
// the error shrinks with the least jitter seen each way, not with the least
// seen on both at once. Fixed memory; add() and estimate() allocate nothing
// and take no lock (docs/architecture.md, Threads).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace audiocast {

/// One round trip, in nanoseconds since each clock's own epoch: t1 and t4 on
/// the listener's clock, t2 and t3 on the sender's.
struct clock_exchange {
    std::chrono::nanoseconds t1{}; ///< the listener sent its reference time
    std::chrono::nanoseconds t2{}; ///< the sender received it
    std::chrono::nanoseconds t3{}; ///< the sender answered
    std::chrono::nanoseconds t4{}; ///< the listener received the answer

    /// The sender's clock minus the listener's, as this exchange sees it.
    [[nodiscard]] constexpr std::chrono::nanoseconds offset() const noexcept
    {
        return ((t2 - t1) + (t3 - t4)) / 2;
    }
    /// The round trip spent on the network (the sender's hold taken out).
    [[nodiscard]] constexpr std::chrono::nanoseconds delay() const noexcept
    {
        return (t4 - t1) - (t3 - t2);
    }
};

/// What the listener believes about the sender's clock.
struct clock_estimate {
    /// The sender's clock minus the listener's at listener time `at`.
    std::chrono::nanoseconds offset{};
    /// At most this far from the truth, if the rate is right: half the width
    /// of what the recent exchanges' bounds leave (or of how far they cross).
    std::chrono::nanoseconds uncertainty{};
    /// How much faster the sender's clock runs than the listener's, in parts
    /// per million; 0 until two windows have been believed.
    double rate_ppm = 0;
    /// Listener time of `offset`.
    std::chrono::nanoseconds at{};

    /// The sender's clock at listener time `t`.
    [[nodiscard]] std::chrono::nanoseconds sender_time(std::chrono::nanoseconds t) const noexcept
    {
        const double drift = static_cast<double>((t - at).count()) * rate_ppm * 1e-6;
        return t + offset + std::chrono::nanoseconds{static_cast<std::int64_t>(drift)};
    }
};

class clock_offset_estimator {
public:
    /// Believed windows kept for the rate: the line is fitted through this many.
    static constexpr std::size_t history = 64;
    /// Exchanges of which the fastest is believed, by default.
    static constexpr std::size_t default_window = 8;
    static constexpr std::size_t max_window = 64;
    /// Exchanges whose bounds correct the rate (all) and give the offset
    /// (the newest quarter).
    static constexpr std::size_t recent = 512;

    /// `window` clamped to 1..max_window.
    explicit clock_offset_estimator(std::size_t window = default_window) noexcept
        : window_{std::clamp<std::size_t>(window, 1, max_window)}
    {}

    /// Takes one exchange. One whose round trip comes out negative (a clock
    /// stepped, or the times do not belong together) is refused and counted.
    void add(const clock_exchange& e) noexcept
    {
        if (e.delay() < std::chrono::nanoseconds::zero() || e.t4 < e.t1) {
            ++refused_;
            return;
        }
        ++accepted_;
        recent_[recent_next_ % recent] = e;
        ++recent_next_;
        if (in_window_ == 0 || e.delay() < fastest_.delay()) fastest_ = e;
        if (++in_window_ < window_) return;
        believed_[next_ % history] = fastest_;
        ++next_;
        in_window_ = 0;
    }

    /// The estimate from the windows believed so far; before the first window
    /// is complete, from the fastest exchange yet. nullopt before any.
    [[nodiscard]] std::optional<clock_estimate> estimate() const noexcept
    {
        const std::size_t kept = std::min(next_, history);
        // A window not yet complete is left out once there are whole ones:
        // its fastest exchange may be its only one, and as the newest point
        // it would pull the end of the line, where the estimate is read.
        const std::size_t points = kept > 0 ? kept : (in_window_ > 0 ? 1 : 0);
        if (points == 0) return std::nullopt;
        const auto point = [&](std::size_t i) -> const clock_exchange& {
            // Oldest first; the current window's fastest last.
            if (i == kept) return fastest_;
            return believed_[(next_ - kept + i) % history];
        };
        const clock_exchange& newest = point(points - 1);
        std::chrono::nanoseconds fastest_delay = newest.delay();
        for (std::size_t i = 0; i < points; ++i)
            fastest_delay = std::min(fastest_delay, point(i).delay());

        clock_estimate out;
        out.uncertainty = fastest_delay / 2;
        out.at = midpoint(newest);
        out.offset = newest.offset();
        if (points < 2) {
            narrow(out, 0);
            return out;
        }
        // Least squares through (midpoint, offset), relative to the newest
        // point so the doubles hold differences of seconds, not of decades.
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (std::size_t i = 0; i < points; ++i) {
            const double x = static_cast<double>((midpoint(point(i)) - out.at).count());
            const double y = static_cast<double>((point(i).offset() - out.offset).count());
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        const auto n = static_cast<double>(points);
        const double spread = n * sxx - sx * sx;
        if (!(spread > 0)) {
            narrow(out, 0);
            return out;
        }
        const double slope = (n * sxy - sx * sy) / spread;
        const double intercept = (sy - slope * sx) / n;
        out.rate_ppm = slope * 1e6;
        out.offset += std::chrono::nanoseconds{static_cast<std::int64_t>(intercept)};
        narrow(out, slope);
        return out;
    }

    /// Starts over: a new sender, or a clock that stepped.
    void reset() noexcept
    {
        next_ = 0;
        in_window_ = 0;
        recent_next_ = 0;
    }

    /// Windows believed since the last reset(): with two, the rate is known.
    [[nodiscard]] std::size_t windows() const noexcept { return next_; }
    [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_; }
    [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }

private:
    // The bounds of recent exchanges [first, first + count) (oldest first),
    // each taken about `out`'s line with the drift `slope` taken out, and
    // intersected: their middle, half their width, and the exchanges' mean
    // time, all relative to `out`. Bounds that cross (an error in the rate, a
    // path or a clock that changed under them) still have a middle between
    // the fastest trip out and the fastest trip back; the width is then how
    // far they cross.
    struct band {
        double middle = 0;
        double half_width = 0;
        double mean_x = 0;
    };
    [[nodiscard]] band bounds(const clock_estimate& out, double slope, std::size_t first,
                              std::size_t count) const noexcept
    {
        const std::size_t kept = std::min(recent_next_, recent);
        double upper = 0, lower = 0, sum_x = 0;
        for (std::size_t i = first; i < first + count; ++i) {
            const clock_exchange& e = recent_[(recent_next_ - kept + i) % recent];
            const double x = static_cast<double>((midpoint(e) - out.at).count());
            const double off = static_cast<double>((e.offset() - out.offset).count()) - x * slope;
            const double half = static_cast<double>(e.delay().count()) / 2;
            if (i == first || off + half < upper) upper = off + half;
            if (i == first || off - half > lower) lower = off - half;
            sum_x += x;
        }
        return {(upper + lower) / 2, std::abs(upper - lower) / 2,
                sum_x / static_cast<double>(count)};
    }

    // Moves `out`'s line to the middle of the recent exchanges' bounds, after
    // correcting the rate `slope` (from the fastest of each window) by how
    // far the middle of the older half of them lies from the newer half's.
    void narrow(clock_estimate& out, double slope) const noexcept
    {
        const std::size_t kept = std::min(recent_next_, recent);
        if (kept == 0) return;
        if (kept >= 64) {
            const band older = bounds(out, slope, 0, kept / 2);
            const band newer = bounds(out, slope, kept / 2, kept - kept / 2);
            if (newer.mean_x > older.mean_x) {
                slope += (newer.middle - older.middle) / (newer.mean_x - older.mean_x);
                out.rate_ppm = slope * 1e6;
            }
        }
        // The newest quarter: enough exchanges for a fast trip each way, few
        // enough that an error left in the rate barely tilts them.
        const std::size_t newest = std::max<std::size_t>(1, kept / 4);
        const band b = bounds(out, slope, kept - newest, newest);
        out.offset += std::chrono::nanoseconds{static_cast<std::int64_t>(b.middle)};
        out.uncertainty = std::chrono::nanoseconds{static_cast<std::int64_t>(b.half_width)};
    }

    // When, on the listener's clock, an exchange's offset holds: halfway
    // through its round trip.
    static std::chrono::nanoseconds midpoint(const clock_exchange& e) noexcept
    {
        return e.t1 + (e.t4 - e.t1) / 2;
    }

    std::size_t window_;
    std::array<clock_exchange, history> believed_{};
    std::size_t next_ = 0; ///< windows believed so far
    clock_exchange fastest_{};
    std::size_t in_window_ = 0;
    std::array<clock_exchange, recent> recent_{};
    std::size_t recent_next_ = 0;
    std::uint64_t accepted_ = 0;
    std::uint64_t refused_ = 0;
};

} // namespace audiocast
