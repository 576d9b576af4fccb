// audiocast — the receiver's jitter buffer.
//
// Frames are stored by their position on the sender's media timeline (the
// extended RTP timestamp), not by packet, so packets of any size, reordered or
// duplicated, land where they belong and playout reads them back in order.
// Memory is fixed at construction: `capacity` frames of int32 samples (24
// significant bits in the top, lossless for L16 and L24) and two flags per
// frame: present, and whether it is filler silence. Nothing here allocates
// after construction.
//
// Audio that is stored stays: a later packet for the same frames (a forged
// one, or a duplicate the sequence numbers did not show) never overwrites it,
// and silence filled into a gap (insert_silence) gives way to any audio that
// arrives for it. So whatever a stranger sends costs at most the frames it
// claims that were not yet stored.
#pragma once

#include <audiocast/detail/config.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace audiocast {

/// What became of a packet offered to the jitter buffer.
enum class insert_result {
    stored,      ///< every frame stored
    partly_late, ///< its head was already played; the rest was stored
    late,        ///< entirely before the read position: already played, dropped
    too_early,   ///< ends beyond the window: dropped, the caller should re-anchor
};

/// A window of `capacity` frames on the media timeline, starting at the read
/// position. Writers insert frames anywhere in the window; the reader takes
/// them in order from the read position, run by run (present or missing).
class jitter_buffer {
public:
    /// `channels` samples per frame; `capacity` frames in the window.
    jitter_buffer(unsigned channels, std::size_t capacity)
        : channels_{channels}, capacity_{capacity}, samples_(capacity * channels),
          present_(capacity, 0), filler_(capacity, 0)
    {
        AUDIOCAST_ASSERT(channels > 0 && capacity > 0);
    }

    [[nodiscard]] unsigned channels() const noexcept { return channels_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Position of the next frame the reader will take.
    [[nodiscard]] std::uint64_t read_position() const noexcept { return read_; }

    /// One past the highest frame ever stored since the last reset; equal to
    /// read_position() when nothing is ahead of the reader.
    [[nodiscard]] std::uint64_t end_position() const noexcept { return std::max(end_, read_); }

    /// Frames stored and not yet read.
    [[nodiscard]] std::size_t buffered_frames() const noexcept { return buffered_; }

    /// True when frames are stored at or after the read position.
    [[nodiscard]] bool has_data_ahead() const noexcept { return buffered_ > 0; }

    /// Empties the buffer and moves the window to start at `position`.
    void reset(std::uint64_t position) noexcept
    {
        std::fill(present_.begin(), present_.end(), std::uint8_t{0});
        std::fill(filler_.begin(), filler_.end(), std::uint8_t{0});
        buffered_ = 0;
        read_ = position;
        end_ = position;
    }

    /// Moves the read position back to `position` when nothing has been read
    /// yet, so a packet that arrives after a later one can still be played.
    /// Returns false, and changes nothing, when the window cannot stretch that far.
    bool rewind(std::uint64_t position) noexcept
    {
        if (position >= read_) return true;
        if (end_position() - position > capacity_) return false;
        read_ = position;
        return true;
    }

    /// Stores `samples` (whole interleaved frames) starting at `position`,
    /// in the frames that hold no audio yet: missing ones and filler silence.
    insert_result insert(std::uint64_t position, std::span<const std::int32_t> samples) noexcept
    {
        const std::size_t frames = samples.size() / channels_;
        if (frames == 0) return insert_result::stored;
        const std::uint64_t last = position + frames;
        if (last <= read_) return insert_result::late;
        if (last > read_ + capacity_) return insert_result::too_early;

        std::size_t skip = 0;
        if (position < read_) skip = static_cast<std::size_t>(read_ - position);
        const std::int32_t* from = samples.data() + skip * channels_;
        for_each_segment(position + skip, frames - skip, [&](std::size_t slot, std::size_t n) {
            if (std::memchr(present_.data() + slot, 1, n) == nullptr) {
                // The common case: all missing, one copy.
                std::copy_n(from, n * channels_, samples_.data() + slot * channels_);
                mark(slot, n, 1);
            } else {
                for (std::size_t i = 0; i < n; ++i) {
                    const std::size_t s = slot + i;
                    if (present_[s] != 0 && filler_[s] == 0) continue; // audio stays
                    std::copy_n(from + i * channels_, channels_, samples_.data() + s * channels_);
                    if (present_[s] == 0) ++buffered_;
                    present_[s] = 1;
                    filler_[s] = 0;
                }
            }
            from += n * channels_;
        });
        end_ = std::max(end_, last);
        return skip > 0 ? insert_result::partly_late : insert_result::stored;
    }

    /// Fills the missing frames of [from, to) with silence: frames the sender
    /// deliberately did not send (a pause), which playout must not treat as
    /// loss. Stored audio is left alone, and audio that arrives later for
    /// these frames replaces the silence. The part outside the window is ignored.
    void insert_silence(std::uint64_t from, std::uint64_t to) noexcept
    {
        from = std::max(from, read_);
        to = std::min(to, read_ + capacity_);
        if (to <= from) return;
        for_each_segment(
            from, static_cast<std::size_t>(to - from), [&](std::size_t slot, std::size_t n) {
                for (std::size_t s = slot; s < slot + n; ++s) {
                    if (present_[s] != 0) continue;
                    std::fill_n(samples_.data() + s * channels_, channels_, std::int32_t{0});
                    present_[s] = 1;
                    filler_[s] = 1;
                    ++buffered_;
                }
            });
        end_ = std::max(end_, to);
    }

    /// Drops `frames` frames at the read position, stored or not, as if played.
    void skip(std::uint64_t frames) noexcept
    {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(frames, capacity_));
        for_each_segment(read_, n,
                         [&](std::size_t slot, std::size_t count) { mark(slot, count, 0); });
        read_ += frames;
    }

