// audiocast — the three policies of basic_multicast_stream.
//
// Each concept is a conjunction of small named requirements; the semantic
// requirements, which no compiler checks, are written beside each one. Models:
//   transport: loopback_transport, udp_multicast_transport (network issue)
//   codec:     pcm_codec, opus_codec (loss_repairing_codec)
//   clock:     steady_clock, manual_clock
#pragma once

#include <audiocast/endpoint.hpp>
#include <audiocast/format.hpp>
#include <audiocast/time.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <type_traits>

namespace audiocast {

/// What a descriptor_transport's native_handle() returns: a file descriptor on
/// POSIX; on Windows a SOCKET, which is an unsigned integer as wide as a
/// pointer (spelt here without <winsock2.h>, which this header need not bring).
#if defined(_WIN32)
using native_socket = std::uintptr_t;
inline constexpr native_socket invalid_native_socket = ~native_socket{0};
#else
using native_socket = int;
inline constexpr native_socket invalid_native_socket = -1;
#endif

namespace detail {

/// Stands in for any callable the codec hands finished packet payloads to.
struct payload_sink_archetype {
    void operator()(std::span<const std::byte>) const noexcept {}
};

} // namespace detail

// ---------------------------------------------------------------------------
// transport: moves whole datagrams to and from one multicast group.
//
//   t.send(datagram, ec)          Sends one datagram to every member of the group.
//                                 Never blocks; on failure sets ec and sends nothing.
//   t.receive(buffer, ec) -> n    Copies the oldest datagram that has arrived into buffer
//                                 and returns its size (0 is a valid size). With none
//                                 waiting: returns 0, ec = std::errc::operation_would_block.
//                                 A datagram larger than buffer is cut to fit and
//                                 ec = std::errc::message_size.
// A transport knows nothing of RTP: it carries bytes.
//
// Optionally (origin_reporting_receiver):
//   t.receive(buffer, origin, ec) -> n
//                                 As receive(buffer, ec), and fills origin (endpoint.hpp)
//                                 with the datagram's source and how long it waited.
//                                 The receiver chooses its sender by address as well as
//                                 SSRC only with a transport that tells it.
//   t.receive_batch(slots, ec) -> n
//                                 (batch_receiver) Fills slots[0..n) with the datagrams
//                                 waiting, in one system call where the platform has one
//                                 (recvmmsg). n < slots.size() means none is left waiting,
//                                 or that the transport stopped early on a bound of its own
//                                 (srtp_transport's on what one call drops); either way the
//                                 caller may stop, and a descriptor with more waiting stays
//                                 readable. None waiting: 0 and ec = operation_would_block.
//                                 With an error, slots[0..n) still hold datagrams received
//                                 before it.
//   t.native_handle() -> native_socket
//                                 (descriptor_transport) A descriptor that poll(2)
//                                 (WSAPoll on Windows) reports readable when receive()
//                                 has a datagram; invalid_native_socket when closed.
//   t.follow_source(ssrc, from)   (source_following_transport) The source the receiver
//                                 plays: its SSRC, address and port. A transport that
//                                 keeps packets of one source (FEC) keeps that one's.
//                                 A receiving stream calls it on its network thread
//                                 once its session adopts a source, and at each change.
// ---------------------------------------------------------------------------
template <class T>
concept datagram_sender = requires(T& t, std::span<const std::byte> datagram, std::error_code& ec) {
    { t.send(datagram, ec) } -> std::same_as<void>;
};

template <class T>
concept datagram_receiver = requires(T& t, std::span<std::byte> buffer, std::error_code& ec) {
    { t.receive(buffer, ec) } -> std::same_as<std::size_t>;
};

template <class T>
concept transport = std::move_constructible<T> && datagram_sender<T> && datagram_receiver<T>;

template <class T>
concept origin_reporting_receiver =
    requires(T& t, std::span<std::byte> buffer, datagram_origin& origin, std::error_code& ec) {
        { t.receive(buffer, origin, ec) } -> std::same_as<std::size_t>;
    };

template <class T>
concept batch_receiver = requires(T& t, std::span<received_datagram> slots, std::error_code& ec) {
    { t.receive_batch(slots, ec) } -> std::same_as<std::size_t>;
};

template <class T>
concept descriptor_transport = transport<T> && requires(T& t) {
    { t.native_handle() } noexcept -> std::same_as<native_socket>;
};

template <class T>
concept source_following_transport =
    transport<T> && requires(T& t, std::uint32_t ssrc, const endpoint& from) {
        { t.follow_source(ssrc, from) } noexcept;
    };

/// A transport an event loop can wait on: async_wait_readable(handler) calls
/// handler(std::error_code) once a datagram may be received (then receive()
/// until would_block), and cancel_waits() ends every wait, whose handlers then
/// see operation_canceled. transport/stream_runner.hpp drives such a transport.
template <class T>
concept readiness_waiting_transport = transport<T> && requires(T& t) {
    t.async_wait_readable([](std::error_code) {});
    { t.cancel_waits() } noexcept;
};

// ---------------------------------------------------------------------------
// codec: turns frames into packet payloads and payloads back into frames.
//
//   c.format()              The audio_format it carries; fixed at construction.
//   c.packet_time()         Duration of one full packet; a whole number of frames.
//   c.frames_per_packet()   Frames in one full packet.
//   c.payload_bytes()       Bytes of one full packet's payload (for a codec whose
//                           payloads vary in size, the most one may take).
//   c.frames_in(payload)    Frames `payload` decodes to; 0 when it is none this codec
//                           can decode. A packet's duration, whatever its size.
//   c.decode(payload, out)  Decodes one payload, the next in stream order, to int32
//                           samples (24 significant bits in the top); returns the
//                           samples written. May change the codec (a compressed
//                           codec's decoder carries state from packet to packet).
//   c.write(samples, sink)  Chunking: appends whole frames, calls sink(payload) once
//                           for each full packet, keeps the remainder for the next call.
//   c.flush(sink)           Emits the remainder, if any, as one last packet.
//   c.pending_frames()      Frames held for the next packet.
//   c.reset()               Drops the remainder.
//
// Optionally:
//   c.max_packet_frames()   The most frames one payload may decode to (a receiver's
//                           buffers hold that many); else what the largest UDP
//                           payload holds at the format's bytes a frame.
//
// pcm_converter is PCM's own: stateless conversions between samples and wire
// bytes, encode(samples, out) and a const decode(payload, out).
// ---------------------------------------------------------------------------
template <class C>
concept codec_description = requires(const C& c) {
    { c.format() } -> std::convertible_to<audio_format>;
    { c.packet_time() } -> std::same_as<std::chrono::nanoseconds>;
    { c.frames_per_packet() } -> std::same_as<std::size_t>;
    { c.payload_bytes() } -> std::same_as<std::size_t>;
};

template <class C>
concept pcm_converter =
    requires(const C& c, std::span<const std::int16_t> s16, std::span<const std::int32_t> s32,
             std::span<const float> sf, std::span<std::byte> out,
             std::span<const std::byte> payload, std::span<std::int32_t> samples) {
        { c.encode(s16, out) } -> std::same_as<std::size_t>;
        { c.encode(s32, out) } -> std::same_as<std::size_t>;
        { c.encode(sf, out) } -> std::same_as<std::size_t>;
        { c.decode(payload, samples) } -> std::same_as<std::size_t>;
    };

template <class C>
concept packet_chunker = requires(C& c, const C& cc, std::span<const std::int16_t> s16,
                                  std::span<const std::int32_t> s32, std::span<const float> sf,
                                  detail::payload_sink_archetype sink) {
    c.write(s16, sink);
    c.write(s32, sink);
    c.write(sf, sink);
    c.flush(sink);
    { cc.pending_frames() } -> std::same_as<std::size_t>;
    c.reset();
};

template <class C>
concept payload_decoder =
    requires(C& c, const C& cc, std::span<const std::byte> payload, std::span<std::int32_t> out) {
        { cc.frames_in(payload) } -> std::same_as<std::size_t>;
        { c.decode(payload, out) } -> std::same_as<std::size_t>;
    };

template <class C>
concept codec =
    std::copy_constructible<C> && codec_description<C> && payload_decoder<C> && packet_chunker<C>;

// ---------------------------------------------------------------------------
// loss_repairing_codec: a codec whose decoder carries state from packet to
// packet and can repair what went missing (Opus). A receiver decodes such a
// codec's packets in stream order (session/decode_order.hpp).
//
//   c.conceal(frames, out)        Continues the sound over `frames` missing frames (at
//                                 most a packet's worth of max_packet_frames() a call,
//                                 whole repair_step()s); returns the samples written.
//   c.recover(next, frames, out)  The `frames` just before payload `next` went missing:
//                                 rebuilds them from what `next` carries about them
//                                 (in-band FEC), else conceals; returns samples written.
//   c.repair_step()               The granule conceal() and recover() work in (frames).
//   c.reset_decoder()             The next payload starts a new stream.
// A copy of the codec is a copy of its decoder's state, made without allocating
// once the copy has the same configuration (copy assignment). Optionally,
// c.copy_decoder_from(other) copies the decoder's state alone (cheaper).
// ---------------------------------------------------------------------------
template <class C>
concept loss_repairing_codec = codec<C> && std::is_copy_assignable_v<C> &&
                               requires(C& c, const C& cc, std::span<const std::byte> next,
                                        std::size_t frames, std::span<std::int32_t> out) {
                                   { c.conceal(frames, out) } noexcept -> std::same_as<std::size_t>;
                                   {
                                       c.recover(next, frames, out)
                                   } noexcept -> std::same_as<std::size_t>;
                                   { cc.repair_step() } noexcept -> std::same_as<std::size_t>;
                                   { c.reset_decoder() } noexcept;
                               };

// ---------------------------------------------------------------------------
// clock: where the stream gets its time; sessions are handed what it returns.
//
//   c.now()        Monotonic time: never goes back. Pacing and playout use it.
//   c.wall_now()   Wall time for send stamps; may step, so never used for pacing.
// Copies of a clock tell the same time (manual_clock copies share one time).
// ---------------------------------------------------------------------------
template <class C>
concept clock = std::copy_constructible<C> && requires(const C& c) {
    { c.now() } -> std::same_as<time_point>;
    { c.wall_now() } -> std::same_as<wall_time>;
};

} // namespace audiocast
