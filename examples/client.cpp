// audiocast-client: joins a multicast group, plays the stream through an audio
// device, records what it plays, and reports latency, jitter, loss and
// throughput as it goes and at the end.
//
//   audiocast-client                                   play 239.255.0.1:5004
//   audiocast-client --no-playback --output got.wav    record without a sound card
//   audiocast-client --duration 10 --stats-json s.json measure for 10 s
//
// Run `audiocast-client --help` for every option. The format must be the
// server's (the server prints the matching command line); a stream of another
// format shows up as malformed packets.
//
// Threads: the main thread runs the io_context (the socket, the status line,
// the timers); the audio device's callback calls pull(), which takes no lock,
// allocates nothing and makes no system call, and hands what it played to a
// lock-free ring that a writer thread empties into the WAV file. Without a
// device (--no-playback) a timer on the main thread pulls in 5 ms blocks at
// absolute deadlines, as a device would.
#include "support/audio_device.hpp"
#include "support/command_line.hpp"
#include "support/console.hpp"
#include "support/discovery.hpp"
#include "support/example_error.hpp"
#include "support/output_device.hpp"
#include "support/playout_drivers.hpp"
#if AUDIOCAST_EXAMPLES_HAS_PULSE
#include "support/pulse_playout.hpp"
#endif
#include "support/recorder.hpp"
#include "support/small_file.hpp"
#include "support/sound_file.hpp"
#include "support/srtp_options.hpp"
#include "support/stats_json.hpp"
#include "support/text.hpp"
#include "support/untrusted_text.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/session/announcement_directory.hpp>
#include <audiocast/spsc_ring.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <CLI/CLI.hpp>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace audiocast_examples;

constexpr const char* program = "audiocast-client";
/// An SDP description is a few hundred bytes; anything past this is not one.
constexpr std::size_t max_sdp_bytes = 64 * 1024;
/// --discover's default window, in seconds: longer than the longest gap
/// between announcements at the server's default --sap-interval (5 s, up to a
/// third later).
constexpr double default_discovery_s = 8.0;

struct client_options {
    network_options network;
    format_options format;
    int latency_ms = 40;
    bool latency_given = false;             ///< --latency-ms was on the command line
    int max_rate_ppm = 1'000;               ///< receiver_config::max_rate_adjustment, in ppm
    bool sync = false;                      ///< --sync: receiver_config::synchronized_playout
    bool no_sync = false;                   ///< --no-sync: not even when the description asks
    std::string sync_clock = "auto";        ///< --sync-clock: receiver_config::source_clock
    std::optional<int> receive_interval_ms; ///< --receive-interval-ms; unset: from the latency
    std::optional<std::string> device;      ///< --device: a number or (part of) a name
    std::optional<int> device_buffer_ms;    ///< --device-buffer-ms; unset: the output's own
    bool no_playback = false;
    std::string output;
    std::optional<double> duration_s;
    bool quiet = false;
    std::string stats_json;
    bool stop_at_end = false;                 ///< --stop-at-end
    std::size_t mtu = audiocast::default_mtu; ///< --mtu: the largest packet taken, with headers
    std::string sdp;
    std::string sap_name;
    std::optional<sap_address> sap_group;                   ///< --sap-group
    bool group_given = false;                               ///< --group was on the command line
    std::optional<audiocast::stream_description> described; ///< read from --sdp or --sap
    srtp_options srtp; ///< --srtp, --srtp-suite, --key, --key-file
};

sap_choice sap_choice_of(const client_options& opt)
{
    return {program, opt.network, opt.sap_group, opt.group_given};
}

/// Fills group, port and format from a description (--sdp or --sap), so the
/// command line may not give them too.
void take_description(client_options& opt, audiocast::stream_description d, const char* source,
                      const std::vector<const CLI::Option*>& given)
{
    for (const CLI::Option* o : given)
        if (o->count() != 0)
            throw usage_error{std::string{source} + " gives the group, port and format; " +
                              o->get_name() + " cannot be given with it"};
    opt.described = std::move(d);
    const audiocast::stream_description& d2 = *opt.described;
    // A stream on a clock its listeners share (RFC 7273) is meant to be
    // heard in step: every listener that follows the clock can.
    // Only a media clock the sender ties to it by its timestamps (RFC 7273
    // mediaclk:sender): an AES67 source's direct media clock sends neither
    // reports nor send times that audiocast reads.
    if (audiocast::shares_wall_clock(d2) && !d2.media_clock_offset && !opt.no_sync) opt.sync = true;
    // The sender's common playout latency D, unless the command line gives
    // one: listeners in step must all use the same, so it is not raised to
    // fit the device either (a warning says when it is too small).
    if (d2.playout_delay && !opt.latency_given) {
        const auto ms = d2.playout_delay->count();
        if (!audiocast::playout_latency_limit.holds(static_cast<double>(ms)))
            throw example_error{
                std::string{source} + " asks for a playout delay of " + std::to_string(ms) +
                " ms, outside the " +
                std::to_string(static_cast<long>(audiocast::playout_latency_limit.min)) + "-" +
                std::to_string(static_cast<long>(audiocast::playout_latency_limit.max)) +
                " ms a listener can play at; give --latency-ms"};
        opt.latency_ms = static_cast<int>(ms);
        opt.latency_given = true;
    }
    opt.network.group = d2.group;
    opt.network.port = d2.port;
    if (d2.packet_time) {
        // Packets of the described length must fit what the client takes.
        const auto frames =
            static_cast<std::size_t>(static_cast<double>(d2.format.sample_rate) *
                                     std::chrono::duration<double>(*d2.packet_time).count());
        const std::size_t needed =
            frames * audiocast::bytes_per_frame(d2.format.encoding, d2.format.channels) +
            audiocast::default_header_overhead;
        opt.mtu = std::clamp(std::max(opt.mtu, needed), audiocast::min_mtu, audiocast::max_mtu);
    }
    if (opt.network.source_option == nullptr || opt.network.source_option->count() == 0)
        opt.network.source = d2.source;
    // SMPTE 2022-1 repair flows it declares: joined as --fec would.
    if (d2.fec) {
        const audiocast::parity_fec_config c = fec_config_of(*d2.fec);
        // FEC it cannot take leaves the media to play alone, as for a
        // listener that knows no FEC.
        if (const auto p = check(c))
            std::cerr << program << ": warning: " << source
                      << " declares FEC this client cannot take (" << p.describe()
                      << "); playing the media without it" << std::endl;
        else
            opt.network.described_fec = c;
    }
    opt.format.encoding = std::string{audiocast::encoding_name(d2.format.encoding)};
    opt.format.sample_rate = d2.format.sample_rate;
    opt.format.channels = d2.format.channels;
}

