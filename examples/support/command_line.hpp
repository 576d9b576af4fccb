// The command line the server and the client share (CLI11): where the group
// is, what format the stream carries, and how a failure becomes one line on
// stderr and an exit code.
#pragma once

#include "support/build_features.hpp"
#include "support/example_error.hpp"
#include "support/stream_codec.hpp"
#include "support/untrusted_text.hpp"

#if AUDIOCAST_EXAMPLES_HAS_OPUS
#include <audiocast/codec/opus.hpp>
#endif
#include <audiocast/codec/pcm.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/limits.hpp>
#include <audiocast/protection/parity_fec_config.hpp>
#include <audiocast/protection/srtp_key.hpp>
#include <audiocast/transport/udp_multicast.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>
#include <audiocast/wire/stream_description.hpp>

#include <asio/ip/address.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast_examples {

/// A CLI11 check against one of the library's named limits (limits.hpp), in
/// the limit's own unit: the program refuses what the library would, with
/// the library's message ("playout latency 9000 ms is outside 1-5000 ms").
inline CLI::Validator within(const audiocast::setting_limit& limit)
{
    return CLI::Validator(
        [limit](std::string& text) -> std::string {
            double value = 0;
            const auto [end, error] =
                std::from_chars(text.data(), text.data() + text.size(), value);
            if (error != std::errc{} || end != text.data() + text.size())
                return "'" + text + "' is not a number";
            const audiocast::setting_problem p = limit.check(value);
            return p ? p.describe() : std::string{};
        },
        std::string{"within "} + limit.setting + " limits");
}

/// within() for an option given in another unit than the limit's: `scale`
/// of it per unit of the limit (1e6 for a ratio given in ppm).
inline CLI::Validator within(const audiocast::setting_limit& limit, double scale, const char* unit)
{
    return within(audiocast::setting_limit{limit.setting, limit.min * scale, limit.max * scale,
                                           unit, limit.code, limit.note});
}

/// Where the stream is: --group, --port, --interface, --source.
struct network_options {
    std::string group = "239.255.0.1";
    std::uint16_t port = 5004;
    std::string multicast_interface;
    /// The sender's address: a listener hears no one else (a source-specific
    /// join, RFC 4607); a sender sends from it and names it in its SDP.
    std::string source;
    CLI::Option* source_option = nullptr;
    /// The SRTP key both flows are protected with (--srtp); none: plain RTP.
    std::optional<audiocast::srtp_key> srtp;

    void add_to(CLI::App& app)
    {
        app.add_option("--group", group, "Multicast group, IPv4 or IPv6")->capture_default_str();
        app.add_option("--port", port, "UDP port of the group (RTP)")
            ->check(within(audiocast::group_port_limit))
            ->capture_default_str();
        app.add_option("--interface", multicast_interface,
                       "Interface to use, by address or name (default: the system's choice)");
    }

    /// --source, whose meaning differs between sender and listener.
    void add_source_to(CLI::App& app, const std::string& help)
    {
        source_option = app.add_option("--source", source, help);
    }

    /// The transport options of the group's RTP port.
    [[nodiscard]] audiocast::udp_multicast_options media(bool join, int hops = 1) const
    {
        return {.group = group,
                .port = port,
                .multicast_interface = multicast_interface,
                .hops = hops,
                .join = join,
                .source = source};
    }

    /// The group's RTCP port, port + 1 (RFC 3550 §11): joined, since every
    /// member reports, from any source: listeners report to the group too,
    /// and the session takes the sender's reports only from its host.
    [[nodiscard]] audiocast::udp_multicast_options control(int hops = 1) const
    {
        if (port == 65535)
            throw usage_error{"--port 65535 leaves no port + 1 for RTCP; use an even port "
                              "below it (RFC 3550 section 11)"};
        return {.group = group,
                .port = static_cast<std::uint16_t>(port + 1),
                .multicast_interface = multicast_interface,
                .hops = hops,
                .join = true};
    }

