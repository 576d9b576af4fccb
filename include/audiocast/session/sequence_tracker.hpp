// audiocast — per-source RTP sequence tracking: RFC 3550 Appendix A.1
// validation, A.3 loss accounting, and duplicate and reorder detection.
//
// Runs once per received packet: fixed memory, no allocation, noexcept.
#pragma once

#include <audiocast/detail/config.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace audiocast {

/// Sequence state of one RTP source (one SSRC): RFC 3550 Appendix A.1's
/// `update_seq` (probation, wrap, large jumps, misorder) and Appendix A.3's
/// expected / lost / fraction-lost arithmetic, with three deliberate deviations:
///
/// 1. Probation tolerates the network: A.1 wants MIN_SEQUENTIAL consecutive
///    packets and starts over on any gap or inversion, so loss or reordering
///    in the first packets would throw away audio a receiver can play. Here a
///    probation run is MIN_SEQUENTIAL distinct packets that lie close together
///    (ahead by less than MAX_DROPOUT or behind by less than MAX_MISORDER); a
///    packet farther away starts the run again, as in A.1. The run's packets
///    count as received and the base is the LOWEST number of the run, so
///    received() + lost() == the number sent from the base to extended_max().
/// 2. Duplicates are not counted as received (A.1 counts them, which is why A.3
///    lets the loss go negative). A bitmap of the last `window` extended
///    sequence numbers recognises them; they return verdict::duplicate.
/// 3. A packet older than the base but within MAX_MISORDER of the highest (one
///    sent before the first counted packet and overtaken) moves the base down
///    to it. Together with 2 this keeps lost() >= 0 always: every counted
///    packet is a distinct sequence number in [base, extended_max].
///
/// A.1 detail kept exactly: a packet 100 or more behind the highest one
/// (MAX_MISORDER) falls in the "very large jump" branch, is refused, and arms
/// the restart check, so two consecutive such packets restart the sequence.
///
/// One A.1 quirk is not kept: A.1 tests `seq == s->max_seq + 1` with integer
/// promotion, so 65535 followed by 0 fails probation. Here the test is modulo
/// 2^16, and a probation run that crosses the wrap counts one cycle.
class sequence_tracker {
public:
    static constexpr int min_sequential = 2;           ///< A.1 MIN_SEQUENTIAL
    static constexpr std::uint32_t max_dropout = 3000; ///< A.1 MAX_DROPOUT
    /// A.1 MAX_MISORDER, unless the receiver asks for more (a receiver of
    /// FEC, whose repairs rebuild packets long after later ones arrived).
    static constexpr std::uint32_t default_max_misorder = 100;
    /// Extended sequence numbers remembered for duplicate detection. Larger
    /// than max_misorder, so every packet A.1 accepts as misordered is covered.
    static constexpr std::uint32_t window = 1024;
    /// The most max_misorder may be: below the duplicate window.
    static constexpr std::uint32_t max_max_misorder = window - 1;

    /// What update() decided about one packet.
    enum class verdict {
        in_order,  ///< newest so far (gaps allowed, up to max_dropout); counted
        reordered, ///< behind the newest, within max_misorder, not seen before; counted
        duplicate, ///< already seen; not counted
        probation, ///< the source is not valid yet (A.1); not counted yet
        bad,       ///< a large jump, too old, or before the base; not counted
        restarted, ///< second consecutive packet after a large jump: counts re-based (A.1)
    };

    /// No source yet; the first update() starts one as reset() would.
    /// `max_misorder`: how far behind the highest a packet may arrive and be
    /// taken as reordered (A.1 MAX_MISORDER); at most max_max_misorder.
    explicit sequence_tracker(std::uint32_t max_misorder = default_max_misorder) noexcept
        : max_misorder_{std::min(std::max(max_misorder, 1u), max_max_misorder)}
    {}

    [[nodiscard]] std::uint32_t max_misorder() const noexcept { return max_misorder_; }

    /// A new source begins with this packet, which is taken as the first of its
    /// probation run (A.1: `init_seq(s, seq); s->max_seq = seq - 1;
    /// s->probation = MIN_SEQUENTIAL;` then `update_seq(s, seq)`). Every counter
    /// returns to zero. Calling update() with the same number right after is
    /// harmless: A.1 restarts the run at that packet, which is the same state.
    void reset(std::uint16_t first_seq) noexcept
    {
        started_ = true;
        base_ext_ = first_seq;
        bad_seq_ = no_bad_seq;
        received_ = expected_prior_ = received_prior_ = 0;
        duplicates_ = reordered_ = 0;
        start_run(first_seq);
    }

