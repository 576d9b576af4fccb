// audiocast — SDP (RFC 8866) stream descriptions: write one for a stream,
// read one that audiocast or another tool (ffmpeg, GStreamer, PipeWire, VLC)
// wrote.
//
//   audiocast::stream_description d;          // the design's defaults
//   d.name = "studio"; d.format = {sample_format::l24, 48'000, 2};
//   std::string text = audiocast::to_sdp(d);  // v=0, o=, s=, c=, t=, m=audio, a=rtpmap, ...
//   audiocast::stream_description back = audiocast::parse_sdp(text);
//
// What is written, beyond what RFC 8866 requires: a=rtpmap (RFC 3551 §4.5.11
// L16, RFC 3190 L24, with the channel count; RFC 7587 opus/48000/2 with
// a=fmtp, sprop-stereo=1 for a stereo stream), a=ptime, a=recvonly (a
// broadcast: receivers only receive), a=extmap for the send-time extension
// (RFC 6051's ntp-64), and what AES67 receivers look for where it costs
// nothing: a=ts-refclk and a=mediaclk (RFC 7273; a shared reference clock is
// what lets listeners synchronize by the reports alone); and, when the
// stream names its sender, a=source-filter (RFC 4570) so that receivers can
// join source-specifically (RFC 4607) and hear no one else.
//
// A stream with SMPTE 2022-1 FEC (stream_description::fec) gets an m=
// section for each repair flow, at the media port + 2 (columns) and + 4
// (rows) as SMPTE 2022-1 places them, each "2dparityfec" at the media's clock
// rate with a=fmtp L=, D= and repair-window= (microseconds, as RFC 6015
// names it, when the packet time is known), all grouped with the media by
// a=group:FEC-FR (RFC 5956) and a=mid. A reader that knows none of it plays
// the first section, the media. The parser reads such a group back: the
// group holding the chosen audio section, its 2dparityfec sections (others,
// such as ulpfec, are passed over: the media still plays), whose L and D
// must agree and be 1-255 (errc::invalid_sdp) and whose ports must be the
// media port + 2 or + 4, at the media's address, over RTP/AVP
// (errc::unsupported_sdp, naming the line). Round trips hold for the values a
// reader can give back: a flow at all, L and D 1-255, a payload type 0-127,
// and ports up to 65535 (a flow that would pass it is not written).
//
// a=source-filter is read at session or media level (media wins): an `incl`
// filter for the stream's group, or for `*`, names the sender (the first of
// its list). `excl` filters and filters for other addresses are ignored: a
// receiver that cannot exclude still plays, and source selection in the
// session keeps strangers out. A filter that is not RFC 4570's form, or whose
// address is not of the family it says, is refused with errc::invalid_sdp.
//
// A stream protected by SRTP (stream_description::crypto) is RTP/SAVP with
// one a=crypto line (RFC 4568): tag 1, the suite, and the key inline. The
// parser takes RTP/SAVP or RTP/SAVPF media with the first a=crypto line it
// can honour: AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM (RFC 7714), one
// inline key whose lifetime, if given, is ignored (libsrtp enforces its
// own), and no MKI or session parameters. A repair flow (FEC) stays RTP/AVP.
// An a=crypto line under RTP/AVP is taken too: RFC 4568 defines it for the
// secure profiles only, but ffmpeg writes its SRTP streams that way, and a
// listener that ignored the key would play ciphertext.
//
// The parser takes the first audio media section it can play (RTP/AVP, or
// RTP/SAVP with a key it can use; an L16, L24 or Opus payload type, or the
// static types 10 and 11 of RFC 3551) and ignores what it does not need.
// What it cannot honour (no audio, another encoding, an encrypted profile
// without a usable a=crypto, no connection address or a host name for one,
// a format out of audiocast's limits) is refused with
// errc::unsupported_sdp; text that is not SDP, or an address of the other
// family than its line says, with errc::invalid_sdp. The throwing form's
// message names the line.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/wire/detail/sdp_parser.hpp>
#include <audiocast/wire/stream_description.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast {

namespace detail::sdp {

/// Why `c` could not be written so that a parser reads back the same key:
/// a suite audiocast does not take, or a key that is not base64. Empty if
/// it can.
[[nodiscard]] inline std::string crypto_unwritable(const stream_description::sdes_crypto& c)
{
    if (c.suite != "AES_CM_128_HMAC_SHA1_80" && c.suite != "AEAD_AES_128_GCM")
        return "the a=crypto suite (" + std::to_string(c.suite.size()) +
               " characters) is not AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM";
    // A key is never shown, not even in part: only its length.
    if (!is_base64_text(c.key))
        return "the a=crypto key (" + std::to_string(c.key.size()) +
               " characters) is empty or not base64";
    return {};
}

} // namespace detail::sdp

