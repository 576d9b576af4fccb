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

/// Waits for `thread` to set `ended`, cancelling its blocked call (its handle
/// in `handle`) from `cancel_after` on; joins it, or, where nothing ended it
/// by `give_up_after` (wine's pipes), leaves it to end with the process: it
/// must own what it uses.
inline void end_or_leave(std::thread& thread, const std::atomic<bool>& ended,
                         const std::atomic<HANDLE>& handle, std::chrono::milliseconds cancel_after,
                         std::chrono::milliseconds give_up_after) noexcept
{
    const auto start = std::chrono::steady_clock::now();
    while (!ended.load() && std::chrono::steady_clock::now() < start + give_up_after) {
        if (std::chrono::steady_clock::now() >= start + cancel_after)
            cancel_blocking_call(handle.load());
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    if (ended.load())
        thread.join();
    else
        thread.detach();
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
        // A pipe's writer may never write: read only what is there. A pipe
        // that cannot be peeked (wine's, made by a Linux parent) is read
        // whole-heartedly, and stop() cancels the read.
        DWORD available = 0;
        if (::PeekNamedPipe(in, nullptr, 0, nullptr, &available, nullptr)) {
            if (available == 0) {
                ::Sleep(static_cast<DWORD>(timeout_ms));
                return read_outcome::nothing_yet;
            }
            want = (std::min)(want, available);
        } else if (::GetLastError() == ERROR_BROKEN_PIPE) {
            return read_outcome::ended; // the writer closed it
        }
    } else if (type == FILE_TYPE_CHAR && ::GetConsoleMode(in, &mode)) {
        // Signalled on any console event, a key or a click: the read that
        // follows may still wait for a whole line, and stop() cancels it.
        if (::WaitForSingleObject(in, static_cast<DWORD>(timeout_ms)) == WAIT_TIMEOUT)
            return read_outcome::nothing_yet;
    } // a file or NUL: a read never waits long
    DWORD n = 0;
    if (!::ReadFile(in, buffer, want, &n, nullptr)) {
        const DWORD error = ::GetLastError();
        // A message longer than the buffer: the rest comes with the next read.
        if (error == ERROR_MORE_DATA && n != 0) {
            got = n;
            return read_outcome::data;
        }
        return error == ERROR_OPERATION_ABORTED ? read_outcome::nothing_yet : read_outcome::ended;
    }
    // Ctrl+C during a console read returns no bytes, and is no end of input.
    if (n == 0 && ::GetLastError() == ERROR_OPERATION_ABORTED) return read_outcome::nothing_yet;
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
        : state_{std::make_shared<state>(io, std::move(on_line), std::move(on_end))}
    {
        thread_ = std::thread{[s = state_] { run(s); }};
    }

    console_reader(const console_reader&) = delete;
    console_reader& operator=(const console_reader&) = delete;

    ~console_reader() { stop(); }

    /// After this returns, nothing more is posted to the io_context.
    void stop() noexcept
    {
        {
            const std::lock_guard lock{state_->posting};
            state_->stopping = true;
        }
        if (!thread_.joinable()) return;
#if defined(_WIN32)
        // A console read waits for a whole line, and a pipe wine cannot peek
        // for a write: end the read. Where even that cannot end it (wine's
        // pipes), the thread is left to end with the process; it owns what it
        // uses, and posts nothing more.
        console_io::end_or_leave(thread_, state_->ended, state_->thread_handle,
                                 std::chrono::milliseconds{0}, std::chrono::milliseconds{500});
#else
        thread_.join();
#endif
    }

    /// Lines handed to the io_context and not yet handled, at most.
    static constexpr int max_pending = 4;

private:
    static constexpr int poll_interval_ms = 100;
    static constexpr std::size_t max_line = 4096;

    // Shared by the reader thread, the posted handlers and the reader object,
    // any of which may be the last to go.
    struct state {
        state(asio::io_context& i, line_handler l, end_handler e)
            : io{i}, on_line{std::move(l)}, on_end{std::move(e)}
        {}
        ~state()
        {
#if defined(_WIN32)
            if (const HANDLE h = thread_handle.exchange(nullptr)) ::CloseHandle(h);
#endif
        }
        asio::io_context& io;
        line_handler on_line;
        end_handler on_end;
        std::mutex posting; ///< held while posting, and while stopping is set
        bool stopping = false;
        std::atomic<int> pending{0};
        std::atomic<bool> ended{false};
#if defined(_WIN32)
        std::atomic<HANDLE> thread_handle{nullptr};
#endif
        [[nodiscard]] bool stopped()
        {
            const std::lock_guard lock{posting};
            return stopping;
        }
    };

    static void run(const std::shared_ptr<state>& shared)
    {
#if defined(_WIN32)
        shared->thread_handle.store(console_io::current_thread());
#endif
        read_lines(shared);
        shared->ended.store(true);
    }

    static void read_lines(const std::shared_ptr<state>& shared)
    {
        state& s = *shared;
        std::string line;
        char chunk[512];
        while (!s.stopped()) {
            if (s.pending.load(std::memory_order_acquire) >= max_pending) {
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
                    post_line(shared, std::move(line));
                    line.clear();
                    // A chunk may hold many lines: wait for room between them.
                    while (s.pending.load(std::memory_order_acquire) >= max_pending && !s.stopped())
                        std::this_thread::sleep_for(std::chrono::milliseconds{5});
                } else if (line.size() < max_line) {
                    line += chunk[i];
                }
            }
        }
        if (!line.empty()) {
            while (s.pending.load(std::memory_order_acquire) >= max_pending && !s.stopped())
                std::this_thread::sleep_for(std::chrono::milliseconds{5});
            post_line(shared, std::move(line));
        }
        const std::lock_guard lock{s.posting};
        if (!s.stopping) asio::post(s.io, [shared] { shared->on_end(); });
    }

    static void post_line(const std::shared_ptr<state>& shared, std::string line)
    {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::lock_guard lock{shared->posting};
        if (shared->stopping) return;
        shared->pending.fetch_add(1, std::memory_order_acq_rel);
        asio::post(shared->io, [shared, l = std::move(line)]() mutable {
            shared->pending.fetch_sub(1, std::memory_order_acq_rel);
            shared->on_line(std::move(l));
        });
    }

    std::shared_ptr<state> state_;
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

    console_writer() : state_{std::make_shared<state>()}
    {
        thread_ = std::thread{[s = state_] {
#if defined(_WIN32)
            s->thread_handle.store(console_io::current_thread());
#endif
            write_all(*s);
            s->ended.store(true);
        }};
    }
    console_writer(const console_writer&) = delete;
    console_writer& operator=(const console_writer&) = delete;
    ~console_writer()
    {
        {
            const std::lock_guard lock{state_->mutex};
            state_->closing = true;
        }
        state_->wake.notify_one();
#if defined(_WIN32)
        // A write to a pipe nobody reads blocks; after the grace, end it.
        // Where even that cannot end it (wine's pipes), the thread is left to
        // end with the process: it owns what it uses.
        console_io::end_or_leave(thread_, state_->ended, state_->thread_handle, closing_grace,
                                 closing_grace * 2);
#else
        thread_.join();
#endif
    }

    /// Queues one reply (one or more lines); never blocks on stdout.
    void reply(std::string text)
    {
        {
            const std::lock_guard lock{state_->mutex};
            if (state_->lines.size() >= max_queued) {
                ++state_->dropped;
                return;
            }
            state_->lines.push_back(std::move(text) + "\n");
        }
        state_->wake.notify_one();
    }

