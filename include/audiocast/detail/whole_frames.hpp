// audiocast — the one check every writer of interleaved samples makes: that
// they are whole frames. Codecs and the sender session share it, and its
// message: "7 samples is not a whole number of 2-channel frames".
#pragma once

#include <audiocast/error.hpp>

#include <cstddef>
#include <string>
#include <system_error>

namespace audiocast::detail {

/// True when `samples` is a whole number of `channels`-sample frames; else
/// sets errc::frames_not_whole. Clears `ec` when it is.
[[nodiscard]] inline bool whole_frames(std::size_t samples, unsigned channels,
                                       std::error_code& ec) noexcept
{
    if (channels == 0 || samples % channels != 0) {
        ec = errc::frames_not_whole;
        return false;
    }
    ec.clear();
    return true;
}

/// Throws errc::frames_not_whole, naming the count, unless `samples` is a
/// whole number of `channels`-sample frames.
inline void require_whole_frames(std::size_t samples, unsigned channels)
{
    std::error_code ec;
    if (!whole_frames(samples, channels, ec))
        throw_error(ec, std::to_string(samples) + " samples is not a whole number of " +
                            std::to_string(channels) + "-channel frames");
}

} // namespace audiocast::detail
