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
// The resampler sits in front of the jitter buffer's reader: a 32-point
// Kaiser-windowed sinc whose error on a tone is below -95 dB up to 0.8 of the
// Nyquist frequency (tests/unit/playout_rate.cpp), so interpolated frames
// sound like copied ones.
// While the rate is exactly 1 and the phase 0 it is out of the way and
// playout is bit-exact; when the controller lets go, it carries on in the
// same direction until the phase comes round to a whole frame, then hands
// back. With clocks that really disagree (any two crystals) it never lets
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
        const double dt =
            has_last_ ? std::clamp(std::chrono::duration<double>(t - last_).count(), 0.0, 0.1)
                      : 0.0;
        last_ = t;
        has_last_ = true;
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
        const double error_s = std::chrono::duration<double>(*e).count();
        // The integral is clamped to the limit, so it cannot wind up.
        integral_ = std::clamp(integral_ + error_s * dt / (proportional_s * integral_s),
                               -max_adjustment_, max_adjustment_);
        adjustment_ =
            std::clamp(error_s / proportional_s + integral_, -max_adjustment_, max_adjustment_);
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
    double max_adjustment_;
    std::chrono::nanoseconds engage_;
    std::chrono::nanoseconds release_;
    windowed_minimum arrival_{window};
    windowed_minimum playout_{window};
    std::optional<std::chrono::nanoseconds> reference_;
    time_point last_{};
    bool has_last_ = false;
    bool engaged_ = false;
    double integral_ = 0;
    double adjustment_ = 0;
};

namespace detail {

/// The interpolation filter: a Kaiser-windowed sinc of `taps` points at
/// `phases` fractions of a frame (and one more, for interpolating between
/// rows), each row summing to 1. Its cut-off is the Nyquist frequency, so at
/// phase 0 it is the identity and interpolated frames sound like copied ones.
struct sinc_table {
    static constexpr int taps = 32; // frames k-15 ... k+16 around position k + phase
    static constexpr int phases = 512;
    static constexpr double beta = 10.0; // Kaiser: sidelobes near -100 dB

    std::array<float, std::size_t{taps} * (phases + 1)> weights{};

    static double bessel_i0(double x) noexcept
    {
        double sum = 1, term = 1;
        for (int k = 1; k < 40; ++k) {
            term *= (x / (2 * k)) * (x / (2 * k));
            sum += term;
        }
        return sum;
    }

    sinc_table() noexcept
    {
        const double half = taps / 2.0;
        for (int p = 0; p <= phases; ++p) {
            const double phase = static_cast<double>(p) / phases;
            double row[taps];
            double sum = 0;
            for (int j = 0; j < taps; ++j) {
                const double x = (j - (half - 1)) - phase; // distance from k + phase
                const double r = x / half;
                const double window =
                    std::abs(r) >= 1 ? 0.0
                                     : bessel_i0(beta * std::sqrt(1 - r * r)) / bessel_i0(beta);
                const double sinc =
                    x == 0 ? 1.0 : std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
                row[j] = sinc * window;
                sum += row[j];
            }
            for (int j = 0; j < taps; ++j)
                weights[static_cast<std::size_t>(p * taps + j)] = static_cast<float>(row[j] / sum);
        }
    }

    /// Built once, on first use (a receiver's construction, not its audio thread).
    static const sinc_table& get() noexcept
    {
        static const sinc_table table;
        return table;
    }
};

} // namespace detail

/// Reads source frames at a rate a little off 1 through a 32-point
/// windowed-sinc interpolator; exact copies while the rate is 1 and the phase
/// 0. It remembers the frames played either way, so it can start
/// interpolating at any frame without a discontinuity.
class playout_resampler {
public:
    /// Frames of lookahead the filter needs past the read position.
    static constexpr std::size_t lookahead = detail::sinc_table::taps / 2;

    explicit playout_resampler(unsigned channels)
        : channels_{channels}, history_(ring * channels), table_{&detail::sinc_table::get()},
          accumulator_(channels)
    {}

