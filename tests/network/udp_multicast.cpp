// The network suite: udp_multicast_transport on real sockets.
//
// Runs only inside a private network namespace made for it by
// tests/network/netns-run (lo with 224.0.0.0/4 routed to it for IPv4, the
// veth pair v0/v1 for IPv6). main() (main.cpp) refuses to open a socket
// anywhere else: without AUDIOCAST_NETNS=1, or when any interface but lo, v0
// and v1 is present, every test is skipped (exit 77). Every wait has a deadline.
#include <audiocast/transport/udp_multicast.hpp>

#include "../support/private_namespace.hpp"
#include "../support/wine.hpp"

#include <catch2/catch.hpp>

#include <audiocast/concepts.hpp>
#include <audiocast/error.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/udp.hpp>
#include <asio/socket_base.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using audiocast::udp_multicast_options;
using audiocast::udp_multicast_transport;

static_assert(audiocast::transport<udp_multicast_transport>);

namespace {

using steady = std::chrono::steady_clock;

/// Datagram `index` of a run: a 4-byte big-endian index, then bytes drawn
/// from the index, 4 to 1403 bytes in all, so no two are alike.
std::vector<std::byte> datagram(std::uint32_t index)
{
    std::vector<std::byte> bytes(4 + (index * 37u) % 1400u);
    for (std::size_t i = 0; i < 4; ++i)
        bytes[i] = static_cast<std::byte>(index >> (24 - 8 * i));
    std::uint32_t x = index * 2654435761u + 1u;
    for (std::size_t i = 4; i < bytes.size(); ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes[i] = static_cast<std::byte>(x);
    }
    return bytes;
}

std::span<const std::byte> bytes_of(std::string_view text)
{
    return std::as_bytes(std::span<const char>{text.data(), text.size()});
}

std::string text_of(std::span<const std::byte> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Polls `t` until a datagram (or an error other than would_block) comes, or
/// `limit` passes; then ec is still would_block.
std::size_t receive_within(udp_multicast_transport& t, std::span<std::byte> buffer,
                           std::error_code& ec, std::chrono::milliseconds limit = 2000ms)
{
    const auto end = steady::now() + limit;
    do {
        const std::size_t n = t.receive(buffer, ec);
        if (ec != std::errc::operation_would_block) return n;
        std::this_thread::yield();
    } while (steady::now() < end);
    return 0;
}

/// Waits on `io` until `t` is readable or `limit` passes.
bool readable_within(asio::io_context& io, udp_multicast_transport& t,
                     std::chrono::milliseconds limit = 2000ms)
{
    bool ready = false;
    bool done = false;
    t.async_wait_readable([&](std::error_code ec) {
        ready = !ec;
        done = true;
    });
    io.restart();
    io.run_for(limit);
    if (!done) {
        // The handler refers to this frame: let it run, aborted, before returning.
        t.socket().cancel();
        io.restart();
        io.run_for(1s);
    }
    return ready;
}

/// Receives one datagram within the deadline and returns it as text.
std::string receive_text(udp_multicast_transport& t)
{
    std::array<std::byte, 2048> buffer{};
    std::error_code ec;
    const std::size_t n = receive_within(t, buffer, ec);
    INFO("receive: " << ec.message());
    REQUIRE_FALSE(ec);
    return text_of(std::span<const std::byte>{buffer.data(), n});
}

/// Sends one more datagram and tells where `listener` says it came from.
audiocast::datagram_origin origin_of_next(udp_multicast_transport& sender,
                                          udp_multicast_transport& listener)
{
    sender.send(bytes_of("whence"));
    std::array<std::byte, 64> buffer{};
    audiocast::datagram_origin origin;
    std::error_code ec = std::make_error_code(std::errc::operation_would_block);
    const auto end = steady::now() + 2s;
    while (ec == std::errc::operation_would_block && steady::now() < end)
        listener.receive(buffer, origin, ec);
    REQUIRE_FALSE(ec);
    return origin;
}

/// Asserts nothing more is waiting.
void require_empty(udp_multicast_transport& t)
{
    std::array<std::byte, 64> buffer{};
    std::error_code ec;
    t.receive(buffer, ec);
    REQUIRE(ec == std::errc::operation_would_block);
}

/// Sends `count` datagrams from `sender` in batches and checks that every
/// receiver gets each one, in order and bit-exact, within `limit` overall.
/// Batches keep the receivers' socket buffers far from full, so the kernel
/// has no reason to drop anything.
void require_all_delivered(udp_multicast_transport& sender,
                           std::vector<udp_multicast_transport>& receivers, std::uint32_t count,
                           std::chrono::seconds limit)
{
    constexpr std::uint32_t batch = 25;
    const auto end = steady::now() + limit;
    std::vector<std::uint32_t> received(receivers.size(), 0);
    std::vector<std::string> wrong;
    std::array<std::byte, 2048> buffer{};
    std::uint32_t sent = 0;
    while (sent < count) {
        const std::uint32_t batch_end = std::min(count, sent + batch);
        for (; sent < batch_end; ++sent) {
            std::error_code ec;
            sender.send(datagram(sent), ec);
            INFO("send " << sent << ": " << ec.message());
            REQUIRE_FALSE(ec);
        }
        bool behind = true;
        while (behind && steady::now() < end) {
            behind = false;
            for (std::size_t r = 0; r < receivers.size(); ++r) {
                for (;;) {
                    std::error_code ec;
                    const std::size_t n = receivers[r].receive(buffer, ec);
                    if (ec == std::errc::operation_would_block) break;
                    const auto expected = datagram(received[r]);
                    if (ec ||
                        !std::equal(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n),
                                    expected.begin(), expected.end()))
                        wrong.push_back("receiver " + std::to_string(r) + " datagram " +
                                        std::to_string(received[r]) + ": " +
                                        (ec ? ec.message() : "wrong bytes or order"));
                    ++received[r];
                }
                behind = behind || received[r] < sent;
            }
            if (behind) std::this_thread::yield();
        }
        INFO("first problem: " << (wrong.empty() ? std::string{"none"} : wrong.front()));
        REQUIRE(wrong.empty());
        INFO("sent " << sent << ", deadline " << limit.count() << " s");
        REQUIRE(std::all_of(received.begin(), received.end(),
                            [&](std::uint32_t n) { return n == sent; }));
    }
    for (auto& r : receivers)
        require_empty(r);
}

/// Runs `make` and checks it throws std::system_error whose code equals
/// `code` (an audiocast::errc, or a std::errc condition) and whose what()
/// contains `message`.
template <class Make, class Code>
void require_refused(Make&& make, Code code, const std::string& message)
{
    try {
        make();
        FAIL("no exception; expected one saying: " << message);
    } catch (const std::system_error& e) {
        INFO("what(): " << e.what());
        CHECK(e.code() == code);
        CHECK(std::string{e.what()}.find(message) != std::string::npos);
    }
}

} // namespace

