// audiocast — the sending end of a stream: a sender_session joined to a
// transport and a clock. Named basic_multicast_stream<Transport, Codec,
// Clock>::sender (basic_multicast_stream.hpp); multicast_stream::sender is the
// real one, loopback_stream::sender the one for tests.
//
//   audiocast::multicast_stream::sender tx{std::move(media), std::move(control),
//                                          audiocast::pcm_codec{}, {}};
//   tx.write(std::span<const std::int16_t>{samples});  // queues, sends what is due
//   tx.poll();                                          // at tx.next_deadline()
//   tx.leave("done");                                   // RTCP BYE
//
// The user owns the threads: nothing here starts one or sleeps. A network
// thread calls poll() at next_deadline() and the other members; an audio
// thread (a capture device) may call push() alone, which takes no lock,
// allocates nothing and makes no system call. Captured frames wait in a
// preallocated lock-free ring until poll() writes them into the session.
#pragma once

#include <audiocast/error.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/spsc_ring.hpp>
#include <audiocast/stream/stream_base.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace audiocast {

template <class Transport, class Codec = pcm_codec, class Clock = steady_clock>
class basic_multicast_sender : public detail::stream_base<Transport, Codec, Clock> {
    using base = detail::stream_base<Transport, Codec, Clock>;

public:
    [[nodiscard]] static constexpr stream_role role() noexcept { return stream_role::sender; }

    /// A sending stream without RTCP.
    basic_multicast_sender(Transport transport, Codec codec, Clock clock,
                           const sender_config& config = {})
        : base{std::move(transport), std::nullopt, std::move(clock)},
          session_{std::move(codec), config}
    {
        init(config);
    }

    /// A sending stream with RTCP on `control` (the group's port + 1, RFC
    /// 3550 §11): sender reports go out on schedule, listeners' reports come
    /// in, and leave() says BYE. `control` must accept datagrams from every
    /// source: every listener reports.
    basic_multicast_sender(Transport transport, Transport control, Codec codec, Clock clock,
                           const sender_config& config = {})
        : base{std::move(transport), std::move(control), std::move(clock)},
          session_{std::move(codec), config}
    {
        init(config);
        this->control_packet_.resize(std::max<std::size_t>(
            sender_session<Codec>::rtcp_report_bytes(), base::max_control_bytes));
    }

    [[nodiscard]] const Codec& codec() const noexcept { return session_.codec(); }
    [[nodiscard]] const audio_format& format() const noexcept { return codec().format(); }

    /// The session, for what the stream does not forward (statistics,
    /// listeners, the SDP it describes).
    [[nodiscard]] sender_session<Codec>& sender() noexcept { return session_; }
    [[nodiscard]] const sender_session<Codec>& sender() const noexcept { return session_; }

    /// Queues whole interleaved frames; returns the frames accepted (the queue
    /// holds sender_config::queue_packets packets). Sends what is already due.
    template <pcm_sample T>
    std::size_t write(std::span<const T> samples, std::error_code& ec) noexcept
    {
        const std::size_t n = session_.write(samples, this->clock_.now(), ec);
        if (ec) return n;
        poll_media(ec);
        return n;
    }

    template <pcm_sample T>
    std::size_t write(std::span<const T> samples)
    {
        const std::size_t n = session_.write(samples, this->clock_.now());
        std::error_code ec;
        poll_media(ec);
        if (ec) detail::throw_error(ec, "sending what was due failed");
        return n;
    }

    /// Emits the frames of an incomplete packet as a shorter packet.
    void flush() { session_.flush(this->clock_.now()); }

    /// Stops sending; the source position is kept. A no-op when paused.
    void pause() { session_.pause(this->clock_.now()); }

    /// Resumes from the same position. A no-op when playing.
    void play() { session_.play(this->clock_.now()); }

    [[nodiscard]] bool paused() const noexcept { return session_.paused(); }

