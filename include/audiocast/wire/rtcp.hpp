// audiocast — RTCP control packets (RFC 3550 §6): sender and receiver
// reports, source descriptions (CNAME) and BYE, in compound datagrams.
//
// Every RTCP packet starts with the same word (RFC 3550 §6.4.1):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |V=2|P|   RC    |   PT=SR=200   |             length            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// `length` is the packet's size in 32-bit words minus one; a datagram holds
// one or more packets back to back (a compound packet, §6.1). An SR carries
// the sender's NTP time and the RTP timestamp of the same instant, with its
// packet and octet counts; each report block (in an SR or RR) tells one
// source's loss, highest sequence number, jitter, and the LSR/DLSR pair from
// which the source computes the round trip.
//
// An extended report (XR, RFC 3611) carries blocks after the sender's SSRC.
// Two of them measure a listener's round trip to the sender, as an SR and a
// report block do the other way round: the listener sends a Receiver
// Reference Time block (RRTR, §4.4) with its NTP time, and the sender answers
// with a DLRR block (§4.5) that echoes the middle 32 bits of that time (LRR)
// and says how long it held it (DLRR, 1/65536 s), one sub-block a listener.
//
// compound_writer builds a compound into a caller's buffer; parse_compound()
// checks a datagram as Appendix A.2 does (version, lengths, padding only on
// the last packet) and packet_view reads each packet. Neither allocates nor
// reads outside the span. The first packet is not required to be an SR or
// RR, so reduced-size RTCP (RFC 5506) is read too.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/endian.hpp>
#include <audiocast/error.hpp>
#include <audiocast/wire/ntp.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace audiocast::rtcp {

/// Packet types (RFC 3550 §12.1).
inline constexpr std::uint8_t type_sr = 200;
inline constexpr std::uint8_t type_rr = 201;
inline constexpr std::uint8_t type_sdes = 202;
inline constexpr std::uint8_t type_bye = 203;
/// Extended report (RFC 3611 §2).
inline constexpr std::uint8_t type_xr = 207;

/// XR block types (RFC 3611 §4).
inline constexpr std::uint8_t xr_rrtr = 4; ///< Receiver Reference Time
inline constexpr std::uint8_t xr_dlrr = 5; ///< Delay since the Last Receiver Report

/// SDES item types (RFC 3550 §6.5).
inline constexpr std::uint8_t sdes_end = 0;
inline constexpr std::uint8_t sdes_cname = 1;

/// The five-bit count field.
inline constexpr std::size_t max_report_blocks = 31;
inline constexpr std::size_t max_bye_sources = 31;
/// SDES items and the BYE reason carry an 8-bit length.
inline constexpr std::size_t max_text = 255;

inline constexpr std::size_t header_size = 4;
inline constexpr std::size_t sender_info_size = 20;
inline constexpr std::size_t report_block_size = 24;
/// An XR block's header, an RRTR block, a DLRR sub-block.
inline constexpr std::size_t xr_block_header_size = 4;
inline constexpr std::size_t rrtr_block_size = 12;
inline constexpr std::size_t dlrr_item_size = 12;
/// An XR's 16-bit length counts its words less one: 3 a listener, and 3 for
/// the packet's header, its SSRC and the block's header.
inline constexpr std::size_t max_dlrr_items = (0xFFFF - 2) / 3;

/// Bytes compound_writer takes for each packet (RFC 3550 §6.4-6.6).
[[nodiscard]] constexpr std::size_t sender_report_size(std::size_t blocks) noexcept
{
    return header_size + 4 + sender_info_size + blocks * report_block_size;
}
[[nodiscard]] constexpr std::size_t receiver_report_size(std::size_t blocks) noexcept
{
    return header_size + 4 + blocks * report_block_size;
}
/// SDES with one chunk: SSRC, the CNAME item, at least one null octet, to a word.
[[nodiscard]] constexpr std::size_t cname_size(std::size_t name) noexcept
{
    return header_size + 4 + (2 + name + 4) / 4 * 4;
}
[[nodiscard]] constexpr std::size_t bye_size(std::size_t sources, std::size_t reason) noexcept
{
    return header_size + 4 * sources + (reason == 0 ? 0 : (1 + reason + 3) / 4 * 4);
}

/// An XR with one RRTR block.
[[nodiscard]] constexpr std::size_t reference_time_size() noexcept
{
    return header_size + 4 + rrtr_block_size;
}
/// An XR with one DLRR block of `items` sub-blocks.
[[nodiscard]] constexpr std::size_t dlrr_size(std::size_t items) noexcept
{
    return header_size + 4 + xr_block_header_size + items * dlrr_item_size;
}

