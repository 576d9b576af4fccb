#include <audiocast/session/sequence_tracker.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>

using audiocast::sequence_tracker;
using verdict = sequence_tracker::verdict;

namespace {

// Numerical Recipes' 32-bit LCG: a fixed, seeded pattern of loss and reordering.
struct lcg {
    std::uint32_t state;
    std::uint32_t percent() noexcept
    {
        state = state * 1664525u + 1013904223u;
        return (state >> 16) % 100;
    }
};

// A valid tracker whose stream began at `first` (probation run first, first + 1).
sequence_tracker started_at(std::uint16_t first)
{
    sequence_tracker t;
    t.reset(first);
    REQUIRE(t.update(static_cast<std::uint16_t>(first + 1)) == verdict::in_order);
    return t;
}

} // namespace

TEST_CASE("a source is in probation until two consecutive packets arrive", "[sequence_tracker]")
{
    sequence_tracker t;
    CHECK_FALSE(t.valid());
    CHECK(t.update(1000) == verdict::probation);
    CHECK_FALSE(t.valid());
    CHECK(t.received() == 0u);
    CHECK(t.expected() == 0u);

    // The packet that completes probation is in order, and the whole run counts.
    CHECK(t.update(1001) == verdict::in_order);
    CHECK(t.valid());
    CHECK(t.received() == 2u);
    CHECK(t.expected() == 2u);
    CHECK(t.lost() == 0);
    CHECK(t.extended_max() == 1001u);

    CHECK(t.update(1002) == verdict::in_order);
    CHECK(t.received() == 3u);
}

TEST_CASE("reset takes the first packet, and updating with it again is a duplicate",
          "[sequence_tracker]")
{
    sequence_tracker t;
    t.reset(7);
    CHECK_FALSE(t.valid());
    CHECK(t.update(7) == verdict::duplicate);
    CHECK(t.update(8) == verdict::in_order);
    CHECK(t.received() == 2u);
    CHECK(t.expected() == 2u);
}

TEST_CASE("probation tolerates a gap and counts the loss from the first packet",
          "[sequence_tracker]")
{
    sequence_tracker t;
    CHECK(t.update(500) == verdict::probation);
    CHECK(t.update(502) == verdict::in_order); // 501 lost on the way
    CHECK(t.received() == 2u);
    CHECK(t.expected() == 3u);
    CHECK(t.lost() == 1);
}

TEST_CASE("probation tolerates reordering and takes the lowest packet as the base",
          "[sequence_tracker]")
{
    sequence_tracker t;
    CHECK(t.update(503) == verdict::probation);
    CHECK(t.update(501) == verdict::in_order);
    CHECK(t.update(500) == verdict::reordered);
    CHECK(t.update(502) == verdict::reordered);
    CHECK(t.update(501) == verdict::duplicate);
    CHECK(t.received() == 4u);
    CHECK(t.lost() == 0);
}

TEST_CASE("a packet far from the probation run starts the run again", "[sequence_tracker]")
{
    sequence_tracker t;
    CHECK(t.update(500) == verdict::probation);
    CHECK(t.update(9000) == verdict::probation); // a stray: the run restarts here
    CHECK(t.update(9001) == verdict::in_order);
    CHECK(t.received() == 2u); // 9000 and 9001
    CHECK(t.expected() == 2u);
    CHECK(t.lost() == 0);
}

TEST_CASE("a probation run may cross the sequence wrap", "[sequence_tracker]")
{
    sequence_tracker t;
    CHECK(t.update(65535) == verdict::probation);
    CHECK(t.update(0) == verdict::in_order);
    CHECK(t.received() == 2u);
    CHECK(t.expected() == 2u);
    CHECK(t.extended_max() == 65536u); // one cycle, sequence number 0
}

