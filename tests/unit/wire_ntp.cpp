#include <audiocast/wire/ntp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

using namespace std::chrono;
using audiocast::wall_time;
namespace ntp = audiocast::ntp;

namespace {

constexpr wall_time at(sys_days day, nanoseconds since_midnight = {})
{
    return wall_time{day.time_since_epoch() + since_midnight};
}

} // namespace

TEST_CASE("the Unix epoch is 2208988800 NTP seconds")
{
    STATIC_REQUIRE(ntp::from_wall(wall_time{}) == ntp::timestamp{2'208'988'800u, 0});
    STATIC_REQUIRE(ntp::to_wall(ntp::timestamp{2'208'988'800u, 0}) == wall_time{});
}

TEST_CASE("known dates convert to their NTP seconds")
{
    // 2000-01-01 is 3155673600 s after 1900-01-01 (RFC 5905 figure 4 lists it).
    CHECK(ntp::from_wall(at(sys_days{2000y / January / 1})) == ntp::timestamp{3'155'673'600u, 0});
    CHECK(ntp::to_wall({3'155'673'600u, 0}) == at(sys_days{2000y / January / 1}));
}

TEST_CASE("half a second is the fraction 0x80000000")
{
    STATIC_REQUIRE(ntp::from_wall(wall_time{500ms}).fraction == 0x8000'0000u);
    STATIC_REQUIRE(ntp::from_wall(wall_time{250ms}).fraction == 0x4000'0000u);
    STATIC_REQUIRE(ntp::to_wall({2'208'988'800u, 0x8000'0000u}) == wall_time{500ms});
}

TEST_CASE("the fraction is rounded to the nearest 2^-32 s")
{
    // 1 ns = 4.294967296 units -> 4; 999'999'999 ns = 4294967291.7 units -> 4294967292.
    CHECK(ntp::from_wall(wall_time{1ns}).fraction == 4u);
    CHECK(ntp::from_wall(wall_time{999'999'999ns}).fraction == 4'294'967'292u);
    // 3 ns = 12.88 units -> 13.
    CHECK(ntp::from_wall(wall_time{3ns}).fraction == 13u);
}

TEST_CASE("a fraction that rounds up to a whole second carries into the seconds")
{
    CHECK(ntp::to_wall({2'208'988'800u, 0xFFFF'FFFFu}) == wall_time{1s});
}

TEST_CASE("times from 2036-02-07 06:28:16 UTC on are era 1 with small seconds values")
{
    // RFC 4330 §3: era 1 starts 2^32 s after 1900-01-01.
    const wall_time era1_start = at(sys_days{2036y / February / 7}, 6h + 28min + 16s);
    CHECK(ntp::from_wall(era1_start) == ntp::timestamp{0, 0});
    CHECK(ntp::to_wall({0, 0}) == era1_start);

    // 2040-01-01 is 2 * 2208988800 - 2^32 = 123010304 s into era 1.
    const wall_time y2040 = at(sys_days{2040y / January / 1}, 12h);
    CHECK(ntp::from_wall(y2040) == ntp::timestamp{123'010'304u + 12 * 3600, 0});
    CHECK(ntp::to_wall(ntp::from_wall(y2040)) == y2040);

    // The last second of era 0 still reads as era 0.
    CHECK(ntp::to_wall({0xFFFF'FFFFu, 0}) == era1_start - 1s);
}

TEST_CASE("seconds with the top bit clear before 2036 are read as era 1")
{
    // 1968-01-20 03:14:08 UTC is 2^31 s after 1900: the oldest time era 0 covers.
    const wall_time oldest = at(sys_days{1968y / January / 20}, 3h + 14min + 8s);
    CHECK(ntp::from_wall(oldest).seconds == 0x8000'0000u);
    CHECK(ntp::to_wall(ntp::from_wall(oldest)) == oldest);
    CHECK(ntp::to_wall(ntp::from_wall(oldest - 1s)) == oldest - 1s + seconds{1LL << 32});
}

TEST_CASE("wall time survives a round trip through NTP to the nanosecond")
{
    const wall_time base = GENERATE(
        at(sys_days{1969y / December / 31}, 23h + 59min + 59s), wall_time{},
        at(sys_days{2024y / May / 17}, 13h), at(sys_days{2036y / February / 7}, 6h + 28min + 15s),
        at(sys_days{2036y / February / 7}, 6h + 28min + 16s), at(sys_days{2100y / March / 1}));
    const auto ns = GENERATE(0LL, 1LL, 2LL, 3LL, 499'999'999LL, 500'000'000LL, 123'456'789LL,
                             999'999'998LL, 999'999'999LL);
    const wall_time t = base + nanoseconds{ns};
    CAPTURE(t.time_since_epoch().count());
    CHECK(ntp::to_wall(ntp::from_wall(t)) == t);
}

TEST_CASE("every nanosecond of a second survives the round trip")
{
    // Exhaustive over a stride that walks all fraction residues quickly.
    for (std::int64_t ns = 0; ns < 1'000'000'000; ns += 9'973) {
        const wall_time t{seconds{1'700'000'000} + nanoseconds{ns}};
        if (ntp::to_wall(ntp::from_wall(t)) != t) FAIL("ns = " << ns);
    }
}

TEST_CASE("an NTP timestamp survives a round trip through wall time within 3 units")
{
    // 1 ns is 4.29 fraction units, so converting to ns and back moves at most
    // half a nanosecond plus half a unit.
    for (std::uint32_t f = 0; f < 0xFFFF'0000u; f += 0x0001'0003u) {
        const ntp::timestamp ts{3'900'000'000u, f};
        const ntp::timestamp back = ntp::from_wall(ntp::to_wall(ts));
        const auto diff =
            static_cast<std::int64_t>(back.to_u64()) - static_cast<std::int64_t>(ts.to_u64());
        if (diff < -3 || diff > 3) FAIL("fraction " << f << " came back as " << back.fraction);
    }
}

TEST_CASE("to_u64 puts seconds in the high half and from_u64 inverts it")
{
    constexpr ntp::timestamp ts{0x0123'4567u, 0x89AB'CDEFu};
    STATIC_REQUIRE(ts.to_u64() == 0x0123'4567'89AB'CDEFull);
    STATIC_REQUIRE(ntp::timestamp::from_u64(0x0123'4567'89AB'CDEFull) == ts);
    STATIC_REQUIRE(ntp::timestamp{} == ntp::timestamp{0, 0});
    STATIC_REQUIRE(!(ts == ntp::timestamp{0x0123'4567u, 0}));
}

TEST_CASE("the short form is the middle 32 bits of the timestamp")
{
    STATIC_REQUIRE(ntp::short_form({0x1234'5678u, 0x9ABC'DEF0u}) == 0x5678'9ABCu);
    STATIC_REQUIRE(ntp::short_form({0, 0x8000'0000u}) == 0x0000'8000u);
}

TEST_CASE("a 16.16 short duration reads as seconds and 1/65536 s")
{
    STATIC_REQUIRE(ntp::from_short_duration(0) == 0ns);
    STATIC_REQUIRE(ntp::from_short_duration(0x0001'0000u) == 1s);
    STATIC_REQUIRE(ntp::from_short_duration(0x0001'8000u) == 1500ms);
    // 1/65536 s = 15258.789 ns -> 15259.
    STATIC_REQUIRE(ntp::from_short_duration(1) == 15'259ns);
    STATIC_REQUIRE(ntp::from_short_duration(0xFFFF'FFFFu) == 65'535s + 999'984'741ns);
}

TEST_CASE("a duration written as 16.16 reads back within half a unit")
{
    STATIC_REQUIRE(ntp::to_short_duration(1500ms) == 0x0001'8000u);
    STATIC_REQUIRE(ntp::to_short_duration(15'259ns) == 1u);
    STATIC_REQUIRE(ntp::to_short_duration(-5s) == 0u);
    STATIC_REQUIRE(ntp::to_short_duration(65'536s) == 0xFFFF'FFFFu);
    STATIC_REQUIRE(ntp::to_short_duration(hours{100}) == 0xFFFF'FFFFu);
    // 65535.99999 s rounds up past the largest value and saturates.
    STATIC_REQUIRE(ntp::to_short_duration(65'536s - 1ns) == 0xFFFF'FFFFu);

    for (std::uint32_t v = 0; v < 0xFFFF'0000u; v += 0x0003'0007u)
        if (ntp::to_short_duration(ntp::from_short_duration(v)) != v) FAIL("v = " << v);
}

TEST_CASE("DLSR arithmetic from short forms gives the delay")
{
    // A receiver 2.25 s after the SR reports LSR and DLSR; the sender subtracts.
    const ntp::timestamp sr = ntp::from_wall(at(sys_days{2024y / May / 17}, 10s));
    const ntp::timestamp now = ntp::from_wall(at(sys_days{2024y / May / 17}, 12s + 250ms));
    const std::uint32_t delay = ntp::short_form(now) - ntp::short_form(sr);
    CHECK(ntp::from_short_duration(delay) == 2250ms);
}
