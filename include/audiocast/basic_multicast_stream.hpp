// audiocast — basic_multicast_stream: a session joined to a transport and a clock.
//
// The stream is a thin shell: it moves bytes between a sans-I/O session and its
// Transport and asks its Clock for the time. It is the only place where those
// three meet. A stream is either a sender or a receiver, chosen at construction.
//
//   auto tx = loopback_stream(as_sender, group.join(), pcm_codec{}, clock);
//   tx.write(std::span<const std::int16_t>{samples}); tx.poll();
//   auto rx = loopback_stream(as_receiver, group.join(), pcm_codec{}, clock);
//   rx.poll(); rx.pull(std::span<std::int16_t>{out});
//
// (loopback_stream.hpp and multicast_stream.hpp name the two compositions the
// library ships; this header includes no transport, and no clock but the
// default one.)
//
// The user owns the threads: nothing here starts one or sleeps. Whoever drives
// the stream calls poll() at next_deadline() (a sender) or when datagrams may
// have arrived (a receiver).
//
// Two threads may share a stream: a network thread that calls poll() and the
// sender-side members (write, flush, pause, play, next_deadline), and an audio
// thread that calls only pull() (a receiver) or push() (a sender). A
// receiver's session (receiver()) belongs to the audio thread once pull() is
// in use; other threads read stats(), from one thread at a time. They meet in preallocated
// lock-free rings: poll() copies each datagram into the receiver's inbox with its arrival time, and
// pull() feeds the inbox to the session and plays out; push() queues captured samples that poll()
// writes into the session. pull() and push() take no lock, allocate nothing and make no system call
// (the clock is read through the vDSO). stats() is the snapshot the last pull() published, safe to
// read from one thread other than the audio thread.
#pragma once

#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/concepts.hpp>
#include <audiocast/detail/datagram_ring.hpp>
#include <audiocast/detail/spsc_ring.hpp>
#include <audiocast/detail/triple_buffer.hpp>
#include <audiocast/error.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace audiocast {

/// Which end of the stream this is.
enum class stream_role { sender, receiver };

struct as_sender_t {
    explicit as_sender_t() = default;
};
struct as_receiver_t {
    explicit as_receiver_t() = default;
};
/// Tags that choose the role at construction.
inline constexpr as_sender_t as_sender{};
inline constexpr as_receiver_t as_receiver{};

/// One end of a multicast audio stream over three policies:
/// `Transport` moves datagrams (requirements: the `transport` concept),
/// `Codec` turns frames into payloads and back (the `codec` concept),
/// `Clock` tells monotonic and wall time (the `clock` concept).
template <class Transport, class Codec = pcm_codec, class Clock = steady_clock>
class basic_multicast_stream {
    // The requirements are documented beside each concept in concepts.hpp.
    // static_assert rather than a requires-clause, so that the first error
    // line names the policy at fault.
    static_assert(transport<Transport>,
                  "Transport must model audiocast::transport: send(span<const byte>, "
                  "error_code&) and receive(span<byte>, error_code&) -> size_t");
    static_assert(codec<Codec>, "Codec must model audiocast::codec (see concepts.hpp)");
    static_assert(clock<Clock>, "Clock must model audiocast::clock: now() -> time_point and "
                                "wall_now() -> wall_time");

public:
    using transport_type = Transport;
    using codec_type = Codec;
    using clock_type = Clock;

    /// A sending stream.
    basic_multicast_stream(as_sender_t, Transport transport, Codec codec, Clock clock,
                           const sender_config& config = {})
        : transport_{std::move(transport)}, clock_{std::move(clock)},
          session_{std::in_place_type<sender_session<Codec>>, std::move(codec), config}
    {
        init_sender(config);
    }

