// libFuzzer target: the RTCP compound parser on any datagram, every accessor
// of every packet it accepts, and both sessions' on_control(), which must
// count and drop what they cannot use.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <system_error>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace std::chrono_literals;
    const std::span<const std::byte> datagram{reinterpret_cast<const std::byte*>(data), size};
    std::error_code ec;
    std::size_t seen = 0;
    const std::size_t packets =
        audiocast::rtcp::parse_compound(datagram, ec, [&](const audiocast::rtcp::packet_view& p) {
            ++seen;
            std::uint64_t sum = p.type() + p.count() + p.body().size();
            if (const auto s = p.ssrc()) sum += *s;
            if (const auto info = p.sender()) sum += info->packet_count;
            for (std::size_t i = 0; i < p.block_count(); ++i)
                sum += p.block(i).ssrc;
            for (std::size_t i = 0; i < p.bye_count(); ++i)
                sum += p.bye_source(i);
            sum += p.bye_reason().size();
            if (const auto t = p.reference_time()) sum += t->to_u64();
            p.for_each_dlrr([&](const audiocast::rtcp::dlrr_item& d) { sum += d.last_rr; });
            if (p.body().data() < datagram.data() ||
                p.body().data() + p.body().size() > datagram.data() + datagram.size())
                std::abort();
            (void)sum;
        });
    if (ec ? (packets != 0 || seen != 0) : packets != seen) std::abort();

    audiocast::receiver_session<audiocast::pcm_codec> rx{audiocast::pcm_codec{}};
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    const audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    rx.on_control(datagram, now, wall);
    tx.on_control(datagram, now, wall);
    (void)rx.stats();
    (void)tx.stats();
    return 0;
}
