// audiocast-bench-fanout: one sender to N receivers over loopback multicast,
// with real playout; the receivers in one process or in N.
//
//   audiocast-bench-fanout --receivers N --seconds S --ptime-ms P --csv FILE
//                          [--streams M] [--receive-interval-ms I]
//                          [--driver thread|runner] [--processes]
//                          [--threads 1|2] [--block-ms B]
//
// The sender sends a 1 kHz tone, 48 kHz stereo L16, to 239.255.0.1:5004 on lo
// for S seconds (default 5) at packet time P (default 1 ms). N multicast_stream
// receivers join the group on lo, each with its own socket (SO_REUSEADDR: the
// kernel gives each a copy of every datagram). A playout loop pulls every
// receiver in blocks of B ms (default: P) at absolute deadlines, as an audio
// device would, so underruns, late packets and concealment are real; a round
// that starts late pulls the frames of every block it missed at once.
//
// How the streams are driven:
//   --driver thread (the default): one stream_thread sends, one receives for
//     all N, reading them together once every I ms (default 5; 0 reads each
//     as it becomes readable), and the playout loop has a thread of its own,
//     as an audio device's callback would; each receiver publishes its
//     figures every 20 ms (receiver_config::stats_interval). --sender-priority and
//     --playout-priority give those threads SCHED_FIFO (root or an rtprio
//     limit): on a real network the sender has a machine of its own, and an
//     audio server runs its device thread at real-time priority (PipeWire,
//     JACK); here three busy threads share two cores. With --streams M, M senders on the
//     one sending thread send M distinct streams to M groups (239.255.0.1 and
//     on), and N receivers join each: M x N receivers on the receiving thread.
//   --driver runner: stream_runner on Asio; the receivers and the playout timer
//     share one io_context on the main thread, and the sender runs on its own
//     thread and io_context (--threads 2, the default) or shares theirs
//     (--threads 1).
//   --processes: each receiver in a process of its own, forked before any
//     socket exists, as the original project's clients did.
//
// Every figure is the library's own: each receiver's receiver_stats (RFC 3550
// A.3 loss, §6.4.1 jitter, latency from the send-time extension, IPDV) and
// the sender's lateness histogram. The kernel's drops are the namespace's
// UDP InErrors (/proc/net/snmp; the namespace holds nothing else). CPU is
// user + system time over the sending time, of the process and, with
// --processes, of every receiver process; on loopback the kernel copies each
// datagram to every receiver's socket inside the sender's send call, so that
// work counts too.
//
// Runs only inside a private network namespace (scripts/bench makes one):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using audiocast::stream_runner;
using audiocast_bench::in_ms;

constexpr const char* usage =
    "usage: audiocast-bench-fanout --receivers N --seconds S --ptime-ms 1|2|5|10|20 --csv FILE\n"
    "                              [--streams M (default 1; N receivers each)]\n"
    "                              [--receive-interval-ms I (0-20, default 5)]\n"
    "                              [--driver thread|runner (default thread)] [--processes]\n"
    "                              [--sender-priority P] [--playout-priority P (SCHED_FIFO 1-99)]\n"
    "                              [--threads 1|2 (runner; default 2)]\n"
    "                              [--block-ms B (default: ptime)]\n"
    "  Defaults: 1 receiver, 5 s, 1 ms, no CSV file.\n";

constexpr const char* csv_header =
    "receivers,mode,ptime_ms,seconds,packets_sent,packets_lost,throughput_bytes_per_s,"
    "expected_bytes_per_s,jitter_ms,latency_p50_ms,latency_p99_ms,ipdv_p99_ms,cpu_percent,"
    "threads,block_ms,packets_received,kernel_drops,inbox_overruns,packets_late,underruns,"
    "sender_lateness_p99_ms,sender_schedule_slips,sender_thread_cpu_percent,"
    "receiver_thread_cpu_percent,other_cpu_percent,packets_lost_rfc3550,streams,"
    "receive_interval_ms,playout_thread_cpu_percent,concealed_frames,sender_lateness_p50_ms,"
    "sender_priority,playout_priority";

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
    bool processes = false;
    bool runner = false; ///< --driver runner
    long streams = 1;
    long receive_interval_ms = 5;
    long sender_priority = 0;  ///< SCHED_FIFO for the sending thread; 0: normal
    long playout_priority = 0; ///< SCHED_FIFO for the playout thread; 0: normal

    [[nodiscard]] const char* mode() const noexcept
    {
        return processes ? "processes" : runner ? "in-process" : "stream_thread";
    }
};

struct listener {
    audiocast::multicast_receiver stream;
    stream_runner<audiocast::multicast_receiver> runner;

    listener(asio::io_context& io, const audiocast::pcm_config& codec)
        : stream{audiocast::udp_multicast_transport{
                     io,
                     {.multicast_interface = "lo", .receive_buffer_bytes = receive_buffer_bytes}},
                 audiocast::pcm_codec{codec}, audiocast::steady_clock{}},
          runner{stream, io.get_executor()}
    {}
};

std::vector<audiocast::multicast_receiver*>
receivers_of(const std::vector<std::unique_ptr<listener>>& listeners)
{
    std::vector<audiocast::multicast_receiver*> out;
    for (const auto& l : listeners)
        out.push_back(&l->stream);
    return out;
}

/// Pulls every receiver in blocks at absolute deadlines, like an audio
/// device's callback; a late round pulls every block it missed, up to
/// max_catch_up of them, beyond which the missed time is skipped. Driven by
/// an Asio timer (playout) or a thread (playout_thread).
class playout_rounds {
public:
    static constexpr std::size_t max_catch_up = 20;

