#include <audiocast/session/sender_session.hpp>

#include <audiocast/codec/pcm.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using audiocast::pcm_codec;
using audiocast::sender_config;
using audiocast::time_point;
using audiocast::wall_time;
using session = audiocast::sender_session<pcm_codec>;

namespace {

sender_config fixed(std::uint16_t seq = 100, std::uint32_t ts = 1000)
{
    sender_config c;
    c.ssrc = 0xDEADBEEF;
    c.initial_sequence = seq;
    c.initial_timestamp = ts;
    return c;
}

const time_point t0{std::chrono::seconds{1000}};
const wall_time w0{std::chrono::seconds{1'800'000'000}};

std::vector<std::int16_t> frames(std::size_t n, unsigned channels = 2)
{
    return std::vector<std::int16_t>(n * channels, 1);
}

audiocast::rtp::packet_view take(session& s, time_point now, std::vector<std::byte>& buf)
{
    buf.resize(s.max_packet_bytes());
    const auto n = s.next_packet(now, w0 + (now - t0), buf);
    REQUIRE(n > 0);
    buf.resize(n);
    return audiocast::rtp::parse(buf);
}

} // namespace

TEST_CASE("sender draws SSRC, sequence number and timestamp at random unless told")
{
    session a{pcm_codec{}};
    session b{pcm_codec{}};
    session c{pcm_codec{}};
    // Three equal 96-bit draws would mean the randomness is broken.
    CHECK_FALSE((a.ssrc() == b.ssrc() && b.ssrc() == c.ssrc() &&
                 a.next_sequence() == b.next_sequence() &&
                 a.next_timestamp() == b.next_timestamp()));
    session d{pcm_codec{}, fixed(7, 9)};
    CHECK(d.ssrc() == 0xDEADBEEF);
    CHECK(d.next_sequence() == 7);
    CHECK(d.next_timestamp() == 9);
}

TEST_CASE("sender chooses RFC 3551 static payload types where they apply")
{
    CHECK(audiocast::default_payload_type({audiocast::sample_format::l16, 44'100, 2}) == 10);
    CHECK(audiocast::default_payload_type({audiocast::sample_format::l16, 44'100, 1}) == 11);
    CHECK(audiocast::default_payload_type({audiocast::sample_format::l16, 48'000, 2}) == 96);
    CHECK(audiocast::default_payload_type({audiocast::sample_format::l24, 44'100, 2}) == 96);
}

TEST_CASE("sender packetizes with consecutive sequence numbers and timestamps")
{
    session s{pcm_codec{}, fixed()};
    const auto in = frames(240 * 3 + 100);
    CHECK(s.write(std::span<const std::int16_t>{in}, t0) == 820);
    CHECK(s.queued_packets() == 3);

    std::vector<std::byte> buf;
    for (std::uint16_t i = 0; i < 3; ++i) {
        const auto p = take(s, t0 + i * 5ms, buf);
        CHECK(p.hdr.sequence == 100 + i);
        CHECK(p.hdr.timestamp == 1000u + 240u * i);
        CHECK(p.hdr.ssrc == 0xDEADBEEF);
        CHECK(p.hdr.payload_type == 96);
        CHECK(p.hdr.marker == (i == 0)); // the stream starts with a talkspurt
        CHECK(p.payload.size() == 960);
        REQUIRE(p.hdr.send_time);
        CHECK(audiocast::ntp::to_wall(*p.hdr.send_time) == w0 + i * 5ms);
    }
    CHECK(s.position() == 720);
}

TEST_CASE("sender paces packets at absolute deadlines")
{
    session s{pcm_codec{}, fixed()};
    const auto in = frames(240 * 10);
    s.write(std::span<const std::int16_t>{in}, t0);
    std::vector<std::byte> buf(s.max_packet_bytes());
    for (int i = 0; i < 10; ++i) {
        const auto due = t0 + i * 5ms;
        REQUIRE(s.next_due() == due);
        CHECK(s.next_packet(due - 1ns, w0, buf) == 0);
        // Taken a little late, the next deadline does not move.
        CHECK(s.next_packet(due + 300us, w0, buf) > 0);
    }
    CHECK(s.stats().lateness.max() == 300us);
    CHECK(s.stats().schedule_slips == 0);
}

TEST_CASE("sender moves its schedule instead of bursting when far behind, and its RTP timestamp "
          "with it, so that the media clock keeps wall time")
{
    session s{pcm_codec{}, fixed()};
    const auto in = frames(240 * 10);
    s.write(std::span<const std::int16_t>{in}, t0);
    std::vector<std::byte> buf;
    CHECK(take(s, t0, buf).hdr.timestamp == 1000);
    // The second packet was due at t0 + 5 ms; it is taken 95 ms late.
    const auto late = t0 + 100ms;
    const auto p = take(s, late, buf);
    CHECK(s.stats().schedule_slips == 1);
    CHECK(s.stats().slipped == 95ms);
    // Its timestamp is the one its send time has on the media clock: a gap
    // of 95 ms (4560 frames at 48 kHz) that every listener hears at once.
    // Unlike a resume it is not marked: no talkspurt the sender chose, so a
    // listener that ran dry meanwhile counts an underrun.
    CHECK(p.hdr.timestamp == 1000 + 240 + 4560);
    CHECK_FALSE(p.hdr.marker);
    CHECK(p.hdr.sequence == 101);
    buf.resize(s.max_packet_bytes());
    CHECK(s.next_packet(late, w0, buf) == 0);
    CHECK(s.next_due() == late + 5ms);
    CHECK(take(s, late + 5ms, buf).hdr.timestamp == 1000 + 480 + 4560);
    CHECK_FALSE(buf.empty());
    // The report maps its media clock onto wall time as before the slip:
    // the timestamp the first packet's pace gives at the report's time.
    const auto due = s.next_report_due();
    REQUIRE(due);
    REQUIRE(*due > late);
    std::vector<std::byte> report(1500);
    std::error_code ec;
    const std::size_t n = s.write_report(*due, w0 + (*due - t0), report, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n > 0);
    std::optional<audiocast::rtcp::sender_info> sr;
    audiocast::rtcp::parse_compound(std::span<const std::byte>{report.data(), n}, ec,
                                    [&](const audiocast::rtcp::packet_view& v) {
                                        if (const auto info = v.sender()) sr = *info;
                                    });
    REQUIRE(sr);
    const auto frames_since_t0 = std::chrono::duration<double>(*due - t0).count() * 48'000;
    CHECK(sr->rtp_timestamp == 1000 + static_cast<std::uint32_t>(std::llround(frames_since_t0)));
}

TEST_CASE("sender numbers wrap at 2^16 and 2^32")
{
    session s{pcm_codec{}, fixed(65'535, 0xFFFF'FFA0u)};
    const auto in = frames(480);
    s.write(std::span<const std::int16_t>{in}, t0);
    std::vector<std::byte> buf;
    auto p = take(s, t0, buf);
    CHECK(p.hdr.sequence == 65'535);
    CHECK(p.hdr.timestamp == 0xFFFF'FFA0u);
    p = take(s, t0 + 5ms, buf);
    CHECK(p.hdr.sequence == 0);
    CHECK(p.hdr.timestamp == 0x90u); // 0xFFFFFFA0 + 240 mod 2^32
}

TEST_CASE("pause holds packets, play resumes with marker, continuous sequence and a timestamp jump")
{
    session s{pcm_codec{}, fixed()};
    const auto in = frames(240 * 4);
    s.write(std::span<const std::int16_t>{in}, t0);
    std::vector<std::byte> buf;
    take(s, t0, buf);
    take(s, t0 + 5ms, buf);

    s.pause(t0 + 10ms);
    s.pause(t0 + 11ms); // no-op: the pause started at 10 ms
    CHECK(s.paused());
    CHECK_FALSE(s.next_due());
    std::vector<std::byte> raw(s.max_packet_bytes());
    CHECK(s.next_packet(t0 + 500ms, w0, raw) == 0);
    CHECK(s.position() == 480);

    s.play(t0 + 2010ms);
    s.play(t0 + 2500ms); // no-op
    CHECK(s.next_due() == t0 + 2010ms);
    const auto p = take(s, t0 + 2010ms, buf);
    CHECK(p.hdr.marker);
    CHECK(p.hdr.sequence == 102);
    // The packet was due at 10 ms and leaves at 2010 ms: 2 s = 96000 frames later.
    CHECK(p.hdr.timestamp == 1000u + 480u + 96'000u);
    const auto q = take(s, t0 + 2015ms, buf);
    CHECK_FALSE(q.hdr.marker);
    CHECK(q.hdr.timestamp == p.hdr.timestamp + 240u);
}

TEST_CASE("sender accepts only what its queue holds")
{
    sender_config cfg = fixed();
    cfg.queue_packets = 4;
    session s{pcm_codec{}, cfg};
    const auto in = frames(2000);
    CHECK(s.writable_frames() == 960);
    CHECK(s.write(std::span<const std::int16_t>{in}, t0) == 960);
    CHECK(s.write(std::span<const std::int16_t>{in}, t0) == 0);
    std::vector<std::byte> buf(s.max_packet_bytes());
    s.next_packet(t0, w0, buf);
    CHECK(s.writable_frames() == 240);
}

TEST_CASE("sender flushes a partial packet at the end of a source")
{
    session s{pcm_codec{}, fixed()};
    const auto in = frames(300);
    s.write(std::span<const std::int16_t>{in}, t0);
    s.flush(t0);
    std::vector<std::byte> buf;
    CHECK(take(s, t0, buf).payload.size() == 960);
    CHECK(take(s, t0 + 5ms, buf).payload.size() == 60 * 4);
}

TEST_CASE("sender refuses a write that is not whole frames")
{
    session s{pcm_codec{}, fixed()};
    const std::vector<std::int16_t> odd(3, 1);
    std::error_code ec;
    CHECK(s.write(std::span<const std::int16_t>{odd}, t0, ec) == 0);
    CHECK(ec == audiocast::errc::frames_not_whole);
    CHECK_THROWS_WITH(s.write(std::span<const std::int16_t>{odd}, t0),
                      Catch::Contains("3 samples"));
}

TEST_CASE("as-written pacing sends each packet as soon as its frames arrive")
{
    sender_config cfg = fixed();
    cfg.pacing = audiocast::pacing_mode::as_written;
    session s{pcm_codec{}, cfg};
    const auto in = frames(240);
    s.write(std::span<const std::int16_t>{in}, t0);
    s.write(std::span<const std::int16_t>{in}, t0 + 1ms);
    CHECK(s.next_due() == t0);
    std::vector<std::byte> buf;
    take(s, t0, buf);
    CHECK(s.next_due() == t0 + 1ms);
}

TEST_CASE(
    "a live source's audio captured while paused is dropped, and the timestamp moves on by it")
{
    sender_config cfg = fixed();
    cfg.pacing = audiocast::pacing_mode::as_written;
    session s{pcm_codec{}, cfg};
    const auto in = frames(240);
    std::vector<std::byte> buf;
    s.write(std::span<const std::int16_t>{in}, t0);
    take(s, t0, buf);
    s.write(std::span<const std::int16_t>{in}, t0 + 5ms);
    s.pause(t0 + 7ms); // drops the queued packet
    for (int i = 2; i < 100; ++i)
        CHECK(s.write(std::span<const std::int16_t>{in}, t0 + i * 5ms) == 240);
    CHECK(s.queued_packets() == 0);
    s.play(t0 + 500ms);
    s.write(std::span<const std::int16_t>{in}, t0 + 500ms);
    const auto p = take(s, t0 + 500ms, buf);
    CHECK(p.hdr.marker);
    CHECK(p.hdr.sequence == 101);
    CHECK(p.hdr.timestamp == 1000u + 100u * 240u);
    CHECK(s.stats().schedule_slips == 0);
}

TEST_CASE("sender refuses an invalid configuration, naming the value")
{
    sender_config cfg = fixed();
    cfg.payload_type = 128;
    CHECK_THROWS_WITH((session{pcm_codec{}, cfg}), Catch::Contains("128"));
    cfg = fixed();
    cfg.send_time_extension_id = 15;
    std::error_code ec;
    session::validate(cfg, ec);
    CHECK(ec == audiocast::errc::invalid_header_extension);
    CHECK_THROWS_WITH((session{pcm_codec{}, cfg}), Catch::Contains("15"));
}

TEST_CASE("an hour of pacing at 44.1 kHz keeps every deadline to the nanosecond")
{
    // 220 frames at 44.1 kHz is 4988662.13 ns: adding packet times would drift
    // by 0.13 ns a packet, 94 us an hour. Deadlines come from the frame count.
    audiocast::pcm_config c;
    c.format.sample_rate = 44'100;
    session s{pcm_codec{c}, fixed()};
    const auto block = frames(220);
    std::vector<std::byte> buf(s.max_packet_bytes());
    std::uint64_t sent = 0;
    std::uint64_t off_schedule = 0;
    while (sent * 220 < 44'100ull * 3600) {
        s.write(std::span<const std::int16_t>{block}, t0);
        const auto due = s.next_due();
        if (!due || *due != t0 + audiocast::duration_of(sent * 220, 44'100)) ++off_schedule;
        // Taken 50 us late every time; the schedule must not move.
        if (s.next_packet(*due + 50us, w0, buf) == 0) break;
        ++sent;
    }
    CHECK(off_schedule == 0);
    CHECK(sent == 721'637);
    CHECK(s.next_due() == std::nullopt);
    CHECK(s.stats().lateness.max() == 50us);
    CHECK(s.stats().schedule_slips == 0);
}
