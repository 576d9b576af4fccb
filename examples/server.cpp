// audiocast-server: streams a tone, a sound file or a capture device to a
// multicast group as RTP, paced at the audio rate, with PLAY, PAUSE, STATUS
// and QUIT on its console.
//
//   audiocast-server                              a 440 Hz tone to 239.255.0.1:5004
//   audiocast-server --file song.wav --loop       a file, again and again
//   audiocast-server --capture --rate 44100       the default input device
//
// Run `audiocast-server --help` for every option. Pause semantics are the
// library's (docs/architecture.md, "Pause and resume"): PAUSE stops the packets and keeps
// the source where it is; PLAY resumes from there, and listeners re-anchor
// their playout on the first packet after it.
#include "support/audio_device.hpp"
#include "support/command_line.hpp"
#include "support/console.hpp"
#include "support/example_error.hpp"
#include "support/interface_address.hpp"
#include "support/sound_file.hpp"
#include "support/sources.hpp"
#include "support/srtp_options.hpp"
#include "support/text.hpp"
#include "support/untrusted_text.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/host_name.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#if defined(__linux__)
#include <sys/timex.h>
#endif

namespace {

using namespace std::chrono_literals;
using namespace audiocast_examples;

constexpr const char* program = "audiocast-server";

struct server_options {
    network_options network;
    format_options format;
    int packet_time_ms = 5;
    opus_options opus;                        ///< --bitrate, --frame-ms
    std::size_t mtu = audiocast::default_mtu; ///< --mtu: the path's, in bytes
    std::size_t protection_bytes = 0;         ///< what SRTP adds to each packet
    int ttl = 1;
    std::optional<double> tone_hz;
    std::string file;
    bool loop = false;
    std::optional<std::string> capture; ///< a device index, or "" for the default
    std::optional<double> duration_s;
    bool quiet = false;
    std::string name;
    std::string sdp;
    bool sap = false;
    bool sap_announces_key = false;      ///< --sap-announces-key: SAP may carry an SRTP key
    srtp_options srtp;                   ///< --srtp, --srtp-suite, --key, --key-file
    std::optional<std::uint32_t> ssrc;   ///< --ssrc; unset: a random one (RFC 3550)
    bool plain_rtp = false;              ///< --plain-rtp: no header extension, no a=extmap
    std::string ts_refclk = "local";     ///< --ts-refclk: the SDP's a=ts-refclk (RFC 7273)
    std::optional<int> playout_delay_ms; ///< --playout-delay-ms: the SDP's common latency D
    double sap_interval_s = 5;
    std::optional<sap_address> sap_group;    ///< --sap-group; unset: the scope's own
    audiocast::stream_thread_options pacing; ///< --timer-slack-us, --spin-us, --realtime-priority
};

// ---- the server ------------------------------------------------------------

class server {
public:
    server(const server_options& opt, std::unique_ptr<source> src, const stream_codec& codec)
        : opt_{opt}, source_{std::move(src)},
          stream_{open_media_transport(sockets_io_, opt.network, opt.network.media(false, opt.ttl),
                                       true),
                  open_control_transport(sockets_io_, opt.network, opt.ttl), codec,
                  audiocast::steady_clock{}, sender_config_for(*source_, opt)},
          thread_{stream_, opt.pacing}, signals_{io_, SIGINT, SIGTERM}, duration_timer_{io_}
    {
#if defined(SIGHUP)
        signals_.add(SIGHUP);
#endif
    }

    /// --ts-refclk promises listeners that this host's wall clock is the one
    /// they follow; the kernel knows whether NTP or PTP keeps it so.
    static void warn_if_clock_unsynchronized()
    {
#if defined(__linux__)
        struct timex t{};
        if (::ntp_adjtime(&t) == TIME_ERROR)
            std::cerr << program
                      << ": warning: --ts-refclk says listeners share this host's clock, but the "
                         "kernel says no time service keeps it synchronized (adjtimex: "
                         "TIME_ERROR); listeners that trust the SDP will play apart by however "
                         "far the clocks are"
                      << std::endl;
#endif // elsewhere no call says it portably; the user is trusted
    }

    /// "packets", or for Opus "frames at 96000 bit/s", for the first line.
    [[nodiscard]] std::string packet_kind() const
    {
#if AUDIOCAST_EXAMPLES_HAS_OPUS
        if (const auto* opus = stream_.codec().opus())
            return "frames at " + std::to_string(opus->bitrate()) + " bit/s";
#endif
        return "packets";
    }

