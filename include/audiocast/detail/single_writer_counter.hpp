// audiocast — a statistic one thread writes and others read.
//
// Only its one writer changes it, so a relaxed load and store suffice (no
// read-modify-write, no lock prefix on the hot path); it is atomic so that
// other threads may read it.
#pragma once

#include <atomic>
#include <cstdint>

namespace audiocast::detail {

inline void add_from_single_writer(std::atomic<std::uint64_t>& counter,
                                   std::uint64_t n = 1) noexcept
{
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

} // namespace audiocast::detail