    /// Audio thread: queues captured whole frames for the next poll(), which
    /// writes them into the session. Returns the frames taken; fewer than
    /// given when the queue is full (the network side is behind). Real-time safe.
    template <pcm_sample T>
    std::size_t push(std::span<const T> samples) noexcept
    {
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

    /// When poll() next has work: the next packet's deadline; nullopt when
    /// nothing is queued.
    [[nodiscard]] std::optional<time_point> next_deadline() const noexcept
    {
        return session_.next_due();
    }

    /// Sends every packet whose deadline has come, reads the listeners'
    /// reports and sends this sender's when due. Returns the packets sent.
    /// Transport errors stop the poll and are reported through ec;
    /// would_block is not an error.
    std::size_t poll(std::error_code& ec) noexcept
    {
        const std::size_t sent = poll_media(ec);
        // RTCP goes on when media fails; the first error is the one reported.
        std::error_code control_ec;
        poll_control(control_ec);
        if (!ec) ec = control_ec;
        return sent;
    }

    /// poll()'s part that runs at a deadline: sends the packets due, and this
    /// sender's report when due; reads nothing. Returns the packets sent.
    std::size_t poll_media(std::error_code& ec) noexcept
    {
        ec.clear();
        const std::size_t sent = send_due(ec);
        std::error_code report_ec;
        if (this->control_) send_report(report_ec);
        if (!ec) ec = report_ec;
        return sent;
    }

    /// poll()'s part for a loop that knows the control transport is readable:
    /// reads the listeners' reports.
    void poll_control(std::error_code& ec) noexcept
    {
        ec.clear();
        if (!this->control_) return;
        this->read_control(
            ec, [this](std::span<const std::byte> datagram, const datagram_origin& origin) {
                session_.on_control(datagram, this->clock_.now() - origin.waited,
                                    this->clock_.wall_now() - origin.waited);
            });
    }

    std::size_t poll()
    {
        std::error_code ec;
        const std::size_t n = poll(ec);
        if (ec) detail::throw_error(ec, "stream poll failed");
        return n;
    }

    /// Says BYE on the control transport (RFC 3550 §6.6), so listeners learn
    /// at once that the sender stopped. Call it once, when done, on the
    /// thread that calls poll(); the stream may still be used. Does nothing
    /// without a control transport, or when it never sent RTP or RTCP
    /// (nobody knows its SSRC, §6.3.7). `reason` is at most 255 bytes.
    void leave(std::error_code& ec, std::string_view reason = {}) noexcept
    {
        ec.clear();
        if (!this->control_) return;
        const std::size_t size = session_.write_bye(this->clock_.now(), this->clock_.wall_now(),
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
    void init(const sender_config& config)
    {
        packet_.resize(session_.max_packet_bytes());
        const std::size_t packet_samples =
            session_.codec().frames_per_packet() * session_.codec().format().channels;
        captured_ = std::make_unique<spsc_ring<float>>(
            std::max<std::size_t>(config.queue_packets, 1) * packet_samples);
        capture_scratch_.resize(packet_samples);
    }

    std::size_t send_due(std::error_code& ec) noexcept
    {
        std::size_t sent = 0;
        const time_point now = this->clock_.now();
        // What the audio thread captured, a packet at a time while the session has room.
        const std::size_t channels = format().channels;
        while (captured_->size_approx() >= channels &&
               session_.writable_frames() * channels >= capture_scratch_.size()) {
            const std::size_t want =
                std::min(capture_scratch_.size(), captured_->size_approx() / channels * channels);
            const std::size_t got = captured_->pop(std::span<float>{capture_scratch_.data(), want});
            std::error_code write_ec;
            session_.write(std::span<const float>{capture_scratch_.data(), got}, now, write_ec);
        }
        const wall_time wall = this->clock_.wall_now();
        for (;;) {
            const std::size_t size = session_.next_packet(now, wall, packet_, ec);
            if (ec || size == 0) break;
            this->transport_.send(std::span<const std::byte>{packet_.data(), size}, ec);
            if (ec) {
                session_.record_send_failure();
                break;
            }
            ++sent;
        }
        return sent;
    }

    // The sender's own report, when due.
    void send_report(std::error_code& ec) noexcept
    {
        const std::size_t size = session_.write_report(this->clock_.now(), this->clock_.wall_now(),
                                                       this->control_packet_, ec);
        if (ec || size == 0) return;
        this->send_control(size, ec);
    }

    sender_session<Codec> session_;
    std::vector<std::byte> packet_;
    // The hand-off from a capture thread (push) to the network side (poll);
    // held by pointer because atomics do not move.
    std::unique_ptr<spsc_ring<float>> captured_;
    std::vector<float> capture_scratch_;
};

} // namespace audiocast
