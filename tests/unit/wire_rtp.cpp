#include <audiocast/wire/rtp.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <system_error>
#include <vector>

namespace rtp = audiocast::rtp;
namespace ntp = audiocast::ntp;
using audiocast::errc;

namespace {

// Exactly-sized heap buffers: under -fsanitize=address a read one byte past
// the datagram is reported.
std::vector<std::byte> bytes(std::initializer_list<unsigned> values)
{
    std::vector<std::byte> out;
    out.reserve(values.size());
    for (unsigned v : values)
        out.push_back(static_cast<std::byte>(v));
    out.shrink_to_fit();
    return out;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts)
{
    std::size_t n = 0;
    for (const auto& p : parts)
        n += p.size();
    std::vector<std::byte> out;
    out.reserve(n);
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A 12-byte fixed header: version 2, the given first-byte flags, PT 96,
// sequence 0x1234, timestamp 0x11223344, SSRC 0xCAFEBABE.
std::vector<std::byte> fixed(unsigned first_byte = 0x80)
{
    return bytes({first_byte, 0x60, 0x12, 0x34, 0x11, 0x22, 0x33, 0x44, 0xCA, 0xFE, 0xBA, 0xBE});
}

// A packet with X set whose extension block has `profile` and `elements`,
// zero-padded to a word boundary, followed by `payload`.
std::vector<std::byte> with_extension(unsigned profile, std::initializer_list<unsigned> elements,
                                      std::initializer_list<unsigned> payload = {0xAA, 0xBB})
{
    std::vector<std::byte> block = bytes(elements);
    while (block.size() % 4 != 0)
        block.push_back(std::byte{0});
    const auto words = static_cast<unsigned>(block.size() / 4);
    return concat({fixed(0x90), bytes({profile >> 8, profile & 0xFF, words >> 8, words & 0xFF}),
                   block, bytes(payload)});
}

std::error_code parse_error(const std::vector<std::byte>& datagram)
{
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    if (ec) CHECK(v.payload.empty());
    return ec;
}

std::string parse_message(const std::vector<std::byte>& datagram)
{
    try {
        (void)rtp::parse(datagram);
    } catch (const std::system_error& e) {
        return e.what();
    }
    return "(no exception)";
}

} // namespace

TEST_CASE("header size is 12, or 28 with a send time")
{
    rtp::header h;
    CHECK(rtp::header_size(h) == 12);
    h.send_time = ntp::timestamp{1, 2};
    CHECK(rtp::header_size(h) == 28);
    STATIC_REQUIRE(rtp::fixed_header_size + rtp::send_time_extension_size == 28);
}

TEST_CASE("a packet is written byte for byte as RFC 3550 and RFC 8285 lay it out")
{
    rtp::header h;
    h.marker = true;
    h.payload_type = 96;
    h.sequence = 0x1234;
    h.timestamp = 0xDEAD'BEEFu;
    h.ssrc = 0x0102'0304u;
    h.send_time = ntp::timestamp{0x83AA'7E80u, 0x8000'0000u};
    const auto payload = bytes({0xAA, 0xBB, 0xCC});

    // clang-format off
    const std::array<unsigned, 31> expected{
        0x90,                   // V=2 P=0 X=1 CC=0
        0xE0,                   // M=1 PT=96
        0x12, 0x34,             // sequence
        0xDE, 0xAD, 0xBE, 0xEF, // timestamp
        0x01, 0x02, 0x03, 0x04, // SSRC
        0xBE, 0xDE,             // RFC 8285 one-byte profile
        0x00, 0x03,             // 3 words follow
        0x17,                   // ID 1, L = 8 - 1
        0x83, 0xAA, 0x7E, 0x80, 0x80, 0x00, 0x00, 0x00, // NTP send time
        0x00, 0x00, 0x00,       // padding to the word boundary
        0xAA, 0xBB, 0xCC,       // payload
    };
    // clang-format on

    std::array<std::byte, 64> out{};
    std::error_code ec;
    const std::size_t n = rtp::serialize(h, payload, out, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n == expected.size());
    for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        CHECK(std::to_integer<unsigned>(out[i]) == expected[i]);
    }
}

