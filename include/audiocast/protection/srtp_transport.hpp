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
// forged packet allocates nothing: it fails authentication first. A source
// that joined after its sequence numbers wrapped has its rollover counter
// found by trial (srtp_rollover_search.hpp), within a budget of trials a
// second per source; that search gives each searched source (8 at most) a
// stream of its own.
// libsrtp keeps the state of max_sources sources, the least recently used let go.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/detail/endian.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/protection/srtp_key.hpp>
#include <audiocast/protection/srtp_rollover_search.hpp>

#include <srtp2/srtp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    /// Sources that joined this listener after their sequence numbers had
    /// wrapped, whose rollover counter was found by search.
    std::uint64_t rollovers_found = 0;
    /// Rollover counters tried in those searches (bounded per second:
    /// srtp_rollover_search.hpp).
    std::uint64_t rollover_trials = 0;
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

/// The policy for `key`'s suite, for the sources `type` names (one, `ssrc`,
/// for ssrc_specific). Its key is left for the caller to point at.
inline srtp_policy_t srtp_policy_for(const srtp_key& key, srtp_ssrc_type_t type, std::uint32_t ssrc,
                                     unsigned long replay_window) noexcept
{
    srtp_policy_t policy{};
    if (key.suite() == srtp_suite::aead_aes_128_gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&policy.rtp);
        srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
    }
    policy.ssrc.type = type;
    policy.ssrc.value = ssrc;
    policy.key = nullptr;
    policy.window_size = replay_window;
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    return policy;
}

using srtp_key_material = std::array<unsigned char, srtp_max_master_bytes>;

/// libsrtp takes the key as unsigned char; it copies it and never writes
/// through the pointer.
inline void copy_key_material(const srtp_key& key, srtp_key_material& material) noexcept
{
    const auto bytes = key.bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i)
        material[i] = std::to_integer<unsigned char>(bytes[i]);
}

