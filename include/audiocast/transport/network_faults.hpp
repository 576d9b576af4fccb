// audiocast — what a loopback_group's network does to datagrams, and what
// each member saw (transport/loopback.hpp). Plain values: a test builds
// network_faults to describe a bad network and compares loopback_counters
// with what its receivers counted.
#pragma once

#include <chrono>
#include <cstdint>

namespace audiocast {

/// What the network does to datagrams on the way from a sender to each
/// member. Each member's path has its own draws and its own burst state, so
/// one datagram may be lost for one listener and arrive twice at another.
///
/// Out-of-range values are clamped when the group takes them: probabilities
/// to [0, 1] (NaN to 0), durations to >= 0. faults() returns the clamped values.
struct network_faults {
    /// Independent loss probability per datagram, on top of burst loss.
    double loss = 0.0;
    /// Burst loss (Gilbert-Elliott): per datagram, the probability of entering
    /// the bad state; every datagram that arrives in the bad state is lost.
    double burst_start = 0.0;
    /// Per datagram in the bad state, the probability of leaving it; bursts
    /// last 1 / burst_end datagrams on average. 0 makes the first burst endless.
    double burst_end = 1.0;
    /// Probability that a delivered datagram arrives twice; the copy is due
    /// `duplicate_delay` after the original.
    double duplicate = 0.0;
    std::chrono::nanoseconds duplicate_delay{std::chrono::microseconds{100}};
    /// Probability that a delivered datagram is held back by `reorder_delay`,
    /// so that datagrams sent within that time overtake it. Whether one really
    /// is overtaken depends on the send rate: a datagram held 3 ms is overtaken
    /// only by datagrams sent less than 3 ms after it.
    double reorder = 0.0;
    std::chrono::nanoseconds reorder_delay{std::chrono::milliseconds{3}};
    /// Fixed one-way delay. Zero makes a datagram receivable at the same now().
    std::chrono::nanoseconds delay{};
    /// Extra delay per datagram, uniform in [0, jitter] (whole nanoseconds).
    /// Datagrams are received in order of due time, so jitter larger than the
    /// send interval reorders them, as it does on a real network.
    std::chrono::nanoseconds jitter{};
};

/// What one member has seen. `sent` counts what this member sent; the others
/// count what happened on the path to this member. Every datagram offered to a
/// member ends up in exactly one of: lost, overflowed, delivered or still
/// pending(), and each duplicate adds one more. `reordered` counts datagrams
/// held back, whether or not a later one overtook them.
struct loopback_counters {
    std::uint64_t sent = 0;       ///< datagrams this member's send() accepted
    std::uint64_t delivered = 0;  ///< datagrams receive() handed over, copies included
    std::uint64_t lost = 0;       ///< dropped by loss or burst loss
    std::uint64_t duplicated = 0; ///< extra copies made
    std::uint64_t reordered = 0;  ///< held back by reorder_delay
    std::uint64_t overflowed = 0; ///< dropped because the queue held queue_capacity datagrams

    friend constexpr bool operator==(const loopback_counters&, const loopback_counters&) = default;
};

} // namespace audiocast
