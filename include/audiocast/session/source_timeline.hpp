// audiocast — where each packet of the source belongs, and which ones to
// believe (docs/architecture.md, Source timeline).
//
// A packet carries two positions: its sequence number and its RTP timestamp.
// For a packet of the source being played this class decides whether both
// agree with the stream so far, and widens them to 64 bits (sequence cycles,
// timestamp wraps). The rule is A.1's "two in a row", applied to timestamps
// as well as sequence numbers:
//
// - A packet close to the newest one, in sequence and on the timeline, is
//   believed at once: the next one (`continues`; the second may overlap the
//   first one's end by up to half a packet), one after a few lost
//   (`after_gap`, when its timestamp is no further on than the packets
//   between would take), or an older one not seen before (`reordered`).
// - Anything else is a jump: far in sequence, or on a timeline that does not
//   follow (the sequence continues but the timestamp moved, as after a
//   pause, a sender's restart, or a forged packet). A jump changes nothing
//   until the next packet confirms it, by following it in both sequence and
//   timeline (`confirmed_jump`); a jump forward and near in sequence (a
//   sender that slipped its schedule) is confirmed too by a later packet that
//   follows it as one after a gap follows the newest, when that packet does
//   not fit after the newest itself. Until then it is `held_jump`, and the
//   caller keeps it aside; another jump replaces it.
//
// So a stranger who sends one packet with the stream's SSRC, the next
// sequence number and any timestamp costs at most that packet's frames: it is
// held, the real packet with the same number is believed, and the held one is
// dropped. Loss accounting is RFC 3550 A.3 through sequence_tracker, which
// sees only the packets believed.
//
// Fixed memory, no allocation, noexcept.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/session/sequence_tracker.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace audiocast {

class source_timeline {
public:
    /// What on_packet() decided.
    enum class verdict {
        first,          ///< the source's first packet: starts the timeline
        continues,      ///< the next packet, where the last one ended
        after_gap,      ///< ahead by a few packets, consistent with their loss
        reordered,      ///< older than the newest, not seen before
        duplicate,      ///< seen before; counted by the tracker
        held_jump,      ///< an unconfirmed jump: keep it aside, play nothing yet
        confirmed_jump, ///< confirms the held jump: place it, then this one
        discarded,      ///< older than the newest but placed where no older packet can be
    };

    /// Where a packet lies: its extended sequence number and the extended RTP
    /// timestamp of its first frame (64-bit, starting at 2^32 so that a
    /// packet just before the first stays positive).
    struct placement {
        std::uint64_t sequence = 0;
        std::uint64_t position = 0;
    };

    /// `max_step`: how far, in frames, a packet may lie from the newest one
    /// and still be believed on its own (the jitter buffer's window).
    /// `max_misorder`: how far behind the newest a packet may arrive and still
    /// be placed (sequence_tracker).
    explicit source_timeline(
        std::uint64_t max_step,
        std::uint32_t max_misorder = sequence_tracker::default_max_misorder) noexcept
        : max_step_{max_step}, tracker_{max_misorder}
    {}

    /// A new source: the next packet starts the timeline. The tracker's
    /// counts begin afresh (the caller keeps the old ones).
    void reset() noexcept
    {
        started_ = false;
        second_due_ = false;
        held_ = false;
        tracker_ = sequence_tracker{tracker_.max_misorder()};
        received_before_ = 0;
        lost_before_ = 0;
        discarded_ = 0;
    }

