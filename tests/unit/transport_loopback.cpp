#include <audiocast/transport/loopback.hpp>

#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/concepts.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using audiocast::loopback_counters;
using audiocast::loopback_group;
using audiocast::loopback_transport;
using audiocast::manual_clock;
using audiocast::network_faults;

static_assert(audiocast::transport<loopback_transport>);
static_assert(audiocast::clock<manual_clock>);
static_assert(!std::is_copy_constructible_v<loopback_transport>);
static_assert(std::is_nothrow_move_constructible_v<loopback_transport>);
static_assert(std::is_nothrow_move_assignable_v<loopback_transport>);
static_assert(!std::is_copy_constructible_v<loopback_group>);
static_assert(!std::is_move_constructible_v<loopback_group>);

namespace {

constexpr std::size_t datagram_size = 200;
using datagram = std::array<std::byte, datagram_size>;

// A datagram whose first four bytes carry `id`, little-endian; the rest is a
// pattern derived from it, so truncation and mix-ups show.
datagram numbered(std::uint32_t id)
{
    datagram d{};
    for (std::size_t i = 0; i < d.size(); ++i)
        d[i] = static_cast<std::byte>((id >> (8 * (i % 4))) + i / 4);
    return d;
}

std::uint32_t id_of(std::span<const std::byte> d)
{
    return static_cast<std::uint32_t>(d[0]) | static_cast<std::uint32_t>(d[1]) << 8 |
           static_cast<std::uint32_t>(d[2]) << 16 | static_cast<std::uint32_t>(d[3]) << 24;
}

// Receives everything due now; appends the ids and checks every datagram whole.
void drain(loopback_transport& t, std::vector<std::uint32_t>& ids)
{
    datagram buffer{};
    for (;;) {
        std::error_code ec;
        const std::size_t n = t.receive(buffer, ec);
        if (ec == std::errc::operation_would_block) return;
        // One check per datagram, not three REQUIREs: these loops see 10^5 of them.
        if (ec || n != datagram_size || buffer != numbered(id_of(buffer)))
            FAIL("datagram " << ids.size() << " came out damaged: " << ec.message() << ", " << n
                             << " bytes");
        ids.push_back(id_of(buffer));
    }
}

// Every kind of fault at once, for the reproducibility tests.
const network_faults every_fault{.loss = 0.05,
                                 .burst_start = 0.01,
                                 .burst_end = 0.3,
                                 .duplicate = 0.02,
                                 .reorder = 0.02,
                                 .delay = 2ms,
                                 .jitter = 500us};

struct trace {
    std::vector<std::uint32_t> ids;
    loopback_counters counters;
};

// Member 0 sends `count` numbered datagrams, one every `interval`; member 1
// listens and is drained after every step; `bystanders` more members join
// after the listener and only receive. Returns what the listener saw.
trace listen(const network_faults& faults, std::uint64_t seed, std::uint32_t count,
             std::chrono::nanoseconds interval = 1ms, int bystanders = 0)
{
    manual_clock clock;
    loopback_group group{clock, faults, seed};
    auto sender = group.join();
    auto listener = group.join();
    std::vector<loopback_transport> others;
    for (int i = 0; i < bystanders; ++i)
        others.push_back(group.join());

    trace result;
    result.ids.reserve(count + count / 4);
    for (std::uint32_t id = 0; id < count; ++id) {
        sender.send(numbered(id));
        drain(listener, result.ids);
        clock.advance(interval);
    }
    clock.advance(1s);
    drain(listener, result.ids);
    result.counters = listener.counters();
    REQUIRE(listener.pending() == 0);
    return result;
}

// Rate `k / n` is within `tolerance` of `expected`.
bool near_rate(std::uint64_t k, std::uint64_t n, double expected, double tolerance)
{
    const double rate = static_cast<double>(k) / static_cast<double>(n);
    return rate > expected - tolerance && rate < expected + tolerance;
}

} // namespace

