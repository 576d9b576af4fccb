// audiocast — the receiver's protocol state machine (sans-I/O): wiring
// (docs/architecture.md, Receiver).
//
// A receiver_session takes datagrams with their arrival times and gives back
// frames on demand. It never touches a socket or a clock. Each step is a part
// of its own, testable alone:
//
//   on_datagram(bytes, arrival, from) ─► RTP validation
//       ─► source_selector: which sender plays (probation, lock, hand-over)
//       ─► source_timeline: where the packet belongs, and whether to believe it
//       ─► reception_meter: jitter, latency, IPDV, throughput
//       ─► the codec's decode ─► playout_timeline: jitter buffer, anchoring,
//          concealment, rate control
//       ─► pull(frames, now) ─► the application or audio device
//   on_control(bytes, arrival, from) ─► rtcp_participant: members, the
//       source's sender reports and BYE; write_report() for receiver reports
#pragma once

#include <audiocast/codec/pcm.hpp>
#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/session/packet_screen.hpp>
#include <audiocast/session/playout.hpp>
#include <audiocast/session/receiver_config.hpp>
#include <audiocast/session/reception_meter.hpp>
#include <audiocast/session/rtcp_participant.hpp>
#include <audiocast/session/source_selector.hpp>
#include <audiocast/session/source_timeline.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <array>
#include <chrono>
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

/// The receiver's half of the protocol; see the file comment. Not thread-safe:
/// on_datagram() and pull() are called by one owner (the stream's receiver,
/// stream/receiver_stream.hpp, adds the lock-free hand-off to an audio thread).
template <codec Codec>
class receiver_session {
public:
    explicit receiver_session(Codec codec, const receiver_config& config = {})
        : codec_{std::move(codec)}, config_{checked(config)},
          decoded_(max_datagram_samples(codec_)),
          selector_{config_.source_timeout, max_held_bytes(codec_), random_key()},
          timeline_{believable_step(codec_, config_)}, jump_payload_(max_payload_bytes),
          meter_{codec_.format().sample_rate},
          playout_{{.format = codec_.format(),
                    .latency = config_.latency,
                    .fade = config_.fade,
                    .max_rate_adjustment = config_.max_rate_adjustment,
                    .capacity_frames = buffer_capacity(codec_, config_)}},
          rtcp_{rtcp_participant::role::receiver, timing_of(codec_, config_), config_.max_members,
                config_.ssrc, config_.cname},
          screen_{codec_.format(), config_.payload_type, config_.send_time_extension_id,
                  std::min(decoded_.size() / codec_.format().channels, playout_.capacity() / 2)}
    {}

    /// The first setting of `config` that breaks its limit (receiver_config.hpp).
    [[nodiscard]] static setting_problem check(const receiver_config& config) noexcept
    {
        return audiocast::check(config);
    }

    static void validate(const receiver_config& config, std::error_code& ec) noexcept
    {
        detail::assign(ec, check(config));
    }

    /// Throwing form; the message names the setting, the value and the limit.
    static void validate(const receiver_config& config) { detail::throw_if(check(config)); }

    [[nodiscard]] const Codec& codec() const noexcept { return codec_; }
    [[nodiscard]] const audio_format& format() const noexcept { return codec_.format(); }
    [[nodiscard]] const receiver_config& config() const noexcept { return config_; }
    /// What a datagram must be for on_datagram() to consider it at all.
    [[nodiscard]] const packet_screen& screen() const noexcept { return screen_; }
    [[nodiscard]] playout_state state() const noexcept { return playout_.state(); }
    /// Frames stored and not yet played: stats().buffered_frames without the
    /// cost of the rest of stats() (its percentiles), for a caller that
    /// watches the buffer every block.
    [[nodiscard]] std::size_t buffered_frames() const noexcept
    {
        return playout_.buffered_frames();
    }
    /// The SSRC being played, once there is one.
    [[nodiscard]] std::optional<std::uint32_t> source() const noexcept
    {
        if (!selector_.has_source()) return std::nullopt;
        return selector_.ssrc();
    }
    /// Where the source's packets come from, once there is one.
    [[nodiscard]] std::optional<endpoint> source_endpoint() const noexcept
    {
        if (!selector_.has_source()) return std::nullopt;
        return selector_.source_endpoint();
    }