/// Opens a transport with `options` and reads each option back from its socket.
void require_options_round_trip(const udp_multicast_options& options)
{
    CAPTURE(options.group, options.multicast_interface, options.hops, options.loopback,
            options.reuse_address, options.join);
    asio::io_context io;
    udp_multicast_transport t{io, options};
    asio::ip::multicast::hops hops;
    t.socket().get_option(hops);
    CHECK(hops.value() == options.hops);
    asio::ip::multicast::enable_loopback loopback;
    t.socket().get_option(loopback);
    CHECK(loopback.value() == options.loopback);
    if (options.join) { // a send-only transport binds an ephemeral port: reuse is moot
        asio::socket_base::reuse_address reuse;
        t.socket().get_option(reuse);
        CHECK(reuse.value() == options.reuse_address);
    }
    asio::socket_base::receive_buffer_size buffer;
    t.socket().get_option(buffer);
    CHECK(buffer.value() >= *options.receive_buffer_bytes); // Linux doubles what is asked
    CHECK(t.socket().non_blocking());
}

TEST_CASE("IPv4 socket options round-trip: hops, loopback, address reuse, receive buffer")
{
    require_options_round_trip({.port = 5010,
                                .multicast_interface = "lo",
                                .hops = GENERATE(0, 1, 7, 255),
                                .loopback = GENERATE(true, false),
                                .reuse_address = GENERATE(true, false),
                                .receive_buffer_bytes = 65536,
                                .join = GENERATE(true, false)});
}

