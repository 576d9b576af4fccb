// audiocast — stream_runner: a stream driven by an Asio executor.
//
// A sender's packets leave at their absolute deadlines (an asio::steady_timer
// set with expires_at, so error never accumulates); a receiver takes datagrams
// as its transport becomes readable, and its RTCP as the control transport
// does. Everything runs on the executor given, so one thread or a strand
// serialises it; the audio side meets the stream through pull()/push(), which
// are real-time safe (basic_multicast_stream.hpp). The runner knows the
// transport only through readiness_waiting_transport (concepts.hpp), so any
// transport that can say when it is readable can be driven by it.
//
//   asio::io_context io;
//   audiocast::stream_runner runner{stream, io.get_executor()};
//   runner.on_refill([&](auto& s) { /* write more frames */ });
//   runner.start();
//   io.run();
#pragma once

#include <audiocast/detail/config.hpp>

#include <audiocast/concepts.hpp>
#include <audiocast/time.hpp>
#include <audiocast/transport/udp_multicast.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace audiocast {

/// Drives a stream over a readiness_waiting_transport (multicast_stream, say)
/// on an executor until stop(). Not copyable; the stream must outlive it. Handlers run on
/// `executor`; so must every call to the runner (start, stop, wake, destruction) and to the stream
/// other than pull() and push(): neither is safe to call from another thread.
template <class Stream>
    requires readiness_waiting_transport<typename Stream::transport_type>
class stream_runner {
    static constexpr bool is_sender = Stream::role() == decltype(Stream::role())::sender;

public:
    /// Called on the executor after each round of sending, so the source can
    /// write more (a file or a tone writes until the queue is full).
    using refill_handler = std::function<void(Stream&)>;
    /// Called on the executor when the transport reports an error. A receiver
    /// whose wait for readability fails (its socket is closed) stops after
    /// reporting it, rather than fail the same way in a loop.
    using error_handler = std::function<void(std::error_code)>;

    stream_runner(Stream& stream, asio::any_io_executor executor)
        : stream_{stream}, executor_{std::move(executor)}, timer_{executor_},
          report_timer_{executor_}
    {}

    stream_runner(const stream_runner&) = delete;
    stream_runner& operator=(const stream_runner&) = delete;
    ~stream_runner()
    {
        *alive_ = false;
        stop();
    }

    void on_refill(refill_handler h) { refill_ = std::move(h); }
    void on_error(error_handler h) { error_ = std::move(h); }

    /// Starts driving the stream; a no-op while it runs.
    void start()
    {
        if (running_) return;
        running_ = true;
        ++run_;
        if constexpr (is_sender) {
            asio::post(executor_, [this, alive = alive_, run = run_] {
                if (*alive && run == run_) send_round();
            });
            // Listeners' reports are read as they come, so their arrival
            // times (and the round trips from them) are not a round late.
            if (stream_.has_control()) wait_control_readable();
        } else {
            wait_readable();
            if (stream_.has_control()) {
                wait_control_readable();
                arm_report_flush();
            }
        }
    }

    /// Stops after the handler running now; cancels waits.
    void stop() noexcept
    {
        running_ = false;
        ++run_; // completions already queued belong to the old run and do nothing
        timer_.cancel();
        report_timer_.cancel();
        stream_.transport().cancel_waits();
        if (stream_.has_control()) stream_.control_transport().cancel_waits();
    }

    /// Re-arms a sender whose queue was empty after the application wrote.
    /// Call on the executor.
    void wake()
    {
        if constexpr (is_sender)
            if (running_) arm(stream_.next_deadline());
    }

private:
    void send_round()
    {
        if (!running_) return;
        std::error_code ec;
        stream_.poll_media(ec);
        if (ec && error_) error_(ec);
        if (refill_) {
            refill_(stream_);
            stream_.poll_media(ec); // what the refill made due now
            if (ec && error_) error_(ec);
        }
        arm(stream_.next_deadline());
    }

    void arm(std::optional<time_point> deadline)
    {
        const auto when = deadline ? *deadline : stream_.clock().now() + idle_;
        timer_.expires_at(std::chrono::steady_clock::time_point{
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                when.time_since_epoch())});
        timer_.async_wait([this, alive = alive_, run = run_](std::error_code ec) {
            if (!*alive || run != run_ || ec == asio::error::operation_aborted) return;
            send_round();
        });
    }

    void wait_readable()
    {
        if (!running_) return;
        stream_.transport().async_wait_readable(
            [this, alive = alive_, run = run_](std::error_code ec) {
                if (!*alive || run != run_ || ec == asio::error::operation_aborted) return;
                if (ec) {
                    // The wait itself failed (a closed socket, say): another wait
                    // would fail at once, and again, and hold the executor. Report
                    // it once and stop; start() tries again. Reported, as the
                    // transport reports its own errors, in std::system_category so
                    // that it compares equal to std::errc.
                    running_ = false;
                    if (error_) error_(detail::from_asio(ec));
                    return;
                }
                std::error_code poll_ec;
                stream_.poll_media(poll_ec);
                if (poll_ec && error_) error_(poll_ec);
                wait_readable();
            });
    }

    // RTCP: the group's reports as they arrive, and, for a receiver, every
    // report_flush, the receiver reports pull() wrote on the audio thread
    // (which cannot wake the executor without a system call).
    void wait_control_readable()
    {
        if (!running_) return;
        stream_.control_transport().async_wait_readable(
            [this, alive = alive_, run = run_](std::error_code ec) {
                if (!*alive || run != run_ || ec == asio::error::operation_aborted) return;
                if (ec) {
                    if (error_) error_(detail::from_asio(ec));
                    return; // the control socket failed; media goes on
                }
                std::error_code poll_ec;
                stream_.poll_control(poll_ec);
                if (poll_ec && error_) error_(poll_ec);
                wait_control_readable();
            });
    }

    void arm_report_flush()
    {
        report_timer_.expires_after(report_flush);
        report_timer_.async_wait([this, alive = alive_, run = run_](std::error_code ec) {
            if (!*alive || run != run_ || ec == asio::error::operation_aborted || !running_) return;
            std::error_code poll_ec;
            stream_.send_reports(poll_ec);
            if (poll_ec && error_) error_(poll_ec);
            arm_report_flush();
        });
    }

    static constexpr std::chrono::milliseconds report_flush{100};

    Stream& stream_;
    asio::any_io_executor executor_;
    asio::steady_timer timer_;
    asio::steady_timer report_timer_;
    refill_handler refill_;
    error_handler error_;
    // How often an idle sender looks for new frames: a capture source's
    // push() cannot wake the executor without a system call.
    static constexpr std::chrono::nanoseconds idle_ = std::chrono::milliseconds{1};
    bool running_ = false;
    std::uint64_t run_ = 0; ///< which start() a queued completion belongs to
    // Handlers still queued after destruction see false and do nothing.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace audiocast
