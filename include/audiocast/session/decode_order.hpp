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
//   So are the packets after it, through the same spare, which repairs any
//   further gap as it comes. The gaps may still fill: reordering, or a packet
//   a FEC layer rebuilds many packets later, is not loss. A packet that fills
//   the gap at `next` is decoded in order, then the kept packets again up to
//   the next gap (their frames are already stored: the decode only moves the
//   decoder on), and nothing is repaired. One that fills a later gap, which
//   the spare has passed, is kept unheard, and decoded (and stored) when the
//   decoder reaches it.
// - A gap is taken for lost when playout is about to reach it
//   (repair_if_due()), or when the kept packets fill their store. The decoder
//   then repairs it, the last packet's worth from the next packet's in-band
//   FEC, the rest by concealment, and the repaired frames fill the gap.
// - A packet wholly before `next`, or overlapping a kept one, comes too late.
// - A gap longer than the repair limit (the shorter of 120 ms and the
//   latency) starts the decoder afresh once it is settled: nothing useful is
//   left to repair from. A talkspurt's first packet (marker) has nothing
//   before it to repair. A new source, a follow-on or a jump resets the
//   decoder at once.
//
// Sans-I/O; memory is fixed at construction (the spare copy too: copy
// assignment between codecs of one configuration allocates nothing). Taking
// a gap for lost decodes the kept packets after it again, at most
// max_kept_packets of them.
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
    /// Packets kept after gaps by default: 160 ms of 5 ms packets, 640 ms of 20 ms.
    static constexpr std::size_t default_max_kept_packets = 32;

    /// `prototype`: the receiver's codec, of which the spare is a copy.
    /// `max_packet_frames`: the most one payload decodes to.
    /// `max_payload_bytes`: the largest payload to keep. `max_repair_frames`:
    /// the longest gap repaired; after a longer one the decoder starts afresh.
    /// `max_kept_packets`: how many packets after gaps wait for them to fill.
    decode_order(const Codec& prototype, std::size_t max_packet_frames,
                 std::size_t max_payload_bytes, std::size_t max_repair_frames,
                 std::size_t max_kept_packets = default_max_kept_packets)
        : spare_{prototype}, channels_{prototype.format().channels},
          max_repair_{max_repair_frames / prototype.repair_step() * prototype.repair_step()},
          max_payload_{max_payload_bytes}, decoded_(max_packet_frames * channels_),
          repaired_(std::max(std::min(max_repair_, max_packet_frames), std::size_t{1}) * channels_),
          kept_(std::max<std::size_t>(max_kept_packets, 1)), moved_(kept_.size()),
          // The largest payload always fits once the store is empty; the rest
          // holds typical packets (a 20 ms Opus packet is at most 1275 bytes).
          store_(max_payload_bytes +
                 (kept_.size() - 1) * std::min<std::size_t>(max_payload_bytes, 2048))
    {}

    /// A new source: what the last one left waiting is settled (its gaps
    /// repaired, the packets kept unheard stored through `fill`), and the
    /// next packet restarts the decoder.
    template <class Fill>
    void reset(Codec& codec, Fill&& fill) noexcept
    {
        settle(codec, fill);
        started_ = false;
    }

    /// One packet the source timeline placed at `position`, as `how`.
    /// Calls `emit(samples)` with the packet's own decoded frames, to be
    /// placed at `position` (empty for an undecodable packet that restarts
    /// the stream, so that playout still starts there), and
    /// `fill(position, samples)` with repaired frames, and with those of a
    /// packet kept unheard once the decoder reaches it.
    template <class Emit, class Fill>
    void on_packet(Codec& codec, std::span<const std::byte> payload, std::uint64_t position,
                   placing how, bool marker, Emit&& emit, Fill&& fill) noexcept
    {
        const std::size_t frames = codec.frames_in(payload);
        if (!started_ || how == placing::start || how == placing::follows || how == placing::jump) {
            // What waits on the old timeline is settled first: a jump or a
            // follow-on still plays the audio buffered before it.
            settle(codec, fill);
            codec.reset_decoder();
            started_ = true;
            next_ = position;
            decode_in_order(codec, payload, position, emit, true);
            return;
        }
        for (;;) {
            // Signed: a packet sent before the first one placed may lie just
            // below position 0, where positions wrap.
            const auto ahead = static_cast<std::int64_t>(position - next_);
            if (ahead + static_cast<std::int64_t>(frames) <= 0) {
                ++late_; // the decoder has passed it: its frames were repaired
                return;
            }
            if (overlaps_kept(position, frames)) {
                ++late_; // it overlaps a packet the decoder holds already: a forgery, or a copy
                return;
            }
            if (ahead <= 0) {
                decode_in_order(codec, payload, position, emit, false);
                advance(codec, fill);
                return;
            }
            if (payload.size() > max_payload_ || frames == 0) {
                ++malformed_; // no payload the screen passes is this large, or says no length
                return;
            }
            if (kept_count_ < kept_.size() && make_room(payload.size())) break;
            // The store is full: the oldest gap is taken for lost, and the
            // packet looked at again against where the decoder then stands.
            repair_first_gap(codec, fill);
        }
        // A packet in a gap the spare has passed (the one at the decoder's
        // place, after its first packet, too) is kept unheard: its frames
        // are stored when the decoder reaches it, in order.
        if (kept_count_ == 0 || position >= spare_next_)
            hear_after_gap(codec, payload, position, marker, emit);
        else
            keep(payload, position, frames, marker, false);
    }

    /// Playout is about to play up to `playing_until`: each gap before it
    /// still waiting for its packets is taken for lost and repaired now.
    template <class Fill>
    void repair_if_due(Codec& codec, std::uint64_t playing_until, Fill&& fill) noexcept
    {
        while (kept_count_ > 0 && next_ < playing_until)
            repair_first_gap(codec, fill);
    }

    /// Whether packets after a gap are kept, waiting for the gap to fill.
    [[nodiscard]] bool waiting() const noexcept { return kept_count_ > 0; }
    /// Packets kept after gaps.
    [[nodiscard]] std::size_t kept() const noexcept { return kept_count_; }
    /// Where the decoder stands: one past the last frame it decoded or repaired.
    [[nodiscard]] std::uint64_t next() const noexcept { return next_; }

    /// Packets that came after the decoder had passed their frames.
    [[nodiscard]] std::uint64_t late() const noexcept { return late_; }
    /// Packets the codec could not decode.
    [[nodiscard]] std::uint64_t malformed() const noexcept { return malformed_; }
    /// Frames the codec repaired (concealment or in-band FEC) for the playout.
    [[nodiscard]] std::uint64_t repaired_frames() const noexcept { return repaired_frames_; }

