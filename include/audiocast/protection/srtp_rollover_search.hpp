// audiocast — finding a late joiner's SRTP rollover counter (docs/architecture.md,
// Packet protection).
//
// SRTP authenticates a packet's 48-bit index: its 16-bit sequence number
// and a rollover counter (ROC) that the sender increments each time the
// sequence wraps. The ROC is never on the wire. A listener that is there
// from the start counts the wraps; one that joins later starts from ROC 0,
// and once the sender has wrapped (within minutes at small packet times)
// nothing it receives authenticates. SDES keying (RFC 4568) carries no ROC,
// so the listener finds it: it tries ROC 1, 2, ... against the packets it
// receives until one authenticates. A wrong ROC cannot authenticate (the
// tag would have to be forged), so the first that does is the sender's.
//
// This is the bookkeeping of that search, without libsrtp or a clock: which
// sources are being searched, which ROCs to try next for a packet, and how
// many trials the budget allows. The budget is what keeps a stranger from
// buying CPU with forgeries: each source earns a fixed number of trials a
// second (its libsrtp stream charged too), at most eight sources are
// searched, and a source is tried only when a packet follows its last in
// sequence. A stranger who
// sends forgeries with a searched SSRC can spend its trials and delay the
// find; it cannot stop it for good: a search that has tried every ROC starts
// again, and a source that keeps sending keeps its place.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace audiocast {

class srtp_rollover_search {
public:
    using time_point = std::chrono::steady_clock::time_point;

