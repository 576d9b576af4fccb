// audiocast — which datagrams the network thread lets into a receiver's
// hand-off to the audio side (docs/architecture.md, The path of a packet).
//
// The hand-off has a fixed number of slots, and the audio side empties it
// only when it pulls. A host flooding the group (20,000 datagrams a second in
// tests/e2e/hostile.py) fills those slots whenever the audio side is a few
// milliseconds late, and the real source's next packet then finds no room:
// audio lost to traffic that was never the stream. So the network thread
// looks at each datagram before it crosses:
//
// 1. What the session would count as malformed (session/packet_screen.hpp)
//    is counted here and never crosses.
// 2. Once the hand-off is half full, only the source the session plays
//    (its SSRC from its address and port, published by the audio side after
//    each pull) may take the other half; every other datagram is counted as
//    foreign and dropped. Below half everything crosses, so a new sender
//    passes probation and takes over exactly as the session decides.
//
// Threading contract: publish_source() is called by the audio side, admit()
// and played_source() by the network side, each from one thread at a time; the counters may be
// read from any thread. Nothing here locks, allocates or makes a system call.
#pragma once

#include <audiocast/detail/single_writer_counter.hpp>
#include <audiocast/detail/triple_buffer.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/session/packet_screen.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace audiocast::detail {

/// The source a receiver session plays, as the audio side tells the network side.
struct source_identity {
    bool known = false;
    std::uint32_t ssrc = 0;
    endpoint from{};
    friend bool operator==(const source_identity&, const source_identity&) = default;
};

class inbox_admission {
public:
    explicit inbox_admission(const packet_screen& screen) noexcept : screen_{screen} {}

    inbox_admission(const inbox_admission&) = delete;
    inbox_admission& operator=(const inbox_admission&) = delete;

    /// Audio side: the source the session now plays, or none.
    void publish_source(std::optional<std::uint32_t> ssrc,
                        const std::optional<endpoint>& from) noexcept
    {
        const source_identity now{ssrc.has_value(), ssrc.value_or(0), from.value_or(endpoint{})};
        if (now == published_) return;
        published_ = now;
        source_.write_buffer() = now;
        source_.publish();
    }

    /// Network side: whether `datagram` from `from` may enter a hand-off that
    /// holds `queued` of `capacity` datagrams. A refusal is counted.
    [[nodiscard]] bool admit(std::span<const std::byte> datagram, const endpoint& from,
                             std::size_t queued, std::size_t capacity) noexcept
    {
        bool passed = false;
        const rtp::packet_view packet = screen_.screen(datagram, passed);
        if (!passed) {
            count(malformed_);
            return false;
        }
        if (queued < capacity / 2) return true;
        const source_identity& source = source_.read();
        if (source.known && packet.hdr.ssrc == source.ssrc && from == source.from) return true;
        count(shed_);
        return false;
    }

    /// Network side: the source the audio side last published.
    [[nodiscard]] const source_identity& played_source() noexcept { return source_.read(); }

    /// Network side: counts a datagram refused before it could be screened
    /// (one larger than the receive buffer).
    void refuse_malformed() noexcept { count(malformed_); }

    /// Datagrams refused as what the session would count as malformed.
    [[nodiscard]] std::uint64_t malformed() const noexcept
    {
        // Relaxed: a statistic; it orders nothing else.
        return malformed_.load(std::memory_order_relaxed);
    }

    /// Datagrams from anyone but the source, refused while the hand-off was
    /// half full or more.
    [[nodiscard]] std::uint64_t shed() const noexcept
    {
        // Relaxed: a statistic; it orders nothing else.
        return shed_.load(std::memory_order_relaxed);
    }

private:
    // Only the network side writes the counters.
    static void count(std::atomic<std::uint64_t>& counter) noexcept
    {
        add_from_single_writer(counter);
    }

    const packet_screen screen_;
    source_identity published_{}; // the audio side's own copy of what it last published
    triple_buffer<source_identity> source_;
    std::atomic<std::uint64_t> malformed_{0};
    std::atomic<std::uint64_t> shed_{0};
};

} // namespace audiocast::detail