/// Reads --sdp.
audiocast::stream_description read_sdp_file(const std::string& path)
{
    std::ifstream in{path};
    const std::string text = read_small_file(path, max_sdp_bytes, "an SDP description");
    try {
        return audiocast::parse_sdp(text);
    } catch (const std::system_error& e) {
        throw example_error{"'" + printable(path) + "': " + printable(e.what(), 200)};
    }
}

class client {
public:
    explicit client(const client_options& opt)
        : opt_{opt}, format_{opt.format.format()},
          // The receiver takes packets of any length; the packet time only
          // sizes the codec's buffers, so the shortest one fits every format.
          codec_{make_stream_codec(format_, 1ms, opt.mtu)}
    {
        // What the command line can get wrong is checked before any file is
        // touched, so a refused run leaves existing outputs as they were.
        open_sockets();
#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO
        std::unique_ptr<RtAudio> audio;
        std::optional<unsigned> device;
        if (!opt.no_playback) {
            audio = open_audio_system();
            device = choose_device(*audio, direction::output, opt.device);
            if (!device)
                throw example_error{
                    "no audio output device found (RtAudio APIs: " + compiled_apis() +
                    "); use --no-playback, with --output PATH.wav to record "
                    "what would have played"};
        }
#else
        if (!opt.no_playback)
            throw usage_error{"this build plays through no audio device (RtAudio was not found "
                              "when it was built): give --no-playback, with --output PATH.wav to "
                              "record what would have played"};
#endif
        // Every output is checked before any is touched: a run refused for
        // its --stats-json leaves an existing --output as it was.
        if (!opt.output.empty()) check_writable(opt.output, "--output");
        if (!opt.stats_json.empty()) check_writable(opt.stats_json, "--stats-json");
        if (!opt.output.empty()) recorder_.emplace(opt.output, format_);
#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO
        if (audio) device_playout_ = make_output(std::move(audio), *device);
#endif
    }

#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO
    /// RtAudio's device, but with --sync on PulseAudio libpulse directly:
    /// RtAudio's PulseAudio backend reports no latency (it writes through
    /// pa_simple), and synchronized playout needs to know when it is heard.
    std::unique_ptr<output_device> make_output(std::unique_ptr<RtAudio> audio, unsigned device)
    {
        recorder* rec = recorder_ ? &*recorder_ : nullptr;
#if AUDIOCAST_EXAMPLES_HAS_PULSE
        if (opt_.sync && audio->getCurrentApi() == RtAudio::LINUX_PULSE)
            return std::make_unique<pulse_playout>(
                format_, rec, audio->getDeviceInfo(device).name,
                std::chrono::milliseconds{opt_.device_buffer_ms.value_or(40)});
#endif
        return std::make_unique<device_playout>(std::move(audio), device, format_, rec,
                                                opt_.device_buffer_ms.value_or(5));
    }
#endif

