// Lines typed on the server's console, read on a thread of their own and
// handed to the io_context, so the stream's thread never blocks on stdin.
//
// Standard input may be a terminal, a pipe or a file, or closed. It is polled
// with a timeout, so stop() returns within one poll interval whatever stdin
// is doing; at end of input (or when stdin is not open) the reader says so
// once and ends, and the program goes on without a console.
//
// Neither direction can cost the stream: at most max_pending lines wait for
// the io_context at once, and the reader reads no more of stdin until one is
// taken (`yes STATUS | audiocast-server` blocks `yes`, not the server); the
// replies go to a writer thread through a bounded queue, so a terminal or
// pipe that is not read fills that queue (whose overflow is dropped and
// counted), never blocks the thread that paces packets.
//
// On Windows, where stdin and stdout cannot be polled, a pipe is peeked, a
// console waited on, and a read or write still blocked at the end is
// cancelled (CancelSynchronousIo): the same promises, kept another way.
#pragma once

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace audiocast_examples {

// Standard input and output as the console needs them, on each system.
namespace console_io {

enum class read_outcome { data, nothing_yet, ended };

#if defined(_WIN32)
/// A handle to the calling thread that another thread may use (the pseudo
/// handle GetCurrentThread() gives means "the caller" wherever it is used).
inline HANDLE current_thread() noexcept
{
    HANDLE h = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), ::GetCurrentThread(), ::GetCurrentProcess(), &h,
                           0, FALSE, DUPLICATE_SAME_ACCESS))
        return nullptr;
    return h;
}

/// Ends a read or write the thread `h` is blocked in, if any.
inline void cancel_blocking_call(HANDLE h) noexcept
{
    if (h != nullptr) ::CancelSynchronousIo(h);
}

inline read_outcome read_input(char* buffer, std::size_t size, int timeout_ms,
                               std::size_t& got) noexcept
{
    got = 0;
    const HANDLE in = ::GetStdHandle(STD_INPUT_HANDLE);
    if (in == nullptr || in == INVALID_HANDLE_VALUE) return read_outcome::ended;
    DWORD want = static_cast<DWORD>(size);
    DWORD mode = 0;
    const DWORD type = ::GetFileType(in);
    if (type == FILE_TYPE_PIPE) {
        // A pipe's writer may never write: read only what is there.
        DWORD available = 0;
        if (!::PeekNamedPipe(in, nullptr, 0, nullptr, &available, nullptr))
            return read_outcome::ended; // the writer closed it
        if (available == 0) {
            ::Sleep(static_cast<DWORD>(timeout_ms));
            return read_outcome::nothing_yet;
        }
        want = std::min(want, available);
    } else if (type == FILE_TYPE_CHAR && ::GetConsoleMode(in, &mode)) {
        // Signalled on any console event, a key or a click: the read that
        // follows may still wait for a whole line, and stop() cancels it.
        if (::WaitForSingleObject(in, static_cast<DWORD>(timeout_ms)) == WAIT_TIMEOUT)
            return read_outcome::nothing_yet;
    } // a file or NUL: a read never waits long
    DWORD n = 0;
    if (!::ReadFile(in, buffer, want, &n, nullptr)) {
        const DWORD error = ::GetLastError();
        return error == ERROR_OPERATION_ABORTED ? read_outcome::nothing_yet : read_outcome::ended;
    }
    if (n == 0) return read_outcome::ended;
    got = n;
    return read_outcome::data;
}

