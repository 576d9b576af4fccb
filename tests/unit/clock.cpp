#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/concepts.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;
using audiocast::manual_clock;
using audiocast::time_point;
using audiocast::wall_time;

static_assert(audiocast::clock<audiocast::steady_clock>);
static_assert(audiocast::clock<manual_clock>);

namespace {

const wall_time new_year_2026{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

} // namespace

TEST_CASE("steady_clock never goes back between two readings")
{
    const audiocast::steady_clock clock;
    const time_point first = clock.now();
    const time_point second = clock.now();
    CHECK(second >= first);
}

TEST_CASE("steady_clock wall time is the system clock's")
{
    const audiocast::steady_clock clock;
    const auto before = std::chrono::system_clock::now();
    const wall_time wall = clock.wall_now();
    const auto after = std::chrono::system_clock::now();
    CHECK(wall >= std::chrono::time_point_cast<std::chrono::nanoseconds>(before));
    CHECK(wall <= std::chrono::time_point_cast<std::chrono::nanoseconds>(after));
}

TEST_CASE("manual_clock starts 1000 s after its epoch and on 2026-01-01 wall time")
{
    const manual_clock clock;
    CHECK(clock.now().time_since_epoch() == 1000s);
    CHECK(clock.wall_now() == new_year_2026);
    CHECK(clock.wall_now().time_since_epoch() == 1'767'225'600s);
}

TEST_CASE("manual_clock starts where it is told")
{
    const time_point start{5s};
    const wall_time wall_start{1'000'000'000s};
    const manual_clock clock{start, wall_start};
    CHECK(clock.now() == start);
    CHECK(clock.wall_now() == wall_start);
}

TEST_CASE("manual_clock stands still until advanced")
{
    manual_clock clock;
    const time_point start = clock.now();
    CHECK(clock.now() == start);

    clock.advance(5ms);
    CHECK(clock.now() == start + 5ms);

    clock.advance(0ns);
    CHECK(clock.now() == start + 5ms);

    clock.advance_to(start + 1s);
    CHECK(clock.now() == start + 1s);

    clock.advance_to(start + 1s);
    CHECK(clock.now() == start + 1s);
}

TEST_CASE("manual_clock wall time moves with its monotonic time")
{
    manual_clock clock;
    clock.advance(1500ms);
    CHECK(clock.wall_now() == new_year_2026 + 1500ms);
    clock.advance_to(clock.now() + 1ns);
    CHECK(clock.wall_now() == new_year_2026 + 1500ms + 1ns);
    CHECK(clock.wall_now() - new_year_2026 == clock.now() - time_point{1000s});
}

TEST_CASE("manual_clock copies share one time")
{
    manual_clock original;
    manual_clock copy = original;
    manual_clock assigned{time_point{}, wall_time{}};
    assigned = original;

    copy.advance(10ms);
    CHECK(original.now() == copy.now());
    CHECK(assigned.now() == copy.now());
    CHECK(original.wall_now() == new_year_2026 + 10ms);

    original.advance(1ms);
    CHECK(copy.now() == time_point{1000s + 11ms});
    CHECK(assigned.wall_now() == new_year_2026 + 11ms);
}

TEST_CASE("a moved-from manual_clock still tells the shared time")
{
    manual_clock original;
    manual_clock moved = std::move(original);
    moved.advance(3ms);
    CHECK(original.now() == moved.now()); // NOLINT(bugprone-use-after-move): the point of the test
}

TEST_CASE("manual_clock refuses to go back and keeps its time")
{
    manual_clock clock;
    const time_point start = clock.now();
    const wall_time wall_start = clock.wall_now();

    SECTION("advance by a negative step")
    {
        CHECK_THROWS_AS(clock.advance(-1ns), std::invalid_argument);
    }
    SECTION("advance_to an earlier time")
    {
        CHECK_THROWS_AS(clock.advance_to(start - 1ns), std::invalid_argument);
    }
    SECTION("advance past the largest time point")
    {
        CHECK_THROWS_AS(clock.advance(std::chrono::nanoseconds::max()), std::invalid_argument);
    }
    CHECK(clock.now() == start);
    CHECK(clock.wall_now() == wall_start);
}

TEST_CASE("manual_clock's refusal names the step and the rule")
{
    manual_clock clock;
    CHECK_THROWS_WITH(clock.advance(-7ns), Catch::Contains("-7 ns") && Catch::Contains(">= 0"));
    CHECK_THROWS_WITH(clock.advance_to(time_point{999s}),
                      Catch::Contains("999000000000 ns") && Catch::Contains("1000000000000 ns"));
}
