// What this build of the examples can do. Each optional feature needs a
// library the build found (examples/CMakeLists.txt defines the macros); a
// build without one refuses the options that need it with the reason, and
// --version lists what it lacks, rather than failing to build at all. A
// Windows build from Debian (MinGW-w64) has none of these libraries.
#pragma once

#include "support/example_error.hpp"

#include <string>

#ifndef AUDIOCAST_EXAMPLES_HAS_OPUS
#define AUDIOCAST_EXAMPLES_HAS_OPUS 0
#endif
#ifndef AUDIOCAST_EXAMPLES_HAS_SRTP
#define AUDIOCAST_EXAMPLES_HAS_SRTP 0
#endif
#ifndef AUDIOCAST_EXAMPLES_HAS_RTAUDIO
#define AUDIOCAST_EXAMPLES_HAS_RTAUDIO 0
#endif
#ifndef AUDIOCAST_EXAMPLES_HAS_SNDFILE
#define AUDIOCAST_EXAMPLES_HAS_SNDFILE 0
#endif
#ifndef AUDIOCAST_EXAMPLES_HAS_PULSE
#define AUDIOCAST_EXAMPLES_HAS_PULSE 0
#endif

namespace audiocast_examples {

struct build_feature {
    bool present;
    const char* what;    ///< "the Opus codec"
    const char* library; ///< "libopus"
};

inline constexpr build_feature opus_feature{AUDIOCAST_EXAMPLES_HAS_OPUS != 0, "the Opus codec",
                                            "libopus"};
inline constexpr build_feature srtp_feature{AUDIOCAST_EXAMPLES_HAS_SRTP != 0, "SRTP", "libsrtp2"};
inline constexpr build_feature audio_device_feature{AUDIOCAST_EXAMPLES_HAS_RTAUDIO != 0,
                                                    "audio devices", "RtAudio"};
inline constexpr build_feature sound_file_feature{
    AUDIOCAST_EXAMPLES_HAS_SNDFILE != 0,
    "sound files other than WAV (its own WAV reader and writer serve)", "libsndfile"};

/// "the Opus codec (libopus), SRTP (libsrtp2)": what this build lacks; empty
/// when it has everything.
[[nodiscard]] inline std::string missing_features()
{
    std::string text;
    for (const auto& f : {opus_feature, srtp_feature, audio_device_feature, sound_file_feature}) {
        if (f.present) continue;
        if (!text.empty()) text += ", ";
        text += std::string{f.what} + " (" + f.library + ")";
    }
    return text;
}

/// Refuses `option` when this build lacks `feature`, saying which library
/// it was built without.
inline void require(const build_feature& feature, const std::string& option)
{
    if (!feature.present)
        throw usage_error{option + " needs " + feature.what + ", and this build has none: " +
                          feature.library + " was not found when it was built"};
}

} // namespace audiocast_examples
