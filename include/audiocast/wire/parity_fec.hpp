// audiocast — the repair packet of SMPTE 2022-1 row/column parity FEC.
//
// A repair packet protects NA media packets of one RTP stream, the ones
// numbered SNBase + i * Offset (i < NA): a row of consecutive packets
// (Offset 1) or a column of a matrix L packets wide (Offset L). Its payload is
// the XOR of theirs, and its headers carry the XOR of what a lost packet's own
// headers would have said, so that one missing packet of the NA is rebuilt
// from the others. It is an RTP packet on a port of its own (by convention
// the media port + 2 for columns, + 4 for rows):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |V=2| P, X, CC rec. |M|   FEC PT    |  its own sequence number   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |              timestamp (any; the newest media packet's)       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                 SSRC (the media stream's)                     |
//   +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//   |      SNBase low bits          |        Length recovery        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |E| PT recovery |                    Mask (0)                   |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                          TS recovery                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |N|D|type |index|    Offset     |      NA       | SNBase ext (0)|
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  XOR of the protected packets' bytes after their 12-byte      |
//   |  fixed headers, each zero-padded to the longest ...           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The recovery of the P, X and CC bits and of the marker sits in the repair
// packet's own RTP header (RFC 2733 §7, which SMPTE 2022-1 extends), so a
// generic RTP parser must not read that header's P, X or CC; parse() here
// does not. E is 1, N, type, index, Mask and SNBase ext are 0 (SMPTE 2022-1,
// as GStreamer's rtpst2022-1-fecenc writes them); D is 1 for a row.
//
// What is protected is everything after the fixed header: CSRCs, header
// extension, payload and padding (RFC 2733 §6), so a rebuilt packet is the
// original byte for byte. Where the media packets carry none of the first
// three, as those of `audiocast-server --plain-rtp` and GStreamer's
// payloaders, that is exactly the payload GStreamer XORs.
#pragma once

#include <audiocast/detail/endian.hpp>
#include <audiocast/error.hpp>
#include <audiocast/wire/rtp.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

namespace audiocast::parity_fec {

/// The bytes of the FEC header, after the repair packet's RTP fixed header.
inline constexpr std::size_t fec_header_size = 16;
/// Where a repair packet's XOR of the protected bytes begins.
inline constexpr std::size_t repair_payload_offset = rtp::fixed_header_size + fec_header_size;

/// What a repair packet protects, and the XOR of the protected packets'
/// header fields.
struct repair_header {
    // From the repair packet's own RTP header.
    std::uint8_t payload_type = 0; ///< of the repair packets themselves
    std::uint16_t sequence = 0;    ///< of the repair stream; nothing depends on it
    std::uint32_t timestamp = 0;
    std::uint32_t ssrc = 0;               ///< the protected stream's
    std::uint8_t first_byte_recovery = 0; ///< P, X and CC (the low 6 bits of byte 0)
    bool marker_recovery = false;
    // The FEC header.
    std::uint16_t sn_base = 0;
    std::uint16_t length_recovery = 0;
    std::uint8_t payload_type_recovery = 0; ///< 7 bits
    std::uint32_t timestamp_recovery = 0;
    bool row = false;        ///< D: a row (Offset 1) rather than a column
    std::uint8_t offset = 0; ///< 1 for a row, L for a column
    std::uint8_t count = 0;  ///< NA: packets protected
    /// The XOR of the protected bytes; points into the parsed datagram.
    std::span<const std::byte> payload{};

