// The network suite: multicast streams driven by stream_thread on real
// sockets and real time, and what each packet costs in system calls.
//
// Part of audiocast_network_tests, whose main() (udp_multicast.cpp) refuses to
// run outside the private network namespace that tests/network/netns-run
// makes. The transports are udp_multicast_transport wrapped in a counter of
// every call that reaches the socket; the thread counts its own waits. So the
// system calls a packet are counted here exactly: a wait (ppoll), a send
// (sendto), a receive (recvmsg) or a batch (recvmmsg) is one each.
#include <audiocast/multicast_stream.hpp>

#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;
using audiocast_test::is_source_but_the_slip;
using audiocast_test::make_source;
using audiocast_test::trimmed;

constexpr unsigned channels = 2;

/// Calls that reached the socket, by kind, and those that found nothing.
struct socket_calls {
    std::uint64_t sends = 0;
    std::uint64_t receives = 0; ///< one datagram a call
    std::uint64_t batches = 0;  ///< any number a call
    std::uint64_t found_nothing = 0;
};

/// udp_multicast_transport, counting. The counts are written on the stream's
/// thread and read after it stopped.
class counting_transport {
public:
    counting_transport(asio::io_context& io, const audiocast::udp_multicast_options& options)
        : inner_{io, options}
    {}

    void send(std::span<const std::byte> datagram, std::error_code& ec) noexcept
    {
        ++calls_.sends;
        inner_.send(datagram, ec);
    }
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        audiocast::datagram_origin origin;
        return receive(buffer, origin, ec);
    }
    std::size_t receive(std::span<std::byte> buffer, audiocast::datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        ++calls_.receives;
        const std::size_t n = inner_.receive(buffer, origin, ec);
        if (ec == std::errc::operation_would_block) ++calls_.found_nothing;
        return n;
    }
    std::size_t receive_batch(std::span<audiocast::received_datagram> slots,
                              std::error_code& ec) noexcept
    {
        ++calls_.batches;
        const std::size_t n = inner_.receive_batch(slots, ec);
        if (ec == std::errc::operation_would_block) ++calls_.found_nothing;
        return n;
    }
    [[nodiscard]] audiocast::native_socket native_handle() noexcept
    {
        return inner_.native_handle();
    }

    [[nodiscard]] const socket_calls& calls() const { return calls_; }

private:
    audiocast::udp_multicast_transport inner_;
    socket_calls calls_;
};

using counted_stream = audiocast::basic_multicast_stream<counting_transport, audiocast::pcm_codec,
                                                         audiocast::steady_clock>;
using counted_sender = counted_stream::sender;
using counted_receiver = counted_stream::receiver;

audiocast::udp_multicast_options media(bool join)
{
    return {.group = "239.255.0.61", .port = 5460, .multicast_interface = "lo", .join = join};
}
audiocast::udp_multicast_options control()
{
    return {.group = "239.255.0.61", .port = 5461, .multicast_interface = "lo"};
}

/// The audio side: pulls 1 ms blocks at absolute steps from now + `delay`
/// for `blocks` blocks, as a device's callback would, on the calling thread.
std::vector<std::int16_t> play(counted_receiver& rx, std::size_t blocks)
{
    constexpr std::size_t block_samples = 48 * channels;
    std::vector<std::int16_t> out(blocks * block_samples);
    steady::time_point next = steady::now() + 1ms;
    for (std::size_t b = 0; b < blocks; ++b) {
        std::this_thread::sleep_until(next);
        rx.pull(std::span<std::int16_t>{out.data() + b * block_samples, block_samples});
        next += 1ms;
    }
    return out;
}