    playout_rounds(std::vector<audiocast::multicast_receiver*> receivers,
                   std::chrono::milliseconds block)
        : receivers_{std::move(receivers)}, block_{block},
          block_frames_{static_cast<std::size_t>(
              audiocast::frames_in(block, audiocast_bench::tone::format.sample_rate))},
          samples_(max_catch_up * block_frames_ * audiocast_bench::tone::format.channels)
    {}

    void begin(std::chrono::steady_clock::time_point first) { next_ = first + block_; }
    [[nodiscard]] std::chrono::steady_clock::time_point next() const noexcept { return next_; }

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
        for (audiocast::multicast_receiver* r : receivers_)
            r->pull(out);
        next_ += due * block_; // now the first deadline still ahead
    }

    [[nodiscard]] std::uint64_t rounds() const noexcept { return rounds_; }
    [[nodiscard]] std::uint64_t late_rounds() const noexcept { return late_rounds_; }
    [[nodiscard]] std::uint64_t skipped_blocks() const noexcept { return skipped_; }

private:
    std::vector<audiocast::multicast_receiver*> receivers_;
    std::chrono::steady_clock::duration block_;
    std::size_t block_frames_;
    std::vector<std::int16_t> samples_;
    std::chrono::steady_clock::time_point next_{};
    std::uint64_t rounds_ = 0;
    std::uint64_t late_rounds_ = 0;
    std::uint64_t skipped_ = 0;
};

/// playout_rounds on an Asio timer, sharing the receivers' io_context.
class playout {
public:
    playout(asio::io_context& io, std::vector<audiocast::multicast_receiver*> receivers,
            std::chrono::milliseconds block)
        : timer_{io}, rounds_{std::move(receivers), block}
    {}

    void start(std::chrono::steady_clock::time_point first)
    {
        running_ = true;
        rounds_.begin(first);
        arm();
    }

    void stop()
    {
        running_ = false;
        timer_.cancel();
    }

    [[nodiscard]] const playout_rounds& rounds() const noexcept { return rounds_; }

private:
    void arm()
    {
        timer_.expires_at(rounds_.next());
        timer_.async_wait([this](std::error_code ec) {
            if (ec || !running_) return;
            rounds_.round();
            arm();
        });
    }

    asio::steady_timer timer_;
    playout_rounds rounds_;
    bool running_ = false;
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

/// playout_rounds on a thread of its own, sleeping to each absolute
/// deadline (clock_nanosleep(2)), as an audio device's callback thread.
class playout_thread {
public:
    playout_thread(std::vector<audiocast::multicast_receiver*> receivers,
                   std::chrono::milliseconds block, int priority)
        : rounds_{std::move(receivers), block}, priority_{priority}
    {}
    playout_thread(const playout_thread&) = delete;
    playout_thread& operator=(const playout_thread&) = delete;
    ~playout_thread() { stop(); }

    void start(std::chrono::steady_clock::time_point first)
    {
        rounds_.begin(first);
        thread_ = std::thread{[this] {
            const thread_clock self = thread_clock::of_this_thread();
            const auto cpu_start = self.now();
            while (!stopping_.load(std::memory_order_relaxed)) {
                const ::timespec at = audiocast::detail::to_timespec(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                        rounds_.next().time_since_epoch()));
                // steady_clock is CLOCK_MONOTONIC with libstdc++ and libc++.
                if (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR)
                    continue;
                rounds_.round();
                cpu_.store((self.now() - cpu_start).count(), std::memory_order_relaxed);
            }
        }};
        if (priority_ > 0) {
            std::string what;
            if (audiocast::detail::set_realtime_priority(thread_, priority_, what)) {
                stop();
                throw std::runtime_error{"--playout-priority: " + what};
            }
        }
    }

    void stop()
    {
        stopping_.store(true, std::memory_order_relaxed);
        if (thread_.joinable()) thread_.join();
    }

    /// The thread's CPU time so far; from any thread.
    [[nodiscard]] std::chrono::nanoseconds cpu() const noexcept
    {
        return std::chrono::nanoseconds{cpu_.load(std::memory_order_relaxed)};
    }
    /// After stop().
    [[nodiscard]] const playout_rounds& rounds() const noexcept { return rounds_; }

private:
    playout_rounds rounds_;
    int priority_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> cpu_{0};
    std::thread thread_;
};