    /// Accounts one arriving packet with sequence number `seq`.
    verdict update(std::uint16_t seq) noexcept
    {
        if (!started_) {
            reset(seq);
            return valid() ? verdict::in_order : verdict::probation;
        }
        if (probation_ > 0) return update_in_probation(seq);

        // A.1: the distance ahead of the highest number seen, modulo 2^16.
        const auto udelta = static_cast<std::uint16_t>(seq - max_seq_);
        if (udelta < max_dropout) {
            if (udelta == 0) return count_duplicate();
            // In order, with a permissible gap; past 65535 it counts another
            // 2^16 cycle (A.1's `s->cycles += RTP_SEQ_MOD`).
            const std::uint64_t ext = extended_max() + udelta;
            advance_to(ext);
            cycles_ = ext - seq;
            max_seq_ = seq;
            ++received_;
            return verdict::in_order;
        }
        if (udelta <= seq_mod - max_misorder_) {
            // A very large jump. Two consecutive such packets mean the sender
            // restarted without telling us: re-sync on this one (A.1).
            if (seq == bad_seq_) {
                restart(seq);
                return verdict::restarted;
            }
            bad_seq_ = (std::uint32_t{seq} + 1) & (seq_mod - 1);
            return verdict::bad;
        }
        // Behind the highest by 1 to max_misorder - 1: duplicate or reordered.
        const std::uint64_t behind = seq_mod - udelta;
        const std::uint64_t ext_max = extended_max();
        if (behind > ext_max) return verdict::bad;
        const std::uint64_t ext = ext_max - behind;
        if (seen(ext)) return count_duplicate();
        // Sent before the first packet we counted, overtaken on the way: the
        // stream began earlier than we thought.
        if (ext < base_ext_) base_ext_ = ext;
        mark(ext);
        ++received_;
        ++reordered_;
        return verdict::reordered;
    }

    /// A.3 `extended_max = s->cycles + s->max_seq`: the highest sequence number
    /// seen with its count of wraps in the bits above the low 16. Its low 32 bits
    /// are the RTCP reception report's "extended highest sequence number".
    [[nodiscard]] std::uint64_t extended_max() const noexcept { return cycles_ + max_seq_; }

    /// Extends `seq` relative to the highest number seen: the nearer of the
    /// candidates in the current, previous or next cycle (within 2^15 either
    /// way), so it serves reordered and late packets as well as new ones.
    /// Returns 0 for a number that would fall before the first cycle; only a
    /// packet sent before the base can, and update() refuses those.
    [[nodiscard]] std::uint64_t extended_of(std::uint16_t seq) const noexcept
    {
        const auto ahead = static_cast<std::uint16_t>(seq - max_seq_);
        const std::uint64_t ext_max = extended_max();
        if (ahead < seq_mod / 2) return ext_max + ahead;
        const std::uint64_t behind = seq_mod - ahead;
        return behind > ext_max ? 0 : ext_max - behind;
    }

    /// Distinct packets counted since the base; 0 until the source is valid.
    [[nodiscard]] std::uint64_t received() const noexcept { return valid() ? received_ : 0; }

    /// A.3 `expected = extended_max - s->base_seq + 1`; 0 until the source is valid.
    [[nodiscard]] std::uint64_t expected() const noexcept
    {
        return valid() ? extended_max() - base_ext_ + 1 : 0;
    }

    /// A.3 cumulative loss, `expected - received`. A.3 lets it go negative when
    /// duplicates are counted; here it never does (see the class comment), so a
    /// caller may rely on lost() >= 0. The RTCP field is 24-bit signed: the
    /// report writer clamps it.
    [[nodiscard]] std::int64_t lost() const noexcept
    {
        return static_cast<std::int64_t>(expected()) - static_cast<std::int64_t>(received());
    }

    /// A.3 fraction lost since the previous call, as the RTCP 8-bit fixed-point
    /// field (lost / expected * 256, truncated; 0 when nothing was expected or
    /// nothing was lost). Each call starts a new interval.
    std::uint8_t fraction_lost() noexcept
    {
        const std::uint64_t expected_now = expected();
        const std::uint64_t received_now = received();
        const std::uint64_t expected_interval = expected_now - expected_prior_;
        expected_prior_ = expected_now;
        const std::uint64_t received_interval = received_now - received_prior_;
        received_prior_ = received_now;
        if (expected_interval == 0 || received_interval >= expected_interval) return 0;
        const std::uint64_t lost_interval = expected_interval - received_interval;
        return static_cast<std::uint8_t>((lost_interval << 8) / expected_interval);
    }

    /// Packets refused as already seen, since reset().
    [[nodiscard]] std::uint64_t duplicates() const noexcept { return duplicates_; }

    /// Packets counted as reordered, since reset().
    [[nodiscard]] std::uint64_t reordered() const noexcept { return reordered_; }

