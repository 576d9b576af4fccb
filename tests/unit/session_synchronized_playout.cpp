// Synchronized playout (docs/architecture.md, Synchronized playout): every
// listener hears each frame when the common timeline says, whatever its clock.
//
// A deterministic simulation: one sender, listeners whose clocks are offset by
// seconds and run hundreds of ppm fast or slow, paths with jitter and loss,
// audio devices that pull on the listener's clock and play after an output
// latency. The audio is a ramp (each sample is its frame's number), so what a
// device plays at a given instant says which frame it is, to a fraction of a
// frame through the resampler.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>

#include "../support/sync_simulation.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using audiocast::test::sync_simulation;
using std::chrono::nanoseconds;

// The target: every frame within 50 us of the common timeline from 5 s after
// a listener joins, for an hour. Two listeners meet it (worst 18 and 25 us,
// p99 8 and 10 us); the bounds below leave a margin on what the simulation
// shows, so that a regression fails. The runs are seeded and repeat exactly.
TEST_CASE("synchronized playout: two listeners 10 s apart in clock and 400 ppm apart in rate, "
          "over paths with 2 ms of jitter and 1 % loss, hear every frame within 50 us of the "
          "common timeline from 5 s after they join, for a simulated hour")
{
    sync_simulation sim{{.jitter = 2ms, .loss = 0.01, .seed = 17}};
    sim.add({.offset = 9'300'000'000ns, .rate_ppm = 200, .output_latency = 20ms});
    sim.add({.offset = -10s, .rate_ppm = -200, .output_latency = 60ms, .join_at = 3s});
    sim.run(1h);
    const auto results = sim.listeners();
    for (const auto& l : results) {
        INFO("listener " << l.index << ": " << l.describe());
        CHECK(l.measured > 300'000);
        CHECK(l.quantile(0.5) < 10us);
        CHECK(l.quantile(0.99) < 25us);
        CHECK(l.worst_after_settling < 50us);
        CHECK(l.stats.sync_realignments <= 2);
        CHECK(l.stats.underruns == 0);
    }
}

// Not yet at the target: with send times stamped up to 1 ms before the
// datagrams leave, listeners stray to 61 and 91 us (p99 53 us) over ten
// minutes, where exact stamps keep them within 25 us. The media anchor and
// the answers' t3 both carry the sender's scheduling delay. The bounds are
// what the simulation shows, with a margin, until that is fixed.
TEST_CASE("synchronized playout: a sender whose datagrams leave up to 1 ms after they were "
          "stamped (its scheduler, pacing) keeps every listener within 150 us")
{
    sync_simulation sim{{.jitter = 2ms, .send_delay = 1ms, .loss = 0.01, .seed = 53}};
    sim.add({.offset = 3s, .rate_ppm = 120, .output_latency = 25ms});
    sim.add({.offset = -8s, .rate_ppm = -90, .output_latency = 50ms, .join_at = 2s});
    sim.run(10min);
    const auto results = sim.listeners();
    for (const auto& l : results) {
        INFO("listener " << l.index << ": " << l.describe());
        CHECK(l.measured > 50'000);
        CHECK(l.quantile(0.99) < 75us);
        CHECK(l.worst_after_settling < 150us);
        CHECK(l.stats.underruns == 0);
    }
}

// The sender's process stopped for 50 ms (a loaded host): its schedule
// slips and its timestamps move on with it, so listeners with devices 10 and
// 190 ms deep hear the gap at the same instant and play on in step, without
// placing themselves again. Before the timestamps moved with the schedule,
// each stepped to the new media clock when its own checks confirmed it.
TEST_CASE("synchronized playout: a sender that stalls for 50 ms leaves a gap every listener hears "
          "at the same instant, and they play on within 50 us of the common timeline")
{
    sync_simulation sim{{.jitter = 2ms,
                         .loss = 0.01,
                         .seed = 61,
                         .latency = 300ms,
                         .sender_stall_at = 20s,
                         .sender_stall_for = 50ms}};
    sim.add({.offset = 4s, .rate_ppm = 150, .output_latency = 10ms});
    sim.add({.offset = -6s, .rate_ppm = -150, .output_latency = 190ms, .join_at = 1s});
    sim.run(40s);
    const auto results = sim.listeners();
    for (const auto& l : results) {
        INFO("listener " << l.index << ": " << l.describe());
        CHECK(l.measured > 3'000);
        CHECK(l.worst_after_settling < 50us);
        CHECK(l.stats.sync_realignments == 0);
        CHECK(l.stats.underruns == 0);
    }
}

TEST_CASE("synchronized playout: a listener whose path is asymmetric plays late or early by half "
          "the asymmetry, the known limit")
{
    sync_simulation sim{{.jitter = 0ms, .loss = 0, .seed = 3}};
    sim.add({.offset = 2s,
             .rate_ppm = 0,
             .output_latency = 10ms,
             .downlink = 500us,
             .uplink = 2'500us});
    sim.run(20s);
    const auto results = sim.listeners();
    const auto& l = results.front();
    INFO(l.describe());
    // It believes the sender's clock 1 ms later than it is, so plays 1 ms early.
    CHECK(std::chrono::abs(l.last_error + 1ms) < 30us);
}

// Ten share the group's question budget (sender_clock::per_member), so each
// asks at less than half the rate two do, and the first half minute is
// looser: a p99 of 83 us and a worst of 101 us (listener 8) against 50 us.
// It is the estimate, not playout: with about 28 round trips a second over
// 2 ms of jitter, listener 8's estimate of the sender's clock is still 176 us
// off 3.5 s after it joined, and playout follows it.
TEST_CASE("synchronized playout: ten listeners joining seconds apart, each with its own device "
          "latency, hear frames within 50 us of the common timeline at the median and 150 us at "
          "the 99th percentile in their first half minute")
{
    sync_simulation sim{{.jitter = 2ms, .loss = 0.01, .seed = 29}};
    for (int i = 0; i < 10; ++i)
        sim.add({.offset = nanoseconds{(i - 5) * 1'700'000'000LL},
                 .rate_ppm = -180.0 + 40.0 * i,
                 .output_latency = nanoseconds{(5 + 7 * i) * 1'000'000LL},
                 .join_at = nanoseconds{i * 700'000'000LL}});
    sim.run(30s);
    const auto results = sim.listeners();
    for (const auto& l : results) {
        INFO("listener " << l.index << ": " << l.describe());
        CHECK(l.measured > 1'500);
        CHECK(l.quantile(0.5) < 50us);
        CHECK(l.quantile(0.99) < 150us);
        CHECK(l.worst_after_settling < 200us);
    }
}

TEST_CASE("synchronized playout on a shared wall clock (RFC 7273, NTP or PTP): listeners whose "
          "steady clocks run 400 ppm apart ask nothing, hear frames within 50 us of the common "
          "timeline, and are off by exactly the error of their wall clock")
{
    sync_simulation sim{{.jitter = 2ms, .loss = 0.01, .seed = 41}};
    sim.add(
        {.offset = 4s, .rate_ppm = 200, .output_latency = 20ms, .shared_wall_clock_error = 0ns});
    sim.add({.offset = -7s,
             .rate_ppm = -200,
             .output_latency = 45ms,
             .join_at = 2s,
             .shared_wall_clock_error = 0ns});
    // Its wall clock reads 300 us ahead of the sender's: it believes each frame
    // due 300 us earlier than it is, and plays it so.
    sim.add({.offset = 1s,
             .rate_ppm = 50,
             .output_latency = 10ms,
             .join_at = 1s,
             .shared_wall_clock_error = 300us});
    sim.run(60s);
    const auto results = sim.listeners();
    for (const auto& l : results) {
        INFO("listener " << l.index << ": " << l.describe());
        CHECK(l.measured > 5'000);
        CHECK(l.stats.clock_questions == 0);
        CHECK(l.stats.clock_answers_unmatched == 0);
        CHECK(l.stats.underruns == 0);
    }
    for (std::size_t i : {0u, 1u}) {
        INFO("listener " << i << ": " << results[i].describe());
        CHECK(results[i].quantile(0.99) < 50us);
        CHECK(results[i].worst_after_settling < 50us);
    }
    INFO("listener 2: " << results[2].describe());
    CHECK(std::chrono::abs(results[2].last_error + 300us) < 20us);
}

namespace {

// Mono 48 kHz playout at 40 ms latency, able to resample (unless `rate` is
// 0), holding `capacity_frames`.
audiocast::playout_timeline mono_playout(std::size_t capacity_frames, double rate = 0.001)
{
    return audiocast::playout_timeline{{.format = {audiocast::sample_format::l16, 48'000, 1},
                                        .latency = 40ms,
                                        .fade = 2ms,
                                        .max_rate_adjustment = rate,
                                        .capacity_frames = capacity_frames}};
}

// Playout of a mono ramp (frame n's sample is n << 16), all of it buffered,
// played to a schedule `offset` later than it was anchored; pulls of 10 ms
// for `seconds`. `playing`: the schedule comes once playout has started (on
// its arrival anchor), else before. Returns the playout's figures.
audiocast::receiver_stats play_ramp_to(nanoseconds offset, int seconds, bool playing = true)
{
    audiocast::playout_timeline playout = mono_playout(48'000 * 4);
    const audiocast::time_point t0{std::chrono::seconds{100}};
    std::vector<std::int32_t> ramp(48'000 * 3);
    for (std::size_t i = 0; i < ramp.size(); ++i)
        ramp[i] = static_cast<std::int32_t>(i << 8);
    playout.place(ramp, 0, t0, audiocast::playout_timeline::placing::start, false);
    std::vector<std::int32_t> out(480);
    int k = 0;
    if (playing) playout.pull(std::span{out}, t0 + 40ms + (k++) * 10ms);
    playout.synchronize(audiocast::common_schedule{
        .position = 0, .heard = t0 + 40ms + offset, .frame_ns = 1e9 / 48'000, .feed_forward = 0});
    for (; k < seconds * 100; ++k)
        playout.pull(std::span{out}, t0 + 40ms + k * 10ms);
    audiocast::receiver_stats s;
    playout.counters(s);
    return s;
}

} // namespace

TEST_CASE("synchronized playout: a listener 5 ms early, or 5 ms late, realigns once and then "
          "plays on the schedule")
{
    for (const nanoseconds offset : {nanoseconds{5ms}, nanoseconds{-5ms}}) {
        INFO("the schedule is " << offset.count() << " ns from where playout anchored");
        const auto s = play_ramp_to(offset, 2);
        CHECK(s.sync_realignments == 1);
        REQUIRE(s.sync_error);
        CHECK(std::chrono::abs(*s.sync_error) < 25us);
        CHECK(s.underruns == 0);
    }
}

TEST_CASE("synchronized playout: a listener that learns the schedule before it plays starts on it, "
          "with no realignment")
{
    for (const nanoseconds offset : {nanoseconds{5ms}, nanoseconds{-5ms}}) {
        INFO("the schedule is " << offset.count() << " ns from where playout anchored");
        const auto s = play_ramp_to(offset, 2, false);
        CHECK(s.sync_realignments == 0);
        REQUIRE(s.sync_error);
        CHECK(std::chrono::abs(*s.sync_error) < 25us);
        CHECK(s.underruns == 0);
    }
}

namespace {

// Playout on a schedule learnt before it starts, pulled every 10 ms for a
// second; then the device runs dry for `gap` (no pulls) and starts again
// with the same latency, told so (`told`) or not; then pulled for 400 ms.
// `packet_first`: the next packet is placed before the first pull after it.
audiocast::receiver_stats play_through_device_gap(nanoseconds gap, bool told,
                                                  bool packet_first = false)
{
    audiocast::playout_timeline playout = mono_playout(48'000 * 4);
    const audiocast::time_point t0{std::chrono::seconds{100}};
    const std::vector<std::int32_t> audio(48'000 * 3, 1 << 20);
    playout.synchronize(audiocast::common_schedule{
        .position = 0, .heard = t0 + 40ms, .frame_ns = 1e9 / 48'000, .feed_forward = 0});
    playout.place(audio, 0, t0, audiocast::playout_timeline::placing::start, false);
    std::vector<std::int32_t> out(480);
    audiocast::time_point now = t0 + 40ms;
    for (int k = 0; k < 100; ++k, now += 10ms)
        playout.pull(std::span{out}, now);
    now += gap;
    if (told) playout.restart_output();
    if (packet_first)
        playout.place(std::span{audio}.first(480), audio.size(), now,
                      audiocast::playout_timeline::placing::continues, false);
    for (int k = 0; k < 40; ++k, now += 10ms)
        playout.pull(std::span{out}, now);
    audiocast::receiver_stats s;
    playout.counters(s);
    return s;
}

} // namespace

// A PulseAudio stream that underflows waits to be refilled: every frame
// after plays later by that wait. Seen end to end as one listener's clicks
// 7.5 and 15 ms behind the others' for a second (tests/e2e/synchronized.py,
// stalled_listener_clicks_in_step_again).
TEST_CASE("synchronized playout: a device that ran dry for 200 ms and says so is back on the "
          "schedule at its next pull, not after a second or two of playing 200 ms late")
{
    const auto told = play_through_device_gap(200ms, true);
    CHECK(told.sync_realignments == 1);
    REQUIRE(told.sync_error);
    CHECK(std::chrono::abs(*told.sync_error) < 25us);
    // What fell due in the gap is skipped, not played late.
    CHECK(told.frames_discarded == 9'600);
    CHECK(told.underruns == 0);

    // A packet that comes between the restart and the next pull finds
    // playout due where the schedule has it, not where it last anchored.
    const auto packet_first = play_through_device_gap(200ms, true, true);
    CHECK(packet_first.frames_discarded == 9'600);
    CHECK(packet_first.packets_late == 0);
    REQUIRE(packet_first.sync_error);
    CHECK(std::chrono::abs(*packet_first.sync_error) < 25us);

    // Not told, playout waits for its rate control's window to see every
    // pull late; 400 ms later it still plays the 200 ms late.
    const auto untold = play_through_device_gap(200ms, false);
    REQUIRE(untold.sync_error);
    CHECK(*untold.sync_error > 190ms);
    CHECK(untold.sync_realignments == 0);
}

namespace {

// Playout that cannot resample (max_rate_adjustment 0) on a schedule from the
// start, at 20 ms output latency; after a second the device runs dry for
// 200 ms, and the latency it reports when it starts again is `misreport` off
// what it really is, and is right from the next pull on. Pulled every 10 ms
// for `after` more. `at_start`: the first report is off by as much too.
// Returns the playout's figures.
audiocast::receiver_stats restart_with_a_misreported_latency(nanoseconds misreport,
                                                             nanoseconds after,
                                                             nanoseconds at_start = {})
{
    audiocast::playout_timeline playout = mono_playout(48'000 * 8, 0);
    const audiocast::time_point t0{std::chrono::seconds{100}};
    const std::vector<std::int32_t> audio(48'000 * 6, 1 << 20);
    playout.set_output_latency(20ms + at_start);
    playout.synchronize(audiocast::common_schedule{
        .position = 0, .heard = t0 + 60ms, .frame_ns = 1e9 / 48'000, .feed_forward = 0});
    playout.place(audio, 0, t0, audiocast::playout_timeline::placing::start, false);
    std::vector<std::int32_t> out(480);
    audiocast::time_point now = t0 + 40ms;
    playout.pull(std::span{out}, now);
    playout.set_output_latency(20ms);
    for (int k = 1; k < 300; ++k) {
        now += 10ms;
        playout.pull(std::span{out}, now);
    }
    audiocast::receiver_stats before;
    playout.counters(before);
    if (at_start != nanoseconds{}) {
        // Placed off at the start, and checked before the device ran dry.
        CHECK(before.sync_realignments == 1);
        REQUIRE(before.sync_error);
        CHECK(std::chrono::abs(*before.sync_error) < 25us);
    }
    now += 10ms;
    now += 200ms;
    playout.set_output_latency(20ms + misreport);
    playout.restart_output();
    playout.pull(std::span{out}, now);
    playout.set_output_latency(20ms);
    for (auto end = now + after; now < end;) {
        now += 10ms;
        playout.pull(std::span{out}, now);
    }
    audiocast::receiver_stats s;
    playout.counters(s);
    return s;
}

} // namespace

// Seen end to end (tests/e2e/synchronized.py, stalled_listener_clicks_in_step_again,
// --max-rate-ppm 0): a listener whose device ran dry came back 15 to 17
// frames off the others and stayed there, its own figures saying -364 us.
TEST_CASE("synchronized playout that cannot resample, placed 360 us off after a device restart, "
          "places itself again once settled, and only once")
{
    for (const nanoseconds misreport : {nanoseconds{360us}, nanoseconds{-360us}}) {
        INFO("the latency reported at the restart is off by " << misreport.count() << " ns");
        const auto s = restart_with_a_misreported_latency(misreport, 2500ms);
        CHECK(s.sync_realignments == 2); // the restart, then the check
        REQUIRE(s.sync_error);
        CHECK(std::chrono::abs(*s.sync_error) < 25us);
        CHECK(s.underruns == 0);
    }
    // Within the check's tolerance, nothing moves: a realignment is a fade out and in.
    // (Not named "near": windows.h, which the single header includes there, defines it away.)
    const auto within_tolerance = restart_with_a_misreported_latency(60us, 2500ms);
    CHECK(within_tolerance.sync_realignments == 1);
    REQUIRE(within_tolerance.sync_error);
    CHECK(std::chrono::abs(*within_tolerance.sync_error + 60us) < 25us);
}

// Seen end to end about once in 20 runs before the check: one listener 46
// frames (0.96 ms) off the others for a whole run, just within realign_beyond.
TEST_CASE("synchronized playout that cannot resample, placed 960 us off at the start, places "
          "itself again once settled")
{
    for (const nanoseconds misreport : {nanoseconds{960us}, nanoseconds{-960us}}) {
        INFO("the first latency reported is off by " << misreport.count() << " ns");
        const auto s = restart_with_a_misreported_latency({}, 2500ms, misreport);
        CHECK(s.sync_realignments == 2); // the check at the start, then the restart
        REQUIRE(s.sync_error);
        CHECK(std::chrono::abs(*s.sync_error) < 25us);
        CHECK(s.underruns == 0);
    }
}

TEST_CASE("synchronized playout: a device restart before playout has started, or with no schedule, "
          "changes nothing")
{
    audiocast::playout_timeline playout = mono_playout(48'000);
    const audiocast::time_point t0{std::chrono::seconds{100}};
    const std::vector<std::int32_t> audio(4'800, 1 << 20);
    playout.restart_output();
    playout.place(audio, 0, t0, audiocast::playout_timeline::placing::start, false);
    std::vector<std::int32_t> out(480);
    playout.pull(std::span{out}, t0 + 40ms);
    playout.restart_output(); // no schedule: arrival-anchored playout stays
    playout.pull(std::span{out}, t0 + 50ms);
    audiocast::receiver_stats s;
    playout.counters(s);
    CHECK(s.sync_realignments == 0);
    CHECK(s.frames_discarded == 0);
    CHECK(std::ranges::all_of(out, [](std::int32_t v) { return v != 0; }));
}

TEST_CASE("synchronized playout: a listener waits in silence for the source's clock, and plays on "
          "its own schedule after sync_wait when the source never answers")
{
    using namespace audiocast;
    const audio_format mono{sample_format::l16, 48'000, 1};
    pcm_config pc;
    pc.format = mono;
    pc.packet_time = 10ms;
    sender_config sc;
    sc.ssrc = 0x51;
    sender_session<pcm_codec> tx{pcm_codec{pc}, sc};
    receiver_config rc;
    rc.synchronized_playout = true;
    rc.sync_wait = 2s;
    receiver_session<pcm_codec> rx{pcm_codec{pc}, rc};
    std::vector<std::int16_t> tone(480, 1000);
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::vector<std::int32_t> out(480);
    const time_point t0{std::chrono::seconds{50}};
    const wall_time w0{std::chrono::seconds{1'800'000'000}};
    std::optional<nanoseconds> first_sound;
    // Media only, no RTCP: nothing answers a question, no report comes.
    for (int k = 0; k < 400 && !first_sound; ++k) {
        const time_point now = t0 + k * 10ms;
        tx.write(std::span<const std::int16_t>{tone}, now);
        while (const std::size_t n = tx.next_packet(now, w0 + k * 10ms, packet))
            rx.on_datagram(std::span<const std::byte>{packet.data(), n}, now, w0 + k * 10ms);
        rx.pull(std::span<std::int32_t>{out}, now);
        if (std::ranges::any_of(out, [](std::int32_t v) { return v != 0; })) first_sound = k * 10ms;
    }
    REQUIRE(first_sound);
    CHECK(*first_sound >= 2s);
    CHECK(*first_sound < 2s + 100ms);
    CHECK_FALSE(rx.stats().sync_error);
}