TEST_CASE("a datagram reaches every other member and not its sender")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    auto c = group.join();
    CHECK(group.members() == 3);

    a.send(numbered(7));

    datagram buffer{};
    for (auto* listener : {&b, &c}) {
        std::error_code ec;
        CHECK(listener->receive(buffer, ec) == datagram_size);
        CHECK_FALSE(ec);
        CHECK(buffer == numbered(7));
        CHECK(listener->counters().delivered == 1);
        CHECK(listener->counters().sent == 0);
    }
    std::error_code ec;
    CHECK(a.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    CHECK(a.counters().sent == 1);
    CHECK(a.counters().delivered == 0);
}

TEST_CASE("receive with nothing queued returns 0 and would_block")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    datagram buffer{};

    std::error_code ec = std::make_error_code(std::errc::io_error);
    CHECK(a.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    CHECK(a.pending() == 0);
    CHECK_FALSE(a.next_due().has_value());

    SECTION("the throwing form throws it, as Asio does")
    {
        try {
            (void)a.receive(buffer);
            FAIL("receive did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::operation_would_block);
        }
    }
}

TEST_CASE("a datagram larger than the buffer is cut to fit, consumed and reported")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    const datagram sent = numbered(0x01020304);
    a.send(sent);

    std::array<std::byte, 10> small{};
    SECTION("error_code form")
    {
        std::error_code ec;
        CHECK(b.receive(small, ec) == small.size());
        CHECK(ec == std::errc::message_size);
        CHECK(std::equal(small.begin(), small.end(), sent.begin()));
        CHECK(b.counters().delivered == 1);
    }
    SECTION("throwing form names both sizes")
    {
        CHECK_THROWS_WITH(b.receive(small),
                          Catch::Contains("200 bytes") && Catch::Contains("10-byte buffer"));
        CHECK(std::equal(small.begin(), small.end(), sent.begin()));
    }
    CHECK(b.pending() == 0);
}

