// audiocast — the SDP parser's internals: field splitting, number and
// ptime reading, and the line-by-line parser that fills a stream_description.
// Internal to wire/sdp.hpp, whose file comment states what is accepted and
// what is refused.
#pragma once

#include <audiocast/detail/ip_literal.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/wire/detail/sdp_text.hpp>
#include <audiocast/wire/stream_description.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast::detail::sdp {

/// Non-empty, and only base64's characters: what an a=crypto key may hold,
/// read or written.
[[nodiscard]] inline bool is_base64_text(std::string_view text) noexcept
{
    return !text.empty() && std::ranges::all_of(text, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || c == '=';
    });
}

struct failure {
    std::error_code code;
    std::string message;
};

/// An rtpmap entry: "L16/48000/2".
struct rtpmap {
    std::uint8_t payload_type = 0;
    std::string encoding;
    std::uint32_t rate = 0;
    unsigned channels = 1;
};

struct media_section {
    std::string media; // "audio", "application", ...
    std::string mid;   // a=mid (RFC 5888)
    std::uint16_t port = 0;
    std::string protocol;
    std::vector<std::uint8_t> payload_types;
    std::optional<std::string> connection; // "IN IP4 239.255.0.1/1"
    std::vector<rtpmap> maps;
    std::vector<std::pair<std::uint8_t, std::string>> fmtps; // (payload type, parameters)
    std::optional<std::chrono::microseconds> ptime;
    std::optional<std::uint8_t> ntp64_id;
    std::optional<std::uint32_t> mediaclk;
    std::optional<std::string> refclk;
    std::optional<std::chrono::milliseconds> playout_delay;
    std::optional<media_direction> direction;
    std::vector<std::pair<std::string, std::string>> source_filters; // (group or "*", source)
    std::optional<stream_description::sdes_crypto> crypto; // the first a=crypto it can use
    std::string crypto_refused;                            // why an a=crypto could not be used
    std::size_t line = 0;
};

class parser {
public:
    std::optional<failure> run(std::string_view text, stream_description& out)
    {
        std::size_t number = 0;
        bool saw_version = false;
        while (!text.empty()) {
            const std::size_t eol = text.find('\n');
            std::string_view line = text.substr(0, eol);
            text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
            ++number;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) continue; // tolerated, as most readers do
            // RFC 8866 §9: no value holds NUL, CR or LF. to_sdp() writes them
            // as spaces, so accepting them would not survive a round trip.
            if (line.find_first_of(std::string_view{"\0\r", 2}) != std::string_view::npos)
                return bad(number, "holds a NUL or CR byte, which SDP forbids", clean(line));
            if (line.size() < 2 || line[1] != '=' ||
                !std::islower(static_cast<unsigned char>(line[0])))
                return bad(number, "is not of the form <type>=<value>", line);
            if (!saw_version) {
                if (line != "v=0") return bad(number, "must be v=0, the first line of SDP", line);
                saw_version = true;
                continue;
            }
            if (auto f = take(line[0], line.substr(2), number)) return f;
        }
        if (!saw_version) return failure{errc::invalid_sdp, "empty SDP: no v=0 line"};
        return choose(out);
    }

