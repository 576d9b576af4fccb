// audiocast — the playout timeline: when each frame of the source plays
// (docs/architecture.md, Playout timeline).
//
// receiver_session decides which packets to believe and where they lie on
// the source's timeline; this class turns them into sound at the right time:
//
//   place(samples, position, arrival, how) ─► jitter_buffer ─► pull(out, now)
//
// The first packet of a talkspurt is anchored to its arrival time plus the
// target latency; from then on the reader advances by the frames pulled, so
// the audio device's clock drives playout. A missing frame is concealed
// (silence with a short fade, counted); a buffer that runs dry stops playout
// until the next packet re-anchors it (an underrun, counted, unless the
// packet's marker bit says the sender paused on purpose). Between re-anchors,
// playout is kept at the target latency against clock drift by resampling
// within ±max_rate_adjustment (session/playout_rate.hpp). Synchronized playout
// (synchronize()) follows the common timeline instead, less the device's output
// latency (docs/architecture.md, Synchronized playout). A source that takes over
// while the last one's audio is still buffered follows that audio on the same
// schedule (follows) instead of erasing it.
//
// Samples are the codec concept's: 24 bits in the top of an int32. pull()
// converts them to the application's sample type. Fixed memory, no allocation,
// every call noexcept: pull() runs on the audio thread.
#pragma once

#include <audiocast/codec/pcm.hpp>
#include <audiocast/format.hpp>
#include <audiocast/session/common_schedule.hpp>
#include <audiocast/session/jitter_buffer.hpp>
#include <audiocast/session/playout_fades.hpp>
#include <audiocast/session/playout_rate.hpp>
#include <audiocast/session/playout_resampler.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace audiocast {

/// Where playout stands.
enum class playout_state {
    idle,      ///< no source yet: silence
    buffering, ///< anchored; silence until the first frame's playout time
    playing,   ///< frames flow
    drained,   ///< the buffer ran dry: silence until the next packet re-anchors
};

class playout_timeline {
public:
    /// How a packet relates to what is buffered, as the source's timeline
    /// (session/source_timeline.hpp) decided.
    enum class placing {
        start,     ///< a new source's first packet: playout starts over
        follows,   ///< a new source's first packet, after the last one's buffered audio
        jump,      ///< a confirmed jump in the timeline, from `jump_from`
        continues, ///< the next packet, where the last one ended: it paces the rate control
        other,     ///< after a gap, or reordered
    };

    /// Further off the common timeline than this, playout realigns at once
    /// (a fade out, a jump, a fade in) rather than resampling its way there.
    static constexpr std::chrono::nanoseconds realign_beyond = std::chrono::milliseconds{1};
    /// A placement on the common timeline goes by the output latency of one
    /// moment (a device restarting after it ran dry reports it late). Playout
    /// that cannot resample (max_rate_adjustment 0) would keep any error it
    /// started with below realign_beyond; so once the first window has
    /// settled after a placement, an error beyond this places it once more.
    /// About 5 frames at 48 kHz: below what two listeners are heard apart by.
    static constexpr std::chrono::nanoseconds replace_beyond = std::chrono::microseconds{100};

    struct settings {
        audio_format format;
        std::chrono::nanoseconds latency;
        std::chrono::nanoseconds fade;
        double max_rate_adjustment;
        std::size_t capacity_frames;
    };

    explicit playout_timeline(const settings& s)
        : format_{s.format}, latency_{s.latency}, rate_limit_{s.max_rate_adjustment},
          buffer_{s.format.channels, s.capacity_frames},
          scratch_(scratch_frames * s.format.channels), rate_{s.max_rate_adjustment, s.latency},
          resampler_{s.format.channels},
          fades_{s.format.channels, frames_in(s.fade, s.format.sample_rate)}
    {}

