// audiocast-bench-floor: the least a paced RTP sender or a receiver can cost
// on this machine, as a baseline for the peer comparison (benchmarks/peers.py).
//
//   audiocast-bench-floor --send --ptime-ms P --seconds S
//   audiocast-bench-floor --receive --seconds S [--interval-ms I]
//
// --send: one thread sleeps to each packet's absolute deadline
// (clock_nanosleep(2), TIMER_ABSTIME) and sends one 48 kHz stereo L16 RTP
// packet of P ms (sendto(2)) to 239.255.0.1:5004 on lo: two system calls and
// one wake-up a packet, no audio, no RTCP, no file. --receive: one thread waits
// for the group's socket (poll(2)) and takes what waits in one recvmmsg(2),
// then, with --interval-ms, sleeps that long before it waits again. Prints its
// own CPU time (getrusage, the whole process). Whatever audiocast or GStreamer
// spend beyond these figures is theirs; these are the machine's.
//
// Runs only inside a private network namespace (scripts/bench makes one):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/wire/rtp.hpp>

#include <poll.h>
#include <time.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: audiocast-bench-floor --send --ptime-ms 1|2|5|10|20 --seconds S\n"
    "       audiocast-bench-floor --receive --seconds S [--interval-ms I]\n";

::timespec to_timespec(std::chrono::nanoseconds t)
{
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t);
    return {static_cast<::time_t>(s.count()), static_cast<long>((t - s).count())};
}

int send(long ptime_ms, double seconds)
{
    asio::io_context io{1};
    audiocast::udp_multicast_transport socket{io, {.interface = "lo", .join = false}};
    const std::uint32_t frames = static_cast<std::uint32_t>(48 * ptime_ms);
    std::vector<std::byte> packet(audiocast::rtp::fixed_header_size + frames * 4);
    audiocast::rtp::header h;
    h.payload_type = 96;
    h.ssrc = 0xF100'0001;
    const auto period = std::chrono::milliseconds{ptime_ms};
    const auto count = static_cast<std::uint64_t>(seconds * 1000.0 / static_cast<double>(ptime_ms));
    const auto start = std::chrono::steady_clock::now().time_since_epoch() + period;
    std::uint64_t failed = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const ::timespec at = to_timespec(start + i * period);
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) != 0) {
        }
        h.sequence = static_cast<std::uint16_t>(i);
        h.timestamp = static_cast<std::uint32_t>(i * frames);
        audiocast::rtp::write_header(h, packet);
        std::error_code ec;
        socket.send(packet, ec);
        if (ec) ++failed;
    }
    std::printf("floor: sender, %llu packets of %ld ms in %.1f s, %llu failed; cpu %.1f ms\n",
                static_cast<unsigned long long>(count), ptime_ms, seconds,
                static_cast<unsigned long long>(failed),
                static_cast<double>(audiocast_bench::cpu_time().count()) / 1e3);
    return failed == 0 ? 0 : 1;
}

int receive(double seconds, long interval_ms)
{
    asio::io_context io{1};
    audiocast::udp_multicast_transport socket{io, {.interface = "lo"}};
    constexpr std::size_t batch = 32;
    std::vector<std::byte> bytes(batch * 2048);
    std::array<audiocast::received_datagram, batch> slots{};
    for (std::size_t i = 0; i < batch; ++i)
        slots[i].buffer = std::span<std::byte>{bytes.data() + i * 2048, 2048};
    std::uint64_t received = 0;
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::duration<double>{seconds});
    while (std::chrono::steady_clock::now() < end) {
        ::pollfd fd{socket.native_handle(), POLLIN, 0};
        if (::poll(&fd, 1, 100) <= 0) continue;
        std::error_code ec;
        received += socket.receive_batch(slots, ec);
        if (interval_ms > 0) {
            const ::timespec pause = to_timespec(std::chrono::milliseconds{interval_ms});
            ::nanosleep(&pause, nullptr);
        }
    }
    std::printf("floor: receiver, %llu packets in %.1f s, interval %ld ms; cpu %.1f ms\n",
                static_cast<unsigned long long>(received), seconds, interval_ms,
                static_cast<double>(audiocast_bench::cpu_time().count()) / 1e3);
    return 0;
}

} // namespace

int main(int argc, char* argv[])
{
    bool sending = false;
    long ptime_ms = 5;
    double seconds = 10;
    long interval_ms = 0;
    try {
        const audiocast_bench::command_line args{
            argc, argv, {"ptime-ms", "seconds", "interval-ms"}, {"send", "receive"}};
        if (args.has("send") == args.has("receive"))
            throw audiocast_bench::usage_error{"give one of --send and --receive"};
        sending = args.has("send");
        ptime_ms = args.integer("ptime-ms", 5, 1, 20);
        seconds = args.number("seconds", 10, 0, 3600);
        interval_ms = args.integer("interval-ms", 0, 0, 100);
        if (!audiocast::is_allowed_packet_time(std::chrono::milliseconds{ptime_ms}))
            throw audiocast_bench::usage_error{"--ptime-ms " + std::to_string(ptime_ms) +
                                               " is not one of " +
                                               audiocast::pcm_packet_times_text()};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-floor: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why =
            audiocast_test::namespace_refusal("scripts/bench or tests/network/netns-run");
        !why.empty()) {
        std::cout << "SKIP: audiocast-bench-floor: " << why << '\n';
        return 77;
    }
    try {
        return sending ? send(ptime_ms, seconds) : receive(seconds, interval_ms);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-floor: " << e.what() << '\n';
        return 1;
    }
}
