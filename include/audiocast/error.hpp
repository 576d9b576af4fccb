// audiocast — error codes.
//
// Every fallible call comes in two forms, as in Asio: one that takes a
// `std::error_code&` and reports through it, and one that throws
// `std::system_error`. The throwing form's what() names the offending value and
// the limit it broke; the error_code form carries the condition only.
#pragma once

#include <audiocast/detail/config.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace audiocast {

enum class errc {
    // Configuration, refused before anything is sent.
    invalid_sample_rate = 1,
    invalid_channel_count,
    invalid_sample_format,
    invalid_packet_time,
    packet_exceeds_mtu,
    invalid_mtu,
    invalid_latency,
    invalid_payload_type,
    invalid_rate_adjustment,

    // Caller-supplied buffers.
    buffer_too_small,
    frames_not_whole,

    // Received datagrams, counted and dropped.
    packet_truncated,
    unsupported_rtp_version,
    invalid_padding,
    invalid_header_extension,
    unexpected_payload_type,
    payload_not_whole_frames,

    // Network: refused when a udp_multicast_transport is opened.
    invalid_address,
    not_multicast_address,
    address_family_mismatch,
    no_such_interface,
    invalid_hops,
    invalid_port,
    invalid_buffer_size,
    address_in_use,

    // Stream descriptions (SDP), announcements (SAP) and control packets (RTCP).
    invalid_sdp,
    unsupported_sdp,
    invalid_sap,
    invalid_rtcp,

    // Threads: refused when a stream_thread starts.
    invalid_thread_option,
    thread_priority_refused,

    // Receiving streams: refused when one is made.
    invalid_stats_interval,

    // Codecs: refused when one is made.
    invalid_bitrate,
    invalid_codec_setting,
    codec_failed,

    // Forward error correction: refused when a protection is made, or a
    // repair packet counted and dropped.
    invalid_fec_setting,
    invalid_fec_packet,

    // Receiving streams: refused when one is made.
    invalid_reorder_window,

    // SRTP: a key refused when it is read, a session libsrtp refused.
    invalid_srtp_key,
    srtp_failed,
};

namespace detail {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "audiocast"; }

    std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::invalid_sample_rate: return "sample rate out of range (8000-192000 Hz)";
        case errc::invalid_channel_count: return "channel count out of range (1-64)";
        case errc::invalid_sample_format: return "unknown sample format";
        case errc::invalid_packet_time: return "packet time not one the codec allows";
        case errc::packet_exceeds_mtu: return "packet does not fit the MTU";
        case errc::invalid_mtu: return "MTU out of range";
        case errc::invalid_latency: return "playout latency out of range";
        case errc::invalid_payload_type: return "RTP payload type out of range (0-127)";
        case errc::invalid_rate_adjustment: return "playout rate adjustment out of range (0-0.01)";
        case errc::buffer_too_small: return "buffer too small";
        case errc::frames_not_whole: return "sample count is not a whole number of frames";
        case errc::packet_truncated: return "packet shorter than its headers say";
        case errc::unsupported_rtp_version: return "RTP version is not 2";
        case errc::invalid_padding: return "invalid RTP padding";
        case errc::invalid_header_extension: return "invalid RTP header extension";
        case errc::unexpected_payload_type: return "unexpected RTP payload type";
        case errc::payload_not_whole_frames: return "payload is not a whole number of frames";
        case errc::invalid_address: return "not an IP address";
        case errc::not_multicast_address: return "not a multicast address";
        case errc::address_family_mismatch:
            return "group and interface are of different IP versions";
        case errc::no_such_interface: return "no such network interface";
        case errc::invalid_hops: return "multicast hops out of range (0-255)";
        case errc::invalid_port: return "port out of range (1-65535)";
        case errc::invalid_buffer_size: return "receive buffer size must be positive";
        case errc::address_in_use: return "port in use and not shared (address reuse is off)";
        case errc::invalid_sdp: return "malformed SDP stream description";
        case errc::unsupported_sdp: return "the SDP describes a stream audiocast cannot play";
        case errc::invalid_sap: return "malformed SAP announcement";
        case errc::invalid_rtcp: return "malformed RTCP packet";
        case errc::invalid_thread_option: return "stream thread option out of range";
        case errc::thread_priority_refused: return "real-time thread priority refused";
        case errc::invalid_stats_interval: return "statistics interval out of range";
        case errc::invalid_bitrate: return "bitrate out of range";
        case errc::invalid_codec_setting: return "codec setting out of range";
        case errc::codec_failed: return "the codec library refused the configuration";
        case errc::invalid_fec_setting: return "FEC matrix setting out of range";
        case errc::invalid_fec_packet: return "malformed FEC repair packet";
        case errc::invalid_reorder_window: return "reorder window out of range";
        case errc::invalid_srtp_key: return "SRTP master key not of the suite's length";
        case errc::srtp_failed: return "libsrtp refused the session";
        }
        return "unknown audiocast error";
    }
};

} // namespace detail

/// The category of every `audiocast::errc`.
inline const std::error_category& error_category() noexcept
{
    static const detail::error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

namespace detail {

/// Throws `std::system_error` for `ec` with a message that names the value and
/// the limit, as the throwing overloads promise.
[[noreturn]] inline void throw_error(std::error_code ec, const std::string& what)
{
    throw std::system_error(ec, what);
}

} // namespace detail

} // namespace audiocast

template <>
struct std::is_error_code_enum<audiocast::errc> : std::true_type {};
