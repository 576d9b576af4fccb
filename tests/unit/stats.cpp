#include <audiocast/session/stats.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <type_traits>

using namespace std::chrono_literals;
using audiocast::duration_histogram;
using audiocast::interarrival_jitter;
using audiocast::ipdv_meter;
using audiocast::throughput_meter;

namespace {

// A packet every 160 timestamp units (20 ms at 8 kHz, 3.33 ms at 48 kHz).
constexpr std::uint32_t step = 160;

} // namespace

TEST_CASE("jitter is zero when every packet has the same transit time", "[stats][jitter]")
{
    interarrival_jitter j;
    for (std::uint32_t i = 0; i < 50; ++i)
        j.update(7'000 + i * step, 1'000 + i * step);
    CHECK(j.value() == 0u);
    CHECK(j.value_units() == 0.0);
    CHECK(j.value_time(48'000) == 0ns);
}

TEST_CASE("the first packet only sets the transit time", "[stats][jitter]")
{
    interarrival_jitter j;
    j.update(123'456, 42); // a transit of 123414 units, and nothing to compare it with
    CHECK(j.value() == 0u);
}

TEST_CASE("one packet delayed by 160 units raises jitter to 10, which then decays as A.8 says",
          "[stats][jitter]")
{
    interarrival_jitter j;
    for (std::uint32_t i = 0; i < 10; ++i)
        j.update(500 + i * step, i * step);

    // Packet 10 arrives 160 late: |D| = 160. Scaled: 0 - ((0 + 8) >> 4) + 160 = 160.
    j.update(500 + 10 * step + 160, 10 * step);
    CHECK(j.value() == 10u);
    CHECK(j.value_units() == 10.0);

    // Packet 11 is on time again, so its transit differs from packet 10's by 160 too:
    // 160 - ((160 + 8) >> 4 = 10) + 160 = 310.
    j.update(500 + 11 * step, 11 * step);
    CHECK(j.value() == 19u); // 310 >> 4
    CHECK(j.value_units() == 19.375);

    // From here |D| = 0 and each step subtracts (scaled + 8) >> 4:
    // 310 - 19 = 291, 291 - 18 = 273, 273 - 17 = 256, 256 - 16 = 240.
    const std::uint32_t scaled_after[] = {291, 273, 256, 240};
    for (std::uint32_t k = 0; k < 4; ++k) {
        const std::uint32_t i = 12 + k;
        j.update(500 + i * step, i * step);
        CHECK(j.value_units() == scaled_after[k] / 16.0);
    }
    CHECK(j.value() == 15u); // 240 >> 4
}

TEST_CASE("jitter of a transit alternating by D every packet converges to D", "[stats][jitter]")
{
    // Transit 0, D, 0, D, ...: |D(i-1,i)| = D for every packet after the first,
    // so the real-valued estimate is J_n = D (1 - (15/16)^n).
    constexpr std::uint32_t d = 1000;
    interarrival_jitter j;
    std::uint32_t ts = 90'000;
    j.update(ts, ts);

    const auto next = [&](std::uint32_t n) {
        ts += step;
        j.update(ts + (n % 2 == 1 ? d : 0), ts);
    };

    // Integer form by hand: 0 - 0 + 1000 = 1000; 1000 - (1008 >> 4 = 63) + 1000 = 1937;
    // 1937 - (1945 >> 4 = 121) + 1000 = 2816. The real form gives 62.5, 121.09, 176.03.
    next(1);
    CHECK(j.value_units() == 1000 / 16.0);
    CHECK(j.value() == 62u);
    next(2);
    CHECK(j.value_units() == 1937 / 16.0);
    CHECK(j.value() == 121u);
    next(3);
    CHECK(j.value_units() == 2816 / 16.0);
    CHECK(j.value() == 176u);

    for (std::uint32_t n = 4; n <= 200; ++n)
        next(n);
    // D (1 - (15/16)^200) = 999.9975. The integer form stops at the first scaled
    // value where (scaled + 8) >> 4 == D, approached from below: 16 * 1000 - 8 = 15992.
    CHECK(j.value_units() == 15992 / 16.0);
    CHECK(j.value_units() == Approx(999.9975).margin(0.5));
    CHECK(j.value() == 999u);
}

TEST_CASE("jitter shows no spike when arrival and RTP timestamps wrap at 2^32", "[stats][jitter]")
{
    interarrival_jitter j;
    // RTP timestamps wrap at the 4th packet, arrival times (offset by 300) at the 3rd.
    std::uint32_t ts = 0xFFFF'FFFFu - 3 * step + 1;
    for (int i = 0; i < 8; ++i, ts += step)
        j.update(ts + 300, ts);
    CHECK(j.value() == 0u);

    // A 160-unit delay right across the wrap counts as 160, as anywhere else.
    interarrival_jitter k;
    ts = 0xFFFF'FFFFu - step + 1;
    k.update(ts + 50, ts);       // arrival 2^32 - 110: neither has wrapped
    ts += step;                  // RTP timestamp wraps to 0
    k.update(ts + 50 + 160, ts); // late by 160
    CHECK(k.value() == 10u);
}

TEST_CASE("jitter converts to time at the stream's sample rate", "[stats][jitter]")
{
    interarrival_jitter j;
    j.update(0, 0);
    j.update(step + 160, step); // scaled 160: J = 10 units
    // 10 units at 48 kHz: 10 / 48000 s = 208333.33 us, truncated.
    CHECK(j.value_time(48'000) == 208'333ns);
    // At 8 kHz: 10 / 8000 s = 1.25 ms exactly.
    CHECK(j.value_time(8'000) == 1'250'000ns);
    j.update(2 * step, 2 * step); // scaled 310: J = 19.375 units
    // 19.375 / 48000 s = 403645.83 ns.
    CHECK(j.value_time(48'000) == 403'645ns);
    CHECK(j.value_time(0) == 0ns);

    j.reset();
    CHECK(j.value() == 0u);
    j.update(999, 0); // first packet again after reset: sets transit only
    CHECK(j.value() == 0u);
}

TEST_CASE("histogram counts durations below 128 ns exactly", "[stats][histogram]")
{
    duration_histogram h;
    for (auto ns : {100, 7, 0, 127, 5, 7})
        h.record(std::chrono::nanoseconds{ns});
    // Sorted: 0 5 7 7 100 127. Nearest rank = ceil(p/100 * 6).
    CHECK(h.count() == 6u);
    CHECK(h.percentile(0) == 0ns);    // rank 1
    CHECK(h.percentile(20) == 5ns);   // rank 2 (1.2 -> 2)
    CHECK(h.percentile(50) == 7ns);   // rank 3
    CHECK(h.percentile(80) == 100ns); // rank 5 (4.8 -> 5)
    CHECK(h.percentile(100) == 127ns);
    CHECK(h.min() == 0ns);
    CHECK(h.max() == 127ns);
    CHECK(h.mean() == 41ns); // 246 / 6
}

TEST_CASE("histogram percentiles of 1..100 ms are within 2 % and never above the value",
          "[stats][histogram]")
{
    duration_histogram h;
    for (int ms = 100; ms >= 1; --ms)
        h.record(std::chrono::milliseconds{ms});
    REQUIRE(h.count() == 100u);

    // With 100 values, nearest rank p is the value p ms.
    for (int p = 1; p < 100; ++p) {
        const auto truth = std::chrono::nanoseconds{std::chrono::milliseconds{p}};
        const auto got = h.percentile(p);
        INFO("p" << p << " = " << got.count() << " ns");
        CHECK(got <= truth);
        CHECK(static_cast<double>((truth - got).count()) <
              0.02 * static_cast<double>(truth.count()));
    }
    // 50 ms lies in [2^25, 2^26) ns, whose buckets are 2^19 ns wide:
    // floor(50e6 / 524288) = 95, 95 * 524288 = 49807360.
    CHECK(h.percentile(50) == 49'807'360ns);
    // 99 ms lies in [2^26, 2^27): buckets 2^20 wide, floor(99e6 / 1048576) = 94.
    CHECK(h.percentile(99) == 98'566'144ns);
    CHECK(h.percentile(100) == 100ms);
    CHECK(h.percentile(100) == h.max());
    CHECK(h.percentile(250) == 100ms); // clamped to 100
    CHECK(h.min() == 1ms);
    CHECK(h.mean() == 50'500us);
}

TEST_CASE("an empty histogram reports zero everywhere", "[stats][histogram]")
{
    duration_histogram h;
    CHECK(h.count() == 0u);
    CHECK(h.percentile(50) == 0ns);
    CHECK(h.percentile(100) == 0ns);
    CHECK(h.min() == 0ns);
    CHECK(h.max() == 0ns);
    CHECK(h.mean() == 0ns);
    CHECK(h.negative_count() == 0u);
}

TEST_CASE("histogram records a negative duration as zero and counts it", "[stats][histogram]")
{
    duration_histogram h;
    h.record(-5ms);
    h.record(3ms);
    CHECK(h.count() == 2u);
    CHECK(h.negative_count() == 1u);
    CHECK(h.min() == 0ns);
    CHECK(h.percentile(50) == 0ns);
    CHECK(h.max() == 3ms);

    h.reset();
    CHECK(h.count() == 0u);
    CHECK(h.negative_count() == 0u);
    CHECK(h.max() == 0ns);
}

TEST_CASE("histogram keeps max exact for durations past its top bucket", "[stats][histogram]")
{
    duration_histogram h;
    h.record(1h);
    h.record(1ms);
    CHECK(h.max() == 1h);
    CHECK(h.percentile(100) == 1h);
    // 1 ms is in [2^19, 2^20) ns, buckets 2^13 wide: floor(1e6 / 8192) = 122, 122 * 8192.
    CHECK(h.percentile(50) == 999'424ns);
}

TEST_CASE("histogram memory is fixed and small", "[stats][histogram]")
{
    STATIC_REQUIRE(sizeof(duration_histogram) < 32 * 1024);
    STATIC_REQUIRE(std::is_trivially_copyable_v<duration_histogram>);
    duration_histogram h;
    const auto before = sizeof h;
    for (int i = 0; i < 10'000; ++i)
        h.record(std::chrono::microseconds{i * 37});
    CHECK(sizeof h == before);
    CHECK(h.count() == 10'000u);
}

TEST_CASE("IPDV is the magnitude of the latency change between consecutive packets",
          "[stats][ipdv]")
{
    ipdv_meter m;
    for (auto ms : {10, 12, 11, 11})
        m.update(std::chrono::milliseconds{ms});
    // |12 - 10| = 2, |11 - 12| = 1, |11 - 11| = 0 ms.
    const auto& h = m.histogram();
    CHECK(h.count() == 3u);
    CHECK(h.min() == 0ms);
    CHECK(h.max() == 2ms);
    CHECK(h.mean() == 1ms);
    // p50 is rank 2, 1 ms, reported as its bucket's lower bound 122 * 8192 ns.
    CHECK(h.percentile(50) == 999'424ns);
    CHECK(h.percentile(100) == 2ms);

    m.reset();
    CHECK(m.histogram().count() == 0u);
    m.update(5ms); // first packet after reset has no predecessor
    CHECK(m.histogram().count() == 0u);
}

TEST_CASE("IPDV ignores a constant clock offset between the hosts", "[stats][ipdv]")
{
    ipdv_meter m;
    // Receiver clock 50 ms behind the sender's: latencies read negative.
    for (auto ms : {-40, -38, -39})
        m.update(std::chrono::milliseconds{ms});
    CHECK(m.histogram().max() == 2ms);
    CHECK(m.histogram().min() == 1ms);
    CHECK(m.histogram().negative_count() == 0u);
}

TEST_CASE("throughput of 100 packets of 960 bytes over 0.5 s", "[stats][throughput]")
{
    throughput_meter t;
    const audiocast::time_point t0{std::chrono::seconds{1000}};
    for (int i = 0; i < 99; ++i)
        t.record(960, t0 + i * 5ms); // 0 .. 490 ms
    t.record(960, t0 + 500ms);
    CHECK(t.packets() == 100u);
    CHECK(t.bytes() == 96'000u);
    // 96000 bytes / 0.5 s and 100 packets / 0.5 s.
    CHECK(t.bytes_per_second() == 192'000.0);
    CHECK(t.packets_per_second() == 200.0);

    t.reset();
    CHECK(t.bytes() == 0u);
    CHECK(t.bytes_per_second() == 0.0);
}

TEST_CASE("throughput is zero until two arrivals are apart in time", "[stats][throughput]")
{
    throughput_meter t;
    CHECK(t.bytes_per_second() == 0.0);
    const audiocast::time_point t0{std::chrono::seconds{3}};
    t.record(960, t0);
    t.record(960, t0);
    CHECK(t.bytes() == 1920u);
    CHECK(t.bytes_per_second() == 0.0);
    CHECK(t.packets_per_second() == 0.0);
}

TEST_CASE("receiver_stats starts at zero", "[stats]")
{
    const audiocast::receiver_stats s;
    CHECK(s.packets_received == 0u);
    CHECK(s.packets_lost == 0u);
    CHECK(s.jitter == 0ns);
    CHECK(s.buffered_frames == 0u);
    STATIC_REQUIRE(std::is_aggregate_v<audiocast::receiver_stats>);
}

TEST_CASE("histograms added together report what one histogram of every duration would",
          "[stats][histogram]")
{
    duration_histogram first, second, together;
    for (int i = 1; i <= 60; ++i) {
        first.record(std::chrono::microseconds{i * 7});
        together.record(std::chrono::microseconds{i * 7});
    }
    for (int i = 1; i <= 40; ++i) {
        second.record(std::chrono::milliseconds{i});
        together.record(std::chrono::milliseconds{i});
    }
    second.record(-1ms);
    together.record(-1ms);
    duration_histogram empty;
    first += empty; // adding nothing changes nothing
    first += second;
    CHECK(first.count() == together.count());
    for (const double p : {0.0, 1.0, 50.0, 90.0, 99.0, 100.0})
        CHECK(first.percentile(p) == together.percentile(p));
    CHECK(first.min() == 0ns);
    CHECK(first.max() == 40ms);
    CHECK(first.mean() == together.mean());
    CHECK(first.negative_count() == 1u);

    duration_histogram from_empty;
    from_empty += second;
    CHECK(from_empty.min() == second.min());
    CHECK(from_empty.max() == second.max());
}
