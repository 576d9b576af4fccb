// A deterministic harness for stream tests: one sender and N receivers on a
// loopback group, driven in fixed steps of a manual clock. No threads, no sleeps.
#pragma once

#include <audiocast/loopback_stream.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace audiocast_test {

using namespace std::chrono_literals;

/// A source whose every sample is non-zero and encodes its frame index, so
/// order, gaps and repeats show in the output.
inline std::int16_t source_sample(std::uint64_t frame, unsigned channel)
{
    const auto v = static_cast<std::int32_t>((frame * 7 + channel * 13) % 32000) + 1;
    return static_cast<std::int16_t>(frame % 2 == 0 ? v : -v);
}

/// `frames` frames of source_sample's sequence from frame `first` on: every
/// sample non-zero, and two sources that start apart differ.
inline std::vector<std::int16_t> make_source(std::uint64_t frames, unsigned channels,
                                             std::uint64_t first = 0)
{
    std::vector<std::int16_t> s(static_cast<std::size_t>(frames) * channels);
    for (std::uint64_t f = 0; f < frames; ++f)
        for (unsigned c = 0; c < channels; ++c)
            s[static_cast<std::size_t>(f) * channels + c] = source_sample(first + f, c);
    return s;
}

inline bool silent_frame(const std::int16_t* frame, unsigned channels)
{
    return std::all_of(frame, frame + channels, [](std::int16_t v) { return v == 0; });
}

/// `out` without the silent frames before its first and after its last sound.
inline std::vector<std::int16_t> trimmed(const std::vector<std::int16_t>& out, unsigned channels)
{
    std::size_t first = 0;
    while (first + channels <= out.size() && silent_frame(out.data() + first, channels))
        first += channels;
    std::size_t end = out.size() / channels * channels;
    while (end > first && silent_frame(out.data() + end - channels, channels))
        end -= channels;
    return {out.begin() + static_cast<std::ptrdiff_t>(first),
            out.begin() + static_cast<std::ptrdiff_t>(end)};
}

/// The frames missing from the head of `played` when it is `source` without
/// its first few; 0 when they are equal; nullopt when they differ otherwise.
inline std::optional<std::size_t> head_skipped(const std::vector<std::int16_t>& played,
                                               const std::vector<std::int16_t>& source,
                                               unsigned channels)
{
    if (played.size() > source.size() || played.size() % channels != 0) return std::nullopt;
    const std::size_t skipped = source.size() - played.size();
    if (!std::equal(played.begin(), played.end(),
                    source.begin() + static_cast<std::ptrdiff_t>(skipped)))
        return std::nullopt;
    return skipped / channels;
}

/// The silent frames `played` holds between `source`'s frames: 0 when they
/// are equal, nullopt when `played` is not `source` with runs of silence put
/// between its frames. A sender that slipped its schedule sends such a gap
/// (sender_session::next_packet), every listener plays it, and its length is
/// the sender's stats().slipped; `source` must have no silent frame
/// (make_source).
inline std::optional<std::size_t> inserted_silence(const std::vector<std::int16_t>& played,
                                                   const std::vector<std::int16_t>& source,
                                                   unsigned channels)
{
    if (played.size() % channels != 0 || source.size() % channels != 0) return std::nullopt;
    std::size_t p = 0;
    std::size_t s = 0;
    std::size_t silent = 0;
    while (p < played.size()) {
        if (s < source.size() &&
            std::equal(played.begin() + static_cast<std::ptrdiff_t>(p),
                       played.begin() + static_cast<std::ptrdiff_t>(p + channels),
                       source.begin() + static_cast<std::ptrdiff_t>(s))) {
            s += channels;
        } else if (silent_frame(played.data() + p, channels)) {
            ++silent;
        } else {
            return std::nullopt;
        }
        p += channels;
    }
    if (s != source.size()) return std::nullopt;
    return silent;
}

