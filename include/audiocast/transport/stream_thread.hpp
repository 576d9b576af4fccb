// audiocast — stream_thread: a stream driven by a thread of its own, at the
// fewest system calls a packet (docs/architecture.md, The edges).
//
// stream_runner (stream_runner.hpp) shares an Asio executor with the rest of a
// program; its timers cost two timerfd_settime(2) a packet besides the wait
// and the send. A stream_thread owns one thread that waits in one ppoll(2) on
// the stream's sockets, a wake-up descriptor and the next deadline:
//   - a sender makes two system calls a packet, the wait and the send; it reads
//     its listeners' reports only when their socket is readable;
//   - a receiver makes one wait and one batched receive a wake-up (recvmmsg(2)
//     through batch_receiver, concepts.hpp); nothing is read to learn that
//     nothing is there. With a receive interval it wakes at most once an
//     interval and takes every packet that came meanwhile in one batch: at 1 ms
//     packets and a 5 ms interval, a fifth of the wake-ups. Arrival times are
//     the kernel's (datagram_origin::waited), so latency and jitter figures
//     do not change; the interval must stay well inside the playout latency.
// How punctually a sender wakes is in the options: the thread's timer slack,
// an optional spin before each deadline, an optional real-time priority;
// benchmarks/pacing.cpp measures each with its CPU cost.
//
// Handlers (on_refill, on_error) and posted work run on the thread; so does
// everything the stream does but pull() and push(). Another thread reaches
// the stream only through post().
//
//   audiocast::stream_thread<audiocast::multicast_sender> thread{stream};
//   thread.on_refill([&](auto& s) { /* write more frames */ });
//   thread.start();
//   thread.post([](auto& s) { s.pause(); });
//   thread.stop();
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/detail/single_writer_counter.hpp>
#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/time.hpp>
#include <audiocast/transport/detail/deadline_wait.hpp>
#include <audiocast/transport/detail/readiness_set.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace audiocast {