    /// The stream as SDP describes it (RFC 8866), for --sdp and SAP.
    [[nodiscard]] audiocast::stream_description description() const
    {
        audiocast::stream_description d;
        d.name = opt_.name;
        d.origin_address = origin() ? origin()->to_string() : std::string{};
        d.session_id = session_id_;
        d.group = opt_.network.group;
        d.source = opt_.network.source;
        d.ttl = opt_.ttl;
        d.port = opt_.network.port;
        d.payload_type = stream_.sender().payload_type();
        d.format = stream_.format();
        d.packet_time = stream_.codec().nominal_packet_time();
        d.format_parameters = stream_.codec().sdp_format_parameters();
        if (stream_.sender().config().send_time_extension)
            d.send_time_extension_id = stream_.sender().config().send_time_extension_id;
        // RFC 7273. On its own clock the media clock is direct from the
        // stream's start (what AES67 receivers look for); on a shared one the
        // reports tie it to that clock: the RTP timestamps are not derived
        // from the shared clock's epoch, so direct would be untrue.
        d.reference_clock = opt_.ts_refclk;
        if (opt_.playout_delay_ms)
            d.playout_delay = std::chrono::milliseconds{*opt_.playout_delay_ms};
        if (!audiocast::shares_wall_clock(d))
            d.media_clock_offset = stream_.sender().initial_timestamp();
        if (const auto fec = opt_.network.fec()) d.fec = fec_flows_of(*fec);
        if (const auto& key = opt_.network.srtp)
            d.crypto = {std::string{audiocast::srtp_suite_name(key->suite())}, key->base64()};
        d.tool = "audiocast " + std::to_string(AUDIOCAST_VERSION_MAJOR) + "." +
                 std::to_string(AUDIOCAST_VERSION_MINOR) + "." +
                 std::to_string(AUDIOCAST_VERSION_PATCH);
        return d;
    }

    int run()
    {
        const audiocast::audio_format& f = stream_.format();
        if (audiocast::shares_wall_clock(description())) warn_if_clock_unsynchronized();
        if (!opt_.sdp.empty()) write_sdp();
        if (!opt_.quiet) {
            // Through the console's writer, like every line while streaming:
            // a stdout nobody reads must not hold the stream or its end.
            std::ostringstream out;
            out << program << ": streaming " << source_->describe() << " as "
                << audiocast::to_string(f) << " in "
                << packet_ms_text(stream_.codec().nominal_packet_time()) << " ms " << packet_kind()
                << " (RTP PT " << int{stream_.sender().payload_type()} << ") to "
                << opt_.network.where() << ", TTL " << opt_.ttl << '\n'
                << "  listen with: audiocast-client --group " << opt_.network.group << " --port "
                << opt_.network.port
                << (opt_.network.multicast_interface.empty()
                        ? ""
                        : " --interface " + opt_.network.multicast_interface)
                << " --format " << audiocast::encoding_name(f.encoding) << " --rate "
                << f.sample_rate << " --channels " << f.channels
                << (opt_.network.fec_text.empty() ? "" : " --fec " + opt_.network.fec_text) << '\n'
                << fec_text() << srtp_text() << "  console: PLAY, PAUSE, STATUS, QUIT";
            replies_.reply(out.str());
        }
        // The stream's thread runs the refill and everything else the stream
        // does; what ends the run is handed back to the io_context.
        thread_.on_refill([this](multicast_sender& s) {
            if (end_posted_) return;
            // A source that fails (a corrupt or truncated file) ends the run
            // like any other end: what was queued goes out, then BYE and the
            // SAP withdrawal, and the program says why and exits 1.
            try {
                source_->fill(s);
            } catch (const std::exception& e) {
                source_error_ = printable(e.what(), 200);
                std::cerr << program << ": " << source_error_ << std::endl;
                end_from_stream("the source failed");
                return;
            }
            note_schedule_slips(s.sender().stats());
            if (source_->exhausted() && s.sender().queued_packets() == 0)
                end_from_stream("the file has been sent");
        });
        thread_.on_error([this](std::error_code ec) {
            if (send_errors_++ == 0)
                std::cerr << program << ": sending failed: " << ec.message()
                          << " (further failures are counted in STATUS)" << std::endl;
        });
        signals_.async_wait([this](std::error_code ec, int signal) {
            // SIGHUP: the terminal or ssh session closed; stop as cleanly.
            if (!ec)
                finish(signal == SIGINT    ? "interrupted"
                       : signal == SIGTERM ? "terminated"
                                           : "hung up");
        });
        if (opt_.duration_s) {
            duration_timer_.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::duration<double>{*opt_.duration_s}));
            duration_timer_.async_wait([this](std::error_code ec) {
                if (!ec) finish("the duration has passed");
            });
        }
        if (opt_.sap) start_announcing();
        console_.emplace(
            io_, [this](std::string line) { command(line); },
            [this] {
                if (!opt_.quiet && !finished_)
                    std::cerr << program << ": the console closed; streaming on "
                              << "(SIGINT, SIGTERM or SIGHUP stops)" << std::endl;
            });

        source_->start(stream_);
        thread_.start(); // throws when the options or the real-time priority are refused
        io_.run();
        thread_.stop();

        console_->stop();
        source_->stop();
        // BYE: listeners learn at once that the stream ended (RFC 3550 §6.6),
        // and the announcement is withdrawn (RFC 2974 §3.2.1).
        // The BYE waits for the last packet to be read: a receiver that reads
        // RTCP and RTP from two sockets (ffmpeg) may take a BYE that overtook
        // the last packet for the end and drop that packet.
        if (stream_.sender().stats().packets_sent != 0) std::this_thread::sleep_for(50ms);
        std::error_code bye_ec;
        stream_.leave(bye_ec, why_);
        if (sap_) announce(true);
        if (!opt_.quiet) replies_.reply(std::string{program} + ": " + why_ + "; " + status());
        // Failed sends are reported as they happen and in the status line; the
        // run failed only if nothing at all could be sent.
        const auto& sent = stream_.sender().stats();
        if (!source_error_.empty()) return exit_failure;
        return sent.packets_send_failed != 0 && sent.packets_send_failed == sent.packets_sent
                   ? exit_failure
                   : 0;
    }

    server(const server&) = delete;
    server& operator=(const server&) = delete;
    // The source's device stops first, so no callback pushes into a stream
    // being destroyed, whatever path left run().
    ~server() { source_->stop(); }

