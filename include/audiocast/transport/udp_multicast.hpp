// audiocast — UDP multicast on a real network, with standalone Asio.
//
// udp_multicast_transport is the `transport` policy (requirements in
// concepts.hpp) that carries datagrams over IP: it joins one multicast group
// on one interface, sends to the group and receives from it, and never
// blocks. It knows nothing of RTP; it moves bytes.
//
//     asio::io_context io;
//     using audiocast::udp_multicast_transport;
//     udp_multicast_transport sender{io, {.multicast_interface = "eth0", .join = false}};
//     udp_multicast_transport listener{io, {.multicast_interface = "eth0"}};
//
//     sender.send(packet);                        // to 239.255.0.1:5004, TTL 1
//     std::array<std::byte, 1500> buffer;
//     std::error_code ec;
//     auto n = listener.receive(buffer, ec);      // would_block until it has arrived
//     listener.async_wait_readable([&](std::error_code) { /* receive until would_block */ });
//
// One socket per transport, bound to the group's address and port rather than
// to the wildcard address (except on Windows, see Platforms below): on Linux a wildcard-bound
// socket receives every group any socket on the host has joined on that port (IP_MULTICAST_ALL,
// ip(7)); binding to the group keeps other groups out. With reuse_address on
// (SO_REUSEADDR, socket(7)) any number of listeners on one host share the port
// and each gets its own copy of every datagram.
//
// Every datagram is accepted, whoever sent it: a transport knows nothing of
// RTP, so choosing the sender is the receiver session's job
// (session/source_selector.hpp), which it can do by address because
// receive(buffer, origin, ec) reports each datagram's source. With a source
// set in the options, the kernel itself filters (source-specific multicast).
// The same call reports how long the datagram waited in the socket's queue
// (SO_TIMESTAMPNS, socket(7)), so that a backlog read at once is dated when it
// arrived.
//
// IPv6 on Linux: a socket that joined a group receives it from every interface
// on which any socket of the host joined it (the kernel matches the group, not
// the interface); join and send on one interface when that matters.
//
// Threads: as with an Asio socket, one transport is used from one thread at a
// time (or a strand); distinct transports are independent.
//
// Platforms: POSIX (Linux, macOS, the BSDs) and Windows (docs/architecture.md,
// Platforms). Asio opens, binds, joins and sends everywhere; the rest is in
// transport/detail: interfaces are resolved from getifaddrs(3) or Windows's
// GetAdaptersAddresses (multicast_interface.hpp), and datagrams are read with
// recvmsg(2), or WSARecvMsg on Windows, which report truncation where Asio's
// receive_from does not (datagram_reader.hpp). Windows refuses to bind a
// socket to a multicast address, so there the socket takes the wildcard
// address, and the reader drops what IP_PKTINFO says was sent to another group
// (a wildcard-bound socket hears every group joined on its port, on Windows as
// on Linux). Windows gives no arrival time: `waited` is 0 there.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>

#if !AUDIOCAST_HAS_ASIO
#error                                                                                             \
    "audiocast/transport/udp_multicast.hpp needs standalone Asio (<asio.hpp>; Debian: libasio-dev)"
#endif

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/udp.hpp>
#include <asio/socket_base.hpp>

#include <audiocast/concepts.hpp>
#include <audiocast/transport/detail/datagram_reader.hpp>
#include <audiocast/transport/detail/multicast_interface.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

