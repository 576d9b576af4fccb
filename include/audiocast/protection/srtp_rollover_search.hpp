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
// buying CPU with forgeries: trials are a fixed number per second across
// all sources, and a source is tried only once it sends in sequence.
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

    /// Trials per second, across all sources. One trial costs what refusing
    /// a forged packet does (about 2.8 us with AES-CM, audiocast-bench-srtp),
    /// so the search spends at most about 6 % of a core, and only while an
    /// unknown source keeps sending.
    static constexpr std::uint32_t trials_per_second = 20'000;
    /// The most trials one packet is given, so that one receive call is
    /// held no more than about 1.5 ms.
    static constexpr std::uint32_t trials_per_packet = 512;
    /// The highest ROC tried: 2^20 wraps is 11 years of 5 ms packets (2 years
    /// of 1 ms ones). A source not found by then is given up.
    static constexpr std::uint32_t max_rollover = 1u << 20;
    /// Sources searched at once; a new one replaces the one heard from
    /// least recently.
    static constexpr std::size_t max_sources = 8;
    /// How far ahead of its last number a source's next packet may be and
    /// still count as in sequence (loss and reordering allowed).
    static constexpr std::uint16_t max_sequence_step = 16;

    /// What to do for one packet from a source no ROC is known for.
    struct step {
        /// ROCs to try, in order: [first, first + count). count is 0 when the
        /// packet earns no trials (first from its source, out of sequence,
        /// budget spent, or the source given up).
        std::uint32_t first = 0;
        std::uint32_t count = 0;
        /// A source whose search ended without a find (replaced, or given
        /// up): the caller forgets what it kept for it.
        std::optional<std::uint32_t> forget;
    };

    /// A packet numbered `sequence` from `ssrc` that did not authenticate at
    /// ROC 0 arrived at `now`.
    step next(std::uint32_t ssrc, std::uint16_t sequence, time_point now) noexcept
    {
        refill(now);
        step s;
        source* src = find(ssrc);
        if (src == nullptr) {
            src = replace_stalest(s.forget);
            *src = source{.ssrc = ssrc,
                          .last_sequence = sequence,
                          .next_roc = 1,
                          .heard = ++heard_,
                          .in_use = true};
            return s; // first packet: not yet known to send in sequence
        }
        src->heard = ++heard_;
        const auto step_ahead = static_cast<std::uint16_t>(sequence - src->last_sequence);
        if (step_ahead == 0 || step_ahead > max_sequence_step || src->given_up) return s;
        src->last_sequence = sequence;
        const std::uint32_t left = max_rollover - src->next_roc;
        s.first = src->next_roc;
        s.count = std::min({tokens_, trials_per_packet, left});
        tokens_ -= s.count;
        trials_ += s.count;
        return s;
    }

    /// The caller tried [first, up_to) for `ssrc`; `found` if up_to - 1
    /// authenticated. A found source leaves the search. Returns the source
    /// to forget when this ended its search without a find.
    std::optional<std::uint32_t> tried(std::uint32_t ssrc, std::uint32_t up_to, bool found) noexcept
    {
        source* src = find(ssrc);
        if (src == nullptr) return std::nullopt;
        if (found) {
            *src = source{};
            ++found_;
            return std::nullopt;
        }
        src->next_roc = std::max(src->next_roc, up_to);
        if (src->next_roc >= max_rollover && !src->given_up) {
            src->given_up = true;
            ++given_up_;
            return ssrc;
        }
        return std::nullopt;
    }

    /// True while `ssrc` is being searched (its ROC is not known).
    [[nodiscard]] bool searching(std::uint32_t ssrc) const noexcept
    {
        return std::any_of(sources_.begin(), sources_.end(),
                           [&](const source& s) { return s.in_use && s.ssrc == ssrc; });
    }

    /// Trials granted so far, sources found, and sources given up.
    [[nodiscard]] std::uint64_t trials() const noexcept { return trials_; }
    [[nodiscard]] std::uint64_t found() const noexcept { return found_; }
    [[nodiscard]] std::uint64_t given_up() const noexcept { return given_up_; }

private:
    struct source {
        std::uint32_t ssrc = 0;
        std::uint16_t last_sequence = 0;
        std::uint32_t next_roc = 1;
        std::uint64_t heard = 0; // when last heard, in packets
        bool in_use = false;
        bool given_up = false;
    };

    source* find(std::uint32_t ssrc) noexcept
    {
        for (source& s : sources_)
            if (s.in_use && s.ssrc == ssrc) return &s;
        return nullptr;
    }

    source* replace_stalest(std::optional<std::uint32_t>& forget) noexcept
    {
        source* stalest = &sources_[0];
        for (source& s : sources_) {
            if (!s.in_use) return &s;
            if (s.heard < stalest->heard) stalest = &s;
        }
        // A given-up source's state was forgotten when it gave up.
        if (!stalest->given_up) forget = stalest->ssrc;
        return stalest;
    }

    void refill(time_point now) noexcept
    {
        if (!refilled_) {
            refilled_ = now;
            tokens_ = trials_per_second;
            return;
        }
        if (now <= *refilled_) return;
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::microseconds>(now - *refilled_);
        const auto earned = elapsed.count() * trials_per_second / 1'000'000;
        if (earned <= 0) return; // keep the remainder for the next packet
        tokens_ = static_cast<std::uint32_t>(
            std::min<std::int64_t>(trials_per_second, std::int64_t{tokens_} + earned));
        *refilled_ += std::chrono::microseconds{earned * 1'000'000 / trials_per_second};
    }

    std::array<source, max_sources> sources_{};
    std::uint64_t heard_ = 0;
    std::uint32_t tokens_ = 0;
    std::optional<time_point> refilled_;
    std::uint64_t trials_ = 0;
    std::uint64_t found_ = 0;
    std::uint64_t given_up_ = 0;
};

} // namespace audiocast