    int run()
    {
        audiocast::receiver_config config;
        config.latency = std::chrono::milliseconds{opt_.latency_ms};
        config.max_rate_adjustment = opt_.max_rate_ppm * 1e-6;
        config.synchronized_playout = opt_.sync;
        config.source_clock = shared_clock() ? audiocast::clock_knowledge::shared_wall_clock
                                             : audiocast::clock_knowledge::round_trips;
        if (opt_.described) {
            // An SDP names the payload type, and the send-time extension's id if any.
            config.payload_type = opt_.described->payload_type;
            if (opt_.described->send_time_extension_id)
                config.send_time_extension_id = *opt_.described->send_time_extension_id;
        }
        std::string latency_note;
        if (const auto fec = opt_.network.fec()) {
            // A packet of a matrix's first row is rebuilt up to this many
            // packets late: the session must take it, and playout wait for it.
            config.max_misorder = audiocast::parity_fec_repair_delay(*fec);
            const auto needed = std::chrono::ceil<std::chrono::milliseconds>(
                                    codec_.nominal_packet_time() * config.max_misorder) +
                                20ms;
            // Without an SDP the packet time is this client's assumption
            // (the stream may use shorter packets): it is said with the number.
            const std::string packets = std::to_string(config.max_misorder) + " packets of " +
                                        packet_ms_text(codec_.nominal_packet_time()) + " ms";
            if (config.latency < needed && !opt_.latency_given) {
                config.latency = needed;
                latency_note += " (raised for FEC's repair delay of " + packets + ")";
            } else if (config.latency < needed) {
                std::cerr << program << ": warning: FEC " << static_cast<unsigned>(fec->columns)
                          << "x" << static_cast<unsigned>(fec->rows) << " rebuilds a packet up to "
                          << packets << " late; with --latency-ms " << opt_.latency_ms
                          << " those play too late (use --latency-ms " << needed.count()
                          << " or more, or less for shorter packets)" << std::endl;
            }
        }
        if (device_playout_) {
            // The device first, so that it plays at its own pace before the
            // stream's packets are taken in, and its bursts are known. The
            // sockets opened to check the arguments are closed meanwhile and
            // the group joined again after: a member queues what the group
            // carries, and a listener that joins a running stream must not
            // start with the backlog of its own start-up.
            transport_.reset();
            control_.reset();
            device_playout_->start();
            device_playout_->warm_up(300ms);
            latency_note += fit_latency_to_device(config.latency);
            open_sockets();
        }
        stream_.emplace(std::move(*transport_), std::move(*control_), codec_,
                        audiocast::steady_clock{}, config);
        transport_.reset();
        control_.reset();
        // Packets gather for a receive interval and are taken in one wake-up
        // (transport/stream_thread.hpp): a quarter of the latency at most, so
        // none is handed to the audio side late, and 10 ms at most.
        const auto interval =
            opt_.receive_interval_ms
                ? std::chrono::nanoseconds{std::chrono::milliseconds{*opt_.receive_interval_ms}}
                : std::min<std::chrono::nanoseconds>(config.latency / 4, 10ms);
        thread_.emplace(*stream_, audiocast::stream_thread_options{.receive_interval = interval});
        if (device_playout_) {
            const auto output = device_playout_->output_latency();
            if (!device_playout_->times_each_pull()) stream_->set_output_latency(output);
            // Synchronized playout hands each frame to the device its output
            // latency early: the playout latency must cover that and the path.
            if (opt_.sync && config.latency < output + 10ms)
                std::cerr << program << ": warning: the audio device plays "
                          << std::chrono::round<std::chrono::milliseconds>(output).count()
                          << " ms after it is given audio; with --sync, playout latency "
                          << std::chrono::round<std::chrono::milliseconds>(config.latency).count()
                          << " ms will play late (use --latency-ms "
                          << std::chrono::ceil<std::chrono::milliseconds>(output + 10ms).count()
                          << " or more on every listener)" << std::endl;
            device_playout_->attach(*stream_);
        } else
            // Blocks of a quarter of the latency, 10 ms at most, as a device
            // would take them: fewer wake-ups, none late for the latency.
            timer_playout_.emplace(
                *stream_, recorder_ ? &*recorder_ : nullptr,
                std::max<std::size_t>(1, audiocast::frames_in(std::min<std::chrono::nanoseconds>(
                                                                  config.latency / 4, 10ms),
                                                              format_.sample_rate)));

        const auto& f = stream_->format();
        const auto latency_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(config.latency).count();
        latency_used_ms_ = latency_ms;
        if (!opt_.quiet)
            std::cout << program << ": listening on " << opt_.network.where() << " for "
                      << audiocast::to_string(f) << ", playout latency " << latency_ms << " ms"
                      << latency_note
                      << (!opt_.sync       ? ""
                          : shared_clock() ? ", in step by the clock the hosts share"
                                           : ", in step by round trips to the sender")
                      << ", "
                      << (device_playout_ ? "playing on " + device_playout_->describe()
                                          : std::string{"no playback"})
                      << (opt_.output.empty() ? "" : ", recording to '" + opt_.output + "'")
                      << std::endl;

        thread_->on_error([this](std::error_code ec) { // on the stream's thread
            if (receive_errors_++ == 0)
                std::cerr << program << ": receiving failed: " << ec.message() << std::endl;
        });
        signals_.async_wait([this](std::error_code ec, int) {
            if (!ec) finish();
        });
        if (opt_.duration_s) {
            duration_timer_.expires_after(std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::duration<double>{*opt_.duration_s}));
            duration_timer_.async_wait([this](std::error_code ec) {
                if (!ec) finish();
            });
        }
        started_ = std::chrono::steady_clock::now();
        arm_watch();

        thread_->start();
        if (timer_playout_) timer_playout_->start();
        io_.run();

        // The audio side stops first, so what it played last is in the stats and the file.
        if (device_playout_) device_playout_->stop();
        if (timer_playout_) timer_playout_->stop();
        thread_->stop();
        std::error_code bye_ec;
        stream_->leave(bye_ec, "listener leaving"); // the sender's STATUS drops it at once
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        int rc = receive_errors_ == 0 ? 0 : exit_failure;
        std::uint64_t frames_written = 0, frames_dropped = 0;
        if (recorder_) {
            const std::string failure = recorder_->finish();
            if (!failure.empty()) {
                if (!recording_failed_) std::cerr << program << ": " << failure << std::endl;
                rc = exit_failure;
            }
            frames_written = recorder_->frames_written();
            frames_dropped = recorder_->frames_dropped();
            if (frames_dropped != 0) {
                std::cerr << program << ": '" << opt_.output
                          << "' is incomplete: " << frames_dropped
                          << " frames could not be written in time" << std::endl;
                rc = exit_failure;
            }
        }
        const audiocast::receiver_stats s = stream_->stats();
        if (tty_ && !opt_.quiet) std::cout << '\n';
        if (!opt_.quiet)
            std::cout << program << ": " << summary(s) << fec_summary() << srtp_summary()
                      << std::endl;
        if (!opt_.stats_json.empty()) write_json(s, seconds, frames_written, frames_dropped);
        return rc;
    }