TEST_CASE("IPv6 socket options round-trip: hops, loopback, address reuse, receive buffer")
{
    if (const auto why = audiocast_test::ipv6_refusal(); !why.empty()) {
        WARN("IPv6 skipped: " << why);
        return;
    }
    require_options_round_trip({.group = "ff15::1",
                                .port = 5010,
                                .multicast_interface = "v0",
                                .hops = GENERATE(0, 1, 7, 255),
                                .loopback = GENERATE(true, false),
                                .reuse_address = GENERATE(true, false),
                                .receive_buffer_bytes = 65536,
                                .join = GENERATE(true, false)});
}

TEST_CASE("one sender reaches 20 receivers on 239.255.0.1 over lo: 1000 distinct datagrams "
          "each, all in order and bit-exact")
{
    asio::io_context io;
    // The interface named every way there is; "" leaves it to the route to lo.
    const std::array<std::string, 4> interfaces{
        "lo", "127.0.0.1", std::to_string(audiocast_test::interface_index("lo")), ""};
    std::vector<udp_multicast_transport> receivers;
    receivers.reserve(20);
    for (std::size_t i = 0; i < 20; ++i)
        receivers.emplace_back(io, udp_multicast_options{.multicast_interface = interfaces[i % 4]});
    udp_multicast_transport sender{io, {.multicast_interface = "lo", .join = false}};
    REQUIRE(sender.group_endpoint() ==
            asio::ip::udp::endpoint{asio::ip::make_address("239.255.0.1"), 5004});

    require_all_delivered(sender, receivers, 1000, 8s);

    const auto origin = origin_of_next(sender, receivers.front());
    CHECK(origin.from ==
          audiocast::endpoint::ipv4({127, 0, 0, 1}, sender.socket().local_endpoint().port()));
}

TEST_CASE("IPv6 group ff15::1 on v0, joined and sent by interface index, reaches every receiver")
{
    if (const auto why = audiocast_test::ipv6_refusal(); !why.empty()) {
        WARN("IPv6 skipped: " << why);
        return;
    }
    asio::io_context io;
    const unsigned int v0 = audiocast_test::interface_index("v0");
    const std::string index = std::to_string(v0);
    std::vector<udp_multicast_transport> receivers;
    for (int i = 0; i < 3; ++i)
        receivers.emplace_back(
            io,
            udp_multicast_options{.group = "ff15::1", .port = 5020, .multicast_interface = index});
    receivers.emplace_back(
        io, udp_multicast_options{.group = "ff15::1", .port = 5020, .multicast_interface = "v0"});
    udp_multicast_transport sender{
        io, {.group = "ff15::1", .port = 5020, .multicast_interface = index, .join = false}};
    // ff15::1 is site-local: it needs no scope, so none is added.
    CHECK(sender.group_endpoint().address().to_v6().scope_id() == 0);

    require_all_delivered(sender, receivers, 200, 5s);

    const auto origin = origin_of_next(sender, receivers.front());
    REQUIRE(origin.from.family == audiocast::endpoint::family_type::ipv6);
    CHECK(origin.from.address[0] == 0xfe); // v0's fe80:: address
    CHECK((origin.from.address[1] & 0xc0) == 0x80);
    CHECK(origin.from.port == sender.socket().local_endpoint().port());
}

TEST_CASE("a link-local IPv6 group carries its interface as scope and works on it")
{
    if (const auto why = audiocast_test::ipv6_refusal(); !why.empty()) {
        WARN("IPv6 skipped: " << why);
        return;
    }
    asio::io_context io;
    const unsigned int v0 = audiocast_test::interface_index("v0");
    std::vector<udp_multicast_transport> receivers;
    receivers.emplace_back(
        io, udp_multicast_options{.group = "ff12::1", .port = 5022, .multicast_interface = "v0"});
    // The scope in the group's text stands for the interface.
    receivers.emplace_back(io, udp_multicast_options{.group = "ff12::1%v0", .port = 5022});
    udp_multicast_transport sender{
        io, {.group = "ff12::1", .port = 5022, .multicast_interface = "v0", .join = false}};
    CHECK(sender.group_endpoint().address().to_v6().scope_id() == v0);
    CHECK(receivers.back().group_endpoint().address().to_v6().scope_id() == v0);

    require_all_delivered(sender, receivers, 50, 5s);
}

