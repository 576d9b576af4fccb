// The client's recording: what playout produced, written to a WAV file off
// the audio thread. The audio side pushes into a lock-free ring (real-time
// safe); a writer thread empties it into the file.
#pragma once

#include "support/sound_file.hpp"

#include <audiocast/format.hpp>
#include <audiocast/spsc_ring.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace audiocast_examples {

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
        // Whole frames only: the ring's power-of-two capacity need not be a
        // multiple of the channel count, and half a frame would shift every
        // later one across channels.
        const std::size_t room = (ring_.capacity() - ring_.size_approx()) / channels_ * channels_;
        const std::size_t taken = ring_.push(samples.first(std::min(room, samples.size())));
        if (taken < samples.size())
            dropped_.fetch_add((samples.size() - taken) / channels_, std::memory_order_relaxed);
    }

    /// Writes what is left and closes the file, so that its header says how
    /// much it holds even after a failed write; call after the audio side
    /// stopped. Returns the first failure, empty when there was none.
    std::string finish()
    {
        stop_writer();
        if (!failed()) {
            try {
                drain();
            } catch (const std::exception& e) {
                failure_ = e.what();
                failed_.store(true, std::memory_order_release);
            }
        }
        try {
            file_.close();
        } catch (const std::exception& e) {
            if (!failed()) failure_ = e.what();
            failed_.store(true, std::memory_order_release);
        }
        return failed() ? failure_ : std::string{};
    }

    /// Whether writing the file failed (a full disk, say); failure() says how.
    /// Safe from any thread.
    [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

    [[nodiscard]] std::uint64_t frames_written() const noexcept { return file_.frames(); }
    [[nodiscard]] std::uint64_t frames_dropped() const noexcept { return dropped_.load(); }

private:
    void run()
    {
        while (!stopping_.load(std::memory_order_acquire)) {
            try {
                drain();
            } catch (const std::exception& e) {
                failure_ = e.what();
                failed_.store(true, std::memory_order_release);
                return;
            }
            // The ring holds 2 s: waking ten times a second costs little and keeps up.
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
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
    std::string failure_; ///< written before failed_ is set
    std::atomic<bool> failed_{false};
    std::thread writer_;
};

} // namespace audiocast_examples
