// basic_multicast_stream's hand-off between a network thread and an audio
// thread, in real time and with no network: a loopback group (no faults, so a
// datagram is receivable as soon as it is sent) and the steady clock.
//
// The network thread writes or forwards the audio, polls the sender and the
// receiver, and advances the group's manual clock, which it alone uses; the
// audio thread only pull()s (and push()es, in the capture test), as an audio
// callback would. Both run at absolute 1 ms steps with sleep_until, so neither
// drifts, and both give up at a deadline. Catch2 is not thread-safe: the
// threads record what they saw and the test thread checks it after joining.
// Meant to run under ThreadSanitizer too, which proves the memory orders of
// the hand-off, not only the values.
#include <audiocast/loopback_stream.hpp>

#include "../support/allocation_counter.hpp"
#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;
using audiocast_test::head_skipped;
using audiocast_test::inserted_silence;
using audiocast_test::trimmed;
using stream = audiocast::basic_multicast_stream<audiocast::loopback_transport,
                                                 audiocast::pcm_codec, audiocast::steady_clock>;
using sender = stream::sender;
using receiver = stream::receiver;

constexpr unsigned channels = 2;
constexpr std::size_t block_frames = 48; // 1 ms at 48 kHz
constexpr std::size_t block_samples = block_frames * channels;
constexpr std::chrono::milliseconds step{1};
constexpr std::size_t steps = 1500;           // 1.5 s on each thread
constexpr std::size_t source_frames = 48'000; // 1 s: played out well before the end
// Allocations are counted over the audio thread's loop from here on: playout
// has started and every buffer on both sides has been touched.
constexpr std::size_t warm_up_steps = 300;
// Both threads give up here however late they are running.
constexpr auto time_limit = 10s;

// The audio thread runs half a step after the network thread. receiver_session
// starts a talkspurt at its first arrival + latency, and when the first pull
// after that moment finds it still buffering, it drops the frames the pull is
// late by (the "device opened late" rule, receiver_session::pull). Arrivals
// happen on the network thread's steps, so this puts the playout start about
// half a step from the audio thread's pulls, where timer jitter of a few tens
// of microseconds cannot cost the first frames.
constexpr auto audio_phase = 500us;

// An audio thread held up for longer than that (preempted on a busy machine,
// or slowed by ThreadSanitizer) at that moment still drops the frames it is
// late by, as the rule means it to. An attempt whose audio differs only so, by
// no more frames than the audio thread's worst pull was late, is run again, up
// to this many times in all; anything else fails at once.
constexpr int max_attempts = 3;

/// What the two threads share besides the streams: the start, the deadline,
/// and a flag either raises when the deadline passes.
class schedule {
public:
    schedule() : start_{steady::now() + 20ms}, deadline_{start_ + time_limit} {}

    /// Sleeps until step `k` (at `phase` into it); false when past the deadline.
    bool wait_for_step(std::size_t k, std::chrono::nanoseconds phase = {}) const
    {
        std::this_thread::sleep_until(at(k, phase));
        if (steady::now() < deadline_) return true;
        // Relaxed: the flag only ends loops; results travel through join().
        timed_out_.store(true, std::memory_order_relaxed);
        return false;
    }

    /// When step `k` (at `phase` into it) is due.
    [[nodiscard]] steady::time_point at(std::size_t k, std::chrono::nanoseconds phase = {}) const
    {
        return start_ + phase + k * step;
    }

    [[nodiscard]] bool timed_out() const { return timed_out_.load(std::memory_order_relaxed); }

private:
    steady::time_point start_;
    steady::time_point deadline_;
    mutable std::atomic<bool> timed_out_{false};
};

/// Counts allocations made (by any thread) while the audio thread runs its
/// steady state: from warm_up_steps to the end of its loop.
class steady_state_allocations {
public:
    void at_step(std::size_t k)
    {
        if (k == warm_up_steps) scope_.emplace();
    }
    std::uint64_t finish()
    {
        const std::uint64_t n = scope_ ? scope_->count() : 0;
        scope_.reset();
        return n;
    }

private:
    std::optional<audiocast_test::counting_scope> scope_;
};

