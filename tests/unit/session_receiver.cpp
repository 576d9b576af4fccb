#include <audiocast/session/receiver_session.hpp>

#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/packet_screen.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtp.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using audiocast::pcm_codec;
using audiocast::time_point;
using audiocast::wall_time;
using receiver = audiocast::receiver_session<pcm_codec>;

namespace {

const time_point t0{std::chrono::seconds{1000}};
const wall_time w0{std::chrono::seconds{1'800'000'000}};

// Packets of 240 stereo L16 frames, built by hand so each test controls every field.
struct packet_maker {
    std::uint16_t sequence = 500;
    std::uint32_t timestamp = 90'000;
    std::uint32_t ssrc = 0xABCD;
    std::uint8_t payload_type = 96;
    std::int16_t value = 1000;

    std::vector<std::byte> next(bool marker = false, std::size_t frames = 240)
    {
        audiocast::rtp::header h;
        h.marker = marker;
        h.payload_type = payload_type;
        h.sequence = sequence++;
        h.timestamp = timestamp;
        h.ssrc = ssrc;
        timestamp += static_cast<std::uint32_t>(frames);
        std::vector<std::int16_t> samples(frames * 2, value);
        std::vector<std::byte> payload(frames * 4);
        pcm_codec{}.encode(std::span<const std::int16_t>{samples}, payload);
        std::vector<std::byte> out(audiocast::rtp::header_size(h) + payload.size());
        out.resize(audiocast::rtp::serialize(h, payload, out));
        return out;
    }
};

std::vector<std::int16_t> pull(receiver& r, std::size_t frames, time_point now)
{
    std::vector<std::int16_t> out(frames * 2);
    r.pull(std::span<std::int16_t>{out}, now);
    return out;
}

} // namespace

TEST_CASE("receiver counts and drops each kind of malformed datagram, and the stream goes on")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    // Two packets in sequence make it the source (RFC 3550 A.1 probation).
    r.on_datagram(m.next(true), t0, w0);
    r.on_datagram(m.next(), t0, w0);
    const auto good = m.next();

    std::vector<std::vector<std::byte>> bad;
    bad.emplace_back();                                // empty
    bad.emplace_back(good.begin(), good.begin() + 11); // shorter than the fixed header
    bad.push_back(good);
    bad.back()[0] = std::byte{0x40}; // version 1
    bad.push_back(good);
    bad.back()[0] = std::byte{0x8F}; // 15 CSRCs run past a short packet
    bad.back().resize(40);
    bad.push_back(good);
    bad.back()[0] = std::byte{0x90}; // extension header past the end
    bad.back().resize(14);
    bad.push_back(good);
    bad.back()[0] = std::byte{0x90}; // extension length past the end
    bad.back()[14] = std::byte{0xFF};
    bad.back()[15] = std::byte{0xFF};
    bad.push_back(good);
    bad.back()[0] = std::byte{0xA0}; // padding count 0
    bad.back().back() = std::byte{0};
    bad.push_back(good);
    bad.back()[0] = std::byte{0xA0}; // padding longer than the packet
    bad.back().back() = std::byte{0xFF};
    {
        packet_maker other = m;
        other.payload_type = 97; // wrong payload type
        bad.push_back(other.next());
    }
    bad.push_back(good);
    bad.back().push_back(std::byte{0}); // payload not whole frames

    for (const auto& d : bad)
        r.on_datagram(d, t0 + 1ms, w0);
    CHECK(r.stats().packets_malformed == bad.size());

    r.on_datagram(good, t0 + 5ms, w0);
    for (int i = 0; i < 7; ++i)
        r.on_datagram(m.next(), t0 + 10ms + i * 5ms, w0);
    const auto s = r.stats();
    CHECK(s.packets_received == 10);
    CHECK(s.packets_lost == 0);
    const auto out = pull(r, 2400, t0 + 40ms);
    CHECK(std::all_of(out.begin(), out.end(), [](std::int16_t v) { return v == 1000; }));
}

TEST_CASE("receiver jitter is zero for a constant delay")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 50; ++i)
        r.on_datagram(m.next(i == 0), t0 + 3ms + i * 5ms, w0);
    CHECK(r.stats().jitter == 0ns);
}