private:
    static audiocast::sender_config sender_config_for(const source& s, const server_options& opt)
    {
        audiocast::sender_config c;
        c.pacing = s.pacing();
        // Plain RTP: receivers that ignore the X bit (PipeWire 0.3) would
        // read the send-time extension as audio.
        c.send_time_extension = !opt.plain_rtp;
        c.ssrc = opt.ssrc;
        return c;
    }

    void command(std::string line)
    {
        // Surrounding blanks are ignored; the word itself is taken in any case.
        const auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
        const auto first = std::find_if_not(line.begin(), line.end(), blank);
        const auto last = std::find_if_not(line.rbegin(), line.rend(), blank).base();
        std::string word;
        for (auto c = first; c < last; ++c)
            word += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
        if (word == "PLAY" || word == "PAUSE" || word == "STATUS") {
            // The stream belongs to its thread: the command runs there, and
            // the reply goes to the console's writer, which any thread may use.
            thread_.post([this, word](multicast_sender& s) {
                const std::string at = clock_text(s.sender().position(), s.format().sample_rate);
                if (word == "STATUS") {
                    replies_.reply(status());
                } else if (word == "PLAY") {
                    if (!s.paused()) return replies_.reply("already playing, at " + at);
                    s.play();
                    replies_.reply("PLAYING from " + at);
                } else {
                    if (s.paused()) return replies_.reply("already paused, at " + at);
                    s.pause();
                    replies_.reply("PAUSED at " + at);
                }
            });
        } else if (word == "QUIT") {
            finish("quit");
        } else {
            replies_.reply("commands: PLAY, PAUSE, STATUS, QUIT (one per line, any case)");
        }
    }

    /// On the stream's thread, or after it stopped.
    [[nodiscard]] std::string status()
    {
        const audiocast::sender_stats& s = stream_.sender().stats();
        const char* state = finished_ && source_->exhausted() ? "finished"
                            : stream_.paused()                ? "paused"
                                                              : "playing";
        char text[256];
        std::snprintf(
            text, sizeof text,
            "%s at %s; sent %llu packets, %llu payload bytes; lateness p50 %.3f ms, p99 %.3f "
            "ms, max %.3f ms",
            state, clock_text(stream_.sender().position(), stream_.format().sample_rate).c_str(),
            static_cast<unsigned long long>(s.packets_sent),
            static_cast<unsigned long long>(s.payload_bytes_sent), in_ms(s.lateness.percentile(50)),
            in_ms(s.lateness.percentile(99)), in_ms(s.lateness.max()));
        std::string line = text;
        line += "; " + listeners();
        if (s.packets_send_failed != 0)
            line += "; " + std::to_string(s.packets_send_failed) + " sends failed";
        if (s.schedule_slips != 0) {
            // The whole gap, frames too: the last slip's warning may not
            // have been said yet (at most one a second).
            char slipped[96];
            std::snprintf(slipped, sizeof slipped, "; %llu schedule slips (%.1f ms, %llu frames)",
                          static_cast<unsigned long long>(s.schedule_slips), in_ms(s.slipped),
                          static_cast<unsigned long long>(
                              audiocast::frames_in(s.slipped, stream_.format().sample_rate)));
            line += slipped;
        }
        if (const auto& e = fec_layer(stream_.transport()).encoder()) {
            line += "; FEC repairs sent " +
                    std::to_string(e->stats().row_repairs + e->stats().column_repairs);
            if (const auto failed = fec_layer(stream_.transport()).stats().repair_send_failures;
                failed != 0)
                line += " (" + std::to_string(failed) + " failed)";
        }
#if AUDIOCAST_EXAMPLES_HAS_SRTP
        if (const auto failed = stream_.transport().stats().protect_failures; failed != 0)
            line += "; SRTP could not protect " + std::to_string(failed) + " packets";
        // Listeners' reports come as SRTCP: what failed its checks is no listener's.
        if (const auto c = stream_.control_transport().stats();
            c.unauthenticated + c.replayed + c.malformed != 0)
            line += "; SRTCP refused " +
                    std::to_string(c.unauthenticated + c.replayed + c.malformed) +
                    " RTCP packets (unauthenticated " + std::to_string(c.unauthenticated) +
                    ", replayed " + std::to_string(c.replayed) + ")";
#endif
        // One line of the whole, then a line for each listener: whatever is
        // added to the whole goes before the listener lines, or it would read
        // as the last listener's.
        return line + source_->status() + each_listener();
    }

    /// The line that says how --srtp protects the stream, with its newline;
    /// empty without it. Never the key.
    [[nodiscard]] std::string srtp_text() const
    {
        const auto& key = opt_.network.srtp;
        if (!key) return {};
        return "  SRTP: " + std::string{audiocast::srtp_suite_name(key->suite())} +
               (opt_.srtp.key_given() ? "; listeners need the same key"
                : opt_.sdp.empty() ? "; a fresh key that no listener has (give --sdp or --key-file)"
                                   : "; a fresh key, in the SDP") +
               (opt_.sdp.empty() ? "" : " (the SDP holds the key: keep it secret)") + "\n";
    }

    /// The line that says what --fec adds, with its newline; empty without it.
    [[nodiscard]] std::string fec_text() const
    {
        const auto fec = opt_.network.fec();
        if (!fec) return {};
        char text[256];
        std::snprintf(text, sizeof text,
                      "  FEC: SMPTE 2022-1, %u x %u%s, %.0f %% more packets; columns on port %u, "
                      "rows on port %u; a packet is rebuilt up to %u packets late\n",
                      unsigned{fec->columns}, unsigned{fec->rows},
                      fec->row_repair && fec->column_repair ? ""
                      : fec->row_repair                     ? " (rows only)"
                                                            : " (columns only)",
                      audiocast::overhead(*fec) * 100, unsigned{opt_.network.port} + 2u,
                      unsigned{opt_.network.port} + 4u, audiocast::parity_fec_repair_delay(*fec));
        return text;
    }

    /// What the listeners' RTCP reports say: "3 listeners (worst loss 0.0 %,
    /// worst jitter 0.021 ms, round trip up to 0.4 ms)".
    [[nodiscard]] std::string listeners()
    {
        const audiocast::listener_summary sum = stream_.sender().summarize(stream_.clock().now());
        std::string text =
            std::to_string(sum.listeners) + (sum.listeners == 1 ? " listener" : " listeners");
        if (sum.listeners == 0) return text + " reporting";
        if (sum.reporting == 0) return text + " (no reports on this stream yet)";
        char figures[200];
        std::snprintf(figures, sizeof figures,
                      " (%zu reporting: worst loss %.1f %%, %lld lost; worst jitter %.3f ms",
                      sum.reporting, 100.0 * sum.worst_fraction_lost,
                      static_cast<long long>(sum.worst_cumulative_lost), in_ms(sum.worst_jitter));
        text += figures;
        if (sum.worst_round_trip) {
            std::snprintf(figures, sizeof figures, "; round trip up to %.3f ms",
                          in_ms(*sum.worst_round_trip));
            text += figures;
        }
        return text + ")";
    }

    /// A line for each listener (the first max_listed): its name, its round
    /// trip (RFC 3550, from its last report), and for one that asks for our
    /// clock, how far its estimate of it can be off: half the shortest of its
    /// recent round trips, since its estimate rests on its fastest trips and
    /// takes their midpoint for our time.
    [[nodiscard]] std::string each_listener()
    {
        static constexpr std::size_t max_listed = 20;
        std::string text;
        std::size_t listed = 0, more = 0;
        for (const audiocast::participant& l : stream_.sender().listeners()) {
            if (listed == max_listed) {
                ++more;
                continue;
            }
            ++listed;
            char ssrc[16];
            std::snprintf(ssrc, sizeof ssrc, "%08x", static_cast<unsigned>(l.ssrc));
            text += "\n  " + (l.cname().empty() ? std::string{ssrc} : printable(l.cname())) + ": ";
            char figures[160];
            if (l.round_trip)
                std::snprintf(figures, sizeof figures, "round trip %.3f ms", in_ms(*l.round_trip));
            else
                std::snprintf(figures, sizeof figures, "no round trip yet");
            text += figures;
            if (l.clock_questions > 0) {
                if (const auto shortest = l.shortest_recent_round_trip())
                    std::snprintf(figures, sizeof figures,
                                  "; in step by our clock (%llu questions), its estimate within "
                                  "+-%.3f ms",
                                  static_cast<unsigned long long>(l.clock_questions),
                                  in_ms(*shortest) / 2);
                else
                    std::snprintf(figures, sizeof figures,
                                  "; in step by our clock (%llu questions)",
                                  static_cast<unsigned long long>(l.clock_questions));
                text += figures;
            }
        }
        if (more > 0) text += "\n  and " + std::to_string(more) + " more";
        return text;
    }

    /// SAP (RFC 2974): the stream's SDP on the well-known group of its
    /// family and scope, repeated every --sap-interval, withdrawn at the end.
    void start_announcing()
    {
        std::error_code ec;
        const auto group = asio::ip::make_address(opt_.network.group, ec);
        audiocast::udp_multicast_options o = opt_.network.media(false, opt_.ttl);
        o.port = audiocast::sap::port;
        if (!ec && group.is_v4()) {
            const auto b = group.to_v4().to_bytes();
            o.group = audiocast::sap::ipv4_group_for({b[0], b[1], b[2], b[3]});
        } else if (!ec) {
            o.group = audiocast::sap::ipv6_group(group.to_v6().to_bytes()[1] & 0x0F);
        }
        if (opt_.sap_group) {
            o.group = opt_.sap_group->group;
            o.port = opt_.sap_group->port;
        }
        sap_.emplace(open_transport(io_, o));
        sap_text_ = audiocast::to_sdp(description());
        const std::optional<asio::ip::address> from = origin();
        if (from && from->is_v4()) {
            const auto b = from->to_v4().to_bytes();
            std::memcpy(sap_origin_.data(), b.data(), 4);
            sap_origin_size_ = 4;
        } else if (from) {
            const auto b = from->to_v6().to_bytes();
            std::memcpy(sap_origin_.data(), b.data(), 16);
            sap_origin_size_ = 16;
        } else {
            sap_origin_size_ = group.is_v6() ? 16 : 4; // unknown: all zeros
        }
        announcer_.emplace(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::duration<double>{opt_.sap_interval_s}),
                           session_id_);
        announcer_->start(stream_.clock().now());
        announce_round();
    }

    void announce_round()
    {
        if (announcer_->due(stream_.clock().now())) {
            announce(false);
            announcer_->sent(stream_.clock().now());
        }
        sap_timer_.expires_at(std::chrono::steady_clock::time_point{
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                announcer_->next().time_since_epoch())});
        sap_timer_.async_wait([this](std::error_code ec) {
            if (!ec) announce_round();
        });
    }

    void announce(bool deletion)
    {
        std::vector<std::byte> packet(sap_text_.size() + 64);
        std::error_code ec;
        const std::size_t n = audiocast::sap::write(
            packet, deletion, sap_hash(),
            std::span<const std::byte>{sap_origin_.data(), sap_origin_size_}, sap_text_, ec);
        if (!ec) sap_->send(std::span<const std::byte>{packet.data(), n}, ec);
        if (ec && sap_errors_++ == 0)
            std::cerr << program << ": the SAP announcement could not be sent: " << ec.message()
                      << std::endl;
    }

    /// Where the stream comes from, for SDP's o= and SAP's origin: the
    /// interface's address (given as one, or looked up by its name) in the
    /// group's family; nullopt when it is the system's choice.
    [[nodiscard]] std::optional<asio::ip::address> origin() const
    {
        std::error_code ec;
        if (!opt_.network.source.empty()) {
            const auto source = asio::ip::make_address(opt_.network.source, ec);
            if (!ec) return source; // packets and announcements leave from it
        }
        const auto group = asio::ip::make_address(opt_.network.group, ec);
        const bool v6 = !ec && group.is_v6();
        const auto given = asio::ip::make_address(opt_.network.multicast_interface, ec);
        if (!ec) return given;
        return address_of_interface(opt_.network.multicast_interface, v6);
    }

    /// The message id hash, never 0 (RFC 2974 §5 lets listeners ignore 0).
    [[nodiscard]] std::uint16_t sap_hash() const noexcept
    {
        const auto h = static_cast<std::uint16_t>(session_id_ ^ (session_id_ >> 16));
        return h == 0 ? 1 : h;
    }

    void write_sdp() const
    {
        // With a=crypto the description is as secret as the key: it never
        // lands, even for a moment, in a file others may read.
        const std::string text = audiocast::to_sdp(description());
        if (opt_.network.srtp)
            write_secret_file(opt_.sdp, text);
        else
            write_whole_file(opt_.sdp, text);
    }

    // From the stream's thread: a slipped schedule is a gap every listener
    // hears, so it is said when it happens (at most once a second), on the
    // io_context's thread: a slow stderr must not hold the stream.
    void note_schedule_slips(const audiocast::sender_stats& s)
    {
        if (s.schedule_slips == slips_said_) return;
        const auto now = std::chrono::steady_clock::now();
        if (slips_said_ != 0 && now - slips_said_at_ < std::chrono::seconds{1}) return;
        const std::uint64_t slips = s.schedule_slips;
        const double gap_ms = in_ms(s.slipped - slipped_said_);
        const double total_ms = in_ms(s.slipped);
        const std::uint64_t gap_frames =
            audiocast::frames_in(s.slipped - slipped_said_, stream_.format().sample_rate);
        slips_said_ = slips;
        slipped_said_ = s.slipped;
        slips_said_at_ = now;
        asio::post(io_, [slips, gap_ms, gap_frames, total_ms] {
            char text[320];
            std::snprintf(
                text, sizeof text,
                ": warning: sending fell behind and skipped %.1f ms ahead (%llu frames): every "
                "listener hears a gap (%llu %s so far, %.1f ms in all); this host did "
                "not run the stream's thread in time",
                gap_ms, static_cast<unsigned long long>(gap_frames),
                static_cast<unsigned long long>(slips), slips == 1 ? "time" : "times", total_ms);
            std::cerr << program << text << std::endl;
        });
    }

    // From the stream's thread: the end is the io_context's to carry out.
    void end_from_stream(const char* why)
    {
        end_posted_ = true;
        asio::post(io_, [this, why] { finish(why); });
    }

    void finish(const char* why)
    {
        if (finished_) return;
        finished_ = true;
        why_ = why;
        std::error_code ignored;
        signals_.cancel(ignored);
        duration_timer_.cancel();
        sap_timer_.cancel();
        io_.stop();
    }

    const server_options& opt_;
    // Declared first so that it outlives every socket and timer on it.
    asio::io_context io_{1};
    // The stream's sockets, which its own thread waits on. Their io_context is
    // never run: were they on io_, its thread would wake for every listener's report.
    asio::io_context sockets_io_{1};
    std::unique_ptr<source> source_;
    multicast_sender stream_;
    audiocast::stream_thread<multicast_sender> thread_;
    asio::signal_set signals_;
    asio::steady_timer duration_timer_;
    asio::steady_timer sap_timer_{io_};
    std::optional<audiocast::udp_multicast_transport> sap_;
    std::optional<audiocast::sap::sap_announcer> announcer_;
    std::string sap_text_;
    std::array<std::byte, 16> sap_origin_{};
    std::size_t sap_origin_size_ = 4;
    std::uint64_t sap_errors_ = 0;
    std::optional<console_reader> console_;
    console_writer replies_;
    std::string source_error_; ///< why the source failed; empty while it works
    std::uint64_t send_errors_ = 0;
    // The stream thread's own: the schedule slips already warned of.
    std::uint64_t slips_said_ = 0;
    std::chrono::nanoseconds slipped_said_{};
    std::chrono::steady_clock::time_point slips_said_at_{};
    std::uint64_t session_id_ = std::random_device{}();
    std::atomic<bool> finished_{false}; ///< set on the io_context, read by status()
    bool end_posted_ = false;           ///< the stream's thread asked for the end
    std::string why_ = "stopped";
};

