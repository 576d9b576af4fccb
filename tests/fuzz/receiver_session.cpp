// libFuzzer target: a receiver_session fed an arbitrary sequence of datagrams
// at arbitrary arrival times, pulled between them. The input is a list of
// records: 2 bytes of arrival step (µs, little-endian), 2 bytes of length,
// then the datagram; a length with its top bit set is an RTCP datagram for
// on_control(), one with bit 14 set comes from a second host (so the fuzzer
// can play a stranger against the source selection), and a length of zero
// means "pull a block". Nothing may crash or hang, pull() must
// fill exactly what it is asked, and the counts must add up.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace std::chrono_literals;
    audiocast::receiver_session<audiocast::pcm_codec> rx{audiocast::pcm_codec{}};
    audiocast::time_point now{1000s};
    audiocast::wall_time wall{1'800'000'000s};
    std::vector<std::int16_t> out(240 * 2);
    std::size_t at = 0;
    while (size - at >= 4) {
        const auto step = std::chrono::microseconds{data[at] | data[at + 1] << 8};
        const auto word = static_cast<std::size_t>(data[at + 2] | data[at + 3] << 8);
        const bool control = (word & 0x8000u) != 0;
        const bool stranger = (word & 0x4000u) != 0;
        const std::size_t length = word & 0x3FFFu;
        at += 4;
        now += step;
        wall += step;
        if (length == 0) {
            if (rx.pull(std::span<std::int16_t>{out}, now) != out.size() / 2) std::abort();
            continue;
        }
        const std::size_t n = std::min(length, size - at);
        const std::span<const std::byte> datagram{reinterpret_cast<const std::byte*>(data + at), n};
        const audiocast::endpoint from =
            audiocast::endpoint::ipv4({127, 0, 0, stranger ? std::uint8_t{2} : std::uint8_t{1}},
                                      control ? 40'001 : 40'000);
        if (control)
            rx.on_control(datagram, now, wall, from);
        else
            rx.on_datagram(datagram, now, wall, from);
        at += n;
    }
    (void)rx.stats();
    return 0;
}
