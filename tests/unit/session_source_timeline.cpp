#include <audiocast/session/source_timeline.hpp>

#include <catch2/catch.hpp>

#include <cstdint>

using audiocast::source_timeline;
using verdict = audiocast::source_timeline::verdict;

namespace {

constexpr std::uint32_t frames = 240;
constexpr std::uint64_t window = 6720; // 140 ms at 48 kHz

/// A stream of 240-frame packets from sequence 1000, timestamp 50'000.
struct stream {
    source_timeline t{window};
    std::uint16_t seq = 1000;
    std::uint32_t ts = 50'000;
    source_timeline::placement where;

    verdict next()
    {
        const std::uint32_t now = ts;
        ts += frames;
        return at(seq++, now);
    }
    verdict at(std::uint16_t s, std::uint32_t timestamp)
    {
        return t.on_packet(s, timestamp, frames, where);
    }
};

} // namespace

TEST_CASE("packets in sequence continue the timeline and are counted", "[source_timeline]")
{
    stream s;
    CHECK(s.next() == verdict::first);
    const auto start = s.where.position;
    for (std::uint64_t i = 1; i < 10; ++i) {
        CHECK(s.next() == verdict::continues);
        CHECK(s.where.position == start + i * frames);
    }
    CHECK(s.t.received() == 10);
    CHECK(s.t.lost() == 0);
    CHECK(s.t.discarded() == 0);
}

TEST_CASE("the second packet may begin up to half a packet before the first one ends, as "
          "GStreamer's second Opus packet does, and no later one may",
          "[source_timeline]")
{
    stream s;
    CHECK(s.next() == verdict::first);
    const auto start = s.where.position;
    // The first packet was stamped 100 frames early: the second overlaps it.
    s.ts -= 100;
    CHECK(s.next() == verdict::continues);
    CHECK(s.where.position == start + frames - 100);
    CHECK(s.next() == verdict::continues);
    CHECK(s.t.discarded() == 0);
    CHECK(s.t.lost() == 0);

    // A copy of the first packet before the second changes nothing.
    stream d;
    d.next();
    const std::uint16_t first_seq = d.seq - 1;
    CHECK(d.at(first_seq, d.ts - frames) == verdict::duplicate);
    d.ts -= 100;
    CHECK(d.next() == verdict::continues);

    // Later, an overlap is no continuation: a jump to confirm, so that a
    // forged packet cannot push out the real next one.
    s.ts -= 100;
    CHECK(s.next() == verdict::held_jump);

    stream t;
    t.next();
    t.ts -= frames / 2 + 1; // more than half a packet back
    CHECK(t.next() == verdict::held_jump);
}

