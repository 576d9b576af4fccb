#include <audiocast/loopback_stream.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A sender and receivers on two loopback groups, one for RTP and one for
/// RTCP (port + 1), on one manual clock: no threads, no sleeps.
struct rtcp_harness {
    audiocast::manual_clock clock;
    audiocast::loopback_group media{clock};
    audiocast::loopback_group control{clock};
    audiocast::loopback_sender sender;
    std::vector<audiocast::loopback_receiver> receivers;
    std::vector<std::int16_t> tone = std::vector<std::int16_t>(480, 1000);
    std::vector<std::int16_t> block = std::vector<std::int16_t>(96, 0);

    explicit rtcp_harness(std::size_t count, bool send_time = true)
        : sender{media.join(), control.join(), audiocast::pcm_codec{}, clock,
                 sender_config(send_time)}
    {
        receivers.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            audiocast::receiver_config c;
            c.cname = "listener-" + std::to_string(i);
            receivers.emplace_back(media.join(), control.join(), audiocast::pcm_codec{}, clock, c);
        }
    }

    static audiocast::sender_config sender_config(bool send_time)
    {
        audiocast::sender_config c;
        c.send_time_extension = send_time;
        c.cname = "the-sender";
        return c;
    }

    /// 1 ms steps: the sender writes what it can and sends what is due; each
    /// receiver takes what arrived and plays 1 ms.
    void run(std::chrono::nanoseconds d, bool send = true)
    {
        for (auto t = 0ns; t < d; t += 1ms) {
            if (send) {
                std::error_code ec;
                while (sender.write(std::span<const std::int16_t>{tone}, ec) > 0) {
                }
            }
            sender.poll();
            for (auto& r : receivers) {
                r.poll();
                r.pull(std::span<std::int16_t>{block});
                r.poll(); // sends the report the pull may have written
            }
            clock.advance(1ms);
        }
    }
};

} // namespace

TEST_CASE("over RTCP the sender learns its listeners and they learn its reports")
{
    rtcp_harness h{3};
    h.run(12s);
    const audiocast::listener_summary sum = h.sender.sender().summarize(h.clock.now());
    CHECK(sum.listeners == 3);
    CHECK(sum.worst_fraction_lost == 0);
    CHECK(sum.worst_cumulative_lost == 0);
    REQUIRE(sum.worst_round_trip);
    CHECK(*sum.worst_round_trip < 5ms); // reports pass through the loopback at once
    for (const auto& r : h.receivers) {
        const audiocast::receiver_stats s = r.stats();
        CHECK(s.sender_reports >= 2);
        CHECK(s.reports_sent >= 2);
        CHECK(s.packets_lost == 0);
        CHECK_FALSE(s.source_left);
    }
    std::vector<std::string> names;
    for (const audiocast::participant& p : h.sender.sender().listeners())
        names.emplace_back(p.cname());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"listener-0", "listener-1", "listener-2"});
    CHECK(h.sender.sender().stats().control_malformed == 0);
}

TEST_CASE("a sender's leave() tells every listener the stream ended")
{
    rtcp_harness h{2};
    h.run(1s);
    h.sender.leave("end of file");
    h.run(10ms, false);
    for (const auto& r : h.receivers)
        CHECK(r.stats().source_left);
}

TEST_CASE("a listener's leave() takes it off the sender's list at once")
{
    rtcp_harness h{2};
    h.run(12s);
    REQUIRE(h.sender.sender().summarize(h.clock.now()).listeners == 2);
    h.receivers[0].leave();
    h.run(5ms);
    CHECK(h.sender.sender().summarize(h.clock.now()).listeners == 1);
}

TEST_CASE("a stream without a send-time extension still measures latency, from reports")
{
    rtcp_harness h{1, false};
    h.run(8s);
    const audiocast::receiver_stats s = h.receivers[0].stats();
    CHECK(s.latency_from_sender_reports);
    CHECK(s.latency_samples > 0);
    // The loopback delivers in the step a packet leaves: latency is under a step.
    CHECK(s.latency_p99 < 2ms);
}

TEST_CASE("a stream without a control transport sends no RTCP and leave() does nothing")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group media{clock};
    audiocast::loopback_sender tx{media.join(), audiocast::pcm_codec{}, clock};
    CHECK_FALSE(tx.has_control());
    std::error_code ec;
    tx.leave(ec);
    CHECK_FALSE(ec);
}
