// audiocast — the sender's protocol state machine (sans-I/O).
//
// A sender_session turns frames into RTP packets and says when each is due.
// It never touches a socket or a clock: the caller hands it frames and time
// points, asks for the next packet once it is due, and sends the bytes.
//
//   write(frames, now) ─► codec chunking ─► payload queue ─► next_packet(now, wall, out) ─► bytes
//
// Pause and resume follow docs/architecture.md, Pause and resume: PAUSE stops packets and keeps the
// source position; PLAY resumes from it with the sequence number continuing, the RTP timestamp
// advanced by the paused time, and the marker bit on the first packet.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/detail/whole_frames.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/session/sender_config.hpp>
#include <audiocast/session/sender_reports.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast {

/// The sender's half of the protocol over a codec; see the file comment.
/// Not thread-safe; one owner drives it.
template <codec Codec>
class sender_session {
public:
    /// Throws std::system_error when `config` is invalid (see validate()).
    explicit sender_session(Codec codec, const sender_config& config = {})
        : codec_{std::move(codec)}, config_{checked(config)},
          reports_{timing_of(codec_, config_),
                   config_.max_listeners,
                   config_.ssrc,
                   config_.cname,
                   {config_.clock_answers, config_.clock_answer_interval}},
          ssrc_{reports_.ssrc()}
    {
        std::random_device rd;
        const auto draw = [&rd] { return static_cast<std::uint32_t>(rd()); };
        sequence_ = config_.initial_sequence.value_or(static_cast<std::uint16_t>(draw()));
        first_timestamp_ = config_.initial_timestamp.value_or(draw());
        payload_type_ = config_.payload_type.value_or(default_payload_type(codec_.format()));
        AUDIOCAST_ASSERT(payload_type_ <= 127);
        queue_.resize(config_.queue_packets);
        for (auto& s : queue_)
            s.payload.resize(codec_.payload_bytes());
    }

    /// Sets `ec` for the first setting of `config` that breaks its limit
    /// (audiocast::check(), sender_config.hpp): the payload type, the
    /// send-time extension id, the queue length and the RTCP settings.
    static void validate(const sender_config& config, std::error_code& ec) noexcept
    {
        detail::assign(ec, audiocast::check(config));
    }

    /// Throwing form; the message names the setting, the value and the limit.
    static void validate(const sender_config& config)
    {
        detail::throw_if(audiocast::check(config));
    }

    [[nodiscard]] const Codec& codec() const noexcept { return codec_; }
    [[nodiscard]] const sender_config& config() const noexcept { return config_; }
    [[nodiscard]] std::uint32_t ssrc() const noexcept { return ssrc_; }
    [[nodiscard]] std::uint8_t payload_type() const noexcept { return payload_type_; }
    /// The RTP timestamp of the first frame (SDP's a=mediaclk:direct offset).
    [[nodiscard]] std::uint32_t initial_timestamp() const noexcept { return first_timestamp_; }
    /// Sequence number the next packet will carry.
    [[nodiscard]] std::uint16_t next_sequence() const noexcept { return sequence_; }
    /// RTP timestamp of the next frame to leave.
    [[nodiscard]] std::uint32_t next_timestamp() const noexcept
    {
        return static_cast<std::uint32_t>(first_timestamp_ + position_ + timestamp_shift_);
    }
    /// Frames that have left, i.e. the source position.
    [[nodiscard]] std::uint64_t position() const noexcept { return position_; }
    [[nodiscard]] bool paused() const noexcept { return paused_; }
    [[nodiscard]] std::size_t queued_packets() const noexcept { return count_; }
    [[nodiscard]] const sender_stats& stats() const noexcept { return stats_; }

    /// Frames write() would accept now.
    [[nodiscard]] std::size_t writable_frames() const noexcept
    {
        const std::size_t room = (queue_.size() - count_) * codec_.frames_per_packet();
        return room > codec_.pending_frames() ? room - codec_.pending_frames() : 0;
    }