/// Writes some of `text`; false when it waited `timeout_ms` without writing.
/// `written` says how much went, 0 where it was dropped (stdout is gone).
inline bool write_output(std::string_view text, int, std::size_t& written) noexcept
{
    const HANDLE out = ::GetStdHandle(STD_OUTPUT_HANDLE);
    written = text.size();
    if (out == nullptr || out == INVALID_HANDLE_VALUE) return true;
    DWORD n = 0;
    const auto chunk = static_cast<DWORD>(std::min<std::size_t>(text.size(), 4096));
    if (!::WriteFile(out, text.data(), chunk, &n, nullptr)) return true; // gone, or cancelled
    if (n != 0) written = n;
    return true;
}
#else
inline read_outcome read_input(char* buffer, std::size_t size, int timeout_ms,
                               std::size_t& got) noexcept
{
    got = 0;
    ::pollfd in{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
    const int ready = ::poll(&in, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) return read_outcome::nothing_yet;
    if (ready < 0 || (in.revents & POLLNVAL) != 0) return read_outcome::ended; // not open
    if (ready == 0) return read_outcome::nothing_yet;
    const ssize_t n = ::read(STDIN_FILENO, buffer, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return read_outcome::nothing_yet;
    if (n <= 0) return read_outcome::ended;
    got = static_cast<std::size_t>(n);
    return read_outcome::data;
}

/// Writes some of `text` once stdout can take it; false when it could not
/// within `timeout_ms`. `written` says how much went; all of it where the
/// text was dropped (stdout is gone, or failed).
inline bool write_output(std::string_view text, int timeout_ms, std::size_t& written) noexcept
{
    written = 0;
    ::pollfd out{.fd = STDOUT_FILENO, .events = POLLOUT, .revents = 0};
    const int ready = ::poll(&out, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    written = text.size();
    if ((out.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return true; // gone: drop
    // One page at most: a pipe that polls writable takes that much without blocking.
    const std::size_t chunk = std::min<std::size_t>(text.size(), 4096);
    const ssize_t n = ::write(STDOUT_FILENO, text.data(), chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        written = 0;
        return true;
    }
    if (n <= 0) return true; // an error: the reply is lost, not retried forever
    written = static_cast<std::size_t>(n);
    return true;
}
#endif

} // namespace console_io

/// Opens /dev/null on each of stdin, stdout and stderr that is closed, before
/// anything else opens a file: otherwise the first socket would become fd 0
/// and the console would read datagrams as commands.
inline void ensure_standard_streams() noexcept
{
#if !defined(_WIN32) // Windows' sockets are handles, never a standard stream's number
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        const int opened = ::open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (opened >= 0 && opened != fd) {
            ::dup2(opened, fd);
            ::close(opened);
        }
    }
#endif
}

class console_reader {
public:
    using line_handler = std::function<void(std::string)>;
    using end_handler = std::function<void()>;

    /// Each line (without its end-of-line) and the end of input are handed to
    /// `io` through asio::post.
    console_reader(asio::io_context& io, line_handler on_line, end_handler on_end)
        : io_{io}, on_line_{std::move(on_line)}, on_end_{std::move(on_end)}
    {
        thread_ = std::thread{[this] { run(); }};
    }

    console_reader(const console_reader&) = delete;
    console_reader& operator=(const console_reader&) = delete;

    ~console_reader() { stop(); }

    void stop() noexcept
    {
        stopping_ = true;
#if defined(_WIN32)
        // A console read waits for a whole line; end it.
        while (thread_.joinable() && !ended_.load()) {
            console_io::cancel_blocking_call(thread_handle_.load());
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
#endif
        if (thread_.joinable()) thread_.join();
#if defined(_WIN32)
        if (const HANDLE h = thread_handle_.exchange(nullptr)) ::CloseHandle(h);
#endif
    }

    /// Lines handed to the io_context and not yet handled, at most.
    static constexpr int max_pending = 4;

private:
    static constexpr int poll_interval_ms = 100;
    static constexpr std::size_t max_line = 4096;

    void run()
    {
#if defined(_WIN32)
        thread_handle_.store(console_io::current_thread());
#endif
        read_lines();
        ended_.store(true);
    }

    void read_lines()
    {
        std::string line;
        char chunk[512];
        while (!stopping_) {
            if (pending_->load(std::memory_order_acquire) >= max_pending) {
                // Back-pressure: the writer of stdin waits, not the server.
                std::this_thread::sleep_for(std::chrono::milliseconds{5});
                continue;
            }
            std::size_t n = 0;
            const auto outcome = console_io::read_input(chunk, sizeof chunk, poll_interval_ms, n);
            if (outcome == console_io::read_outcome::nothing_yet) continue;
            if (outcome == console_io::read_outcome::ended) break; // end of input, or not open
            for (std::size_t i = 0; i < n; ++i) {
                if (chunk[i] == '\n') {
                    post_line(std::move(line));
                    line.clear();
                    // A chunk may hold many lines: wait for room between them.
                    while (pending_->load(std::memory_order_acquire) >= max_pending && !stopping_)
                        std::this_thread::sleep_for(std::chrono::milliseconds{5});
                } else if (line.size() < max_line) {
                    line += chunk[i];
                }
            }
        }
        if (!stopping_) {
            if (!line.empty()) post_line(std::move(line));
            asio::post(io_, [this] { on_end_(); });
        }
    }

    void post_line(std::string line)
    {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        pending_->fetch_add(1, std::memory_order_acq_rel);
        asio::post(io_, [this, pending = pending_, l = std::move(line)]() mutable {
            pending->fetch_sub(1, std::memory_order_acq_rel);
            on_line_(std::move(l));
        });
    }

    asio::io_context& io_;
    line_handler on_line_;
    end_handler on_end_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> ended_{false};
#if defined(_WIN32)
    std::atomic<HANDLE> thread_handle_{nullptr};
#endif
    // Shared with posted handlers, which may outlive the reader in the queue.
    std::shared_ptr<std::atomic<int>> pending_ = std::make_shared<std::atomic<int>>(0);
    std::thread thread_;
};

/// Replies to console commands, written to stdout by a thread of its own.
/// It writes only when stdout can take a line (poll), so it never blocks in
/// a write, and at the end it gives what is queued a moment to go out, then
/// drops it: a stdout nobody reads holds neither the stream nor its end.
class console_writer {
public:
    /// Replies waiting to be written, at most; more are dropped and counted.
    static constexpr std::size_t max_queued = 64;

    console_writer()
    {
        thread_ = std::thread{[this] {
#if defined(_WIN32)
            thread_handle_.store(console_io::current_thread());
#endif
            write_all();
            ended_.store(true);
        }};
    }
    console_writer(const console_writer&) = delete;
    console_writer& operator=(const console_writer&) = delete;
    ~console_writer()
    {
        {
            const std::lock_guard lock{mutex_};
            closing_ = true;
        }
        wake_.notify_one();
#if defined(_WIN32)
        // A write to a pipe nobody reads blocks; after the grace, end it.
        const auto give_up = std::chrono::steady_clock::now() + closing_grace;
        while (!ended_.load()) {
            if (std::chrono::steady_clock::now() > give_up)
                console_io::cancel_blocking_call(thread_handle_.load());
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
#endif
        thread_.join();
#if defined(_WIN32)
        if (const HANDLE h = thread_handle_.exchange(nullptr)) ::CloseHandle(h);
#endif
    }

    /// Queues one reply (one or more lines); never blocks on stdout.
    void reply(std::string text)
    {
        {
            const std::lock_guard lock{mutex_};
            if (lines_.size() >= max_queued) {
                ++dropped_;
                return;
            }
            lines_.push_back(std::move(text) + "\n");
        }
        wake_.notify_one();
    }

private:
    static constexpr int poll_interval_ms = 50;
    /// After closing, how long queued replies may wait for stdout.
    static constexpr std::chrono::milliseconds closing_grace{300};

    void write_all()
    {
        std::unique_lock lock{mutex_};
        std::chrono::steady_clock::time_point give_up{};
        for (;;) {
            wake_.wait(lock, [this] { return closing_ || !lines_.empty(); });
            if (closing_ && give_up == std::chrono::steady_clock::time_point{})
                give_up = std::chrono::steady_clock::now() + closing_grace;
            if (lines_.empty()) return; // closing, all written
            if (closing_ && std::chrono::steady_clock::now() > give_up) return;
            std::string text = lines_.front();
            const std::uint64_t dropped = std::exchange(dropped_, 0);
            lock.unlock();
            if (dropped != 0)
                text = "(" + std::to_string(dropped) +
                       " replies dropped: the console's output was not read)\n" + text;
            const bool written = write_when_ready(text);
            lock.lock();
            if (written) lines_.pop_front();
        }
    }

    // Writes `text` once stdout is ready for it; false when it was not ready
    // within one poll interval (the caller tries again, or gives up).
    static bool write_when_ready(std::string_view text)
    {
        while (!text.empty()) {
            std::size_t written = 0;
            if (!console_io::write_output(text, poll_interval_ms, written)) return false;
            text.remove_prefix(std::min(written, text.size()));
        }
        return true;
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::string> lines_;
    std::uint64_t dropped_ = 0;
    bool closing_ = false;
    std::atomic<bool> ended_{false};
#if defined(_WIN32)
    std::atomic<HANDLE> thread_handle_{nullptr};
#endif
    std::thread thread_;
};

} // namespace audiocast_examples