/// True when `played` is `source` bit-exact but for the gap `sent` reports
/// its sender slipped (inserted_silence): a sending thread held up past
/// max_lateness on a loaded host slips, and every listener plays that gap.
inline bool is_source_but_the_slip(const std::vector<std::int16_t>& played,
                                   const std::vector<std::int16_t>& source, unsigned channels,
                                   const audiocast::sender_stats& sent,
                                   std::uint32_t sample_rate = 48'000)
{
    return inserted_silence(played, source, channels) ==
           audiocast::frames_in(sent.slipped, sample_rate);
}

struct harness {
    audiocast::manual_clock clock;
    audiocast::loopback_group group;
    audiocast::loopback_sender sender;
    std::vector<audiocast::loopback_receiver> receivers;
    std::vector<std::vector<std::int16_t>> outputs;
    std::vector<std::int16_t> source;
    std::size_t written_frames = 0;
    std::chrono::nanoseconds step = 1ms;
    std::vector<std::int16_t> block;

    harness(std::size_t receiver_count, audiocast::network_faults faults = {},
            std::uint64_t seed = 1, audiocast::sender_config sender_cfg = fixed_ids(),
            audiocast::receiver_config receiver_cfg = {}, audiocast::pcm_config codec_cfg = {})
        : group{clock, faults, seed},
          sender{group.join(), audiocast::pcm_codec{codec_cfg}, clock, sender_cfg}
    {
        receivers.reserve(receiver_count);
        for (std::size_t i = 0; i < receiver_count; ++i)
            receivers.emplace_back(group.join(), audiocast::pcm_codec{codec_cfg}, clock,
                                   receiver_cfg);
        outputs.resize(receiver_count);
    }

    static audiocast::sender_config fixed_ids()
    {
        audiocast::sender_config c;
        c.ssrc = 0x1234'5678;
        c.initial_sequence = 1000;
        c.initial_timestamp = 5000;
        return c;
    }

    [[nodiscard]] unsigned channels() const { return sender.format().channels; }
    [[nodiscard]] std::size_t frames_per_step() const
    {
        return static_cast<std::size_t>(audiocast::frames_in(step, sender.format()));
    }

    /// Writes what the sender accepts of the source.
    void feed()
    {
        const std::size_t ch = channels();
        const std::size_t left = source.size() / ch - written_frames;
        if (left == 0) return;
        const auto n = sender.write(
            std::span<const std::int16_t>{source.data() + written_frames * ch, left * ch});
        written_frames += n;
    }

    /// One step: the sender sends what is due, receivers take what arrived and
    /// play one step of frames, then time moves on.
    void tick(bool feed_source = true)
    {
        if (feed_source) feed();
        sender.poll();
        pull_all();
        clock.advance(step);
    }

    void pull_all()
    {
        block.resize(frames_per_step() * channels());
        for (std::size_t i = 0; i < receivers.size(); ++i) {
            receivers[i].poll();
            receivers[i].pull(std::span<std::int16_t>{block});
            outputs[i].insert(outputs[i].end(), block.begin(), block.end());
        }
    }

    void run(std::chrono::nanoseconds d, bool feed_source = true)
    {
        for (auto t = std::chrono::nanoseconds{0}; t < d; t += step)
            tick(feed_source);
    }

    /// The output with its leading silence removed.
    [[nodiscard]] std::vector<std::int16_t> trimmed(std::size_t receiver) const
    {
        const auto& out = outputs[receiver];
        auto first = std::find_if(out.begin(), out.end(), [](std::int16_t v) { return v != 0; });
        const auto offset = static_cast<std::size_t>(first - out.begin()) / channels() * channels();
        return {out.begin() + static_cast<std::ptrdiff_t>(offset), out.end()};
    }

    /// The output with every silent frame removed.
    [[nodiscard]] std::vector<std::int16_t> without_silence(std::size_t receiver) const
    {
        std::vector<std::int16_t> r;
        const auto& out = outputs[receiver];
        const std::size_t ch = channels();
        for (std::size_t f = 0; f + ch <= out.size(); f += ch) {
            bool silent = true;
            for (std::size_t c = 0; c < ch; ++c)
                silent = silent && out[f + c] == 0;
            if (!silent)
                r.insert(r.end(), out.begin() + static_cast<std::ptrdiff_t>(f),
                         out.begin() + static_cast<std::ptrdiff_t>(f + ch));
        }
        return r;
    }
};

/// True when `played` is the source's first played.size() samples.
inline bool is_prefix_of_source(const std::vector<std::int16_t>& played,
                                const std::vector<std::int16_t>& source)
{
    return played.size() <= source.size() &&
           std::equal(played.begin(), played.end(), source.begin());
}

} // namespace audiocast_test
