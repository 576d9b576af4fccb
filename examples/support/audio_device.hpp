// Audio devices for the examples, through RtAudio: find one, list them, and
// say plainly when there is none. Only the examples use RtAudio; the library
// never does. A build without RtAudio (support/build_features.hpp) has no
// devices, and --list-devices, --capture and playback say so.
#pragma once

#include "support/build_features.hpp"
#include "support/example_error.hpp"

#include <ostream>

namespace audiocast_examples {
enum class direction { output, input };
} // namespace audiocast_examples

#if !AUDIOCAST_EXAMPLES_HAS_RTAUDIO
namespace audiocast_examples {
inline void print_devices(std::ostream&, direction)
{
    require(audio_device_feature, "--list-devices");
}
} // namespace audiocast_examples
#else

#include <RtAudio.h>

#if AUDIOCAST_EXAMPLES_HAS_ALSA
#include <alsa/asoundlib.h>
#endif

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace audiocast_examples {

#if AUDIOCAST_EXAMPLES_HAS_ALSA
// ALSA prints its configuration errors to stderr when there is no sound card,
// several lines for each device probe; the examples say it in one line instead.
inline void quiet_alsa_error(const char*, int, const char*, int, const char*, ...) {}
#endif

/// Sends stderr to /dev/null while it lives. RtAudio's constructor probes
/// every API it was built with and prints each failure there (no PulseAudio
/// server, no JACK server) before any setting can silence it; the examples
/// report the outcome in one line instead.
class stderr_silenced {
public:
    stderr_silenced() noexcept
    {
        std::fflush(stderr);
        saved_ = ::dup(STDERR_FILENO);
        const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved_ >= 0 && null >= 0) ::dup2(null, STDERR_FILENO);
        if (null >= 0) ::close(null);
    }
    stderr_silenced(const stderr_silenced&) = delete;
    stderr_silenced& operator=(const stderr_silenced&) = delete;
    ~stderr_silenced()
    {
        std::fflush(stderr);
        if (saved_ < 0) return;
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
    }

private:
    int saved_ = -1;
};

/// An RtAudio instance on the first API that has a device, with the probing
/// noise of RtAudio and ALSA kept off stderr.
inline std::unique_ptr<RtAudio> open_audio_system()
{
#if AUDIOCAST_EXAMPLES_HAS_ALSA
    ::snd_lib_error_set_handler(&quiet_alsa_error);
#endif
    try {
        const stderr_silenced quiet;
        auto audio = std::make_unique<RtAudio>();
        audio->showWarnings(false);
        return audio;
    } catch (const RtAudioError& e) {
        throw example_error{std::string{"cannot open the audio system: "} + e.what()};
    }
}

/// The devices of the current API with channels in `dir`, as "N: name (C channels)".
inline std::vector<std::string> describe_devices(RtAudio& audio, direction dir)
{
    std::vector<std::string> lines;
    const unsigned count = audio.getDeviceCount();
    for (unsigned i = 0; i < count; ++i) {
        const RtAudio::DeviceInfo info = audio.getDeviceInfo(i);
        if (!info.probed) continue;
        const unsigned channels =
            dir == direction::output ? info.outputChannels : info.inputChannels;
        if (channels == 0) continue;
        const bool is_default =
            dir == direction::output ? info.isDefaultOutput : info.isDefaultInput;
        lines.push_back(std::to_string(i) + ": " + info.name + " (" + std::to_string(channels) +
                        " channels" + (is_default ? ", default" : "") + ")");
    }
    return lines;
}

/// Prints the devices of `dir` for --list-devices.
inline void print_devices(std::ostream& out, direction dir)
{
    const auto audio = open_audio_system();
    const auto devices = describe_devices(*audio, dir);
    out << "audio " << (dir == direction::output ? "output" : "input") << " devices ("
        << RtAudio::getApiDisplayName(audio->getCurrentApi())
        << "):" << (devices.empty() ? " none" : "") << '\n';
    for (const auto& d : devices)
        out << "  " << d << '\n';
}

/// Which of `names` a --device NAME means: the one equal to it, ignoring
/// case, else the only one that contains it; "" when none does. Several
/// that contain it are refused, naming them.
[[nodiscard]] inline std::optional<unsigned> device_by_name(const std::vector<std::string>& names,
                                                            const std::string& wanted,
                                                            std::string& ambiguous)
{
    const auto lower = [](std::string t) {
        for (char& c : t)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return t;
    };
    const std::string w = lower(wanted);
    std::vector<unsigned> containing;
    for (unsigned i = 0; i < names.size(); ++i) {
        if (names[i].empty()) continue; // not a candidate
        const std::string n = lower(names[i]);
        if (n == w) return i;
        if (!w.empty() && n.find(w) != std::string::npos) containing.push_back(i);
    }
    if (containing.size() == 1) return containing.front();
    for (unsigned i : containing)
        ambiguous += (ambiguous.empty() ? "" : ", ") + std::to_string(i) + " \"" + names[i] + "\"";
    return std::nullopt;
}

