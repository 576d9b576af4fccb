// audiocast — the RTP data packet: fixed header, header extension, payload.
//
// Layout (RFC 3550 §5.1), all fields big-endian:
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           timestamp                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                             SSRC                              |
//   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//   |                   CSRC list (CC x 32 bits)                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  profile-defined (0xBEDE)     |    length (32-bit words)      |  if X
//   |  extension elements, zero-padded to a word boundary ...       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  payload ...                  | padding ...   | pad count     |  count if P
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// audiocast sends no CSRCs and no padding; it may send one header extension
// element, the sender's wall-clock send time (RFC 6051 §3.3, 64-bit NTP, in the
// RFC 8285 one-byte form), so receivers on a shared clock can measure one-way
// latency. The parser accepts everything RFC 3550 allows and validates every
// length before reading; it never allocates and never reads outside the span.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/endian.hpp>
#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/wire/ntp.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace audiocast::rtp {

inline constexpr std::size_t fixed_header_size = 12;

/// Payload types are 7 bits (RFC 3550 §5.1).
inline constexpr std::uint8_t max_payload_type = 127;

/// The local ID under which the send-time element is sent unless configured
/// otherwise; SDP announces it as `a=extmap:1 urn:ietf:params:rtp-hdrext:ntp-64`.
inline constexpr std::uint8_t default_send_time_extension_id = 1;

/// Bytes the send-time extension adds: the 4-byte block header (0xBEDE and
/// the length in words), 1 element header byte, 8 data bytes and 3 zero bytes
/// of padding to reach a word boundary (RFC 8285 §4.2).
inline constexpr std::size_t send_time_extension_size = 16;

/// The fields of one RTP header that audiocast reads and writes.
struct header {
    bool marker = false;           ///< first packet after a pause (RFC 3551 §4.1)
    std::uint8_t payload_type = 0; ///< 0-127
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0; ///< in sample-rate units
    std::uint32_t ssrc = 0;
    /// The sender's wall clock when the packet left; when set, written as the
    /// RFC 6051 64-bit NTP element and header_size() grows by 16.
    std::optional<ntp::timestamp> send_time;
    /// RFC 8285 one-byte local ID of the send-time element, 1-14.
    std::uint8_t send_time_extension_id = default_send_time_extension_id;

    friend constexpr bool operator==(const header&, const header&) = default;
};

/// A validated datagram. `payload` points into the datagram and excludes the
/// padding; CSRCs and extension elements other than the send time are not
/// surfaced (audiocast has no use for them) but are checked and skipped.
struct packet_view {
    header hdr;
    std::uint8_t csrc_count = 0;
    bool padded = false;
    std::span<const std::byte> payload;
};

/// Bytes write_header() writes for `h`: 12, or 28 with a send time.
[[nodiscard]] constexpr std::size_t header_size(const header& h) noexcept
{
    return fixed_header_size + (h.send_time ? send_time_extension_size : 0);
}

/// The ids an RFC 8285 one-byte header extension element can have: 1-14
/// (0 is padding, 15 stops parsing, §4.2).
inline constexpr setting_limit extension_id_limit{
    "send-time extension id",    1, 14, "", errc::invalid_header_extension,
    "RFC 8285 one-byte elements"};

/// The 7-bit payload type field (RFC 3550 §5.1).
inline constexpr setting_limit payload_type_limit{"payload type", 0, 127, "",
                                                  errc::invalid_payload_type};

/// Whether `id` can name an RFC 8285 one-byte header extension element.
[[nodiscard]] constexpr bool is_valid_extension_id(std::uint8_t id) noexcept
{
    return extension_id_limit.holds(id);
}

