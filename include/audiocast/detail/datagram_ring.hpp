// audiocast — a lock-free single-producer single-consumer queue of datagrams.
//
// The receive path: the network thread copies each datagram in, with the
// times it arrived, and the audio thread takes them out in arrival order
// without a lock, an allocation or a system call (docs/architecture.md, Threads).
// Every slot holds up to `max_bytes`; a larger datagram is refused and
// counted, never truncated, so the receiver never validates half a packet.
//
// Threading contract: one producer thread calls push(), one consumer thread
// calls consume_one(), as in detail/spsc_indices.hpp (a side may change threads only
// after a hand-over that orders the old thread's calls before the new one's).
// size_approx(), max_bytes(), capacity() and the drop counters may be read
// from any thread. Construction and destruction must not race with anything.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/single_writer_counter.hpp>
#include <audiocast/detail/spsc_indices.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace audiocast::detail {

/// What the network thread knew about a datagram when it queued it.
struct datagram_meta {
    std::size_t size;       ///< bytes in the datagram
    time_point arrival;     ///< monotonic arrival time
    wall_time arrival_wall; ///< wall-clock arrival time, for one-way latency
    endpoint from{};        ///< its source, when the transport told
    bool rebuilt = false;   ///< datagram_origin::rebuilt
};

/// A fixed number of fixed-size slots, each holding one whole datagram and
/// its datagram_meta. Memory is allocated at construction; push() copies a
/// datagram into the next free slot and consume_one() lends the oldest one to
/// a visitor in place, then frees its slot. See the threading contract at the
/// top of this header.
class datagram_ring {
public:
    /// At least `slots` datagrams (rounded up to a power of two; 0 becomes 1)
    /// of up to `max_bytes` each. Throws std::length_error when the storage
    /// cannot be addressed, or std::bad_alloc.
    datagram_ring(std::size_t slots, std::size_t max_bytes)
        : max_bytes_{max_bytes}, indices_{spsc_slot_count(slots)},
          bytes_{allocate_bytes(indices_.capacity(), max_bytes)},
          meta_{std::make_unique<datagram_meta[]>(indices_.capacity())}
    {}

    /// Producer: queues a copy of `datagram` with its arrival times. Returns
    /// false, counts the refusal (dropped_too_big() or dropped_full()) and
    /// changes nothing else when it is larger than max_bytes() or every slot
    /// is taken. A caller that retries a full refusal sees it counted each time.
    bool push(std::span<const std::byte> datagram, time_point arrival, wall_time arrival_wall,
              const endpoint& from = {}, bool rebuilt = false) noexcept
    {
        if (datagram.size() > max_bytes_) {
            count(dropped_too_big_);
            return false;
        }
        if (indices_.writable(1) == 0) {
            count(dropped_full_);
            return false;
        }
        const std::size_t slot = indices_.write_index() & indices_.mask();
        std::copy_n(datagram.data(), datagram.size(), bytes_.get() + slot * max_bytes_);
        meta_[slot] = datagram_meta{datagram.size(), arrival, arrival_wall, from, rebuilt};
        indices_.commit_write(1);
        return true;
    }

    /// Consumer: calls `f(bytes, meta)` on the oldest datagram, where `bytes`
    /// views it in the ring (valid only during the call) and `meta` is its
    /// datagram_meta, then frees its slot, also when `f` throws. Returns false,
    /// without calling `f`, when the ring is empty. Noexcept when `f` is.
    // (Spelled with is_nothrow_invocable rather than noexcept(f(span{}, datagram_meta{})):
    // time_point's default constructor is not noexcept, so clang would call that throwing.)
    template <class F>
        requires std::invocable<F&, std::span<const std::byte>, const datagram_meta&>
    bool consume_one(F&& f) noexcept(
        std::is_nothrow_invocable_v<F&, std::span<const std::byte>, const datagram_meta&>)
    {
        if (indices_.readable(1) == 0) return false;
        const std::size_t slot = indices_.read_index() & indices_.mask();
        const datagram_meta& meta = meta_[slot];
        const release_on_exit release{indices_};
        f(std::span<const std::byte>{bytes_.get() + slot * max_bytes_, meta.size}, meta);
        return true;
    }

    /// Datagrams queued, from any thread; approximate while either side moves.
    [[nodiscard]] std::size_t size_approx() const noexcept { return indices_.size_approx(); }

    /// The most datagrams queued at once.
    [[nodiscard]] std::size_t capacity() const noexcept { return indices_.capacity(); }

    /// The largest datagram a slot holds.
    [[nodiscard]] std::size_t max_bytes() const noexcept { return max_bytes_; }

    /// Datagrams push() refused because every slot was taken, retries included.
    [[nodiscard]] std::uint64_t dropped_full() const noexcept
    {
        // Relaxed: a statistic; it orders nothing else.
        return dropped_full_.load(std::memory_order_relaxed);
    }

    /// Datagrams push() refused because they were larger than max_bytes().
    [[nodiscard]] std::uint64_t dropped_too_big() const noexcept
    {
        // Relaxed: a statistic; it orders nothing else.
        return dropped_too_big_.load(std::memory_order_relaxed);
    }

private:
    // Frees the slot being visited however the visitor leaves.
    struct release_on_exit {
        spsc_indices& indices;
        ~release_on_exit() { indices.commit_read(1); }
    };

    static std::unique_ptr<std::byte[]> allocate_bytes(std::size_t slots, std::size_t max_bytes)
    {
        if (max_bytes != 0 && slots > std::numeric_limits<std::size_t>::max() / max_bytes)
            throw std::length_error("datagram_ring: slots * max_bytes does not fit std::size_t");
        return std::make_unique<std::byte[]>(slots * max_bytes);
    }

    // Only the producer writes the counters.
    static void count(std::atomic<std::uint64_t>& counter) noexcept
    {
        add_from_single_writer(counter);
    }

    // Read by both sides, written by neither after construction.
    const std::size_t max_bytes_;
    spsc_indices indices_;
    const std::unique_ptr<std::byte[]> bytes_;
    const std::unique_ptr<datagram_meta[]> meta_;
    // Written by the producer only when it refuses a datagram.
    alignas(cache_line_size) std::atomic<std::uint64_t> dropped_full_{0};
    std::atomic<std::uint64_t> dropped_too_big_{0};
};

} // namespace audiocast::detail
