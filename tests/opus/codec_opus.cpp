// The Opus codec (include/audiocast/codec/opus.hpp) through the real libopus:
// what a listener hears after encoding, after a lost packet (concealed, or
// recovered from the next packet's in-band FEC), and what the codec refuses.
#include <audiocast/codec/opus.hpp>

#include "../support/allocation_counter.hpp"
#include "malloc_counter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using audiocast::opus_application;
using audiocast::opus_codec;
using audiocast::opus_config;

namespace {

using packet = std::vector<std::byte>;

// Voiced, speech-like sound (a gliding 150 Hz buzz with its harmonics, its
// loudness swelling three times a second): what Opus's SILK layer, which
// carries the in-band FEC, is built for, and what music passes through.
std::vector<float> buzz(std::size_t frames, unsigned channels)
{
    std::vector<float> s(frames * channels);
    for (std::size_t i = 0; i < frames; ++i) {
        const double t = static_cast<double>(i) / 48'000.0;
        const double swell = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * 3 * t);
        const double f0 = 150 + 30 * std::sin(2 * std::numbers::pi * 0.7 * t);
        double v = 0;
        for (int h = 1; h < 12; ++h)
            v += std::sin(2 * std::numbers::pi * f0 * h * t) / h;
        for (unsigned c = 0; c < channels; ++c)
            s[i * channels + c] = static_cast<float>(0.2 * swell * v * (c == 0 ? 1.0 : 0.8));
    }
    return s;
}

std::vector<packet> encode(opus_codec& codec, std::span<const float> samples)
{
    std::vector<packet> packets;
    codec.write(samples,
                [&](std::span<const std::byte> p) { packets.emplace_back(p.begin(), p.end()); });
    return packets;
}

// Signal to noise, in dB, of `heard` against `reference`.
double snr_db(std::span<const float> reference, std::span<const float> heard)
{
    double signal = 0, noise = 0;
    for (std::size_t i = 0; i < std::min(reference.size(), heard.size()); ++i) {
        signal += double{reference[i]} * reference[i];
        noise += (double{reference[i]} - heard[i]) * (double{reference[i]} - heard[i]);
    }
    return 10 * std::log10(signal / std::max(noise, 1e-30));
}

// The best SNR of `heard` against `reference` delayed by 0 to 1000 frames:
// the encoder's lookahead delays what is decoded.
double aligned_snr_db(std::span<const float> reference, std::span<const float> heard,
                      unsigned channels)
{
    double best = -100;
    for (std::size_t lag = 0; lag < 1000; ++lag) {
        const std::size_t skip = lag * channels;
        if (skip >= heard.size()) break;
        best = std::max(best, snr_db(reference, heard.subspan(skip)));
    }
    return best;
}