    /// A sending stream with RTCP on `control` (the group's port + 1, RFC
    /// 3550 §11): sender reports go out on schedule, listeners' reports come
    /// in, and leave() says BYE. `control` must accept datagrams from every
    /// source (no sender lock): every listener reports.
    basic_multicast_stream(as_sender_t, Transport transport, Transport control, Codec codec,
                           Clock clock, const sender_config& config = {})
        : transport_{std::move(transport)}, control_{std::move(control)}, clock_{std::move(clock)},
          session_{std::in_place_type<sender_session<Codec>>, std::move(codec), config}
    {
        init_sender(config);
        control_packet_.resize(
            std::max<std::size_t>(sender_session<Codec>::rtcp_report_bytes(), max_control_bytes));
    }

    /// A receiving stream.
    basic_multicast_stream(as_receiver_t, Transport transport, Codec codec, Clock clock,
                           const receiver_config& config = {})
        : transport_{std::move(transport)}, clock_{std::move(clock)},
          session_{std::in_place_type<receiver_session<Codec>>, std::move(codec), config}
    {
        init_receiver();
    }

    /// A receiving stream with RTCP on `control`: the source's sender
    /// reports reach the session (latency without the send-time extension,
    /// the round trip, BYE), and pull() writes receiver reports on schedule,
    /// which poll() sends. `control` must accept datagrams from every source.
    basic_multicast_stream(as_receiver_t, Transport transport, Transport control, Codec codec,
                           Clock clock, const receiver_config& config = {})
        : transport_{std::move(transport)}, control_{std::move(control)}, clock_{std::move(clock)},
          session_{std::in_place_type<receiver_session<Codec>>, std::move(codec), config}
    {
        init_receiver();
        control_packet_.resize(max_control_bytes);
        report_scratch_.resize(receiver_session<Codec>::rtcp_report_bytes());
        control_inbox_ = std::make_unique<detail::datagram_ring>(control_slots, max_control_bytes);
        control_refused_ = std::make_unique<std::atomic<std::uint64_t>>(0);
        outbox_ = std::make_unique<detail::datagram_ring>(control_slots, max_control_bytes);
    }

private:
    void init_sender(const sender_config& config)
    {
        const auto& s = std::get<sender_session<Codec>>(session_);
        packet_.resize(s.max_packet_bytes());
        const std::size_t samples = std::max<std::size_t>(config.queue_packets, 1) *
                                    s.codec().frames_per_packet() * s.codec().format().channels;
        captured_ = std::make_unique<detail::spsc_ring<float>>(samples);
        capture_scratch_.resize(s.codec().frames_per_packet() * s.codec().format().channels);
    }

    // The largest payload a packet of the codec may carry: up to its MTU when
    // it says (another sender's packets may be longer than ours would be).
    static std::size_t largest_payload(const Codec& c) noexcept
    {
        if constexpr (requires { c.max_payload_bytes(); })
            return std::max(c.payload_bytes(), c.max_payload_bytes());
        else
            return c.payload_bytes();
    }

    void init_receiver()
    {
        packet_.resize(max_datagram_bytes);
        const auto& r = std::get<receiver_session<Codec>>(session_);
        // Room for the datagrams of twice the latency plus 100 ms at 1 ms
        // packets, each up to the MTU with room for headers the codec never
        // writes (CSRCs, other extensions).
        const auto latency_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(r.config().latency);
        const auto slots = static_cast<std::size_t>(2 * latency_ms.count() + 100);
        const std::size_t max_bytes = std::max<std::size_t>(2048, largest_payload(r.codec()) + 256);
        inbox_ = std::make_unique<detail::datagram_ring>(slots, max_bytes);
        published_ = std::make_unique<detail::triple_buffer<receiver_stats>>();
    }

public:
    [[nodiscard]] stream_role role() const noexcept
    {
        return std::holds_alternative<sender_session<Codec>>(session_) ? stream_role::sender
                                                                       : stream_role::receiver;
    }

    [[nodiscard]] Transport& transport() noexcept { return transport_; }
    [[nodiscard]] const Transport& transport() const noexcept { return transport_; }
    /// Whether the stream speaks RTCP (it was given a control transport).
    [[nodiscard]] bool has_control() const noexcept { return control_.has_value(); }
    /// The control transport; has_control() must be true.
    [[nodiscard]] Transport& control_transport() noexcept { return *control_; }
    [[nodiscard]] const Transport& control_transport() const noexcept { return *control_; }
    [[nodiscard]] Clock& clock() noexcept { return clock_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }
    [[nodiscard]] const Codec& codec() const noexcept
    {
        return std::visit([](const auto& s) -> const Codec& { return s.codec(); }, session_);
    }
    [[nodiscard]] const audio_format& format() const noexcept { return codec().format(); }

