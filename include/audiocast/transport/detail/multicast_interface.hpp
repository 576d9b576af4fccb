// audiocast — the platform side of udp_multicast_transport: finding an
// interface by name, index or address, Asio's errors as std::errc, and the
// source-specific join Asio has no option for. Internal to
// transport/udp_multicast.hpp.
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>

#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

namespace audiocast {

namespace detail {

/// The interface a transport uses: an index for IPv6 (0: the system's
/// choice) and, for IPv4, one of its addresses (unspecified: the system's).
struct udp_interface {
    unsigned int index = 0;
    asio::ip::address_v4 ipv4{};
};

/// The system's interface addresses (getifaddrs(3)), freed on destruction.
class interface_addresses {
public:
    interface_addresses() noexcept
    {
        if (::getifaddrs(&list_) != 0) list_ = nullptr;
    }
    interface_addresses(const interface_addresses&) = delete;
    interface_addresses& operator=(const interface_addresses&) = delete;
    ~interface_addresses()
    {
        if (list_ != nullptr) ::freeifaddrs(list_);
    }

    /// The name of the interface that holds `address`; empty when none does.
    [[nodiscard]] std::string holding(const asio::ip::address& address) const
    {
        for (const ::ifaddrs* a = list_; a != nullptr; a = a->ifa_next) {
            if (a->ifa_addr == nullptr) continue;
            if (address.is_v4() && a->ifa_addr->sa_family == AF_INET) {
                ::sockaddr_in in{};
                std::memcpy(&in, a->ifa_addr, sizeof in);
                const auto bytes = address.to_v4().to_bytes();
                if (std::memcmp(&in.sin_addr, bytes.data(), bytes.size()) == 0) return a->ifa_name;
            }
            if (address.is_v6() && a->ifa_addr->sa_family == AF_INET6) {
                ::sockaddr_in6 in6{};
                std::memcpy(&in6, a->ifa_addr, sizeof in6);
                const auto bytes = address.to_v6().to_bytes();
                if (std::memcmp(&in6.sin6_addr, bytes.data(), bytes.size()) == 0)
                    return a->ifa_name;
            }
        }
        return {};
    }

