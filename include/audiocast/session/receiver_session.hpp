// audiocast — the receiver's protocol state machine (sans-I/O): wiring
// (docs/architecture.md, Receiver).
//
// A receiver_session takes datagrams with their arrival times and gives back
// frames on demand. It never touches a socket or a clock. Each step is a part
// of its own, testable alone:
//
//   on_datagram(bytes, arrival, from) ─► packet_screen: could it be our RTP
//       ─► source_selector: which sender plays (probation, lock, hand-over)
//       ─► source_feed: where the packet belongs, and whether to believe it
//          (source_timeline), a held jump, a source that follows another
//       ─► reception_meter: jitter, latency, IPDV, throughput
//       ─► the codec's decode (a stateful codec's in stream order, repairing
//          what went missing: decode_order) ─► playout_timeline: jitter
//          buffer, anchoring, concealment, rate control
//       ─► pull(frames, now) ─► the application or audio device
//   on_control(bytes, arrival, from) ─► receiver_reports: members, the
//       source's sender reports and BYE; write_report() for receiver reports
#pragma once

#include <audiocast/codec/pcm.hpp>
#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/session/decode_order.hpp>
#include <audiocast/session/packet_screen.hpp>
#include <audiocast/session/playout.hpp>
#include <audiocast/session/receiver_config.hpp>
#include <audiocast/session/receiver_reports.hpp>
#include <audiocast/session/receiver_sizes.hpp>
#include <audiocast/session/reception_meter.hpp>
#include <audiocast/session/source_feed.hpp>
#include <audiocast/session/source_selector.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast {

namespace detail {
/// What receiver_session keeps to decode in order: a decode_order for a
/// stateful codec, nothing for one whose packets decode alone.
struct no_decode_order {};
template <class Codec>
struct decode_order_for {
    using type = no_decode_order;
};
template <loss_repairing_codec Codec>
struct decode_order_for<Codec> {
    using type = decode_order<Codec>;
};
} // namespace detail

/// The receiver's half of the protocol; see the file comment. Not thread-safe:
/// on_datagram() and pull() are called by one owner (the stream's receiver,
/// stream/receiver_stream.hpp, adds the lock-free hand-off to an audio thread).
template <codec Codec>
class receiver_session {
public:
    explicit receiver_session(Codec codec, const receiver_config& config = {})
        : receiver_session{std::move(codec), checked(config), receiver_sizes::of(codec, config)}
    {}

    /// Sets `ec` for the first setting of `config` that breaks its limit
    /// (audiocast::check(), receiver_config.hpp).
    static void validate(const receiver_config& config, std::error_code& ec) noexcept
    {
        detail::assign(ec, audiocast::check(config));
    }

    /// Throwing form; the message names the setting, the value and the limit.
    static void validate(const receiver_config& config)
    {
        detail::throw_if(audiocast::check(config));
    }

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
    /// overload without it is for transports that cannot tell); `rebuilt`:
    /// a protection layer rebuilt it (datagram_origin::rebuilt), so it plays
    /// but is not timed. Never fails: what cannot be used is counted
    /// (malformed, foreign, duplicate, discarded, late) and dropped.
    void on_datagram(std::span<const std::byte> datagram, time_point arrival,
                     wall_time arrival_wall, const endpoint& from = {},
                     bool rebuilt = false) noexcept
    {
        reports_.join(arrival, arrival_wall);
        bool passed = false;
        const rtp::packet_view packet = screen_.screen(datagram, passed);
        if (!passed) {
            ++malformed_;
            return;
        }
        const rtp::header& h = packet.hdr;
        switch (selector_.on_packet(h.ssrc, h.sequence, from, datagram, arrival, arrival_wall)) {
        case source_selector::verdict::held:
        case source_selector::verdict::foreign: return;
        case source_selector::verdict::adopted:
            begin_source(h, arrival);
            // What it sent while on probation, oldest first, then this packet.
            selector_.release_held(
                [this](std::span<const std::byte> held, time_point at, wall_time at_wall) noexcept {
                    std::error_code held_ec;
                    play(rtp::parse(held, held_ec, config_.send_time_extension_id), at, at_wall);
                });
            break;
        case source_selector::verdict::source: break;
        }
        if (rebuilt) ++rebuilt_;
        play(packet, arrival, arrival_wall, rebuilt);
        // The source's reports may have come before its first packet placed it.
        if (config_.synchronized_playout && !playout_.synchronized_to()) synchronize();
    }