private:
    static constexpr int poll_interval_ms = 50;
    /// After closing, how long queued replies may wait for stdout.
    static constexpr std::chrono::milliseconds closing_grace{300};

    struct state {
        ~state()
        {
#if defined(_WIN32)
            if (const HANDLE h = thread_handle.exchange(nullptr)) ::CloseHandle(h);
#endif
        }
        std::mutex mutex;
        std::condition_variable wake;
        std::deque<std::string> lines;
        std::uint64_t dropped = 0;
        bool closing = false;
        std::atomic<bool> ended{false};
#if defined(_WIN32)
        std::atomic<HANDLE> thread_handle{nullptr};
#endif
    };

    static void write_all(state& s)
    {
        std::unique_lock lock{s.mutex};
        std::chrono::steady_clock::time_point give_up{};
        for (;;) {
            s.wake.wait(lock, [&s] { return s.closing || !s.lines.empty(); });
            if (s.closing && give_up == std::chrono::steady_clock::time_point{})
                give_up = std::chrono::steady_clock::now() + closing_grace;
            if (s.lines.empty()) return; // closing, all written
            if (s.closing && std::chrono::steady_clock::now() > give_up) return;
            std::string text = s.lines.front();
            const std::uint64_t dropped = std::exchange(s.dropped, 0);
            lock.unlock();
            if (dropped != 0)
                text = "(" + std::to_string(dropped) +
                       " replies dropped: the console's output was not read)\n" + text;
            const std::size_t written = write_when_ready(text);
            lock.lock();
            if (written == text.size())
                s.lines.pop_front();
            else // the rest waits; what went is not written again
                s.lines.front() = text.substr(written);
        }
    }

    // Writes `text` as stdout takes it; returns how much went (or was
    // dropped), short of the whole when stdout was not ready within one poll
    // interval (the caller tries the rest again, or gives up).
    static std::size_t write_when_ready(std::string_view text)
    {
        std::size_t done = 0;
        while (done < text.size()) {
            std::size_t written = 0;
            if (!console_io::write_output(text.substr(done), poll_interval_ms, written)) break;
            done += (std::min)(written, text.size() - done);
        }
        return done;
    }

    std::shared_ptr<state> state_;
    std::thread thread_;
};

} // namespace audiocast_examples
