// audiocast-bench-pacing: how punctually a multicast_stream sender takes each
// packet at its deadline, driven by stream_thread (the default) or by
// stream_runner on an io_context, and what the punctuality costs.
//
//   audiocast-bench-pacing [--ptime-ms P] [--seconds S] [--csv FILE]
//                          [--driver thread|runner] [--timer-slack-us N]
//                          [--spin-us N] [--realtime-priority N]
//
// The stream_thread options (transport/stream_thread.hpp): the thread's timer
// slack (default 1 us; 0 keeps the system's 50 us), a spin before each
// deadline, a SCHED_FIFO priority (refused without CAP_SYS_NICE: the run
// then fails and says why).
//
// One sender sends a 1 kHz tone, 48 kHz stereo L16, to 239.255.0.1:5004 on lo
// for S seconds (default 10) at packet time P (default 1 ms). The source writes
// ahead (a refill fills the 64-packet queue), so every packet waits for its
// absolute deadline on the steady_timer. Lateness is the session's own record:
// sender_session::next_packet() records now - deadline, where `now` is read by
// poll() in the timer's handler, just before the packet is built and sent.
//
// Runs only inside a private network namespace (scripts/bench makes one):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>

namespace {

using namespace std::chrono_literals;
using audiocast_bench::in_us;

constexpr const char* usage =
    "usage: audiocast-bench-pacing [--ptime-ms 1|2|5|10|20] [--seconds S (default 10)] "
    "[--csv FILE]\n"
    "                              [--driver thread|runner] [--timer-slack-us N (default 1)]\n"
    "                              [--spin-us N] [--realtime-priority N]\n";

constexpr const char* csv_header =
    "driver,timer_slack_us,spin_us,realtime_priority,ptime_ms,seconds,packets,lateness_p50_us,"
    "lateness_p99_us,lateness_max_us,schedule_slips,cpu_percent";

struct options {
    long ptime_ms = 1;
    double seconds = 10;
    std::string csv;
    std::string driver = "thread";
    long timer_slack_us = 1;
    long spin_us = 0;
    long realtime_priority = 0;
};

int run(const options& opt)
{
    asio::io_context io{1};
    const audiocast::pcm_config codec_config{.packet_time =
                                                 std::chrono::milliseconds{opt.ptime_ms}};
    audiocast::multicast_sender sender{
        audiocast::udp_multicast_transport{io, {.multicast_interface = "lo", .join = false}},
        audiocast::pcm_codec{codec_config}, audiocast::steady_clock{}};
    audiocast::stream_runner<audiocast::multicast_sender> runner{sender, io.get_executor()};
    audiocast::stream_thread<audiocast::multicast_sender> thread{
        sender,
        {.timer_slack = std::chrono::microseconds{opt.timer_slack_us},
         .spin = std::chrono::microseconds{opt.spin_us},
         .realtime_priority = static_cast<int>(opt.realtime_priority)}};
    const bool on_thread = opt.driver == "thread";

    // The refill runs right after poll() has sent what was due, so `now` there
    // is after the datagram was handed to the kernel: an outside check on the
    // session's lateness, which is taken a few instructions before the send.
    audiocast_bench::tone source;
    audiocast::duration_histogram sent_by;
    std::optional<audiocast::time_point> due;
    std::uint64_t seen = 0;
    const auto refill = [&](audiocast::multicast_sender& s) {
        const audiocast::time_point now = s.clock().now();
        if (s.sender().stats().packets_sent > seen && due) sent_by.record(now - *due);
        seen = s.sender().stats().packets_sent;
        source.fill(s);
        due = s.next_deadline();
    };
    std::uint64_t send_errors = 0;
    std::error_code first_error;
    const auto on_error = [&](std::error_code ec) {
        if (send_errors++ == 0) first_error = ec;
    };
    runner.on_refill(refill);
    runner.on_error(on_error);
    thread.on_refill(refill);
    thread.on_error(on_error);

    const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>{opt.seconds});
    asio::steady_timer stop{io};
    bool stopped = false;
    std::chrono::microseconds cpu_used{};
    std::optional<std::chrono::microseconds> machine_used;
    std::chrono::nanoseconds wall{};

    const auto udp_before = audiocast_bench::udp_counters();
    const auto cpu_start = audiocast_bench::cpu_time();
    const auto machine_start = audiocast_bench::machine_busy_time();
    const auto start = std::chrono::steady_clock::now();
    stop.expires_at(start + duration);
    stop.async_wait([&](std::error_code) {
        runner.stop();
        thread.stop();
        cpu_used = audiocast_bench::cpu_time() - cpu_start;
        if (const auto busy = audiocast_bench::machine_busy_time(); busy && machine_start)
            machine_used = *busy - *machine_start;
        wall = std::chrono::steady_clock::now() - start;
        stopped = true;
    });
    if (on_thread) {
        std::error_code start_ec;
        thread.start(start_ec);
        if (start_ec == audiocast::errc::thread_priority_refused) {
            // Not this machine's to give (no CAP_SYS_NICE, no rtprio limit).
            std::cout << "SKIP: audiocast-bench-pacing: real-time priority "
                      << opt.realtime_priority << " refused: " << start_ec.message() << '\n';
            return 77;
        }
        if (start_ec) thread.start(); // throws, naming the option refused
    } else {
        runner.start();
    }
    // Bounded: the stop timer ends the run; this is the backstop.
    io.run_for(duration + 10s);
    if (!stopped) {
        std::cerr << "audiocast-bench-pacing: the run did not stop within 10 s of its end\n";
        return 1;
    }
    const auto udp_sent =
        audiocast_bench::growth(udp_before, audiocast_bench::udp_counters(), "OutDatagrams");

