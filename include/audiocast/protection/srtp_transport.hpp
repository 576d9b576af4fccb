// audiocast — SRTP and SRTCP (RFC 3711) as a transport adapter, through
// libsrtp2 (docs/architecture.md, Packet protection).
//
// An srtp_transport<T> models `transport` by wrapping one T. It protects
// each datagram it sends (SRTP for a media flow, SRTCP for a control flow)
// and removes the protection from each it receives; a datagram that fails
// authentication or the replay check is counted and dropped there, so it
// never reaches the session, the jitter buffer or a sequence tracker, and
// never costs a valid packet its place.
//
//   using srtp_udp = srtp_transport<udp_multicast_transport>;
//   srtp_udp media{udp_multicast_transport{...}, key, srtp_flow::media};
//
// Multicast: one sender and many receivers share the master key, so every
// key holder can send as well as listen (docs/robustness.md says what that
// leaves open). Outbound packets go through one libsrtp session (any
// outbound SSRC), inbound through another (any inbound SSRC, each with its
// own replay window), so a flow can both send and receive (RTCP).
//
// libsrtp allocates a stream's state when a new SSRC first authenticates;
// that happens on the thread that receives, never the audio thread. A
// forged packet allocates nothing: it fails authentication first.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/protection/srtp_key.hpp>

#include <srtp2/srtp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast {

/// Which protection a flow takes: SRTP (RTP media) or SRTCP (its control flow).
enum class srtp_flow { media, control };

/// What an srtp_transport dropped or could not protect, cumulative.
struct srtp_stats {
    /// Received datagrams that failed authentication: forged, made with
    /// another key, corrupted, or not SRTP at all.
    std::uint64_t unauthenticated = 0;
    /// Received datagrams whose packet index was already received, or is
    /// older than the replay window: replays. libsrtp checks the index
    /// before the tag, so a forgery that claims a used index is counted
    /// here too, refused just the same and without being decrypted.
    std::uint64_t replayed = 0;
    /// Received datagrams too short to hold SRTP's headers, or refused for
    /// another reason.
    std::uint64_t malformed = 0;
    /// Datagrams libsrtp would not protect (not sent).
    std::uint64_t protect_failures = 0;
};

namespace detail {

struct srtp_session_deleter {
    void operator()(srtp_ctx_t* s) const noexcept { srtp_dealloc(s); }
};
using srtp_session = std::unique_ptr<srtp_ctx_t, srtp_session_deleter>;

inline srtp_err_status_t srtp_library() noexcept
{
    // Once a process: libsrtp's crypto kernel, self-tests included.
    static const srtp_err_status_t status = srtp_init();
    return status;
}

inline srtp_session make_srtp_session(const srtp_key& key, bool outbound,
                                      unsigned long replay_window, std::error_code& ec) noexcept
{
    ec.clear();
    if (!key.valid()) {
        ec = make_error_code(errc::invalid_srtp_key);
        return nullptr;
    }
    if (srtp_library() != srtp_err_status_ok) {
        ec = make_error_code(errc::srtp_failed);
        return nullptr;
    }
    srtp_policy_t policy{};
    if (key.suite() == srtp_suite::aead_aes_128_gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&policy.rtp);
        srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
    }
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.ssrc.value = 0;
    // libsrtp copies the key into its session; it never writes through this.
    std::array<unsigned char, srtp_max_master_bytes> material{};
    const auto bytes = key.bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i)
        material[i] = std::to_integer<unsigned char>(bytes[i]);
    policy.key = material.data();
    policy.window_size = replay_window;
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    srtp_t session = nullptr;
    const srtp_err_status_t status = srtp_create(&session, &policy);
    volatile unsigned char* wipe = material.data();
    for (std::size_t i = 0; i < material.size(); ++i)
        wipe[i] = 0;
    if (status != srtp_err_status_ok) {
        ec = make_error_code(errc::srtp_failed);
        return nullptr;
    }
    return srtp_session{session};
}

} // namespace detail

template <transport Transport>
class srtp_transport {
public:
    /// Packets a receiver's replay window spans, per SSRC (RFC 3711 asks at
    /// least 64; a FEC layer over SRTP reorders by up to its repair delay).
    static constexpr unsigned long default_replay_window = 1024;
    /// The most datagrams one receive() or receive_batch() call drops before
    /// it gives up for now (would_block, or a short batch): one call spends
    /// at most about 3 ms refusing (checking one costs about 2.8 us with
    /// AES-CM, audiocast-bench-srtp). The bound is per call, not per poll: a
    /// stream's poll makes many calls, so a flood faster than it can refuse
    /// holds the poll longer. It is well above what a poll's worth of flood at
    /// 20,000 datagrams/s holds, so a caller that polls at intervals keeps up.
    static constexpr int max_drops_per_call = 1024;

