// Where audiocast-server's audio comes from: a tone, a sound file (read as it
// is sent, once or looping), or an RtAudio input device. fill() runs on the
// stream's executor after each round of sending; a capture device pushes
// from its own callback, which is real-time safe.
#pragma once

#include "support/audio_device.hpp"
#include "support/sound_file.hpp"
#include "support/stream_codec.hpp"

#include <audiocast/multicast_stream.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numbers>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace audiocast_examples {

/// Where the audio comes from. fill() runs on the stream's executor after
/// each round of sending and writes until the stream's queue is full.
class source {
public:
    virtual ~source() = default;
    [[nodiscard]] virtual std::string describe() const = 0;
    [[nodiscard]] virtual audiocast::pacing_mode pacing() const
    {
        return audiocast::pacing_mode::paced;
    }
    virtual void start(multicast_sender&) {}
    virtual void stop() noexcept {}
    virtual void fill(multicast_sender& stream) = 0;
    /// Everything the source will give has been written to the stream.
    [[nodiscard]] virtual bool exhausted() const { return false; }
    /// What the status line adds for this source ("; 3 device overflows").
    [[nodiscard]] virtual std::string status() const { return {}; }
};

/// A sine at -12 dBFS on every channel, phase-continuous forever.
class tone_source final : public source {
public:
    tone_source(double hz, const audiocast::audio_format& format, std::size_t block_frames)
        : hz_{hz}, format_{format}, block_(block_frames * format.channels)
    {}

    [[nodiscard]] std::string describe() const override
    {
        char text[64];
        std::snprintf(text, sizeof text, "a %g Hz tone", hz_);
        return text;
    }

    void fill(multicast_sender& stream) override
    {
        const unsigned channels = format_.channels;
        for (;;) {
            if (!pending_) {
                for (std::size_t f = 0; f < block_.size() / channels; ++f) {
                    const auto v = static_cast<float>(amplitude * std::sin(phase_));
                    std::fill_n(block_.begin() + static_cast<std::ptrdiff_t>(f * channels),
                                channels, v);
                    phase_ += 2.0 * std::numbers::pi * hz_ / format_.sample_rate;
                    if (phase_ >= 2.0 * std::numbers::pi) phase_ -= 2.0 * std::numbers::pi;
                }
                pending_ = std::span<const float>{block_};
            }
            std::error_code ec;
            const std::size_t frames = stream.write(*pending_, ec);
            if (ec) return;
            *pending_ = pending_->subspan(frames * channels);
            if (!pending_->empty()) return; // the queue is full
            pending_.reset();
        }
    }

private:
    static constexpr double amplitude = 0.25; // -12 dBFS

    double hz_;
    audiocast::audio_format format_;
    std::vector<float> block_;
    std::optional<std::span<const float>> pending_;
    double phase_ = 0;
};

/// A sound file, read as it is sent, once or looping.
template <class Sample>
class file_source final : public source {
public:
    file_source(std::unique_ptr<sound_file_reader> reader, bool loop, std::size_t block_frames)
        : reader_{std::move(reader)}, loop_{loop}, block_(block_frames * reader_->channels())
    {
        // A short file that loops is read once and played from memory: read
        // and rewound for every block, a one-frame file cost a fifth of a core.
        const auto frames = static_cast<std::size_t>(reader_->frames());
        if (loop_ && frames * reader_->channels() * sizeof(Sample) <= max_loop_in_memory) {
            whole_.resize(frames * reader_->channels());
            std::size_t got = 0;
            while (got < whole_.size()) {
                const std::size_t n =
                    reader_->read(std::span<Sample>{whole_}.subspan(got)) * reader_->channels();
                if (n == 0) break;
                got += n;
            }
            whole_.resize(got);
        }
    }

    [[nodiscard]] std::string describe() const override
    {
        const double seconds =
            static_cast<double>(reader_->frames()) / static_cast<double>(reader_->sample_rate());
        char text[64];
        std::snprintf(text, sizeof text, " (%.3f s%s)", seconds, loop_ ? ", looping" : "");
        return "'" + reader_->path() + "'" + text;
    }

