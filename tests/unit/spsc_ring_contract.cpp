#include <audiocast/spsc_ring.hpp>

#include <audiocast/detail/datagram_ring.hpp>
#include <audiocast/detail/triple_buffer.hpp>
#include <audiocast/time.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;
using audiocast::spsc_ring;
using audiocast::time_point;
using audiocast::wall_time;
using audiocast::detail::datagram_meta;
using audiocast::detail::datagram_ring;
using audiocast::detail::triple_buffer;

namespace {

// Datagram `seq`: `size` bytes, each a function of the sequence number and its position.
std::vector<std::byte> datagram(std::size_t seq, std::size_t size)
{
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::byte>((seq * 31 + i * 7) & 0xff);
    return bytes;
}

time_point arrival(std::size_t seq)
{
    return time_point{std::chrono::nanoseconds{static_cast<std::int64_t>(seq) * 1000}};
}

wall_time arrival_wall(std::size_t seq)
{
    return wall_time{
        std::chrono::nanoseconds{1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq)}};
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b)
{
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

struct counters {
    std::uint64_t a{};
    std::uint64_t b{};
    std::uint64_t c{};
};

} // namespace

TEST_CASE("spsc_ring rounds its capacity up to a power of two")
{
    const auto [requested, rounded] = GENERATE(table<std::size_t, std::size_t>({
        {0, 1},
        {1, 1},
        {2, 2},
        {3, 4},
        {5, 8},
        {1000, 1024},
        {1024, 1024},
        {1025, 2048},
    }));
    const spsc_ring<int> ring(requested);
    CHECK(ring.capacity() == rounded);
    CHECK(ring.size_approx() == 0);
}

TEST_CASE("spsc_ring refuses a capacity no power of two in std::size_t can hold")
{
    CHECK_THROWS_AS(spsc_ring<std::uint8_t>(std::numeric_limits<std::size_t>::max()),
                    std::length_error);
}

TEST_CASE("spsc_ring gives values back in the order they were pushed")
{
    spsc_ring<int> ring(8);
    for (int i = 1; i <= 5; ++i)
        REQUIRE(ring.try_push(i * 10));
    CHECK(ring.size_approx() == 5);
    for (int i = 1; i <= 5; ++i) {
        int value = 0;
        REQUIRE(ring.try_pop(value));
        CHECK(value == i * 10);
    }
    CHECK(ring.size_approx() == 0);
}

TEST_CASE("spsc_ring refuses a push when full and a pop when empty")
{
    spsc_ring<int> ring(4);
    int value = -1;
    CHECK_FALSE(ring.try_pop(value));
    CHECK(value == -1);

    for (int i = 0; i < 4; ++i)
        REQUIRE(ring.try_push(i));
    CHECK(ring.size_approx() == 4);
    CHECK_FALSE(ring.try_push(99));
    CHECK(ring.size_approx() == 4);

    REQUIRE(ring.try_pop(value));
    CHECK(value == 0);
    CHECK(ring.try_push(4));
    CHECK_FALSE(ring.try_push(99));

    for (int expected = 1; expected <= 4; ++expected) {
        REQUIRE(ring.try_pop(value));
        CHECK(value == expected);
    }
    value = -1;
    CHECK_FALSE(ring.try_pop(value));
    CHECK(value == -1);
}