TEST_CASE("received plus lost equals sent under a seeded drop pattern", "[sequence_tracker]")
{
    constexpr std::uint16_t first = 65000; // the run crosses the wrap at packet 536
    constexpr std::uint32_t sent = 5000;
    lcg rng{12345};
    sequence_tracker t;
    std::uint64_t delivered = 0;
    std::uint64_t dropped_before_last = 0;
    std::uint64_t dropped_since_delivery = 0;
    std::uint32_t last_delivered = 0;

    for (std::uint32_t i = 0; i < sent; ++i) {
        // The first two are kept so that the probation run starts at packet 0.
        if (i >= 2 && rng.percent() < 10) {
            ++dropped_since_delivery;
            continue;
        }
        const auto v = t.update(static_cast<std::uint16_t>(first + i));
        CHECK(v == (i == 0 ? verdict::probation : verdict::in_order));
        ++delivered;
        dropped_before_last += dropped_since_delivery;
        dropped_since_delivery = 0;
        last_delivered = i;
    }

    REQUIRE(delivered > 4000u); // the pattern did drop about a tenth
    REQUIRE(dropped_before_last > 400u);
    CHECK(t.received() == delivered);
    CHECK(t.lost() == static_cast<std::int64_t>(dropped_before_last));
    CHECK(t.received() + static_cast<std::uint64_t>(t.lost()) == last_delivered + 1u);
    CHECK(t.expected() == last_delivered + 1u);
    CHECK(t.extended_max() == first + std::uint64_t{last_delivered});
    CHECK(t.duplicates() == 0u);
}

TEST_CASE("received plus lost equals sent under seeded drops and reordering", "[sequence_tracker]")
{
    constexpr std::uint16_t first = 40000;
    constexpr std::uint32_t sent = 3000;
    lcg rng{777};
    sequence_tracker t;
    std::uint64_t delivered = 0;
    std::uint64_t reordered = 0;
    bool holding = false;
    std::uint16_t held = 0;

    const auto deliver = [&](std::uint16_t seq) {
        const auto v = t.update(seq);
        CHECK(v != verdict::bad);
        CHECK(v != verdict::duplicate);
        if (v == verdict::reordered) ++reordered;
        ++delivered;
    };

    for (std::uint32_t i = 0; i < sent; ++i) {
        const auto seq = static_cast<std::uint16_t>(first + i);
        const auto roll = i < 2 ? 99u : rng.percent();
        if (roll < 10) continue;     // dropped
        if (roll < 15 && !holding) { // held back, arrives after the next packet
            holding = true;
            held = seq;
            continue;
        }
        deliver(seq);
        if (holding) {
            deliver(held);
            holding = false;
        }
    }
    if (holding) deliver(held); // nothing came after it

    REQUIRE(reordered > 50u);
    CHECK(t.reordered() == reordered);
    CHECK(t.received() == delivered);
    CHECK(t.received() + static_cast<std::uint64_t>(t.lost()) == t.expected());
    CHECK(t.expected() == t.extended_max() - first + 1);
    CHECK(t.lost() >= 0);
}

TEST_CASE("the sequence wrap from 65535 to 0 is in order and loses nothing", "[sequence_tracker]")
{
    auto t = started_at(65533);
    CHECK(t.update(65535) == verdict::in_order);
    CHECK(t.update(0) == verdict::in_order);
    CHECK(t.update(1) == verdict::in_order);
    CHECK(t.update(2) == verdict::in_order);
    CHECK(t.received() == 6u);
    CHECK(t.expected() == 6u);
    CHECK(t.lost() == 0);
    CHECK(t.extended_max() == 65538u); // 1 << 16 plus 2
}

TEST_CASE("duplicates are reported and not counted as received", "[sequence_tracker]")
{
    auto t = started_at(10); // 10, 11
    CHECK(t.update(12) == verdict::in_order);
    CHECK(t.update(12) == verdict::duplicate); // the newest again
    CHECK(t.update(11) == verdict::duplicate); // an older one again
    CHECK(t.update(10) == verdict::duplicate); // a probation packet again
    CHECK(t.received() == 3u);
    CHECK(t.duplicates() == 3u);
    CHECK(t.lost() == 0);
}

