#include <audiocast/wire/rtcp.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using audiocast::errc;
namespace rtcp = audiocast::rtcp;

namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values)
{
    std::vector<std::byte> out;
    for (int v : values)
        out.push_back(static_cast<std::byte>(v));
    return out;
}

struct seen {
    std::vector<rtcp::packet_view> packets;
    std::error_code ec;
};

seen parse(std::span<const std::byte> datagram)
{
    seen s;
    rtcp::parse_compound(datagram, s.ec,
                         [&s](const rtcp::packet_view& p) { s.packets.push_back(p); });
    return s;
}

const rtcp::report_block sample_block{
    .ssrc = 0x11223344,
    .fraction_lost = 25,
    .cumulative_lost = -3,
    .highest_sequence = 0x0001'FFFF,
    .jitter = 96,
    .last_sr = 0xABCD'1234,
    .delay_since_last_sr = 0x0001'8000,
};

} // namespace

TEST_CASE("a sender report is laid out as RFC 3550 section 6.4.1 shows")
{
    std::array<std::byte, 64> out{};
    rtcp::compound_writer w{out};
    w.sender_report(0xDEADBEEF, {.ntp = {0x01020304, 0x05060708},
                                 .rtp_timestamp = 0x090A0B0C,
                                 .packet_count = 7,
                                 .octet_count = 0x100});
    REQUIRE_FALSE(w.error());
    CHECK(std::vector<std::byte>(w.bytes().begin(), w.bytes().end()) ==
          bytes({0x80, 200,  0x00, 0x06,                         // V=2, RC=0, SR, 7 words
                 0xDE, 0xAD, 0xBE, 0xEF,                         // SSRC
                 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // NTP
                 0x09, 0x0A, 0x0B, 0x0C,                         // RTP timestamp
                 0x00, 0x00, 0x00, 0x07,                         // packets
                 0x00, 0x00, 0x01, 0x00}));                      // octets
}

