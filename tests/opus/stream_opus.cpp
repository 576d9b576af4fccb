// basic_multicast_stream composed with opus_codec: the sessions count a
// packet's frames by its codec, not its size, so Opus streams through the
// same sender, jitter buffer and playout as PCM. Loopback transport, manual
// clock: deterministic.
#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/codec/opus.hpp>
#include <audiocast/transport/loopback.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <vector>

using namespace std::chrono_literals;

namespace {

using opus_stream =
    audiocast::basic_multicast_stream<audiocast::loopback_transport, audiocast::opus_codec,
                                      audiocast::manual_clock>;

static_assert(audiocast::codec<audiocast::opus_codec>);

// A 440 Hz tone, stereo, at half scale.
std::vector<float> tone(std::size_t frames)
{
    std::vector<float> s(frames * 2);
    for (std::size_t i = 0; i < frames; ++i) {
        const auto v = static_cast<float>(
            0.5 * std::sin(2 * std::numbers::pi * 440 * static_cast<double>(i) / 48'000.0));
        s[2 * i] = v;
        s[2 * i + 1] = v;
    }
    return s;
}

} // namespace

TEST_CASE("an Opus stream over the loopback transport plays the tone that was sent, every "
          "packet counted by its duration")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    const audiocast::opus_config config{.channels = 2, .bitrate = 128'000};
    opus_stream::sender sender{group.join(), audiocast::opus_codec{config}, clock,
                               audiocast::sender_config{}};
    opus_stream::receiver receiver{group.join(), audiocast::opus_codec{config}, clock,
                                   audiocast::receiver_config{}};

    const std::vector<float> source = tone(48'000 * 2);
    std::vector<float> heard;
    std::vector<float> block(48 * 2);
    std::size_t written = 0;
    for (int ms = 0; ms < 2'500; ++ms) {
        if (written < source.size() / 2)
            written += sender.write(std::span<const float>{source}.subspan(written * 2));
        sender.poll();
        receiver.poll();
        receiver.pull(std::span<float>{block});
        heard.insert(heard.end(), block.begin(), block.end());
        clock.advance(1ms);
    }
    const auto s = receiver.stats();
    CHECK(sender.sender().stats().packets_sent >= 99);
    CHECK(s.packets_received == sender.sender().stats().packets_sent);
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_malformed == 0);
    CHECK(s.underruns == 0);

    // After its first second the receiver plays a steady tone at the level
    // sent: the RMS of a sine at 0.5 is 0.354.
    double sum = 0;
    const std::size_t from = 48'000 * 2, to = 48'000 * 2 + 48'000;
    for (std::size_t i = from; i < to; ++i)
        sum += double{heard[i]} * heard[i];
    const double rms = std::sqrt(sum / static_cast<double>(to - from));
    INFO("RMS " << rms);
    CHECK(rms == Approx(0.354).margin(0.02));
}
