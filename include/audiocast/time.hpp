// audiocast — the two kinds of time the library uses.
//
// Sessions are sans-I/O: they never read a clock, they are handed time points.
// `time_point` is monotonic (pacing, playout, arrival); `wall_time` is the
// shared wall clock (send stamps, latency between hosts).
#pragma once

#include <chrono>

namespace audiocast {

/// Monotonic time; its epoch is the clock's own (boot for steady_clock,
/// an arbitrary start for manual_clock).
using time_point = std::chrono::time_point<std::chrono::steady_clock, std::chrono::nanoseconds>;

/// Wall-clock time, comparable between hosts that share a clock (NTP, PTP).
using wall_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

} // namespace audiocast