/// The device to use: `wanted` by number or by name (see device_by_name),
/// else the system's default for the direction (PulseAudio's default follows
/// PULSE_SINK / PULSE_SOURCE), else the first that has channels for it;
/// nullopt when there is none. A device asked for that does not exist or
/// lacks such channels is a usage_error that lists what there is.
inline std::optional<unsigned> choose_device(RtAudio& audio, direction dir,
                                             const std::optional<std::string>& wanted)
{
    const unsigned count = audio.getDeviceCount();
    const auto channels_of = [&](unsigned i) {
        const RtAudio::DeviceInfo info = audio.getDeviceInfo(i);
        if (!info.probed) return 0u;
        return dir == direction::output ? info.outputChannels : info.inputChannels;
    };
    const char* what = dir == direction::output ? "output" : "input";
    // No device at all is "no audio device" whatever was asked for.
    if (count == 0) return std::nullopt;
    if (wanted) {
        std::optional<unsigned> index;
        const bool number =
            !wanted->empty() && std::all_of(wanted->begin(), wanted->end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) != 0;
            });
        // Only devices with channels for the direction are candidates for a
        // name ("Null Output" is not matched by its input "Monitor of ...").
        std::vector<std::string> names;
        std::string listing;
        for (unsigned i = 0; i < count; ++i) {
            const bool usable = channels_of(i) > 0;
            names.push_back(usable ? audio.getDeviceInfo(i).name : std::string{});
            if (usable)
                listing +=
                    (listing.empty() ? "" : ", ") + std::to_string(i) + " \"" + names[i] + "\"";
        }
        if (number) {
            try {
                index = static_cast<unsigned>(std::stoul(*wanted));
            } catch (const std::logic_error&) {
                index = count; // too large to be one
            }
            if (*index >= count)
                throw usage_error{"audio device " + *wanted + " does not exist (" +
                                  std::to_string(count) + " devices on " +
                                  RtAudio::getApiDisplayName(audio.getCurrentApi()) + ": " +
                                  listing + ")"};
        } else {
            std::string ambiguous;
            index = device_by_name(names, *wanted, ambiguous);
            if (!index)
                throw usage_error{ambiguous.empty()
                                      ? "no audio device is called \"" + *wanted + "\" (" + what +
                                            " devices: " + listing + ")"
                                      : "\"" + *wanted + "\" names several audio devices: " +
                                            ambiguous + "; give more of the name, or the number"};
        }
        if (channels_of(*index) == 0)
            throw usage_error{"audio device " + std::to_string(*index) + " \"" + names[*index] +
                              "\" has no " + what + " channels"};
        return index;
    }
    const unsigned preferred =
        dir == direction::output ? audio.getDefaultOutputDevice() : audio.getDefaultInputDevice();
    if (preferred < count && channels_of(preferred) > 0) return preferred;
    for (unsigned i = 0; i < count; ++i)
        if (channels_of(i) > 0) return i;
    return std::nullopt;
}

/// One open RtAudio stream on one device, stopped and closed on destruction,
/// so its callback never outlives what it feeds.
class audio_stream {
public:
    audio_stream(std::unique_ptr<RtAudio> audio, unsigned device, direction dir)
        : audio_{std::move(audio)}, device_{device}, direction_{dir}
    {
        name_ = audio_->getDeviceInfo(device_).name;
    }

    audio_stream(const audio_stream&) = delete;
    audio_stream& operator=(const audio_stream&) = delete;
    ~audio_stream() { stop(); }

    /// "device 1 (Null Output, Pulse)".
    [[nodiscard]] std::string describe() const
    {
        return "device " + std::to_string(device_) + " (" + name_ + ", " +
               RtAudio::getApiDisplayName(audio_->getCurrentApi()) + ")";
    }

    /// Opens and starts the stream at `rate` with `channels` in `format`,
    /// asking for callbacks of `block_frames`; `callback` gets `user`.
    void start(unsigned channels, std::uint32_t rate, RtAudioFormat format, unsigned block_frames,
               RtAudioCallback callback, void* user)
    {
        RtAudio::StreamParameters params;
        params.deviceId = device_;
        params.nChannels = channels;
        unsigned frames = block_frames;
        try {
            audio_->openStream(direction_ == direction::output ? &params : nullptr,
                               direction_ == direction::input ? &params : nullptr, format, rate,
                               &frames, callback, user);
            audio_->startStream();
        } catch (const RtAudioError& e) {
            stop();
            throw example_error{
                "cannot " +
                std::string{direction_ == direction::output ? "play on " : "capture from "} +
                describe() + " at " + std::to_string(rate) + " Hz, " + std::to_string(channels) +
                " channels: " + e.what()};
        }
    }

    /// The stream's latency as the audio API reports it, in frames; 0 when
    /// it reports none or the stream is not open.
    [[nodiscard]] long latency_frames() noexcept
    {
        try {
            return audio_->isStreamOpen() ? audio_->getStreamLatency() : 0;
        } catch (const RtAudioError&) {
            return 0;
        }
    }

    /// Stops the callbacks (when this returns, none runs) and closes the device.
    void stop() noexcept
    {
        try {
            if (audio_->isStreamRunning()) audio_->stopStream();
            if (audio_->isStreamOpen()) audio_->closeStream();
        } catch (const RtAudioError&) {
        }
    }

private:
    std::unique_ptr<RtAudio> audio_;
    unsigned device_;
    direction direction_;
    std::string name_;
};

/// The compiled APIs, for messages: "JACK, PulseAudio, ALSA".
inline std::string compiled_apis()
{
    std::vector<RtAudio::Api> apis;
    RtAudio::getCompiledApi(apis);
    std::string text;
    for (RtAudio::Api api : apis) {
        if (!text.empty()) text += ", ";
        text += RtAudio::getApiDisplayName(api);
    }
    return text.empty() ? "none" : text;
}

} // namespace audiocast_examples

#endif // AUDIOCAST_EXAMPLES_HAS_RTAUDIO
