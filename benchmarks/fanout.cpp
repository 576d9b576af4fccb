// audiocast-bench-fanout: one sender to N receivers in one process, over
// loopback multicast, with real playout.
//
//   audiocast-bench-fanout --receivers N --seconds S --ptime-ms P --csv FILE
//                          [--threads 1|2] [--block-ms B]
//
// The sender sends a 1 kHz tone, 48 kHz stereo L16, to 239.255.0.1:5004 on lo
// for S seconds (default 5) at packet time P (default 1 ms), paced by
// stream_runner. N multicast_stream receivers join the group on lo, each with
// its own socket (SO_REUSEADDR: the kernel gives each a copy of every
// datagram), and are driven by stream_runner on one io_context. A playout
// timer pulls every receiver in blocks of B ms (default: P) at absolute
// deadlines, as an audio device would, so underruns, late packets and
// concealment are real; a round that starts late pulls the frames of every
// block it missed at once. The sender runs on its own thread and io_context
// (--threads 2, the default) or shares the receivers' (--threads 1).
//
// Every figure is the library's own: each receiver's receiver_stats (RFC 3550
// A.3 loss, §6.4.1 jitter, latency from the send-time extension, IPDV) and
// the sender's lateness histogram. The kernel's drops are the namespace's
// UDP InErrors (/proc/net/snmp; the namespace holds nothing else). CPU is the
// process's user + system time over the sending time; on loopback the kernel
// copies each datagram to every receiver's socket inside the sender's send
// call, so that work counts too.
//
// Runs only inside a private network namespace (scripts/bench makes one):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using audiocast::multicast_stream;
using audiocast::stream_runner;
using audiocast_bench::in_ms;

constexpr const char* usage =
    "usage: audiocast-bench-fanout --receivers N --seconds S --ptime-ms 1|2|5|10|20 --csv FILE\n"
    "                              [--threads 1|2 (default 2)] [--block-ms B (default: ptime)]\n"
    "  Defaults: 1 receiver, 5 s, 1 ms, no CSV file.\n";

constexpr const char* csv_header =
    "receivers,mode,ptime_ms,seconds,packets_sent,packets_lost,throughput_bytes_per_s,"
    "expected_bytes_per_s,jitter_ms,latency_p50_ms,latency_p99_ms,ipdv_p99_ms,cpu_percent,"
    "threads,block_ms,packets_received,kernel_drops,inbox_overruns,packets_late,underruns,"
    "sender_lateness_p99_ms,sender_schedule_slips,sender_thread_cpu_percent,"
    "receiver_thread_cpu_percent,other_cpu_percent";

/// SO_RCVBUF asked of each receiver; Linux doubles it. A 220-byte datagram
/// costs about 1.3 KB of buffer on lo, so 2 MiB holds some 1.6 s of 1 ms
/// packets: far beyond the jitter buffer's reach (2 x 40 ms + 200 ms), so a
/// receiver that falls behind shows as late packets and latency before the
/// kernel drops anything.
constexpr int receive_buffer_bytes = 1 << 20;

/// How long receivers keep reading and playing after the sender stops, so
/// what is in flight or in the jitter buffer (40 ms) is counted.
constexpr auto drain_time = 200ms;

struct options {
    long receivers = 1;
    double seconds = 5;
    long ptime_ms = 1;
    std::string csv;
    long threads = 2;
    long block_ms = 0; ///< 0: the packet time
};

struct listener {
    multicast_stream stream;
    stream_runner<multicast_stream> runner;

    listener(asio::io_context& io, const audiocast::pcm_config& codec)
        : stream{audiocast::as_receiver,
                 audiocast::udp_multicast_transport{
                     io, {.interface = "lo", .receive_buffer_bytes = receive_buffer_bytes}},
                 audiocast::pcm_codec{codec}, audiocast::steady_clock{}},
          runner{stream, io.get_executor()}
    {}
};

