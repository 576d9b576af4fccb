// Two-thread tests of the real-time hand-off (spsc_ring, datagram_ring,
// triple_buffer): one thread on each side, as the network thread and the audio
// callback use them. Meant to run under ThreadSanitizer too (the tsan preset,
// or by hand), which proves the memory orders, not only the values.
//
// Each test is bounded: both threads give up at a shared deadline or when the
// other raises the stop flag, so a lost wake-up or a broken ring fails the test
// instead of hanging it. Catch2 is not thread-safe, so the threads only record
// what they saw and the test thread checks it after joining them.
#include <audiocast/detail/datagram_ring.hpp>
#include <audiocast/spsc_ring.hpp>
#include <audiocast/detail/triple_buffer.hpp>
#include <audiocast/time.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using audiocast::time_point;
using audiocast::wall_time;
using audiocast::detail::datagram_meta;
using audiocast::detail::datagram_ring;
using audiocast::spsc_ring;
using audiocast::detail::triple_buffer;

namespace {

// Generous for two shared cores under ThreadSanitizer (the slowest run seen
// takes about a tenth of it); a healthy run never comes near.
constexpr auto time_limit = 20s;

// What both threads of one test share besides the object under test.
class race {
public:
    race() : deadline_{std::chrono::steady_clock::now() + time_limit} {}

    /// True while the thread should go on: no stop requested, deadline not passed.
    bool running() const noexcept
    {
        // Relaxed: the flag only ends loops; results travel through join().
        if (stop_.load(std::memory_order_relaxed)) return false;
        if (std::chrono::steady_clock::now() < deadline_) return true;
        timed_out_.store(true, std::memory_order_relaxed);
        return false;
    }

    /// Tells the other thread to give up (this one found a fault).
    void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

