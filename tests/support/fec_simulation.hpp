// The parity FEC encoder and decoder over a seeded lossy channel, with no
// sockets and no clock: the residual loss that tests/unit/parity_fec.cpp
// asserts and benchmarks/fec_residual.cpp tabulates.
#pragma once

#include <audiocast/protection/parity_fec_decoder.hpp>
#include <audiocast/protection/parity_fec_encoder.hpp>
#include <audiocast/wire/rtp.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace audiocast_test {

using bytes = std::vector<std::byte>;

/// An RTP packet of `payload_size` bytes whose bytes depend on `sequence`;
/// with `send_time` it carries the header extension too.
inline bytes media_packet(std::uint16_t sequence, std::size_t payload_size, bool send_time = false,
                          std::uint32_t ssrc = 0x5EED'0001, bool marker = false)
{
    audiocast::rtp::header h;
    h.sequence = sequence;
    h.timestamp = 48u * sequence + 7;
    h.ssrc = ssrc;
    h.payload_type = 96;
    h.marker = marker;
    if (send_time)
        h.send_time = audiocast::ntp::timestamp::from_u64(0x0102'0304'0506'0708ull * sequence);
    bytes payload(payload_size);
    for (std::size_t i = 0; i < payload_size; ++i)
        payload[i] = std::byte(static_cast<unsigned char>(sequence * 31 + i * 7));
    bytes out(audiocast::rtp::header_size(h) + payload_size);
    audiocast::rtp::serialize(h, payload, out);
    return out;
}

/// The share of `packets` media packets the decoder could not rebuild when
/// every datagram, media and repair alike in the order they leave, is lost
/// with probability `loss`; in bursts of `burst` datagrams when `burst` > 1
/// (a burst starting with probability loss / burst, so the loss rate is
/// about the same). Seeded; no sockets, no clock.
inline double residual_loss(const audiocast::parity_fec_config& config, double loss, unsigned burst,
                            std::uint64_t seed, std::uint32_t packets)
{
    audiocast::parity_fec_encoder e{config};
    audiocast::parity_fec_decoder d{config};
    std::uint64_t state = seed * 0x9E37'79B9'7F4A'7C15ull + 1;
    const auto uniform = [&] { // xorshift64*: the same draws on every platform
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return static_cast<double>((state * 0x2545'F491'4F6C'DD1Dull) >> 11) * 0x1.0p-53;
    };
    unsigned in_burst = 0;
    const auto lost = [&] {
        if (burst <= 1) return uniform() < loss;
        if (in_burst > 0) {
            --in_burst;
            return true;
        }
        if (uniform() < loss / burst) {
            in_burst = burst - 1;
            return true;
        }
        return false;
    };
    std::uint64_t dropped = 0;
    bytes buffer(2000);
    audiocast::datagram_origin origin;
    for (std::uint32_t i = 0; i < packets; ++i) {
        const auto m = media_packet(static_cast<std::uint16_t>(i), 40);
        if (lost())
            ++dropped;
        else
            d.on_media(m, {});
        e.protect(m, [&](bool, std::span<const std::byte> r) {
            if (!lost()) d.on_repair(r);
        });
        while (d.has_recovered())
            (void)d.take_recovered(buffer, origin);
    }
    return static_cast<double>(dropped - d.stats().packets_recovered) / packets;
}

} // namespace audiocast_test