    /// Fills `out` (whole interleaved frames) with the frames due for playout
    /// at `now` and returns the frames written, out.size() / channels. Never
    /// blocks, allocates or fails: what is missing is silence.
    template <pcm_sample T>
    std::size_t pull(std::span<T> out, time_point now) noexcept
    {
        // Synchronized playout does not start until it knows the source's
        // clock (receiver_config::sync_wait), so that it starts in step rather
        // than jumps into step; the playout keeps only recent audio meanwhile.
        // Audio already playing (the last source's, followed) plays on.
        if (config_.synchronized_playout && !playout_.synchronized_to() && source_since_ &&
            now - *source_since_ < config_.sync_wait &&
            playout_.state() != playout_state::playing) {
            std::ranges::fill(out, T{});
            return out.size() / format().channels;
        }
        if constexpr (repairs_loss) repair_kept_gap_if_due(out.size() / format().channels);
        return playout_.pull(out, now);
    }

    /// How long after a pull() the audio device plays what it returned (its
    /// output latency, as the audio API reports it): synchronized playout
    /// pulls each frame that much before the common timeline has it heard.
    /// Real-time safe; call it again when the device's figure changes.
    void set_output_latency(std::chrono::nanoseconds latency) noexcept
    {
        playout_.set_output_latency(latency);
    }

    /// The device's output stopped and started again (an underflow): see
    /// playout_timeline::restart_output(). Real-time safe.
    void restart_output() noexcept { playout_.restart_output(); }

    // ---- RTCP (RFC 3550 §6) -------------------------------------------

    /// This receiver's SSRC and canonical name in its reports. Fixed at
    /// construction, so another thread may read them (receiver_reports::bye_for()).
    [[nodiscard]] std::uint32_t own_ssrc() const noexcept { return reports_.ssrc(); }
    [[nodiscard]] std::string_view cname() const noexcept { return reports_.cname(); }

    /// Takes one RTCP datagram from the group, sent from `from`
    /// (session/receiver_reports.hpp says what counts). Malformed ones are
    /// counted and dropped.
    void on_control(std::span<const std::byte> datagram, time_point arrival, wall_time arrival_wall,
                    const endpoint& from = {}) noexcept
    {
        reports_.on_control(datagram, arrival, arrival_wall, from, selector_, meter_);
        synchronize();
    }