    [[nodiscard]] playout_state state() const noexcept { return state_; }
    [[nodiscard]] std::size_t buffered_frames() const noexcept { return buffer_.buffered_frames(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return buffer_.capacity(); }

    /// True while audio of the current source is still to play: a source
    /// that takes over now should follow it.
    [[nodiscard]] bool has_audio_to_play() const noexcept
    {
        return (state_ == playout_state::playing || state_ == playout_state::buffering) &&
               buffer_.has_data_ahead();
    }

    /// Where the first frame of a source that follows the buffered audio
    /// goes: one latency after `arrival` on the current schedule, or right
    /// after that audio when it plays later than that.
    [[nodiscard]] std::uint64_t following_position(time_point arrival) const noexcept
    {
        const std::uint64_t end = buffer_.end_position();
        const time_point end_due = start_time_ + since_anchor(end);
        const time_point due = arrival + latency_;
        return due > end_due ? end + frames_in(due - end_due, format_) : end;
    }

    /// Plays to `schedule` from the next pull on; nullopt stops (and holds the latency it has).
    void synchronize(const std::optional<common_schedule>& schedule) noexcept
    {
        if (schedule.has_value() != sync_.has_value()) {
            rate_.reset();
            sync_error_.reset();
            placement_unchecked_ = true;
        }
        sync_ = schedule;
    }
    [[nodiscard]] const auto& synchronized_to() const noexcept { return sync_; }

    /// The device's output latency (a pull() to its sound): synchronized playout takes it off.
    void set_output_latency(std::chrono::nanoseconds d) noexcept
    {
        output_latency_ = std::max(d, {});
    }

    /// The device's output stopped and started again (it ran dry): where its
    /// pulls are heard moved by however long it waited. On a common timeline
    /// the next pull places playout on it again at once (skipping what is
    /// now late, or silent until the next frame is due, then fading in)
    /// rather than after the rate control's one-to-two-second window has
    /// seen every pull late. Without one, playout goes by arrival and stays.
    void restart_output() noexcept
    {
        if (!sync_ || state_ != playout_state::playing) return;
        ++realignments_;
        // What the resampler took but had not played is gone with the gap.
        frames_discarded_ += resampler_.pending();
        restart_rate_control();
        played_end_ = buffer_.read_position(); // a late packet must not rewind into it
        anchor_position_ = buffer_.read_position();
        // Due as the schedule has it, so that a packet placed before the
        // next pull measures its lateness from there (pull() sets it again).
        start_time_ = sync_->heard_at(buffer_.read_position()) - output_latency_;
        state_ = playout_state::buffering;
        placement_unchecked_ = true;
        fades_.resume_after_gap();
    }

    /// Puts a packet's decoded `samples` at `position`. `marker` is its RTP
    /// marker bit (the first packet after a pause); `jump_from`, for a jump,
    /// is where the timeline stood before it.
    void place(std::span<const std::int32_t> samples, std::uint64_t position, time_point arrival,
               placing how, bool marker, std::uint64_t jump_from = 0) noexcept
    {
        const std::size_t frames = samples.size() / format_.channels;
        // Only a packet that continues the stream where the last left off, in
        // sequence and timeline, tells the rate controller how fast packets
        // come: one stray or forged packet stamped far ahead must not steer it.
        bool paces = how == placing::continues;

        if (how == placing::follows) {
            // On the schedule the last source played to: silence (not loss)
            // from its last frame to this one's. The new sender's clock is
            // its own, so the rate controller learns it afresh.
            buffer_.insert_silence(buffer_.end_position(), position);
            rate_.reset();
            paces = true;
        } else if (how == placing::start || state_ == playout_state::idle) {
            played_end_ = 0; // a new timeline: nothing on it was played
            anchor(position, arrival);
            paces = true;
        } else if (how == placing::jump) {
            // A jump the next packet confirmed. Forward and within the window
            // while playing (resumed after a short pause, or a sender that
            // skipped): the frames between were never sent, so they are
            // filler silence, not loss. Otherwise playout starts over there.
            if (state_ != playout_state::drained && position >= jump_from &&
                position + frames <= buffer_.read_position() + buffer_.capacity()) {
                buffer_.insert_silence(jump_from, position);
            } else {
                if (state_ == playout_state::drained) {
                    if (!marker) ++underruns_;
                } else {
                    ++resyncs_;
                }
                played_end_ = 0;
                anchor(position, arrival);
                paces = true;
            }
        } else if (state_ == playout_state::drained) {
            // Frames before what was played come too late, whatever the state:
            // playing them now would put older audio after newer (a packet held
            // back past a pause, say).
            if (position + frames <= buffer_.read_position()) {
                ++late_;
                return;
            }
            // The sender went quiet on purpose (marker: a new talkspurt) or we ran dry.
            if (!marker) ++underruns_;
            played_end_ = buffer_.read_position();
            anchor(std::max(position, played_end_), arrival);
            paces = position >= played_end_;
        } else if (state_ == playout_state::buffering && position < buffer_.read_position() &&
                   buffer_.read_position() > played_end_) {
            // Sent before the packet that anchored playout but overtaken by it:
            // start with it, though never before what was already played. The
            // start time stays, so this talkspurt plays that much later than
            // the target rather than losing the audio.
            if (buffer_.rewind(std::max(position, played_end_)))
                anchor_position_ = std::min(anchor_position_, buffer_.read_position());
        }

        if (state_ == playout_state::buffering && arrival - start_time_ > latency_ / 2)
            skip_backlog(arrival);
        insert_result placed = buffer_.insert(position, samples);
        if (placed == insert_result::too_early) {
            // A packet believed on its timeline that lies beyond the window:
            // playout has fallen that far behind (the reader stalled), so it
            // starts over at the live edge.
            ++resyncs_;
            played_end_ = 0;
            anchor(position, arrival);
            placed = buffer_.insert(position, samples);
            paces = true;
        }
        if (placed == insert_result::late || placed == insert_result::partly_late) ++late_;
        if (paces && placed == insert_result::stored && state_ != playout_state::drained)
            rate_.on_arrival(arrival - anchor_arrival_ - since_anchor(position), arrival);
    }

    /// Stores frames a stateful codec repaired (its concealment, or in-band
    /// FEC, for a lost packet: session/decode_order.hpp) where nothing is
    /// stored yet. They are the stream's own frames, late or not: they never
    /// anchor playout, pace the rate control or count as late. Ignored while
    /// no packet anchors playout (idle, drained).
    void fill(std::uint64_t position, std::span<const std::int32_t> samples) noexcept
    {
        if (state_ == playout_state::idle || state_ == playout_state::drained) return;
        (void)buffer_.insert(position, samples);
    }

    /// The position of the next frame playout takes from the buffer.
    [[nodiscard]] std::uint64_t next_to_play() const noexcept { return buffer_.read_position(); }

    /// Fills `out` (whole interleaved frames) with the frames due for playout
    /// at `now` and returns the frames written, out.size() / channels. Never
    /// blocks, allocates or fails: what is missing is silence.
    template <pcm_sample T>
    std::size_t pull(std::span<T> out, time_point now) noexcept
    {
        const unsigned channels = format_.channels;
        const std::size_t frames = out.size() / channels;
        std::size_t done = 0;

        if (state_ == playout_state::playing) {
            // How late the frame at the read position plays, for the rate controller.
            const std::uint64_t at = buffer_.read_position() - resampler_.pending();
            const auto phase = std::chrono::nanoseconds{
                std::llround(resampler_.phase() * 1e9 / format_.sample_rate)};
            if (!sync_) {
                rate_.on_playout(now - start_time_ - since_anchor(at) - phase, now);
            } else {
                // The most punctual pull lately decides: any one pull may run late.
                rate_.on_sync(now + output_latency_ - sync_->heard_at(at) - phase,
                              sync_->feed_forward, now);
                if (const auto e = rate_.sync_error()) sync_error_ = *e;
                if (const auto e = rate_.settled_sync_error()) {
                    const bool check = placement_unchecked_ && rate_limit_ == 0;
                    placement_unchecked_ = false;
                    if (abs(*e) > (check ? replace_beyond : realign_beyond))
                        done = realign(out, *e);
                }
            }
            resampler_.set_adjustment(rate_.adjustment());
        }

        if (state_ == playout_state::buffering) {
            // When out[done] is pulled: after a realignment's fade, not `now`.
            const time_point at = now + duration_of(done, format_.sample_rate);
            // On a schedule, by this pull's output latency (it varies by pull).
            if (sync_) start_time_ = sync_->heard_at(buffer_.read_position()) - output_latency_;
            std::size_t lead = frames - done;
            if (at >= start_time_) {
                lead = 0;
                // Pulled well after the start time (the device opened late): the
                // frames due before are dropped, so playout sits at its latency.
                // Lateness within half the latency is callback jitter: kept,
                // unless a common schedule says which frame is due.
                if (at - start_time_ > (sync_ ? std::chrono::nanoseconds{} : latency_ / 2)) {
                    const std::size_t before = buffer_.buffered_frames();
                    buffer_.skip(frames_in(at - start_time_, format_));
                    frames_discarded_ += before - buffer_.buffered_frames();
                }
            } else {
                lead = static_cast<std::size_t>(
                    std::min<std::uint64_t>(frames - done, frames_in(start_time_ - at, format_)));
            }
            std::ranges::fill(out.subspan(done * channels, lead * channels), T{});
            done += lead;
            if (done < frames) state_ = playout_state::playing;
        }

        while (done < frames && state_ == playout_state::playing) {
            if (resampler_.active()) {
                const std::size_t want = std::min(frames - done, scratch_frames);
                const std::size_t n =
                    resampler_.process(std::span<std::int32_t>{scratch_.data(), want * channels},
                                       [this](std::span<std::int32_t> frame) noexcept {
                                           return next_source_frame(frame);
                                       });
                detail::pcm::from_l24(std::span<const std::int32_t>{scratch_.data(), n * channels},
                                      out.subspan(done * channels, n * channels));
                done += n;
                if (n < want) {
                    state_ = playout_state::drained;
                    resampler_.reset();
                }
                continue;
            }
            if (!buffer_.has_data_ahead()) {
                state_ = playout_state::drained;
                break;
            }
            const std::size_t want = std::min(frames - done, scratch_frames);
            bool present = false;
            const std::size_t n = buffer_.read_run(
                std::span<std::int32_t>{scratch_.data(), want * channels}, present);
            auto dest = out.subspan(done * channels, n * channels);
            const std::span<std::int32_t> run{scratch_.data(), n * channels};
            if (present) {
                fades_.play(run);
            } else {
                fades_.conceal(run, n);
                concealed_ += n;
            }
            detail::pcm::from_l24(std::span<const std::int32_t>{run}, dest);
            // What played, for the resampler to start from should the rate change.
            if (rate_limit_ > 0) resampler_.remember(run);
            done += n;
        }

        // Silence after the last frame, and in a trailing partial frame.
        std::ranges::fill(out.subspan(done * channels), T{});
        return frames;
    }

    /// Fills the playout fields of `s`: underruns, concealment, frames
    /// discarded, late packets, resyncs, the rate adjustment and the buffer.
    void counters(receiver_stats& s) const noexcept
    {
        s.packets_late = late_;
        s.underruns = underruns_;
        s.concealed_frames = concealed_;
        s.frames_discarded = frames_discarded_;
        s.playout_rate_adjustment = rate_.adjustment();
        s.resampled_frames = resampler_.interpolated();
        s.resyncs = resyncs_;
        s.buffered_frames = buffer_.buffered_frames();
        s.sync_realignments = realignments_;
        if (sync_) s.sync_error = sync_error_;
    }

private:
    static constexpr std::size_t scratch_frames = 256;

    // Still buffering, and the anchor frame was due before this packet came,
    // by more than callback jitter: what is buffered is a backlog (a listener
    // that joined before it was ready read what queued meanwhile at once), not
    // the live stream. Playout starts with the frame due now, as a late first
    // pull would (pull()); the stale frames are counted as discarded.
    void skip_backlog(time_point arrival) noexcept
    {
        const std::uint64_t overdue = frames_in(arrival - start_time_, format_);
        const std::size_t before = buffer_.buffered_frames();
        buffer_.skip(overdue);
        frames_discarded_ += before - buffer_.buffered_frames();
        const auto moved = duration_of(overdue, format_.sample_rate);
        start_time_ += moved;
        anchor_position_ += overdue;
        anchor_arrival_ += moved;
        played_end_ = std::max(played_end_, buffer_.read_position());
    }

    // Playout is `late` off the common timeline, more than resampling should
    // mend: the last frame played fades out into `out`, then playout jumps
    // ahead over the frames it is late by (discarded), or waits in silence
    // until the next is due, and fades in. Returns the frames written.
    template <pcm_sample T>
    std::size_t realign(std::span<T> out, std::chrono::nanoseconds late) noexcept
    {
        ++realignments_;
        // A jump as large as this one may land a little off; a small one is the check.
        placement_unchecked_ = abs(late) > realign_beyond;
        const unsigned channels = format_.channels;
        const std::size_t fade = static_cast<std::size_t>(
            std::min<std::uint64_t>(out.size() / channels, fades_.fade_frames()));
        const std::span<std::int32_t> faded{scratch_.data(),
                                            std::min(fade, scratch_frames) * channels};
        fades_.fade_out(faded);
        detail::pcm::from_l24(std::span<const std::int32_t>{faded}, out.subspan(0, faded.size()));
        const std::size_t written = faded.size() / channels;
        const std::uint64_t read = buffer_.read_position() - resampler_.pending();
        restart_rate_control();
        // From `written` frames on, the frame due is this far past `read`.
        const auto ahead = late + duration_of(written, format_.sample_rate);
        if (ahead > std::chrono::nanoseconds::zero()) {
            const std::uint64_t target = read + frames_in(ahead, format_);
            const std::size_t before = buffer_.buffered_frames();
            if (target > buffer_.read_position()) buffer_.skip(target - buffer_.read_position());
            frames_discarded_ += before - buffer_.buffered_frames();
        } else {
            start_time_ = sync_->heard_at(buffer_.read_position()) - output_latency_;
            anchor_position_ = buffer_.read_position();
            played_end_ = buffer_.read_position(); // a late packet must not rewind into it
            state_ = playout_state::buffering;
        }
        return written;
    }

    // Playout starts over at `position`, due `latency` after `arrival` (or as
    // the common timeline has it); what was buffered unplayed is discarded.
    void anchor(std::uint64_t position, time_point arrival) noexcept
    {
        frames_discarded_ += buffer_.buffered_frames();
        buffer_.reset(position);
        start_time_ = sync_ ? sync_->heard_at(position) - output_latency_ : arrival + latency_;
        state_ = playout_state::buffering;
        anchor_position_ = position;
        anchor_arrival_ = arrival;
        placement_unchecked_ = true;
        restart_rate_control();
    }

    void restart_rate_control() noexcept
    {
        rate_.reset();
        resampler_.reset();
        resampler_.set_adjustment(0);
    }

    // How long after the anchoring frame `position` is due, at the stream's rate.
    [[nodiscard]] std::chrono::nanoseconds since_anchor(std::uint64_t position) const noexcept
    {
        const std::uint32_t rate = format_.sample_rate;
        return position >= anchor_position_ ? duration_of(position - anchor_position_, rate)
                                            : -duration_of(anchor_position_ - position, rate);
    }

    // One frame for the resampler: stored audio, faded in after a gap, or
    // concealment for a missing one. False when the buffer has run dry.
    bool next_source_frame(std::span<std::int32_t> frame) noexcept
    {
        if (!buffer_.has_data_ahead()) return false;
        bool present = false;
        (void)buffer_.read_run(frame, present);
        if (present) {
            fades_.play(frame);
        } else {
            fades_.conceal(frame, 1);
            ++concealed_;
        }
        return true;
    }

    audio_format format_;
    std::chrono::nanoseconds latency_;
    double rate_limit_;
    jitter_buffer buffer_;
    std::vector<std::int32_t> scratch_;

    playout_state state_ = playout_state::idle;
    /// On the current timeline, the position after the last frame played
    /// before playout last re-anchored: nothing before it may play again.
    std::uint64_t played_end_ = 0;
    time_point start_time_{};
    // The anchor frame and its arrival: the rate controller's origin.
    std::uint64_t anchor_position_ = 0;
    time_point anchor_arrival_{};
    playout_rate_controller rate_;
    playout_resampler resampler_;
    playout_fades fades_;

    std::optional<common_schedule> sync_;
    std::chrono::nanoseconds output_latency_{};
    std::optional<std::chrono::nanoseconds> sync_error_;
    std::uint64_t realignments_ = 0;
    // Placed on the schedule since the settled error was last looked at (replace_beyond).
    bool placement_unchecked_ = false;

    std::uint64_t late_ = 0;
    std::uint64_t underruns_ = 0;
    std::uint64_t concealed_ = 0;
    std::uint64_t frames_discarded_ = 0;
    std::uint64_t resyncs_ = 0;
};

} // namespace audiocast
