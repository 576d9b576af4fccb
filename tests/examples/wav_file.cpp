// The examples' own WAV reader and writer (support/wav_file.hpp), which the
// builds without libsndfile use: what a user notices is that their files play
// with the right samples, recordings read back bit for bit, even from a client
// that was killed, and a file that cannot be played says why.
#include "support/wav_file.hpp"

#if AUDIOCAST_EXAMPLES_HAS_SNDFILE
#include "support/sound_file.hpp"
#endif

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;
using audiocast::sample_format;
using audiocast_examples::example_error;
using audiocast_examples::wav_file_reader;
using audiocast_examples::wav_file_writer;
using bytes = std::vector<unsigned char>;

constexpr std::int32_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();

/// A directory of its own under the system's temporary one, removed with
/// everything in it at the end of the test.
class scratch_directory {
public:
    scratch_directory()
    {
        std::random_device random;
        for (int attempt = 0; attempt < 100 && path_.empty(); ++attempt) {
            const fs::path candidate =
                fs::temp_directory_path() /
                ("audiocast-wav-test-" + std::to_string(random()) + "-" + std::to_string(random()));
            if (fs::create_directory(candidate)) path_ = candidate;
        }
        REQUIRE(!path_.empty());
    }
    scratch_directory(const scratch_directory&) = delete;
    scratch_directory& operator=(const scratch_directory&) = delete;
    ~scratch_directory()
    {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }

    [[nodiscard]] std::string file(const std::string& name) const
    {
        return (path_ / name).string();
    }

private:
    fs::path path_;
};

void save(const std::string& path, const bytes& content)
{
    std::ofstream out{path, std::ios::binary};
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
    REQUIRE(out.good());
}

bytes load(const std::string& path)
{
    std::ifstream in{path, std::ios::binary};
    return bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// The pieces of a WAV file, built byte by byte as the format describes them.

bytes little_endian(std::uint64_t value, std::size_t size)
{
    bytes out(size);
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<unsigned char>(value >> (8 * i));
    return out;
}

bytes join(std::initializer_list<bytes> parts)
{
    bytes out;
    for (const bytes& part : parts)
        out.insert(out.end(), part.begin(), part.end());
    return out;
}

bytes text(std::string_view characters)
{
    return bytes{characters.begin(), characters.end()};
}

/// A chunk: its id, its size, its body and, after a body of odd size, the
/// pad byte RIFF wants.
bytes chunk(std::string_view id, const bytes& body, std::uint32_t stated_size)
{
    bytes out = join({text(id), little_endian(stated_size, 4), body});
    if (body.size() % 2 != 0) out.push_back(0);
    return out;
}

bytes chunk(std::string_view id, const bytes& body)
{
    return chunk(id, body, static_cast<std::uint32_t>(body.size()));
}

bytes riff_wave(std::initializer_list<bytes> chunks)
{
    const bytes body = join(chunks);
    return join({text("RIFF"), little_endian(4 + body.size(), 4), text("WAVE"), body});
}

struct fmt_fields {
    std::uint16_t tag = 1;
    unsigned channels = 2;
    std::uint32_t sample_rate = 48'000;
    unsigned bits = 16;
    int block_align = -1; // channels * bytes unless given
};

bytes fmt_body(const fmt_fields& f)
{
    const unsigned block_align =
        f.block_align >= 0 ? static_cast<unsigned>(f.block_align) : f.channels * f.bits / 8;
    return join({little_endian(f.tag, 2), little_endian(f.channels, 2),
                 little_endian(f.sample_rate, 4), little_endian(f.sample_rate * block_align, 4),
                 little_endian(block_align, 2), little_endian(f.bits, 2)});
}

bytes fmt(const fmt_fields& f)
{
    return chunk("fmt ", fmt_body(f));
}

/// A WAVE_FORMAT_EXTENSIBLE fmt chunk whose sub-format GUID has `sub_format`
/// (1 PCM, 3 IEEE float) in front of KSDATAFORMAT's base.
bytes extensible_fmt(unsigned channels, unsigned bits, unsigned valid_bits,
                     std::uint16_t sub_format,
                     const bytes& guid_tail = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00,
                                               0xAA, 0x00, 0x38, 0x9B, 0x71})
{
    fmt_fields f;
    f.tag = 0xFFFE;
    f.channels = channels;
    f.bits = bits;
    return chunk("fmt ", join({fmt_body(f), little_endian(22, 2), little_endian(valid_bits, 2),
                               little_endian(0x3, 4), little_endian(sub_format, 2), guid_tail}));
}

// Each value's bits, little-endian, `size` bytes each.
template <class T, class ToBits>
bytes each_le(std::initializer_list<T> values, std::size_t size, ToBits to_bits)
{
    bytes out;
    for (const T v : values) {
        const bytes one = little_endian(to_bits(v), size);
        out.insert(out.end(), one.begin(), one.end());
    }
    return out;
}

bytes samples_le(std::initializer_list<std::int64_t> values, std::size_t size)
{
    return each_le(values, size, [](std::int64_t v) { return static_cast<std::uint64_t>(v); });
}