TEST_CASE("a zero-length datagram is a datagram")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    a.send(std::span<const std::byte>{});
    std::error_code ec;
    datagram buffer{};
    CHECK(b.receive(buffer, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(b.receive(std::span<std::byte>{}, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
}

TEST_CASE("send refuses a datagram over the 65507-byte UDP limit and sends nothing")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    std::vector<std::byte> big(loopback_transport::max_datagram_size + 1);

    std::error_code ec;
    a.send(big, ec);
    CHECK(ec == std::errc::message_size);
    CHECK_THROWS_WITH(a.send(big), Catch::Contains("65508") && Catch::Contains("65507"));
    CHECK(a.counters().sent == 0);
    CHECK(b.pending() == 0);

    big.pop_back();
    a.send(big, ec);
    CHECK_FALSE(ec);
    std::vector<std::byte> buffer(loopback_transport::max_datagram_size);
    CHECK(b.receive(buffer, ec) == loopback_transport::max_datagram_size);
    CHECK_FALSE(ec);
}

TEST_CASE("a delayed datagram is held until its due time")
{
    manual_clock clock;
    loopback_group group{clock, {.delay = 5ms}};
    auto a = group.join();
    auto b = group.join();
    const auto sent_at = clock.now();
    a.send(numbered(1));

    datagram buffer{};
    std::error_code ec;
    CHECK(b.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    CHECK(b.pending() == 1);
    REQUIRE(b.next_due().has_value());
    CHECK(*b.next_due() == sent_at + 5ms);

    clock.advance(5ms - 1ns);
    CHECK(b.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);

    clock.advance(1ns);
    CHECK(b.receive(buffer, ec) == datagram_size);
    CHECK_FALSE(ec);
    CHECK(buffer == numbered(1));
    CHECK_FALSE(b.next_due().has_value());
}

TEST_CASE("datagrams due at the same time come out in send order")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    for (std::uint32_t id = 0; id < 100; ++id)
        a.send(numbered(id));
    std::vector<std::uint32_t> ids;
    drain(b, ids);
    REQUIRE(ids.size() == 100);
    for (std::uint32_t id = 0; id < 100; ++id)
        CHECK(ids[id] == id);
}

TEST_CASE("jitter reorders datagrams by due time and never delivers one early")
{
    manual_clock clock;
    loopback_group group{clock, {.delay = 1ms, .jitter = 4ms}, 7};
    auto a = group.join();
    auto b = group.join();

    std::vector<std::uint32_t> ids;
    std::optional<audiocast::time_point> last_due;
    bool in_due_order = true;
    bool never_early = true;
    std::uint32_t next_id = 0;
    datagram buffer{};
    for (int step = 0; step < 20'000; ++step) {
        if (step % 10 == 0 && next_id < 1000) a.send(numbered(next_id++));
        for (;;) {
            const auto due = b.next_due();
            std::error_code ec;
            const std::size_t n = b.receive(buffer, ec);
            if (ec) break;
            REQUIRE(n == datagram_size);
            REQUIRE(due.has_value());
            never_early = never_early && *due <= clock.now();
            in_due_order = in_due_order && (!last_due || *last_due <= *due);
            last_due = due;
            ids.push_back(id_of(buffer));
        }
        clock.advance(100us);
    }
    CHECK(in_due_order);
    CHECK(never_early);
    REQUIRE(ids.size() == 1000);
    std::size_t out_of_send_order = 0;
    for (std::size_t i = 1; i < ids.size(); ++i)
        if (ids[i] < ids[i - 1]) ++out_of_send_order;
    CHECK(out_of_send_order > 100);
}

TEST_CASE("seeded loss drops datagrams at the configured rate")
{
    const trace t = listen({.loss = 0.1}, 1, 100'000, 0ns);
    CHECK(near_rate(t.counters.lost, 100'000, 0.1, 0.005));
    CHECK(t.counters.delivered == 100'000 - t.counters.lost);
    CHECK(t.ids.size() == t.counters.delivered);
    CHECK(t.counters.duplicated == 0);
    CHECK(t.counters.reordered == 0);
    CHECK(t.counters.overflowed == 0);
}

TEST_CASE("the same seed gives the same deliveries, another seed others")
{
    const trace first = listen(every_fault, 42, 20'000);
    const trace again = listen(every_fault, 42, 20'000);
    const trace other = listen(every_fault, 43, 20'000);
    CHECK(first.counters == again.counters);
    CHECK(first.ids == again.ids);
    CHECK_FALSE(first.counters == other.counters);
    CHECK_FALSE(first.ids == other.ids);
}

TEST_CASE("burst loss loses runs of mean length 1 / burst_end")
{
    const double burst_start = 0.02;
    const double burst_end = 0.25;
    const std::uint32_t count = 100'000;
    const trace t = listen({.burst_start = burst_start, .burst_end = burst_end}, 3, count, 0ns);
    REQUIRE(t.ids.size() == t.counters.delivered);

    std::uint64_t runs = 0;
    std::uint64_t lost = 0;
    std::uint32_t expected = 0;
    for (const std::uint32_t id : t.ids) {
        if (id != expected) {
            ++runs;
            lost += id - expected;
        }
        expected = id + 1;
    }
    if (expected != count) {
        ++runs;
        lost += count - expected;
    }
    CHECK(lost == t.counters.lost);
    REQUIRE(runs > 1000);
    const double mean_run = static_cast<double>(lost) / static_cast<double>(runs);
    CHECK(mean_run == Approx(1 / burst_end).epsilon(0.1));
    // Stationary share of the bad state: burst_start / (burst_start + burst_end).
    CHECK(near_rate(lost, count, burst_start / (burst_start + burst_end), 0.01));
}

TEST_CASE("the default fault settings lose nothing")
{
    const trace t = listen({}, 1, 10'000, 0ns);
    CHECK(t.counters.delivered == 10'000);
    CHECK(t.counters.lost == 0);
}

TEST_CASE("duplication delivers a second copy duplicate_delay later")
{
    manual_clock clock;
    loopback_group group{clock, {.duplicate = 1.0, .duplicate_delay = 100us}};
    auto a = group.join();
    auto b = group.join();
    a.send(numbered(9));

    std::vector<std::uint32_t> ids;
    drain(b, ids);
    CHECK(ids == std::vector<std::uint32_t>{9});
    clock.advance(100us - 1ns);
    drain(b, ids);
    CHECK(ids.size() == 1);
    clock.advance(1ns);
    drain(b, ids);
    CHECK(ids == std::vector<std::uint32_t>{9, 9});
    CHECK(b.counters().duplicated == 1);
    CHECK(b.counters().delivered == 2);
}

TEST_CASE("duplication happens at roughly its rate")
{
    const std::uint32_t count = 100'000;
    const trace t = listen({.duplicate = 0.05}, 5, count);
    CHECK(near_rate(t.counters.duplicated, count, 0.05, 0.005));
    CHECK(t.counters.delivered == count + t.counters.duplicated);
    std::vector<int> seen(count);
    for (const std::uint32_t id : t.ids)
        ++seen[id];
    std::uint64_t twice = 0;
    std::uint64_t otherwise = 0;
    for (const int s : seen) {
        if (s == 2) ++twice;
        if (s != 1 && s != 2) ++otherwise;
    }
    CHECK(twice == t.counters.duplicated);
    CHECK(otherwise == 0);
}

TEST_CASE("reordering holds a datagram back so a later one overtakes it")
{
    manual_clock clock;
    loopback_group group{clock, {.reorder = 1.0, .reorder_delay = 3ms}};
    auto a = group.join();
    auto b = group.join();
    a.send(numbered(1));
    group.set_faults({});
    clock.advance(1ms);
    a.send(numbered(2));

    std::vector<std::uint32_t> ids;
    drain(b, ids);
    CHECK(ids == std::vector<std::uint32_t>{2});
    clock.advance(2ms);
    drain(b, ids);
    CHECK(ids == std::vector<std::uint32_t>{2, 1});
    CHECK(b.counters().reordered == 1);
}

TEST_CASE("reordering happens at roughly its rate and inverts the order")
{
    const std::uint32_t count = 100'000;
    // Sent every 1 ms and held 3 ms: a held datagram is overtaken by the next
    // two, so it arrives below the highest id seen so far, unless both of those
    // were held too (p^2 = 0.25 %) or it was among the last two sent.
    const trace t = listen({.reorder = 0.05, .reorder_delay = 3ms}, 11, count, 1ms);
    CHECK(near_rate(t.counters.reordered, count, 0.05, 0.005));
    REQUIRE(t.ids.size() == count);

    std::uint64_t inversions = 0;
    std::uint32_t highest = 0;
    for (const std::uint32_t id : t.ids) {
        if (id < highest) ++inversions;
        highest = std::max(highest, id);
    }
    CHECK(inversions <= t.counters.reordered);
    CHECK(inversions >= t.counters.reordered - t.counters.reordered / 100);
}

TEST_CASE("a full queue drops what arrives and counts it")
{
    manual_clock clock;
    const std::size_t capacity = 8;
    loopback_group group{clock, {.delay = 1ms}, 1, capacity};
    auto a = group.join();
    auto b = group.join();
    for (std::uint32_t id = 0; id < 10; ++id)
        a.send(numbered(id));

    // Datagrams in flight count: the queue is a socket buffer, bounded.
    CHECK(b.pending() == capacity);
    CHECK(b.counters().overflowed == 2);

    clock.advance(1ms);
    std::vector<std::uint32_t> ids;
    drain(b, ids);
    CHECK(ids == std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7});

    a.send(numbered(10));
    clock.advance(1ms);
    drain(b, ids);
    CHECK(ids.back() == 10);
    CHECK(b.counters().overflowed == 2);
}

TEST_CASE("a member that leaves receives nothing more")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    a.send(numbered(1));
    REQUIRE(b.pending() == 1);

    b.leave();
    CHECK(group.members() == 1);
    CHECK(b.pending() == 0);
    a.send(numbered(2));
    datagram buffer{};
    std::error_code ec;
    CHECK(b.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    CHECK(a.counters().sent == 2);

    SECTION("leaving twice changes nothing")
    {
        b.leave();
        CHECK(group.members() == 1);
    }
    SECTION("a member that left can still send to the group")
    {
        b.send(numbered(3), ec);
        CHECK_FALSE(ec);
        CHECK(a.receive(buffer, ec) == datagram_size);
        CHECK(id_of(buffer) == 3);
    }
}

TEST_CASE("a destroyed member leaves the group")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    {
        auto b = group.join();
        CHECK(group.members() == 2);
    }
    CHECK(group.members() == 1);
    a.send(numbered(1));
}

TEST_CASE("a moved-from member is in no group, the moved-to one is")
{
    manual_clock clock;
    loopback_group group{clock};
    auto a = group.join();
    auto b = group.join();
    a.send(numbered(1));

    loopback_transport moved = std::move(b);
    CHECK(group.members() == 2);
    CHECK(moved.pending() == 1);

    // NOLINTBEGIN(bugprone-use-after-move): a moved-from member must fail cleanly.
    datagram buffer{};
    std::error_code ec;
    CHECK(b.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::bad_file_descriptor);
    b.send(numbered(2), ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    CHECK_THROWS_AS(b.send(numbered(2)), std::system_error);
    CHECK(b.pending() == 0);
    CHECK(b.counters() == loopback_counters{});
    b.leave();
    // NOLINTEND(bugprone-use-after-move)

    SECTION("move assignment leaves the group the target was in")
    {
        auto c = group.join();
        CHECK(group.members() == 3);
        c = std::move(moved);
        CHECK(group.members() == 2);
        CHECK(c.pending() == 1);
    }
}

TEST_CASE("members outlive their group")
{
    manual_clock clock;
    auto group = std::make_unique<loopback_group>(clock);
    auto a = group->join();
    auto b = group->join();
    group.reset();
    a.send(numbered(4));
    datagram buffer{};
    CHECK(b.receive(buffer) == datagram_size);
    CHECK(id_of(buffer) == 4);
}

TEST_CASE("adding a member does not change what the others see")
{
    const trace two = listen(every_fault, 99, 20'000, 1ms, 0);
    const trace three = listen(every_fault, 99, 20'000, 1ms, 1);
    CHECK(two.counters == three.counters);
    CHECK(two.ids == three.ids);
}

TEST_CASE("each member draws its own faults")
{
    manual_clock clock;
    loopback_group group{clock, {.loss = 0.5}, 5};
    auto a = group.join();
    auto b = group.join();
    auto c = group.join();
    std::vector<std::uint32_t> at_b;
    std::vector<std::uint32_t> at_c;
    for (std::uint32_t id = 0; id < 1000; ++id) {
        a.send(numbered(id));
        drain(b, at_b);
        drain(c, at_c);
    }
    CHECK(at_b != at_c);
    CHECK(b.counters().lost + b.counters().delivered == 1000);
    CHECK(c.counters().lost + c.counters().delivered == 1000);
}

TEST_CASE("fault settings out of range are clamped")
{
    manual_clock clock;
    loopback_group group{clock,
                         {.loss = 2.0,
                          .burst_start = -1.0,
                          .burst_end = std::numeric_limits<double>::quiet_NaN(),
                          .delay = -1ms,
                          .jitter = -1ms}};
    CHECK(group.faults().loss == 1.0);
    CHECK(group.faults().burst_start == 0.0);
    CHECK(group.faults().burst_end == 0.0);
    CHECK(group.faults().delay == 0ns);
    CHECK(group.faults().jitter == 0ns);

    group.set_faults({.reorder = 0.5, .reorder_delay = -3ms});
    CHECK(group.faults().loss == 0.0);
    CHECK(group.faults().reorder == 0.5);
    CHECK(group.faults().reorder_delay == 0ns);
}

TEST_CASE("the group's clock is the one its members are timed by")
{
    manual_clock clock;
    loopback_group group{clock, {.delay = 2ms}};
    auto a = group.join();
    auto b = group.join();
    a.send(numbered(1));
    group.clock().advance(2ms);
    CHECK(clock.now() == group.clock().now());
    datagram buffer{};
    CHECK(b.receive(buffer) == datagram_size);
}

TEST_CASE("sending and receiving allocate nothing once the queues have warmed up")
{
    manual_clock clock;
    const std::size_t capacity = 64;
    loopback_group group{clock,
                         {.loss = 0.1,
                          .burst_start = 0.01,
                          .burst_end = 0.5,
                          .duplicate = 0.1,
                          .reorder = 0.1,
                          .delay = 1ms,
                          .jitter = 3ms},
                         8,
                         capacity};
    auto a = group.join();
    auto b = group.join();
    auto c = group.join();
    const datagram d = numbered(0);
    datagram buffer{};
    std::error_code ec;

    // Warm-up: fill every queue to capacity with full-size datagrams once.
    for (std::size_t i = 0; i < 4 * capacity; ++i) {
        a.send(d, ec);
        b.send(d, ec);
    }
    REQUIRE(a.pending() == capacity);
    REQUIRE(b.pending() == capacity);
    REQUIRE(c.pending() == capacity);
    clock.advance(1s);
    while (a.receive(buffer, ec) != 0 || !ec) {
    }
    while (b.receive(buffer, ec) != 0 || !ec) {
    }
    while (c.receive(buffer, ec) != 0 || !ec) {
    }

    audiocast_test::counting_scope allocations;
    for (int i = 0; i < 10'000; ++i) {
        a.send(d, ec);
        b.send(d, ec);
        clock.advance(250us);
        while (b.receive(buffer, ec) != 0 || !ec) {
        }
        while (c.receive(buffer, ec) != 0 || !ec) {
        }
        while (a.receive(buffer, ec) != 0 || !ec) {
        }
    }
    CHECK(allocations.count() == 0);
    CHECK(c.counters().delivered > 10'000);
}

// Pins the generator and the order of draws. Every seeded test in the project
// depends on them, so a change here must be deliberate, and a platform where
// these numbers differ breaks the reproducibility promise.
TEST_CASE("the fault draws are the same on every platform")
{
    SECTION("splitmix64 matches its published reference output")
    {
        std::uint64_t state = 0;
        CHECK(audiocast::detail::loopback_splitmix64(state) == 0xE220A8397B1DCDAFu);
        CHECK(audiocast::detail::loopback_splitmix64(state) == 0x6E789E6AA1B965F4u);
        CHECK(audiocast::detail::loopback_splitmix64(state) == 0x06C45D188009454Fu);
    }
    SECTION("xoshiro256** stream 0 of seed 42")
    {
        audiocast::detail::loopback_random random{42, 0};
        CHECK(random.next() == 0x0030425E2A3DC334u);
        CHECK(random.next() == 0x057E19F0156C8A6Bu);
        CHECK(random.next() == 0x8C5C18F37D24DFD8u);
    }
    SECTION("a faulty path, end to end")
    {
        const trace t = listen(every_fault, 42, 20'000);
        CHECK(t.counters.delivered == 18'835);
        CHECK(t.counters.lost == 1'536);
        CHECK(t.counters.duplicated == 371);
        CHECK(t.counters.reordered == 399);
        CHECK(t.counters.overflowed == 0);
    }
}