    /// --fec LxD: SMPTE 2022-1 parity FEC, its repair flows on port + 2
    /// (columns) and port + 4 (rows).
    std::string fec_text;

    void add_fec_to(CLI::App& app, const std::string& help)
    {
        app.add_option("--fec", fec_text, help)->check([](const std::string& text) {
            std::string why;
            (void)parse_fec(text, why);
            return why;
        });
    }

    /// The FEC an SDP (--sdp, --sap) declares; --fec overrides it.
    std::optional<audiocast::parity_fec_config> described_fec;

    /// What --fec asked for, or else what the SDP declares; none without either.
    [[nodiscard]] std::optional<audiocast::parity_fec_config> fec() const
    {
        if (fec_text.empty()) return described_fec;
        std::string why;
        return parse_fec(fec_text, why);
    }

    /// "LxD" (rows and columns), "LxDc" (columns only) or "Lr" (rows only).
    static std::optional<audiocast::parity_fec_config> parse_fec(const std::string& text,
                                                                 std::string& why)
    {
        audiocast::parity_fec_config c;
        unsigned l = 0, d = 1;
        char kind = 0;
        char extra = 0;
        const int got_matrix = std::sscanf(text.c_str(), "%ux%u%c%c", &l, &d, &kind, &extra);
        const int got_rows = std::sscanf(text.c_str(), "%u%c%c", &l, &kind, &extra);
        if (got_matrix == 2 || (got_matrix == 3 && kind == 'c')) {
            c.row_repair = got_matrix == 2;
        } else if (got_rows == 2 && kind == 'r') {
            d = 1;
            c.column_repair = false;
        } else {
            why = "--fec '" + text +
                  "' is not LxD (a matrix L packets wide and D deep, rows and columns: 10x10), "
                  "LxDc (columns only) or Lr (rows only)";
            return std::nullopt;
        }
        // The library's limits on the numbers as given, before they narrow.
        for (const auto& p : {audiocast::parity_fec_columns_limit.check(l),
                              audiocast::parity_fec_rows_limit.check(d)})
            if (p) {
                why = "--fec " + text + ": " + p.describe();
                return std::nullopt;
            }
        c.columns = static_cast<std::uint8_t>(l);
        c.rows = static_cast<std::uint8_t>(d);
        if (const auto p = check(c)) {
            why = "--fec " + text + ": " + p.describe();
            return std::nullopt;
        }
        return c;
    }

    /// A repair flow's port: + 2 for columns, + 4 for rows.
    [[nodiscard]] audiocast::udp_multicast_options repair(bool rows, bool join, int hops = 1) const
    {
        if (port > 65531)
            throw usage_error{"--port " + std::to_string(port) +
                              " leaves no ports + 2 and + 4 for --fec's repair flows; use an "
                              "even port up to 65530"};
        auto o = media(join, hops);
        o.port = static_cast<std::uint16_t>(port + (rows ? 4 : 2));
        return o;
    }

    [[nodiscard]] std::string where() const
    {
        const bool v6 = group.find(':') != std::string::npos;
        return (v6 ? "[" + group + "]" : group) + ":" + std::to_string(port) +
               (multicast_interface.empty() ? "" : " on " + multicast_interface);
    }
};

/// What the stream carries: --format, --rate, --channels.
struct format_options {
    std::string encoding = "L16";
    std::uint32_t sample_rate = 48'000;
    unsigned channels = 2;

    CLI::Option* encoding_option = nullptr;
    CLI::Option* rate_option = nullptr;
    CLI::Option* channels_option = nullptr;