private:
    /// Whether synchronized playout reads the sender's reports on our own
    /// wall clock: asked for, or (auto) the description names a clock the
    /// hosts share.
    [[nodiscard]] bool shared_clock() const
    {
        if (opt_.sync_clock == "shared") return true;
        return opt_.sync_clock == "auto" && opt_.described &&
               audiocast::shares_wall_clock(*opt_.described);
    }

    /// Joins the group: RTP on its port, RTCP on port + 1.
    void open_sockets()
    {
        try {
            auto media = opt_.network.media(true);
            media.receive_buffer_bytes = 1 << 20;
            transport_.emplace(open_media_transport(sockets_io_, opt_.network, media, false));
            control_.emplace(open_control_transport(sockets_io_, opt_.network));
        } catch (const usage_error& e) {
            // What a description got wrong is the file's fault, not the
            // command line's: exit 1, naming the file.
            if (!opt_.described) throw;
            const std::string from =
                opt_.sdp.empty() ? "the SAP announcement of \"" + printable(opt_.sap_name) + "\""
                                 : "'" + printable(opt_.sdp) + "'";
            throw example_error{from + " describes a stream that cannot be joined: " + e.what()};
        }
    }

    /// Playout latency must hold more than the device takes in one burst,
    /// and twice that so a first pull late by one burst skips nothing
    /// (receiver_session::pull). The default is raised to fit; a latency
    /// given on the command line is kept, with a warning.
    std::string fit_latency_to_device(std::chrono::nanoseconds& latency) const
    {
        const std::chrono::nanoseconds burst = device_playout_->burst();
        const auto needed = std::chrono::ceil<std::chrono::milliseconds>(2 * burst + 10ms);
        if (latency >= needed) return {};
        const auto burst_ms = std::chrono::round<std::chrono::milliseconds>(burst).count();
        if (opt_.latency_given) {
            std::cerr << program << ": warning: the audio device takes " << burst_ms
                      << " ms at a time; playout latency " << opt_.latency_ms
                      << " ms will underrun (use --latency-ms " << needed.count() << " or more)"
                      << std::endl;
            return {};
        }
        latency = std::min<std::chrono::nanoseconds>(needed, audiocast::max_playout_latency);
        return " (raised from " + std::to_string(opt_.latency_ms) + " ms: the device takes " +
               std::to_string(burst_ms) + " ms at a time)";
    }

    void finish()
    {
        std::error_code ignored;
        signals_.cancel(ignored);
        duration_timer_.cancel();
        watch_timer_.cancel();
        io_.stop(); // run() then stops the playout and the stream's thread
    }

    // Every watch_tick: a recording that cannot be written stops the run at
    // once (a full disk), the end of the stream is noticed, and each second
    // the live status is printed. It runs with --quiet too.
    void arm_watch()
    {
        watch_timer_.expires_at(started_ + (++watch_ticks_) * watch_tick);
        watch_timer_.async_wait([this](std::error_code ec) {
            if (ec) return;
            if (recorder_ && recorder_->failed()) {
                std::cerr << program << ": " << recorder_->failure()
                          << "; stopping (the figures are still written)" << std::endl;
                recording_failed_ = true;
                finish();
                return;
            }
            const audiocast::receiver_stats stats = stream_->stats();
            note_the_end(stats);
            note_device_underflows();
            // The device's latency may change while it runs (a sink that
            // grows its buffer): synchronized playout takes the latest.
            if (device_playout_ && opt_.sync && !device_playout_->times_each_pull())
                stream_->set_output_latency(device_playout_->output_latency());
            if (opt_.stop_at_end && stream_ended_) {
                finish();
                return;
            }
            if (!opt_.quiet && watch_ticks_ % ticks_per_status == 0) {
                const std::string line =
                    std::to_string(watch_ticks_ / ticks_per_status) + " s  " + live(stats);
                if (tty_)
                    std::cout << '\r' << line << "\033[K" << std::flush;
                else
                    std::cout << line << std::endl;
            }
            arm_watch();
        });
    }

    /// Says when the device ran dry: a gap in the sound the stream did not
    /// cause (synchronized playout realigns after it at once).
    void note_device_underflows()
    {
        if (!device_playout_) return;
        const std::uint64_t n = device_playout_->device_underflows();
        if (n == device_underflows_seen_) return;
        std::cerr << (tty_ ? "\n" : "") << program << ": warning: the audio device ran dry (" << n
                  << (n == 1 ? " time" : " times")
                  << " so far): this host did not keep it fed; a larger --device-buffer-ms "
                     "rides over that"
                  << std::endl;
        device_underflows_seen_ = n;
    }

    /// Says once that the stream ended: the sender said BYE and nothing came
    /// after it for a bye_grace (a BYE forged in its name is followed by its
    /// packets, and is no end), or nothing has come for silence_limit after
    /// packets did.
    void note_the_end(const audiocast::receiver_stats& s)
    {
        const auto now = std::chrono::steady_clock::now();
        if (s.packets_received != last_received_) {
            last_received_ = s.packets_received;
            last_packet_seen_ = now;
            if (stream_ended_ && !opt_.quiet)
                std::cout << (tty_ ? "\n" : "") << program << ": packets again" << std::endl;
            stream_ended_ = false;
            said_silent_ = false;
            return;
        }
        if (s.packets_received == 0 || stream_ended_) return;
        const auto quiet = now - last_packet_seen_;
        if (s.source_left && quiet >= bye_grace) {
            stream_ended_ = true;
            if (!opt_.quiet)
                std::cout << (tty_ ? "\n" : "") << program
                          << ": the sender said BYE: the stream has ended" << std::endl;
        } else if (!s.source_left && quiet >= silence_limit && !said_silent_) {
            said_silent_ = true;
            stream_ended_ = true;
            if (!opt_.quiet)
                std::cout << (tty_ ? "\n" : "") << program << ": no packets for "
                          << std::chrono::duration_cast<std::chrono::seconds>(quiet).count()
                          << " s and no BYE: the stream stopped or was cut off" << std::endl;
        }
    }

    [[nodiscard]] std::string live(const audiocast::receiver_stats& s) const
    {
        const auto& f = stream_->format();
        char text[320];
        if (stream_ended_ && s.source_left) return "the stream has ended (BYE)";
        if (stream_ended_)
            return "no packets for " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::steady_clock::now() - last_packet_seen_)
                                      .count()) +
                   " s";
        if (s.packets_received == 0) {
            std::snprintf(text, sizeof text, "waiting for the stream on %s",
                          opt_.network.where().c_str());
            std::string line = text;
            if (s.packets_malformed != 0)
                line += "; " + std::to_string(s.packets_malformed) + " packets do not match " +
                        audiocast::to_string(f) + " (check --format, --rate, --channels)";
            if (const auto refused = srtp_refused(); refused != 0)
                line += "; " + std::to_string(refused) +
                        " packets failed SRTP's checks (check the key, --srtp-suite, and that "
                        "the sender uses SRTP)";
            return line;
        }
        std::snprintf(text, sizeof text,
                      "latency %s | jitter %.3f ms | lost %llu of %llu | %.0f B/s | buffer %.1f ms",
                      latency_text(s, false).c_str(), in_ms(s.jitter),
                      static_cast<unsigned long long>(s.packets_lost),
                      static_cast<unsigned long long>(s.packets_expected), s.throughput_bytes_per_s,
                      in_ms(audiocast::duration_of(s.buffered_frames, f.sample_rate)));
        std::string line = text;
        if (s.packets_late != 0) line += " | late " + std::to_string(s.packets_late);
        if (s.underruns != 0) line += " | underruns " + std::to_string(s.underruns);
        if (s.packets_malformed != 0) line += " | malformed " + std::to_string(s.packets_malformed);
        if (s.packets_foreign != 0) line += " | foreign " + std::to_string(s.packets_foreign);
        if (s.packets_discarded != 0) line += " | discarded " + std::to_string(s.packets_discarded);
        if (const auto refused = srtp_refused(); refused != 0)
            line += " | SRTP refused " + std::to_string(refused);
        if (opt_.sync) {
            if (s.sync_error) {
                std::snprintf(text, sizeof text, " | sync %+.0f us (clock +-%.0f us)",
                              static_cast<double>(s.sync_error->count()) / 1e3,
                              static_cast<double>(s.clock_uncertainty.value_or(0ns).count()) / 1e3);
                line += text;
            } else {
                line += " | sync: learning the sender's clock";
            }
        }
        return line;
    }

    /// "p50 0.120 ms p99 0.340 ms", or "n/a" when it was never measured (a
    /// sender with neither the send-time extension nor sender reports).
    [[nodiscard]] static std::string latency_text(const audiocast::receiver_stats& s, bool with_max)
    {
        if (s.latency_samples == 0) return "n/a (the sender gives no send times or reports)";
        char text[96];
        if (with_max)
            std::snprintf(text, sizeof text, "p50 %.3f ms, p99 %.3f ms, max %.3f ms",
                          in_ms(s.latency_p50), in_ms(s.latency_p99), in_ms(s.latency_max));
        else
            std::snprintf(text, sizeof text, "p50 %.3f ms p99 %.3f ms", in_ms(s.latency_p50),
                          in_ms(s.latency_p99));
        return text;
    }

    /// What FEC did, for the last line; empty without --fec. Read after the
    /// stream's thread stopped.
    [[nodiscard]] std::string fec_summary() const
    {
        const auto& d = fec_layer(stream_->transport()).decoder();
        if (!d) return {};
        const auto& f = d->stats();
        return "; FEC rebuilt " + std::to_string(f.packets_recovered) + " packets from " +
               std::to_string(f.repairs_received) + " repair packets (" +
               std::to_string(f.repairs_malformed) + " malformed, " +
               std::to_string(f.repairs_foreign) + " not from the source's host)";
    }

    /// Datagrams SRTP refused on the media flow so far; any thread may ask.
    [[nodiscard]] std::uint64_t srtp_refused() const
    {
#if AUDIOCAST_EXAMPLES_HAS_SRTP
        const auto m = stream_->transport().stats();
        return m.unauthenticated + m.replayed + m.malformed;
#else
        return 0;
#endif
    }

    /// What SRTP refused, for the last line; empty without --srtp. Read
    /// after the stream's thread stopped.
    [[nodiscard]] std::string srtp_summary() const
    {
#if AUDIOCAST_EXAMPLES_HAS_SRTP
        if (!stream_->transport().is_protected()) return {};
        const auto& m = stream_->transport().stats();
        const auto& c = stream_->control_transport().stats();
        return "; SRTP refused " + std::to_string(m.unauthenticated + m.replayed + m.malformed) +
               " packets (unauthenticated " + std::to_string(m.unauthenticated) + ", replayed " +
               std::to_string(m.replayed) + ", malformed " + std::to_string(m.malformed) +
               ") and " + std::to_string(c.unauthenticated + c.replayed + c.malformed) +
               " RTCP packets" +
               (m.rollovers_found == 0
                    ? std::string{}
                    : "; joined " + std::to_string(m.rollovers_found) +
                          " sources after their sequence numbers wrapped (rollover counters "
                          "found in " +
                          std::to_string(m.rollover_trials) + " trials)");
#else
        return {};
#endif
    }

    [[nodiscard]] static std::string summary(const audiocast::receiver_stats& s)
    {
        char text[480];
        std::snprintf(text, sizeof text,
                      "received %llu packets, %llu bytes (%.0f B/s); lost %llu, late %llu, "
                      "duplicate %llu, reordered %llu, malformed %llu, foreign %llu, discarded "
                      "%llu; jitter %.3f ms; latency %s; IPDV p50 %.3f ms, p99 %.3f ms; "
                      "underruns %llu, concealed frames %llu",
                      static_cast<unsigned long long>(s.packets_received),
                      static_cast<unsigned long long>(s.bytes_received), s.throughput_bytes_per_s,
                      static_cast<unsigned long long>(s.packets_lost),
                      static_cast<unsigned long long>(s.packets_late),
                      static_cast<unsigned long long>(s.packets_duplicate),
                      static_cast<unsigned long long>(s.packets_reordered),
                      static_cast<unsigned long long>(s.packets_malformed),
                      static_cast<unsigned long long>(s.packets_foreign),
                      static_cast<unsigned long long>(s.packets_discarded), in_ms(s.jitter),
                      latency_text(s, true).c_str(), in_ms(s.ipdv_p50), in_ms(s.ipdv_p99),
                      static_cast<unsigned long long>(s.underruns),
                      static_cast<unsigned long long>(s.concealed_frames));
        std::string line = text;
        if (s.frames_repaired > 0) {
            std::snprintf(text, sizeof text,
                          ", repaired frames %llu (the codec's FEC or concealment)",
                          static_cast<unsigned long long>(s.frames_repaired));
            line += text;
        }
        // Only when it happened: what this host dropped before the stream saw it.
        if (s.socket_overflow + s.packets_overrun > 0) {
            std::snprintf(text, sizeof text,
                          "; dropped by this host %llu (socket buffer full %llu, hand-off to "
                          "the audio thread full %llu)",
                          static_cast<unsigned long long>(s.socket_overflow + s.packets_overrun),
                          static_cast<unsigned long long>(s.socket_overflow),
                          static_cast<unsigned long long>(s.packets_overrun));
            line += text;
        }
        return line;
    }

    void write_json(const audiocast::receiver_stats& s, double seconds,
                    std::uint64_t frames_written, std::uint64_t frames_dropped)
    {
        nlohmann::ordered_json j;
        j["group"] = opt_.network.group;
        j["port"] = opt_.network.port;
        j["format"] = audiocast::to_string(stream_->format());
        j["latency_target_ms"] = latency_used_ms_;
        j["duration_s"] = seconds;
        j.update(audiocast_examples::receiver_figures(s));
        j["device_underflows"] = device_playout_ ? device_playout_->device_underflows() : 0;
        j["output_latency_us"] = device_playout_
                                     ? std::chrono::duration_cast<std::chrono::microseconds>(
                                           device_playout_->output_latency())
                                           .count()
                                     : 0;
        j["frames_recorded"] = frames_written;
        j["recording_failed"] = recording_failed_;
        j["frames_not_recorded"] = frames_dropped;
        if (const auto& d = fec_layer(stream_->transport()).decoder()) {
            // What FEC rebuilt is in packets_received; packets_lost is what it could not.
            const auto& f = d->stats();
            j["fec"] = {{"repairs_received", f.repairs_received},
                        {"repairs_used", f.repairs_used},
                        {"repairs_malformed", f.repairs_malformed},
                        {"repairs_out_of_window", f.repairs_out_of_window},
                        {"repairs_mismatched", f.repairs_mismatched},
                        {"repairs_expired", f.repairs_expired},
                        {"repairs_foreign", f.repairs_foreign},
                        {"media_ignored", f.media_ignored},
                        {"media_conflicting", f.media_conflicting},
                        {"packets_recovered", f.packets_recovered}};
        }
#if AUDIOCAST_EXAMPLES_HAS_SRTP
        if (stream_->transport().is_protected()) {
            const auto& m = stream_->transport().stats();
            const auto& c = stream_->control_transport().stats();
            j["srtp"] = {{"suite", audiocast::srtp_suite_name(opt_.network.srtp->suite())},
                         {"unauthenticated", m.unauthenticated},
                         {"replayed", m.replayed},
                         {"malformed", m.malformed},
                         {"rollovers_found", m.rollovers_found},
                         {"rollover_trials", m.rollover_trials},
                         {"rtcp_unauthenticated", c.unauthenticated},
                         {"rtcp_replayed", c.replayed},
                         {"rtcp_malformed", c.malformed}};
        }
#endif
        // Replaced, not thrown: a name from the network is not valid UTF-8
        // by promise.
        write_whole_file(opt_.stats_json,
                         j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }

    const client_options& opt_;
    audiocast::audio_format format_;
    stream_codec codec_;
    asio::io_context io_{1};
    // The stream's sockets, which its own thread waits on. Their io_context is
    // never run: were they on io_, its thread would wake for every datagram.
    asio::io_context sockets_io_{1};
    // Until the stream takes them: RTP on the group's port, RTCP on port + 1.
    std::optional<multicast_transport> transport_;
    std::optional<multicast_transport> control_;
    std::optional<recorder> recorder_;
    std::optional<multicast_receiver> stream_;
    std::optional<audiocast::stream_thread<multicast_receiver>> thread_;
    std::unique_ptr<output_device> device_playout_;
    std::optional<timer_playout> timer_playout_;
    // SIGHUP (a closed terminal or ssh session) ends the run as cleanly as
    // SIGTERM: the recording and the figures are finished, BYE is sent.
#if defined(SIGHUP)
    asio::signal_set signals_{io_, SIGINT, SIGTERM, SIGHUP};
#else
    asio::signal_set signals_{io_, SIGINT, SIGTERM};
#endif
    asio::steady_timer duration_timer_{io_};
    asio::steady_timer watch_timer_{io_};
    std::chrono::steady_clock::time_point started_{};
    static constexpr std::chrono::milliseconds watch_tick{250};
    static constexpr std::uint64_t ticks_per_status = 4; // a status line each second
    std::uint64_t watch_ticks_ = 0;
    /// Without packets this long after some came, the stream has stopped.
    static constexpr std::chrono::seconds silence_limit{3};
    /// After the sender's BYE, this long without its packets ends the stream.
    static constexpr std::chrono::milliseconds bye_grace{500};
    std::uint64_t last_received_ = 0;
    std::uint64_t device_underflows_seen_ = 0;
    std::chrono::steady_clock::time_point last_packet_seen_{};
    bool stream_ended_ = false;
    bool said_silent_ = false;
    bool recording_failed_ = false;
    std::int64_t latency_used_ms_ = 0; ///< the playout latency in force, after fitting the device
    std::uint64_t receive_errors_ = 0;
#if defined(_WIN32)
    bool tty_ = ::_isatty(::_fileno(stdout)) != 0;
#else
    bool tty_ = ::isatty(STDOUT_FILENO) == 1;
#endif
};

} // namespace