TEST_CASE("a packet after a few lost ones is believed when its timestamp fits the gap",
          "[source_timeline]")
{
    stream s;
    s.next();
    s.next();
    s.seq += 3;
    s.ts += 3 * frames;
    CHECK(s.next() == verdict::after_gap);
    CHECK(s.t.lost() == 3);
    // The lost ones, late: reordered, and the loss is made good.
    CHECK(s.at(1002, 50'000 + 2 * frames) == verdict::reordered);
    CHECK(s.t.lost() == 2);
    CHECK(s.at(1002, 50'000 + 2 * frames) == verdict::duplicate);
}

TEST_CASE("the next sequence number with a timestamp that does not follow is held until the next "
          "packet confirms it",
          "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    const std::uint32_t real_ts = s.ts;
    SECTION("a forgery: the real packet with the same number is believed, the forgery dropped")
    {
        CHECK(s.at(s.seq, real_ts + 0x8000'0000u) == verdict::held_jump);
        CHECK(s.t.discarded() == 1);
        CHECK(s.next() == verdict::continues);
        CHECK(s.t.discarded() == 1);
        CHECK(s.next() == verdict::continues);
        CHECK(s.t.lost() == 0);
        CHECK(s.t.received() == 7);
    }
    SECTION("a real jump (a pause): confirmed by the next packet, both placed")
    {
        s.ts += 48'000;
        CHECK(s.next() == verdict::held_jump);
        CHECK(s.next() == verdict::confirmed_jump);
        CHECK(s.t.held().position + frames == s.where.position);
        CHECK_FALSE(s.t.restarted());
        CHECK(s.t.discarded() == 0);
        CHECK(s.t.received() == 7);
        CHECK(s.t.lost() == 0);
    }
}

TEST_CASE("a sender that slipped its schedule: the packet after the slip is held, and a later "
          "packet confirms it across lost ones",
          "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    SECTION("slipped by 960 frames (20 ms), the next packet lost: the one after it confirms it")
    {
        s.ts += 960;
        CHECK(s.next() == verdict::held_jump);
        const auto held_sequence = s.t.tracker().extended_of(static_cast<std::uint16_t>(s.seq - 1));
        s.seq++; // lost
        s.ts += frames;
        CHECK(s.next() == verdict::confirmed_jump);
        CHECK(s.t.held().sequence == held_sequence);
        CHECK(s.where.sequence == held_sequence + 2);
        CHECK(s.t.discarded() == 0);
        CHECK(s.t.lost() == 1);
        CHECK(s.t.received() == 7);
    }
    SECTION("slipped by 2000 frames, the next three lost: the fourth confirms it")
    {
        s.ts += 2000;
        CHECK(s.next() == verdict::held_jump);
        s.seq += 3;
        s.ts += 3 * frames;
        CHECK(s.next() == verdict::confirmed_jump);
        CHECK(s.t.lost() == 3);
        CHECK(s.t.discarded() == 0);
    }
    SECTION("a later packet further on than the packets between could take does not confirm it")
    {
        s.ts += 960;
        CHECK(s.next() == verdict::held_jump);
        s.seq += 1;
        s.ts += 3 * frames; // one packet lost, yet three packets' frames on
        CHECK(s.next() == verdict::held_jump);
        CHECK(s.t.discarded() == 2); // the first held one, and this one while held
    }
    SECTION("slipped by less than a packet: the next packet fits the stream after the newest, so "
            "it is believed alone and the slipped one dropped, as a forgery would be")
    {
        // A slip this small looks like a packet forged a few frames off; the
        // rule that drops the forgery costs the slip its one packet.
        s.ts += 100;
        CHECK(s.next() == verdict::held_jump);
        CHECK(s.next() == verdict::after_gap);
        CHECK(s.t.discarded() == 1);
    }
}

TEST_CASE("a packet forged a few frames off with the next sequence number is never confirmed by "
          "real packets that fit the stream, however they arrive",
          "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    const std::uint16_t n = s.seq;
    const std::uint32_t e = s.ts;
    SECTION("its real packet lost: the real next one, a packet on, is no confirmation")
    {
        CHECK(s.at(n, e + 7) == verdict::held_jump);
        CHECK(s.at(static_cast<std::uint16_t>(n + 1), e + frames) == verdict::after_gap);
        CHECK(s.t.discarded() == 1);
        CHECK(s.t.lost() == 1);
    }
    SECTION("stamped inside the newest packet, two real ones lost: the third drops it")
    {
        CHECK(s.at(n, e - 100) == verdict::held_jump);
        CHECK(s.at(static_cast<std::uint16_t>(n + 2), e + 2 * frames) == verdict::after_gap);
        CHECK(s.t.discarded() == 1);
        CHECK(s.t.lost() == 2);
    }
    SECTION("a real packet two on arrives before the forged number's own: the forgery is dropped "
            "and the real one still placed")
    {
        CHECK(s.at(n, e + 100) == verdict::held_jump);
        CHECK(s.at(static_cast<std::uint16_t>(n + 2), e + 2 * frames) == verdict::after_gap);
        CHECK(s.at(n, e) == verdict::reordered);
        CHECK(s.at(static_cast<std::uint16_t>(n + 1), e + frames) == verdict::reordered);
        CHECK(s.t.discarded() == 1);
        CHECK(s.t.lost() == 0);
        CHECK(s.t.tracker().duplicates() == 0);
    }
    SECTION("of the length of two packets, the two real ones lost: the third drops it")
    {
        source_timeline::placement where;
        CHECK(s.t.on_packet(n, e + 1, 2 * frames - 1, where) == verdict::held_jump);
        CHECK(s.at(static_cast<std::uint16_t>(n + 2), e + 2 * frames) == verdict::after_gap);
        CHECK(s.t.discarded() == 1);
        CHECK(s.t.lost() == 2);
    }
    SECTION("one number further ahead, four real ones late: all four are placed")
    {
        CHECK(s.at(static_cast<std::uint16_t>(n + 1), e + 2 * frames + 1) == verdict::held_jump);
        CHECK(s.at(static_cast<std::uint16_t>(n + 4), e + 4 * frames) == verdict::after_gap);
        for (std::uint16_t k = 0; k < 4; ++k)
            CHECK(s.at(static_cast<std::uint16_t>(n + k), e + k * frames) == verdict::reordered);
        CHECK(s.t.discarded() == 1);
        CHECK(s.t.tracker().duplicates() == 0);
    }
}

TEST_CASE(
    "a lone packet far ahead in sequence changes nothing, and a confirmed one counts its gap as "
    "loss, or restarts the count beyond MAX_DROPOUT",
    "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    SECTION("lone, 500 ahead with a consistent timestamp")
    {
        CHECK(s.at(static_cast<std::uint16_t>(s.seq + 500), s.ts + 500 * frames) ==
              verdict::held_jump);
        for (int i = 0; i < 5; ++i)
            CHECK(s.next() == verdict::continues);
        CHECK(s.t.lost() == 0);
        CHECK(s.t.discarded() == 1);
    }
    SECTION("confirmed, 500 ahead: 500 lost")
    {
        s.seq += 500;
        s.ts += 500 * frames;
        CHECK(s.next() == verdict::held_jump);
        CHECK(s.next() == verdict::confirmed_jump);
        CHECK_FALSE(s.t.restarted());
        CHECK(s.t.lost() == 500);
    }
    SECTION("confirmed, 5000 ahead: a restarted sequence")
    {
        s.seq += 5000;
        s.ts += 12'345;
        CHECK(s.next() == verdict::held_jump);
        CHECK(s.next() == verdict::confirmed_jump);
        CHECK(s.t.restarted());
        CHECK(s.t.lost() == 0);
        CHECK(s.t.received() == 6); // A.1 does not count the first of the pair
    }
}

TEST_CASE("near ahead in sequence but not where its number puts it on the timeline is a jump",
          "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    CHECK(s.at(static_cast<std::uint16_t>(s.seq + 20), s.ts + 0x7000'0000u) == verdict::held_jump);
    CHECK(s.at(static_cast<std::uint16_t>(s.seq + 20), s.ts - 5000) == verdict::held_jump);
    // Ahead by more than the window, though consistent.
    CHECK(s.at(static_cast<std::uint16_t>(s.seq + 40), s.ts + 40 * frames) == verdict::held_jump);
    // Near and consistent: believed, as loss would be.
    CHECK(s.at(static_cast<std::uint16_t>(s.seq + 20), s.ts + 20 * frames) == verdict::after_gap);
}

TEST_CASE("an older packet placed after the newest one is discarded", "[source_timeline]")
{
    stream s;
    for (int i = 0; i < 5; ++i)
        s.next();
    s.seq++; // 1005 lost
    s.ts += frames;
    s.next();
    CHECK(s.at(1005, s.ts + 10 * frames) == verdict::discarded);
    CHECK(s.at(1005, 50'000 + 5 * frames) == verdict::reordered); // where it belongs
    CHECK(s.t.discarded() == 1);
    CHECK(s.t.lost() == 0);
}

TEST_CASE("sequence and timestamp wraps are continuous", "[source_timeline]")
{
    stream s;
    s.seq = 65'530;
    s.ts = 0xFFFF'FF00u;
    for (int i = 0; i < 20; ++i)
        CHECK(s.next() == (i == 0 ? verdict::first : verdict::continues));
    CHECK(s.t.lost() == 0);
    CHECK(s.t.received() == 20);
}
