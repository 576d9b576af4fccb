// audiocast — a wait-free latest-value hand-off between two threads.
//
// For state where only the newest value matters (statistics snapshots,
// settings for the audio callback): the writer never waits for the reader
// and the reader never waits for the writer, and neither allocates, locks or
// makes a system call.
//
// Threading contract: one writer thread calls write_buffer() and publish(),
// one reader thread calls read() and has_fresh(); a side may change threads
// only after a hand-over that orders the old thread's calls before the new
// one's. Construction and destruction must not race with anything.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/spsc_indices.hpp>

#include <array>
#include <atomic>
#include <type_traits>

namespace audiocast::detail {

/// The classic triple buffer: three values, one the writer is filling, one
/// the reader is looking at, and one in the middle holding the latest
/// published value. publish() swaps the writer's buffer with the middle one
/// and marks it fresh; read() swaps the reader's buffer with the middle one
/// when it is fresh. Both swaps are one atomic exchange of a small word (the
/// middle buffer's index and the fresh bit), so both sides are wait-free and
/// the writer and the reader never touch the same buffer.
template <class T>
class triple_buffer {
    static_assert(std::is_default_constructible_v<T>,
                  "triple_buffer value-initialises its buffers");

public:
    /// Every buffer holds T{}; read() gives T{} until the first publish().
    triple_buffer() = default;

    /// Every buffer holds a copy of `initial`; read() gives it until the first publish().
    explicit triple_buffer(const T& initial) : buffers_{{{initial}, {initial}, {initial}}} {}

    triple_buffer(const triple_buffer&) = delete;
    triple_buffer& operator=(const triple_buffer&) = delete;

    /// Writer: the buffer to fill before publish(). It holds an older value
    /// (the one published two or more publishes ago, or the initial one), so
    /// the writer must set every part it means to hand over.
    [[nodiscard]] T& write_buffer() noexcept { return buffers_[write_].value; }

    /// Writer: makes write_buffer()'s contents the latest value and hands the
    /// writer another buffer. A value never read is replaced by the next publish.
    void publish() noexcept
    {
        // Release: the writes into the buffer being published happen before
        // the reader's acquire exchange that takes it. Acquire: the reader's
        // reads of the buffer it gave back to the middle happen before the
        // writer fills it again.
        const unsigned previous = middle_.exchange(write_ | fresh_bit, std::memory_order_acq_rel);
        write_ = previous & index_mask;
    }

    /// Reader: the latest published value, taking the middle buffer first
    /// when it holds a value not yet read. The reference stays valid and
    /// unchanged until the reader's next read().
    [[nodiscard]] const T& read() noexcept
    {
        if (has_fresh()) {
            // Acquire: pairs with publish()'s release, so the published
            // contents are visible. Release: the reader's reads of the buffer
            // it hands back happen before the writer reuses it.
            const unsigned previous = middle_.exchange(read_, std::memory_order_acq_rel);
            read_ = previous & index_mask;
        }
        return buffers_[read_].value;
    }

    /// Reader: true when a value has been published since the last read().
    [[nodiscard]] bool has_fresh() const noexcept
    {
        // Relaxed: only a hint; read() takes the buffer with an acquire
        // exchange, and a stale false just means the value arrives next time.
        return (middle_.load(std::memory_order_relaxed) & fresh_bit) != 0;
    }

private:
    static constexpr unsigned index_mask = 0b011;
    static constexpr unsigned fresh_bit = 0b100;

    // Each buffer on its own cache lines, so filling one does not disturb
    // the reader of another.
    struct alignas(cache_line_size) padded {
        T value{};
    };

    std::array<padded, 3> buffers_{};
    // Shared by both sides: the middle buffer's index and the fresh bit.
    alignas(cache_line_size) std::atomic<unsigned> middle_{1};
    // Owned by the writer.
    alignas(cache_line_size) unsigned write_{0};
    // Owned by the reader.
    alignas(cache_line_size) unsigned read_{2};
};

} // namespace audiocast::detail