    /// Takes the run of frames at the read position that are all present or
    /// all missing, at most out.size() / channels() frames, and advances past
    /// them. Present frames are copied to `out`; missing ones leave it alone.
    /// Returns the frames in the run; `present` says which kind it was.
    std::size_t read_run(std::span<std::int32_t> out, bool& present) noexcept
    {
        std::size_t limit = out.size() / channels_;
        if (limit == 0) return 0;
        const std::uint8_t kind = present_[slot_of(read_)];
        present = kind != 0;
        // A missing run never runs past the newest stored frame: beyond it the
        // buffer is dry, which the caller handles differently from a gap.
        if (kind == 0) limit = end_ > read_ ? std::min<std::uint64_t>(limit, end_ - read_) : 1;
        std::size_t n = 0;
        while (n < limit) {
            const std::size_t slot = slot_of(read_ + n);
            const std::size_t segment = std::min(limit - n, capacity_ - slot);
            // Flags are 0 or 1, so the run ends at the first byte equal to kind ^ 1.
            const std::uint8_t* flags = present_.data() + slot;
            const void* end = std::memchr(flags, kind ^ 1, segment);
            const std::size_t run =
                end == nullptr
                    ? segment
                    : static_cast<std::size_t>(static_cast<const std::uint8_t*>(end) - flags);
            if (kind != 0) {
                std::copy_n(samples_.data() + slot * channels_, run * channels_,
                            out.data() + n * channels_);
                mark(slot, run, 0);
            }
            n += run;
            if (run < segment) break;
        }
        read_ += n;
        return n;
    }

private:
    /// Calls fn(slot, n) for the one or two runs of slots that frames
    /// [position, position + count) occupy, count <= capacity: the ring wraps
    /// at most once, and whole runs copy faster than frames one by one.
    template <class Fn>
    void for_each_segment(std::uint64_t position, std::size_t count, Fn&& fn) const
    {
        while (count > 0) {
            const std::size_t slot = slot_of(position);
            const std::size_t n = std::min(count, capacity_ - slot);
            fn(slot, n);
            position += n;
            count -= n;
        }
    }

    /// Sets the presence flags of slots [slot, slot + n) to `flag` (as audio,
    /// not filler), keeping buffered_ the count of present slots.
    void mark(std::size_t slot, std::size_t n, std::uint8_t flag) noexcept
    {
        std::uint8_t* flags = present_.data() + slot;
        const auto changed = static_cast<std::size_t>(std::count(flags, flags + n, flag ^ 1));
        std::fill_n(flags, n, flag);
        std::fill_n(filler_.data() + slot, n, std::uint8_t{0});
        if (flag != 0)
            buffered_ += changed;
        else
            buffered_ -= changed;
    }

    [[nodiscard]] std::size_t slot_of(std::uint64_t position) const noexcept
    {
        return static_cast<std::size_t>(position % capacity_);
    }

    unsigned channels_;
    std::size_t capacity_;
    std::vector<std::int32_t> samples_;
    std::vector<std::uint8_t> present_;
    std::vector<std::uint8_t> filler_; ///< 1 where a present frame is filler silence
    std::size_t buffered_ = 0;
    std::uint64_t read_ = 0;
    std::uint64_t end_ = 0;
};

} // namespace audiocast
