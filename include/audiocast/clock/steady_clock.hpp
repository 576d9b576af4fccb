// audiocast — the real clock.
#pragma once

#include <audiocast/time.hpp>

#include <chrono>

namespace audiocast {

/// The `clock` policy for real streams (requirements in concepts.hpp).
///
/// now() reads std::chrono::steady_clock, which never goes back, so pacing and
/// playout survive NTP steps; wall_now() reads std::chrono::system_clock for
/// send stamps, which only mean something between hosts that share a clock.
/// Stateless: every copy tells the same time.
class steady_clock {
public:
    [[nodiscard]] time_point now() const noexcept
    {
        return std::chrono::time_point_cast<time_point::duration>(std::chrono::steady_clock::now());
    }

    [[nodiscard]] wall_time wall_now() const noexcept
    {
        // system_clock ticks in ns (libstdc++), us (libc++) or 100 ns (MSVC);
        // all convert exactly to ns.
        return std::chrono::time_point_cast<wall_time::duration>(std::chrono::system_clock::now());
    }
};

} // namespace audiocast