namespace audiocast {

/// The group's port: RTP on it, RTCP on the next one.
inline constexpr setting_limit group_port_limit{"port",         1, 65535, "", errc::invalid_port,
                                                "RTP uses 5004"};
/// IPv4 TTL or IPv6 hop limit.
inline constexpr setting_limit multicast_hops_limit{
    "hops", 0, 255, "", errc::invalid_hops, "1 stays on the local link"};
/// SO_RCVBUF as asked; the kernel may round it.
inline constexpr setting_limit receive_buffer_limit{"receive buffer", 1, 2'147'483'647, "bytes",
                                                    errc::invalid_buffer_size};

/// How a udp_multicast_transport joins and uses its group. Every field is
/// checked when the transport is opened; a value out of range is refused with
/// an audiocast::errc and a message that names it, nothing is clamped.
struct udp_multicast_options {
    /// The group: an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast address.
    /// 239.255.0.0/16 is the IPv4 local scope (RFC 2365); an IPv6 group may
    /// carry its interface as a scope ("ff12::1%eth0").
    std::string group = "239.255.0.1";
    /// The group's UDP port, 1-65535; 5004 is RTP's (RFC 3551 section 8).
    std::uint16_t port = 5004;
    /// The interface to join and send on. Empty: the system chooses by its
    /// routes. Otherwise one of the interface's addresses ("192.168.1.20",
    /// "fe80::1%eth0"), its name ("eth0") or its index ("3"). IPv4 names the
    /// interface by an IPv4 address (ip(7): IP_ADD_MEMBERSHIP, IP_MULTICAST_IF),
    /// so an interface given by name or index needs one; IPv6 names it by
    /// index (ipv6(7): IPV6_ADD_MEMBERSHIP, IPV6_MULTICAST_IF). On Windows
    /// the name is the one the user sees ("Ethernet") or the system's alias
    /// ("ethernet_32769"). Not called `interface`: <windows.h> defines that
    /// as a macro.
    std::string multicast_interface{};
    /// IPv4 TTL or IPv6 hop limit of what is sent, 0-255. 1 stays on the local
    /// link; 0 stays on this host.
    int hops = 1;
    /// Whether this host's own members of the group receive what it sends
    /// (IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP). A transport that joined
    /// receives its own datagrams too when this is on. On Windows the option
    /// acts on the receiving socket instead: a listener with it off hears no
    /// sender on this host, and a sender's setting changes nothing.
    bool loopback = true;
    /// SO_REUSEADDR: lets many listeners on one host bind the group's port.
    /// Off, a second transport on the same group and port is refused with
    /// errc::address_in_use.
    bool reuse_address = true;
    /// SO_RCVBUF in bytes, > 0; unset keeps the system's default. The kernel
    /// may round it (Linux doubles it and caps it at net.core.rmem_max).
    std::optional<int> receive_buffer_bytes{};
    /// Join the group and receive. false makes a send-only transport: bound to
    /// an ephemeral port, a member of nothing, its receive() always says
    /// would_block.
    bool join = true;
    /// The one sender to hear ("192.0.2.7", "fe80::1"), for a source-specific
    /// join (RFC 4607: IP_ADD_SOURCE_MEMBERSHIP for IPv4,
    /// MCAST_JOIN_SOURCE_GROUP for IPv6): the kernel then drops every
    /// datagram from any other address before it reaches the socket. Empty:
    /// any source. Its family must be the group's. For a sender (join =
    /// false), the address to send from: the socket is bound to it, so that
    /// what it sends can pass its listeners' source filters.
    std::string source{};
};

/// A UDP socket joined to one multicast group: sends to the group and receives
/// from it without blocking. Models `transport` and `origin_reporting_receiver`
/// (concepts.hpp). Options are described in udp_multicast_options and at the
/// top of this header.
///
/// Movable, not copyable: a transport is one socket. A moved-from transport,
/// or one whose error_code constructor failed, has a closed socket; send() and
/// receive() on it report std::errc::bad_file_descriptor.
class udp_multicast_transport {
public:
    /// The largest UDP payload over IPv4: 65535 - 8 (UDP) - 20 (IP). Larger
    /// datagrams fail with std::errc::message_size.
    static constexpr std::size_t max_datagram_size = 65'507;

    /// Opens the socket, binds it, joins the group and sets the options. On
    /// failure sets `ec` (an audiocast::errc for a refused option, the system's
    /// error otherwise) and leaves the socket closed.
    udp_multicast_transport(asio::io_context& io, const udp_multicast_options& options,
                            std::error_code& ec)
        : socket_{io}
    {
        (void)open(options, ec);
    }

    /// Throwing form: std::system_error whose what() names the value refused
    /// ("10.1.2.3 is not a multicast address", "no interface named eth7",
    /// "port 5004 is in use and address reuse is off").
    udp_multicast_transport(asio::io_context& io, const udp_multicast_options& options)
        : socket_{io}
    {
        std::error_code ec;
        const std::string what = open(options, ec);
        if (ec) detail::throw_error(ec, what);
    }

    udp_multicast_transport(udp_multicast_transport&&) noexcept = default;
    udp_multicast_transport& operator=(udp_multicast_transport&&) noexcept = default;
    udp_multicast_transport(const udp_multicast_transport&) = delete;
    udp_multicast_transport& operator=(const udp_multicast_transport&) = delete;
    ~udp_multicast_transport() = default;