bytes floats_le(std::initializer_list<float> values)
{
    return each_le(values, 4,
                   [](float v) { return std::uint64_t{std::bit_cast<std::uint32_t>(v)}; });
}

bytes doubles_le(std::initializer_list<double> values)
{
    return each_le(values, 8, [](double v) { return std::bit_cast<std::uint64_t>(v); });
}

/// Everything `reader` gives as `Sample`, `frames_a_call` frames a read.
template <class Sample>
std::vector<Sample> read_all(wav_file_reader& reader, std::size_t frames_a_call)
{
    std::vector<Sample> all;
    std::vector<Sample> block(frames_a_call * reader.channels());
    for (int calls = 0; calls < 1'000'000; ++calls) {
        const std::size_t frames = reader.read(std::span<Sample>{block});
        if (frames == 0) break;
        all.insert(all.end(), block.begin(),
                   block.begin() + static_cast<std::ptrdiff_t>(frames * reader.channels()));
    }
    return all;
}

std::vector<std::int32_t> read_all_int32(wav_file_reader& reader, std::size_t frames_a_call = 1000)
{
    return read_all<std::int32_t>(reader, frames_a_call);
}

std::vector<float> read_all_float(wav_file_reader& reader, std::size_t frames_a_call = 1000)
{
    return read_all<float>(reader, frames_a_call);
}

/// Samples as a stream carries them: `bits` significant bits at the top of
/// an int32, the rest zero; a full-scale pattern that differs in every frame.
std::vector<std::int32_t> stream_samples(std::size_t frames, unsigned channels, unsigned bits)
{
    std::mt19937 random{12345};
    std::vector<std::int32_t> out(frames * channels);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto all_bits = static_cast<std::uint32_t>(random());
        out[i] = static_cast<std::int32_t>(all_bits & ~((1u << (32 - bits)) - 1));
    }
    out[0] = int32_min; // the extremes, too
    out[1 % out.size()] = static_cast<std::int32_t>(0x7FFF'FFFFu & ~((1u << (32 - bits)) - 1));
    return out;
}

std::vector<float> as_float(const std::vector<std::int32_t>& samples)
{
    std::vector<float> out;
    for (const std::int32_t s : samples)
        out.push_back(static_cast<float>(s) / 2147483648.0f);
    return out;
}

/// "" if `got` is `expected`; otherwise where they first differ, so that a
/// failure does not print thousands of samples.
template <class Sample>
std::string difference(const std::vector<Sample>& got, const std::vector<Sample>& expected)
{
    if (got.size() != expected.size())
        return std::to_string(got.size()) + " samples, not " + std::to_string(expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != expected[i])
            return "sample " + std::to_string(i) + " is " + std::to_string(got[i]) + ", not " +
                   std::to_string(expected[i]);
    return "";
}

/// The reader refuses `path` with a message that names it and says `reason`.
void require_refused(const std::string& path, const std::string& reason)
{
    INFO("file: " << path);
    try {
        wav_file_reader reader{path};
        FAIL("accepted, with " << reader.frames() << " frames");
    } catch (const example_error& e) {
        CHECK_THAT(e.what(), Catch::Contains("'" + path + "'") && Catch::Contains(reason));
    }
}

void require_refused(const scratch_directory& dir, const std::string& name, const bytes& content,
                     const std::string& reason)
{
    const std::string path = dir.file(name);
    save(path, content);
    require_refused(path, reason);
}

} // namespace

