// Counts calls to the C allocator while counting is on, so that a test can
// show libopus allocates nothing to encode or decode: the operator new of
// tests/support/allocation_counter.cpp sees only C++ allocations, and
// libopus is C. The executable's malloc, calloc and realloc take the place
// of the C library's for every shared library too (ELF symbol interposition)
// and forward to glibc's own. Not under AddressSanitizer, which interposes
// the allocator itself.
#include "malloc_counter.hpp"

#include <atomic>
#include <cstddef>

namespace {
std::atomic<bool> counting{false};
std::atomic<std::uint64_t> calls{0};
} // namespace

namespace audiocast_test {

bool c_allocations_countable() noexcept
{
    return AUDIOCAST_TEST_COUNTS_MALLOC != 0;
}
std::uint64_t c_allocations() noexcept
{
    return calls.load();
}
void count_c_allocations(bool on) noexcept
{
    counting.store(on);
}

} // namespace audiocast_test

#if AUDIOCAST_TEST_COUNTS_MALLOC
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);

void* malloc(std::size_t n)
{
    if (counting.load(std::memory_order_relaxed)) calls.fetch_add(1);
    return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n)
{
    if (counting.load(std::memory_order_relaxed)) calls.fetch_add(1);
    return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n)
{
    if (counting.load(std::memory_order_relaxed)) calls.fetch_add(1);
    return __libc_realloc(p, n);
}
}
#endif
