// audiocast — reading one datagram from a non-blocking UDP socket with what
// the kernel knows about it. Internal to transport/udp_multicast.hpp.
//
// recvmsg(2) rather than Asio's receive_from: it reports truncation
// (MSG_TRUNC), and control messages carry the datagram's arrival time
// (SO_TIMESTAMPNS, socket(7)), so that a backlog read at once is dated when it
// arrived, and the socket's count of datagrams dropped for a full receive
// buffer (SO_RXQ_OVFL, Linux), so that a receiver can say what the host lost.
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/transport/detail/multicast_interface.hpp>

#include <asio/ip/udp.hpp>

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <system_error>

namespace audiocast::detail {

class datagram_reader {
public:
    /// Asks the kernel to attach an arrival time and a drop count to every
    /// datagram `fd` receives; a kernel without either simply leaves it out.
    void enable(int fd) noexcept
    {
        const int on = 1;
        // Without arrival times waited stays 0, which only makes a backlog look fresh.
        timestamps_ = ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
#if defined(SO_RXQ_OVFL)
        drop_counts_ = ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) == 0;
#endif
    }

    /// Reads one datagram from `fd` into `buffer` and returns its size; its
    /// sender lands in `source` and `origin`, with how long it waited and the
    /// socket's drop count. `truncated`: it was larger than `buffer`. With
    /// nothing waiting, sets operation_would_block.
    std::size_t read(int fd, std::span<std::byte> buffer, asio::ip::udp::endpoint& source,
                     bool& truncated, datagram_origin& origin, std::error_code& ec) const noexcept
    {
        ::iovec vector{};
        vector.iov_base = buffer.data();
        vector.iov_len = buffer.size();
        ::msghdr message{};
        message.msg_iov = &vector;
        message.msg_iovlen = 1;
        alignas(::cmsghdr) char
            control[CMSG_SPACE(sizeof(::timespec)) + CMSG_SPACE(sizeof(std::uint32_t))];
        const bool ancillary = timestamps_ || drop_counts_;
        // A signal can interrupt even a non-blocking call; a few retries suffice.
        for (int attempt = 0; attempt < 8; ++attempt) {
            message.msg_name = source.data();
            message.msg_namelen = static_cast<::socklen_t>(source.capacity());
            message.msg_control = ancillary ? control : nullptr;
            message.msg_controllen = ancillary ? sizeof control : 0;
            message.msg_flags = 0;
            const ::ssize_t size = ::recvmsg(fd, &message, MSG_DONTWAIT);
            if (size >= 0) {
                source.resize(message.msg_namelen);
                truncated = (message.msg_flags & MSG_TRUNC) != 0;
                origin.from = to_endpoint(source);
                origin.waited = waited(message);
                if (drop_counts_) origin.dropped_before = dropped_before(message);
                return static_cast<std::size_t>(size);
            }
            const int error = errno;
            if (error == EINTR) continue;
            ec = is_would_block(error) ? std::make_error_code(std::errc::operation_would_block)
                                       : std::error_code{error, std::system_category()};
            return 0;
        }
        ec = std::make_error_code(std::errc::interrupted);
        return 0;
    }

private:
    /// How long ago the kernel queued the datagram (SCM_TIMESTAMPNS is wall
    /// time, so it is compared with the wall clock now); 0 when unknown or
    /// when the wall clock stepped back in between.
    static std::chrono::nanoseconds waited(::msghdr& message) noexcept
    {
        for (::cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
            ::timespec stamp{};
            std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
            ::timespec now{};
            ::clock_gettime(CLOCK_REALTIME, &now);
            const auto age = std::chrono::seconds{now.tv_sec - stamp.tv_sec} +
                             std::chrono::nanoseconds{now.tv_nsec - stamp.tv_nsec};
            return std::max(age, std::chrono::nanoseconds::zero());
        }
        return {};
    }

    /// The socket's drop count since it opened, modulo 2^32; the kernel
    /// attaches none until the first drop, so its absence means 0.
    static std::uint32_t dropped_before([[maybe_unused]] ::msghdr& message) noexcept
    {
#if defined(SO_RXQ_OVFL)
        for (::cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
            std::uint32_t count = 0;
            std::memcpy(&count, CMSG_DATA(c), sizeof count);
            return count;
        }
#endif
        return 0;
    }

    bool timestamps_ = false;
    bool drop_counts_ = false;
};

} // namespace audiocast::detail
