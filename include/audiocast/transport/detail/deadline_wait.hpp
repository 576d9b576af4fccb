// audiocast — what a thread that waits on sockets and deadlines needs from the
// platform: one wait that ends at a deadline or when a descriptor is
// readable, a descriptor another thread can make readable, and the thread's
// timer slack and scheduling. Internal to transport/stream_thread.hpp.
//
// The wait is ppoll(2) with a nanosecond timeout where the platform has it
// (Linux, FreeBSD); elsewhere poll(2), whose millisecond timeout is rounded
// down, then clock_nanosleep(2) to the deadline when nothing became readable.
#pragma once

#include <audiocast/error.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace audiocast::detail {

/// A descriptor that becomes readable when notify() is called from any
/// thread: an eventfd on Linux, a pipe elsewhere.
class wake_signal {
public:
    wake_signal() noexcept
    {
#if defined(__linux__)
        read_fd_ = write_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
        int fds[2];
        if (::pipe(fds) == 0) {
            for (int fd : fds) {
                ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
            read_fd_ = fds[0];
            write_fd_ = fds[1];
        }
#endif
    }
    wake_signal(const wake_signal&) = delete;
    wake_signal& operator=(const wake_signal&) = delete;
    ~wake_signal()
    {
        if (read_fd_ >= 0) ::close(read_fd_);
        if (write_fd_ >= 0 && write_fd_ != read_fd_) ::close(write_fd_);
    }

    /// Whether the descriptor could be made (else the system is out of them).
    [[nodiscard]] bool valid() const noexcept { return read_fd_ >= 0; }
    [[nodiscard]] int fd() const noexcept { return read_fd_; }

    void notify() const noexcept
    {
        const std::uint64_t one = 1;
        // Full means already readable, which is all a notification is for.
        [[maybe_unused]] const auto written = ::write(write_fd_, &one, sizeof one);
    }

    /// Makes the descriptor unreadable again.
    void drain() const noexcept
    {
        std::uint64_t value[8];
#if defined(__linux__)
        // One read empties an eventfd: its counter goes back to 0.
        [[maybe_unused]] const auto n = ::read(read_fd_, value, sizeof value);
#else
        while (::read(read_fd_, value, sizeof value) > 0) {
        }
#endif
    }

private:
    int read_fd_ = -1;
    int write_fd_ = -1;
};

/// `d` (not negative) as a timespec, for the waits that take one.
[[nodiscard]] inline ::timespec to_timespec(std::chrono::nanoseconds d) noexcept
{
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(d);
    ::timespec t{};
    t.tv_sec = static_cast<::time_t>(seconds.count());
    t.tv_nsec = static_cast<long>((d - seconds).count());
    return t;
}

/// Waits until one of `fds` is readable (their revents say which) or
/// `timeout` has passed; returns how many are ready, 0 at the timeout, -1 on
/// an error other than a signal (errno says which).
inline int wait_readable_for(std::span<::pollfd> fds, std::chrono::nanoseconds timeout) noexcept
{
    if (timeout < std::chrono::nanoseconds::zero()) timeout = {};
#if defined(__linux__) || defined(__FreeBSD__)
    const ::timespec t = to_timespec(timeout);
    const int ready = ::ppoll(fds.data(), static_cast<::nfds_t>(fds.size()), &t, nullptr);
    return ready < 0 && errno == EINTR ? 0 : ready;
#else
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    const int ready = ::poll(fds.data(), static_cast<::nfds_t>(fds.size()),
                             static_cast<int>(std::min<long long>(ms.count(), 1'000'000)));
    if (ready != 0) return ready < 0 && errno == EINTR ? 0 : ready;
    const ::timespec t = to_timespec(timeout - ms);
    ::nanosleep(&t, nullptr);
    return 0;
#endif
}

/// Sets how late the kernel may wake the calling thread from a timed wait
/// (Linux's timer slack, prctl(2) PR_SET_TIMERSLACK; 50 µs by default). A
/// no-op elsewhere, and for 0.
inline void set_timer_slack([[maybe_unused]] std::chrono::nanoseconds slack) noexcept
{
#if defined(__linux__)
    if (slack > std::chrono::nanoseconds::zero())
        ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(slack.count()), 0, 0, 0);
#endif
}

/// Gives `thread` SCHED_FIFO at `priority` (1-99); the error and a message
/// that says what a user can do when the system refuses.
inline std::error_code set_realtime_priority(::pthread_t thread, int priority,
                                             std::string& what) noexcept
{
    ::sched_param param{};
    param.sched_priority = priority;
    const int error = ::pthread_setschedparam(thread, SCHED_FIFO, &param);
    if (error == 0) return {};
    try {
        what = "real-time priority " + std::to_string(priority) +
               " (SCHED_FIFO) refused: " + std::system_category().message(error) +
               (error == EPERM ? " (it needs CAP_SYS_NICE, or an rtprio limit of at least " +
                                     std::to_string(priority) + " in limits.conf)"
                               : std::string{});
    } catch (...) {
    }
    return make_error_code(errc::thread_priority_refused);
}

} // namespace audiocast::detail