TEST_CASE("receive accepts every sender and tells each datagram's address and port")
{
    // Choosing the sender is the receiver session's job (source_selector.hpp):
    // the transport passes everything on, saying where it came from.
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5030, .multicast_interface = "lo"}};
    udp_multicast_transport a{io, {.port = 5030, .multicast_interface = "lo", .join = false}};
    asio::ip::udp::socket stranger{io,
                                   asio::ip::udp::endpoint{asio::ip::make_address("127.0.0.2"), 0}};
    stranger.set_option(
        asio::ip::multicast::outbound_interface{asio::ip::make_address_v4("127.0.0.1")});
    const std::string junk = "junk";
    stranger.send_to(asio::buffer(junk), listener.group_endpoint());
    a.send(bytes_of("from a"));

    // Wine binds a socket given one of lo's addresses to the wildcard address
    // on lo (for broadcasts, as Windows receives them), so what it sends
    // leaves from 127.0.0.1, whatever local_endpoint() says.
    const bool stranger_has_its_address = audiocast_test::wine_version().empty();
    std::array<std::byte, 64> buffer{};
    std::vector<std::pair<std::string, audiocast::endpoint>> got;
    const auto end = steady::now() + 2s;
    while (got.size() < 2 && steady::now() < end) {
        audiocast::datagram_origin origin;
        std::error_code ec;
        const std::size_t n = listener.receive(buffer, origin, ec);
        if (ec == std::errc::operation_would_block) continue;
        REQUIRE_FALSE(ec);
        got.emplace_back(text_of(std::span<const std::byte>{buffer.data(), n}), origin.from);
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0].first == "junk");
    if (stranger_has_its_address)
        CHECK(got[0].second ==
              audiocast::endpoint::ipv4({127, 0, 0, 2}, stranger.local_endpoint().port()));
    else
        WARN("wine " << audiocast_test::wine_version()
                     << " sends from 127.0.0.1 for a socket bound to 127.0.0.2: "
                        "the stranger's own address is not checked");
    CHECK(got[1].first == "from a");
    CHECK(got[1].second ==
          audiocast::endpoint::ipv4({127, 0, 0, 1}, a.socket().local_endpoint().port()));
}

/// What `listener` receives within `limit`, each datagram's text with the
/// address it came from.
std::vector<std::pair<std::string, audiocast::endpoint>>
received_within(udp_multicast_transport& listener, std::chrono::milliseconds limit)
{
    std::array<std::byte, 256> buffer{};
    std::vector<std::pair<std::string, audiocast::endpoint>> got;
    const auto end = steady::now() + limit;
    while (steady::now() < end) {
        audiocast::datagram_origin origin;
        std::error_code ec;
        const std::size_t n = listener.receive(buffer, origin, ec);
        if (ec == std::errc::operation_would_block) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        REQUIRE_FALSE(ec);
        got.emplace_back(text_of(std::span<const std::byte>{buffer.data(), n}), origin.from);
    }
    return got;
}

std::size_t count_text(const std::vector<std::pair<std::string, audiocast::endpoint>>& got,
                       std::string_view text)
{
    return static_cast<std::size_t>(
        std::count_if(got.begin(), got.end(), [&](const auto& g) { return g.first == text; }));
}

TEST_CASE("a receiver joined for source 127.0.0.1 hears the sender there and never the one at "
          "127.0.0.2 on the same group and port")
{
    asio::io_context io;
    udp_multicast_transport only_real{
        io, {.port = 5032, .multicast_interface = "lo", .source = "127.0.0.1"}};
    udp_multicast_transport anyone{io, {.port = 5032, .multicast_interface = "lo"}};
    udp_multicast_transport real{
        io, {.port = 5032, .multicast_interface = "lo", .join = false, .source = "127.0.0.1"}};
    udp_multicast_transport stranger{
        io, {.port = 5032, .multicast_interface = "lo", .join = false, .source = "127.0.0.2"}};
    if (const std::string wine = audiocast_test::wine_version(); !wine.empty()) {
        // Its stranger would send from 127.0.0.1 too (see above): nothing to filter.
        WARN("wine " << wine << " cannot send from 127.0.0.2: source filtering is not tested");
        return;
    }
    for (int i = 0; i < 20; ++i) {
        stranger.send(bytes_of("stranger"));
        real.send(bytes_of("real"));
    }
    const auto filtered = received_within(only_real, 300ms);
    const auto all = received_within(anyone, 50ms);
    CHECK(count_text(filtered, "real") == 20);
    CHECK(count_text(filtered, "stranger") == 0);
    for (const auto& [text, from] : filtered)
        CHECK(from ==
              audiocast::endpoint::ipv4({127, 0, 0, 1}, real.socket().local_endpoint().port()));
    // Without the source filter the same socket options hear both.
    CHECK(count_text(all, "real") == 20);
    CHECK(count_text(all, "stranger") == 20);
}

