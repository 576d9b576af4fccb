// Reading a small file whole (an SDP description) without trusting it: a
// size limit read as it goes, so /dev/zero or a FIFO cannot make the program
// read forever, and messages that name the file and the reason.
#pragma once

#include "support/example_error.hpp"
#include "support/untrusted_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#if defined(_WIN32)
#include <io.h>
#include <windows.h>
#else
#include <unistd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast_examples {

// The few file calls below are POSIX's; Windows' C runtime has the same ones
// under other names (MSVC's and MinGW's alike), without modes or symbolic
// links to refuse.
namespace file_calls {
#if defined(_WIN32)
// `mode` is POSIX's; here the file takes its folder's access rules.
inline int create_new(const std::string& path, int /*mode*/ = 0644) noexcept
{
    return ::_open(path.c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                   _S_IREAD | _S_IWRITE);
}
inline int open_existing(const std::string& path) noexcept
{
    return ::_open(path.c_str(), _O_WRONLY | _O_BINARY | _O_NOINHERIT);
}
inline int replace(const std::string& path) noexcept
{
    return ::_open(path.c_str(), _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY | _O_NOINHERIT,
                   _S_IREAD | _S_IWRITE);
}
inline long long write(int fd, const char* data, std::size_t size) noexcept
{
    return ::_write(fd, data, static_cast<unsigned>(std::min<std::size_t>(size, 1u << 30)));
}
inline int sync(int fd) noexcept
{
    return ::_commit(fd);
}
inline int close(int fd) noexcept
{
    return ::_close(fd);
}
inline int remove(const std::string& path) noexcept
{
    return ::_unlink(path.c_str());
}
/// Replaces `to` with `from` in one step, as POSIX rename() does; errno says
/// why not, as near as POSIX's names come.
inline int rename_over(const std::string& from, const std::string& to) noexcept
{
    if (::MoveFileExA(from.c_str(), to.c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return 0;
    switch (::GetLastError()) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: errno = ENOENT; break;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION: errno = EACCES; break;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: errno = ENOSPC; break;
    case ERROR_NOT_SAME_DEVICE: errno = EXDEV; break;
    default: errno = EIO; break;
    }
    return -1;
}
#else
// O_NOFOLLOW: a symbolic link another user left at the path is not followed.
inline int create_new(const std::string& path, ::mode_t mode = 0644) noexcept
{
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}
inline int open_existing(const std::string& path) noexcept
{
    return ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
}
inline int replace(const std::string& path) noexcept
{
    return ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}
inline long long write(int fd, const char* data, std::size_t size) noexcept
{
    return ::write(fd, data, size);
}
inline int sync(int fd) noexcept
{
    return ::fsync(fd);
}
inline int close(int fd) noexcept
{
    return ::close(fd);
}
inline int remove(const std::string& path) noexcept
{
    return ::unlink(path.c_str());
}
inline int rename_over(const std::string& from, const std::string& to) noexcept
{
    return std::rename(from.c_str(), to.c_str());
}
#endif
} // namespace file_calls

/// A path the user typed is shown whole (escaped) up to this length.
inline constexpr std::size_t max_path_chars = 1024;

/// The whole of `path`, which must be a file of at most `limit` bytes;
/// otherwise an example_error naming the path (escaped), what it should hold
/// (`what`) and the reason: missing, a directory, unreadable, too large.
[[nodiscard]] inline std::string read_small_file(const std::string& path, std::size_t limit,
                                                 const char* what)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) throw example_error{"cannot read " + shown + ": " + ec.message()};
    if (std::filesystem::is_directory(status))
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
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (std::filesystem::exists(status)) {
        if (std::filesystem::is_directory(status))
            throw usage_error{std::string{option} + " " + shown + " is a directory; give a file"};
        const int fd = file_calls::open_existing(path);
        if (fd < 0) {
            const int error = errno;
            throw example_error{"cannot write " + shown + " (" + option +
                                "): " + std::strerror(error)};
        }
        file_calls::close(fd);
        return;
    }
    const int fd = file_calls::create_new(path);
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + " (" + option + "): " + std::strerror(error)};
    }
    file_calls::close(fd);
    file_calls::remove(path);
}

/// Writes all of `text` to `fd`; 0, or the errno that stopped it (ENOSPC
/// for a write that made no progress).
[[nodiscard]] inline int write_all(int fd, std::string_view text) noexcept
{
    std::size_t done = 0;
    while (done < text.size()) {
        const long long n = file_calls::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return ENOSPC;
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

/// Writes `text` to `path` whole, replacing it; an example_error with the
/// system's reason, read when the failure happened, otherwise.
inline void write_whole_file(const std::string& path, const std::string& text)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    const int fd = file_calls::replace(path);
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    if (const int error = write_all(fd, text); error != 0) {
        file_calls::close(fd);
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    if (file_calls::close(fd) != 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
}

/// Replaces `path` with a file that holds `text` and that only its owner
/// may read (mode 600), for a secret (an SDP with a key inline). The text is
/// written to a new file beside it, made with O_EXCL so that nothing another
/// user placed there (a symbolic link, a file others may open) receives it,
/// synced, then renamed over `path`: `path` is never a file with part of the
/// secret, or one that others could read. (On Windows the new file takes the
/// access rules its folder passes on: in the user's profile the user alone,
/// with SYSTEM and the administrators; elsewhere maybe more. Nothing here
/// narrows them, and the Windows build from Debian has no SRTP to write.)
inline void write_secret_file(const std::string& path, const std::string& text)
{
    const std::string shown = "'" + printable(path, max_path_chars) + "'";
    // A name beside `path` that nobody can guess and take first, as long as
    // mkstemp's (".XXXXXX"); a clash (EEXIST) tries another.
    std::string temporary;
    int fd = -1;
    std::mt19937_64 pick;
    try {
        std::random_device entropy;
        pick.seed((std::uint64_t{entropy()} << 32) ^ entropy());
    } catch (const std::exception& e) {
        throw example_error{"cannot write " + shown + ": no random name for it (" + e.what() + ")"};
    }
    static constexpr char letters[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
        temporary = path + ".";
        for (int i = 0; i < 6; ++i)
            temporary += letters[pick() % (sizeof letters - 1)];
        fd = file_calls::create_new(temporary, 0600);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        const int error = errno;
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
    int error = write_all(fd, text);
    if (error == 0 && file_calls::sync(fd) != 0) error = errno;
    if (file_calls::close(fd) != 0 && error == 0) error = errno;
    if (error == 0 && file_calls::rename_over(temporary, path) != 0) error = errno;
    if (error != 0) {
        file_calls::remove(temporary);
        throw example_error{"cannot write " + shown + ": " + std::strerror(error)};
    }
}

} // namespace audiocast_examples
