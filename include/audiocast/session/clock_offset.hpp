// audiocast — the sender's clock as a listener can know it without a common
// clock: from round trips (RFC 3611 RRTR and DLRR blocks, with the SR that
// carries the DLRR), bounded the way NTP-class tools bound theirs and fitted
// through the fastest trips each way.
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
// Every exchange bounds the truth twice, since no one-way delay is negative:
// the offset at t1 is at most t2 - t1 (the trip out) and the offset at t4 at
// least t3 - t4 (the trip back). Queueing only ever adds delay, so the offset
// line runs under every upper bound and over every lower one, and what
// constrains it are the fastest trips out and, separately, the fastest trips
// back, whatever exchange each came from: the vertices of the lower convex
// hull of the upper bounds and of the upper hull of the lower bounds. The
// estimator takes the rate that leaves the widest corridor between the two
// hulls (a line of any other rate runs into the fastest trips at one end or
// the other; compare the linear-programming skew estimate of Moon, Skelly
// and Towsley, 1999) and the offset halfway across it. Its error shrinks
// with the least jitter seen each way, which falls as one over the number of
// exchanges, not one over its square root as an average's would, and the
// rate rests on hull vertices far apart in time.
//
// Each exchange's bounds are kept until `capacity` are; then time is cut into
// bins, twice as wide each time they fill, and each bin keeps its tightest
// bound each way (a hull rests on those). Bounds older than `history` are
// dropped, a bin's worth at a time. Fixed memory; add() and estimate()
// allocate nothing and take no lock (docs/architecture.md, Threads).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

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
    /// At most this far from the truth, if the rate is right: half the gap
    /// between the lowest bound from the trips out and the highest from the
    /// trips back at `at` (or half how far they cross, should they).
    std::chrono::nanoseconds uncertainty{};
    /// How much faster the sender's clock runs than the listener's, in parts
    /// per million; 0 until the exchanges span two points.
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
    /// Bounds kept each way. When all are taken, time is cut into bins,
    /// first `bin_width` wide and twice as wide each time they fill again,
    /// and each bin keeps its tightest bound.
    static constexpr std::size_t capacity = 512;
    static constexpr std::chrono::nanoseconds bin_width = std::chrono::milliseconds{20};
    /// Bounds further back than this from the newest are dropped: a
    /// crystal's rate wanders with its temperature, and a line fits minutes,
    /// not hours.
    static constexpr std::chrono::nanoseconds history = std::chrono::seconds{300};

    /// An exchange with a bound further than this outside the corridor the
    /// estimate holds (a trip out faster than the estimate allows, or a trip
    /// back) contradicts it: a forged answer, or the source's clock moved.
    /// It is held back; one tighter than the truth would otherwise hold the
    /// hull, and the estimate, off for all of `history`.
    static constexpr std::chrono::nanoseconds contradiction_tolerance =
        std::chrono::microseconds{100};
    /// When `contradictions_to_restart` of the last `recent` exchanges
    /// contradict it, the clock moved (a step): the estimate starts over
    /// from the first of them. Fewer were noise or forgeries, and are left
    /// out.
    static constexpr std::size_t recent = 8;
    static constexpr std::size_t contradictions_to_restart = 4;
    /// An estimate is judged against only once it rests on this many
    /// exchanges: the first few give a rate far off.
    static constexpr std::size_t exchanges_to_judge = 16;
    /// Bounds that no line can keep to (the hulls cross) by more than this
    /// say the rate changed (an NTP daemon slewing the source's clock, a
    /// crystal warming): the older half of the history is dropped until a
    /// line fits again.
    static constexpr std::chrono::nanoseconds crossing_tolerance = std::chrono::microseconds{5};
    static constexpr std::size_t kept_when_narrowing = 16;
    /// No rate beyond this is taken: while every answer so far came back
    /// after the latest question left (a round trip longer than the
    /// questions' interval), the corridor widens without end as the rate
    /// grows, and the widest is no estimate.
    static constexpr double max_rate_ppm = 2'000;

    /// Takes one exchange. One whose round trip comes out negative (a clock
    /// stepped, or the times do not belong together) is refused and counted;
    /// one that contradicts the estimate is held back (see above).
    void add(const clock_exchange& e) noexcept
    {
        if (e.delay() < std::chrono::nanoseconds::zero() || e.t4 < e.t1) {
            ++refused_;
            return;
        }
        const bool against = exchanges_ >= exchanges_to_judge && contradicts(e);
        if (recent_count_ == recent) {
            if (recent_[recent_first_].against) ++ignored_;
            recent_first_ = (recent_first_ + 1) % recent;
            --recent_count_;
        }
        recent_[(recent_first_ + recent_count_++) % recent] = {e, against};
        if (!against) {
            take(e);
            return;
        }
        ++contradicted_;
        std::size_t against_count = 0;
        std::size_t first = recent;
        for (std::size_t k = 0; k < recent_count_; ++k) {
            if (!recent_[(recent_first_ + k) % recent].against) continue;
            ++against_count;
            first = std::min(first, k);
        }
        if (against_count < contradictions_to_restart) return;
        std::array<clock_exchange, recent> moved{};
        std::size_t n = 0;
        for (std::size_t k = first; k < recent_count_; ++k)
            moved[n++] = recent_[(recent_first_ + k) % recent].exchange;
        reset();
        ++restarts_;
        for (std::size_t k = 0; k < n; ++k)
            take(moved[k]);
    }

    /// The estimate from the exchanges so far; nullopt before any.
    [[nodiscard]] const std::optional<clock_estimate>& estimate() const noexcept
    {
        return estimate_;
    }

    /// Starts over: a new sender, or a clock that stepped.
    void reset() noexcept
    {
        out_.clear();
        back_.clear();
        exchanges_ = 0;
        recent_count_ = 0;
        estimate_.reset();
    }

    /// Exchanges since the last reset(): with two, the rate has a first value.
    [[nodiscard]] std::size_t exchanges() const noexcept { return exchanges_; }
    [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_; }
    [[nodiscard]] std::uint64_t refused() const noexcept { return refused_; }
    /// Exchanges that contradicted the estimate when they came...
    [[nodiscard]] std::uint64_t contradicted() const noexcept { return contradicted_; }
    /// ...of those, the ones left out for good (too few others agreed)...
    [[nodiscard]] std::uint64_t ignored() const noexcept { return ignored_; }
    /// ...and the times enough of them restarted the estimate.
    [[nodiscard]] std::uint64_t restarts() const noexcept { return restarts_; }
    /// Times the history was cut because no line kept to it.
    [[nodiscard]] std::uint64_t narrowings() const noexcept { return narrowings_; }

