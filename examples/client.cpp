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
#include "support/example_error.hpp"
#include "support/sound_file.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/spsc_ring.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
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
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using audiocast::multicast_stream;
using namespace audiocast_examples;

constexpr const char* program = "audiocast-client";

struct client_options {
    network_options network;
    format_options format;
    int latency_ms = 40;
    std::optional<unsigned> device;
    bool no_playback = false;
    std::string output;
    std::optional<double> duration_s;
    bool quiet = false;
    std::string stats_json;
};

double in_ms(std::chrono::nanoseconds d)
{
    return static_cast<double>(d.count()) / 1e6;
}

/// Writes what playout produced to a WAV file, off the audio thread: the
/// audio side pushes into a lock-free ring, a writer thread empties it.
class recorder {
public:
    recorder(const std::string& path, const audiocast::audio_format& format)
        : file_{path, format}, channels_{format.channels},
          ring_{std::size_t{2} * format.sample_rate * format.channels},  // 2 s
          block_(std::size_t{format.sample_rate / 50} * format.channels) // 20 ms
    {
        writer_ = std::thread{[this] { run(); }};
    }

    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;
    ~recorder() { stop_writer(); }

    /// Audio side: real-time safe. Frames that do not fit are counted, and
    /// the recording is reported incomplete.
    void push(std::span<const std::int32_t> samples) noexcept
    {
        const std::size_t taken = ring_.push(samples);
        if (taken < samples.size())
            dropped_.fetch_add((samples.size() - taken) / channels_, std::memory_order_relaxed);
    }

    /// Writes what is left and closes the file; call after the audio side stopped.
    void finish()
    {
        stop_writer();
        drain();
        file_.close();
        if (error_) std::rethrow_exception(error_);
    }

