// What calls the client's pull(): an audio device through RtAudio, or, with
// --no-playback, a timer that pulls as a device would. Both hand what played
// to the recorder.
#pragma once

#include "support/audio_device.hpp"
#include "support/output_device.hpp"
#include "support/recorder.hpp"

#include <audiocast/multicast_stream.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace audiocast_examples {

/// Calls pull() like an audio device: a block of frames each time the audio
/// of the blocks before it has had time to play, on a thread of its own, as a
/// device's callback runs. Deadlines come from the frame count (start +
/// duration_of(frames pulled)), so a block that is not a whole number of
/// nanoseconds (220.5 frames of 5 ms at 44.1 kHz) costs nothing over time. A
/// late round pulls every block it missed, up to max_catch_up; beyond that the
/// missed time is skipped, as a device would. One sleep a block is its only
/// system call.
class timer_playout {
public:
    timer_playout(multicast_receiver& stream, recorder* rec, std::size_t block_frames)
        : stream_{stream}, recorder_{rec}, block_frames_{block_frames},
          samples_(block_frames * stream.format().channels)
    {}
    timer_playout(const timer_playout&) = delete;
    timer_playout& operator=(const timer_playout&) = delete;
    ~timer_playout() { stop(); }

    void start()
    {
        start_ = std::chrono::steady_clock::now();
        pulled_ = 0;
        stopping_.store(false);
        thread_ = std::thread{[this] { run(); }};
    }

    /// Stops after the block it is in; from the thread that called start().
    void stop()
    {
        stopping_.store(true);
        if (thread_.joinable()) thread_.join();
    }

private:
    static constexpr std::size_t max_catch_up = 20;

    [[nodiscard]] std::chrono::steady_clock::time_point due(std::uint64_t frames) const
    {
        return start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            audiocast::duration_of(frames, stream_.format().sample_rate));
    }

    void run()
    {
        while (!stopping_.load(std::memory_order_relaxed)) {
            std::this_thread::sleep_until(due(pulled_ + block_frames_));
            round();
        }
    }

    void round()
    {
        const auto now = std::chrono::steady_clock::now();
        std::size_t rounds = 0;
        while (due(pulled_ + block_frames_) <= now && rounds < max_catch_up) {
            stream_.pull(std::span<std::int32_t>{samples_});
            if (recorder_ != nullptr) recorder_->push(samples_);
            pulled_ += block_frames_;
            ++rounds;
        }
        // Still behind (the process was stopped): skip to now.
        const std::uint64_t elapsed =
            audiocast::frames_in(now - start_, stream_.format().sample_rate);
        if (elapsed > pulled_ + block_frames_) pulled_ = elapsed / block_frames_ * block_frames_;
    }

    multicast_receiver& stream_;
    recorder* recorder_;
    std::size_t block_frames_;
    std::vector<std::int32_t> samples_;
    std::chrono::steady_clock::time_point start_{};
    std::uint64_t pulled_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

#if AUDIOCAST_EXAMPLES_HAS_RTAUDIO

/// Plays through an RtAudio output device. The device starts before the
/// stream exists and plays silence until attach(); meanwhile its callbacks
/// show how it asks for audio: a first burst that fills its own buffer, then
/// bursts at its playing pace (PulseAudio: up to about 100 ms at a time).
/// Playout latency must cover those bursts, or each one drains the jitter
/// buffer; burst() is the largest seen once the device is pacing.
class device_playout final : public output_device {
public:
    device_playout(std::unique_ptr<RtAudio> audio, unsigned device,
                   const audiocast::audio_format& format, recorder* rec, int block_ms = 5)
        : stream_{std::move(audio), device, direction::output}, format_{format}, recorder_{rec},
          block_frames_{static_cast<unsigned>(std::max<std::uint64_t>(
              1, audiocast::frames_in(std::chrono::milliseconds{block_ms}, format)))}
    {}

    [[nodiscard]] std::string describe() const override { return stream_.describe(); }

    void start() override
    {
        // int32 carries L16 and L24 samples to the device exactly.
        stream_.start(format_.channels, format_.sample_rate, RTAUDIO_SINT32, block_frames_,
                      &device_playout::on_audio, this);
    }

    /// From now on the callback plays `s`. The release pairs with the
    /// callback's acquire, so it sees `s` fully built.
    void attach(multicast_receiver& s) noexcept override
    {
        playing_.store(&s, std::memory_order_release);
    }