    void fill(multicast_sender& stream) override
    {
        const std::size_t channels = reader_->channels();
        while (!ended_) {
            if (pending_.empty() && !whole_.empty()) {
                // From memory, around and around: a whole block every time.
                for (std::size_t i = 0; i < block_.size(); ++i) {
                    block_[i] = whole_[at_];
                    at_ = at_ + 1 == whole_.size() ? 0 : at_ + 1;
                }
                pending_ = std::span<const Sample>{block_};
            }
            if (pending_.empty()) {
                std::size_t frames = reader_->read(std::span<Sample>{block_});
                if (frames == 0 && loop_) {
                    reader_->rewind();
                    frames = reader_->read(std::span<Sample>{block_});
                }
                if (frames == 0) {
                    ended_ = true;
                    break;
                }
                pending_ = std::span<const Sample>{block_.data(), frames * channels};
            }
            std::error_code ec;
            const std::size_t written = stream.write(pending_, ec);
            if (ec) return;
            pending_ = pending_.subspan(written * channels);
            if (!pending_.empty()) return; // the queue is full
        }
        // The last frames do not fill a packet: send them as a shorter one.
        // flush() does nothing while the queue is full; the next refill tries again.
        if (stream.sender().codec().pending_frames() > 0) stream.flush();
        flushed_ = stream.sender().codec().pending_frames() == 0;
    }

    [[nodiscard]] bool exhausted() const override { return ended_ && flushed_; }

private:
    std::unique_ptr<sound_file_reader> reader_;
    bool loop_;
    std::vector<Sample> block_;
    std::span<const Sample> pending_;
    bool ended_ = false;
    bool flushed_ = false;
    static constexpr std::size_t max_loop_in_memory = 16u << 20; ///< bytes
    std::vector<Sample> whole_; ///< a short looping file, whole; empty otherwise
    std::size_t at_ = 0;        ///< where in whole_ the next block starts
};

#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO
/// An RtAudio input device. Its callback hands samples to the stream with
/// push(), which is real-time safe; the stream sends each packet as soon as
/// its frames are in (pacing_mode::as_written), since the device keeps time.
class capture_source final : public source {
public:
    capture_source(const std::optional<std::string>& device, const audiocast::audio_format& format,
                   std::size_t block_frames)
        : format_{format}, block_frames_{static_cast<unsigned>(block_frames)}
    {
        auto audio = open_audio_system();
        const auto chosen = choose_device(*audio, direction::input, device);
        if (!chosen)
            throw example_error{"no audio input device found (RtAudio APIs: " + compiled_apis() +
                                "); stream a file (--file) or a tone (--tone) instead"};
        audio_.emplace(std::move(audio), *chosen, direction::input);
    }

    [[nodiscard]] std::string describe() const override { return "input " + audio_->describe(); }

    [[nodiscard]] audiocast::pacing_mode pacing() const override
    {
        return audiocast::pacing_mode::as_written;
    }

    void start(multicast_sender& stream) override
    {
        stream_ = &stream;
        audio_->start(format_.channels, format_.sample_rate, RTAUDIO_FLOAT32, block_frames_,
                      &capture_source::on_audio, this);
    }

    void stop() noexcept override { audio_->stop(); }

    void fill(multicast_sender&) override {} // the callback pushes

    [[nodiscard]] std::string status() const override
    {
        std::string text;
        if (const auto n = dropped_.load(); n != 0)
            text += "; " + std::to_string(n) +
                    " captured frames dropped (the network side fell behind)";
        if (const auto n = overflows_.load(); n != 0)
            text += "; " + std::to_string(n) + " device overflows";
        return text;
    }

private:
    // The audio thread: push() takes no lock, allocates nothing and makes no system call.
    static int on_audio(void*, void* input, unsigned frames, double, RtAudioStreamStatus status,
                        void* self_ptr)
    {
        auto& self = *static_cast<capture_source*>(self_ptr);
        if ((status & RTAUDIO_INPUT_OVERFLOW) != 0)
            self.overflows_.fetch_add(1, std::memory_order_relaxed);
        if (input == nullptr) return 0;
        const std::span<const float> samples{static_cast<const float*>(input),
                                             std::size_t{frames} * self.format_.channels};
        const std::size_t taken = self.stream_->push(samples);
        if (taken < frames) self.dropped_.fetch_add(frames - taken, std::memory_order_relaxed);
        return 0;
    }

    audiocast::audio_format format_;
    unsigned block_frames_;
    std::optional<audio_stream> audio_;
    multicast_sender* stream_ = nullptr;
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> overflows_{0};
};
#endif // AUDIOCAST_EXAMPLES_HAS_RTAUDIO

} // namespace audiocast_examples