    void add_to(CLI::App& app)
    {
        encoding_option =
            app.add_option("--format,--codec", encoding,
                           "Wire encoding: L16 or L24 (big-endian PCM), or opus (RFC 7587; "
                           "48 kHz, 1 or 2 channels)")
                ->transform(CLI::IsMember({"L16", "L24", "opus"}, CLI::ignore_case))
                ->capture_default_str();
        rate_option = app.add_option("--rate", sample_rate, "Sample rate in Hz")
                          ->check(within(audiocast::sample_rate_limit))
                          ->capture_default_str();
        channels_option = app.add_option("--channels", channels, "Channels")
                              ->check(within(audiocast::channel_count_limit))
                              ->capture_default_str();
    }

    [[nodiscard]] bool is_opus() const noexcept { return encoding == "opus"; }

    [[nodiscard]] audiocast::audio_format format() const
    {
        return {.encoding = is_opus()           ? audiocast::sample_format::opus
                            : encoding == "L24" ? audiocast::sample_format::l24
                                                : audiocast::sample_format::l16,
                .sample_rate = sample_rate,
                .channels = channels};
    }
};

/// Where SAP is sent or heard: --sap-group ADDR[:PORT] ("239.255.255.255",
/// "224.0.0.56:9875", "ff05::2:7ffe", "[ff05::2:7ffe]:9875").
struct sap_address {
    std::string group;
    std::uint16_t port = audiocast::sap::port;
};

[[nodiscard]] inline sap_address parse_sap_address(const std::string& text)
{
    sap_address out;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':'))
            throw usage_error{"--sap-group '" + text + "' is not ADDR, ADDR:PORT or [IPv6]:PORT"};
        out.group = text.substr(1, close - 1);
        if (close + 1 < text.size()) port = text.substr(close + 2);
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        out.group = text.substr(0, text.find(':'));
        port = text.substr(text.find(':') + 1);
    } else {
        out.group = text; // IPv4 without a port, or a bare IPv6 address
    }
    if (!port.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            throw usage_error{"--sap-group '" + text + "': port '" + port + "' is not 1-65535"};
        out.port = static_cast<std::uint16_t>(value);
    }
    std::error_code ec;
    const auto a = asio::ip::make_address(out.group, ec);
    if (ec || !a.is_multicast())
        throw usage_error{"--sap-group '" + text + "': '" + out.group +
                          "' is not a multicast address"};
    return out;
}

/// --help and --version win over every other argument, valid or not: a user
/// who asks for help gets it, not a complaint about --port 0. Returns the
/// exit code when one of them was given (before any "--"), else nullopt.
[[nodiscard]] inline std::optional<int> help_or_version(const char* program, CLI::App& app,
                                                        int argc, char* argv[])
{
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg{argv[i]};
        if (arg == "--") break;
        if (arg == "--help" || arg == "-h") {
            std::cout << app.help();
            return 0;
        }
        if (arg == "--version") {
            std::cout << program << " " << AUDIOCAST_VERSION_MAJOR << "." << AUDIOCAST_VERSION_MINOR
                      << "." << AUDIOCAST_VERSION_PATCH << " (audiocast)" << std::endl;
            if (const auto missing = missing_features(); !missing.empty())
                std::cout << "built without " << missing << std::endl;
            return 0;
        }
    }
    return std::nullopt;
}

/// A path that names something: "" is refused (it named the default tone,
/// or recorded nothing, without a word).
inline CLI::Validator non_empty_path()
{
    return CLI::Validator{[](std::string& text) -> std::string {
                              return text.empty() ? "an empty path names no file" : std::string{};
                          },
                          "PATH"};
}

/// An RFC 7273 ts-refclk value: local, private, gps, gal, glonass, or
/// ntp=... / ptp=... followed by printable text without spaces (it goes into
/// an SDP line as it is).
inline CLI::Validator refclk_syntax()
{
    return CLI::Validator{
        [](std::string& text) -> std::string {
            const bool visible =
                std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; });
            const bool named =
                text == "local" || text == "private" || text == "gps" || text == "gal" ||
                text == "glonass" ||
                ((text.starts_with("ntp=") || text.starts_with("ptp=")) && text.size() > 4);
            return visible && named ? std::string{}
                                    : "'" + printable(text) +
                                          "' is not an RFC 7273 clock (local, ntp=<server>, "
                                          "ntp=/traceable/, ptp=IEEE1588-2008:<gmid>:<domain>, "
                                          "gps, gal, glonass, private)";
        },
        "CLOCK"};
}