template <class T>
T median(std::vector<T> v)
{
    if (v.empty()) return T{};
    const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

/// How many errors a receiver's runner reported, and the first one's text.
struct error_note {
    std::uint64_t count = 0;
    char first[96] = {};

    void add(const char* what)
    {
        if (count++ == 0) std::snprintf(first, sizeof first, "%s", what);
    }
    void add(std::error_code ec) { add(ec.message().c_str()); }
};

/// What one receiver reports, in either mode. Trivially copyable: a receiver
/// process writes it to its parent as bytes, in one write(2) of less than
/// PIPE_BUF, which the kernel keeps whole among the other processes' writes.
struct receiver_summary {
    std::uint64_t lost = 0, received = 0, overruns = 0, late = 0, underruns = 0;
    double throughput = 0, jitter_ms = 0;
    std::int64_t latency_p50_ns = 0, latency_p99_ns = 0, ipdv_p99_ns = 0;
    std::uint64_t rounds = 0, late_rounds = 0, skipped_blocks = 0;
    std::uint64_t concealed_frames = 0;
    std::int64_t cpu_ns = 0; ///< a receiver process's CPU time while the sender sent
    error_note errors;
};
static_assert(sizeof(receiver_summary) < PIPE_BUF);

/// Adds a receiver session's figures to `r`.
void add_stats(receiver_summary& r, const audiocast::receiver_stats& s)
{
    r.lost = s.packets_lost;
    r.received = s.packets_received;
    r.overruns = s.packets_overrun;
    r.late = s.packets_late;
    r.underruns = s.underruns;
    r.concealed_frames = s.concealed_frames;
    r.throughput = s.throughput_bytes_per_s;
    r.jitter_ms = in_ms(s.jitter);
    r.latency_p50_ns = s.latency_p50.count();
    r.latency_p99_ns = s.latency_p99.count();
    r.ipdv_p99_ns = s.ipdv_p99.count();
}

/// Adds a playout loop's counts to `r`.
void add_playout(receiver_summary& r, const playout_rounds& player)
{
    r.rounds = player.rounds();
    r.late_rounds = player.late_rounds();
    r.skipped_blocks = player.skipped_blocks();
}

struct run_plan {
    audiocast::pcm_config codec;
    std::chrono::nanoseconds duration;
    std::chrono::milliseconds block;

    explicit run_plan(const options& opt)
        : codec{.format = audiocast_bench::tone::format,
                .packet_time = std::chrono::milliseconds{opt.ptime_ms}},
          duration{std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::duration<double>{opt.seconds})},
          block{opt.block_ms != 0 ? opt.block_ms : opt.ptime_ms}
    {}
};

/// The sender's side of a run, on its own io_context.
struct sender_side {
    audiocast::multicast_sender stream;
    stream_runner<audiocast::multicast_sender> runner;
    audiocast_bench::tone source;
    std::uint64_t errors = 0;
    std::error_code first_error;

    sender_side(asio::io_context& io, const audiocast::pcm_config& codec)
        : stream{audiocast::udp_multicast_transport{io,
                                                    {.multicast_interface = "lo", .join = false}},
                 audiocast::pcm_codec{codec}, audiocast::steady_clock{}},
          runner{stream, io.get_executor()}
    {
        runner.on_refill([this](audiocast::multicast_sender& s) { source.fill(s); });
        runner.on_error([this](std::error_code ec) {
            if (errors++ == 0) first_error = ec;
        });
    }
};

/// What the senders did, over every stream.
struct sender_figures {
    std::uint64_t packets_sent = 0;
    std::uint64_t schedule_slips = 0;
    audiocast::duration_histogram lateness;
    std::uint64_t errors = 0;
    std::string first_error;

    void add(const audiocast::sender_stats& s)
    {
        packets_sent += s.packets_sent;
        schedule_slips += s.schedule_slips;
        lateness += s.lateness;
    }
    void add_error(std::error_code ec)
    {
        if (errors++ == 0) first_error = ec.message();
    }
};

sender_figures figures_of(const sender_side& tx)
{
    sender_figures f;
    f.add(tx.stream.sender().stats());
    f.errors = tx.errors;
    if (tx.errors != 0) f.first_error = tx.first_error.message();
    return f;
}

/// What the sending window cost: wall time and CPU time, measured the same way
/// in both modes.
struct costs {
    std::chrono::nanoseconds wall{};
    std::chrono::nanoseconds process_cpu{}; ///< this process, all threads
    std::chrono::nanoseconds sender_thread_cpu{};
    std::chrono::nanoseconds receivers_cpu{}; ///< the receivers' thread, or their processes
    std::optional<std::chrono::nanoseconds> machine_busy;
    std::chrono::nanoseconds receiver_processes_cpu{}; ///< --processes only
    std::chrono::nanoseconds playout_cpu{};            ///< the playout thread's (stream_thread)
};

