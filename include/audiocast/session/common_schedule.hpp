// audiocast — the common timeline on one listener's clock (docs/architecture.md,
// Synchronized playout): when the frame at each playout position is to be
// heard. The receiver session builds it from the source's media clock (its
// packets' send times, or its last sender report) and its estimate of the
// source's clock (session/sender_clock.hpp); the
// playout timeline plays to it (session/playout.hpp).
#pragma once

#include <audiocast/time.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>

namespace audiocast {

/// The frame at `position` is heard at `heard`, each later one `frame_ns`
/// after the one before (the source's frame period on our clock);
/// `feed_forward` is the rate adjustment that spacing asks of an audio
/// device that runs on our clock.
struct common_schedule {
    std::uint64_t position = 0;
    time_point heard{};
    double frame_ns = 0;
    double feed_forward = 0;

    [[nodiscard]] time_point heard_at(std::uint64_t p) const noexcept
    {
        // Positions wrap modulo 2^64: only the difference counts.
        const auto frames = static_cast<double>(static_cast<std::int64_t>(p - position));
        return heard + std::chrono::nanoseconds{std::llround(frames * frame_ns)};
    }
};

} // namespace audiocast