/// Pulls every listener in blocks at absolute deadlines, like an audio
/// device's callback; a late round pulls every block it missed, up to
/// max_catch_up of them, beyond which the missed time is skipped.
class playout {
public:
    static constexpr std::size_t max_catch_up = 20;

    playout(asio::io_context& io, std::vector<std::unique_ptr<listener>>& listeners,
            std::chrono::milliseconds block)
        : timer_{io}, listeners_{listeners}, block_{block},
          block_frames_{static_cast<std::size_t>(
              audiocast::frames_in(block, audiocast_bench::tone::format.sample_rate))},
          samples_(max_catch_up * block_frames_ * audiocast_bench::tone::format.channels)
    {}

    void start(std::chrono::steady_clock::time_point first)
    {
        running_ = true;
        next_ = first + block_;
        arm();
    }

    void stop()
    {
        running_ = false;
        timer_.cancel();
    }

    [[nodiscard]] std::uint64_t rounds() const noexcept { return rounds_; }
    [[nodiscard]] std::uint64_t late_rounds() const noexcept { return late_rounds_; }
    [[nodiscard]] std::uint64_t skipped_blocks() const noexcept { return skipped_; }

private:
    void arm()
    {
        timer_.expires_at(next_);
        timer_.async_wait([this](std::error_code ec) {
            if (ec || !running_) return;
            round();
            arm();
        });
    }

    void round()
    {
        const auto now = std::chrono::steady_clock::now();
        // Blocks whose deadline has passed; at least this one.
        auto due = static_cast<std::size_t>((now - next_) / block_) + 1;
        if (due > max_catch_up) {
            // As a device drops what it had no time to play: the oldest blocks.
            const std::size_t skip = due - max_catch_up;
            skipped_ += skip;
            next_ += skip * block_;
            due = max_catch_up;
        }
        if (due > 1) ++late_rounds_;
        ++rounds_;
        const std::span<std::int16_t> out{
            samples_.data(), due * block_frames_ * audiocast_bench::tone::format.channels};
        for (auto& l : listeners_)
            l->stream.pull(out);
        next_ += due * block_; // now the first deadline still ahead
    }

    asio::steady_timer timer_;
    std::vector<std::unique_ptr<listener>>& listeners_;
    std::chrono::steady_clock::duration block_;
    std::size_t block_frames_;
    std::vector<std::int16_t> samples_;
    std::chrono::steady_clock::time_point next_{};
    bool running_ = false;
    std::uint64_t rounds_ = 0;
    std::uint64_t late_rounds_ = 0;
    std::uint64_t skipped_ = 0;
};

/// The CPU time of one thread (pthread_getcpuclockid(3)), readable from any thread.
class thread_clock {
public:
    static thread_clock of_this_thread()
    {
        thread_clock c;
        if (::pthread_getcpuclockid(::pthread_self(), &c.id_) != 0) c.id_ = CLOCK_THREAD_CPUTIME_ID;
        return c;
    }

    [[nodiscard]] std::chrono::nanoseconds now() const
    {
        ::timespec t{};
        ::clock_gettime(id_, &t);
        return std::chrono::seconds{t.tv_sec} + std::chrono::nanoseconds{t.tv_nsec};
    }

private:
    ::clockid_t id_ = CLOCK_THREAD_CPUTIME_ID;
};

/// Room for one descriptor per receiver and some to spare.
void raise_descriptor_limit(std::size_t receivers)
{
    ::rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    const auto wanted = static_cast<::rlim_t>(receivers + 64);
    if (limit.rlim_cur >= wanted) return;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted)
        throw std::runtime_error{std::to_string(receivers) + " receivers need " +
                                 std::to_string(wanted) + " file descriptors; the hard limit is " +
                                 std::to_string(limit.rlim_max)};
    limit.rlim_cur = wanted;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
        throw std::runtime_error{"cannot raise the descriptor limit to " + std::to_string(wanted)};
}