    /// Decides about one packet of `frames` frames; `where` gets its placement
    /// (for confirmed_jump, the placement of this packet; held() has the
    /// held one's).
    verdict on_packet(std::uint16_t sequence, std::uint32_t timestamp, std::size_t frames,
                      placement& where) noexcept
    {
        if (!started_) {
            started_ = true;
            (void)tracker_.update(sequence);
            newest_timestamp_ = (std::uint64_t{1} << 32) + timestamp;
            where = {tracker_.extended_of(sequence), newest_timestamp_};
            commit_newest(where, frames);
            second_due_ = true;
            return verdict::first;
        }
        const bool second = second_due_;
        const std::uint64_t position = extend(timestamp);
        const auto ahead = static_cast<std::uint16_t>(sequence - newest_sequence_low());
        where = {tracker_.extended_of(sequence), position};

        if (ahead != 0 && ahead <= max_gap) {
            // (ahead - 1) packets lost between: at most twice the newest one's
            // frames each, which allows a sender whose packets vary in size.
            const std::uint64_t room = (std::uint64_t{ahead} - 1) * 2 * newest_frames_;
            // The second packet may begin up to half a packet before the
            // first one ends (the overlap is dropped): GStreamer stamps its
            // first Opus packet early by the encoder's pre-skip, 312 frames.
            // Only there: later, a forged packet could use it to push out
            // the real next one.
            const std::uint64_t overlap = ahead == 1 && second ? newest_frames_ / 2 : 0;
            if (position + overlap >= newest_end_ &&
                (position <= newest_end_ ||
                 (position - newest_end_ <= room && position - newest_end_ <= max_step_))) {
                const auto v = tracker_.update(sequence);
                if (v == sequence_tracker::verdict::duplicate) return verdict::duplicate;
                drop_held();
                commit_newest(where, frames);
                return ahead == 1 ? verdict::continues : verdict::after_gap;
            }
        } else if (ahead == 0 || ahead > seq_mod - tracker_.max_misorder()) {
            // At or just behind the newest: a duplicate, or an older packet,
            // which must lie on the timeline before the newest one ends.
            const bool placed_before =
                position + frames <= newest_end_ && newest_end_ - position <= max_step_;
            if (ahead == 0 || placed_before) {
                const auto v = tracker_.update(sequence);
                if (v == sequence_tracker::verdict::duplicate) return verdict::duplicate;
                // In probation the tracker takes an older packet into its run.
                if (placed_before && v != sequence_tracker::verdict::bad) return verdict::reordered;
            }
            ++discarded_; // placed after the newest, or before the tracker's base
            return verdict::discarded;
        }

        // A jump: believed only when the next packet follows it, or a later
        // one follows it across lost packets (a sender's schedule slip whose
        // next packet was lost). Only a packet no rule above believed gets
        // here, so a real packet that fits the stream always wins over a held
        // forgery, however the two arrive.
        if (held_ && ((sequence == static_cast<std::uint16_t>(held_sequence_ + 1) &&
                       position == held_position_ + held_frames_) ||
                      follows_held_across_gap(sequence, position)))
            return confirm_held(sequence, position, frames, where);
        drop_held();
        held_ = true;
        held_sequence_ = sequence;
        held_position_ = position;
        held_frames_ = frames;
        return verdict::held_jump;
    }

    /// After confirmed_jump: where the held packet lies, and whether the
    /// sequence restarted (A.1: counts began again) rather than jumped. The
    /// confirming packet follows the held one directly, or after packets lost
    /// between them (their sequence numbers tell which).
    [[nodiscard]] placement held() const noexcept { return held_placement_; }
    [[nodiscard]] bool restarted() const noexcept { return restarted_; }

    /// One past the newest packet's last frame.
    [[nodiscard]] std::uint64_t newest_end() const noexcept { return newest_end_; }
    /// Where the RTP timestamp `ts` lies on this timeline (the nearest such
    /// position to the newest packet); nullopt before the first packet.
    [[nodiscard]] std::optional<std::uint64_t> position_of(std::uint32_t ts) const noexcept
    {
        if (!started_) return std::nullopt;
        return extend(ts);
    }

    /// Packets dropped as jumps no packet confirmed, or as older packets
    /// placed where none can be; the held one is counted until it is confirmed.
    [[nodiscard]] std::uint64_t discarded() const noexcept { return discarded_ + (held_ ? 1 : 0); }

    /// Packets believed, and lost (RFC 3550 A.3), since reset(), across
    /// sequence restarts.
    [[nodiscard]] std::uint64_t received() const noexcept
    {
        return received_before_ + tracker_.received();
    }
    [[nodiscard]] std::int64_t lost() const noexcept { return lost_before_ + tracker_.lost(); }

