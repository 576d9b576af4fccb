// libFuzzer target: the SMPTE 2022-1 repair packet parser and the decoder on
// any mix of media and repair datagrams. The input is a sequence of records
// [kind][length, 2 bytes big-endian][bytes]: kind's low bit says repair (1) or
// media (0), its bits 1 and 2 which of four hosts sent it, and its top bit
// that the record instead tells the decoder to follow a source (that host, the
// SSRC in its first four bytes). A repair that parses must write back to the
// same headers; the decoder must never rebuild a packet longer than it keeps,
// nor one that is not RTP version 2, nor, while it follows a source, one of
// another SSRC or host.
#include <audiocast/detail/endian.hpp>
#include <audiocast/protection/parity_fec_decoder.hpp>
#include <audiocast/wire/parity_fec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <system_error>
#include <vector>

namespace {

void check_round_trip(std::span<const std::byte> datagram)
{
    std::error_code ec;
    const auto h = audiocast::parity_fec::parse(datagram, ec);
    if (ec) return;
    std::vector<std::byte> again(datagram.begin(), datagram.end());
    std::error_code ec2;
    audiocast::parity_fec::write_headers(h, again, ec2);
    const auto back = audiocast::parity_fec::parse(again, ec2);
    if (ec2 || back.sn_base != h.sn_base || back.count != h.count || back.offset != h.offset ||
        back.row != h.row || back.length_recovery != h.length_recovery ||
        back.timestamp_recovery != h.timestamp_recovery || back.ssrc != h.ssrc ||
        back.payload.size() != h.payload.size())
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    audiocast::parity_fec_config config;
    config.columns = 4;
    config.rows = 3;
    config.max_datagram = 600;
    audiocast::parity_fec_decoder d{config};
    std::vector<std::byte> out(config.max_datagram);
    const auto* p = reinterpret_cast<const std::byte*>(data);
    std::size_t at = 0;
    bool following = false;
    std::uint32_t followed_ssrc = 0;
    audiocast::endpoint followed{};
    while (at + 3 <= size) {
        const unsigned kind = std::to_integer<unsigned>(p[at]);
        const bool repair = (kind & 1u) != 0;
        const auto host = audiocast::endpoint::ipv4(
            {10, 0, 0, static_cast<std::uint8_t>((kind >> 1) & 3u)}, 5004);
        const std::size_t length = audiocast::detail::load_be16(p + at + 1);
        at += 3;
        const std::size_t n = length < size - at ? length : size - at;
        const std::span<const std::byte> datagram{p + at, n};
        at += n;
        if ((kind & 0x80u) != 0) {
            if (n < 4) continue;
            following = true;
            followed_ssrc = audiocast::detail::load_be32(datagram.data());
            followed = host;
            d.follow(followed_ssrc, followed);
        } else if (repair) {
            check_round_trip(datagram);
            d.on_repair(datagram, host);
        } else {
            audiocast::datagram_origin from;
            from.from = host;
            d.on_media(datagram, from);
        }
        audiocast::datagram_origin origin;
        while (d.has_recovered()) {
            const std::size_t got = d.take_recovered(out, origin);
            if (got == 0) continue;
            if (got < 12 || got > config.max_datagram ||
                (std::to_integer<unsigned>(out[0]) >> 6) != 2)
                std::abort();
            if (following && (audiocast::detail::load_be32(out.data() + 8) != followed_ssrc ||
                              !(origin.from == followed)))
                std::abort();
        }
    }
    return 0;
}
