// audiocast — which sender a receiver plays (docs/architecture.md, Source selection).
//
// A multicast group is open to every host on the network, so the receiver
// decides for itself whose packets are the stream. A source is an SSRC *and*
// the address and port its packets come from. The rules:
//
// 1. Probation (RFC 3550 A.1): no source is played until it has sent
//    MIN_SEQUENTIAL (2) packets in sequence from one SSRC and one endpoint.
//    As in sequence_tracker, "in sequence" tolerates the network: two
//    distinct numbers at most probation_window apart, either way, so a
//    source whose first packets arrive reordered or with one lost still
//    validates at its second. A flood of packets with random SSRCs never
//    passes it, nor, but by chance, one with random sequence numbers.
// 2. First validated wins, and keeps the stream while it keeps sending:
//    packets from anyone else are counted as foreign and dropped. Strangers go
//    on being tracked, so one that has validated can take over at once when
//    the source leaves.
// 3. The source leaves when it says BYE (from its own host) or falls silent
//    for `timeout`; the next packet from a validated source then takes over.
//    A source that goes on sending after its BYE (a forged BYE, or a sender
//    that came back) is simply still the source: its packets sent more than
//    bye_grace after the BYE arrived take the BYE back.
// 4. Nothing a source on probation sent is lost by the wait: its packets are
//    held, and handed back in arrival order when it validates. The hold is
//    small and fixed; one endpoint may keep only a few packets in it, so a
//    flood from one host cannot push out the real sender's first packet.
//
// Memory is fixed at construction; every call is noexcept and allocates
// nothing, so the selector runs on the audio thread.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace audiocast {

class source_selector {
public:
    /// RFC 3550 A.1 MIN_SEQUENTIAL.
    static constexpr int min_sequential = 2;
    /// How far apart two packets of a probation run may be numbered.
    static constexpr std::uint16_t probation_window = 16;
    /// Sources on probation tracked at once: a table where each source may sit
    /// in one of two places (a secret hash chooses them, so a stranger cannot
    /// aim at the real sender's). A newcomer takes the place of a source from
    /// its own endpoint first, so a flood from one host mostly replaces itself.
    static constexpr std::size_t candidate_slots = 256;
    /// Datagrams held for sources on probation, and how many of them one
    /// endpoint may hold.
    static constexpr std::size_t held_slots = 32;
    static constexpr std::size_t max_held_per_endpoint = 4;
    /// Packets of the source that arrive this soon after its BYE were on
    /// their way when it was sent; later ones mean it is still sending.
    static constexpr std::chrono::nanoseconds bye_grace = std::chrono::milliseconds{20};

    /// What on_packet() decided.
    enum class verdict {
        source,  ///< from the source being played
        adopted, ///< it validated a new source, now the one played; take the held packets first
        held,    ///< from a source on probation, held until it validates
        foreign, ///< from another source while one plays (or too big to hold): dropped
    };

    /// `max_held_bytes`: the largest datagram held during probation. `key`
    /// seeds the table's hash, so that a stranger cannot aim at a slot; the
    /// overload without it draws one at random, as a real receiver should.
    source_selector(std::chrono::nanoseconds timeout, std::size_t max_held_bytes, std::uint64_t key)
        : timeout_{timeout}, max_held_bytes_{max_held_bytes}, key_{key},
          held_bytes_(held_slots * max_held_bytes)
    {}

    source_selector(std::chrono::nanoseconds timeout, std::size_t max_held_bytes)
        : source_selector{timeout, max_held_bytes, random_key()}
    {}

    /// Decides about one valid RTP packet. A held packet is copied; the
    /// caller may reuse `datagram` at once.
    verdict on_packet(std::uint32_t ssrc, std::uint16_t sequence, const endpoint& from,
                      std::span<const std::byte> datagram, time_point arrival,
                      wall_time arrival_wall) noexcept
    {
        if (has_source_ && ssrc == ssrc_ && from == from_) {
            last_heard_ = arrival;
            if (left_ && arrival - left_at_ >= bye_grace) left_ = false;
            return verdict::source;
        }
        const bool validated = track(ssrc, sequence, from);
        if (live(arrival)) {
            ++foreign_;
            return verdict::foreign;
        }
        if (validated) {
            adopt(ssrc, from, arrival);
            return verdict::adopted;
        }
        if (!hold(ssrc, from, datagram, arrival, arrival_wall)) {
            ++foreign_;
            return verdict::foreign;
        }
        return verdict::held;
    }

