#include <audiocast/session/jitter_buffer.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

using audiocast::insert_result;
using audiocast::jitter_buffer;

namespace {

std::vector<std::int32_t> frames_from(std::int32_t first, std::size_t count, unsigned channels)
{
    std::vector<std::int32_t> v(count * channels);
    for (std::size_t f = 0; f < count; ++f)
        for (unsigned c = 0; c < channels; ++c)
            v[f * channels + c] =
                (first + static_cast<std::int32_t>(f)) * 10 + static_cast<std::int32_t>(c);
    return v;
}

} // namespace

TEST_CASE("jitter buffer returns frames in timeline order whatever the insertion order")
{
    jitter_buffer jb{2, 64};
    jb.reset(100);
    CHECK(jb.insert(110, frames_from(110, 10, 2)) == insert_result::stored);
    CHECK(jb.insert(100, frames_from(100, 10, 2)) == insert_result::stored);
    CHECK(jb.buffered_frames() == 20);
    CHECK(jb.end_position() == 120);

    std::vector<std::int32_t> out(40);
    bool present = false;
    CHECK(jb.read_run(out, present) == 20);
    CHECK(present);
    CHECK(out == frames_from(100, 20, 2));
    CHECK(jb.read_position() == 120);
    CHECK_FALSE(jb.has_data_ahead());
}

TEST_CASE("jitter buffer reports a gap as a missing run up to the next stored frame")
{
    jitter_buffer jb{1, 64};
    jb.reset(0);
    jb.insert(0, frames_from(0, 4, 1));
    jb.insert(10, frames_from(10, 4, 1));
    std::vector<std::int32_t> out(32);
    bool present = false;
    CHECK(jb.read_run(out, present) == 4);
    CHECK(present);
    CHECK(jb.read_run(out, present) == 6);
    CHECK_FALSE(present);
    CHECK(jb.read_run(out, present) == 4);
    CHECK(present);
    CHECK(std::vector<std::int32_t>(out.begin(), out.begin() + 4) == frames_from(10, 4, 1));
}

TEST_CASE(
    "jitter buffer refuses late and too-early packets and keeps the live part of a partly late one")
{
    jitter_buffer jb{1, 16};
    jb.reset(100);
    CHECK(jb.insert(90, frames_from(90, 10, 1)) == insert_result::late);
    CHECK(jb.insert(110, frames_from(110, 10, 1)) == insert_result::too_early);
    CHECK(jb.insert(95, frames_from(95, 10, 1)) == insert_result::partly_late);
    CHECK(jb.buffered_frames() == 5);
    std::vector<std::int32_t> out(5);
    bool present = false;
    CHECK(jb.read_run(out, present) == 5);
    CHECK(out == frames_from(100, 5, 1));
}

TEST_CASE("jitter buffer stores silence for frames the sender never sent")
{
    jitter_buffer jb{2, 32};
    jb.reset(0);
    jb.insert(0, frames_from(1, 4, 2));
    jb.insert_silence(4, 12);
    jb.insert(12, frames_from(1, 4, 2));
    std::vector<std::int32_t> out(64, -1);
    bool present = false;
    CHECK(jb.read_run(out, present) == 16);
    CHECK(present);
    CHECK(std::all_of(out.begin() + 8, out.begin() + 24, [](std::int32_t v) { return v == 0; }));
}

TEST_CASE("jitter buffer rewinds to an earlier start while the window allows it")
{
    jitter_buffer jb{1, 16};
    jb.reset(100);
    jb.insert(100, frames_from(100, 8, 1));
    CHECK(jb.rewind(95));
    CHECK(jb.read_position() == 95);
    CHECK(jb.insert(95, frames_from(95, 5, 1)) == insert_result::stored);
    CHECK_FALSE(jb.rewind(80)); // 108 - 80 frames would not fit in 16
    std::vector<std::int32_t> out(13);
    bool present = false;
    CHECK(jb.read_run(out, present) == 13);
    CHECK(out == frames_from(95, 13, 1));
}

TEST_CASE("jitter buffer wraps around its storage without mixing frames")
{
    jitter_buffer jb{1, 8};
    jb.reset(0);
    std::vector<std::int32_t> out(3);
    bool present = false;
    for (std::int32_t p = 0; p < 100; p += 3) {
        REQUIRE(jb.insert(static_cast<std::uint64_t>(p), frames_from(p, 3, 1)) ==
                insert_result::stored);
        REQUIRE(jb.read_run(out, present) == 3);
        REQUIRE(out == frames_from(p, 3, 1));
    }
}

TEST_CASE("stored audio is never overwritten, by a second packet for its frames or by silence")
{
    jitter_buffer jb{2, 64};
    jb.reset(0);
    CHECK(jb.insert(0, frames_from(0, 20, 2)) == insert_result::stored);
    // A forged packet over frames 10-29: only 20-29, which held nothing, take it.
    const auto forged = std::vector<std::int32_t>(40, -7);
    CHECK(jb.insert(10, forged) == insert_result::stored);
    // Silence over all of it changes nothing stored.
    jb.insert_silence(0, 40);
    CHECK(jb.buffered_frames() == 40);

    std::vector<std::int32_t> out(80);
    bool present = false;
    CHECK(jb.read_run(out, present) == 40);
    CHECK(present);
    const auto first = frames_from(0, 20, 2);
    CHECK(std::equal(first.begin(), first.end(), out.begin()));
    CHECK(std::all_of(out.begin() + 40, out.begin() + 60, [](std::int32_t v) { return v == -7; }));
    CHECK(std::all_of(out.begin() + 60, out.end(), [](std::int32_t v) { return v == 0; }));
}

TEST_CASE("filler silence gives way to audio that arrives for its frames")
{
    jitter_buffer jb{2, 64};
    jb.reset(0);
    jb.insert_silence(0, 30);
    CHECK(jb.buffered_frames() == 30);
    CHECK(jb.insert(10, frames_from(10, 10, 2)) == insert_result::stored);
    CHECK(jb.buffered_frames() == 30);
    std::vector<std::int32_t> out(60);
    bool present = false;
    CHECK(jb.read_run(out, present) == 30);
    CHECK(std::all_of(out.begin(), out.begin() + 20, [](std::int32_t v) { return v == 0; }));
    const auto audio = frames_from(10, 10, 2);
    CHECK(std::equal(audio.begin(), audio.end(), out.begin() + 20));
    CHECK(std::all_of(out.begin() + 40, out.end(), [](std::int32_t v) { return v == 0; }));
    // Once read, a slot is empty again: neither audio nor filler.
    CHECK(jb.insert(70, frames_from(70, 10, 2)) == insert_result::stored);
    CHECK(jb.buffered_frames() == 10);
}