    /// RFC 3550 A.1/A.3 accounting of the packets believed, since the last
    /// reset() or sequence restart: what receiver reports carry.
    [[nodiscard]] const sequence_tracker& tracker() const noexcept { return tracker_; }
    [[nodiscard]] sequence_tracker& tracker() noexcept { return tracker_; }

private:
    static constexpr std::uint32_t seq_mod = 1u << 16;
    /// A packet further ahead than this in sequence is a jump to confirm.
    static constexpr std::uint16_t max_gap = sequence_tracker::default_max_misorder;

    [[nodiscard]] std::uint16_t newest_sequence_low() const noexcept
    {
        return static_cast<std::uint16_t>(newest_sequence_);
    }

    // Widens a 32-bit timestamp around the newest one believed: the nearer
    // candidate within 2^31 either way.
    [[nodiscard]] std::uint64_t extend(std::uint32_t ts) const noexcept
    {
        const auto delta =
            static_cast<std::int32_t>(ts - static_cast<std::uint32_t>(newest_timestamp_));
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(newest_timestamp_) + delta);
    }

    void commit_newest(const placement& where, std::size_t frames) noexcept
    {
        second_due_ = false; // a packet believed after the first: no second may overlap now
        newest_sequence_ = where.sequence;
        newest_timestamp_ = where.position;
        newest_end_ = where.position + frames;
        newest_frames_ = frames;
    }

    // Whether a packet after the held one follows it as a packet after a gap
    // follows the newest (the same room for the packets lost between), where
    // the held jump lies forward of the audio believed and both are near
    // ahead in sequence, so the tracker sees them in order. Asked only of a
    // packet that does not fit the stream after the newest: a forged held
    // packet is then confirmed only by a real jump it foretold.
    [[nodiscard]] bool follows_held_across_gap(std::uint16_t sequence,
                                               std::uint64_t position) const noexcept
    {
        const auto held_ahead = static_cast<std::uint16_t>(held_sequence_ - newest_sequence_low());
        const auto gap = static_cast<std::uint16_t>(sequence - held_sequence_);
        if (held_ahead == 0 || held_ahead > max_gap || gap == 0 || gap > max_gap) return false;
        if (held_position_ < newest_end_) return false;
        const std::uint64_t held_end = held_position_ + held_frames_;
        const std::uint64_t room = (std::uint64_t{gap} - 1) * 2 * newest_frames_;
        return position >= held_end && position - held_end <= room &&
               position - held_end <= max_step_;
    }

    verdict confirm_held(std::uint16_t sequence, std::uint64_t position, std::size_t frames,
                         placement& where) noexcept
    {
        held_ = false;
        // Through the tracker in order, so A.1 decides what the jump means:
        // loss below MAX_DROPOUT, a restarted sequence beyond it.
        (void)tracker_.update(held_sequence_);
        const std::uint64_t received = tracker_.received();
        const std::int64_t lost = tracker_.lost();
        const auto v = tracker_.update(sequence);
        restarted_ = v == sequence_tracker::verdict::restarted;
        if (restarted_) {
            // A.1 counts afresh from here; the totals keep what came before.
            received_before_ += received;
            lost_before_ += lost;
        }
        held_placement_ = {tracker_.extended_of(held_sequence_), held_position_};
        where = {tracker_.extended_of(sequence), position};
        newest_timestamp_ = position;
        commit_newest(where, frames);
        return verdict::confirmed_jump;
    }

    void drop_held() noexcept
    {
        if (held_) ++discarded_;
        held_ = false;
    }

    std::uint64_t max_step_;
    bool started_ = false;
    bool second_due_ = false; // the next packet is the second: it may overlap the first
    sequence_tracker tracker_;
    std::uint64_t newest_sequence_ = 0;
    std::uint64_t newest_timestamp_ = 0;
    std::uint64_t newest_end_ = 0;
    std::size_t newest_frames_ = 0;

    bool held_ = false;
    std::uint16_t held_sequence_ = 0;
    std::uint64_t held_position_ = 0;
    std::size_t held_frames_ = 0;
    placement held_placement_{};
    bool restarted_ = false;
    std::uint64_t discarded_ = 0;
    std::uint64_t received_before_ = 0;
    std::int64_t lost_before_ = 0;
};

} // namespace audiocast