    /// The first IPv4 address of the interface called `name`.
    [[nodiscard]] std::optional<asio::ip::address_v4> ipv4_of(const std::string& name) const
    {
        for (const ::ifaddrs* a = list_; a != nullptr; a = a->ifa_next) {
            if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
            if (name != a->ifa_name) continue;
            ::sockaddr_in in{};
            std::memcpy(&in, a->ifa_addr, sizeof in);
            asio::ip::address_v4::bytes_type bytes{};
            std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
            return asio::ip::address_v4{bytes};
        }
        return std::nullopt;
    }

private:
    ::ifaddrs* list_ = nullptr;
};

inline const char* ip_version(const asio::ip::address& a) noexcept
{
    return a.is_v4() ? "IPv4" : "IPv6";
}

/// "239.255.0.1:5004" or "[ff15::1]:5004".
inline std::string endpoint_text(const asio::ip::udp::endpoint& e)
{
    const std::string address = e.address().to_string();
    const std::string port = std::to_string(e.port());
    return e.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

/// Asio's system errors in std::system_category, so that they compare equal
/// to std::errc conditions: Asio 1.22 reports them in its own "asio.system"
/// category, which maps to none. operation_would_block is made exact (EAGAIN
/// and EWOULDBLOCK may differ).
inline bool is_would_block(int error) noexcept
{
#if EAGAIN != EWOULDBLOCK
    if (error == EAGAIN) return true;
#endif
    return error == EWOULDBLOCK;
}

/// The sans-I/O form of an Asio endpoint (endpoint.hpp).
inline endpoint to_endpoint(const asio::ip::udp::endpoint& e) noexcept
{
    const asio::ip::address a = e.address();
    if (a.is_v4()) return endpoint::ipv4(a.to_v4().to_bytes(), e.port());
    return endpoint::ipv6(a.to_v6().to_bytes(), e.port());
}

inline std::error_code from_asio(std::error_code ec) noexcept
{
    if (!ec || ec.category() != asio::system_category()) return ec;
    if (is_would_block(ec.value())) return std::make_error_code(std::errc::operation_would_block);
    return {ec.value(), std::system_category()};
}

/// Resolves options.interface for `group`; on failure sets `what` to a
/// message naming what was asked.
inline std::error_code resolve_interface(const std::string& spec, const asio::ip::address& group,
                                         udp_interface& out, std::string& what)
{
    out = {};
    if (spec.empty()) {
        if (group.is_v6()) out.index = static_cast<unsigned int>(group.to_v6().scope_id());
        return {};
    }
    const interface_addresses addresses;
    std::error_code parse_ec;
    const asio::ip::address address = asio::ip::make_address(spec, parse_ec);
    if (!parse_ec) {
        if (address.is_v4() != group.is_v4()) {
            what = "interface " + spec + " is an " + ip_version(address) + " address but group " +
                   group.to_string() + " is " + ip_version(group);
            return make_error_code(errc::address_family_mismatch);
        }
        if (address.is_unspecified()) return {};
        const std::string name = addresses.holding(address);
        if (name.empty()) {
            what = "no interface has the address " + spec;
            return make_error_code(errc::no_such_interface);
        }
        out.index = ::if_nametoindex(name.c_str());
        if (address.is_v4()) out.ipv4 = address.to_v4();
        return {};
    }

    std::string name;
    const bool digits = spec.find_first_not_of("0123456789") == std::string::npos;
    if (digits) {
        unsigned int index = 0;
        const auto [end, parse] = std::from_chars(spec.data(), spec.data() + spec.size(), index);
        char buffer[IF_NAMESIZE] = {};
        if (parse != std::errc{} || index == 0 || ::if_indextoname(index, buffer) == nullptr) {
            what = "no interface with index " + spec;
            return make_error_code(errc::no_such_interface);
        }
        out.index = index;
        name = buffer;
    } else {
        out.index = ::if_nametoindex(spec.c_str());
        if (out.index == 0) {
            what = "no interface named " + spec;
            return make_error_code(errc::no_such_interface);
        }
        name = spec;
    }
    if (group.is_v4()) {
        const auto ipv4 = addresses.ipv4_of(name);
        if (!ipv4) {
            what = "interface " + name + " has no IPv4 address, which IPv4 group " +
                   group.to_string() + " needs to be joined on it";
            return make_error_code(errc::address_family_mismatch);
        }
        out.ipv4 = *ipv4;
    }
    return {};
}

/// A source-specific join (RFC 4607) of `group` for datagrams from `source`
/// alone, on `iface`. IPv4 names the interface by address
/// (IP_ADD_SOURCE_MEMBERSHIP, ip(7)); IPv6 by index (MCAST_JOIN_SOURCE_GROUP,
/// RFC 3678). The kernel leaves the group when the socket closes.
inline std::error_code join_source_group(int fd, const asio::ip::address& group,
                                         const asio::ip::address& source,
                                         const udp_interface& iface) noexcept
{
    int result = 0;
    if (group.is_v4()) {
        ::ip_mreq_source req{};
        const auto g = group.to_v4().to_bytes();
        const auto s = source.to_v4().to_bytes();
        const auto i = iface.ipv4.to_bytes();
        std::memcpy(&req.imr_multiaddr, g.data(), g.size());
        std::memcpy(&req.imr_sourceaddr, s.data(), s.size());
        std::memcpy(&req.imr_interface, i.data(), i.size());
        result = ::setsockopt(fd, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &req, sizeof req);
    } else {
        ::group_source_req req{};
        req.gsr_interface = iface.index;
        ::sockaddr_in6 g{};
        g.sin6_family = AF_INET6;
        const auto gb = group.to_v6().to_bytes();
        std::memcpy(&g.sin6_addr, gb.data(), gb.size());
        g.sin6_scope_id = group.to_v6().scope_id();
        ::sockaddr_in6 s{};
        s.sin6_family = AF_INET6;
        const auto sb = source.to_v6().to_bytes();
        std::memcpy(&s.sin6_addr, sb.data(), sb.size());
        s.sin6_scope_id = source.to_v6().scope_id();
        std::memcpy(&req.gsr_group, &g, sizeof g);
        std::memcpy(&req.gsr_source, &s, sizeof s);
        result = ::setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &req, sizeof req);
    }
    if (result == 0) return {};
    return {errno, std::system_category()};
}

} // namespace detail

} // namespace audiocast
