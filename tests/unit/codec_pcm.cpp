#include <audiocast/codec/pcm.hpp>

#include <audiocast/concepts.hpp>

#include "../support/allocation_counter.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

using audiocast::errc;
using audiocast::pcm_codec;
using audiocast::pcm_config;
using audiocast::sample_format;

static_assert(audiocast::codec<pcm_codec>);

namespace {

using bytes = std::vector<std::byte>;

bytes hex(std::initializer_list<unsigned> values)
{
    bytes out;
    for (unsigned v : values)
        out.push_back(static_cast<std::byte>(v));
    return out;
}

pcm_config config_of(sample_format encoding, std::uint32_t rate, unsigned channels, int ms,
                     std::size_t mtu = audiocast::default_mtu)
{
    pcm_config c;
    c.format = {encoding, rate, channels};
    c.packet_time = std::chrono::milliseconds{ms};
    c.mtu = mtu;
    return c;
}

pcm_codec mono(sample_format encoding)
{
    return pcm_codec{config_of(encoding, 48'000, 1, 5)};
}

template <class T>
bytes encode_all(const pcm_codec& codec, const std::vector<T>& samples)
{
    bytes out(samples.size() * audiocast::bytes_per_sample(codec.format().encoding));
    REQUIRE(codec.encode(std::span<const T>(samples), std::span<std::byte>(out)) == out.size());
    return out;
}

template <class T>
std::vector<T> decode_all(const pcm_codec& codec, const bytes& payload)
{
    std::vector<T> out(payload.size() / audiocast::bytes_per_sample(codec.format().encoding));
    REQUIRE(codec.decode(std::span<const std::byte>(payload), std::span<T>(out)) == out.size());
    return out;
}

std::error_code validation_error(const pcm_config& c)
{
    std::error_code ec;
    pcm_codec::validate(c, ec);
    return ec;
}

struct thrown {
    std::error_code code;
    std::string what;
};

template <class F>
thrown system_error_from(F&& f)
{
    try {
        f();
    } catch (const std::system_error& e) {
        return {e.code(), e.what()};
    }
    FAIL("no std::system_error was thrown");
    return {};
}

/// what() is the message, then ": " and the category's text; compare the message.
std::string message_part(const std::string& what, std::size_t length)
{
    return what.substr(0, length);
}

/// Deterministic samples spread over the whole range of T.
template <class T>
std::vector<T> test_signal(std::size_t count)
{
    std::vector<T> out(count);
    std::uint32_t state = 12345;
    for (auto& s : out) {
        state = state * 1664525u + 1013904223u;
        if constexpr (std::is_same_v<T, float>)
            s = static_cast<float>(static_cast<std::int32_t>(state)) / 2147483648.0f * 1.2f;
        else
            s = static_cast<T>(state >> (32 - 8 * sizeof(T)));
    }
    return out;
}

/// Records every packet a codec hands out.
struct packet_log {
    std::vector<bytes> packets;
    void operator()(std::span<const std::byte> payload)
    {
        packets.emplace_back(payload.begin(), payload.end());
    }
    bytes joined() const
    {
        bytes out;
        for (const auto& p : packets)
            out.insert(out.end(), p.begin(), p.end());
        return out;
    }
};

/// The rules of the class comment written the slow, obvious way.
std::uint32_t reference_wire_value(float x, sample_format f)
{
    const double scale = f == sample_format::l24 ? 8388608.0 : 32768.0;
    double c = std::isnan(x) ? 0.0 : std::fmax(-1.0, std::fmin(1.0, static_cast<double>(x)));
    long v = std::lround(c * scale); // ties away from zero
    if (v > static_cast<long>(scale) - 1) v = static_cast<long>(scale) - 1;
    const auto mask = f == sample_format::l24 ? 0xFF'FFFFu : 0xFFFFu;
    return static_cast<std::uint32_t>(v) & mask;
}

template <class T>
std::uint32_t reference_wire_value(T s, sample_format f)
{
    const auto top = static_cast<std::uint32_t>(s) << (32 - 8 * sizeof(T)); // 32-bit, top-aligned
    return f == sample_format::l24 ? top >> 8 : top >> 16;
}

template <class T>
bytes reference_encode(const std::vector<T>& samples, sample_format f)
{
    bytes out;
    for (T s : samples) {
        const std::uint32_t v = reference_wire_value(s, f);
        if (f == sample_format::l24) out.push_back(static_cast<std::byte>(v >> 16));
        out.push_back(static_cast<std::byte>(v >> 8));
        out.push_back(static_cast<std::byte>(v));
    }
    return out;
}

} // namespace

TEST_CASE("default pcm codec carries 48 kHz stereo L16 in 5 ms packets of 240 frames, 960 bytes")
{
    const pcm_codec codec;
    CHECK(codec.format() == audiocast::audio_format{sample_format::l16, 48'000, 2});
    CHECK(codec.packet_time() == std::chrono::milliseconds{5});
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{5});
    CHECK(codec.frames_per_packet() == 240);
    CHECK(codec.payload_bytes() == 960);
    CHECK(codec.max_payload_bytes() == 1500 - 56);
    CHECK(codec.pending_frames() == 0);
    CHECK(pcm_codec{pcm_config{}}.payload_bytes() == 960);
}

TEST_CASE("pcm codec sizes its packets from rate, channels, encoding and packet time")
{
    const pcm_codec codec{config_of(sample_format::l24, 96'000, 4, 1)};
    CHECK(codec.frames_per_packet() == 96);
    CHECK(codec.payload_bytes() == 96 * 4 * 3);
    CHECK(codec.packet_time() == std::chrono::milliseconds{1});
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{1});

    pcm_config jumbo = config_of(sample_format::l16, 44'100, 2, 20, 9000);
    jumbo.header_overhead = 28;
    const pcm_codec big{jumbo};
    CHECK(big.frames_per_packet() == 882);
    CHECK(big.payload_bytes() == 3528);
    CHECK(big.max_payload_bytes() == 9000 - 28);
}

TEST_CASE("validation checks the audio format first, with format.hpp's codes and messages")
{
    pcm_config c = config_of(sample_format::l16, 1'000, 2, 3, 100); // everything is wrong
    CHECK(validation_error(c) == errc::invalid_sample_rate);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.code == errc::invalid_sample_rate);
    const std::string expected = "sample rate 1000 Hz is outside 8000-192000 Hz";
    CHECK(message_part(t.what, expected.size()) == expected);

    c.format = {sample_format::l16, 48'000, 0};
    CHECK(validation_error(c) == errc::invalid_channel_count);
    c.format = {static_cast<sample_format>(7), 48'000, 2};
    CHECK(validation_error(c) == errc::invalid_sample_format);
}

TEST_CASE("validation refuses packet times other than 1, 2, 5, 10 and 20 ms")
{
    const int ms = GENERATE(-5, 0, 3, 4, 15, 40, 1000);
    const pcm_config c = config_of(sample_format::l16, 48'000, 2, ms, 100); // MTU is wrong too
    CHECK(validation_error(c) == errc::invalid_packet_time);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.code == errc::invalid_packet_time);
    const std::string expected =
        "ptime " + std::to_string(ms) + " ms is not one of 1, 2, 5, 10, 20 ms";
    CHECK(message_part(t.what, expected.size()) == expected);
}

TEST_CASE("validation accepts every allowed packet time that fits, whole frames or not")
{
    const std::uint32_t rate = GENERATE(44'100u, 48'000u);
    const int ms = GENERATE(1, 2, 5, 10, 20);
    CHECK_FALSE(validation_error(config_of(sample_format::l16, rate, 2, ms, 9000)));
    CHECK_NOTHROW(pcm_codec::validate(config_of(sample_format::l16, rate, 2, ms, 9000)));
}

TEST_CASE("44.1 kHz packets hold the whole frames that fit: 44, 88 and 220 at 1, 2 and 5 ms")
{
    const auto [ms, frames, exact_ns] = GENERATE(table<int, std::size_t, std::int64_t>({
        {1, 44, 997'733},    // of 44.1 frames; durations round up to the ns
        {2, 88, 1'995'465},  // of 88.2
        {5, 220, 4'988'663}, // of 220.5
    }));
    const pcm_config c = config_of(sample_format::l16, 44'100, 1, ms);
    CHECK_FALSE(validation_error(c));
    CHECK_NOTHROW(pcm_codec::validate(c));

    const pcm_codec codec{c};
    CHECK(codec.frames_per_packet() == frames);
    CHECK(codec.payload_bytes() == frames * 2);
    CHECK(codec.packet_time() == std::chrono::nanoseconds{exact_ns});
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{ms});
}

TEST_CASE("packet_time is the exact duration of a packet's frames, nominal_packet_time the "
          "configured value")
{
    const auto [rate, ms, frames, exact_ns] =
        GENERATE(table<std::uint32_t, int, std::size_t, std::int64_t>({
            {11'025, 20, 220, 19'954'649}, // of 220.5 frames
            {22'050, 5, 110, 4'988'663},   // of 110.25
            {88'200, 1, 88, 997'733},      // of 88.2
            {88'200, 5, 441, 5'000'000},
            {44'100, 10, 441, 10'000'000},
            {44'100, 20, 882, 20'000'000},
            {48'000, 5, 240, 5'000'000},
            {8'000, 1, 8, 1'000'000}, // the fewest frames any allowed rate and packet time give
        }));
    CAPTURE(rate, ms);
    const pcm_codec codec{config_of(sample_format::l16, rate, 1, ms, 9000)};
    CHECK(codec.frames_per_packet() == frames);
    CHECK(codec.packet_time() == std::chrono::nanoseconds{exact_ns});
    CHECK(codec.packet_time() == audiocast::duration_of(frames, rate));
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{ms});
    const bool whole = std::uint64_t{rate} * static_cast<std::uint64_t>(ms) % 1000 == 0;
    CHECK((codec.packet_time() == codec.nominal_packet_time()) == whole);
}

TEST_CASE("44.1 kHz stereo L16 streams on the defaults in 5 ms packets of 220 frames, 880 bytes")
{
    pcm_config c;
    c.format.sample_rate = 44'100;
    CHECK_FALSE(validation_error(c));
    pcm_codec codec{c};
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{5});
    CHECK(codec.packet_time() == std::chrono::nanoseconds{4'988'663});
    CHECK(codec.frames_per_packet() == 220);
    CHECK(codec.payload_bytes() == 880);
    CHECK(codec.max_payload_bytes() == 1444);

    // One second: 200 full packets, and 100 frames waiting for the next.
    const std::vector<std::int16_t> s = test_signal<std::int16_t>(44'100 * 2);
    packet_log log;
    CHECK(codec.write(std::span<const std::int16_t>(s), log) == 44'100);
    REQUIRE(log.packets.size() == 200);
    for (const auto& p : log.packets)
        CHECK(p.size() == 880);
    CHECK(codec.pending_frames() == 100);
    codec.flush(log);
    CHECK(log.packets.back().size() == 400);
    CHECK(log.joined() == encode_all(codec, s));
}

TEST_CASE("the MTU check counts only the whole frames a packet holds")
{
    pcm_config c; // 5 ms at 44.1 kHz stereo L16 is 220.5 frames; a packet is 220, 880 bytes
    c.format.sample_rate = 44'100;
    c.mtu = 880 + audiocast::default_header_overhead;
    CHECK_FALSE(validation_error(c));
    c.mtu -= 1;
    CHECK(validation_error(c) == errc::packet_exceeds_mtu);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.code == errc::packet_exceeds_mtu);
    const std::string expected =
        "ptime 5 ms at 44100 Hz L16 stereo is 880 bytes; the MTU allows 879";
    CHECK(message_part(t.what, expected.size()) == expected);
}

TEST_CASE("validation refuses an MTU outside 576-65535")
{
    const std::size_t mtu =
        GENERATE(std::size_t{0}, std::size_t{575}, std::size_t{65536}, std::size_t{1} << 40);
    const pcm_config c = config_of(sample_format::l16, 48'000, 2, 1, mtu);
    CHECK(validation_error(c) == errc::invalid_mtu);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.code == errc::invalid_mtu);
    const std::string expected = "MTU " + std::to_string(mtu) + " bytes is outside 576-65535 bytes";
    CHECK(message_part(t.what, expected.size()) == expected);
}

TEST_CASE("validation accepts the smallest and largest MTU")
{
    CHECK_FALSE(validation_error(config_of(sample_format::l16, 48'000, 2, 1, 576)));
    CHECK_FALSE(validation_error(config_of(sample_format::l16, 48'000, 2, 1, 65535)));
}

TEST_CASE("validation refuses a packet larger than the MTU allows, naming both sizes")
{
    const auto [encoding, channels, ms, expected] =
        GENERATE(table<sample_format, unsigned, int, std::string>({
            {sample_format::l24, 2, 10,
             "ptime 10 ms at 48000 Hz L24 stereo is 2880 bytes; the MTU allows 1444"},
            {sample_format::l24, 2, 20,
             "ptime 20 ms at 48000 Hz L24 stereo is 5760 bytes; the MTU allows 1444"},
            {sample_format::l16, 1, 20,
             "ptime 20 ms at 48000 Hz L16 mono is 1920 bytes; the MTU allows 1444"},
            {sample_format::l16, 6, 5,
             "ptime 5 ms at 48000 Hz L16 6 channels is 2880 bytes; the MTU allows 1444"},
        }));
    const pcm_config c = config_of(encoding, 48'000, channels, ms);
    CHECK(validation_error(c) == errc::packet_exceeds_mtu);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.code == errc::packet_exceeds_mtu);
    CHECK(message_part(t.what, expected.size()) == expected);
}

TEST_CASE("a payload exactly as large as the MTU allows is accepted, one byte more is not")
{
    pcm_config c; // 960-byte payloads
    c.mtu = 960 + audiocast::default_header_overhead;
    CHECK_FALSE(validation_error(c));
    c.mtu -= 1;
    CHECK(validation_error(c) == errc::packet_exceeds_mtu);
    c.mtu = 1500;
    c.header_overhead = 1500 - 960;
    CHECK_FALSE(validation_error(c));
    c.header_overhead = 1501; // more overhead than MTU: nothing fits
    CHECK(validation_error(c) == errc::packet_exceeds_mtu);
    const thrown t = system_error_from([&] { pcm_codec::validate(c); });
    CHECK(t.what.find("the MTU allows 0") != std::string::npos);
}

TEST_CASE("validation reports the first rule broken: format, packet time, MTU, then size")
{
    CHECK(validation_error(config_of(sample_format::l16, 44'100, 65, 1, 1)) ==
          errc::invalid_channel_count);
    CHECK(validation_error(config_of(sample_format::l24, 44'100, 64, 3, 1)) ==
          errc::invalid_packet_time);
    CHECK(validation_error(config_of(sample_format::l24, 44'100, 64, 1, 1)) == errc::invalid_mtu);
    CHECK(validation_error(config_of(sample_format::l24, 48'000, 64, 20, 1)) == errc::invalid_mtu);
    CHECK(validation_error(config_of(sample_format::l24, 48'000, 64, 20)) ==
          errc::packet_exceeds_mtu);
}

TEST_CASE("an invalid configuration throws from the constructor and is reported by make")
{
    const pcm_config bad = config_of(sample_format::l24, 48'000, 2, 20);
    const thrown t = system_error_from([&] { pcm_codec{bad}; });
    CHECK(t.code == errc::packet_exceeds_mtu);

    std::error_code ec = make_error_code(std::errc::io_error);
    const pcm_codec fallback = pcm_codec::make(bad, ec);
    CHECK(ec == errc::packet_exceeds_mtu);
    CHECK(fallback.format() == audiocast::audio_format{});
    CHECK(fallback.payload_bytes() == 960);

    const pcm_codec good = pcm_codec::make(config_of(sample_format::l24, 48'000, 2, 1), ec);
    CHECK_FALSE(ec);
    CHECK(good.payload_bytes() == 48 * 2 * 3);
}

TEST_CASE("int16 samples encode to L16 unchanged, big-endian")
{
    const std::vector<std::int16_t> s{0x1234, -1, 0, 32767, -32768};
    CHECK(encode_all(mono(sample_format::l16), s) ==
          hex({0x12, 0x34, 0xFF, 0xFF, 0x00, 0x00, 0x7F, 0xFF, 0x80, 0x00}));
}

TEST_CASE("int16 samples encode to L24 shifted up by 8 bits")
{
    const std::vector<std::int16_t> s{0x1234, -1, 32767, -32768};
    CHECK(encode_all(mono(sample_format::l24), s) ==
          hex({0x12, 0x34, 0x00, 0xFF, 0xFF, 0x00, 0x7F, 0xFF, 0x00, 0x80, 0x00, 0x00}));
}

TEST_CASE("int32 samples encode to L16 as their top 16 bits")
{
    const std::vector<std::int32_t> s{0x12345678, -1, std::numeric_limits<std::int32_t>::max(),
                                      std::numeric_limits<std::int32_t>::min(), 0x0000FFFF};
    CHECK(encode_all(mono(sample_format::l16), s) ==
          hex({0x12, 0x34, 0xFF, 0xFF, 0x7F, 0xFF, 0x80, 0x00, 0x00, 0x00}));
}

TEST_CASE("int32 samples encode to L24 as their top 24 bits, ignoring the low byte")
{
    const std::vector<std::int32_t> s{0x12345678,
                                      -1,
                                      std::numeric_limits<std::int32_t>::max(),
                                      std::numeric_limits<std::int32_t>::min(),
                                      0xFF,
                                      -256};
    CHECK(encode_all(mono(sample_format::l24), s) ==
          hex({0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x00,
               0x00, 0xFF, 0xFF, 0xFF}));
}

TEST_CASE("float samples encode to L16 scaled by 32768, clipped, rounded and clamped")
{
    const float lsb = 1.0f / 32768.0f;
    const float inf = std::numeric_limits<float>::infinity();
    const auto [x, hi, lo] = GENERATE_COPY(table<float, unsigned, unsigned>({
        {1.0f, 0x7F, 0xFF},
        {-1.0f, 0x80, 0x00},
        {2.0f, 0x7F, 0xFF},
        {-2.0f, 0x80, 0x00},
        {inf, 0x7F, 0xFF},
        {-inf, 0x80, 0x00},
        {std::numeric_limits<float>::quiet_NaN(), 0x00, 0x00},
        {0.5f, 0x40, 0x00},
        {-0.5f, 0xC0, 0x00},
        {0.0f, 0x00, 0x00},
        {-0.0f, 0x00, 0x00},
        {lsb, 0x00, 0x01},
        {-lsb, 0xFF, 0xFF},
        {0.5f * lsb, 0x00, 0x01},        // a tie rounds away from zero
        {-0.5f * lsb, 0xFF, 0xFF},       // in both directions
        {1.5f * lsb, 0x00, 0x02},        // not to even
        {0.49999997f * lsb, 0x00, 0x00}, // just below a tie
        {32766.5f * lsb, 0x7F, 0xFF},    // rounds up to the largest value
        {32767.5f * lsb, 0x7F, 0xFF},    // rounds to 32768, clamped
        {1e-30f, 0x00, 0x00},
    }));
    CAPTURE(x);
    CHECK(encode_all(mono(sample_format::l16), std::vector<float>{x}) == hex({hi, lo}));
}

TEST_CASE("float samples encode to L24 scaled by 8388608, clipped, rounded and clamped")
{
    const float lsb = 1.0f / 8388608.0f;
    const auto [x, expected] = GENERATE_COPY(table<float, bytes>({
        {1.0f, hex({0x7F, 0xFF, 0xFF})},
        {-1.0f, hex({0x80, 0x00, 0x00})},
        {2.0f, hex({0x7F, 0xFF, 0xFF})},
        {0.5f, hex({0x40, 0x00, 0x00})},
        {-0.5f, hex({0xC0, 0x00, 0x00})},
        {lsb, hex({0x00, 0x00, 0x01})},
        {0.5f * lsb, hex({0x00, 0x00, 0x01})},
        {-0.5f * lsb, hex({0xFF, 0xFF, 0xFF})},
        {std::numeric_limits<float>::quiet_NaN(), hex({0x00, 0x00, 0x00})},
    }));
    CAPTURE(x);
    CHECK(encode_all(mono(sample_format::l24), std::vector<float>{x}) == expected);
}

TEMPLATE_TEST_CASE("encode matches a byte-at-a-time reference at every length", "", std::int16_t,
                   std::int32_t, float)
{
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    const pcm_codec codec = mono(f);
    const std::vector<TestType> all = test_signal<TestType>(150); // past two float chunks
    for (std::size_t n = 0; n <= all.size(); ++n) {
        CAPTURE(n);
        const std::vector<TestType> s(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK(encode_all(codec, s) == reference_encode(s, f));
    }
}

TEST_CASE("encode interleaves channels frame by frame")
{
    const pcm_codec stereo;
    const std::vector<std::int16_t> s{1, 2, 3, 4}; // L R L R
    CHECK(encode_all(stereo, s) == hex({0, 1, 0, 2, 0, 3, 0, 4}));
}

TEST_CASE("encode of no samples writes nothing")
{
    const pcm_codec codec;
    CHECK(codec.encode(std::span<const std::int16_t>{}, std::span<std::byte>{}) == 0);
}

#ifdef NDEBUG
TEST_CASE("with assertions off, encode writes nothing when its preconditions are broken")
{
    const pcm_codec stereo;
    const std::vector<std::int16_t> s{1, 2, 3};
    bytes out(16, std::byte{0xAA});
    CHECK(stereo.encode(std::span<const std::int16_t>(s), std::span<std::byte>(out)) == 0);
    CHECK(stereo.encode(std::span<const std::int16_t>(s).first(2),
                        std::span<std::byte>(out).first(3)) == 0);
    CHECK(out == bytes(16, std::byte{0xAA}));
}
#endif

TEST_CASE("L16 decodes to int16 as is, to int32 shifted up by 16, to float over 32768")
{
    const pcm_codec codec = mono(sample_format::l16);
    const bytes wire = hex({0x12, 0x34, 0xFF, 0xFF, 0x80, 0x00, 0x7F, 0xFF});
    CHECK(decode_all<std::int16_t>(codec, wire) ==
          std::vector<std::int16_t>{0x1234, -1, -32768, 32767});
    CHECK(decode_all<std::int32_t>(codec, wire) ==
          std::vector<std::int32_t>{0x12340000, -65536, std::numeric_limits<std::int32_t>::min(),
                                    0x7FFF0000});
    CHECK(decode_all<float>(codec, wire) ==
          std::vector<float>{0x1234 / 32768.0f, -1 / 32768.0f, -1.0f, 32767 / 32768.0f});
}

TEST_CASE("L24 decodes to int16 shifted down by 8, to int32 shifted up by 8, to float over 8388608")
{
    const pcm_codec codec = mono(sample_format::l24);
    const bytes wire = hex(
        {0x12, 0x34, 0x56, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01});
    CHECK(decode_all<std::int16_t>(codec, wire) ==
          std::vector<std::int16_t>{0x1234, -1, -32768, 0x4000, 0});
    CHECK(decode_all<std::int32_t>(codec, wire) ==
          std::vector<std::int32_t>{0x12345600, -256, std::numeric_limits<std::int32_t>::min(),
                                    0x40000000, 0x100});
    CHECK(decode_all<float>(codec, wire) ==
          std::vector<float>{0x123456 / 8388608.0f, -1 / 8388608.0f, -1.0f, 0.5f, 1 / 8388608.0f});
}

TEMPLATE_TEST_CASE("decode agrees with encode's reference at every length", "", std::int16_t,
                   std::int32_t, float)
{
    // Decoding the reference bytes of an exactly representable signal gives it back.
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    const pcm_codec codec = mono(f);
    std::vector<std::int16_t> all = test_signal<std::int16_t>(70);
    for (std::size_t n = 0; n <= all.size(); ++n) {
        CAPTURE(n);
        const std::vector<std::int16_t> s(all.begin(),
                                          all.begin() + static_cast<std::ptrdiff_t>(n));
        const std::vector<TestType> decoded = decode_all<TestType>(codec, reference_encode(s, f));
        REQUIRE(decoded.size() == n);
        for (std::size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<TestType, std::int16_t>)
                CHECK(decoded[i] == s[i]);
            else if constexpr (std::is_same_v<TestType, std::int32_t>)
                CHECK(decoded[i] == s[i] * 65536);
            else
                CHECK(decoded[i] == static_cast<float>(s[i]) / 32768.0f);
        }
    }
}

TEST_CASE("decode produces no sample from an incomplete trailing sample")
{
    std::vector<std::int16_t> out(8, 99);
    CHECK(mono(sample_format::l16)
              .decode(std::span<const std::byte>(hex({0, 1, 0, 2, 0})), std::span(out)) == 2);
    CHECK(out[0] == 1);
    CHECK(out[1] == 2);
    CHECK(out[2] == 99);
    CHECK(mono(sample_format::l24)
              .decode(std::span<const std::byte>(hex({0, 0, 0, 0, 1})), std::span(out)) == 1);
}

TEST_CASE("decode writes only as many whole frames as the output holds")
{
    const pcm_codec stereo;
    const bytes wire = hex({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6}); // three frames
    std::vector<std::int16_t> out(5, 99);
    CHECK(stereo.decode(std::span<const std::byte>(wire), std::span(out)) == 4);
    CHECK(out == std::vector<std::int16_t>{1, 2, 3, 4, 99});
    CHECK(stereo.decode(std::span<const std::byte>(wire), std::span(out).first(1)) == 0);
    CHECK(stereo.decode(std::span<const std::byte>{}, std::span(out)) == 0);
}

TEST_CASE("every int16 value survives L16 and L24 and comes back exactly")
{
    std::vector<std::int16_t> all;
    for (int v = -32768; v <= 32767; ++v)
        all.push_back(static_cast<std::int16_t>(v));
    CHECK(decode_all<std::int16_t>(mono(sample_format::l16),
                                   encode_all(mono(sample_format::l16), all)) == all);
    CHECK(decode_all<std::int16_t>(mono(sample_format::l24),
                                   encode_all(mono(sample_format::l24), all)) == all);
}

TEST_CASE("every int32 with a zero low byte survives L24 and comes back exactly")
{
    const pcm_codec codec = mono(sample_format::l24);
    std::vector<std::int32_t> chunk(1 << 16);
    for (std::uint32_t high = 0; high < 256; ++high) {
        for (std::uint32_t low = 0; low < chunk.size(); ++low)
            chunk[low] = static_cast<std::int32_t>((high << 24) | (low << 8));
        const std::vector<std::int32_t> back =
            decode_all<std::int32_t>(codec, encode_all(codec, chunk));
        if (back != chunk) FAIL("round trip differs in the block with top byte " << high);
    }
    SUCCEED();
}

TEST_CASE("int32 through L16 keeps its top 16 bits")
{
    const pcm_codec codec = mono(sample_format::l16);
    const std::vector<std::int32_t> s{0x12345678, -1, 0x7FFFFFFF};
    CHECK(decode_all<std::int32_t>(codec, encode_all(codec, s)) ==
          std::vector<std::int32_t>{0x12340000, -65536, 0x7FFF0000});
}

TEST_CASE("every float k/32768 survives L16 and comes back exactly")
{
    std::vector<float> all;
    for (int k = -32768; k <= 32767; ++k)
        all.push_back(static_cast<float>(k) / 32768.0f);
    const pcm_codec codec = mono(sample_format::l16);
    CHECK(decode_all<float>(codec, encode_all(codec, all)) == all);
}

TEST_CASE("float k/8388608 survives L24 and comes back exactly")
{
    std::vector<float> s;
    for (int k = -8388608; k < 8388608; k += 997)
        s.push_back(static_cast<float>(k) / 8388608.0f);
    s.push_back(8388607.0f / 8388608.0f);
    const pcm_codec codec = mono(sample_format::l24);
    CHECK(decode_all<float>(codec, encode_all(codec, s)) == s);
}

TEMPLATE_TEST_CASE("write emits one packet per 240 frames and keeps the rest pending", "",
                   std::int16_t, std::int32_t, float)
{
    const std::size_t frames = GENERATE(std::size_t{1}, std::size_t{7}, std::size_t{239},
                                        std::size_t{240}, std::size_t{241}, std::size_t{1000});
    pcm_codec codec;
    const std::vector<TestType> s = test_signal<TestType>(frames * 2);
    const bytes whole = encode_all(codec, s);

    packet_log log;
    CHECK(codec.write(std::span<const TestType>(s), log) == frames);
    REQUIRE(log.packets.size() == frames / 240);
    for (const auto& p : log.packets)
        CHECK(p.size() == 960);
    CHECK(log.joined() ==
          bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(frames / 240 * 960)));
    CHECK(codec.pending_frames() == frames % 240);

    codec.flush(log);
    CHECK(codec.pending_frames() == 0);
    CHECK(log.packets.size() == (frames + 239) / 240);
    CHECK(log.joined() == whole);
}

TEMPLATE_TEST_CASE("successive writes of 1, 7, 239, 240, 241 and 1000 frames pack without gaps", "",
                   std::int16_t, std::int32_t, float)
{
    pcm_codec codec;
    const std::size_t sizes[] = {1, 7, 239, 240, 241, 1000};
    const std::vector<TestType> s = test_signal<TestType>(1728 * 2);
    packet_log log;
    std::size_t at = 0;
    for (std::size_t frames : sizes) {
        std::error_code ec = make_error_code(std::errc::io_error);
        CHECK(codec.write(std::span<const TestType>(s).subspan(at * 2, frames * 2), log, ec) ==
              frames);
        CHECK_FALSE(ec);
        at += frames;
        CHECK(log.packets.size() == at / 240);
        CHECK(codec.pending_frames() == at % 240);
    }
    for (const auto& p : log.packets)
        CHECK(p.size() == 960);
    codec.flush(log);
    CHECK(log.packets.size() == 8);
    CHECK(log.packets.back().size() == 48 * 4);
    CHECK(log.joined() == encode_all(codec, s));
}

TEST_CASE("flush with nothing pending emits nothing")
{
    pcm_codec codec;
    packet_log log;
    codec.flush(log);
    const std::vector<std::int16_t> s(480);
    codec.write(std::span<const std::int16_t>(s), log);
    codec.flush(log);
    CHECK(log.packets.size() == 1);
}

TEST_CASE("reset drops the pending frames")
{
    pcm_codec codec;
    packet_log log;
    const std::vector<std::int16_t> ones(200, 1);
    const std::vector<std::int16_t> twos(480, 2);
    codec.write(std::span<const std::int16_t>(ones), log);
    CHECK(codec.pending_frames() == 100);
    codec.reset();
    CHECK(codec.pending_frames() == 0);
    codec.flush(log);
    CHECK(log.packets.empty());
    codec.write(std::span<const std::int16_t>(twos), log);
    REQUIRE(log.packets.size() == 1);
    CHECK(log.packets[0] == encode_all(codec, twos));
}

TEST_CASE("a write that ends in a partial frame is refused and consumes nothing")
{
    pcm_codec codec;
    packet_log log;
    const std::vector<std::int16_t> s = test_signal<std::int16_t>(1001);
    codec.write(std::span<const std::int16_t>(s).first(20), log);

    std::error_code ec;
    CHECK(codec.write(std::span<const std::int16_t>(s).first(481), log, ec) == 0);
    CHECK(ec == errc::frames_not_whole);
    CHECK(codec.pending_frames() == 10);
    CHECK(log.packets.empty());

    const thrown t = system_error_from([&] { codec.write(std::span<const std::int16_t>(s), log); });
    CHECK(t.code == errc::frames_not_whole);
    const std::string expected = "1001 samples is not a whole number of 2-channel frames";
    CHECK(message_part(t.what, expected.size()) == expected);
    CHECK(codec.pending_frames() == 10);
    CHECK(log.packets.empty());
}

TEST_CASE("a sink that throws loses its packet and leaves the codec usable")
{
    pcm_codec codec;
    const std::vector<std::int16_t> s = test_signal<std::int16_t>(1000);
    int calls = 0;
    auto throwing = [&](std::span<const std::byte>) {
        ++calls;
        throw std::runtime_error("sink failed");
    };
    CHECK_THROWS_AS(codec.write(std::span<const std::int16_t>(s), throwing), std::runtime_error);
    CHECK(calls == 1);
    CHECK(codec.pending_frames() == 0);

    packet_log log;
    CHECK(codec.write(std::span<const std::int16_t>(s).first(480), log) == 240);
    REQUIRE(log.packets.size() == 1);
    CHECK(log.packets[0] ==
          encode_all(codec, std::vector<std::int16_t>(s.begin(), s.begin() + 480)));
}

TEST_CASE("copies carry their own staging buffer and pending frames")
{
    pcm_codec original;
    const std::vector<std::int16_t> first(200, 1);
    const std::vector<std::int16_t> second(280, 2);
    packet_log log;
    original.write(std::span<const std::int16_t>(first), log);

    pcm_codec copy = original;
    original.write(std::span<const std::int16_t>(second), log); // completes a packet
    REQUIRE(log.packets.size() == 1);
    CHECK(copy.pending_frames() == 100);

    packet_log copied;
    copy.flush(copied);
    REQUIRE(copied.packets.size() == 1);
    CHECK(copied.packets[0] == encode_all(copy, first));

    pcm_codec moved = std::move(copy);
    copy = original;
    CHECK(moved.pending_frames() == 0);
    original.write(std::span<const std::int16_t>(first), log);
    pcm_codec moved_with_pending = std::move(original);
    moved_with_pending.flush(copied);
    CHECK(copied.packets.back() == encode_all(moved_with_pending, first));
}

TEMPLATE_TEST_CASE("encode, decode, write and flush allocate nothing after construction", "",
                   std::int16_t, std::int32_t, float)
{
    const sample_format f = GENERATE(sample_format::l16, sample_format::l24);
    pcm_codec codec{config_of(f, 48'000, 2, 5)};
    const std::vector<TestType> s = test_signal<TestType>(1001 * 2);
    bytes wire(s.size() * 3);
    std::vector<TestType> back(s.size());
    std::size_t sunk = 0;
    auto sink = [&](std::span<const std::byte> payload) { sunk += payload.size(); };
    std::error_code ec;

    audiocast_test::counting_scope allocations;
    const std::size_t written = codec.encode(std::span<const TestType>(s), std::span(wire));
    const std::size_t decoded =
        codec.decode(std::span<const std::byte>(wire).first(written), std::span(back));
    codec.write(std::span<const TestType>(s), sink, ec);
    codec.write(std::span<const TestType>(s), sink);
    codec.flush(sink);
    const std::uint64_t count = allocations.count();

    CHECK(count == 0);
    CHECK(decoded == s.size());
    CHECK(sunk == 2 * written);
}

TEST_CASE("every format and packet time packs the whole frames that fit or is refused as too large")
{
    const sample_format encoding = GENERATE(sample_format::l16, sample_format::l24);
    const unsigned channels = GENERATE(1u, 2u, 6u);
    const std::uint32_t rate = GENERATE(8'000u, 11'025u, 22'050u, 44'100u, 48'000u, 88'200u);
    const int ms = GENERATE(1, 2, 5, 10, 20);
    const std::size_t mtu = GENERATE(std::size_t{1500}, std::size_t{9000});
    const pcm_config config = config_of(encoding, rate, channels, ms, mtu);
    CAPTURE(audiocast::to_string(config.format), ms, mtu);

    const std::size_t frames_per_packet = rate * static_cast<std::size_t>(ms) / 1000; // floor
    const std::size_t payload = frames_per_packet * audiocast::bytes_per_frame(config.format);
    std::error_code ec;
    pcm_codec::validate(config, ec);
    if (payload > mtu - audiocast::default_header_overhead) {
        CHECK(ec == errc::packet_exceeds_mtu);
        return;
    }
    REQUIRE_FALSE(ec);

    pcm_codec codec{config};
    CHECK(codec.frames_per_packet() == frames_per_packet);
    CHECK(codec.payload_bytes() == payload);
    CHECK(codec.nominal_packet_time() == std::chrono::milliseconds{ms});
    CHECK(codec.packet_time() == audiocast::duration_of(frames_per_packet, rate));
    CHECK(codec.packet_time() <= codec.nominal_packet_time());
    CHECK(audiocast::frames_in(codec.nominal_packet_time(), rate) == frames_per_packet);

    const std::size_t sizes[] = {1, 7, 239, 240, 241, 1000};
    const std::vector<std::int16_t> s = test_signal<std::int16_t>(1728 * channels);
    packet_log log;
    std::size_t at = 0;
    for (std::size_t frames : sizes) {
        codec.write(std::span<const std::int16_t>(s).subspan(at * channels, frames * channels),
                    log);
        at += frames;
    }
    CHECK(log.packets.size() == 1728 / frames_per_packet);
    for (const auto& p : log.packets)
        CHECK(p.size() == payload);
    CHECK(codec.pending_frames() == 1728 % frames_per_packet);
    codec.flush(log);
    const bytes wire = log.joined();
    CHECK(wire == encode_all(codec, s));
    CHECK(decode_all<std::int16_t>(codec, wire) == s);
}
