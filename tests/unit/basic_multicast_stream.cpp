#include <audiocast/loopback_stream.hpp>

#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using audiocast_test::harness;
using audiocast_test::make_source;

namespace {

// Lets late packets arrive, then plays out whatever is still buffered.
void drain(harness& h)
{
    h.run(300ms);
}

// Every source frame played once, in order, with no gap once playout began.
void require_bit_exact(const harness& h, std::size_t receiver)
{
    CHECK(h.without_silence(receiver) == h.source);
    auto played = h.trimmed(receiver);
    played.resize(std::min(played.size(), h.source.size()));
    CHECK(played == h.source);
}

} // namespace

namespace {

template <class Stream>
concept can_write = requires(Stream s, std::span<const std::int16_t> in) { s.write(in); };
template <class Stream>
concept can_pull = requires(Stream s, std::span<std::int16_t> out) { s.pull(out); };
template <class Stream>
concept can_pause = requires(Stream s) { s.pause(); };

} // namespace

// Role misuse used to be answered at run time three ways (an error code, a
// silent 0, an exception), and pull() could throw on the audio thread.
static_assert(can_write<audiocast::loopback_sender> && !can_write<audiocast::loopback_receiver>);
static_assert(can_pull<audiocast::loopback_receiver> && !can_pull<audiocast::loopback_sender>);
static_assert(can_pause<audiocast::loopback_sender> && !can_pause<audiocast::loopback_receiver>);
static_assert(noexcept(
    std::declval<audiocast::loopback_receiver&>().pull(std::declval<std::span<std::int16_t>>())));
static_assert(noexcept(std::declval<audiocast::loopback_sender&>().push(
    std::declval<std::span<const std::int16_t>>())));

TEST_CASE("a stream's role is part of its type")
{
    harness h{1};
    STATIC_REQUIRE(audiocast::loopback_sender::role() == audiocast::stream_role::sender);
    STATIC_REQUIRE(audiocast::loopback_receiver::role() == audiocast::stream_role::receiver);
    CHECK_FALSE(h.receivers[0].next_deadline());
}

