// audiocast — what a receiver needs to join and play a stream: the value
// that SDP (wire/sdp.hpp) writes and reads, and SAP (wire/sap.hpp) announces.
// A server fills one from its stream; a client gets one from a file or an
// announcement and opens its stream from it.
#pragma once

#include <audiocast/format.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace audiocast {

/// The SDP direction attribute, from the point of view of whoever reads the
/// description (RFC 8866 §6.7). A multicast broadcast is `recvonly`.
enum class media_direction { recvonly, sendonly, sendrecv, inactive };

/// RFC 6051's 64-bit NTP send-time header extension, as a=extmap names it.
inline constexpr std::string_view ntp64_extension_uri = "urn:ietf:params:rtp-hdrext:ntp-64";

/// Everything a receiver needs to join and play a stream, and what SDP says of it.
struct stream_description {
    std::string name = "audiocast";    ///< s=
    std::string origin_address{};      ///< o= unicast address; empty writes and reads 0.0.0.0 or ::
    std::uint64_t session_id = 0;      ///< o= sess-id
    std::uint64_t session_version = 0; ///< o= sess-version
    std::string group = "239.255.0.1"; ///< c= connection address (the multicast group)
    int ttl = 1;                       ///< c= TTL of an IPv4 group (RFC 8866 §5.7)
    std::uint16_t port = 5004;         ///< m= port; RTCP is on port + 1
    std::uint8_t payload_type = 96;    ///< m= format, 0-127
    audio_format format{};             ///< a=rtpmap
    /// a=fmtp for the payload type, as written after "a=fmtp:<pt> ": Opus's
    /// "useinbandfec=1; sprop-stereo=1" (RFC 7587 §7). Empty when there is none.
    std::string format_parameters{};
    std::optional<std::chrono::microseconds> packet_time{}; ///< a=ptime, which may be fractional
    /// a=extmap id of the ntp-64 send-time extension; unset when packets carry none.
    std::optional<std::uint8_t> send_time_extension_id{};
    /// a=mediaclk:direct offset: the RTP timestamp at the media clock's epoch.
    std::optional<std::uint32_t> media_clock_offset{};
    /// a=ts-refclk (RFC 7273 §4.8), as written after the colon: the clock the
    /// source's reports are on. "ntp=<server>", "ntp=/traceable/",
    /// "ptp=IEEE1588-2008:<grandmaster>:<domain>" and the GNSS clocks say that
    /// the hosts share a clock (shares_wall_clock()). Empty when unsaid or
    /// "local" (the source's own clock): both tell a listener to ask, and
    /// parse_sdp() reads "local" as empty so that what it reads is written back
    /// the same (to_sdp() writes "local" beside a direct media clock).
    std::string reference_clock{};
    /// a=x-audiocast-playout-delay, in milliseconds: the common playout
    /// latency D the sender asks of listeners that synchronize, so that all
    /// use the same. No standard attribute says it; other readers ignore it.
    std::optional<std::chrono::milliseconds> playout_delay{};
    media_direction direction = media_direction::recvonly;
    std::string tool{}; ///< a=tool, when the writer named itself
    /// a=source-filter incl: the address the stream is sent from, for a
    /// source-specific join; empty when the description names none.
    std::string source{};
    /// SMPTE 2022-1 row/column parity FEC sent beside the media; unset when
    /// the stream has none. Each repair flow is an m= section of its own
    /// (encoding 2dparityfec, the name SMPTE 2022-1's flows go by in SDP),
    /// grouped with the media by a=group:FEC-FR (RFC 5956), on SMPTE 2022-1's
    /// ports: the media port + 2 for columns, + 4 for rows. A receiver that
    /// does not know them plays the media section alone.
    struct parity_fec_flows {
        std::uint8_t columns = 10;      ///< L: packets in a row (a=fmtp L=)
        std::uint8_t rows = 10;         ///< D: rows in a matrix (a=fmtp D=)
        bool column_flow = true;        ///< column repairs on the media port + 2
        bool row_flow = true;           ///< row repairs on the media port + 4
        std::uint8_t payload_type = 96; ///< of the repair packets (both flows)
        friend bool operator==(const parity_fec_flows&, const parity_fec_flows&) = default;
    };
    std::optional<parity_fec_flows> fec{};
    /// a=crypto (RFC 4568, SDES): the SRTP suite and the master key and salt
    /// every packet is protected with, inline, in base64. With it the media
    /// line says RTP/SAVP, and the description is as secret as the key:
    /// whoever reads it can listen, and send as the stream.
    struct sdes_crypto {
        std::string suite; ///< "AES_CM_128_HMAC_SHA1_80" or "AEAD_AES_128_GCM"
        std::string key;   ///< base64 of the master key and salt
        friend bool operator==(const sdes_crypto&, const sdes_crypto&) = default;
    };
    std::optional<sdes_crypto> crypto{};

    friend bool operator==(const stream_description&, const stream_description&) = default;
};

/// Whether `d` says that its source's wall clock is one its listeners share
/// (RFC 7273: an NTP or PTP reference, or a GNSS one), so that a listener
/// whose own clock follows the same reference can place the source's reports
/// on its own wall clock (clock_knowledge::shared_wall_clock).
[[nodiscard]] inline bool shares_wall_clock(const stream_description& d) noexcept
{
    const std::string_view c = d.reference_clock;
    return c.starts_with("ntp=") || c.starts_with("ptp=") || c == "gps" || c == "gal" ||
           c == "glonass";
}

} // namespace audiocast
