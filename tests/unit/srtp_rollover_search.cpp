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

TEST_CASE("ROC search: a source is tried only once it sends in sequence, from ROC 1 upward, "
          "and leaves the search when found")
{
    srtp_rollover_search search;
    auto s = search.next(0xAB, 500, t0);
    CHECK(s.count == 0); // the first packet: nothing known about the source yet
    CHECK(search.searching(0xAB));

    s = search.next(0xAB, 502, t0); // one lost between: still in sequence
    CHECK(s.first == 1);
    CHECK(s.count == srtp_rollover_search::trials_per_packet);
    CHECK_FALSE(search.tried(0xAB, s.first + s.count, false));

    // Out of sequence (a repeat, or far ahead): no trials, and the source's
    // place is kept.
    CHECK(search.next(0xAB, 502, t0).count == 0);
    CHECK(search.next(0xAB, 9'000, t0).count == 0);

    s = search.next(0xAB, 503, t0);
    CHECK(s.first == 1 + srtp_rollover_search::trials_per_packet);
    CHECK_FALSE(search.tried(0xAB, s.first + 7, true));
    CHECK_FALSE(search.searching(0xAB));
    CHECK(search.found() == 1);
}

TEST_CASE("ROC search: the sequence may wrap between two packets and still be in sequence")
{
    srtp_rollover_search search;
    search.next(7, 65'534, t0);
    CHECK(search.next(7, 2, t0).count > 0);
}

TEST_CASE("ROC search: trials are a budget per second across all sources, so a stranger's "
          "in-sequence forgeries buy no more than it")
{
    srtp_rollover_search search;
    std::uint64_t granted = 0;
    search.next(1, 0, t0);
    for (std::uint16_t seq = 1; seq < 1'000; ++seq) {
        const auto s = search.next(1, seq, t0);
        granted += s.count;
        search.tried(1, s.first + s.count, false);
    }
    CHECK(granted == srtp_rollover_search::trials_per_second);
    CHECK(search.trials() == granted);

    // Half a second later, half a second's worth, and no more.
    granted = 0;
    for (std::uint16_t seq = 1'000; seq < 2'000; ++seq) {
        const auto s = search.next(1, seq, t0 + 500ms);
        granted += s.count;
        search.tried(1, s.first + s.count, false);
    }
    CHECK(granted == srtp_rollover_search::trials_per_second / 2);

    // A long silence earns one second's worth, not the whole silence's.
    granted = 0;
    for (std::uint16_t seq = 2'000; seq < 3'000; ++seq) {
        const auto s = search.next(1, seq, t0 + 1h);
        granted += s.count;
        search.tried(1, s.first + s.count, false);
    }
    CHECK(granted == srtp_rollover_search::trials_per_second);
}

TEST_CASE("ROC search: a source not found by the highest ROC is given up, and its trial state "
          "forgotten, once")
{
    srtp_rollover_search search;
    search.next(9, 0, t0);
    auto now = t0;
    std::uint16_t seq = 1;
    std::optional<std::uint32_t> forgotten;
    for (int i = 0; i < 100'000 && !forgotten; ++i, ++seq, now += 1s) {
        const auto s = search.next(9, seq, now);
        forgotten = search.tried(9, s.first + s.count, false);
    }
    REQUIRE(forgotten == 9u);
    CHECK(search.given_up() == 1);
    CHECK(search.trials() == srtp_rollover_search::max_rollover - 1);
    CHECK(search.next(9, seq, now + 1s).count == 0);
    CHECK_FALSE(search.tried(9, srtp_rollover_search::max_rollover, false));
}

TEST_CASE("ROC search: a new source replaces the one heard from least recently, whose trial "
          "state is then forgotten")
{
    srtp_rollover_search search;
    for (std::uint32_t ssrc = 1; ssrc <= srtp_rollover_search::max_sources; ++ssrc)
        CHECK_FALSE(search.next(ssrc, 0, t0).forget);
    search.next(1, 1, t0); // 1 is heard again: 2 is now the stalest
    const auto s = search.next(100, 0, t0);
    CHECK(s.forget == 2u);
    CHECK(search.searching(1));
    CHECK_FALSE(search.searching(2));
    CHECK(search.searching(100));
}