/// The source the options name, and the stream format it sets.
std::unique_ptr<source> make_source(const server_options& opt, audiocast::audio_format& format,
                                    std::chrono::milliseconds packet_time)
{
    format = opt.format.format();
    if (!opt.file.empty()) {
        if (opt.format.rate_option->count() != 0 || opt.format.channels_option->count() != 0)
            throw usage_error{"--rate and --channels do not apply to --file: a file keeps its "
                              "own rate and channels"};
        auto reader = std::make_unique<sound_file_reader>(opt.file);
        format.sample_rate = reader->sample_rate();
        format.channels = reader->channels();
        if (opt.format.encoding_option->count() == 0) format.encoding = reader->natural_encoding();
        const std::size_t block =
            make_stream_codec(format, packet_time, opt.mtu, opt.opus, opt.protection_bytes)
                .frames_per_packet() *
            16; // a read every 16 packets
        if (reader->is_float())
            return std::make_unique<file_source<float>>(std::move(reader), opt.loop, block);
        return std::make_unique<file_source<std::int32_t>>(std::move(reader), opt.loop, block);
    }
    const std::size_t packet_frames =
        make_stream_codec(format, packet_time, opt.mtu, opt.opus, opt.protection_bytes)
            .frames_per_packet();
    if (opt.capture) {
        // A number or a name (see --list-devices); "" is the default device.
        const std::optional<std::string> device =
            opt.capture->empty() ? std::nullopt : std::optional<std::string>{*opt.capture};
#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO
        return std::make_unique<capture_source>(device, format, packet_frames);
#else
        (void)device;
        require(audio_device_feature, "--capture");
#endif
    }
    const double hz = opt.tone_hz.value_or(440.0);
    if (!(hz > 0) || hz >= format.sample_rate / 2.0) {
        char text[128];
        std::snprintf(text, sizeof text,
                      "--tone %g Hz is outside 0-%u Hz (below half the sample rate)", hz,
                      format.sample_rate / 2);
        throw usage_error{text};
    }
    return std::make_unique<tone_source>(hz, format, packet_frames);
}

} // namespace

