// A simulated hour on a lossy network, and the allocation check, in one pass:
// manual clock, loopback transport, nothing real.
#include <audiocast/loopback_stream.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Channel 0 carries the frame index modulo 16384 and channel 1 its complement,
// so a played frame proves which source frame it is (a faded or concealed one
// breaks the sum and is not taken for audio).
constexpr std::int32_t modulus = 16'384;
std::int16_t left(std::uint64_t f)
{
    return static_cast<std::int16_t>(f % modulus + 1);
}
std::int16_t right(std::uint64_t f)
{
    return static_cast<std::int16_t>(modulus + 1 - left(f));
}

/// Follows what a receiver plays, block by block: counts the frames that are
/// the source's and those that come out of order. The source runs no faster
/// than playout, so over a stretch of output shorter than half the modulus
/// (less the latency, `slack`) a later frame is less than half the modulus
/// ahead; over a longer gap (a pause, a long burst of loss) the index cannot
/// tell, and the order is not checked. Nor is it in a block where playout
/// resampled to hold its latency (`resampled`): an interpolated frame is a
/// blend of two neighbours, and one across the index's wrap reads as any
/// index at all. The resampler only moves forward (tests/unit/playout_rate.cpp).
class order_check {
public:
    explicit order_check(std::uint64_t slack) : slack_{slack} {}

    void block(std::span<const std::int16_t> stereo, bool resampled = false)
    {
        if (resampled) {
            ++resampled_blocks;
            last_index_ = -1;
        }
        for (std::size_t f = 0; f + 1 < stereo.size(); f += 2, ++position_) {
            const std::int32_t l = stereo[f];
            if (l <= 0 || l + stereo[f + 1] != modulus + 1) continue;
            ++played;
            if (resampled) continue;
            const std::int64_t index = l - 1;
            if (last_index_ >= 0 && position_ - last_position_ + slack_ < modulus / 2) {
                const auto ahead = (index - last_index_ + modulus) % modulus;
                if (ahead == 0 || ahead > modulus / 2) ++out_of_order;
            }
            last_index_ = index;
            last_position_ = position_;
        }
    }

    std::uint64_t played = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t resampled_blocks = 0;

private:
    std::uint64_t slack_;
    std::int64_t last_index_ = -1;
    std::uint64_t position_ = 0;
    std::uint64_t last_position_ = 0;
};

struct soak_result {
    std::uint64_t out_of_order = 0;
    std::uint64_t played = 0;
    std::uint64_t allocations = 0;
    std::uint64_t refused_writes = 0;
    std::size_t max_buffered = 0;
    std::size_t final_buffered = 0;
};

struct soak_run {
    audiocast::manual_clock clock;
    audiocast::loopback_group group;
    audiocast::loopback_sender tx;
    audiocast::loopback_receiver rx;

    explicit soak_run(const audiocast::network_faults& faults)
        : group{clock, faults, 42}, tx{group.join(), audiocast::pcm_codec{}, clock},
          rx{group.join(), audiocast::pcm_codec{}, clock}
    {}

    soak_result run(std::chrono::seconds length);
};

soak_result soak_run::run(std::chrono::seconds length)
{
    const std::size_t step_frames = 240; // 5 ms
    std::vector<std::int16_t> in(step_frames * 2);
    std::vector<std::int16_t> out(step_frames * 2);
    std::uint64_t next_frame = 0;
    order_check order{1920};
    soak_result r;
    const auto steps = static_cast<std::uint64_t>(length / 5ms);
    const std::uint64_t warmup = 2'000;
    std::uint64_t allocations_at_warmup = 0;

    for (std::uint64_t step = 0; step < steps + 200; ++step) {
        if (step == warmup) {
            allocations_at_warmup = audiocast_test::allocations_counted();
            audiocast_test::set_counting(true);
        }
        if (step == steps) {
            audiocast_test::set_counting(false);
            r.allocations = audiocast_test::allocations_counted() - allocations_at_warmup;
            // A clean tail so that the last packets' fate is known to the receiver.
            group.set_faults({});
        }
        for (std::size_t f = 0; f < step_frames; ++f, ++next_frame) {
            in[2 * f] = left(next_frame);
            in[2 * f + 1] = right(next_frame);
        }
        if (tx.write(std::span<const std::int16_t>{in}) != step_frames) ++r.refused_writes;
        rx.poll();
        rx.pull(std::span<std::int16_t>{out});
        order.block(out);
        const auto buffered = rx.receiver().buffered_frames();
        r.max_buffered = std::max(r.max_buffered, buffered);
        clock.advance(5ms);
    }
    r.final_buffered = rx.receiver().buffered_frames();
    r.played = order.played;
    r.out_of_order = order.out_of_order;
    return r;
}

} // namespace

