// audiocast — whether a datagram could be the stream's RTP at all
// (docs/architecture.md, The path of a packet).
//
// The test is stateless: the datagram parses as RTP (wire/rtp.hpp), carries
// the payload type the receiver was told to expect, and holds a whole number
// of frames (for a compressed codec: is a packet its codec can decode) that
// the receiver's buffers can take. The receiver session counts
// what fails it as malformed; the receiver stream applies the same screen on
// its network thread, so that such datagrams never take a place in the
// hand-off to the audio side. Being immutable after construction, one screen
// may be read from any number of threads.
#pragma once

#include <audiocast/format.hpp>
#include <audiocast/wire/rtp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>

namespace audiocast {

class packet_screen {
public:
    /// The frames a compressed payload decodes to, 0 for none: a codec's
    /// static frames_in(), which reads only the payload (codec/opus.hpp).
    using frame_counter = std::size_t (*)(std::span<const std::byte>) noexcept;

    /// `payload_type`: the one to accept, or any when unset. `max_frames`:
    /// the most frames one packet may carry. `frames_in`: for a compressed
    /// format, how many frames a payload holds; linear PCM counts its bytes.
    packet_screen(const audio_format& format, std::optional<std::uint8_t> payload_type,
                  std::uint8_t send_time_extension_id, std::size_t max_frames,
                  frame_counter frames_in = nullptr) noexcept
        : frame_bytes_{bytes_per_frame(format)}, max_frames_{max_frames}, frames_in_{frames_in},
          payload_type_{payload_type}, send_time_extension_id_{send_time_extension_id}
    {}

    /// The parsed packet, and in `passed` whether `datagram` passes; when it
    /// does not, the packet means nothing. The view points into `datagram`.
    /// (A flag rather than std::optional: the packet is returned in place on
    /// a path every datagram of a flood takes.)
    [[nodiscard]] rtp::packet_view screen(std::span<const std::byte> datagram,
                                          bool& passed) const noexcept
    {
        std::error_code ec;
        rtp::packet_view packet = rtp::parse(datagram, ec, send_time_extension_id_);
        const std::size_t size = packet.payload.size();
        // A packet type this receiver cannot play must not capture the stream.
        const std::size_t held = ec || size == 0 ? 0 : frames(packet.payload);
        passed = held != 0 && held <= max_frames_ &&
                 (!payload_type_ || packet.hdr.payload_type == *payload_type_);
        return packet;
    }

    /// Frames `payload` holds, 0 when it is none of this stream's.
    [[nodiscard]] std::size_t frames(std::span<const std::byte> payload) const noexcept
    {
        if (frames_in_ != nullptr) return frames_in_(payload);
        if (frame_bytes_ == 0) return 0;
        return payload.size() % frame_bytes_ == 0 ? payload.size() / frame_bytes_ : 0;
    }

private:
    std::size_t frame_bytes_;
    std::size_t max_frames_;
    frame_counter frames_in_;
    std::optional<std::uint8_t> payload_type_;
    std::uint8_t send_time_extension_id_;
};

} // namespace audiocast
