// libFuzzer target: the RTP parser on any datagram. A parse that succeeds must
// describe bytes inside the datagram, and the header it read must survive
// serialize and parse again unchanged.
#include <audiocast/wire/rtp.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::span<const std::byte> datagram{reinterpret_cast<const std::byte*>(data), size};
    std::error_code ec;
    const audiocast::rtp::packet_view v = audiocast::rtp::parse(datagram, ec);
    if (ec) return 0;
    const auto* begin = datagram.data();
    const auto* end = begin + datagram.size();
    if (!v.payload.empty() &&
        (v.payload.data() < begin || v.payload.data() + v.payload.size() > end))
        std::abort();
    std::vector<std::byte> again(audiocast::rtp::header_size(v.hdr) + v.payload.size());
    const std::size_t n = audiocast::rtp::serialize(v.hdr, v.payload, again);
    if (n == 0) return 0; // a header this library reads but would not write (CSRCs, padding)
    std::error_code ec2;
    const audiocast::rtp::packet_view w =
        audiocast::rtp::parse(std::span<const std::byte>{again.data(), n}, ec2);
    if (ec2 || w.hdr.sequence != v.hdr.sequence || w.hdr.timestamp != v.hdr.timestamp ||
        w.hdr.ssrc != v.hdr.ssrc || w.hdr.payload_type != v.hdr.payload_type ||
        w.payload.size() != v.payload.size())
        std::abort();
    return 0;
}