TEST_CASE("receiver jitter follows RFC 3550 for an alternating delay")
{
    // Every other packet 1 ms (48 timestamp units) late: |D| = 48 for each pair.
    // A.8's integer form keeps 16 J: 48, 48 + 48 - 3 = 93, 93 + 48 - 6 = 135, ...
    // so J = 3, 5.8125, 8.4375 units, converging on 48 units = 1 ms.
    receiver r{pcm_codec{}};
    packet_maker m;
    const auto arrive = [&](int i) {
        r.on_datagram(m.next(i == 0), t0 + i * 5ms + (i % 2 == 1 ? 1ms : 0ms), w0);
    };
    arrive(0);
    arrive(1);
    CHECK(r.stats().jitter.count() == Approx(3 / 48e3 * 1e9).margin(1));
    arrive(2);
    CHECK(r.stats().jitter.count() == Approx(93.0 / 16 / 48e3 * 1e9).margin(1));
    arrive(3);
    CHECK(r.stats().jitter.count() == Approx(135.0 / 16 / 48e3 * 1e9).margin(1));
    for (int i = 4; i < 300; ++i)
        arrive(i);
    CHECK(r.stats().jitter >= 47 * 1'000'000'000ns / 48'000);
    CHECK(r.stats().jitter <= 1ms);
    CHECK(r.stats().ipdv_p50 == 0ns); // no send-time extension on these packets
}

TEST_CASE("receiver conceals a lost packet with a fade and counts it")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 10; ++i) {
        auto p = m.next(i == 0);
        if (i != 4) r.on_datagram(p, t0 + i * 5ms, w0);
    }
    const auto out = pull(r, 2400, t0 + 40ms);
    const auto s = r.stats();
    CHECK(s.packets_lost == 1);
    CHECK(s.concealed_frames == 240);
    // Before the gap, the audio; the gap fades from it to silence, then silence.
    CHECK(out[2 * 959] == 1000);
    CHECK(out[2 * 960] > 0);
    CHECK(out[2 * 960] < 1000);
    CHECK(out[2 * 1100] == 0);
    // After it the audio fades back in over 2 ms (96 frames).
    CHECK(out[2 * 1200] > 0);
    CHECK(out[2 * 1200] < 1000);
    CHECK(out[2 * 1300] == 1000);
}

TEST_CASE("receiver drops a packet that arrives after its playout time as late")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    const auto first = m.next(true);
    const auto second = m.next();
    const auto third = m.next();
    const auto fourth = m.next();
    r.on_datagram(first, t0, w0);
    r.on_datagram(second, t0 + 5ms, w0);
    r.on_datagram(fourth, t0 + 15ms, w0);
    pull(r, 720, t0 + 40ms); // plays the first two packets and conceals the third
    r.on_datagram(third, t0 + 50ms, w0);
    const auto s = r.stats();
    CHECK(s.packets_late == 1);
    CHECK(s.packets_lost == 0);
    CHECK(s.concealed_frames == 240);
}

TEST_CASE("a packet that arrives after the receiver ran dry is late, not played after newer audio")
{
    // Found by the day-long soak: a packet held back past a pause re-anchored
    // playout at its own, older, position, so it played after frames that
    // followed it.
    receiver r{pcm_codec{}};
    packet_maker m;
    const auto first = m.next(true);
    const auto second = m.next();
    m.value = 2000;
    const auto held = m.next();
    m.value = 3000;
    const auto fourth = m.next();
    r.on_datagram(first, t0, w0);
    r.on_datagram(second, t0 + 5ms, w0);
    r.on_datagram(fourth, t0 + 15ms, w0);
    pull(r, 960, t0 + 40ms); // plays two, conceals the held one, plays the fourth
    pull(r, 240, t0 + 60ms); // runs dry
    REQUIRE(r.state() == audiocast::playout_state::drained);
    r.on_datagram(held, t0 + 60ms, w0);
    CHECK(r.stats().packets_late == 1);
    m.value = 4000;
    for (int i = 0; i < 4; ++i)
        r.on_datagram(m.next(i == 0), t0 + 70ms + i * 5ms, w0);
    // From here on the held packet's value never plays; the newest packets' does.
    std::vector<std::int16_t> played;
    for (int i = 0; i < 16; ++i) {
        const auto out = pull(r, 240, t0 + 70ms + i * 5ms);
        played.insert(played.end(), out.begin(), out.end());
    }
    CHECK(std::find(played.begin(), played.end(), std::int16_t{2000}) == played.end());
    CHECK(std::find(played.begin(), played.end(), std::int16_t{4000}) != played.end());
}