TEST_CASE("a reordered packet counts once as reordered and not as lost", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.update(13) == verdict::in_order); // 12 not here yet
    CHECK(t.lost() == 1);
    CHECK(t.update(12) == verdict::reordered);
    CHECK(t.lost() == 0);
    CHECK(t.received() == 4u);
    CHECK(t.reordered() == 1u);
    CHECK(t.update(12) == verdict::duplicate); // and a second copy is a duplicate
    CHECK(t.reordered() == 1u);
    CHECK(t.received() == 4u);
    CHECK(t.extended_max() == 13u);
}

TEST_CASE("a packet 99 behind is reordered, one 100 behind is bad", "[sequence_tracker]")
{
    auto t = started_at(1000);
    // Skip 1002 and 1003 so that two old, unseen numbers exist.
    for (std::uint16_t s = 1004; s <= 1102; ++s)
        REQUIRE(t.update(s) == verdict::in_order);
    CHECK(t.update(1003) == verdict::reordered); // 1102 - 99
    CHECK(t.update(1002) == verdict::bad);       // 1102 - 100: A.1 MAX_MISORDER
    CHECK(t.received() == 2u + 99u + 1u);
    CHECK(t.lost() == 1);
}

TEST_CASE("a packet overtaken by the first counted one moves the base down", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.update(8) == verdict::reordered);
    CHECK(t.received() == 3u);
    CHECK(t.lost() == 1); // 9 is missing
    CHECK(t.update(9) == verdict::reordered);
    CHECK(t.lost() == 0);
}

TEST_CASE("a packet from before the first cycle is refused", "[sequence_tracker]")
{
    auto t = started_at(2);
    CHECK(t.update(65'530) == verdict::bad);
    CHECK(t.received() == 2u);
}

TEST_CASE("a large jump followed by its successor restarts the sequence", "[sequence_tracker]")
{
    auto t = started_at(10); // 10, 11
    CHECK(t.update(12) == verdict::in_order);
    CHECK(t.update(13) == verdict::in_order);
    CHECK(t.update(9000) == verdict::bad); // 8987 ahead: more than max_dropout
    CHECK(t.received() == 4u);
    CHECK(t.update(9001) == verdict::restarted);
    // A.1 init_seq(): counts begin again at 9001, as packet 1 of the new sequence.
    CHECK(t.valid());
    CHECK(t.received() == 1u);
    CHECK(t.expected() == 1u);
    CHECK(t.extended_max() == 9001u);
    CHECK(t.update(9003) == verdict::in_order);
    CHECK(t.received() == 2u);
    CHECK(t.lost() == 1);
}

TEST_CASE("a single stray far packet is refused and changes nothing", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.update(12) == verdict::in_order);
    CHECK(t.update(30000) == verdict::bad);
    CHECK(t.update(13) == verdict::in_order);
    CHECK(t.update(14) == verdict::in_order);
    CHECK(t.received() == 5u);
    CHECK(t.lost() == 0);
    CHECK(t.extended_max() == 14u);
    CHECK(t.duplicates() == 0u);
}

TEST_CASE("a jump of exactly max_dropout is a large jump, one less is in order",
          "[sequence_tracker]")
{
    auto t = started_at(0);
    CHECK(t.update(1 + 2999) == verdict::in_order); // udelta 2999
    CHECK(t.lost() == 2998);
    CHECK(t.update(3000 + 3000) == verdict::bad); // udelta 3000
}

TEST_CASE("fraction lost of one packet in four is 64", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.fraction_lost() == 0); // 2 expected, 2 received
    for (std::uint16_t s : {std::uint16_t{12}, std::uint16_t{14}, std::uint16_t{15}})
        CHECK(t.update(s) == verdict::in_order);
    // Interval: 12..15 expected (4), 3 received, 1 lost: 256 * 1 / 4.
    CHECK(t.fraction_lost() == 64);
    CHECK(t.fraction_lost() == 0); // nothing new since
    CHECK(t.lost() == 1);          // the cumulative count is not reset
}

