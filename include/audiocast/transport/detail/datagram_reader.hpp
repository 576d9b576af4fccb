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
#include <array>
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
        received_datagram slot{.buffer = buffer};
        const std::size_t n = read_up_to<1>(fd, std::span<received_datagram>{&slot, 1}, ec);
        if (n == 0) return 0;
        source = last_source_;
        truncated = slot.truncated;
        origin = slot.origin;
        return slot.size;
    }

    /// The most datagrams read_batch() takes in one call.
    static constexpr std::size_t max_batch = 64;

    /// Reads up to slots.size() (at most max_batch) waiting datagrams in one
    /// recvmmsg(2), and returns how many; with none waiting, sets
    /// operation_would_block. Fewer than asked means the queue was empty when
    /// the kernel looked. Elsewhere than Linux, one recvmsg(2) a datagram.
    std::size_t read_batch(int fd, std::span<received_datagram> slots,
                           std::error_code& ec) const noexcept
    {
        return read_up_to<max_batch>(fd, slots, ec);
    }

private:
    // The headers live on the stack, sized for at most Max datagrams.
    template <std::size_t Max>
    std::size_t read_up_to(int fd, std::span<received_datagram> slots,
                           std::error_code& ec) const noexcept
    {
        const std::size_t n = std::min(slots.size(), Max);
        if (n == 0) return 0;
        std::array<::iovec, Max> vectors;
        std::array<message_header, Max> messages;
        // The source addresses land in a member: an array of endpoints here
        // would be zeroed on every call (64 of them, for one datagram).
        auto& sources = sources_;
        alignas(::cmsghdr) std::array<std::array<char, control_bytes>, Max> control;
        const bool ancillary = timestamps_ || drop_counts_;
        const auto prepare = [&](std::size_t i) {
            vectors[i].iov_base = slots[i].buffer.data();
            vectors[i].iov_len = slots[i].buffer.size();
            ::msghdr& m = header(messages[i]);
            m = ::msghdr{};
            m.msg_iov = &vectors[i];
            m.msg_iovlen = 1;
            m.msg_name = sources[i].data();
            m.msg_namelen = static_cast<::socklen_t>(sources[i].capacity());
            m.msg_control = ancillary ? control[i].data() : nullptr;
            m.msg_controllen = ancillary ? control_bytes : 0;
        };
        std::size_t got = 0;
        // A signal can interrupt even a non-blocking call; a few retries suffice.
        int attempts = 0;
        while (got < n) {
            for (std::size_t i = got; i < n; ++i)
                prepare(i);
#if defined(__linux__)
            const int r = ::recvmmsg(fd, &messages[got], static_cast<unsigned>(n - got),
                                     MSG_DONTWAIT, nullptr);
            const ::ssize_t count = r;
#else
            const ::ssize_t size = ::recvmsg(fd, &messages[got].msg_hdr, MSG_DONTWAIT);
            if (size >= 0) messages[got].msg_len = static_cast<unsigned>(size);
            const ::ssize_t count = size >= 0 ? 1 : -1;
#endif
            if (count > 0) {
                got += static_cast<std::size_t>(count);
#if defined(__linux__)
                break; // recvmmsg took what was waiting
#else
                continue;
#endif
            }
            const int error = errno;
            if (count < 0 && error == EINTR && ++attempts < 8) continue;
            if (got > 0) break; // what was read is returned; the error comes again
            ec = count < 0 && !is_would_block(error)
                     ? std::error_code{error, std::system_category()}
                     : std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        const std::chrono::nanoseconds now = wall_now();
        for (std::size_t i = 0; i < got; ++i) {
            ::msghdr& m = header(messages[i]);
            sources[i].resize(m.msg_namelen);
            received_datagram& slot = slots[i];
            slot.size = std::min<std::size_t>(messages[i].msg_len, slot.buffer.size());
            slot.truncated = (m.msg_flags & MSG_TRUNC) != 0;
            slot.origin = {};
            slot.origin.from = to_endpoint(sources[i]);
            if (ancillary) read_ancillary(m, now, slot.origin);
        }
        last_source_ = sources[got - 1];
        return got;
    }

#if defined(__linux__)
    using message_header = ::mmsghdr;
    static ::msghdr& header(::mmsghdr& m) noexcept { return m.msg_hdr; }
#else
    struct message_header {
        ::msghdr msg_hdr;
        unsigned msg_len;
    };
    static ::msghdr& header(message_header& m) noexcept { return m.msg_hdr; }
#endif
    static constexpr std::size_t control_bytes =
        CMSG_SPACE(sizeof(::timespec)) + CMSG_SPACE(sizeof(std::uint32_t));

    static std::chrono::nanoseconds wall_now() noexcept
    {
        ::timespec now{};
        ::clock_gettime(CLOCK_REALTIME, &now);
        return std::chrono::seconds{now.tv_sec} + std::chrono::nanoseconds{now.tv_nsec};
    }

    /// The arrival time and the drop count the kernel attached. How long ago
    /// the kernel queued the datagram: SCM_TIMESTAMPNS is wall time, so it is
    /// compared with the wall clock `now`; 0 when unknown or when the wall
    /// clock stepped back in between. The drop count is the socket's since it
    /// opened, modulo 2^32; the kernel attaches none until the first drop, so
    /// its absence means 0.
    void read_ancillary(::msghdr& message, std::chrono::nanoseconds now,
                        datagram_origin& origin) const noexcept
    {
        if (drop_counts_) origin.dropped_before = 0;
        for (::cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level != SOL_SOCKET) continue;
            if (c->cmsg_type == SCM_TIMESTAMPNS) {
                ::timespec stamp{};
                std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                const auto at =
                    std::chrono::seconds{stamp.tv_sec} + std::chrono::nanoseconds{stamp.tv_nsec};
                origin.waited = std::max(now - at, std::chrono::nanoseconds::zero());
            }
#if defined(SO_RXQ_OVFL)
            if (c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t count = 0;
                std::memcpy(&count, CMSG_DATA(c), sizeof count);
                origin.dropped_before = count;
            }
#endif
        }
    }

    bool timestamps_ = false;
    bool drop_counts_ = false;
    // Where read() finds the source of the datagram it returns.
    mutable asio::ip::udp::endpoint last_source_;
    mutable std::array<asio::ip::udp::endpoint, max_batch> sources_;
};

} // namespace audiocast::detail