    /// Appends interleaved frames to the stream. Accepts as many whole frames
    /// as the queue has room for and returns that count; the caller writes the
    /// rest later, as with a socket's write_some. `samples` must hold whole
    /// frames (errc::frames_not_whole otherwise).
    template <pcm_sample T>
    std::size_t write(std::span<const T> samples, time_point now, std::error_code& ec) noexcept
    {
        const unsigned channels = codec_.format().channels;
        if (!detail::whole_frames(samples.size(), channels, ec)) return 0;
        if (paused_ && config_.pacing == pacing_mode::as_written) {
            // A live source cannot wait for PLAY: what it captures while
            // paused is dropped, so playback resumes with live audio, and the
            // RTP timestamp moves on by it as the media clock did.
            timestamp_shift_ += samples.size() / channels;
            return samples.size() / channels;
        }
        const std::size_t frames = std::min(samples.size() / channels, writable_frames());
        codec_.write(samples.first(frames * channels),
                     [&](std::span<const std::byte> payload) { enqueue(payload, now); });
        return frames;
    }

    template <pcm_sample T>
    std::size_t write(std::span<const T> samples, time_point now)
    {
        detail::require_whole_frames(samples.size(), codec_.format().channels);
        std::error_code ec;
        return write(samples, now, ec);
    }

    /// Sends the frames held for an incomplete packet as one shorter packet
    /// (at the end of a file, say). Does nothing when the queue is full.
    void flush(time_point now) noexcept
    {
        if (count_ == queue_.size()) return;
        codec_.flush([&](std::span<const std::byte> payload) { enqueue(payload, now); });
    }

    /// Stops sending; queued packets wait (with as_written pacing, a live
    /// source, they are dropped instead). Pausing twice changes nothing.
    void pause(time_point now) noexcept
    {
        if (paused_) return;
        paused_ = true;
        (void)now; // the jump is measured from the next deadline, see resume()
        if (config_.pacing == pacing_mode::as_written) {
            for (std::size_t i = 0; i < count_; ++i)
                timestamp_shift_ += queue_[(head_ + i) % queue_.size()].frames;
            timestamp_shift_ += codec_.pending_frames();
            codec_.reset();
            head_ = 0;
            count_ = 0;
        }
    }

    /// Resumes from the same source position. Playing while playing changes nothing.
    void play(time_point now) noexcept
    {
        if (!paused_) return;
        paused_ = false;
        resume_pending_ = true;
        resumed_at_ = now;
        if (count_ > 0) resume();
    }

    /// When the next queued packet is due; nullopt when none is queued or paused.
    [[nodiscard]] std::optional<time_point> next_due() const noexcept
    {
        if (paused_ || count_ == 0) return std::nullopt;
        return due_of_front();
    }

    /// Builds the next packet into `out` if it is due at `now` and returns its
    /// size; returns 0 when nothing is due. `wall_now` stamps the send time.
    /// `out` must hold max_packet_bytes() (errc::buffer_too_small otherwise).
    std::size_t next_packet(time_point now, wall_time wall_now, std::span<std::byte> out,
                            std::error_code& ec) noexcept
    {
        ec.clear();
        if (paused_ || count_ == 0) return 0;
        time_point due = due_of_front();
        if (due > now) return 0;
        if (now - due > config_.max_lateness) {
            // Sending every late packet at once would burst; the schedule
            // moves instead, and the RTP timestamp with it, as after a pause:
            // the media clock keeps wall time, so every listener that plays in
            // step hears one gap at the same instant, where it is in the
            // stream, instead of each placing itself again when it notices
            // (docs/architecture.md, Pause and resume). No marker: the sender
            // chose no silence, so a listener that ran dry counts it.
            ++stats_.schedule_slips;
            stats_.slipped += move_media_clock_on(due, now);
            due = anchor_time_;
        }

        queued_packet& s = queue_[head_];
        rtp::header h;
        h.marker = marker_next_;
        h.payload_type = payload_type_;
        h.sequence = sequence_;
        h.timestamp = next_timestamp();
        h.ssrc = ssrc_;
        h.send_time_extension_id = config_.send_time_extension_id;
        if (config_.send_time_extension) h.send_time = ntp::from_wall(wall_now);
        const std::size_t size =
            rtp::serialize(h, std::span<const std::byte>{s.payload.data(), s.size}, out, ec);
        if (ec) return 0;

        marker_next_ = false;
        last_sent_timestamp_ = h.timestamp;
        last_sent_due_ = due;
        reports_.join(now);
        ++sequence_;
        position_ += s.frames;
        stats_.packets_sent += 1;
        stats_.payload_bytes_sent += s.size;
        stats_.frames_sent += s.frames;
        stats_.lateness.record(now - due);
        head_ = (head_ + 1) % queue_.size();
        --count_;
        return size;
    }