private:
    // A packet after a gap: its payload in the store, and whether its frames
    // were heard (decoded through the spare and emitted) or wait for the decoder.
    struct kept_packet {
        std::uint64_t position = 0;
        std::size_t frames = 0;
        std::size_t offset = 0;
        std::size_t bytes = 0;
        bool marker = false;
        bool heard = false;
    };

    [[nodiscard]] std::span<const std::byte> payload_of(const kept_packet& k) const noexcept
    {
        return {store_.data() + k.offset, k.bytes};
    }

    // Every gap still waiting is taken for lost, and every packet kept decoded.
    template <class Fill>
    void settle(Codec& codec, Fill& fill) noexcept
    {
        while (kept_count_ > 0)
            repair_first_gap(codec, fill);
        store_used_ = 0;
    }

    [[nodiscard]] bool overlaps_kept(std::uint64_t position, std::size_t frames) const noexcept
    {
        for (std::size_t i = 0; i < kept_count_; ++i)
            if (position < kept_[i].position + kept_[i].frames &&
                position + frames > kept_[i].position)
                return true;
        return false;
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
        if (static_cast<std::int64_t>(position + n / channels_ - next_) > 0)
            next_ = position + n / channels_;
    }

    // The packet lies after everything heard so far, past a gap. It is heard
    // at once through the spare (which takes the decoder's state when
    // nothing is kept) and kept: nothing changes the decoder until the gap
    // is settled, so the gap's packets that come in time are still decoded,
    // and a packet the codec refuses (forged, say) costs nothing but itself.
    template <class Emit>
    void hear_after_gap(Codec& codec, std::span<const std::byte> payload, std::uint64_t position,
                        bool marker, Emit& emit) noexcept
    {
        if (kept_count_ == 0) {
            copy_decoder(spare_, codec);
            spare_next_ = next_;
        }
        // A talkspurt follows silence the sender chose: nothing to repair.
        // After a long gap nothing is left to repair from: the decoder
        // starts afresh and the playout fades over the gap.
        const std::uint64_t gap = position - spare_next_;
        if (gap > max_repair_) {
            spare_.reset_decoder();
        } else if (gap > 0 && !marker) {
            const auto discard = [](std::uint64_t, std::span<const std::int32_t>) noexcept {};
            (void)repair(spare_, spare_next_, static_cast<std::size_t>(gap), payload, discard);
        }
        const std::size_t n = spare_.decode(payload, std::span<std::int32_t>{decoded_});
        if (n == 0) {
            // The spare has repaired up to it: a later packet goes on from
            // there rather than repairing the same frames again.
            ++malformed_;
            spare_next_ = position;
            return;
        }
        emit(std::span<const std::int32_t>{decoded_.data(), n});
        spare_next_ = position + n / channels_;
        keep(payload, position, n / channels_, marker, true);
    }

    // Stores the packet among the kept ones, in position order; make_room()
    // has made room.
    void keep(std::span<const std::byte> payload, std::uint64_t position, std::size_t frames,
              bool marker, bool heard) noexcept
    {
        std::size_t at = kept_count_;
        while (at > 0 && kept_[at - 1].position > position) {
            kept_[at] = kept_[at - 1];
            --at;
        }
        kept_[at] = {position, frames, store_used_, payload.size(), marker, heard};
        std::copy(payload.begin(), payload.end(), store_.data() + store_used_);
        store_used_ += payload.size();
        ++kept_count_;
    }

    // Whether `bytes` more fit the store, once the kept payloads are moved
    // together (those taken from the front leave holes).
    bool make_room(std::size_t bytes) noexcept
    {
        if (store_used_ + bytes <= store_.size()) return true;
        // By offset, so that each moves down over nothing it still needs.
        for (std::size_t i = 0; i < kept_count_; ++i)
            moved_[i] = i;
        std::sort(moved_.data(), moved_.data() + kept_count_, [this](std::size_t a, std::size_t b) {
            return kept_[a].offset < kept_[b].offset;
        });
        std::size_t used = 0;
        for (std::size_t i = 0; i < kept_count_; ++i) {
            kept_packet& k = kept_[moved_[i]];
            if (k.offset != used)
                std::copy(store_.data() + k.offset, store_.data() + k.offset + k.bytes,
                          store_.data() + used);
            k.offset = used;
            used += k.bytes;
        }
        store_used_ = used;
        return store_used_ + bytes <= store_.size();
    }

    void pop_front() noexcept
    {
        std::move(kept_.data() + 1, kept_.data() + kept_count_, kept_.data());
        if (--kept_count_ == 0) store_used_ = 0;
    }

    // The decoder moves on through the kept packets from its place up to
    // the next gap. Those heard are stored already: decoding them again
    // only moves the decoder past them. Those kept unheard are stored now.
    template <class Fill>
    void advance(Codec& codec, Fill& fill) noexcept
    {
        while (kept_count_ > 0 && kept_[0].position <= next_) {
            const kept_packet k = kept_[0];
            if (k.position + k.frames <= next_) {
                if (!k.heard) ++late_; // passed while the gap filled: never stored
            } else {
                const std::size_t n =
                    codec.decode(payload_of(k), std::span<std::int32_t>{decoded_});
                if (n == 0) {
                    if (!k.heard) ++malformed_; // a heard one's frames played, and it counted
                } else {
                    if (!k.heard)
                        fill(k.position, std::span<const std::int32_t>{decoded_.data(), n});
                    next_ = std::max(next_, k.position + n / channels_);
                }
            }
            pop_front();
        }
    }

    // The gap before the first kept packet is lost: bridged, then the
    // decoder moves on through the kept packets up to the next gap.
    template <class Fill>
    void repair_first_gap(Codec& codec, Fill& fill) noexcept
    {
        const kept_packet& k = kept_[0];
        if (k.position > next_) bridge(codec, k.position, payload_of(k), k.marker, fill);
        advance(codec, fill);
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
            if (n > 0) fill(at, std::span<const std::int32_t>{repaired_.data(), n * channels_});
            done += n;
        }
        return done;
    }

    [[nodiscard]] std::size_t max_frames() const noexcept { return repaired_.size() / channels_; }

    Codec spare_;
    unsigned channels_;
    std::size_t max_repair_;
    std::size_t max_payload_;
    std::vector<std::int32_t> decoded_;
    std::vector<std::int32_t> repaired_;

    bool started_ = false;
    std::uint64_t next_ = 0;

    // Packets after gaps, in position order, until the gaps fill or are lost;
    // the spare has heard up to spare_next_.
    std::vector<kept_packet> kept_;
    std::vector<std::size_t> moved_;
    std::size_t kept_count_ = 0;
    std::vector<std::byte> store_;
    std::size_t store_used_ = 0;
    std::uint64_t spare_next_ = 0;

    std::uint64_t late_ = 0;
    std::uint64_t malformed_ = 0;
    std::uint64_t repaired_frames_ = 0;
};

} // namespace audiocast