    /// Protects `inner` with `key` as a media (SRTP) or control (SRTCP) flow.
    /// Refused with errc::invalid_srtp_key for a key that was refused, or
    /// errc::srtp_failed where libsrtp refuses.
    srtp_transport(Transport inner, const srtp_key& key, srtp_flow flow, std::error_code& ec)
        : inner_{std::move(inner)}, flow_{flow}, added_{added_bytes(key.suite(), flow)},
          sealed_(max_datagram + trailer)
    {
        out_ = detail::make_srtp_session(key, true, default_replay_window, ec);
        if (!ec) in_ = detail::make_srtp_session(key, false, default_replay_window, ec);
        if (ec) out_.reset();
    }

    srtp_transport(Transport inner, const srtp_key& key, srtp_flow flow)
        : inner_{std::move(inner)}, flow_{flow}, added_{added_bytes(key.suite(), flow)},
          sealed_(max_datagram + trailer)
    {
        std::error_code ec;
        out_ = detail::make_srtp_session(key, true, default_replay_window, ec);
        if (!ec) in_ = detail::make_srtp_session(key, false, default_replay_window, ec);
        if (ec)
            detail::throw_error(ec, std::string{"SRTP with "} +
                                        std::string{srtp_suite_name(key.suite())} + ": " +
                                        ec.message());
    }

    /// `inner` without protection, sending and receiving plain RTP: for a
    /// program that chooses SRTP at run time and keeps one transport type.
    /// is_protected() tells the two apart.
    static srtp_transport unprotected(Transport inner)
    {
        return srtp_transport{std::move(inner), flow_unprotected{}};
    }

    srtp_transport(srtp_transport&&) noexcept = default;
    srtp_transport& operator=(srtp_transport&&) noexcept = default;

    /// Protects `datagram` and sends it. One larger than the UDP limit less
    /// what protection adds (the tag, and SRTCP's index) is refused with
    /// std::errc::message_size before anything is protected or sent.
    void send(std::span<const std::byte> datagram, std::error_code& ec) noexcept
    {
        ec.clear();
        if (!protected_) {
            inner_.send(datagram, ec);
            return;
        }
        if (!out_) {
            ec = make_error_code(errc::srtp_failed);
            return;
        }
        if (datagram.size() > max_plain()) {
            ec = std::make_error_code(std::errc::message_size);
            return;
        }
        std::copy(datagram.begin(), datagram.end(), sealed_.begin());
        int len = static_cast<int>(datagram.size());
        const srtp_err_status_t status = flow_ == srtp_flow::media
                                             ? srtp_protect(out_.get(), sealed_.data(), &len)
                                             : srtp_protect_rtcp(out_.get(), sealed_.data(), &len);
        if (status != srtp_err_status_ok) {
            count(stats_.protect_failures);
            ec = make_error_code(errc::srtp_failed);
            return;
        }
        inner_.send(std::span<const std::byte>{sealed_.data(), static_cast<std::size_t>(len)}, ec);
    }

    /// As send(datagram, ec); throws std::system_error.
    void send(std::span<const std::byte> datagram)
    {
        std::error_code ec;
        send(datagram, ec);
        if (ec)
            detail::throw_error(ec, "SRTP send of " + std::to_string(datagram.size()) +
                                        " bytes (at most " + std::to_string(max_plain()) +
                                        ": protected, that is the UDP limit)");
    }

    /// The next datagram that authenticates, its protection removed; those
    /// that do not are counted and dropped.
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        datagram_origin origin;
        return receive(buffer, origin, ec);
    }

    std::size_t receive(std::span<std::byte> buffer, datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        for (int dropped = 0; dropped < max_drops_per_call; ++dropped) {
            std::size_t n = 0;
            if constexpr (origin_reporting_receiver<Transport>)
                n = inner_.receive(buffer, origin, ec);
            else
                n = inner_.receive(buffer, ec);
            if (ec || !protected_) return n;
            if (const auto opened = open(buffer.first(n))) return *opened;
        }
        ec = std::make_error_code(std::errc::operation_would_block);
        return 0;
    }

    /// Fills `slots` with datagrams that authenticate, protection removed;
    /// fewer than asked means none is left, or a flood is being dropped.
    std::size_t receive_batch(std::span<received_datagram> slots, std::error_code& ec) noexcept
        requires batch_receiver<Transport>
    {
        if (!protected_) return inner_.receive_batch(slots, ec);
        // Until the slots are full or the inner transport is empty, so that
        // a short batch still means "no more" to the caller, as the concept
        // says: refused datagrams must not end a caller's read early.
        std::size_t kept = 0;
        const std::uint64_t refused_before = refused();
        while (kept < slots.size() &&
               refused() - refused_before < static_cast<std::uint64_t>(max_drops_per_call)) {
            const std::size_t asked = slots.size() - kept;
            const std::size_t got = inner_.receive_batch(slots.subspan(kept), ec);
            const std::size_t end = kept + got; // kept moves as slots are kept
            for (std::size_t i = kept; i < end; ++i) {
                received_datagram& d = slots[i];
                if (d.truncated) {
                    count(stats_.malformed);
                    continue;
                }
                const auto opened = open(std::span<std::byte>{d.buffer.data(), d.size});
                if (!opened) continue;
                d.size = *opened;
                if (i != kept) std::swap(slots[kept], slots[i]);
                ++kept;
            }
            if (got < asked) break; // the inner transport has no more
        }
        if (kept > 0 && ec == std::errc::operation_would_block) ec.clear();
        return kept;
    }

    [[nodiscard]] int native_handle() noexcept
        requires descriptor_transport<Transport>
    {
        return inner_.native_handle();
    }

    template <class Handler>
    void async_wait_readable(Handler&& handler)
        requires readiness_waiting_transport<Transport>
    {
        inner_.async_wait_readable(std::forward<Handler>(handler));
    }

    void cancel_waits() noexcept
        requires readiness_waiting_transport<Transport>
    {
        inner_.cancel_waits();
    }

    void follow_source(std::uint32_t ssrc, const endpoint& from) noexcept
        requires source_following_transport<Transport>
    {
        inner_.follow_source(ssrc, from);
    }

    [[nodiscard]] Transport& inner() noexcept { return inner_; }
    [[nodiscard]] const Transport& inner() const noexcept { return inner_; }
    [[nodiscard]] srtp_flow flow() const noexcept { return flow_; }
    /// False for unprotected(): datagrams pass as they are.
    [[nodiscard]] bool is_protected() const noexcept { return protected_; }
    /// The counts so far. Any thread may ask (a status line on another
    /// thread than the one that receives): each count is read atomically.
    [[nodiscard]] srtp_stats stats() const noexcept
    {
        return {.unauthenticated = stats_.unauthenticated.load(std::memory_order_relaxed),
                .replayed = stats_.replayed.load(std::memory_order_relaxed),
                .malformed = stats_.malformed.load(std::memory_order_relaxed),
                .protect_failures = stats_.protect_failures.load(std::memory_order_relaxed)};
    }

