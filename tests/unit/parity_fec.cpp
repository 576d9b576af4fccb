// SMPTE 2022-1 parity FEC: the repair packet's wire form, the encoder's
// schedule, the decoder's rebuilds (byte for byte, rows and columns freeing
// each other) and what it refuses, then a stream through the adapter over a
// lossy loopback network. Deterministic: seeded losses, a manual clock.
#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/protection/parity_fec_transport.hpp>
#include <audiocast/transport/loopback.hpp>
#include <audiocast/wire/parity_fec.hpp>
#include <audiocast/wire/rtp.hpp>

#include "../support/fec_simulation.hpp"
#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast::parity_fec_config;
using audiocast::parity_fec_decoder;
using audiocast::parity_fec_encoder;
namespace fec = audiocast::parity_fec;
using audiocast_test::bytes;
using audiocast_test::media_packet;
using audiocast_test::residual_loss;

namespace {

struct emitted {
    bool row;
    bytes datagram;
    std::size_t after; // how many media packets had been protected
};

/// Every packet and repair the encoder sends for `media`, in order.
std::vector<emitted> encode(parity_fec_encoder& e, const std::vector<bytes>& media)
{
    std::vector<emitted> out;
    for (std::size_t i = 0; i < media.size(); ++i)
        e.protect(media[i], [&](bool row, std::span<const std::byte> r) {
            out.push_back({row, bytes(r.begin(), r.end()), i + 1});
        });
    return out;
}

/// Feeds `media` but the sequence numbers in `lost`, and every repair, in
/// the order the sender sent them; returns what the decoder rebuilt, by
/// sequence number.
std::map<std::uint16_t, bytes> decode(parity_fec_decoder& d, const std::vector<bytes>& media,
                                      const std::vector<emitted>& repairs,
                                      const std::set<std::uint16_t>& lost,
                                      std::uint16_t first_sequence)
{
    std::map<std::uint16_t, bytes> rebuilt;
    const auto take = [&] {
        bytes buffer(2000);
        audiocast::datagram_origin origin;
        while (d.has_recovered()) {
            const std::size_t n = d.take_recovered(buffer, origin);
            if (n == 0) continue;
            const auto seq = audiocast::detail::load_be16(buffer.data() + 2);
            rebuilt[seq] = bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
        }
    };
    std::size_t r = 0;
    for (std::size_t i = 0; i < media.size(); ++i) {
        const auto seq = static_cast<std::uint16_t>(first_sequence + i);
        if (!lost.contains(seq)) d.on_media(media[i], {});
        take();
        while (r < repairs.size() && repairs[r].after == i + 1) {
            d.on_repair(repairs[r++].datagram);
            take();
        }
    }
    return rebuilt;
}

/// Appends every packet `d` has rebuilt and not yet handed on to `into`.
void take_rebuilt(parity_fec_decoder& d, std::vector<bytes>& into)
{
    bytes buffer(2000);
    audiocast::datagram_origin origin;
    while (d.has_recovered())
        if (const auto n = d.take_recovered(buffer, origin); n > 0)
            into.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
}

parity_fec_config matrix(std::uint8_t columns, std::uint8_t rows)
{
    parity_fec_config c;
    c.columns = columns;
    c.rows = rows;
    return c;
}

} // namespace