TEST_CASE("a source-specific IPv6 receiver on v1 hears v0's sender and not a sender on v1 "
          "itself")
{
    if (const auto why = audiocast_test::ipv6_refusal(); !why.empty()) {
        WARN("IPv6 skipped: " << why);
        return;
    }
    asio::io_context io;
    // v0's link-local address, which a sender out of v0 sends from.
    udp_multicast_transport probe{io,
                                  {.group = "ff12::7", .port = 5034, .multicast_interface = "v1"}};
    udp_multicast_transport out_v0{
        io, {.group = "ff12::7", .port = 5034, .multicast_interface = "v0", .join = false}};
    const auto origin = origin_of_next(out_v0, probe);
    REQUIRE(origin.from.family == audiocast::endpoint::family_type::ipv6);
    asio::ip::address_v6::bytes_type bytes{};
    std::copy(origin.from.address.begin(), origin.from.address.begin() + 16, bytes.begin());
    const std::string v0_address = asio::ip::address_v6{bytes}.to_string();

    if (const std::string wine = audiocast_test::wine_version(); !wine.empty()) {
        // Wine refuses MCAST_JOIN_SOURCE_GROUP (WSAENOPROTOOPT); Windows has it.
        std::error_code ec;
        udp_multicast_transport refused{
            io,
            {.group = "ff12::7", .port = 5034, .multicast_interface = "v1", .source = v0_address},
            ec};
        CHECK(ec == std::errc::no_protocol_option);
        WARN("wine " << wine
                     << " has no MCAST_JOIN_SOURCE_GROUP: IPv6 source filtering is "
                        "refused, as it should be, and not tested");
        return;
    }
    udp_multicast_transport only_v0{
        io, {.group = "ff12::7", .port = 5034, .multicast_interface = "v1", .source = v0_address}};
    udp_multicast_transport out_v1{
        io, {.group = "ff12::7", .port = 5034, .multicast_interface = "v1", .join = false}};
    for (int i = 0; i < 20; ++i) {
        out_v1.send(bytes_of("v1"));
        out_v0.send(bytes_of("v0"));
    }
    const auto filtered = received_within(only_v0, 300ms);
    const auto all = received_within(probe, 50ms);
    CHECK(count_text(filtered, "v0") == 20);
    CHECK(count_text(filtered, "v1") == 0);
    CHECK(count_text(all, "v1") == 20); // it does reach v1's members that take any source
}

TEST_CASE("two groups on one port: each transport hears its own group and never the other")
{
    // Linux keeps the other group out by binding to the group; Windows binds
    // to the wildcard address and drops what IP_PKTINFO says went elsewhere.
    asio::io_context io;
    udp_multicast_transport first{
        io, {.group = "239.255.0.21", .port = 5052, .multicast_interface = "lo"}};
    udp_multicast_transport second{
        io, {.group = "239.255.0.22", .port = 5052, .multicast_interface = "lo"}};
    udp_multicast_transport to_first{
        io, {.group = "239.255.0.21", .port = 5052, .multicast_interface = "lo", .join = false}};
    udp_multicast_transport to_second{
        io, {.group = "239.255.0.22", .port = 5052, .multicast_interface = "lo", .join = false}};
    for (int i = 0; i < 20; ++i) {
        to_first.send(bytes_of("first"));
        to_second.send(bytes_of("second"));
    }
    const auto heard_first = received_within(first, 200ms);
    const auto heard_second = received_within(second, 50ms);
    CHECK(count_text(heard_first, "first") == 20);
    CHECK(count_text(heard_first, "second") == 0);
    CHECK(count_text(heard_second, "second") == 20);
    CHECK(count_text(heard_second, "first") == 0);
}

TEST_CASE("a source must be a sender's address of the group's family")
{
    asio::io_context io;
    std::error_code ec;
    udp_multicast_transport bad{io, {.port = 5036, .source = "not-an-address"}, ec};
    CHECK(ec == audiocast::errc::invalid_address);
    udp_multicast_transport group_as_source{io, {.port = 5036, .source = "239.1.2.3"}, ec};
    CHECK(ec == audiocast::errc::invalid_address);
    udp_multicast_transport mixed{io, {.port = 5036, .source = "::1"}, ec};
    CHECK(ec == audiocast::errc::address_family_mismatch);
    try {
        udp_multicast_transport thrown{io, {.port = 5036, .source = "::1"}};
        FAIL("a source of the other family was accepted");
    } catch (const std::system_error& e) {
        CHECK(std::string{e.what()}.find("source ::1 is IPv6 and group 239.255.0.1 is IPv4") !=
              std::string::npos);
    }
}

