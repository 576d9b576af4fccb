// What one call on a udp_multicast_transport costs on this system: a send to
// the group, a receive that takes a datagram, a receive that finds nothing and
// receive_batch, per datagram, beside a memcpy of the same packet; and what
// share of one thread's time a receiver's reads take when the thread serves R
// receivers of 5 ms packets (1 s / (200 R) a datagram). On Windows a receiver
// reads each datagram and then finds its socket empty (its reads go one at a
// time until would_block); on Linux it reads a batch a wake-up (recvmmsg) and
// makes no empty read.
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
    long receivers = 20;
    if (argc > 1) {
        char* end = nullptr;
        receivers = std::strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || receivers < 1 || receivers > 1000) {
            std::fprintf(stderr, "receivers: '%s' is not a whole number within 1..1000\n", argv[1]);
            return 2;
        }
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

    // Bursts of 16 sends, then the 16 datagrams read back one receive each, or
    // by receive_batch, each call timed alone. A datagram the kernel has not
    // queued yet (its delivery handed to another CPU) makes a read find
    // nothing: such reads are counted, not timed as receives, and a burst
    // still missing datagrams after a second fails the run.
    constexpr std::size_t bursts = 500;
    constexpr std::size_t burst = 16;
    std::vector<std::vector<std::byte>> storage(burst, std::vector<std::byte>(2048));
    std::vector<audiocast::received_datagram> slots(burst);
    for (std::size_t i = 0; i < burst; ++i)
        slots[i].buffer = storage[i];
    clock_type::duration sending{}, receiving{}, batch_receiving{};
    std::size_t early_reads = 0;
    for (std::size_t b = 0; b < 2 * bursts; ++b) {
        const bool batched = b % 2 == 1;
        ec.clear();
        auto start = clock_type::now();
        for (std::size_t i = 0; i < burst && !ec; ++i)
            sender.send(packet, ec);
        sending += clock_type::now() - start;
        if (ec) {
            std::fprintf(stderr, "send: %s\n", ec.message().c_str());
            return 1;
        }
        const auto deadline = clock_type::now() + std::chrono::seconds{1};
        std::size_t got = 0;
        while (got < burst) {
            start = clock_type::now();
            std::size_t n = 0;
            if (batched) {
                n = listener.receive_batch(std::span{slots}.first(burst - got), ec);
            } else {
                (void)listener.receive(buffer, ec);
                n = ec ? 0 : 1;
            }
            const auto took = clock_type::now() - start;
            if (ec == std::errc::operation_would_block) {
                ++early_reads;
                if (clock_type::now() > deadline) {
                    std::fprintf(stderr, "burst %zu: %zu of %zu datagrams arrived within 1 s\n", b,
                                 got, burst);
                    return 1;
                }
                continue;
            }
            if (ec) {
                std::fprintf(stderr, "receive: %s\n", ec.message().c_str());
                return 1;
            }
            (batched ? batch_receiving : receiving) += took;
            got += n;
        }
    }
    const double send_us = microseconds_each(sending, 2 * bursts * burst);
    const double receive_us = microseconds_each(receiving, bursts * burst);
    const double batch_us = microseconds_each(batch_receiving, bursts * burst);

    // The baseline in the same run: copying the packet, as the receiver's
    // hand-off does once for each datagram.
    constexpr std::size_t copies = 1'000'000;
    began = clock_type::now();
    for (std::size_t i = 0; i < copies; ++i) {
        std::memcpy(buffer.data(), packet.data(), packet.size());
        sink = buffer[i % packet.size()];
    }
    const double copy_us = microseconds_each(clock_type::now() - began, copies);

    const auto row = [](const std::string& what, double us) {
        std::printf("%-40s %9.3f us\n", what.c_str(), us);
    };
    row("send of a " + std::to_string(packet.size()) + "-byte datagram", send_us);
    row("receive of one", receive_us);
    row("receive finding nothing", empty_us);
    row("receive_batch of " + std::to_string(burst) + ", per datagram", batch_us);
    row("memcpy of " + std::to_string(packet.size()) + " bytes (baseline)", copy_us);
    if (early_reads > 0)
        std::printf("(%zu reads came before their datagram was queued; not timed)\n", early_reads);
    const double budget_us = 1e6 / (200.0 * static_cast<double>(receivers));
#if defined(_WIN32)
    // Windows reads one datagram a call until the socket is empty.
    const double reads_us = receive_us + empty_us;
    const char* how = "a receive and the empty one after it (how Windows reads)";
#else
    // Linux reads what a wake-up finds with one recvmmsg, and no empty read.
    const double reads_us = batch_us;
    const char* how = "a datagram's share of a batch (how Linux reads)";
#endif
    std::printf("one thread's time per received datagram, %ld receivers of 5 ms packets: %.1f us;\n"
                "  %s takes %.1f us, %.0f %% of it\n",
                receivers, budget_us, how, reads_us, 100.0 * reads_us / budget_us);
    return 0;
}
