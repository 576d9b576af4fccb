// Uses audiocast as another project would: one include, a format and its
// checks, and a loopback stream that carries a tone from a sender to a receiver.
#include <audiocast/audiocast.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <system_error>
#include <vector>

int main()
{
    const audiocast::audio_format fmt{};
    audiocast::validate(fmt);

    audiocast::audio_format too_slow{};
    too_slow.sample_rate = 7999;
    try {
        audiocast::validate(too_slow);
        std::fputs("validate() accepted a sample rate of 7999 Hz\n", stderr);
        return 1;
    } catch (const std::system_error& e) {
        if (e.code() != audiocast::errc::invalid_sample_rate) {
            std::fprintf(stderr, "validate() threw the wrong code: %s\n",
                         e.code().message().c_str());
            return 1;
        }
        if (std::string(e.what()).find("7999") == std::string::npos) {
            std::fprintf(stderr, "message does not name the rate: %s\n", e.what());
            return 1;
        }
    }

    // 100 ms of a 1 kHz tone through an in-memory multicast group.
    using namespace std::chrono_literals;
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    audiocast::loopback_sender tx{group.join(), audiocast::pcm_codec{}, clock};
    audiocast::loopback_receiver rx{group.join(), audiocast::pcm_codec{}, clock};
    std::vector<std::int16_t> tone(4800 * 2);
    for (std::size_t f = 0; f < 4800; ++f)
        tone[2 * f] = tone[2 * f + 1] = static_cast<std::int16_t>(
            10000 * std::sin(2 * 3.14159265358979 * 1000 * static_cast<double>(f) / 48000));
    std::vector<std::int16_t> played;
    std::vector<std::int16_t> block(48 * 2);
    std::size_t written = 0;
    for (int ms = 0; ms < 200; ++ms) {
        if (written < 4800)
            written += tx.write(std::span<const std::int16_t>{tone}.subspan(written * 2));
        tx.poll();
        rx.poll();
        rx.pull(std::span<std::int16_t>{block});
        played.insert(played.end(), block.begin(), block.end());
        clock.advance(1ms);
    }
    // Playout starts 40 ms (1920 frames) after the first packet arrived.
    if (!std::equal(tone.begin(), tone.end(), played.begin() + 1920 * 2)) {
        std::fputs("the receiver did not play the tone bit-exact\n", stderr);
        return 1;
    }

    std::printf("%s: %llu packets received, %llu lost\n", audiocast::to_string(fmt).c_str(),
                static_cast<unsigned long long>(rx.stats().packets_received),
                static_cast<unsigned long long>(rx.stats().packets_lost));
    return 0;
}
