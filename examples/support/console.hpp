// Lines typed on the server's console, read on a thread of their own and
// handed to the io_context, so the stream's thread never blocks on stdin.
//
// Standard input may be a terminal, a pipe or a file, or closed. It is polled
// with a timeout, so stop() returns within one poll interval whatever stdin
// is doing; at end of input (or when stdin is not open) the reader says so
// once and ends, and the program goes on without a console.
#pragma once

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>

namespace audiocast_examples {

/// Opens /dev/null on each of stdin, stdout and stderr that is closed, before
/// anything else opens a file: otherwise the first socket would become fd 0
/// and the console would read datagrams as commands.
inline void ensure_standard_streams() noexcept
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        const int opened = ::open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (opened >= 0 && opened != fd) {
            ::dup2(opened, fd);
            ::close(opened);
        }
    }
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
        if (thread_.joinable()) thread_.join();
    }

private:
    static constexpr int poll_interval_ms = 100;
    static constexpr std::size_t max_line = 4096;

    void run()
    {
        std::string line;
        char chunk[512];
        while (!stopping_) {
            ::pollfd in{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
            const int ready = ::poll(&in, 1, poll_interval_ms);
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0 || (in.revents & POLLNVAL) != 0) break; // stdin is not open
            if (ready == 0) continue;
            const ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) break; // end of input
            for (ssize_t i = 0; i < n; ++i) {
                if (chunk[i] == '\n') {
                    post_line(std::move(line));
                    line.clear();
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
        asio::post(io_, [this, l = std::move(line)]() mutable { on_line_(std::move(l)); });
    }

    asio::io_context& io_;
    line_handler on_line_;
    end_handler on_end_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace audiocast_examples
