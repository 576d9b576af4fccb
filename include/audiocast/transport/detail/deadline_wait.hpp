// audiocast — what a thread that waits on sockets and deadlines needs from the
// platform: one wait that ends at a deadline or when a descriptor is
// readable, a descriptor another thread can make readable, and the thread's
// timer slack and scheduling. Internal to transport/stream_thread.hpp.
//
// The wait is ppoll(2) with a nanosecond timeout where the platform has it
// (Linux, FreeBSD); elsewhere poll(2), whose millisecond timeout is rounded
// down, then clock_nanosleep(2) to the deadline when nothing became readable.
//
// Windows: WSAPoll, in milliseconds to a tick of the system timer short of the
// deadline (a stream_thread holds that timer at 1 ms while it runs), then the
// rest on a high-resolution waitable timer (Windows 10 1803 and later; an
// ordinary one before). Another thread wakes the wait
// through a UDP socket bound to 127.0.0.1 that sends to itself: WSAPoll waits
// on sockets alone. Real-time priority is THREAD_PRIORITY_TIME_CRITICAL.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/error.hpp>
#include <audiocast/transport/detail/socket_calls.hpp>

#if defined(_WIN32)
#include <timeapi.h>
#include <windows.h>
#if defined(_MSC_VER)
#pragma comment(lib, "winmm.lib")
#endif
#if __has_include(<pthread.h>)
#include <pthread.h> // pthread_gethandle, where std::thread is winpthreads' (MinGW, posix)
#endif
#else
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
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>

namespace audiocast::detail {

/// What a readiness wait polls: pollfd on POSIX, WSAPOLLFD on Windows.
#if defined(_WIN32)
using poll_entry = ::WSAPOLLFD;
#else
using poll_entry = ::pollfd;
#endif

/// A descriptor that becomes readable when notify() is called from any
/// thread: an eventfd on Linux, a pipe elsewhere on POSIX, and on Windows a
/// UDP socket on 127.0.0.1 that sends to itself.
class wake_signal {
public:
    wake_signal() noexcept
    {
#if defined(_WIN32)
        if (!library_.started()) return;
        // Not inherited: a child process must not hold the thread's wake-up.
        const SOCKET s =
            ::WSASocketW(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_NO_HANDLE_INHERIT);
        if (s == INVALID_SOCKET) return;
        ::sockaddr_in self{};
        self.sin_family = AF_INET;
        self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int size = sizeof self;
        u_long non_blocking = 1;
        if (::bind(s, reinterpret_cast<const ::sockaddr*>(&self), sizeof self) != 0 ||
            ::getsockname(s, reinterpret_cast<::sockaddr*>(&self), &size) != 0 ||
            ::connect(s, reinterpret_cast<const ::sockaddr*>(&self), sizeof self) != 0 ||
            // FIONBIO is an unsigned constant that Winsock takes as a long.
            ::ioctlsocket(s, static_cast<long>(FIONBIO), &non_blocking) != 0) {
            ::closesocket(s);
            return;
        }
        read_fd_ = write_fd_ = static_cast<native_socket>(s);
#elif defined(__linux__)
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
        close_socket(read_fd_);
        if (write_fd_ != read_fd_) close_socket(write_fd_);
    }

    /// Whether the descriptor could be made (else the system is out of them).
    [[nodiscard]] bool valid() const noexcept { return read_fd_ != invalid_native_socket; }
    [[nodiscard]] native_socket fd() const noexcept { return read_fd_; }

    void notify() const noexcept
    {
        const std::uint64_t one = 1;
        // Full means already readable, which is all a notification is for.
#if defined(_WIN32)
        ::send(static_cast<SOCKET>(write_fd_), reinterpret_cast<const char*>(&one), sizeof one, 0);
#else
        [[maybe_unused]] const auto written = ::write(write_fd_, &one, sizeof one);
#endif
    }