    std::size_t next_packet(time_point now, wall_time wall_now, std::span<std::byte> out)
    {
        std::error_code ec;
        const std::size_t n = next_packet(now, wall_now, out, ec);
        if (ec)
            detail::throw_error(ec, "packet buffer of " + std::to_string(out.size()) +
                                        " bytes; a packet needs up to " +
                                        std::to_string(max_packet_bytes()));
        return n;
    }

    /// Tells the session that the packet next_packet() last returned could not
    /// be sent, so its statistics say so. The packet is not sent again: its
    /// deadline has passed, and RTP receivers treat it as lost.
    void record_send_failure() noexcept { ++stats_.packets_send_failed; }

    // ---- RTCP (RFC 3550 §6) -------------------------------------------

    /// The canonical name in this sender's reports.
    [[nodiscard]] std::string_view cname() const noexcept { return reports_.cname(); }

    /// When the next sender report is due; nullopt until the first packet left.
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        return reports_.next_report_due();
    }

    /// If a report is due at `now`, writes it (an SR whose NTP time is
    /// `wall_now` and whose RTP timestamp is the media clock at `now`, then
    /// SDES with the CNAME) into `out` and returns its size; 0 otherwise.
    /// errc::buffer_too_small when `out` cannot hold it (rtcp_report_bytes()).
    std::size_t write_report(time_point now, wall_time wall_now, std::span<std::byte> out,
                             std::error_code& ec) noexcept
    {
        return reports_.write_report(now, sender_info_at(now, wall_now), out, ec, stats_);
    }

    /// A last report with BYE (RFC 3550 §6.6), for when the sender stops:
    /// listeners learn at once that the stream ended. `reason` is at most
    /// 255 bytes. Returns the size written into `out`: 0 when nothing was
    /// ever sent, since nobody knows this SSRC to say goodbye to (§6.3.7).
    std::size_t write_bye(time_point now, wall_time wall_now, std::span<std::byte> out,
                          std::error_code& ec, std::string_view reason = {}) noexcept
    {
        return reports_.write_bye(sender_info_at(now, wall_now), out, ec, reason, stats_);
    }

    /// Bytes write_report() and write_bye() need at most.
    [[nodiscard]] static constexpr std::size_t rtcp_report_bytes() noexcept
    {
        return sender_reports::max_bytes();
    }

    /// Takes one RTCP datagram from the group (session/sender_reports.hpp
    /// says what counts); malformed ones are counted and dropped.
    void on_control(std::span<const std::byte> datagram, time_point arrival,
                    wall_time arrival_wall) noexcept
    {
        reports_.on_control(datagram, arrival, arrival_wall, stats_);
    }

    /// The listeners heard lately (RFC 3550 §6.3.5 times them out after five
    /// report intervals of silence).
    [[nodiscard]] const participant_table& listeners() const noexcept
    {
        return reports_.listeners();
    }

    /// The listeners still heard at `now`, and the worst of what they report.
    [[nodiscard]] listener_summary summarize(time_point now) noexcept
    {
        return reports_.summarize(now, codec_.format().sample_rate);
    }

    /// The largest packet this session builds.
    [[nodiscard]] std::size_t max_packet_bytes() const noexcept
    {
        return rtp::fixed_header_size +
               (config_.send_time_extension ? rtp::send_time_extension_size : 0) +
               codec_.payload_bytes();
    }

