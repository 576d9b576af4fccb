// audiocast-bench-arrivals: how punctually any RTP sender's packets arrive,
// judged against the schedule their own RTP timestamps imply, so that
// audiocast-server, GStreamer and ffmpeg are measured by one yardstick.
//
//   audiocast-bench-arrivals --group G --port P --rate R --seconds S
//                            [--label L] [--csv FILE]
//
// Joins G:P on lo and reads every datagram for S seconds from the first one.
// Each packet's arrival is the kernel's (SO_TIMESTAMPNS, through
// udp_multicast_transport's datagram_origin::waited). A packet with RTP
// timestamp T is due (T - T0) / R after the first packet's; its offset is
// arrival - due, and its lateness is its offset minus the smallest offset of
// the run (the most punctual packet sets the schedule). Prints the lateness
// p50, p99 and max and appends them to FILE as CSV under `label`.
//
// Only a steady sender is judged fairly: a pause or a jump in the timestamps
// counts as lateness. Runs only inside a private network namespace (scripts/bench
// makes one): anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/wire/rtp.hpp>

#include <poll.h>

#include <algorithm>
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

using audiocast_bench::in_us;

constexpr const char* usage =
    "usage: audiocast-bench-arrivals --group G --port P --rate HZ --seconds S [--label L] "
    "[--csv FILE]\n";

constexpr const char* csv_header =
    "label,seconds,packets,sequence_gaps,lateness_p50_us,lateness_p99_us,lateness_max_us";

struct options {
    std::string group = "239.255.0.1";
    long port = 5004;
    long rate = 48'000;
    double seconds = 10;
    std::string label = "sender";
    std::string csv;
};

struct arrival {
    std::int64_t at_ns;     ///< steady clock
    std::int64_t timestamp; ///< RTP timestamp, unwrapped
    std::uint16_t sequence;
};

double percentile(std::vector<double> v, double p)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto at = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(at, v.size() - 1)];
}

int run(const options& opt)
{
    asio::io_context io{1};
    audiocast::udp_multicast_transport socket{io,
                                              {.group = opt.group,
                                               .port = static_cast<std::uint16_t>(opt.port),
                                               .multicast_interface = "lo",
                                               .receive_buffer_bytes = 4 << 20}};
    std::vector<arrival> arrivals;
    arrivals.reserve(static_cast<std::size_t>(opt.seconds * 1000) + 1000);
    std::array<std::byte, 2048> buffer{};
    std::int64_t first_at = 0;
    std::int64_t last_timestamp = 0;
    std::uint32_t previous_raw = 0;
    const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>{opt.seconds});
    // Bounded: the run ends S seconds after the first packet, or after S + 30
    // seconds without one.
    const auto give_up = std::chrono::steady_clock::now() + limit + std::chrono::seconds{30};
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= give_up) break;
        if (first_at != 0 && now.time_since_epoch().count() - first_at >= limit.count()) break;
        ::pollfd fd{socket.native_handle(), POLLIN, 0};
        if (::poll(&fd, 1, 100) <= 0) continue;
        for (;;) {
            std::error_code ec;
            audiocast::datagram_origin origin;
            const std::size_t n = socket.receive(buffer, origin, ec);
            if (ec) break;
            const auto at = std::chrono::steady_clock::now() - origin.waited;
            std::error_code parse_ec;
            const auto packet =
                audiocast::rtp::parse(std::span<const std::byte>{buffer.data(), n}, parse_ec);
            if (parse_ec) continue;
            const std::uint32_t raw = packet.hdr.timestamp;
            if (arrivals.empty())
                last_timestamp = raw;
            else
                last_timestamp += static_cast<std::int32_t>(raw - previous_raw);
            previous_raw = raw;
            const std::int64_t at_ns = at.time_since_epoch().count();
            if (first_at == 0) first_at = at_ns;
            arrivals.push_back({at_ns, last_timestamp, packet.hdr.sequence});
        }
    }
    if (arrivals.size() < 2) {
        std::cerr << "audiocast-bench-arrivals: " << arrivals.size() << " packets on " << opt.group
                  << ':' << opt.port << "; nothing to judge\n";
        return 1;
    }
    std::vector<double> offsets;
    offsets.reserve(arrivals.size());
    std::uint64_t gaps = 0;
    for (std::size_t i = 0; i < arrivals.size(); ++i) {
        const double due_ns = static_cast<double>(arrivals[i].timestamp - arrivals[0].timestamp) *
                              1e9 / static_cast<double>(opt.rate);
        offsets.push_back(static_cast<double>(arrivals[i].at_ns - arrivals[0].at_ns) - due_ns);
        if (i > 0 &&
            static_cast<std::uint16_t>(arrivals[i].sequence - arrivals[i - 1].sequence) != 1)
            ++gaps;
    }
    const double best = *std::min_element(offsets.begin(), offsets.end());
    for (double& o : offsets)
        o = (o - best) / 1e3; // µs late
    const double p50 = percentile(offsets, 50);
    const double p99 = percentile(offsets, 99);
    const double max = *std::max_element(offsets.begin(), offsets.end());
    std::printf("arrivals: %s, %zu packets in %.1f s on %s:%ld, %llu sequence gaps; lateness "
                "against the RTP schedule p50 %.1f us, p99 %.1f us, max %.1f us\n",
                opt.label.c_str(), arrivals.size(), opt.seconds, opt.group.c_str(), opt.port,
                static_cast<unsigned long long>(gaps), p50, p99, max);
    if (!opt.csv.empty()) {
        char row[256];
        std::snprintf(row, sizeof row, "%s,%g,%zu,%llu,%.1f,%.1f,%.1f", opt.label.c_str(),
                      opt.seconds, arrivals.size(), static_cast<unsigned long long>(gaps), p50, p99,
                      max);
        audiocast_bench::append_csv(opt.csv, csv_header, row);
    }
    return 0;
}

} // namespace

int main(int argc, char* argv[])
{
    options opt;
    try {
        const audiocast_bench::command_line args{
            argc, argv, {"group", "port", "rate", "seconds", "label", "csv"}, {}};
        opt.group = args.text("group", opt.group);
        opt.port = args.integer("port", opt.port, 1, 65535);
        opt.rate = args.integer("rate", opt.rate, 8000, 192'000);
        opt.seconds = args.number("seconds", opt.seconds, 0, 3600);
        opt.label = args.text("label", opt.label);
        opt.csv = args.text("csv", "");
        if (opt.label.find_first_of(",\n\r") != std::string::npos)
            throw audiocast_bench::usage_error{"--label must not hold a comma or a line break"};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-arrivals: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why =
            audiocast_test::namespace_refusal("scripts/bench or tests/network/netns-run");
        !why.empty()) {
        std::cout << "SKIP: audiocast-bench-arrivals: " << why << '\n';
        return 77;
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-arrivals: " << e.what() << '\n';
        return 1;
    }
}
