// See malloc_counter.cpp.
#pragma once

#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AUDIOCAST_TEST_COUNTS_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define AUDIOCAST_TEST_COUNTS_MALLOC 0
#endif
#endif
#if !defined(AUDIOCAST_TEST_COUNTS_MALLOC) && defined(__GLIBC__)
#define AUDIOCAST_TEST_COUNTS_MALLOC 1
#endif
#if !defined(AUDIOCAST_TEST_COUNTS_MALLOC)
#define AUDIOCAST_TEST_COUNTS_MALLOC 0
#endif

namespace audiocast_test {

/// False where this build cannot count them (a sanitizer, not glibc).
bool c_allocations_countable() noexcept;
std::uint64_t c_allocations() noexcept;
void count_c_allocations(bool on) noexcept;

} // namespace audiocast_test