    /// Waits, 3 s at most, until the device has been pacing for `observe`,
    /// so that burst() has seen its bursts. Joining the group before that
    /// would let the first packets wait in the inbox through the device's
    /// quiet spell after its first fill, and playout would skip them.
    void warm_up(std::chrono::nanoseconds observe) const override
    {
        wait_until([&] {
            const std::int64_t since = pacing_since_ns_.load(std::memory_order_relaxed);
            return since != 0 &&
                   last_call_ns_.load(std::memory_order_relaxed) - since >= observe.count();
        });
    }

    /// The most audio the device asked for at once while pacing.
    [[nodiscard]] std::chrono::nanoseconds burst() const noexcept override
    {
        return audiocast::duration_of(max_burst_frames_.load(std::memory_order_relaxed),
                                      format_.sample_rate);
    }

    void stop() noexcept override { stream_.stop(); }

    /// How long after a callback the device plays what it returned, as the
    /// audio API reports it (RtAudio's stream latency).
    [[nodiscard]] std::chrono::nanoseconds output_latency() noexcept override
    {
        const long frames = stream_.latency_frames();
        return frames > 0
                   ? audiocast::duration_of(static_cast<std::uint64_t>(frames), format_.sample_rate)
                   : std::chrono::nanoseconds::zero();
    }

    [[nodiscard]] std::uint64_t device_underflows() const noexcept override
    {
        return underflows_.load();
    }

private:
    // Calls closer together than this are one burst.
    static constexpr std::int64_t burst_gap_ns = 1'000'000;

    // The audio thread: pull() and recorder::push() are real-time safe, and the
    // steady clock is read through the vDSO (no system call).
    static int on_audio(void* output, void*, unsigned frames, double, RtAudioStreamStatus status,
                        void* self_ptr)
    {
        auto& self = *static_cast<device_playout*>(self_ptr);
        self.measure(frames);
        // The device ran dry: synchronized playout places itself again. On
        // JACK the flag means an xrun anywhere in the graph, so it may come
        // when this output did not stop: the cost is a fade in and a
        // placement by this one callback's timing.
        const bool underflow = (status & RTAUDIO_OUTPUT_UNDERFLOW) != 0;
        if (underflow) self.underflows_.fetch_add(1, std::memory_order_relaxed);
        const std::span<std::int32_t> out{static_cast<std::int32_t*>(output),
                                          std::size_t{frames} * self.format_.channels};
        if (multicast_receiver* s = self.playing_.load(std::memory_order_acquire)) {
            if (underflow) s->output_restarted();
            s->pull(out);
        } else {
            std::fill(out.begin(), out.end(), 0);
        }
        if (self.recorder_ != nullptr) self.recorder_->push(out);
        return 0;
    }

    void measure(unsigned frames) noexcept
    {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        const std::int64_t last = last_call_ns_.load(std::memory_order_relaxed);
        last_call_ns_.store(now, std::memory_order_relaxed);
        const bool same_burst = last != 0 && now - last < burst_gap_ns;
        burst_frames_ = same_burst ? burst_frames_ + frames : frames;
        // The first fill ends at the first quiet spell; bursts count after it.
        std::int64_t since = pacing_since_ns_.load(std::memory_order_relaxed);
        if (since == 0 && last != 0 && !same_burst) {
            since = now;
            pacing_since_ns_.store(now, std::memory_order_relaxed);
        }
        if (since != 0 && burst_frames_ > max_burst_frames_.load(std::memory_order_relaxed))
            max_burst_frames_.store(burst_frames_, std::memory_order_relaxed);
    }

    audio_stream stream_;
    audiocast::audio_format format_;
    recorder* recorder_;
    unsigned block_frames_;
    std::atomic<multicast_receiver*> playing_{nullptr};
    std::atomic<std::uint64_t> underflows_{0};
    std::atomic<std::int64_t> last_call_ns_{0};
    std::atomic<std::int64_t> pacing_since_ns_{0};
    std::atomic<std::uint64_t> max_burst_frames_{0};
    std::uint64_t burst_frames_ = 0; // the audio thread's own
};
#endif // AUDIOCAST_EXAMPLES_HAS_RTAUDIO

} // namespace audiocast_examples