/// The summary on stdout and the CSV row, over the receivers: sums, means,
/// the median of their p50 and the max of their p99.
int report(const options& opt, const run_plan& plan, const std::vector<receiver_summary>& rx,
           const sender_figures& sent, const costs& c, std::optional<std::uint64_t> kernel_drops)
{
    receiver_summary all;
    std::vector<std::int64_t> latency_p50;
    std::uint64_t receive_errors = 0;
    std::string first_receive_error;
    for (const auto& r : rx) {
        all.lost += r.lost;
        all.received += r.received;
        all.overruns += r.overruns;
        all.late += r.late;
        all.underruns += r.underruns;
        all.throughput += r.throughput;
        all.jitter_ms += r.jitter_ms;
        latency_p50.push_back(r.latency_p50_ns);
        all.latency_p99_ns = std::max(all.latency_p99_ns, r.latency_p99_ns);
        all.ipdv_p99_ns = std::max(all.ipdv_p99_ns, r.ipdv_p99_ns);
        all.rounds += r.rounds;
        all.late_rounds += r.late_rounds;
        all.skipped_blocks += r.skipped_blocks;
        all.concealed_frames += r.concealed_frames;
        if (r.errors.count != 0 && receive_errors == 0) first_receive_error = r.errors.first;
        receive_errors += r.errors.count;
    }
    const auto n = static_cast<double>(std::max<std::size_t>(rx.size(), 1));
    const double throughput = all.throughput / n;
    const double jitter_ms = all.jitter_ms / n;
    const std::chrono::nanoseconds p50{median(latency_p50)};
    const std::chrono::nanoseconds p99{all.latency_p99_ns}, ipdv_p99{all.ipdv_p99_ns};
    const double expected_rate =
        static_cast<double>(audiocast_bench::tone::format.sample_rate) *
        static_cast<double>(audiocast::bytes_per_frame(audiocast_bench::tone::format));
    const auto percent_of_wall = [&c](std::chrono::nanoseconds cpu) {
        return 100.0 * static_cast<double>(cpu.count()) / static_cast<double>(c.wall.count());
    };
    const std::chrono::nanoseconds total_cpu = c.process_cpu + c.receiver_processes_cpu;
    const double cpu_percent = percent_of_wall(total_cpu);
    // Ticks of 10 ms make this coarse; below zero is rounding.
    const std::optional<double> other_percent =
        c.machine_busy
            ? std::optional<double>{std::max(0.0, percent_of_wall(*c.machine_busy) - cpu_percent)}
            : std::nullopt;
    const std::string other_text =
        other_percent ? audiocast_bench::command_line::format(*other_percent, 0) : "";
    // Each stream reaches opt.receivers of the receivers.
    const std::uint64_t copies = sent.packets_sent * static_cast<std::uint64_t>(opt.receivers);
    // Lost: copies sent that no receiver session took in, whether the network
    // dropped them or they were still unread when the run ended. RFC 3550
    // A.3's count (expected from the first to the highest sequence received,
    // less received) misses what a receiver never got to, so it is a column of
    // its own.
    const std::uint64_t lost = copies > all.received ? copies - all.received : 0;
    const char* mode = opt.mode();
    const std::string driver =
        opt.processes ? "the sender on the parent's main thread"
        : opt.runner
            ? (opt.threads == 2 ? "stream_runner, 2 threads" : "stream_runner, 1 thread")
            : "stream_thread, receive interval " + std::to_string(opt.receive_interval_ms) +
                  " ms, playout on its own thread" +
                  (opt.sender_priority > 0 || opt.playout_priority > 0
                       ? ", SCHED_FIFO sender " + std::to_string(opt.sender_priority) +
                             " playout " + std::to_string(opt.playout_priority)
                       : std::string{});

    std::printf("fanout: %ld stream%s, %ld receivers each, %s, ptime %ld ms, %.1f s, %s, playout "
                "in %lld ms blocks\n",
                opt.streams, opt.streams == 1 ? "" : "s", opt.receivers,
                opt.processes ? "in as many processes" : "in-process", opt.ptime_ms, opt.seconds,
                driver.c_str(), static_cast<long long>(plan.block.count()));
    std::printf("  sent           %llu packets in %.3f s; lateness p50 %.3f ms, p99 %.3f ms, "
                "max %.3f ms; %llu schedule slips\n",
                static_cast<unsigned long long>(sent.packets_sent), in_ms(c.wall) / 1e3,
                in_ms(sent.lateness.percentile(50)), in_ms(sent.lateness.percentile(99)),
                in_ms(sent.lateness.max()), static_cast<unsigned long long>(sent.schedule_slips));
    std::printf(
        "  received       %llu of %llu copies (%.3f %%): %llu lost, %llu by RFC 3550 A.3; "
        "kernel drops %s, inbox overruns %llu\n",
        static_cast<unsigned long long>(all.received), static_cast<unsigned long long>(copies),
        copies == 0 ? 0.0 : 100.0 * static_cast<double>(all.received) / static_cast<double>(copies),
        static_cast<unsigned long long>(lost), static_cast<unsigned long long>(all.lost),
        kernel_drops ? std::to_string(*kernel_drops).c_str() : "?",
        static_cast<unsigned long long>(all.overruns));
    std::printf("  throughput     %.0f B/s per receiver (%.0f expected)\n", throughput,
                expected_rate);
    std::printf("  latency        p50 %.3f ms (median of receivers), p99 %.3f ms (worst receiver); "
                "jitter %.3f ms; IPDV p99 %.3f ms\n",
                in_ms(p50), in_ms(p99), jitter_ms, in_ms(ipdv_p99));
    std::printf("  playout        %llu late packets, %llu underruns, %llu frames concealed; %llu "
                "rounds, %llu late, %llu blocks skipped\n",
                static_cast<unsigned long long>(all.late),
                static_cast<unsigned long long>(all.underruns),
                static_cast<unsigned long long>(all.concealed_frames),
                static_cast<unsigned long long>(all.rounds),
                static_cast<unsigned long long>(all.late_rounds),
                static_cast<unsigned long long>(all.skipped_blocks));
    std::printf(
        "  cpu            %.1f %% of one core (%u cores): sender's thread %.1f %%, "
        "receivers %.1f %% (%s)%s; other processes %s %%\n",
        cpu_percent, std::thread::hardware_concurrency(), percent_of_wall(c.sender_thread_cpu),
        percent_of_wall(c.receivers_cpu), opt.processes ? "their processes" : "their thread",
        opt.processes || opt.runner
            ? ""
            : (", playout thread " +
               audiocast_bench::command_line::format(percent_of_wall(c.playout_cpu), 1) + " %")
                  .c_str(),
        other_percent ? other_text.c_str() : "?");
    if (sent.errors != 0)
        std::printf("  send errors    %llu, the first: %s\n",
                    static_cast<unsigned long long>(sent.errors), sent.first_error.c_str());
    if (receive_errors != 0)
        std::printf("  receive errors %llu, the first: %s\n",
                    static_cast<unsigned long long>(receive_errors), first_receive_error.c_str());

    if (!opt.csv.empty()) {
        char row[640];
        std::snprintf(
            row, sizeof row,
            "%ld,%s,%ld,%g,%llu,%llu,%.1f,%.0f,%.4f,%.4f,%.4f,%.4f,%.1f,%ld,%lld,%llu,%s,"
            "%llu,%llu,%llu,%.4f,%llu,%.1f,%.1f,%s,%llu,%ld,%ld,%.1f,%llu,%.4f,%ld,%ld",
            opt.receivers, mode, opt.ptime_ms, opt.seconds,
            static_cast<unsigned long long>(sent.packets_sent),
            static_cast<unsigned long long>(lost), throughput, expected_rate, jitter_ms, in_ms(p50),
            in_ms(p99), in_ms(ipdv_p99), cpu_percent,
            opt.processes || !opt.runner ? 0L : opt.threads,
            static_cast<long long>(plan.block.count()),
            static_cast<unsigned long long>(all.received),
            kernel_drops ? std::to_string(*kernel_drops).c_str() : "",
            static_cast<unsigned long long>(all.overruns),
            static_cast<unsigned long long>(all.late),
            static_cast<unsigned long long>(all.underruns), in_ms(sent.lateness.percentile(99)),
            static_cast<unsigned long long>(sent.schedule_slips),
            percent_of_wall(c.sender_thread_cpu), percent_of_wall(c.receivers_cpu),
            other_text.c_str(), static_cast<unsigned long long>(all.lost), opt.streams,
            opt.processes || opt.runner ? 0L : opt.receive_interval_ms,
            percent_of_wall(c.playout_cpu), static_cast<unsigned long long>(all.concealed_frames),
            in_ms(sent.lateness.percentile(50)), opt.sender_priority, opt.playout_priority);
        audiocast_bench::append_csv(opt.csv, csv_header, row);
    }
    return sent.errors == 0 && receive_errors == 0 ? 0 : 1;
}

