// How the examples print times.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace audiocast_examples {

[[nodiscard]] inline double in_ms(std::chrono::nanoseconds d)
{
    return static_cast<double>(d.count()) / 1e6;
}

/// A stream position as h:mm:ss.mmm.
[[nodiscard]] inline std::string clock_text(std::uint64_t frames, std::uint32_t rate)
{
    const std::uint64_t ms = frames * 1000 / rate;
    char text[32];
    std::snprintf(text, sizeof text, "%llu:%02llu:%02llu.%03llu",
                  static_cast<unsigned long long>(ms / 3'600'000),
                  static_cast<unsigned long long>(ms / 60'000 % 60),
                  static_cast<unsigned long long>(ms / 1000 % 60),
                  static_cast<unsigned long long>(ms % 1000));
    return text;
}

} // namespace audiocast_examples
