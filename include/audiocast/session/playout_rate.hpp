// audiocast — playout that stays at its target latency when clocks disagree.
//
// The sender's clock paces the packets and the audio device's clock paces
// pull(), and no two crystals agree: 50 ppm apart, a 40 ms buffer runs dry
// (or overflows) within 15 minutes, and the receiver would glitch there and
// re-anchor. A persistent change in network delay does the same more slowly.
// So the receiver watches how far playout has moved from its target and
// plays a little faster or slower to close the gap, resampling by at most
// receiver_config::max_rate_adjustment (0.1 % by default, 1.7 cents of pitch).
//
// What is measured, in time since playout was anchored:
//   arrival lateness  = arrival − when the packet was due if it came as fast
//                       as the anchoring packet (network delay and sender clock)
//   playout lateness  = pull time − when the frame at the read position was
//                       due to play (the device clock, and callbacks run late)
// Each is taken as its minimum over a sliding one-to-two-second window: the
// fastest packet and the most punctual callback, so jitter within the
// window costs nothing. Their difference, when the first window is full, is
// the latency playout started with (a sender that sends in bursts, as ffmpeg
// does, makes the fastest packets early by design); the error is how far it
// has moved since. A proportional controller with hysteresis turns it into a
// rate adjustment once it passes an eighth of the target latency.
//
// The resampler is a four-point cubic (Catmull-Rom) interpolator that sits in
// front of the jitter buffer's reader. While the rate is exactly 1 and the
// phase 0 it is out of the way and playout is bit-exact; when the controller
// lets go, it carries on in the same direction until the phase comes round
// to a whole frame, then hands back.
#pragma once

#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

namespace audiocast {

/// The largest receiver_config::max_rate_adjustment: 1 %, about 17 cents.
inline constexpr double max_playout_rate_adjustment = 0.01;

/// The smallest value added over the last one to two `bucket`s of time: a
/// sliding minimum in two buckets, constant time and memory.
class windowed_minimum {
public:
    explicit windowed_minimum(std::chrono::nanoseconds bucket) noexcept : bucket_{bucket} {}

    void reset() noexcept { has_current_ = has_previous_ = false; }

    void add(std::int64_t value, time_point t) noexcept
    {
        if (has_current_ && t - start_ < bucket_) {
            current_ = std::min(current_, value);
            return;
        }
        // A bucket is complete. One older than a bucket ago is stale: after a
        // gap (a pause) the window starts again.
        has_previous_ = has_current_ && t - start_ < 2 * bucket_;
        previous_ = current_;
        current_ = value;
        start_ = t;
        has_current_ = true;
    }

    /// Unset until a whole bucket has been seen.
    [[nodiscard]] std::optional<std::int64_t> value() const noexcept
    {
        if (!has_previous_) return std::nullopt;
        return std::min(previous_, current_);
    }

private:
    std::chrono::nanoseconds bucket_;
    bool has_current_ = false;
    bool has_previous_ = false;
    std::int64_t current_ = 0;
    std::int64_t previous_ = 0;
    time_point start_{};
};

/// Turns arrival and playout lateness into a rate adjustment; see the file comment.
class playout_rate_controller {
public:
    /// The window buckets: minima are over the last one to two of them.
    static constexpr std::chrono::nanoseconds window = std::chrono::seconds{1};
    /// An error of e plays e / time_constant faster (or slower), up to the limit.
    static constexpr double time_constant_s = 5.0;

    /// Corrections start when the error passes an eighth of the target
    /// latency (1 ms at least) and stop within a quarter of that: smaller
    /// errors cost nothing audible, and playout stays bit-exact meanwhile.
    playout_rate_controller(double max_adjustment, std::chrono::nanoseconds latency) noexcept
        : max_adjustment_{std::clamp(max_adjustment, 0.0, max_playout_rate_adjustment)},
          engage_{std::max<std::chrono::nanoseconds>(std::chrono::milliseconds{1}, latency / 8)},
          release_{engage_ / 4}
    {}