int main(int argc, char* argv[])
{
    // stdout may be a pipe that closes (| head); the WAV and the figures are
    // still written.
#if defined(SIGPIPE)
    std::signal(SIGPIPE, SIG_IGN);
#endif
    ensure_standard_streams();
    client_options opt;
    CLI::App app{"audiocast-client: joins an IP multicast group, plays the RTP audio stream it "
                 "carries, and reports latency, jitter, loss and throughput.",
                 program};
    opt.network.add_to(app);
    opt.network.add_source_to(
        app, "Hear only the sender at this address: the kernel drops every other sender's "
             "packets (a source-specific join, RFC 4607). An SDP's a=source-filter sets it too; "
             "this wins");
    opt.network.add_fec_to(
        app, "Rebuild lost packets from the sender's SMPTE 2022-1 FEC (its --fec LxD, LxDc "
             "or Lr): joins the repair flows on port + 2 and port + 4, and raises the playout "
             "latency, unless given, to wait for them (D x L x 2 packets)");
    opt.format.add_to(app);
    auto* latency =
        app.add_option("--latency-ms", opt.latency_ms,
                       "Playout latency in ms: from a packet's arrival to its playout (raised "
                       "to fit an audio device that asks for more at a time, unless given)")
            ->check(within(audiocast::playout_latency_limit))
            ->capture_default_str();
    app.add_option("--max-rate-ppm", opt.max_rate_ppm,
                   "How much faster or slower than the stream playout may run to hold its "
                   "latency when the sender's and the device's clocks drift apart, in ppm; "
                   "0 keeps playout bit-exact (and lets the buffer drift)")
        ->check(within(audiocast::playout_rate_adjustment_limit, 1e6, "ppm"))
        ->capture_default_str();
    auto* no_sync = app.add_flag("--no-sync", opt.no_sync,
                                 "Play on this listener's own schedule even when the stream's "
                                 "description (a=ts-refclk naming NTP or PTP) asks for --sync");
    app.add_option("--sync-clock", opt.sync_clock,
                   "How --sync knows the sender's clock: round-trips (RTCP XR, any hosts, an "
                   "audiocast-server), shared (this host's clock follows the sender's NTP or "
                   "PTP reference: its reports alone), auto (shared when the description says "
                   "a=ts-refclk:ntp= or ptp=)")
        ->check(CLI::IsMember({"auto", "round-trips", "shared"}))
        ->capture_default_str();
    auto* sync = app.add_flag("--sync", opt.sync,
                              "Play in step with every other listener that synchronizes: each "
                              "frame at the sender's clock time of it plus the playout "
                              "latency; set the same --latency-ms on each (see --sync-clock)");
    sync->excludes(no_sync);
    app.add_option("--receive-interval-ms", opt.receive_interval_ms,
                   "Let packets gather this long between reads, so that one wake-up takes "
                   "many (arrival times stay exact); 0 wakes for every packet. Default: a "
                   "quarter of the playout latency, at most 10")
        ->check(within(audiocast::receive_interval_limit));
    auto* device =
        app.add_option("--device", opt.device,
                       "Audio output device, by number or by (part of) its name (see "
                       "--list-devices); without it the system's default, which PulseAudio "
                       "takes from PULSE_SINK when it is set");
    auto* device_buffer =
        app.add_option("--device-buffer-ms", opt.device_buffer_ms,
                       "How much audio the output device takes ahead, in ms: the callback "
                       "block of an RtAudio device (default 5), or with --sync on PulseAudio "
                       "the stream's target buffer (default 40)")
            ->check(CLI::Range(1, 1000));
    auto* no_playback =
        app.add_flag("--no-playback", opt.no_playback, "Play nothing; pull on a timer instead");
    device->excludes(no_playback);
    device_buffer->excludes(no_playback);
    app.add_option("--output", opt.output,
                   "Write exactly what playout produces to this WAV file (16- or 24-bit)")
        ->check(non_empty_path());
    app.add_option("--duration", opt.duration_s, "Stop after this many seconds (default: never)")
        ->check(positive_seconds());
    app.add_flag("--quiet", opt.quiet, "No live status and no summary");
    app.add_option("--mtu", opt.mtu,
                   "The largest packet to take, in bytes with IP, UDP and RTP headers: the "
                   "network path's MTU (9000 on a jumbo-frame LAN); raised to fit an SDP's ptime")
        ->check(within(audiocast::mtu_limit))
        ->capture_default_str();
    app.add_flag("--stop-at-end", opt.stop_at_end,
                 "Stop when the stream ends: the sender said BYE and sent nothing for 0.5 s "
                 "after it, or nothing came for 3 s after packets did (without it, and without "
                 "--duration, the client listens, and records silence, until stopped)");
    opt.srtp.add_to(app, false);
    app.add_option("--stats-json", opt.stats_json, "Write the figures as JSON here at exit")
        ->check(non_empty_path());
    bool discover_flag = false;
    auto* discover_option =
        app.add_flag("--discover", discover_flag,
                     "List the streams announced on SAP during --duration (default 8 s) and "
                     "exit: on every IPv4 scope's SAP group, PipeWire's 224.0.0.56 and the IPv6 "
                     "scopes' ff0X::2:7ffe; on --group's scope alone when it is given");
    std::string sap_group_text;
    auto* sap_group = app.add_option(
        "--sap-group", sap_group_text,
        "Listen for SAP (--discover, --sap) only on this group, ADDR[:PORT] or [IPv6]:PORT "
        "(default port 9875)");
    auto* sap_name = app.add_option("--sap", opt.sap_name,
                                    "Play the stream announced on SAP under this name (s=)");
    auto* sdp = app.add_option("--sdp", opt.sdp,
                               "Take the group, port and format from this SDP file (audiocast's, "
                               "ffmpeg's, or any RTP L16/L24 stream's)")
                    ->check(non_empty_path());
    bool list_devices = false;
    app.add_flag("--list-devices", list_devices, "List the audio output devices and exit");
    sdp->excludes(sap_name);
    discover_option->excludes(sdp)->excludes(sap_name);

    if (const auto rc = help_or_version(program, app, argc, argv)) return *rc;
    return run_main(program, app, [&] {
        app.parse(argc, argv);
        opt.latency_given = latency->count() != 0;
        // Packets gathered for half the latency or more would reach playout
        // after their time, every one of them.
        if (opt.receive_interval_ms && *opt.receive_interval_ms > 0 &&
            2 * *opt.receive_interval_ms >= opt.latency_ms)
            throw usage_error{"--receive-interval-ms " + std::to_string(*opt.receive_interval_ms) +
                              " must be below half the playout latency (" +
                              std::to_string(opt.latency_ms) +
                              " ms): packets gathered that long "
                              "would reach playout after their time"};
        opt.group_given = app.get_option("--group")->count() != 0;
        if (sap_group->count() != 0) opt.sap_group = parse_sap_address(sap_group_text);
        const std::vector<const CLI::Option*> described_by_sdp{
            app.get_option("--group"), app.get_option("--port"), opt.format.encoding_option,
            opt.format.rate_option, opt.format.channels_option};
        // Longer than the longest gap between a server's announcements at the
        // default --sap-interval (5 s, randomized up to a third later).
        const auto listen = std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::duration<double>{opt.duration_s.value_or(default_discovery_s)});
        if (discover_flag) return discover(sap_choice_of(opt), listen);
        if (sdp->count() != 0)
            take_description(opt, read_sdp_file(opt.sdp), "--sdp", described_by_sdp);
        if (sap_name->count() != 0) {
            const auto directory =
                listen_for_announcements(sap_choice_of(opt), 10s, &opt.sap_name, false);
            const audiocast::announced_stream* found = directory.find(opt.sap_name);
            if (found == nullptr)
                throw example_error{"no stream called \"" + printable(opt.sap_name) +
                                    "\" was announced on SAP within 10 s (see --discover)"};
            take_description(opt, found->description, "--sap", described_by_sdp);
        }
        if (list_devices) {
            print_devices(std::cout, direction::output);
            return 0;
        }
        opt.network.srtp = opt.srtp.resolve(
            program, false,
            opt.described ? opt.described->crypto
                          : std::optional<audiocast::stream_description::sdes_crypto>{});
        // Each packet carries the tag beside what the MTU was for.
        if (opt.network.srtp)
            opt.mtu = std::min(audiocast::max_mtu,
                               opt.mtu + audiocast::srtp_tag_bytes(opt.network.srtp->suite()));
        client c{opt};
        return c.run();
    });
}