    [[nodiscard]] std::uint64_t frames_written() const noexcept { return file_.frames(); }
    [[nodiscard]] std::uint64_t frames_dropped() const noexcept { return dropped_.load(); }

private:
    void run()
    {
        while (!stopping_.load(std::memory_order_acquire)) {
            try {
                drain();
            } catch (...) {
                error_ = std::current_exception();
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
    }

    void drain()
    {
        for (;;) {
            // Whole frames only, so a frame never straddles two writes.
            const std::size_t want =
                std::min(block_.size(), ring_.size_approx() / channels_ * channels_);
            if (want == 0) return;
            const std::size_t n = ring_.pop(std::span<std::int32_t>{block_.data(), want});
            file_.write(std::span<const std::int32_t>{block_.data(), n});
        }
    }

    void stop_writer()
    {
        stopping_.store(true, std::memory_order_release);
        if (writer_.joinable()) writer_.join();
    }

    wav_writer file_;
    std::size_t channels_;
    audiocast::spsc_ring<std::int32_t> ring_;
    std::vector<std::int32_t> block_;
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<bool> stopping_{false};
    std::exception_ptr error_;
    std::thread writer_;
};

/// Calls pull() like an audio device: `block` frames at absolute deadlines on
/// the io_context; a late round pulls every block it missed.
class timer_playout {
public:
    timer_playout(asio::io_context& io, multicast_stream& stream, recorder* rec,
                  std::chrono::nanoseconds block)
        : timer_{io}, stream_{stream}, recorder_{rec}, block_{block},
          block_frames_{audiocast::frames_in(block, stream.format().sample_rate)},
          samples_(max_catch_up * block_frames_ * stream.format().channels)
    {}

    void start()
    {
        next_ = std::chrono::steady_clock::now() + block_;
        arm();
    }

    void stop() { timer_.cancel(); }

private:
    static constexpr std::size_t max_catch_up = 20;

    void arm()
    {
        timer_.expires_at(next_);
        timer_.async_wait([this](std::error_code ec) {
            if (ec) return;
            round();
            arm();
        });
    }

    void round()
    {
        const auto now = std::chrono::steady_clock::now();
        auto due = static_cast<std::size_t>((now - next_) / block_) + 1;
        // Far behind (the process was stopped): skip the time, as a device would.
        if (due > max_catch_up) {
            next_ += (due - max_catch_up) * block_;
            due = max_catch_up;
        }
        for (std::size_t i = 0; i < due; ++i) {
            const std::span<std::int32_t> out{samples_.data(),
                                              block_frames_ * stream_.format().channels};
            stream_.pull(out);
            if (recorder_ != nullptr) recorder_->push(out);
        }
        next_ += due * block_;
    }

    asio::steady_timer timer_;
    multicast_stream& stream_;
    recorder* recorder_;
    std::chrono::steady_clock::duration block_;
    std::size_t block_frames_;
    std::vector<std::int32_t> samples_;
    std::chrono::steady_clock::time_point next_{};
};

/// Plays through an RtAudio output device; its callback pulls.
class device_playout {
public:
    device_playout(std::unique_ptr<RtAudio> audio, unsigned device, multicast_stream& stream,
                   recorder* rec, unsigned block_frames)
        : audio_{std::move(audio)}, device_{device}, stream_{stream}, recorder_{rec},
          block_frames_{block_frames}
    {
        name_ = audio_->getDeviceInfo(device_).name;
    }

    ~device_playout() { stop(); }

    [[nodiscard]] std::string describe() const
    {
        return "device " + std::to_string(device_) + " (" + name_ + ", " +
               RtAudio::getApiDisplayName(audio_->getCurrentApi()) + ")";
    }

    void start()
    {
        RtAudio::StreamParameters out;
        out.deviceId = device_;
        out.nChannels = stream_.format().channels;
        unsigned frames = block_frames_;
        try {
            // int32 carries L16 and L24 samples exactly to the device.
            audio_->openStream(&out, nullptr, RTAUDIO_SINT32, stream_.format().sample_rate, &frames,
                               &device_playout::on_audio, this);
            audio_->startStream();
        } catch (const RtAudioError& e) {
            throw example_error{"cannot play on " + describe() + " at " +
                                audiocast::to_string(stream_.format()) + ": " + e.what() +
                                " (try --no-playback)"};
        }
    }

    void stop() noexcept
    {
        try {
            if (audio_->isStreamRunning()) audio_->stopStream();
            if (audio_->isStreamOpen()) audio_->closeStream();
        } catch (const RtAudioError&) {
        }
    }

    [[nodiscard]] std::uint64_t device_underflows() const noexcept { return underflows_.load(); }

    /// Whether the device has begun to ask for audio at its playing pace. A
    /// device first fills its own buffer in one burst (PulseAudio: some
    /// hundreds of ms), then may go quiet for about as long; a stream that
    /// arrived meanwhile would wait in the inbox, and its first pull would
    /// come so late that playout skips what should already have played.
    [[nodiscard]] bool pacing() const noexcept
    {
        const std::int64_t first = first_call_ns_.load(std::memory_order_relaxed);
        return first != 0 &&
               last_call_ns_.load(std::memory_order_relaxed) - first >= warm_up.count();
    }

    /// Waits (bounded) until pacing(); joining the group before that would
    /// skip the start of a stream that begins meanwhile.
    void wait_until_pacing() const
    {
        const auto deadline = std::chrono::steady_clock::now() + 3s;
        while (!pacing() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(5ms);
    }

private:
    // The audio thread: pull() and recorder::push() are real-time safe.
    static int on_audio(void* output, void*, unsigned frames, double, RtAudioStreamStatus status,
                        void* self_ptr)
    {
        auto& self = *static_cast<device_playout*>(self_ptr);
        // The steady clock is read through the vDSO: no system call.
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        if (self.first_call_ns_.load(std::memory_order_relaxed) == 0)
            self.first_call_ns_.store(now, std::memory_order_relaxed);
        self.last_call_ns_.store(now, std::memory_order_relaxed);
        if ((status & RTAUDIO_OUTPUT_UNDERFLOW) != 0)
            self.underflows_.fetch_add(1, std::memory_order_relaxed);
        const std::span<std::int32_t> out{static_cast<std::int32_t*>(output),
                                          std::size_t{frames} * self.stream_.format().channels};
        self.stream_.pull(out);
        if (self.recorder_ != nullptr) self.recorder_->push(out);
        return 0;
    }

    std::unique_ptr<RtAudio> audio_;
    unsigned device_;
    multicast_stream& stream_;
    recorder* recorder_;
    unsigned block_frames_;
    std::string name_;
    static constexpr std::chrono::nanoseconds warm_up = 50ms;

    std::atomic<std::uint64_t> underflows_{0};
    std::atomic<std::int64_t> first_call_ns_{0};
    std::atomic<std::int64_t> last_call_ns_{0};
};

std::string json_number(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.6f", v);
    return text;
}

std::string json_string(const std::string& s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            out += esc;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

class client {
public:
    explicit client(const client_options& opt) : opt_{opt}
    {
        const audiocast::audio_format format = opt.format.format();
        // The receiver takes packets of any length; the packet time only sizes
        // the codec's own buffers, so the shortest one fits every format.
        const audiocast::pcm_codec codec = make_codec(format, 1ms);
        audiocast::receiver_config config;
        config.latency = std::chrono::milliseconds{opt.latency_ms};

        if (!opt.no_playback) {
            auto audio = open_audio_system();
            const auto device = choose_device(*audio, direction::output, opt.device);
            if (!device)
                throw example_error{
                    "no audio output device found (RtAudio APIs: " + compiled_apis() +
                    "); use --no-playback, with --output PATH.wav to record "
                    "what would have played"};
            audio_ = std::move(audio);
            device_ = *device;
        }
        if (!opt.output.empty()) recorder_.emplace(opt.output, format);
        // Opened now, so a path that cannot be written fails before the run, not after it.
        if (!opt.stats_json.empty()) {
            stats_out_.open(opt.stats_json, std::ios::trunc);
            if (!stats_out_)
                throw example_error{"cannot write '" + opt.stats_json +
                                    "': " + std::strerror(errno)};
        }

        stream_.emplace(audiocast::as_receiver,
                        open_transport(io_, {.group = opt.network.group,
                                             .port = opt.network.port,
                                             .interface = opt.network.interface,
                                             .receive_buffer_bytes = 1 << 20}),
                        codec, audiocast::steady_clock{}, config);
        runner_.emplace(*stream_, io_.get_executor());

        recorder* rec = recorder_ ? &*recorder_ : nullptr;
        const unsigned block_frames = format.sample_rate / 200; // 5 ms
        if (audio_)
            device_playout_.emplace(std::move(audio_), device_, *stream_, rec, block_frames);
        else
            timer_playout_.emplace(io_, *stream_, rec, 5ms);
    }

    int run()
    {
        const auto& f = stream_->format();
        // The device first, so that it plays at its own pace before the
        // stream's packets are taken in.
        if (device_playout_) {
            device_playout_->start();
            device_playout_->wait_until_pacing();
        }
        if (!opt_.quiet)
            std::cout << program << ": listening on " << opt_.network.where() << " for "
                      << audiocast::to_string(f) << ", playout latency " << opt_.latency_ms
                      << " ms, "
                      << (device_playout_ ? "playing on " + device_playout_->describe()
                                          : std::string{"no playback"})
                      << (opt_.output.empty() ? "" : ", recording to '" + opt_.output + "'")
                      << std::endl;

        runner_->on_error([this](std::error_code ec) {
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
        if (!opt_.quiet) arm_status();

        runner_->start();
        if (timer_playout_) timer_playout_->start();
        io_.run();

        // The audio side stops first, so what it played last is in the stats and the file.
        if (device_playout_) device_playout_->stop();
        runner_->stop();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        int rc = receive_errors_ == 0 ? 0 : exit_failure;
        std::uint64_t frames_written = 0, frames_dropped = 0;
        if (recorder_) {
            recorder_->finish();
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
        if (!opt_.quiet) std::cout << program << ": " << summary(s) << std::endl;
        if (!opt_.stats_json.empty()) write_json(s, seconds, frames_written, frames_dropped);
        return rc;
    }

private:
    void finish()
    {
        std::error_code ignored;
        signals_.cancel(ignored);
        duration_timer_.cancel();
        status_timer_.cancel();
        if (timer_playout_) timer_playout_->stop();
        runner_->stop();
        io_.stop();
    }

    void arm_status()
    {
        status_timer_.expires_at(started_ + (++status_count_) * 1s);
        status_timer_.async_wait([this](std::error_code ec) {
            if (ec) return;
            const std::string line =
                std::to_string(status_count_) + " s  " + live(stream_->stats());
            if (tty_)
                std::cout << '\r' << line << "\033[K" << std::flush;
            else
                std::cout << line << std::endl;
            arm_status();
        });
    }

    /// The live one-line status.
    [[nodiscard]] std::string live(const audiocast::receiver_stats& s) const
    {
        const auto& f = stream_->format();
        char text[320];
        if (s.packets_received == 0) {
            std::snprintf(text, sizeof text, "waiting for the stream on %s",
                          opt_.network.where().c_str());
            std::string line = text;
            if (s.packets_malformed != 0)
                line += "; " + std::to_string(s.packets_malformed) + " packets do not match " +
                        audiocast::to_string(f) + " (check --format, --rate, --channels)";
            return line;
        }
        std::snprintf(text, sizeof text,
                      "latency p50 %.3f ms p99 %.3f ms | jitter %.3f ms | lost %llu of %llu | "
                      "%.0f B/s | buffer %.1f ms",
                      in_ms(s.latency_p50), in_ms(s.latency_p99), in_ms(s.jitter),
                      static_cast<unsigned long long>(s.packets_lost),
                      static_cast<unsigned long long>(s.packets_expected), s.throughput_bytes_per_s,
                      in_ms(audiocast::duration_of(s.buffered_frames, f.sample_rate)));
        std::string line = text;
        if (s.packets_late != 0) line += " | late " + std::to_string(s.packets_late);
        if (s.underruns != 0) line += " | underruns " + std::to_string(s.underruns);
        if (s.packets_malformed != 0) line += " | malformed " + std::to_string(s.packets_malformed);
        return line;
    }

    [[nodiscard]] static std::string summary(const audiocast::receiver_stats& s)
    {
        char text[400];
        std::snprintf(text, sizeof text,
                      "received %llu packets, %llu bytes (%.0f B/s); lost %llu, late %llu, "
                      "duplicate %llu, reordered %llu, malformed %llu; jitter %.3f ms; latency "
                      "p50 %.3f ms, p99 %.3f ms, max %.3f ms; IPDV p50 %.3f ms, p99 %.3f ms; "
                      "underruns %llu, concealed frames %llu",
                      static_cast<unsigned long long>(s.packets_received),
                      static_cast<unsigned long long>(s.bytes_received), s.throughput_bytes_per_s,
                      static_cast<unsigned long long>(s.packets_lost),
                      static_cast<unsigned long long>(s.packets_late),
                      static_cast<unsigned long long>(s.packets_duplicate),
                      static_cast<unsigned long long>(s.packets_reordered),
                      static_cast<unsigned long long>(s.packets_malformed), in_ms(s.jitter),
                      in_ms(s.latency_p50), in_ms(s.latency_p99), in_ms(s.latency_max),
                      in_ms(s.ipdv_p50), in_ms(s.ipdv_p99),
                      static_cast<unsigned long long>(s.underruns),
                      static_cast<unsigned long long>(s.concealed_frames));
        return text;
    }

    void write_json(const audiocast::receiver_stats& s, double seconds,
                    std::uint64_t frames_written, std::uint64_t frames_dropped)
    {
        const auto& f = stream_->format();
        const auto count = [](std::uint64_t v) { return std::to_string(v); };
        std::string j = "{\n";
        const auto field = [&j](const char* name, const std::string& value, bool last = false) {
            j += "  \"" + std::string{name} + "\": " + value + (last ? "\n" : ",\n");
        };
        field("group", json_string(opt_.network.group));
        field("port", count(opt_.network.port));
        field("format", json_string(audiocast::to_string(f)));
        field("latency_target_ms", count(static_cast<std::uint64_t>(opt_.latency_ms)));
        field("duration_s", json_number(seconds));
        field("packets_received", count(s.packets_received));
        field("packets_expected", count(s.packets_expected));
        field("packets_lost", count(s.packets_lost));
        field("packets_late", count(s.packets_late));
        field("packets_duplicate", count(s.packets_duplicate));
        field("packets_reordered", count(s.packets_reordered));
        field("packets_malformed", count(s.packets_malformed));
        field("packets_foreign", count(s.packets_foreign));
        field("packets_discarded", count(s.packets_discarded));
        field("packets_overrun", count(s.packets_overrun));
        field("bytes_received", count(s.bytes_received));
        field("throughput_bytes_per_s", json_number(s.throughput_bytes_per_s));
        field("packets_per_s", json_number(s.packets_per_s));
        field("jitter_ms", json_number(in_ms(s.jitter)));
        field("latency_ms", "{\"p50\": " + json_number(in_ms(s.latency_p50)) +
                                ", \"p99\": " + json_number(in_ms(s.latency_p99)) +
                                ", \"max\": " + json_number(in_ms(s.latency_max)) + "}");
        field("latency_samples", count(s.latency_samples));
        field("ipdv_ms", "{\"p50\": " + json_number(in_ms(s.ipdv_p50)) +
                             ", \"p99\": " + json_number(in_ms(s.ipdv_p99)) + "}");
        field("underruns", count(s.underruns));
        field("concealed_frames", count(s.concealed_frames));
        field("source_changes", count(s.source_changes));
        field("resyncs", count(s.resyncs));
        field("buffered_frames", count(s.buffered_frames));
        field("device_underflows",
              count(device_playout_ ? device_playout_->device_underflows() : 0));
        field("frames_recorded", count(frames_written));
        field("frames_not_recorded", count(frames_dropped), true);
        j += "}\n";
        stats_out_ << j;
        stats_out_.close();
        if (!stats_out_) throw example_error{"cannot write '" + opt_.stats_json + "'"};
    }

    const client_options& opt_;
    asio::io_context io_{1};
    std::unique_ptr<RtAudio> audio_;
    unsigned device_ = 0;
    std::optional<recorder> recorder_;
    std::ofstream stats_out_;
    std::optional<multicast_stream> stream_;
    std::optional<audiocast::stream_runner<multicast_stream>> runner_;
    std::optional<device_playout> device_playout_;
    std::optional<timer_playout> timer_playout_;
    asio::signal_set signals_{io_, SIGINT, SIGTERM};
    asio::steady_timer duration_timer_{io_};
    asio::steady_timer status_timer_{io_};
    std::chrono::steady_clock::time_point started_{};
    std::uint64_t status_count_ = 0;
    std::uint64_t receive_errors_ = 0;
    bool tty_ = ::isatty(STDOUT_FILENO) == 1;
};

} // namespace

int main(int argc, char* argv[])
{
    ensure_standard_streams();
    client_options opt;
    CLI::App app{"audiocast-client: joins an IP multicast group, plays the RTP audio stream it "
                 "carries, and reports latency, jitter, loss and throughput.",
                 program};
    opt.network.add_to(app);
    opt.format.add_to(app);
    app.add_option("--latency-ms", opt.latency_ms,
                   "Playout latency in ms: from a packet's arrival to its playout")
        ->check(CLI::Range(1, 5000))
        ->capture_default_str();
    auto* device =
        app.add_option("--device", opt.device, "Audio output device number (see --list-devices)");
    auto* no_playback =
        app.add_flag("--no-playback", opt.no_playback, "Play nothing; pull on a timer instead");
    device->excludes(no_playback);
    app.add_option("--output", opt.output,
                   "Write exactly what playout produces to this WAV file (16- or 24-bit)");
    app.add_option("--duration", opt.duration_s, "Stop after this many seconds (default: never)")
        ->check(positive_seconds());
    app.add_flag("--quiet", opt.quiet, "No live status and no summary");
    app.add_option("--stats-json", opt.stats_json, "Write the figures as JSON here at exit");
    bool list_devices = false;
    app.add_flag("--list-devices", list_devices, "List the audio output devices and exit");

    return run_main(program, app, [&] {
        app.parse(argc, argv);
        if (list_devices) {
            print_devices(std::cout, direction::output);
            return 0;
        }
        client c{opt};
        return c.run();
    });
}