// Decodes `packets` in order; the packets at the indexes in `lost` never
// came: each is recovered from the next (in-band FEC) or concealed.
std::vector<float> decode(const opus_config& config, const std::vector<packet>& packets,
                          const std::vector<std::size_t>& lost, bool use_fec)
{
    opus_codec codec{config};
    std::vector<float> heard;
    std::vector<float> out(audiocast::opus_max_packet_frames * config.channels);
    for (std::size_t i = 0; i < packets.size(); ++i) {
        std::size_t n = 0;
        const std::size_t frames = opus_codec::frames_in(packets[i]);
        if (std::ranges::find(lost, i) == lost.end())
            n = codec.decode(std::span<const std::byte>{packets[i]}, std::span<float>{out});
        else if (use_fec && i + 1 < packets.size())
            n = codec.recover(std::span<const std::byte>{packets[i + 1]}, frames,
                              std::span<float>{out});
        else
            n = codec.conceal(frames, std::span<float>{out});
        REQUIRE(n == frames * config.channels);
        heard.insert(heard.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return heard;
}

} // namespace

TEST_CASE("opus_codec: stereo at 128 kbit/s in 20 ms packets plays back what went in, at the "
          "bitrate asked for")
{
    const opus_config config{.channels = 2, .frame_time = 20ms, .bitrate = 128'000};
    opus_codec encoder{config};
    CHECK(encoder.format() == audiocast::audio_format{audiocast::sample_format::opus, 48'000, 2});
    CHECK(encoder.frames_per_packet() == 960);
    CHECK(encoder.packet_time() == 20ms);
    const std::vector<float> sound = buzz(48'000 * 3, 2);
    const std::vector<packet> packets = encode(encoder, sound);
    REQUIRE(packets.size() == 150);
    std::size_t bytes = 0;
    for (const packet& p : packets) {
        CHECK(opus_codec::frames_in(p) == 960);
        bytes += p.size();
    }
    const double kbits = static_cast<double>(bytes) * 8 / 3 / 1000;
    INFO("average " << kbits << " kbit/s");
    CHECK(kbits > 64);
    CHECK(kbits < 140);
    const std::vector<float> heard = decode(config, packets, {}, false);
    const double snr = aligned_snr_db(sound, heard, 2);
    INFO("SNR " << snr << " dB");
    CHECK(snr > 20);
}

TEST_CASE("opus_codec: every frame time Opus allows makes packets of that many frames, and int16, "
          "int32 and float samples all encode")
{
    for (const auto us : audiocast::opus_frame_times_us) {
        const std::chrono::microseconds t{us};
        CAPTURE(us);
        opus_config config{.channels = 1, .frame_time = t, .bitrate = 64'000};
        // CELT alone takes 2.5 and 5 ms; the default application switches to it.
        opus_codec codec{config};
        const std::size_t frames = static_cast<std::size_t>(us) * 48 / 1000;
        CHECK(codec.frames_per_packet() == frames);
        std::vector<packet> packets;
        const auto sink = [&](std::span<const std::byte> p) {
            packets.emplace_back(p.begin(), p.end());
        };
        const std::vector<std::int16_t> s16(frames, 1000);
        const std::vector<std::int32_t> s32(frames, 1000 << 16);
        const std::vector<float> sf(frames, 0.03f);
        codec.write(std::span<const std::int16_t>{s16}, sink);
        codec.write(std::span<const std::int32_t>{s32}, sink);
        codec.write(std::span<const float>{sf}, sink);
        REQUIRE(packets.size() == 3);
        for (const packet& p : packets)
            CHECK(opus_codec::frames_in(p) == frames);
    }
}

TEST_CASE("opus_codec: a lost packet recovered from the next one's in-band FEC sounds far closer "
          "to the lossless decode than one concealed")
{
    for (const auto& [channels, bitrate, application] :
         {std::tuple{1u, 32'000u, opus_application::voip},
          std::tuple{2u, 64'000u, opus_application::audio},
          std::tuple{2u, 128'000u, opus_application::audio}}) {
        CAPTURE(channels, bitrate);
        const opus_config config{.channels = channels,
                                 .application = application,
                                 .bitrate = bitrate,
                                 .inband_fec = true,
                                 .expected_loss_percent = 10};
        opus_codec encoder{config};
        const std::vector<float> sound = buzz(48'000 * 4, channels);
        const std::vector<packet> packets = encode(encoder, sound);
        std::vector<std::size_t> lost;
        for (std::size_t i = 5; i + 1 < packets.size(); i += 10)
            lost.push_back(i);
        const std::vector<float> clean = decode(config, packets, {}, false);
        const double recovered = snr_db(clean, decode(config, packets, lost, true));
        const double concealed = snr_db(clean, decode(config, packets, lost, false));
        INFO("against the lossless decode: recovered " << recovered << " dB, concealed "
                                                       << concealed << " dB");
        CHECK(recovered > 20);
        CHECK(recovered > concealed + 10);
    }
}

TEST_CASE("opus_codec: without in-band FEC in the stream, recovering a lost packet is "
          "concealing it")
{
    // CELT alone (music at 64 kbit/s), and SILK or hybrid (speech at 24 kbit/s).
    for (const opus_config& config :
         {opus_config{.channels = 2, .bitrate = 64'000, .inband_fec = false},
          opus_config{.channels = 1,
                      .application = opus_application::voip,
                      .bitrate = 24'000,
                      .inband_fec = false}}) {
        CAPTURE(config.bitrate);
        opus_codec encoder{config};
        const std::vector<packet> packets = encode(encoder, buzz(48'000 * 2, config.channels));
        std::vector<std::size_t> lost;
        for (std::size_t i = 5; i + 1 < packets.size(); i += 10)
            lost.push_back(i);
        CHECK(decode(config, packets, lost, true) == decode(config, packets, lost, false));
    }
}

TEST_CASE("opus_codec: frames_in() reads the duration from the packet, and refuses what is no "
          "Opus packet")
{
    CHECK(opus_codec::frames_in({}) == 0);
    // TOC: config 31 (CELT FB 20 ms), code 0: one frame.
    const std::byte one_frame[] = {std::byte{0xF8}, std::byte{0x01}};
    CHECK(opus_codec::frames_in(one_frame) == 960);
    // Code 3 with 63 frames of 20 ms: 1.26 s, beyond the 120 ms a packet may hold.
    const std::byte too_long[] = {std::byte{0xFB}, std::byte{0x3F}};
    CHECK(opus_codec::frames_in(too_long) == 0);
    // Code 3 with no frame count byte.
    const std::byte cut[] = {std::byte{0xFB}};
    CHECK(opus_codec::frames_in(cut) == 0);
}

TEST_CASE("opus_codec: a payload that is no Opus packet decodes to nothing and leaves the "
          "decoder as it was")
{
    const opus_config config{.channels = 1, .bitrate = 48'000};
    opus_codec encoder{config};
    const std::vector<packet> packets = encode(encoder, buzz(48'000, 1));
    opus_codec plain{config};
    opus_codec disturbed{config};
    std::vector<float> a(5760), b(5760);
    // A TOC byte that says two frames of equal size (code 1), then an odd
    // length: frames_in() reads 1920 frames, libopus refuses the rest.
    const std::byte junk[] = {std::byte{0xF9}, std::byte{0x00}};
    REQUIRE(opus_codec::frames_in(junk) == 1920);
    const std::byte no_toc[] = {std::byte{0xFB}};
    for (std::size_t i = 0; i < packets.size(); ++i) {
        if (i == 7) {
            CHECK(disturbed.decode(std::span<const std::byte>{junk}, std::span<float>{b}) == 0);
            CHECK(disturbed.decode(std::span<const std::byte>{no_toc}, std::span<float>{b}) == 0);
        }
        const std::size_t na =
            plain.decode(std::span<const std::byte>{packets[i]}, std::span<float>{a});
        const std::size_t nb =
            disturbed.decode(std::span<const std::byte>{packets[i]}, std::span<float>{b});
        REQUIRE(na == nb);
        CHECK(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na), b.begin()));
    }
}

TEST_CASE("opus_codec: a copy encodes and decodes as the original would from there on")
{
    const opus_config config{.channels = 2, .bitrate = 96'000};
    opus_codec original{config};
    const std::vector<float> sound = buzz(48'000, 2);
    const std::span<const float> first = std::span{sound}.first(sound.size() / 2);
    const std::span<const float> second = std::span{sound}.subspan(sound.size() / 2);
    const std::vector<packet> head = encode(original, first);
    opus_codec copy = original;
    const std::vector<packet> tail = encode(original, second);
    CHECK(tail == encode(copy, second));

    // The decoder too: a copy made mid-stream decodes the rest identically.
    opus_codec listener{config};
    std::vector<float> a(5760 * 2), b(5760 * 2);
    for (const packet& p : head)
        (void)listener.decode(std::span<const std::byte>{p}, std::span<float>{a});
    opus_codec twin = listener;
    // copy_decoder_from() takes the decoder's state alone: a receiver's spare.
    opus_codec spare{config};
    spare.copy_decoder_from(listener);
    std::vector<float> c(5760 * 2);
    for (const packet& p : tail) {
        const std::size_t na = listener.decode(std::span<const std::byte>{p}, std::span<float>{a});
        const std::size_t nb = twin.decode(std::span<const std::byte>{p}, std::span<float>{b});
        const std::size_t nc = spare.decode(std::span<const std::byte>{p}, std::span<float>{c});
        REQUIRE(na == nb);
        REQUIRE(na == nc);
        CHECK(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na), b.begin()));
        CHECK(std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(na), c.begin()));
    }
}

TEST_CASE(
    "opus_codec: concealment takes what the output holds in 2.5 ms steps, while recovery takes "
    "the whole loss or nothing, and conceals when the next packet cannot be read")
{
    const opus_config config{.channels = 2, .bitrate = 64'000};
    opus_codec encoder{config};
    const std::vector<packet> packets = encode(encoder, buzz(48'000, 2));
    opus_codec a{config}, b{config};
    std::vector<float> out_a(5760 * 2), out_b(5760 * 2);
    for (std::size_t i = 0; i < 5; ++i) {
        (void)a.decode(std::span<const std::byte>{packets[i]}, std::span<float>{out_a});
        (void)b.decode(std::span<const std::byte>{packets[i]}, std::span<float>{out_b});
    }
    // 500 frames of room for a 960-frame loss: four steps of 120.
    CHECK(a.conceal(960, std::span<float>{out_a}.first(500 * 2)) == 480 * 2);
    (void)b.conceal(480, std::span<float>{out_b});
    CHECK(a.recover(std::span<const std::byte>{packets[6]}, 960,
                    std::span<float>{out_a}.first(500 * 2)) == 0);
    CHECK(a.recover(std::span<const std::byte>{packets[6]}, 1000, std::span<float>{out_a}) == 0);
    CHECK(a.recover(std::span<const std::byte>{packets[6]}, 6000 * 2, std::span<float>{out_a}) ==
          0);
    // A next packet whose TOC reads but whose body libopus refuses: concealed.
    const std::byte unreadable[] = {std::byte{0xF9}, std::byte{0x00}};
    const std::size_t recovered =
        a.recover(std::span<const std::byte>{unreadable}, 960, std::span<float>{out_a});
    const std::size_t concealed = b.conceal(960, std::span<float>{out_b});
    REQUIRE(recovered == 960 * 2);
    REQUIRE(concealed == 960 * 2);
    CHECK(std::equal(out_a.begin(), out_a.begin() + 1920, out_b.begin()));
}

TEST_CASE("opus_codec: flush() completes the last frame with silence, and reset() drops it")
{
    opus_codec codec{opus_config{.channels = 1, .bitrate = 32'000}};
    std::vector<packet> packets;
    const auto sink = [&](std::span<const std::byte> p) {
        packets.emplace_back(p.begin(), p.end());
    };
    const std::vector<float> some(100, 0.1f);
    codec.write(std::span<const float>{some}, sink);
    CHECK(packets.empty());
    CHECK(codec.pending_frames() == 100);
    codec.flush(sink);
    REQUIRE(packets.size() == 1);
    CHECK(opus_codec::frames_in(packets[0]) == 960);
    CHECK(codec.pending_frames() == 0);
    codec.write(std::span<const float>{some}, sink);
    codec.reset();
    CHECK(codec.pending_frames() == 0);
    codec.flush(sink);
    CHECK(packets.size() == 1);
}

TEST_CASE("opus_codec: samples that are not whole frames are refused and nothing is taken")
{
    opus_codec codec{opus_config{.channels = 2}};
    const std::vector<float> odd(7, 0.0f);
    std::error_code ec;
    CHECK(codec.write(std::span<const float>{odd}, [](std::span<const std::byte>) {}, ec) == 0);
    CHECK(ec == audiocast::errc::frames_not_whole);
    CHECK(codec.pending_frames() == 0);
    CHECK_THROWS_WITH(codec.write(std::span<const float>{odd}, [](std::span<const std::byte>) {}),
                      Catch::StartsWith("7 samples is not a whole number of 2-channel frames: "));
}

TEST_CASE("opus_codec: a configuration out of bounds is refused, naming the value and the limit")
{
    const auto refused = [](const opus_config& c) {
        std::error_code ec;
        (void)opus_codec::make(c, ec);
        return ec;
    };
    using audiocast::errc;
    CHECK(refused({.channels = 3}) == errc::invalid_channel_count);
    CHECK(refused({.frame_time = 3ms}) == errc::invalid_packet_time);
    CHECK(refused({.bitrate = 5'000}) == errc::invalid_bitrate);
    CHECK(refused({.bitrate = 600'000}) == errc::invalid_bitrate);
    CHECK(refused({.frame_time = 2'500us, .bitrate = 9'000}) == errc::invalid_bitrate);
    CHECK(refused({.frame_time = 2'500us, .bitrate = 9'600}) == std::error_code{});
    CHECK(refused({.complexity = 11}) == errc::invalid_codec_setting);
    CHECK(refused({.expected_loss_percent = 101}) == errc::invalid_codec_setting);
    CHECK(refused({.mtu = 100}) == errc::invalid_mtu);
    CHECK(refused({.frame_time = 60ms, .bitrate = 510'000}) == errc::packet_exceeds_mtu);
    CHECK(refused({}) == std::error_code{});

    CHECK_THROWS_WITH(opus_codec{opus_config{.frame_time = 3ms}},
                      Catch::StartsWith("Opus frame 3000 us is not one of 2500, 5000, 10000, "
                                        "20000, 40000, 60000 us: "));
    CHECK_THROWS_WITH(opus_codec{opus_config{.bitrate = 5'000}},
                      Catch::Contains("Opus bitrate 5000 bit/s") && Catch::Contains("6000") &&
                          Catch::Contains("510000"));
    CHECK_THROWS_WITH((opus_codec{opus_config{.frame_time = 2'500us, .bitrate = 9'000}}),
                      Catch::StartsWith("Opus at 2500 us needs at least 9600 bit/s, not 9000"));
    CHECK_THROWS_WITH((opus_codec{opus_config{.frame_time = 60ms, .bitrate = 510'000}}),
                      Catch::StartsWith("Opus at 510000 bit/s and 60000 us is 3825 bytes a "
                                        "packet; the MTU allows 1444: "));
}

TEST_CASE("opus_codec: encoding, decoding, concealing, recovering and copying a decoder's state "
          "allocate nothing once the codecs are made")
{
    const opus_config config{.channels = 2, .bitrate = 96'000, .expected_loss_percent = 10};
    opus_codec encoder{config};
    opus_codec decoder{config};
    opus_codec spare{config};
    const std::vector<float> sound = buzz(48'000, 2);
    std::vector<packet> packets;
    packets.reserve(64);
    packet last(4000);
    std::size_t last_size = 0;
    std::vector<std::int32_t> out(audiocast::opus_max_packet_frames * 2);
    std::size_t decoded = 0;
    std::uint64_t cxx = 0, c = 0;
    {
        audiocast_test::counting_scope counting;
        audiocast_test::count_c_allocations(true);
        const std::uint64_t c_before = audiocast_test::c_allocations();
        encoder.write(std::span<const float>{sound}, [&](std::span<const std::byte> p) {
            std::copy(p.begin(), p.end(), last.begin());
            last_size = p.size();
            const std::span<const std::byte> payload{last.data(), last_size};
            if (decoded % 5 == 2)
                decoded += decoder.recover(payload, 960, std::span<std::int32_t>{out}) > 0;
            else if (decoded % 5 == 4)
                decoded += decoder.conceal(960, std::span<std::int32_t>{out}) > 0;
            decoded += decoder.decode(payload, std::span<std::int32_t>{out}) > 0;
            // What a receiver does at a gap: its spare takes the decoder's state.
            if (decoded % 7 == 3) spare.copy_decoder_from(decoder);
            if (decoded % 7 == 5) spare = decoder;
        });
        audiocast_test::count_c_allocations(false);
        cxx = counting.count();
        c = audiocast_test::c_allocations() - c_before;
    }
    // The counter sees a C allocation where it can count them at all.
    audiocast_test::count_c_allocations(true);
    const std::uint64_t before = audiocast_test::c_allocations();
    // Through libopus itself, which allocates here: proof that its calls are
    // the ones counted, not only this executable's.
    int error = 0;
    OpusDecoder* probe = opus_decoder_create(48'000, 2, &error);
    opus_decoder_destroy(probe);
    audiocast_test::count_c_allocations(false);
    CHECK((audiocast_test::c_allocations() > before) == audiocast_test::c_allocations_countable());

    CHECK(decoded > 50);
    CHECK(cxx == 0);
    if (audiocast_test::c_allocations_countable())
        CHECK(c == 0);
    else
        WARN("this build cannot count malloc calls (a sanitizer): libopus's are not checked");
}