namespace detail {

inline constexpr std::uint8_t rtp_version = 2;            // RFC 3550 §5.1
inline constexpr std::uint16_t one_byte_profile = 0xBEDE; // RFC 8285 §4.2
inline constexpr unsigned one_byte_padding_id = 0;        // RFC 8285 §4.2: a lone padding byte
inline constexpr unsigned one_byte_stop_id = 15;          // RFC 8285 §4.2: stop parsing here
inline constexpr std::size_t send_time_size = 8;          // RFC 6051 §3.3: 64-bit NTP

/// Checks what write_header() needs from `h` apart from buffer space;
/// errc{} means nothing is wrong.
[[nodiscard]] constexpr errc check_header(const header& h) noexcept
{
    if (h.payload_type > max_payload_type) return errc::invalid_payload_type;
    if (h.send_time && !is_valid_extension_id(h.send_time_extension_id))
        return errc::invalid_header_extension;
    return errc{};
}

/// ec.clear() fetches system_category() through an out-of-line call; on the
/// per-packet path skip it when `ec` already says success, as it does on
/// every packet but the first.
inline void clear_error(std::error_code& ec) noexcept
{
    if (ec) ec.clear();
}

/// The message of a check_header() failure.
[[nodiscard]] inline std::string describe_header_error(const header& h, std::error_code ec)
{
    if (ec == errc::invalid_payload_type)
        return "RTP payload type " + std::to_string(h.payload_type) + " is outside 0-" +
               std::to_string(max_payload_type);
    return "header extension ID " + std::to_string(h.send_time_extension_id) +
           " is outside 1-14 (RFC 8285 one-byte form)";
}

/// Which parse rule a datagram broke, with the numbers its message needs.
/// Filled only on the error path, so the fast path pays nothing for it.
struct parse_failure {
    enum class rule : std::uint8_t {
        fixed_header,
        version,
        csrc_list,
        extension_header,
        extension_length,
        extension_element,
        padding_zero,
        padding_overrun,
    };
    rule what = rule::fixed_header;
    std::size_t value = 0;  ///< the offending field (count, length, ID ...)
    std::size_t value2 = 0; ///< a second field where one is needed (element length)
    std::size_t needed = 0; ///< bytes the field asks for, or the offset where it starts
    std::size_t limit = 0;  ///< bytes actually there
};

[[nodiscard]] inline std::string describe(const parse_failure& f)
{
    using std::to_string;
    switch (f.what) {
    case parse_failure::rule::fixed_header:
        return "RTP packet of " + to_string(f.limit) + " bytes is shorter than the " +
               to_string(fixed_header_size) + "-byte fixed header";
    case parse_failure::rule::version:
        return "RTP version " + to_string(f.value) + " is not supported; only version 2 is";
    case parse_failure::rule::csrc_list:
        return "CSRC count " + to_string(f.value) + " needs " + to_string(f.needed) +
               " bytes; the packet has " + to_string(f.limit);
    case parse_failure::rule::extension_header:
        return "header extension header needs " + to_string(f.needed) + " bytes; the packet has " +
               to_string(f.limit);
    case parse_failure::rule::extension_length:
        return "header extension length " + to_string(f.value) + " words needs " +
               to_string(f.needed) + " bytes; the packet has " + to_string(f.limit);
    case parse_failure::rule::extension_element:
        return "header extension element ID " + to_string(f.value) + " with " +
               to_string(f.value2) + " data bytes at byte " + to_string(f.needed) +
               " runs past the extension block, which ends at byte " + to_string(f.limit);
    case parse_failure::rule::padding_zero:
        return "padding count 0 is invalid; with the P bit set the count includes itself "
               "(RFC 3550 §5.1)";
    case parse_failure::rule::padding_overrun:
        return "padding count " + to_string(f.value) + " exceeds the " + to_string(f.limit) +
               " bytes after the headers";
    }
    return "invalid RTP packet";
}

/// The one parser behind both parse() overloads. `why` is null on the fast
/// path; the throwing overload passes it to learn the numbers for its message.
[[nodiscard]] inline packet_view parse(std::span<const std::byte> datagram, std::error_code& ec,
                                       std::uint8_t send_time_extension_id,
                                       parse_failure* why) noexcept
{
    using audiocast::detail::load_be16;
    using audiocast::detail::load_be32;
    using audiocast::detail::load_be64;

    const std::byte* const p = datagram.data();
    const std::size_t size = datagram.size();
    // Every path returns `v` so the view is built in place (NRVO); an error
    // empties it.
    packet_view v;
    const auto fail = [&](errc e, const parse_failure& f) noexcept {
        ec = e;
        if (why) *why = f;
        v = packet_view{};
    };

    if (size < fixed_header_size) [[unlikely]] {
        fail(errc::packet_truncated,
             {parse_failure::rule::fixed_header, 0, 0, fixed_header_size, size});
        return v;
    }

    const auto b0 = std::to_integer<unsigned>(p[0]);
    const auto b1 = std::to_integer<unsigned>(p[1]);
    if ((b0 >> 6) != rtp_version) [[unlikely]] {
        fail(errc::unsupported_rtp_version, {parse_failure::rule::version, b0 >> 6, 0, 0, 0});
        return v;
    }

    v.padded = (b0 & 0x20u) != 0;
    const bool extended = (b0 & 0x10u) != 0;
    v.csrc_count = static_cast<std::uint8_t>(b0 & 0x0Fu);
    v.hdr.marker = (b1 & 0x80u) != 0;
    v.hdr.payload_type = static_cast<std::uint8_t>(b1 & 0x7Fu);
    v.hdr.sequence = load_be16(p + 2);
    v.hdr.timestamp = load_be32(p + 4);
    v.hdr.ssrc = load_be32(p + 8);
    v.hdr.send_time_extension_id = send_time_extension_id;

    std::size_t offset = fixed_header_size + 4u * v.csrc_count;
    if (offset > size) [[unlikely]] {
        fail(errc::packet_truncated,
             {parse_failure::rule::csrc_list, v.csrc_count, 0, offset, size});
        return v;
    }

    if (extended) {
        // RFC 3550 §5.3.1: 16 bits defined by the profile, 16 bits of length
        // in 32-bit words not counting this 4-byte header.
        if (size - offset < 4) [[unlikely]] {
            fail(errc::invalid_header_extension,
                 {parse_failure::rule::extension_header, 0, 0, offset + 4, size});
            return v;
        }
        const std::uint16_t profile = load_be16(p + offset);
        const std::size_t words = load_be16(p + offset + 2);
        const std::size_t begin = offset + 4;
        const std::size_t end = begin + 4 * words;
        if (end > size) [[unlikely]] {
            fail(errc::invalid_header_extension,
                 {parse_failure::rule::extension_length, words, 0, end, size});
            return v;
        }

        // Only the one-byte form can hold our element; the two-byte form
        // (0x100X, RFC 8285 §4.3) and other profiles' blocks are skipped whole.
        if (profile == one_byte_profile) {
            std::size_t i = begin;
            while (i < end) {
                const auto byte = std::to_integer<unsigned>(p[i]);
                const unsigned id = byte >> 4;
                if (id == one_byte_padding_id) {
                    // A padding byte has no length field (RFC 8285 §4.2);
                    // like libwebrtc, any byte with ID 0 counts as one.
                    ++i;
                    continue;
                }
                if (id == one_byte_stop_id) break;
                const std::size_t length = (byte & 0x0Fu) + 1u; // L is length - 1
                if (length > end - i - 1) [[unlikely]] {
                    fail(errc::invalid_header_extension,
                         {parse_failure::rule::extension_element, id, length, i, end});
                    return v;
                }
                if (id == send_time_extension_id && length == send_time_size)
                    v.hdr.send_time = ntp::timestamp::from_u64(load_be64(p + i + 1));
                i += 1 + length;
            }
        }
        offset = end;
    }

    std::size_t payload_end = size;
    if (v.padded) {
        // RFC 3550 §5.1: the last byte counts the padding, itself included.
        // With nothing after the headers it would be a header byte, and any
        // non-zero value then exceeds the zero bytes available.
        const std::size_t pad = std::to_integer<std::size_t>(p[size - 1]);
        if (pad == 0) [[unlikely]] {
            fail(errc::invalid_padding, {parse_failure::rule::padding_zero, 0, 0, 0, 0});
            return v;
        }
        if (pad > size - offset) [[unlikely]] {
            fail(errc::invalid_padding,
                 {parse_failure::rule::padding_overrun, pad, 0, 0, size - offset});
            return v;
        }
        payload_end = size - pad;
    }

    v.payload = datagram.subspan(offset, payload_end - offset);
    clear_error(ec);
    return v;
}

} // namespace detail