    /// Sends one datagram to the group. Never blocks: a full send buffer sets
    /// std::errc::operation_would_block and sends nothing; a datagram over
    /// max_datagram_size (or the path's limit) sets std::errc::message_size.
    void send(std::span<const std::byte> datagram, std::error_code& ec) noexcept
    {
        ec.clear();
        socket_.send_to(asio::buffer(datagram.data(), datagram.size()), group_, 0, ec);
        ec = detail::from_asio(ec);
    }

    /// Throwing form of send(): std::system_error names the size and the group.
    void send(std::span<const std::byte> datagram)
    {
        std::error_code ec;
        send(datagram, ec);
        if (ec)
            detail::throw_error(ec, "cannot send a " + std::to_string(datagram.size()) +
                                        "-byte datagram to " + detail::endpoint_text(group_));
    }

    /// Copies the oldest datagram waiting into `buffer` and returns its size
    /// (0 is a valid size). With none waiting: returns 0 and sets
    /// std::errc::operation_would_block, as does a send-only transport
    /// always. A datagram larger than `buffer` is cut to fit, consumed, and
    /// sets std::errc::message_size. Never allocates.
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        datagram_origin origin;
        return receive(buffer, origin, ec);
    }

    /// As receive(buffer, ec), and fills `origin` with the datagram's source
    /// address and port and how long it waited in the socket's queue
    /// (origin_reporting_receiver in concepts.hpp).
    std::size_t receive(std::span<std::byte> buffer, datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        ec.clear();
        origin = {};
        if (!socket_.is_open()) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return 0;
        }
        if (!joined_) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        bool truncated = false;
        const std::size_t size =
            reader_.read(socket_.native_handle(), buffer, source_, truncated, origin, ec);
        if (ec) return 0;
        if (truncated) ec = std::make_error_code(std::errc::message_size);
        return size;
    }

    /// Reads the datagrams waiting, up to slots.size() (at most 64), in one
    /// system call (recvmmsg(2) on Linux) and returns how many; each slot gets
    /// its size, whether it was cut to fit its buffer, and its origin as
    /// receive(buffer, origin, ec) reports it. Fewer than asked means none was
    /// left: a caller need not call again to learn it (batch_receiver in
    /// concepts.hpp). With none waiting: 0 and operation_would_block.
    std::size_t receive_batch(std::span<received_datagram> slots, std::error_code& ec) noexcept
    {
        ec.clear();
        if (!socket_.is_open()) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return 0;
        }
        if (!joined_) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        return reader_.read_batch(socket_.native_handle(), slots, ec);
    }

    /// Throwing form of receive(), with Asio's semantics: every error throws
    /// std::system_error, operation_would_block included, so poll with the
    /// error_code form. On message_size the truncated bytes are in `buffer`.
    std::size_t receive(std::span<std::byte> buffer)
    {
        std::error_code ec;
        const std::size_t size = receive(buffer, ec);
        if (ec == std::errc::message_size)
            detail::throw_error(ec, "datagram from " + detail::endpoint_text(source_) +
                                        " truncated to the " + std::to_string(buffer.size()) +
                                        "-byte buffer");
        if (ec == std::errc::operation_would_block)
            detail::throw_error(ec, joined_ ? "no datagram waiting from group " +
                                                  detail::endpoint_text(group_)
                                            : std::string("a send-only transport (join = false) "
                                                          "receives nothing"));
        if (ec)
            detail::throw_error(ec, "cannot receive from group " + detail::endpoint_text(group_));
        return size;
    }

    /// Starts an asynchronous wait until the socket is readable
    /// (socket.async_wait(wait_read)); the handler, or any Asio completion
    /// token, gets a std::error_code. Then receive() until would_block. A
    /// send-only transport's socket is readable only if something sends to its
    /// ephemeral port, and even then receive() says would_block: do not wait
    /// on one.
    template <class WaitHandler>
    auto async_wait_readable(WaitHandler&& handler)
    {
        return socket_.async_wait(asio::socket_base::wait_read, std::forward<WaitHandler>(handler));
    }

    /// Ends every asynchronous wait on the socket; their handlers see
    /// operation_aborted.
    void cancel_waits() noexcept
    {
        std::error_code ignored;
        socket_.cancel(ignored);
    }

    /// The socket's descriptor, for a poll(2) loop (transport/stream_thread.hpp);
    /// invalid_native_socket (-1 on POSIX) when closed.
    [[nodiscard]] native_socket native_handle() noexcept
    {
        return socket_.is_open() ? static_cast<native_socket>(socket_.native_handle())
                                 : invalid_native_socket;
    }

    /// The socket, for options this class does not cover.
    [[nodiscard]] asio::ip::udp::socket& socket() noexcept { return socket_; }

    /// Where send() sends: the group's address and port (with the interface
    /// as scope for link- and interface-local IPv6 groups).
    [[nodiscard]] const asio::ip::udp::endpoint& group_endpoint() const noexcept { return group_; }

    [[nodiscard]] asio::any_io_executor get_executor() noexcept { return socket_.get_executor(); }