/// A finite number in [low, high]: CLI11's Range lets NaN through, since
/// every comparison with NaN is false.
inline CLI::Validator finite_range(double low, double high)
{
    return CLI::Validator{[low, high](std::string& text) -> std::string {
                              try {
                                  std::size_t used = 0;
                                  const double v = std::stod(text, &used);
                                  if (used == text.size() && std::isfinite(v) && v >= low &&
                                      v <= high)
                                      return {};
                              } catch (const std::logic_error&) {
                              }
                              std::ostringstream range;
                              range << low << " to " << high;
                              return "'" + text + "' is not a number from " + range.str();
                          },
                          "NUMBER"};
}

/// A positive number of seconds, for --duration.
inline CLI::Validator positive_seconds()
{
    return CLI::Validator{[](std::string& text) -> std::string {
                              try {
                                  std::size_t used = 0;
                                  const double v = std::stod(text, &used);
                                  if (used == text.size() && std::isfinite(v) && v > 0 && v <= 1e9)
                                      return {};
                              } catch (const std::logic_error&) {
                              }
                              return "'" + text + "' is not a number of seconds above 0";
                          },
                          "SECONDS>0"};
}

/// The packet time in ms, one of the codec's (--ptime-ms).
inline CLI::Option* add_packet_time(CLI::App& app, int& ms)
{
    return app
        .add_option("--ptime-ms", ms,
                    "Packet time in ms: one of " + audiocast::pcm_packet_times_text() +
                        ". A packet must fit the MTU (--mtu): at 1500 bytes, 48 kHz "
                        "stereo L16 fits 5 ms at most")
        ->check(CLI::IsMember(std::vector<int>(audiocast::pcm_packet_times_ms.begin(),
                                               audiocast::pcm_packet_times_ms.end())))
        ->capture_default_str();
}

/// The codec for `format`, `packet_time` and `mtu`, or a usage_error that
/// says the numbers and what would fit: "10 ms of L16/48000/2 is 1920 bytes;
/// a 1500-byte MTU carries 1444; use --ptime-ms 5 or --mtu 1976".
/// `protection_bytes` is what protection adds to each packet (SRTP's tag):
/// the MTU the message names is still the one the user gave.
inline audiocast::pcm_codec make_codec(const audiocast::audio_format& format,
                                       std::chrono::milliseconds packet_time,
                                       std::size_t mtu = audiocast::default_mtu,
                                       std::size_t protection_bytes = 0)
{
    const audiocast::pcm_config config{.format = format,
                                       .packet_time = packet_time,
                                       .mtu = mtu,
                                       .header_overhead =
                                           audiocast::default_header_overhead + protection_bytes};
    std::error_code ec;
    audiocast::pcm_codec::validate(config, ec);
    if (ec == audiocast::errc::packet_exceeds_mtu) {
        auto roomy = config;
        roomy.mtu = audiocast::max_mtu;
        const std::size_t payload = audiocast::pcm_codec{roomy}.payload_bytes();
        std::string advice;
        for (const int ms : {20, 10, 5, 2, 1}) {
            auto shorter = config;
            shorter.packet_time = std::chrono::milliseconds{ms};
            std::error_code fits;
            audiocast::pcm_codec::validate(shorter, fits);
            if (!fits) {
                advice = "use --ptime-ms " + std::to_string(ms) + " or ";
                break;
            }
        }
        const std::size_t needed = payload + config.header_overhead;
        throw usage_error{
            std::to_string(packet_time.count()) + " ms of " + audiocast::to_string(format) +
            " is " + std::to_string(payload) + " bytes; a " + std::to_string(mtu) +
            "-byte MTU carries " + std::to_string(mtu - config.header_overhead) + "; " + advice +
            (needed <= audiocast::max_mtu ? "--mtu " + std::to_string(needed) + " (jumbo frames)"
                                          : std::string{"a shorter packet"})};
    }
    try {
        return audiocast::pcm_codec{config};
    } catch (const std::system_error& e) {
        throw usage_error{e.what()};
    }
}