std::optional<std::chrono::nanoseconds>
machine_busy_since(const std::optional<std::chrono::microseconds>& start)
{
    const auto now = audiocast_bench::machine_busy_time();
    if (!now || !start) return std::nullopt;
    return *now - *start;
}

int run_in_process(const options& opt)
{
    audiocast_bench::raise_descriptor_limit(static_cast<std::size_t>(opt.receivers));
    const run_plan plan{opt};

    // Declared first so that they outlive every socket and timer on them.
    asio::io_context receive_io{1};
    std::optional<asio::io_context> send_io_own;
    if (opt.threads == 2) send_io_own.emplace(1);
    asio::io_context& send_io = send_io_own ? *send_io_own : receive_io;

    std::vector<std::unique_ptr<listener>> listeners;
    listeners.reserve(static_cast<std::size_t>(opt.receivers));
    for (long i = 0; i < opt.receivers; ++i)
        listeners.push_back(std::make_unique<listener>(receive_io, plan.codec));
    error_note errors;
    for (auto& l : listeners)
        l->runner.on_error([&](std::error_code ec) { errors.add(ec); });
    playout player{receive_io, receivers_of(listeners), plan.block};
    sender_side tx{send_io, plan.codec};

    // The end: the sender stops on its executor, then the receivers drain on theirs.
    asio::steady_timer stop_sending{send_io};
    asio::steady_timer stop_receiving{receive_io};
    std::atomic<bool> sent_all{false};
    bool received_all = false;
    costs c;
    // The receivers' thread is this one; the sender's is this one too, or its own.
    const thread_clock receiver_thread = thread_clock::of_this_thread();

    const auto udp_before = audiocast_bench::udp_counters();
    const auto cpu_start = audiocast_bench::cpu_time();
    const auto machine_start = audiocast_bench::machine_busy_time();
    const auto receiver_thread_start = receiver_thread.now();
    std::chrono::nanoseconds sender_thread_start{}; // read on the sender's thread
    const auto start = std::chrono::steady_clock::now();
    asio::post(send_io, [&] { sender_thread_start = thread_clock::of_this_thread().now(); });
    stop_sending.expires_at(start + plan.duration);
    stop_sending.async_wait([&](std::error_code) {
        tx.runner.stop();
        c.process_cpu = audiocast_bench::cpu_time() - cpu_start;
        c.machine_busy = machine_busy_since(machine_start);
        c.wall = std::chrono::steady_clock::now() - start;
        c.sender_thread_cpu = thread_clock::of_this_thread().now() - sender_thread_start;
        c.receivers_cpu = receiver_thread.now() - receiver_thread_start;
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
    tx.runner.start();

    // Bounded: the timers end the run; run_for is the backstop.
    const auto limit = plan.duration + drain_time + 20s;
    std::thread send_thread;
    if (send_io_own) send_thread = std::thread{[&] { send_io.run_for(limit); }};
    receive_io.run_for(limit);
    if (send_thread.joinable()) send_thread.join();
    if (!sent_all || !received_all) {
        std::cerr << "audiocast-bench-fanout: the run did not end within 20 s of its end\n";
        return 1;
    }
    const auto kernel_drops =
        audiocast_bench::growth(udp_before, audiocast_bench::udp_counters(), "InErrors");

    std::vector<receiver_summary> rx(listeners.size());
    for (std::size_t i = 0; i < listeners.size(); ++i)
        add_stats(rx[i], listeners[i]->stream.stats());
    // One playout loop and one error handler served them all: count each once.
    if (!rx.empty()) {
        add_playout(rx[0], player.rounds());
        rx[0].errors = errors;
    }
    return report(opt, plan, rx, figures_of(tx), c, kernel_drops);
}

// ---- --driver thread -----------------------------------------------------

/// The multicast group of stream `i`: 239.255.0.1, 239.255.0.2, ...
std::string group_of(long i)
{
    return "239.255." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250);
}

/// The streams' senders, each with its own tone, on one stream_thread.
struct sending_streams {
    struct sender {
        audiocast::multicast_sender stream;
        audiocast_bench::tone source;

        sender(asio::io_context& io, const audiocast::pcm_config& codec, const std::string& group)
            : stream{audiocast::udp_multicast_transport{
                         io, {.group = group, .multicast_interface = "lo", .join = false}},
                     audiocast::pcm_codec{codec}, audiocast::steady_clock{}}
        {}
    };
    std::vector<std::unique_ptr<sender>> senders;
    std::vector<audiocast::multicast_sender*> streams;

    sending_streams(asio::io_context& io, const audiocast::pcm_config& codec, long count)
    {
        for (long i = 0; i < count; ++i) {
            senders.push_back(std::make_unique<sender>(io, codec, group_of(i)));
            streams.push_back(&senders.back()->stream);
        }
    }

    /// The tone that feeds `s`.
    audiocast_bench::tone& source_of(const audiocast::multicast_sender& s)
    {
        for (auto& one : senders)
            if (&one->stream == &s) return one->source;
        throw std::logic_error{"a sender the benchmark did not make"};
    }
};

/// The CPU clock of whichever thread runs it, for a stream_thread's thread:
/// post() runs work once for each stream, so only the first run counts.
struct thread_start {
    std::atomic<bool> taken{false};
    thread_clock clock;
    std::chrono::nanoseconds cpu_at_start{};
    std::atomic<bool> ready{false};

    void take_here()
    {
        if (taken.exchange(true)) return;
        clock = thread_clock::of_this_thread();
        cpu_at_start = clock.now();
        ready.store(true);
    }
    [[nodiscard]] std::chrono::nanoseconds used() const
    {
        return ready.load() ? clock.now() - cpu_at_start : std::chrono::nanoseconds{};
    }
};

/// What the receivers publish to stats() every 20 ms instead of at every
/// pull (receiver_config::stats_interval): a fifth of the playout thread at a
/// thousand receivers. The figures are read after 200 ms of draining, when
/// nothing has changed for far longer than that.
audiocast::receiver_config stats_every_20ms()
{
    audiocast::receiver_config c;
    c.stats_interval = 20ms;
    return c;
}

int run_threads(const options& opt)
{
    const auto total = static_cast<std::size_t>(opt.streams * opt.receivers);
    audiocast_bench::raise_descriptor_limit(total + static_cast<std::size_t>(opt.streams));
    const run_plan plan{opt};
    asio::io_context io; // owns the sockets' Asio state; never run: the threads wait themselves

    sending_streams tx{io, plan.codec, opt.streams};
    std::vector<std::unique_ptr<audiocast::multicast_receiver>> receivers;
    std::vector<audiocast::multicast_receiver*> receiving;
    receivers.reserve(total);
    for (long i = 0; i < opt.streams; ++i)
        for (long r = 0; r < opt.receivers; ++r) {
            receivers.push_back(std::make_unique<audiocast::multicast_receiver>(
                audiocast::udp_multicast_transport{io,
                                                   {.group = group_of(i),
                                                    .multicast_interface = "lo",
                                                    .receive_buffer_bytes = receive_buffer_bytes}},
                audiocast::pcm_codec{plan.codec}, audiocast::steady_clock{}, stats_every_20ms()));
            receiving.push_back(receivers.back().get());
        }

    audiocast::stream_thread<audiocast::multicast_sender> sender_thread{
        std::span<audiocast::multicast_sender* const>{tx.streams},
        {.realtime_priority = static_cast<int>(opt.sender_priority)}};
    audiocast::stream_thread<audiocast::multicast_receiver> receiver_thread{
        std::span<audiocast::multicast_receiver* const>{receiving},
        {.receive_interval = std::chrono::milliseconds{opt.receive_interval_ms}}};
    playout_thread player{receiving, plan.block, static_cast<int>(opt.playout_priority)};

    std::mutex errors_mutex; // both threads report
    sender_figures sent;
    error_note receive_errors;
    sender_thread.on_error([&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        sent.add_error(ec);
    });
    receiver_thread.on_error([&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        receive_errors.add(ec);
    });
    sender_thread.on_refill([&](audiocast::multicast_sender& s) { tx.source_of(s).fill(s); });
    thread_start sender_start, receiver_start;
    sender_thread.post([&](audiocast::multicast_sender&) { sender_start.take_here(); });
    receiver_thread.post([&](audiocast::multicast_receiver&) { receiver_start.take_here(); });

    costs c;
    const auto udp_before = audiocast_bench::udp_counters();
    const auto cpu_start = audiocast_bench::cpu_time();
    const auto machine_start = audiocast_bench::machine_busy_time();
    const auto start = std::chrono::steady_clock::now();
    receiver_thread.start();
    player.start(start);
    sender_thread.start();

    std::this_thread::sleep_until(start + plan.duration);
    // Read while the threads still run: a thread's CPU clock ends with it.
    c.sender_thread_cpu = sender_start.used();
    c.receivers_cpu = receiver_start.used();
    c.playout_cpu = player.cpu();
    c.process_cpu = audiocast_bench::cpu_time() - cpu_start;
    c.machine_busy = machine_busy_since(machine_start);
    c.wall = std::chrono::steady_clock::now() - start;
    sender_thread.stop();
    std::this_thread::sleep_for(drain_time);
    receiver_thread.stop();
    player.stop();
    const auto kernel_drops =
        audiocast_bench::growth(udp_before, audiocast_bench::udp_counters(), "InErrors");

    for (const auto& one : tx.senders)
        sent.add(one->stream.sender().stats());
    std::vector<receiver_summary> rx(receivers.size());
    for (std::size_t i = 0; i < receivers.size(); ++i)
        add_stats(rx[i], receivers[i]->stats());
    // One playout loop and one error handler served them all: count each once.
    if (!rx.empty()) {
        add_playout(rx[0], player.rounds());
        rx[0].errors = receive_errors;
    }
    return report(opt, plan, rx, sent, c, kernel_drops);
}

// ---- --processes ---------------------------------------------------------

/// Writes all of `size` bytes; false on an error other than EINTR.
bool write_all(int fd, const void* data, std::size_t size)
{
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ::ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Reads exactly `size` bytes before `deadline`; false on EOF, error or time out.
bool read_all(int fd, void* data, std::size_t size, std::chrono::steady_clock::time_point deadline)
{
    auto* p = static_cast<char*>(data);
    while (size > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        ::pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return false;
        const ::ssize_t n = ::read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// The body of one receiver process: join, say ready, wait for the parent to
/// close `go`, receive and play for the run and the drain, report, exit.
int receiver_process(const run_plan& plan, int ready_fd, int go_fd, int result_fd)
{
    receiver_summary r;
    // On a real network the sender has a machine of its own; here it shares
    // two cores with N busy processes, and at equal priority the scheduler
    // gives it 1/(N+1) of them: 43 of 2000 packets sent at N = 500, and 126 at
    // nice 10. Under SCHED_IDLE (sched(7); no privilege needed) the receivers
    // take only what the sender leaves, which is what is measured.
    const ::sched_param idle{};
    if (::sched_setscheduler(0, SCHED_IDLE, &idle) != 0)
        r.errors.add(std::error_code{errno, std::generic_category()});
    try {
        asio::io_context io{1};
        std::vector<std::unique_ptr<listener>> one;
        one.push_back(std::make_unique<listener>(io, plan.codec));
        one[0]->runner.on_error([&](std::error_code ec) { r.errors.add(ec); });
        playout player{io, receivers_of(one), plan.block};
        const char ready = 'r';
        if (!write_all(ready_fd, &ready, 1)) return 1;
        ::close(ready_fd);
        char go = 0;
        while (::read(go_fd, &go, 1) < 0 && errno == EINTR) {
        } // EOF: the parent closed it, or is gone
        ::close(go_fd);

        const auto start = std::chrono::steady_clock::now();
        const auto cpu_start = audiocast_bench::cpu_time();
        std::chrono::nanoseconds cpu{};
        asio::steady_timer sending_over{io}, drained{io};
        sending_over.expires_at(start + plan.duration);
        sending_over.async_wait(
            [&](std::error_code) { cpu = audiocast_bench::cpu_time() - cpu_start; });
        drained.expires_at(start + plan.duration + drain_time);
        drained.async_wait([&](std::error_code) {
            one[0]->runner.stop();
            player.stop();
        });
        one[0]->runner.start();
        player.start(start);
        io.run_for(plan.duration + drain_time + 20s);
        add_stats(r, one[0]->stream.stats());
        add_playout(r, player.rounds());
        r.cpu_ns = cpu.count();
    } catch (const std::exception& e) {
        r.errors.add(e.what());
    }
    return write_all(result_fd, &r, sizeof r) ? 0 : 1;
}

/// The parent's children, ended by PID when the parent gives up early.
class children {
public:
    ~children()
    {
        for (const ::pid_t pid : pids_)
            ::kill(pid, SIGKILL);
        reap();
    }

    void add(::pid_t pid) { pids_.push_back(pid); }

    /// Waits for every child; returns how many did not exit 0.
    std::size_t reap()
    {
        std::size_t failed = 0;
        for (const ::pid_t pid : pids_) {
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
        }
        pids_.clear();
        return failed;
    }

private:
    std::vector<::pid_t> pids_;
};

int run_processes(const options& opt)
{
    const run_plan plan{opt};
    const auto n = static_cast<std::size_t>(opt.receivers);
    int ready[2], go[2], results[2];
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(go, O_CLOEXEC) != 0 ||
        ::pipe2(results, O_CLOEXEC) != 0)
        throw std::system_error{errno, std::generic_category(), "pipe2"};

    // Forked before the parent has an io_context, a socket or a thread.
    std::cout.flush();
    std::fflush(nullptr);
    children kids;
    for (std::size_t i = 0; i < n; ++i) {
        const ::pid_t pid = ::fork();
        if (pid < 0)
            throw std::system_error{errno, std::generic_category(),
                                    "fork of receiver process " + std::to_string(i + 1)};
        if (pid == 0) {
            ::close(ready[0]);
            ::close(go[1]);
            ::close(results[0]);
            ::_exit(receiver_process(plan, ready[1], go[0], results[1]));
        }
        kids.add(pid);
    }
    ::close(ready[1]);
    ::close(go[0]);
    ::close(results[1]);

    // Every receiver has joined before the first packet leaves.
    const auto setup_deadline = std::chrono::steady_clock::now() + 60s;
    for (std::size_t i = 0; i < n; ++i) {
        char r = 0;
        if (!read_all(ready[0], &r, 1, setup_deadline))
            throw std::runtime_error{"receiver processes did not get ready within 60 s (" +
                                     std::to_string(i) + " of " + std::to_string(n) + " did)"};
    }
    ::close(ready[0]);

    asio::io_context send_io{1};
    sender_side tx{send_io, plan.codec};
    asio::steady_timer stop_sending{send_io};
    bool sent_all = false;
    costs c;
    const thread_clock sender_thread = thread_clock::of_this_thread();
    const auto udp_before = audiocast_bench::udp_counters();
    const auto cpu_start = audiocast_bench::cpu_time();
    const auto machine_start = audiocast_bench::machine_busy_time();
    const auto sender_thread_start = sender_thread.now();
    ::close(go[1]); // go
    const auto start = std::chrono::steady_clock::now();
    stop_sending.expires_at(start + plan.duration);
    stop_sending.async_wait([&](std::error_code) {
        tx.runner.stop();
        c.process_cpu = audiocast_bench::cpu_time() - cpu_start;
        c.machine_busy = machine_busy_since(machine_start);
        c.wall = std::chrono::steady_clock::now() - start;
        c.sender_thread_cpu = sender_thread.now() - sender_thread_start;
        sent_all = true;
    });
    tx.runner.start();
    send_io.run_for(plan.duration + 20s);
    if (!sent_all) throw std::runtime_error{"the sender did not stop within 20 s of its end"};

    std::vector<receiver_summary> rx(n);
    const auto report_deadline = std::chrono::steady_clock::now() + drain_time + 60s;
    for (std::size_t i = 0; i < n; ++i)
        if (!read_all(results[0], &rx[i], sizeof rx[i], report_deadline))
            throw std::runtime_error{"only " + std::to_string(i) + " of " + std::to_string(n) +
                                     " receiver processes reported"};
    ::close(results[0]);
    if (const std::size_t failed = kids.reap(); failed != 0)
        std::cerr << "audiocast-bench-fanout: " << failed << " receiver processes failed\n";
    const auto kernel_drops =
        audiocast_bench::growth(udp_before, audiocast_bench::udp_counters(), "InErrors");
    for (const auto& r : rx)
        c.receiver_processes_cpu += std::chrono::nanoseconds{r.cpu_ns};
    c.receivers_cpu = c.receiver_processes_cpu;
    return report(opt, plan, rx, figures_of(tx), c, kernel_drops);
}

} // namespace

int main(int argc, char* argv[])
{
    options opt;
    try {
        const audiocast_bench::command_line args{
            argc,
            argv,
            {"receivers", "seconds", "ptime-ms", "csv", "threads", "block-ms", "streams",
             "receive-interval-ms", "driver", "sender-priority", "playout-priority"},
            {"processes"}};
        opt.receivers = args.integer("receivers", 1, 1, 10'000);
        if (args.has("processes") && opt.receivers > 2000)
            throw audiocast_bench::usage_error{"--receivers " + std::to_string(opt.receivers) +
                                               " with --processes is more than 2000 processes"};
        opt.seconds = args.number("seconds", 5, 0, 3600);
        opt.ptime_ms = args.integer("ptime-ms", 1, 1, 20);
        opt.csv = args.text("csv", "");
        opt.threads = args.integer("threads", 2, 1, 2);
        opt.block_ms = args.integer("block-ms", 0, 1, 20);
        opt.processes = args.has("processes");
        opt.streams = args.integer("streams", 1, 1, 1'000);
        opt.receive_interval_ms = args.integer("receive-interval-ms", 5, 0, 20);
        opt.sender_priority = args.integer("sender-priority", 0, 0, 99);
        opt.playout_priority = args.integer("playout-priority", 0, 0, 99);
        const std::string driver = args.text("driver", "thread");
        if (driver != "thread" && driver != "runner")
            throw audiocast_bench::usage_error{"--driver " + driver +
                                               " is neither thread nor runner"};
        opt.runner = driver == "runner";
        if (opt.processes && (args.has("threads") || args.has("driver")))
            throw audiocast_bench::usage_error{
                "--threads and --driver are for in-process runs; with --processes the sender "
                "has the parent process to itself"};
        if (args.has("threads") && !opt.runner)
            throw audiocast_bench::usage_error{"--threads is for --driver runner"};
        if ((opt.processes || opt.runner) &&
            (args.has("streams") || args.has("receive-interval-ms") ||
             args.has("sender-priority") || args.has("playout-priority")))
            throw audiocast_bench::usage_error{"--streams, --receive-interval-ms, "
                                               "--sender-priority and --playout-priority are for "
                                               "--driver thread"};
        if (opt.streams * opt.receivers > 10'000)
            throw audiocast_bench::usage_error{"--streams " + std::to_string(opt.streams) +
                                               " x --receivers " + std::to_string(opt.receivers) +
                                               " is more than 10000 receivers"};
        if (!audiocast::is_allowed_packet_time(std::chrono::milliseconds{opt.ptime_ms}))
            throw audiocast_bench::usage_error{"--ptime-ms " + std::to_string(opt.ptime_ms) +
                                               " is not one of " +
                                               audiocast::pcm_packet_times_text()};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-fanout: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why =
            audiocast_test::namespace_refusal("scripts/bench or tests/network/netns-run");
        !why.empty()) {
        std::cout << "SKIP: audiocast-bench-fanout: " << why << '\n';
        return 77;
    }
    try {
        return opt.processes ? run_processes(opt)
               : opt.runner  ? run_in_process(opt)
                             : run_threads(opt);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-fanout: " << e.what() << '\n';
        return 1;
    }
}
