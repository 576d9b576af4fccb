// audiocast — the receiving end of a stream: a receiver_session joined to a
// transport and a clock. Named basic_multicast_stream<Transport, Codec,
// Clock>::receiver (basic_multicast_stream.hpp); multicast_stream::receiver
// is the real one, loopback_stream::receiver the one for tests.
//
//   audiocast::multicast_stream::receiver rx{std::move(media), std::move(control),
//                                            audiocast::pcm_codec{}, {}};
//   rx.poll();                                  // network thread: when readable
//   rx.pull(std::span<std::int16_t>{out});     // audio thread: plays out
//   auto s = rx.stats();                        // another thread: the figures
//
// Two threads share a receiver: a network thread calls poll() (and leave());
// the audio thread calls pull() alone, which takes no lock, allocates nothing
// and makes no system call (the clock is read through the vDSO). They meet in
// preallocated lock-free rings: poll() copies each datagram into the inbox
// with its arrival time, and pull() feeds the inbox to the session and plays
// out. What could never be the stream, and under a flood anything but the
// source being played, is kept out of the inbox (stream/inbox_admission.hpp). The session
// (receiver()) belongs to the audio thread once pull() is in use; stats() is the snapshot the last
// pull() published, safe to read from one other thread at a time.
#pragma once

#include <audiocast/detail/datagram_ring.hpp>
#include <audiocast/detail/single_writer_counter.hpp>
#include <audiocast/detail/triple_buffer.hpp>
#include <audiocast/error.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/stream/inbox_admission.hpp>
#include <audiocast/stream/stream_base.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast {

template <class Transport, class Codec = pcm_codec, class Clock = steady_clock>
class basic_multicast_receiver : public detail::stream_base<Transport, Codec, Clock> {
    using base = detail::stream_base<Transport, Codec, Clock>;

public:
    [[nodiscard]] static constexpr stream_role role() noexcept { return stream_role::receiver; }

    /// A receiving stream without RTCP.
    basic_multicast_receiver(Transport transport, Codec codec, Clock clock,
                             const receiver_config& config = {})
        : base{std::move(transport), std::nullopt, std::move(clock)},
          session_{std::move(codec), config}, stats_interval_{config.stats_interval}
    {
        init();
    }

    /// A receiving stream with RTCP on `control`: the source's sender
    /// reports reach the session (latency without the send-time extension,
    /// the round trip, BYE), and pull() writes receiver reports on schedule,
    /// which poll() sends. `control` must accept datagrams from every source.
    basic_multicast_receiver(Transport transport, Transport control, Codec codec, Clock clock,
                             const receiver_config& config = {})
        : base{std::move(transport), std::move(control), std::move(clock)},
          session_{std::move(codec), config}, stats_interval_{config.stats_interval}
    {
        init();
        report_scratch_.resize(receiver_session<Codec>::rtcp_report_bytes());
        control_inbox_ =
            std::make_unique<detail::datagram_ring>(control_slots, base::max_control_bytes);
        control_refused_ = std::make_unique<std::atomic<std::uint64_t>>(0);
        outbox_ = std::make_unique<detail::datagram_ring>(control_slots, base::max_control_bytes);
    }

    [[nodiscard]] const Codec& codec() const noexcept { return session_.codec(); }
    [[nodiscard]] const audio_format& format() const noexcept { return codec().format(); }

    /// Any thread: how long after pull() returns the audio device plays what
    /// it returned (its output latency, as the audio API reports it; set it
    /// again when that changes). Synchronized playout pulls each frame that
    /// much ahead of the common timeline (receiver_config::synchronized_playout).
    void set_output_latency(std::chrono::nanoseconds latency) noexcept
    {
        output_latency_->store(latency.count(), std::memory_order_relaxed);
    }

    /// Any thread: the device's output stopped and started again (the audio
    /// API reported an underflow), so the time its pulls are heard moved.
    /// Synchronized playout places itself on the common timeline again at
    /// the next pull (receiver_session::restart_output()).
    void output_restarted() noexcept { output_restarted_->store(true, std::memory_order_relaxed); }

    /// The session. It belongs to the audio thread once pull() is in use.
    [[nodiscard]] receiver_session<Codec>& receiver() noexcept { return session_; }
    [[nodiscard]] const receiver_session<Codec>& receiver() const noexcept { return session_; }