TEST_CASE("receiver plays silence before any packet and while buffering")
{
    receiver r{pcm_codec{}};
    CHECK(r.state() == audiocast::playout_state::idle);
    auto out = pull(r, 480, t0);
    CHECK(std::all_of(out.begin(), out.end(), [](std::int16_t v) { return v == 0; }));
    packet_maker m;
    r.on_datagram(m.next(true), t0, w0);
    // One packet proves nothing (RFC 3550 A.1 probation); it is held.
    CHECK(r.state() == audiocast::playout_state::idle);
    r.on_datagram(m.next(), t0, w0);
    CHECK(r.state() == audiocast::playout_state::buffering);
    // Pulled 30 ms after arrival: 10 ms (480 frames) of silence, then audio.
    out = pull(r, 720, t0 + 30ms);
    CHECK(out[2 * 479] == 0);
    CHECK(out[2 * 480] == 1000);
    CHECK(r.state() == audiocast::playout_state::playing);
}

TEST_CASE("receiver refuses a latency outside its limits")
{
    audiocast::receiver_config cfg;
    cfg.latency = 0ms;
    CHECK_THROWS_WITH((receiver{pcm_codec{}, cfg}), Catch::Contains("latency"));
    std::error_code ec;
    receiver::validate(cfg, ec);
    CHECK(ec == audiocast::errc::invalid_latency);
}

TEST_CASE("a receiver pulled late for the first time still plays at the target latency")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i <= 30; ++i) {
        m.value = static_cast<std::int16_t>(i + 1);
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    }
    // The device opens 150 ms after the first packet, 110 ms after its
    // playout time: what should have played by now is dropped, so the frame
    // due now (packet 22, value 23) plays now, give or take the half latency
    // (20 ms) that counts as callback jitter.
    const auto out = pull(r, 240, t0 + 150ms);
    CHECK(out[0] >= 19);
    CHECK(out[0] <= 23);
    CHECK(r.stats().resyncs == 0);
}

TEST_CASE("one stray packet with a far timestamp is discarded, not followed")
{
    audiocast::receiver_config cfg;
    cfg.latency = 200ms; // nothing is pulled: no frame falls due meanwhile
    receiver r{pcm_codec{}, cfg};
    packet_maker m;
    for (int i = 0; i < 10; ++i)
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    auto stray = m;
    stray.timestamp += 48'000; // one second ahead
    r.on_datagram(stray.next(), t0 + 50ms, w0);
    m.sequence = stray.sequence;
    for (int i = 11; i < 20; ++i)
        r.on_datagram(m.next(), t0 + i * 5ms, w0);
    const auto s = r.stats();
    CHECK(s.packets_discarded == 1);
    CHECK(s.resyncs == 0);
    CHECK(s.packets_late == 0);
    CHECK(s.buffered_frames == 19 * 240);
}

TEST_CASE("a timeline jump that the next packet confirms restarts playout there, with both")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 10; ++i)
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    m.timestamp += 48'000;
    r.on_datagram(m.next(), t0 + 50ms, w0);
    CHECK(r.stats().packets_discarded == 1); // held, until the next packet confirms it
    CHECK(r.stats().resyncs == 0);
    r.on_datagram(m.next(), t0 + 55ms, w0);
    const auto s = r.stats();
    CHECK(s.packets_discarded == 0);
    CHECK(s.resyncs == 1);
    CHECK(s.frames_discarded == 10 * 240); // what the old timeline had buffered
    CHECK(r.state() == audiocast::playout_state::buffering);
    CHECK(s.buffered_frames == 2 * 240);
}

TEST_CASE("after a sender's schedule slip whose next packet is lost, the packet after the slip "
          "is played, not discarded")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 10; ++i)
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    m.timestamp += 960; // the sender moved its schedule 20 ms on
    r.on_datagram(m.next(), t0 + 75ms, w0);
    (void)m.next(); // lost on the way
    r.on_datagram(m.next(), t0 + 85ms, w0);
    const auto s = r.stats();
    CHECK(s.packets_discarded == 0); // was 1: the jumped packet, which no next packet confirmed
    CHECK(s.packets_lost == 1);
    CHECK(s.packets_received == 12);
    CHECK(s.resyncs == 0);
}

TEST_CASE("a receiver refuses a packet with no audio in it")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    r.on_datagram(m.next(true, 0), t0, w0);
    CHECK(r.stats().packets_malformed == 1);
    CHECK(r.state() == audiocast::playout_state::idle);
}