    /// Makes the descriptor unreadable again.
    void drain() const noexcept
    {
        std::uint64_t value[8];
#if defined(_WIN32)
        // A bound on the datagrams taken: notifications that keep coming end
        // the next wait instead.
        for (int i = 0; i < 1024; ++i)
            if (::recv(static_cast<SOCKET>(read_fd_), reinterpret_cast<char*>(value), sizeof value,
                       0) < 0)
                break;
#elif defined(__linux__)
        // One read empties an eventfd: its counter goes back to 0.
        [[maybe_unused]] const auto n = ::read(read_fd_, value, sizeof value);
#else
        while (::read(read_fd_, value, sizeof value) > 0) {
        }
#endif
    }

private:
#if defined(_WIN32)
    socket_library library_;
#endif
    native_socket read_fd_ = invalid_native_socket;
    native_socket write_fd_ = invalid_native_socket;
};

#if !defined(_WIN32)
/// `d` (not negative) as a timespec, for the waits that take one.
[[nodiscard]] inline ::timespec to_timespec(std::chrono::nanoseconds d) noexcept
{
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(d);
    ::timespec t{};
    t.tv_sec = static_cast<::time_t>(seconds.count());
    t.tv_nsec = static_cast<long>((d - seconds).count());
    return t;
}
#else
/// Sleeps the calling thread for `d` on a waitable timer of its own, a
/// high-resolution one where Windows has it (10 version 1803 on).
inline void sleep_precisely(std::chrono::nanoseconds d) noexcept
{
    struct thread_timer {
        HANDLE handle = nullptr;
        thread_timer() noexcept
        {
            constexpr DWORD high_resolution = 0x00000002; // CREATE_WAITABLE_TIMER_HIGH_RESOLUTION
            handle = ::CreateWaitableTimerExW(nullptr, nullptr, high_resolution, TIMER_ALL_ACCESS);
            if (handle == nullptr)
                handle = ::CreateWaitableTimerExW(nullptr, nullptr, 0, TIMER_ALL_ACCESS);
        }
        thread_timer(const thread_timer&) = delete;
        thread_timer& operator=(const thread_timer&) = delete;
        ~thread_timer()
        {
            if (handle != nullptr) ::CloseHandle(handle);
        }
    };
    if (d <= std::chrono::nanoseconds::zero()) return;
    thread_local const thread_timer timer;
    // Relative times are negative, in units of 100 ns.
    ::LARGE_INTEGER due{};
    due.QuadPart = -std::max<long long>(1, d.count() / 100);
    if (timer.handle == nullptr ||
        !::SetWaitableTimer(timer.handle, &due, 0, nullptr, nullptr, FALSE)) {
        ::Sleep(static_cast<DWORD>(std::chrono::ceil<std::chrono::milliseconds>(d).count()));
        return;
    }
    ::WaitForSingleObject(timer.handle, INFINITE);
}
#endif

/// Holds the system timer at 1 ms for as long as it lives (Windows's
/// timeBeginPeriod; 15.6 ms otherwise, which WSAPoll's timeout is rounded
/// to). Nothing elsewhere.
class fine_system_timer {
public:
    fine_system_timer() noexcept
    {
#if defined(_WIN32)
        held_ = ::timeBeginPeriod(1) == TIMERR_NOERROR;
#endif
    }
    fine_system_timer(const fine_system_timer&) = delete;
    fine_system_timer& operator=(const fine_system_timer&) = delete;
    ~fine_system_timer()
    {
#if defined(_WIN32)
        if (held_) ::timeEndPeriod(1);
#endif
    }

private:
    [[maybe_unused]] bool held_ = false;
};

/// Waits until one of `fds` is readable (their revents say which) or
/// `timeout` has passed; returns how many are ready, 0 at the timeout, -1 on
/// an error other than a signal (last_socket_error() says which).
inline int wait_readable_for(std::span<poll_entry> fds, std::chrono::nanoseconds timeout) noexcept
{
    if (timeout < std::chrono::nanoseconds::zero()) timeout = {};
#if defined(_WIN32)
    // WSAPoll ends on a tick of the system timer (1 ms while a
    // fine_system_timer is held): it waits a tick short of the deadline, and
    // the waitable timer the rest.
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    const auto polled = std::max<long long>(ms.count() - 1, 0);
    const int ready = ::WSAPoll(fds.data(), static_cast<ULONG>(fds.size()),
                                static_cast<INT>(std::min<long long>(polled, 1'000'000)));
    if (ready != 0) return ready;
    sleep_precisely(timeout - std::chrono::milliseconds{polled});
    return 0;
#elif defined(__linux__) || defined(__FreeBSD__)
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

/// Gives `thread` real-time scheduling: SCHED_FIFO at `priority` (1-99) on
/// POSIX, THREAD_PRIORITY_TIME_CRITICAL on Windows (whatever the number);
/// the error and a message that says what a user can do when the system
/// refuses.
#if defined(_WIN32)
/// `thread`'s Windows handle, whatever its native handle is: a HANDLE (MSVC,
/// clang-cl) or a winpthreads pthread_t (MinGW's posix thread model).
template <class Thread>
HANDLE windows_handle_of(Thread& thread) noexcept
{
    if constexpr (std::is_convertible_v<typename Thread::native_handle_type, HANDLE>)
        return thread.native_handle();
    else
        return pthread_gethandle(thread.native_handle());
}
#endif

inline std::error_code set_realtime_priority(std::thread& thread, int priority,
                                             std::string& what) noexcept
{
#if defined(_WIN32)
    const HANDLE handle = windows_handle_of(thread);
    if (handle != nullptr && ::SetThreadPriority(handle, THREAD_PRIORITY_TIME_CRITICAL)) return {};
    const auto error = static_cast<int>(::GetLastError());
    try {
        what = "real-time priority " + std::to_string(priority) +
               " (THREAD_PRIORITY_TIME_CRITICAL) refused: " + std::system_category().message(error);
    } catch (...) {
    }
    return make_error_code(errc::thread_priority_refused);
#else
    ::sched_param param{};
    param.sched_priority = priority;
    const int error = ::pthread_setschedparam(thread.native_handle(), SCHED_FIFO, &param);
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
#endif
}

} // namespace audiocast::detail