/// The sender information of an SR (RFC 3550 §6.4.1).
struct sender_info {
    ntp::timestamp ntp{};            ///< wall time when the report was sent
    std::uint32_t rtp_timestamp = 0; ///< the RTP timestamp of that same instant
    std::uint32_t packet_count = 0;  ///< RTP packets sent since the start
    std::uint32_t octet_count = 0;   ///< payload octets sent since the start

    friend constexpr bool operator==(const sender_info&, const sender_info&) = default;
};

/// One reception report block (RFC 3550 §6.4.1).
struct report_block {
    std::uint32_t ssrc = 0;                ///< the source reported on
    std::uint8_t fraction_lost = 0;        ///< lost since the last report, in 1/256
    std::int32_t cumulative_lost = 0;      ///< 24-bit signed: duplicates can make it negative
    std::uint32_t highest_sequence = 0;    ///< extended highest sequence number received
    std::uint32_t jitter = 0;              ///< interarrival jitter, timestamp units
    std::uint32_t last_sr = 0;             ///< middle 32 bits of the last SR's NTP time; 0: none
    std::uint32_t delay_since_last_sr = 0; ///< in 1/65536 s

    friend constexpr bool operator==(const report_block&, const report_block&) = default;
};

/// One DLRR sub-block (RFC 3611 §4.5): the sender's answer to one listener's
/// Receiver Reference Time.
struct dlrr_item {
    std::uint32_t ssrc = 0;                ///< the listener that sent the RRTR
    std::uint32_t last_rr = 0;             ///< middle 32 bits of its NTP time; 0: none yet
    std::uint32_t delay_since_last_rr = 0; ///< in 1/65536 s

    friend constexpr bool operator==(const dlrr_item&, const dlrr_item&) = default;
};

/// The 24-bit signed range of cumulative_lost; values beyond it saturate.
inline constexpr std::int32_t min_cumulative_lost = -0x80'0000;
inline constexpr std::int32_t max_cumulative_lost = 0x7F'FFFF;

/// Builds one compound RTCP datagram into a caller's buffer. Each call
/// appends one packet; a packet that does not fit (or is invalid) is not
/// written and the error sticks (errc::buffer_too_small, or
/// errc::invalid_rtcp for a CNAME or reason over 255 bytes, or more than 31
/// blocks or sources), so a sequence of calls is checked once at the end.
class compound_writer {
public:
    explicit compound_writer(std::span<std::byte> out) noexcept : out_{out} {}

    void sender_report(std::uint32_t ssrc, const sender_info& info,
                       std::span<const report_block> blocks = {}) noexcept
    {
        if (!begin(blocks.size() <= max_report_blocks)) return;
        const std::size_t n =
            header_size + 4 + sender_info_size + blocks.size() * report_block_size;
        if (!fits(n)) return;
        std::byte* p = here();
        write_header(p, static_cast<std::uint8_t>(blocks.size()), type_sr, n);
        detail::store_be32(p + 4, ssrc);
        detail::store_be64(p + 8, info.ntp.to_u64());
        detail::store_be32(p + 16, info.rtp_timestamp);
        detail::store_be32(p + 20, info.packet_count);
        detail::store_be32(p + 24, info.octet_count);
        write_blocks(p + 28, blocks);
        size_ += n;
    }

    void receiver_report(std::uint32_t ssrc, std::span<const report_block> blocks = {}) noexcept
    {
        if (!begin(blocks.size() <= max_report_blocks)) return;
        const std::size_t n = receiver_report_size(blocks.size());
        if (!fits(n)) return;
        std::byte* p = here();
        write_header(p, static_cast<std::uint8_t>(blocks.size()), type_rr, n);
        detail::store_be32(p + 4, ssrc);
        write_blocks(p + 8, blocks);
        size_ += n;
    }

    /// An SDES packet with one chunk: `ssrc` and its CNAME (RFC 3550 §6.5.1).
    void cname(std::uint32_t ssrc, std::string_view name) noexcept
    {
        if (!begin(name.size() <= max_text)) return;
        // The chunk: SSRC, the item (type, length, text), then at least one
        // null octet ending the item list, padded to a 32-bit boundary.
        const std::size_t n = cname_size(name.size());
        if (!fits(n)) return;
        std::byte* p = here();
        std::memset(p, 0, n);
        write_header(p, 1, type_sdes, n);
        detail::store_be32(p + 4, ssrc);
        p[8] = std::byte{sdes_cname};
        p[9] = static_cast<std::byte>(name.size());
        std::memcpy(p + 10, name.data(), name.size());
        size_ += n;
    }