TEST_CASE("wav_file_writer's files read back bit for bit", "[wav_file]")
{
    const scratch_directory dir;
    for (const sample_format encoding : {sample_format::l16, sample_format::l24}) {
        for (const unsigned channels : {1u, 8u}) {
            const unsigned bits = encoding == sample_format::l16 ? 16 : 24;
            DYNAMIC_SECTION("L" << bits << ", " << channels << " channel(s)")
            {
                const std::string path = dir.file("round_trip.wav");
                // Odd, and more than the reader's buffer holds, so that reads
                // span its batches and a 24-bit mono file needs a pad byte.
                const std::size_t frames = 20'001;
                const auto written = stream_samples(frames, channels, bits);
                wav_file_writer writer{path, {encoding, 44'100, channels}};
                const std::size_t first_part = (frames / 2 + 1) * channels;
                writer.write(std::span{written}.first(first_part));
                writer.write(std::span{written}.subspan(first_part));
                CHECK(writer.frames() == frames);
                writer.close();
                CHECK(fs::file_size(path) % 2 == 0);

                wav_file_reader reader{path};
                CHECK(reader.path() == path);
                CHECK(reader.sample_rate() == 44'100);
                CHECK(reader.channels() == channels);
                CHECK(reader.frames() == frames);
                CHECK_FALSE(reader.is_float());
                CHECK(reader.natural_encoding() == encoding);
                CHECK(difference(read_all_int32(reader, 777), written) == "");
                reader.rewind();
                CHECK(difference(read_all_float(reader), as_float(written)) == "");
                reader.rewind();
                CHECK(difference(read_all_int32(reader, 1), written) == "");
            }
        }
    }
}

TEST_CASE("wav_file_writer keeps the top 16 or 24 bits of each sample", "[wav_file]")
{
    const scratch_directory dir;
    const std::vector<std::int32_t> samples{0x12345678, -0x12345678, int32_max, int32_min, 0xFF};
    for (const sample_format encoding : {sample_format::l16, sample_format::l24}) {
        const std::string path = dir.file("top_bits.wav");
        {
            wav_file_writer writer{path, {encoding, 48'000, 1}};
            writer.write(samples);
            writer.close();
        }
        wav_file_reader reader{path};
        const std::uint32_t kept = encoding == sample_format::l16 ? 0xFFFF'0000u : 0xFFFF'FF00u;
        std::vector<std::int32_t> expected;
        for (const std::int32_t s : samples)
            expected.push_back(static_cast<std::int32_t>(static_cast<std::uint32_t>(s) & kept));
        CHECK(difference(read_all_int32(reader), expected) == "");
    }
}

TEST_CASE("wav_file_writer writes the canonical 44-byte PCM header", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("header.wav");
    wav_file_writer writer{path, {sample_format::l24, 96'000, 1}};
    const std::vector<std::int32_t> three_frames{0x01020300, 0x04050600, 0x07080900};
    writer.write(three_frames);
    writer.close();
    const bytes expected = join(
        {text("RIFF"), little_endian(36 + 9 + 1, 4), text("WAVE"), text("fmt "),
         little_endian(16, 4), little_endian(1, 2), little_endian(1, 2), little_endian(96'000, 4),
         little_endian(96'000 * 3, 4), little_endian(3, 2), little_endian(24, 2), text("data"),
         little_endian(9, 4), bytes{0x03, 0x02, 0x01, 0x06, 0x05, 0x04, 0x09, 0x08, 0x07, 0x00}});
    CHECK(load(path) == expected);
}

TEST_CASE("A recording is readable whole after each write, before close", "[wav_file]")
{
    // What a client that was killed leaves behind.
    const scratch_directory dir;
    const std::string path = dir.file("open.wav");
    const auto samples = stream_samples(3'001, 2, 24);
    wav_file_writer writer{path, {sample_format::l24, 48'000, 2}};
    require_refused(path, "holds no audio frames");

    writer.write(std::span{samples}.first(2'000 * 2));
    {
        wav_file_reader reader{path};
        CHECK(reader.frames() == 2'000);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>(samples.begin(), samples.begin() + 2'000 * 2));
    }
    writer.write(std::span{samples}.subspan(2'000 * 2));
    {
        wav_file_reader reader{path};
        CHECK(reader.frames() == 3'001);
        CHECK(difference(read_all_int32(reader), samples) == "");
    }
    writer.close();
    writer.close(); // a second close does nothing
    wav_file_reader reader{path};
    CHECK(difference(read_all_int32(reader), samples) == "");
}

TEST_CASE("wav_file_reader reads every kind of WAV file it supports exactly", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("kind.wav");
    constexpr float scale = 1.0f / 2147483648.0f;

    SECTION("8-bit unsigned PCM")
    {
        save(path, riff_wave({fmt({.channels = 1, .bits = 8}),
                              chunk("data", bytes{0x00, 0x80, 0xFF, 0x01})}));
        wav_file_reader reader{path};
        CHECK(reader.natural_encoding() == sample_format::l16);
        CHECK_FALSE(reader.is_float());
        CHECK(reader.frames() == 4);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{int32_min, 0, 0x7F00'0000, -0x7F00'0000});
        reader.rewind();
        CHECK(read_all_float(reader) == std::vector<float>{-1.0f, 0.0f, 0.9921875f, -0.9921875f});
    }
    SECTION("16-bit PCM")
    {
        save(path, riff_wave({fmt({.channels = 2, .bits = 16}),
                              chunk("data", samples_le({-32768, 32767, 1, -1}, 2))}));
        wav_file_reader reader{path};
        CHECK(reader.natural_encoding() == sample_format::l16);
        CHECK(reader.frames() == 2);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{int32_min, 0x7FFF'0000, 0x1'0000, -0x1'0000});
        reader.rewind();
        CHECK(read_all_float(reader) ==
              std::vector<float>{-1.0f, 32767.0f / 32768.0f, 1.0f / 32768.0f, -1.0f / 32768.0f});
    }
    SECTION("24-bit PCM")
    {
        save(path, riff_wave({fmt({.channels = 1, .sample_rate = 96'000, .bits = 24}),
                              chunk("data", samples_le({-8388608, 8388607, 1, -1}, 3))}));
        wav_file_reader reader{path};
        CHECK(reader.sample_rate() == 96'000);
        CHECK(reader.natural_encoding() == sample_format::l24);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{int32_min, 0x7FFF'FF00, 0x100, -0x100});
        reader.rewind();
        CHECK(read_all_float(reader) == std::vector<float>{-1.0f, 8388607.0f / 8388608.0f,
                                                           1.0f / 8388608.0f, -1.0f / 8388608.0f});
    }
    SECTION("32-bit PCM")
    {
        save(path,
             riff_wave({fmt({.channels = 1, .bits = 32}),
                        chunk("data", samples_le({int32_min, int32_max, 1, -1, 123456789}, 4))}));
        wav_file_reader reader{path};
        CHECK(reader.natural_encoding() == sample_format::l24);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{int32_min, int32_max, 1, -1, 123456789});
        reader.rewind();
        CHECK(read_all_float(reader) ==
              std::vector<float>{-1.0f, 1.0f, scale, -scale, 123456789.0f * scale});
    }
    SECTION("32-bit float, clipped to [-1, 1]")
    {
        save(path, riff_wave({fmt({.tag = 3, .channels = 2, .bits = 32}),
                              chunk("data",
                                    floats_le({0.5f, -0.25f, 1.5f, -2.0f,
                                               std::numeric_limits<float>::quiet_NaN(), 0.1f}))}));
        wav_file_reader reader{path};
        CHECK(reader.is_float());
        CHECK(reader.natural_encoding() == sample_format::l24);
        CHECK(reader.frames() == 3);
        CHECK(read_all_float(reader) == std::vector<float>{0.5f, -0.25f, 1.0f, -1.0f, 0.0f, 0.1f});
        reader.rewind();
        // As int32 at the integer samples' scale, 1.0 being 2^31; 0.1f is
        // 13421773 * 2^-27 exactly.
        CHECK(read_all_int32(reader) == std::vector<std::int32_t>{1 << 30, -(1 << 29), int32_max,
                                                                  int32_min, 0, 13421773 * 16});
    }
    SECTION("64-bit float")
    {
        save(path, riff_wave({fmt({.tag = 3, .channels = 1, .bits = 64}),
                              chunk("data", doubles_le({0.5, -1.0 / 3, 3.0, -1.0, 1.0}))}));
        wav_file_reader reader{path};
        CHECK(reader.is_float());
        CHECK(read_all_float(reader) ==
              std::vector<float>{0.5f, static_cast<float>(-1.0 / 3), 1.0f, -1.0f, 1.0f});
        reader.rewind();
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{1 << 30, -715827883, int32_max, int32_min, int32_max});
    }
    SECTION("WAVE_FORMAT_EXTENSIBLE PCM, 24 bits")
    {
        save(path, riff_wave({extensible_fmt(2, 24, 24, 1),
                              chunk("data", samples_le({1, -1, 0x123456, -8388608}, 3))}));
        wav_file_reader reader{path};
        CHECK_FALSE(reader.is_float());
        CHECK(reader.natural_encoding() == sample_format::l24);
        CHECK(read_all_int32(reader) ==
              std::vector<std::int32_t>{0x100, -0x100, 0x1234'5600, int32_min});
    }
    SECTION("WAVE_FORMAT_EXTENSIBLE PCM, 20 valid bits in 32")
    {
        save(path, riff_wave({extensible_fmt(1, 32, 20, 1),
                              chunk("data", samples_le({0x1234'5000, -0x1000}, 4))}));
        wav_file_reader reader{path};
        CHECK(read_all_int32(reader) == std::vector<std::int32_t>{0x1234'5000, -0x1000});
    }
    SECTION("WAVE_FORMAT_EXTENSIBLE IEEE float")
    {
        save(path,
             riff_wave({extensible_fmt(1, 32, 32, 3), chunk("data", floats_le({0.75f, -1.25f}))}));
        wav_file_reader reader{path};
        CHECK(reader.is_float());
        CHECK(read_all_float(reader) == std::vector<float>{0.75f, -1.0f});
    }
}

TEST_CASE("wav_file_reader skips chunks it does not know, and their pad bytes", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("chunks.wav");
    const bytes audio = samples_le({1, 2, 3}, 3); // 24-bit mono: 9 bytes and a pad byte
    fmt_fields format{.channels = 1, .bits = 24};
    // A fmt chunk of 18 bytes, as many writers make it (cbSize 0).
    const bytes fmt_18 = chunk("fmt ", join({fmt_body(format), little_endian(0, 2)}));
    save(path, riff_wave({chunk("LIST", text("odd")), fmt_18, chunk("bext", text("12345")),
                          chunk("fact", little_endian(3, 4)), chunk("PEAK", bytes(1, 0xFF)),
                          chunk("data", audio), chunk("LIST", text("after the audio"))}));
    wav_file_reader reader{path};
    CHECK(reader.channels() == 1);
    CHECK(reader.frames() == 3);
    CHECK(read_all_int32(reader) == std::vector<std::int32_t>{0x100, 0x200, 0x300});

    SECTION("A fmt chunk of odd size")
    {
        const bytes fmt_17 = chunk("fmt ", join({fmt_body(format), bytes{0}}));
        save(path, riff_wave({fmt_17, chunk("junk", text("a")), chunk("data", audio)}));
        wav_file_reader odd{path};
        CHECK(read_all_int32(odd) == std::vector<std::int32_t>{0x100, 0x200, 0x300});
    }
}

TEST_CASE("A data chunk that claims more than the file holds is read to the end", "[wav_file]")
{
    // ffmpeg writing to a pipe cannot go back to fill in the sizes.
    const scratch_directory dir;
    const std::string path = dir.file("short.wav");
    const bytes ten_frames =
        samples_le({1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8, 9, -9, 10, -10}, 2);
    const std::vector<std::int32_t> expected{0x1'0000,  -0x1'0000, 0x2'0000,  -0x2'0000, 0x3'0000,
                                             -0x3'0000, 0x4'0000,  -0x4'0000, 0x5'0000,  -0x5'0000,
                                             0x6'0000,  -0x6'0000, 0x7'0000,  -0x7'0000, 0x8'0000,
                                             -0x8'0000, 0x9'0000,  -0x9'0000, 0xA'0000,  -0xA'0000};
    const bytes header =
        join({text("RIFF"), little_endian(0xFFFF'FFFFu, 4), text("WAVE"), fmt({})});
    for (const std::uint32_t stated : {0xFFFF'FFFFu, 0u, 1000u}) {
        DYNAMIC_SECTION("data size " << stated)
        {
            // Ten whole frames and part of another.
            save(path, join({header, text("data"), little_endian(stated, 4), ten_frames,
                             bytes{0x11, 0x22, 0x33}}));
            wav_file_reader reader{path};
            CHECK(reader.frames() == 10);
            CHECK(difference(read_all_int32(reader), expected) == "");
            reader.rewind();
            CHECK(difference(read_all_int32(reader, 3), expected) == "");
        }
    }
    SECTION("through an open FILE*, whose size is found by reading")
    {
        save(path,
             join({header, text("data"), little_endian(0xFFFF'FFFFu, 4), ten_frames, bytes{0x11}}));
        std::FILE* file = std::fopen(path.c_str(), "rb");
        REQUIRE(file != nullptr);
        wav_file_reader reader{file, "a stream"};
        CHECK(reader.path() == "a stream");
        CHECK(reader.frames() == 10);
        CHECK(difference(read_all_int32(reader), expected) == "");
        reader.rewind();
        CHECK(difference(read_all_int32(reader), expected) == "");
    }
}

TEST_CASE("wav_file_reader reads into spans of any size", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("spans.wav");
    save(path, riff_wave({fmt({.channels = 2, .bits = 16}),
                          chunk("data", samples_le({1, 2, 3, 4, 5, 6}, 2))}));
    wav_file_reader reader{path};
    std::array<std::int32_t, 5> five{};
    CHECK(reader.read(std::span{five}.first(1)) == 0); // less than a frame
    CHECK(reader.read(five) == 2);                     // whole frames only
    CHECK(five[3] == 0x4'0000);
    CHECK(reader.read(five) == 1);
    CHECK(five[1] == 0x6'0000);
    CHECK(reader.read(five) == 0);
    CHECK(reader.read(five) == 0);
}

TEST_CASE("wav_file_reader refuses what it cannot play, naming the file and the reason",
          "[wav_file]")
{
    const scratch_directory dir;
    const bytes audio = chunk("data", samples_le({1, 2, 3, 4}, 2));
    const std::string limits_channels = "audiocast carries " +
                                        std::to_string(audiocast::min_channels) + "-" +
                                        std::to_string(audiocast::max_channels);

    SECTION("not WAV at all")
    {
        require_refused(dir, "text.wav", text("This is not a sound file, just some text.\n"),
                        "is not a WAV file");
        require_refused(dir, "empty.wav", {}, "is not a WAV file");
        require_refused(dir, "zeros.wav", bytes(4096, 0), "is not a WAV file");
        require_refused(dir, "short.wav", bytes{'R', 'I', 'F', 'F', 0x24, 0, 0},
                        "is not a WAV file");
        require_refused(dir, "avi.wav", join({text("RIFF"), little_endian(4, 4), text("AVI ")}),
                        "is not a WAV file");
        require_refused(dir, "rifx.wav",
                        join({text("RIFX"), little_endian(36, 4), text("WAVE"), fmt({}), audio}),
                        "big-endian (RIFX)");
        require_refused(dir, "rf64.wav",
                        join({text("RF64"), little_endian(0xFFFF'FFFFu, 4), text("WAVE")}),
                        "is an RF64 WAV file");
        require_refused(dir.file("no such file.wav"), "cannot read");
    }
    SECTION("its chunks out of order or missing")
    {
        require_refused(dir, "no_fmt.wav", riff_wave({chunk("LIST", text("INFO"))}),
                        "has no fmt chunk");
        require_refused(dir, "nothing.wav", riff_wave({}), "has no fmt chunk");
        require_refused(dir, "data_first.wav", riff_wave({audio, fmt({})}),
                        "has its data chunk before its fmt chunk");
        require_refused(dir, "no_data.wav", riff_wave({fmt({}), chunk("LIST", text("INFO"))}),
                        "has no data chunk");
        require_refused(dir, "two_fmt.wav", riff_wave({fmt({}), fmt({}), audio}),
                        "has two fmt chunks");
        bytes many_chunks = riff_wave({});
        for (int i = 0; i < 1001; ++i) {
            const bytes empty = chunk("JUNK", {});
            many_chunks.insert(many_chunks.end(), empty.begin(), empty.end());
        }
        require_refused(dir, "many_chunks.wav", many_chunks, "has no data chunk where");
    }
    SECTION("a truncated header")
    {
        bytes cut = riff_wave({fmt({})});
        cut.resize(12 + 8 + 6);
        require_refused(dir, "cut_fmt.wav", cut, "ends inside its fmt chunk");
        require_refused(dir, "cut_chunk_header.wav", join({riff_wave({fmt({})}), text("dat")}),
                        "has no data chunk");
        require_refused(dir, "small_fmt.wav", riff_wave({chunk("fmt ", bytes(14, 1)), audio}),
                        "has a fmt chunk of 14 bytes");
    }
    SECTION("a format it does not read")
    {
        require_refused(dir, "adpcm.wav", riff_wave({fmt({.tag = 2, .bits = 4}), audio}),
                        "format tag 0x0002 (Microsoft ADPCM); only PCM (1), IEEE float (3)");
        require_refused(dir, "mulaw.wav", riff_wave({fmt({.tag = 7, .bits = 8}), audio}),
                        "format tag 0x0007 (mu-law)");
        require_refused(dir, "odd_tag.wav", riff_wave({fmt({.tag = 0x1234}), audio}),
                        "format tag 0x1234;");
        require_refused(dir, "pcm12.wav", riff_wave({fmt({.bits = 12, .block_align = 4}), audio}),
                        "has 12-bit PCM samples; only 8-, 16-, 24- and 32-bit PCM is read");
        require_refused(dir, "pcm64.wav", riff_wave({fmt({.bits = 64}), audio}),
                        "has 64-bit PCM samples");
        require_refused(dir, "float16.wav", riff_wave({fmt({.tag = 3, .bits = 16}), audio}),
                        "has 16-bit float samples; only 32- and 64-bit float is read");
        require_refused(dir, "extensible_alaw.wav",
                        riff_wave({extensible_fmt(2, 16, 16, 6), audio}),
                        "is WAVE_FORMAT_EXTENSIBLE with sub-format "
                        "{00000006-0000-0010-8000-00AA00389B71}; only its PCM and IEEE float");
        require_refused(dir, "extensible_other_guid.wav",
                        riff_wave({extensible_fmt(2, 16, 16, 1,
                                                  bytes{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                                        0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x72}),
                                   audio}),
                        "{00000001-0000-0010-8000-00AA00389B72}");
        fmt_fields extensible{.tag = 0xFFFE};
        require_refused(
            dir, "extensible_short.wav",
            riff_wave({chunk("fmt ", join({fmt_body(extensible), little_endian(0, 2)})), audio}),
            "has a WAVE_FORMAT_EXTENSIBLE fmt chunk of 18 bytes; it needs 40");
    }
    SECTION("a layout audiocast cannot carry, or that does not add up")
    {
        require_refused(dir, "no_channels.wav", riff_wave({fmt({.channels = 0}), audio}),
                        "has 0 channels; " + limits_channels);
        const unsigned too_many = audiocast::max_channels + 1;
        require_refused(dir, "too_many_channels.wav",
                        riff_wave({fmt({.channels = too_many}), audio}),
                        "has " + std::to_string(too_many) + " channels; " + limits_channels);
        const std::string limits_rate = "Hz; audiocast carries " +
                                        std::to_string(audiocast::min_sample_rate) + "-" +
                                        std::to_string(audiocast::max_sample_rate) + " Hz";
        require_refused(dir, "slow.wav", riff_wave({fmt({.sample_rate = 4000}), audio}),
                        "is sampled at 4000 " + limits_rate);
        require_refused(dir, "fast.wav", riff_wave({fmt({.sample_rate = 384'000}), audio}),
                        "is sampled at 384000 " + limits_rate);
        require_refused(dir, "block_align.wav", riff_wave({fmt({.block_align = 6}), audio}),
                        "says a frame is 6 bytes (block_align), but 2 channels of 16-bit "
                        "samples take 4");
        require_refused(dir, "no_block_align.wav", riff_wave({fmt({.block_align = 0}), audio}),
                        "says a frame is 0 bytes");
    }
    SECTION("no audio")
    {
        require_refused(dir, "empty_data.wav", riff_wave({fmt({}), chunk("data", {})}),
                        "holds no audio frames");
        require_refused(dir, "part_frame.wav", riff_wave({fmt({}), chunk("data", bytes(3, 1))}),
                        "holds no audio frames");
    }
}

TEST_CASE("wav_file_reader refuses a null FILE*", "[wav_file]")
{
    CHECK_THROWS_WITH(wav_file_reader(nullptr, "nothing"), Catch::Contains("'nothing'"));
}

#ifdef __linux__
TEST_CASE("wav_file_reader refuses /dev/zero and a directory quickly", "[wav_file]")
{
    require_refused("/dev/zero", "is not a WAV file");
    const scratch_directory dir;
    const std::string path = dir.file("folder.wav");
    fs::create_directory(path);
    require_refused(path, "cannot read");
}

TEST_CASE("wav_file_reader reads from memory through fmemopen", "[wav_file]")
{
    bytes wav =
        riff_wave({fmt({.channels = 1}), chunk("data", samples_le({7, -7}, 2), 0xFFFF'FFFFu)});
    std::FILE* file = fmemopen(wav.data(), wav.size(), "rb");
    REQUIRE(file != nullptr);
    wav_file_reader reader{file, "memory"};
    CHECK(reader.frames() == 2);
    CHECK(read_all_int32(reader) == std::vector<std::int32_t>{0x7'0000, -0x7'0000});
}

TEST_CASE("A file that shrinks while it is read ends where it ends", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("shrinking.wav");
    // More than stdio's buffer holds, so that the reads after the cut see it.
    const auto samples = stream_samples(100'000, 1, 16);
    {
        wav_file_writer writer{path, {sample_format::l16, 48'000, 1}};
        writer.write(samples);
    }
    wav_file_reader reader{path};
    CHECK(reader.frames() == 100'000);
    fs::resize_file(path, 44 + 2 * 60'000 + 1); // 60000 frames and half of the next
    const std::vector<std::int32_t> kept(samples.begin(), samples.begin() + 60'000);
    CHECK(difference(read_all_int32(reader), kept) == "");
    std::vector<std::int32_t> more(100);
    CHECK(reader.read(more) == 0);
    reader.rewind(); // and a rewind reads what is left again
    CHECK(difference(read_all_int32(reader), kept) == "");
}
#endif

#ifdef __GLIBC__
namespace {

/// A file in memory whose reads fail with EIO past `fail_at` once `failing`
/// is set: a disk error in the middle of the audio.
struct failing_file {
    bytes content;
    std::size_t fail_at = 0;
    bool failing = false;
    std::size_t position = 0;

    static ssize_t read(void* cookie, char* into, std::size_t size)
    {
        auto& f = *static_cast<failing_file*>(cookie);
        std::size_t end = std::min(f.content.size(), f.position + size);
        if (f.failing) {
            if (f.position >= f.fail_at) {
                errno = EIO;
                return -1;
            }
            end = std::min(end, f.fail_at);
        }
        std::copy(f.content.begin() + static_cast<std::ptrdiff_t>(f.position),
                  f.content.begin() + static_cast<std::ptrdiff_t>(end), into);
        const std::size_t count = end - f.position;
        f.position = end;
        return static_cast<ssize_t>(count);
    }

    static int seek(void* cookie, off64_t* offset, int whence)
    {
        auto& f = *static_cast<failing_file*>(cookie);
        const off64_t base = whence == SEEK_SET   ? 0
                             : whence == SEEK_CUR ? static_cast<off64_t>(f.position)
                                                  : static_cast<off64_t>(f.content.size());
        if (base + *offset < 0) return -1;
        f.position = static_cast<std::size_t>(base + *offset);
        *offset = base + *offset;
        return 0;
    }
};

} // namespace

TEST_CASE("A read error in the middle of the audio says so", "[wav_file]")
{
    failing_file source;
    std::vector<std::int64_t> values(20'000);
    for (std::size_t i = 0; i < values.size(); ++i)
        values[i] = static_cast<std::int64_t>(i % 30'000);
    bytes audio;
    for (const std::int64_t v : values) {
        const bytes one = little_endian(static_cast<std::uint64_t>(v), 2);
        audio.insert(audio.end(), one.begin(), one.end());
    }
    source.content = riff_wave({fmt({.channels = 1}), chunk("data", audio)});
    source.fail_at = 44 + 2 * 10'000;
    std::FILE* file =
        fopencookie(&source, "rb", {failing_file::read, nullptr, failing_file::seek, nullptr});
    REQUIRE(file != nullptr);
    wav_file_reader reader{file, "a failing disk"};
    CHECK(reader.frames() == 20'000);
    source.failing = true;
    reader.rewind();
    std::vector<std::int32_t> block(30'000);
    CHECK_THROWS_WITH(reader.read(block), Catch::Contains("cannot read 'a failing disk': " +
                                                          std::string{std::strerror(EIO)}));
}
#endif

TEST_CASE("wav_file_writer says why it cannot write", "[wav_file]")
{
    const scratch_directory dir;
    const audiocast::audio_format format{sample_format::l16, 48'000, 2};
    const auto require_write_refused = [&](const std::string& path, const std::string& reason) {
        INFO("file: " << path);
        CHECK_THROWS_WITH(wav_file_writer(path, format),
                          Catch::Contains("cannot write '" + path + "': " + reason));
    };
    const std::string folder = dir.file("a folder");
    fs::create_directory(folder);
    require_write_refused(folder, "");
    require_write_refused(dir.file("missing folder") + "/x.wav", "");
    CHECK_THROWS_WITH(wav_file_writer(dir.file("none.wav"), {sample_format::l16, 48'000, 0}),
                      Catch::Contains("0 channels"));
#ifdef __linux__
    require_write_refused("/dev/full", "No space left on device");
#endif
}

#ifdef __linux__
TEST_CASE("wav_file_writer refuses to grow a file past 4 GiB", "[wav_file][.slow]")
{
    // /dev/null takes the 4 GiB and the seeks back to the header.
    wav_file_writer writer{"/dev/null", {sample_format::l16, 48'000, 8}};
    const std::vector<std::int32_t> block(16 * 1024 * 1024);
    std::uint64_t written = 0;
    for (int i = 0; i < 127; ++i) {
        writer.write(block);
        written += block.size() * 2;
    }
    CHECK(written == 127ull * 32 * 1024 * 1024);
    // 4 GiB - 32 MiB written: one more block is past the RIFF size's reach.
    CHECK_THROWS_WITH(writer.write(block), Catch::Contains("holds at most 4 GiB"));
    CHECK(writer.frames() == written / 16);
}
#endif

#if AUDIOCAST_EXAMPLES_HAS_SNDFILE
TEST_CASE("wav_file_writer writes what libsndfile's writer writes, byte for byte", "[wav_file]")
{
    const scratch_directory dir;
    for (const sample_format encoding : {sample_format::l16, sample_format::l24}) {
        for (const unsigned channels : {1u, 2u, 8u}) {
            const std::string ours = dir.file("ours.wav");
            const std::string theirs = dir.file("theirs.wav");
            const audiocast::audio_format format{encoding, 48'000, channels};
            const auto samples = stream_samples(1'001, channels, 32);
            {
                wav_file_writer writer{ours, format};
                writer.write(samples);
                writer.close();
                audiocast_examples::wav_writer reference{theirs, format};
                reference.write(samples);
                reference.close();
            }
            INFO("L" << (encoding == sample_format::l16 ? 16 : 24) << ", " << channels);
            CHECK(load(ours) == load(theirs));
            audiocast_examples::sound_file_reader reader{ours};
            CHECK(reader.frames() == 1'001);
            CHECK(reader.channels() == channels);
            CHECK(reader.natural_encoding() == encoding);
            std::vector<std::int32_t> back(samples.size());
            CHECK(reader.read(back) == 1'001);
            wav_file_reader again{ours};
            CHECK(difference(read_all_int32(again), back) == "");
        }
    }
}

TEST_CASE("wav_file_reader reads libsndfile's files as libsndfile does", "[wav_file]")
{
    const scratch_directory dir;
    const std::string path = dir.file("libsndfile.wav");
    for (const int subtype : {SF_FORMAT_PCM_U8, SF_FORMAT_PCM_16, SF_FORMAT_PCM_24,
                              SF_FORMAT_PCM_32, SF_FORMAT_FLOAT, SF_FORMAT_DOUBLE}) {
        for (const int wav : {SF_FORMAT_WAV, SF_FORMAT_WAVEX}) {
            INFO("libsndfile format 0x" << std::hex << (wav | subtype));
            SF_INFO info{};
            info.samplerate = 44'100;
            info.channels = 3;
            info.format = wav | subtype;
            std::vector<double> written(3 * 2'000);
            for (std::size_t i = 0; i < written.size(); ++i)
                written[i] = std::sin(static_cast<double>(i) * 0.01) * 0.9;
            SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
            REQUIRE(file != nullptr);
            sf_command(file, SFC_SET_ADD_PEAK_CHUNK, nullptr, SF_TRUE);
            sf_set_string(file, SF_STR_TITLE, "a title, in a LIST chunk");
            CHECK(sf_writef_double(file, written.data(), 2'000) == 2'000);
            sf_close(file);

            audiocast_examples::sound_file_reader reference{path};
            wav_file_reader reader{path};
            CHECK(reader.sample_rate() == reference.sample_rate());
            CHECK(reader.channels() == reference.channels());
            CHECK(reader.frames() == reference.frames());
            CHECK(reader.is_float() == reference.is_float());
            CHECK(reader.natural_encoding() == reference.natural_encoding());
            if (reference.is_float()) {
                std::vector<float> expected(written.size());
                CHECK(reference.read(expected) == 2'000);
                CHECK(difference(read_all_float(reader, 333), expected) == "");
            } else {
                std::vector<std::int32_t> expected(written.size());
                CHECK(reference.read(expected) == 2'000);
                CHECK(difference(read_all_int32(reader, 333), expected) == "");
                std::vector<float> expected_float(written.size());
                reference.rewind();
                CHECK(reference.read(expected_float) == 2'000);
                reader.rewind();
                CHECK(difference(read_all_float(reader), expected_float) == "");
            }
        }
    }
}
#endif