template <class T>
T median(std::vector<T> v)
{
    if (v.empty()) return T{};
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

int run(const options& opt)
{
    raise_descriptor_limit(static_cast<std::size_t>(opt.receivers));
    const audiocast::pcm_config codec{.format = audiocast_bench::tone::format,
                                      .packet_time = std::chrono::milliseconds{opt.ptime_ms}};
    const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>{opt.seconds});
    const std::chrono::milliseconds block{opt.block_ms != 0 ? opt.block_ms : opt.ptime_ms};

    // Declared first so that they outlive every socket and timer on them.
    asio::io_context receive_io{1};
    std::optional<asio::io_context> send_io_own;
    if (opt.threads == 2) send_io_own.emplace(1);
    asio::io_context& send_io = send_io_own ? *send_io_own : receive_io;

    std::vector<std::unique_ptr<listener>> listeners;
    listeners.reserve(static_cast<std::size_t>(opt.receivers));
    for (long i = 0; i < opt.receivers; ++i)
        listeners.push_back(std::make_unique<listener>(receive_io, codec));
    std::uint64_t receive_errors = 0;
    std::error_code first_receive_error;
    for (auto& l : listeners)
        l->runner.on_error([&](std::error_code ec) {
            if (receive_errors++ == 0) first_receive_error = ec;
        });
    playout player{receive_io, listeners, block};

    multicast_stream sender{
        audiocast::as_sender,
        audiocast::udp_multicast_transport{send_io, {.interface = "lo", .join = false}},
        audiocast::pcm_codec{codec}, audiocast::steady_clock{}};
    stream_runner<multicast_stream> sender_runner{sender, send_io.get_executor()};
    audiocast_bench::tone source;
    sender_runner.on_refill([&source](multicast_stream& s) { source.fill(s); });
    std::uint64_t send_errors = 0;
    std::error_code first_send_error;
    sender_runner.on_error([&](std::error_code ec) {
        if (send_errors++ == 0) first_send_error = ec;
    });

    // The end: the sender stops on its executor, then the receivers drain on theirs.
    asio::steady_timer stop_sending{send_io};
    asio::steady_timer stop_receiving{receive_io};
    std::atomic<bool> sent_all{false};
    bool received_all = false;
    std::chrono::microseconds cpu_used{};
    std::optional<std::chrono::microseconds> machine_used;
    std::chrono::nanoseconds wall{};
    // The receivers' thread is this one; the sender's is this one too, or its own.
    const thread_clock receiver_thread = thread_clock::of_this_thread();
    std::chrono::nanoseconds receiver_thread_cpu{}, sender_thread_cpu{};

    const auto udp_before = audiocast_bench::udp_counters();
    const auto cpu_start = audiocast_bench::cpu_time();
    const auto machine_start = audiocast_bench::machine_busy_time();
    const auto receiver_thread_start = receiver_thread.now();
    std::chrono::nanoseconds sender_thread_start{}; // read on the sender's thread
    const auto start = std::chrono::steady_clock::now();
    asio::post(send_io, [&] { sender_thread_start = thread_clock::of_this_thread().now(); });
    stop_sending.expires_at(start + duration);
    stop_sending.async_wait([&](std::error_code) {
        sender_runner.stop();
        cpu_used = audiocast_bench::cpu_time() - cpu_start;
        if (const auto busy = audiocast_bench::machine_busy_time(); busy && machine_start)
            machine_used = *busy - *machine_start;
        wall = std::chrono::steady_clock::now() - start;
        sender_thread_cpu = thread_clock::of_this_thread().now() - sender_thread_start;
        receiver_thread_cpu = receiver_thread.now() - receiver_thread_start;
        sent_all = true;
        asio::post(receive_io, [&] {
            stop_receiving.expires_after(drain_time);
            stop_receiving.async_wait([&](std::error_code) {
                for (auto& l : listeners)
                    l->runner.stop();
                player.stop();
                received_all = true;
            });
        });
    });
    for (auto& l : listeners)
        l->runner.start();
    player.start(start);
    sender_runner.start();

    // Bounded: the timers end the run; run_for is the backstop.
    const auto limit = duration + drain_time + 20s;
    std::thread send_thread;
    if (send_io_own) send_thread = std::thread{[&] { send_io.run_for(limit); }};
    receive_io.run_for(limit);
    if (send_thread.joinable()) send_thread.join();
    if (!sent_all || !received_all) {
        std::cerr << "audiocast-bench-fanout: the run did not end within 20 s of its end\n";
        return 1;
    }
    const auto udp_after = audiocast_bench::udp_counters();
    const auto kernel_drops = audiocast_bench::growth(udp_before, udp_after, "InErrors");

    // Over receivers: sums, means, the median of their p50 and the max of their p99.
    std::uint64_t lost = 0, received = 0, overruns = 0, late = 0, underruns = 0;
    double throughput = 0, jitter_ms = 0;
    std::vector<std::chrono::nanoseconds> latency_p50;
    std::chrono::nanoseconds latency_p99{}, ipdv_p99{};
    for (const auto& l : listeners) {
        const audiocast::receiver_stats s = l->stream.stats();
        lost += s.packets_lost;
        received += s.packets_received;
        overruns += s.packets_overrun;
        late += s.packets_late;
        underruns += s.underruns;
        throughput += s.throughput_bytes_per_s;
        jitter_ms += in_ms(s.jitter);
        latency_p50.push_back(s.latency_p50);
        latency_p99 = std::max(latency_p99, s.latency_p99);
        ipdv_p99 = std::max(ipdv_p99, s.ipdv_p99);
    }
    const auto n = static_cast<double>(listeners.size());
    throughput /= n;
    jitter_ms /= n;
    const audiocast::sender_stats& sent = sender.sender().stats();
    const double expected_rate =
        static_cast<double>(audiocast_bench::tone::format.sample_rate) *
        static_cast<double>(audiocast::bytes_per_frame(audiocast_bench::tone::format));
    const auto percent_of_wall = [&wall](std::chrono::nanoseconds cpu) {
        return 100.0 * static_cast<double>(cpu.count()) / static_cast<double>(wall.count());
    };
    const double cpu_percent = percent_of_wall(cpu_used);
    // Ticks of 10 ms make this coarse; below zero is rounding.
    const std::optional<double> other_percent =
        machine_used
            ? std::optional<double>{std::max(0.0, percent_of_wall(*machine_used) - cpu_percent)}
            : std::nullopt;
    const std::string other_text =
        other_percent ? audiocast_bench::command_line::format(*other_percent, 0) : "";
    const std::uint64_t copies = sent.packets_sent * listeners.size();

    std::printf("fanout: %ld receivers in-process, ptime %ld ms, %.1f s, %ld thread(s), "
                "playout in %lld ms blocks\n",
                opt.receivers, opt.ptime_ms, opt.seconds, opt.threads,
                static_cast<long long>(block.count()));
    std::printf("  sent           %llu packets in %.3f s; lateness p50 %.3f ms, p99 %.3f ms, "
                "max %.3f ms; %llu schedule slips\n",
                static_cast<unsigned long long>(sent.packets_sent), in_ms(wall) / 1e3,
                in_ms(sent.lateness.percentile(50)), in_ms(sent.lateness.percentile(99)),
                in_ms(sent.lateness.max()), static_cast<unsigned long long>(sent.schedule_slips));
    std::printf("  received       %llu of %llu copies (%.3f %%); lost %llu (A.3), kernel drops %s, "
                "inbox overruns %llu\n",
                static_cast<unsigned long long>(received), static_cast<unsigned long long>(copies),
                copies == 0 ? 0.0
                            : 100.0 * static_cast<double>(received) / static_cast<double>(copies),
                static_cast<unsigned long long>(lost),
                kernel_drops ? std::to_string(*kernel_drops).c_str() : "?",
                static_cast<unsigned long long>(overruns));
    std::printf("  throughput     %.0f B/s per receiver (%.0f expected)\n", throughput,
                expected_rate);
    std::printf("  latency        p50 %.3f ms (median of receivers), p99 %.3f ms (worst receiver); "
                "jitter %.3f ms; IPDV p99 %.3f ms\n",
                in_ms(median(latency_p50)), in_ms(latency_p99), jitter_ms, in_ms(ipdv_p99));
    std::printf("  playout        %llu late packets, %llu underruns; %llu rounds, %llu late, "
                "%llu blocks skipped\n",
                static_cast<unsigned long long>(late), static_cast<unsigned long long>(underruns),
                static_cast<unsigned long long>(player.rounds()),
                static_cast<unsigned long long>(player.late_rounds()),
                static_cast<unsigned long long>(player.skipped_blocks()));
    std::printf("  cpu            %.1f %% of one core (%u cores): sender's thread %.1f %%, "
                "receivers' thread %.1f %%; other processes %s %%\n",
                cpu_percent, std::thread::hardware_concurrency(),
                percent_of_wall(sender_thread_cpu), percent_of_wall(receiver_thread_cpu),
                other_percent ? other_text.c_str() : "?");
    if (send_errors != 0)
        std::printf("  send errors    %llu, the first: %s\n",
                    static_cast<unsigned long long>(send_errors),
                    first_send_error.message().c_str());
    if (receive_errors != 0)
        std::printf("  receive errors %llu, the first: %s\n",
                    static_cast<unsigned long long>(receive_errors),
                    first_receive_error.message().c_str());

    if (!opt.csv.empty()) {
        char row[512];
        std::snprintf(
            row, sizeof row,
            "%ld,in-process,%ld,%g,%llu,%llu,%.1f,%.0f,%.4f,%.4f,%.4f,%.4f,%.1f,%ld,%lld,%llu,%s,"
            "%llu,%llu,%llu,%.4f,%llu,%.1f,%.1f,%s",
            opt.receivers, opt.ptime_ms, opt.seconds,
            static_cast<unsigned long long>(sent.packets_sent),
            static_cast<unsigned long long>(lost), throughput, expected_rate, jitter_ms,
            in_ms(median(latency_p50)), in_ms(latency_p99), in_ms(ipdv_p99), cpu_percent,
            opt.threads, static_cast<long long>(block.count()),
            static_cast<unsigned long long>(received),
            kernel_drops ? std::to_string(*kernel_drops).c_str() : "",
            static_cast<unsigned long long>(overruns), static_cast<unsigned long long>(late),
            static_cast<unsigned long long>(underruns), in_ms(sent.lateness.percentile(99)),
            static_cast<unsigned long long>(sent.schedule_slips),
            percent_of_wall(sender_thread_cpu), percent_of_wall(receiver_thread_cpu),
            other_text.c_str());
        audiocast_bench::append_csv(opt.csv, csv_header, row);
    }
    return send_errors == 0 && receive_errors == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char* argv[])
{
    options opt;
    try {
        const audiocast_bench::command_line args{
            argc, argv, {"receivers", "seconds", "ptime-ms", "csv", "threads", "block-ms"}, {}};
        opt.receivers = args.integer("receivers", 1, 1, 10'000);
        opt.seconds = args.number("seconds", 5, 0, 3600);
        opt.ptime_ms = args.integer("ptime-ms", 1, 1, 20);
        opt.csv = args.text("csv", "");
        opt.threads = args.integer("threads", 2, 1, 2);
        opt.block_ms = args.integer("block-ms", 0, 1, 20);
        if (!audiocast::detail::pcm::is_allowed_packet_time(
                std::chrono::milliseconds{opt.ptime_ms}))
            throw audiocast_bench::usage_error{"--ptime-ms " + std::to_string(opt.ptime_ms) +
                                               " is not one of 1, 2, 5, 10, 20"};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-fanout: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why = audiocast_bench::namespace_refusal(); !why.empty()) {
        std::cout << "SKIP: audiocast-bench-fanout: " << why << '\n';
        return 77;
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-fanout: " << e.what() << '\n';
        return 1;
    }
}