    /// True once probation has passed (A.1: MIN_SEQUENTIAL consecutive packets).
    [[nodiscard]] bool valid() const noexcept { return started_ && probation_ == 0; }

private:
    static constexpr std::uint32_t seq_mod = 1u << 16;       ///< A.1 RTP_SEQ_MOD
    static constexpr std::uint32_t no_bad_seq = seq_mod + 1; ///< A.1: "seq == bad_seq is false"
    static constexpr std::size_t word_bits = 64;

    verdict update_in_probation(std::uint16_t seq) noexcept
    {
        const auto udelta = static_cast<std::uint16_t>(seq - max_seq_);
        const std::uint64_t ext_max = extended_max();
        const std::uint64_t behind = seq_mod - udelta;
        if (udelta == 0) return count_duplicate();
        if (udelta < max_dropout) {
            const std::uint64_t ext = ext_max + udelta;
            advance_to(ext);
            cycles_ = ext - seq;
            max_seq_ = seq;
        } else if (behind < max_misorder_ && behind <= ext_max) {
            const std::uint64_t ext = ext_max - behind;
            if (seen(ext)) return count_duplicate();
            mark(ext);
            run_first_ = std::min(run_first_, ext);
        } else {
            // Far from the run: A.1 starts it again at this packet.
            start_run(seq);
            return verdict::probation;
        }
        ++run_length_;
        if (--probation_ == 0) {
            validate();
            return verdict::in_order;
        }
        return verdict::probation;
    }

    void start_run(std::uint16_t seq) noexcept
    {
        probation_ = min_sequential - 1;
        max_seq_ = seq;
        cycles_ = 0;
        run_length_ = 1;
        run_first_ = seq;
        seen_.fill(0);
        mark(seq);
        if (probation_ == 0) validate();
    }

    // The run that completes probation becomes the counted stream; its lowest
    // packet is the base (deviation 1 in the class comment).
    void validate() noexcept
    {
        probation_ = 0;
        base_ext_ = run_first_;
        received_ = run_length_;
        bad_seq_ = no_bad_seq;
        expected_prior_ = received_prior_ = 0;
    }

    // A.1 init_seq() on a restart, then `s->received++` for this packet.
    void restart(std::uint16_t seq) noexcept
    {
        max_seq_ = seq;
        cycles_ = 0;
        base_ext_ = seq;
        bad_seq_ = no_bad_seq;
        received_ = 1;
        expected_prior_ = received_prior_ = 0;
        seen_.fill(0);
        mark(seq);
    }

    verdict count_duplicate() noexcept
    {
        ++duplicates_;
        return verdict::duplicate;
    }

    // Moves the window's top from extended_max() to `new_max`, forgetting the
    // numbers that slide out (their slots are reused by the ones coming in).
    void advance_to(std::uint64_t new_max) noexcept
    {
        const std::uint64_t old_max = extended_max();
        if (new_max - old_max >= window) {
            seen_.fill(0);
        } else {
            for (std::uint64_t ext = old_max + 1; ext < new_max; ++ext)
                clear(ext);
        }
        mark(new_max);
    }

    [[nodiscard]] bool seen(std::uint64_t ext) const noexcept
    {
        const auto slot = static_cast<std::size_t>(ext % window);
        return (seen_[slot / word_bits] >> (slot % word_bits) & 1u) != 0;
    }
    void mark(std::uint64_t ext) noexcept
    {
        const auto slot = static_cast<std::size_t>(ext % window);
        seen_[slot / word_bits] |= std::uint64_t{1} << (slot % word_bits);
    }
    void clear(std::uint64_t ext) noexcept
    {
        const auto slot = static_cast<std::size_t>(ext % window);
        seen_[slot / word_bits] &= ~(std::uint64_t{1} << (slot % word_bits));
    }

    bool started_ = false;
    int probation_ = 0;                  ///< A.1 s->probation: consecutive packets still needed
    std::uint16_t max_seq_ = 0;          ///< A.1 s->max_seq
    std::uint64_t cycles_ = 0;           ///< A.1 s->cycles, already shifted (a multiple of 2^16)
    std::uint64_t base_ext_ = 0;         ///< A.1 s->base_seq, extended
    std::uint32_t bad_seq_ = no_bad_seq; ///< A.1 s->bad_seq: last bad number + 1
    std::uint64_t run_length_ = 0;       ///< packets in the current probation run
    std::uint64_t run_first_ = 0;        ///< lowest extended number of that run
    std::uint64_t received_ = 0;
    std::uint64_t expected_prior_ = 0;
    std::uint64_t received_prior_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t reordered_ = 0;
    std::array<std::uint64_t, window / word_bits>
        seen_{}; ///< bit per extended number, modulo window
    std::uint32_t max_misorder_ = default_max_misorder;
};

} // namespace audiocast