    /// Takes one datagram as it arrived from `from` (see endpoint.hpp; the
    /// overload without it is for transports that cannot tell). Never fails:
    /// what cannot be used is counted (malformed, foreign, duplicate,
    /// discarded, late) and dropped.
    void on_datagram(std::span<const std::byte> datagram, time_point arrival,
                     wall_time arrival_wall, const endpoint& from = {}) noexcept
    {
        rtcp_.join(arrival);
        const std::optional<rtp::packet_view> screened = screen_.screen(datagram);
        if (!screened) {
            ++malformed_;
            return;
        }
        const rtp::packet_view& packet = *screened;
        const rtp::header& h = packet.hdr;
        switch (selector_.on_packet(h.ssrc, h.sequence, from, datagram, arrival, arrival_wall)) {
        case source_selector::verdict::held:
        case source_selector::verdict::foreign: return;
        case source_selector::verdict::adopted:
            begin_source(h);
            // What it sent while on probation, oldest first, then this packet.
            selector_.release_held(
                [this](std::span<const std::byte> held, time_point at, wall_time at_wall) noexcept {
                    std::error_code held_ec;
                    play(rtp::parse(held, held_ec, config_.send_time_extension_id), at, at_wall);
                });
            break;
        case source_selector::verdict::source: break;
        }
        play(packet, arrival, arrival_wall);
    }

    /// Fills `out` (whole interleaved frames) with the frames due for playout
    /// at `now` and returns the frames written, out.size() / channels. Never
    /// blocks, allocates or fails: what is missing is silence.
    template <pcm_sample T>
    std::size_t pull(std::span<T> out, time_point now) noexcept
    {
        return playout_.pull(out, now);
    }

    // ---- RTCP (RFC 3550 §6) -------------------------------------------

    /// This receiver's SSRC and canonical name in its reports. Fixed at
    /// construction, so another thread may read them (see bye_for()).
    [[nodiscard]] std::uint32_t own_ssrc() const noexcept { return rtcp_.ssrc(); }
    [[nodiscard]] std::string_view cname() const noexcept { return rtcp_.cname(); }

    /// Takes one RTCP datagram from the group, sent from `from`: the
    /// source's sender reports (the NTP time of an RTP timestamp, for latency
    /// without the send-time extension, and LSR for its round trip), its BYE,
    /// and the other members (for the report interval). Reports and BYEs for
    /// the source count only from its host. Malformed ones are counted and
    /// dropped.
    void on_control(std::span<const std::byte> datagram, time_point arrival, wall_time arrival_wall,
                    const endpoint& from = {}) noexcept
    {
        (void)arrival_wall;
        rtcp_.join(arrival);
        const bool well_formed = rtcp_.on_compound(
            datagram, arrival, [&](const rtcp::packet_view& p, const participant*) {
                const std::uint32_t ssrc = *p.ssrc();
                if (p.type() == rtcp::type_sr) {
                    if (const auto info = p.sender()) {
                        if (selector_.is_source(ssrc, from)) {
                            meter_.on_sender_report(*info, arrival);
                        } else if (!selector_.has_source() || ssrc != selector_.ssrc()) {
                            // A sender may report before its first packet
                            // (ffmpeg does): kept until its packets make it
                            // the source.
                            pending_sr_ = {ssrc, *info, arrival, from};
                        }
                    }
                } else if (p.type() == rtcp::type_bye) {
                    for (std::size_t i = 0; i < p.bye_count(); ++i)
                        (void)selector_.on_bye(p.bye_source(i), from, arrival);
                }
            });
        if (!well_formed) ++control_malformed_;
    }