/// The SDP text of `d`, lines ending in CRLF (RFC 8866 §5). A `crypto` it
/// could not write as it is (a suite audiocast does not take, a key that is
/// not base64: cleaning it would hand listeners another key) is refused with
/// errc::invalid_srtp_key and an empty text.
[[nodiscard]] inline std::string to_sdp(const stream_description& d, std::error_code& ec)
{
    namespace s = detail::sdp;
    ec.clear();
    if (d.crypto && !s::crypto_unwritable(*d.crypto).empty()) {
        ec = make_error_code(errc::invalid_srtp_key);
        return {};
    }
    const bool v6 = s::is_ipv6(d.group);
    const std::string ip = v6 ? "IP6" : "IP4";
    const std::string origin =
        d.origin_address.empty() ? (s::is_ipv6(d.group) ? "::" : "0.0.0.0") : d.origin_address;
    const std::string origin_ip = s::is_ipv6(origin) ? "IP6" : "IP4";
    std::string t;
    const auto line = [&t](const std::string& l) { t += l + "\r\n"; };
    line("v=0");
    line("o=- " + std::to_string(d.session_id) + " " + std::to_string(d.session_version) + " IN " +
         origin_ip + " " + s::clean(origin));
    line("s=" + (d.name.empty() ? std::string{" "} : s::clean(d.name))); // s= may not be empty
    // RFC 8866 §5.7: an IPv4 multicast address carries its TTL; IPv6 has none.
    line("c=IN " + ip + " " + s::clean(d.group) + (v6 ? "" : "/" + std::to_string(d.ttl)));
    line("t=0 0");
    if (!d.tool.empty()) line("a=tool:" + s::clean(d.tool));
    line(std::string{"a="} + s::direction_name(d.direction));
    if (!d.source.empty())
        line("a=source-filter: incl IN " + ip + " " + s::clean(d.group) + " " + s::clean(d.source));
    if (d.fec)
        line(std::string{"a=group:FEC-FR 1"} +
             (d.fec->column_flow && d.port <= 65'533 ? " 2" : "") +
             (d.fec->row_flow && d.port <= 65'531 ? " 3" : ""));
    line("m=audio " + std::to_string(d.port) + (d.crypto ? " RTP/SAVP " : " RTP/AVP ") +
         std::to_string(d.payload_type));
    if (d.crypto) line("a=crypto:1 " + d.crypto->suite + " inline:" + d.crypto->key);
    const bool opus = d.format.encoding == sample_format::opus;
    // RFC 7587 §7: Opus is always opus/48000/2; sprop-stereo says whether
    // the sender sends stereo.
    line("a=rtpmap:" + std::to_string(d.payload_type) + " " +
         std::string{encoding_name(d.format.encoding)} + "/" +
         (opus ? std::string{"48000/2"}
               : std::to_string(d.format.sample_rate) + "/" + std::to_string(d.format.channels)));
    std::string parameters = s::clean(d.format_parameters);
    if (opus && d.format.channels == 2 && !s::format_parameter(parameters, "sprop-stereo"))
        parameters += (parameters.empty() ? "" : "; ") + std::string{"sprop-stereo=1"};
    if (!parameters.empty()) line("a=fmtp:" + std::to_string(d.payload_type) + " " + parameters);
    if (d.packet_time) line("a=ptime:" + s::packet_time_text(*d.packet_time));
    if (d.send_time_extension_id)
        line("a=extmap:" + std::to_string(*d.send_time_extension_id) + " " +
             std::string{ntp64_extension_uri});
    // RFC 7273: what clock the reports are on, and how the media clock
    // follows it: direct (an offset from its epoch) or the sender's own,
    // tied to it by the reports.
    // A direct media clock needs a reference: the sender's own unless said.
    if (!d.reference_clock.empty())
        line("a=ts-refclk:" + s::clean(d.reference_clock));
    else if (d.media_clock_offset)
        line("a=ts-refclk:local");
    if (d.media_clock_offset)
        line("a=mediaclk:direct=" + std::to_string(*d.media_clock_offset));
    else if (!d.reference_clock.empty())
        line("a=mediaclk:sender");
    if (d.playout_delay)
        line("a=x-audiocast-playout-delay:" + std::to_string(d.playout_delay->count()));
    if (d.fec) {
        line("a=mid:1");
        const auto& f = *d.fec;
        const std::string pt = std::to_string(f.payload_type);
        std::string matrix = "L=" + std::to_string(f.columns) + "; D=" + std::to_string(f.rows);
        // RFC 6015's repair-window: the longest a repair may come after the
        // first packet it protects, a column's 2 x L x D + L packets.
        if (d.packet_time)
            matrix += "; repair-window=" +
                      std::to_string((2 * f.columns * f.rows + f.columns) * d.packet_time->count());
        const auto flow = [&](int offset, const char* what, const char* mid) {
            line("m=audio " + std::to_string(d.port + offset) + " RTP/AVP " + pt);
            line(std::string{"i=SMPTE 2022-1 "} + what + " repairs");
            line("a=rtpmap:" + pt + " 2dparityfec/" +
                 std::to_string(opus ? 48'000u : d.format.sample_rate));
            line("a=fmtp:" + pt + " " + matrix);
            line(std::string{"a=mid:"} + mid);
        };
        // A flow whose port would pass 65535 cannot be: not written (nor
        // named in the group), and a reader plays the media without it.
        if (f.column_flow && d.port <= 65'533) flow(2, "column", "2");
        if (f.row_flow && d.port <= 65'531) flow(4, "row", "3");
    }
    return t;
}

/// As to_sdp(d, ec); throws std::system_error naming what was refused.
[[nodiscard]] inline std::string to_sdp(const stream_description& d)
{
    std::error_code ec;
    std::string text = to_sdp(d, ec);
    if (ec) detail::throw_error(ec, "SDP: " + detail::sdp::crypto_unwritable(*d.crypto));
    return text;
}

/// Reads an SDP stream description; see the file comment for what is refused.
[[nodiscard]] inline stream_description parse_sdp(std::string_view text, std::error_code& ec)
{
    stream_description d;
    detail::sdp::parser p;
    if (auto f = p.run(text, d)) {
        ec = f->code;
        return {};
    }
    ec.clear();
    return d;
}

/// Throwing form: std::system_error whose what() names the line at fault.
[[nodiscard]] inline stream_description parse_sdp(std::string_view text)
{
    stream_description d;
    detail::sdp::parser p;
    if (auto f = p.run(text, d)) detail::throw_error(f->code, f->message);
    return d;
}

} // namespace audiocast