    /// The sender's session; throws std::system_error (errc::wrong_role) on a receiver.
    [[nodiscard]] sender_session<Codec>& sender() { return get<sender_session<Codec>>("sender"); }
    [[nodiscard]] const sender_session<Codec>& sender() const
    {
        return const_cast<basic_multicast_stream*>(this)->sender();
    }
    /// The receiver's session; throws std::system_error (errc::wrong_role) on a sender.
    [[nodiscard]] receiver_session<Codec>& receiver()
    {
        return get<receiver_session<Codec>>("receiver");
    }
    [[nodiscard]] const receiver_session<Codec>& receiver() const
    {
        return const_cast<basic_multicast_stream*>(this)->receiver();
    }

    // ---- sender ----------------------------------------------------------

    /// Queues whole interleaved frames; returns the frames accepted (the queue
    /// holds sender_config::queue_packets packets). Sends what is already due.
    template <pcm_sample T>
    std::size_t write(std::span<const T> samples, std::error_code& ec) noexcept
    {
        auto* s = std::get_if<sender_session<Codec>>(&session_);
        if (s == nullptr) {
            ec = errc::wrong_role;
            return 0;
        }
        const std::size_t n = s->write(samples, clock_.now(), ec);
        if (ec) return n;
        poll(ec);
        return n;
    }

    template <pcm_sample T>
    std::size_t write(std::span<const T> samples)
    {
        const std::size_t n = sender().write(samples, clock_.now());
        poll();
        return n;
    }

    /// Emits the frames of an incomplete packet as a shorter packet.
    void flush() { sender().flush(clock_.now()); }

    /// Stops sending; the source position is kept. A no-op when paused.
    void pause() { sender().pause(clock_.now()); }

    /// Resumes from the same position. A no-op when playing.
    void play() { sender().play(clock_.now()); }

    [[nodiscard]] bool paused() const { return sender().paused(); }

    /// Audio thread of a sender: queues captured whole frames for the next
    /// poll(), which writes them into the session. Returns the frames taken;
    /// fewer than given when the queue is full (the network side is behind).
    /// Real-time safe; 0 on a receiver.
    template <pcm_sample T>
    std::size_t push(std::span<const T> samples) noexcept
    {
        if (!captured_) return 0;
        const unsigned channels = format().channels;
        // float holds every int16 and every 24-bit int32 sample exactly, so the
        // codec's conversion from it is the same as from the original.
        constexpr float scale = std::is_same_v<T, std::int16_t>   ? 1.0f / 32768.0f
                                : std::is_same_v<T, std::int32_t> ? 1.0f / 2147483648.0f
                                                                  : 1.0f;
        const std::size_t room = (captured_->capacity() - captured_->size_approx()) / channels;
        const std::size_t frames = std::min(samples.size() / channels, room);
        // Converted in blocks on the stack, then published a block at a time.
        std::array<float, 256> block;
        for (std::size_t done = 0; done < frames * channels;) {
            const std::size_t n = std::min(block.size(), frames * channels - done);
            for (std::size_t i = 0; i < n; ++i)
                block[i] = static_cast<float>(samples[done + i]) * scale;
            captured_->push(std::span<const float>{block.data(), n});
            done += n;
        }
        return frames;
    }

    /// When poll() next has work: the next packet's deadline for a sender
    /// (nullopt when nothing is queued); a receiver is driven by arrivals.
    [[nodiscard]] std::optional<time_point> next_deadline() const noexcept
    {
        if (const auto* s = std::get_if<sender_session<Codec>>(&session_)) return s->next_due();
        return std::nullopt;
    }

    // ---- receiver --------------------------------------------------------