private:
    // libsrtp asks SRTP_MAX_TRAILER_LEN of room past the packet, and 4 more
    // for SRTCP (srtp.h, srtp_protect_rtcp).
    static constexpr std::size_t trailer = SRTP_MAX_TRAILER_LEN + 4;

    /// What protection adds to a datagram: the tag, and SRTCP's index.
    static constexpr std::size_t added_bytes(srtp_suite suite, srtp_flow flow) noexcept
    {
        return srtp_tag_bytes(suite) + (flow == srtp_flow::control ? 4 : 0);
    }

    /// The largest datagram that, protected, still fits in one UDP datagram.
    [[nodiscard]] std::size_t max_plain() const noexcept { return max_datagram - added_; }
    static constexpr std::size_t max_datagram = 65'507;
    [[nodiscard]] std::uint64_t refused() const noexcept
    {
        const srtp_stats s = stats();
        return s.unauthenticated + s.replayed + s.malformed;
    }

    struct flow_unprotected {};
    srtp_transport(Transport inner, flow_unprotected)
        : inner_{std::move(inner)}, flow_{srtp_flow::media}, protected_{false}
    {}

    // Removes the protection in place; nullopt (and counted) for a datagram
    // that is dropped.
    std::optional<std::size_t> open(std::span<std::byte> datagram) noexcept
    {
        if (!in_ || datagram.size() > INT_MAX) {
            count(stats_.malformed);
            return std::nullopt;
        }
        int len = static_cast<int>(datagram.size());
        const srtp_err_status_t status =
            flow_ == srtp_flow::media ? srtp_unprotect(in_.get(), datagram.data(), &len)
                                      : srtp_unprotect_rtcp(in_.get(), datagram.data(), &len);
        switch (status) {
        case srtp_err_status_ok: return static_cast<std::size_t>(len);
        case srtp_err_status_auth_fail: count(stats_.unauthenticated); break;
        case srtp_err_status_replay_fail:
        case srtp_err_status_replay_old: count(stats_.replayed); break;
        default: count(stats_.malformed); break;
        }
        return std::nullopt;
    }

    Transport inner_;
    srtp_flow flow_;
    bool protected_ = true;
    std::size_t added_ = 0;
    detail::srtp_session out_;
    detail::srtp_session in_;
    // Protection happens in a copy: the caller's datagram is const, and may
    // be sent again (RTCP) or kept (a FEC layer). Empty when unprotected.
    std::vector<std::byte> sealed_;
    // Written by the receiving (or sending) thread alone, read by any: a
    // relaxed increment costs no lock, and only a refused datagram pays it.
    struct counters {
        std::atomic<std::uint64_t> unauthenticated{0};
        std::atomic<std::uint64_t> replayed{0};
        std::atomic<std::uint64_t> malformed{0};
        std::atomic<std::uint64_t> protect_failures{0};
        counters() = default;
        counters(counters&& o) noexcept { *this = std::move(o); }
        counters& operator=(counters&& o) noexcept
        {
            for (auto [to, from] :
                 {std::pair{&unauthenticated, &o.unauthenticated},
                  std::pair{&replayed, &o.replayed}, std::pair{&malformed, &o.malformed},
                  std::pair{&protect_failures, &o.protect_failures}})
                to->store(from->load(std::memory_order_relaxed), std::memory_order_relaxed);
            return *this;
        }
    };
    static void count(std::atomic<std::uint64_t>& c) noexcept
    {
        c.fetch_add(1, std::memory_order_relaxed);
    }
    counters stats_;
};

} // namespace audiocast