TEST_CASE("a simulated hour on a lossy network keeps every invariant and never allocates")
{
    audiocast::network_faults faults;
    faults.loss = 0.02;
    faults.duplicate = 0.01;
    faults.reorder = 0.01;
    faults.reorder_delay = 12ms;
    faults.jitter = 2ms;

    soak_run run{faults};
    const auto r = run.run(std::chrono::hours{1});

    const auto sent = run.tx.sender().stats().packets_sent;
    const auto s = run.rx.stats();
    CHECK(sent == 720'200);
    CHECK(s.packets_received + s.packets_lost == sent);
    CHECK(static_cast<double>(s.packets_lost) == Approx(0.02 * 720'000).epsilon(0.05));
    CHECK(s.packets_duplicate > 0);
    CHECK(s.packets_reordered > 0);
    CHECK(r.refused_writes == 0);
    CHECK(r.out_of_order == 0);
    CHECK(r.played > sent * 240 / 100 * 95);
    // Memory stays bounded and playout stays at its 40 ms target (1920 frames,
    // less what one 5 ms pull takes), give or take the network's jitter.
    CHECK(r.max_buffered <= 1920 + 2 * 240);
    CHECK(r.final_buffered >= 1920 - 2 * 240);
    CHECK(r.final_buffered <= 1920 + 240);
    CHECK(s.underruns == 0);
    CHECK(r.allocations == 0);
}

namespace {

/// The network of one 10-minute slot of the day: each slot of an hour gets
/// one of these in turn, so every hour sees them all.
audiocast::network_faults profile_for(std::uint64_t slot)
{
    using namespace std::chrono_literals;
    audiocast::network_faults f;
    switch (slot % 6) {
    case 0: break; // clean
    case 1:        // bursty: ~20 % lost, in bursts of 4 packets on average
        f.burst_start = 0.06;
        f.burst_end = 0.25;
        f.loss = 0.01;
        break;
    case 2: // duplication and jitter
        f.duplicate = 0.05;
        f.jitter = 8ms;
        break;
    case 3: // reordering beyond the buffer: held 200 ms, far past the 40 ms latency
        f.reorder = 0.03;
        f.reorder_delay = 200ms;
        break;
    case 4: // a delay spike: 30 ms more one way, and jitter on top
        f.delay = 30ms;
        f.jitter = 5ms;
        break;
    case 5: // everything at once, mildly
        f.loss = 0.05;
        f.duplicate = 0.02;
        f.reorder = 0.02;
        f.reorder_delay = 15ms;
        f.jitter = 3ms;
        break;
    }
    return f;
}

} // namespace

TEST_CASE("a simulated day of harsh networks, pauses and sender restarts keeps every invariant",
          "[soak]")
{
    // 8 kHz stereo in 20 ms packets keeps 24 simulated hours to 4.3 million
    // steps and 0.7 billion frames, seconds of work: the network and timing
    // are what is under test, not the sample rate. Each hour: six 10-minute
    // slots, the first five under a harsh network profile and the last
    // clean; a 20-second pause in the middle of each slot; then the sender
    // stopping, 1 s of silence and a new sender (new SSRC, sequence and
    // timestamp) carrying on with the signal.
    const audiocast::pcm_config config{.format = {audiocast::sample_format::l16, 8000, 2},
                                       .packet_time = 20ms};
    const std::size_t frames = 160;                  // a packet, and a pull
    const std::size_t target = 320;                  // the 40 ms playout latency
    const std::size_t largest_delay_drop = 240 + 40; // 30 ms, and 5 ms of jitter
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock, {}, 7};
    audiocast::loopback_receiver rx{group.join(), audiocast::pcm_codec{config}, clock};
    std::optional<audiocast::loopback_sender> tx;
    tx.emplace(group.join(), audiocast::pcm_codec{config}, clock);

    std::vector<std::int16_t> in(frames * 2), out(frames * 2);
    std::uint64_t next_frame = 0, sent = 0, allocations = 0;
    std::uint64_t latency_misses = 0, hours_checked = 0, counted_from = 0, refused_writes = 0;
    order_check order{target};
    std::uint64_t accounting_misses = 0, resampled_before = 0;
    audiocast::receiver_stats counters;
    std::size_t max_buffered = 0;
    const auto step = config.packet_time;
    const auto steps_per_hour = static_cast<std::uint64_t>(3600s / step);
    const auto steps_per_slot = static_cast<std::uint64_t>(600s / step);

    for (std::uint64_t hour = 0; hour < 24; ++hour) {
        for (std::uint64_t s = 0; s < steps_per_hour; ++s) {
            const std::uint64_t slot = s / steps_per_slot;
            const std::uint64_t in_slot = s % steps_per_slot;
            // The first minute and the last slot of each hour are clean: a
            // receiver cannot count the loss of a source's first packets, nor
            // of its last, as lost.
            if (s == 0 || (slot == 5 && in_slot == 0))
                group.set_faults({});
            else if (slot < 5 && (in_slot == 0 || s == 3000) && s >= 3000)
                group.set_faults(profile_for(hour + slot));
            // A 20 s pause in the middle of each slot.
            if (in_slot == steps_per_slot / 2) tx->pause();
            if (in_slot == steps_per_slot / 2 + 1000) tx->play();
            // Past the first minute of the day, nothing allocates but a restart.
            if (hour == 0 && s == 3000) {
                counted_from = audiocast_test::allocations_counted();
                audiocast_test::set_counting(true);
            }

            if (!tx->paused()) {
                for (std::size_t f = 0; f < frames; ++f, ++next_frame) {
                    in[2 * f] = left(next_frame);
                    in[2 * f + 1] = right(next_frame);
                }
                if (tx->write(std::span<const std::int16_t>{in}) != frames) ++refused_writes;
            }
            rx.poll();
            rx.pull(std::span<std::int16_t>{out});
            rx.receiver().counters(counters); // constant time, unlike stats()
            order.block(out, counters.resampled_frames != resampled_before);
            resampled_before = counters.resampled_frames;
            const auto buffered = rx.receiver().buffered_frames();
            max_buffered = std::max(max_buffered, buffered);
            clock.advance(step);
        }
        // The end of the clean last slot: playout is back at its 40 ms target
        // (less the frames a pull takes, give or take a packet).
        ++hours_checked;
        const auto buffered = rx.receiver().buffered_frames();
        if (buffered + frames < target - frames || buffered > target + frames) ++latency_misses;

        // The sender restarts: it stops, 1 s passes, and a new one carries on.
        audiocast_test::set_counting(false);
        allocations += audiocast_test::allocations_counted() - counted_from;
        sent += tx->sender().stats().packets_sent;
        // Every packet of the hour's source is received or lost, none unaccounted.
        if (const auto st = rx.stats(); st.packets_received + st.packets_lost != sent)
            ++accounting_misses;
        tx.reset();
        for (int i = 0; i < 50; ++i) {
            rx.poll();
            rx.pull(std::span<std::int16_t>{out});
            clock.advance(step);
        }
        tx.emplace(group.join(), audiocast::pcm_codec{config}, clock);
        counted_from = audiocast_test::allocations_counted();
        audiocast_test::set_counting(true);
    }
    audiocast_test::set_counting(false);

    const auto s = rx.stats();
    CAPTURE(sent, s.packets_received, s.packets_lost, s.packets_late, s.packets_duplicate,
            s.packets_foreign, s.packets_discarded, s.resyncs, s.source_changes, s.underruns,
            order.played, max_buffered);
    CHECK(refused_writes == 0);
    CHECK(order.out_of_order == 0);
    // Playout resamples while it takes up and sheds the 30 ms delay spike of
    // each hour (about 100 s at 0.1 %), and is bit-exact the rest of the day.
    CAPTURE(order.resampled_blocks, s.resampled_frames);
    CHECK(order.resampled_blocks < 24 * steps_per_hour * 15 / 100);
    CHECK(s.packets_received + s.packets_lost == sent);
    CHECK(accounting_misses == 0);
    CHECK(s.source_changes == 24);
    CHECK(s.packets_foreign == 0);
    CHECK(latency_misses == 0);
    CHECK(hours_checked == 24);
    // Bounded: at most the target, the largest drop in delay (30 ms, after
    // which frames arrive that much early until playout re-anchors), a packet
    // and a pull.
    CHECK(max_buffered <= target + largest_delay_drop + 2 * frames);
    CHECK(allocations == 0);
    // Most of the day plays: at least 80 % of the frames sent.
    CHECK(order.played > sent * frames * 8 / 10);
}