/// The receiving end, its preallocated output, and what the audio thread saw.
struct listener {
    explicit listener(audiocast::loopback_group& group)
        : rx{group.join(), audiocast::pcm_codec{}, audiocast::steady_clock{}},
          output(steps * block_samples)
    {}

    /// With RTCP on `control`, reporting every `report_interval` or so.
    listener(audiocast::loopback_group& group, audiocast::loopback_group& control,
             std::chrono::nanoseconds report_interval)
        : rx{group.join(), control.join(), audiocast::pcm_codec{}, audiocast::steady_clock{},
             reporting_every(report_interval)},
          output(steps * block_samples)
    {}

    static audiocast::receiver_config reporting_every(std::chrono::nanoseconds interval)
    {
        audiocast::receiver_config c;
        c.rtcp_minimum_interval = interval;
        return c;
    }

    /// Audio thread: waits for step `k` and plays one block into the output;
    /// false past the deadline.
    bool pull_at(const schedule& when, std::size_t k)
    {
        if (!when.wait_for_step(k, audio_phase)) return false;
        worst_lateness = std::max(worst_lateness, steady::now() - when.at(k, audio_phase));
        rx.pull(std::span<std::int16_t>{output.data() + k * block_samples, block_samples});
        blocks_pulled = k + 1;
        return true;
    }

    /// Why to run the attempt again (see max_attempts); empty when it played
    /// bit-exact or something else went wrong (the checks then say what).
    [[nodiscard]] std::string retry_reason(const std::vector<std::int16_t>& source) const
    {
        const auto skipped = head_skipped(trimmed(output, channels), source, channels);
        if (!skipped || *skipped == 0 || *skipped > audiocast::frames_in(worst_lateness, 48'000))
            return {};
        return "the first " + std::to_string(*skipped) +
               " frames were dropped; the audio thread ran up to " +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::microseconds>(worst_lateness).count()) +
               " us late";
    }

    receiver rx;
    std::vector<std::int16_t> output;
    std::uint64_t allocations = 0;
    std::size_t blocks_pulled = 0;
    steady::duration worst_lateness{};
};

/// Runs `attempt(last)` until it returns no reason to run again, at most
/// max_attempts times; `last` tells it to check, whatever it found.
template <class Attempt>
void run_attempts(Attempt attempt)
{
    for (int n = 1; n <= max_attempts; ++n) {
        const std::string again = attempt(n == max_attempts);
        if (again.empty()) return;
        WARN("attempt " << n << " of " << max_attempts << " runs again: " << again);
    }
}

/// The checks both tests end with, on the test thread after the join.
void require_played_bit_exact(const listener& l, const std::vector<std::int16_t>& source,
                              const audiocast::sender_stats& sent)
{
    const std::uint64_t packets_sent = sent.packets_sent;
    INFO("audio thread pulled " << l.blocks_pulled << " blocks");
    CHECK(l.blocks_pulled == steps);
    const auto played = trimmed(l.output, channels);
    const auto skipped = head_skipped(played, source, channels);
    INFO("played " << played.size() / channels << " frames of " << source.size() / channels
                   << (skipped && *skipped > 0 ? ", all but the first " + std::to_string(*skipped) +
                                                     " (receiver_session's late-start rule)"
                                               : std::string{}));
    // A network thread held up past max_lateness (a loaded host) slips the
    // sender's schedule: a gap of what it reports, which the listener plays.
    const auto slipped = audiocast::frames_in(sent.slipped, 48'000);
    INFO("the sender slipped " << slipped << " frames");
    // not printed: 96'000 samples
    const bool bit_exact_but_the_slip = inserted_silence(played, source, channels) == slipped;
    CHECK(bit_exact_but_the_slip);
    const auto s = l.rx.stats();
    CHECK(s.packets_received == packets_sent);
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_late == 0);
    CHECK(s.packets_overrun == 0);
    CHECK(s.underruns == 0);
    CHECK(s.concealed_frames == 0);
    // pull() in steady state, and the network side running beside it, allocate nothing.
    CHECK(l.allocations == 0);
}

} // namespace