TEST_CASE("a compound of SR, SDES and BYE reads back field for field")
{
    std::array<std::byte, 256> out{};
    rtcp::compound_writer w{out};
    const rtcp::sender_info info{.ntp = {3'900'000'000u, 0x8000'0000u},
                                 .rtp_timestamp = 123'456,
                                 .packet_count = 1000,
                                 .octet_count = 960'000};
    const std::array blocks{sample_block};
    w.sender_report(42, info, blocks);
    w.cname(42, "listener@example");
    const std::array<std::uint32_t, 2> gone{42, 43};
    w.bye(gone, "stream ended");
    REQUIRE_FALSE(w.error());
    CHECK(w.size() % 4 == 0);

    const seen s = parse(w.bytes());
    REQUIRE_FALSE(s.ec);
    REQUIRE(s.packets.size() == 3);

    const rtcp::packet_view& sr = s.packets[0];
    CHECK(sr.type() == rtcp::type_sr);
    CHECK(sr.ssrc() == 42u);
    CHECK(sr.sender() == info);
    REQUIRE(sr.block_count() == 1);
    CHECK(sr.block(0) == sample_block);

    std::vector<std::pair<std::uint32_t, std::string>> names;
    CHECK(s.packets[1].for_each_cname(
        [&](std::uint32_t ssrc, std::string_view n) { names.emplace_back(ssrc, n); }));
    CHECK(names == std::vector<std::pair<std::uint32_t, std::string>>{{42, "listener@example"}});

    const rtcp::packet_view& bye = s.packets[2];
    REQUIRE(bye.bye_count() == 2);
    CHECK(bye.bye_source(0) == 42);
    CHECK(bye.bye_source(1) == 43);
    CHECK(bye.bye_reason() == "stream ended");
}

TEST_CASE("a receiver report carries its blocks and the CNAME pads to a word")
{
    for (std::size_t length : {0u, 1u, 2u, 3u, 4u, 5u, 255u}) {
        std::array<std::byte, 512> out{};
        rtcp::compound_writer w{out};
        std::array<rtcp::report_block, 2> blocks{sample_block, sample_block};
        blocks[1].ssrc = 99;
        w.receiver_report(7, blocks);
        const std::string name(length, 'n');
        w.cname(7, name);
        REQUIRE_FALSE(w.error());
        const seen s = parse(w.bytes());
        REQUIRE_FALSE(s.ec);
        REQUIRE(s.packets.size() == 2);
        CHECK(s.packets[0].type() == rtcp::type_rr);
        REQUIRE(s.packets[0].block_count() == 2);
        CHECK(s.packets[0].block(1).ssrc == 99);
        std::string got = "(none)";
        s.packets[1].for_each_cname([&](std::uint32_t, std::string_view n) { got = n; });
        CHECK(got == name);
    }
}

TEST_CASE("cumulative loss saturates at the 24-bit range and keeps its sign")
{
    std::array<std::byte, 64> out{};
    rtcp::compound_writer w{out};
    std::array<rtcp::report_block, 2> blocks{sample_block, sample_block};
    blocks[0].cumulative_lost = 50'000'000;
    blocks[1].cumulative_lost = -50'000'000;
    w.receiver_report(1, blocks);
    const seen s = parse(w.bytes());
    REQUIRE(s.packets.size() == 1);
    CHECK(s.packets[0].block(0).cumulative_lost == rtcp::max_cumulative_lost);
    CHECK(s.packets[0].block(1).cumulative_lost == rtcp::min_cumulative_lost);
}

TEST_CASE("the writer refuses what does not fit and what RTCP cannot say")
{
    SECTION("a buffer too small")
    {
        std::array<std::byte, 20> out{};
        rtcp::compound_writer w{out};
        w.receiver_report(1); // 8 bytes: fits
        w.cname(1, "a-long-cname-that-does-not-fit");
        w.receiver_report(2); // after a failure nothing more is written
        CHECK(w.error() == errc::buffer_too_small);
        CHECK(w.size() == 8);
    }
    SECTION("a CNAME over 255 bytes")
    {
        std::array<std::byte, 1024> out{};
        rtcp::compound_writer w{out};
        w.cname(1, std::string(256, 'x'));
        CHECK(w.error() == errc::invalid_rtcp);
        CHECK(w.size() == 0);
    }
    SECTION("more than 31 report blocks")
    {
        std::array<std::byte, 2048> out{};
        rtcp::compound_writer w{out};
        std::vector<rtcp::report_block> blocks(32);
        w.receiver_report(1, blocks);
        CHECK(w.error() == errc::invalid_rtcp);
    }
}

TEST_CASE("malformed compounds are refused whole, and nothing is reported from them")
{
    std::array<std::byte, 64> out{};
    rtcp::compound_writer w{out};
    w.receiver_report(1);
    w.cname(1, "x");
    const std::vector<std::byte> good(w.bytes().begin(), w.bytes().end());
    REQUIRE_FALSE(parse(good).ec);

    const auto refused = [](std::vector<std::byte> d) {
        const seen s = parse(d);
        return s.ec == errc::invalid_rtcp && s.packets.empty();
    };
    SECTION("empty, or not whole words")
    {
        CHECK(refused({}));
        CHECK(refused(std::vector<std::byte>(good.begin(), good.end() - 1)));
    }
    SECTION("version 1 in the second packet")
    {
        auto d = good;
        d[8] = std::byte{0x41};
        CHECK(refused(d));
    }
    SECTION("a length past the end")
    {
        auto d = good;
        d[3] = std::byte{0x09};
        CHECK(refused(d));
    }
    SECTION("lengths that leave bytes over")
    {
        auto d = good;
        d.insert(d.end(), 4, std::byte{0});
        CHECK(refused(d));
    }
    SECTION("padding in a packet that is not the last")
    {
        auto d = good;
        d[0] |= std::byte{0x20};
        CHECK(refused(d));
    }
    SECTION("a pad count larger than the packet")
    {
        auto d = good;
        d[8] |= std::byte{0x20};
        d.back() = std::byte{40};
        CHECK(refused(d));
    }
}

TEST_CASE("counts that claim more than a packet holds read only what is there")
{
    // An RR whose count says 3 blocks but whose length holds one.
    auto d = bytes({0x83, 201, 0x00, 0x07, 0, 0, 0, 1});
    d.resize(8 + rtcp::report_block_size);
    const seen s = parse(d);
    REQUIRE_FALSE(s.ec);
    CHECK(s.packets[0].block_count() == 1);

    // An SDES chunk whose item length runs past the packet.
    const auto sdes = bytes({0x81, 202, 0x00, 0x02, 0, 0, 0, 9, 1, 200, 'a', 'b'});
    const seen t = parse(sdes);
    REQUIRE_FALSE(t.ec);
    bool called = false;
    CHECK_FALSE(
        t.packets[0].for_each_cname([&](std::uint32_t, std::string_view) { called = true; }));
    CHECK_FALSE(called);

    // A BYE whose reason length runs past the packet has no reason.
    const auto bye = bytes({0x81, 203, 0x00, 0x02, 0, 0, 0, 9, 50, 'a', 'b', 'c'});
    const seen u = parse(bye);
    REQUIRE_FALSE(u.ec);
    CHECK(u.packets[0].bye_count() == 1);
    CHECK(u.packets[0].bye_reason().empty());
}

TEST_CASE("RTCP is told from RTP by its packet type")
{
    CHECK(rtcp::looks_like_rtcp(bytes({0x80, 200})));
    CHECK(rtcp::looks_like_rtcp(bytes({0x80, 203})));
    CHECK_FALSE(rtcp::looks_like_rtcp(bytes({0x80, 96})));   // RTP, PT 96
    CHECK_FALSE(rtcp::looks_like_rtcp(bytes({0x80, 0xE0}))); // RTP, marker + PT 96
    CHECK_FALSE(rtcp::looks_like_rtcp(bytes({0x80})));
}

TEST_CASE("a report that waited before it was sent has its DLSR moved on by the wait")
{
    std::array<std::byte, 128> out{};
    rtcp::compound_writer w{out};
    std::array<rtcp::report_block, 2> blocks{sample_block, sample_block};
    blocks[1].last_sr = 0; // no SR heard from this source: DLSR stays 0
    blocks[1].delay_since_last_sr = 0;
    w.receiver_report(1, blocks);
    w.cname(1, "x");
    rtcp::add_report_delay(std::span<std::byte>{out.data(), w.size()},
                           std::chrono::milliseconds{500});
    const seen s = parse(w.bytes());
    REQUIRE_FALSE(s.ec);
    CHECK(s.packets[0].block(0).delay_since_last_sr == sample_block.delay_since_last_sr + 0x8000);
    CHECK(s.packets[0].block(1).delay_since_last_sr == 0);
}

TEST_CASE("an SDES chunk that ends in the padding stops there, inside the datagram")
{
    // Two chunks claimed; the first's CNAME ends at body offset 8 and the
    // packet's padding (3 bytes) leaves a body whose length is not whole words.
    const auto d = bytes({0xA2, 202, 0x00, 0x03,      // V=2, P, SC=2, SDES, 16 bytes
                          0, 0, 0, 7, 1, 2, 'a', 'b', // chunk 1: SSRC 7, CNAME "ab"
                          0, 0, 0, 3});               // a null octet, then 3 bytes of padding
    const seen s = parse(d);
    REQUIRE_FALSE(s.ec);
    std::vector<std::string> names;
    CHECK_FALSE(s.packets[0].for_each_cname(
        [&](std::uint32_t, std::string_view n) { names.emplace_back(n); }));
    CHECK(names == std::vector<std::string>{"ab"});
}

TEST_CASE("the packet sizes the writer reports are the sizes it writes")
{
    std::array<std::byte, 1024> out{};
    rtcp::compound_writer w{out};
    const std::string longest(rtcp::max_text, 'x');
    w.cname(1, longest);
    CHECK(w.size() == rtcp::cname_size(rtcp::max_text));
    const std::uint32_t self = 1;
    w.bye(std::span<const std::uint32_t>{&self, 1}, longest);
    CHECK(w.size() == rtcp::cname_size(rtcp::max_text) + rtcp::bye_size(1, rtcp::max_text));
    REQUIRE_FALSE(w.error());
    CHECK_FALSE(parse(w.bytes()).ec);
}

TEST_CASE("a Receiver Reference Time block is laid out as RFC 3611 section 4.4 shows")
{
    std::array<std::byte, 64> out{};
    rtcp::compound_writer w{out};
    const auto now = audiocast::ntp::timestamp::from_u64(0xE123'4567'89AB'CDEFu);
    w.reference_time(0xCAFE'0001, now);
    REQUIRE_FALSE(w.error());
    CHECK(w.size() == rtcp::reference_time_size());
    CHECK(std::vector<std::byte>(w.bytes().begin(), w.bytes().end()) ==
          bytes({0x80, 207,  0x00, 0x04,                            // V=2, XR, 5 words less one
                 0xCA, 0xFE, 0x00, 0x01,                            // the sender's SSRC
                 4,    0,    0x00, 0x02,                            // BT=4, block length 2
                 0xE1, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF})); // NTP time

    const seen s = parse(w.bytes());
    REQUIRE_FALSE(s.ec);
    REQUIRE(s.packets.size() == 1);
    CHECK(s.packets[0].type() == rtcp::type_xr);
    CHECK(s.packets[0].ssrc() == 0xCAFE'0001u);
    CHECK(s.packets[0].reference_time() == now);
    CHECK(s.packets[0].for_each_dlrr([](const rtcp::dlrr_item&) { FAIL("no DLRR here"); }));
}

TEST_CASE("a DLRR block answers each listener and reads back sub-block for sub-block")
{
    const std::array<rtcp::dlrr_item, 3> items{{{0x1111'1111, 0x2345'6789, 0x0001'8000},
                                                {0x2222'2222, 0, 0},
                                                {0x3333'3333, 0xFFFF'FFFF, 0x7FFF'FFFF}}};
    std::array<std::byte, 128> out{};
    rtcp::compound_writer w{out};
    w.receiver_report(0x5EED'0001);
    w.delay_since_last_rr(0x5EED'0001, items);
    REQUIRE_FALSE(w.error());
    CHECK(w.size() == rtcp::receiver_report_size(0) + rtcp::dlrr_size(3));
    // The block's header: BT=5, reserved, 3 words a listener.
    const std::byte* block = out.data() + rtcp::receiver_report_size(0) + 8;
    CHECK(block[0] == std::byte{5});
    CHECK(block[3] == std::byte{9});

    const seen s = parse(w.bytes());
    REQUIRE_FALSE(s.ec);
    REQUIRE(s.packets.size() == 2);
    std::vector<rtcp::dlrr_item> read;
    CHECK(s.packets[1].for_each_dlrr([&](const rtcp::dlrr_item& d) { read.push_back(d); }));
    CHECK(read == std::vector<rtcp::dlrr_item>(items.begin(), items.end()));
    CHECK_FALSE(s.packets[1].reference_time());
    // An RR has no XR blocks.
    CHECK(s.packets[0].for_each_dlrr([](const rtcp::dlrr_item&) { FAIL("not an XR"); }));
}

TEST_CASE("XR blocks of unknown types are skipped, and blocks that overrun the packet are "
          "refused without a partial answer")
{
    // An unknown block (BT=42, one word of contents) before an RRTR.
    const auto with_unknown =
        bytes({0x80, 207,  0x00, 0x06, 0x00, 0x00, 0x00, 0x07, 42,   0,    0,    1,    0xAA, 0xBB,
               0xCC, 0xDD, 4,    0,    0,    2,    0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00});
    const seen ok = parse(with_unknown);
    REQUIRE_FALSE(ok.ec);
    REQUIRE(ok.packets.size() == 1);
    CHECK(ok.packets[0].reference_time() ==
          audiocast::ntp::timestamp::from_u64(0x0000'0001'8000'0000u));

    // A DLRR block that claims 6 words in a packet that holds 3 of them:
    // the compound is sound (its own length is right), the block is not.
    const auto overrun =
        bytes({0x80, 207,  0x00, 0x05, 0x00, 0x00, 0x00, 0x07, 5,    0,    0,    6,
               0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x00, 0x00, 0x01, 0x00});
    const seen bad = parse(overrun);
    REQUIRE_FALSE(bad.ec);
    REQUIRE(bad.packets.size() == 1);
    bool called = false;
    CHECK_FALSE(bad.packets[0].for_each_dlrr([&](const rtcp::dlrr_item&) { called = true; }));
    CHECK_FALSE(called);
    CHECK_FALSE(bad.packets[0].reference_time());

    // A DLRR block of two words: not whole sub-blocks.
    const auto ragged = bytes({0x80, 207, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07, 5,    0,
                               0,    2,   0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22});
    const seen r = parse(ragged);
    REQUIRE_FALSE(r.ec);
    CHECK_FALSE(r.packets[0].for_each_dlrr([](const rtcp::dlrr_item&) { FAIL("ragged"); }));

    // An RRTR block of the wrong length is not a reference time.
    const auto short_rrtr =
        bytes({0x80, 207, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07, 4, 0, 0, 1, 0x00, 0x00, 0x00, 0x01});
    const seen sr = parse(short_rrtr);
    REQUIRE_FALSE(sr.ec);
    CHECK_FALSE(sr.packets[0].reference_time());

    // An XR too short for its SSRC.
    const auto no_ssrc = bytes({0x80, 207, 0x00, 0x00});
    const seen ns = parse(no_ssrc);
    REQUIRE_FALSE(ns.ec);
    CHECK_FALSE(ns.packets[0].reference_time());
    CHECK_FALSE(ns.packets[0].for_each_dlrr([](const rtcp::dlrr_item&) {}));
}

TEST_CASE("the writer refuses a DLRR block with no listener or more than its length can count")
{
    std::vector<std::byte> out(rtcp::dlrr_size(rtcp::max_dlrr_items + 1));
    {
        rtcp::compound_writer w{out};
        w.delay_since_last_rr(1, {});
        CHECK(w.error() == errc::invalid_rtcp);
        CHECK(w.size() == 0);
    }
    {
        const std::vector<rtcp::dlrr_item> many(rtcp::max_dlrr_items + 1);
        rtcp::compound_writer w{out};
        w.delay_since_last_rr(1, many);
        CHECK(w.error() == errc::invalid_rtcp);
        CHECK(w.size() == 0);
    }
    {
        const std::vector<rtcp::dlrr_item> all(rtcp::max_dlrr_items);
        rtcp::compound_writer w{out};
        w.delay_since_last_rr(1, all);
        REQUIRE_FALSE(w.error());
        const seen s = parse(w.bytes());
        REQUIRE_FALSE(s.ec);
        std::size_t n = 0;
        CHECK(s.packets[0].for_each_dlrr([&](const rtcp::dlrr_item&) { ++n; }));
        CHECK(n == rtcp::max_dlrr_items);
    }
    {
        std::array<std::byte, 19> small{};
        rtcp::compound_writer w{small};
        w.reference_time(1, {});
        CHECK(w.error() == errc::buffer_too_small);
    }
}