    /// A BYE for `sources`, with an optional reason (RFC 3550 §6.6).
    void bye(std::span<const std::uint32_t> sources, std::string_view reason = {}) noexcept
    {
        if (!begin(sources.size() <= max_bye_sources && reason.size() <= max_text)) return;
        const std::size_t n = bye_size(sources.size(), reason.size());
        if (!fits(n)) return;
        std::byte* p = here();
        std::memset(p, 0, n);
        write_header(p, static_cast<std::uint8_t>(sources.size()), type_bye, n);
        for (std::size_t i = 0; i < sources.size(); ++i)
            detail::store_be32(p + 4 + 4 * i, sources[i]);
        if (!reason.empty()) {
            std::byte* r = p + 4 + 4 * sources.size();
            r[0] = static_cast<std::byte>(reason.size());
            std::memcpy(r + 1, reason.data(), reason.size());
        }
        size_ += n;
    }

    /// An XR packet with one Receiver Reference Time block: `ssrc`'s NTP time
    /// `now` (RFC 3611 §4.4).
    void reference_time(std::uint32_t ssrc, ntp::timestamp now) noexcept
    {
        if (!begin(true)) return;
        const std::size_t n = reference_time_size();
        if (!fits(n)) return;
        std::byte* p = here();
        write_header(p, 0, type_xr, n);
        detail::store_be32(p + 4, ssrc);
        write_xr_block_header(p + 8, xr_rrtr, rrtr_block_size);
        detail::store_be64(p + 12, now.to_u64());
        size_ += n;
    }

    /// An XR packet with one DLRR block answering `items` (RFC 3611 §4.5);
    /// at most max_dlrr_items, and at least one.
    void delay_since_last_rr(std::uint32_t ssrc, std::span<const dlrr_item> items) noexcept
    {
        if (!begin(!items.empty() && items.size() <= max_dlrr_items)) return;
        const std::size_t n = dlrr_size(items.size());
        if (!fits(n)) return;
        std::byte* p = here();
        write_header(p, 0, type_xr, n);
        detail::store_be32(p + 4, ssrc);
        write_xr_block_header(p + 8, xr_dlrr, xr_block_header_size + items.size() * dlrr_item_size);
        std::byte* item = p + 12;
        for (const dlrr_item& d : items) {
            detail::store_be32(item, d.ssrc);
            detail::store_be32(item + 4, d.last_rr);
            detail::store_be32(item + 8, d.delay_since_last_rr);
            item += dlrr_item_size;
        }
        size_ += n;
    }

    /// Bytes written so far: the datagram to send.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return out_.first(size_); }
    /// The first failure, or none.
    [[nodiscard]] std::error_code error() const noexcept { return error_; }

private:
    bool begin(bool valid) noexcept
    {
        if (error_) return false;
        if (!valid) error_ = errc::invalid_rtcp;
        return !error_;
    }

    bool fits(std::size_t n) noexcept
    {
        if (out_.size() - size_ < n) error_ = errc::buffer_too_small;
        return !error_;
    }

    std::byte* here() noexcept { return out_.data() + size_; }

    static void write_header(std::byte* p, std::uint8_t count, std::uint8_t type,
                             std::size_t bytes) noexcept
    {
        p[0] = static_cast<std::byte>(0x80 | count); // V=2, no padding
        p[1] = static_cast<std::byte>(type);
        detail::store_be16(p + 2, static_cast<std::uint16_t>(bytes / 4 - 1));
    }

    // An XR block's header: type, a reserved octet, its length in words less one.
    static void write_xr_block_header(std::byte* p, std::uint8_t type, std::size_t bytes) noexcept
    {
        p[0] = static_cast<std::byte>(type);
        p[1] = std::byte{0};
        detail::store_be16(p + 2, static_cast<std::uint16_t>(bytes / 4 - 1));
    }