TEST_CASE("a packet without a send time has a bare 12-byte header")
{
    rtp::header h;
    h.payload_type = 10;
    h.sequence = 0xFFFF;
    h.timestamp = 1;
    h.ssrc = 0xFFFF'FFFFu;
    h.send_time_extension_id = 0; // unused without a send time, so not checked

    const auto expected =
        bytes({0x80, 0x0A, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF});
    std::array<std::byte, 12> out{};
    std::error_code ec;
    REQUIRE(rtp::write_header(h, out, ec) == 12);
    REQUIRE_FALSE(ec);
    CHECK(std::vector<std::byte>(out.begin(), out.end()) == expected);
}

TEST_CASE("every header field survives a round trip")
{
    rtp::header h;
    h.marker = GENERATE(false, true);
    h.payload_type = GENERATE(std::uint8_t{0}, std::uint8_t{96}, std::uint8_t{127});
    h.sequence = GENERATE(std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{65535});
    h.timestamp = GENERATE(0u, 0x8000'0000u, 0xFFFF'FFFFu);
    h.ssrc = GENERATE(0u, 0x1234'5678u, 0xFFFF'FFFFu);
    h.send_time = GENERATE(std::optional<ntp::timestamp>{},
                           std::optional<ntp::timestamp>{ntp::timestamp{0, 0}},
                           std::optional<ntp::timestamp>{ntp::timestamp{0xFFFF'FFFFu, 1}});
    h.send_time_extension_id = GENERATE(std::uint8_t{1}, std::uint8_t{14});
    CAPTURE(h.marker, h.payload_type, h.sequence, h.timestamp, h.ssrc, h.send_time.has_value(),
            h.send_time_extension_id);

    const auto payload = bytes({1, 2, 3, 4, 5, 6, 7, 8});
    std::vector<std::byte> out(rtp::header_size(h) + payload.size());
    std::error_code ec;
    REQUIRE(rtp::serialize(h, payload, out, ec) == out.size());
    REQUIRE_FALSE(ec);

    const rtp::packet_view v = rtp::parse(out, ec, h.send_time_extension_id);
    REQUIRE_FALSE(ec);
    CHECK(v.hdr == h);
    CHECK(v.csrc_count == 0);
    CHECK_FALSE(v.padded);
    CHECK(v.payload.data() == out.data() + rtp::header_size(h));
    CHECK(std::vector<std::byte>(v.payload.begin(), v.payload.end()) == payload);
}

TEST_CASE("an empty payload round-trips")
{
    rtp::header h;
    h.send_time = ntp::timestamp{7, 8};
    std::array<std::byte, 28> out{};
    REQUIRE(rtp::serialize(h, {}, out) == 28);
    const rtp::packet_view v = rtp::parse(out);
    CHECK(v.hdr == h);
    CHECK(v.payload.empty());
}

TEST_CASE("serialize leaves a payload already in place untouched")
{
    rtp::header h;
    h.sequence = 42;
    std::vector<std::byte> out(12 + 4);
    const auto payload = bytes({9, 8, 7, 6});
    std::copy(payload.begin(), payload.end(), out.begin() + 12);
    REQUIRE(rtp::serialize(h, std::span<const std::byte>(out).subspan(12), out) == 16);
    const rtp::packet_view v = rtp::parse(out);
    CHECK(v.hdr.sequence == 42);
    CHECK(std::vector<std::byte>(v.payload.begin(), v.payload.end()) == payload);
}

TEST_CASE("writer refuses a payload type above 127")
{
    rtp::header h;
    h.payload_type = 128;
    std::array<std::byte, 64> out{};
    std::error_code ec;
    CHECK(rtp::write_header(h, out, ec) == 0);
    CHECK(ec == errc::invalid_payload_type);
    CHECK(rtp::serialize(h, {}, out, ec) == 0);
    CHECK(ec == errc::invalid_payload_type);
    CHECK(out == std::array<std::byte, 64>{});
}

TEST_CASE("writer refuses a send-time extension ID outside 1-14")
{
    rtp::header h;
    h.send_time = ntp::timestamp{1, 2};
    h.send_time_extension_id = GENERATE(std::uint8_t{0}, std::uint8_t{15}, std::uint8_t{200});
    std::array<std::byte, 64> out{};
    std::error_code ec;
    CHECK(rtp::write_header(h, out, ec) == 0);
    CHECK(ec == errc::invalid_header_extension);
    CHECK(rtp::serialize(h, {}, out, ec) == 0);
    CHECK(ec == errc::invalid_header_extension);
    CHECK(out == std::array<std::byte, 64>{});
}

TEST_CASE("writer refuses a buffer too small and writes nothing")
{
    rtp::header h;
    const bool stamped = GENERATE(false, true);
    if (stamped) h.send_time = ntp::timestamp{1, 2};
    const auto payload = bytes({1, 2, 3});
    std::vector<std::byte> out(rtp::header_size(h) + payload.size() - 1);
    std::error_code ec;

    CHECK(rtp::serialize(h, payload, out, ec) == 0);
    CHECK(ec == errc::buffer_too_small);
    out.resize(rtp::header_size(h) - 1);
    CHECK(rtp::write_header(h, out, ec) == 0);
    CHECK(ec == errc::buffer_too_small);
    for (std::byte b : out)
        CHECK(b == std::byte{0});
}

TEST_CASE("throwing writers name the value and the limit")
{
    rtp::header h;
    std::array<std::byte, 20> out{};

    h.payload_type = 200;
    try {
        rtp::write_header(h, out);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::invalid_payload_type);
        CHECK_THAT(e.what(), Catch::Contains("200") && Catch::Contains("127"));
    }

    h.payload_type = 96;
    h.send_time = ntp::timestamp{};
    h.send_time_extension_id = 15;
    try {
        rtp::serialize(h, {}, out);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::invalid_header_extension);
        CHECK_THAT(e.what(), Catch::Contains("15") && Catch::Contains("1-14"));
    }

    h.send_time_extension_id = 1;
    try {
        rtp::write_header(h, out);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::buffer_too_small);
        CHECK_THAT(e.what(), Catch::Contains("28 bytes") && Catch::Contains("has 20"));
    }

    const std::array<std::byte, 100> payload{};
    try {
        rtp::serialize(h, payload, out);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::buffer_too_small);
        CHECK_THAT(e.what(), Catch::Contains("128 bytes") && Catch::Contains("has 20"));
    }
}

