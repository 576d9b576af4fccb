// The bookkeeping of a late joiner's SRTP rollover-counter search
// (docs/architecture.md, Packet protection): which ROCs a packet may try,
// and the budget that keeps forgeries from buying CPU. Time is given, not read.
#include <audiocast/protection/srtp_rollover_search.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

using namespace std::chrono_literals;
using audiocast::srtp_rollover_search;

namespace {
const srtp_rollover_search::time_point t0{};
}

TEST_CASE("ROC search: a source is tried only when a packet follows its last in sequence, from "
          "ROC 1 upward, and leaves the search when found")
{
    using rs = srtp_rollover_search;
    srtp_rollover_search search;
    auto s = search.next(0xAB, 500, t0);
    CHECK(s.count == 0); // the first packet: nothing known about the source yet
    CHECK(search.searching(0xAB));

    s = search.next(0xAB, 502, t0); // one lost between: still in sequence
    CHECK(s.first == 1);
    CHECK(s.count == rs::burst_trials - rs::stream_cost); // its stream paid for once
    search.tried(0xAB, s.first + s.count, false);

    // Out of sequence (a repeat, or far ahead): no trials, and the source's
    // place is kept; the packet after a gap is in sequence with it.
    CHECK(search.next(0xAB, 502, t0 + 1s).count == 0);
    CHECK(search.next(0xAB, 9'000, t0 + 1s).count == 0);
    s = search.next(0xAB, 9'001, t0 + 1s);
    CHECK(s.first == 1 + rs::burst_trials - rs::stream_cost);
    CHECK(s.count == rs::burst_trials);
    search.tried(0xAB, s.first + 7, true);
    CHECK_FALSE(search.searching(0xAB));
    CHECK(search.found() == 1);
}

TEST_CASE("ROC search: the sequence may wrap between two packets and still be in sequence")
{
    srtp_rollover_search search;
    search.next(7, 65'534, t0);
    CHECK(search.next(7, 2, t0).count > 0);
}

TEST_CASE("ROC search: each source earns trials from a budget of its own, so a stranger's "
          "in-sequence forgeries buy no more than it and take nothing from a real source")
{
    using rs = srtp_rollover_search;
    srtp_rollover_search search;
    const auto spend = [&](std::uint32_t ssrc, std::uint16_t from, int packets,
                           srtp_rollover_search::time_point now) {
        std::uint64_t granted = 0;
        for (int i = 0; i < packets; ++i) {
            const auto s = search.next(ssrc, static_cast<std::uint16_t>(from + i), now);
            granted += s.count;
            search.tried(ssrc, s.first + s.count, false);
        }
        return granted;
    };
    search.next(1, 0, t0);
    // The reserve at once, less the source's stream.
    CHECK(spend(1, 1, 1'000, t0) == rs::burst_trials - rs::stream_cost);
    // 100 ms later, 100 ms worth, and no more.
    CHECK(spend(1, 1'001, 1'000, t0 + 100ms) == rs::trials_per_second / 10);
    // A long silence earns the reserve, not the whole silence's worth.
    CHECK(spend(1, 2'001, 1'000, t0 + 1h) == rs::burst_trials);
    // Another source has its own, whatever the first spent.
    search.next(2, 0, t0 + 1h);
    CHECK(spend(2, 1, 1'000, t0 + 1h) == rs::burst_trials - rs::stream_cost);
    CHECK(search.trials() ==
          3 * rs::burst_trials - 2 * rs::stream_cost + rs::trials_per_second / 10);
}

TEST_CASE("ROC search: a search that tried every ROC starts again from 1, as a forger may have "
          "spent its trials")
{
    srtp_rollover_search search;
    search.next(9, 0, t0);
    auto now = t0;
    std::uint16_t seq = 1;
    std::uint32_t end = 0;
    for (int i = 0; i < 100'000 && search.restarts() == 0; ++i, ++seq, now += 1s) {
        const auto s = search.next(9, seq, now);
        end = s.first + s.count;
        search.tried(9, end, false);
    }
    REQUIRE(search.restarts() == 1);
    CHECK(end == srtp_rollover_search::max_rollover);
    CHECK(search.trials() == srtp_rollover_search::max_rollover - 1);
    CHECK(search.searching(9));
    CHECK(search.next(9, seq, now + 1s).first == 1);
}

TEST_CASE("ROC search: a newcomer takes the place of a source quiet for the hold time, never of "
          "one still sending, and the replaced one's stream is forgotten")
{
    using rs = srtp_rollover_search;
    srtp_rollover_search search;
    for (std::uint32_t ssrc = 1; ssrc <= rs::max_sources; ++ssrc) {
        CHECK_FALSE(search.next(ssrc, 0, t0).forget);
        CHECK(search.next(ssrc, 1, t0).count > 0); // in sequence: trials, and so a stream
    }
    // All sending: a flood of new SSRCs finds no place and displaces none.
    for (std::uint32_t ssrc = 100; ssrc < 200; ++ssrc) {
        const auto s = search.next(ssrc, 0, t0 + 10ms);
        CHECK_FALSE(s.forget);
        CHECK(s.count == 0);
        CHECK_FALSE(search.searching(ssrc));
    }
    // Every source but 2 heard again; past the hold time 2 gives way.
    for (std::uint32_t ssrc = 1; ssrc <= rs::max_sources; ++ssrc)
        if (ssrc != 2) search.next(ssrc, 2, t0 + rs::hold_time);
    const auto s = search.next(300, 0, t0 + rs::hold_time + 1ms);
    CHECK(s.forget == 2u);
    CHECK(search.searching(300));
    CHECK_FALSE(search.searching(2));
}