    static void write_blocks(std::byte* p, std::span<const report_block> blocks) noexcept
    {
        for (const report_block& b : blocks) {
            detail::store_be32(p, b.ssrc);
            const std::int32_t lost =
                std::clamp(b.cumulative_lost, min_cumulative_lost, max_cumulative_lost);
            detail::store_be32(p + 4, std::uint32_t{b.fraction_lost} << 24 |
                                          (static_cast<std::uint32_t>(lost) & 0xFF'FFFFu));
            detail::store_be32(p + 8, b.highest_sequence);
            detail::store_be32(p + 12, b.jitter);
            detail::store_be32(p + 16, b.last_sr);
            detail::store_be32(p + 20, b.delay_since_last_sr);
            p += report_block_size;
        }
    }

    std::span<std::byte> out_;
    std::size_t size_ = 0;
    std::error_code error_;
};

/// One packet of a checked compound: its type, the five-bit count, and the
/// bytes after the common header (without padding).
class packet_view {
public:
    constexpr packet_view(std::uint8_t type, std::uint8_t count,
                          std::span<const std::byte> body) noexcept
        : type_{type}, count_{count}, body_{body}
    {}

    [[nodiscard]] constexpr std::uint8_t type() const noexcept { return type_; }
    [[nodiscard]] constexpr std::uint8_t count() const noexcept { return count_; }
    [[nodiscard]] constexpr std::span<const std::byte> body() const noexcept { return body_; }

    /// The sender's SSRC of an SR or RR, or the first SSRC of SDES or BYE;
    /// nullopt when the body is too short.
    [[nodiscard]] std::optional<std::uint32_t> ssrc() const noexcept
    {
        if (body_.size() < 4) return std::nullopt;
        return detail::load_be32(body_.data());
    }

    /// The sender information of an SR; nullopt for any other packet or a short one.
    [[nodiscard]] std::optional<sender_info> sender() const noexcept
    {
        if (type_ != type_sr || body_.size() < 4 + sender_info_size) return std::nullopt;
        const std::byte* p = body_.data() + 4;
        return sender_info{ntp::timestamp::from_u64(detail::load_be64(p)), detail::load_be32(p + 8),
                           detail::load_be32(p + 12), detail::load_be32(p + 16)};
    }

    /// The report blocks an SR or RR carries that fit its body.
    [[nodiscard]] std::size_t block_count() const noexcept
    {
        const std::size_t offset = blocks_offset();
        if (offset == 0 || body_.size() < offset) return 0;
        return std::min<std::size_t>(count_, (body_.size() - offset) / report_block_size);
    }

    /// Report block `i` < block_count().
    [[nodiscard]] report_block block(std::size_t i) const noexcept
    {
        AUDIOCAST_ASSERT(i < block_count());
        const std::byte* p = body_.data() + blocks_offset() + i * report_block_size;
        const std::uint32_t word = detail::load_be32(p + 4);
        // Sign-extend the 24-bit cumulative loss.
        std::int32_t lost = static_cast<std::int32_t>(word & 0xFF'FFFFu);
        if ((lost & 0x80'0000) != 0) lost -= 0x100'0000;
        return report_block{detail::load_be32(p),
                            static_cast<std::uint8_t>(word >> 24),
                            lost,
                            detail::load_be32(p + 8),
                            detail::load_be32(p + 12),
                            detail::load_be32(p + 16),
                            detail::load_be32(p + 20)};
    }

    /// Calls f(ssrc, cname) for each SDES chunk that carries a CNAME; stops at
    /// the first chunk that overruns the packet. Returns false then.
    template <class F>
    bool for_each_cname(F&& f) const
    {
        if (type_ != type_sdes) return true;
        std::size_t at = 0;
        for (unsigned chunk = 0; chunk < count_; ++chunk) {
            // Rounding up past a null octet may pass the end of a padded body.
            if (at > body_.size() || body_.size() - at < 4) return false;
            const std::uint32_t ssrc = detail::load_be32(body_.data() + at);
            at += 4;
            for (;;) {
                if (at >= body_.size()) return false;
                const auto type = static_cast<std::uint8_t>(body_[at]);
                if (type == sdes_end) {
                    at = (at + 4) / 4 * 4; // past the null octets to the next word
                    break;
                }
                if (body_.size() - at < 2) return false;
                const auto len = static_cast<std::size_t>(body_[at + 1]);
                if (body_.size() - at - 2 < len) return false;
                if (type == sdes_cname)
                    f(ssrc,
                      std::string_view{reinterpret_cast<const char*>(body_.data() + at + 2), len});
                at += 2 + len;
            }
        }
        return true;
    }

    /// The SSRCs a BYE names that fit its body.
    [[nodiscard]] std::size_t bye_count() const noexcept
    {
        if (type_ != type_bye) return 0;
        return std::min<std::size_t>(count_, body_.size() / 4);
    }

    /// SSRC `i` < bye_count() of a BYE.
    [[nodiscard]] std::uint32_t bye_source(std::size_t i) const noexcept
    {
        AUDIOCAST_ASSERT(i < bye_count());
        return detail::load_be32(body_.data() + 4 * i);
    }

    /// The reason a BYE gives; empty when none (or it overruns the packet).
    [[nodiscard]] std::string_view bye_reason() const noexcept
    {
        if (type_ != type_bye) return {};
        const std::size_t at = 4 * std::size_t{count_};
        if (body_.size() <= at) return {};
        const auto len = static_cast<std::size_t>(body_[at]);
        if (body_.size() - at - 1 < len) return {};
        return {reinterpret_cast<const char*>(body_.data() + at + 1), len};
    }

    /// The NTP time of an XR's first Receiver Reference Time block; nullopt
    /// for another packet, an XR without one, or one whose blocks overrun it.
    [[nodiscard]] std::optional<ntp::timestamp> reference_time() const noexcept
    {
        std::optional<ntp::timestamp> found;
        const bool whole = for_each_xr_block([&](std::uint8_t type, std::span<const std::byte> b) {
            if (type == xr_rrtr && !found && b.size() == rrtr_block_size - xr_block_header_size)
                found = ntp::timestamp::from_u64(detail::load_be64(b.data()));
        });
        return whole ? found : std::nullopt;
    }

    /// Calls f(dlrr_item) for each sub-block of each DLRR block of an XR.
    /// Returns false, having called nothing, when a block overruns the packet
    /// or a DLRR block is not whole sub-blocks.
    template <class F>
    bool for_each_dlrr(F&& f) const
    {
        bool sound = true;
        const bool whole = for_each_xr_block([&](std::uint8_t type, std::span<const std::byte> b) {
            if (type == xr_dlrr && b.size() % dlrr_item_size != 0) sound = false;
        });
        if (!whole || !sound) return false;
        for_each_xr_block([&](std::uint8_t type, std::span<const std::byte> b) {
            if (type != xr_dlrr) return;
            for (std::size_t at = 0; at < b.size(); at += dlrr_item_size)
                f(dlrr_item{detail::load_be32(b.data() + at), detail::load_be32(b.data() + at + 4),
                            detail::load_be32(b.data() + at + 8)});
        });
        return true;
    }

private:
    // Calls f(type, contents) for each block of an XR, the contents after the
    // block's header; false as soon as a block overruns the packet (blocks
    // before it have been visited). Nothing for another packet type.
    template <class F>
    bool for_each_xr_block(F&& f) const
    {
        if (type_ != type_xr) return true;
        if (body_.size() < 4) return false;
        std::size_t at = 4; // past the sender's SSRC
        while (at < body_.size()) {
            if (body_.size() - at < xr_block_header_size) return false;
            const std::size_t size =
                (std::size_t{detail::load_be16(body_.data() + at + 2)} + 1) * 4;
            if (body_.size() - at < size) return false;
            f(static_cast<std::uint8_t>(body_[at]),
              body_.subspan(at + xr_block_header_size, size - xr_block_header_size));
            at += size;
        }
        return true;
    }

    [[nodiscard]] std::size_t blocks_offset() const noexcept
    {
        if (type_ == type_sr) return 4 + sender_info_size;
        if (type_ == type_rr) return 4;
        return 0;
    }

    std::uint8_t type_;
    std::uint8_t count_;
    std::span<const std::byte> body_;
};

/// Checks a compound datagram (RFC 3550 Appendix A.2: version 2 in every
/// packet, each length within the datagram and the lengths adding up to it,
/// padding only in the last packet and no more than its body) and calls
/// f(packet_view) for each packet, but only once all of them have passed.
/// Sets errc::invalid_rtcp (and calls nothing) otherwise. Returns the packets.
template <class F>
std::size_t parse_compound(std::span<const std::byte> datagram, std::error_code& ec, F&& f)
{
    ec.clear();
    const auto walk = [&datagram](auto&& visit) -> bool {
        std::size_t at = 0;
        if (datagram.size() < header_size || datagram.size() % 4 != 0) return false;
        while (at < datagram.size()) {
            if (datagram.size() - at < header_size) return false;
            const auto b0 = static_cast<std::uint8_t>(datagram[at]);
            if ((b0 >> 6) != 2) return false;
            const std::size_t size =
                (std::size_t{detail::load_be16(datagram.data() + at + 2)} + 1) * 4;
            if (datagram.size() - at < size) return false;
            std::size_t body = size - header_size;
            const bool padded = (b0 & 0x20) != 0;
            if (padded) {
                if (at + size != datagram.size()) return false; // padding only in the last
                const auto pad = static_cast<std::size_t>(datagram[at + size - 1]);
                if (pad == 0 || pad > body) return false;
                body -= pad;
            }
            visit(packet_view{static_cast<std::uint8_t>(datagram[at + 1]),
                              static_cast<std::uint8_t>(b0 & 0x1F),
                              datagram.subspan(at + header_size, body)});
            at += size;
        }
        return true;
    };
    if (!walk([](const packet_view&) {})) {
        ec = errc::invalid_rtcp;
        return 0;
    }
    std::size_t packets = 0;
    walk([&](const packet_view& p) {
        ++packets;
        f(p);
    });
    return packets;
}

/// Adds `waited` to the time of each RRTR block (RFC 3611 §4.4) in the XR
/// packets of a compound, whose time says when it left.
inline void move_reference_times(std::span<std::byte> compound,
                                 std::chrono::nanoseconds waited) noexcept
{
    const auto ns = static_cast<std::uint64_t>(waited.count());
    const std::uint64_t units =
        (ns / 1'000'000'000u << 32) + ((ns % 1'000'000'000u << 32) / 1'000'000'000u);
    std::size_t at = 0;
    while (compound.size() - at >= header_size) {
        const std::size_t size = (std::size_t{detail::load_be16(compound.data() + at + 2)} + 1) * 4;
        if (size > compound.size() - at) return;
        if (static_cast<std::uint8_t>(compound[at + 1]) == type_xr && size >= header_size + 4) {
            std::size_t block = at + header_size + 4;
            while (at + size - block >= xr_block_header_size) {
                const std::size_t length =
                    xr_block_header_size +
                    std::size_t{detail::load_be16(compound.data() + block + 2)} * 4;
                if (length > at + size - block) break;
                if (static_cast<std::uint8_t>(compound[block]) == xr_rrtr &&
                    length == rrtr_block_size) {
                    std::byte* t = compound.data() + block + xr_block_header_size;
                    detail::store_be64(t, detail::load_be64(t) + units);
                }
                block += length;
            }
        }
        at += size;
    }
}

/// For a compound written by compound_writer that waited between being
/// written and being sent: adds `waited` to the DLSR of every report block
/// (with an LSR) in its first packet, so the source's round-trip figure does
/// not count the wait (RFC 3550 §6.4.1 measures DLSR to the sending), and to
/// the time of every RRTR block (RFC 3611 §4.4), which says when it left.
/// Changes no report block of a compound that does not start with an SR or RR.
inline void add_report_delay(std::span<std::byte> compound,
                             std::chrono::nanoseconds waited) noexcept
{
    if (compound.size() < header_size + 4 || waited.count() <= 0) return;
    move_reference_times(compound, waited);
    const auto type = static_cast<std::uint8_t>(compound[1]);
    const std::size_t first = type == type_sr   ? header_size + 4 + sender_info_size
                              : type == type_rr ? header_size + 4
                                                : 0;
    if (first == 0) return;
    const std::size_t size = (std::size_t{detail::load_be16(compound.data() + 2)} + 1) * 4;
    const std::size_t count = static_cast<std::uint8_t>(compound[0]) & 0x1F;
    const std::uint32_t extra = ntp::to_short_duration(waited);
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = first + i * report_block_size;
        if (at + report_block_size > std::min(size, compound.size())) return;
        if (detail::load_be32(compound.data() + at + 16) == 0) continue; // no LSR: no DLSR
        std::byte* dlsr = compound.data() + at + 20;
        detail::store_be32(dlsr, detail::load_be32(dlsr) + extra);
    }
}

/// Whether `datagram` looks like RTCP rather than RTP (RFC 5761 §4): its
/// second byte is an RTCP packet type (192-223 cannot be an RTP marker and
/// payload type that anyone uses).
[[nodiscard]] constexpr bool looks_like_rtcp(std::span<const std::byte> datagram) noexcept
{
    if (datagram.size() < 2) return false;
    const auto type = static_cast<std::uint8_t>(datagram[1]);
    return type >= 192 && type <= 223;
}

} // namespace audiocast::rtcp