int main(int argc, char* argv[])
{
    // stdout may be a pipe that closes; the stream goes on.
#if defined(SIGPIPE)
    std::signal(SIGPIPE, SIG_IGN);
#endif
#if defined(SIGTTIN)
    // Started in the background of a terminal, a read of the console would
    // stop the whole process (SIGTTIN); ignored, the read fails and the
    // console ends, and streaming goes on.
    std::signal(SIGTTIN, SIG_IGN);
#endif
    ensure_standard_streams();

    server_options opt;
    CLI::App app{"audiocast-server: streams a tone, a sound file or a capture device to an IP "
                 "multicast group as RTP (L16, L24 or Opus). Console: PLAY, PAUSE, STATUS, QUIT.",
                 program};
    opt.network.add_to(app);
    opt.network.add_source_to(
        app, "Send from this address of the host, and name it in the SDP and SAP announcement "
             "(a=source-filter, RFC 4570), so that listeners can join for this sender alone");
    opt.network.add_fec_to(
        app, "Forward error correction, SMPTE 2022-1 (as GStreamer's rtpst2022-1-fecenc): LxD "
             "sends a repair packet for each row of L packets and each column of a matrix D "
             "deep (10x10: 20 % more packets), on port + 4 and port + 2; LxDc columns only, Lr "
             "rows only. Listeners need --fec too, and latency for D x L x 2 packets");
    opt.format.add_to(app);
    auto* ptime = add_packet_time(app, opt.packet_time_ms);
    auto* bitrate = app.add_option("--bitrate", opt.opus.bitrate,
                                   "With --codec opus: the encoder's bitrate in bit/s, 6000-510000")
                        ->capture_default_str();
#if AUDIOCAST_EXAMPLES_HAS_OPUS
    bitrate->check(within(audiocast::opus_bitrate_limit));
#endif
    auto* application =
        app.add_option("--application", opt.opus.application,
                       "With --codec opus: what the encoder is tuned for: audio (music and "
                       "mixed), voip (speech) or lowdelay (2.5 ms less delay, no speech mode, "
                       "no in-band FEC)")
            ->transform(CLI::IsMember({"audio", "voip", "lowdelay"}, CLI::ignore_case))
            ->capture_default_str();
    bool no_fec = false;
    auto* no_fec_flag = app.add_flag("--no-fec", no_fec,
                                     "With --codec opus: no in-band FEC (each packet then "
                                     "carries no copy of the one before)");
    auto* expected_loss =
        app.add_option("--expected-loss", opt.opus.expected_loss,
                       "With --codec opus: the % of packets the network loses, which the "
                       "encoder protects against (more in-band FEC, at the cost of bitrate)")
            ->check(CLI::Range(0, 100))
            ->capture_default_str();
    auto* frame_ms = app.add_option("--frame-ms", opt.opus.frame_ms,
                                    "With --codec opus: ms of audio a packet carries: 2.5, 5, "
                                    "10, 20, 40 or 60 (in-band FEC needs 10 or more)")
                         ->check(CLI::IsMember({2.5, 5.0, 10.0, 20.0, 40.0, 60.0}))
                         ->capture_default_str();
    app.add_option("--mtu", opt.mtu,
                   "The network path's MTU in bytes: a packet (audio + 56 bytes of IP, UDP and "
                   "RTP headers) must fit it. 9000 on a jumbo-frame LAN")
        ->check(within(audiocast::mtu_limit))
        ->capture_default_str();
    app.add_option("--ttl", opt.ttl, "IPv4 TTL or IPv6 hop limit (1: the local network)")
        ->check(within(audiocast::multicast_hops_limit))
        ->capture_default_str();
    auto* tone = app.add_option("--tone", opt.tone_hz,
                                "Stream a sine of this frequency in Hz (the default source, 440)");
    auto* file = app.add_option("--file", opt.file,
                                std::string{"Stream a sound file ("} + readable_sound_files +
                                    "); it keeps its rate and channels")
                     ->check(non_empty_path());
    auto* capture =
        app.add_option(
               "--capture", opt.capture,
               "Stream an audio input device (RtAudio): the default one, or DEVICE by number "
               "or by (part of) its name (see --list-devices)")
            ->expected(0, 1)
            ->default_str("");
    tone->excludes(file)->excludes(capture);
    file->excludes(capture);
    app.add_flag("--loop", opt.loop, "With --file: start again at the end")->needs(file);
    app.add_option("--duration", opt.duration_s,
                   "Stop after this many seconds (default: at the end of the file, or never)")
        ->check(positive_seconds());
    app.add_flag("--quiet", opt.quiet, "Print only errors and the replies to console commands");
    opt.name = "audiocast on " + asio::ip::host_name();
    app.add_option("--name", opt.name, "The stream's name in its SDP (s=) and SAP announcement")
        ->capture_default_str();
    app.add_flag("--sap", opt.sap,
                 "Announce the stream with SAP (RFC 2974) on 239.255.255.255:9875 (IPv6: "
                 "ff0X::2:7ffe), for audiocast-client --discover and other SAP listeners");
    std::string sap_group_text;
    auto* sap_group = app.add_option(
        "--sap-group", sap_group_text,
        "Announce on this SAP group instead, ADDR[:PORT] or [IPv6]:PORT (default port 9875): "
        "224.0.0.56 is where PipeWire's RTP modules listen. Implies --sap");
    app.add_flag("--sap-announces-key", opt.sap_announces_key,
                 "With --srtp and --sap: announce the SDP with its a=crypto key, to every host "
                 "that listens for SAP (without this, --srtp refuses --sap)");
    opt.srtp.add_to(app, true);
    app.add_option("--ssrc", opt.ssrc,
                   "The stream's RTP SSRC, 0-4294967295 (default: a random one, as RFC 3550 "
                   "asks), for receivers that must be told it, such as GStreamer's srtpdec");
    app.add_option("--sap-interval", opt.sap_interval_s,
                   "Seconds between SAP announcements (randomized by a third)")
        ->check(finite_range(1.0, 3600.0))
        ->capture_default_str();
    app.add_flag("--plain-rtp", opt.plain_rtp,
                 "Send plain RTP, without the send-time header extension (and no a=extmap in the "
                 "SDP), for receivers that mishandle extensions, such as PipeWire 0.3 (it plays "
                 "them as audio); listeners then measure latency from the sender reports");
    app.add_option("--ts-refclk", opt.ts_refclk,
                   "The clock this host's wall clock follows, for the SDP's a=ts-refclk (RFC "
                   "7273): local (none), ntp=<server>, ntp=/traceable/, "
                   "ptp=IEEE1588-2008:<grandmaster>:<domain>, gps. A shared one lets "
                   "listeners whose clocks follow it too play in step by the sender's reports "
                   "alone (audiocast-client --sdp then synchronizes by default)")
        ->check(refclk_syntax())
        ->capture_default_str();
    app.add_option("--playout-delay-ms", opt.playout_delay_ms,
                   "The playout latency every listener that plays in step should use, for the "
                   "SDP (a=x-audiocast-playout-delay); audiocast-client --sdp takes it unless "
                   "given --latency-ms")
        ->check(within(audiocast::playout_latency_limit));
    app.add_option("--sdp", opt.sdp,
                   "Write the stream's SDP description here (for ffmpeg, GStreamer, VLC, "
                   "audiocast-client --sdp)")
        ->check(non_empty_path());
    // How punctually packets leave (transport/stream_thread.hpp); the README's
    // Performance section has what each costs.
    int timer_slack_us = 1;
    int spin_us = 0;
    app.add_option("--timer-slack-us", timer_slack_us,
                   "How late, in microseconds, the kernel may wake the sending thread (Linux "
                   "timer slack; 0 keeps the system's 50)")
        ->check(within(audiocast::timer_slack_limit))
        ->capture_default_str();
    app.add_option("--spin-us", spin_us,
                   "Wake this many microseconds before each packet's time and wait for it on the "
                   "clock: more punctual, at up to that much CPU a packet")
        ->check(within(audiocast::spin_limit))
        ->capture_default_str();
    app.add_option("--realtime-priority", opt.pacing.realtime_priority,
                   "Run the sending thread at this SCHED_FIFO priority, 1-99 (needs CAP_SYS_NICE "
                   "or an rtprio limit); 0: the normal scheduler")
        ->check(within(audiocast::realtime_priority_limit))
        ->capture_default_str();
    bool list_devices = false;
    app.add_flag("--list-devices", list_devices, "List the audio input devices and exit");

    if (const auto rc = help_or_version(program, app, argc, argv)) return *rc;
    return run_main(program, app, [&] {
        app.parse(argc, argv);
        opt.pacing.timer_slack = std::chrono::microseconds{timer_slack_us};
        opt.pacing.spin = std::chrono::microseconds{spin_us};
        if (sap_group->count() != 0) {
            opt.sap_group = parse_sap_address(sap_group_text);
            opt.sap = true;
        }
        if (list_devices) {
            print_devices(std::cout, direction::input);
            return 0;
        }
        if (opt.format.is_opus() && ptime->count() != 0)
            throw usage_error{"--ptime-ms is for PCM; an Opus packet's length is --frame-ms"};
        if (!opt.format.is_opus() &&
            (bitrate->count() != 0 || frame_ms->count() != 0 || application->count() != 0 ||
             no_fec_flag->count() != 0 || expected_loss->count() != 0))
            throw usage_error{"--bitrate, --frame-ms, --application, --expected-loss and "
                              "--no-fec are for --codec opus"};
        opt.opus.fec = !no_fec;
        opt.network.srtp = opt.srtp.resolve(program, true);
        if (opt.network.srtp && opt.sap && !opt.sap_announces_key)
            throw usage_error{"--sap would announce the SRTP key (a=crypto) to every host that "
                              "listens for SAP, and with it the stream; give --sap-announces-key "
                              "if that is meant, or hand listeners --sdp or --key-file instead"};
        if (opt.network.srtp && !opt.srtp.key_given() && opt.sdp.empty() && !opt.sap)
            std::cerr << program
                      << ": warning: --srtp without --key-file, --key or --sdp streams with a "
                         "fresh key that no listener is given: none will hear the stream"
                      << std::endl;
        if (opt.sap_announces_key && !(opt.network.srtp && opt.sap))
            throw usage_error{"--sap-announces-key is for --srtp with --sap"};
        // SRTP's keystream follows the SSRC and the packet index: a key used
        // again with the same SSRC encrypts new audio with old keystream.
        if (opt.network.srtp && opt.ssrc && opt.srtp.key_given())
            std::cerr << program
                      << ": warning: --ssrc with a key from --key-file or --key: a run before this "
                         "one with the same key and SSRC used the same keystream, which lets "
                         "whoever recorded both read them; give each run a fresh key"
                      << std::endl;
        // The tag goes in each packet beside the audio.
        if (opt.network.srtp)
            opt.protection_bytes = audiocast::srtp_tag_bytes(opt.network.srtp->suite());
        const std::chrono::milliseconds packet_time{opt.packet_time_ms};
        audiocast::audio_format format;
        std::unique_ptr<source> src = make_source(opt, format, packet_time);
        const stream_codec codec =
            make_stream_codec(format, packet_time, opt.mtu, opt.opus, opt.protection_bytes);
#if AUDIOCAST_EXAMPLES_HAS_OPUS
        if (const auto* opus = codec.opus(); opus != nullptr && opt.opus.fec) {
            if (!opus->inband_fec())
                std::cerr << program << ": note: this stream carries no in-band FEC: it needs "
                          << "--frame-ms 10 or more and an --application other than lowdelay"
                          << std::endl;
            else if (opt.opus.expected_loss == 0)
                std::cerr << program << ": note: with --expected-loss 0 the encoder adds no "
                          << "in-band FEC to its packets" << std::endl;
        }
#endif
        server s{opt, std::move(src), codec};
        return s.run();
    });
}
