// audiocast — the platform side of udp_multicast_transport: finding an
// interface by name, index or address, Asio's errors as std::errc, and the
// source-specific join Asio has no option for. Internal to
// transport/udp_multicast.hpp.
#pragma once

#include <audiocast/detail/ip_literal.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/transport/detail/socket_calls.hpp>

#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

#if defined(_WIN32)
#include <iphlpapi.h>
#include <netioapi.h>
#if defined(_MSC_VER)
#pragma comment(lib, "iphlpapi.lib")
#pragma comment(lib, "ws2_32.lib")
#endif
#else
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#endif

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace audiocast {

namespace detail {

/// The interface a transport uses: an index for IPv6 (0: the system's
/// choice) and, for IPv4, one of its addresses (unspecified: the system's).
struct udp_interface {
    unsigned int index = 0;
    asio::ip::address_v4 ipv4{};
};

/// One network interface as the system lists it: its name, its index, and
/// its unicast addresses.
struct network_interface {
    /// POSIX: the kernel's name ("eth0"). Windows: the name the user sees
    /// ("Ethernet", in UTF-8); the system's alias ("ethernet_32769",
    /// if_indextoname) is `alias`.
    std::string name;
    std::string alias;
    unsigned int index = 0;
    std::vector<asio::ip::address> addresses;
};

#if defined(_WIN32)
/// `text` (UTF-16, as Windows gives names) in UTF-8.
[[nodiscard]] inline std::string utf8_of(const wchar_t* text)
{
    if (text == nullptr) return {};
    const int size = ::WideCharToMultiByte(CP_UTF8, 0, text, -1, nullptr, 0, nullptr, nullptr);
    if (size <= 1) return {};
    std::string out(static_cast<std::size_t>(size), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, text, -1, out.data(), size, nullptr, nullptr);
    out.resize(static_cast<std::size_t>(size - 1));
    return out;
}
#endif

/// The system's interfaces with their addresses: getifaddrs(3) on POSIX,
/// GetAdaptersAddresses on Windows. Empty when the system will not say.
[[nodiscard]] inline std::vector<network_interface> list_network_interfaces()
{
    std::vector<network_interface> found;
#if defined(_WIN32)
    // The size needed is only known by asking; it may grow in between.
    std::vector<unsigned char> buffer(16 * 1024);
    ULONG result = ERROR_BUFFER_OVERFLOW;
    for (int attempt = 0; attempt < 4 && result == ERROR_BUFFER_OVERFLOW; ++attempt) {
        auto size = static_cast<ULONG>(buffer.size());
        result = ::GetAdaptersAddresses(
            AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER,
            nullptr, reinterpret_cast<IP_ADAPTER_ADDRESSES*>(buffer.data()), &size);
        if (result == ERROR_BUFFER_OVERFLOW) buffer.resize(size);
    }
    if (result != NO_ERROR) return found;
    for (auto* a = reinterpret_cast<const IP_ADAPTER_ADDRESSES*>(buffer.data()); a != nullptr;
         a = a->Next) {
        // One entry an adapter: two may share a name the user sees.
        network_interface& i = found.emplace_back();
        i.name = utf8_of(a->FriendlyName);
        i.index = a->IfIndex != 0 ? a->IfIndex : a->Ipv6IfIndex;
        char alias[IF_MAX_STRING_SIZE + 1] = {};
        if (::if_indextoname(i.index, alias) != nullptr) i.alias = alias;
        for (const IP_ADAPTER_UNICAST_ADDRESS* u = a->FirstUnicastAddress; u != nullptr;
             u = u->Next) {
            const ::sockaddr* sa = u->Address.lpSockaddr;
            if (sa == nullptr) continue;
            if (sa->sa_family == AF_INET) {
                ::sockaddr_in in{};
                std::memcpy(&in, sa, sizeof in);
                asio::ip::address_v4::bytes_type bytes{};
                std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
                i.addresses.emplace_back(asio::ip::address_v4{bytes});
            } else if (sa->sa_family == AF_INET6) {
                ::sockaddr_in6 in6{};
                std::memcpy(&in6, sa, sizeof in6);
                asio::ip::address_v6::bytes_type bytes{};
                std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
                i.addresses.emplace_back(asio::ip::address_v6{bytes, in6.sin6_scope_id});
            }
        }
    }
#else
    ::ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return found;
    for (const ::ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
        if (a->ifa_name == nullptr) continue;
        // getifaddrs lists an interface once an address (and once a link on Linux).
        auto same = std::find_if(found.rbegin(), found.rend(),
                                 [&](const network_interface& i) { return i.name == a->ifa_name; });
        if (same == found.rend()) {
            network_interface& added = found.emplace_back();
            added.name = a->ifa_name;
            added.index = ::if_nametoindex(a->ifa_name); // once a name
            same = found.rbegin();
        }
        network_interface& i = *same;
        if (a->ifa_addr == nullptr) continue;
        if (a->ifa_addr->sa_family == AF_INET) {
            ::sockaddr_in in{};
            std::memcpy(&in, a->ifa_addr, sizeof in);
            asio::ip::address_v4::bytes_type bytes{};
            std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
            i.addresses.emplace_back(asio::ip::address_v4{bytes});
        } else if (a->ifa_addr->sa_family == AF_INET6) {
            ::sockaddr_in6 in6{};
            std::memcpy(&in6, a->ifa_addr, sizeof in6);
            asio::ip::address_v6::bytes_type bytes{};
            std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
            i.addresses.emplace_back(asio::ip::address_v6{bytes, in6.sin6_scope_id});
        }
    }
    ::freeifaddrs(list);
#endif
    return found;
}

/// The system's interfaces, for finding one by address, name or index;
/// listed once, when first asked.
class interface_addresses {
public:
    /// The interface that holds `address`; none when none does. An IPv6
    /// address with a scope ("fe80::1%eth1") is looked for on that interface
    /// alone: a link-local address may be on several.
    [[nodiscard]] const network_interface* holding(const asio::ip::address& address) const
    {
        const unsigned long scope = address.is_v6() ? address.to_v6().scope_id() : 0;
        for (const network_interface& i : list()) {
            if (scope != 0 && i.index != scope) continue;
            for (const asio::ip::address& a : i.addresses)
                if (same_address(a, address)) return &i;
        }
        return nullptr;
    }

    /// The interface called `name`: on Windows its name or its alias; on
    /// POSIX also any other name the kernel knows it by (if_nametoindex(3):
    /// Linux's alternative names).
    [[nodiscard]] const network_interface* named(const std::string& name) const
    {
        for (const network_interface& i : list())
            if (i.name == name || (!i.alias.empty() && i.alias == name)) return &i;
#if !defined(_WIN32)
        if (const unsigned int index = ::if_nametoindex(name.c_str()); index != 0)
            return numbered(index);
#endif
        return nullptr;
    }

    /// The interface with index `index` (never 0, which names none).
    [[nodiscard]] const network_interface* numbered(unsigned int index) const
    {
        if (index == 0) return nullptr;
        for (const network_interface& i : list())
            if (i.index == index) return &i;
        return nullptr;
    }

    /// The first IPv4 address of `i`.
    [[nodiscard]] static std::optional<asio::ip::address_v4> ipv4_of(const network_interface& i)
    {
        for (const asio::ip::address& a : i.addresses)
            if (a.is_v4()) return a.to_v4();
        return std::nullopt;
    }

private:
    static bool same_address(const asio::ip::address& a, const asio::ip::address& b) noexcept
    {
        if (a.is_v4() && b.is_v4()) return a.to_v4() == b.to_v4();
        if (a.is_v6() && b.is_v6()) return a.to_v6().to_bytes() == b.to_v6().to_bytes();
        return false;
    }

    const std::vector<network_interface>& list() const
    {
        if (!list_) list_ = list_network_interfaces();
        return *list_;
    }

    mutable std::optional<std::vector<network_interface>> list_;
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

/// The sans-I/O form of an Asio endpoint (endpoint.hpp).
inline endpoint to_endpoint(const asio::ip::udp::endpoint& e) noexcept
{
    const asio::ip::address a = e.address();
    if (a.is_v4()) return endpoint::ipv4(a.to_v4().to_bytes(), e.port());
    return endpoint::ipv6(a.to_v6().to_bytes(), e.port());
}

/// Asio's system errors as socket_error() gives them, so that they compare
/// equal to std::errc conditions: Asio 1.22 reports them in its own
/// "asio.system" category, which maps to none.
inline std::error_code from_asio(std::error_code ec) noexcept
{
    if (!ec || ec.category() != asio::system_category()) return ec;
    return socket_error(ec.value());
}

/// `text` as an IP address. An IPv6 scope ("fe80::1%eth0", "ff12::1%3") is
/// looked up here, by name or index, in `interfaces`: Windows's own parser
/// knows only the system's aliases ("%ethernet_32769"). On failure sets `ec`.
inline asio::ip::address parse_address(const std::string& text,
                                       const interface_addresses& interfaces, std::error_code& ec)
{
    const std::size_t percent = text.find('%');
    const std::string bare = text.substr(0, percent);
    // Windows's own parser (WSAStringToAddress, under Asio) also takes
    // "239.1", "239.255.0.1:6000" and "[ff15::1]:5004": only the literal
    // forms RFC 4291 and inet_pton(3) define are addresses here.
    if (!is_ipv4_literal(bare) && !is_ipv6_literal(bare)) {
        ec = make_error_code(errc::invalid_address);
        return {};
    }
    if (percent == std::string::npos) return asio::ip::make_address(text, ec);
    const asio::ip::address unscoped = asio::ip::make_address(bare, ec);
    const std::string scope = text.substr(percent + 1);
    if (ec || !unscoped.is_v6() || scope.empty()) {
        ec = make_error_code(errc::invalid_address);
        return {};
    }
    unsigned int index = 0;
    if (scope.find_first_not_of("0123456789") == std::string::npos) {
        const auto [end, parsed] =
            std::from_chars(scope.data(), scope.data() + scope.size(), index);
        if (parsed != std::errc{}) index = 0;
    } else if (const network_interface* i = interfaces.named(scope)) {
        index = i->index;
    }
    if (index == 0) {
        ec = make_error_code(errc::invalid_address);
        return {};
    }
    asio::ip::address_v6 v6 = unscoped.to_v6();
    v6.scope_id(index);
    return v6;
}

/// Resolves options.interface for `group`; on failure sets `what` to a
/// message naming what was asked.
inline std::error_code resolve_interface(const std::string& spec, const asio::ip::address& group,
                                         const interface_addresses& interfaces, udp_interface& out,
                                         std::string& what)
{
    out = {};
    if (spec.empty()) {
        if (group.is_v6()) out.index = static_cast<unsigned int>(group.to_v6().scope_id());
        return {};
    }
    // Digits are an index, first: Windows reads "3" as the address 0.0.0.3.
    const bool digits = spec.find_first_not_of("0123456789") == std::string::npos;
    std::error_code parse_ec;
    const asio::ip::address address =
        digits ? asio::ip::address{} : parse_address(spec, interfaces, parse_ec);
    if (!digits && !parse_ec) {
        if (address.is_v4() != group.is_v4()) {
            what = "interface " + spec + " is an " + ip_version(address) + " address but group " +
                   group.to_string() + " is " + ip_version(group);
            return make_error_code(errc::address_family_mismatch);
        }
        if (address.is_unspecified()) return {};
        const network_interface* holder = interfaces.holding(address);
        if (holder == nullptr) {
            what = "no interface has the address " + spec;
            return make_error_code(errc::no_such_interface);
        }
        if (holder->index == 0) {
            what = "the interface with the address " + spec + " has no index the system gives";
            return make_error_code(errc::no_such_interface);
        }
        out.index = holder->index;
        if (address.is_v4()) out.ipv4 = address.to_v4();
        return {};
    }

    const network_interface* chosen = nullptr;
    if (digits) {
        unsigned int index = 0;
        const auto [end, parse] = std::from_chars(spec.data(), spec.data() + spec.size(), index);
        if (parse == std::errc{} && index != 0) chosen = interfaces.numbered(index);
        if (chosen == nullptr) {
            what = "no interface with index " + spec;
            return make_error_code(errc::no_such_interface);
        }
    } else {
        chosen = interfaces.named(spec);
        if (chosen == nullptr) {
            what = "no interface named " + spec;
            return make_error_code(errc::no_such_interface);
        }
    }
    if (chosen->index == 0) {
        what = "interface " + spec + " has no index the system gives";
        return make_error_code(errc::no_such_interface);
    }
    out.index = chosen->index;
    if (group.is_v4()) {
        const auto ipv4 = interface_addresses::ipv4_of(*chosen);
        if (!ipv4) {
            what = "interface " + chosen->name + " has no IPv4 address, which IPv4 group " +
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
inline std::error_code join_source_group(native_socket handle, const asio::ip::address& group,
                                         const asio::ip::address& source,
                                         const udp_interface& iface) noexcept
{
    int result = 0;
    if (group.is_v4()) {
        // Set by name: Windows orders the fields differently.
        ::ip_mreq_source req{};
        const auto g = group.to_v4().to_bytes();
        const auto s = source.to_v4().to_bytes();
        const auto i = iface.ipv4.to_bytes();
        std::memcpy(&req.imr_multiaddr, g.data(), g.size());
        std::memcpy(&req.imr_sourceaddr, s.data(), s.size());
        std::memcpy(&req.imr_interface, i.data(), i.size());
        result = set_socket_option(handle, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &req, sizeof req);
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
        result = set_socket_option(handle, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &req, sizeof req);
    }
    return result == 0 ? std::error_code{} : socket_error(result);
}

} // namespace detail

} // namespace audiocast
