// audiocast — the playout resampler: the stream read a little faster or
// slower than it was sent, for the rate controller (session/playout_rate.hpp).
//
// It sits in front of the jitter buffer's reader: a 32-point Kaiser-windowed
// sinc whose error on a tone is below -95 dB up to 0.8 of the Nyquist
// frequency (tests/unit/playout_rate.cpp), so interpolated frames sound like
// copied ones. While the rate is exactly 1 and the phase 0 it is out of the
// way and playout is bit-exact; when the controller lets go, it carries on in
// the same direction until the phase comes round to a whole frame, then hands
// back. Stereo is filtered with AVX2 and FMA where the CPU has them
// (detail/sinc_avx2.hpp).
#pragma once

#include <audiocast/detail/sinc_avx2.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

namespace audiocast {

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
        : channels_{channels}, history_(2 * ring * channels), table_{&detail::sinc_table::get()},
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
        // In at most two runs of slots, each copied to both its places.
        const std::int32_t* from = played.data() + (frames - keep) * channels_;
        for (std::size_t done = 0; done < keep;) {
            const std::size_t run = std::min(keep - done, ring - base_);
            std::int32_t* slot = history_.data() + base_ * channels_;
            std::copy_n(from + done * channels_, run * channels_, slot);
            std::copy_n(from + done * channels_, run * channels_, slot + ring * channels_);
            base_ = (base_ + run) & (ring - 1);
            done += run;
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
    // Every frame is kept twice, at its slot and `ring` frames on, so the
    // filter's window is contiguous wherever it starts.
    std::int32_t* frame_at(std::ptrdiff_t offset) noexcept
    {
        const auto slot =
            static_cast<std::size_t>(static_cast<std::ptrdiff_t>(base_) + offset) & (ring - 1);
        return history_.data() + slot * channels_;
    }

    void mirror(std::int32_t* slot) noexcept
    {
        std::copy_n(slot, channels_, slot + ring * channels_);
    }

    template <class Next>
    bool take(Next& next) noexcept
    {
        std::int32_t* slot = frame_at(static_cast<std::ptrdiff_t>(pending_));
        if (!next(std::span<std::int32_t>{slot, channels_})) return false;
        mirror(slot);
        ++pending_;
        return true;
    }

    static constexpr int taps = detail::sinc_table::taps;
    // Taps summed in parallel: independent partial sums, so the additions do
    // not wait on each other (and the compiler may use vector registers).
    static constexpr int taps_per_step = 4;

    void interpolate(std::int32_t* dest) noexcept
    {
        constexpr int phases = detail::sinc_table::phases;
        // Between two rows of the table, linearly.
        const std::uint64_t scaled = std::uint64_t{phase_} * phases;
        const auto row = static_cast<std::size_t>(scaled >> 32);
        const double between = static_cast<double>(scaled & (one - 1)) / one;
        const float* low = table_->weights.data() + row * taps;
        const float* high = low + taps;
        const std::int32_t* window = frame_at(-(taps / 2 - 1));
        if (channels_ == 2 && simd_) {
            detail::sinc_avx2::stereo<taps>(low, high, between, window, dest);
            return;
        }
        std::array<double, taps> weight;
        for (int j = 0; j < taps; ++j)
            weight[static_cast<std::size_t>(j)] = low[j] + between * (high[j] - low[j]);
        if (channels_ == 2)
            interpolate_fixed<2>(weight, window, dest);
        else if (channels_ == 1)
            interpolate_fixed<1>(weight, window, dest);
        else
            interpolate_any(weight, window, dest);
    }

    template <unsigned Channels>
    static void interpolate_fixed(const std::array<double, taps>& weight,
                                  const std::int32_t* window, std::int32_t* dest) noexcept
    {
        constexpr unsigned lanes = taps_per_step * Channels;
        std::array<double, lanes> partial{};
        for (int j = 0; j < taps; j += taps_per_step) {
            const std::int32_t* f = window + static_cast<std::size_t>(j) * Channels;
            for (unsigned l = 0; l < lanes; ++l)
                partial[l] += weight[static_cast<std::size_t>(j) + l / Channels] * f[l];
        }
        for (unsigned c = 0; c < Channels; ++c) {
            double sum = 0;
            for (unsigned t = 0; t < taps_per_step; ++t)
                sum += partial[t * Channels + c];
            dest[c] = clipped(sum);
        }
    }

    void interpolate_any(const std::array<double, taps>& weight, const std::int32_t* window,
                         std::int32_t* dest) noexcept
    {
        std::fill(accumulator_.begin(), accumulator_.end(), 0.0);
        for (int j = 0; j < taps; ++j) {
            const std::int32_t* f = window + static_cast<std::size_t>(j) * channels_;
            for (unsigned c = 0; c < channels_; ++c)
                accumulator_[c] += weight[static_cast<std::size_t>(j)] * f[c];
        }
        for (unsigned c = 0; c < channels_; ++c)
            dest[c] = clipped(accumulator_[c]);
    }

    // A full-scale signal can ring past the limits; clip rather than wrap.
    static std::int32_t clipped(double v) noexcept
    {
        return static_cast<std::int32_t>(
            std::clamp(std::nearbyint(v), double{std::numeric_limits<std::int32_t>::min()},
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
    bool simd_ = detail::sinc_avx2::available();
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