TEST_CASE("spsc_ring keeps order across many wrap-arounds")
{
    spsc_ring<std::uint32_t> ring(8);
    std::uint32_t next_in = 0;
    std::uint32_t next_out = 0;
    std::array<std::uint32_t, 8> chunk{};
    // Uneven pushes and pops, so the wrap point falls everywhere in a chunk.
    for (std::size_t round = 0; round < 10'000; ++round) {
        const std::size_t in = 1 + round % 7;
        for (std::size_t i = 0; i < in; ++i)
            chunk[i] = next_in + static_cast<std::uint32_t>(i);
        next_in += static_cast<std::uint32_t>(ring.push(std::span{chunk}.first(in)));

        const std::size_t out = 1 + (round * 5) % 8;
        const std::size_t got = ring.pop(std::span{chunk}.first(out));
        for (std::size_t i = 0; i < got; ++i)
            REQUIRE(chunk[i] == next_out++);
    }
    std::uint32_t value = 0;
    while (ring.try_pop(value))
        REQUIRE(value == next_out++);
    CHECK(next_out == next_in);
    CHECK(next_in > 30'000);
}

TEST_CASE("spsc_ring span push takes only what fits and span pop only what is there")
{
    spsc_ring<int> ring(8);
    std::array<int, 12> in{};
    std::iota(in.begin(), in.end(), 100);
    std::array<int, 12> out{};

    SECTION("a push into an empty ring stops at the capacity")
    {
        CHECK(ring.push(in) == 8);
        CHECK(ring.size_approx() == 8);
        CHECK(ring.push(in) == 0);
        CHECK(ring.pop(out) == 8);
        CHECK(std::equal(out.begin(), out.begin() + 8, in.begin()));
    }
    SECTION("a push into a partly filled ring stops at the free slots")
    {
        REQUIRE(ring.push(std::span{in}.first(5)) == 5);
        CHECK(ring.push(std::span{in}.subspan(5)) == 3);
        CHECK(ring.pop(out) == 8);
        CHECK(std::equal(out.begin(), out.begin() + 8, in.begin()));
    }
    SECTION("a pop stops at the queued values and leaves the rest of its span alone")
    {
        out.fill(-1);
        REQUIRE(ring.push(std::span{in}.first(3)) == 3);
        CHECK(ring.pop(out) == 3);
        CHECK(out[0] == 100);
        CHECK(out[2] == 102);
        CHECK(out[3] == -1);
        CHECK(ring.pop(out) == 0);
    }
    SECTION("a pop into a short span leaves the rest queued")
    {
        REQUIRE(ring.push(std::span{in}.first(6)) == 6);
        CHECK(ring.pop(std::span{out}.first(4)) == 4);
        CHECK(ring.size_approx() == 2);
        int value = 0;
        REQUIRE(ring.try_pop(value));
        CHECK(value == 104);
    }
    SECTION("empty spans move nothing")
    {
        CHECK(ring.push(std::span<const int>{}) == 0);
        CHECK(ring.pop(std::span<int>{}) == 0);
        CHECK(ring.size_approx() == 0);
    }
}

TEST_CASE("spsc_ring carries trivially copyable records whole")
{
    spsc_ring<counters> ring(2);
    REQUIRE(ring.try_push(counters{1, 2, 3}));
    counters value{};
    REQUIRE(ring.try_pop(value));
    CHECK(value.a == 1);
    CHECK(value.b == 2);
    CHECK(value.c == 3);
}

TEST_CASE("spsc_ring push and pop allocate nothing")
{
    spsc_ring<std::int32_t> ring(64);
    std::array<std::int32_t, 48> chunk{};
    std::int32_t value = 0;

    const audiocast_test::counting_scope allocations;
    for (int i = 0; i < 1000; ++i) {
        ring.push(chunk);
        ring.try_push(value);
        ring.pop(chunk);
        ring.try_pop(value);
    }
    CHECK(allocations.count() == 0);
}

TEST_CASE("datagram_ring carries datagrams of every size from 0 to max_bytes intact")
{
    constexpr std::size_t max_bytes = 64;
    datagram_ring ring(4, max_bytes);
    CHECK(ring.max_bytes() == max_bytes);
    CHECK(ring.capacity() == 4);

    for (std::size_t size = 0; size <= max_bytes; ++size) {
        const std::vector<std::byte> sent = datagram(size, size);
        REQUIRE(ring.push(sent, arrival(size), arrival_wall(size)));
        bool visited = false;
        REQUIRE(ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta& meta) {
            visited = true;
            CHECK(meta.size == size);
            CHECK(same_bytes(bytes, sent));
        }));
        CHECK(visited);
    }
    CHECK(ring.dropped_full() == 0);
    CHECK(ring.dropped_too_big() == 0);
}

TEST_CASE("datagram_ring keeps full slots apart at sizes around a cache line")
{
    // Every slot filled to its last byte, each with its own meta: no slot's
    // datagram may reach another's, at sizes either side of a cache line.
    for (const std::size_t max_bytes : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 127u, 2048u}) {
        CAPTURE(max_bytes);
        datagram_ring ring(8, max_bytes);
        for (std::size_t seq = 0; seq < 8; ++seq)
            REQUIRE(ring.push(
                datagram(seq, max_bytes), arrival(seq), arrival_wall(seq),
                audiocast::endpoint::ipv4({192, 0, 2, 1}, static_cast<std::uint16_t>(5000 + seq))));
        for (std::size_t seq = 0; seq < 8; ++seq)
            REQUIRE(
                ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta& meta) {
                    CHECK(meta.size == max_bytes);
                    CHECK(meta.arrival == arrival(seq));
                    CHECK(meta.arrival_wall == arrival_wall(seq));
                    CHECK(meta.from.port == 5000 + seq);
                    CHECK(same_bytes(bytes, datagram(seq, max_bytes)));
                }));
    }
}

TEST_CASE("datagram_ring refuses storage it cannot address")
{
    CHECK_THROWS_AS(datagram_ring(4, std::numeric_limits<std::size_t>::max() - 8),
                    std::length_error);
    CHECK_THROWS_AS(datagram_ring(std::size_t{1} << 60, 4096), std::length_error);
}