    [[nodiscard]] std::chrono::nanoseconds engage() const noexcept { return engage_; }
    [[nodiscard]] std::chrono::nanoseconds release() const noexcept { return release_; }

    void reset() noexcept
    {
        arrival_.reset();
        playout_.reset();
        reference_.reset();
        engaged_ = false;
        adjustment_ = 0;
    }

    void on_arrival(std::chrono::nanoseconds lateness, time_point t) noexcept
    {
        arrival_.add(lateness.count(), t);
    }

    /// Once a pull, with how late the read position plays; updates adjustment().
    void on_playout(std::chrono::nanoseconds lateness, time_point t) noexcept
    {
        playout_.add(lateness.count(), t);
        if (!reference_)
            if (const auto playout = playout_.value(), arrival = arrival_.value();
                playout && arrival)
                reference_ = std::chrono::nanoseconds{*playout - *arrival};
        const std::optional<std::chrono::nanoseconds> e = error();
        if (!e || max_adjustment_ == 0) {
            engaged_ = false;
            adjustment_ = 0;
            return;
        }
        const auto size = e->count() < 0 ? -*e : *e;
        if (!engaged_ && size > engage_) engaged_ = true;
        if (engaged_ && size < release_) engaged_ = false;
        adjustment_ = engaged_
                          ? std::clamp(std::chrono::duration<double>(*e).count() / time_constant_s,
                                       -max_adjustment_, max_adjustment_)
                          : 0.0;
    }

    /// How much later the fastest packets play than they did when the first
    /// window was full (negative: earlier); unset until both windows are.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> error() const noexcept
    {
        const auto playout = playout_.value();
        const auto arrival = arrival_.value();
        if (!playout || !arrival || !reference_) return std::nullopt;
        return std::chrono::nanoseconds{*playout - *arrival} - *reference_;
    }

    /// Playout speed − 1: positive plays faster and sheds latency.
    [[nodiscard]] double adjustment() const noexcept { return adjustment_; }

private:
    double max_adjustment_;
    std::chrono::nanoseconds engage_;
    std::chrono::nanoseconds release_;
    windowed_minimum arrival_{window};
    windowed_minimum playout_{window};
    std::optional<std::chrono::nanoseconds> reference_;
    bool engaged_ = false;
    double adjustment_ = 0;
};

/// Reads source frames at a rate a little off 1 with four-point cubic
/// interpolation; exact copies while the rate is 1 and the phase 0.
class playout_resampler {
public:
    explicit playout_resampler(unsigned channels)
        : channels_{channels}, history_(std::size_t{4} * channels)
    {}

    /// Forgets the frames taken and the phase (a re-anchor, a drain).
    void reset() noexcept
    {
        pending_ = 0;
        phase_ = 0;
        fresh_ = true;
    }

    /// The rate from now on: 1 + adjustment source frames per frame played.
    void set_adjustment(double adjustment) noexcept
    {
        adjustment_ = static_cast<std::int64_t>(std::llround(adjustment * one));
        if (adjustment_ != 0) {
            settle_up_ = adjustment_ > 0;
            settle_ = std::max(adjustment_ < 0 ? -adjustment_ : adjustment_, min_settle);
        }
    }

    /// False when pull() may read the jitter buffer directly: rate 1, phase 0
    /// and no frame taken ahead.
    [[nodiscard]] bool active() const noexcept
    {
        return adjustment_ != 0 || phase_ != 0 || pending_ != 0;
    }

    /// Source frames taken and not yet played past: 0-3.
    [[nodiscard]] std::size_t pending() const noexcept { return pending_; }
    /// The read position's fraction of a frame, 0 to below 1.
    [[nodiscard]] double phase() const noexcept { return static_cast<double>(phase_) / one; }
    /// Frames played that were interpolated, not copied.
    [[nodiscard]] std::uint64_t interpolated() const noexcept { return interpolated_; }

