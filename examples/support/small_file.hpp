// Reading a small file whole (an SDP description) without trusting it: a
// size limit read as it goes, so /dev/zero or a FIFO cannot make the program
// read forever, and messages that name the file and the reason.
#pragma once

#include "support/example_error.hpp"
#include "support/untrusted_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace audiocast_examples {

/// A path the user typed is shown whole (escaped) up to this length.
inline constexpr std::size_t max_path_chars = 1024;

/// The whole of `path`, which must be a file of at most `limit` bytes;
/// otherwise an example_error naming the path (escaped), what it should hold
/// (`what`) and the reason: missing, a directory, unreadable, too large.
[[nodiscard]] inline std::string read_small_file(const std::string& path, std::size_t limit,
                                                 const char* what)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    struct ::stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        const int error = errno;
        throw example_error{"cannot read " + shown + ": " + std::strerror(error)};
    }
    if (S_ISDIR(st.st_mode))
        throw example_error{shown + " is a directory; give the file that holds " + what};
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"),
                                                               &std::fclose};
    if (!file) {
        const int error = errno;
        throw example_error{"cannot read " + shown + ": " + std::strerror(error)};
    }
    std::string text(limit + 1, '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const std::size_t n = std::fread(text.data() + got, 1, text.size() - got, file.get());
        if (n == 0) break;
        got += n;
    }
    if (std::ferror(file.get())) {
        const int error = errno;
        throw example_error{"cannot read " + shown + ": " + std::strerror(error)};
    }
    if (got > limit)
        throw example_error{shown + " is larger than " + std::to_string(limit / 1024) +
                            " KiB, more than " + what + " can be; is it the right file?"};
    text.resize(got);
    return text;
}

/// Refuses, with the reason, an output path that cannot be written (a
/// directory, a missing folder, no permission), without truncating or
/// keeping anything: a file that exists is opened for writing and left as it
/// is; one that does not is created and removed again.
inline void check_writable(const std::string& path, const char* option)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    struct ::stat st{};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            throw usage_error{std::string{option} + " " + shown + " is a directory; give a file"};
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            const int error = errno;
            throw example_error{"cannot write " + shown + " (" + option +
                                "): " + std::strerror(error)};
        }
        ::close(fd);
        return;
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + " (" + option + "): " + std::strerror(error)};
    }
    ::close(fd);
    ::unlink(path.c_str());
}

/// Writes `text` to `path` whole, replacing it; an example_error with the
/// system's reason, read when the failure happened, otherwise.
/// Writes all of `text` to `fd`; 0, or the errno that stopped it (ENOSPC
/// for a write that made no progress).
[[nodiscard]] inline int write_all(int fd, std::string_view text) noexcept
{
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return ENOSPC;
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

inline void write_whole_file(const std::string& path, const std::string& text)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    if (const int error = write_all(fd, text); error != 0) {
        ::close(fd);
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    if (::close(fd) != 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
}

/// Replaces `path` with a file that holds `text` and that only its owner
/// may read (mode 600), for a secret (an SDP with a key inline). The text is
/// written to a new file beside it, made with O_EXCL so that nothing another
/// user placed there (a symbolic link, a file others may open) receives it,
/// synced, then renamed over `path`: `path` is never a file with part of the
/// secret, or one that others could read.
inline void write_secret_file(const std::string& path, const std::string& text)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    std::string temporary = path + ".XXXXXX";
    // mkstemp makes the file with O_EXCL and mode 600.
    const int fd = ::mkstemp(temporary.data());
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    int error = ::fchmod(fd, 0600) != 0 ? errno : write_all(fd, text);
    if (error == 0 && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error == 0 && ::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (error != 0) {
        ::unlink(temporary.c_str());
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
}

} // namespace audiocast_examples