TEST_CASE("fraction lost is 0 when a late packet makes up an earlier loss", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.update(13) == verdict::in_order);
    CHECK(t.fraction_lost() == 64); // 10..13 expected, 12 missing: 1 of 4
    CHECK(t.update(12) == verdict::reordered);
    CHECK(t.fraction_lost() == 0); // 0 expected, 1 received: A.3 "lost_interval <= 0"
}

TEST_CASE("extended_of places a reordered packet from before a wrap in the previous cycle",
          "[sequence_tracker]")
{
    auto t = started_at(65533);              // 65533, 65534
    CHECK(t.update(0) == verdict::in_order); // 65535 is late
    CHECK(t.update(1) == verdict::in_order);
    CHECK(t.extended_max() == 65537u);
    CHECK(t.extended_of(65535) == 65535u);
    CHECK(t.extended_of(65534) == 65534u);
    CHECK(t.extended_of(1) == 65537u);
    CHECK(t.extended_of(2) == 65538u); // ahead: same cycle
    CHECK(t.update(65535) == verdict::reordered);
    CHECK(t.lost() == 0);
    CHECK(t.received() == 5u);
    CHECK(t.extended_max() == 65537u); // a reordered packet does not move the max
}

TEST_CASE("extended_of looks forward across a wrap", "[sequence_tracker]")
{
    auto t = started_at(65530); // 65530, 65531
    CHECK(t.extended_of(65531) == 65531u);
    CHECK(t.extended_of(3) == 65539u); // 8 ahead, in the next cycle
    CHECK(t.extended_of(65520) == 65520u);
}

TEST_CASE("reset begins a new source and clears every counter", "[sequence_tracker]")
{
    auto t = started_at(10);
    CHECK(t.update(12) == verdict::in_order);
    CHECK(t.update(12) == verdict::duplicate);
    t.reset(500);
    CHECK_FALSE(t.valid());
    CHECK(t.received() == 0u);
    CHECK(t.duplicates() == 0u);
    CHECK(t.update(501) == verdict::in_order);
    CHECK(t.received() == 2u);
    CHECK(t.extended_max() == 501u);
}

TEST_CASE("a receiver of FEC widens MAX_MISORDER: a packet rebuilt 200 behind the newest counts as "
          "reordered, where A.1's 100 takes it for a jump and two such for a restart",
          "[sequence_tracker]")
{
    // A.1's window: a row rebuilt long after (two consecutive packets 200
    // behind) restarts the sequence, and the counts go wrong.
    sequence_tracker narrow = started_at(1000);
    for (std::uint16_t s = 1002; s < 1400; ++s)
        if (s != 1150 && s != 1151) REQUIRE(narrow.update(s) == verdict::in_order);
    CHECK(narrow.update(1150) == verdict::bad);
    CHECK(narrow.update(1151) == verdict::restarted);

    sequence_tracker wide{256};
    CHECK(wide.max_misorder() == 256);
    wide.reset(1000);
    REQUIRE(wide.update(1001) == verdict::in_order);
    for (std::uint16_t s = 1002; s < 1400; ++s)
        if (s != 1150 && s != 1151) REQUIRE(wide.update(s) == verdict::in_order);
    CHECK(wide.update(1150) == verdict::reordered);
    CHECK(wide.update(1151) == verdict::reordered);
    CHECK(wide.update(1151) == verdict::duplicate);
    CHECK(wide.received() == 400);
    // Beyond the wider window it is a jump again.
    CHECK(wide.update(1000 - 200) == verdict::bad);
    // The window never exceeds what duplicates are remembered for.
    CHECK(sequence_tracker{5000}.max_misorder() == sequence_tracker::max_max_misorder);
}
