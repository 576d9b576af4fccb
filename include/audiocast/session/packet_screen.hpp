// audiocast — whether a datagram could be the stream's RTP at all
// (docs/architecture.md, The path of a packet).
//
// The test is stateless: the datagram parses as RTP (wire/rtp.hpp), carries
// the payload type the receiver was told to expect, and holds a whole number
// of frames that the receiver's buffers can take. The receiver session counts
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
    /// `payload_type`: the one to accept, or any when unset. `max_frames`:
    /// the most frames one packet may carry.
    packet_screen(const audio_format& format, std::optional<std::uint8_t> payload_type,
                  std::uint8_t send_time_extension_id, std::size_t max_frames) noexcept
        : frame_bytes_{bytes_per_frame(format)}, max_frames_{max_frames},
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
        passed = !ec && size != 0 && size % frame_bytes_ == 0 &&
                 size / frame_bytes_ <= max_frames_ &&
                 (!payload_type_ || packet.hdr.payload_type == *payload_type_);
        return packet;
    }

private:
    std::size_t frame_bytes_;
    std::size_t max_frames_;
    std::optional<std::uint8_t> payload_type_;
    std::uint8_t send_time_extension_id_;
};

} // namespace audiocast
