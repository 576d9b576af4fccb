// audiocast — the played source's packets onto the playout timeline
// (docs/architecture.md, Source timeline and Playout).
//
// Between choosing the source (session/source_selector.hpp) and playing its
// frames (session/playout.hpp) each packet needs a position.
// session/source_timeline.hpp says where it belongs and whether to believe
// it; this part acts on the answer:
// - it keeps an unconfirmed jump aside, a copy of its payload, until the next
//   packet confirms it;
// - a source that took over while the last one's audio was still buffered
//   (after a BYE) follows that audio: its positions are shifted, so that
//   nothing buffered is erased;
// - it keeps the counts of earlier sources, so that the totals stay honest
//   across source changes.
//
// Sans-I/O; memory is fixed at construction and nothing allocates after it.
#pragma once

#include <audiocast/session/playout.hpp>
#include <audiocast/session/source_timeline.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace audiocast {

class source_feed {
public:
    using placing = playout_timeline::placing;

    /// `believable_step`: how far from the newest packet another may lie and
    /// be believed alone (source_timeline). `max_payload_bytes`: the largest
    /// payload a held jump may need. `max_misorder`: how far behind the newest
    /// a packet may arrive and still be placed (sequence_tracker).
    source_feed(std::uint64_t believable_step, std::size_t max_payload_bytes,
                std::uint32_t max_misorder = sequence_tracker::default_max_misorder)
        : timeline_{believable_step, max_misorder}, jump_payload_(max_payload_bytes)
    {}

    /// The selector chose a new source whose first packet has header `h`:
    /// its counts and timeline start afresh. `last_still_playing`: the last
    /// source's audio is still to play, so this one follows it.
    void begin(const rtp::header& h, bool last_still_playing) noexcept
    {
        received_before_ += timeline_.received();
        lost_before_ += timeline_.lost();
        duplicates_before_ += timeline_.tracker().duplicates();
        reordered_before_ += timeline_.tracker().reordered();
        discarded_before_ += timeline_.discarded();
        timeline_.reset();
        follows_previous_ = last_still_playing;
        position_offset_ = 0;
        payload_type_ = h.payload_type;
        ++source_changes_;
    }

    /// One packet of the source, `frames` long. Calls
    /// `place(packet, position, arrival, arrival_wall, how, jump_from)` for
    /// each packet to put in the buffer now: none (a duplicate, a packet
    /// discarded or held), one, or two (a held jump and the packet that
    /// confirms it). `jump_from` is where the timeline stood before a jump.
    /// Returns false, placing nothing, for a payload type the source did not
    /// start with.
    template <class Place>
    bool on_packet(const rtp::packet_view& packet, std::size_t frames, time_point arrival,
                   wall_time arrival_wall, const playout_timeline& playout, Place&& place) noexcept
    {
        if (packet.hdr.payload_type != payload_type_) return false;
        source_timeline::placement where;
        const auto at = [&](std::uint64_t position, placing how) {
            place(packet, position + position_offset_, arrival, arrival_wall, how, jump_from_);
        };
        switch (timeline_.on_packet(packet.hdr.sequence, packet.hdr.timestamp, frames, where)) {
        case source_timeline::verdict::duplicate:
        case source_timeline::verdict::discarded: break;
        case source_timeline::verdict::held_jump: hold_jump(packet, arrival, arrival_wall); break;
        case source_timeline::verdict::confirmed_jump:
            place(jump_packet_, timeline_.held().position + position_offset_, jump_arrival_,
                  jump_arrival_wall_, placing::jump, jump_from_);
            // After the held packet, or after packets lost between the two.
            at(where.position, where.sequence == timeline_.held().sequence + 1 ? placing::continues
                                                                               : placing::other);
            break;
        case source_timeline::verdict::first:
            if (follows_previous_) {
                // Wraps modulo 2^64, as positions do: only differences count.
                position_offset_ = playout.following_position(arrival) - where.position;
                follows_previous_ = false;
                at(where.position, placing::follows);
            } else {
                place(packet, where.position, arrival, arrival_wall, placing::start, jump_from_);
            }
            break;
        case source_timeline::verdict::continues: at(where.position, placing::continues); break;
        case source_timeline::verdict::after_gap:
        case source_timeline::verdict::reordered: at(where.position, placing::other); break;
        }
        return true;
    }

    /// Where the source's RTP timestamp `ts` plays in the playout buffer;
    /// nullopt before its first packet.
    [[nodiscard]] std::optional<std::uint64_t> position_of(std::uint32_t ts) const noexcept
    {
        const auto p = timeline_.position_of(ts);
        if (!p) return std::nullopt;
        return *p + position_offset_;
    }

    /// The source's sequence numbers, for its receiver reports.
    [[nodiscard]] sequence_tracker& tracker() noexcept { return timeline_.tracker(); }

    /// Fills the packet counts of `s`, over every source so far.
    void counters(receiver_stats& s) const noexcept
    {
        s.packets_received = timeline_.received() + received_before_;
        const std::int64_t lost = timeline_.lost() + lost_before_;
        s.packets_lost = lost > 0 ? static_cast<std::uint64_t>(lost) : 0;
        s.packets_duplicate = timeline_.tracker().duplicates() + duplicates_before_;
        s.packets_reordered = timeline_.tracker().reordered() + reordered_before_;
        s.packets_discarded = timeline_.discarded() + discarded_before_;
        s.packets_expected = s.packets_received + s.packets_lost;
        s.source_changes = source_changes_;
    }

private:
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

    source_timeline timeline_;
    std::uint8_t payload_type_ = 0;
    // An unconfirmed jump, kept aside until the next packet confirms it.
    std::vector<std::byte> jump_payload_;
    rtp::packet_view jump_packet_{};
    time_point jump_arrival_{};
    wall_time jump_arrival_wall_{};
    std::uint64_t jump_from_ = 0;
    // A source that took over while the last one's audio was still buffered
    // plays on its schedule: its timeline's positions, shifted.
    bool follows_previous_ = false;
    std::uint64_t position_offset_ = 0;
    // Counts of earlier sources.
    std::uint64_t received_before_ = 0;
    std::int64_t lost_before_ = 0;
    std::uint64_t duplicates_before_ = 0;
    std::uint64_t reordered_before_ = 0;
    std::uint64_t discarded_before_ = 0;
    std::uint64_t source_changes_ = 0;
};

} // namespace audiocast
