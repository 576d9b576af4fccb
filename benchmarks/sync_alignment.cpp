// How closely N listeners play in step (docs/architecture.md, Synchronized
// playout): the deterministic simulation of tests/support/sync_simulation.hpp
// with N = 2, 10 and 100 listeners, clocks up to 10 s and 400 ppm apart,
// device latencies of 5-70 ms, joining over the first 5 s, on a quiet LAN
// (0.2 ms of jitter) and a busy one (2 ms of jitter, 1 % loss); each learns
// the sender's clock by round trips, or reads it on a shared wall clock (RFC
// 7273). Measured from 5 s after each joins, against the common timeline;
// two listeners are apart by at most the sum of their errors.
//
//   audiocast-bench-sync-alignment [seconds]      (default 60 simulated seconds)
//
// Seeded: a run repeats exactly. It measures the algorithm, not this machine,
// so it prints no time; the README's table comes from it.
#include "../tests/support/sync_simulation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using audiocast::test::sync_simulation;
using namespace std::chrono_literals;

struct row {
    std::size_t listeners;
    bool shared;
    bool busy;
    double p50_us, p99_us, worst_us, worst_p99_us;
    double exchanges_per_listener;
};

row run(std::size_t n, bool shared, bool busy, std::chrono::seconds span)
{
    sync_simulation sim{{.jitter = busy ? 2ms : 200us, .loss = busy ? 0.01 : 0, .seed = 1000 + n}};
    for (std::size_t i = 0; i < n; ++i) {
        const double x = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
        sync_simulation::listener_settings s{
            .offset = std::chrono::nanoseconds{static_cast<std::int64_t>((x * 20 - 10) * 1e9)},
            .rate_ppm = x * 400 - 200,
            .output_latency =
                std::chrono::nanoseconds{static_cast<std::int64_t>((5 + 65 * x) * 1e6)},
            .join_at = std::chrono::nanoseconds{static_cast<std::int64_t>(x * 5e9)}};
        if (shared) s.shared_wall_clock_error = 0ns;
        sim.add(s);
    }
    sim.run(span);
    std::vector<double> all;
    row r{n, shared, busy, 0, 0, 0, 0, 0};
    for (const auto& l : sim.listeners()) {
        for (const auto e : l.errors)
            all.push_back(static_cast<double>(std::chrono::abs(e).count()) / 1e3);
        r.worst_p99_us =
            std::max(r.worst_p99_us, static_cast<double>(l.quantile(0.99).count()) / 1e3);
        r.exchanges_per_listener += static_cast<double>(l.stats.clock_exchanges);
    }
    r.exchanges_per_listener /= static_cast<double>(n);
    std::sort(all.begin(), all.end());
    if (!all.empty()) {
        r.p50_us = all[all.size() / 2];
        r.p99_us = all[static_cast<std::size_t>(0.99 * static_cast<double>(all.size() - 1))];
        r.worst_us = all.back();
    }
    return r;
}

} // namespace

int main(int argc, char** argv)
{
    const long seconds = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 60;
    if (seconds < 10 || seconds > 3600) {
        std::fprintf(stderr, "audiocast-bench-sync-alignment: seconds must be 10-3600\n");
        return 2;
    }
    std::printf("%ld simulated seconds\n\n| listeners | network | sender's clock by | "
                "\\|error\\| p50 | p99 | worst | worst listener's p99 | round trips each "
                "|\n|---:|---|---|---:|---:|---:|---:|---:|\n",
                seconds);
    for (const bool shared : {false, true})
        for (const bool busy : {false, true})
            for (const std::size_t n : {2u, 10u, 100u}) {
                const row r = run(n, shared, busy, std::chrono::seconds{seconds});
                std::printf("| %zu | %s | %s | %.1f us | %.1f us | %.1f us | %.1f us | %.0f |\n",
                            r.listeners, r.busy ? "2 ms jitter, 1 % loss" : "0.2 ms jitter",
                            r.shared ? "shared clock" : "round trips", r.p50_us, r.p99_us,
                            r.worst_us, r.worst_p99_us, r.shared ? 0.0 : r.exchanges_per_listener);
                std::fflush(stdout);
            }
    return 0;
}
