// Audio devices for the examples, through RtAudio: find one, list them, and
// say plainly when there is none. Only the examples use RtAudio; the library
// never does.
#pragma once

#include "support/example_error.hpp"

#include <RtAudio.h>

#if AUDIOCAST_EXAMPLES_HAS_ALSA
#include <alsa/asoundlib.h>
#endif

#include <fcntl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
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

enum class direction { output, input };

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

/// The device to use in `dir`: `wanted` when given (checked), else the
/// default one, else the first with channels in `dir`. nullopt when the
/// system has none.
inline std::optional<unsigned> choose_device(RtAudio& audio, direction dir,
                                             std::optional<unsigned> wanted)
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
        if (*wanted >= count)
            throw usage_error{"audio device " + std::to_string(*wanted) + " does not exist (" +
                              std::to_string(count) + " devices on " +
                              RtAudio::getApiDisplayName(audio.getCurrentApi()) + ")"};
        if (channels_of(*wanted) == 0)
            throw usage_error{"audio device " + std::to_string(*wanted) + " has no " + what +
                              " channels"};
        return wanted;
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