TEST_CASE("datagram_ring refuses and counts a datagram larger than max_bytes")
{
    datagram_ring ring(4, 16);
    CHECK_FALSE(ring.push(datagram(1, 17), arrival(1), arrival_wall(1)));
    CHECK_FALSE(ring.push(datagram(2, 1500), arrival(2), arrival_wall(2)));
    CHECK(ring.dropped_too_big() == 2);
    CHECK(ring.dropped_full() == 0);
    CHECK(ring.size_approx() == 0);

    CHECK(ring.push(datagram(3, 16), arrival(3), arrival_wall(3)));
    CHECK(ring.size_approx() == 1);
}

TEST_CASE("datagram_ring refuses and counts a datagram when every slot is taken")
{
    datagram_ring ring(3, 8); // rounded up to 4 slots
    REQUIRE(ring.capacity() == 4);
    for (std::size_t seq = 0; seq < 4; ++seq)
        REQUIRE(ring.push(datagram(seq, 8), arrival(seq), arrival_wall(seq)));
    CHECK_FALSE(ring.push(datagram(4, 8), arrival(4), arrival_wall(4)));
    CHECK_FALSE(ring.push(datagram(4, 8), arrival(4), arrival_wall(4)));
    CHECK(ring.dropped_full() == 2);
    CHECK(ring.dropped_too_big() == 0);

    // A too-big datagram into a full ring is counted as too big: size is checked first.
    CHECK_FALSE(ring.push(datagram(5, 9), arrival(5), arrival_wall(5)));
    CHECK(ring.dropped_too_big() == 1);
    CHECK(ring.dropped_full() == 2);

    // The refusals changed nothing queued.
    for (std::size_t seq = 0; seq < 4; ++seq) {
        REQUIRE(ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta& meta) {
            CHECK(meta.arrival == arrival(seq));
            CHECK(same_bytes(bytes, datagram(seq, 8)));
        }));
    }
    CHECK(ring.push(datagram(4, 8), arrival(4), arrival_wall(4)));
}

TEST_CASE("datagram_ring returns each datagram's arrival times with it")
{
    datagram_ring ring(8, 32);
    for (std::size_t seq = 0; seq < 8; ++seq)
        REQUIRE(ring.push(datagram(seq, seq * 4), arrival(seq), arrival_wall(seq)));
    CHECK(ring.size_approx() == 8);
    for (std::size_t seq = 0; seq < 8; ++seq) {
        datagram_meta seen{};
        REQUIRE(ring.consume_one(
            [&](std::span<const std::byte>, const datagram_meta& meta) { seen = meta; }));
        CHECK(seen.size == seq * 4);
        CHECK(seen.arrival == arrival(seq));
        CHECK(seen.arrival_wall == arrival_wall(seq));
    }
    CHECK(ring.size_approx() == 0);
}

TEST_CASE("datagram_ring lends the datagram from its own slot, not a copy")
{
    datagram_ring ring(1, 16);
    const std::vector<std::byte> first = datagram(1, 16);
    const std::vector<std::byte> second = datagram(2, 10);
    const std::byte* slot_of_first = nullptr;
    const std::byte* slot_of_second = nullptr;

    REQUIRE(ring.push(first, arrival(1), arrival_wall(1)));
    REQUIRE(ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta&) {
        slot_of_first = bytes.data();
    }));
    REQUIRE(ring.push(second, arrival(2), arrival_wall(2)));
    REQUIRE(ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta&) {
        slot_of_second = bytes.data();
        CHECK(same_bytes(bytes, second));
    }));

    // One slot: both datagrams were seen where the ring keeps them.
    CHECK(slot_of_first != first.data());
    CHECK(slot_of_first == slot_of_second);
}

TEST_CASE("datagram_ring consume_one on an empty ring calls nothing")
{
    datagram_ring ring(2, 16);
    bool called = false;
    CHECK_FALSE(
        ring.consume_one([&](std::span<const std::byte>, const datagram_meta&) { called = true; }));
    CHECK_FALSE(called);
}

TEST_CASE("datagram_ring frees the slot even when the visitor throws")
{
    datagram_ring ring(2, 16);
    REQUIRE(ring.push(datagram(1, 4), arrival(1), arrival_wall(1)));
    REQUIRE(ring.push(datagram(2, 4), arrival(2), arrival_wall(2)));

    const auto throwing = [](std::span<const std::byte>, const datagram_meta&) {
        throw std::runtime_error("visitor failed");
    };
    static_assert(!noexcept(ring.consume_one(throwing)));
    CHECK_THROWS_AS(ring.consume_one(throwing), std::runtime_error);
    CHECK(ring.size_approx() == 1);

    time_point seen{};
    const auto quiet = [&](std::span<const std::byte>, const datagram_meta& meta) noexcept {
        seen = meta.arrival;
    };
    static_assert(noexcept(ring.consume_one(quiet)));
    REQUIRE(ring.consume_one(quiet));
    CHECK(seen == arrival(2));
}

