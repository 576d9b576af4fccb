// Reading a small file whole (an SDP description) without trusting it: a
// size limit read as it goes, so /dev/zero or a FIFO cannot make the program
// read forever, and messages that name the file and the reason.
#pragma once

#include "support/example_error.hpp"
#include "support/untrusted_text.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace audiocast_examples {

/// The whole of `path`, which must be a file of at most `limit` bytes;
/// otherwise an example_error naming the path (escaped), what it should hold
/// (`what`) and the reason: missing, a directory, unreadable, too large.
[[nodiscard]] inline std::string read_small_file(const std::string& path, std::size_t limit,
                                                 const char* what)
{
    const std::string shown = "'" + printable(path) + "'";
    struct ::stat st {};
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

} // namespace audiocast_examples
