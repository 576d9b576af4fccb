#include <audiocast/format.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <system_error>

using namespace std::chrono_literals;
using audiocast::audio_format;
using audiocast::errc;
using audiocast::sample_format;

TEST_CASE("the default format is the design's: L16, 48 kHz, stereo")
{
    const audio_format f;
    CHECK(f.encoding == sample_format::l16);
    CHECK(f.sample_rate == 48'000);
    CHECK(f.channels == 2);
    CHECK(audiocast::to_string(f) == "L16/48000/2");
}

TEST_CASE("sizes come from the sample format and the channel count")
{
    CHECK(audiocast::bytes_per_sample(sample_format::l16) == 2);
    CHECK(audiocast::bytes_per_sample(sample_format::l24) == 3);
    CHECK(audiocast::bytes_per_frame(sample_format::l24, 6) == 18);
    CHECK(audiocast::bytes_per_frame(audio_format{sample_format::l16, 44'100, 1}) == 2);
    CHECK(audiocast::bytes_for(240, audio_format{}) == 960);
    CHECK(audiocast::encoding_name(sample_format::l24) == "L24");
}

TEST_CASE("validation accepts the limits and refuses one past them")
{
    const auto code = [](audio_format f) {
        std::error_code ec;
        audiocast::validate(f, ec);
        return ec;
    };
    CHECK_FALSE(code({sample_format::l16, 8'000, 1}));
    CHECK_FALSE(code({sample_format::l24, 192'000, 64}));
    CHECK(code({sample_format::l16, 7'999, 2}) == errc::invalid_sample_rate);
    CHECK(code({sample_format::l16, 192'001, 2}) == errc::invalid_sample_rate);
    CHECK(code({sample_format::l16, 48'000, 0}) == errc::invalid_channel_count);
    CHECK(code({sample_format::l16, 48'000, 65}) == errc::invalid_channel_count);
    CHECK(code({static_cast<sample_format>(7), 48'000, 2}) == errc::invalid_sample_format);
}

TEST_CASE("the throwing validation names the value and the limit")
{
    CHECK_THROWS_WITH(audiocast::validate(audio_format{sample_format::l16, 7'999, 2}),
                      Catch::Contains("7999") && Catch::Contains("8000") &&
                          Catch::Contains("192000"));
    CHECK_THROWS_WITH(audiocast::validate(audio_format{sample_format::l16, 48'000, 65}),
                      Catch::Contains("65") && Catch::Contains("64"));
    CHECK_THROWS_AS(audiocast::validate(audio_format{sample_format::l16, 48'000, 0}),
                    std::system_error);
}

TEST_CASE("frames and durations convert exactly where they can and round trip where they cannot")
{
    CHECK(audiocast::frames_in(5ms, 48'000) == 240);
    CHECK(audiocast::frames_in(1s, 44'100) == 44'100);
    CHECK(audiocast::frames_in(5ms, 44'100) == 220); // 220.5, rounded down
    CHECK(audiocast::frames_in(-5ms, 48'000) == 0);
    CHECK(audiocast::duration_of(240, 48'000) == 5ms);
    CHECK(audiocast::duration_of(1, 44'100) == 22'676ns); // 22675.7, rounded up
    const std::uint32_t rate = GENERATE(8'000u, 11'025u, 44'100u, 48'000u, 96'000u, 192'000u);
    for (std::uint64_t n : {0ull, 1ull, 44ull, 220ull, 441ull, 12'345ull, 1'000'000'007ull})
        CHECK(audiocast::frames_in(audiocast::duration_of(n, rate), rate) == n);
}

TEST_CASE("a day of frames at 192 kHz converts without overflow")
{
    const std::uint64_t day = 192'000ull * 86'400;
    CHECK(audiocast::duration_of(day, 192'000) == std::chrono::hours{24});
    CHECK(audiocast::frames_in(std::chrono::hours{24}, 192'000) == day);
}