    /// When the next receiver report is due; nullopt before anything arrived.
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        return rtcp_.next_report_due();
    }

    /// If a report is due at `now`, writes it (an RR with a block about the
    /// source when it sent since the last report, then SDES with the CNAME)
    /// into `out` and returns its size; 0 otherwise. errc::buffer_too_small
    /// when `out` cannot hold rtcp_report_bytes().
    std::size_t write_report(time_point now, std::span<std::byte> out, std::error_code& ec) noexcept
    {
        const bool about_source =
            selector_.has_source() && heard_since_report_ && timeline_.tracker().valid();
        const std::uint32_t self = rtcp_.ssrc();
        const std::size_t size = rtcp_.write_report(now, out, ec, [&](rtcp::compound_writer& w) {
            if (about_source) {
                const rtcp::report_block b = report_block_at(now);
                w.receiver_report(self, std::span<const rtcp::report_block>{&b, 1});
            } else {
                w.receiver_report(self);
            }
        });
        if (size == 0) return 0;
        heard_since_report_ = false;
        ++reports_sent_;
        return size;
    }

    /// RR, SDES and BYE, for a receiver that leaves (RFC 3550 §6.6); 0 when
    /// it never sent a report, since nobody knows its SSRC (§6.3.7).
    std::size_t write_bye(std::span<std::byte> out, std::error_code& ec,
                          std::string_view reason = {}) const noexcept
    {
        ec.clear();
        if (reports_sent_ == 0) return 0;
        return bye_for(rtcp_.ssrc(), rtcp_.cname(), out, ec, reason);
    }

    /// The BYE compound of the receiver `ssrc` called `cname`, for a caller
    /// on another thread than the session's (own_ssrc() and cname() are
    /// fixed at construction) that knows it has reported.
    static std::size_t bye_for(std::uint32_t ssrc, std::string_view cname, std::span<std::byte> out,
                               std::error_code& ec, std::string_view reason = {}) noexcept
    {
        return rtcp_participant::bye_for(
            ssrc, cname, out, ec, [ssrc](rtcp::compound_writer& w) { w.receiver_report(ssrc); },
            reason);
    }

    /// Bytes write_report() and write_bye() need at most: an RR with one
    /// block, SDES with a 255-byte CNAME, a BYE with a 255-byte reason.
    [[nodiscard]] static constexpr std::size_t rtcp_report_bytes() noexcept
    {
        return rtcp::receiver_report_size(1) + rtcp::cname_size(rtcp::max_text) +
               rtcp::bye_size(1, rtcp::max_text);
    }

    /// A snapshot of every counter and measurement.
    [[nodiscard]] receiver_stats stats() const noexcept
    {
        receiver_stats s;
        counters(s);
        percentiles(s);
        return s;
    }

    /// Fills every field of `s` but the percentiles: constant time, cheap
    /// enough for every audio callback.
    void counters(receiver_stats& s) const noexcept
    {
        s.packets_received = timeline_.received() + received_before_;
        const std::int64_t lost = timeline_.lost() + lost_before_;
        s.packets_lost = lost > 0 ? static_cast<std::uint64_t>(lost) : 0;
        s.packets_duplicate = timeline_.tracker().duplicates() + duplicates_before_;
        s.packets_reordered = timeline_.tracker().reordered() + reordered_before_;
        s.packets_malformed = malformed_;
        s.packets_foreign = selector_.foreign();
        s.packets_discarded = timeline_.discarded() + discarded_before_;
        meter_.counters(s);
        playout_.counters(s);
        s.source_changes = source_changes_;
        s.packets_expected = s.packets_received + s.packets_lost;
        s.reports_sent = reports_sent_;
        s.control_malformed = control_malformed_;
        s.source_left = selector_.left();
        if (selector_.has_source()) {
            s.source_ssrc = selector_.ssrc();
            s.source = selector_.source_endpoint();
        }
    }

    /// Fills the latency and IPDV percentiles of `s`: a walk over the
    /// histograms, so callers on the audio thread do it now and then.
    void percentiles(receiver_stats& s) const noexcept { meter_.percentiles(s); }