/// What one run through a sending and a receiving stream_thread did.
struct threaded_run {
    std::vector<std::int16_t> source;
    std::vector<std::int16_t> played;
    std::vector<std::error_code> errors;
    bool all_sent = false;
    std::uint64_t packets = 0;
    std::uint64_t packets_lost = 0;
    audiocast::sender_stats sent{};
    // The sender's, when its last packet left (after that it idles).
    audiocast::stream_thread_counts tx_counts{};
    socket_calls tx_media{};
    socket_calls tx_control{};
    // The receiver's, at the end.
    audiocast::stream_thread_counts rx_counts{};
    socket_calls rx_media{};
    socket_calls rx_control{};
};

/// Streams 1.5 s of audio in `ptime` packets from a sending stream_thread to
/// a receiving one (with `receiving_options`), both with RTCP, and plays it
/// for 2 s on this thread.
threaded_run stream_through_threads(std::chrono::milliseconds ptime,
                                    const audiocast::stream_thread_options& receiving_options)
{
    threaded_run run;
    asio::io_context io; // owns the sockets' Asio state; never run: the threads wait in ppoll
    const audiocast::pcm_codec codec{audiocast::pcm_config{.packet_time = ptime}};
    audiocast::receiver_config rx_config;
    rx_config.max_rate_adjustment = 0; // shared clock: bit-exact playout
    counted_receiver rx{counting_transport{io, media(true)}, counting_transport{io, control()},
                        codec, audiocast::steady_clock{}, rx_config};
    audiocast::sender_config tx_config;
    tx_config.ssrc = 0x5EED'0001;
    counted_sender tx{counting_transport{io, media(false)}, counting_transport{io, control()},
                      codec, audiocast::steady_clock{}, tx_config};

    run.source = make_source(72'000, channels, 61);
    std::size_t written = 0;
    audiocast::stream_thread<counted_receiver> receiving{rx, receiving_options};
    audiocast::stream_thread<counted_sender> sending{tx};
    std::mutex errors_mutex; // both threads report; read after they stop
    std::atomic<bool> all_sent{false};
    const auto on_error = [&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        run.errors.push_back(ec);
    };
    receiving.on_error(on_error);
    sending.on_error(on_error);
    sending.on_refill([&](counted_sender& s) {
        const std::size_t left = run.source.size() / channels - written;
        if (left > 0)
            written += s.write(std::span<const std::int16_t>{run.source.data() + written * channels,
                                                             left * channels});
        if (written * channels == run.source.size()) {
            s.flush();
            if (s.sender().queued_packets() == 0 && !all_sent.load()) {
                run.tx_counts = sending.counts();
                run.tx_media = s.transport().calls();
                run.tx_control = s.control_transport().calls();
                all_sent.store(true);
            }
        }
    });
    receiving.start();
    sending.start();
    run.played = play(rx, 2'000); // 2 s
    sending.stop();
    receiving.stop();
    run.all_sent = all_sent.load();
    run.sent = tx.sender().stats();
    run.packets = run.sent.packets_sent;
    run.packets_lost = rx.receiver().stats().packets_lost;
    run.rx_counts = receiving.counts();
    run.rx_media = rx.transport().calls();
    run.rx_control = rx.control_transport().calls();
    return run;
}

} // namespace

TEST_CASE("stream_thread: a sender and a receiver on threads of their own play the source "
          "bit-exact, at two system calls a packet for the sender and one wait and one batch a "
          "wake-up for the receiver",
          "[network][stream_thread][realtime]")
{
    const threaded_run run = stream_through_threads(5ms, {});
    REQUIRE(run.errors.empty());
    REQUIRE(run.all_sent);
    CHECK(is_source_but_the_slip(trimmed(run.played, channels), run.source, channels, run.sent));
    CHECK(run.packets == 300); // 1.5 s in 5 ms packets
    CHECK(run.packets_lost == 0);

    const std::uint64_t tx_syscalls = run.tx_counts.waits + run.tx_media.sends +
                                      run.tx_control.sends + run.tx_control.receives +
                                      run.tx_control.batches;
    INFO("sender: " << run.tx_counts.waits << " waits, " << run.tx_media.sends << " sends, "
                    << run.tx_control.sends << " reports sent, " << run.tx_control.batches
                    << " report reads, " << run.packets << " packets");
    // The sender's own reports and the listener's are the only calls besides
    // a wait and a send a packet; waking for a listener's report is one wait
    // more each.
    CHECK(run.tx_media.sends == run.packets);
    CHECK(tx_syscalls <=
          2 * run.packets + 2 * run.tx_control.sends + 2 * run.tx_counts.control_wakeups + 2);
    CHECK(run.tx_control.found_nothing == 0);
    CHECK(run.tx_control.receives == 0);

    INFO("receiver: " << run.rx_counts.waits << " waits, " << run.rx_counts.media_wakeups
                      << " media wake-ups, " << run.rx_media.batches << " batches, "
                      << run.rx_media.found_nothing << " found nothing");
    CHECK(run.rx_media.receives == 0);
    CHECK(run.rx_media.batches == run.rx_counts.media_wakeups); // one batch a wake-up
    CHECK(run.rx_media.found_nothing == 0);                     // and none that finds nothing
    CHECK(run.rx_control.found_nothing == 0);
    CHECK(run.rx_control.batches == run.rx_counts.control_wakeups);
    // A wake-up for each packet at most, plus the report timer's.
    CHECK(run.rx_counts.waits <= run.packets + run.rx_counts.control_wakeups + 2s / 100ms + 2);
}

TEST_CASE("stream_thread: with a receive interval, a receiver at 1 ms packets wakes and reads "
          "about once an interval, and still plays the source bit-exact",
          "[network][stream_thread][realtime]")
{
    const threaded_run run = stream_through_threads(1ms, {.receive_interval = 5ms});
    REQUIRE(run.errors.empty());
    REQUIRE(run.all_sent);
    CHECK(is_source_but_the_slip(trimmed(run.played, channels), run.source, channels, run.sent));
    CHECK(run.packets == 1'500);
    CHECK(run.packets_lost == 0);
    INFO("receiver: " << run.rx_counts.waits << " waits, " << run.rx_counts.media_wakeups
                      << " media wake-ups, " << run.rx_counts.gathered_reads
                      << " reads after an interval, " << run.rx_media.batches << " batches, "
                      << run.rx_media.found_nothing << " found nothing, " << run.packets
                      << " packets");
    // 1.5 s of packets is 300 intervals; a busy machine may stretch some.
    CHECK(run.rx_media.batches <= run.packets / 4);
    CHECK(run.rx_counts.waits <= run.packets / 4 + 2s / 100ms + run.rx_counts.control_wakeups);
    // A read that finds nothing only when the stream stops (or pauses), or
    // when an interval passed with no packet (the sender descheduled for
    // over 5 ms: the fresh-clone CI saw 3 with ctest running two tests at
    // once); reads that routinely find nothing would be one an interval.
    CHECK(run.rx_media.found_nothing <= 2 + run.packets / 300);
}

TEST_CASE("stream_thread: work posted from another thread runs on the stream's thread, and a "
          "paused sender sends nothing until PLAY",
          "[network][stream_thread][realtime]")
{
    asio::io_context io;
    counted_sender tx{counting_transport{io, media(false)}, audiocast::pcm_codec{},
                      audiocast::steady_clock{}};
    audiocast::stream_thread<counted_sender> sending{tx};
    std::atomic<std::thread::id> ran_on{};
    const std::vector<std::int16_t> tone = make_source(4'800, channels, 7); // 100 ms
    sending.start();
    sending.post([&](counted_sender& s) {
        ran_on.store(std::this_thread::get_id());
        s.pause();
        s.write(std::span<const std::int16_t>{tone});
    });
    std::this_thread::sleep_for(100ms);
    std::uint64_t sent_while_paused = 0;
    std::atomic<std::uint64_t> seen{0};
    sending.post([&](counted_sender& s) { seen.store(s.sender().stats().packets_sent); });
    std::this_thread::sleep_for(20ms);
    sent_while_paused = seen.load();
    sending.post([](counted_sender& s) { s.play(); });
    std::this_thread::sleep_for(200ms);
    sending.stop();

    CHECK(ran_on.load() != std::thread::id{});
    CHECK(ran_on.load() != std::this_thread::get_id());
    CHECK(sent_while_paused == 0);
    CHECK(tx.sender().stats().packets_sent == 20); // 100 ms in 5 ms packets
}

TEST_CASE("stream_thread: options out of range are refused with the limit named, and no "
          "thread starts",
          "[network][stream_thread]")
{
    asio::io_context io;
    counted_sender tx{counting_transport{io, media(false)}, audiocast::pcm_codec{},
                      audiocast::steady_clock{}};
    {
        audiocast::stream_thread<counted_sender> t{tx, {.spin = 5ms}};
        std::error_code ec;
        t.start(ec);
        CHECK(ec == audiocast::errc::invalid_thread_option);
        CHECK_FALSE(t.running());
        CHECK_THROWS_WITH(t.start(), Catch::Contains("spin 5000 us") && Catch::Contains("0-2000") &&
                                         Catch::Contains("us"));
    }
    {
        audiocast::stream_thread<counted_sender> t{tx, {.realtime_priority = 100}};
        CHECK_THROWS_WITH(t.start(), Catch::Contains("real-time priority 100"));
        CHECK_FALSE(t.running());
    }
}

TEST_CASE("stream_thread: one thread sends four streams and one receives them, each plays its "
          "own source bit-exact, and the senders share their wake-ups",
          "[network][stream_thread][realtime]")
{
    constexpr std::size_t streams = 4;
    asio::io_context io; // never run: the threads wait themselves
    const audiocast::pcm_codec codec{audiocast::pcm_config{.packet_time = 5ms}};
    audiocast::receiver_config rx_config;
    rx_config.max_rate_adjustment = 0; // shared clock: bit-exact playout
    const auto group = [](std::size_t i) { return "239.255.0." + std::to_string(70 + i); };

    std::vector<std::unique_ptr<counted_sender>> senders;
    std::vector<std::unique_ptr<counted_receiver>> receivers;
    std::vector<std::vector<std::int16_t>> sources;
    for (std::size_t i = 0; i < streams; ++i) {
        audiocast::sender_config tx_config;
        tx_config.ssrc = 0x5EED'0100 + static_cast<std::uint32_t>(i);
        senders.push_back(std::make_unique<counted_sender>(
            counting_transport{
                io, {.group = group(i), .port = 5470, .multicast_interface = "lo", .join = false}},
            codec, audiocast::steady_clock{}, tx_config));
        receivers.push_back(std::make_unique<counted_receiver>(
            counting_transport{io, {.group = group(i), .port = 5470, .multicast_interface = "lo"}},
            codec, audiocast::steady_clock{}, rx_config));
        sources.push_back(make_source(48'000, channels, 100 + static_cast<unsigned>(i))); // 1 s
    }
    std::vector<counted_sender*> sending_streams;
    std::vector<counted_receiver*> receiving_streams;
    for (std::size_t i = 0; i < streams; ++i) {
        sending_streams.push_back(senders[i].get());
        receiving_streams.push_back(receivers[i].get());
    }

    audiocast::stream_thread<counted_sender> sending{
        std::span<counted_sender* const>{sending_streams}};
    audiocast::stream_thread<counted_receiver> receiving{
        std::span<counted_receiver* const>{receiving_streams}, {.receive_interval = 5ms}};
    std::mutex errors_mutex;
    std::vector<std::error_code> errors;
    const auto on_error = [&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        errors.push_back(ec);
    };
    sending.on_error(on_error);
    receiving.on_error(on_error);
    // Each source written a few packets a round, as a live source would.
    std::vector<std::size_t> written(streams, 0); // frames; the sending thread's
    sending.on_refill([&](counted_sender& s) {
        const auto at = std::find(sending_streams.begin(), sending_streams.end(), &s);
        const auto i = static_cast<std::size_t>(at - sending_streams.begin());
        const std::size_t left =
            std::min<std::size_t>(sources[i].size() / channels - written[i], 3 * 240);
        if (left > 0)
            written[i] += s.write(std::span<const std::int16_t>{
                sources[i].data() + written[i] * channels, left * channels});
        if (written[i] * channels == sources[i].size()) s.flush();
    });
    std::atomic<std::size_t> posted_to{0};
    sending.post([&](counted_sender&) { posted_to.fetch_add(1); });
    receiving.start();
    sending.start();

    // The audio side: one thread pulls every receiver in 5 ms blocks.
    constexpr std::size_t block_samples = 240 * channels;
    constexpr std::size_t blocks = 300; // 1.5 s
    std::vector<std::vector<std::int16_t>> played(
        streams, std::vector<std::int16_t>(blocks * block_samples));
    steady::time_point next = steady::now() + 5ms;
    for (std::size_t b = 0; b < blocks; ++b) {
        std::this_thread::sleep_until(next);
        for (std::size_t i = 0; i < streams; ++i)
            receivers[i]->pull(
                std::span<std::int16_t>{played[i].data() + b * block_samples, block_samples});
        next += 5ms;
    }
    sending.stop();
    receiving.stop();

    REQUIRE(errors.empty());
    REQUIRE(posted_to.load() == streams); // post() ran once for each stream
    std::uint64_t sends = 0;
    for (std::size_t i = 0; i < streams; ++i) {
        INFO("stream " << i);
        CHECK(senders[i]->sender().stats().packets_sent == 200); // 1 s in 5 ms packets
        CHECK(receivers[i]->receiver().stats().packets_lost == 0);
        CHECK(is_source_but_the_slip(trimmed(played[i], channels), sources[i], channels,
                                     senders[i]->sender().stats()));
        sends += senders[i]->transport().calls().sends;
    }
    const audiocast::stream_thread_counts tx = sending.counts();
    const audiocast::stream_thread_counts rx = receiving.counts();
    INFO("sender: " << tx.waits << " waits for " << sends << " sends; receiver: " << rx.waits
                    << " waits, " << rx.media_wakeups << " media wake-ups, " << rx.gathered_reads
                    << " reads after an interval");
    CHECK(sends == streams * 200);
    // A wait a send would be 800 waits, and 500 more while idle after the
    // last packet (a wait a millisecond). A schedule starts when its first
    // frames are written, so the four start as far apart as their first
    // refills take (about 100 µs in a debug build); those within 20 µs share
    // a wake-up, the others do not. Fewer waits than sends, then.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // Under a sanitizer a refill takes several times longer, so the four may
    // start too far apart to share (the fresh-clone CI of b162ede under ASan:
    // 1187 waits); there only the ceiling of a wait a send is held.
    CHECK(tx.waits <= 4 * 200 + 500ms / 1ms + 40); // four streams
#else
    CHECK(tx.waits <= 3 * 200 + 500ms / 1ms + 20);
#endif
    // The receivers are read together: a wait an interval, not one a stream
    // (that would be 800). A loaded host wakes a few more times (the CI run
    // of e681a56: 228, with 29 media wake-ups).
    CHECK(rx.waits <= 200 + 1500ms / 100ms + 30);
}

TEST_CASE("stream_thread: a closed socket among many receivers is reported once and dropped, "
          "and the others play bit-exact",
          "[network][stream_thread][realtime]")
{
    asio::io_context io; // never run: the threads wait themselves
    const audiocast::pcm_codec codec{audiocast::pcm_config{.packet_time = 5ms}};
    audiocast::receiver_config rx_config;
    rx_config.max_rate_adjustment = 0; // shared clock: bit-exact playout
    const audiocast::udp_multicast_options group{
        .group = "239.255.0.80", .port = 5480, .multicast_interface = "lo"};

    audiocast::multicast_sender tx{
        audiocast::udp_multicast_transport{
            io,
            {.group = group.group, .port = group.port, .multicast_interface = "lo", .join = false}},
        codec, audiocast::steady_clock{}};
    // The middle one of three: refused before a socket was opened, so its
    // socket stays closed, as a careless caller's would after a failed open.
    std::error_code open_ec;
    audiocast::udp_multicast_transport closed{io, {.group = "10.1.2.3"}, open_ec};
    REQUIRE(open_ec == audiocast::errc::not_multicast_address);
    std::vector<std::unique_ptr<audiocast::multicast_receiver>> receivers;
    receivers.push_back(std::make_unique<audiocast::multicast_receiver>(
        audiocast::udp_multicast_transport{io, group}, codec, audiocast::steady_clock{},
        rx_config));
    receivers.push_back(std::make_unique<audiocast::multicast_receiver>(
        std::move(closed), codec, audiocast::steady_clock{}, rx_config));
    receivers.push_back(std::make_unique<audiocast::multicast_receiver>(
        audiocast::udp_multicast_transport{io, group}, codec, audiocast::steady_clock{},
        rx_config));
    std::vector<audiocast::multicast_receiver*> receiving_streams;
    for (auto& r : receivers)
        receiving_streams.push_back(r.get());

    audiocast::stream_thread<audiocast::multicast_receiver> receiving{
        std::span<audiocast::multicast_receiver* const>{receiving_streams},
        {.receive_interval = 5ms}};
    audiocast::stream_thread<audiocast::multicast_sender> sending{tx};
    std::mutex errors_mutex;
    std::vector<std::error_code> receive_errors, send_errors;
    receiving.on_error([&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        receive_errors.push_back(ec);
    });
    sending.on_error([&](std::error_code ec) {
        std::lock_guard lock{errors_mutex};
        send_errors.push_back(ec);
    });
    const std::vector<std::int16_t> source = make_source(24'000, channels, 17); // 0.5 s
    std::size_t written = 0; // frames; the sending thread's
    sending.on_refill([&](audiocast::multicast_sender& s) {
        const std::size_t left = std::min<std::size_t>(source.size() / channels - written, 720);
        if (left > 0)
            written += s.write(
                std::span<const std::int16_t>{source.data() + written * channels, left * channels});
        if (written * channels == source.size()) s.flush();
    });
    receiving.start();
    sending.start();

    constexpr std::size_t block_samples = 240 * channels;
    constexpr std::size_t blocks = 200; // 1 s
    std::vector<std::vector<std::int16_t>> played(
        receivers.size(), std::vector<std::int16_t>(blocks * block_samples));
    steady::time_point next = steady::now() + 5ms;
    for (std::size_t b = 0; b < blocks; ++b) {
        std::this_thread::sleep_until(next);
        for (std::size_t i = 0; i < receivers.size(); ++i)
            receivers[i]->pull(
                std::span<std::int16_t>{played[i].data() + b * block_samples, block_samples});
        next += 5ms;
    }
    sending.stop();
    receiving.stop();

    CHECK(send_errors.empty());
    REQUIRE(receive_errors.size() == 1); // once, not at every wait
    CHECK(receive_errors.front() == std::errc::bad_file_descriptor);
    // The thread went on for the streams it could wait on.
    CHECK(is_source_but_the_slip(trimmed(played[0], channels), source, channels,
                                 tx.sender().stats()));
    CHECK(is_source_but_the_slip(trimmed(played[2], channels), source, channels,
                                 tx.sender().stats()));
    CHECK(receivers[1]->stats().packets_received == 0);
    CHECK(std::all_of(played[1].begin(), played[1].end(), [](std::int16_t v) { return v == 0; }));
}
