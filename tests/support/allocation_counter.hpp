// Counts heap allocations made while a counting_scope is alive, to check that
// steady-state paths allocate nothing. The global operator new that does the
// counting lives in allocation_counter.cpp, once per test binary.
#pragma once

#include <cstdint>

namespace audiocast_test {

std::uint64_t allocations_counted() noexcept;
void set_counting(bool on) noexcept;

/// Counts allocations from construction to destruction; count() reads them so far.
class counting_scope {
public:
    counting_scope() noexcept : start_{allocations_counted()} { set_counting(true); }
    ~counting_scope() { set_counting(false); }
    counting_scope(const counting_scope&) = delete;
    counting_scope& operator=(const counting_scope&) = delete;
    [[nodiscard]] std::uint64_t count() const noexcept { return allocations_counted() - start_; }

private:
    std::uint64_t start_;
};

} // namespace audiocast_test
