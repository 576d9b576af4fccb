// audiocast — the indices of a lock-free single-producer single-consumer ring.
//
// The network thread and the audio callback meet here: the callback must not
// take a lock, allocate or make a system call (docs/architecture.md, Threads), so the
// two sides share only preallocated slots and two atomic indices.
//
// Threading contract: one producer thread and one consumer thread at a time
// (they may be the same thread). The producer calls only the push functions,
// the consumer only the pop functions; a side may change threads only after a
// hand-over that orders the old thread's calls before the new one's (a join, a
// mutex, a release/acquire pair). size_approx() and capacity() may be called
// from any thread. Construction and destruction must not race with anything.
//
// spsc_ring (spsc_ring.hpp) and datagram_ring (detail/datagram_ring.hpp) put
// their own slots behind these indices.
#pragma once

#include <audiocast/detail/config.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace audiocast::detail {

/// Assumed size of a cache line. Fields written by different threads are kept
/// this far apart, so one side's writes do not evict the other's line (false
/// sharing). 64 bytes holds on x86-64 and most ARM cores; the standard's
/// hardware_destructive_interference_size is avoided because GCC warns that
/// its value may differ between translation units.
inline constexpr std::size_t cache_line_size = 64;

/// Rounds a requested slot count up to a power of two (0 becomes 1), so an
/// index maps to its slot with a mask and the free-running indices may wrap.
/// Throws std::length_error when no power of two that large fits std::size_t.
[[nodiscard]] inline std::size_t spsc_slot_count(std::size_t requested)
{
    constexpr std::size_t largest = std::size_t{1}
                                    << (std::numeric_limits<std::size_t>::digits - 1);
    if (requested > largest) throw std::length_error("spsc ring: too many slots requested");
    return std::bit_ceil(std::max(requested, std::size_t{1}));
}

/// The two indices of a single-producer single-consumer ring, without the
/// storage: spsc_ring and datagram_ring put their own slots behind them.
///
/// Both indices run freely and are reduced with mask() only when a slot is
/// addressed; `write - read` is the number of filled slots even after the
/// indices wrap, because the slot count divides 2^N. The producer owns `write`
/// and a cached copy of `read`; the consumer owns `read` and a cached copy of
/// `write`. Each side refreshes its cache, an acquire load of the other's
/// index, only when the cache says it is full (or empty), so in steady flow
/// the sides rarely touch each other's cache line.
class spsc_indices {
public:
    /// `slots` must be a power of two (see spsc_slot_count).
    explicit spsc_indices(std::size_t slots) noexcept : mask_{slots - 1}
    {
        AUDIOCAST_ASSERT(std::has_single_bit(slots));
    }

    spsc_indices(const spsc_indices&) = delete;
    spsc_indices& operator=(const spsc_indices&) = delete;

    [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
    [[nodiscard]] std::size_t mask() const noexcept { return mask_; }

    /// Filled slots, from any thread. Exact when neither side is moving;
    /// otherwise a value the ring held at some moment during the call, or the
    /// capacity when the producer ran ahead meanwhile.
    [[nodiscard]] std::size_t size_approx() const noexcept
    {
        // Acquire on `read`: the consumer stored it (release) after seeing a
        // `write` at least as large, so the `write` loaded next is not older
        // than that and the difference cannot underflow.
        const std::size_t read = read_.load(std::memory_order_acquire);
        // Relaxed: any value at or after the one just proven is good enough.
        const std::size_t write = write_.load(std::memory_order_relaxed);
        return std::min(write - read, capacity());
    }

    /// Producer: the index of the next slot to fill (unmasked).
    [[nodiscard]] std::size_t write_index() const noexcept
    {
        // Relaxed: only the producer stores `write`, so it reads its own value.
        return write_.load(std::memory_order_relaxed);
    }

    /// Producer: how many slots are free, looking at the consumer's index only
    /// when the cached one shows fewer than `wanted` free.
    [[nodiscard]] std::size_t writable(std::size_t wanted) noexcept
    {
        const std::size_t write = write_index();
        std::size_t free = capacity() - (write - cached_read_);
        if (free < wanted) {
            // Acquire: the consumer's reads of the slots it released happen
            // before this, so the producer cannot overwrite a slot still being read.
            cached_read_ = read_.load(std::memory_order_acquire);
            free = capacity() - (write - cached_read_);
        }
        return free;
    }

    /// Producer: hands the next `count` slots, now filled, to the consumer.
    void commit_write(std::size_t count) noexcept
    {
        // Release: the slot contents written before this store are visible to
        // the consumer once its acquire load sees the new index.
        write_.store(write_index() + count, std::memory_order_release);
    }

    /// Consumer: the index of the oldest filled slot (unmasked).
    [[nodiscard]] std::size_t read_index() const noexcept
    {
        // Relaxed: only the consumer stores `read`, so it reads its own value.
        return read_.load(std::memory_order_relaxed);
    }

    /// Consumer: how many slots are filled, looking at the producer's index
    /// only when the cached one shows fewer than `wanted` filled.
    [[nodiscard]] std::size_t readable(std::size_t wanted) noexcept
    {
        const std::size_t read = read_index();
        std::size_t filled = cached_write_ - read;
        if (filled < wanted) {
            // Acquire: pairs with commit_write's release, so the contents of
            // every slot up to the loaded index are visible here.
            cached_write_ = write_.load(std::memory_order_acquire);
            filled = cached_write_ - read;
        }
        return filled;
    }

    /// Consumer: gives the oldest `count` slots, now read, back to the producer.
    void commit_read(std::size_t count) noexcept
    {
        // Release: the consumer's reads of those slots happen before the
        // producer, after its acquire load in writable(), overwrites them.
        read_.store(read_index() + count, std::memory_order_release);
    }

private:
    // Read by both sides, written by neither after construction.
    alignas(cache_line_size) const std::size_t mask_;
    // The producer's line: its index and its view of the consumer's.
    alignas(cache_line_size) std::atomic<std::size_t> write_{0};
    std::size_t cached_read_{0};
    // The consumer's line: its index and its view of the producer's.
    alignas(cache_line_size) std::atomic<std::size_t> read_{0};
    std::size_t cached_write_{0};
};

} // namespace audiocast::detail
