// audiocast — a clock that moves only when a test moves it.
#pragma once

#include <audiocast/time.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace audiocast {

/// The `clock` policy for tests (requirements in concepts.hpp): time stands
/// still until advance() or advance_to() moves it, so pacing, playout and
/// latency come out the same on every run and no test sleeps.
///
/// A manual_clock is a handle: copies share one time, so a loopback_group, a
/// sender and its receivers all built from copies of one clock see one time,
/// and advancing any copy advances them all. Moving copies too, so a
/// moved-from clock still tells the time. wall_now() moves in step with now();
/// it never steps on its own.
///
/// Not thread-safe: one thread drives the clock and everything that reads it.
class manual_clock {
public:
    /// now() starts 1000 s after the epoch, so no test can mistake a real time
    /// for "zero" or "unset"; wall_now() starts at 2026-01-01T00:00:00Z.
    manual_clock()
        : manual_clock(
              time_point{std::chrono::seconds{1000}},
              wall_time{std::chrono::sys_days{std::chrono::year{2026} / std::chrono::January / 1}})
    {}

    explicit manual_clock(time_point start, wall_time wall_start)
        : state_(std::make_shared<state>(state{start, wall_start}))
    {}

    // Declared so that moves copy: a moved-from handle must not lose its time.
    manual_clock(const manual_clock&) = default;
    manual_clock& operator=(const manual_clock&) = default;
    ~manual_clock() = default;

    [[nodiscard]] time_point now() const noexcept { return state_->now; }

    [[nodiscard]] wall_time wall_now() const noexcept { return state_->wall; }

    /// Moves every copy's now() and wall_now() forward by `d`. Throws
    /// std::invalid_argument if `d` is negative (the clock is monotonic) or
    /// would run past the largest time_point; time is then unchanged.
    void advance(std::chrono::nanoseconds d)
    {
        if (d < std::chrono::nanoseconds::zero())
            throw std::invalid_argument("manual_clock::advance(" + std::to_string(d.count()) +
                                        " ns): a clock never goes back; the step must be >= 0");
        // Written as max - d (d >= 0 here) so the check itself cannot overflow.
        if (state_->now > time_point::max() - d || state_->wall > wall_time::max() - d)
            throw std::invalid_argument("manual_clock::advance(" + std::to_string(d.count()) +
                                        " ns): runs past the largest representable time");
        state_->now += d;
        state_->wall += d;
    }

    /// Moves every copy to `t`; wall_now() moves by the same amount. Throws
    /// std::invalid_argument if `t` is before now().
    void advance_to(time_point t)
    {
        if (t < state_->now)
            throw std::invalid_argument(
                "manual_clock::advance_to(" + std::to_string(t.time_since_epoch().count()) +
                " ns): a clock never goes back; now() is " +
                std::to_string(state_->now.time_since_epoch().count()) + " ns");
        advance(t - state_->now);
    }

private:
    struct state {
        time_point now;
        wall_time wall;
    };

    std::shared_ptr<state> state_;
};

} // namespace audiocast