    /// Audio thread: takes what poll() handed over, then plays out at the
    /// clock's now(); see receiver_session::pull(). Real-time safe.
    template <pcm_sample T>
    std::size_t pull(std::span<T> out) noexcept
    {
        auto& r = session_;
        // A few control datagrams a pull, so a flood of them cannot take the
        // audio thread's time; the rest wait for the next pull (reports come
        // seconds apart, clock questions and answers a few hundred a second
        // at most, so a real session does not queue them). poll() has
        // already dropped what is not RTCP.
        if (control_inbox_)
            for (std::size_t i = 0; i < max_control_per_pull; ++i)
                if (!control_inbox_->consume_one([&r](std::span<const std::byte> datagram,
                                                      const detail::datagram_meta& meta) noexcept {
                        r.on_control(datagram, meta.arrival, meta.arrival_wall, meta.from);
                    }))
                    break;
        while (inbox_->consume_one(
            [&r](std::span<const std::byte> datagram, const detail::datagram_meta& meta) noexcept {
                r.on_datagram(datagram, meta.arrival, meta.arrival_wall, meta.from, meta.rebuilt);
            })) {
        }
        // The network side keeps room in the inbox for the source now played.
        admission_->publish_source(r.source(), r.source_endpoint());
        r.set_output_latency(
            std::chrono::nanoseconds{output_latency_->load(std::memory_order_relaxed)});
        if (output_restarted_->exchange(false, std::memory_order_relaxed)) r.restart_output();
        const time_point now = this->clock_.now();
        const std::size_t n = r.pull(out, now);
        // A receiver report that fell due is written here, where the session
        // lives, and handed to poll() to send: no system call on this thread.
        if (outbox_) {
            std::error_code report_ec;
            if (const std::size_t size = r.write_report(now, report_scratch_, report_ec); size > 0)
                outbox_->push(std::span<const std::byte>{report_scratch_.data(), size}, now,
                              wall_time{});
        }
        // Counters every time, or every stats_interval (receiver_config); the
        // percentiles walk two histograms, so they are refreshed at most every
        // stats_refresh of stream time.
        if (stats_interval_ > std::chrono::nanoseconds::zero()) {
            if (published_ever_ && now - published_at_ < stats_interval_) return n;
            published_ever_ = true;
            published_at_ = now;
        }
        if (now - percentiles_at_ >= stats_refresh) {
            r.percentiles(percentiles_);
            percentiles_at_ = now;
        }
        receiver_stats& s = published_->write_buffer();
        s = percentiles_;
        r.counters(s);
        s.packets_malformed += inbox_->dropped_too_big() + admission_->malformed();
        s.packets_foreign += admission_->shed();
        s.packets_overrun = inbox_->dropped_full();
        // Relaxed: a statistic; it orders nothing else.
        s.socket_overflow = socket_overflow_->load(std::memory_order_relaxed);
        if (control_inbox_) {
            s.control_overrun = control_inbox_->dropped_full();
            s.control_malformed += control_refused_->load(std::memory_order_relaxed);
        }
        published_->publish();
        return n;
    }

    /// The figures as of the last pull(), or at most receiver_config's
    /// stats_interval older; the latency and IPDV percentiles at most
    /// stats_refresh older. Call from one thread at a time (it
    /// may be the audio thread or another one).
    [[nodiscard]] receiver_stats stats() const { return published_->read(); }

    /// How often pull() recomputes the percentiles it publishes.
    static constexpr std::chrono::nanoseconds stats_refresh = std::chrono::milliseconds{20};

    /// A receiver is driven by arrivals, not deadlines: always nullopt.
    [[nodiscard]] std::optional<time_point> next_deadline() const noexcept { return std::nullopt; }

    /// Takes every datagram waiting in the transport (a bounded number) and
    /// the control transport's RTCP, and sends the reports pull() wrote.
    /// Returns the media datagrams moved. Transport errors stop the poll and
    /// are reported through ec; would_block is not an error.
    std::size_t poll(std::error_code& ec) noexcept
    {
        const std::size_t received = poll_media(ec);
        // RTCP goes on when media fails (its socket stays readable, and an
        // unread one would wake the runner again at once); the first error is
        // the one reported.
        std::error_code control_ec;
        poll_control(control_ec);
        if (!ec) ec = control_ec;
        return received;
    }

    /// poll()'s first half, for a loop that knows the media transport is
    /// readable: takes the datagrams waiting (a bounded number), with a
    /// batch_receiver one system call per batch, and no call that is
    /// expected to find nothing. Returns the datagrams moved.
    std::size_t poll_media(std::error_code& ec) noexcept
    {
        ec.clear();
        if constexpr (source_following_transport<Transport>) follow_played_source();
        if constexpr (batch_receiver<Transport>)
            return receive_batches(ec);
        else
            return receive_waiting(ec);
    }

    /// poll()'s second half, for a loop that knows the control transport is
    /// readable: reads the group's RTCP, then sends what send_reports() sends.
    void poll_control(std::error_code& ec) noexcept
    {
        ec.clear();
        if (this->control_) control(ec);
    }

