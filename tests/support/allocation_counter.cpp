#include "allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> counting{false};
std::atomic<std::uint64_t> count{0};

void* counted_allocation(std::size_t size)
{
    if (counting.load(std::memory_order_relaxed)) count.fetch_add(1, std::memory_order_relaxed);
    if (size == 0) size = 1;
    if (void* p = std::malloc(size)) return p;
    throw std::bad_alloc{};
}
} // namespace

namespace audiocast_test {
std::uint64_t allocations_counted() noexcept
{
    return count.load();
}
void set_counting(bool on) noexcept
{
    counting.store(on);
}
} // namespace audiocast_test

// Replaceable global allocation functions ([new.delete]). Every plain, array and
// nothrow form is replaced, so each allocation and its release go through
// malloc and free together (AddressSanitizer reports a mix of its own and
// ours: Catch2 allocates with new (std::nothrow)). The aligned forms are left
// to the library, which pairs them with its own aligned delete.
void* operator new(std::size_t size)
{
    return counted_allocation(size);
}
void* operator new[](std::size_t size)
{
    return counted_allocation(size);
}
void operator delete(void* p) noexcept
{
    std::free(p);
}
void operator delete[](void* p) noexcept
{
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept
{
    std::free(p);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept
{
    try {
        return counted_allocation(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept
{
    try {
        return counted_allocation(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void operator delete(void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}