    /// Fills `out` (whole frames) and returns the frames written. `next`,
    /// called as next(std::span<std::int32_t> frame) -> bool, gives the next
    /// source frame; when it has none, the frames taken are played out at
    /// whole positions and fewer frames than asked are returned.
    template <class Next>
    std::size_t process(std::span<std::int32_t> out, Next&& next) noexcept
    {
        const std::size_t frames = out.size() / channels_;
        for (std::size_t n = 0; n < frames; ++n) {
            const std::size_t need = phase_ == 0 ? 1 : 3;
            while (pending_ < need && take(next))
                ;
            const bool dry = pending_ < need;
            if (dry) {
                if (pending_ == 0) return n;
                phase_ = 0; // no interpolating past the source's end: play out what was taken
            }
            std::int32_t* dest = out.data() + n * channels_;
            if (phase_ == 0) {
                std::copy_n(frame(1), channels_, dest);
            } else {
                interpolate(dest);
                ++interpolated_;
            }
            advance(next, dry);
        }
        return frames;
    }

private:
    static constexpr std::int64_t one = std::int64_t{1} << 32;
    // Settling after a small adjustment still ends within about 0.4 s at 48 kHz.
    static constexpr std::int64_t min_settle = one / 20'000; // 50 ppm

    // Frame i of the history ring: 0 the one before the read position, 1 at
    // it, 2 and 3 after it.
    std::int32_t* frame(std::size_t i) noexcept
    {
        return history_.data() + ((base_ + i) & 3) * channels_;
    }

    template <class Next>
    bool take(Next& next) noexcept
    {
        std::int32_t* slot = frame(1 + pending_);
        if (!next(std::span<std::int32_t>{slot, channels_})) return false;
        // The frame before the first has never been seen; repeating the
        // first costs a fraction of one frame's accuracy.
        if (fresh_) std::copy_n(slot, channels_, frame(0));
        fresh_ = false;
        ++pending_;
        return true;
    }

    void interpolate(std::int32_t* dest) noexcept
    {
        const double t = static_cast<double>(phase_) / one;
        const std::int32_t *p0 = frame(0), *p1 = frame(1), *p2 = frame(2), *p3 = frame(3);
        for (unsigned c = 0; c < channels_; ++c) {
            const double a = p0[c], b = p1[c], d = p2[c], e = p3[c];
            const double y =
                b + 0.5 * t * (d - a + t * (2 * a - 5 * b + 4 * d - e + t * (3 * (b - d) + e - a)));
            // The cubic overshoots near full scale; clip rather than wrap.
            dest[c] = static_cast<std::int32_t>(
                std::clamp(std::nearbyint(y), double{std::numeric_limits<std::int32_t>::min()},
                           double{std::numeric_limits<std::int32_t>::max()}));
        }
    }

    template <class Next>
    void advance(Next& next, bool dry) noexcept
    {
        std::int64_t step = dry ? one : one + adjustment_;
        bool snap = false;
        if (!dry && adjustment_ == 0 && phase_ != 0) {
            // Let go: keep moving the same way until the phase reaches a whole frame.
            step = settle_up_ ? one + settle_ : one - settle_;
            const std::int64_t end = static_cast<std::int64_t>(phase_) + step;
            snap = settle_up_ ? end >= 2 * one : end < one;
        }
        std::int64_t position = static_cast<std::int64_t>(phase_) + step;
        if (snap) position = settle_up_ ? 2 * one : one;
        for (std::int64_t whole = position >> 32; whole > 0; --whole) {
            if (pending_ == 0 && !take(next)) break;
            base_ = (base_ + 1) & 3;
            --pending_;
        }
        phase_ = static_cast<std::uint32_t>(position & (one - 1));
    }

    unsigned channels_;
    std::vector<std::int32_t> history_;
    std::size_t base_ = 0;
    std::size_t pending_ = 0;
    std::uint32_t phase_ = 0;
    bool fresh_ = true;
    std::int64_t adjustment_ = 0;
    bool settle_up_ = true;
    std::int64_t settle_ = min_settle;
    std::uint64_t interpolated_ = 0;
};

} // namespace audiocast
