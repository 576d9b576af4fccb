// audiocast — a stateful codec's packets decoded in stream order, and what
// went missing repaired by the codec itself (docs/architecture.md, Stateful
// codecs).
//
// Linear PCM decodes any packet alone, so the playout buffer takes packets
// in any order. An Opus decoder carries state from packet to packet: each
// packet must be decoded after the one before it, and a lost packet is best
// repaired by the decoder (its concealment, or the copy of it the next
// packet carries, in-band FEC) rather than by the playout's fade to silence.
// This part keeps the decoder's place in the stream (`next`) and decides:
//
// - The packet at `next` (or overlapping it) is decoded at once.
// - A packet after a gap is heard at once: it is decoded on a spare copy of
//   the decoder that first repairs the gap as the decoder would, and kept.
//   The gap may still fill: reordering is not loss. If the missing packets
//   come, they are decoded in order, then the kept packet again (its frames
//   are already stored: the decode only moves the decoder on), and nothing
//   is repaired.
// - The gap is taken for lost on the word of a second packet after it, or
//   when playout is about to reach it (repair_if_due()). The decoder then
//   repairs it, the last packet's worth from the kept packet's in-band FEC,
//   the rest by concealment, and the repaired frames fill the gap.
// - A packet wholly before `next` comes too late: its frames were repaired.
// - A gap longer than the repair limit (the shorter of 120 ms and the
//   latency) starts the decoder afresh once it is settled: nothing useful is
//   left to repair from. A talkspurt's first packet (marker) has nothing
//   before it to repair. Either is kept like any packet after a gap, so the
//   gap's packets that come in time are still decoded. A new source, a
//   follow-on or a jump resets the decoder at once.
//
// Sans-I/O; memory is fixed at construction (the spare copy too: copy
// assignment between codecs of one configuration allocates nothing).
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/session/playout.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace audiocast {

template <loss_repairing_codec Codec>
class decode_order {
public:
    using placing = playout_timeline::placing;

    /// `prototype`: the receiver's codec, of which the spare is a copy.
    /// `max_packet_frames`: the most one payload decodes to.
    /// `max_payload_bytes`: the largest payload to keep. `max_repair_frames`:
    /// the longest gap repaired; after a longer one the decoder starts afresh.
    decode_order(const Codec& prototype, std::size_t max_packet_frames,
                 std::size_t max_payload_bytes, std::size_t max_repair_frames)
        : spare_{prototype}, channels_{prototype.format().channels},
          max_repair_{max_repair_frames / prototype.repair_step() * prototype.repair_step()},
          decoded_(max_packet_frames * channels_),
          repaired_(std::max(std::min(max_repair_, max_packet_frames), std::size_t{1}) * channels_),
          kept_payload_(max_payload_bytes)
    {}

    /// A new source: the next packet restarts the decoder.
    void reset() noexcept
    {
        started_ = false;
        kept_ = false;
    }

    /// One packet the source timeline placed at `position`, as `how`.
    /// Calls `emit(samples)` with the packet's own decoded frames, to be
    /// placed at `position` (empty for an undecodable packet that restarts
    /// the stream, so that playout still starts there), and
    /// `fill(position, samples)` with repaired frames.
    template <class Emit, class Fill>
    void on_packet(Codec& codec, std::span<const std::byte> payload, std::uint64_t position,
                   placing how, bool marker, Emit&& emit, Fill&& fill) noexcept
    {
        const std::size_t frames = codec.frames_in(payload);
        if (!started_ || how == placing::start || how == placing::follows || how == placing::jump) {
            codec.reset_decoder();
            started_ = true;
            kept_ = false;
            next_ = position;
            decode_in_order(codec, payload, position, emit, true);
            return;
        }
        // A second packet after a gap: what the gap lacks is lost.
        if (kept_ && position >= kept_end()) repair_kept_gap(codec, fill);
        if (position + frames <= next_ ||
            (kept_ && position < kept_end() && position + frames > kept_position_)) {
            ++late_; // the decoder has passed it: its frames were repaired or heard
            return;
        }
        if (position > next_) {
            if (kept_) {
                // A later packet of the gap came before the gap's first:
                // the frames before it are lost.
                bridge(codec, position, payload, false, fill);
            } else {
                on_packet_after_gap(codec, payload, position, marker, emit);
                return;
            }
        }
        decode_in_order(codec, payload, position, emit, false);
        if (kept_ && kept_position_ <= next_) catch_up(codec);
    }

    /// Playout is about to play up to `playing_until`: if that reaches a gap
    /// before a kept packet, the gap is taken for lost and repaired now.
    template <class Fill>
    void repair_if_due(Codec& codec, std::uint64_t playing_until, Fill&& fill) noexcept
    {
        if (kept_ && next_ < playing_until) repair_kept_gap(codec, fill);
    }

    /// Whether a packet after a gap is kept, waiting for the gap to fill.
    [[nodiscard]] bool waiting() const noexcept { return kept_; }
    /// Where the decoder stands: one past the last frame it decoded or repaired.
    [[nodiscard]] std::uint64_t next() const noexcept { return next_; }

    /// Packets that came after the decoder had passed their frames.
    [[nodiscard]] std::uint64_t late() const noexcept { return late_; }
    /// Packets the codec could not decode.
    [[nodiscard]] std::uint64_t malformed() const noexcept { return malformed_; }
    /// Frames the codec repaired (concealment or in-band FEC) for the playout.
    [[nodiscard]] std::uint64_t repaired_frames() const noexcept { return repaired_frames_; }

private:
    [[nodiscard]] std::uint64_t kept_end() const noexcept { return kept_position_ + kept_frames_; }
    [[nodiscard]] std::span<const std::byte> kept_payload() const noexcept
    {
        return {kept_payload_.data(), kept_bytes_};
    }

    template <class Emit>
    void decode_in_order(Codec& codec, std::span<const std::byte> payload, std::uint64_t position,
                         Emit& emit, bool restart) noexcept
    {
        const std::size_t n = codec.decode(payload, std::span<std::int32_t>{decoded_});
        if (n == 0) {
            // Its frames are lost; the decoder stays where it was.
            ++malformed_;
            if (restart) emit(std::span<const std::int32_t>{});
            return;
        }
        emit(std::span<const std::int32_t>{decoded_.data(), n});
        next_ = std::max(next_, position + n / channels_);
    }

    // Nothing kept, and the packet lies `position - next_` frames ahead.
    // It is heard at once through the spare, and kept: nothing changes the
    // decoder until the gap is settled, so the packets of the gap that come
    // in time are still decoded, and a packet the codec refuses (forged,
    // say) costs nothing but itself.
    template <class Emit>
    void on_packet_after_gap(Codec& codec, std::span<const std::byte> payload,
                             std::uint64_t position, bool marker, Emit& emit) noexcept
    {
        if (payload.size() > kept_payload_.size()) {
            ++malformed_; // no payload the screen passes is this large
            return;
        }
        // A talkspurt follows silence the sender chose: nothing to repair.
        // After a long gap nothing is left to repair from: the decoder
        // starts afresh and the playout fades over the gap.
        const bool long_gap = position - next_ > max_repair_;
        copy_decoder(spare_, codec);
        if (long_gap) {
            spare_.reset_decoder();
        } else if (!marker) {
            const auto discard = [](std::uint64_t, std::span<const std::int32_t>) noexcept {};
            (void)repair(spare_, next_, static_cast<std::size_t>(position - next_), payload,
                         discard);
        }
        const std::size_t n = spare_.decode(payload, std::span<std::int32_t>{decoded_});
        if (n == 0) {
            ++malformed_;
            return;
        }
        emit(std::span<const std::int32_t>{decoded_.data(), n});
        std::copy(payload.begin(), payload.end(), kept_payload_.begin());
        kept_bytes_ = payload.size();
        kept_position_ = position;
        kept_frames_ = n / channels_;
        kept_marker_ = marker;
        kept_ = true;
    }

    // The gap before the kept packet is lost: bridged, then the kept packet
    // decoded again in order.
    template <class Fill>
    void repair_kept_gap(Codec& codec, Fill& fill) noexcept
    {
        if (kept_position_ > next_)
            bridge(codec, kept_position_, kept_payload(), kept_marker_, fill);
        catch_up(codec);
    }

    // The frames from the decoder's place to `to` are lost, and `next` is
    // the packet there: repaired as the decoder can, or, after a long gap,
    // left to the playout with the decoder started afresh; before a
    // talkspurt (`marker`) there is nothing to repair.
    template <class Fill>
    void bridge(Codec& codec, std::uint64_t to, std::span<const std::byte> next, bool marker,
                Fill& fill) noexcept
    {
        if (to - next_ > max_repair_)
            codec.reset_decoder();
        else if (!marker)
            repaired_frames_ +=
                repair(codec, next_, static_cast<std::size_t>(to - next_), next, fill);
        next_ = to;
    }

    // The spare takes the decoder's state: only the decoder's, where the
    // codec can copy that alone (copy_decoder_from()), else the whole codec.
    static void copy_decoder(Codec& to, const Codec& from) noexcept
    {
        if constexpr (requires { to.copy_decoder_from(from); })
            to.copy_decoder_from(from);
        else
            to = from;
    }

    // The kept packet's frames are stored already (heard through the
    // spare); decoding it again only moves the decoder past it.
    void catch_up(Codec& codec) noexcept
    {
        kept_ = false;
        if (kept_end() <= next_) return; // passed while the gap filled
        if (codec.decode(kept_payload(), std::span<std::int32_t>{decoded_}) != 0)
            next_ = kept_end();
    }

    // Repairs `frames` frames from `at` on `c`: concealment for all but the
    // last packet's worth, which comes from `next`'s in-band FEC where it has
    // any. Whole repair steps; a remainder is left to the playout. Returns
    // the frames repaired.
    template <class Fill>
    std::size_t repair(Codec& c, std::uint64_t at, std::size_t frames,
                       std::span<const std::byte> next, Fill& fill) noexcept
    {
        const std::size_t step = c.repair_step();
        frames = std::min(frames, max_repair_);
        const std::size_t from_next = std::min(frames, c.frames_in(next)) / step * step;
        std::size_t to_conceal = frames - from_next;
        std::size_t done = 0;
        while (to_conceal >= step) {
            const std::size_t n =
                c.conceal(std::min(to_conceal, max_frames()), std::span<std::int32_t>{repaired_}) /
                channels_;
            if (n == 0) break;
            fill(at, std::span<const std::int32_t>{repaired_.data(), n * channels_});
            at += n;
            to_conceal -= n;
            done += n;
        }
        at += to_conceal; // less than a step: the playout conceals it
        if (from_next > 0) {
            const std::size_t n =
                c.recover(next, from_next, std::span<std::int32_t>{repaired_}) / channels_;
            fill(at, std::span<const std::int32_t>{repaired_.data(), n * channels_});
            done += n;
        }
        return done;
    }

    [[nodiscard]] std::size_t max_frames() const noexcept { return repaired_.size() / channels_; }

    Codec spare_;
    unsigned channels_;
    std::size_t max_repair_;
    std::vector<std::int32_t> decoded_;
    std::vector<std::int32_t> repaired_;

    bool started_ = false;
    std::uint64_t next_ = 0;

    // A packet after a gap, heard already, until the gap fills or is lost.
    bool kept_ = false;
    bool kept_marker_ = false;
    std::vector<std::byte> kept_payload_;
    std::size_t kept_bytes_ = 0;
    std::uint64_t kept_position_ = 0;
    std::size_t kept_frames_ = 0;

    std::uint64_t late_ = 0;
    std::uint64_t malformed_ = 0;
    std::uint64_t repaired_frames_ = 0;
};

} // namespace audiocast