TEST_CASE("parser refuses a datagram shorter than the fixed header")
{
    const std::size_t size = GENERATE(range(std::size_t{0}, std::size_t{12}));
    auto full = fixed();
    const std::vector<std::byte> datagram(full.begin(), full.begin() + static_cast<long>(size));
    CHECK(parse_error(datagram) == errc::packet_truncated);
    CHECK_THAT(parse_message(datagram),
               Catch::Contains(std::to_string(size) + " bytes") && Catch::Contains("12-byte"));
}

TEST_CASE("parser refuses an RTP version other than 2")
{
    const unsigned version = GENERATE(0u, 1u, 3u);
    const auto datagram = fixed(version << 6);
    CHECK(parse_error(datagram) == errc::unsupported_rtp_version);
    CHECK_THAT(parse_message(datagram), Catch::Contains("version " + std::to_string(version)));
}

TEST_CASE("parser refuses a packet whose CSRC count runs past its end")
{
    // CC = 15 needs 12 + 60 = 72 bytes; give it 40.
    auto datagram = concat({fixed(0x8F), std::vector<std::byte>(28)});
    CHECK(parse_error(datagram) == errc::packet_truncated);
    CHECK_THAT(parse_message(datagram),
               Catch::Contains("CSRC count 15 needs 72 bytes; the packet has 40"));
}

