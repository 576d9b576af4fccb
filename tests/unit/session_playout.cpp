// The playout timeline alone: packets placed at positions with arrival
// times, frames pulled at times of the test's choosing. No session, no
// codec, no clock.
#include <audiocast/session/playout.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast::playout_state;
using audiocast::playout_timeline;
using placing = audiocast::playout_timeline::placing;

namespace {

constexpr std::uint32_t rate = 48'000;
constexpr std::size_t packet_frames = 240; // 5 ms, mono

playout_timeline make_playout(std::chrono::nanoseconds latency = 40ms, double max_rate = 0.0)
{
    return playout_timeline{{.format = {audiocast::sample_format::l16, rate, 1},
                             .latency = latency,
                             .fade = 0ms,
                             .max_rate_adjustment = max_rate,
                             .capacity_frames = 48'000}};
}

/// One packet whose every sample is `value` (in the top 16 bits, as the
/// codec concept holds samples), so the pulled int16 frames show it.
std::vector<std::int32_t> packet_of(std::int16_t value)
{
    return std::vector<std::int32_t>(packet_frames, std::int32_t{value} * 65'536);
}

audiocast::time_point at(std::chrono::nanoseconds t)
{
    return audiocast::time_point{t};
}

/// Pulls `frames` frames at `now`.
std::vector<std::int16_t> pull(playout_timeline& p, std::size_t frames,
                               std::chrono::nanoseconds now)
{
    std::vector<std::int16_t> out(frames);
    p.pull(std::span<std::int16_t>{out}, at(now));
    return out;
}

std::size_t count(const std::vector<std::int16_t>& v, std::int16_t value)
{
    return static_cast<std::size_t>(std::count(v.begin(), v.end(), value));
}

} // namespace

TEST_CASE("a playout timeline plays the first packet one latency after it arrived")
{
    auto p = make_playout(40ms);
    CHECK(p.state() == playout_state::idle);
    p.place(packet_of(7), 1'000, at(100ms), placing::start, false);
    CHECK(p.state() == playout_state::buffering);
    // Pulled at 120 ms: 20 ms (960 frames) of silence, the packet, and
    // silence again once the buffer has run dry.
    const auto out = pull(p, 1'500, 120ms);
    CHECK(count(std::vector<std::int16_t>(out.begin(), out.begin() + 960), 0) == 960);
    CHECK(count(out, 7) == packet_frames);
    CHECK(p.state() == playout_state::drained);
}

TEST_CASE("a playout timeline conceals a missing packet and counts it, then plays the next")
{
    auto p = make_playout();
    p.place(packet_of(1000), 0, at(0ms), placing::start, false);
    p.place(packet_of(3000), 2 * packet_frames, at(10ms), placing::other, false);
    const auto out = pull(p, 3 * packet_frames, 40ms);
    CHECK(count(out, 1000) == packet_frames);
    // The gap fades out from the last frame and the audio after it fades
    // back in, over one frame here.
    CHECK(count(out, 500) == 1);
    CHECK(count(out, 1500) == 1);
    CHECK(count(out, 3000) == packet_frames - 1);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.concealed_frames == packet_frames);
    CHECK(s.underruns == 0);
}

TEST_CASE("a playout timeline that runs dry counts an underrun, unless the marker says the "
          "sender paused")
{
    auto p = make_playout();
    p.place(packet_of(1), 0, at(0ms), placing::start, false);
    (void)pull(p, 2 * packet_frames, 40ms);
    CHECK(p.state() == playout_state::drained);
    p.place(packet_of(2), packet_frames, at(60ms), placing::continues, false);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.underruns == 1);
    (void)pull(p, 2'400, 100ms);
    p.place(packet_of(3), 10 * packet_frames, at(500ms), placing::jump, true, 2 * packet_frames);
    p.counters(s);
    CHECK(s.underruns == 1);
    CHECK(count(pull(p, 2'400, 540ms), 3) == packet_frames);
}

TEST_CASE("a jump forward within the window while playing is filler silence, not loss")
{
    auto p = make_playout();
    p.place(packet_of(1), 0, at(0ms), placing::start, false);
    p.place(packet_of(2), 4 * packet_frames, at(5ms), placing::jump, false, packet_frames);
    const auto out = pull(p, 5 * packet_frames, 40ms);
    CHECK(count(out, 1) == packet_frames);
    CHECK(count(out, 2) == packet_frames);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.concealed_frames == 0);
    CHECK(s.resyncs == 0);
}

TEST_CASE("a new source that follows plays after the buffered audio, which is not discarded")
{
    auto p = make_playout(40ms);
    p.place(packet_of(1), 0, at(0ms), placing::start, false);
    p.place(packet_of(1), packet_frames, at(5ms), placing::continues, false);
    (void)pull(p, packet_frames, 40ms); // the first packet has played
    REQUIRE(p.has_audio_to_play());
    // Arrives at 50 ms: due at 90 ms, while the old audio ends at 50 ms.
    const std::uint64_t position = p.following_position(at(50ms));
    CHECK(position == 2 * packet_frames + 1'920);
    p.place(packet_of(2), position, at(50ms), placing::follows, false);
    const auto out = pull(p, 4'800, 45ms);
    CHECK(count(out, 1) == packet_frames);
    CHECK(count(out, 2) == packet_frames);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.frames_discarded == 0);
    CHECK(s.concealed_frames == 0);
}

TEST_CASE("a new source that starts over discards what was buffered, and counts it")
{
    auto p = make_playout();
    p.place(packet_of(1), 0, at(0ms), placing::start, false);
    p.place(packet_of(2), 90'000, at(5ms), placing::start, false);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.frames_discarded == packet_frames);
    CHECK(count(pull(p, 4'800, 45ms), 1) == 0);
}

TEST_CASE("a playout timeline first pulled well after its start time drops the frames it is late "
          "by, and counts them as discarded")
{
    auto p = make_playout(40ms);
    for (std::uint32_t k = 0; k < 10; ++k)
        p.place(packet_of(static_cast<std::int16_t>(k + 1)),
                1'000 + k * static_cast<std::uint32_t>(packet_frames), at(100ms),
                k == 0 ? placing::start : placing::continues, false);
    // Due at 140 ms, first pulled at 170 ms (the device opened late): the
    // 30 ms due before, six packets, are not played late but dropped.
    const auto out = pull(p, packet_frames, 170ms);
    CHECK(count(out, 7) == packet_frames);
    audiocast::receiver_stats s;
    p.counters(s);
    CHECK(s.frames_discarded == 6 * packet_frames);
}
