// parity_fec_transport over real UDP sockets on lo, inside the private
// namespace tests/network/netns-run makes (main() is udp_multicast.cpp's, and
// refuses to run anywhere else). The sender's media and repair packets are
// sent by hand, some media left out, so that the receiver's batched reads
// (recvmmsg) take arrived and rebuilt packets together.
#include <audiocast/protection/parity_fec_encoder.hpp>
#include <audiocast/protection/parity_fec_transport.hpp>
#include <audiocast/transport/udp_multicast.hpp>

#include "../support/fec_simulation.hpp"

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using fec_udp = audiocast::parity_fec_transport<audiocast::udp_multicast_transport>;

static_assert(audiocast::batch_receiver<fec_udp>);
static_assert(audiocast::descriptor_transport<fec_udp>);
static_assert(audiocast::readiness_waiting_transport<fec_udp>);

TEST_CASE("parity FEC over UDP: batched reads hand over the packets that arrived and, once the "
          "media socket is empty, those the repair flows rebuilt, byte for byte",
          "[network][fec]")
{
    asio::io_context io;
    const auto options = [](std::uint16_t port, bool join) {
        return audiocast::udp_multicast_options{
            .port = port, .multicast_interface = "lo", .join = join};
    };
    audiocast::parity_fec_config config;
    config.columns = 4;
    config.rows = 3;
    auto rx =
        fec_udp::receiver(audiocast::udp_multicast_transport{io, options(5620, true)},
                          audiocast::udp_multicast_transport{io, options(5622, true)},
                          audiocast::udp_multicast_transport{io, options(5624, true)}, config);
    audiocast::udp_multicast_transport media{io, options(5620, false)};
    audiocast::udp_multicast_transport columns{io, options(5622, false)};
    audiocast::udp_multicast_transport rows{io, options(5624, false)};
    const auto sender_port = media.socket().local_endpoint().port();

    audiocast::parity_fec_encoder encoder{config};
    std::vector<audiocast_test::bytes> sent;
    const std::set<std::uint16_t> left_out{3, 17, 18, 19, 33};
    for (std::uint16_t s = 0; s < 48; ++s) {
        sent.push_back(audiocast_test::media_packet(s, 40u + s % 9u * 17u, s % 2 == 0));
        std::error_code ec;
        if (!left_out.contains(s)) media.send(sent.back(), ec);
        REQUIRE_FALSE(ec);
        encoder.protect(sent.back(), [&](bool row, std::span<const std::byte> repair) {
            std::error_code e;
            (row ? rows : columns).send(repair, e);
            REQUIRE_FALSE(e);
        });
    }

    std::vector<std::byte> storage(16 * 1500);
    std::vector<audiocast::received_datagram> slots(16);
    std::map<std::uint16_t, audiocast_test::bytes> got;
    std::size_t rebuilt_origins_right = 0;
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (got.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
        for (std::size_t i = 0; i < slots.size(); ++i)
            slots[i].buffer = std::span<std::byte>{storage.data() + i * 1500, 1500};
        std::error_code ec;
        const std::size_t n = rx.receive_batch(slots, ec);
        if (n == 0) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        for (std::size_t i = 0; i < n; ++i) {
            const auto& d = slots[i];
            const auto seq = audiocast::detail::load_be16(d.buffer.data() + 2);
            CHECK_FALSE(got.contains(seq));
            got[seq] = audiocast_test::bytes(
                d.buffer.begin(), d.buffer.begin() + static_cast<std::ptrdiff_t>(d.size));
            if (left_out.contains(seq) && d.origin.from.port == sender_port &&
                d.origin.waited == std::chrono::nanoseconds{0})
                ++rebuilt_origins_right;
        }
    }
    REQUIRE(got.size() == sent.size());
    for (std::uint16_t s = 0; s < 48; ++s) {
        INFO("packet " << s);
        CHECK(got[s] == sent[s]);
    }
    // A rebuilt packet comes from where the packets it was rebuilt from came.
    CHECK(rebuilt_origins_right == left_out.size());
    CHECK(rx.decoder()->stats().packets_recovered == left_out.size());
    CHECK(rx.stats().repair_receive_errors == 0);
}
