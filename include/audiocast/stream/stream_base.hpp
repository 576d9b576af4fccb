// audiocast — what both ends of a stream share: the transports, the clock,
// and reading the control transport (docs/architecture.md, The shape).
//
// Not used directly: basic_multicast_stream<Transport, Codec, Clock>::sender
// and ::receiver (basic_multicast_stream.hpp) derive from it. A stream is the
// only place where a sans-I/O session meets a Transport and a Clock.
#pragma once

#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/stream/datagram_batch.hpp>
#include <audiocast/time.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast {

/// Which end of a stream a type is (a compile-time property of it).
enum class stream_role { sender, receiver };

namespace detail {

template <class Transport, class Codec, class Clock>
class stream_base {
    // The requirements are documented beside each concept in concepts.hpp.
    // static_assert rather than a requires-clause, so that the first error
    // line names the policy at fault.
    static_assert(transport<Transport>,
                  "Transport must model audiocast::transport: send(span<const byte>, "
                  "error_code&) and receive(span<byte>, error_code&) -> size_t");
    static_assert(codec<Codec>, "Codec must model audiocast::codec (see concepts.hpp)");
    static_assert(clock<Clock>, "Clock must model audiocast::clock: now() -> time_point and "
                                "wall_now() -> wall_time");

public:
    using transport_type = Transport;
    using codec_type = Codec;
    using clock_type = Clock;

    [[nodiscard]] Transport& transport() noexcept { return transport_; }
    [[nodiscard]] const Transport& transport() const noexcept { return transport_; }
    /// Whether the stream speaks RTCP (it was given a control transport).
    [[nodiscard]] bool has_control() const noexcept { return control_.has_value(); }
    /// The control transport; has_control() must be true.
    [[nodiscard]] Transport& control_transport() noexcept { return *control_; }
    [[nodiscard]] const Transport& control_transport() const noexcept { return *control_; }
    [[nodiscard]] Clock& clock() noexcept { return clock_; }
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

protected:
    static constexpr std::size_t max_datagrams_per_poll = 256;
    // RTCP compounds are small (an SR or RR with a few blocks, SDES, BYE);
    // anything larger than an MTU is not one audiocast needs to read.
    static constexpr std::size_t max_control_bytes = 1'500;

    stream_base(Transport transport, std::optional<Transport> control, Clock clock)
        : transport_{std::move(transport)}, control_{std::move(control)}, clock_{std::move(clock)}
    {
        if (!control_) return;
        control_packet_.resize(max_control_bytes);
        if constexpr (batch_receiver<Transport>) control_batch_.allocate(max_control_bytes);
    }

    // Reads one datagram from `t` into `buffer`, with its origin when the
    // transport tells it.
    template <class T>
    static std::size_t receive_from(T& t, std::span<std::byte> buffer, datagram_origin& origin,
                                    std::error_code& ec) noexcept
    {
        origin = {};
        if constexpr (origin_reporting_receiver<T>)
            return t.receive(buffer, origin, ec);
        else
            return t.receive(buffer, ec);
    }

    // Calls take(datagram, origin) for each control datagram waiting, a
    // bounded number; one too big to be a report is passed on empty, to be counted.
    template <class Take>
    void read_control(std::error_code& ec, Take&& take) noexcept
    {
        if constexpr (batch_receiver<Transport>) {
            control_batch_.drain(
                *control_, max_datagrams_per_poll, ec,
                [&take](std::span<const received_datagram> batch) {
                    for (const received_datagram& d : batch)
                        take(d.truncated ? std::span<const std::byte>{}
                                         : std::span<const std::byte>{d.buffer.data(), d.size},
                             d.origin);
                });
            return;
        }
        for (std::size_t i = 0; i < max_datagrams_per_poll; ++i) {
            datagram_origin origin;
            const std::size_t size = receive_from(*control_, control_packet_, origin, ec);
            if (ec == std::errc::operation_would_block) {
                ec.clear();
                return;
            }
            if (ec == std::errc::message_size) {
                ec.clear();
                take(std::span<const std::byte>{}, origin);
                continue;
            }
            if (ec) return;
            take(std::span<const std::byte>{control_packet_.data(), size}, origin);
        }
    }

    // Sends the first `size` bytes of the control buffer on the control transport.
    void send_control(std::size_t size, std::error_code& ec) noexcept
    {
        control_->send(std::span<const std::byte>{control_packet_.data(), size}, ec);
    }

    [[no_unique_address]] Transport transport_;
    std::optional<Transport> control_;
    [[no_unique_address]] Clock clock_;
    // The network side's RTCP buffer.
    std::vector<std::byte> control_packet_;
    // What a batch_receiver's RTCP is read into.
    detail::datagram_batch<4> control_batch_;
};

} // namespace detail
} // namespace audiocast