    /// After verdict::adopted: hands each datagram the new source sent while
    /// on probation to `f(datagram, arrival, arrival_wall)`, oldest first, and
    /// forgets every held datagram (those of other sources count as foreign).
    template <class F>
    void release_held(F&& f) noexcept
    {
        for (;;) {
            std::size_t next = held_slots;
            for (std::size_t i = 0; i < held_slots; ++i)
                if (held_[i].used && held_[i].ssrc == ssrc_ && held_[i].from == from_ &&
                    (next == held_slots || held_[i].order < held_[next].order))
                    next = i;
            if (next == held_slots) break;
            held_[next].used = false;
            --held_count_;
            f(std::span<const std::byte>{held_bytes_.data() + next * max_held_bytes_,
                                         held_[next].size},
              held_[next].arrival, held_[next].arrival_wall);
        }
        for (auto& h : held_)
            if (h.used) {
                h.used = false;
                ++foreign_;
            }
        held_count_ = 0;
    }

    /// An RTCP BYE for `ssrc` from `from`, arrived at `arrival`: the source
    /// leaves, if it is the source and the BYE comes from its host (RTCP uses
    /// another port). Returns whether it did.
    bool on_bye(std::uint32_t ssrc, const endpoint& from, time_point arrival) noexcept
    {
        if (!has_source_ || ssrc != ssrc_ || !from.same_host(from_)) return false;
        if (!left_) left_at_ = arrival;
        left_ = true;
        return true;
    }

    /// Whether an RTCP packet from `ssrc` at `from` speaks for the source.
    [[nodiscard]] bool is_source(std::uint32_t ssrc, const endpoint& from) const noexcept
    {
        return has_source_ && ssrc == ssrc_ && from.same_host(from_);
    }

    [[nodiscard]] bool has_source() const noexcept { return has_source_; }
    [[nodiscard]] std::uint32_t ssrc() const noexcept { return ssrc_; }
    [[nodiscard]] const endpoint& source_endpoint() const noexcept { return from_; }
    /// The source said BYE and has sent nothing since.
    [[nodiscard]] bool left() const noexcept { return left_; }

    /// Datagrams not played because they came from another source: dropped
    /// while one played, pushed out of the hold, or held now for a source
    /// that has not validated. Each datagram is in it at most once, and
    /// leaves it if its source validates and plays it.
    [[nodiscard]] std::uint64_t foreign() const noexcept { return foreign_ + held_count_; }

private:
    struct candidate {
        std::uint32_t ssrc = 0;
        endpoint from{};
        std::uint16_t last_sequence = 0;
        std::uint8_t run = 0;   ///< packets in sequence, up to min_sequential; 0: empty
        std::uint64_t used = 0; ///< when it was last heard, in packets
    };

    struct held_datagram {
        bool used = false;
        std::uint32_t ssrc = 0;
        endpoint from{};
        std::size_t size = 0;
        std::uint64_t order = 0;
        time_point arrival{};
        wall_time arrival_wall{};
    };

    [[nodiscard]] bool live(time_point now) const noexcept
    {
        return has_source_ && !left_ && now - last_heard_ < timeout_;
    }