/// A packet time in ms as SDP's a=ptime writes it: "5", "2.5".
[[nodiscard]] inline std::string packet_ms_text(std::chrono::microseconds t)
{
    return audiocast::detail::sdp::packet_time_text(t);
}

/// What the server's --bitrate and --frame-ms set for Opus.
struct opus_options {
    std::uint32_t bitrate = 96'000;
    double frame_ms = 20;
    std::string application = "audio"; ///< audio, voip or lowdelay
    bool fec = true;                   ///< in-band FEC (off with --no-fec)
    unsigned expected_loss = 5;        ///< % of packets the encoder protects against
};

/// The codec for `format`: PCM in `packet_time` packets (make_codec()), or
/// Opus in frames of opus.frame_ms at opus.bitrate. A usage_error says what
/// does not fit: Opus takes 48 kHz and 1 or 2 channels.
inline stream_codec make_stream_codec(const audiocast::audio_format& format,
                                      std::chrono::milliseconds packet_time, std::size_t mtu,
                                      const opus_options& opus = {},
                                      std::size_t protection_bytes = 0)
{
    if (format.encoding != audiocast::sample_format::opus)
        return stream_codec{make_codec(format, packet_time, mtu, protection_bytes)};
#if AUDIOCAST_EXAMPLES_HAS_OPUS
    if (format.sample_rate != audiocast::opus_rtp_rate)
        throw usage_error{"Opus takes 48000 Hz audio (RFC 7587), not " +
                          std::to_string(format.sample_rate) + " Hz"};
    const audiocast::opus_config config{
        .channels = format.channels,
        .frame_time = std::chrono::microseconds{std::llround(opus.frame_ms * 1000)},
        .application = opus.application == "voip"       ? audiocast::opus_application::voip
                       : opus.application == "lowdelay" ? audiocast::opus_application::low_delay
                                                        : audiocast::opus_application::audio,
        .bitrate = opus.bitrate,
        // SILK's FEC needs 10 ms frames and more, and no CELT-only mode.
        .inband_fec = opus.fec && opus.frame_ms >= 10 && opus.application != "lowdelay",
        .expected_loss_percent = opus.expected_loss,
        .mtu = mtu,
        .header_overhead = audiocast::opus_config{}.header_overhead + protection_bytes};
    try {
        return stream_codec{audiocast::opus_codec{config}};
    } catch (const std::system_error& e) {
        throw usage_error{e.what()};
    }
#else
    (void)opus;
    require(opus_feature, "an Opus stream");
    return stream_codec{make_codec(format, packet_time, mtu, protection_bytes)}; // not reached
#endif
}

/// Errors of the transport that are the command line's fault: the group, the
/// interface, the TTL. Anything else (the port is taken, the system refuses) is not.
[[nodiscard]] inline bool is_bad_argument(const std::error_code& ec) noexcept
{
    using audiocast::errc;
    return ec == errc::invalid_address || ec == errc::not_multicast_address ||
           ec == errc::address_family_mismatch || ec == errc::no_such_interface ||
           ec == errc::invalid_hops || ec == errc::invalid_port;
}

