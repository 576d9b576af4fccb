// audiocast — the descriptors a stream_thread waits on, however many: one
// wait that ends at a deadline or when some are readable, and says which.
// Internal to transport/stream_thread.hpp.
//
// On Linux an epoll(7) set: what a wait costs does not grow with the number of
// descriptors, which matters to a thread that drives a thousand receivers
// (each with a media and a control socket). The wait is epoll_pwait2(2), whose
// timeout is in nanoseconds; on a kernel older than 5.11 it is ppoll(2) on the
// epoll descriptor, then epoll_wait(2) without a timeout. Elsewhere (the BSDs,
// macOS) a poll(2) array, whose cost grows with its length; on Windows the
// same array for WSAPoll.
//
// A descriptor is added with a tag the caller chooses and is reported by that
// tag. One that is not watched stays in the set but ends no wait: a receiver
// that lets packets gather stops watching its socket and reads it at the end
// of an interval.
#pragma once

#include <audiocast/transport/detail/deadline_wait.hpp>

#if defined(__linux__)
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#endif

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace audiocast::detail {

class readiness_set {
public:
    readiness_set() noexcept
    {
#if defined(__linux__)
        epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
#endif
    }
    readiness_set(const readiness_set&) = delete;
    readiness_set& operator=(const readiness_set&) = delete;
    ~readiness_set()
    {
#if defined(__linux__)
        if (epoll_fd_ >= 0) ::close(epoll_fd_);
#endif
    }

    /// Whether the set could be made (else the system is out of descriptors).
    [[nodiscard]] bool valid() const noexcept
    {
#if defined(__linux__)
        return epoll_fd_ >= 0;
#else
        return true;
#endif
    }

    /// Adds `fd`, to be reported as `tag`; an invalid descriptor is refused
    /// (bad_file_descriptor), as are more than one per tag.
    std::error_code add(native_socket fd, std::uint32_t tag, bool watched)
    {
        if (fd == invalid_native_socket || !valid_handle(fd))
            return std::make_error_code(std::errc::bad_file_descriptor);
#if defined(__linux__)
        ::epoll_event event{};
        event.events = watched ? EPOLLIN : 0u;
        event.data.u64 = tag;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0)
            return {errno, std::system_category()};
#else
        // One not watched is skipped by its descriptor, not by empty events:
        // WSAPoll wants at least one event an entry.
        polled_.push_back({watched ? fd : invalid_native_socket, POLLIN, 0});
        handles_.push_back(fd);
        tags_.push_back(tag);
#endif
        return {};
    }

    /// Starts or stops watching `fd` (added as `tag`).
    std::error_code watch(native_socket fd, std::uint32_t tag, bool watched) noexcept
    {
#if defined(__linux__)
        ::epoll_event event{};
        event.events = watched ? EPOLLIN : 0u;
        event.data.u64 = tag;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0)
            return {errno, std::system_category()};
#else
        for (std::size_t i = 0; i < tags_.size(); ++i)
            if (tags_[i] == tag && handles_[i] == fd)
                polled_[i].fd = watched ? fd : invalid_native_socket;
#endif
        return {};
    }

    /// Takes `fd` (added as `tag`) out of the set.
    void remove(native_socket fd, [[maybe_unused]] std::uint32_t tag) noexcept
    {
#if defined(__linux__)
        ::epoll_event unused{};
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &unused);
#else
        for (std::size_t i = 0; i < tags_.size(); ++i)
            if (tags_[i] == tag && handles_[i] == fd) {
                polled_[i].fd = invalid_native_socket; // poll(2) and WSAPoll skip it
                handles_[i] = invalid_native_socket;
            }
#endif
    }

    /// Waits until a watched descriptor is readable or `timeout` has passed,
    /// then calls `on_ready(tag, closed)` for each that is (an error pending
    /// counts: reading it takes the error); `closed` says the descriptor was
    /// closed while in the set (poll(2)'s POLLNVAL; epoll takes a closed
    /// descriptor out of the set itself).
    /// Returns how many were reported, 0 at the timeout, -1 on an error
    /// other than a signal (errno says which).
    template <class OnReady>
    int wait_for(std::chrono::nanoseconds timeout, OnReady&& on_ready)
    {
        if (timeout < std::chrono::nanoseconds::zero()) timeout = {};
#if defined(__linux__)
        const int ready = wait_epoll(timeout);
        if (ready <= 0) return ready;
        for (int i = 0; i < ready; ++i) {
            const auto& e = events_[static_cast<std::size_t>(i)];
            on_ready(static_cast<std::uint32_t>(e.data.u64), false);
        }
        return ready;
#else
        for (auto& p : polled_)
            p.revents = 0;
        const int ready = wait_readable_for(std::span<poll_entry>{polled_}, timeout);
        if (ready <= 0) return ready;
        int reported = 0;
        for (std::size_t i = 0; i < polled_.size(); ++i) {
            const short revents = polled_[i].revents;
            // A skipped entry: wine's WSAPoll marks it POLLNVAL, where poll(2)
            // and Windows clear it.
            if (revents == 0 || polled_[i].fd == invalid_native_socket) continue;
            ++reported;
            on_ready(tags_[i], (revents & POLLNVAL) != 0);
        }
        return reported;
#endif
    }

private:
    // A negative descriptor means "skip me" to poll(2); none is valid to add.
    static bool valid_handle([[maybe_unused]] native_socket fd) noexcept
    {
#if defined(_WIN32)
        return true;
#else
        return fd >= 0;
#endif
    }

#if defined(__linux__)
    int wait_epoll(std::chrono::nanoseconds timeout) noexcept
    {
        const ::timespec t = to_timespec(timeout);
        const int capacity = static_cast<int>(events_.size());
        if (!pwait2_missing_) {
            const int ready = ::epoll_pwait2(epoll_fd_, events_.data(), capacity, &t, nullptr);
            if (ready >= 0) return ready;
            if (errno == EINTR) return 0;
            if (errno != ENOSYS) return -1;
            pwait2_missing_ = true; // a kernel before 5.11
        }
        ::pollfd whole_set{epoll_fd_, POLLIN, 0};
        const int any = ::ppoll(&whole_set, 1, &t, nullptr);
        if (any <= 0) return any < 0 && errno == EINTR ? 0 : any;
        const int ready = ::epoll_wait(epoll_fd_, events_.data(), capacity, 0);
        return ready < 0 && errno == EINTR ? 0 : ready;
    }

    int epoll_fd_ = -1;
    bool pwait2_missing_ = false;
    // More ready than this: the rest end the next wait at once (level-triggered).
    std::array<::epoll_event, 128> events_{};
#else
    std::vector<poll_entry> polled_;
    std::vector<native_socket> handles_; // each entry's socket, watched or not
    std::vector<std::uint32_t> tags_;
#endif
};

} // namespace audiocast::detail