    /// When the next receiver report is due; nullopt before anything arrived.
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        return reports_.next_report_due();
    }

    /// If a report is due at `now`, writes it (an RR with a block about the
    /// source when it sent since the last report, then SDES with the CNAME)
    /// into `out` and returns its size; 0 otherwise. errc::buffer_too_small
    /// when `out` cannot hold rtcp_report_bytes().
    std::size_t write_report(time_point now, std::span<std::byte> out, std::error_code& ec) noexcept
    {
        return reports_.write_report(now, out, ec, selector_, feed_.tracker(), meter_);
    }

    /// RR, SDES and BYE, for a receiver that leaves (RFC 3550 §6.6); 0 when
    /// it never sent a report, since nobody knows its SSRC (§6.3.7).
    std::size_t write_bye(std::span<std::byte> out, std::error_code& ec,
                          std::string_view reason = {}) const noexcept
    {
        return reports_.write_bye(out, ec, reason);
    }

    /// Bytes write_report() and write_bye() need at most.
    [[nodiscard]] static constexpr std::size_t rtcp_report_bytes() noexcept
    {
        return receiver_reports::max_bytes();
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
        feed_.counters(s);
        s.packets_malformed = malformed_;
        s.packets_rebuilt = rebuilt_;
        if constexpr (repairs_loss) {
            s.packets_malformed += order_.malformed();
            s.frames_repaired = order_.repaired_frames();
        }
        s.packets_foreign = selector_.foreign();
        meter_.counters(s);
        playout_.counters(s);
        if constexpr (repairs_loss) s.packets_late += order_.late();
        s.reports_sent = reports_.sent();
        s.control_malformed = reports_.malformed();
        const sender_clock& clock = reports_.source_clock();
        s.clock_questions = clock.asked();
        s.clock_exchanges = clock.exchanges();
        s.clock_answers_unmatched = clock.unmatched();
        s.clock_steps = clock.steps();
        if (const auto& e = clock.estimate()) {
            s.clock_offset = e->offset;
            s.clock_uncertainty = e->uncertainty;
            s.clock_rate_ppm = e->rate_ppm;
        }
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
    static constexpr bool repairs_loss = loss_repairing_codec<Codec>;
    // How far ahead of a pull's frames a waiting gap counts as due: the next
    // pull may come before another packet does.
    static constexpr std::chrono::milliseconds repair_margin{5};
    using order_type = typename detail::decode_order_for<Codec>::type;

    // `codec` is moved from only once `sizes` has been taken from it.
    receiver_session(Codec&& codec, const receiver_config& config, const receiver_sizes& sizes)
        : codec_{std::move(codec)}, config_{config}, decoded_(sizes.decoded_samples),
          order_{make_order(codec_, config_, sizes)},
          selector_{config_.source_timeout, sizes.max_held_bytes},
          feed_{sizes.believable_step, receiver_sizes::max_payload_bytes, config_.max_misorder},
          meter_{codec_.format().sample_rate},
          playout_{{.format = codec_.format(),
                    .latency = config_.latency,
                    .fade = config_.fade,
                    .max_rate_adjustment = config_.max_rate_adjustment,
                    .capacity_frames = sizes.buffer_frames}},
          reports_{sizes.rtcp,    config_.max_members,          config_.ssrc,
                   config_.cname, config_.synchronized_playout, config_.source_clock},
          screen_{codec_.format(), config_.payload_type, config_.send_time_extension_id,
                  std::min(decoded_.size() / codec_.format().channels, playout_.capacity() / 2),
                  frame_counter_of(codec_)}
    {}

    // The selector chose a new source: counts, timeline and reports start
    // afresh; the totals keep what the old source counted. The last source's
    // audio still to play (it said BYE and this one took over at once) is
    // followed, not erased.
    void begin_source(const rtp::header& h, time_point arrival) noexcept
    {
        feed_.begin(h, playout_.has_audio_to_play());
        if constexpr (repairs_loss)
            order_.reset(
                codec_, [this](std::uint64_t from, std::span<const std::int32_t> samples) noexcept {
                    playout_.fill(from, samples);
                });
        meter_.new_source();
        reports_.on_new_source(selector_, meter_, arrival);
        playout_.synchronize(std::nullopt);
        source_since_ = arrival;
    }

    // One packet of the source: the feed says where it goes, if anywhere;
    // there it is decoded into the playout buffer.
    void play(const rtp::packet_view& packet, time_point arrival, wall_time arrival_wall,
              bool rebuilt = false) noexcept
    {
        const auto place = [this, rebuilt, &packet](const rtp::packet_view& p,
                                                    std::uint64_t position, time_point at,
                                                    wall_time at_wall, source_feed::placing how,
                                                    std::uint64_t jump_from) noexcept {
            // A held packet placed with this one was received, not rebuilt.
            meter_.on_packet(p, at, at_wall, !(rebuilt && p.hdr.sequence == packet.hdr.sequence));
            reports_.heard_from_source();
            bool in_order = false;
            if constexpr (repairs_loss) {
                if (decodes_in_order()) {
                    in_order = true;
                    order_.on_packet(
                        codec_, p.payload, position, how, p.hdr.marker,
                        [&](std::span<const std::int32_t> samples) noexcept {
                            playout_.place(samples, position, at, how, p.hdr.marker, jump_from);
                        },
                        [this](std::uint64_t from, std::span<const std::int32_t> samples) noexcept {
                            playout_.fill(from, samples);
                        });
                }
            }
            if (!in_order) {
                // Any packet decodes alone: the playout buffer takes them in any order.
                const std::size_t samples =
                    codec_.decode(p.payload, std::span<std::int32_t>{decoded_.data(),
                                                                     codec_.frames_in(p.payload) *
                                                                         format().channels});
                playout_.place(std::span<const std::int32_t>{decoded_.data(), samples}, position,
                               at, how, p.hdr.marker, jump_from);
            }
            if (p.hdr.send_time &&
                reports_.on_source_packet(p.hdr.timestamp, *p.hdr.send_time, format().sample_rate))
                synchronize();
        };
        if (!feed_.on_packet(packet, codec_.frames_in(packet.payload), arrival, arrival_wall,
                             playout_, place))
            ++malformed_;
    }

    // Synchronized playout: the common timeline (the source's wall-clock time
    // of each RTP timestamp, by its packets' send times or its last report,
    // plus the latency) on our clock, by what the round trips (or the shared
    // clock) say of the source's clock.
    void synchronize() noexcept
    {
        if (!config_.synchronized_playout) return;
        const sender_clock& clock = reports_.source_clock();
        const auto& report = clock.media_anchor();
        const auto& estimate = clock.estimate();
        if (!report || !estimate || !clock.settled()) return;
        const auto position = feed_.position_of(report->rtp_timestamp);
        // D is the source's time: on our clock it is longer or shorter by the
        // rate (20 us of 100 ms at 200 ppm).
        const auto heard =
            clock.local_time(ntp::to_wall(report->ntp).time_since_epoch() + config_.latency);
        if (!position || !heard) return;
        const double faster = estimate->rate_ppm * 1e-6;
        playout_.synchronize(common_schedule{.position = *position,
                                             .heard = *heard,
                                             .frame_ns = 1e9 / format().sample_rate / (1 + faster),
                                             .feed_forward = faster});
    }

    // A stateful codec is decoded in stream order (decode_order), unless
    // it says at run time that this instance carries no state (a codec
    // chosen at run time that holds linear PCM).
    [[nodiscard]] bool decodes_in_order() const noexcept
    {
        if constexpr (!repairs_loss)
            return false;
        else if constexpr (requires {
                               { codec_.carries_state() } noexcept -> std::same_as<bool>;
                           })
            return codec_.carries_state();
        else
            return true;
    }

    // A compressed codec's payloads say their own length (a static
    // frames_in(), or a codec chosen at run time names its counter);
    // linear PCM's are counted by the screen from the format.
    static packet_screen::frame_counter frame_counter_of(const Codec& codec) noexcept
    {
        if constexpr (requires {
                          {
                              codec.frame_counter()
                          } noexcept -> std::same_as<packet_screen::frame_counter>;
                      })
            return codec.frame_counter();
        else if constexpr (requires(std::span<const std::byte> p) {
                               { Codec::frames_in(p) } noexcept -> std::same_as<std::size_t>;
                           })
            return &Codec::frames_in;
        else
            return nullptr;
    }

    // A stateful codec's gap still waiting for its packets is taken for
    // lost and repaired just before playout reaches it: within the frames
    // this pull takes and a margin for the next pull's.
    void repair_kept_gap_if_due(std::size_t pulled_frames) noexcept
    {
        const std::uint64_t margin = frames_in(repair_margin, format());
        order_.repair_if_due(codec_, playout_.next_to_play() + pulled_frames + margin,
                             [this](std::uint64_t from, std::span<const std::int32_t> s) noexcept {
                                 playout_.fill(from, s);
                             });
    }

    static order_type make_order(const Codec& codec, const receiver_config& config,
                                 const receiver_sizes& sizes)
    {
        if constexpr (repairs_loss) {
            // Beyond 120 ms (or the latency, when shorter) a decoder's
            // concealment has faded to nothing; the packets after such a gap
            // start it afresh.
            const auto repairable =
                std::min(frames_in(std::chrono::milliseconds{120}, codec.format()),
                         frames_in(config.latency, codec.format()));
            // Packets wait for a gap before them to fill while playout has
            // not reached it: about a latency's worth of the codec's packets.
            const auto packet = std::max<std::chrono::nanoseconds>(codec.packet_time(),
                                                                   std::chrono::milliseconds{1});
            const auto kept = std::clamp<std::int64_t>(config.latency / packet + 1, 8, 64);
            return order_type{codec, sizes.decoded_samples / codec.format().channels,
                              receiver_sizes::max_payload_bytes,
                              static_cast<std::size_t>(repairable), static_cast<std::size_t>(kept)};
        } else {
            return order_type{};
        }
    }

    static const receiver_config& checked(const receiver_config& config)
    {
        validate(config);
        return config;
    }

    Codec codec_;
    receiver_config config_;
    std::vector<std::int32_t> decoded_;
    // A stateful codec's place in the stream (declared after codec_, which it copies).
    [[no_unique_address]] order_type order_;

    // Which source plays, and where its packets go.
    source_selector selector_;
    source_feed feed_;
    reception_meter meter_;
    playout_timeline playout_;
    std::uint64_t malformed_ = 0;
    std::uint64_t rebuilt_ = 0;
    std::optional<time_point> source_since_; // when the source now played began

    receiver_reports reports_;
    // Built from the sizes above, so declared after them.
    packet_screen screen_;
};

} // namespace audiocast