    // Updates the candidate entry of (ssrc, from); true once it has sent
    // min_sequential consecutive packets.
    bool track(std::uint32_t ssrc, std::uint16_t sequence, const endpoint& from) noexcept
    {
        const std::uint64_t h = hash(ssrc, from);
        candidate& first = candidates_[h % candidate_slots];
        candidate& second = candidates_[(h >> 32) % candidate_slots];
        const auto holds = [&](const candidate& c) {
            return c.run != 0 && c.ssrc == ssrc && c.from == from;
        };
        ++clock_;
        if (!holds(first) && !holds(second)) {
            const auto rank = [&](const candidate& c) {
                // Empty first, then one from the same endpoint, then the least recent.
                return c.run == 0 ? 0u : c.from == from ? 1u : 2u;
            };
            candidate& victim = rank(first) != rank(second)
                                    ? (rank(first) < rank(second) ? first : second)
                                : first.used <= second.used ? first
                                                            : second;
            victim = candidate{ssrc, from, sequence, 1, clock_};
            return false;
        }
        candidate& c = holds(first) ? first : second;
        c.used = clock_;
        const auto ahead = static_cast<std::uint16_t>(sequence - c.last_sequence);
        const auto behind = static_cast<std::uint16_t>(c.last_sequence - sequence);
        if (ahead == 0) return c.run >= min_sequential; // a duplicate proves nothing
        if (ahead <= probation_window || behind <= probation_window) {
            if (ahead <= probation_window) c.last_sequence = sequence;
            if (c.run < min_sequential) ++c.run;
        } else {
            // Far from the run: it starts again at this packet (A.1).
            c.last_sequence = sequence;
            c.run = 1;
        }
        return c.run >= min_sequential;
    }

    void adopt(std::uint32_t ssrc, const endpoint& from, time_point arrival) noexcept
    {
        has_source_ = true;
        ssrc_ = ssrc;
        from_ = from;
        last_heard_ = arrival;
        left_ = false;
    }

    bool hold(std::uint32_t ssrc, const endpoint& from, std::span<const std::byte> datagram,
              time_point arrival, wall_time arrival_wall) noexcept
    {
        if (datagram.size() > max_held_bytes_) return false;
        std::size_t from_same = 0;
        std::size_t oldest_same = held_slots, oldest = held_slots, free = held_slots;
        for (std::size_t i = 0; i < held_slots; ++i) {
            const held_datagram& h = held_[i];
            if (!h.used) {
                if (free == held_slots) free = i;
                continue;
            }
            if (oldest == held_slots || h.order < held_[oldest].order) oldest = i;
            if (h.from == from) {
                ++from_same;
                if (oldest_same == held_slots || h.order < held_[oldest_same].order)
                    oldest_same = i;
            }
        }
        // One endpoint's flood replaces its own packets, never another's.
        std::size_t slot = from_same >= max_held_per_endpoint ? oldest_same
                           : free != held_slots               ? free
                                                              : oldest;
        if (held_[slot].used) {
            ++foreign_;
        } else {
            ++held_count_;
        }
        std::copy(datagram.begin(), datagram.end(), held_bytes_.data() + slot * max_held_bytes_);
        held_[slot] =
            held_datagram{true, ssrc, from, datagram.size(), next_order_++, arrival, arrival_wall};
        return true;
    }

    // A keyed mix (splitmix64's finaliser over the key and the fields), so
    // that which entries collide cannot be known from outside.
    static std::uint64_t random_key()
    {
        std::random_device rd;
        return (std::uint64_t{rd()} << 32) ^ rd();
    }

    [[nodiscard]] std::uint64_t hash(std::uint32_t ssrc, const endpoint& from) const noexcept
    {
        std::uint64_t h = key_ ^ ssrc;
        const auto mix = [&h](std::uint64_t v) {
            h ^= v + 0x9E3779B97F4A7C15u + (h << 6) + (h >> 2);
            h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
            h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
            h ^= h >> 31;
        };
        std::uint64_t a = 0, b = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            a = (a << 8) | from.address[i];
            b = (b << 8) | from.address[8 + i];
        }
        mix(a);
        mix(b);
        mix((std::uint64_t{from.port} << 8) | static_cast<std::uint64_t>(from.family));
        return h;
    }

    std::chrono::nanoseconds timeout_;
    std::size_t max_held_bytes_;
    std::uint64_t key_;

    bool has_source_ = false;
    std::uint32_t ssrc_ = 0;
    endpoint from_{};
    time_point last_heard_{};
    bool left_ = false;
    time_point left_at_{};

    std::array<candidate, candidate_slots> candidates_{};
    std::uint64_t clock_ = 0;
    std::array<held_datagram, held_slots> held_{};
    std::vector<std::byte> held_bytes_;
    std::size_t held_count_ = 0;
    std::uint64_t next_order_ = 0;
    std::uint64_t foreign_ = 0;
};

} // namespace audiocast