    /// Sends the receiver reports pull() wrote; no read. A loop calls it on a
    /// timer (pull() cannot wake it without a system call).
    void send_reports(std::error_code& ec) noexcept
    {
        ec.clear();
        if (this->control_) flush_reports(ec);
    }

    std::size_t poll()
    {
        std::error_code ec;
        const std::size_t n = poll(ec);
        if (ec) detail::throw_error(ec, "stream poll failed");
        return n;
    }

    /// Says BYE on the control transport (RFC 3550 §6.6), so the sender
    /// learns at once that this listener left. Call it once, when done, on
    /// the thread that calls poll() (they share the control socket and
    /// buffer). Does nothing without a control transport, or before this
    /// receiver's first report went out (nobody knows its SSRC, §6.3.7).
    void leave(std::error_code& ec, std::string_view reason = {}) noexcept
    {
        ec.clear();
        if (!this->control_ || !reported_) return;
        // The session belongs to the audio thread: its identity is fixed,
        // and whether it reported is known here, where reports are sent.
        const std::size_t size = receiver_reports::bye_for(session_.own_ssrc(), session_.cname(),
                                                           this->control_packet_, ec, reason);
        if (ec || size == 0) return;
        this->send_control(size, ec);
    }

    void leave(std::string_view reason = {})
    {
        std::error_code ec;
        leave(ec, reason);
        if (ec) detail::throw_error(ec, "sending RTCP BYE failed");
    }

private:
    static constexpr std::size_t max_datagram_bytes = 65'536;
    // Synchronized playout adds every member's clock questions and the
    // source's answers (hundreds a second at most, sender_clock.hpp).
    static constexpr std::size_t control_slots = 64;
    static constexpr std::size_t max_control_per_pull = 16;

    // The largest payload a packet of the codec may carry: up to its MTU when
    // it says (another sender's packets may be longer than ours would be).
    static std::size_t largest_payload(const Codec& c) noexcept
    {
        if constexpr (requires { c.max_payload_bytes(); })
            return std::max(c.payload_bytes(), c.max_payload_bytes());
        else
            return c.payload_bytes();
    }

    void init()
    {
        // Room for the datagrams of twice the latency plus 100 ms at 1 ms
        // packets, each up to the MTU with room for headers the codec never
        // writes (CSRCs, other extensions).
        const auto latency_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(session_.config().latency);
        const auto slots = static_cast<std::size_t>(2 * latency_ms.count() + 100);
        const std::size_t max_bytes =
            std::max<std::size_t>(2048, largest_payload(session_.codec()) + 256);
        inbox_ = std::make_unique<detail::datagram_ring>(slots, max_bytes);
        if constexpr (batch_receiver<Transport>) {
            // A datagram that does not fit a slot would not fit the inbox either.
            batch_.allocate(max_bytes);
        } else {
            packet_.resize(max_datagram_bytes);
        }
        admission_ = std::make_unique<detail::inbox_admission>(session_.screen());
        socket_overflow_ = std::make_unique<std::atomic<std::uint64_t>>(0);
        published_ = std::make_unique<detail::triple_buffer<receiver_stats>>();
        output_latency_ = std::make_unique<std::atomic<std::int64_t>>(0);
        output_restarted_ = std::make_unique<std::atomic<bool>>(false);
    }

    // The group's reports in, to the audio side; the reports pull() wrote, out.
    void control(std::error_code& ec) noexcept
    {
        // Only RTCP crosses to the audio side, so that junk on the control
        // port cannot fill the hand-off and push out the source's reports
        // and BYE; it is counted here (empty stands for too big to be one).
        this->read_control(
            ec, [this](std::span<const std::byte> datagram, const datagram_origin& origin) {
                std::error_code invalid;
                (void)rtcp::parse_compound(datagram, invalid, [](const rtcp::packet_view&) {});
                if (invalid) {
                    control_refused_->fetch_add(1, std::memory_order_relaxed);
                    return;
                }
                control_inbox_->push(datagram, this->clock_.now() - origin.waited,
                                     this->clock_.wall_now() - origin.waited, origin.from);
            });
        if (ec) return;
        flush_reports(ec);
    }

    void flush_reports(std::error_code& ec) noexcept
    {
        const time_point now = this->clock_.now();
        while (outbox_->consume_one([this, now, &ec](std::span<const std::byte> report,
                                                     const detail::datagram_meta& meta) noexcept {
            // The report waited here since pull() wrote it: its DLSR must say so.
            std::copy(report.begin(), report.end(), this->control_packet_.begin());
            const std::span<std::byte> copy{this->control_packet_.data(), report.size()};
            rtcp::add_report_delay(copy, now - meta.arrival);
            std::error_code send_ec;
            this->control_->send(copy, send_ec);
            if (send_ec && !ec) ec = send_ec;
            if (!send_ec) reported_ = true;
        })) {
        }
    }