/// Writes the header of `h` (and its send-time extension, if any) at the start
/// of `out` and returns the bytes written, header_size(h). On error writes
/// nothing and returns 0: errc::invalid_payload_type for a payload type above
/// 127, errc::invalid_header_extension for a send time whose extension ID is
/// not 1-14 (the ID is not checked when there is no send time), and
/// errc::buffer_too_small when `out` is shorter than header_size(h).
inline std::size_t write_header(const header& h, std::span<std::byte> out,
                                std::error_code& ec) noexcept
{
    using audiocast::detail::store_be16;
    using audiocast::detail::store_be32;
    using audiocast::detail::store_be64;

    if (const errc e = detail::check_header(h); e != errc{}) {
        ec = e;
        return 0;
    }
    const std::size_t n = header_size(h);
    if (out.size() < n) {
        ec = errc::buffer_too_small;
        return 0;
    }

    std::byte* const p = out.data();
    const unsigned x_bit = h.send_time ? 0x10u : 0u;
    p[0] = static_cast<std::byte>(unsigned{detail::rtp_version} << 6 | x_bit);
    p[1] = static_cast<std::byte>((h.marker ? 0x80u : 0u) | h.payload_type);
    store_be16(p + 2, h.sequence);
    store_be32(p + 4, h.timestamp);
    store_be32(p + 8, h.ssrc);
    if (h.send_time) {
        std::byte* const e = p + fixed_header_size;
        store_be16(e, detail::one_byte_profile);
        store_be16(e + 2, static_cast<std::uint16_t>((send_time_extension_size - 4) / 4));
        e[4] = static_cast<std::byte>(unsigned{h.send_time_extension_id} << 4 |
                                      (detail::send_time_size - 1));
        store_be64(e + 5, h.send_time->to_u64());
        // Zero padding to the word boundary (RFC 8285 §4.2).
        e[13] = e[14] = e[15] = std::byte{0};
    }
    detail::clear_error(ec);
    return n;
}