TEST_CASE("a receiver plays the sender's audio bit-exact after the playout latency")
{
    harness h{1};
    h.source = make_source(48'000, 2);
    h.run(1200ms);
    drain(h);

    const auto& out = h.outputs[0];
    // 40 ms of silence (1920 frames) before the first frame.
    auto first = std::find_if(out.begin(), out.end(), [](std::int16_t v) { return v != 0; });
    CHECK((first - out.begin()) / 2 == 1920);
    require_bit_exact(h, 0);
    const auto s = h.receivers[0].stats();
    CHECK(s.packets_received == h.sender.sender().stats().packets_sent);
    CHECK(s.packets_lost == 0);
    CHECK(s.concealed_frames == 0);
    CHECK(s.underruns == 0);
}

TEST_CASE("a sender held up past max_lateness slips: every listener plays the source with one "
          "gap as long as the sender reports, bit-exact either side, and counts nothing lost")
{
    harness h{3};
    h.source = make_source(48'000, 2);
    h.run(300ms);
    // The sender's thread is held up for 30 ms (a loaded host) while the
    // listeners' devices go on pulling from what they buffered.
    for (int i = 0; i < 30; ++i) {
        h.pull_all();
        h.clock.advance(h.step);
    }
    h.run(900ms);
    drain(h);

    const auto sent = h.sender.sender().stats();
    REQUIRE(sent.schedule_slips == 1);
    const auto slipped = audiocast::frames_in(sent.slipped, 48'000);
    CHECK(slipped >= 1440 - 240); // no more late than the 30 ms, less the packet already due
    for (std::size_t r = 0; r < h.receivers.size(); ++r) {
        INFO("receiver " << r);
        CHECK(audiocast_test::inserted_silence(audiocast_test::trimmed(h.outputs[r], 2), h.source,
                                               2) == slipped);
        const auto s = h.receivers[r].stats();
        CHECK(s.packets_lost == 0);
        CHECK(s.concealed_frames == 0);
        CHECK(s.underruns == 0);
    }
    // The helper tells a gap from any other difference.
    auto shifted = h.source;
    shifted.erase(shifted.begin(), shifted.begin() + 2);
    CHECK(audiocast_test::inserted_silence(shifted, h.source, 2) == std::nullopt);
    CHECK(audiocast_test::inserted_silence(h.source, h.source, 2) == 0u);
}

TEST_CASE("reordered delivery plays out in order")
{
    audiocast::network_faults faults;
    faults.reorder = 0.3;
    faults.reorder_delay = 12ms;
    harness h{1, faults, 7};
    h.source = make_source(96'000, 2);
    h.run(2200ms);
    drain(h);

    const auto s = h.receivers[0].stats();
    CHECK(s.packets_reordered > 10);
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_late == 0);
    require_bit_exact(h, 0);
}

TEST_CASE("shuffled packets that all arrive before playout begins play in order")
{
    audiocast::pcm_codec codec;
    audiocast::sender_session<audiocast::pcm_codec> tx{codec, harness::fixed_ids()};
    audiocast::receiver_session<audiocast::pcm_codec> rx{codec};
    audiocast::manual_clock clock;
    const auto source = make_source(240 * 6, 2);
    tx.write(std::span<const std::int16_t>{source}, clock.now());

    std::vector<std::vector<std::byte>> packets;
    std::vector<std::byte> buf(tx.max_packet_bytes());
    for (int i = 0; i < 6; ++i) {
        const auto n = tx.next_packet(clock.now() + i * 5ms, clock.wall_now(), buf);
        REQUIRE(n > 0);
        packets.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (int i : {3, 1, 5, 0, 4, 2, 2, 0})
        rx.on_datagram(packets[static_cast<std::size_t>(i)], clock.now(), clock.wall_now());

    clock.advance(40ms);
    std::vector<std::int16_t> out(source.size());
    rx.pull(std::span<std::int16_t>{out}, clock.now());
    CHECK(out == source);
    CHECK(rx.stats().packets_duplicate == 2);
    CHECK(rx.stats().packets_received == 6);
}

TEST_CASE("duplicated packets play once")
{
    audiocast::network_faults faults;
    faults.duplicate = 0.2;
    harness h{1, faults, 3};
    h.source = make_source(48'000, 2);
    h.run(1200ms);
    drain(h);

    const auto s = h.receivers[0].stats();
    CHECK(s.packets_duplicate > 20);
    CHECK(s.packets_received == h.sender.sender().stats().packets_sent);
    require_bit_exact(h, 0);
}

TEST_CASE("under seeded loss, received + lost = sent exactly")
{
    auto seed = GENERATE(1u, 2u, 3u);
    audiocast::network_faults faults;
    faults.loss = 0.05;
    faults.burst_start = 0.01;
    faults.burst_end = 0.3;
    harness h{3, faults, seed};
    h.source = make_source(96'000, 2);
    h.run(2000ms);
    // A clean tail, so the last packets are not lost where nobody can tell.
    h.group.set_faults({});
    h.run(500ms);

    const auto sent = h.sender.sender().stats().packets_sent;
    for (std::size_t r = 0; r < h.receivers.size(); ++r) {
        const auto s = h.receivers[r].stats();
        CHECK(s.packets_lost > 0);
        CHECK(s.packets_received + s.packets_lost == sent);
        CHECK(s.concealed_frames > 0);
    }
}

TEST_CASE("sequence number and timestamp wraps count nothing lost")
{
    audiocast::sender_config cfg = harness::fixed_ids();
    cfg.initial_sequence = 65'500;                 // wraps after 36 packets
    cfg.initial_timestamp = 0xFFFF'FFFFu - 20'000; // wraps after about 0.4 s
    harness h{1, {}, 1, cfg};
    h.source = make_source(96'000, 2);
    h.run(2200ms);
    drain(h);

    const auto s = h.receivers[0].stats();
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_received == h.sender.sender().stats().packets_sent);
    CHECK(s.packets_received == 400);
    require_bit_exact(h, 0);
}

TEST_CASE("pause stops the stream without loss and play resumes where it stopped")
{
    harness h{2};
    h.source = make_source(96'000, 2);
    h.run(1000ms);
    const auto position_at_pause = h.sender.sender().position();
    h.sender.pause();
    h.sender.pause(); // a no-op
    CHECK(h.sender.paused());
    const auto sent_at_pause = h.sender.sender().stats().packets_sent;
    h.run(2000ms);
    CHECK(h.sender.sender().stats().packets_sent == sent_at_pause);
    CHECK(h.sender.sender().position() == position_at_pause);
    CHECK(h.receivers[0].receiver().state() == audiocast::playout_state::drained);

    const auto sequence_before = h.sender.sender().next_sequence();
    const auto timestamp_before = h.sender.sender().next_timestamp();
    h.sender.play();
    h.sender.play(); // a no-op
    h.tick();
    CHECK(h.sender.sender().next_sequence() == static_cast<std::uint16_t>(sequence_before + 1));
    // The first packet after PLAY carried a timestamp about 2 s (96000 frames) later.
    const auto jump =
        static_cast<std::uint32_t>(h.sender.sender().next_timestamp() - 240 - timestamp_before);
    CHECK(jump >= 96'000 - 48);
    CHECK(jump <= 96'000 + 48);
    h.run(1300ms);
    drain(h);

    for (std::size_t r = 0; r < h.receivers.size(); ++r) {
        const auto s = h.receivers[r].stats();
        CHECK(s.packets_lost == 0);
        CHECK(s.underruns == 0);
        CHECK(s.concealed_frames == 0);
        CHECK(h.without_silence(r) == h.source);
    }
    // About 2 s of silence sits between the two halves of the audio.
    const auto played = h.trimmed(0);
    std::size_t last_audio = 0;
    for (std::size_t f = 0; f < played.size() / 2; ++f)
        if (played[2 * f] != 0) last_audio = f;
    std::size_t silent_frames = 0;
    for (std::size_t f = 0; f < last_audio; ++f)
        if (played[2 * f] == 0 && played[2 * f + 1] == 0) ++silent_frames;
    CHECK(silent_frames >= 96'000 - 240);
    CHECK(silent_frames <= 96'000 + 240);
}

TEST_CASE("a receiver re-anchors playout on the first packet after a pause")
{
    harness h{1};
    h.source = make_source(96'000, 2);
    h.run(500ms);
    h.sender.pause();
    h.run(1000ms);
    h.sender.play();
    h.tick(); // the resumed packet arrives
    // Its timestamp jumped by the pause: believed once the next packet
    // follows it (RFC 3550 A.1's "two in a row", for timestamps too).
    CHECK(h.receivers[0].receiver().state() == audiocast::playout_state::drained);
    std::size_t silent_steps = 0;
    while (h.receivers[0].receiver().state() == audiocast::playout_state::drained) {
        h.tick();
        ++silent_steps;
        REQUIRE(silent_steps < 100);
    }
    CHECK(silent_steps == 5); // the next packet, 5 ms later
    // It still plays out one target latency after its own arrival.
    while (h.receivers[0].receiver().state() == audiocast::playout_state::buffering) {
        h.tick();
        ++silent_steps;
        REQUIRE(silent_steps < 100);
    }
    CHECK(silent_steps == 40);
}

TEST_CASE("a receiver that runs dry counts an underrun and recovers")
{
    auto cfg = harness::fixed_ids();
    cfg.queue_packets = 4; // so a stalled source soon leaves nothing to send
    harness h{1, {}, 1, cfg};
    h.source = make_source(96'000, 2);
    h.run(500ms);
    // The sender's source stalls for 100 ms without pausing: nothing to send.
    const auto written = h.written_frames;
    h.run(100ms, false);
    REQUIRE(h.written_frames == written);
    h.run(1800ms);
    drain(h);
    const auto s = h.receivers[0].stats();
    CHECK(s.underruns == 1);
    CHECK(s.packets_lost == 0);
    CHECK(h.without_silence(0) == h.source);
}

TEST_CASE("one sender reaches 100 receivers, every one bit-exact")
{
    harness h{100};
    h.source = make_source(24'000, 2);
    h.run(600ms);
    drain(h);
    for (std::size_t r = 0; r < h.receivers.size(); ++r) {
        INFO("receiver " << r);
        CHECK(h.receivers[r].stats().packets_lost == 0);
        CHECK(h.without_silence(r) == h.source);
    }
}

TEST_CASE("latency and IPDV come from the send-time extension")
{
    audiocast::network_faults faults;
    faults.delay = 7ms;
    harness h{1, faults};
    h.source = make_source(48'000, 2);
    h.run(1200ms);
    const auto s = h.receivers[0].stats();
    CHECK(s.latency_samples == h.sender.sender().stats().packets_sent);
    CHECK(s.latency_p50.count() == Approx(7e6).epsilon(0.02));
    CHECK(s.latency_p99.count() == Approx(7e6).epsilon(0.02));
    CHECK(s.latency_max == 7ms);
    CHECK(s.ipdv_p99 == 0ns);
    CHECK(s.jitter == 0ns);
}

TEST_CASE("a stranger on the group is counted and ignored")
{
    harness h{1};
    h.source = make_source(48'000, 2);
    auto stranger = h.group.join();
    audiocast::pcm_codec codec;
    audiocast::sender_config cfg;
    cfg.ssrc = 0xBAD;
    audiocast::sender_session<audiocast::pcm_codec> other{codec, cfg};
    const auto noise = make_source(240, 2);
    std::vector<std::byte> buf(other.max_packet_bytes());

    for (int i = 0; i < 1200; ++i) {
        if (i % 5 == 0 && i > 0) {
            other.write(std::span<const std::int16_t>{noise}, h.clock.now());
            const auto n = other.next_packet(h.clock.now(), h.clock.wall_now(), buf);
            stranger.send(std::span<const std::byte>{buf.data(), n});
            const std::byte junk[7]{};
            stranger.send(std::span<const std::byte>{junk});
        }
        h.tick();
    }
    drain(h);
    const auto s = h.receivers[0].stats();
    CHECK(s.packets_foreign >= 200);
    CHECK(s.packets_malformed >= 200);
    CHECK(s.packets_lost == 0);
    CHECK(h.without_silence(0) == h.source);
}

TEST_CASE("a receiver follows a restarted sender")
{
    harness h{1};
    h.source = make_source(48'000, 2);
    h.run(600ms);
    // The old sender disappears; after a while a new one (new SSRC) starts.
    h.run(700ms, false);
    audiocast::sender_config cfg;
    cfg.ssrc = 0xC0FFEE;
    audiocast::loopback_sender second{h.group.join(), audiocast::pcm_codec{}, h.clock, cfg};
    const auto source = make_source(48'000, 2);
    std::size_t written = 0;
    for (int i = 0; i < 1300; ++i) {
        if (written < 48'000)
            written += second.write(
                std::span<const std::int16_t>{source.data() + written * 2, (48'000 - written) * 2});
        second.poll();
        h.pull_all();
        h.clock.advance(1ms);
    }
    const auto& r = h.receivers[0].receiver();
    CHECK(r.source() == 0xC0FFEEu);
    CHECK(r.stats().source_changes == 2);
    CHECK(r.stats().packets_lost == 0);
}

namespace {
// A transport whose sends fail, as a full socket buffer would.
struct refusing_transport {
    void send(std::span<const std::byte>, std::error_code& ec)
    {
        ec = std::make_error_code(std::errc::no_buffer_space);
    }
    std::size_t receive(std::span<std::byte>, std::error_code& ec)
    {
        ec = std::make_error_code(std::errc::operation_would_block);
        return 0;
    }
};
} // namespace

TEST_CASE("a packet the transport refuses is reported and counted as failed")
{
    audiocast::manual_clock clock;
    audiocast::basic_multicast_stream<refusing_transport, audiocast::pcm_codec,
                                      audiocast::manual_clock>::sender tx{
        refusing_transport{}, audiocast::pcm_codec{}, clock};
    const auto source = make_source(240, 2);
    std::error_code ec;
    tx.write(std::span<const std::int16_t>{source}, ec);
    CHECK(ec == std::errc::no_buffer_space);
    CHECK(tx.sender().stats().packets_send_failed == 1);
}

TEST_CASE("with a statistics interval, stats() is published at most that often and lags by "
          "less than it, and the audio is the same")
{
    audiocast::receiver_config every_20ms;
    every_20ms.stats_interval = 20ms;
    harness h{1, {}, 1, harness::fixed_ids(), every_20ms};
    harness reference{1}; // publishes at every pull
    h.source = reference.source = make_source(24'000, 2);

    // 1 ms pulls: the counters move every 20 ms, never in between.
    std::uint64_t last = h.receivers[0].stats().packets_received;
    int changes = 0;
    for (int ms = 0; ms < 400; ++ms) {
        h.run(1ms);
        reference.run(1ms);
        const std::uint64_t now = h.receivers[0].stats().packets_received;
        const std::uint64_t truth = reference.receivers[0].stats().packets_received;
        if (now != last) {
            ++changes;
            CHECK(ms % 20 == 0); // published at the first pull, then every 20 ms
            CHECK(now == truth); // what was true when it was published
        }
        // Behind by at most 20 ms of 5 ms packets.
        CHECK(truth - now <= 4);
        last = now;
    }
    CHECK(changes >= 400 / 20 - 3); // counting starts with the first packet, after 40 ms
    CHECK(changes <= 400 / 20 + 1);
    drain(h);
    drain(reference);
    CHECK(h.outputs[0] == reference.outputs[0]);
}

TEST_CASE("a statistics interval over 1 s is refused with the limit named")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    audiocast::receiver_config cfg;
    cfg.stats_interval = 2s;
    CHECK(audiocast::check(cfg).code == audiocast::errc::invalid_stats_interval);
    CHECK_THROWS_WITH(
        (audiocast::loopback_receiver{group.join(), audiocast::pcm_codec{}, clock, cfg}),
        Catch::Contains("statistics interval 2000 ms") && Catch::Contains("0-1000"));
}

TEST_CASE("a reorder window beyond what duplicates are remembered for is refused with the limit "
          "named")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    audiocast::receiver_config cfg;
    cfg.max_misorder = 2000;
    CHECK(audiocast::check(cfg).code == audiocast::errc::invalid_reorder_window);
    CHECK_THROWS_WITH(
        (audiocast::loopback_receiver{group.join(), audiocast::pcm_codec{}, clock, cfg}),
        Catch::Contains("reorder window 2000 packets") && Catch::Contains("1-1023"));
    cfg.max_misorder = 0;
    CHECK(audiocast::check(cfg).code == audiocast::errc::invalid_reorder_window);
}