    // One system call a batch, the clock read once a batch.
    std::size_t receive_batches(std::error_code& ec) noexcept
    {
        return batch_.drain(this->transport_, base::max_datagrams_per_poll, ec,
                            [this](std::span<const received_datagram> batch) {
                                const time_point now = this->clock_.now();
                                const wall_time wall = this->clock_.wall_now();
                                for (const received_datagram& d : batch) {
                                    if (d.truncated) { // it cannot be a packet of ours
                                        admission_->refuse_malformed();
                                        continue;
                                    }
                                    take(std::span<const std::byte>{d.buffer.data(), d.size},
                                         d.origin, now, wall);
                                }
                            });
    }

    std::size_t receive_waiting(std::error_code& ec) noexcept
    {
        std::size_t received = 0;
        // Bounded, so a flood on one stream cannot hold a thread that serves
        // others; the socket stays readable and the next poll() goes on.
        while (received < base::max_datagrams_per_poll) {
            datagram_origin origin;
            const std::size_t size = this->receive_from(this->transport_, packet_, origin, ec);
            if (ec == std::errc::operation_would_block) {
                ec.clear();
                break;
            }
            if (ec == std::errc::message_size) { // truncated: it cannot be a packet of ours
                ec.clear();
                admission_->refuse_malformed();
                ++received;
                continue;
            }
            if (ec) break;
            ++received;
            take(std::span<const std::byte>{packet_.data(), size}, origin, this->clock_.now(),
                 this->clock_.wall_now());
        }
        return received;
    }

    // A transport that keeps one source's packets (FEC) keeps the one the
    // session plays, as the audio side last published it.
    void follow_played_source() noexcept
    {
        const detail::source_identity& played = admission_->played_source();
        if (!played.known || played == followed_) return;
        followed_ = played;
        this->transport_.follow_source(played.ssrc, played.from);
    }

    // The socket's drop count is its total since it opened, modulo 2^32.
    void count_socket_drops(std::uint32_t dropped_before) noexcept
    {
        const auto more = static_cast<std::uint32_t>(dropped_before - socket_drops_seen_);
        if (more == 0) return;
        socket_drops_seen_ = dropped_before;
        detail::add_from_single_writer(*socket_overflow_, more); // the network side alone
    }

    // One datagram read at `now`, to the audio side if the admission lets it.
    void take(std::span<const std::byte> datagram, const datagram_origin& origin, time_point now,
              wall_time wall) noexcept
    {
        if (origin.dropped_before) count_socket_drops(*origin.dropped_before);
        if (!admission_->admit(datagram, origin.from, inbox_->size_approx(), inbox_->capacity()))
            return; // counted by the admission
        // Dated when it arrived, not when it was read: a backlog read at
        // once (a listener that joined before it was ready) is old.
        // A refusal (inbox full or datagram too big) is counted by the inbox.
        inbox_->push(datagram, now - origin.waited, wall - origin.waited, origin.from,
                     origin.rebuilt);
    }

    receiver_session<Codec> session_;
    std::vector<std::byte> packet_;    ///< one datagram, from a transport that reads one at a time
    detail::datagram_batch<16> batch_; ///< what a batch_receiver's media is read into
    // The hand-off between the network side and the audio side (see the file
    // comment); held by pointer because atomics do not move.
    std::unique_ptr<detail::datagram_ring> inbox_;
    std::unique_ptr<detail::inbox_admission> admission_;
    std::uint32_t socket_drops_seen_ = 0; ///< network side
    detail::source_identity followed_{};  ///< network side: told the transport
    std::unique_ptr<std::atomic<std::uint64_t>> socket_overflow_;
    std::unique_ptr<detail::triple_buffer<receiver_stats>> published_;
    receiver_stats percentiles_;
    time_point percentiles_at_{};
    std::chrono::nanoseconds stats_interval_; ///< the config's; 0: publish at every pull
    bool published_ever_ = false;
    time_point published_at_{};
    // RTCP hand-offs both ways: reports from the group to the audio side,
    // this receiver's own reports back.
    std::vector<std::byte> report_scratch_;
    std::unique_ptr<detail::datagram_ring> control_inbox_;
    std::unique_ptr<detail::datagram_ring> outbox_;
    bool reported_ = false; ///< a report has gone out (network side)
    /// Control datagrams the network side refused as not RTCP; read by pull().
    std::unique_ptr<std::atomic<std::uint64_t>> control_refused_;
    /// The device's output latency in nanoseconds, from any thread; read by pull().
    std::unique_ptr<std::atomic<std::int64_t>> output_latency_;
    /// Set by output_restarted() from any thread; taken by pull().
    std::unique_ptr<std::atomic<bool>> output_restarted_;
};

} // namespace audiocast
