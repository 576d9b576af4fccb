// audiocast — the streams heard on SAP, kept within fixed bounds.
//
// A listener for SAP announcements (RFC 2974) hears whatever any host sends to
// the SAP groups, and a host can send thousands of distinct announcements a
// second. The directory keeps what was announced under three bounds, so that
// such a flood costs counted drops, never memory, and never pushes out the
// announcements of other hosts:
//
// - at most `max_streams` streams in all, and at most `max_per_host` from one
//   sending host (the UDP source address, which the SAP origin field inside
//   the datagram cannot change); a host over its share replaces its own
//   oldest entry, never another host's;
// - an entry not heard again for `max_age` is forgotten (RFC 2974 §4 lets a
//   cache drop a session after ten announcement intervals or an hour);
// - a withdrawal (deletion) counts only from the host that announced.
//
//   announcement_directory dir;
//   dir.on_datagram(bytes, from, now);          // each datagram on a SAP group
//   if (const auto* s = dir.find("studio")) ... // s->description is its SDP
//
// Sans-I/O: bytes, the sender's endpoint and a time point in; no socket, no
// clock. Not thread-safe.
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast {

/// One stream announced on SAP.
struct announced_stream {
    endpoint from;      ///< the host whose datagram carried it
    std::string origin; ///< the SAP header's originating source, as text
    std::uint16_t message_id_hash = 0;
    stream_description description; ///< its SDP
    time_point first_heard{};
    time_point last_heard{};
};

class announcement_directory {
public:
    struct limits {
        std::size_t max_streams = 256;
        std::size_t max_per_host = 16;
        std::chrono::nanoseconds max_age = std::chrono::hours{1};
    };

    /// What was dropped, and why.
    struct counters {
        std::uint64_t announcements = 0; ///< valid announcements taken (new or repeated)
        std::uint64_t withdrawn = 0;     ///< streams removed by their host's deletion
        std::uint64_t malformed = 0;     ///< not SAP, or SDP that cannot be read or played
        std::uint64_t displaced = 0;     ///< entries pushed out by their own host's newer ones
        std::uint64_t refused = 0;       ///< new streams turned away: the directory was full
        std::uint64_t expired = 0;       ///< entries forgotten after max_age of silence
    };

    announcement_directory() : announcement_directory(limits{}) {}
    explicit announcement_directory(const limits& l) : limits_{l}
    {
        limits_.max_streams = std::max<std::size_t>(1, limits_.max_streams);
        limits_.max_per_host =
            std::clamp<std::size_t>(limits_.max_per_host, 1, limits_.max_streams);
        streams_.reserve(limits_.max_streams);
    }

    /// Takes one datagram received on a SAP group from `from` at `now`.
    /// Returns the stream it announced (valid until the next call), or
    /// nullptr when it announced nothing that is kept.
    const announced_stream* on_datagram(std::span<const std::byte> datagram, const endpoint& from,
                                        time_point now)
    {
        expire(now);
        std::error_code ec;
        const sap::announcement_view a = sap::parse(datagram, ec);
        if (ec) {
            ++counters_.malformed;
            return nullptr;
        }
        const std::string origin = a.origin_text();
        const auto same = [&](const announced_stream& s) {
            return s.message_id_hash == a.message_id_hash && s.origin == origin &&
                   s.from.same_host(from);
        };
        const auto it = std::find_if(streams_.begin(), streams_.end(), same);
        if (a.deletion) {
            if (it != streams_.end()) {
                streams_.erase(it);
                ++counters_.withdrawn;
            }
            return nullptr;
        }
        stream_description d = parse_sdp(a.payload, ec);
        if (ec) {
            ++counters_.malformed;
            return nullptr;
        }
        ++counters_.announcements;
        if (it != streams_.end()) {
            it->description = std::move(d);
            it->last_heard = now;
            return &*it;
        }
        if (!make_room_for(from)) {
            ++counters_.refused;
            return nullptr;
        }
        streams_.push_back(
            announced_stream{from, origin, a.message_id_hash, std::move(d), now, now});
        return &streams_.back();
    }

    /// Forgets what has not been heard for max_age.
    void expire(time_point now)
    {
        const auto old = [&](const announced_stream& s) {
            return now - s.last_heard > limits_.max_age;
        };
        const auto gone = std::remove_if(streams_.begin(), streams_.end(), old);
        counters_.expired += static_cast<std::uint64_t>(streams_.end() - gone);
        streams_.erase(gone, streams_.end());
    }

    /// The first stream announced under `name` (SDP s=), or nullptr.
    [[nodiscard]] const announced_stream* find(std::string_view name) const noexcept
    {
        const auto it =
            std::find_if(streams_.begin(), streams_.end(),
                         [&](const announced_stream& s) { return s.description.name == name; });
        return it == streams_.end() ? nullptr : &*it;
    }

    /// Every stream kept, in the order first heard.
    [[nodiscard]] const std::vector<announced_stream>& streams() const noexcept { return streams_; }
    [[nodiscard]] const counters& counts() const noexcept { return counters_; }
    [[nodiscard]] const limits& bounds() const noexcept { return limits_; }

private:
    // A host at its share gives up its own oldest entry; otherwise a full
    // directory turns the newcomer away, so no host can push out another's.
    bool make_room_for(const endpoint& from)
    {
        std::size_t mine = 0;
        auto oldest = streams_.end();
        for (auto s = streams_.begin(); s != streams_.end(); ++s) {
            if (!s->from.same_host(from)) continue;
            ++mine;
            if (oldest == streams_.end() || s->last_heard < oldest->last_heard) oldest = s;
        }
        if (mine >= limits_.max_per_host) {
            streams_.erase(oldest);
            ++counters_.displaced;
            return true;
        }
        return streams_.size() < limits_.max_streams;
    }

    limits limits_;
    std::vector<announced_stream> streams_;
    counters counters_;
};

} // namespace audiocast