private:
    /// Validates the options, opens and configures the socket. Returns the
    /// message for the throwing constructor; empty on success.
    std::string open(const udp_multicast_options& options, std::error_code& ec)
    {
        ec.clear();
        joined_ = options.join;

        // Listed once for the group's scope, the source's and the interface.
        const detail::interface_addresses interfaces;
        std::error_code parse_ec;
        const asio::ip::address group = detail::parse_address(options.group, interfaces, parse_ec);
        if (parse_ec) {
            ec = make_error_code(errc::invalid_address);
            return "multicast group \"" + options.group + "\" is not an IP address";
        }
        if (!group.is_multicast()) {
            ec = make_error_code(errc::not_multicast_address);
            return options.group + " is not a multicast address" +
                   (group.is_v4() ? " (IPv4 groups are 224.0.0.0/4; 239.0.0.0/8 is for local use, "
                                    "RFC 2365)"
                                  : " (IPv6 groups are ff00::/8, RFC 4291 section 2.7)");
        }
        for (const setting_problem& p :
             {group_port_limit.check(options.port), multicast_hops_limit.check(options.hops),
              options.receive_buffer_bytes
                  ? receive_buffer_limit.check(*options.receive_buffer_bytes)
                  : setting_problem{}}) {
            if (!p) continue;
            ec = make_error_code(p.code);
            return p.describe();
        }
        std::optional<asio::ip::address> source;
        if (!options.source.empty()) {
            const asio::ip::address a = detail::parse_address(options.source, interfaces, parse_ec);
            if (parse_ec) {
                ec = make_error_code(errc::invalid_address);
                return "source \"" + options.source + "\" is not an IP address";
            }
            if (a.is_multicast() || a.is_unspecified()) {
                ec = make_error_code(errc::invalid_address);
                return "source " + options.source + " is not a sender's address (" +
                       (a.is_multicast() ? "it is a multicast group" : "it is unspecified") + ")";
            }
            if (a.is_v4() != group.is_v4()) {
                ec = make_error_code(errc::address_family_mismatch);
                return std::string("source ") + options.source + " is " + detail::ip_version(a) +
                       " and group " + options.group + " is " + detail::ip_version(group);
            }
            source = a;
        }
        detail::udp_interface iface;
        std::string what;
        ec = detail::resolve_interface(options.multicast_interface, group, interfaces, iface, what);
        if (ec) return what;
        // A link- or interface-local group exists on one link only: without an
        // interface the kernel can join it on none ("Invalid argument").
        if (group.is_v6() && iface.index == 0 &&
            (group.to_v6().is_multicast_link_local() || group.to_v6().is_multicast_node_local())) {
            ec = make_error_code(errc::no_such_interface);
            return options.group + " is " +
                   (group.to_v6().is_multicast_link_local() ? "link-local" : "interface-local") +
                   ": it needs an interface (name one, or give the group one as its scope: " +
                   options.group + "%eth0)";
        }

        // Link- and interface-local IPv6 groups mean nothing without an
        // interface; the scope routes both the bind and sendto (ipv6(7)).
        asio::ip::address group_address = group;
        if (group.is_v6()) {
            asio::ip::address_v6 v6 = group.to_v6();
            v6.scope_id(v6.is_multicast_link_local() || v6.is_multicast_node_local() ? iface.index
                                                                                     : 0);
            group_address = v6;
        }
        group_ = asio::ip::udp::endpoint{group_address, options.port};
        const std::string group_text = detail::endpoint_text(group_);
        const std::string on = options.multicast_interface.empty()
                                   ? ""
                                   : " on interface " + options.multicast_interface;

        const auto fail = [&](std::string message) {
            ec = detail::from_asio(ec);
            std::error_code ignored;
            socket_.close(ignored);
            return message;
        };

        socket_.open(group_.protocol(), ec);
        if (ec)
            return fail(std::string("cannot open an ") + detail::ip_version(group) + " UDP socket");
        if (options.join) {
            socket_.set_option(asio::socket_base::reuse_address{options.reuse_address}, ec);
            if (ec) return fail("cannot set address reuse on the socket for " + group_text);
        }
        if (options.receive_buffer_bytes) {
            socket_.set_option(
                asio::socket_base::receive_buffer_size{*options.receive_buffer_bytes}, ec);
            if (ec)
                return fail("cannot set a receive buffer of " +
                            std::to_string(*options.receive_buffer_bytes) + " bytes");
        }

        const asio::ip::udp::endpoint local = options.join ? group_
                                              : source
                                                  ? asio::ip::udp::endpoint{*source, 0}
                                                  : asio::ip::udp::endpoint{group_.protocol(), 0};
        // Before the bind, so that every datagram comes with what it asks for.
        const bool filters = options.join && reader_.enable(native_handle(), group, source);
        socket_.bind(local, ec);
#if defined(_WIN32)
        if (options.join && detail::from_asio(ec) == std::errc::address_not_available) {
            // Windows binds no socket to a group: the wildcard address, and
            // the reader keeps other groups out, which it must then be able to.
            if (!filters) {
                ec = std::make_error_code(std::errc::no_protocol_option);
                return fail("cannot tell which group a datagram was sent to (WSARecvMsg with "
                            "IP_PKTINFO refused), so cannot keep other groups on port " +
                            std::to_string(options.port) + " out");
            }
            ec.clear();
            socket_.bind(asio::ip::udp::endpoint{group_.protocol(), options.port}, ec);
        }
#else
        (void)filters;
#endif
#if defined(_WIN32)
        // Windows refuses a port another socket holds exclusively with WSAEACCES.
        if (detail::from_asio(ec) == std::errc::permission_denied)
            ec = std::make_error_code(std::errc::address_in_use);
#endif
        if (detail::from_asio(ec) == std::errc::address_in_use) {
            ec = make_error_code(errc::address_in_use);
            return fail("port " + std::to_string(options.port) +
                        (options.reuse_address
                             ? " is in use by a socket that does not share it (address reuse off)"
                             : " is in use and address reuse is off"));
        }
        if (ec) return fail("cannot bind to " + detail::endpoint_text(local));

        if (options.join && source) {
            ec = detail::join_source_group(socket_.native_handle(), group, *source, iface);
            if (ec)
                return fail("cannot join " + group.to_string() + " for source " +
                            source->to_string() + on);
        } else if (options.join) {
            if (group.is_v4())
                socket_.set_option(asio::ip::multicast::join_group{group.to_v4(), iface.ipv4}, ec);
            else
                socket_.set_option(asio::ip::multicast::join_group{group.to_v6(), iface.index}, ec);
            if (ec) return fail("cannot join " + group.to_string() + on);
        }
        if (!options.multicast_interface.empty()) {
            if (group.is_v4())
                socket_.set_option(asio::ip::multicast::outbound_interface{iface.ipv4}, ec);
            else
                socket_.set_option(asio::ip::multicast::outbound_interface{iface.index}, ec);
            if (ec)
                return fail("cannot send to " + group.to_string() + " through interface " +
                            options.multicast_interface);
        }
        socket_.set_option(asio::ip::multicast::hops{options.hops}, ec);
        if (ec) return fail("cannot set multicast hops to " + std::to_string(options.hops));
        socket_.set_option(asio::ip::multicast::enable_loopback{options.loopback}, ec);
        if (ec)
            return fail(std::string("cannot turn multicast loopback ") +
                        (options.loopback ? "on" : "off"));
        socket_.non_blocking(true, ec);
        if (ec) return fail("cannot make the socket for " + group_text + " non-blocking");
        return {};
    }

    asio::ip::udp::socket socket_;
    asio::ip::udp::endpoint group_;
    asio::ip::udp::endpoint source_;
    bool joined_ = false;
    detail::datagram_reader reader_;
};

} // namespace audiocast
