#include <audiocast/spsc_ring.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <span>

TEST_CASE("the public spsc_ring hands samples over in order and refuses what does not fit")
{
    audiocast::spsc_ring<std::int32_t> ring{6}; // rounded up to 8
    CHECK(ring.capacity() == 8);
    const std::array<std::int32_t, 10> in{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK(ring.push(std::span<const std::int32_t>{in}) == 8);
    CHECK(ring.size_approx() == 8);
    std::array<std::int32_t, 5> out{};
    CHECK(ring.pop(std::span<std::int32_t>{out}) == 5);
    CHECK(out == std::array<std::int32_t, 5>{1, 2, 3, 4, 5});
    CHECK(ring.push(std::span<const std::int32_t>{in}.subspan(8)) == 2);
    std::array<std::int32_t, 8> rest{};
    CHECK(ring.pop(std::span<std::int32_t>{rest}) == 5);
    CHECK(std::span<const std::int32_t>{rest}.first(5)[4] == 10);
}
