// What one call on a udp_multicast_transport costs on this system: a send to
// the group, the receive that takes it back, a receive that finds nothing
// (every wake-up of a receiver ends with one) and a batch receive of 16, beside
// a memcpy of the same packet and the time one thread has per received
// datagram when it serves R receivers of 5 ms packets (1 s / (200 R)).
//
//   audiocast-bench-socket-calls [receivers]       (default 20)
//
// Built for Linux and for Windows; under wine it shows what a wine socket
// call costs (a round trip to the wineserver), which is why the stream suite
// runs its fan-out case with fewer receivers there (tests/network/stream.cpp).
// Runs only inside a private network namespace (tests/network/netns-run):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "../tests/support/private_namespace.hpp"

#include <audiocast/transport/udp_multicast.hpp>

#include <asio/io_context.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double microseconds_each(clock_type::duration took, std::size_t calls)
{
    return std::chrono::duration<double, std::micro>(took).count() / static_cast<double>(calls);
}

/// Keeps the optimiser from dropping a copy nobody reads.
volatile std::byte sink;

} // namespace

int main(int argc, char* argv[])
{
    const long receivers = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20;
    if (receivers < 1 || receivers > 1000) {
        std::fprintf(stderr, "receivers: %s is not within 1..1000\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    if (const std::string why = audiocast_test::namespace_refusal(); !why.empty()) {
        std::printf("SKIP: %s\n", why.c_str());
        return 77;
    }

    asio::io_context io;
    audiocast::udp_multicast_transport listener{io, {.port = 5190, .multicast_interface = "lo"}};
    audiocast::udp_multicast_transport sender{
        io, {.port = 5190, .multicast_interface = "lo", .join = false}};
    std::array<std::byte, 2048> buffer{};
    const std::vector<std::byte> packet(972, std::byte{0x5A}); // 5 ms of L16 stereo and its header
    std::error_code ec;

    constexpr std::size_t empty_reads = 20'000;
    auto began = clock_type::now();
    for (std::size_t i = 0; i < empty_reads; ++i)
        (void)listener.receive(buffer, ec);
    const double empty_us = microseconds_each(clock_type::now() - began, empty_reads);
    if (ec != std::errc::operation_would_block) {
        std::fprintf(stderr, "a receive on an empty socket said: %s\n", ec.message().c_str());
        return 1;
    }

    constexpr std::size_t round_trips = 5'000;
    began = clock_type::now();
    for (std::size_t i = 0; i < round_trips; ++i) {
        sender.send(packet, ec);
        if (!ec) (void)listener.receive(buffer, ec);
        if (ec) {
            std::fprintf(stderr, "send and receive %zu: %s\n", i, ec.message().c_str());
            return 1;
        }
    }
    const double round_trip_us = microseconds_each(clock_type::now() - began, round_trips);

    // 16 datagrams queued, then taken by receive_batch (recvmmsg on Linux, a
    // read each elsewhere): what a wake-up after a burst costs per datagram.
    constexpr std::size_t batches = 500;
    constexpr std::size_t batch = 16;
    std::vector<std::vector<std::byte>> storage(batch, std::vector<std::byte>(2048));
    std::vector<audiocast::received_datagram> slots(batch);
    for (std::size_t i = 0; i < batch; ++i)
        slots[i].buffer = storage[i];
    clock_type::duration batch_sending{};
    clock_type::duration batch_reading{};
    for (std::size_t b = 0; b < batches; ++b) {
        auto start = clock_type::now();
        for (std::size_t i = 0; i < batch && !ec; ++i)
            sender.send(packet, ec);
        batch_sending += clock_type::now() - start;
        start = clock_type::now();
        const std::size_t got = ec ? 0 : listener.receive_batch(slots, ec);
        batch_reading += clock_type::now() - start;
        if (ec || got != batch) {
            std::fprintf(stderr, "batch %zu: %zu of %zu datagrams, %s\n", b, got, batch,
                         ec.message().c_str());
            return 1;
        }
    }
    const double send_us = microseconds_each(batch_sending, batches * batch);
    const double batch_us = microseconds_each(batch_reading, batches * batch);

    // The baseline in the same run: copying the packet, as the receiver's
    // hand-off does once for each datagram.
    constexpr std::size_t copies = 1'000'000;
    began = clock_type::now();
    for (std::size_t i = 0; i < copies; ++i) {
        std::memcpy(buffer.data(), packet.data(), packet.size());
        sink = buffer[i % packet.size()];
    }
    const double copy_us = microseconds_each(clock_type::now() - began, copies);

    // Each receiver reads every datagram and then finds its socket empty; the
    // send is made once for all of them.
    const double receive_us = round_trip_us - send_us;
    const double budget_us = 1e6 / (200.0 * static_cast<double>(receivers));
    const double needed_us = receive_us + empty_us;
    const auto row = [](const std::string& what, double us) {
        std::printf("%-40s %9.3f us\n", what.c_str(), us);
    };
    row("send of a " + std::to_string(packet.size()) + "-byte datagram", send_us);
    row("its receive (the pair, less the send)", receive_us);
    row("receive finding nothing", empty_us);
    row("receive_batch of " + std::to_string(batch) + ", per datagram", batch_us);
    row("memcpy of " + std::to_string(packet.size()) + " bytes (baseline)", copy_us);
    std::printf("one thread's time per received datagram, %ld receivers of 5 ms packets: %.1f us;\n"
                "  a receive and the empty one that ends the wake-up take %.1f us, %.0f %% of it\n",
                receivers, budget_us, needed_us, 100.0 * needed_us / budget_us);
    return 0;
}