    /// Playout at the clock's now(); see receiver_session::pull().
    /// Audio thread of a receiver: takes what poll() handed over, then plays
    /// out at the clock's now(); see receiver_session::pull(). Real-time safe.
    /// Throws std::system_error (errc::wrong_role) on a sender.
    template <pcm_sample T>
    std::size_t pull(std::span<T> out)
    {
        auto& r = receiver();
        // A few control datagrams a pull, so a flood of them cannot take the
        // audio thread's time; the rest wait for the next pull (reports come
        // seconds apart, so a real session never queues them). poll() has
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
                r.on_datagram(datagram, meta.arrival, meta.arrival_wall, meta.from);
            })) {
        }
        const time_point now = clock_.now();
        const std::size_t n = r.pull(out, now);
        // A receiver report that fell due is written here, where the session
        // lives, and handed to poll() to send: no system call on this thread.
        if (outbox_) {
            std::error_code report_ec;
            if (const std::size_t size = r.write_report(now, report_scratch_, report_ec); size > 0)
                outbox_->push(std::span<const std::byte>{report_scratch_.data(), size}, now,
                              wall_time{});
        }
        // Counters every time; the percentiles walk two histograms, so they
        // are refreshed at most every stats_refresh of stream time.
        if (now - percentiles_at_ >= stats_refresh) {
            r.percentiles(percentiles_);
            percentiles_at_ = now;
        }
        receiver_stats& s = published_->write_buffer();
        s = percentiles_;
        r.counters(s);
        s.packets_malformed += inbox_->dropped_too_big();
        s.packets_overrun = inbox_->dropped_full();
        if (control_inbox_) {
            s.control_overrun = control_inbox_->dropped_full();
            s.control_malformed += control_refused_->load(std::memory_order_relaxed);
        }
        published_->publish();
        return n;
    }

    /// The receiver's figures as of the last pull(); the latency and IPDV
    /// percentiles are at most stats_refresh older. Call from one thread at a
    /// time (it may be the audio thread or another one).
    [[nodiscard]] receiver_stats stats() const
    {
        (void)receiver(); // the role check
        return published_->read();
    }

    // ---- both ------------------------------------------------------------

    /// Does the I/O that is due now: a sender sends every packet whose deadline
    /// has come; a receiver takes every datagram waiting in the transport.
    /// Returns the datagrams moved. Transport errors stop the poll and are
    /// reported through ec; would_block is not an error.
    std::size_t poll(std::error_code& ec) noexcept
    {
        ec.clear();
        // RTCP goes on when media fails (its socket stays readable, and an
        // unread one would wake the runner again at once); the first error is
        // the one reported.
        std::error_code control_ec;
        if (auto* s = std::get_if<sender_session<Codec>>(&session_)) {
            const std::size_t sent = send_due(*s, ec);
            if (control_) control_sender(*s, control_ec);
            if (!ec) ec = control_ec;
            return sent;
        }
        const std::size_t received = receive_waiting(ec);
        if (control_) control_receiver(control_ec);
        if (!ec) ec = control_ec;
        return received;
    }

    /// Says BYE on the control transport (RFC 3550 §6.6), so listeners learn
    /// at once that the sender stopped, or the sender that a listener left.
    /// Call it once, when done, on the thread that calls poll() (they share
    /// the control socket and buffer); the stream may still be used. Does
    /// nothing without a control transport, or when this end never sent RTP
    /// or RTCP (nobody knows its SSRC, §6.3.7). `reason` is at most 255 bytes.
    void leave(std::error_code& ec, std::string_view reason = {}) noexcept
    {
        ec.clear();
        if (!control_) return;
        std::size_t size = 0;
        if (auto* s = std::get_if<sender_session<Codec>>(&session_)) {
            size = s->write_bye(clock_.now(), clock_.wall_now(), control_packet_, ec, reason);
        } else if (reported_) {
            // The session belongs to the audio thread: its identity is fixed,
            // and whether it reported is known here, where reports are sent.
            const auto& r = std::get<receiver_session<Codec>>(session_);
            size = receiver_session<Codec>::bye_for(r.own_ssrc(), r.cname(), control_packet_, ec,
                                                    reason);
        }
        if (ec || size == 0) return;
        control_->send(std::span<const std::byte>{control_packet_.data(), size}, ec);
    }

    void leave(std::string_view reason = {})
    {
        std::error_code ec;
        leave(ec, reason);
        if (ec) detail::throw_error(ec, "sending RTCP BYE failed");
    }

    std::size_t poll()
    {
        std::error_code ec;
        const std::size_t n = poll(ec);
        if (ec) detail::throw_error(ec, "stream poll failed");
        return n;
    }

