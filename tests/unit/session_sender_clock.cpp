// A listener learning its source's clock over RTCP (session/sender_clock.hpp):
// the questions it asks (RRTR), the answers the source gives (DLRR after an
// SR, bounded), and which answers it believes.
#include <audiocast/session/sender_clock.hpp>

#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast::endpoint;
using audiocast::pcm_codec;
using audiocast::time_point;
using audiocast::wall_time;
using std::chrono::nanoseconds;
namespace rtcp = audiocast::rtcp;
namespace ntp = audiocast::ntp;

namespace {

// True time is the sender's steady clock; its wall clock is w0 ahead of it.
// A listener's steady clock is `skew` ahead of true time.
const time_point t0{std::chrono::seconds{1000}};
const wall_time w0{std::chrono::seconds{1'800'000'000}};
wall_time sender_wall(time_point t)
{
    return w0 + (t - t0);
}

const endpoint sender_media = endpoint::ipv4({10, 0, 0, 1}, 5004);
const endpoint sender_control = endpoint::ipv4({10, 0, 0, 1}, 5005);
const endpoint stranger = endpoint::ipv4({10, 0, 0, 66}, 5005);

audiocast::sender_config sender_settings()
{
    audiocast::sender_config c;
    c.ssrc = 0x5E5E5E5E;
    c.initial_sequence = 100;
    c.initial_timestamp = 1'000;
    c.cname = "sender@test";
    c.rtcp_seed = 1;
    return c;
}

audiocast::receiver_config listener_settings(std::uint32_t ssrc, bool synchronized)
{
    audiocast::receiver_config c;
    c.ssrc = ssrc;
    c.cname = "listener-" + std::to_string(ssrc);
    c.synchronized_playout = synchronized;
    c.rtcp_seed = ssrc;
    return c;
}

// A listener's clock that asks, started at t0 with a source to ask.
audiocast::sender_clock asking_clock()
{
    audiocast::sender_clock c{true};
    c.start(t0, wall_time{std::chrono::seconds{1'800'000'000}});
    c.new_source(t0);
    return c;
}

std::vector<std::byte> copy_of(std::span<const std::byte> b)
{
    return {b.begin(), b.end()};
}

/// A sender and listeners over links with fixed one-way delays, every
/// datagram handed over in time order. Nothing is lost unless a test says so.
struct group {
    using sender = audiocast::sender_session<pcm_codec>;
    using receiver = audiocast::receiver_session<pcm_codec>;

    struct listener {
        receiver rx;
        nanoseconds skew;     ///< its clock less true time
        nanoseconds downlink; ///< sender to it
        nanoseconds uplink;   ///< it to the sender
        endpoint at;
    };

    struct in_flight {
        time_point due;
        std::function<void(time_point)> deliver; ///< takes the true time it arrives
    };

    sender tx{pcm_codec{}, sender_settings()};
    std::deque<listener> listeners;
    std::vector<in_flight> flying;
    std::vector<std::int16_t> audio = std::vector<std::int16_t>(240 * 2, 100);
    std::vector<std::byte> buffer = std::vector<std::byte>(4096);
    time_point now = t0;
    std::size_t answer_compounds = 0;
    std::size_t largest_answer = 0;
    std::vector<time_point> answer_times;

    listener& add(std::uint32_t ssrc, nanoseconds skew, nanoseconds downlink, nanoseconds uplink,
                  bool synchronized = true)
    {
        return listeners.emplace_back(listener{
            receiver{pcm_codec{}, listener_settings(ssrc, synchronized)}, skew, downlink, uplink,
            endpoint::ipv4({10, 0, 1, static_cast<std::uint8_t>(listeners.size() + 1)}, 5005)});
    }

    // Every listener gets `bytes` from `from` after its downlink delay.
    void to_listeners(std::span<const std::byte> bytes, bool control, const endpoint& from)
    {
        for (listener& l : listeners) {
            flying.push_back(
                {now + l.downlink, [&l, b = copy_of(bytes), control, from](time_point arrived) {
                     const time_point at = arrived + l.skew;
                     const wall_time wall = w0 + (at - t0); // its own wall clock
                     if (control)
                         l.rx.on_control(b, at, wall, from);
                     else
                         l.rx.on_datagram(b, at, wall, from);
                 }});
        }
    }

    void deliver_due()
    {
        std::stable_sort(flying.begin(), flying.end(),
                         [](const in_flight& a, const in_flight& b) { return a.due < b.due; });
        std::size_t done = 0;
        while (done < flying.size() && flying[done].due <= now) {
            flying[done].deliver(flying[done].due);
            ++done;
        }
        flying.erase(flying.begin(), flying.begin() + static_cast<std::ptrdiff_t>(done));
    }

    /// Runs the group for `span` in 1 ms steps, a 5 ms packet every fifth.
    void run(nanoseconds span)
    {
        const time_point end = now + span;
        for (; now < end; now += 1ms) {
            deliver_due();
            if ((now - t0) % 5ms == 0ns) {
                tx.write(std::span<const std::int16_t>{audio}, now);
                if (const std::size_t n = tx.next_packet(now, sender_wall(now), buffer); n > 0)
                    to_listeners(std::span{buffer.data(), n}, false, sender_media);
            }
            std::error_code ec;
            const std::uint64_t answers_before = tx.stats().clock_answers;
            if (const std::size_t n = tx.write_report(now, sender_wall(now), buffer, ec); n > 0) {
                REQUIRE_FALSE(ec);
                if (tx.stats().clock_answers > answers_before) {
                    ++answer_compounds;
                    largest_answer = std::max<std::size_t>(
                        largest_answer, tx.stats().clock_answers - answers_before);
                    answer_times.push_back(now);
                }
                to_listeners(std::span{buffer.data(), n}, true, sender_control);
            }
            for (listener& l : listeners) {
                const time_point at = now + l.skew;
                if (const std::size_t n = l.rx.write_report(at, buffer, ec); n > 0) {
                    REQUIRE_FALSE(ec);
                    const auto report =
                        std::make_shared<std::vector<std::byte>>(copy_of({buffer.data(), n}));
                    flying.push_back({now + l.uplink, [this, report](time_point arrived) {
                                          tx.on_control(*report, arrived, sender_wall(arrived));
                                      }});
                    // Multicast: the other listeners hear it too, and count it
                    // as a member of the group.
                    for (listener& other : listeners) {
                        if (&other == &l) continue;
                        flying.push_back({now + l.uplink + other.downlink,
                                          [&other, report, from = l.at](time_point arrived) {
                                              const time_point t = arrived + other.skew;
                                              other.rx.on_control(*report, t, w0 + (t - t0), from);
                                          }});
                    }
                }
            }
        }
    }

    /// What listener `l` believes the sender's wall clock less its own
    /// steady clock is, less the truth.
    static std::optional<nanoseconds> offset_error(const listener& l)
    {
        const auto s = l.rx.stats();
        if (!s.clock_offset) return std::nullopt;
        const nanoseconds truth = w0.time_since_epoch() - t0.time_since_epoch() - l.skew;
        return *s.clock_offset - truth;
    }
};

} // namespace

TEST_CASE("sender_clock: a listener that synchronizes learns the sender's clock from its answers, "
          "to within the DLRR field's resolution on a symmetric path")
{
    group g;
    auto& l = g.add(0x0E0E0E01, 3'700'123'456ns, 700us, 700us);
    g.run(2s);
    const auto s = l.rx.stats();
    CHECK(s.clock_questions >= 30);
    CHECK(s.clock_exchanges >= 30);
    CHECK(s.clock_answers_unmatched == 0);
    REQUIRE(group::offset_error(l));
    // Fixed delays: only the 1/65536 s fields' rounding is left.
    CHECK(std::chrono::abs(*group::offset_error(l)) < 10us);
    // What it may be off by: half the round trip, as long as it cannot tell
    // the two ways apart.
    CHECK(std::chrono::abs(s.clock_uncertainty.value() - 700us) < 10us);
    CHECK(std::abs(s.clock_rate_ppm) < 5);
}

TEST_CASE("sender_clock: an asymmetric path errs by half its asymmetry, the known limit")
{
    group g;
    auto& l = g.add(0x0E0E0E01, -42s, 300us, 2'300us);
    g.run(2s);
    REQUIRE(group::offset_error(l));
    // The listener thinks the sender's clock is later than it is by half
    // of (uplink - downlink): 1 ms.
    CHECK(std::chrono::abs(*group::offset_error(l) - 1ms) < 10us);
}

TEST_CASE("sender_clock: a listener not synchronizing asks nothing, and its reports are as before")
{
    group g;
    auto& l = g.add(0x0E0E0E01, 5s, 1ms, 1ms, false);
    g.run(7s);
    const auto s = l.rx.stats();
    CHECK(s.clock_questions == 0);
    CHECK_FALSE(s.clock_offset);
    CHECK(s.reports_sent >= 1);
    CHECK(s.reports_sent <= 3); // on the RTCP schedule only
    CHECK(g.tx.stats().clock_requests == 0);
    CHECK(g.answer_compounds == 0);
}

TEST_CASE("sender_clock: a hundred listeners settling at once are answered at most 32 at a time, "
          "10 ms apart, and each still learns the clock within 5 s")
{
    group g;
    for (std::uint32_t i = 0; i < 100; ++i)
        g.add(0x0E0E0000 + i, nanoseconds{std::int64_t{i} * 7'919'000}, 400us + i * 3us,
              400us + i * 3us);
    g.run(5s);
    CHECK(g.largest_answer <= 32);
    for (std::size_t i = 1; i < g.answer_times.size(); ++i)
        CHECK(g.answer_times[i] - g.answer_times[i - 1] >= 10ms);
    CHECK(g.tx.stats().clock_answers <= g.tx.stats().clock_requests);
    for (const auto& l : g.listeners) {
        REQUIRE(group::offset_error(l));
        CHECK(std::chrono::abs(*group::offset_error(l)) < 10us);
        CHECK(l.rx.stats().clock_exchanges >= 8);
    }
}

TEST_CASE("sender_clock: answers from another host, to a question never asked, or repeated change "
          "nothing the listener believes")
{
    group g;
    auto& l = g.add(0x0E0E0E01, 1s, 500us, 500us);
    g.run(1s);
    const auto before = l.rx.stats();
    REQUIRE(before.clock_offset);

    // An answer with the source's SSRC and an SR saying the sender's clock
    // is `ahead` of what it is, with a DLRR echoing `echo` and no delay.
    const auto answer = [&](std::uint32_t echo, nanoseconds ahead, time_point sent) {
        std::vector<std::byte> out(512);
        rtcp::compound_writer w{out};
        rtcp::sender_info info;
        info.ntp = ntp::from_wall(sender_wall(sent) + ahead);
        w.sender_report(0x5E5E5E5E, info);
        w.cname(0x5E5E5E5E, "sender@test");
        const rtcp::dlrr_item item{0x0E0E0E01, echo, 0};
        w.delay_since_last_rr(0x5E5E5E5E, std::span{&item, 1});
        out.resize(w.size());
        return out;
    };
    // The listener's next question, as every host on the group sees it.
    std::uint32_t echo = 0;
    std::vector<std::byte> out(512);
    std::error_code ec;
    time_point asked = g.now;
    for (; asked < g.now + 2s; asked += 1ms) {
        const std::size_t n = l.rx.write_report(asked + l.skew, out, ec);
        rtcp::parse_compound(std::span{out.data(), n}, ec, [&](const rtcp::packet_view& p) {
            if (const auto r = p.reference_time()) echo = ntp::short_form(*r);
        });
        if (echo != 0) break;
    }
    REQUIRE(echo != 0);
    // The sender receives it 500 us later and answers at once; 500 us on.
    const time_point answered = asked + 500us;
    const time_point arrives = answered + 500us + l.skew;

    // A stranger's host answers, saying the sender is an hour ahead.
    l.rx.on_control(answer(echo, 1h, answered), arrives, wall_time{}, stranger);
    CHECK(l.rx.stats().clock_exchanges == before.clock_exchanges);
    CHECK(l.rx.stats().clock_offset == before.clock_offset);
    // The source's host answers a question never asked.
    l.rx.on_control(answer(echo ^ 0x8000'0000u, 1h, answered), arrives, wall_time{},
                    sender_control);
    CHECK(l.rx.stats().clock_exchanges == before.clock_exchanges);
    CHECK(l.rx.stats().clock_answers_unmatched == before.clock_answers_unmatched + 1);
    CHECK(l.rx.stats().clock_offset == before.clock_offset);
    // The true answer counts once; the same again (a replay) does not.
    l.rx.on_control(answer(echo, 0ns, answered), arrives, wall_time{}, sender_control);
    CHECK(l.rx.stats().clock_exchanges == before.clock_exchanges + 1);
    l.rx.on_control(answer(echo, 1h, answered), arrives + 1ms, wall_time{}, sender_control);
    CHECK(l.rx.stats().clock_exchanges == before.clock_exchanges + 1);
    CHECK(l.rx.stats().clock_answers_unmatched == before.clock_answers_unmatched + 2);
    REQUIRE(group::offset_error(l));
    CHECK(std::chrono::abs(*group::offset_error(l)) < 10us);
}

TEST_CASE("sender_clock: a question that waited before it left is timed from when it left")
{
    audiocast::sender_clock c = asking_clock();
    const ntp::timestamp asked = c.ask(t0 + 1s);
    // The network side held the compound 3 ms before sending it.
    std::vector<std::byte> out(128);
    rtcp::compound_writer w{out};
    w.receiver_report(7);
    w.cname(7, "x");
    w.reference_time(7, asked);
    out.resize(w.size());
    rtcp::add_report_delay(out, 3ms);
    std::optional<ntp::timestamp> sent;
    std::error_code ec;
    rtcp::parse_compound(out, ec, [&](const rtcp::packet_view& p) {
        if (const auto r = p.reference_time()) sent = r;
    });
    REQUIRE(sent);
    CHECK(ntp::to_wall(*sent) - ntp::to_wall(asked) == 3ms);
    // The sender's clock equals ours plus 10 s; it holds the question 1 ms,
    // and each way takes 2 ms: the question left at 1.003 s, arrived at
    // 1.005, the answer left at 1.006 and arrived at 1.008.
    const wall_time sender_epoch{10s};
    const auto answer_sent = ntp::from_wall(sender_epoch + (t0 + 1'006ms).time_since_epoch());
    c.on_answer({7, ntp::short_form(*sent), ntp::to_short_duration(1ms)}, 7, answer_sent,
                t0 + 1'008ms);
    REQUIRE(c.estimate());
    CHECK(c.exchanges() == 1);
    CHECK(std::chrono::abs(c.estimate()->offset - 10s) < 16us);
    CHECK(std::chrono::abs(c.estimate()->uncertainty - 2ms) < 16us);
}

TEST_CASE("sender_clock: a second copy of an answer is not credited to an earlier question whose "
          "answer was lost")
{
    audiocast::sender_clock c = asking_clock();
    // The sender's clock equals ours plus 10 s; each way takes 2 ms.
    const wall_time sender_epoch{10s};
    const auto sender_at = [&](time_point t) {
        return ntp::from_wall(sender_epoch + t.time_since_epoch());
    };
    c.ask(t0 + 1s); // its answer is lost
    const ntp::timestamp second = c.ask(t0 + 1'100ms);
    const audiocast::rtcp::dlrr_item answer{7, ntp::short_form(second), 0};
    c.on_answer(answer, 7, sender_at(t0 + 1'102ms), t0 + 1'104ms);
    CHECK(c.exchanges() == 1);
    // The network delivers the same compound again (multicast may): the
    // first question, still open, did not ask it.
    c.on_answer(answer, 7, sender_at(t0 + 1'102ms), t0 + 1'105ms);
    CHECK(c.exchanges() == 1);
    CHECK(c.unmatched() == 1);
    REQUIRE(c.estimate());
    CHECK(std::chrono::abs(c.estimate()->offset - 10s) < 16us);
}

TEST_CASE("sender_clock: once the source's clock steps and the estimate starts over, questions "
          "come as fast as at first again")
{
    audiocast::sender_clock c = asking_clock();
    // The source's clock reads ours plus 10 s (and `step`); each way takes
    // 1 ms and it holds each question 1 ms.
    std::chrono::nanoseconds step{};
    const auto exchange = [&](time_point at) {
        const ntp::timestamp asked = c.ask(at);
        const auto answered = ntp::from_wall(wall_time{10s + step + (at + 2ms).time_since_epoch()});
        c.on_answer({7, ntp::short_form(asked), ntp::to_short_duration(1ms)}, 7, answered,
                    at + 3ms);
    };
    time_point t = t0;
    while (t < t0 + 90s) {
        t = *c.next_question_due(1);
        exchange(t);
    }
    CHECK(*c.next_question_due(1) - t >= audiocast::sender_clock::steady_interval);
    // 3 ms: less than a listener takes for a step at once, so the estimator
    // finds it, after four round trips that contradict what it holds.
    step = 3ms;
    for (int i = 0; i < 4; ++i) {
        t = *c.next_question_due(1);
        exchange(t);
    }
    CHECK(*c.next_question_due(1) - t < 2 * audiocast::sender_clock::settling_interval);
    REQUIRE(c.estimate());
    CHECK(std::chrono::abs(c.estimate()->offset - (10s + step)) < 16us);
}

TEST_CASE("sender_clock: one answer far off the estimate (a forgery, or a step not yet "
          "confirmed) neither starts it over nor moves it")
{
    audiocast::sender_clock c = asking_clock();
    std::chrono::nanoseconds shift{};
    const auto exchange = [&](time_point at) {
        const ntp::timestamp asked = c.ask(at);
        const auto answered =
            ntp::from_wall(wall_time{10s + shift + (at + 2ms).time_since_epoch()});
        c.on_answer({7, ntp::short_form(asked), ntp::to_short_duration(1ms)}, 7, answered,
                    at + 3ms);
    };
    time_point t = t0;
    for (int i = 0; i < 200; ++i, t += 10ms)
        exchange(t);
    REQUIRE(c.settled());
    for (const auto forged : {std::chrono::nanoseconds{30s}, std::chrono::nanoseconds{-25ms}}) {
        shift = forged;
        exchange(t);
        t += 10ms;
        shift = {};
        for (int i = 0; i < 8; ++i, t += 10ms)
            exchange(t);
    }
    CHECK(c.steps() == 0);
    CHECK(c.settled());
    CHECK(std::chrono::abs(c.estimate()->offset - 10s) < 16us);
}

TEST_CASE("sender_config: clock answers beyond the limit are refused, naming it")
{
    auto settings = sender_settings();
    settings.clock_answers = 65;
    const auto problem = audiocast::check(settings);
    REQUIRE(problem);
    CHECK(problem.code == audiocast::errc::invalid_rtcp);
    CHECK(problem.max == 64);
    settings.clock_answers = 0;
    settings.clock_answer_interval = 0ms;
    CHECK(audiocast::check(settings));
}

TEST_CASE("sender_clock: questions from members that at once say BYE buy no compounds outside the "
          "report schedule")
{
    group g;
    g.run(10ms); // the sender has sent, so it reports
    std::uint64_t compounds = 0;
    const std::uint64_t scheduled_before = g.tx.stats().reports_sent;
    for (int i = 0; i < 200; ++i) {
        // A stranger's RR, a question, and BYE, in one compound.
        const std::uint32_t who = 0xBAD00000u + static_cast<std::uint32_t>(i);
        std::vector<std::byte> out(256);
        rtcp::compound_writer w{out};
        w.receiver_report(who);
        w.cname(who, "x");
        w.reference_time(who, ntp::from_wall(sender_wall(g.now)));
        w.bye(std::span{&who, 1});
        out.resize(w.size());
        g.tx.on_control(out, g.now, sender_wall(g.now));
        std::vector<std::byte> report(4096);
        std::error_code ec;
        if (g.tx.write_report(g.now, sender_wall(g.now), report, ec) > 0) ++compounds;
        g.now += 100us;
    }
    // 20 ms of flood: the scheduled report may fall in it; nothing else goes out.
    CHECK(compounds <= 1);
    CHECK(g.tx.stats().reports_sent - scheduled_before == compounds);
    CHECK(g.tx.stats().clock_answers == 0);
}

TEST_CASE(
    "sender_clock: a source whose wall clock steps is relearnt, and is not followed meanwhile")
{
    audiocast::sender_clock c = asking_clock();
    // The source's wall clock is ours plus `offset`; 1 ms each way.
    const auto exchange = [&](time_point asked, nanoseconds offset) {
        const ntp::timestamp q = c.ask(asked);
        const auto sender_now = [&](time_point t) {
            return wall_time{offset + t.time_since_epoch()};
        };
        const time_point received = asked + 1ms;
        const time_point answered = received + 2ms;
        c.on_answer({7, ntp::short_form(q),
                     ntp::to_short_duration(sender_now(answered) - sender_now(received))},
                    7, ntp::from_wall(sender_now(answered)), answered + 1ms);
    };
    time_point t = t0;
    for (int i = 0; i < 100; ++i, t += 10ms)
        exchange(t, 5s);
    REQUIRE(c.settled());
    CHECK(std::chrono::abs(c.estimate()->offset - 5s) < 20us);
    CHECK(c.steps() == 0);
    // NTP sets the source's clock 30 s ahead. One answer alone could be
    // forged; four of the last eight that contradict the estimate start it
    // over.
    for (int i = 0; i < 3; ++i, t += 10ms)
        exchange(t, 35s);
    CHECK(c.steps() == 0);
    CHECK(std::chrono::abs(c.estimate()->offset - 5s) < 20us);
    exchange(t, 35s);
    t += 10ms;
    CHECK(c.steps() == 1);
    CHECK_FALSE(c.settled());
    for (int i = 0; i < 30; ++i, t += 10ms)
        exchange(t, 35s);
    REQUIRE(c.settled());
    CHECK(std::chrono::abs(c.estimate()->offset - 35s) < 20us);
    CHECK(c.steps() == 1);
}

namespace {

// Packets of 5 ms at 48 kHz from RTP timestamp 1000, the first sent at
// `base`; packet k leaves `late(k)` after its time. Returns what the clock
// takes as the media clock's anchor after each packet.
struct media_feed {
    audiocast::sender_clock clock{true};
    wall_time base{std::chrono::seconds{1'800'000'000}};

    bool send(std::uint32_t k, nanoseconds late = {})
    {
        const auto sent = base + k * 5ms + late;
        return clock.on_source_packet(1000 + k * 240, ntp::from_wall(sent), 48'000);
    }
    // How far the anchor puts RTP timestamp 1000 from `base`.
    [[nodiscard]] nanoseconds anchor_error() const
    {
        const auto& a = clock.media_anchor();
        REQUIRE(a);
        const auto at =
            ntp::to_wall(a->ntp) -
            nanoseconds{static_cast<std::int64_t>(a->rtp_timestamp - 1000) * 1'000'000 / 48};
        return at - base;
    }
};

} // namespace

TEST_CASE("the media clock comes from the most promptly sent packet of each half second, not from "
          "one late, reordered or forged")
{
    media_feed f;
    CHECK_FALSE(f.clock.media_anchor()); // no window is over yet, and no report came
    // Pacing lateness of 100-900 us, one packet in ten exactly on time.
    for (std::uint32_t k = 0; k < 400; ++k)
        f.send(k, k % 10 == 7 ? 0ns : nanoseconds{100'000 + (k * 7919) % 800'000});
    CHECK(std::chrono::abs(f.anchor_error()) < 1us);

    SECTION("a packet reordered across a window's start changes nothing")
    {
        f.send(401, 300us);
        f.send(399, 0ns); // late in arrival, earlier in time than the window's first
        for (std::uint32_t k = 402; k < 600; ++k)
            f.send(k, k % 10 == 7 ? 0ns : nanoseconds{100'000 + (k * 7919) % 800'000});
        CHECK(std::chrono::abs(f.anchor_error()) < 1us);
    }
    SECTION("one packet whose send time is forged, 10 s off or 1.5 ms early, moves the anchor by "
            "no more than 2 ms, and not for good")
    {
        for (const nanoseconds forged :
             {nanoseconds{10s}, nanoseconds{-10s}, nanoseconds{-1500us}}) {
            INFO("forged by " << forged.count() << " ns");
            media_feed g;
            for (std::uint32_t k = 0; k < 600; ++k) {
                g.send(k, k == 250 ? forged : nanoseconds{100'000});
                if (g.clock.media_anchor())
                    CHECK(std::chrono::abs(g.anchor_error() - 100us) <= 2ms);
            }
            CHECK(std::chrono::abs(g.anchor_error() - 100us) < 1us);
            CHECK(g.clock.anchor_steps() == 0);
        }
    }
    SECTION("a step that lasts is followed after one window confirms it")
    {
        for (std::uint32_t k = 400; k < 800; ++k)
            f.send(k, 50ms);
        CHECK(std::chrono::abs(f.anchor_error() - 50ms) < 1us);
        CHECK(f.clock.anchor_steps() == 1);
    }
}