TEST_CASE("receive tells how long a datagram waited in the socket, so a backlog is not taken "
          "for fresh packets")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5032, .multicast_interface = "lo"}};
    udp_multicast_transport a{io, {.port = 5032, .multicast_interface = "lo", .join = false}};
    a.send(bytes_of("old"));
    std::this_thread::sleep_for(300ms);
    a.send(bytes_of("new"));
    std::array<std::byte, 64> buffer{};
    audiocast::datagram_origin old_origin, new_origin;
    std::error_code ec;
    listener.receive(buffer, old_origin, ec);
    REQUIRE_FALSE(ec);
    listener.receive(buffer, new_origin, ec);
    REQUIRE_FALSE(ec);
#if defined(_WIN32)
    // Winsock gives no arrival time (datagram_reader.hpp): unknown is 0.
    CHECK(old_origin.waited == 0ns);
    CHECK(new_origin.waited == 0ns);
#else
    CHECK(old_origin.waited >= 250ms);
    CHECK(old_origin.waited < 5s);
    CHECK(new_origin.waited < 100ms);
#endif
}

TEST_CASE("receive tells how many datagrams the socket dropped for a full buffer, so a receiver "
          "can count what this host lost")
{
    asio::io_context io;
    // The smallest buffer Linux grants holds a few of these; the rest of the
    // burst is dropped, as when a flood outruns the network thread.
    udp_multicast_transport listener{
        io, {.port = 5034, .multicast_interface = "lo", .receive_buffer_bytes = 1}};
    udp_multicast_transport a{io, {.port = 5034, .multicast_interface = "lo", .join = false}};
    constexpr std::uint32_t burst = 200;
    for (std::uint32_t i = 0; i < burst; ++i)
        a.send(datagram(i * 1000 + 999)); // about 1 KiB each
    std::array<std::byte, 2048> buffer{};
    audiocast::datagram_origin origin;
    std::error_code ec;
#if defined(_WIN32)
    // Winsock gives no drop count (datagram_reader.hpp): it stays unknown.
    (void)listener.receive(buffer, origin, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(origin.dropped_before.has_value());
#else
    std::uint32_t read = 0;
    for (;;) {
        (void)listener.receive(buffer, origin, ec);
        if (ec) break;
        ++read;
        REQUIRE(origin.dropped_before.has_value());
    }
    REQUIRE(ec == std::errc::operation_would_block);
    REQUIRE(read > 0);
    REQUIRE(read < burst);
    // The count comes with the next datagram queued after the drops.
    a.send(bytes_of("after"));
    (void)listener.receive(buffer, origin, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(origin.dropped_before.has_value());
    CHECK(*origin.dropped_before == burst - read);
#endif
}

TEST_CASE("receive cuts a datagram larger than the buffer, consumes it and reports message_size")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5034, .multicast_interface = "lo"}};
    udp_multicast_transport sender{io, {.port = 5034, .multicast_interface = "lo", .join = false}};
    const auto big = datagram(99); // 4 + 99 * 37 % 1400 = 267 bytes
    REQUIRE(big.size() > 40);

    sender.send(big);
    std::array<std::byte, 40> small{};
    std::error_code ec;
    const std::size_t n = receive_within(listener, small, ec);
    CHECK(ec == std::errc::message_size);
    CHECK(n == small.size());
    CHECK(std::equal(small.begin(), small.end(), big.begin()));
    require_empty(listener);

    sender.send(big);
    REQUIRE(readable_within(io, listener));
    require_refused([&] { (void)listener.receive(small); }, std::errc::message_size,
                    "truncated to the 40-byte buffer");
}

TEST_CASE("a zero-length datagram arrives with size 0 and no error")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5036, .multicast_interface = "lo"}};
    udp_multicast_transport sender{io, {.port = 5036, .multicast_interface = "lo", .join = false}};
    sender.send(std::span<const std::byte>{});
    std::array<std::byte, 16> buffer{};
    std::error_code ec;
    CHECK(receive_within(listener, buffer, ec) == 0);
    CHECK_FALSE(ec);
    require_empty(listener);
}