private:
    static failure bad(std::size_t line, const std::string& what, std::string_view text)
    {
        return {errc::invalid_sdp,
                "SDP line " + std::to_string(line) + " '" + excerpt(text) + "' " + what};
    }
    static failure unsupported(std::size_t line, const std::string& what)
    {
        return {errc::unsupported_sdp,
                (line != 0 ? "SDP line " + std::to_string(line) + ": " : std::string{"SDP: "}) +
                    what};
    }

    std::optional<failure> take(char type, std::string_view value, std::size_t number)
    {
        media_section* m = media_.empty() ? nullptr : &media_.back();
        switch (type) {
        case 'o': {
            const auto f = fields(value);
            if (f.size() != 6) return bad(number, "needs 6 fields (RFC 8866 §5.2)", value);
            origin_id_ = 0;
            origin_version_ = 0;
            (void)to_int(f[1], origin_id_);
            (void)to_int(f[2], origin_version_);
            // The unspecified address is what to_sdp() writes for none.
            origin_address_ = f[5] == "0.0.0.0" || f[5] == "::" ? std::string{} : std::string{f[5]};
            return std::nullopt;
        }
        case 's': // "s= " is RFC 8866's "no name", which to_sdp() writes for an empty one
            name_ = value == " " ? std::string{} : std::string{value};
            return std::nullopt;
        case 'c':
            if (m != nullptr)
                m->connection = std::string{value};
            else
                session_connection_ = std::string{value};
            return std::nullopt;
        case 'm': {
            const auto f = fields(value);
            if (f.size() < 4) return bad(number, "needs <media> <port> <proto> <fmt> ...", value);
            media_section s;
            s.line = number;
            s.media = std::string{f[0]};
            if (f[0] != "audio") {
                // Never played, but it may be a repair flow of the audio's
                // (FEC-FR): its port and first format, read leniently.
                s.protocol = std::string{f[2]};
                unsigned pt = 0;
                if (!to_int(f[1].substr(0, f[1].find('/')), s.port)) s.port = 0;
                if (to_int(f[3], pt) && pt <= 127)
                    s.payload_types.push_back(static_cast<std::uint8_t>(pt));
                media_.push_back(std::move(s));
                return std::nullopt;
            }
            const std::string_view port = f[1].substr(0, f[1].find('/'));
            if (!to_int(port, s.port) || s.port == 0)
                return bad(number, "has no valid port (1-65535)", value);
            s.protocol = std::string{f[2]};
            for (std::size_t i = 3; i < f.size(); ++i) {
                unsigned pt = 0;
                if (!to_int(f[i], pt) || pt > 127)
                    return bad(number, "has a payload type outside 0-127", value);
                s.payload_types.push_back(static_cast<std::uint8_t>(pt));
            }
            media_.push_back(std::move(s));
            return std::nullopt;
        }
        case 'a': return attribute(value, m, number);
        default: return std::nullopt; // v t r z k b i u e p: nothing a receiver needs
        }
    }

    std::optional<failure> attribute(std::string_view value, media_section* m, std::size_t number)
    {
        const std::size_t colon = value.find(':');
        const std::string_view name = value.substr(0, colon);
        const std::string_view arg =
            colon == std::string_view::npos ? std::string_view{} : trim(value.substr(colon + 1));
        if (name == "tool") {
            tool_ = std::string{arg};
            return std::nullopt;
        }
        std::optional<media_direction> dir;
        if (name == "recvonly") dir = media_direction::recvonly;
        if (name == "sendonly") dir = media_direction::sendonly;
        if (name == "sendrecv") dir = media_direction::sendrecv;
        if (name == "inactive") dir = media_direction::inactive;
        if (dir) {
            if (m != nullptr)
                m->direction = dir;
            else
                session_direction_ = dir;
            return std::nullopt;
        }
        if (name == "ts-refclk") {
            // RFC 7273 §4.8: several lines are alternatives; the first is taken.
            auto& refclk = m != nullptr ? m->refclk : session_refclk_;
            // "local" (the source's own clock) tells a listener what unsaid does.
            if (!refclk) refclk = arg == "local" ? std::string{} : std::string{arg};
            return std::nullopt;
        }
        if (name == "source-filter") {
            // RFC 4570: <mode> <nettype> <addrtype> <dest-address> <src-list>
            const auto f = fields(arg);
            const bool v6 = f.size() >= 3 && f[2] == "IP6";
            const auto is_family = [v6](std::string_view a) {
                return v6 ? is_ipv6_literal(a) : is_ipv4_literal(a);
            };
            if (f.size() < 5 || (f[0] != "incl" && f[0] != "excl") || f[1] != "IN" ||
                (f[2] != "IP4" && f[2] != "IP6" && f[2] != "*") ||
                (f[3] != "*" && f[2] != "*" && !is_family(f[3])) ||
                (f[2] != "*" && !is_family(f[4])))
                return bad(number, "is not source-filter: incl|excl IN IP4|IP6 <group> <source>...",
                           value);
            if (f[0] == "incl" && f[2] != "*") {
                auto& filters = m != nullptr ? m->source_filters : session_source_filters_;
                filters.emplace_back(std::string{f[3]}, std::string{f[4]});
            }
            return std::nullopt;
        }
        if (name == "group" && m == nullptr) {
            // RFC 5956 FEC-FR (and RFC 4756's FEC, which it replaced): the
            // media and the flows that repair it, by a=mid.
            const auto f = fields(arg);
            if (!f.empty() && (f[0] == "FEC-FR" || f[0] == "FEC"))
                fec_groups_.emplace_back(f.begin() + 1, f.end()); // copies: the text goes
            return std::nullopt;
        }
        if (m == nullptr) return std::nullopt; // other session-level attributes
        if (name == "mid") {
            m->mid = std::string{arg};
            return std::nullopt;
        }
        if (name == "rtpmap") {
            const auto f = fields(arg);
            unsigned pt = 0;
            if (f.size() != 2 || !to_int(f[0], pt) || pt > 127)
                return bad(number, "is not rtpmap:<payload type> <encoding>/<rate>[/<channels>]",
                           value);
            const auto parts = split(f[1], '/');
            rtpmap r;
            r.payload_type = static_cast<std::uint8_t>(pt);
            r.encoding = std::string{parts[0]};
            if (parts.size() < 2 || parts.size() > 3 || !to_int(parts[1], r.rate) ||
                (parts.size() == 3 && !to_int(parts[2], r.channels)))
                return bad(number, "is not rtpmap:<payload type> <encoding>/<rate>[/<channels>]",
                           value);
            m->maps.push_back(std::move(r));
        } else if (name == "fmtp") {
            // "fmtp:<payload type> <parameters>". One that is not of that form
            // says nothing audiocast can use, like any attribute it does not
            // know: ignored, so that it cannot refuse a stream it does not touch.
            const std::size_t space = arg.find_first_of(" \t");
            unsigned pt = 0;
            if (space != std::string_view::npos && to_int(arg.substr(0, space), pt) && pt <= 127)
                m->fmtps.emplace_back(static_cast<std::uint8_t>(pt),
                                      std::string{trim(arg.substr(space + 1))});
        } else if (name == "ptime") {
            std::chrono::microseconds t{};
            if (!to_packet_time(arg, t) || t.count() == 0)
                return bad(number, "is not ptime:<milliseconds>", value);
            m->ptime = t;
        } else if (name == "extmap") {
            const auto f = fields(arg);
            unsigned id = 0;
            if (f.size() >= 2 && to_int(f[0].substr(0, f[0].find('/')), id) && id >= 1 &&
                id <= 14 && f[1] == ntp64_extension_uri)
                m->ntp64_id = static_cast<std::uint8_t>(id);
        } else if (name == "x-audiocast-playout-delay") {
            unsigned ms = 0;
            if (!to_int(arg, ms) || ms < 1 || ms > 5'000)
                return bad(number, "is not x-audiocast-playout-delay:<milliseconds, 1 to 5000>",
                           value);
            m->playout_delay = std::chrono::milliseconds{ms};
        } else if (name == "crypto") {
            if (!m->crypto) {
                std::string why;
                if (auto c = sdes_crypto_of(arg, why))
                    m->crypto = std::move(c);
                else if (m->crypto_refused.empty())
                    m->crypto_refused = "line " + std::to_string(number) + " " + why;
            }
        } else if (name == "mediaclk") {
            // "direct=<offset>", optionally followed by " rate=..." (RFC 7273 §5).
            std::uint32_t offset = 0;
            if (arg.starts_with("direct=")) {
                std::string_view v = arg.substr(7);
                v = v.substr(0, v.find(' '));
                if (to_int(v, offset)) m->mediaclk = offset;
            }
        }
        return std::nullopt;
    }

    /// RFC 4568 §9.1: "<tag> <suite> inline:<key>[|<lifetime>][|<MKI>:<length>]
    /// [<session parameters>]", taken when audiocast can honour all of it.
    static std::optional<stream_description::sdes_crypto> sdes_crypto_of(std::string_view arg,
                                                                         std::string& why)
    {
        const auto f = fields(arg);
        unsigned tag = 0;
        if (f.size() < 3 || !to_int(f[0], tag) || !f[2].starts_with("inline:")) {
            why = "is not crypto:<tag> <suite> inline:<key>";
            return std::nullopt;
        }
        if (f[1] != "AES_CM_128_HMAC_SHA1_80" && f[1] != "AEAD_AES_128_GCM") {
            why = "offers " + excerpt(f[1]) +
                  "; audiocast takes AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM";
            return std::nullopt;
        }
        if (f.size() > 3) {
            why = "has session parameters (" + excerpt(f[3]) + "); audiocast takes none";
            return std::nullopt;
        }
        const auto parts = split(f[2].substr(7), '|');
        if (parts.size() > 2 ||
            (parts.size() == 2 && parts[1].find(':') != std::string_view::npos)) {
            why = "has an MKI; audiocast takes one key without";
            return std::nullopt;
        }
        const std::string_view key = parts[0];
        if (!is_base64_text(key)) {
            why = "has a key that is not base64";
            return std::nullopt;
        }
        return stream_description::sdes_crypto{std::string{f[1]}, std::string{key}};
    }

    static std::vector<std::string_view> split(std::string_view s, char sep)
    {
        std::vector<std::string_view> out;
        while (true) {
            const std::size_t at = s.find(sep);
            out.push_back(s.substr(0, at));
            if (at == std::string_view::npos) return out;
            s.remove_prefix(at + 1);
        }
    }

    /// The a=fmtp parameters of payload type `pt` in section `m`; empty when none.
    static std::string_view parameters_of(const media_section& m, std::uint8_t pt)
    {
        for (const auto& [type, parameters] : m.fmtps)
            if (type == pt) return parameters;
        return {};
    }

    /// The format of payload type `pt` in section `m`, if audiocast plays it.
    static std::optional<audio_format> format_of(const media_section& m, std::uint8_t pt)
    {
        for (const rtpmap& r : m.maps) {
            if (r.payload_type != pt) continue;
            audio_format f;
            if (iequals(r.encoding, "opus")) {
                // RFC 7587 §7: always opus/48000/2; whether the sender sends
                // stereo is sprop-stereo's to say (mono unless it is 1).
                if (r.rate != 48'000 || r.channels != 2) return std::nullopt;
                const auto stereo = format_parameter(parameters_of(m, pt), "sprop-stereo");
                return audio_format{sample_format::opus, 48'000, stereo == "1" ? 2u : 1u};
            }
            if (iequals(r.encoding, "L16"))
                f.encoding = sample_format::l16;
            else if (iequals(r.encoding, "L24"))
                f.encoding = sample_format::l24;
            else
                return std::nullopt;
            f.sample_rate = r.rate;
            f.channels = r.channels;
            return f;
        }
        // RFC 3551 §6, table 4: the static L16 types need no rtpmap.
        if (pt == 10) return audio_format{sample_format::l16, 44'100, 2};
        if (pt == 11) return audio_format{sample_format::l16, 44'100, 1};
        return std::nullopt;
    }

    static std::string encodings_of(const media_section& m)
    {
        std::string list;
        for (std::uint8_t pt : m.payload_types) {
            std::string name = "payload type " + std::to_string(pt);
            for (const rtpmap& r : m.maps)
                if (r.payload_type == pt) name = r.encoding + "/" + std::to_string(r.rate);
            list += (list.empty() ? "" : ", ") + name;
        }
        return list;
    }

    std::optional<failure> connection(const std::string& value, std::size_t line,
                                      stream_description& out) const
    {
        const auto f = fields(value);
        if (f.size() != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6"))
            return failure{errc::invalid_sdp, "SDP connection line '" + excerpt(value) +
                                                  "' is not c=IN IP4|IP6 <address>"};
        const auto parts = split(f[2], '/');
        const bool v6 = f[1] == "IP6";
        // to_sdp() tells the family by the address, so it must be the family the line says.
        if (v6 ? is_ipv4_literal(parts[0]) : is_ipv6_literal(parts[0]))
            return failure{errc::invalid_sdp, "SDP connection line '" + excerpt(value) +
                                                  "' gives an IPv" + (v6 ? "4" : "6") +
                                                  " address under " + std::string{f[1]}};
        if (!(v6 ? is_ipv6_literal(parts[0]) : is_ipv4_literal(parts[0])))
            return unsupported(line, "the connection address '" + excerpt(parts[0]) +
                                         "' is not an IPv" + (v6 ? "6" : "4") +
                                         " address; audiocast does not resolve host names");
        out.group = std::string{parts[0]};
        out.ttl = 1;
        if (f[1] == "IP4" && parts.size() >= 2) {
            int ttl = 0;
            if (!to_int(parts[1], ttl) || ttl < 0 || ttl > 255)
                return failure{errc::invalid_sdp, "SDP connection line '" + excerpt(value) +
                                                      "' has a TTL outside 0-255"};
            out.ttl = ttl;
        }
        const std::size_t count_at = f[1] == "IP4" ? 2 : 1;
        if (parts.size() > count_at && parts[count_at] != "1")
            return unsupported(line, "the stream spans " + std::string{parts[count_at]} +
                                         " addresses (layered encoding); audiocast takes one");
        return std::nullopt;
    }

    std::optional<failure> choose(stream_description& out) const
    {
        const media_section* audio = nullptr;
        std::string why = "no audio media (m=audio)";
        for (const media_section& m : media_) {
            if (m.media != "audio" || is_repair_flow(m)) continue;
            const bool secure = m.protocol == "RTP/SAVP" || m.protocol == "RTP/SAVPF";
            if (m.protocol != "RTP/AVP" && m.protocol != "RTP/AVPF" && !secure) {
                why = "media line " + std::to_string(m.line) + " uses " + m.protocol +
                      "; audiocast plays RTP/AVP, and RTP/SAVP with a=crypto";
                continue;
            }
            // ffmpeg writes its SRTP streams as RTP/AVP with a=crypto: a key
            // given means the packets are protected, whatever the profile says.
            if ((secure || !m.crypto_refused.empty()) && !m.crypto) {
                why = "media line " + std::to_string(m.line) + " uses " + m.protocol + " but " +
                      (m.crypto_refused.empty() ? std::string{"gives no a=crypto key"}
                                                : "its a=crypto " + m.crypto_refused);
                continue;
            }
            for (std::uint8_t pt : m.payload_types) {
                if (const auto f = format_of(m, pt)) {
                    audio = &m;
                    out.payload_type = pt;
                    out.format = *f;
                    break;
                }
            }
            if (audio != nullptr) break;
            why = "media line " + std::to_string(m.line) + " carries " + encodings_of(m) +
                  "; audiocast plays L16, L24 and Opus (as RFC 7587 writes it: opus/48000/2)";
        }
        if (audio == nullptr) return unsupported(0, why);

        std::error_code ec;
        if (out.format.encoding != sample_format::opus) validate(out.format, ec);
        if (ec)
            return unsupported(audio->line, "the stream is " + to_string(out.format) +
                                                ", outside audiocast's limits (" +
                                                std::to_string(min_sample_rate) + "-" +
                                                std::to_string(max_sample_rate) + " Hz, " +
                                                std::to_string(min_channels) + "-" +
                                                std::to_string(max_channels) + " channels)");
        const std::optional<std::string>& c =
            audio->connection ? audio->connection : session_connection_;
        if (!c) return unsupported(audio->line, "no connection address (c=) for the audio");
        if (auto f = connection(*c, audio->line, out)) return f;

        out.name = name_;
        out.origin_address = origin_address_;
        out.session_id = origin_id_;
        out.session_version = origin_version_;
        out.port = audio->port;
        out.format_parameters = std::string{parameters_of(*audio, out.payload_type)};
        out.packet_time = audio->ptime;
        out.send_time_extension_id = audio->ntp64_id;
        out.media_clock_offset = audio->mediaclk;
        out.reference_clock = audio->refclk.value_or(session_refclk_.value_or(""));
        out.playout_delay = audio->playout_delay;
        out.direction = audio->direction.value_or(session_direction_.value_or(
            media_direction::sendrecv)); // RFC 8866 §6.7: sendrecv when unsaid
        out.tool = tool_;
        out.crypto = audio->crypto;
        if (auto f = repair_flows(*audio, out)) return f;
        out.source.clear();
        for (const auto* filters : {&audio->source_filters, &session_source_filters_}) {
            for (const auto& [group, source] : *filters) {
                if (group != "*" && group != out.group) continue;
                if (is_ipv6_literal(source) != is_ipv6_literal(out.group)) continue;
                out.source = source;
                break;
            }
            if (!out.source.empty()) break;
        }
        return std::nullopt;
    }

    /// Whether `m` is a SMPTE 2022-1 repair flow (never the stream itself).
    static bool is_repair_flow(const media_section& m)
    {
        return !m.payload_types.empty() &&
               std::any_of(m.maps.begin(), m.maps.end(), [&m](const rtpmap& r) {
                   return r.payload_type == m.payload_types.front() &&
                          iequals(r.encoding, "2dparityfec");
               });
    }

    /// The SMPTE 2022-1 repair flows an FEC-FR group gives `audio`, if any.
    std::optional<failure> repair_flows(const media_section& audio, stream_description& out) const
    {
        out.fec.reset();
        if (audio.mid.empty()) return std::nullopt;
        for (const auto& group : fec_groups_) {
            if (std::find(group.begin(), group.end(), audio.mid) == group.end()) continue;
            stream_description::parity_fec_flows flows;
            flows.column_flow = flows.row_flow = false;
            for (const media_section& m : media_) {
                if (&m == &audio || m.mid.empty() || m.payload_types.empty() ||
                    std::find(group.begin(), group.end(), m.mid) == group.end())
                    continue;
                if (!is_repair_flow(m)) continue; // another scheme: the media plays without it
                const std::uint8_t pt = m.payload_types.front();
                // Joined at the media's group, as plain RTP: one elsewhere
                // cannot be, and joining the media's group there would be wrong.
                const std::optional<std::string>& own =
                    m.connection ? m.connection : session_connection_;
                const std::optional<std::string>& media_connection =
                    audio.connection ? audio.connection : session_connection_;
                if (own != media_connection)
                    return unsupported(m.line, "a repair flow at '" + excerpt(own.value_or("")) +
                                                   "', not the media's address '" +
                                                   excerpt(media_connection.value_or("")) + "'");
                if (m.protocol != "RTP/AVP" && m.protocol != "RTP/AVPF")
                    return unsupported(m.line, "a repair flow over " + m.protocol +
                                                   "; audiocast takes RTP/AVP (no SRTP)");
                const std::string_view parameters = parameters_of(m, pt);
                unsigned l = 0, d = 0;
                const auto l_text = format_parameter(parameters, "L");
                const auto d_text = format_parameter(parameters, "D");
                if (!l_text || !d_text || !to_int(*l_text, l) || !to_int(*d_text, d) || l < 1 ||
                    l > 255 || d < 1 || d > 255)
                    return failure{
                        errc::invalid_sdp,
                        "SDP line " + std::to_string(m.line) +
                            ": a 2dparityfec repair flow needs a=fmtp:" + std::to_string(pt) +
                            " L=<1-255>; D=<1-255>, not '" + excerpt(parameters) + "'"};
                const bool first = !flows.column_flow && !flows.row_flow;
                if (!first && (l != flows.columns || d != flows.rows || pt != flows.payload_type))
                    return failure{errc::invalid_sdp,
                                   "SDP line " + std::to_string(m.line) +
                                       ": the repair flows disagree on their matrix or payload "
                                       "type (L=" +
                                       std::to_string(l) + ", D=" + std::to_string(d) + ", " +
                                       std::to_string(pt) +
                                       " after L=" + std::to_string(flows.columns) +
                                       ", D=" + std::to_string(flows.rows) + ", " +
                                       std::to_string(flows.payload_type) + ")"};
                flows.columns = static_cast<std::uint8_t>(l);
                flows.rows = static_cast<std::uint8_t>(d);
                flows.payload_type = pt;
                if (m.port == audio.port + 2)
                    flows.column_flow = true;
                else if (m.port == audio.port + 4)
                    flows.row_flow = true;
                else
                    return unsupported(
                        m.line, "a repair flow on port " + std::to_string(m.port) +
                                    "; SMPTE 2022-1 puts columns on the media port " + "+ 2 (" +
                                    std::to_string(audio.port + 2) + ") and rows on + 4 (" +
                                    std::to_string(audio.port + 4) + ")");
            }
            if (flows.column_flow || flows.row_flow) {
                out.fec = flows;
                return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::string name_;
    std::string origin_address_;
    std::uint64_t origin_id_ = 0;
    std::uint64_t origin_version_ = 0;
    std::string tool_;
    std::optional<std::string> session_connection_;
    std::optional<media_direction> session_direction_;
    std::optional<std::string> session_refclk_;
    std::vector<std::pair<std::string, std::string>> session_source_filters_;
    std::vector<media_section> media_;
    std::vector<std::vector<std::string>> fec_groups_; // a=group:FEC-FR, the mids of each
};

} // namespace audiocast::detail::sdp