    bool timed_out() const noexcept { return timed_out_.load(std::memory_order_relaxed); }

private:
    std::chrono::steady_clock::time_point deadline_;
    std::atomic<bool> stop_{false};
    mutable std::atomic<bool> timed_out_{false};
};

// Runs `producer` and `consumer` on two threads and waits for both.
template <class Producer, class Consumer>
void run_pair(Producer producer, Consumer consumer)
{
    std::thread first{producer};
    std::thread second{consumer};
    first.join();
    second.join();
}

// Datagram `seq` of the datagram test: its size and bytes follow from the
// sequence number alone, so the consumer can rebuild what it should receive.
constexpr std::size_t max_datagram = 1500;

std::size_t datagram_size(std::uint64_t seq)
{
    return static_cast<std::size_t>((seq * 7919) % (max_datagram + 1));
}

void fill_datagram(std::uint64_t seq, std::span<std::byte> out)
{
    // A 64-bit LCG seeded by the sequence number, eight bytes a step.
    std::uint64_t state = seq * 0x9E37'79B9'7F4A'7C15u + 1;
    for (std::size_t at = 0; at < out.size(); at += sizeof state) {
        state = state * 6364136223846793005u + 1442695040888963407u;
        std::memcpy(out.data() + at, &state, std::min(sizeof state, out.size() - at));
    }
}

time_point arrival(std::uint64_t seq)
{
    return time_point{std::chrono::nanoseconds{static_cast<std::int64_t>(seq) * 125'000}};
}

wall_time arrival_wall(std::uint64_t seq)
{
    return wall_time{
        std::chrono::nanoseconds{1'700'000'000'000'000'000 + static_cast<std::int64_t>(seq) * 3}};
}

} // namespace

TEST_CASE("a million integers cross spsc_ring between two threads complete and in order")
{
    constexpr std::uint32_t total = 1'000'000;
    // Small, so the ring fills, drains and wraps all the time.
    spsc_ring<std::uint32_t> ring(256);
    race limits;

    std::uint32_t pushed = 0;
    const auto producer = [&] {
        // Single values and chunks of 1..61 in turn, so both push paths run.
        std::array<std::uint32_t, 61> chunk{};
        while (pushed < total && limits.running()) {
            std::size_t moved = 0;
            if (pushed % 3 == 0) {
                moved = ring.try_push(pushed) ? 1 : 0;
            } else {
                const std::size_t want =
                    std::min<std::size_t>(1 + pushed % chunk.size(), total - pushed);
                for (std::size_t i = 0; i < want; ++i)
                    chunk[i] = pushed + static_cast<std::uint32_t>(i);
                moved = ring.push(std::span{chunk}.first(want));
            }
            pushed += static_cast<std::uint32_t>(moved);
            if (moved == 0) std::this_thread::yield();
        }
    };

    std::uint32_t popped = 0;
    bool out_of_order = false;
    std::uint32_t seen_instead = 0;
    const auto consumer = [&] {
        // Single values and chunks of 1..47 in turn, so both pop paths run.
        std::array<std::uint32_t, 47> chunk{};
        while (popped < total && limits.running()) {
            std::size_t got = 0;
            if (popped % 2 == 0) {
                got = ring.try_pop(chunk[0]) ? 1 : 0;
            } else {
                got = ring.pop(std::span{chunk}.first(1 + popped % chunk.size()));
            }
            for (std::size_t i = 0; i < got; ++i) {
                if (chunk[i] != popped) {
                    out_of_order = true;
                    seen_instead = chunk[i];
                    limits.stop();
                    return;
                }
                ++popped;
            }
            if (got == 0) std::this_thread::yield();
        }
    };
    run_pair(producer, consumer);

    INFO("pushed " << pushed << ", popped " << popped);
    REQUIRE_FALSE(limits.timed_out());
    INFO("expected " << popped << ", got " << seen_instead);
    REQUIRE_FALSE(out_of_order);
    CHECK(pushed == total);
    CHECK(popped == total);
    CHECK(ring.size_approx() == 0);
}

TEST_CASE("datagrams cross datagram_ring between two threads intact and in order")
{
    constexpr std::uint64_t total = 200'000;
    constexpr std::uint64_t too_big_every = 1000;
    datagram_ring ring(64, max_datagram);
    race limits;

    std::uint64_t pushed = 0;
    std::uint64_t full_refusals = 0;
    std::uint64_t too_big_pushed = 0;
    bool too_big_accepted = false;
    const auto producer = [&] {
        std::vector<std::byte> datagram(max_datagram + 1);
        fill_datagram(0, std::span{datagram}.first(datagram_size(0)));
        while (pushed < total && limits.running()) {
            const std::span<const std::byte> next{datagram.data(), datagram_size(pushed)};
            if (ring.push(next, arrival(pushed), arrival_wall(pushed))) {
                ++pushed;
                if (pushed % too_big_every == 0) {
                    // Now and then one that can never fit: refused and counted, not queued.
                    ++too_big_pushed;
                    too_big_accepted |= ring.push(datagram, arrival(0), arrival_wall(0));
                }
                fill_datagram(pushed, std::span{datagram}.first(datagram_size(pushed)));
            } else {
                // Full: the audio side is behind; retry the same datagram.
                ++full_refusals;
                std::this_thread::yield();
            }
        }
    };

    std::uint64_t consumed = 0;
    bool wrong_meta = false;
    bool wrong_bytes = false;
    const auto consumer = [&] {
        std::vector<std::byte> expected(max_datagram);
        while (consumed < total && limits.running()) {
            const bool got = ring.consume_one([&](std::span<const std::byte> bytes,
                                                  const datagram_meta& meta) noexcept {
                const std::size_t size = datagram_size(consumed);
                wrong_meta = meta.size != size || bytes.size() != size ||
                             meta.arrival != arrival(consumed) ||
                             meta.arrival_wall != arrival_wall(consumed);
                fill_datagram(consumed, std::span{expected}.first(size));
                wrong_bytes = !wrong_meta && std::memcmp(bytes.data(), expected.data(), size) != 0;
            });
            if (!got) {
                std::this_thread::yield();
                continue;
            }
            if (wrong_meta || wrong_bytes) {
                limits.stop();
                return;
            }
            ++consumed;
        }
    };
    run_pair(producer, consumer);

    INFO("pushed " << pushed << ", consumed " << consumed << ", refused as full " << full_refusals);
    REQUIRE_FALSE(limits.timed_out());
    CHECK_FALSE(wrong_meta);
    CHECK_FALSE(wrong_bytes);
    CHECK(pushed == total);
    CHECK(consumed == total);
    CHECK(ring.dropped_full() == full_refusals);
    CHECK(ring.dropped_too_big() == too_big_pushed);
    CHECK(too_big_pushed == total / too_big_every);
    CHECK_FALSE(too_big_accepted);
    CHECK(ring.size_approx() == 0);
}

TEST_CASE("triple_buffer readers never see a torn value or time going backwards")
{
    // Larger than any atomic store, spread over two cache lines: a reader that
    // shared a buffer with the writer would see fields from two counters.
    struct snapshot {
        std::array<std::uint64_t, 16> fields{};
    };
    constexpr std::uint64_t total = 1'000'000;
    triple_buffer<snapshot> buffer;
    race limits;
    std::atomic<bool> reader_started{false};

    std::uint64_t published = 0;
    const auto writer = [&] {
        // Start once the reader is there, so the two really overlap.
        // Relaxed: this only times the start; the buffer orders the data.
        while (!reader_started.load(std::memory_order_relaxed) && limits.running())
            std::this_thread::yield();
        while (published < total && limits.running()) {
            ++published;
            buffer.write_buffer().fields.fill(published);
            buffer.publish();
        }
    };

    std::uint64_t last = 0;
    std::uint64_t distinct = 0;
    bool torn = false;
    bool backwards = false;
    const auto reader = [&] {
        reader_started.store(true, std::memory_order_relaxed);
        while (last < total && limits.running()) {
            const bool fresh = buffer.has_fresh();
            const snapshot& value = buffer.read();
            const std::uint64_t first = value.fields[0];
            torn = std::any_of(value.fields.begin(), value.fields.end(),
                               [&](std::uint64_t field) { return field != first; });
            backwards = first < last;
            if (torn || backwards) {
                limits.stop();
                return;
            }
            if (first != last) ++distinct;
            last = first;
            if (!fresh) std::this_thread::yield();
        }
    };
    run_pair(writer, reader);

    INFO("published " << published << ", last read " << last << ", distinct values read "
                      << distinct);
    REQUIRE_FALSE(limits.timed_out());
    CHECK_FALSE(torn);
    CHECK_FALSE(backwards);
    CHECK(published == total);
    CHECK(last == total);
}