TEST_CASE("pull silences a trailing partial frame")
{
    receiver r{pcm_codec{}};
    std::vector<std::int16_t> out(481, 12'345);
    r.pull(std::span<std::int16_t>{out}, t0);
    CHECK(out[480] == 0);
}

TEST_CASE("receiver configuration errors name the setting at fault")
{
    audiocast::receiver_config cfg;
    cfg.payload_type = 200;
    CHECK_THROWS_WITH((receiver{pcm_codec{}, cfg}),
                      Catch::Contains("payload type 200 is outside 0-127"));
    cfg = {};
    cfg.latency = 6s;
    CHECK_THROWS_WITH((receiver{pcm_codec{}, cfg}),
                      Catch::Contains("playout latency 6000 ms is outside 1-5000 ms"));
    // The code and the message come from one check: they name the same setting.
    CHECK(audiocast::check(cfg).code == audiocast::errc::invalid_latency);
    cfg = {};
    cfg.cname = std::string(300, 'x');
    CHECK_THROWS_WITH((receiver{pcm_codec{}, cfg}),
                      Catch::Contains("CNAME of 300 bytes is outside 0-255 bytes"));
    cfg = {};
    cfg.max_rate_adjustment = std::nan("");
    CHECK(audiocast::check(cfg).code == audiocast::errc::invalid_rate_adjustment);
}

TEST_CASE("a first pull a little after the start time loses no audio")
{
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 10; ++i) {
        m.value = static_cast<std::int16_t>(i + 1);
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    }
    const auto out = pull(r, 240, t0 + 40ms + 3ms); // 3 ms of callback jitter
    CHECK(out[0] == 1);
}

TEST_CASE("a backlog read at once, dated when it arrived, plays from the live edge without a "
          "resync")
{
    // A listener that joined the group before it was ready finds 300 ms of
    // packets queued; the transport dates each when the kernel took it in
    // (datagram_origin::waited). Playout must start with the frame due now,
    // not the oldest queued nor after a resync that throws the window away.
    receiver r{pcm_codec{}};
    packet_maker m;
    for (int i = 0; i < 60; ++i) {
        m.value = static_cast<std::int16_t>(i + 1);
        r.on_datagram(m.next(i == 0), t0 + i * 5ms, w0);
    }
    const auto out = pull(r, 240, t0 + 300ms);
    const auto s = r.stats();
    CHECK(s.resyncs == 0);
    CHECK(s.packets_late == 0);
    // Due at 300 ms is the frame sent 40 ms (the latency) before: packet 52,
    // value 53. Within the half latency a late pull may lag, that is packet 48
    // or later; and every frame is played, buffered or counted as discarded.
    CHECK(out[0] >= 49);
    CHECK(out[0] <= 53);
    CHECK(s.frames_discarded + 240 + s.buffered_frames == 60 * 240);
}

TEST_CASE("packet_screen: a compressed format's payloads are counted by its codec, and one the "
          "codec cannot read, or longer than the buffers take, is refused")
{
    // A codec whose payloads hold ten frames a byte, none when the first byte is 0.
    constexpr audiocast::packet_screen::frame_counter tens =
        [](std::span<const std::byte> p) noexcept -> std::size_t {
        return p.empty() || p[0] == std::byte{0} ? 0 : p.size() * 10;
    };
    const audiocast::audio_format compressed{audiocast::sample_format::opus, 48'000, 2};
    const audiocast::packet_screen screen{compressed, 96, 1, 40, tens};
    const auto datagram = [](std::initializer_list<int> payload) {
        std::vector<std::byte> d{std::byte{0x80}, std::byte{96}};
        d.resize(12);
        for (int b : payload)
            d.push_back(static_cast<std::byte>(b));
        return d;
    };
    bool passed = false;
    (void)screen.screen(datagram({7, 1, 2}), passed);
    CHECK(passed);
    CHECK(screen.frames(std::vector<std::byte>{std::byte{7}, std::byte{1}}) == 20);
    (void)screen.screen(datagram({0, 1, 2}), passed);
    CHECK_FALSE(passed);
    (void)screen.screen(datagram({7, 1, 2, 3, 4}), passed); // 50 frames, beyond 40
    CHECK_FALSE(passed);
    // Without a counter a compressed format has no bytes a frame: nothing passes.
    const audiocast::packet_screen blind{compressed, 96, 1, 40};
    (void)blind.screen(datagram({7, 1, 2}), passed);
    CHECK_FALSE(passed);
}