TEST_CASE("parser accepts a CSRC list and starts the payload after it")
{
    const auto datagram =
        concat({fixed(0x82), bytes({0, 0, 0, 1, 0, 0, 0, 2}), bytes({0xAA, 0xBB})});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK(v.csrc_count == 2);
    CHECK(v.payload.data() == datagram.data() + 20);
    CHECK(v.payload.size() == 2);

    // A CSRC list that ends exactly at the end leaves an empty payload.
    const auto exact = concat({fixed(0x82), bytes({0, 0, 0, 1, 0, 0, 0, 2})});
    CHECK(rtp::parse(exact, ec).payload.empty());
    CHECK_FALSE(ec);
}

TEST_CASE("parser refuses an extension header that runs past the end")
{
    const auto datagram = concat({fixed(0x90), bytes({0xBE, 0xDE, 0x00})});
    CHECK(parse_error(datagram) == errc::invalid_header_extension);
    CHECK_THAT(parse_message(datagram), Catch::Contains("needs 16 bytes; the packet has 15"));
    CHECK(parse_error(fixed(0x90)) == errc::invalid_header_extension);
}

TEST_CASE("parser refuses an extension length that runs past the end")
{
    // Two words promised, one given.
    const auto datagram =
        concat({fixed(0x90), bytes({0xBE, 0xDE, 0x00, 0x02}), bytes({0x10, 0xAA, 0x00, 0x00})});
    CHECK(parse_error(datagram) == errc::invalid_header_extension);
    CHECK_THAT(parse_message(datagram),
               Catch::Contains("length 2 words needs 24 bytes; the packet has 20"));
}

TEST_CASE("parser refuses a padding count of 0")
{
    const auto datagram = concat({fixed(0xA0), bytes({0xAA, 0xBB, 0x00, 0x00})});
    CHECK(parse_error(datagram) == errc::invalid_padding);
    CHECK_THAT(parse_message(datagram), Catch::Contains("padding count 0"));
}

TEST_CASE("parser refuses a padding count larger than what follows the headers")
{
    const auto datagram = concat({fixed(0xA0), bytes({0xAA, 0xBB, 0x00, 0x05})});
    CHECK(parse_error(datagram) == errc::invalid_padding);
    CHECK_THAT(parse_message(datagram),
               Catch::Contains("padding count 5 exceeds the 4 bytes after the headers"));

    // Padding may not eat into the header extension either.
    const auto into_extension = with_extension(0xBEDE, {0x10, 0x01}, {0x03});
    CHECK_FALSE(parse_error(into_extension)); // without P the packet is fine
    auto padded_extension = into_extension;
    padded_extension[0] = static_cast<std::byte>(0xB0); // now P is set too
    CHECK(parse_error(padded_extension) == errc::invalid_padding);
}

TEST_CASE("parser refuses the P bit on a packet with nothing after its headers")
{
    // The last byte is then the SSRC's; any count exceeds the zero bytes left.
    const auto datagram = fixed(0xA0);
    CHECK(parse_error(datagram) == errc::invalid_padding);
}

TEST_CASE("parser strips padding from the payload")
{
    const auto datagram = concat({fixed(0xA0), bytes({0xAA, 0xBB, 0x00, 0x00, 0x03})});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK(v.padded);
    CHECK(v.payload.size() == 2);
    CHECK(std::to_integer<unsigned>(v.payload[1]) == 0xBB);

    // Padding that fills everything after the header leaves an empty payload.
    const auto all_padding = concat({fixed(0xA0), bytes({0x00, 0x02})});
    CHECK(rtp::parse(all_padding, ec).payload.empty());
    CHECK_FALSE(ec);
}

TEST_CASE("parser refuses an extension element whose data runs past the block")
{
    // ID 2 promises 4 data bytes; the one-word block holds 3 after the header byte.
    const auto datagram = with_extension(0xBEDE, {0x23, 0x01, 0x02, 0x03});
    CHECK(parse_error(datagram) == errc::invalid_header_extension);
    CHECK_THAT(parse_message(datagram), Catch::Contains("ID 2 with 4 data bytes at byte 16") &&
                                            Catch::Contains("ends at byte 20"));

    // An element header in the last byte of the block with no room for data.
    const auto at_end = with_extension(0xBEDE, {0x00, 0x00, 0x00, 0x10});
    CHECK(parse_error(at_end) == errc::invalid_header_extension);
}