/// Timer slack, in µs: how late the kernel may wake the thread.
inline constexpr setting_limit timer_slack_limit{
    "timer slack", 0, 10'000, "us", errc::invalid_thread_option, "0 keeps the system's, 50 us"};
/// How long before each deadline a sender stops sleeping and spins, in µs.
inline constexpr setting_limit spin_limit{
    "spin", 0, 2'000, "us", errc::invalid_thread_option, "each costs that much CPU a packet"};
/// How long a receiver lets packets gather between reads, in ms.
inline constexpr setting_limit receive_interval_limit{
    "receive interval",
    0,
    100,
    "ms",
    errc::invalid_thread_option,
    "it must stay well inside the playout latency"};
/// SCHED_FIFO priority; 0 is the normal scheduler.
inline constexpr setting_limit realtime_priority_limit{"real-time priority", 0, 99, "",
                                                       errc::invalid_thread_option};

/// How a stream_thread waits; each is checked when it starts.
struct stream_thread_options {
    /// The thread's timer slack (Linux PR_SET_TIMERSLACK): a wait may end this
    /// much late, so the kernel can merge wake-ups. 0 keeps the system's, 50 µs
    /// for a normal thread.
    std::chrono::nanoseconds timer_slack = std::chrono::microseconds{1};
    /// A sender wakes this long before each deadline and reads the clock until
    /// it comes: lateness falls to the clock's resolution, at the cost of up
    /// to `spin` of CPU a packet. 0: no spin.
    std::chrono::nanoseconds spin{};
    /// SCHED_FIFO priority 1-99 for the thread (it then preempts every normal
    /// thread, and its wake-up is not delayed by them); 0 keeps the normal
    /// scheduler. Refused without CAP_SYS_NICE or an rtprio limit:
    /// start() then fails with errc::thread_priority_refused.
    int realtime_priority = 0;
    /// A receiver, after reading, waits this long before it reads again, so
    /// that packets gather and one wake-up takes many. 0: every arrival wakes
    /// it. Keep it under a quarter of the playout latency: a packet is handed
    /// to the audio side up to this much later than it arrived.
    std::chrono::nanoseconds receive_interval{};
};

/// What a stream_thread has done, for a count of system calls a packet.
struct stream_thread_counts {
    /// Waits (ppoll calls), whatever ended them.
    std::uint64_t waits = 0;
    /// Waits that ended because the media transport was readable (a receiver).
    std::uint64_t media_wakeups = 0;
    /// Waits that ended because the control transport was readable.
    std::uint64_t control_wakeups = 0;
    /// Reads a receiver made at the end of a receive interval, without a wait
    /// for the socket.
    std::uint64_t gathered_reads = 0;
};

/// Drives one stream (multicast_stream::sender or ::receiver), or many of one
/// kind, on a thread of its own from start() to stop(). The streams must
/// outlive it; not copyable.
///
/// Many streams share the thread's waits, in one epoll set on Linux
/// (detail/readiness_set.hpp): senders whose deadlines fall within 20 µs send
/// in one wake-up (a schedule starts when the stream's first frames are
/// written), and receivers with a receive interval are all read at the end of
/// the same interval, so a thousand receivers cost a wait an interval and a
/// batched receive each (benchmarks/fanout.cpp). One slow stream delays the
/// others: its refill and its reads run on the same thread.
template <class Stream>
    requires descriptor_transport<typename Stream::transport_type>
class stream_thread {
    static constexpr bool is_sender = Stream::role() == decltype(Stream::role())::sender;

public:
    /// Sender: runs on the thread after each round a stream sends, so its
    /// source can write more.
    using refill_handler = std::function<void(Stream&)>;
    /// Runs on the thread when a transport reports an error. A stream whose
    /// socket cannot be waited on (closed) is reported once and dropped; a
    /// receiving thread with no stream left stops.
    using error_handler = std::function<void(std::error_code)>;

    explicit stream_thread(Stream& stream, const stream_thread_options& options = {})
        : streams_{driven{&stream}}, options_{options}
    {}
    /// One thread for every stream in `streams` (none may be null).
    explicit stream_thread(std::span<Stream* const> streams,
                           const stream_thread_options& options = {})
        : options_{options}
    {
        streams_.reserve(streams.size());
        for (Stream* s : streams)
            streams_.push_back(driven{s});
    }
    stream_thread(const stream_thread&) = delete;
    stream_thread& operator=(const stream_thread&) = delete;
    ~stream_thread() { stop(); }

    /// Set before start().
    void on_refill(refill_handler h) { refill_ = std::move(h); }
    void on_error(error_handler h) { error_ = std::move(h); }

    /// Checks the options and starts the thread; a no-op while it runs. On
    /// failure no thread runs and `ec` says why (an option out of range, a
    /// real-time priority the system refused, no descriptor left).
    void start(std::error_code& ec) { (void)start_thread(ec); }

    /// Throwing form: std::system_error that names the option and its limit,
    /// or why the system refused the priority.
    void start()
    {
        std::error_code ec;
        const std::string what = start_thread(ec);
        if (ec) detail::throw_error(ec, what);
    }

    /// Stops the thread after the round it is in, and waits for it. Work
    /// still posted is dropped. Call from any thread but this one's handlers.
    void stop() noexcept
    {
        if (!thread_.joinable()) return;
        stopping_.store(true, std::memory_order_relaxed);
        wake_.notify();
        thread_.join();
        std::lock_guard lock{posted_mutex_};
        posted_.clear();
    }

    [[nodiscard]] bool running() const noexcept { return thread_.joinable(); }

    /// What the thread has done since it was made; from any thread.
    [[nodiscard]] stream_thread_counts counts() const noexcept
    {
        // Relaxed: statistics, written by the thread alone.
        return {waits_.load(std::memory_order_relaxed),
                media_wakeups_.load(std::memory_order_relaxed),
                control_wakeups_.load(std::memory_order_relaxed),
                gathered_reads_.load(std::memory_order_relaxed)};
    }

    /// Runs `work(stream)` on the thread, for each stream it drives, at its
    /// next wake-up, which this brings about at once. From any thread; it
    /// allocates and takes a lock, so not from an audio callback (that one
    /// has push() and pull()).
    void post(std::function<void(Stream&)> work)
    {
        {
            std::lock_guard lock{posted_mutex_};
            posted_.push_back(std::move(work));
        }
        wake_.notify();
    }

private:
    struct driven {
        Stream* stream;
        bool waited_on = false; ///< its media socket is in the set
        bool gathering = false; ///< a receiver read at the end of each interval
        bool due = false;       ///< a sender with work in this round
    };

    // Tags in the readiness set: 0 the wake-up descriptor, then two a stream.
    static constexpr std::uint32_t wake_tag = 0;
    static std::uint32_t media_tag(std::size_t i) noexcept
    {
        return static_cast<std::uint32_t>(1 + 2 * i);
    }
    static std::uint32_t control_tag(std::size_t i) noexcept
    {
        return static_cast<std::uint32_t>(2 + 2 * i);
    }

    std::string start_thread(std::error_code& ec)
    {
        ec.clear();
        if (thread_.joinable()) return {};
        using us = std::chrono::duration<double, std::micro>;
        for (const setting_problem& p :
             {timer_slack_limit.check(us{options_.timer_slack}.count()),
              spin_limit.check(us{options_.spin}.count()),
              realtime_priority_limit.check(options_.realtime_priority),
              receive_interval_limit.check(
                  std::chrono::duration<double, std::milli>{options_.receive_interval}.count())}) {
            if (!p) continue;
            ec = make_error_code(p.code);
            return p.describe();
        }
        ready_.emplace(); // afresh: a restart adds every descriptor again
        if (!wake_.valid() || !ready_->valid()) {
            ec = std::make_error_code(std::errc::too_many_files_open);
            return "cannot make the stream thread's wake-up or readiness descriptor";
        }
        stopping_.store(false, std::memory_order_relaxed);
        thread_ = std::thread{[this] { run(); }};
        if (options_.realtime_priority > 0) {
            std::string what;
            ec = detail::set_realtime_priority(thread_, options_.realtime_priority, what);
            if (ec) {
                const std::error_code refused = ec;
                stop();
                ec = refused;
                return what;
            }
        }
        return {};
    }

    /// Puts every descriptor in the set; a stream whose media socket cannot
    /// be is reported and dropped.
    void add_descriptors()
    {
        if (const std::error_code ec = ready_->add(wake_.fd(), wake_tag, true)) report(ec);
        for (std::size_t i = 0; i < streams_.size(); ++i) {
            driven& d = streams_[i];
            d.waited_on = d.gathering = false;
            if constexpr (!is_sender) {
                if (const std::error_code ec =
                        ready_->add(d.stream->transport().native_handle(), media_tag(i), true)) {
                    report(ec);
                    continue;
                }
                d.waited_on = true;
                ++live_;
            } else {
                d.waited_on = true;
            }
            if (d.stream->has_control()) {
                if (const std::error_code ec = ready_->add(
                        d.stream->control_transport().native_handle(), control_tag(i), true))
                    report(ec); // media goes on without reports
            }
        }
    }

    void run()
    {
        detail::set_timer_slack(options_.timer_slack);
        const detail::fine_system_timer fine_timer; // Windows: 1 ms ticks while the thread runs
        if (streams_.empty()) return;
        live_ = 0;
        add_descriptors();
        const auto now = [this] { return streams_.front().stream->clock().now(); };

        time_point next_flush = now() + report_flush;
        // Receivers with a receive interval are read on a timer while packets
        // keep coming, and waited for again when a read finds none.
        std::size_t gathering = 0;
        time_point read_at{};
        // Work posted before start() comes first (a sender paused before it
        // sends anything sends nothing).
        run_posted();
        if constexpr (is_sender) send_due(now());
        while (!stopping_.load(std::memory_order_relaxed)) {
            if constexpr (!is_sender) {
                if (live_ == 0) return; // every socket closed: nothing to wait for
            }
            time_point deadline;
            if constexpr (is_sender)
                deadline = next_send_deadline(now());
            else
                deadline = gathering > 0 ? std::min(next_flush, read_at) : next_flush;
            const time_point wake_at = is_sender ? deadline - options_.spin : deadline;
            bool posted = false;
            const int ready =
                ready_->wait_for(wake_at - now(), [&](std::uint32_t tag, bool closed) {
                    if (tag == wake_tag) {
                        posted = true;
                        return;
                    }
                    const std::size_t i = (tag - 1) / 2;
                    if (i >= streams_.size()) return;
                    Stream& s = *streams_[i].stream;
                    if (tag == media_tag(i)) {
                        if (closed) {
                            drop_media(i);
                            return;
                        }
                        bump(media_wakeups_);
                        std::error_code ec;
                        if constexpr (!is_sender) {
                            s.poll_media(ec);
                            if (options_.receive_interval > std::chrono::nanoseconds::zero()) {
                                if (gathering == 0) read_at = now() + options_.receive_interval;
                                if (start_gathering(i)) ++gathering;
                            }
                        }
                        if (ec) report(ec);
                    } else if (closed) {
                        ready_->remove(s.control_transport().native_handle(), tag);
                        report(std::make_error_code(std::errc::bad_file_descriptor));
                    } else {
                        bump(control_wakeups_);
                        std::error_code ec;
                        s.poll_control(ec);
                        if (ec) report(ec);
                    }
                });
            bump(waits_);
            if (ready < 0) {
                report(detail::socket_error(detail::last_socket_error()));
                return;
            }
            if (posted) run_posted();
            if constexpr (is_sender) {
                if (now() < wake_at) continue; // woken by a descriptor
                while (now() < deadline) {
                    // The spin: the clock is read from user space (vDSO).
                }
                send_due(now());
                // Streams whose deadlines follow within a few µs (they started
                // a few µs apart) are waited for here: a wake-up costs more.
                for (time_point next = next_send_deadline(now());
                     next - now() <= send_together_within; next = next_send_deadline(now())) {
                    while (now() < next) {
                    }
                    send_due(now());
                }
            } else {
                if (gathering > 0 && now() >= read_at) {
                    for (std::size_t i = 0; i < streams_.size(); ++i) {
                        if (!streams_[i].gathering) continue;
                        bump(gathered_reads_);
                        std::error_code ec;
                        if (streams_[i].stream->poll_media(ec) == 0) {
                            // None came: wait for the socket again.
                            if (stop_gathering(i)) --gathering;
                        }
                        if (ec) report(ec);
                    }
                    read_at = now() + options_.receive_interval;
                }
                if (now() >= next_flush) {
                    for (driven& d : streams_) {
                        std::error_code ec;
                        d.stream->send_reports(ec);
                        if (ec) report(ec);
                    }
                    next_flush = now() + report_flush;
                }
            }
        }
    }

    /// Sends for every stream whose deadline has come (one with nothing
    /// queued looks for frames pushed meanwhile): first what is due, then
    /// every refill, then what the refills made due. A stream's schedule
    /// starts when its first frames are written, so streams whose first
    /// refills run together keep deadlines that fall together, not a send
    /// apart.
    void send_due(time_point t)
        requires is_sender
    {
        std::error_code ec;
        for (driven& d : streams_) {
            const std::optional<time_point> due = d.stream->next_deadline();
            d.due = !due || *due <= t;
            if (!d.due) continue;
            d.stream->poll_media(ec);
            if (ec) report(ec);
        }
        if (!refill_) return;
        for (driven& d : streams_)
            if (d.due) refill_(*d.stream);
        for (driven& d : streams_) {
            if (!d.due) continue;
            d.stream->poll_media(ec); // what the refill made due now
            if (ec) report(ec);
        }
    }

    /// The earliest deadline of any sender; paused, only post() (which wakes
    /// the thread) can bring work, and a sender with nothing queued looks for
    /// frames a capture callback pushed once a millisecond.
    time_point next_send_deadline(time_point now) const
        requires is_sender
    {
        std::optional<time_point> earliest;
        bool idle_unpaused = false;
        for (const driven& d : streams_) {
            if (const std::optional<time_point> due = d.stream->next_deadline())
                earliest = earliest ? std::min(*earliest, *due) : *due;
            else if (!d.stream->paused())
                idle_unpaused = true;
        }
        const time_point fallback = now + (idle_unpaused ? idle : paused);
        return earliest ? std::min(*earliest, fallback) : fallback;
    }

    /// A receiver stops waiting for its socket until a read finds it empty;
    /// false if it could not (it is then waited for as before).
    bool start_gathering(std::size_t i)
    {
        driven& d = streams_[i];
        if (d.gathering) return false;
        if (const std::error_code ec =
                ready_->watch(d.stream->transport().native_handle(), media_tag(i), false)) {
            report(ec);
            return false;
        }
        d.gathering = true;
        return true;
    }

    bool stop_gathering(std::size_t i)
    {
        driven& d = streams_[i];
        if (!d.gathering) return false;
        d.gathering = false;
        if (const std::error_code ec =
                ready_->watch(d.stream->transport().native_handle(), media_tag(i), true)) {
            drop_media(i); // it can no longer be waited on
            report(ec);
        }
        return true;
    }

    /// A media socket that closed: every wait would end at once. Say so once
    /// and stop waiting on it.
    void drop_media(std::size_t i)
    {
        driven& d = streams_[i];
        if (!d.waited_on) return;
        d.waited_on = false;
        ready_->remove(d.stream->transport().native_handle(), media_tag(i));
        if (live_ > 0) --live_;
        report(std::make_error_code(std::errc::bad_file_descriptor));
    }

    void run_posted()
    {
        wake_.drain();
        std::vector<std::function<void(Stream&)>> work;
        {
            std::lock_guard lock{posted_mutex_};
            work.swap(posted_);
        }
        for (auto& w : work)
            for (driven& d : streams_)
                w(*d.stream);
    }

    // The counters are the thread's alone to write.
    static void bump(std::atomic<std::uint64_t>& counter) noexcept
    {
        detail::add_from_single_writer(counter);
    }

    void report(std::error_code ec)
    {
        if (error_) error_(ec);
    }

    // How often a receiver sends the reports pull() wrote (pull() cannot wake
    // the thread without a system call), and how often an idle sender looks
    // for frames a capture callback pushed.
    static constexpr std::chrono::nanoseconds report_flush = std::chrono::milliseconds{100};
    static constexpr std::chrono::nanoseconds idle = std::chrono::milliseconds{1};
    static constexpr std::chrono::nanoseconds paused = std::chrono::milliseconds{100};
    // Less than a wake-up costs (20-35 µs of CPU on the VM in the README).
    static constexpr std::chrono::nanoseconds send_together_within = std::chrono::microseconds{20};

    std::vector<driven> streams_;
    stream_thread_options options_;
    refill_handler refill_;
    error_handler error_;
    detail::wake_signal wake_;
    std::optional<detail::readiness_set> ready_;
    std::size_t live_ = 0; ///< receivers whose socket is still waited on
    std::atomic<bool> stopping_{false};
    std::mutex posted_mutex_;
    std::vector<std::function<void(Stream&)>> posted_;
    std::atomic<std::uint64_t> waits_{0};
    std::atomic<std::uint64_t> media_wakeups_{0};
    std::atomic<std::uint64_t> control_wakeups_{0};
    std::atomic<std::uint64_t> gathered_reads_{0};
    std::thread thread_;
};

} // namespace audiocast