/// Opens the transport; a refusal that names a bad argument is a usage_error.
inline audiocast::udp_multicast_transport
open_transport(asio::io_context& io, const audiocast::udp_multicast_options& options)
{
    try {
        return audiocast::udp_multicast_transport{io, options};
    } catch (const std::system_error& e) {
        if (is_bad_argument(e.code())) throw usage_error{e.what()};
        throw example_error{std::string{"cannot open the multicast socket: "} + e.what()};
    }
}

/// What an SDP says of SMPTE 2022-1 FEC, as the library's settings, and back.
inline audiocast::parity_fec_config
fec_config_of(const audiocast::stream_description::parity_fec_flows& f)
{
    audiocast::parity_fec_config c;
    c.columns = f.columns;
    c.rows = f.rows;
    c.column_repair = f.column_flow;
    c.row_repair = f.row_flow;
    c.payload_type = f.payload_type;
    return c;
}

inline audiocast::stream_description::parity_fec_flows
fec_flows_of(const audiocast::parity_fec_config& c)
{
    return {.columns = c.columns,
            .rows = c.rows,
            .column_flow = c.column_repair,
            .row_flow = c.row_repair,
            .payload_type = c.payload_type};
}

/// The group's RTP port `media`, with --fec's repair flows beside it when
/// asked for; a sender protects, a listener rebuilds. Without --fec it is
/// the RTP port alone.
inline fec_transport open_fec_transport(asio::io_context& io, const network_options& net,
                                        const audiocast::udp_multicast_options& media, bool sender)
{
    const auto fec = net.fec();
    if (!fec) return fec_transport::unprotected(open_transport(io, media));
    const auto flow = [&](bool rows) -> std::optional<audiocast::udp_multicast_transport> {
        if (!(rows ? fec->row_repair : fec->column_repair)) return std::nullopt;
        auto o = net.repair(rows, !sender, media.hops);
        o.receive_buffer_bytes = media.receive_buffer_bytes;
        return open_transport(io, o);
    };
    auto columns = flow(false);
    auto rows = flow(true);
    if (sender)
        return fec_transport::sender(open_transport(io, media), std::move(columns), std::move(rows),
                                     *fec);
    return fec_transport::receiver(open_transport(io, media), std::move(columns), std::move(rows),
                                   *fec);
}

/// The stream's media transport: open_fec_transport(), with SRTP over it
/// when the network options carry a key.
inline multicast_transport open_media_transport(asio::io_context& io, const network_options& net,
                                                const audiocast::udp_multicast_options& media,
                                                bool sender)
{
    auto inner = open_fec_transport(io, net, media, sender);
#if AUDIOCAST_EXAMPLES_HAS_SRTP
    if (!net.srtp) return multicast_transport::unprotected(std::move(inner));
    return multicast_transport{std::move(inner), *net.srtp, audiocast::srtp_flow::media};
#else
    return inner; // srtp_options::resolve() refused --srtp
#endif
}

/// The stream's control transport: RTCP on port + 1, as SRTCP with --srtp.
inline multicast_transport open_control_transport(asio::io_context& io, const network_options& net,
                                                  int hops = 1)
{
    auto inner = fec_transport::unprotected(open_transport(io, net.control(hops)));
#if AUDIOCAST_EXAMPLES_HAS_SRTP
    if (!net.srtp) return multicast_transport::unprotected(std::move(inner));
    return multicast_transport{std::move(inner), *net.srtp, audiocast::srtp_flow::control};
#else
    return inner;
#endif
}

/// Runs `body` (which parses `app` and does the work) and turns what it
/// throws into one line on stderr and the exit code: 0 for --help, 2 for a
/// bad argument, 1 for any other failure.
template <class Body>
int run_main(const char* program, CLI::App& app, Body&& body)
{
    try {
        return body();
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << program << ": " << e.what() << " (see --help)\n";
        return exit_usage;
    } catch (const usage_error& e) {
        std::cerr << program << ": " << e.what() << " (see --help)\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << program << ": " << e.what() << '\n';
        return exit_failure;
    }
}

} // namespace audiocast_examples