private:
    static constexpr std::size_t max_datagram_bytes = 65'536;
    static constexpr std::size_t max_datagrams_per_poll = 256;
    // RTCP compounds are small (an SR or RR with a few blocks, SDES, BYE);
    // anything larger than an MTU is not one audiocast needs to read.
    static constexpr std::size_t max_control_bytes = 1'500;
    static constexpr std::size_t control_slots = 32;
    static constexpr std::size_t max_control_per_pull = 8;

public:
    /// How often pull() recomputes the percentiles it publishes.
    static constexpr std::chrono::nanoseconds stats_refresh = std::chrono::milliseconds{20};

private:
    template <class Session>
    Session& get(const char* wanted)
    {
        auto* s = std::get_if<Session>(&session_);
        if (s == nullptr)
            detail::throw_error(make_error_code(errc::wrong_role),
                                std::string("this stream is not a ") + wanted);
        return *s;
    }

    std::size_t send_due(sender_session<Codec>& s, std::error_code& ec) noexcept
    {
        std::size_t sent = 0;
        const time_point now = clock_.now();
        // What the audio thread captured, a packet at a time while the session has room.
        const std::size_t channels = format().channels;
        while (captured_->size_approx() >= channels &&
               s.writable_frames() * channels >= capture_scratch_.size()) {
            const std::size_t want =
                std::min(capture_scratch_.size(), captured_->size_approx() / channels * channels);
            const std::size_t got = captured_->pop(std::span<float>{capture_scratch_.data(), want});
            std::error_code write_ec;
            s.write(std::span<const float>{capture_scratch_.data(), got}, now, write_ec);
        }
        const wall_time wall = clock_.wall_now();
        for (;;) {
            const std::size_t size = s.next_packet(now, wall, packet_, ec);
            if (ec || size == 0) break;
            transport_.send(std::span<const std::byte>{packet_.data(), size}, ec);
            if (ec) {
                s.record_send_failure();
                break;
            }
            ++sent;
        }
        return sent;
    }

    // Reads one datagram from `t` into `buffer`, with its origin when the
    // transport tells it.
    template <class T>
    static std::size_t receive_from(T& t, std::span<std::byte> buffer, datagram_origin& origin,
                                    std::error_code& ec) noexcept
    {
        origin = {};
        if constexpr (origin_reporting_receiver<T>)
            return t.receive(buffer, origin, ec);
        else
            return t.receive(buffer, ec);
    }

    // Calls take(datagram, origin) for each control datagram waiting, a
    // bounded number; one too big to be a report is passed on empty, to be counted.
    template <class Take>
    void read_control(std::error_code& ec, Take&& take) noexcept
    {
        for (std::size_t i = 0; i < max_datagrams_per_poll; ++i) {
            datagram_origin origin;
            const std::size_t size = receive_from(*control_, control_packet_, origin, ec);
            if (ec == std::errc::operation_would_block) {
                ec.clear();
                return;
            }
            if (ec == std::errc::message_size) {
                ec.clear();
                take(std::span<const std::byte>{}, origin);
                continue;
            }
            if (ec) return;
            take(std::span<const std::byte>{control_packet_.data(), size}, origin);
        }
    }

    // Listeners' reports in, the sender's own report out when due.
    void control_sender(sender_session<Codec>& s, std::error_code& ec) noexcept
    {
        read_control(ec, [this, &s](std::span<const std::byte> datagram,
                                    const datagram_origin& origin) {
            s.on_control(datagram, clock_.now() - origin.waited, clock_.wall_now() - origin.waited);
        });
        if (ec) return;
        const std::size_t size =
            s.write_report(clock_.now(), clock_.wall_now(), control_packet_, ec);
        if (ec || size == 0) return;
        control_->send(std::span<const std::byte>{control_packet_.data(), size}, ec);
    }

    // The group's reports in, to the audio side; the reports pull() wrote, out.
    void control_receiver(std::error_code& ec) noexcept
    {
        // Only RTCP crosses to the audio side, so that junk on the control
        // port cannot fill the hand-off and push out the source's reports
        // and BYE; it is counted here (empty stands for too big to be one).
        read_control(ec, [this](std::span<const std::byte> datagram,
                                const datagram_origin& origin) {
            std::error_code invalid;
            (void)rtcp::parse_compound(datagram, invalid, [](const rtcp::packet_view&) {});
            if (invalid) {
                control_refused_->fetch_add(1, std::memory_order_relaxed);
                return;
            }
            control_inbox_->push(datagram, clock_.now() - origin.waited,
                                 clock_.wall_now() - origin.waited, origin.from);
        });
        if (ec) return;
        const time_point now = clock_.now();
        while (outbox_->consume_one([this, now, &ec](std::span<const std::byte> report,
                                                     const detail::datagram_meta& meta) noexcept {
            // The report waited here since pull() wrote it: its DLSR must say so.
            std::copy(report.begin(), report.end(), control_packet_.begin());
            const std::span<std::byte> copy{control_packet_.data(), report.size()};
            rtcp::add_report_delay(copy, now - meta.arrival);
            std::error_code send_ec;
            control_->send(copy, send_ec);
            if (send_ec && !ec) ec = send_ec;
            if (!send_ec) reported_ = true;
        })) {
        }
    }

    std::size_t receive_waiting(std::error_code& ec) noexcept
    {
        std::size_t received = 0;
        // Bounded, so a flood on one stream cannot hold a thread that serves
        // others; the socket stays readable and the next poll() goes on.
        while (received < max_datagrams_per_poll) {
            datagram_origin origin;
            const std::size_t size = receive_from(transport_, packet_, origin, ec);
            if (ec == std::errc::operation_would_block) {
                ec.clear();
                break;
            }
            if (ec == std::errc::message_size) ec.clear(); // truncated: the session refuses it
            if (ec) break;
            // Dated when it arrived, not when it was read: a backlog read at
            // once (a listener that joined before it was ready) is old.
            // A refusal (inbox full or datagram too big) is counted by the inbox.
            inbox_->push(std::span<const std::byte>{packet_.data(), size},
                         clock_.now() - origin.waited, clock_.wall_now() - origin.waited,
                         origin.from);
            ++received;
        }
        return received;
    }

    [[no_unique_address]] Transport transport_;
    std::optional<Transport> control_;
    [[no_unique_address]] Clock clock_;
    std::variant<sender_session<Codec>, receiver_session<Codec>> session_;
    std::vector<std::byte> packet_;
    // The hand-off between the network side and the audio side (see the file
    // comment); held by pointer because atomics do not move.
    std::unique_ptr<detail::datagram_ring> inbox_;
    std::unique_ptr<detail::triple_buffer<receiver_stats>> published_;
    receiver_stats percentiles_;
    time_point percentiles_at_{};
    std::unique_ptr<detail::spsc_ring<float>> captured_;
    std::vector<float> capture_scratch_;
    // RTCP: the network side's buffer, and a receiver's hand-offs both ways
    // (reports from the group to the audio side, its own reports back).
    std::vector<std::byte> control_packet_;
    std::vector<std::byte> report_scratch_;
    std::unique_ptr<detail::datagram_ring> control_inbox_;
    std::unique_ptr<detail::datagram_ring> outbox_;
    bool reported_ = false; ///< a receiver's report has gone out (network side)
    /// Control datagrams the network side refused as not RTCP; read by pull().
    std::unique_ptr<std::atomic<std::uint64_t>> control_refused_;
};

} // namespace audiocast