TEST_CASE("parser reads the send time from a one-byte element")
{
    const auto datagram = with_extension(
        0xBEDE, {0x17, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}, {0xAA, 0xBB});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.hdr.send_time);
    CHECK(*v.hdr.send_time == ntp::timestamp{0x0102'0304u, 0x0506'0708u});
    CHECK(v.payload.data() == datagram.data() + 28);
    CHECK(v.payload.size() == 2);
}

TEST_CASE("parser skips padding bytes between extension elements")
{
    const auto datagram = with_extension(0xBEDE, {0x00, 0x00, 0x20, 0x99, 0x00, 0x00, 0x17, 0x01,
                                                  0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.hdr.send_time);
    CHECK(v.hdr.send_time->to_u64() == 0x0102'0304'0506'0708ull);
}

TEST_CASE("parser stops reading extension elements at ID 15")
{
    // After ID 15 come our element and an element that would run past the
    // block; neither is looked at (RFC 8285 §4.2).
    const auto datagram =
        with_extension(0xBEDE, {0xF7, 0x17, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x2F});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(v.hdr.send_time);
    CHECK(v.payload.size() == 2);
}

TEST_CASE("parser skips extension elements with unknown IDs")
{
    const auto datagram = with_extension(0xBEDE, {0x23, 0xAA, 0xBB, 0xCC, 0xDD, 0xE0, 0x42, 0x17,
                                                  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.hdr.send_time);
    CHECK(v.hdr.send_time->to_u64() == 0x0102'0304'0506'0708ull);
}

TEST_CASE("parser ignores an element with our ID and a length other than 8")
{
    const auto datagram = with_extension(0xBEDE, {0x13, 0x01, 0x02, 0x03, 0x04});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(v.hdr.send_time);
}

TEST_CASE("parser looks for the send time under the ID it is given")
{
    const auto datagram =
        with_extension(0xBEDE, {0x57, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08});
    std::error_code ec;
    CHECK_FALSE(rtp::parse(datagram, ec).hdr.send_time);
    CHECK_FALSE(ec);
    const rtp::packet_view v = rtp::parse(datagram, ec, 5);
    CHECK_FALSE(ec);
    CHECK(v.hdr.send_time);
    CHECK(v.hdr.send_time_extension_id == 5);
    // IDs outside 1-14 never match: 0 is padding and 15 stops the walk.
    CHECK_FALSE(rtp::parse(datagram, ec, 0).hdr.send_time);
    CHECK_FALSE(rtp::parse(datagram, ec, 15).hdr.send_time);
}

TEST_CASE("parser skips two-byte and unknown extension profiles without error")
{
    // RFC 8285 §4.3 two-byte form: ID 1, length 8. Not ours to read.
    const unsigned profile = GENERATE(0x1000u, 0x100Fu, 0x1234u, 0x0000u);
    const auto datagram =
        with_extension(profile, {0x01, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xFF});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(v.hdr.send_time);
    CHECK(v.payload.data() == datagram.data() + 12 + 4 + 12);
    CHECK(v.payload.size() == 2);
}

TEST_CASE("parser accepts an empty extension block")
{
    const auto datagram = concat({fixed(0x90), bytes({0xBE, 0xDE, 0x00, 0x00, 0xAA})});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK(v.payload.size() == 1);
}

TEST_CASE("parser sees CSRCs, extension and padding together")
{
    const auto datagram =
        concat({fixed(0xB1), bytes({0, 0, 0, 7}),
                bytes({0xBE, 0xDE, 0x00, 0x03, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0}),
                bytes({0xAA, 0xBB, 0xCC, 0x00, 0x02})});
    std::error_code ec;
    const rtp::packet_view v = rtp::parse(datagram, ec);
    REQUIRE_FALSE(ec);
    CHECK(v.csrc_count == 1);
    CHECK(v.padded);
    CHECK(v.hdr.send_time);
    CHECK(v.hdr.payload_type == 96);
    CHECK(v.hdr.sequence == 0x1234);
    CHECK(v.hdr.timestamp == 0x1122'3344u);
    CHECK(v.hdr.ssrc == 0xCAFE'BABEu);
    CHECK(v.payload.data() == datagram.data() + 32);
    CHECK(v.payload.size() == 3);
}

TEST_CASE("throwing parser reports the same error code as the error_code parser")
{
    const auto datagram = concat({fixed(0x8F), std::vector<std::byte>(28)});
    try {
        (void)rtp::parse(datagram);
        FAIL("no exception");
    } catch (const std::system_error& e) {
        CHECK(e.code() == errc::packet_truncated);
    }
    CHECK_NOTHROW(rtp::parse(fixed()));
}

TEST_CASE("parser never reads outside any prefix of a valid packet")
{
    // Every truncation of a packet with all features is either refused or
    // parsed; each prefix is its own exact-size allocation so ASan would see
    // an overread.
    const auto full =
        concat({fixed(0xB1), bytes({0, 0, 0, 7}),
                bytes({0xBE, 0xDE, 0x00, 0x03, 0x17, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0}),
                bytes({0xAA, 0xBB, 0xCC, 0x00, 0x02})});
    for (std::size_t n = 0; n <= full.size(); ++n) {
        std::vector<std::byte> prefix(full.begin(), full.begin() + static_cast<long>(n));
        prefix.shrink_to_fit();
        std::error_code ec;
        const rtp::packet_view v = rtp::parse(prefix, ec);
        if (!ec) {
            CHECK(v.payload.data() >= prefix.data());
            CHECK(v.payload.data() + v.payload.size() <= prefix.data() + prefix.size());
        }
    }
}

TEST_CASE("parser survives every value of the first byte and every extension length")
{
    auto datagram = with_extension(0xBEDE, {0x17, 1, 2, 3, 4, 5, 6, 7, 8}, {0xAA, 0x01});
    for (unsigned b0 = 0; b0 < 256; ++b0) {
        for (unsigned words = 0; words < 8; ++words) {
            datagram[0] = static_cast<std::byte>(b0);
            datagram[15] = static_cast<std::byte>(words);
            std::error_code ec;
            const rtp::packet_view v = rtp::parse(datagram, ec);
            if (!ec)
                CHECK(v.payload.data() + v.payload.size() <= datagram.data() + datagram.size());
        }
    }
}

// detail/endian.hpp has no test file of its own; the wire is its only user.
TEST_CASE("big-endian helpers read and write the most significant byte first")
{
    using namespace audiocast::detail;
    constexpr auto round_trip24 = [](std::int32_t v) {
        std::array<std::byte, 3> b{};
        store_be24(b.data(), v);
        return load_be24(b.data());
    };
    STATIC_REQUIRE(round_trip24(0x7F'FFFF) == 0x7F'FFFF);
    STATIC_REQUIRE(round_trip24(-0x80'0000) == -0x80'0000);
    STATIC_REQUIRE(round_trip24(-1) == -1);
    STATIC_REQUIRE(round_trip24(0x12'3456) == 0x12'3456);

    std::array<std::byte, 8> b{};
    store_be16(b.data(), 0x1234);
    CHECK(std::to_integer<unsigned>(b[0]) == 0x12);
    CHECK(load_be16(b.data()) == 0x1234);
    store_be24(b.data(), -2);
    CHECK(std::to_integer<unsigned>(b[0]) == 0xFF);
    CHECK(std::to_integer<unsigned>(b[2]) == 0xFE);
    store_be32(b.data(), 0x8765'4321u);
    CHECK(std::to_integer<unsigned>(b[0]) == 0x87);
    CHECK(load_be32(b.data()) == 0x8765'4321u);
    store_be64(b.data(), 0x0102'0304'0506'0708ull);
    CHECK(std::to_integer<unsigned>(b[0]) == 0x01);
    CHECK(std::to_integer<unsigned>(b[7]) == 0x08);
    CHECK(load_be64(b.data()) == 0x0102'0304'0506'0708ull);
}
