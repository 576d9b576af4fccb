// A simulated hour on a lossy network, and the allocation check, in one pass:
// manual clock, loopback transport, nothing real.
#include <audiocast/basic_multicast_stream.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
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
    audiocast::loopback_stream tx;
    audiocast::loopback_stream rx;

    explicit soak_run(const audiocast::network_faults& faults)
        : group{clock, faults, 42},
          tx{audiocast::as_sender, group.join(), audiocast::pcm_codec{}, clock},
          rx{audiocast::as_receiver, group.join(), audiocast::pcm_codec{}, clock}
    {}

    soak_result run(std::chrono::seconds length);
};

soak_result soak_run::run(std::chrono::seconds length)
{
    const std::size_t step_frames = 240; // 5 ms
    std::vector<std::int16_t> in(step_frames * 2);
    std::vector<std::int16_t> out(step_frames * 2);
    std::uint64_t next_frame = 0;
    std::int64_t last_index = -1;
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
        for (std::size_t f = 0; f < step_frames; ++f) {
            const std::int32_t l = out[2 * f];
            if (l <= 0 || l + out[2 * f + 1] != modulus + 1) continue;
            ++r.played;
            // Each played frame is a later source frame than the one before it.
            const std::int64_t index = l - 1;
            if (last_index >= 0) {
                const auto ahead = (index - last_index + modulus) % modulus;
                if (ahead == 0 || ahead > modulus / 2) ++r.out_of_order;
            }
            last_index = index;
        }
        const auto buffered = rx.receiver().stats().buffered_frames;
        r.max_buffered = std::max(r.max_buffered, buffered);
        clock.advance(5ms);
    }
    r.final_buffered = rx.receiver().stats().buffered_frames;
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
