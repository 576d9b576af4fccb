// audiocast — the other members of a session, as their RTCP tells them.
//
// A sender learns its listeners from their receiver reports: who they are
// (SSRC, CNAME), what they lose, their jitter and the round trip. A receiver
// counts the members it hears, for the report interval. The table has a fixed
// capacity chosen at construction, so a report never allocates; members silent
// for too long (RFC 3550 §6.3.5) or that said BYE (§6.3.7) leave it, and when
// it is full a newcomer is counted and not kept.
#pragma once

#include <audiocast/time.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace audiocast {

/// One member heard on RTCP.
struct participant {
    std::uint32_t ssrc = 0;
    time_point last_heard{};
    std::uint64_t reports = 0; ///< SRs or RRs from it
    /// Its last report block about us (a listener's view of our stream).
    std::optional<rtcp::report_block> about_us{};
    /// Round trip from that block's LSR and DLSR (RFC 3550 §6.4.1), when it had them.
    std::optional<std::chrono::nanoseconds> round_trip{};
    /// Its last reference time not yet answered (RFC 3611 §4.4 RRTR): the
    /// middle 32 bits, which the answer's DLRR echoes, and when it came on
    /// our wall clock, from which the answer's delay is counted.
    std::optional<std::uint32_t> reference_unanswered{};
    wall_time reference_arrival{};
    /// Since when it has waited for an answer: a newer question does not
    /// move it, so that the longest waiting are answered first.
    wall_time waiting_since{};
    /// Questions for our clock it has asked (synchronized playout).
    std::uint64_t clock_questions = 0;

    /// Takes the round trip of its latest report (none: the report could not
    /// time one).
    void note_round_trip(std::optional<std::chrono::nanoseconds> trip) noexcept
    {
        round_trip = trip;
        if (!trip) return;
        recent_trips_[next_trip_++ % recent_trips_.size()] = *trip;
        trips_kept_ = std::min<std::size_t>(trips_kept_ + 1, recent_trips_.size());
    }
    /// The shortest of its last few round trips. A listener's estimate of
    /// our clock rests on its fastest trips, so half this is how far off
    /// that estimate can be; one report's trip, queued behind others, says
    /// more about the queue.
    [[nodiscard]] std::optional<std::chrono::nanoseconds>
    shortest_recent_round_trip() const noexcept
    {
        if (trips_kept_ == 0) return std::nullopt;
        return *std::min_element(recent_trips_.begin(),
                                 recent_trips_.begin() + static_cast<std::ptrdiff_t>(trips_kept_));
    }

    [[nodiscard]] std::string_view cname() const noexcept { return {cname_.data(), cname_length_}; }
    void set_cname(std::string_view name) noexcept
    {
        cname_length_ = static_cast<std::uint8_t>(std::min(name.size(), cname_.size()));
        std::copy_n(name.data(), cname_length_, cname_.data());
    }

private:
    std::array<char, rtcp::max_text> cname_{};
    std::uint8_t cname_length_ = 0;
    std::array<std::chrono::nanoseconds, 8> recent_trips_{}; ///< about 40 s of reports
    std::size_t next_trip_ = 0;
    std::size_t trips_kept_ = 0;
};

class participant_table {
public:
    explicit participant_table(std::size_t capacity) : capacity_{capacity}
    {
        members_.reserve(capacity);
    }

    [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] bool empty() const noexcept { return members_.empty(); }

    [[nodiscard]] auto begin() const noexcept { return members_.begin(); }
    [[nodiscard]] auto end() const noexcept { return members_.end(); }
    /// The members, to change what is known of them (not who they are).
    [[nodiscard]] std::span<participant> all() noexcept { return members_; }

    [[nodiscard]] const participant* find(std::uint32_t ssrc) const noexcept
    {
        const auto it = std::find_if(members_.begin(), members_.end(),
                                     [ssrc](const participant& p) { return p.ssrc == ssrc; });
        return it == members_.end() ? nullptr : &*it;
    }

    [[nodiscard]] participant* find(std::uint32_t ssrc) noexcept
    {
        return const_cast<participant*>(std::as_const(*this).find(ssrc));
    }

    /// The member `ssrc`, added when new; nullptr when new and the table is full.
    participant* heard(std::uint32_t ssrc, time_point now) noexcept
    {
        participant* p = const_cast<participant*>(find(ssrc));
        if (p == nullptr) {
            if (members_.size() >= capacity_) return nullptr;
            members_.emplace_back(); // within the reserved capacity: no allocation
            p = &members_.back();
            p->ssrc = ssrc;
        }
        p->last_heard = now;
        return p;
    }

    /// A BYE: the member leaves at once.
    void remove(std::uint32_t ssrc) noexcept
    {
        std::erase_if(members_, [ssrc](const participant& p) { return p.ssrc == ssrc; });
    }

    /// Members not heard for `timeout` leave.
    void expire(time_point now, std::chrono::nanoseconds timeout) noexcept
    {
        std::erase_if(members_, [&](const participant& p) { return now - p.last_heard > timeout; });
    }

private:
    std::size_t capacity_;
    std::vector<participant> members_;
};

} // namespace audiocast