TEST_CASE("stream hand-off: a network thread writes and polls while an audio thread pulls 1 ms "
          "blocks, and the audio thread plays the source bit-exact without allocating")
{
    const auto source = audiocast_test::make_source(source_frames, channels);
    run_attempts([&source](bool last) -> std::string {
        audiocast::manual_clock network_clock;
        audiocast::loopback_group group{network_clock};
        sender tx{group.join(), audiocast::pcm_codec{}, audiocast::steady_clock{},
                  audiocast_test::harness::fixed_ids()};
        listener l{group};
        const schedule when;

        std::size_t written = 0;
        std::error_code first_error;
        std::size_t network_steps = 0;
        std::thread network{[&] {
            for (std::size_t k = 0; k < steps && when.wait_for_step(k); ++k) {
                std::error_code ec;
                // What the sender's queue takes; write() also sends what is due.
                if (written < source_frames)
                    written += tx.write(
                        std::span<const std::int16_t>{source}.subspan(written * channels), ec);
                if (!ec) tx.poll(ec);
                if (!ec) l.rx.poll(ec);
                if (ec && !first_error) first_error = ec;
                network_clock.advance(step);
                network_steps = k + 1;
            }
        }};
        std::thread audio{[&] {
            steady_state_allocations counted;
            for (std::size_t k = 0; k < steps; ++k) {
                counted.at_step(k);
                if (!l.pull_at(when, k)) break;
            }
            l.allocations = counted.finish();
        }};
        network.join();
        audio.join();
        if (auto again = l.retry_reason(source); !last && !again.empty()) return again;

        REQUIRE_FALSE(when.timed_out());
        CHECK(network_steps == steps);
        INFO("first network error: " << first_error.message());
        CHECK_FALSE(first_error);
        CHECK(written == source_frames);
        CHECK(tx.sender().queued_packets() == 0);
        CHECK(tx.sender().stats().packets_sent == 200);
        require_played_bit_exact(l, source, tx.sender().stats());
        return {};
    });
}

TEST_CASE("stream hand-off with RTCP: reports cross between the network and audio threads "
          "both ways, and the audio thread still plays bit-exact without allocating")
{
    const auto source = audiocast_test::make_source(source_frames, channels);
    run_attempts([&source](bool last) -> std::string {
        audiocast::manual_clock network_clock;
        audiocast::loopback_group group{network_clock};
        audiocast::loopback_group control{network_clock};
        audiocast::sender_config config = audiocast_test::harness::fixed_ids();
        config.rtcp_minimum_interval = 100ms; // several reports in 1.5 s
        sender tx{group.join(), control.join(), audiocast::pcm_codec{}, audiocast::steady_clock{},
                  config};
        listener l{group, control, 100ms};
        const schedule when;

        std::size_t written = 0;
        std::error_code first_error;
        std::thread network{[&] {
            // The streams date a datagram by their steady clock less the time
            // the group says it waited, and a round trip mixes both: so the
            // group's clock follows the steady clock here, read just before
            // each poll, or a late step would make a report seem to wait
            // longer than it did and its round trip less than nothing.
            const auto real_start = steady::now();
            const auto group_start = network_clock.now();
            const auto follow_real_time = [&] {
                const auto target = group_start + (steady::now() - real_start);
                if (target > network_clock.now()) network_clock.advance_to(target);
            };
            for (std::size_t k = 0; k < steps && when.wait_for_step(k); ++k) {
                std::error_code ec;
                if (written < source_frames)
                    written += tx.write(
                        std::span<const std::int16_t>{source}.subspan(written * channels), ec);
                // The sender reads receiver reports and sends its own; the
                // receiver hands the group's reports to the audio thread and
                // sends the ones pull() wrote.
                follow_real_time();
                if (!ec) tx.poll(ec);
                follow_real_time();
                if (!ec) l.rx.poll(ec);
                if (ec && !first_error) first_error = ec;
            }
        }};
        std::thread audio{[&] {
            steady_state_allocations counted;
            for (std::size_t k = 0; k < steps; ++k) {
                counted.at_step(k);
                if (!l.pull_at(when, k)) break;
            }
            l.allocations = counted.finish();
        }};
        network.join();
        audio.join();
        if (auto again = l.retry_reason(source); !last && !again.empty()) return again;

        REQUIRE_FALSE(when.timed_out());
        INFO("first network error: " << first_error.message());
        CHECK_FALSE(first_error);
        require_played_bit_exact(l, source, tx.sender().stats());
        const auto s = l.rx.stats();
        CHECK(s.sender_reports >= 3);
        CHECK(s.reports_sent >= 3);
        CHECK(s.control_malformed == 0);
        const audiocast::participant* heard =
            tx.sender().listeners().find(l.rx.receiver().own_ssrc());
        REQUIRE(heard != nullptr);
        REQUIRE(heard->about_us);
        CHECK(heard->about_us->cumulative_lost == 0);
        CHECK(heard->round_trip);
        return {};
    });
}