    /// Trials each source earns per second, from a budget of its own, so
    /// that a forger's sources cannot starve a real one. One trial costs
    /// what refusing a forged packet does (3.4 us with AES-CM, 1 us with GCM,
    /// audiocast-bench-srtp).
    static constexpr std::uint32_t trials_per_second = 2'500;
    /// The most trials a source holds in reserve, and so the most one packet
    /// is given (about 1.7 ms with AES-CM).
    static constexpr std::uint32_t burst_trials = 512;
    /// What giving a source a libsrtp stream of its own costs, in trials (it
    /// allocates and derives keys): charged once, with its first trials.
    static constexpr std::uint32_t stream_cost = 32;
    /// The highest ROC tried: 2^20 wraps is 11 years of 5 ms packets (2 years
    /// of 1 ms ones). A search that reaches it starts again from 1, as its
    /// trials may have been spent on a forger's packets.
    static constexpr std::uint32_t max_rollover = 1u << 20;
    /// Sources searched at once.
    static constexpr std::size_t max_sources = 8;
    /// The most trials a second the search spends, all sources together:
    /// about 7 % of a core with AES-CM, and only while unknown sources send.
    static constexpr std::uint32_t max_trials_per_second = trials_per_second * max_sources;
    /// A source heard within this long keeps its place: a newcomer replaces
    /// only one that went quiet, so a flood of new SSRCs cannot push a real
    /// source out of its search.
    static constexpr std::chrono::milliseconds hold_time{1'000};
    /// How far ahead of its last number a source's next packet may be and
    /// still count as in sequence (loss and reordering allowed).
    static constexpr std::uint16_t max_sequence_step = 16;

    /// What to do for one packet from a source no ROC is known for.
    struct step {
        /// ROCs to try, in order: [first, first + count). count is 0 when the
        /// packet earns no trials (first from its source, out of sequence
        /// with the one before, budget spent, or no place for the source).
        std::uint32_t first = 0;
        std::uint32_t count = 0;
        /// A source whose search ended without a find (its place was given
        /// to a newcomer): the caller forgets what it kept for it.
        std::optional<std::uint32_t> forget;
    };

    /// A packet numbered `sequence` from `ssrc` that did not authenticate at
    /// ROC 0 arrived at `now`.
    step next(std::uint32_t ssrc, std::uint16_t sequence, time_point now) noexcept
    {
        step s;
        source* src = find(ssrc);
        if (src == nullptr) {
            src = place_for_newcomer(now, s.forget);
            if (src != nullptr) {
                *src = source{};
                src->ssrc = ssrc;
                src->last_sequence = sequence;
                src->heard = src->refilled = now;
                src->tokens = burst_trials;
                src->in_use = true;
            }
            return s; // first packet: not yet known to send in sequence
        }
        refill(*src, now);
        src->heard = now;
        const auto step_ahead = static_cast<std::uint16_t>(sequence - src->last_sequence);
        src->last_sequence = sequence; // a gap ends at the next packet, not at the next wrap
        if (step_ahead == 0 || step_ahead > max_sequence_step) return s;
        const std::uint32_t setup = src->has_stream ? 0 : stream_cost;
        if (src->tokens <= setup) return s;
        src->tokens -= setup;
        src->has_stream = true;
        s.first = src->next_roc;
        s.count = std::min(src->tokens, max_rollover - src->next_roc);
        src->tokens -= s.count;
        trials_ += s.count;
        return s;
    }

    /// The caller tried [first, up_to) for `ssrc`; `found` if up_to - 1
    /// authenticated. A found source leaves the search.
    void tried(std::uint32_t ssrc, std::uint32_t up_to, bool found) noexcept
    {
        source* src = find(ssrc);
        if (src == nullptr) return;
        if (found) {
            *src = source{};
            ++found_;
            return;
        }
        src->next_roc = std::max(src->next_roc, up_to);
        if (src->next_roc >= max_rollover) {
            src->next_roc = 1;
            ++restarts_;
        }
    }

    /// True while `ssrc` is being searched (its ROC is not known).
    [[nodiscard]] bool searching(std::uint32_t ssrc) const noexcept
    {
        return std::any_of(sources_.begin(), sources_.end(),
                           [&](const source& s) { return s.in_use && s.ssrc == ssrc; });
    }

    /// Trials granted so far, sources found, and searches that went through
    /// every ROC without a find and started again.
    [[nodiscard]] std::uint64_t trials() const noexcept { return trials_; }
    [[nodiscard]] std::uint64_t found() const noexcept { return found_; }
    [[nodiscard]] std::uint64_t restarts() const noexcept { return restarts_; }

private:
    struct source {
        std::uint32_t ssrc = 0;
        std::uint16_t last_sequence = 0;
        std::uint32_t next_roc = 1;
        time_point heard{};
        std::uint32_t tokens = 0; // trials in reserve
        time_point refilled{};    // tokens earned up to here
        bool in_use = false;
        bool has_stream = false; // the caller has made it a libsrtp stream
    };

    source* find(std::uint32_t ssrc) noexcept
    {
        for (source& s : sources_)
            if (s.in_use && s.ssrc == ssrc) return &s;
        return nullptr;
    }

    // A free place, or that of the source heard from least recently if it
    // has been quiet for hold_time; none while every source is sending.
    source* place_for_newcomer(time_point now, std::optional<std::uint32_t>& forget) noexcept
    {
        source* stalest = nullptr;
        for (source& s : sources_) {
            if (!s.in_use) return &s;
            if (stalest == nullptr || s.heard < stalest->heard) stalest = &s;
        }
        if (now - stalest->heard < hold_time) return nullptr;
        if (stalest->has_stream) forget = stalest->ssrc;
        return stalest;
    }

    static void refill(source& src, time_point now) noexcept
    {
        if (now <= src.refilled) return;
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::microseconds>(now - src.refilled);
        const auto earned = elapsed.count() * trials_per_second / 1'000'000;
        if (earned <= 0) return; // keep the remainder for the next packet
        src.tokens = static_cast<std::uint32_t>(
            std::min<std::int64_t>(burst_trials, std::int64_t{src.tokens} + earned));
        src.refilled += std::chrono::microseconds{earned * 1'000'000 / trials_per_second};
    }

    std::array<source, max_sources> sources_{};
    std::uint64_t trials_ = 0;
    std::uint64_t found_ = 0;
    std::uint64_t restarts_ = 0;
};

} // namespace audiocast
