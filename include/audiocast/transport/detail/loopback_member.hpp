// audiocast — one member's path in a loopback_group: the seeded generator,
// the fault draws and the queue of datagrams due. Internal to
// transport/loopback.hpp, whose file comment states what is drawn and in what
// order, so that every run and every platform see the same deliveries.
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/time.hpp>
#include <audiocast/transport/network_faults.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast::detail {

/// splitmix64's output function; also the seeder xoshiro's authors recommend.
constexpr std::uint64_t loopback_splitmix64(std::uint64_t& state) noexcept
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, and fully
/// specified, so every platform draws the same numbers from the same seed.
class loopback_random {
public:
    /// Stream `stream` of generator `seed`: the odd multiplier spreads stream
    /// numbers over the whole seed space so neighbouring streams do not start
    /// on overlapping splitmix64 sequences.
    constexpr loopback_random(std::uint64_t seed, std::uint64_t stream) noexcept
    {
        std::uint64_t sm = seed ^ ((stream + 1) * 0xD1B54A32D192ED03u);
        for (auto& word : s_)
            word = loopback_splitmix64(sm);
        if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1; // all-zero state is a fixed point
    }

    constexpr std::uint64_t next() noexcept
    {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform in [0, 1): the top 53 bits scaled by 2^-53, exact in IEEE double.
    constexpr double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// Uniform in [0, n]. The modulo bias is below n / 2^64, far under anything
    /// a test can measure, and integer arithmetic keeps it identical everywhere.
    constexpr std::uint64_t up_to(std::uint64_t n) noexcept
    {
        return n == std::numeric_limits<std::uint64_t>::max() ? next() : next() % (n + 1);
    }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept
    {
        return (x << k) | (x >> (64 - k));
    }

    std::uint64_t s_[4]{};
};

inline network_faults loopback_clamped(network_faults f) noexcept
{
    // `p >= 0.0` is false for NaN, which therefore becomes 0.
    const auto probability = [](double p) { return p >= 0.0 ? std::min(p, 1.0) : 0.0; };
    const auto duration = [](std::chrono::nanoseconds d) {
        return std::max(d, std::chrono::nanoseconds::zero());
    };
    f.loss = probability(f.loss);
    f.burst_start = probability(f.burst_start);
    f.burst_end = probability(f.burst_end);
    f.duplicate = probability(f.duplicate);
    f.reorder = probability(f.reorder);
    f.duplicate_delay = duration(f.duplicate_delay);
    f.reorder_delay = duration(f.reorder_delay);
    f.delay = duration(f.delay);
    f.jitter = duration(f.jitter);
    return f;
}

/// One queued datagram: its bytes live in the member's buffer pool.
struct loopback_entry {
    time_point due;
    std::uint64_t order; ///< arrival order at this member; breaks ties in due
    std::size_t buffer;  ///< index into loopback_member::buffers
    endpoint from;       ///< the sender's endpoint, as it claimed
};

/// A member's receive side: its generator, burst state, counters and queue.
///
/// The queue is a binary min-heap on (due, order) over a vector, and the bytes
/// sit in a pool of vectors that are reused, never freed, so once the queue
/// has been as full and the datagrams as large as they will get, sending and
/// receiving allocate nothing. Invariant: free.capacity() >= buffers.size(),
/// so returning a buffer to the pool cannot allocate either.
struct loopback_member {
    loopback_member(std::uint64_t seed, std::uint64_t index, const endpoint& address) noexcept
        : random(seed, index), local(address)
    {}

    loopback_random random;
    endpoint local; ///< what receivers see as this member's source
    bool joined = true;
    bool in_burst = false;
    std::uint64_t next_order = 0;
    loopback_counters counters;
    std::vector<loopback_entry> queue;
    std::vector<std::vector<std::byte>> buffers;
    std::vector<std::size_t> free;

    /// std::push_heap builds a max-heap; "later" as less puts the earliest on top.
    static bool later(const loopback_entry& a, const loopback_entry& b) noexcept
    {
        return a.due != b.due ? a.due > b.due : a.order > b.order;
    }

    void offer(std::span<const std::byte> datagram, const endpoint& from, time_point now,
               const network_faults& f, std::size_t capacity)
    {
        // Always the same five draws, in this order (see the header comment).
        const double burst_draw = random.uniform();
        const double loss_draw = random.uniform();
        const double duplicate_draw = random.uniform();
        const double reorder_draw = random.uniform();
        const auto jitter = std::chrono::nanoseconds{static_cast<std::chrono::nanoseconds::rep>(
            random.up_to(static_cast<std::uint64_t>(f.jitter.count())))};

        in_burst = in_burst ? !(burst_draw < f.burst_end) : burst_draw < f.burst_start;
        if (in_burst || loss_draw < f.loss) {
            ++counters.lost;
            return;
        }
        auto due = now + f.delay + jitter;
        if (reorder_draw < f.reorder) {
            due += f.reorder_delay;
            ++counters.reordered;
        }
        enqueue(datagram, from, due, capacity);
        if (duplicate_draw < f.duplicate) {
            ++counters.duplicated;
            enqueue(datagram, from, due + f.duplicate_delay, capacity);
        }
    }

    /// Preallocates room for `datagrams` datagrams of up to `bytes` bytes, so a
    /// stream's ordinary traffic allocates nothing even before warm-up.
    void reserve(std::size_t datagrams, std::size_t bytes)
    {
        queue.reserve(datagrams);
        free.reserve(datagrams);
        buffers.reserve(datagrams);
        while (buffers.size() < datagrams) {
            buffers.emplace_back().reserve(bytes);
            free.push_back(buffers.size() - 1);
        }
    }

    void enqueue(std::span<const std::byte> datagram, const endpoint& from, time_point due,
                 std::size_t capacity)
    {
        // A full socket buffer drops what arrives, not what it holds.
        if (queue.size() >= capacity) {
            ++counters.overflowed;
            return;
        }
        if (free.empty()) {
            buffers.emplace_back();
            free.reserve(buffers.size());
            free.push_back(buffers.size() - 1);
        }
        // Ordered so that a throw (bad_alloc while warming up) leaves the queue
        // and the pool as they were.
        const std::size_t index = free.back();
        buffers[index].assign(datagram.begin(), datagram.end());
        queue.push_back(loopback_entry{due, next_order, index, from});
        free.pop_back();
        ++next_order;
        std::push_heap(queue.begin(), queue.end(), later);
    }

    /// Copies the earliest due datagram into `out`; `size` gets its full size.
    std::size_t take(std::span<std::byte> out, time_point now, std::size_t& size,
                     datagram_origin& origin, std::error_code& ec) noexcept
    {
        size = 0;
        if (queue.empty() || queue.front().due > now) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        std::pop_heap(queue.begin(), queue.end(), later);
        const std::size_t index = queue.back().buffer;
        origin.from = queue.back().from;
        origin.waited = now - queue.back().due;
        queue.pop_back();
        const auto& bytes = buffers[index];
        size = bytes.size();
        const std::size_t copied = std::min(size, out.size());
        std::copy_n(bytes.begin(), copied, out.begin());
        free.push_back(index);
        ++counters.delivered;
        if (copied < size) ec = std::make_error_code(std::errc::message_size);
        return copied;
    }

    /// Drops the queue and gives its memory back; the counters stay readable.
    void release() noexcept
    {
        std::vector<loopback_entry>().swap(queue);
        std::vector<std::vector<std::byte>>().swap(buffers);
        std::vector<std::size_t>().swap(free);
    }
};

} // namespace audiocast::detail
