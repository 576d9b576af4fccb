// audiocast — playout without clicks (docs/architecture.md, Playout): where
// the sound stops or jumps, it fades rather than steps.
//
// A missing run is concealed with silence faded from the last frame played,
// and the audio after it fades back in. A jump to meet the common timeline
// (synchronized playout) fades out the last frame played, and the audio at the
// new place fades in. The playout timeline owns one and tells it what it
// plays; samples are the codec concept's (24 bits in the top of an int32).
// Fixed memory, noexcept: it runs on the audio thread.
#pragma once

#include <audiocast/format.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace audiocast {

class playout_fades {
public:
    /// Fades `fade_frames` long (at least one) of `channels`-channel frames.
    playout_fades(unsigned channels, std::uint64_t fade_frames) noexcept
        : channels_{channels}, fade_frames_{std::max<std::uint64_t>(1, fade_frames)}
    {}

    [[nodiscard]] std::uint64_t fade_frames() const noexcept { return fade_frames_; }

    /// Stored audio about to play, whole frames: faded in if it follows a
    /// gap or a jump, and its last frame remembered to fade from.
    void play(std::span<std::int32_t> samples) noexcept
    {
        fade_out_done_ = 0;
        const std::size_t frames = samples.size() / channels_;
        if (frames == 0) return;
        if (fading_in_) {
            for (std::size_t f = 0; f < frames && fade_in_done_ < fade_frames_;
                 ++f, ++fade_in_done_)
                for (unsigned c = 0; c < channels_; ++c) {
                    auto& v = samples[f * channels_ + c];
                    v = scaled(v, fade_in_done_ + 1);
                }
            if (fade_in_done_ >= fade_frames_) fading_in_ = false;
        }
        std::copy_n(samples.data() + (frames - 1) * channels_, channels_, last_frame_.data());
    }

    /// `frames` missing frames into `out`: the last frame played fading to
    /// silence, then silence; what plays next fades in.
    void conceal(std::span<std::int32_t> out, std::size_t frames) noexcept
    {
        for (std::size_t f = 0; f < frames; ++f) {
            const std::uint64_t step = fade_out_done_ + f;
            for (unsigned c = 0; c < channels_; ++c)
                out[f * channels_ + c] =
                    step < fade_frames_ ? scaled(last_frame_[c], fade_frames_ - step) : 0;
        }
        fade_out_done_ += frames;
        start_fade_in();
    }

    /// Before a jump: the last frame played, fading to silence over
    /// out.size() / channels frames; what plays next fades in.
    void fade_out(std::span<std::int32_t> out) noexcept
    {
        const std::size_t frames = out.size() / channels_;
        for (std::size_t f = 0; f < frames; ++f)
            for (unsigned c = 0; c < channels_; ++c)
                out[f * channels_ + c] = static_cast<std::int32_t>(
                    static_cast<std::int64_t>(last_frame_[c]) *
                    static_cast<std::int64_t>(frames - f) / static_cast<std::int64_t>(frames + 1));
        start_fade_in();
    }

    /// The output went silent by itself (the device ran dry): what plays
    /// next fades in.
    void resume_after_gap() noexcept
    {
        fade_out_done_ = fade_frames_;
        start_fade_in();
    }

private:
    void start_fade_in() noexcept
    {
        fade_in_done_ = 0;
        fading_in_ = true;
    }

    // `v` at step / (fade_frames + 1) of its level.
    [[nodiscard]] std::int32_t scaled(std::int32_t v, std::uint64_t step) const noexcept
    {
        return static_cast<std::int32_t>(static_cast<std::int64_t>(v) *
                                         static_cast<std::int64_t>(step) /
                                         static_cast<std::int64_t>(fade_frames_ + 1));
    }

    unsigned channels_;
    std::uint64_t fade_frames_;
    std::array<std::int32_t, max_channels> last_frame_{};
    std::uint64_t fade_out_done_ = 0;
    std::uint64_t fade_in_done_ = 0;
    bool fading_in_ = false;
};

} // namespace audiocast