TEST_CASE("parity FEC: a repair packet's headers are SMPTE 2022-1's and read back as written")
{
    fec::repair_header h;
    h.payload_type = 97;
    h.sequence = 0xABCD;
    h.timestamp = 0x1122'3344;
    h.ssrc = 0x5566'7788;
    h.first_byte_recovery = 0x10; // X
    h.marker_recovery = true;
    h.sn_base = 0xFFFE;
    h.length_recovery = 4;
    h.payload_type_recovery = 0x2A;
    h.timestamp_recovery = 0xDEAD'BEEF;
    h.row = false;
    h.offset = 10;
    h.count = 5;
    bytes packet(fec::repair_payload_offset + 4, std::byte{0x5A});
    std::error_code ec;
    REQUIRE(fec::write_headers(h, packet, ec) == 28);
    REQUIRE_FALSE(ec);
    // The bytes GStreamer's rtpst2022-1-fecenc writes for these values.
    const std::vector<unsigned> want{0x90, 0xE1, 0xAB, 0xCD, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                     0x77, 0x88, 0xFF, 0xFE, 0x00, 0x04, 0xAA, 0x00, 0x00, 0x00,
                                     0xDE, 0xAD, 0xBE, 0xEF, 0x00, 10,   5,    0x00};
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO("byte " << i);
        CHECK(std::to_integer<unsigned>(packet[i]) == want[i]);
    }
    const auto back = fec::parse(packet, ec);
    REQUIRE_FALSE(ec);
    CHECK(back.payload_type == 97);
    CHECK(back.sequence == 0xABCD);
    CHECK(back.ssrc == 0x5566'7788u);
    CHECK(back.first_byte_recovery == 0x10);
    CHECK(back.marker_recovery);
    CHECK(back.sn_base == 0xFFFE);
    CHECK(back.length_recovery == 4);
    CHECK(back.payload_type_recovery == 0x2A);
    CHECK(back.timestamp_recovery == 0xDEAD'BEEFu);
    CHECK_FALSE(back.row);
    CHECK(back.offset == 10);
    CHECK(back.count == 5);
    CHECK(back.payload.size() == 4);
    // Sequence numbers wrap: the column from 0xFFFE, 10 apart.
    CHECK(back.protected_sequence(0) == 0xFFFE);
    CHECK(back.protected_sequence(1) == 8);
    CHECK(back.protected_sequence(4) == 38);
}

TEST_CASE("parity FEC: repair packets not of SMPTE 2022-1's XOR form, or that protect nothing, "
          "are refused with their error")
{
    fec::repair_header h;
    h.sn_base = 1;
    h.offset = 1;
    h.count = 4;
    h.row = true;
    h.length_recovery = 2;
    bytes good(fec::repair_payload_offset + 2);
    std::error_code ec;
    fec::write_headers(h, good, ec);
    (void)fec::parse(good, ec);
    REQUIRE_FALSE(ec);

    const auto refused = [&](auto change, std::error_code want) {
        bytes p = good;
        change(p);
        std::error_code e;
        (void)fec::parse(p, e);
        return e == want;
    };
    const auto invalid = make_error_code(audiocast::errc::invalid_fec_packet);
    CHECK(refused([](bytes& p) { p.resize(27); },
                  make_error_code(audiocast::errc::packet_truncated)));
    CHECK(refused([](bytes& p) { p[0] = std::byte{0x40}; },
                  make_error_code(audiocast::errc::unsupported_rtp_version)));
    CHECK(refused([](bytes& p) { p[16] &= std::byte{0x7F}; }, invalid)); // E 0
    CHECK(refused([](bytes& p) { p[18] = std::byte{1}; }, invalid));     // a mask
    CHECK(refused([](bytes& p) { p[24] |= std::byte{0x80}; }, invalid)); // N: 2022-5
    CHECK(refused([](bytes& p) { p[24] |= std::byte{0x08}; }, invalid)); // type not XOR
    CHECK(refused([](bytes& p) { p[25] = std::byte{0}; }, invalid));     // Offset 0
    CHECK(refused([](bytes& p) { p[25] = std::byte{3}; }, invalid));     // a row 3 apart
    CHECK(refused([](bytes& p) { p[26] = std::byte{0}; }, invalid));     // NA 0
    CHECK(refused([](bytes& p) { p[27] = std::byte{1}; }, invalid));     // SNBase ext
}

TEST_CASE("parity FEC: settings out of range are refused naming the setting and its limits")
{
    std::error_code ec;
    audiocast::validate(matrix(10, 10), ec);
    CHECK_FALSE(ec);
    CHECK(audiocast::overhead(matrix(10, 10)) == Approx(0.2));
    audiocast::validate(matrix(0, 10), ec);
    CHECK(ec == audiocast::errc::invalid_fec_setting);
    auto big = matrix(40, 40);
    CHECK(check(big).describe().find("FEC repair delay (2 x L x D + L) 3240 packets") !=
          std::string::npos);
    CHECK_THROWS_WITH(parity_fec_encoder{big}, Catch::Contains("1-1023"));
    auto pt = matrix(4, 4);
    pt.payload_type = 10;
    CHECK_THROWS_WITH(parity_fec_decoder{pt}, Catch::Contains("FEC payload type 10"));
}

TEST_CASE("parity FEC encoder: a row's repair follows its last packet and a matrix's column "
          "repairs follow one every D packets of the next matrix")
{
    parity_fec_encoder e{matrix(3, 2)};
    std::vector<bytes> media;
    for (std::uint16_t s = 100; s < 118; ++s)
        media.push_back(media_packet(s, 20));
    const auto out = encode(e, media);

    std::vector<std::tuple<bool, std::size_t, unsigned, unsigned, unsigned>> got;
    for (const auto& o : out) {
        std::error_code ec;
        const auto h = fec::parse(o.datagram, ec);
        REQUIRE_FALSE(ec);
        CHECK(h.ssrc == 0x5EED'0001u);
        CHECK(h.payload_type == 96);
        got.emplace_back(o.row, o.after, h.sn_base, h.offset, h.count);
    }
    using t = std::tuple<bool, std::size_t, unsigned, unsigned, unsigned>;
    const std::vector<t> want{
        t{true, 3, 100, 1, 3},   t{true, 6, 103, 1, 3},   t{false, 7, 100, 3, 2},
        t{true, 9, 106, 1, 3},   t{false, 9, 101, 3, 2},  t{false, 11, 102, 3, 2},
        t{true, 12, 109, 1, 3},  t{false, 13, 106, 3, 2}, t{true, 15, 112, 1, 3},
        t{false, 15, 107, 3, 2}, t{false, 17, 108, 3, 2}, t{true, 18, 115, 1, 3},
    };
    CHECK(got == want);
    CHECK(e.stats().row_repairs == 6);
    CHECK(e.stats().column_repairs == 6);
    CHECK(e.stats().media_protected == 18);
}

TEST_CASE("parity FEC decoder: packets lost alone in a row or a column, a whole row, and losses "
          "that rows and columns free in turn come back byte for byte")
{
    // 4 wide, 3 deep; sizes vary (as Opus's do), some carry the send-time
    // extension and some a marker, all of which must come back exactly.
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    std::mt19937 rng{5};
    for (std::uint16_t s = 0; s < 48; ++s)
        media.push_back(media_packet(static_cast<std::uint16_t>(65'520 + s), 20 + rng() % 200,
                                     s % 3 == 0, 0x5EED'0001, s % 7 == 0));
    const auto repairs = encode(e, media);
    const auto seq = [](int i) { return static_cast<std::uint16_t>(65'520 + i); };

    SECTION("one in a row")
    {
        const std::set<std::uint16_t> lost{seq(1), seq(17)};
        parity_fec_decoder d{config};
        const auto rebuilt = decode(d, media, repairs, lost, seq(0));
        CHECK(rebuilt.size() == 2);
        for (auto s : lost)
            CHECK(rebuilt.at(s) == media[static_cast<std::uint16_t>(s - seq(0))]);
    }
    SECTION("a whole row: the columns rebuild it")
    {
        const std::set<std::uint16_t> lost{seq(16), seq(17), seq(18), seq(19)};
        parity_fec_decoder d{config};
        const auto rebuilt = decode(d, media, repairs, lost, seq(0));
        CHECK(rebuilt.size() == 4);
        for (auto s : lost)
            CHECK(rebuilt.at(s) == media[static_cast<std::uint16_t>(s - seq(0))]);
    }
    SECTION("an L pattern: a column rebuilds one of a row's two, then the row the other")
    {
        // Row 0 of the second matrix misses 12 and 13; column 0 misses 12
        // and 16, so column 1 (13 only) goes first.
        const std::set<std::uint16_t> lost{seq(12), seq(13), seq(16)};
        parity_fec_decoder d{config};
        const auto rebuilt = decode(d, media, repairs, lost, seq(0));
        CHECK(rebuilt.size() == 3);
        for (auto s : lost)
            CHECK(rebuilt.at(s) == media[static_cast<std::uint16_t>(s - seq(0))]);
        CHECK(d.stats().repairs_used == 3);
    }
    SECTION("a square of four: no row or column misses one only, so nothing is rebuilt")
    {
        const std::set<std::uint16_t> lost{seq(0), seq(1), seq(4), seq(5)};
        parity_fec_decoder d{config};
        const auto rebuilt = decode(d, media, repairs, lost, seq(0));
        CHECK(rebuilt.empty());
        CHECK(d.stats().packets_recovered == 0);
    }
    SECTION("repairs lost too: a row whose repair is gone waits for its column")
    {
        auto without_row_repair = repairs;
        std::erase_if(without_row_repair, [](const emitted& x) { return x.row && x.after == 8; });
        const std::set<std::uint16_t> lost{seq(5)};
        parity_fec_decoder d{config};
        const auto rebuilt = decode(d, media, without_row_repair, lost, seq(0));
        REQUIRE(rebuilt.size() == 1);
        CHECK(rebuilt.at(seq(5)) == media[5]);
    }
}

TEST_CASE("parity FEC decoder: a row's repair that comes before the row's last packet (as "
          "GStreamer sends it) does not rebuild that packet but once a later one comes a packet "
          "really lost is")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    std::vector<bytes> row_repairs;
    for (std::uint16_t s = 0; s < 12; ++s) {
        media.push_back(media_packet(s, 100));
        e.protect(media.back(), [&](bool row, std::span<const std::byte> r) {
            if (row) row_repairs.emplace_back(r.begin(), r.end());
        });
    }
    parity_fec_decoder d{config};
    for (std::uint16_t s = 0; s < 3; ++s)
        d.on_media(media[s], {});
    d.on_repair(row_repairs[0]); // before packet 3
    CHECK_FALSE(d.has_recovered());
    d.on_media(media[3], {});
    CHECK_FALSE(d.has_recovered());
    CHECK(d.stats().packets_recovered == 0);

    // Row 1: packet 7 is lost; its repair waits until packet 8 shows that
    // nothing more of the row is coming.
    for (std::uint16_t s = 4; s < 7; ++s)
        d.on_media(media[s], {});
    d.on_repair(row_repairs[1]);
    CHECK_FALSE(d.has_recovered());
    d.on_media(media[8], {});
    REQUIRE(d.has_recovered());
    bytes buffer(2000);
    audiocast::datagram_origin origin;
    const auto n = d.take_recovered(buffer, origin);
    CHECK(bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n)) == media[7]);
    CHECK(d.stats().packets_recovered == 1);
}

TEST_CASE("parity FEC decoder: another sender's packets on the group cost repairs but never make "
          "one rebuild wrong bytes")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    for (std::uint16_t s = 0; s < 24; ++s)
        media.push_back(media_packet(s, 100));
    const auto repairs = encode(e, media);
    parity_fec_decoder d{config};
    // Packet 2 is lost; a stranger (another SSRC) sends its own packet 1
    // after the real one, so the row 0 repair misses two.
    std::size_t r = 0;
    std::vector<bytes> rebuilt;
    for (std::uint16_t s = 0; s < 24; ++s) {
        if (s != 2) d.on_media(media[s], {});
        if (s == 1) d.on_media(media_packet(1, 300, false, 0xBAD), {});
        while (r < repairs.size() && repairs[r].after == s + 1u)
            d.on_repair(repairs[r++].datagram);
        take_rebuilt(d, rebuilt);
    }
    // Column 2 (packets 2, 6, 10) still rebuilds it, right; the row then
    // tells which packet 1 was the sender's (handed on to no one: the
    // receiver has had one). Nothing else.
    REQUIRE(rebuilt.size() == 1);
    CHECK(rebuilt[0] == media[2]);
    CHECK(d.stats().media_conflicting == 1);
}

TEST_CASE("parity FEC decoder: junk and hostile repair packets are counted and dropped, and never "
          "rebuild anything or read outside what they carry")
{
    const auto config = matrix(4, 3);
    parity_fec_decoder d{config};
    for (std::uint16_t s = 0; s < 12; ++s)
        if (s != 5) d.on_media(media_packet(s, 100), {});
    std::mt19937 rng{11};
    for (int i = 0; i < 2000; ++i) {
        bytes junk(rng() % 200);
        for (auto& b : junk)
            b = std::byte(static_cast<unsigned char>(rng()));
        d.on_repair(junk);
    }
    // Well formed but not of the 4 x 3 matrix: refused before any lookup,
    // so a forged header cannot make a repair cost 255 of them.
    fec::repair_header wide;
    wide.sn_base = 0;
    wide.offset = 255;
    wide.count = 255;
    bytes p(fec::repair_payload_offset + 100);
    std::error_code ec;
    fec::write_headers(wide, p, ec);
    const auto mismatched = d.stats().repairs_mismatched;
    d.on_repair(p);
    CHECK(d.stats().repairs_mismatched == mismatched + 1);
    // Of the matrix, but for packets long past, or far ahead of the newest.
    fec::repair_header stale;
    stale.sn_base = 40'000;
    stale.offset = 4;
    stale.count = 3;
    fec::write_headers(stale, p, ec);
    d.on_repair(p);
    CHECK(d.stats().repairs_out_of_window == 1);
    // Claims a longer packet than the XOR it carries: its own length recovery
    // passes parse, but the packets' lengths make the lost one 100 + 4 bytes.
    fec::repair_header liar;
    liar.ssrc = 0x5EED'0001;
    liar.sn_base = 4;
    liar.offset = 1;
    liar.count = 4;
    liar.row = true;
    liar.length_recovery = 4; // 88 ^ 88 ^ 88 ^ 4: the lost one would be 92 bytes
    bytes q(fec::repair_payload_offset + 8);
    fec::write_headers(liar, q, ec);
    d.on_repair(q);
    CHECK_FALSE(d.has_recovered());
    CHECK(d.stats().packets_recovered == 0);
    CHECK(d.stats().repairs_malformed > 1900);
}

namespace {

/// A repair packet that says it protects `count` packets from `sn_base`,
/// `offset` apart, of `ssrc`, carrying `payload_size` bytes of junk: what a
/// host that has listened to the stream can forge.
bytes forged_repair(std::uint32_t ssrc, std::uint16_t sn_base, std::uint8_t offset,
                    std::uint8_t count, std::size_t payload_size, unsigned junk_seed)
{
    fec::repair_header h;
    h.ssrc = ssrc;
    h.sn_base = sn_base;
    h.offset = offset;
    h.count = count;
    h.row = offset == 1;
    h.payload_type = 100;
    // 0: the lost packet's length comes out of the others' alone, and fits.
    bytes p(fec::repair_payload_offset + payload_size);
    std::error_code ec;
    fec::write_headers(h, p, ec);
    std::mt19937 rng{junk_seed};
    for (std::size_t i = fec::repair_payload_offset; i < p.size(); ++i)
        p[i] = std::byte(static_cast<unsigned char>(rng()));
    return p;
}

const audiocast::endpoint sender_host = audiocast::endpoint::ipv4({192, 0, 2, 1}, 5004);
const audiocast::endpoint sender_repairs = audiocast::endpoint::ipv4({192, 0, 2, 1}, 40'000);
const audiocast::endpoint forger_host = audiocast::endpoint::ipv4({192, 0, 2, 66}, 5004);

audiocast::datagram_origin sent_from(const audiocast::endpoint& from)
{
    audiocast::datagram_origin o;
    o.from = from;
    return o;
}

} // namespace

TEST_CASE("parity FEC decoder: repairs forged by another host with the sender's SSRC and the "
          "lost packet's sequence number rebuild nothing, and the sender's own repair rebuilds it")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    for (std::uint16_t s = 0; s < 24; ++s)
        media.push_back(media_packet(s, 88));
    const auto repairs = encode(e, media);
    const bool following = GENERATE(false, true);
    INFO((following ? "told the source it plays" : "told nothing"));
    parity_fec_decoder d{config};
    if (following) d.follow(0x5EED'0001, sender_host);
    std::vector<bytes> rebuilt;
    std::size_t r = 0;
    for (std::uint16_t s = 0; s < 24; ++s) {
        if (s != 5) d.on_media(media[s], sent_from(sender_host));
        // From packet 6 on, the forger sends a row and a column repair
        // missing packet 5 and nothing else, ahead of the sender's own.
        if (s >= 6) {
            d.on_repair(forged_repair(0x5EED'0001, 4, 1, 4, 88, s), forger_host);
            d.on_repair(forged_repair(0x5EED'0001, 1, 4, 3, 88, 100u + s), forger_host);
        }
        while (r < repairs.size() && repairs[r].after == s + 1u)
            d.on_repair(repairs[r++].datagram, sender_repairs);
        take_rebuilt(d, rebuilt);
    }
    REQUIRE(rebuilt.size() == 1);
    CHECK(rebuilt[0] == media[5]);
    if (following) CHECK(d.stats().repairs_foreign == 2 * 18);
}

TEST_CASE("parity FEC decoder: once following a source, another host's packets with its SSRC far "
          "ahead move nothing, and a change of source keeps only the new one's packets")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    for (std::uint16_t s = 0; s < 24; ++s)
        media.push_back(media_packet(s, 76));
    const auto repairs = encode(e, media);
    parity_fec_decoder d{config};
    // Before the receiver chose a source, a flood: packets with the
    // sender's SSRC from another host, numbered up to 30,000 ahead.
    for (std::uint16_t s = 0; s < 40; ++s)
        d.on_media(media_packet(static_cast<std::uint16_t>(s * 750), 76), sent_from(forger_host));
    d.follow(0x5EED'0001, sender_host);
    std::vector<bytes> rebuilt;
    std::size_t r = 0;
    for (std::uint16_t s = 0; s < 24; ++s) {
        if (s != 9) d.on_media(media[s], sent_from(sender_host));
        // And while the sender streams, the same forger 20,000 ahead.
        d.on_media(media_packet(static_cast<std::uint16_t>(s + 20'000), 76),
                   sent_from(forger_host));
        while (r < repairs.size() && repairs[r].after == s + 1u)
            d.on_repair(repairs[r++].datagram, sender_repairs);
        take_rebuilt(d, rebuilt);
    }
    REQUIRE(rebuilt.size() == 1);
    CHECK(rebuilt[0] == media[9]);
    CHECK(d.stats().media_ignored == 24);
    CHECK(d.stats().repairs_out_of_window == 0);

    // The source changes to the forger's host (it validated and took over
    // when the sender left): the sender's packets are forgotten, so a
    // repair of the sender's finds none of them.
    d.follow(0x5EED'0001, forger_host);
    d.on_repair(repairs.back().datagram, sender_repairs);
    CHECK(d.stats().repairs_foreign == 1);
    for (std::uint16_t s = 100; s < 104; ++s)
        if (s != 102) d.on_media(media_packet(s, 76), sent_from(forger_host));
    d.on_media(media_packet(104, 76), sent_from(forger_host));
    d.on_repair(forged_repair(0x5EED'0001, 100, 1, 4, 88, 7), forger_host);
    CHECK(d.stats().packets_recovered == 2); // the new source's own repair is used
}

TEST_CASE(
    "parity FEC decoder: a packet forged from the sender's own address with a number it "
    "already sent makes no rebuild wrong, and a repair tells which of the two was the sender's")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    std::vector<bytes> media;
    for (std::uint16_t s = 0; s < 24; ++s)
        media.push_back(media_packet(s, 88));
    const auto repairs = encode(e, media);
    bytes forged = media[1];
    for (std::size_t i = 12; i < forged.size(); ++i)
        forged[i] = std::byte{0x5A};
    const bool forged_first = GENERATE(false, true);
    INFO((forged_first ? "the forged packet 1 came first" : "the sender's packet 1 came first"));
    parity_fec_decoder d{config};
    d.follow(0x5EED'0001, sender_host);
    std::vector<bytes> rebuilt;
    std::size_t r = 0;
    for (std::uint16_t s = 0; s < 24; ++s) {
        if (s == 1 && forged_first) d.on_media(forged, sent_from(sender_host));
        if (s != 2) d.on_media(media[s], sent_from(sender_host)); // packet 2 is lost
        if (s == 1 && !forged_first) d.on_media(forged, sent_from(sender_host));
        while (r < repairs.size() && repairs[r].after == s + 1u)
            d.on_repair(repairs[r++].datagram, sender_repairs);
        take_rebuilt(d, rebuilt);
    }
    // The row of 0-3 misses 2 and cannot trust 1; the column of 1, 5, 9
    // settles 1 (handed on to no one: the receiver has had a packet 1), and
    // the row then rebuilds 2, right.
    REQUIRE(rebuilt.size() == 1);
    CHECK(rebuilt[0] == media[2]);
    CHECK(d.stats().media_conflicting == 1);
    CHECK(d.stats().packets_recovered == 1);
}

TEST_CASE("parity FEC decoder: following a source, a packet lost after 40,000 without loss is "
          "still rebuilt (the first packet's mark does not wrap)")
{
    const auto config = matrix(4, 3);
    parity_fec_encoder e{config};
    parity_fec_decoder d{config};
    d.follow(0x5EED'0001, sender_host);
    const std::uint16_t lost = 40'002; // 40,002 packets after the first
    std::vector<bytes> rebuilt;
    for (std::uint32_t i = 0; i < 40'012; ++i) {
        const auto s = static_cast<std::uint16_t>(i);
        const bytes packet = media_packet(s, 60);
        if (s != lost) d.on_media(packet, sent_from(sender_host));
        e.protect(packet,
                  [&](bool, std::span<const std::byte> r) { d.on_repair(r, sender_repairs); });
        take_rebuilt(d, rebuilt);
    }
    REQUIRE(rebuilt.size() == 1);
    CHECK(rebuilt[0] == media_packet(lost, 60));
}

TEST_CASE("parity FEC: at 5 % random loss of media and repairs alike, a 10 x 10 matrix (20 % "
          "overhead) leaves at most 0.1 % of packets unrecovered, over ten seeds")
{
    double sum = 0;
    double worst = 0;
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        const double r = residual_loss(matrix(10, 10), 0.05, 1, seed, 100'000);
        sum += r;
        worst = std::max(worst, r);
    }
    INFO("mean " << sum / 10 * 100 << " %, worst " << worst * 100 << " %");
    CHECK(sum / 10 <= 0.001);
    // Without FEC it would be the 5 %; one column or row alone (5 x 0 or
    // 0 x 5, also 20 %) leaves about 1.1 %.
    auto columns_only = matrix(5, 5);
    columns_only.row_repair = false;
    CHECK(residual_loss(columns_only, 0.05, 1, 1, 100'000) > 0.008);
}

namespace {

using fec_loopback = audiocast::parity_fec_transport<audiocast::loopback_transport>;
using fec_stream =
    audiocast::basic_multicast_stream<fec_loopback, audiocast::pcm_codec, audiocast::manual_clock>;

/// A sender and two listeners, one with FEC and one without, over three
/// lossy loopback groups (media, columns, rows), 1 ms L16 packets.
struct lossy_fec_run {
    audiocast::manual_clock clock;
    audiocast::loopback_group media, columns, rows;
    fec_stream::sender tx;
    fec_stream::receiver with_fec;
    audiocast::loopback_stream::receiver without_fec;
    std::vector<std::int16_t> source, played, played_plain;

    lossy_fec_run(const audiocast::network_faults& faults, const parity_fec_config& config)
        : media{clock, faults, 21}, columns{clock, faults, 22}, rows{clock, faults, 23},
          tx{fec_loopback::sender(media.join(), columns.join(), rows.join(), config), codec(),
             clock, sender_config()},
          with_fec{fec_loopback::receiver(media.join(), columns.join(), rows.join(), config),
                   codec(), clock, receiver_config()},
          without_fec{media.join(), codec(), clock, receiver_config()}
    {}

    static audiocast::pcm_codec codec()
    {
        return audiocast::pcm_codec{audiocast::pcm_config{.packet_time = 1ms}};
    }
    static audiocast::sender_config sender_config()
    {
        audiocast::sender_config c;
        c.ssrc = 0x5EED'0001;
        c.initial_sequence = 1000; // wraps during the run
        return c;
    }
    static audiocast::receiver_config receiver_config()
    {
        audiocast::receiver_config c;
        c.latency = 300ms; // above the 10 x 10 matrix's 210-packet repair delay
        c.max_misorder = audiocast::parity_fec_repair_delay(matrix(10, 10));
        return c;
    }

    /// Streams `frames`, starting at the `lead`-th millisecond; `each_ms`
    /// runs every millisecond before the sender sends (a stranger's turn).
    template <class Step = void (*)(std::size_t)>
    void run(std::size_t frames, std::size_t lead = 0, Step each_ms = [](std::size_t) {})
    {
        source = audiocast_test::make_source(frames, 2);
        std::size_t written = 0;
        std::vector<std::int16_t> block(96);
        const auto steps = lead + frames / 48 + 600;
        for (std::size_t i = 0; i < steps; ++i) {
            each_ms(i);
            if (i >= lead && written < frames)
                written += tx.write(std::span<const std::int16_t>{source}.subspan(written * 2));
            tx.poll();
            with_fec.poll();
            with_fec.pull(std::span<std::int16_t>{block});
            played.insert(played.end(), block.begin(), block.end());
            without_fec.poll();
            without_fec.pull(std::span<std::int16_t>{block});
            played_plain.insert(played_plain.end(), block.begin(), block.end());
            clock.advance(1ms);
        }
    }
};

/// Frames of `played` (trimmed) that differ from `source`, frame for frame.
std::size_t frames_differing(const std::vector<std::int16_t>& played,
                             const std::vector<std::int16_t>& source)
{
    const auto t = audiocast_test::trimmed(played, 2);
    std::size_t differing = 0;
    for (std::size_t f = 0; f * 2 < source.size(); ++f)
        if (f * 2 + 1 >= t.size() || t[f * 2] != source[f * 2] || t[f * 2 + 1] != source[f * 2 + 1])
            ++differing;
    return differing;
}

} // namespace

TEST_CASE("parity FEC stream: at 5 % random loss on every flow, a listener with a 10 x 10 matrix "
          "plays every packet it rebuilt bit-exact, and one without FEC plays the media alone")
{
    audiocast::network_faults faults;
    faults.loss = 0.05;
    lossy_fec_run r{faults, matrix(10, 10)};
    r.run(48 * 20'000); // 20,000 packets

    const auto sent = r.tx.sender().stats().packets_sent;
    REQUIRE(sent == 20'000);
    const auto lost_on_the_way = r.with_fec.transport().media().counters().lost;
    const auto& dec = *r.with_fec.transport().decoder();
    const auto s = r.with_fec.stats();
    INFO("lost on the way " << lost_on_the_way << ", rebuilt " << dec.stats().packets_recovered
                            << ", unrecovered " << s.packets_lost << ", repairs used "
                            << dec.stats().repairs_used << " of " << dec.stats().repairs_received
                            << "; expired " << dec.stats().repairs_expired);
    CHECK(lost_on_the_way > 900); // about 5 %
    // Every packet rebuilt reached the session in time, and counts as
    // received: what the session calls lost is what FEC could not rebuild.
    CHECK(dec.stats().packets_recovered + s.packets_lost == lost_on_the_way);
    CHECK(s.packets_late == 0);
    CHECK(s.packets_duplicate == 0);
    CHECK(s.source_changes == 1);
    CHECK(s.packets_rebuilt == dec.stats().packets_recovered);
    // Rebuilt packets come up to 210 ms late, but they are not timed: the
    // figures are the network's (here none: no delay, no jitter).
    const auto plain_figures = r.without_fec.stats();
    INFO("jitter " << s.jitter.count() << " ns, latency p99 " << s.latency_p99.count()
                   << " ns; without FEC " << plain_figures.jitter.count() << " ns, "
                   << plain_figures.latency_p99.count() << " ns");
    CHECK(s.jitter < 1ms);
    CHECK(s.latency_p99 < 1ms);
    CHECK(s.ipdv_p99 < 1ms);
    // One 20 s recording varies about the mean the test above asserts (what
    // defeats the matrix comes in pairs and fours); here 36, 0.18 %.
    CHECK(s.packets_lost <= sent / 500);
    // Bit-exact but for each unrecovered packet's 48 frames and the fades
    // either side of its concealment.
    const auto differing = frames_differing(r.played, r.source);
    CHECK(differing <= s.packets_lost * (48 + 2 * 48));
    // The listener without FEC joined the media flow alone, and plays it
    // with its own losses concealed.
    const auto plain = r.without_fec.stats();
    CHECK(plain.packets_lost > 900);
    CHECK(plain.packets_received + plain.packets_lost == sent);
    CHECK(plain.concealed_frames >= plain.packets_lost * 48);
}

TEST_CASE("parity FEC stream: a host that floods the group before the sender starts, then forges "
          "its packets and repairs ahead of its own, never makes the listener play a wrong byte")
{
    audiocast::network_faults faults;
    faults.loss = 0.05;
    lossy_fec_run r{faults, matrix(10, 10)};
    // Another host on all three flows. It has listened: it knows the
    // sender's SSRC, its sequence numbers and where its matrices start.
    const auto stranger = audiocast::endpoint::ipv4({127, 0, 0, 2}, 5004);
    auto forged_media = r.media.join(stranger);
    auto forged_columns = r.columns.join(stranger);
    auto forged_rows = r.rows.join(stranger);
    constexpr std::size_t lead = 300; // ms of flood before the sender starts
    std::mt19937 rng{29};
    const auto draw = [&rng] { return static_cast<std::uint32_t>(rng()); };
    std::uint64_t forged_repairs = 0;
    const auto send = [](audiocast::loopback_transport& t, const bytes& d) {
        std::error_code ec;
        t.send(d, ec);
    };
    const auto forge = [&](std::size_t ms) {
        if (ms < lead) { // random SSRCs and sequence numbers, and repairs for them
            send(forged_media,
                 media_packet(static_cast<std::uint16_t>(draw()), 192, false, draw()));
            send(forged_columns,
                 forged_repair(draw(), static_cast<std::uint16_t>(draw()), 10, 10, 256, draw()));
            return;
        }
        // Once it has heard the sender: the sender's next packet, from this host.
        const auto sent = r.tx.sender().stats().packets_sent;
        // (It stops with the sender: a forger that goes on takes over once
        // the source has left, as any new sender would; only SRTP tells.)
        if (sent == 0 || sent == 8'000) return;
        send(forged_media,
             media_packet(static_cast<std::uint16_t>(1000 + sent), 192, false, 0x5EED'0001));
        if (sent < 100) return;
        // Repairs for the matrix just finished: each column (the sender's
        // own leave over the next matrix) and its last two rows.
        const auto start = static_cast<std::uint16_t>(1000 + (sent / 100 - 1) * 100);
        for (std::uint16_t c = 0; c < 10; ++c)
            send(forged_columns, forged_repair(0x5EED'0001, static_cast<std::uint16_t>(start + c),
                                               10, 10, 256, draw()));
        for (std::uint16_t row = 8; row < 10; ++row)
            send(forged_rows,
                 forged_repair(0x5EED'0001, static_cast<std::uint16_t>(start + row * 10), 1, 10,
                               256, draw()));
        forged_repairs += 12;
        // Keep the stranger's own queues from filling: it reads nothing.
        bytes sink(2048);
        for (auto* t : {&forged_media, &forged_columns, &forged_rows}) {
            std::error_code ec;
            while (!ec)
                (void)t->receive(sink, ec);
        }
    };
    r.run(48 * 8'000, lead, forge); // 8,000 packets

    const auto sent = r.tx.sender().stats().packets_sent;
    REQUIRE(sent == 8'000);
    const auto& dec = *r.with_fec.transport().decoder();
    const auto s = r.with_fec.stats();
    INFO("rebuilt " << dec.stats().packets_recovered << ", unrecovered " << s.packets_lost
                    << "; repairs foreign " << dec.stats().repairs_foreign << " of "
                    << forged_repairs << " forged; media ignored " << dec.stats().media_ignored
                    << "; received " << dec.stats().repairs_received << " malformed "
                    << dec.stats().repairs_malformed << " mismatched "
                    << dec.stats().repairs_mismatched << " out of window "
                    << dec.stats().repairs_out_of_window);
    CHECK(dec.stats().packets_recovered > 300); // of about 400 lost (5 %)
    // The stranger never became the source, and its packets were not kept.
    CHECK(s.source_changes == 1);
    CHECK(s.packets_foreign > 0);
    CHECK(dec.stats().media_ignored > 7'000);
    // Every forged repair after the listener chose its source was dropped
    // on arrival (but the 5 % the network lost).
    CHECK(dec.stats().repairs_foreign > forged_repairs * 9 / 10);
    // What the sender's own repairs rebuilt is all that was rebuilt, and
    // the recording is the source but for what stayed lost.
    CHECK(s.packets_rebuilt == dec.stats().packets_recovered);
    CHECK(s.packets_received + s.packets_lost == sent);
    // Nor did a repair rebuild a packet the listener had (one the flood kept
    // out of the decoder's window before the listener chose its source).
    CHECK(s.packets_duplicate == 0);
    CHECK(s.packets_lost <= sent / 250);
    CHECK(frames_differing(r.played, r.source) <= s.packets_lost * (48 + 2 * 48));
}

TEST_CASE("parity FEC stream: a listener that joins in the middle of a matrix, with its repairs "
          "for packets it never had still coming, rebuilds only what it lost since, on time")
{
    audiocast::network_faults faults;
    faults.loss = 0.05;
    audiocast::manual_clock clock;
    audiocast::loopback_group media{clock, faults, 31}, columns{clock, faults, 32},
        rows{clock, faults, 33};
    const auto config = matrix(10, 10);
    fec_stream::sender tx{fec_loopback::sender(media.join(), columns.join(), rows.join(), config),
                          lossy_fec_run::codec(), clock, lossy_fec_run::sender_config()};
    std::optional<fec_stream::receiver> late;
    const auto source = audiocast_test::make_source(48 * 3'000, 2);
    std::vector<std::int16_t> played, block(96);
    std::size_t written = 0;
    for (std::size_t ms = 0; ms < 3'000 + 600; ++ms) {
        // 1,234 packets in: the 13th matrix's 35th packet, its row 3 half
        // sent, the 12th matrix's column repairs still to come.
        if (ms == 1'234)
            late.emplace(fec_loopback::receiver(media.join(), columns.join(), rows.join(), config),
                         lossy_fec_run::codec(), clock, lossy_fec_run::receiver_config());
        if (written * 2 < source.size())
            written += tx.write(std::span<const std::int16_t>{source}.subspan(written * 2));
        tx.poll();
        if (late) {
            late->poll();
            late->pull(std::span<std::int16_t>{block});
            played.insert(played.end(), block.begin(), block.end());
        }
        clock.advance(1ms);
    }
    REQUIRE(late);
    const auto s = late->stats();
    const auto& dec = *late->transport().decoder();
    INFO("received " << s.packets_received << ", lost " << s.packets_lost << ", rebuilt "
                     << dec.stats().packets_recovered << "; repairs "
                     << dec.stats().repairs_received << ", out of window "
                     << dec.stats().repairs_out_of_window << ", expired "
                     << dec.stats().repairs_expired);
    // What it heard from its first packet on, every packet accounted for,
    // none late or twice, and nothing from before it joined.
    CHECK(s.packets_received + s.packets_lost >= 3'000 - 1'234 - 2);
    CHECK(s.packets_received + s.packets_lost <= 3'000 - 1'234 + 2);
    CHECK(s.packets_late == 0);
    CHECK(s.packets_duplicate == 0);
    CHECK(s.resyncs == 0);
    CHECK(dec.stats().packets_recovered > 50); // of about 85 lost (5 %)
    CHECK(s.packets_lost <= 12);
    // The recording is the source from where it joined, but for what stayed lost.
    const auto t = audiocast_test::trimmed(played, 2);
    REQUIRE(t.size() >= 2 * 48);
    // (The source repeats itself: look where a listener joined 1,234 ms in can start.)
    const auto at =
        std::search(source.begin() + 2 * 48 * 1'200, source.end(), t.begin(), t.begin() + 2 * 48);
    REQUIRE(at != source.end());
    const auto first = static_cast<std::size_t>(at - source.begin()) / 2;
    std::size_t differing = 0;
    for (std::size_t f = first; f * 2 + 1 < source.size(); ++f) {
        const std::size_t i = (f - first) * 2;
        if (i + 1 >= t.size() || t[i] != source[f * 2] || t[i + 1] != source[f * 2 + 1])
            ++differing;
    }
    CHECK(first >= 48 * 1'230);
    CHECK(differing <= s.packets_lost * (48 + 2 * 48));
}
