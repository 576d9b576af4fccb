// audiocast — reading one datagram from a non-blocking UDP socket with what
// the kernel knows about it. Internal to transport/udp_multicast.hpp.
//
// recvmsg(2) rather than Asio's receive_from: it reports truncation
// (MSG_TRUNC), and control messages carry the datagram's arrival time
// (SO_TIMESTAMPNS, socket(7)), so that a backlog read at once is dated when it
// arrived, and the socket's count of datagrams dropped for a full receive
// buffer (SO_RXQ_OVFL, Linux), so that a receiver can say what the host lost.
// Linux reads a batch in one recvmmsg(2); other POSIX systems one recvmsg(2) a
// datagram, and where they lack SO_TIMESTAMPNS (macOS) without arrival times.
//
// Windows: WSARecvMsg, one a datagram, which reports truncation as
// WSAEMSGSIZE with the datagram's first bytes in the buffer, and with
// IP_PKTINFO each datagram's destination. Windows will not bind a socket to a
// group, and a socket bound to the wildcard address receives every group any
// socket of the host joined on its port, from every source; read_up_to drops
// what was sent to another group, or from another source than a
// source-specific join's, as the kernel does elsewhere. It drops at most four
// batches' worth a call, and counts none: they were never this transport's.
// Where WSARecvMsg or IP_PKTINFO is refused, a socket bound to the group
// reads with recvfrom, and one bound to the wildcard address is refused
// (udp_multicast.hpp). Winsock attaches neither an arrival time nor a drop
// count (not before Windows 11's SIO_TIMESTAMPING), so `waited` stays 0 (a
// backlog looks fresh) and the drop count unknown.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/transport/detail/multicast_interface.hpp>
#include <audiocast/transport/detail/socket_calls.hpp>

#include <asio/ip/udp.hpp>

#if defined(_WIN32)
#include <mstcpip.h>
#include <mswsock.h>
#else
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>

namespace audiocast::detail {

class datagram_reader {
public:
    /// Asks the kernel to attach an arrival time and a drop count to every
    /// datagram `fd` receives; a kernel without either simply leaves it out.
    /// Before the socket is bound, so that no datagram comes without what is
    /// asked. `group`: where the datagrams to keep are sent, and `source` (if
    /// any) who sent them; Windows drops the others. Returns false where the
    /// platform cannot tell, which matters only to a socket bound to the
    /// wildcard address (Windows).
    bool enable(native_socket handle, [[maybe_unused]] const asio::ip::address& group,
                [[maybe_unused]] const std::optional<asio::ip::address>& source) noexcept
    {
#if defined(_WIN32)
        const auto s = static_cast<SOCKET>(handle);
        // A datagram this socket sent that met an ICMP "port unreachable"
        // would otherwise fail its next receive with WSAECONNRESET.
        BOOL report = FALSE;
        DWORD unused = 0;
        ::WSAIoctl(s, SIO_UDP_CONNRESET, &report, sizeof report, nullptr, 0, &unused, nullptr,
                   nullptr);
        GUID id = WSAID_WSARECVMSG;
        LPFN_WSARECVMSG function = nullptr;
        const DWORD on = 1;
        const bool pktinfo =
            group.is_v4()
                ? set_socket_option(handle, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) == 0
                : set_socket_option(handle, IPPROTO_IPV6, IPV6_PKTINFO, &on, sizeof on) == 0;
        if (!pktinfo || ::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function,
                                   sizeof function, &unused, nullptr, nullptr) != 0)
            return false;
        receive_message_ = function;
        group_ = group;
        source_ = source;
        return true;
#else
        const int on = 1;
#if defined(SO_TIMESTAMPNS)
        // Without arrival times waited stays 0, which only makes a backlog look fresh.
        timestamps_ = ::setsockopt(handle, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
#endif
#if defined(SO_RXQ_OVFL)
        drop_counts_ = ::setsockopt(handle, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on) == 0;
#endif
        (void)on;
        return true;
#endif
    }

