// audiocast — the few socket calls the transports make below Asio, spelt once
// for POSIX and once for Windows (Winsock): the last error and what it means,
// setsockopt with the argument types each takes, and the Winsock start-up a
// socket needs before Asio has made one. Internal to transport/.
//
// Winsock's errors are its own numbers (WSAEWOULDBLOCK, WSAEMSGSIZE, ...), not
// errno's; socket_error() gives the few a caller tests for (would block, too
// large, in use, ...) as the std::errc a POSIX system reports, so that the
// code above compares against one set of conditions on every platform.
#pragma once

#include <audiocast/concepts.hpp>

#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstddef>
#include <system_error>

namespace audiocast::detail {

/// The calling thread's last socket error: WSAGetLastError() on Windows,
/// errno elsewhere.
[[nodiscard]] inline int last_socket_error() noexcept
{
#if defined(_WIN32)
    return ::WSAGetLastError();
#else
    return errno;
#endif
}

/// Whether a socket error means "nothing to read now" (EAGAIN and EWOULDBLOCK
/// may differ; Winsock says WSAEWOULDBLOCK).
[[nodiscard]] inline bool is_would_block(int error) noexcept
{
#if defined(_WIN32)
    return error == WSAEWOULDBLOCK;
#else
#if EAGAIN != EWOULDBLOCK
    if (error == EAGAIN) return true;
#endif
    return error == EWOULDBLOCK;
#endif
}

/// A socket error as an error_code. On POSIX, errno in the system category
/// (which compares equal to std::errc). On Windows the Winsock errors a caller
/// tests for become their std::errc, and the rest stay in the system category,
/// where message() still names them.
[[nodiscard]] inline std::error_code socket_error(int error) noexcept
{
    if (is_would_block(error)) return std::make_error_code(std::errc::operation_would_block);
#if defined(_WIN32)
    switch (error) {
    case WSAEMSGSIZE: return std::make_error_code(std::errc::message_size);
    case WSAEADDRINUSE: return std::make_error_code(std::errc::address_in_use);
    case WSAEADDRNOTAVAIL: return std::make_error_code(std::errc::address_not_available);
    case WSAENOTSOCK:
    case WSAEBADF: return std::make_error_code(std::errc::bad_file_descriptor);
    case WSAEINVAL: return std::make_error_code(std::errc::invalid_argument);
    case WSAENOPROTOOPT: return std::make_error_code(std::errc::no_protocol_option);
    case WSAENETUNREACH: return std::make_error_code(std::errc::network_unreachable);
    case WSAEHOSTUNREACH: return std::make_error_code(std::errc::host_unreachable);
    case WSAENOBUFS: return std::make_error_code(std::errc::no_buffer_space);
    case WSAEACCES: return std::make_error_code(std::errc::permission_denied);
    case WSAEINTR: return std::make_error_code(std::errc::interrupted);
    default: break;
    }
#endif
    return {error, std::system_category()};
}

/// setsockopt(2) with the argument types of the platform (Winsock takes
/// const char* and int). Returns 0 or the socket error.
[[nodiscard]] inline int set_socket_option(native_socket s, int level, int name, const void* value,
                                           std::size_t size) noexcept
{
#if defined(_WIN32)
    const int result = ::setsockopt(static_cast<SOCKET>(s), level, name,
                                    static_cast<const char*>(value), static_cast<int>(size));
#else
    const int result = ::setsockopt(s, level, name, value, static_cast<::socklen_t>(size));
#endif
    return result == 0 ? 0 : last_socket_error();
}

/// Closes a socket made below Asio.
inline void close_socket(native_socket s) noexcept
{
    if (s == invalid_native_socket) return;
#if defined(_WIN32)
    ::closesocket(static_cast<SOCKET>(s));
#else
    ::close(s);
#endif
}

/// Holds Winsock started (WSAStartup) for as long as it lives, so that a
/// socket can be made before, or without, any Asio object, which starts it
/// too; the calls are counted, so each start has its cleanup. Nothing on
/// POSIX.
class socket_library {
public:
    socket_library() noexcept
    {
#if defined(_WIN32)
        ::WSADATA data{};
        started_ = ::WSAStartup(MAKEWORD(2, 2), &data) == 0;
#endif
    }
    socket_library(const socket_library&) = delete;
    socket_library& operator=(const socket_library&) = delete;
    ~socket_library()
    {
#if defined(_WIN32)
        if (started_) ::WSACleanup();
#endif
    }

    [[nodiscard]] bool started() const noexcept { return started_; }

private:
    bool started_ = true;
};

} // namespace audiocast::detail
