#include <audiocast/session/rtcp_schedule.hpp>

#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast::pcm_codec;
using audiocast::time_point;
using audiocast::wall_time;
using sender = audiocast::sender_session<pcm_codec>;
using receiver = audiocast::receiver_session<pcm_codec>;
namespace rtcp = audiocast::rtcp;

namespace {

const time_point t0{std::chrono::seconds{1000}};
const wall_time w0{std::chrono::seconds{1'800'000'000}};

// The wall clock and the monotonic clock of one host, moving together.
wall_time wall_at(time_point t)
{
    return w0 + (t - t0);
}

audiocast::sender_config sender_ids(bool send_time = true)
{
    audiocast::sender_config c;
    c.ssrc = 0x5E5E5E5E;
    c.initial_sequence = 100;
    c.initial_timestamp = 1'000;
    c.cname = "sender@test";
    c.send_time_extension = send_time;
    return c;
}

audiocast::receiver_config receiver_ids(std::uint32_t ssrc = 0x0E0E0E0E)
{
    audiocast::receiver_config c;
    c.ssrc = ssrc;
    c.cname = "listener-" + std::to_string(ssrc);
    return c;
}

/// One sender feeding receivers directly, with a fixed one-way delay.
struct direct_link {
    sender tx{pcm_codec{}, sender_ids()};
    std::vector<std::int16_t> silence = std::vector<std::int16_t>(240 * 2, 100);
    std::vector<std::byte> packet = std::vector<std::byte>(tx.max_packet_bytes());

    /// Sends 5 ms packets from `from` to `to`, handing each to `deliver`
    /// unless `drop(sequence index)` says it is lost.
    template <class Deliver, class Drop>
    void run(time_point from, time_point to, Deliver&& deliver, Drop&& drop)
    {
        std::uint64_t index = 0;
        for (time_point now = from; now < to; now += 5ms) {
            tx.write(std::span<const std::int16_t>{silence}, now);
            const std::size_t n = tx.next_packet(now, wall_at(now), packet);
            if (n == 0) continue;
            if (!drop(index++)) deliver(std::span<const std::byte>{packet.data(), n}, now);
        }
    }
};

std::vector<rtcp::packet_view> packets_of(std::span<const std::byte> datagram)
{
    std::vector<rtcp::packet_view> out;
    std::error_code ec;
    rtcp::parse_compound(datagram, ec, [&](const rtcp::packet_view& p) { out.push_back(p); });
    REQUIRE_FALSE(ec);
    return out;
}

} // namespace

TEST_CASE("the report interval follows RFC 3550 A.7")
{
    const audiocast::rtcp_timing timing{.session_bytes_per_s = 200'000, .minimum = 5s};
    SECTION("a small session reports at the minimum, the first report at half of it")
    {
        CHECK(audiocast::rtcp_deterministic_interval(timing, 4, 1, false, 100, false) == 5s);
        CHECK(audiocast::rtcp_deterministic_interval(timing, 4, 1, false, 100, true) == 2500ms);
    }
    SECTION("10 000 listeners share 75 % of 5 % of the bandwidth")
    {
        // 100 bytes x 10 000 receivers / (200 000 x 0.05 x 0.75) = 133.3 s
        const auto td =
            audiocast::rtcp_deterministic_interval(timing, 10'001, 1, false, 100, false);
        CHECK(td > 133s);
        CHECK(td < 134s);
        // The one sender keeps a quarter to itself: 100 / 2500 = 40 ms, so the minimum.
        CHECK(audiocast::rtcp_deterministic_interval(timing, 10'001, 1, true, 100, false) == 5s);
    }
    SECTION("each interval is randomized over [0.5, 1.5] Td / (e - 3/2)")
    {
        audiocast::rtcp_schedule s{timing, 42};
        s.start(t0, 2, 1, false);
        time_point last = t0;
        CHECK(s.next() - t0 >= 2500ms * 0.5 / 1.2183);
        CHECK(s.next() - t0 <= 2500ms * 1.5 / 1.2183);
        std::chrono::nanoseconds shortest = 1h, longest{};
        for (int i = 0; i < 200; ++i) {
            last = s.next();
            s.sent(last, 72, 2, 1, false);
            shortest = std::min(shortest, s.next() - last);
            longest = std::max(longest, s.next() - last);
        }
        CHECK(shortest >= 5s * 0.5 / 1.2183);
        CHECK(longest <= 5s * 1.5 / 1.2183);
        CHECK(longest - shortest > 2s); // they do vary
    }
}

TEST_CASE("a sender reports nothing before its first packet, then an SR with its CNAME")
{
    direct_link l;
    std::array<std::byte, sender::rtcp_report_bytes()> out{};
    std::error_code ec;
    CHECK_FALSE(l.tx.next_report_due());
    CHECK(l.tx.write_report(t0 + 10s, w0, out, ec) == 0);

    l.run(t0, t0 + 1s, [](auto, auto) {}, [](std::uint64_t) { return false; });
    REQUIRE(l.tx.next_report_due());
    const time_point due = *l.tx.next_report_due();
    CHECK(due - t0 >= 1s);
    CHECK(due - t0 <= 3100ms);

    const time_point now = std::max(due, t0 + 995ms);
    const std::size_t n = l.tx.write_report(now, wall_at(now), out, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n > 0);
    const auto packets = packets_of(std::span<const std::byte>{out.data(), n});
    REQUIRE(packets.size() == 2);
    const auto info = packets[0].sender();
    REQUIRE(info);
    CHECK(packets[0].ssrc() == 0x5E5E5E5Eu);
    CHECK(info->ntp == audiocast::ntp::from_wall(wall_at(now)));
    // The media clock: 1000 at t0, 48 000 per second.
    // The media clock: 1000 at t0, 48 000 per second (within a frame of rounding).
    const auto media = static_cast<std::int64_t>(1'000 + audiocast::frames_in(now - t0, 48'000));
    CHECK(static_cast<std::int64_t>(info->rtp_timestamp) - media <= 1);
    CHECK(static_cast<std::int64_t>(info->rtp_timestamp) - media >= -1);
    CHECK(info->packet_count == 200);
    CHECK(info->octet_count == 200 * 960);
    std::string name;
    packets[1].for_each_cname([&](std::uint32_t, std::string_view c) { name = c; });
    CHECK(name == "sender@test");
    CHECK(l.tx.stats().reports_sent == 1);
    CHECK(*l.tx.next_report_due() > now);
}

TEST_CASE("a receiver reports loss, the highest sequence, jitter and LSR/DLSR of its source")
{
    direct_link l;
    receiver rx{pcm_codec{}, receiver_ids()};
    // 400 packets over 2 s, every 10th lost, each arriving 3 or 4 ms after it
    // left in turn, so the jitter is not zero.
    int turn = 0;
    l.run(
        t0, t0 + 2s,
        [&](std::span<const std::byte> p, time_point sent) {
            const auto delay = (turn++ % 2 == 0) ? 3ms : 4ms;
            rx.on_datagram(p, sent + delay, wall_at(sent + delay));
        },
        [](std::uint64_t i) { return i % 10 == 5; });

    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const time_point sr_time = *l.tx.next_report_due();
    const std::size_t sr_size = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    REQUIRE(sr_size > 0);
    rx.on_control(std::span<const std::byte>{sr.data(), sr_size}, sr_time + 3ms,
                  wall_at(sr_time + 3ms));

    const time_point now = std::max(*rx.next_report_due(), sr_time + 1500ms);
    std::array<std::byte, receiver::rtcp_report_bytes()> rr{};
    const std::size_t n = rx.write_report(now, rr, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n > 0);
    const auto packets = packets_of(std::span<const std::byte>{rr.data(), n});
    REQUIRE(packets[0].type() == rtcp::type_rr);
    CHECK(packets[0].ssrc() == 0x0E0E0E0Eu);
    REQUIRE(packets[0].block_count() == 1);
    const rtcp::report_block b = packets[0].block(0);
    CHECK(b.ssrc == 0x5E5E5E5Eu);
    CHECK(b.highest_sequence == 100 + 399); // no wrap: cycles 0
    CHECK(b.cumulative_lost == 40);         // every 10th of 400
    CHECK(b.fraction_lost ==
          40 * 256 /
              400); // the first report: the whole run
                    // The same jitter the receiver's figures show, in timestamp units (48 a ms).
    CHECK(b.jitter > 0);
    CHECK(b.jitter == static_cast<std::uint32_t>(audiocast::frames_in(rx.stats().jitter, 48'000)));
    const auto sr_ntp = audiocast::ntp::from_wall(wall_at(sr_time));
    CHECK(b.last_sr == audiocast::ntp::short_form(sr_ntp));
    const auto dlsr = audiocast::ntp::from_short_duration(b.delay_since_last_sr);
    CHECK(dlsr - (now - (sr_time + 3ms)) < 20us);
    CHECK(dlsr - (now - (sr_time + 3ms)) > -20us);
    CHECK(rx.stats().sender_reports == 1);

    SECTION("the next report covers only its own interval")
    {
        l.run(
            now, now + 1s,
            [&](std::span<const std::byte> p, time_point sent) {
                rx.on_datagram(p, sent + 3ms, wall_at(sent + 3ms));
            },
            [](std::uint64_t) { return false; });
        const time_point later = *rx.next_report_due();
        const std::size_t m = rx.write_report(later, rr, ec);
        REQUIRE(m > 0);
        const rtcp::report_block next =
            packets_of(std::span<const std::byte>{rr.data(), m})[0].block(0);
        CHECK(next.fraction_lost == 0);
        CHECK(next.cumulative_lost == 40);
    }
}

TEST_CASE("a round trip shorter than RTCP's 1/65536 s resolution is zero, and one far below zero "
          "is unknown")
{
    direct_link l;
    receiver r{pcm_codec{}, receiver_ids(1)};
    l.run(
        t0, t0 + 1s,
        [&](std::span<const std::byte> p, time_point sent) {
            r.on_datagram(p, sent, wall_at(sent));
        },
        [](std::uint64_t) { return false; });
    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const time_point sr_time = *l.tx.next_report_due();
    const std::size_t sr_size = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    r.on_control(std::span<const std::byte>{sr.data(), sr_size}, sr_time, wall_at(sr_time));
    const time_point when = std::max(*r.next_report_due(), sr_time + 1s);
    std::array<std::byte, receiver::rtcp_report_bytes()> rr{};
    const std::size_t n = r.write_report(when, rr, ec);
    REQUIRE(n > 0);
    const auto round_trip_when_read_at = [&](wall_time arrival_wall) {
        l.tx.on_control(std::span<const std::byte>{rr.data(), n}, when, arrival_wall);
        const audiocast::participant* p = l.tx.listeners().find(1);
        REQUIRE(p != nullptr);
        return p->round_trip;
    };
    // The listener timed its delay on its own clock, a few microseconds
    // longer than the sender's wall clock saw: still no time on the wire.
    CHECK(round_trip_when_read_at(wall_at(when) - 20us) == std::chrono::nanoseconds::zero());
    CHECK(round_trip_when_read_at(wall_at(when) + 3ms) > 2900us);
    CHECK_FALSE(round_trip_when_read_at(wall_at(when) - 5ms).has_value());
}

TEST_CASE("a sender keeps the shortest of a listener's recent round trips, which its clock "
          "estimate rests on, beside the latest")
{
    direct_link l;
    receiver r{pcm_codec{}, receiver_ids(1)};
    l.run(
        t0, t0 + 1s,
        [&](std::span<const std::byte> p, time_point sent) {
            r.on_datagram(p, sent, wall_at(sent));
        },
        [](std::uint64_t) { return false; });
    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const time_point sr_time = *l.tx.next_report_due();
    const std::size_t sr_size = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    r.on_control(std::span<const std::byte>{sr.data(), sr_size}, sr_time, wall_at(sr_time));
    const time_point when = std::max(*r.next_report_due(), sr_time + 1s);
    std::array<std::byte, receiver::rtcp_report_bytes()> rr{};
    const std::size_t n = r.write_report(when, rr, ec);
    REQUIRE(n > 0);
    // The same report, arriving as if it had queued 3, 1, 7 and 4 ms.
    for (const auto queued : {3ms, 1ms, 7ms, 4ms})
        l.tx.on_control(std::span<const std::byte>{rr.data(), n}, when, wall_at(when) + queued);
    const audiocast::participant* p = l.tx.listeners().find(1);
    REQUIRE(p != nullptr);
    REQUIRE(p->round_trip);
    REQUIRE(p->shortest_recent_round_trip());
    CHECK(std::chrono::abs(*p->round_trip - 4ms) < 50us);
    CHECK(std::chrono::abs(*p->shortest_recent_round_trip() - 1ms) < 50us);
    // Eight later reports of 5 ms each push the 1 ms one out.
    for (int i = 0; i < 8; ++i)
        l.tx.on_control(std::span<const std::byte>{rr.data(), n}, when, wall_at(when) + 5ms);
    CHECK(std::chrono::abs(*p->shortest_recent_round_trip() - 5ms) < 50us);
}

TEST_CASE("a sender learns its listeners, their CNAMEs, loss and round trip, and forgets them")
{
    direct_link l;
    receiver a{pcm_codec{}, receiver_ids(1)};
    receiver b{pcm_codec{}, receiver_ids(2)};
    l.run(
        t0, t0 + 2s,
        [&](std::span<const std::byte> p, time_point sent) {
            a.on_datagram(p, sent + 1ms, wall_at(sent + 1ms));
            b.on_datagram(p, sent + 1ms, wall_at(sent + 1ms));
        },
        [](std::uint64_t) { return false; });
    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const time_point sr_time = *l.tx.next_report_due();
    const std::size_t sr_size = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    for (receiver* r : {&a, &b})
        r->on_control(std::span<const std::byte>{sr.data(), sr_size}, sr_time + 20ms,
                      wall_at(sr_time + 20ms));

    // Both listeners report at once; each report reaches the sender 20 ms later.
    const time_point when = std::max({*a.next_report_due(), *b.next_report_due(), sr_time + 1s});
    const time_point last_report = when + 20ms;
    for (receiver* r : {&a, &b}) {
        std::array<std::byte, receiver::rtcp_report_bytes()> rr{};
        const std::size_t n = r->write_report(when, rr, ec);
        REQUIRE(n > 0);
        l.tx.on_control(std::span<const std::byte>{rr.data(), n}, last_report,
                        wall_at(last_report));
    }
    const audiocast::listener_summary sum = l.tx.summarize(last_report);
    CHECK(sum.listeners == 2);
    CHECK(sum.worst_fraction_lost == 0);
    REQUIRE(sum.worst_round_trip);
    CHECK(*sum.worst_round_trip > 39ms); // 20 ms each way
    CHECK(*sum.worst_round_trip < 41ms);
    const audiocast::participant* first = l.tx.listeners().find(1);
    REQUIRE(first != nullptr);
    CHECK(first->cname() == "listener-1");

    SECTION("a listener that says BYE leaves at once")
    {
        std::array<std::byte, receiver::rtcp_report_bytes()> bye{};
        const std::size_t n = a.write_bye(bye, ec, "closing");
        REQUIRE(n > 0);
        l.tx.on_control(std::span<const std::byte>{bye.data(), n}, last_report,
                        wall_at(last_report));
        CHECK(l.tx.summarize(last_report).listeners == 1);
        CHECK(l.tx.listeners().find(1) == nullptr);
    }
    SECTION("a listener silent for five report intervals is forgotten")
    {
        CHECK(l.tx.summarize(last_report + 24s).listeners == 2);
        CHECK(l.tx.summarize(last_report + 26s).listeners == 0);
    }
}

TEST_CASE("a sender's BYE tells its receivers that the stream ended")
{
    direct_link l;
    receiver rx{pcm_codec{}, receiver_ids()};
    l.run(
        t0, t0 + 100ms,
        [&](std::span<const std::byte> p, time_point sent) {
            rx.on_datagram(p, sent, wall_at(sent));
        },
        [](std::uint64_t) { return false; });
    CHECK_FALSE(rx.stats().source_left);
    std::array<std::byte, sender::rtcp_report_bytes()> out{};
    std::error_code ec;
    const std::size_t n = l.tx.write_bye(t0 + 100ms, wall_at(t0 + 100ms), out, ec, "end of file");
    REQUIRE(n > 0);
    const auto packets = packets_of(std::span<const std::byte>{out.data(), n});
    REQUIRE(packets.size() == 3);
    CHECK(packets[2].bye_reason() == "end of file");
    rx.on_control(std::span<const std::byte>{out.data(), n}, t0 + 101ms, wall_at(t0 + 101ms));
    CHECK(rx.stats().source_left);
}

TEST_CASE("without a send-time extension, latency is measured from sender reports")
{
    direct_link l;
    l.tx = sender{pcm_codec{}, sender_ids(false)};
    l.packet.resize(l.tx.max_packet_bytes());
    receiver rx{pcm_codec{}, receiver_ids()};
    const auto deliver = [&](std::span<const std::byte> p, time_point sent) {
        rx.on_datagram(p, sent + 7ms, wall_at(sent + 7ms));
    };
    const auto keep = [](std::uint64_t) { return false; };
    l.run(t0, t0 + 5ms, deliver, keep);
    const time_point sr_time = *l.tx.next_report_due(); // known from the first packet
    l.run(t0 + 5ms, t0 + ((sr_time - t0) / 5ms + 1) * 5ms, deliver, keep);
    CHECK(rx.stats().latency_samples == 0); // nothing to measure with yet

    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const std::size_t n = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    REQUIRE(n > 0);
    rx.on_control(std::span<const std::byte>{sr.data(), n}, sr_time + 7ms, wall_at(sr_time + 7ms));
    // Packets go on leaving at their deadlines, on the 5 ms grid from t0.
    const time_point next = t0 + ((sr_time - t0) / 5ms + 1) * 5ms;
    l.run(next, next + 1s, deliver, keep);

    const audiocast::receiver_stats s = rx.stats();
    CHECK(s.latency_from_sender_reports);
    CHECK(s.latency_samples > 150);
    CHECK(s.latency_p50 > 6900us);
    CHECK(s.latency_p50 < 7100us);
    CHECK(s.latency_max < 7100us);
}

TEST_CASE("control datagrams that are not RTCP are counted and change nothing")
{
    direct_link l;
    receiver rx{pcm_codec{}, receiver_ids()};
    const std::array<std::byte, 3> junk{std::byte{1}, std::byte{2}, std::byte{3}};
    rx.on_control(junk, t0, w0);
    l.tx.on_control(junk, t0, w0);
    CHECK(rx.stats().control_malformed == 1);
    CHECK(l.tx.stats().control_malformed == 1);
    CHECK(l.tx.listeners().empty());
    CHECK(rx.stats().sender_reports == 0);
}

TEST_CASE("a sender ignores its own reports heard back from the group")
{
    direct_link l;
    l.run(t0, t0 + 1s, [](auto, auto) {}, [](std::uint64_t) { return false; });
    std::array<std::byte, sender::rtcp_report_bytes()> out{};
    std::error_code ec;
    const time_point now = *l.tx.next_report_due();
    const std::size_t n = l.tx.write_report(now, wall_at(now), out, ec);
    l.tx.on_control(std::span<const std::byte>{out.data(), n}, now, wall_at(now));
    CHECK(l.tx.listeners().empty());
    CHECK(l.tx.stats().reports_received == 0);
}

TEST_CASE("RTCP settings out of range are refused, naming the value")
{
    audiocast::sender_config s;
    s.cname = std::string(256, 'c');
    std::error_code ec;
    sender::validate(s, ec);
    CHECK(ec == audiocast::errc::invalid_rtcp);
    CHECK_THROWS_WITH(sender::validate(s), Catch::Contains("CNAME of 256 bytes"));
    audiocast::receiver_config r;
    r.rtcp_minimum_interval = 0s;
    receiver::validate(r, ec);
    CHECK(ec == audiocast::errc::invalid_rtcp);
}

TEST_CASE("a sender report that comes before the sender's first packet is not lost")
{
    direct_link l;
    l.tx = sender{pcm_codec{}, sender_ids(false)};
    l.packet.resize(l.tx.max_packet_bytes());
    receiver rx{pcm_codec{}, receiver_ids()};
    const auto keep = [](std::uint64_t) { return false; };
    // The SR reaches the receiver before any packet does (as ffmpeg's first
    // SR does), then the packets.
    l.run(t0, t0 + 5ms, [](auto, auto) {}, keep);
    const time_point sr_time = *l.tx.next_report_due();
    l.run(t0 + 5ms, t0 + ((sr_time - t0) / 5ms + 1) * 5ms, [](auto, auto) {}, keep);
    std::array<std::byte, sender::rtcp_report_bytes()> sr{};
    std::error_code ec;
    const std::size_t n = l.tx.write_report(sr_time, wall_at(sr_time), sr, ec);
    rx.on_control(std::span<const std::byte>{sr.data(), n}, sr_time, wall_at(sr_time));
    CHECK(rx.stats().sender_reports == 0); // not yet the source
    const time_point next = t0 + ((sr_time - t0) / 5ms + 1) * 5ms;
    l.run(
        next, next + 500ms,
        [&](std::span<const std::byte> p, time_point sent) {
            rx.on_datagram(p, sent + 2ms, wall_at(sent + 2ms));
        },
        keep);
    const audiocast::receiver_stats s = rx.stats();
    CHECK(s.sender_reports == 1);
    CHECK(s.latency_from_sender_reports);
    CHECK(s.latency_p50 > 1900us);
    CHECK(s.latency_p50 < 2100us);
}

TEST_CASE("nobody says BYE for an SSRC that never sent anything (RFC 3550 6.3.7)")
{
    sender tx{pcm_codec{}, sender_ids()};
    receiver rx{pcm_codec{}, receiver_ids()};
    std::array<std::byte, sender::rtcp_report_bytes()> out{};
    std::error_code ec;
    CHECK(tx.write_bye(t0, w0, out, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(rx.write_bye(out, ec) == 0);
    CHECK_FALSE(ec);
}

TEST_CASE("a BYE with the longest CNAME and reason, and an answer to the most listeners' clock "
          "questions, fit rtcp_report_bytes(), the second exactly")
{
    audiocast::sender_config c = sender_ids();
    c.cname = std::string(255, 'c');
    c.clock_answers = audiocast::max_clock_answers_per_report;
    direct_link l;
    l.tx = sender{pcm_codec{}, c};
    l.packet.resize(l.tx.max_packet_bytes());
    l.run(t0, t0 + 10ms, [](auto, auto) {}, [](std::uint64_t) { return false; });
    std::array<std::byte, sender::rtcp_report_bytes()> out{};
    std::error_code ec;
    CHECK(l.tx.write_bye(t0 + 10ms, wall_at(t0 + 10ms), out, ec, std::string(255, 'r')) <=
          out.size());
    CHECK_FALSE(ec);
    // Every listener asks for the sender's clock (RFC 3611 RRTR) at once.
    for (std::uint32_t listener = 1; listener <= 100; ++listener) {
        std::vector<std::byte> question(128);
        rtcp::compound_writer w{question};
        w.receiver_report(listener);
        w.cname(listener, "l");
        w.reference_time(listener, audiocast::ntp::from_wall(wall_at(t0 + 10ms)));
        question.resize(w.size());
        l.tx.on_control(question, t0 + 10ms, wall_at(t0 + 10ms));
    }
    CHECK(l.tx.write_report(t0 + 11ms, wall_at(t0 + 11ms), out, ec) == out.size());
    CHECK_FALSE(ec);
    CHECK(l.tx.stats().clock_answers == audiocast::max_clock_answers_per_report);
}

TEST_CASE("a compound stuffed with reports from many members buys a sender no more than 16 "
          "lookups, the same bound as a receiver's")
{
    direct_link l;
    l.run(t0, t0 + 100ms, [](auto, auto) {}, [](std::uint64_t) { return false; });
    std::vector<std::byte> stuffed(64 * rtcp::receiver_report_size(0));
    rtcp::compound_writer w{stuffed};
    for (std::uint32_t member = 1; member <= 64; ++member)
        w.receiver_report(member);
    REQUIRE_FALSE(w.error());
    l.tx.on_control(std::span<const std::byte>{stuffed.data(), w.size()}, t0 + 100ms,
                    wall_at(t0 + 100ms));
    CHECK(l.tx.listeners().size() == audiocast::rtcp_participant::max_packets_per_compound);
    CHECK(l.tx.stats().control_malformed == 0);
}
