// What the examples report and how they exit: a usage_error is a bad argument
// (exit 2), an example_error anything else that stops them (exit 1).
#pragma once

#include <stdexcept>

namespace audiocast_examples {

inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// A failure that is not the user's typing: a missing file, no audio device.
struct example_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// A command line the program cannot honour.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace audiocast_examples