TEST_CASE("stream hand-off: an audio thread push()es captured 1 ms blocks into an as_written "
          "sender and pulls the receiver while a network thread polls both, and plays the source "
          "bit-exact without allocating")
{
    const auto source = audiocast_test::make_source(source_frames, channels);
    run_attempts([&source](bool last) -> std::string {
        audiocast::manual_clock network_clock;
        audiocast::loopback_group group{network_clock};
        auto config = audiocast_test::harness::fixed_ids();
        config.pacing = audiocast::pacing_mode::as_written;
        sender tx{group.join(), audiocast::pcm_codec{}, audiocast::steady_clock{}, config};
        listener l{group};
        const schedule when;

        std::error_code first_error;
        std::size_t network_steps = 0;
        std::thread network{[&] {
            for (std::size_t k = 0; k < steps && when.wait_for_step(k); ++k) {
                std::error_code ec;
                tx.poll(ec); // writes what was captured into the session and sends it
                if (!ec) l.rx.poll(ec);
                if (ec && !first_error) first_error = ec;
                network_clock.advance(step);
                network_steps = k + 1;
            }
        }};
        std::size_t captured = 0;
        std::size_t short_pushes = 0;
        std::thread audio{[&] {
            steady_state_allocations counted;
            for (std::size_t k = 0; k < steps; ++k) {
                counted.at_step(k);
                // A full-duplex callback: a block of playout out, a block of capture in.
                if (!l.pull_at(when, k)) break;
                if (captured < source_frames) {
                    const std::size_t frames = std::min(block_frames, source_frames - captured);
                    const std::size_t taken = tx.push(std::span<const std::int16_t>{source}.subspan(
                        captured * channels, frames * channels));
                    if (taken < frames) ++short_pushes; // the rest goes with the next block
                    captured += taken;
                }
            }
            l.allocations = counted.finish();
        }};
        network.join();
        audio.join();
        if (auto again = l.retry_reason(source); !last && !again.empty()) return again;

        REQUIRE_FALSE(when.timed_out());
        CHECK(network_steps == steps);
        INFO("first network error: " << first_error.message());
        CHECK_FALSE(first_error);
        CHECK(captured == source_frames);
        CHECK(short_pushes == 0);
        CHECK(tx.sender().queued_packets() == 0);
        CHECK(tx.sender().stats().packets_sent == 200);
        require_played_bit_exact(l, source, tx.sender().stats());
        return {};
    });
}