private:
    // The largest RTP payload (65507 bytes less the fixed header).
    static constexpr std::size_t max_payload_bytes = 65'507 - rtp::fixed_header_size;
    static std::size_t max_datagram_samples(const Codec& c) noexcept
    {
        return max_payload_bytes / bytes_per_sample(c.format().encoding);
    }
    // Room for the target latency twice over plus generous headroom for
    // jitter and large packets; memory stays bounded by the latency.
    static std::size_t buffer_capacity(const Codec& c, const receiver_config& config) noexcept
    {
        const auto latency = std::clamp(config.latency, min_playout_latency, max_playout_latency);
        return static_cast<std::size_t>(
            frames_in(2 * latency + std::chrono::milliseconds{200}, c.format().sample_rate));
    }
    // How far from the newest packet another may lie and be believed alone:
    // a lone packet that far ahead still fits the buffer's window behind the
    // latency's worth of frames already stored, so it can never force playout
    // to start over (source_timeline.hpp).
    static std::uint64_t believable_step(const Codec& c, const receiver_config& config) noexcept
    {
        const auto latency = std::clamp(config.latency, min_playout_latency, max_playout_latency);
        return frames_in(latency + std::chrono::milliseconds{100}, c.format().sample_rate);
    }
    // Datagrams held while their source is on probation: the size the
    // receive hand-off takes too (basic_multicast_stream).
    static std::size_t max_held_bytes(const Codec& c) noexcept
    {
        std::size_t payload = c.payload_bytes();
        // Up to the codec's MTU when it says: a sender's packets may be longer.
        if constexpr (requires { c.max_payload_bytes(); })
            payload = std::max(payload, c.max_payload_bytes());
        return std::max<std::size_t>(2048, payload + 256);
    }

    /// Whether a parsed packet could be played: whole frames, at least one,
    /// within what the buffers hold.

    // The selector chose a new source: counts, timeline and reports start
    // afresh; the totals keep what the old source counted.
    void begin_source(const rtp::header& h) noexcept
    {
        received_before_ += timeline_.received();
        lost_before_ += timeline_.lost();
        duplicates_before_ += timeline_.tracker().duplicates();
        reordered_before_ += timeline_.tracker().reordered();
        discarded_before_ += timeline_.discarded();
        timeline_.reset();
        // The last source's audio still to play (it said BYE and this one
        // took over at once): this source follows it rather than erasing it.
        follows_previous_ = playout_.has_audio_to_play();
        position_offset_ = 0;
        payload_type_ = h.payload_type;
        ++source_changes_;
        meter_.new_source();
        // A report that came before the source's first packet, from its host.
        if (pending_sr_ && pending_sr_->ssrc == selector_.ssrc() &&
            pending_sr_->from.same_host(selector_.source_endpoint()))
            meter_.on_sender_report(pending_sr_->info, pending_sr_->arrival);
        pending_sr_.reset();
    }

    using placing = playout_timeline::placing;

    // One packet of the source: source_timeline says where it belongs and
    // whether to believe it; place() puts it in the buffer.
    void play(const rtp::packet_view& packet, time_point arrival, wall_time arrival_wall) noexcept
    {
        if (packet.hdr.payload_type != payload_type_) {
            ++malformed_;
            return;
        }
        const std::size_t frames = packet.payload.size() / bytes_per_frame(format());
        source_timeline::placement where;
        switch (timeline_.on_packet(packet.hdr.sequence, packet.hdr.timestamp, frames, where)) {
        case source_timeline::verdict::duplicate:
        case source_timeline::verdict::discarded: return;
        case source_timeline::verdict::held_jump: hold_jump(packet, arrival, arrival_wall); return;
        case source_timeline::verdict::confirmed_jump:
            place(jump_packet_, timeline_.held().position + position_offset_, jump_arrival_,
                  jump_arrival_wall_, placing::jump);
            place(packet, where.position + position_offset_, arrival, arrival_wall,
                  placing::continues);
            return;
        case source_timeline::verdict::first:
            if (follows_previous_) {
                // Wraps modulo 2^64, as positions do: only differences count.
                position_offset_ = playout_.following_position(arrival) - where.position;
                place(packet, where.position + position_offset_, arrival, arrival_wall,
                      placing::follows);
            } else {
                place(packet, where.position, arrival, arrival_wall, placing::start);
            }
            return;
        case source_timeline::verdict::continues:
            place(packet, where.position + position_offset_, arrival, arrival_wall,
                  placing::continues);
            return;
        case source_timeline::verdict::after_gap:
        case source_timeline::verdict::reordered:
            place(packet, where.position + position_offset_, arrival, arrival_wall, placing::other);
            return;
        }
    }

    // Keeps an unconfirmed jump aside, with where the timeline stood.
    void hold_jump(const rtp::packet_view& packet, time_point arrival,
                   wall_time arrival_wall) noexcept
    {
        std::copy(packet.payload.begin(), packet.payload.end(), jump_payload_.begin());
        jump_packet_ = packet;
        jump_packet_.payload =
            std::span<const std::byte>{jump_payload_.data(), packet.payload.size()};
        jump_arrival_ = arrival;
        jump_arrival_wall_ = arrival_wall;
        jump_from_ = timeline_.newest_end() + position_offset_;
    }

    void place(const rtp::packet_view& packet, std::uint64_t position, time_point arrival,
               wall_time arrival_wall, placing how) noexcept
    {
        const std::size_t frames = packet.payload.size() / bytes_per_frame(format());
        const std::size_t samples = codec_.decode(
            packet.payload, std::span<std::int32_t>{decoded_.data(), frames * format().channels});
        meter_.on_packet(packet, arrival, arrival_wall);
        heard_since_report_ = true;
        if (how == placing::follows) follows_previous_ = false;
        playout_.place(std::span<const std::int32_t>{decoded_.data(), samples}, position, arrival,
                       how, packet.hdr.marker, jump_from_);
    }

    static std::uint64_t random_key()
    {
        std::random_device rd;
        return (std::uint64_t{rd()} << 32) ^ rd();
    }

    static const receiver_config& checked(const receiver_config& config)
    {
        validate(config);
        return config;
    }

    static rtcp_timing timing_of(const Codec& c, const receiver_config& config) noexcept
    {
        // The sender's rate as the format implies it, with audiocast's headers.
        return {.session_bytes_per_s = rtcp_session_bandwidth(
                    c.format().sample_rate, c.frames_per_packet(), c.payload_bytes(),
                    rtp::fixed_header_size + rtp::send_time_extension_size),
                .minimum = config.rtcp_minimum_interval};
    }

    // RFC 3550 §6.4.1 and A.3: loss over the interval since the last report,
    // cumulative loss, the extended highest sequence number, jitter, and the
    // LSR/DLSR pair from which the source computes the round trip.
    rtcp::report_block report_block_at(time_point now) noexcept
    {
        sequence_tracker& tracker = timeline_.tracker();
        rtcp::report_block b;
        b.ssrc = selector_.ssrc();
        b.fraction_lost = tracker.fraction_lost(); // A.3, the interval since the last call
        b.cumulative_lost = static_cast<std::int32_t>(std::clamp<std::int64_t>(
            tracker.lost(), rtcp::min_cumulative_lost, rtcp::max_cumulative_lost));
        b.highest_sequence = static_cast<std::uint32_t>(tracker.extended_max());
        meter_.fill(b, now);
        return b;
    }

    Codec codec_;
    receiver_config config_;
    std::vector<std::int32_t> decoded_;

    // Which source plays, and where its packets belong.
    source_selector selector_;
    source_timeline timeline_;
    std::uint8_t payload_type_ = 0;
    // An unconfirmed jump, kept aside until the next packet confirms it.
    std::vector<std::byte> jump_payload_;
    rtp::packet_view jump_packet_{};
    time_point jump_arrival_{};
    wall_time jump_arrival_wall_{};
    std::uint64_t jump_from_ = 0; ///< where the timeline stood before the jump

    reception_meter meter_;

    playout_timeline playout_;

    // Counters of earlier sources, so a new source keeps the totals honest.
    std::uint64_t received_before_ = 0;
    std::int64_t lost_before_ = 0;
    std::uint64_t duplicates_before_ = 0;
    std::uint64_t reordered_before_ = 0;
    std::uint64_t discarded_before_ = 0;

    std::uint64_t malformed_ = 0;
    std::uint64_t source_changes_ = 0;

    rtcp_participant rtcp_;
    // Built from the sizes above, so declared after them.
    packet_screen screen_;
    bool heard_since_report_ = false;
    struct sender_report_seen {
        std::uint32_t ssrc;
        rtcp::sender_info info;
        time_point arrival;
        endpoint from;
    };
    std::optional<sender_report_seen> pending_sr_;
    // A source that took over while the last one's audio was still buffered
    // plays on its schedule: its timeline's positions, shifted.
    bool follows_previous_ = false;
    std::uint64_t position_offset_ = 0;
    std::uint64_t reports_sent_ = 0;
    std::uint64_t control_malformed_ = 0;
};

} // namespace audiocast
