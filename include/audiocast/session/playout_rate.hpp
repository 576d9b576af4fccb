// audiocast — playout that stays at its latency when clocks disagree.
//
// The sender's clock paces the packets and the audio device's clock paces
// pull(), and no two crystals agree. 50 ppm apart, a fast device runs a
// 40 ms buffer dry within 15 minutes (an underrun, silence, a re-anchor); a
// slow one adds 180 ms of latency an hour until the window overflows. A
// lasting change in network delay does the same at once. So the receiver
// watches how far playout has moved from where it started and takes the
// stream a little faster or slower to bring it back, by resampling within
// receiver_config::max_rate_adjustment (0.1 % by default, 1.7 cents).
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
// The adjustment drives the resampler (session/playout_resampler.hpp). With
// clocks that really disagree (any two crystals) the controller never lets
// go: the integral term holds their drift, and playout resamples at it.
#pragma once

#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
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
    /// Proportional and integral time constants: an error e plays e / 5 s
    /// faster at once, and the integral learns the clocks' drift over 20 s,
    /// so that a steady drift leaves no steady error.
    static constexpr double proportional_s = 5.0;
    static constexpr double integral_s = 20.0;
    /// The integral may let go when the drift it holds is below this.
    static constexpr double negligible_drift = 5e-6;
    /// Synchronized playout corrects faster: an error e plays e / 1 s faster.
    static constexpr double sync_proportional_s = 1.0;
    static constexpr std::chrono::nanoseconds sync_window = std::chrono::milliseconds{250};

    /// Corrections start when the error passes an eighth of the target
    /// latency (1 ms at least) and may stop within a quarter of that: smaller
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
        synced_.reset();
        synced_long_.reset();
        has_last_ = false;
        engaged_ = false;
        integral_ = 0;
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
        const double dt = step(t);
        if (!reference_)
            if (const auto playout = playout_.value(), arrival = arrival_.value();
                playout && arrival)
                reference_ = std::chrono::nanoseconds{*playout - *arrival};
        const std::optional<std::chrono::nanoseconds> e = error();
        if (!e || max_adjustment_ == 0) {
            engaged_ = false;
            integral_ = 0;
            adjustment_ = 0;
            return;
        }
        const auto size = e->count() < 0 ? -*e : *e;
        if (!engaged_ && size > engage_) engaged_ = true;
        if (engaged_ && size < release_ && std::abs(integral_) < negligible_drift) {
            engaged_ = false;
            integral_ = 0;
        }
        if (!engaged_) {
            adjustment_ = 0;
            return;
        }
        steer(std::chrono::duration<double>(*e).count(), dt, proportional_s, 0);
    }

    /// Synchronized playout, once a pull instead of on_playout(): `lateness`
    /// is how much later than the common timeline the read position is heard,
    /// and `feed_forward` the adjustment the clocks' known rates ask for. The
    /// most punctual pull of the last quarter to half second counts, so
    /// callback jitter does not steer; the controller is always engaged, so
    /// that playout stays on the timeline to well under the first
    /// controller's threshold.
    void on_sync(std::chrono::nanoseconds lateness, double feed_forward, time_point t) noexcept
    {
        synced_.add(lateness.count(), t);
        synced_long_.add(lateness.count(), t);
        const double dt = step(t);
        const auto e = synced_.value();
        if (!e || max_adjustment_ == 0) {
            adjustment_ = std::clamp(feed_forward, -max_adjustment_, max_adjustment_);
            return;
        }
        engaged_ = true;
        steer(static_cast<double>(*e) * 1e-9, dt, sync_proportional_s, feed_forward);
    }

    /// The synchronized error now (the most punctual pull's), if known.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> sync_error() const noexcept
    {
        return as_duration(synced_.value());
    }
    /// The same over the last one to two seconds: what a realignment goes by,
    /// so that a thread starved for a moment (every pull late) moves nothing.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> settled_sync_error() const noexcept
    {
        return as_duration(synced_long_.value());
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

    /// Frames of the stream per frame played, less 1: positive sheds latency.
    [[nodiscard]] double adjustment() const noexcept { return adjustment_; }
    /// The drift the integral has learned, in the same units.
    [[nodiscard]] double drift() const noexcept { return integral_; }

private:
    // Seconds since the last pull (0 for the first, at most 0.1).
    double step(time_point t) noexcept
    {
        const double dt =
            has_last_ ? std::clamp(std::chrono::duration<double>(t - last_).count(), 0.0, 0.1)
                      : 0.0;
        last_ = t;
        has_last_ = true;
        return dt;
    }

    // The PI step both controllers share: an error of `error_s` plays
    // error_s / proportional faster at once, the integral learns the drift
    // (clamped to the limit, so it cannot wind up), on top of `feed_forward`.
    void steer(double error_s, double dt, double proportional, double feed_forward) noexcept
    {
        integral_ = std::clamp(integral_ + error_s * dt / (proportional * integral_s),
                               -max_adjustment_, max_adjustment_);
        adjustment_ = std::clamp(feed_forward + error_s / proportional + integral_,
                                 -max_adjustment_, max_adjustment_);
    }

    static std::optional<std::chrono::nanoseconds> as_duration(std::optional<std::int64_t> ns)
    {
        if (!ns) return std::nullopt;
        return std::chrono::nanoseconds{*ns};
    }

    double max_adjustment_;
    std::chrono::nanoseconds engage_;
    std::chrono::nanoseconds release_;
    windowed_minimum arrival_{window};
    windowed_minimum playout_{window};
    windowed_minimum synced_{sync_window};
    windowed_minimum synced_long_{window};
    std::optional<std::chrono::nanoseconds> reference_;
    time_point last_{};
    bool has_last_ = false;
    bool engaged_ = false;
    double integral_ = 0;
    double adjustment_ = 0;
};

} // namespace audiocast
