// The listener's estimate of the sender's clock from RRTR/DLRR round trips
// (session/clock_offset.hpp), on simulated clocks: offsets of ±10 s, rates
// ±200 ppm apart, jittered and lossy paths, and the asymmetric path whose
// error no exchange can see.
#include <audiocast/session/clock_offset.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>

using namespace std::chrono_literals;
using audiocast::clock_exchange;
using audiocast::clock_offset_estimator;
using std::chrono::nanoseconds;

namespace {

/// A sender's clock against the listener's: `offset` apart at listener time
/// 0, running `rate_ppm` faster.
struct sender_clock {
    nanoseconds offset{};
    double rate_ppm = 0;

    [[nodiscard]] nanoseconds at(nanoseconds listener) const
    {
        return listener + offset +
               nanoseconds{static_cast<std::int64_t>(static_cast<double>(listener.count()) *
                                                     rate_ppm * 1e-6)};
    }
};

/// A path: fixed one-way delays each way, plus uniform jitter up to `jitter`.
struct network_path {
    nanoseconds up = 1ms;
    nanoseconds down = 1ms;
    nanoseconds jitter{};
    double loss = 0;
};

/// Runs exchanges every `interval` from listener time `from` for `count`
/// exchanges through `path`; the sender holds each RRTR 1 ms. Calls
/// check(t) after each exchange with the listener time it ended.
template <class Check>
nanoseconds run(clock_offset_estimator& e, const sender_clock& sender, const network_path& path,
                nanoseconds from, nanoseconds interval, std::size_t count, std::mt19937_64& rng,
                Check&& check)
{
    std::uniform_int_distribution<std::int64_t> jitter{0, path.jitter.count()};
    std::uniform_real_distribution<double> coin{0, 1};
    nanoseconds t = from;
    for (std::size_t i = 0; i < count; ++i, t += interval) {
        if (coin(rng) < path.loss) continue; // the RRTR or the answer lost
        const nanoseconds up = path.up + nanoseconds{jitter(rng)};
        const nanoseconds down = path.down + nanoseconds{jitter(rng)};
        const clock_exchange x{.t1 = t,
                               .t2 = sender.at(t + up),
                               .t3 = sender.at(t + up + 1ms),
                               .t4 = t + up + 1ms + down};
        e.add(x);
        check(x.t4);
    }
    return t;
}

nanoseconds error_at(const clock_offset_estimator& e, const sender_clock& sender, nanoseconds t)
{
    const auto estimate = e.estimate();
    REQUIRE(estimate);
    return estimate->sender_time(t) - sender.at(t);
}

} // namespace

TEST_CASE("clock_offset: with a symmetric path one exchange gives the offset exactly, from "
          "10 s either way")
{
    for (const nanoseconds offset :
         {nanoseconds{10s}, nanoseconds{-10s}, nanoseconds{0}, nanoseconds{123'456'789}}) {
        CAPTURE(offset.count());
        clock_offset_estimator e;
        CHECK_FALSE(e.estimate());
        const sender_clock sender{.offset = offset};
        const clock_exchange x{.t1 = 5000s,
                               .t2 = sender.at(5000s + 1500us),
                               .t3 = sender.at(5000s + 2500us),
                               .t4 = 5000s + 4ms};
        e.add(x);
        const auto estimate = e.estimate();
        REQUIRE(estimate);
        CHECK(estimate->offset == offset);
        CHECK(estimate->uncertainty == 1500us);
        CHECK(estimate->rate_ppm == 0);
        CHECK(estimate->sender_time(6000s) == sender.at(6000s));
    }
}

TEST_CASE("clock_offset: an asymmetric path puts the estimate off by half the asymmetry, which "
          "the uncertainty covers")
{
    // 3 ms out, 1 ms back, for good: every exchange is alike, and no
    // exchange can tell this path from a symmetric 2 ms one with the
    // sender's clock 1 ms further ahead. The known limit of the method.
    clock_offset_estimator e;
    const sender_clock sender{.offset = 7s};
    std::mt19937_64 rng{1};
    const nanoseconds end =
        run(e, sender, {.up = 3ms, .down = 1ms}, 100s, 100ms, 200, rng, [](nanoseconds) {});
    const auto estimate = e.estimate();
    REQUIRE(estimate);
    CHECK(error_at(e, sender, end) == 1ms);
    CHECK(estimate->uncertainty == 2ms);
    CHECK(estimate->rate_ppm == Approx(0).margin(1e-6));
}