private:
    struct queued_packet {
        std::vector<std::byte> payload;
        std::size_t size = 0;
        std::size_t frames = 0;
        time_point written{};
    };

    void enqueue(std::span<const std::byte> payload, time_point now) noexcept
    {
        AUDIOCAST_ASSERT(count_ < queue_.size());
        queued_packet& s = queue_[(head_ + count_) % queue_.size()];
        std::copy(payload.begin(), payload.end(), s.payload.begin());
        s.size = payload.size();
        s.frames = codec_.frames_in(payload);
        s.written = now;
        ++count_;
        if (!anchored_) {
            anchored_ = true;
            anchor_time_ = now;
            anchor_position_ = position_;
        }
        if (resume_pending_ && !paused_) resume();
    }

    [[nodiscard]] time_point due_of_front() const noexcept
    {
        if (config_.pacing == pacing_mode::as_written) return queue_[head_].written;
        return anchor_time_ + duration_of(position_ - anchor_position_, codec_.format());
    }

    // The stream stood still from `was_due` to `to` (a pause, a slip): the
    // RTP timestamp moves on by the whole frames between, and the schedule
    // starts again on the media clock's instant for them, so the media clock
    // keeps wall time. Returns the time moved on.
    std::chrono::nanoseconds move_media_clock_on(time_point was_due, time_point to) noexcept
    {
        const std::uint64_t skipped =
            to > was_due ? frames_in(to - was_due, codec_.format().sample_rate) : 0;
        timestamp_shift_ += skipped;
        const std::chrono::nanoseconds moved = duration_of(skipped, codec_.format());
        anchor_time_ = to > was_due ? was_due + moved : to;
        anchor_position_ = position_;
        return moved;
    }

    void resume() noexcept
    {
        resume_pending_ = false;
        marker_next_ = true;
        (void)move_media_clock_on(due_of_front(), std::max(resumed_at_, queue_[head_].written));
    }

    static const sender_config& checked(const sender_config& config)
    {
        validate(config);
        return config;
    }

    // RFC 3550 §6.2: the session bandwidth counts every packet's headers.
    static rtcp_timing timing_of(const Codec& c, const sender_config& config) noexcept
    {
        const std::size_t header = rtp::fixed_header_size +
                                   (config.send_time_extension ? rtp::send_time_extension_size : 0);
        return {.session_bytes_per_s = rtcp_session_bandwidth(
                    c.format().sample_rate, c.frames_per_packet(), c.payload_bytes(), header),
                .minimum = config.rtcp_minimum_interval,
                .seed = config.rtcp_seed};
    }

    // The RTP timestamp of `now` on the media clock: the last packet's, moved
    // on (or back) by the time since its deadline, which is when its first
    // frame was due, rounded to the nearest frame. The NTP time is when the
    // report is sent (RFC 3550 §6.4.1); rounding, not truncating, keeps the
    // pair within half a frame of each other and unbiased, which listeners
    // that play in step rely on (docs/architecture.md, Synchronized playout).
    rtcp::sender_info sender_info_at(time_point now, wall_time wall_now) const noexcept
    {
        std::uint32_t ts = next_timestamp();
        const wall_time at = wall_now;
        if (reports_.joined()) {
            const double frames = std::chrono::duration<double>(now - last_sent_due_).count() *
                                  codec_.format().sample_rate;
            ts = last_sent_timestamp_ +
                 static_cast<std::uint32_t>(static_cast<std::int64_t>(std::llround(frames)));
        }
        return {.ntp = ntp::from_wall(at),
                .rtp_timestamp = ts,
                // What left the host: packets the transport refused are not counted.
                .packet_count =
                    static_cast<std::uint32_t>(stats_.packets_sent - stats_.packets_send_failed),
                .octet_count = static_cast<std::uint32_t>(stats_.payload_bytes_sent)};
    }

    Codec codec_;
    sender_config config_;
    sender_reports reports_;
    std::uint32_t last_sent_timestamp_ = 0;
    time_point last_sent_due_{};
    std::uint32_t ssrc_ = 0;
    std::uint16_t sequence_ = 0;
    std::uint32_t first_timestamp_ = 0;
    std::uint8_t payload_type_ = 96;
    std::uint64_t position_ = 0;
    std::uint64_t timestamp_shift_ = 0;

    std::vector<queued_packet> queue_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;

    bool anchored_ = false;
    time_point anchor_time_{};
    std::uint64_t anchor_position_ = 0;

    bool paused_ = false;
    bool resume_pending_ = false;
    bool marker_next_ = true; // RFC 3551 §4.1: the first packet of a talkspurt
    time_point resumed_at_{};

    sender_stats stats_;
};

} // namespace audiocast