    /// The sequence number of the i-th protected packet (i < count).
    [[nodiscard]] constexpr std::uint16_t protected_sequence(unsigned i) const noexcept
    {
        return static_cast<std::uint16_t>(sn_base + i * offset);
    }
};

namespace detail {

inline constexpr unsigned extension_flag = 0x80u; // E, byte 8 of the FEC header
inline constexpr unsigned direction_flag = 0x40u; // D, byte 12

} // namespace detail

/// Reads a repair packet. Refuses with errc::packet_truncated one too short
/// for the two headers, errc::unsupported_rtp_version one not of RTP version
/// 2, and errc::invalid_fec_packet one whose FEC header is not of SMPTE
/// 2022-1's XOR form (E 1; N, type, index and Mask 0), protects nothing
/// (NA 0, Offset 0) or is a row with an Offset other than 1. Length recovery
/// is an XOR of lengths and may exceed every one of them: only the length it
/// rebuilds is checked, by the decoder. Never reads outside `datagram`.
[[nodiscard]] inline repair_header parse(std::span<const std::byte> datagram,
                                         std::error_code& ec) noexcept
{
    using audiocast::detail::load_be16;
    using audiocast::detail::load_be32;
    repair_header h;
    if (datagram.size() < repair_payload_offset) {
        ec = errc::packet_truncated;
        return {};
    }
    const std::byte* p = datagram.data();
    const auto b0 = std::to_integer<unsigned>(p[0]);
    if ((b0 >> 6) != 2) {
        ec = errc::unsupported_rtp_version;
        return {};
    }
    h.first_byte_recovery = static_cast<std::uint8_t>(b0 & 0x3Fu);
    const auto b1 = std::to_integer<unsigned>(p[1]);
    h.marker_recovery = (b1 & 0x80u) != 0;
    h.payload_type = static_cast<std::uint8_t>(b1 & 0x7Fu);
    h.sequence = load_be16(p + 2);
    h.timestamp = load_be32(p + 4);
    h.ssrc = load_be32(p + 8);

    const std::byte* f = p + rtp::fixed_header_size;
    h.sn_base = load_be16(f);
    h.length_recovery = load_be16(f + 2);
    const auto e_pt = std::to_integer<unsigned>(f[4]);
    const std::uint32_t mask = (std::to_integer<std::uint32_t>(f[5]) << 16) |
                               (std::to_integer<std::uint32_t>(f[6]) << 8) |
                               std::to_integer<std::uint32_t>(f[7]);
    h.payload_type_recovery = static_cast<std::uint8_t>(e_pt & 0x7Fu);
    h.timestamp_recovery = load_be32(f + 8);
    const auto ndti = std::to_integer<unsigned>(f[12]);
    h.row = (ndti & detail::direction_flag) != 0;
    h.offset = std::to_integer<std::uint8_t>(f[13]);
    h.count = std::to_integer<std::uint8_t>(f[14]);
    const auto sn_ext = std::to_integer<unsigned>(f[15]);
    h.payload = datagram.subspan(repair_payload_offset);

    const bool xor_form = (e_pt & detail::extension_flag) != 0 && mask == 0 &&
                          (ndti & ~detail::direction_flag) == 0 && sn_ext == 0;
    const bool shape = h.count > 0 && h.offset > 0 && (!h.row || h.offset == 1);
    if (!xor_form || !shape) {
        ec = errc::invalid_fec_packet;
        return {};
    }
    ec.clear();
    return h;
}

/// Writes the RTP and FEC headers of `h` at the start of `out` (at least
/// repair_payload_offset bytes; errc::buffer_too_small otherwise) and returns
/// repair_payload_offset; the XOR follows, written by the caller.
inline std::size_t write_headers(const repair_header& h, std::span<std::byte> out,
                                 std::error_code& ec) noexcept
{
    using audiocast::detail::store_be16;
    using audiocast::detail::store_be32;
    if (out.size() < repair_payload_offset) {
        ec = errc::buffer_too_small;
        return 0;
    }
    std::byte* p = out.data();
    p[0] = std::byte{static_cast<unsigned char>(0x80u | (h.first_byte_recovery & 0x3Fu))};
    p[1] = std::byte{
        static_cast<unsigned char>((h.marker_recovery ? 0x80u : 0u) | (h.payload_type & 0x7Fu))};
    store_be16(p + 2, h.sequence);
    store_be32(p + 4, h.timestamp);
    store_be32(p + 8, h.ssrc);
    std::byte* f = p + rtp::fixed_header_size;
    store_be16(f, h.sn_base);
    store_be16(f + 2, h.length_recovery);
    f[4] = std::byte{
        static_cast<unsigned char>(detail::extension_flag | (h.payload_type_recovery & 0x7Fu))};
    f[5] = f[6] = f[7] = std::byte{0};
    store_be32(f + 8, h.timestamp_recovery);
    f[12] = std::byte{static_cast<unsigned char>(h.row ? detail::direction_flag : 0u)};
    f[13] = std::byte{h.offset};
    f[14] = std::byte{h.count};
    f[15] = std::byte{0};
    ec.clear();
    return repair_payload_offset;
}

} // namespace audiocast::parity_fec