TEST_CASE("clock_offset: rates 200 ppm apart, 2 ms of jitter and 1 % loss: within 150 us after "
          "5 s and 100 us after a minute, held for a simulated hour")
{
    for (const double rate : {200.0, -200.0, 37.5}) {
        for (const nanoseconds offset : {nanoseconds{10s}, nanoseconds{-10s}}) {
            CAPTURE(rate, offset.count());
            clock_offset_estimator e;
            const sender_clock sender{.offset = offset, .rate_ppm = rate};
            std::mt19937_64 rng{static_cast<std::uint64_t>(offset.count()) ^
                                static_cast<std::uint64_t>(rate * 1000)};
            const network_path path{.up = 1ms, .down = 1ms, .jitter = 2ms, .loss = 0.01};
            const nanoseconds start = 1000s;
            // The first 5 s: settling, unchecked.
            const nanoseconds settled =
                run(e, sender, path, start, 50ms, 100, rng, [](nanoseconds) {});
            // Then an hour, exchanges every 50 ms, the error checked at each
            // and halfway to the next.
            nanoseconds first_minute{}, after{};
            run(e, sender, path, settled, 50ms, 72'000, rng, [&](nanoseconds t) {
                nanoseconds& worst = t < settled + 60s ? first_minute : after;
                for (const nanoseconds at : {t, t + 25ms})
                    worst = std::max(worst, nanoseconds{std::abs(error_at(e, sender, at).count())});
            });
            INFO("worst error " << first_minute.count() << " ns in the first minute, "
                                << after.count() << " ns after");
            CHECK(first_minute < 150us);
            CHECK(after < 100us);
            CHECK(e.estimate()->rate_ppm == Approx(rate).margin(2));
            CHECK(e.refused() == 0);
        }
    }
}

TEST_CASE("clock_offset: an exchange whose round trip comes out negative is refused and counted")
{
    clock_offset_estimator e;
    const sender_clock sender{.offset = 2s};
    // A good one first.
    e.add({.t1 = 100s, .t2 = sender.at(100s + 1ms), .t3 = sender.at(100s + 2ms), .t4 = 100s + 3ms});
    const auto before = e.estimate();
    REQUIRE(before);
    // An answer that claims the sender held the report longer than the
    // listener waited for it (a forged or misattributed DLRR).
    e.add(
        {.t1 = 200s, .t2 = sender.at(200s + 1ms), .t3 = sender.at(200s + 50ms), .t4 = 200s + 3ms});
    // An answer that arrived before its question (a clock step backwards).
    e.add({.t1 = 300s, .t2 = sender.at(300s), .t3 = sender.at(300s), .t4 = 299s});
    CHECK(e.refused() == 2);
    CHECK(e.accepted() == 1);
    const auto after = e.estimate();
    REQUIRE(after);
    CHECK(after->offset == before->offset);
    CHECK(after->at == before->at);
}

TEST_CASE("clock_offset: reset() forgets the old sender, and neither add() nor estimate() "
          "allocates")
{
    clock_offset_estimator e;
    const sender_clock first{.offset = 5s, .rate_ppm = 100};
    const sender_clock second{.offset = -3s};
    std::mt19937_64 rng{7};
    const network_path path{.jitter = 500us};
    nanoseconds t = run(e, first, path, 10s, 100ms, 300, rng, [](nanoseconds) {});
    e.reset();
    CHECK_FALSE(e.estimate());
    {
        const audiocast_test::counting_scope allocations;
        t = run(e, second, path, t, 100ms, 300, rng, [&](nanoseconds at) {
            (void)e.estimate();
            (void)at;
        });
        CHECK(allocations.count() == 0);
    }
    CHECK(std::abs(error_at(e, second, t).count()) < nanoseconds{250us}.count());
    CHECK(e.estimate()->rate_ppm == Approx(0).margin(20));
}