private:
    void take(const clock_exchange& e) noexcept
    {
        ++accepted_;
        ++exchanges_;
        const double slope = estimate_ ? estimate_->rate_ppm * 1e-6 : 0.0;
        out_.add({e.t1.count(), (e.t2 - e.t1).count()}, +1, slope);
        back_.add({e.t4.count(), (e.t3 - e.t4).count()}, -1, slope);
        const std::int64_t oldest = out_.newest().x - history.count();
        out_.forget_before(oldest);
        back_.forget_before(oldest);
        fit();
        // Halving, but never below kept_when_narrowing bounds a side: a
        // crossing at the newest bound itself (a forgery inside the
        // tolerance) is not cured by forgetting, and a rate from a handful
        // of bounds close together is worse than the crossing. Each pass
        // drops something or stops, so this ends within log2(capacity).
        while (half_width_ < -static_cast<double>(crossing_tolerance.count()) &&
               out_.size() >= 2 * kept_when_narrowing && back_.size() >= 2 * kept_when_narrowing) {
            const std::size_t before = out_.size() + back_.size();
            const std::int64_t middle = out_.at(out_.size() / 2).x;
            out_.forget_before(middle);
            back_.forget_before(middle);
            if (out_.size() + back_.size() == before) break;
            ++narrowings_;
            fit();
        }
    }

    // Whether the trip out was faster than the estimate's floor allows, or
    // the trip back than its ceiling, by more than the tolerance.
    [[nodiscard]] bool contradicts(const clock_exchange& e) const noexcept
    {
        if (!estimate_) return false;
        const clock_estimate& est = *estimate_;
        const auto offset_at = [&](std::chrono::nanoseconds t) { return est.sender_time(t) - t; };
        // The corridor's edges, which cross when the bounds already disagree
        // with any line: then the floor is the higher.
        const std::chrono::nanoseconds half{std::llround(half_width_)};
        const bool out_too_fast = e.t2 - e.t1 < offset_at(e.t1) - half - contradiction_tolerance;
        const bool back_too_fast = e.t3 - e.t4 > offset_at(e.t4) + half + contradiction_tolerance;
        return out_too_fast || back_too_fast;
    }

    // One bound: at listener time x (ns), the offset is at most (a trip
    // out) or at least (a trip back) y (ns).
    struct bound {
        std::int64_t x = 0;
        std::int64_t y = 0;
    };

    // The bounds of one side, by time, and the convex hull that every line
    // within them must keep to: from below for upper bounds (side +1), from
    // above for lower ones (side -1).
    class bounds {
    public:
        void clear() noexcept
        {
            count_ = 0;
            width_ = 0;
        }
        [[nodiscard]] std::size_t size() const noexcept { return count_; }
        [[nodiscard]] const bound& newest() const noexcept { return bounds_[count_ - 1]; }
        [[nodiscard]] const bound& at(std::size_t i) const noexcept { return bounds_[i]; }

        // `slope`: the drift the estimate knows, taken out to compare two
        // bounds of one bin.
        void add(const bound& b, int side, double slope) noexcept
        {
            if (count_ > 0 && same_bin(bounds_[count_ - 1].x, b.x)) {
                keep_tighter(bounds_[count_ - 1], b, side, slope);
                return;
            }
            while (count_ == capacity) {
                coarsen(side, slope);
                if (same_bin(bounds_[count_ - 1].x, b.x)) {
                    keep_tighter(bounds_[count_ - 1], b, side, slope);
                    return;
                }
            }
            // An answer that overtook an older one's goes before it; two at
            // one instant are one bound, the tighter (the hull and the cut
            // by time both need each instant once).
            std::size_t i = count_;
            while (i > 0 && bounds_[i - 1].x > b.x)
                --i;
            if (i > 0 && bounds_[i - 1].x == b.x) {
                keep_tighter(bounds_[i - 1], b, side, slope);
                return;
            }
            std::copy_backward(bounds_.begin() + static_cast<std::ptrdiff_t>(i),
                               bounds_.begin() + static_cast<std::ptrdiff_t>(count_),
                               bounds_.begin() + static_cast<std::ptrdiff_t>(count_ + 1));
            bounds_[i] = b;
            ++count_;
        }

        void forget_before(std::int64_t oldest) noexcept
        {
            std::size_t gone = 0;
            while (gone + 1 < count_ && bounds_[gone].x < oldest)
                ++gone;
            drop_oldest(gone);
        }

        // The hull's vertices, as indices, by time (Andrew's monotone chain).
        std::size_t hull(int side) noexcept
        {
            const double s = side;
            const std::int64_t x0 = count_ > 0 ? bounds_[0].x : 0;
            const std::int64_t y0 = count_ > 0 ? bounds_[0].y : 0;
            const auto rel = [&](std::size_t i) {
                return std::pair{static_cast<double>(bounds_[i].x - x0),
                                 static_cast<double>(bounds_[i].y - y0)};
            };
            std::size_t n = 0;
            for (std::size_t i = 0; i < count_; ++i) {
                const auto [px, py] = rel(i);
                if (n > 0) {
                    const auto [lx, ly] = rel(hull_[n - 1]);
                    if (px == lx) {
                        // Same instant: the tighter bound alone.
                        if (s * (py - ly) >= 0) continue;
                        --n;
                    }
                }
                while (n >= 2) {
                    const auto [ax, ay] = rel(hull_[n - 2]);
                    const auto [bx, by] = rel(hull_[n - 1]);
                    if (s * ((bx - ax) * (py - ay) - (by - ay) * (px - ax)) > 0) break;
                    --n;
                }
                hull_[n++] = static_cast<std::uint16_t>(i);
            }
            hull_count_ = n;
            return n;
        }
        [[nodiscard]] const bound& vertex(std::size_t k) const noexcept
        {
            return bounds_[hull_[k]];
        }

    private:
        [[nodiscard]] bool same_bin(std::int64_t a, std::int64_t b) const noexcept
        {
            return width_ > 0 && floor_div(a, width_) == floor_div(b, width_);
        }
        static std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
        {
            return a / b - (a % b < 0 ? 1 : 0);
        }

        // Into `keep`, the tighter of it and `other` (with the drift taken
        // out).
        static void keep_tighter(bound& keep, const bound& other, int side, double slope) noexcept
        {
            const double above = static_cast<double>(other.y - keep.y) -
                                 slope * static_cast<double>(other.x - keep.x);
            if (side * above < 0) keep = other;
        }

        // Doubles the bins' width (the first, bin_width) and merges the bounds
        // that now share one: the tightest of each stretch of time stays, and
        // a hull rests on those. Every stretch is kept at the same grain, so
        // dropping the oldest by age drops one bin's worth.
        void coarsen(int side, double slope) noexcept
        {
            width_ = width_ == 0 ? bin_width.count() : 2 * width_;
            std::size_t kept = 0;
            for (std::size_t i = 0; i < count_; ++i) {
                if (kept > 0 && same_bin(bounds_[kept - 1].x, bounds_[i].x))
                    keep_tighter(bounds_[kept - 1], bounds_[i], side, slope);
                else
                    bounds_[kept++] = bounds_[i];
            }
            count_ = kept;
        }

        void drop_oldest(std::size_t n) noexcept
        {
            n = std::min(n, count_ - 1);
            if (n == 0) return;
            std::copy(bounds_.begin() + static_cast<std::ptrdiff_t>(n),
                      bounds_.begin() + static_cast<std::ptrdiff_t>(count_), bounds_.begin());
            count_ -= n;
        }

        std::array<bound, capacity> bounds_{};
        std::size_t count_ = 0;
        std::int64_t width_ = 0; ///< ns; 0: every exchange its own bound
        std::array<std::uint16_t, capacity> hull_{};
        std::size_t hull_count_ = 0;
    };

    void fit() noexcept
    {
        const std::size_t highs = out_.hull(+1);
        const std::size_t lows = back_.hull(-1);
        const std::int64_t x0 = out_.newest().x;
        const std::int64_t y0 = out_.newest().y;
        const auto rel = [&](const bound& b) {
            return std::pair{static_cast<double>(b.x - x0), static_cast<double>(b.y - y0)};
        };
        // With the drift `slope` taken out: the lowest upper bound and the
        // highest lower bound, wherever they lie in time.
        const auto corridor = [&](double slope) {
            double high = 0;
            double low = 0;
            for (std::size_t k = 0; k < highs; ++k) {
                const auto [x, y] = rel(out_.vertex(k));
                if (k == 0 || y - slope * x < high) high = y - slope * x;
            }
            for (std::size_t k = 0; k < lows; ++k) {
                const auto [x, y] = rel(back_.vertex(k));
                if (k == 0 || y - slope * x > low) low = y - slope * x;
            }
            return std::pair{high, low};
        };
        const auto width = [&](double slope) {
            const auto [high, low] = corridor(slope);
            return high - low;
        };
        // The rate is the one that leaves the widest corridor between the
        // hulls: any other tilts the line into the fastest trips at one end
        // or the other. The width is concave in the rate, with its corners
        // at the hulls' edges, so the widest is found by bisecting them (the
        // lower hull's edges steepen along it; the upper's, walked from
        // its newest back, steepen too).
        std::size_t m = 0;
        {
            std::size_t i = 0;
            std::size_t j = lows > 1 ? lows - 1 : 0; // the upper hull's edges, newest first
            const auto edge = [&](const bounds& side, std::size_t k) {
                const auto [ax, ay] = rel(side.vertex(k));
                const auto [bx, by] = rel(side.vertex(k + 1));
                return (by - ay) / (bx - ax);
            };
            while (i + 1 < highs || j > 0) {
                const bool take_high =
                    j == 0 || (i + 1 < highs && edge(out_, i) <= edge(back_, j - 1));
                slopes_[m++] = take_high ? edge(out_, i++) : edge(back_, --j);
            }
        }
        double slope = 0;
        if (m > 0) {
            std::size_t lo = 0;
            std::size_t hi = m - 1;
            while (lo < hi) {
                const std::size_t mid = lo + (hi - lo) / 2;
                if (width(slopes_[mid]) < width(slopes_[mid + 1]))
                    lo = mid + 1;
                else
                    hi = mid;
            }
            slope = slopes_[lo];
        }
        slope = std::clamp(slope, -max_rate_ppm * 1e-6, max_rate_ppm * 1e-6);
        const auto [high, low] = corridor(slope);
        clock_estimate est;
        est.at = std::chrono::nanoseconds{x0};
        est.offset = std::chrono::nanoseconds{y0 + std::llround((high + low) / 2)};
        half_width_ = (high - low) / 2;
        est.uncertainty = std::chrono::nanoseconds{std::llround(std::abs(half_width_))};
        est.rate_ppm = slope * 1e6;
        estimate_ = est;
    }

    std::array<double, 2 * capacity> slopes_{}; ///< the hulls' edges, by slope
    bounds out_;                                ///< upper bounds, from the trips out: t2 - t1 at t1
    bounds back_; ///< lower bounds, from the trips back: t3 - t4 at t4
    std::optional<clock_estimate> estimate_;
    double half_width_ = 0; ///< ns; negative when the hulls cross
    struct recent_exchange {
        clock_exchange exchange{};
        bool against = false; ///< contradicted the estimate, so held back
    };
    std::array<recent_exchange, recent> recent_{};
    std::size_t recent_first_ = 0;
    std::size_t recent_count_ = 0;
    std::size_t exchanges_ = 0;
    std::uint64_t accepted_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t contradicted_ = 0;
    std::uint64_t ignored_ = 0;
    std::uint64_t restarts_ = 0;
    std::uint64_t narrowings_ = 0;
};

} // namespace audiocast