TEST_CASE("a send-only transport sends to the group and its receive always says would_block")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5038, .multicast_interface = "lo"}};
    udp_multicast_transport sender{io, {.port = 5038, .multicast_interface = "lo", .join = false}};
    CHECK(sender.socket().local_endpoint().port() != 5038); // an ephemeral port of its own

    sender.send(bytes_of("hello"));
    CHECK(receive_text(listener) == "hello");

    std::array<std::byte, 16> buffer{};
    std::error_code ec;
    CHECK(sender.receive(buffer, ec) == 0);
    CHECK(ec == std::errc::operation_would_block);
    require_refused([&] { (void)sender.receive(buffer); }, std::errc::operation_would_block,
                    "send-only transport (join = false) receives nothing");
}

TEST_CASE("the throwing receive reports would_block naming the group")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5040, .multicast_interface = "lo"}};
    std::array<std::byte, 16> buffer{};
    require_refused([&] { (void)listener.receive(buffer); }, std::errc::operation_would_block,
                    "no datagram waiting from group 239.255.0.1:5040");
}

TEST_CASE("async_wait_readable drives a receiver on an io_context")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5042, .multicast_interface = "lo"}};
    udp_multicast_transport sender{io, {.port = 5042, .multicast_interface = "lo", .join = false}};
    CHECK(listener.get_executor() == asio::any_io_executor{io.get_executor()});

    constexpr std::uint32_t count = 100;
    std::uint32_t received = 0;
    std::uint32_t wrong = 0;
    std::error_code failure;
    std::array<std::byte, 2048> buffer{};
    std::function<void(std::error_code)> on_readable = [&](std::error_code ec) {
        if (ec) {
            failure = ec;
            return;
        }
        for (;;) {
            const std::size_t n = listener.receive(buffer, ec);
            if (ec == std::errc::operation_would_block) break;
            const auto expected = datagram(received);
            if (ec || !std::equal(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n),
                                  expected.begin(), expected.end()))
                ++wrong;
            ++received;
        }
        if (received < count) listener.async_wait_readable(on_readable);
    };
    listener.async_wait_readable(on_readable);
    for (std::uint32_t i = 0; i < count; ++i) {
        sender.send(datagram(i));
        io.poll();
    }
    io.run_for(5s); // returns once the last handler has run without re-arming
    CHECK_FALSE(failure);
    CHECK(received == count);
    CHECK(wrong == 0);
}

TEST_CASE("refused options name what was asked, with their audiocast::errc")
{
    using audiocast::errc;
    struct refusal {
        const char* what;
        udp_multicast_options options;
        errc code;
        std::string message;
    };
    std::vector<refusal> refusals{
        {"unicast group",
         {.group = "10.1.2.3"},
         errc::not_multicast_address,
         "10.1.2.3 is not a multicast address"},
        {"IPv6 unicast group",
         {.group = "::1"},
         errc::not_multicast_address,
         "::1 is not a multicast address"},
        {"unparsable group",
         {.group = "239.255.0.300"},
         errc::invalid_address,
         "multicast group \"239.255.0.300\" is not an IP address"},
        {"a scope no interface has",
         {.group = "ff12::1%eth7"},
         errc::invalid_address,
         "multicast group \"ff12::1%eth7\" is not an IP address"},
        {"an empty scope",
         {.group = "ff12::1%"},
         errc::invalid_address,
         "multicast group \"ff12::1%\" is not an IP address"},
        {"a scope on an IPv4 group",
         {.group = "239.255.0.1%lo"},
         errc::invalid_address,
         "multicast group \"239.255.0.1%lo\" is not an IP address"},
        {"IPv4 group, IPv6 interface",
         {.multicast_interface = "::1"},
         errc::address_family_mismatch,
         "interface ::1 is an IPv6 address but group 239.255.0.1 is IPv4"},
        {"IPv6 group, IPv4 interface",
         {.group = "ff15::1", .multicast_interface = "127.0.0.1"},
         errc::address_family_mismatch,
         "interface 127.0.0.1 is an IPv4 address but group ff15::1 is IPv6"},
        {"missing interface name",
         {.multicast_interface = "eth7"},
         errc::no_such_interface,
         "no interface named eth7"},
        {"missing interface index",
         {.multicast_interface = "4242"},
         errc::no_such_interface,
         "no interface with index 4242"},
        {"address no interface has",
         {.multicast_interface = "10.9.9.9"},
         errc::no_such_interface,
         "no interface has the address 10.9.9.9"},
        {"hops too large",
         {.hops = 256},
         errc::invalid_hops,
         "hops 256 is outside 0-255 (1 stays on the local link)"},
        {"hops negative", {.hops = -1}, errc::invalid_hops, "hops -1 is outside 0-255"},
        {"port 0", {.port = 0}, errc::invalid_port, "port 0 is outside 1-65535 (RTP uses 5004)"},
        {"empty receive buffer",
         {.receive_buffer_bytes = 0},
         errc::invalid_buffer_size,
         "receive buffer 0 bytes is outside 1-2147483647 bytes"},
    };
    if (audiocast_test::ipv6_refusal().empty())
        refusals.push_back({"IPv4 group on an interface without IPv4",
                            {.multicast_interface = "v0"},
                            errc::address_family_mismatch,
                            "interface v0 has no IPv4 address, which IPv4 group 239.255.0.1 "
                            "needs to be joined on it"});

    asio::io_context io;
    for (const auto& r : refusals) {
        INFO(r.what);
        std::error_code ec;
        udp_multicast_transport t{io, r.options, ec};
        CHECK(ec == r.code);
        CHECK_FALSE(t.socket().is_open());
        require_refused([&] { udp_multicast_transport{io, r.options}; }, r.code, r.message);
    }
}