inline void wipe(srtp_key_material& material) noexcept
{
    // Through a volatile pointer, so that the stores are not optimized away.
    volatile unsigned char* p = material.data();
    for (std::size_t i = 0; i < material.size(); ++i)
        p[i] = 0;
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
    srtp_policy_t policy =
        srtp_policy_for(key, outbound ? ssrc_any_outbound : ssrc_any_inbound, 0, replay_window);
    srtp_key_material material{};
    copy_key_material(key, material);
    policy.key = material.data();
    srtp_t session = nullptr;
    const srtp_err_status_t status = srtp_create(&session, &policy);
    wipe(material);
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
    /// at most about 3.5 ms refusing (checking one costs about 3.4 us with
    /// AES-CM, audiocast-bench-srtp), and at most srtp_rollover_search's
    /// reserve for each source it searches (8 x 512 trials, about 14 ms)
    /// searching for late sources' ROCs. The bound is per call, not per
    /// poll: a stream's poll makes many calls, so a flood faster than it can refuse holds the poll
    /// longer. It is well above what a poll's worth of flood at 20,000 datagrams/s holds, so a
    /// caller that polls at intervals keeps up.
    static constexpr int max_drops_per_call = 1024;
    /// Sources libsrtp keeps state for, per flow (a few kilobytes each; on a
    /// control flow, one for each listener's RTCP).
    static constexpr std::size_t max_sources = 1024;

    /// Protects `inner` with `key` as a media (SRTP) or control (SRTCP) flow.
    /// Refused with errc::invalid_srtp_key for a key that was refused, or
    /// errc::srtp_failed where libsrtp refuses.
    srtp_transport(Transport inner, const srtp_key& key, srtp_flow flow, std::error_code& ec)
        : inner_{std::move(inner)}, flow_{flow}, added_{added_bytes(key.suite(), flow)}, key_{key},
          sealed_(max_datagram + trailer), trial_(max_datagram + trailer)
    {
        known_.reserve(max_sources);
        out_ = detail::make_srtp_session(key, true, default_replay_window, ec);
        if (!ec) in_ = detail::make_srtp_session(key, false, default_replay_window, ec);
        if (ec) out_.reset();
    }

    srtp_transport(Transport inner, const srtp_key& key, srtp_flow flow)
        : inner_{std::move(inner)}, flow_{flow}, added_{added_bytes(key.suite(), flow)}, key_{key},
          sealed_(max_datagram + trailer), trial_(max_datagram + trailer)
    {
        known_.reserve(max_sources);
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
                // A truncated datagram is handed on as it is, for the stream
                // to count as malformed, as receive() hands on its error: it
                // cannot be authenticated, and whole, it might have been.
                if (!d.truncated) {
                    const auto opened = open(std::span<std::byte>{d.buffer.data(), d.size});
                    if (!opened) continue;
                    d.size = *opened;
                }
                if (i != kept) std::swap(slots[kept], slots[i]);
                ++kept;
            }
            if (got < asked) break; // the inner transport has no more
        }
        if (kept > 0 && ec == std::errc::operation_would_block) ec.clear();
        return kept;
    }

    [[nodiscard]] native_socket native_handle() noexcept
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
                .protect_failures = stats_.protect_failures.load(std::memory_order_relaxed),
                .rollovers_found = stats_.rollovers_found.load(std::memory_order_relaxed),
                .rollover_trials = stats_.rollover_trials.load(std::memory_order_relaxed)};
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
        // RTP carries its SSRC at offset 8, RTCP at 4; shorter is malformed
        // for libsrtp too.
        const std::size_t ssrc_at = flow_ == srtp_flow::media ? 8 : 4;
        if (datagram.size() < ssrc_at + 4) return refuse(srtp_err_status_bad_param);
        const std::uint32_t ssrc = detail::load_be32(datagram.data() + ssrc_at);
        if (ssrc == last_known_ssrc_ && last_known_valid_) return unprotect(datagram);
        return open_from_new_source(datagram, ssrc);
    }

    std::optional<std::size_t> unprotect(std::span<std::byte> datagram) noexcept
    {
        int len = static_cast<int>(datagram.size());
        const srtp_err_status_t status =
            flow_ == srtp_flow::media ? srtp_unprotect(in_.get(), datagram.data(), &len)
                                      : srtp_unprotect_rtcp(in_.get(), datagram.data(), &len);
        if (status != srtp_err_status_ok) return refuse(status);
        return static_cast<std::size_t>(len);
    }

    std::optional<std::size_t> refuse(srtp_err_status_t status) noexcept
    {
        switch (status) {
        case srtp_err_status_auth_fail: count(stats_.unauthenticated); break;
        case srtp_err_status_replay_fail:
        case srtp_err_status_replay_old: count(stats_.replayed); break;
        default: count(stats_.malformed); break;
        }
        return std::nullopt;
    }

    // A source other than the last one that authenticated: one libsrtp
    // keeps state for (it authenticated before), a new one, or one whose
    // rollover counter is being searched (srtp_rollover_search.hpp).
    std::optional<std::size_t> open_from_new_source(std::span<std::byte> datagram,
                                                    std::uint32_t ssrc) noexcept
    {
        const bool searching = flow_ == srtp_flow::media && search_.searching(ssrc);
        if (has_stream(ssrc) && !searching) {
            const auto opened = unprotect(datagram);
            if (opened) remember_last(ssrc);
            return opened;
        }
        // Tried in a copy: the datagram must stay as it came for the next
        // trial, and a failed AEAD check may leave it decrypted in place.
        // First at ROC 0, as libsrtp assumes for a new source (a trial
        // stream whose pending ROC is 0 does the same): a source that
        // started with the listener there, or one a forger named first.
        if (searching && has_stream(ssrc)) srtp_set_stream_roc(in_.get(), ssrc, 0);
        int len = 0;
        srtp_err_status_t status = trial(datagram, len);
        if (status == srtp_err_status_ok) {
            if (searching) search_.tried(ssrc, 1, true);
            return admit(datagram, len, ssrc);
        }
        if (flow_ != srtp_flow::media || status != srtp_err_status_auth_fail)
            return refuse(status); // SRTCP carries its index: no ROC to find
        const std::uint16_t sequence = detail::load_be16(datagram.data() + 2);
        const srtp_rollover_search::step step =
            search_.next(ssrc, sequence, std::chrono::steady_clock::now());
        if (step.forget) forget(*step.forget);
        if (step.count == 0) return refuse(status);
        stats_.rollover_trials.fetch_add(step.count, std::memory_order_relaxed);
        if (!has_stream(ssrc) && !add_trial_stream(ssrc)) return refuse(srtp_err_status_alloc_fail);
        for (std::uint32_t roc = step.first; roc != step.first + step.count; ++roc) {
            srtp_set_stream_roc(in_.get(), ssrc, roc);
            status = trial(datagram, len);
            if (status == srtp_err_status_ok) {
                search_.tried(ssrc, roc + 1, true);
                count(stats_.rollovers_found);
                return admit(datagram, len, ssrc);
            }
        }
        search_.tried(ssrc, step.first + step.count, false);
        return refuse(srtp_err_status_auth_fail);
    }

    srtp_err_status_t trial(std::span<const std::byte> datagram, int& len) noexcept
    {
        // libsrtp writes no further than the datagram (it only shortens it).
        if (datagram.size() > trial_.size()) return srtp_err_status_bad_param;
        std::copy(datagram.begin(), datagram.end(), trial_.begin());
        len = static_cast<int>(datagram.size());
        return flow_ == srtp_flow::media ? srtp_unprotect(in_.get(), trial_.data(), &len)
                                         : srtp_unprotect_rtcp(in_.get(), trial_.data(), &len);
    }

    // A trial authenticated: its plaintext becomes the datagram, and
    // libsrtp now keeps state for the source.
    std::optional<std::size_t> admit(std::span<std::byte> datagram, int len,
                                     std::uint32_t ssrc) noexcept
    {
        const auto n = static_cast<std::size_t>(len);
        std::copy_n(trial_.begin(), n, datagram.begin());
        remember_new(ssrc);
        remember_last(ssrc);
        return n;
    }

    [[nodiscard]] bool has_stream(std::uint32_t ssrc) const noexcept
    {
        std::uint32_t roc = 0;
        return srtp_get_stream_roc(in_.get(), ssrc, &roc) == srtp_err_status_ok;
    }

    // A stream of its own for a source being searched, so that its ROC can
    // be set (libsrtp's template for new sources always assumes 0).
    bool add_trial_stream(std::uint32_t ssrc) noexcept
    {
        srtp_policy_t policy =
            detail::srtp_policy_for(*key_, ssrc_specific, ssrc, default_replay_window);
        detail::srtp_key_material material{};
        detail::copy_key_material(*key_, material);
        policy.key = material.data();
        const bool added = srtp_add_stream(in_.get(), &policy) == srtp_err_status_ok;
        detail::wipe(material);
        return added;
    }

    void forget(std::uint32_t ssrc) noexcept
    {
        // libsrtp's srtp_remove_stream takes the SSRC as it is on the wire.
        srtp_remove_stream(in_.get(), as_on_the_wire(ssrc));
        if (last_known_ssrc_ == ssrc) last_known_valid_ = false;
    }

    void remember_last(std::uint32_t ssrc) noexcept
    {
        if (last_known_valid_ && last_known_ssrc_ == ssrc) return;
        last_known_ssrc_ = ssrc;
        last_known_valid_ = true;
        // Used now: the last to be let go (the table is scanned only when the
        // source changes, not for every datagram).
        for (known_source& k : known_)
            if (k.ssrc == ssrc) k.used = ++uses_;
    }

    // libsrtp keeps a stream per source that ever authenticated; past
    // max_sources the one used least recently is let go, so key holders that
    // come and go (restarts with new SSRCs, listeners' RTCP) cannot grow it
    // without bound. One let go that comes back is a new source to libsrtp,
    // with a fresh replay window (docs/robustness.md).
    void remember_new(std::uint32_t ssrc) noexcept
    {
        for (const known_source& k : known_)
            if (k.ssrc == ssrc) return;
        if (known_.size() < known_.capacity()) { // reserved: no allocation
            known_.push_back({ssrc, ++uses_});
            return;
        }
        auto least = std::min_element(
            known_.begin(), known_.end(),
            [](const known_source& a, const known_source& b) { return a.used < b.used; });
        forget(least->ssrc);
        *least = {ssrc, ++uses_};
    }

    static std::uint32_t as_on_the_wire(std::uint32_t ssrc) noexcept
    {
        std::array<std::byte, 4> wire{};
        detail::store_be32(wire.data(), ssrc);
        std::uint32_t v = 0;
        std::memcpy(&v, wire.data(), sizeof v);
        return v;
    }

    Transport inner_;
    srtp_flow flow_;
    bool protected_ = true;
    std::size_t added_ = 0;
    // Kept for the streams of sources whose ROC is searched; wiped when
    // destroyed, as every srtp_key is.
    std::optional<srtp_key> key_;
    detail::srtp_session out_;
    detail::srtp_session in_;
    srtp_rollover_search search_;
    // Sources libsrtp keeps state for, each with when it was last used.
    struct known_source {
        std::uint32_t ssrc;
        std::uint64_t used;
    };
    std::vector<known_source> known_;
    std::uint64_t uses_ = 0;
    // The source of the last datagram that authenticated: most datagrams
    // come from it, and then no table is searched.
    std::uint32_t last_known_ssrc_ = 0;
    bool last_known_valid_ = false;
    // Protection happens in a copy: the caller's datagram is const, and may
    // be sent again (RTCP) or kept (a FEC layer). Empty when unprotected.
    std::vector<std::byte> sealed_;
    // A received datagram's copy for trials (a new source, a ROC search).
    std::vector<std::byte> trial_;
    // Written by the receiving (or sending) thread alone, read by any: a
    // relaxed increment costs no lock, and only a refused datagram pays it.
    struct counters {
        std::atomic<std::uint64_t> unauthenticated{0};
        std::atomic<std::uint64_t> replayed{0};
        std::atomic<std::uint64_t> malformed{0};
        std::atomic<std::uint64_t> protect_failures{0};
        std::atomic<std::uint64_t> rollovers_found{0};
        std::atomic<std::uint64_t> rollover_trials{0};
        counters() = default;
        counters(counters&& o) noexcept { *this = std::move(o); }
        counters& operator=(counters&& o) noexcept
        {
            for (auto [to, from] :
                 {std::pair{&unauthenticated, &o.unauthenticated},
                  std::pair{&replayed, &o.replayed}, std::pair{&malformed, &o.malformed},
                  std::pair{&protect_failures, &o.protect_failures},
                  std::pair{&rollovers_found, &o.rollovers_found},
                  std::pair{&rollover_trials, &o.rollover_trials}})
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
