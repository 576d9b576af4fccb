// What the client plays through: RtAudio's device_playout
// (support/playout_drivers.hpp) or, for synchronized playout on PulseAudio,
// pulse_playout (support/pulse_playout.hpp), which measures its latency.
#pragma once

#include "support/stream_codec.hpp"

#include <audiocast/multicast_stream.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace audiocast_examples {

/// An audio output that starts before the stream exists, plays silence until
/// attach(), then calls the stream's pull() from its own thread.
class output_device {
public:
    output_device() = default;
    output_device(const output_device&) = delete;
    output_device& operator=(const output_device&) = delete;
    virtual ~output_device() = default;

    /// "device 1 (Null Output, Pulse)", for the client's first line.
    [[nodiscard]] virtual std::string describe() const = 0;
    virtual void start() = 0;
    /// From now on the device plays `s`.
    virtual void attach(multicast_receiver& s) noexcept = 0;
    /// Waits, 3 s at most, until the device has asked for audio at its own
    /// pace for `observe`, so that burst() has seen how it asks.
    virtual void warm_up(std::chrono::nanoseconds observe) const = 0;
    /// The most audio the device asked for at once while pacing.
    [[nodiscard]] virtual std::chrono::nanoseconds burst() const noexcept = 0;
    /// How long after a pull the device plays what it returned, as last known.
    [[nodiscard]] virtual std::chrono::nanoseconds output_latency() noexcept = 0;
    /// True when the device tells the stream its output latency before each
    /// pull itself; the client then leaves it alone.
    [[nodiscard]] virtual bool times_each_pull() const noexcept { return false; }
    [[nodiscard]] virtual std::uint64_t device_underflows() const noexcept = 0;
    /// Stops the callbacks: when this returns, none runs.
    virtual void stop() noexcept = 0;

protected:
    /// For warm_up(): polls `ready` every 5 ms, 3 s at most.
    template <class Ready>
    static void wait_until(Ready ready)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{3};
        while (std::chrono::steady_clock::now() < deadline && !ready())
            std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
};

} // namespace audiocast_examples