TEST_CASE("a port in use is refused with address_in_use when reuse is off on either side")
{
    asio::io_context io;
    udp_multicast_transport first{
        io, {.port = 5044, .multicast_interface = "lo", .reuse_address = false}};

    SECTION("reuse off on both")
    {
        const udp_multicast_options second{
            .port = 5044, .multicast_interface = "lo", .reuse_address = false};
        std::error_code ec;
        udp_multicast_transport t{io, second, ec};
        CHECK(ec == audiocast::errc::address_in_use);
        require_refused([&] { udp_multicast_transport{io, second}; },
                        audiocast::errc::address_in_use,
                        "port 5044 is in use and address reuse is off");
    }
    SECTION("reuse on for the second only")
    {
        const udp_multicast_options second{.port = 5044, .multicast_interface = "lo"};
        require_refused([&] { udp_multicast_transport{io, second}; },
                        audiocast::errc::address_in_use,
                        "port 5044 is in use by a socket that does not share it");
    }
}

TEST_CASE("a datagram over the UDP limit is refused with message_size and reaches no one")
{
    asio::io_context io;
    udp_multicast_transport listener{io, {.port = 5046, .multicast_interface = "lo"}};
    udp_multicast_transport sender{io, {.port = 5046, .multicast_interface = "lo", .join = false}};
    const std::vector<std::byte> huge(udp_multicast_transport::max_datagram_size + 1);
    std::error_code ec;
    sender.send(huge, ec);
    CHECK(ec == std::errc::message_size);
    require_refused([&] { sender.send(huge); }, std::errc::message_size,
                    "cannot send a 65508-byte datagram to 239.255.0.1:5046");

    const std::vector<std::byte> largest(udp_multicast_transport::max_datagram_size);
    sender.send(largest, ec);
    CHECK_FALSE(ec);
    std::vector<std::byte> buffer(largest.size());
    CHECK(receive_within(listener, buffer, ec) == largest.size());
    CHECK_FALSE(ec);
    require_empty(listener);
}

TEST_CASE("a moved-from or unopened transport reports bad_file_descriptor")
{
    asio::io_context io;
    udp_multicast_transport original{io, {.port = 5048, .multicast_interface = "lo"}};
    udp_multicast_transport moved{std::move(original)};
    CHECK(moved.socket().is_open());

    std::error_code failed_ec;
    udp_multicast_transport failed{io, {.group = "10.1.2.3"}, failed_ec};
    REQUIRE(failed_ec);

    for (udp_multicast_transport* t : {&original, &failed}) {
        std::array<std::byte, 16> buffer{};
        std::error_code ec;
        t->send(bytes_of("x"), ec);
        CHECK(ec == std::errc::bad_file_descriptor);
        CHECK(t->receive(buffer, ec) == 0);
        CHECK(ec == std::errc::bad_file_descriptor);
    }
}