/// Throwing form of write_header(); the message names the value and the limit.
inline std::size_t write_header(const header& h, std::span<std::byte> out)
{
    std::error_code ec;
    const std::size_t n = write_header(h, out, ec);
    if (ec == errc::buffer_too_small)
        audiocast::detail::throw_error(ec, "RTP header needs " + std::to_string(header_size(h)) +
                                               " bytes; the buffer has " +
                                               std::to_string(out.size()));
    if (ec) audiocast::detail::throw_error(ec, detail::describe_header_error(h, ec));
    return n;
}

/// Writes a whole packet, header then payload, into `out` and returns its size,
/// header_size(h) + payload.size(). The payload may already sit in `out` at
/// offset header_size(h) (a codec that encodes in place); then it is not
/// copied. Errors as write_header(), with errc::buffer_too_small when the whole
/// packet does not fit; on error `out` is left untouched.
inline std::size_t serialize(const header& h, std::span<const std::byte> payload,
                             std::span<std::byte> out, std::error_code& ec) noexcept
{
    if (const errc e = detail::check_header(h); e != errc{}) {
        ec = e;
        return 0;
    }
    const std::size_t n = header_size(h);
    if (out.size() < n || out.size() - n < payload.size()) {
        ec = errc::buffer_too_small;
        return 0;
    }
    // Payload first: memmove is right even if a caller's payload overlaps the
    // header area, and the header written after it then wins.
    if (!payload.empty() && payload.data() != out.data() + n)
        std::memmove(out.data() + n, payload.data(), payload.size());
    write_header(h, out, ec);
    return n + payload.size();
}

/// Throwing form of serialize(); the message names the sizes involved.
inline std::size_t serialize(const header& h, std::span<const std::byte> payload,
                             std::span<std::byte> out)
{
    std::error_code ec;
    const std::size_t n = serialize(h, payload, out, ec);
    if (ec == errc::buffer_too_small) {
        const std::size_t head = header_size(h);
        audiocast::detail::throw_error(
            ec, "RTP packet needs " + std::to_string(head) + " + " +
                    std::to_string(payload.size()) + " = " + std::to_string(head + payload.size()) +
                    " bytes; the buffer has " + std::to_string(out.size()));
    }
    if (ec) audiocast::detail::throw_error(ec, detail::describe_header_error(h, ec));
    return n;
}

/// Validates `datagram` as an RTP packet and returns a view of it. Each broken
/// rule has its own error, checked in this order:
///   errc::packet_truncated          shorter than 12 bytes, or the CSRC list runs past the end
///   errc::unsupported_rtp_version   version field is not 2
///   errc::invalid_header_extension  X set and the extension header, its length, or a
///                                   one-byte element's data runs past its end
///   errc::invalid_padding           P set and the pad count is 0 or exceeds the bytes
///                                   after the headers
/// In a one-byte (0xBEDE) block, ID 0 bytes are padding and ID 15 ends the
/// block (RFC 8285 §4.2); the element with `send_time_extension_id` and 8 data
/// bytes fills hdr.send_time, one of another length is ignored (an ID outside
/// 1-14 never matches). Blocks of other profiles, the two-byte form included,
/// are skipped. On error returns an empty view.
[[nodiscard]] inline packet_view
parse(std::span<const std::byte> datagram, std::error_code& ec,
      std::uint8_t send_time_extension_id = default_send_time_extension_id) noexcept
{
    return detail::parse(datagram, ec, send_time_extension_id, nullptr);
}

/// Throwing form of parse(); the message names the offending field and the
/// bytes available ("CSRC count 15 needs 72 bytes; the packet has 40").
[[nodiscard]] inline packet_view
parse(std::span<const std::byte> datagram,
      std::uint8_t send_time_extension_id = default_send_time_extension_id)
{
    std::error_code ec;
    detail::parse_failure why;
    const packet_view v = detail::parse(datagram, ec, send_time_extension_id, &why);
    if (ec) audiocast::detail::throw_error(ec, detail::describe(why));
    return v;
}

} // namespace audiocast::rtp
