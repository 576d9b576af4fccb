#include <audiocast/session/source_selector.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast::endpoint;
using audiocast::source_selector;
using verdict = audiocast::source_selector::verdict;

namespace {

const audiocast::time_point t0{std::chrono::seconds{100}};
const audiocast::wall_time w0{std::chrono::seconds{1'800'000'000}};
const endpoint sender = endpoint::ipv4({192, 0, 2, 1}, 5000);
const endpoint stranger = endpoint::ipv4({192, 0, 2, 66}, 6000);

source_selector make()
{
    return source_selector{250ms, 64, 0x1234'5678'9ABC'DEF0};
}

/// A datagram whose one byte says which packet it was.
std::vector<std::byte> tagged(std::uint8_t tag)
{
    return std::vector<std::byte>(8, std::byte{tag});
}

verdict offer(source_selector& s, std::uint32_t ssrc, std::uint16_t seq, const endpoint& from,
              audiocast::time_point at, std::uint8_t tag = 0)
{
    return s.on_packet(ssrc, seq, from, tagged(tag), at, w0);
}

std::vector<std::uint8_t> released(source_selector& s)
{
    std::vector<std::uint8_t> tags;
    s.release_held([&](std::span<const std::byte> d, audiocast::time_point, audiocast::wall_time) {
        tags.push_back(static_cast<std::uint8_t>(d[0]));
    });
    return tags;
}

} // namespace

TEST_CASE("a source is chosen at its second packet in sequence, and its first is handed back",
          "[source_selector]")
{
    auto s = make();
    CHECK(offer(s, 7, 100, sender, t0, 1) == verdict::held);
    CHECK_FALSE(s.has_source());
    CHECK(s.foreign() == 1); // held: not played, so far
    CHECK(offer(s, 7, 101, sender, t0 + 5ms, 2) == verdict::adopted);
    CHECK(released(s) == std::vector<std::uint8_t>{1});
    CHECK(s.has_source());
    CHECK(s.ssrc() == 7);
    CHECK(s.source_endpoint() == sender);
    CHECK(s.foreign() == 0);
    CHECK(offer(s, 7, 102, sender, t0 + 10ms) == verdict::source);
}

TEST_CASE("packets with random SSRCs, or one SSRC and random numbers, never pass probation",
          "[source_selector]")
{
    auto s = make();
    std::uint64_t x = 0x9E37'79B9'7F4A'7C15u;
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    for (int i = 0; i < 10'000; ++i) {
        const bool same_ssrc = i % 2 == 0;
        const auto ssrc = same_ssrc ? 0xBADu : static_cast<std::uint32_t>(next());
        // Numbers far apart: never within the probation window of the last.
        const auto seq = static_cast<std::uint16_t>(i * 1000);
        CHECK(offer(s, ssrc, seq, stranger, t0 + i * 1us) != verdict::adopted);
    }
    CHECK_FALSE(s.has_source());
    CHECK(s.foreign() == 10'000);
}

TEST_CASE("probation tolerates a lost or reordered first packet, but not a duplicate",
          "[source_selector]")
{
    SECTION("a duplicate proves nothing")
    {
        auto s = make();
        CHECK(offer(s, 7, 100, sender, t0) == verdict::held);
        CHECK(offer(s, 7, 100, sender, t0) == verdict::held);
        CHECK(offer(s, 7, 103, sender, t0) == verdict::adopted); // two lost between
    }
    SECTION("reordered")
    {
        auto s = make();
        CHECK(offer(s, 7, 101, sender, t0, 2) == verdict::held);
        CHECK(offer(s, 7, 100, sender, t0, 1) == verdict::adopted);
        CHECK(released(s) == std::vector<std::uint8_t>{2});
    }
    SECTION("far apart starts again")
    {
        auto s = make();
        CHECK(offer(s, 7, 100, sender, t0) == verdict::held);
        CHECK(offer(s, 7, 100 + source_selector::probation_window + 1, sender, t0) ==
              verdict::held);
    }
}

TEST_CASE("the same SSRC from another address is another source", "[source_selector]")
{
    auto s = make();
    offer(s, 7, 100, sender, t0);
    offer(s, 7, 101, sender, t0);
    REQUIRE(s.has_source());
    (void)released(s);
    CHECK(offer(s, 7, 102, stranger, t0 + 1ms) == verdict::foreign);
    CHECK(offer(s, 7, 103, stranger, t0 + 2ms) == verdict::foreign); // validated, but not first
    CHECK(s.foreign() == 2);
    CHECK(s.source_endpoint() == sender);
}

TEST_CASE(
    "a validated source that keeps sending is never displaced, and one silent for the timeout "
    "is, by the next validated source at once",
    "[source_selector]")
{
    auto s = make();
    offer(s, 1, 10, sender, t0);
    offer(s, 1, 11, sender, t0);
    // A rival validates while the source sends every 5 ms.
    for (int i = 0; i < 100; ++i) {
        CHECK(offer(s, 2, static_cast<std::uint16_t>(500 + i), stranger, t0 + i * 5ms + 1ms) ==
              verdict::foreign);
        CHECK(offer(s, 1, static_cast<std::uint16_t>(12 + i), sender, t0 + i * 5ms + 2ms) ==
              verdict::source);
    }
    // The source falls silent; the rival, long validated, takes over once the
    // timeout has passed.
    const auto last = t0 + 99 * 5ms + 2ms;
    CHECK(offer(s, 2, 600, stranger, last + 249ms) == verdict::foreign);
    CHECK(offer(s, 2, 601, stranger, last + 250ms) == verdict::adopted);
    CHECK(s.ssrc() == 2);
    CHECK(offer(s, 1, 200, sender, last + 251ms) == verdict::foreign);
}

TEST_CASE("a BYE from the source's host hands over at once, and one from another host is ignored",
          "[source_selector]")
{
    auto s = make();
    offer(s, 1, 10, sender, t0);
    offer(s, 1, 11, sender, t0);
    const endpoint senders_rtcp = endpoint::ipv4({192, 0, 2, 1}, 5001);
    CHECK_FALSE(s.on_bye(1, stranger, t0 + 1ms));
    CHECK_FALSE(s.left());
    CHECK_FALSE(s.on_bye(9, senders_rtcp, t0 + 1ms)); // not the source's SSRC
    CHECK(s.on_bye(1, senders_rtcp, t0 + 1ms));
    CHECK(s.left());
    CHECK(offer(s, 2, 500, stranger, t0 + 2ms, 5) == verdict::held);
    CHECK(offer(s, 2, 501, stranger, t0 + 3ms, 6) == verdict::adopted);
    CHECK(released(s) == std::vector<std::uint8_t>{5});
    CHECK_FALSE(s.left());
}

TEST_CASE("a source that goes on sending after its BYE takes the BYE back", "[source_selector]")
{
    auto s = make();
    offer(s, 1, 10, sender, t0);
    offer(s, 1, 11, sender, t0);
    REQUIRE(s.on_bye(1, sender, t0 + 10ms));
    // Sent before the BYE, still on the way: the BYE stands.
    CHECK(offer(s, 1, 12, sender, t0 + 10ms + source_selector::bye_grace - 1ms) == verdict::source);
    CHECK(s.left());
    CHECK(offer(s, 1, 13, sender, t0 + 10ms + source_selector::bye_grace) == verdict::source);
    CHECK_FALSE(s.left());
}

TEST_CASE("a flood from one endpoint pushes out neither the held packet nor the probation of "
          "another's",
          "[source_selector]")
{
    auto s = make();
    CHECK(offer(s, 7, 100, sender, t0, 1) == verdict::held);
    for (int i = 0; i < 1000; ++i)
        offer(s, static_cast<std::uint32_t>(1000 + i), static_cast<std::uint16_t>(i * 977),
              stranger, t0 + 1ms);
    // Nor its place in the probation table: it validates at its second packet.
    CHECK(offer(s, 7, 101, sender, t0 + 5ms, 2) == verdict::adopted);
    CHECK(released(s) == std::vector<std::uint8_t>{1});
    // Every flooding datagram is counted once: dropped, pushed out, or held then forgotten.
    CHECK(s.foreign() == 1000);
}

TEST_CASE("a datagram too large to hold is counted foreign, and its source still validates",
          "[source_selector]")
{
    auto s = make();
    const std::vector<std::byte> big(65, std::byte{9});
    CHECK(s.on_packet(7, 100, sender, big, t0, w0) == verdict::foreign);
    CHECK(s.on_packet(7, 101, sender, big, t0, w0) == verdict::adopted);
    CHECK(released(s).empty());
    CHECK(s.foreign() == 1);
}