    /// Forgets the frames taken and the phase (a re-anchor, a drain): what
    /// played before is silence.
    void reset() noexcept
    {
        pending_ = 0;
        phase_ = 0;
        std::fill(history_.begin(), history_.end(), std::int32_t{0});
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

    /// Source frames taken and not yet played past: 0 to lookahead + 1.
    [[nodiscard]] std::size_t pending() const noexcept { return pending_; }
    /// The read position's fraction of a frame, 0 to below 1.
    [[nodiscard]] double phase() const noexcept { return static_cast<double>(phase_) / one; }
    /// Frames played that were interpolated, not copied.
    [[nodiscard]] std::uint64_t interpolated() const noexcept { return interpolated_; }

    /// While inactive: the frames pull() played directly (whole frames), of
    /// which the last are kept for when interpolation starts.
    void remember(std::span<const std::int32_t> played) noexcept
    {
        const std::size_t frames = played.size() / channels_;
        // Only the frames the filter reaches back to; this runs on every direct read.
        const std::size_t keep = std::min(frames, lookahead - 1);
        for (std::size_t f = frames - keep; f < frames; ++f) {
            std::copy_n(played.data() + f * channels_, channels_, frame_at(0));
            base_ = (base_ + 1) & (ring - 1);
        }
    }

    /// Fills `out` (whole frames) and returns the frames written. `next`,
    /// called as next(std::span<std::int32_t> frame) -> bool, gives the next
    /// source frame; when it has none, the frames taken are played out at
    /// whole positions and fewer frames than asked are returned.
    template <class Next>
    std::size_t process(std::span<std::int32_t> out, Next&& next) noexcept
    {
        const std::size_t frames = out.size() / channels_;
        for (std::size_t n = 0; n < frames; ++n) {
            const std::size_t need = phase_ == 0 ? 1 : lookahead + 1;
            while (pending_ < need && take(next))
                ;
            const bool dry = pending_ < need;
            if (dry) {
                if (pending_ == 0) return n;
                phase_ = 0; // no interpolating past the source's end: play out what was taken
            }
            std::int32_t* dest = out.data() + n * channels_;
            if (phase_ == 0) {
                std::copy_n(frame_at(0), channels_, dest);
            } else {
                interpolate(dest);
                ++interpolated_;
            }
            advance(dry);
        }
        return frames;
    }

private:
    static constexpr std::int64_t one = std::int64_t{1} << 32;
    // Settling after a small adjustment still ends within about 0.4 s at 48 kHz.
    static constexpr std::int64_t min_settle = one / 20'000; // 50 ppm
    static constexpr std::size_t ring = 64; // a power of two above taps + lookahead

    // The frame `offset` frames from the read position (negative: played).
    std::int32_t* frame_at(std::ptrdiff_t offset) noexcept
    {
        const auto slot =
            static_cast<std::size_t>(static_cast<std::ptrdiff_t>(base_) + offset) & (ring - 1);
        return history_.data() + slot * channels_;
    }

    template <class Next>
    bool take(Next& next) noexcept
    {
        std::int32_t* slot = frame_at(static_cast<std::ptrdiff_t>(pending_));
        if (!next(std::span<std::int32_t>{slot, channels_})) return false;
        ++pending_;
        return true;
    }

    void interpolate(std::int32_t* dest) noexcept
    {
        constexpr int taps = detail::sinc_table::taps;
        constexpr int phases = detail::sinc_table::phases;
        // Between two rows of the table, linearly.
        const std::uint64_t scaled = std::uint64_t{phase_} * phases;
        const auto row = static_cast<std::size_t>(scaled >> 32);
        const double between = static_cast<double>(scaled & (one - 1)) / one;
        const float* low = table_->weights.data() + row * taps;
        const float* high = low + taps;
        std::fill(accumulator_.begin(), accumulator_.end(), 0.0);
        for (int j = 0; j < taps; ++j) {
            const double w = low[j] + between * (high[j] - low[j]);
            const std::int32_t* f = frame_at(j - (taps / 2 - 1));
            for (unsigned c = 0; c < channels_; ++c)
                accumulator_[c] += w * f[c];
        }
        // A full-scale signal can ring past the limits; clip rather than wrap.
        for (unsigned c = 0; c < channels_; ++c)
            dest[c] = static_cast<std::int32_t>(std::clamp(
                std::nearbyint(accumulator_[c]), double{std::numeric_limits<std::int32_t>::min()},
                double{std::numeric_limits<std::int32_t>::max()}));
    }

    void advance(bool dry) noexcept
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
        // At most two whole frames; the first is always taken, the second
        // only if the source had one.
        for (std::int64_t whole = position >> 32; whole > 0 && pending_ > 0; --whole) {
            base_ = (base_ + 1) & (ring - 1);
            --pending_;
        }
        phase_ = static_cast<std::uint32_t>(position & (one - 1));
    }

    unsigned channels_;
    std::vector<std::int32_t> history_;
    const detail::sinc_table* table_;
    std::vector<double> accumulator_;
    std::size_t base_ = 0;
    std::size_t pending_ = 0;
    std::uint32_t phase_ = 0;
    std::int64_t adjustment_ = 0;
    bool settle_up_ = true;
    std::int64_t settle_ = min_settle;
    std::uint64_t interpolated_ = 0;
};

} // namespace audiocast