    /// Reads one datagram from `fd` into `buffer` and returns its size; its
    /// sender lands in `source` and `origin`, with how long it waited and the
    /// socket's drop count. `truncated`: it was larger than `buffer`. With
    /// nothing waiting, sets operation_would_block.
    std::size_t read(native_socket handle, std::span<std::byte> buffer,
                     asio::ip::udp::endpoint& source, bool& truncated, datagram_origin& origin,
                     std::error_code& ec) const noexcept
    {
        received_datagram slot{.buffer = buffer};
        const std::size_t n = read_up_to<1>(handle, std::span<received_datagram>{&slot, 1}, ec);
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
    /// the kernel looked. Elsewhere than Linux, one call a datagram.
    std::size_t read_batch(native_socket handle, std::span<received_datagram> slots,
                           std::error_code& ec) const noexcept
    {
        return read_up_to<max_batch>(handle, slots, ec);
    }

private:
#if defined(_WIN32)
    template <std::size_t Max>
    std::size_t read_up_to(native_socket handle, std::span<received_datagram> slots,
                           std::error_code& ec) const noexcept
    {
        const std::size_t n = std::min(slots.size(), Max);
        if (n == 0) return 0;
        std::size_t got = 0;
        // Datagrams to other groups are consumed and dropped, a bounded
        // number a call: a flood of them ends the call, not the thread.
        std::size_t dropped = 0;
        while (got < n && dropped < 4 * Max) {
            received_datagram& slot = slots[got];
            asio::ip::udp::endpoint& from = sources_[got];
            const ULONG wanted =
                static_cast<ULONG>(std::min<std::size_t>(slot.buffer.size(), INT_MAX));
            std::size_t size = 0;
            int error = 0;
            bool elsewhere = false;
            if (receive_message_ != nullptr) {
                alignas(::WSACMSGHDR) char control[WSA_CMSG_SPACE(sizeof(::IN6_PKTINFO)) +
                                                   WSA_CMSG_SPACE(sizeof(::IN_PKTINFO))];
                ::WSABUF data{wanted, reinterpret_cast<CHAR*>(slot.buffer.data())};
                ::WSAMSG message{};
                message.name = from.data();
                message.namelen = static_cast<INT>(from.capacity());
                message.lpBuffers = &data;
                message.dwBufferCount = 1;
                message.Control = ::WSABUF{sizeof control, control};
                DWORD received = 0;
                if (receive_message_(static_cast<SOCKET>(handle), &message, &received, nullptr,
                                     nullptr) != 0)
                    error = last_socket_error();
                size = error == WSAEMSGSIZE ? wanted : received;
                if (error == 0 && (message.dwFlags & MSG_TRUNC) != 0) error = WSAEMSGSIZE;
                if (error == 0 || error == WSAEMSGSIZE) {
                    from.resize(static_cast<std::size_t>(message.namelen));
                    elsewhere = sent_elsewhere(message) || !from_source(from.address());
                }
            } else {
                int from_size = static_cast<int>(from.capacity());
                const int r = ::recvfrom(static_cast<SOCKET>(handle),
                                         reinterpret_cast<char*>(slot.buffer.data()),
                                         static_cast<int>(wanted), 0, from.data(), &from_size);
                error = r < 0 ? last_socket_error() : 0;
                size = r < 0 ? wanted : static_cast<std::size_t>(r);
                if (error == 0 || error == WSAEMSGSIZE)
                    from.resize(static_cast<std::size_t>(from_size));
            }
            if (error != 0 && error != WSAEMSGSIZE) {
                if (got > 0) break; // what was read is returned; the error comes again
                ec = socket_error(error);
                return 0;
            }
            if (elsewhere) {
                ++dropped;
                continue;
            }
            slot.size = size;
            slot.truncated = error == WSAEMSGSIZE;
            slot.origin = {};
            slot.origin.from = to_endpoint(from);
            ++got;
        }
        if (got == 0) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        last_source_ = sources_[got - 1];
        return got;
    }

    /// Whether `message` was not sent to the group: IP_PKTINFO names another
    /// address, or says nothing (asked before the bind, it always comes; cut
    /// off, the datagram cannot be placed).
    bool sent_elsewhere(::WSAMSG& message) const noexcept
    {
        if ((message.dwFlags & MSG_CTRUNC) != 0) return true;
        for (::WSACMSGHDR* c = WSA_CMSG_FIRSTHDR(&message); c != nullptr;
             c = WSA_CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && group_.is_v4()) {
                ::IN_PKTINFO info{};
                std::memcpy(&info, WSA_CMSG_DATA(c), sizeof info);
                const auto want = group_.to_v4().to_bytes();
                return std::memcmp(&info.ipi_addr, want.data(), want.size()) != 0;
            }
            if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && group_.is_v6()) {
                ::IN6_PKTINFO info{};
                std::memcpy(&info, WSA_CMSG_DATA(c), sizeof info);
                const auto want = group_.to_v6().to_bytes();
                return std::memcmp(&info.ipi6_addr, want.data(), want.size()) != 0;
            }
        }
        return true;
    }

    /// Whether `a` is the source-specific join's source (or there is none).
    bool from_source(const asio::ip::address& a) const noexcept
    {
        if (!source_) return true;
        if (a.is_v4() && source_->is_v4()) return a.to_v4() == source_->to_v4();
        if (a.is_v6() && source_->is_v6())
            return a.to_v6().to_bytes() == source_->to_v6().to_bytes();
        return false;
    }

    LPFN_WSARECVMSG receive_message_ = nullptr;
    asio::ip::address group_{};
    std::optional<asio::ip::address> source_{};
#else
    // The headers live on the stack, sized for at most Max datagrams.
    template <std::size_t Max>
    std::size_t read_up_to(native_socket fd, std::span<received_datagram> slots,
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
            ec = count < 0 ? socket_error(error)
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
#if defined(SO_TIMESTAMPNS)
            if (c->cmsg_type == SCM_TIMESTAMPNS) {
                ::timespec stamp{};
                std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                const auto at =
                    std::chrono::seconds{stamp.tv_sec} + std::chrono::nanoseconds{stamp.tv_nsec};
                origin.waited = std::max(now - at, std::chrono::nanoseconds::zero());
            }
#endif
#if defined(SO_RXQ_OVFL)
            if (c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t count = 0;
                std::memcpy(&count, CMSG_DATA(c), sizeof count);
                origin.dropped_before = count;
            }
#endif
        }
    }

#endif

    bool timestamps_ = false;
    bool drop_counts_ = false;
    // Where read() finds the source of the datagram it returns.
    mutable asio::ip::udp::endpoint last_source_;
    mutable std::array<asio::ip::udp::endpoint, max_batch> sources_;
};

} // namespace audiocast::detail
