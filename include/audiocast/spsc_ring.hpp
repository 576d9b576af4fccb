// audiocast — a real-time-safe queue for the application's own hand-offs.
//
// The stream already meets the audio thread in preallocated memory (pull(),
// push()). An application that also moves audio off the audio thread (to
// record what pull() played, to meter it, to feed a file writer) needs the
// same kind of queue: one producer, one consumer, no lock, no allocation and
// no system call after construction. This is the one the stream uses.
//
//     audiocast::spsc_ring<std::int32_t> recorded{2 * 48'000 * 2};  // 2 s of stereo
//     // audio callback:  stream.pull(out); recorded.push(out);
//     // writer thread:   n = recorded.pop(block); file.write(block.first(n));
//
// The threading contract is at the top of detail/spsc_indices.hpp: one
// producer thread and one consumer thread at a time; size_approx() and
// capacity() from any thread.
#pragma once

#include <audiocast/detail/spsc_indices.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>

namespace audiocast {

/// A lock-free single-producer single-consumer queue of `T`, for handing
/// samples or small records from one thread to another. The capacity is fixed
/// at construction, rounded up to a power of two, and the storage allocated
/// then; pushing and popping never allocate, lock or make a system call. Values
/// are copied in and out, so `T` must be trivially copyable. See the threading
/// contract at the top of detail/spsc_indices.hpp.
template <class T>
class spsc_ring {
    static_assert(std::is_trivially_copyable_v<T>, "spsc_ring copies values bytewise");
    static_assert(std::is_default_constructible_v<T>, "spsc_ring value-initialises its slots");

public:
    /// Room for at least `capacity` values (a power of two; 0 becomes 1).
    /// Throws std::length_error when that many cannot be addressed, or
    /// std::bad_alloc.
    explicit spsc_ring(std::size_t capacity)
        : indices_{detail::spsc_slot_count(capacity)}, slots_{allocate(indices_.capacity())}
    {}

    /// Producer: appends `value`; false, and nothing changes, when full.
    bool try_push(const T& value) noexcept
    {
        if (indices_.writable(1) == 0) return false;
        slots_[indices_.write_index() & indices_.mask()] = value;
        indices_.commit_write(1);
        return true;
    }

    /// Producer: appends as many of `values`, from the front, as fit; returns
    /// how many.
    std::size_t push(std::span<const T> values) noexcept
    {
        const std::size_t count = std::min(values.size(), indices_.writable(values.size()));
        if (count == 0) return 0;
        const std::size_t start = indices_.write_index() & indices_.mask();
        const std::size_t first = std::min(count, indices_.capacity() - start);
        std::copy_n(values.data(), first, slots_.get() + start);
        std::copy_n(values.data() + first, count - first, slots_.get());
        indices_.commit_write(count);
        return count;
    }

    /// Consumer: moves the oldest value into `value`; false, and `value`
    /// untouched, when empty.
    bool try_pop(T& value) noexcept
    {
        if (indices_.readable(1) == 0) return false;
        value = slots_[indices_.read_index() & indices_.mask()];
        indices_.commit_read(1);
        return true;
    }

    /// Consumer: moves the oldest values into the front of `values`, as many
    /// as are there and fit; returns how many.
    std::size_t pop(std::span<T> values) noexcept
    {
        const std::size_t count = std::min(values.size(), indices_.readable(values.size()));
        if (count == 0) return 0;
        const std::size_t start = indices_.read_index() & indices_.mask();
        const std::size_t first = std::min(count, indices_.capacity() - start);
        std::copy_n(slots_.get() + start, first, values.data());
        std::copy_n(slots_.get(), count - first, values.data() + first);
        indices_.commit_read(count);
        return count;
    }

    /// Values queued, from any thread; approximate while either side moves.
    [[nodiscard]] std::size_t size_approx() const noexcept { return indices_.size_approx(); }

    /// The most values the ring holds at once.
    [[nodiscard]] std::size_t capacity() const noexcept { return indices_.capacity(); }

private:
    static std::unique_ptr<T[]> allocate(std::size_t count)
    {
        if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
            throw std::length_error("spsc_ring: capacity too large for its value type");
        return std::make_unique<T[]>(count);
    }

    detail::spsc_indices indices_;
    std::unique_ptr<T[]> slots_;
};

} // namespace audiocast
