// SAP discovery for the client (docs/architecture.md, Discovery): which
// groups to listen on, a bounded listen that stops at a wanted name, and
// --discover's listing. Names and tools in announcements are untrusted text.
#pragma once

#include "support/command_line.hpp"
#include "support/example_error.hpp"
#include "support/untrusted_text.hpp"

#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/session/announcement_directory.hpp>
#include <audiocast/transport/udp_multicast.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast_examples {

/// What the command line says about where to hear announcements.
struct sap_choice {
    const char* program;                  ///< prefixes what is printed
    const network_options& network;       ///< the interface, and --group
    std::optional<sap_address> sap_group; ///< --sap-group
    bool group_given = false;             ///< --group was on the command line
};

/// Where to listen for SAP: --sap-group alone when given; else the SAP group
/// of --group's scope when --group was given (and PipeWire's for IPv4);
/// else every IPv4 scope's, PipeWire's, and the IPv6 scopes' (docs/architecture.md,
/// Discovery).
[[nodiscard]] inline std::vector<sap_address> sap_groups_to_hear(const sap_choice& opt)
{
    if (opt.sap_group) return {*opt.sap_group};
    std::vector<sap_address> out;
    if (opt.group_given) {
        std::error_code ec;
        const auto g = asio::ip::make_address(opt.network.group, ec);
        if (!ec && g.is_v4()) {
            const auto b = g.to_v4().to_bytes();
            out.push_back({audiocast::sap::ipv4_group_for({b[0], b[1], b[2], b[3]})});
            out.push_back({std::string{audiocast::sap::pipewire_ipv4_group}});
        } else if (!ec) {
            out.push_back({audiocast::sap::ipv6_group(g.to_v6().to_bytes()[1] & 0x0F)});
        }
        return out;
    }
    for (std::string_view g : audiocast::sap::ipv4_listening_groups)
        out.push_back({std::string{g}});
    for (unsigned scope : audiocast::sap::ipv6_listening_scopes)
        out.push_back({audiocast::sap::ipv6_group(scope)});
    return out;
}

/// Listens to SAP (RFC 2974) on every group sap_groups_to_hear() names for
/// `listen`, or until a stream called `name` is heard, and returns the
/// directory of what was announced. The directory is bounded
/// (session/announcement_directory.hpp) and each wake-up reads a bounded
/// number of datagrams, so a flood of announcements costs neither memory nor
/// the deadline.
inline audiocast::announcement_directory listen_for_announcements(const sap_choice& opt,
                                                                  std::chrono::nanoseconds listen,
                                                                  const std::string* name,
                                                                  bool say_where)
{
    asio::io_context io{1};
    std::vector<audiocast::udp_multicast_transport> sockets;
    std::string heard_on;
    for (const sap_address& where : sap_groups_to_hear(opt)) {
        audiocast::udp_multicast_options o = opt.network.media(true);
        o.source.clear(); // announcements come from anyone; --source names the stream's sender
        o.group = where.group;
        o.port = where.port;
        std::error_code ec;
        audiocast::udp_multicast_transport t{io, o, ec};
        const bool v6 = where.group.find(':') != std::string::npos;
        const std::string text =
            (v6 ? "[" + where.group + "]" : where.group) + ":" + std::to_string(where.port);
        if (ec) {
            // An IPv6 scope the host has no route for, say: the others still serve.
            if (opt.sap_group || opt.group_given) (void)open_transport(io, o); // says why, exits
            continue;
        }
        heard_on += (heard_on.empty() ? "" : ", ") + text;
        sockets.push_back(std::move(t));
    }
    if (sockets.empty())
        throw example_error{"cannot listen on any SAP group (give --interface or --sap-group)"};
    if (say_where)
        std::cout << opt.program << ": listening for SAP announcements on " << heard_on << " for "
                  << std::chrono::duration<double>(listen).count() << " s" << std::endl;

    audiocast::announcement_directory directory;
    asio::steady_timer deadline{io};
    deadline.expires_after(listen);
    deadline.async_wait([&io](std::error_code ec) {
        if (!ec) io.stop();
    });
    std::vector<std::byte> buffer(65'536);
    constexpr int max_datagrams_per_wake = 64;
    std::function<void(audiocast::udp_multicast_transport&)> wait =
        [&](audiocast::udp_multicast_transport& sap) {
            sap.async_wait_readable([&](std::error_code ec) {
                if (ec) return;
                for (int k = 0; k < max_datagrams_per_wake; ++k) {
                    std::error_code rx;
                    audiocast::datagram_origin from;
                    const std::size_t n = sap.receive(buffer, from, rx);
                    if (rx == std::errc::operation_would_block) break;
                    if (rx) continue; // a datagram too big to be ours: consumed, skipped
                    const auto* s =
                        directory.on_datagram(std::span<const std::byte>{buffer.data(), n},
                                              from.from, audiocast::steady_clock{}.now());
                    if (s != nullptr && name != nullptr && s->description.name == *name) {
                        io.stop();
                        return;
                    }
                }
                wait(sap); // more may be waiting: after the other handlers and the deadline
            });
        };
    for (auto& sap : sockets)
        wait(sap);
    io.run_for(listen + std::chrono::seconds{1});
    return directory;
}

/// `--discover`: what SAP announces, one stream a line. Names and tools are
/// the announcer's text: printed escaped and cut (support/untrusted_text.hpp).
inline int discover(const sap_choice& opt, std::chrono::nanoseconds listen)
{
    const auto directory = listen_for_announcements(opt, listen, nullptr, true);
    if (directory.streams().empty()) std::cout << "no streams announced" << std::endl;
    for (const audiocast::announced_stream& a : directory.streams()) {
        const auto& d = a.description;
        std::cout << "\"" << printable(d.name) << "\"  "
                  << (d.group.find(':') != std::string::npos ? "[" + d.group + "]" : d.group) << ":"
                  << d.port << "  " << audiocast::to_string(d.format);
        if (d.packet_time)
            std::cout << "  " << std::chrono::duration<double, std::milli>(*d.packet_time).count()
                      << " ms";
        if (!d.source.empty()) std::cout << "  source " << d.source;
        std::cout << "  from " << a.from.to_string()
                  << (d.tool.empty() ? "" : " (" + printable(d.tool) + ")") << '\n';
    }
    const auto& c = directory.counts();
    if (c.malformed + c.refused + c.displaced != 0)
        std::cout << opt.program << ": passed over " << c.malformed << " datagrams that were not "
                  << "playable announcements, " << c.displaced + c.refused
                  << " beyond the directory's bounds (" << directory.bounds().max_per_host
                  << " a host, " << directory.bounds().max_streams << " in all)" << std::endl;
    return 0;
}

} // namespace audiocast_examples