    const audiocast::sender_stats& stats = sender.sender().stats();
    const auto& lateness = stats.lateness;
    const double cpu_percent =
        100.0 * static_cast<double>(cpu_used.count()) * 1e3 / static_cast<double>(wall.count());
    const double expected = opt.seconds * 1000.0 / static_cast<double>(opt.ptime_ms);

    std::printf("pacing: ptime %ld ms, %.1f s, 48000 Hz stereo L16 to 239.255.0.1:5004 on lo; "
                "%s\n",
                opt.ptime_ms, opt.seconds,
                on_thread ? ("stream_thread, timer slack " + std::to_string(opt.timer_slack_us) +
                             " us, spin " + std::to_string(opt.spin_us) + " us, priority " +
                             std::to_string(opt.realtime_priority))
                                .c_str()
                          : "stream_runner");
    std::printf("  packets sent   %llu (%.0f expected; the kernel counted %s)\n",
                static_cast<unsigned long long>(stats.packets_sent), expected,
                udp_sent ? std::to_string(*udp_sent).c_str() : "?");
    std::printf("  lateness       p50 %.1f us, p99 %.1f us, max %.1f us, mean %.1f us\n",
                in_us(lateness.percentile(50)), in_us(lateness.percentile(99)),
                in_us(lateness.max()), in_us(lateness.mean()));
    std::printf("  sent by        p50 %.1f us, p99 %.1f us, max %.1f us after the deadline "
                "(send returned; %llu rounds)\n",
                in_us(sent_by.percentile(50)), in_us(sent_by.percentile(99)), in_us(sent_by.max()),
                static_cast<unsigned long long>(sent_by.count()));
    std::printf("  schedule slips %llu (a packet over %.0f ms late moves the schedule on)\n",
                static_cast<unsigned long long>(stats.schedule_slips),
                audiocast_bench::in_ms(sender.sender().config().max_lateness));
    const auto percent = [&wall](std::chrono::microseconds t) {
        return 100.0 * static_cast<double>(t.count()) * 1e3 / static_cast<double>(wall.count());
    };
    if (machine_used)
        std::printf("  cpu            %.2f %% of one core; other processes %.0f %%\n", cpu_percent,
                    std::max(0.0, percent(*machine_used) - cpu_percent));
    else
        std::printf("  cpu            %.2f %% of one core\n", cpu_percent);
    if (send_errors != 0)
        std::printf("  send errors    %llu, the first: %s\n",
                    static_cast<unsigned long long>(send_errors), first_error.message().c_str());

    if (!opt.csv.empty()) {
        char row[256];
        std::snprintf(
            row, sizeof row, "%s,%ld,%ld,%ld,%ld,%g,%llu,%.1f,%.1f,%.1f,%llu,%.2f",
            opt.driver.c_str(), on_thread ? opt.timer_slack_us : 50L, on_thread ? opt.spin_us : 0L,
            on_thread ? opt.realtime_priority : 0L, opt.ptime_ms, opt.seconds,
            static_cast<unsigned long long>(stats.packets_sent), in_us(lateness.percentile(50)),
            in_us(lateness.percentile(99)), in_us(lateness.max()),
            static_cast<unsigned long long>(stats.schedule_slips), cpu_percent);
        audiocast_bench::append_csv(opt.csv, csv_header, row);
    }
    return send_errors == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char* argv[])
{
    options opt;
    try {
        const audiocast_bench::command_line args{argc,
                                                 argv,
                                                 {"ptime-ms", "seconds", "csv", "driver",
                                                  "timer-slack-us", "spin-us", "realtime-priority"},
                                                 {}};
        opt.driver = args.text("driver", opt.driver);
        if (opt.driver != "thread" && opt.driver != "runner")
            throw audiocast_bench::usage_error{"--driver \"" + opt.driver +
                                               "\" is not thread or runner"};
        opt.timer_slack_us = args.integer("timer-slack-us", 1, 0, 10'000);
        opt.spin_us = args.integer("spin-us", 0, 0, 2'000);
        opt.realtime_priority = args.integer("realtime-priority", 0, 0, 99);
        opt.ptime_ms = args.integer("ptime-ms", 1, 1, 20);
        opt.seconds = args.number("seconds", 10, 0, 3600);
        opt.csv = args.text("csv", "");
        // The codec's rule, checked here so the message is a usage line.
        if (!audiocast::is_allowed_packet_time(std::chrono::milliseconds{opt.ptime_ms}))
            throw audiocast_bench::usage_error{"--ptime-ms " + std::to_string(opt.ptime_ms) +
                                               " is not one of " +
                                               audiocast::pcm_packet_times_text()};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-pacing: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why =
            audiocast_test::namespace_refusal("scripts/bench or tests/network/netns-run");
        !why.empty()) {
        std::cout << "SKIP: audiocast-bench-pacing: " << why << '\n';
        return 77;
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-pacing: " << e.what() << '\n';
        return 1;
    }
}