TEST_CASE("datagram_ring holds only empty datagrams when max_bytes is 0")
{
    datagram_ring ring(2, 0);
    CHECK(ring.push({}, arrival(1), arrival_wall(1)));
    CHECK_FALSE(ring.push(datagram(2, 1), arrival(2), arrival_wall(2)));
    CHECK(ring.dropped_too_big() == 1);
    REQUIRE(ring.consume_one([](std::span<const std::byte> bytes, const datagram_meta& meta) {
        CHECK(bytes.empty());
        CHECK(meta.size == 0);
    }));
}

TEST_CASE("datagram_ring push and consume allocate nothing")
{
    datagram_ring ring(16, 1500);
    const std::vector<std::byte> small = datagram(1, 200);
    const std::vector<std::byte> large = datagram(2, 1500);
    const std::vector<std::byte> too_big = datagram(3, 1501);
    std::size_t bytes_seen = 0;

    const audiocast_test::counting_scope allocations;
    for (std::size_t i = 0; i < 1000; ++i) {
        ring.push(small, arrival(i), arrival_wall(i));
        ring.push(large, arrival(i), arrival_wall(i));
        ring.push(too_big, arrival(i), arrival_wall(i));
        while (ring.consume_one([&](std::span<const std::byte> bytes, const datagram_meta&) {
            bytes_seen += bytes.size();
        })) {
        }
    }
    CHECK(allocations.count() == 0);
    CHECK(bytes_seen == 1000 * 1700);
}

TEST_CASE("triple_buffer reads a default value before any publish")
{
    triple_buffer<counters> buffer;
    CHECK_FALSE(buffer.has_fresh());
    const counters& value = buffer.read();
    CHECK(value.a == 0);
    CHECK(value.b == 0);
    CHECK(value.c == 0);
}

TEST_CASE("triple_buffer reads its initial value before any publish")
{
    triple_buffer<int> buffer(42);
    CHECK_FALSE(buffer.has_fresh());
    CHECK(buffer.read() == 42);
    CHECK(buffer.write_buffer() == 42);
}

TEST_CASE("triple_buffer read gives the latest of several publishes")
{
    triple_buffer<int> buffer;
    for (int i = 1; i <= 5; ++i) {
        buffer.write_buffer() = i;
        buffer.publish();
    }
    CHECK(buffer.has_fresh());
    CHECK(buffer.read() == 5);
}

TEST_CASE("triple_buffer has nothing fresh after a read until the next publish")
{
    triple_buffer<int> buffer;
    buffer.write_buffer() = 7;
    buffer.publish();
    REQUIRE(buffer.has_fresh());
    CHECK(buffer.read() == 7);
    CHECK_FALSE(buffer.has_fresh());
    CHECK(buffer.read() == 7);

    buffer.write_buffer() = 8;
    buffer.publish();
    CHECK(buffer.has_fresh());
    CHECK(buffer.read() == 8);
    CHECK_FALSE(buffer.has_fresh());
}

TEST_CASE("triple_buffer leaves the reader's value alone until its next read")
{
    triple_buffer<int> buffer;
    buffer.write_buffer() = 1;
    buffer.publish();
    const int& held = buffer.read();
    REQUIRE(held == 1);
    for (int i = 2; i <= 10; ++i) {
        buffer.write_buffer() = i;
        buffer.publish();
        CHECK(held == 1);
    }
    CHECK(buffer.read() == 10);
}

TEST_CASE("triple_buffer never hands the writer the buffer the reader holds")
{
    triple_buffer<int> buffer;
    for (int i = 1; i <= 100; ++i) {
        const int* reading = &buffer.read();
        buffer.write_buffer() = i;
        CHECK(&buffer.write_buffer() != reading);
        buffer.publish();
        CHECK(&buffer.write_buffer() != reading);
        if (i % 3 == 0) CHECK(buffer.read() == i);
    }
}

TEST_CASE("triple_buffer publish and read allocate nothing")
{
    triple_buffer<std::array<std::uint64_t, 32>> buffer;
    std::uint64_t sum = 0;

    const audiocast_test::counting_scope allocations;
    for (std::uint64_t i = 0; i < 1000; ++i) {
        buffer.write_buffer().fill(i);
        buffer.publish();
        sum += buffer.read()[31];
    }
    CHECK(allocations.count() == 0);
    CHECK(sum == 999 * 1000 / 2);
}
