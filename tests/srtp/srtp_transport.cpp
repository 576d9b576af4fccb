// SRTP as a transport adapter (docs/architecture.md, Packet protection),
// against the real libsrtp2, over the in-memory loopback group: what a key
// holder sends arrives unchanged; what a stranger forges, replays or floods
// is counted and never handed on.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/loopback_stream.hpp>
#include <audiocast/protection/srtp_key.hpp>
#include <audiocast/protection/srtp_transport.hpp>
#include <audiocast/wire/rtp.hpp>

#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;
using audiocast::srtp_flow;
using audiocast::srtp_key;
using audiocast::srtp_suite;
using srtp_loopback = audiocast::srtp_transport<audiocast::loopback_transport>;

namespace {

// RFC 3711 B.2's master key and salt, as base64: a key any SRTP tool reads.
constexpr std::string_view rfc3711_key = "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm";

/// An RTP packet: 12-byte header with `ssrc` and `sequence`, then `payload_bytes` of `fill`.
std::vector<std::byte> rtp_packet(std::uint32_t ssrc, std::uint16_t sequence,
                                  std::size_t payload_bytes = 160, std::uint8_t fill = 0x5a)
{
    std::vector<std::byte> p(12 + payload_bytes, std::byte{fill});
    p[0] = std::byte{0x80};
    p[1] = std::byte{96};
    p[2] = std::byte(sequence >> 8);
    p[3] = std::byte(sequence & 0xff);
    const std::uint32_t timestamp = sequence * 160u;
    for (std::size_t i = 0; i < 4; ++i) {
        p[4 + i] = std::byte((timestamp >> (24 - 8 * i)) & 0xffu);
        p[8 + i] = std::byte((ssrc >> (24 - 8 * i)) & 0xffu);
    }
    return p;
}

std::uint64_t refused(const audiocast::srtp_stats& s)
{
    return s.unauthenticated + s.replayed + s.malformed;
}

/// Every datagram waiting for `t` that authenticates. receive() gives up
/// (would_block) after a run of drops so a flood cannot hold its caller;
/// a caller that is told more was dropped calls again, as a reactor would.
std::vector<std::vector<std::byte>> drain(srtp_loopback& t)
{
    std::vector<std::vector<std::byte>> got;
    std::array<std::byte, 2048> buffer{};
    for (int calls = 0; calls < 100'000; ++calls) {
        const std::uint64_t before = refused(t.stats());
        std::error_code ec;
        const std::size_t n = t.receive(buffer, ec);
        if (ec && refused(t.stats()) == before) break;
        if (!ec) got.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return got;
}

/// The loopback transport read in batches, as a socket is with recvmmsg:
/// each slot gets the next datagram, up to `most` a call.
struct batch_loopback {
    audiocast::loopback_transport inner;
    std::size_t most = 64;
    void send(std::span<const std::byte> d, std::error_code& ec) noexcept { inner.send(d, ec); }
    std::size_t receive(std::span<std::byte> b, std::error_code& ec) noexcept
    {
        return inner.receive(b, ec);
    }
    std::size_t receive_batch(std::span<audiocast::received_datagram> slots,
                              std::error_code& ec) noexcept
    {
        std::size_t got = 0;
        while (got < slots.size() && got < most) {
            const std::size_t n = inner.receive(slots[got].buffer, ec);
            if (ec) break;
            slots[got].size = n;
            slots[got].truncated = false;
            ++got;
        }
        if (got > 0) ec.clear();
        return got;
    }
};

} // namespace

TEST_CASE("SRTP keys: the suites' names and lengths, and base64 read strictly, with refusals that "
          "name lengths and never the key")
{
    CHECK(audiocast::srtp_suite_named("AES_CM_128_HMAC_SHA1_80") ==
          srtp_suite::aes_cm_128_hmac_sha1_80);
    CHECK(audiocast::srtp_suite_named("AEAD_AES_128_GCM") == srtp_suite::aead_aes_128_gcm);
    CHECK_FALSE(audiocast::srtp_suite_named("aes_cm_128_hmac_sha1_80"));
    CHECK_FALSE(audiocast::srtp_suite_named("AES_CM_128_HMAC_SHA1_32"));

    const srtp_key key = srtp_key::from_base64(srtp_suite::aes_cm_128_hmac_sha1_80, rfc3711_key);
    CHECK(key.valid());
    CHECK(key.bytes().size() == 30);
    CHECK(key.bytes()[0] == std::byte{0xe1});
    CHECK(key.bytes()[29] == std::byte{0xe6}); // the salt's last byte
    CHECK(key.base64() == rfc3711_key);

    for (const std::string_view bad :
         {std::string_view{"4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqv"}, // 39 characters
          std::string_view{"4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm\n"},
          std::string_view{"4fl6DT4Bi_DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"}, // base64url
          std::string_view{"4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqs="}, // 29 bytes
          std::string_view{""}, std::string_view{"===="}}) {
        INFO("'" << bad << "'");
        std::error_code ec;
        std::string what;
        const srtp_key k =
            srtp_key::from_base64(srtp_suite::aes_cm_128_hmac_sha1_80, bad, ec, &what);
        CHECK(ec == audiocast::errc::invalid_srtp_key);
        CHECK_FALSE(k.valid());
        CHECK(k.bytes().empty());
        CHECK(what.find("30-byte") != std::string::npos);
        CHECK(what.find("4fl6") == std::string::npos); // never the key itself
    }
    // 30 bytes are not a GCM key (28).
    std::error_code ec;
    (void)srtp_key::from_base64(srtp_suite::aead_aes_128_gcm, rfc3711_key, ec);
    CHECK(ec == audiocast::errc::invalid_srtp_key);
    CHECK_THROWS_AS(srtp_key::from_base64(srtp_suite::aead_aes_128_gcm, rfc3711_key),
                    std::system_error);

    const srtp_key fresh = srtp_key::generate(srtp_suite::aead_aes_128_gcm);
    CHECK(fresh.bytes().size() == 28);
    CHECK(fresh.base64().size() == 40);
    CHECK(srtp_key::from_base64(srtp_suite::aead_aes_128_gcm, fresh.base64()).base64() ==
          fresh.base64());
    CHECK(srtp_key::generate(srtp_suite::aead_aes_128_gcm).base64() != fresh.base64());
}

TEST_CASE("SRTP: what a key holder sends arrives byte for byte, in either suite, and the wire "
          "carries the payload encrypted with a tag")
{
    for (const srtp_suite suite :
         {srtp_suite::aes_cm_128_hmac_sha1_80, srtp_suite::aead_aes_128_gcm}) {
        INFO(audiocast::srtp_suite_name(suite));
        const srtp_key key = srtp_key::generate(suite);
        audiocast::manual_clock clock;
        audiocast::loopback_group group{clock};
        srtp_loopback tx{group.join(), key, srtp_flow::media};
        srtp_loopback rx{group.join(), key, srtp_flow::media};
        auto wire = group.join();
        for (std::uint16_t s = 0; s < 100; ++s)
            tx.send(rtp_packet(0x1234, static_cast<std::uint16_t>(65'500 + s)));
        const auto got = drain(rx);
        REQUIRE(got.size() == 100);
        for (std::uint16_t s = 0; s < 100; ++s)
            CHECK(got[s] == rtp_packet(0x1234, static_cast<std::uint16_t>(65'500 + s)));
        CHECK(rx.stats().unauthenticated == 0);

        std::array<std::byte, 2048> seen{};
        const std::size_t n = wire.receive(seen);
        const auto plain = rtp_packet(0x1234, 65'500);
        CHECK(n == plain.size() + (suite == srtp_suite::aead_aes_128_gcm ? 16 : 10));
        CHECK(std::equal(plain.begin(), plain.begin() + 12, seen.begin())); // the header stays
        CHECK_FALSE(std::equal(plain.begin() + 12, plain.end(), seen.begin() + 12));
    }
}

TEST_CASE("SRTP: a stranger's forged packets (the stream's SSRC and next numbers, junk, another "
          "key) and replays of captured ones are counted and never handed on")
{
    const srtp_key key = srtp_key::from_base64(srtp_suite::aes_cm_128_hmac_sha1_80, rfc3711_key);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    srtp_loopback rx{group.join(), key, srtp_flow::media};
    auto stranger = group.join();
    auto capture = group.join();
    srtp_loopback other_key{group.join(), srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80),
                            srtp_flow::media};

    std::vector<std::vector<std::byte>> sent;
    std::uint64_t forged = 0;
    for (std::uint16_t s = 0; s < 200; ++s) {
        sent.push_back(rtp_packet(0xC0FFEE, s, 160, static_cast<std::uint8_t>(s)));
        tx.send(sent.back());
        // The next packet in plain RTP, the same with a tag's worth of junk,
        // and from a holder of another key.
        stranger.send(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(s + 1)));
        auto tagged = rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(s + 1), 170);
        stranger.send(tagged);
        other_key.send(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(s + 1)));
        forged += 3;
    }
    // Replays: every packet captured off the wire, sent again.
    std::array<std::byte, 2048> buffer{};
    std::vector<std::vector<std::byte>> captured;
    for (;;) {
        std::error_code ec;
        const std::size_t n = capture.receive(buffer, ec);
        if (ec) break;
        captured.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
    // (Sent once all are captured: the capture hears its own group.)
    const std::uint64_t replays = captured.size();
    for (const auto& d : captured)
        stranger.send(d);
    const auto got = drain(rx);
    // The stream's own 200, once each, in order; none of the forgeries.
    REQUIRE(got.size() == sent.size());
    CHECK(got == sent);
    // The forgeries came before the real packet with their number, so each
    // failed authentication. A replay carries an index already received, and
    // libsrtp checks the index before the tag: the 200 real packets' copies
    // and those of the forgeries of 1-199 are refused as replays without
    // being decrypted. The 3 forgeries of number 200, which the sender never
    // reached, fail authentication again.
    CHECK(rx.stats().unauthenticated == forged + 3);
    CHECK(rx.stats().replayed == (forged - 3) + 200);
    CHECK(replays == forged + 200);
}

TEST_CASE("SRTCP: a control flow protects and checks RTCP, and refuses SRTP's form")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback a{group.join(), key, srtp_flow::control};
    srtp_loopback b{group.join(), key, srtp_flow::control};
    srtp_loopback media{group.join(), key, srtp_flow::media};
    // An RTCP receiver report with no blocks: V=2, PT=201, length 1, SSRC.
    const std::vector<std::byte> rr{std::byte{0x80}, std::byte{201}, std::byte{0}, std::byte{1},
                                    std::byte{0},    std::byte{0},   std::byte{0}, std::byte{7}};
    a.send(rr);
    media.send(rtp_packet(7, 1));
    const auto got = drain(b);
    REQUIRE(got.size() == 1); // the report; the SRTP packet is no SRTCP
    CHECK(got[0] == rr);
    CHECK(b.stats().unauthenticated + b.stats().malformed == 1); // the SRTP packet
}

TEST_CASE("SRTP over the loopback group: a stream plays its source bit-exact to a key holder, and "
          "a listener without the key plays nothing")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    using srtp_stream = audiocast::basic_multicast_stream<srtp_loopback, audiocast::pcm_codec,
                                                          audiocast::manual_clock>;
    audiocast::manual_clock clock;
    audiocast::loopback_group media{clock}, control{clock};
    const audiocast::pcm_codec codec{audiocast::pcm_config{.packet_time = 5ms}};
    srtp_stream::sender tx{srtp_loopback{media.join(), key, srtp_flow::media},
                           srtp_loopback{control.join(), key, srtp_flow::control}, codec, clock,
                           audiocast::sender_config{}};
    audiocast::receiver_config rc;
    rc.latency = 40ms;
    srtp_stream::receiver rx{srtp_loopback{media.join(), key, srtp_flow::media},
                             srtp_loopback{control.join(), key, srtp_flow::control}, codec, clock,
                             rc};
    const srtp_key wrong = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    srtp_stream::receiver stranger{srtp_loopback{media.join(), wrong, srtp_flow::media},
                                   srtp_loopback{control.join(), wrong, srtp_flow::control}, codec,
                                   clock, rc};

    const auto source = audiocast_test::make_source(48'000, 2);
    std::vector<std::int16_t> played, overheard, block(96);
    std::size_t written = 0;
    for (int ms = 0; ms < 1'300; ++ms) {
        if (written < source.size() / 2)
            written += tx.write(std::span<const std::int16_t>{source}.subspan(written * 2));
        tx.poll();
        rx.poll();
        rx.pull(std::span<std::int16_t>{block});
        played.insert(played.end(), block.begin(), block.end());
        stranger.poll();
        stranger.pull(std::span<std::int16_t>{block});
        overheard.insert(overheard.end(), block.begin(), block.end());
        clock.advance(1ms);
    }
    const auto heard = audiocast_test::trimmed(played, 2);
    REQUIRE(heard.size() >= source.size());
    CHECK(std::equal(source.begin(), source.end(), heard.begin()));
    CHECK(rx.stats().packets_lost == 0);
    CHECK(std::ranges::all_of(overheard, [](std::int16_t v) { return v == 0; }));
    CHECK(stranger.stats().packets_received == 0);
    CHECK(rx.stats().packets_received >= 200);
    CHECK(stranger.transport().stats().unauthenticated == rx.stats().packets_received);
}

TEST_CASE("SRTP: forgeries that claim numbers far ahead do not move the replay window, so the "
          "real stream that follows still plays")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    srtp_loopback rx{group.join(), key, srtp_flow::media};
    auto stranger = group.join();
    std::vector<std::vector<std::byte>> sent;
    for (std::uint16_t s = 0; s < 10; ++s) {
        sent.push_back(rtp_packet(0xC0FFEE, s));
        tx.send(sent.back());
    }
    // Far ahead, and far enough to look like a wrap of the 16-bit number.
    for (std::uint16_t s = 0; s < 300; ++s) {
        stranger.send(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(2'000 + s), 170));
        stranger.send(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(40'000 + s), 170));
    }
    for (std::uint16_t s = 10; s < 100; ++s) {
        sent.push_back(rtp_packet(0xC0FFEE, s));
        tx.send(sent.back());
    }
    CHECK(drain(rx) == sent);
    CHECK(rx.stats().unauthenticated == 600);
    CHECK(rx.stats().replayed == 0);
}

TEST_CASE("SRTP unprotected(): plain RTP passes both ways, and a protected listener refuses it")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    auto plain_tx = srtp_loopback::unprotected(group.join());
    auto plain_rx = srtp_loopback::unprotected(group.join());
    srtp_loopback keyed_rx{group.join(), key, srtp_flow::media};
    CHECK_FALSE(plain_tx.is_protected());
    CHECK(keyed_rx.is_protected());
    std::vector<std::vector<std::byte>> sent;
    for (std::uint16_t s = 0; s < 20; ++s) {
        sent.push_back(rtp_packet(42, s));
        plain_tx.send(sent.back());
    }
    CHECK(drain(plain_rx) == sent);
    CHECK(drain(keyed_rx).empty());
    CHECK(keyed_rx.stats().unauthenticated == 20);
}

TEST_CASE("SRTP read in batches: the datagrams that authenticate fill the first slots, in order, "
          "each once, and forged ones between them are counted")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    using srtp_batch = audiocast::srtp_transport<batch_loopback>;
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    srtp_batch rx{batch_loopback{group.join()}, key, srtp_flow::media};
    auto stranger = group.join();
    std::vector<std::vector<std::byte>> sent;
    std::uint16_t next = 0;
    const auto send_real = [&](int count) {
        for (int i = 0; i < count; ++i) {
            sent.push_back(rtp_packet(7, next++));
            tx.send(sent.back());
        }
    };
    const auto forge = [&](int count) {
        for (int i = 0; i < count; ++i)
            stranger.send(rtp_packet(7, static_cast<std::uint16_t>(next + 100 + i), 170));
    };
    // One real packet in a batch of 4 slots; then real and forged mixed.
    send_real(1);
    forge(2);
    send_real(3);
    forge(5);
    send_real(2);
    std::vector<audiocast::received_datagram> slots(4);
    std::vector<std::vector<std::byte>> buffers(slots.size(), std::vector<std::byte>(2048));
    for (std::size_t i = 0; i < slots.size(); ++i)
        slots[i].buffer = buffers[i];
    std::vector<std::vector<std::byte>> got;
    for (int call = 0; call < 20; ++call) {
        std::error_code ec;
        const std::size_t n = rx.receive_batch(slots, ec);
        for (std::size_t i = 0; i < n; ++i)
            got.emplace_back(slots[i].buffer.begin(),
                             slots[i].buffer.begin() + static_cast<std::ptrdiff_t>(slots[i].size));
        if (n == 0) break;
    }
    CHECK(got == sent);
    CHECK(rx.stats().unauthenticated == 7);
    CHECK(rx.stats().malformed == 0);
    CHECK(rx.stats().replayed == 0);
}

TEST_CASE("SRTP read in batches: forgeries ahead of real packets do not end the read early, so a "
          "caller that stops at a short batch still gets every real packet")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    using srtp_batch = audiocast::srtp_transport<batch_loopback>;
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    srtp_batch rx{batch_loopback{group.join(), 4}, key, srtp_flow::media};
    auto stranger = group.join();
    for (std::uint16_t s = 0; s < 200; ++s)
        stranger.send(rtp_packet(7, static_cast<std::uint16_t>(1000 + s), 170));
    for (std::uint16_t s = 0; s < 3; ++s)
        tx.send(rtp_packet(7, s));
    std::vector<audiocast::received_datagram> slots(4);
    std::vector<std::vector<std::byte>> buffers(slots.size(), std::vector<std::byte>(2048));
    for (std::size_t i = 0; i < slots.size(); ++i)
        slots[i].buffer = buffers[i];
    std::error_code ec;
    CHECK(rx.receive_batch(slots, ec) == 3); // short: nothing is left
    CHECK_FALSE(ec);
    CHECK(rx.stats().unauthenticated == 200);
    // A flood larger than one call's budget ends the call, counted, and the
    // next call goes on where it stopped.
    const auto budget = static_cast<std::uint16_t>(srtp_batch::max_drops_per_call);
    for (std::uint16_t s = 0; s < budget + 10; ++s)
        stranger.send(rtp_packet(7, static_cast<std::uint16_t>(3000 + s), 170));
    tx.send(rtp_packet(7, 3));
    CHECK(rx.receive_batch(slots, ec) == 0);
    CHECK(rx.receive_batch(slots, ec) == 1);
    CHECK(rx.stats().unauthenticated == 200u + budget + 10u);
}

TEST_CASE("SRTP: a datagram that protection would push past the UDP limit is refused before it "
          "is protected, naming the size and the limit")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    for (const auto& [suite, flow, most] :
         {std::tuple{srtp_suite::aes_cm_128_hmac_sha1_80, srtp_flow::media, 65'497u},
          std::tuple{srtp_suite::aead_aes_128_gcm, srtp_flow::media, 65'491u},
          std::tuple{srtp_suite::aes_cm_128_hmac_sha1_80, srtp_flow::control, 65'493u}}) {
        srtp_loopback tx{group.join(), srtp_key::generate(suite), flow};
        std::vector<std::byte> big = rtp_packet(1, 1, most - 12);
        if (flow == srtp_flow::control) big[1] = std::byte{200};
        std::error_code ec;
        tx.send(std::vector<std::byte>(big.begin(), big.end()), ec);
        CHECK_FALSE(ec);
        big.push_back(std::byte{0});
        tx.send(big, ec);
        CHECK(ec == std::errc::message_size);
        CHECK(tx.stats().protect_failures == 0);
        try {
            tx.send(big);
            FAIL("no exception");
        } catch (const std::system_error& e) {
            CHECK_THAT(e.what(), Catch::Contains(std::to_string(most + 1) + " bytes") &&
                                     Catch::Contains("at most " + std::to_string(most)));
        }
    }
}

namespace {

/// A sender as libsrtp is one, that has been streaming for `wraps` wraps of
/// its sequence numbers when a listener joins: its rollover counter is set
/// as a long-running sender's would be.
class long_running_sender {
public:
    long_running_sender(const srtp_key& key, std::uint32_t ssrc, std::uint32_t wraps)
        : ssrc_{ssrc}, wraps_{wraps}
    {
        std::error_code ec;
        session_ = audiocast::detail::make_srtp_session(key, true, 1024, ec);
        REQUIRE_FALSE(ec);
    }

    /// Packet `sequence` of the stream, protected, at the current wrap.
    std::vector<std::byte> packet(std::uint16_t sequence, std::uint8_t fill)
    {
        auto p = rtp_packet(ssrc_, sequence, 160, fill);
        p.resize(p.size() + SRTP_MAX_TRAILER_LEN);
        if (!started_) {
            // libsrtp makes the stream on its first packet; a real sender's
            // ROC then counts up from 0 with each wrap.
            auto first = rtp_packet(ssrc_, static_cast<std::uint16_t>(sequence - 1));
            first.resize(first.size() + SRTP_MAX_TRAILER_LEN);
            int n = 12 + 160;
            REQUIRE(srtp_protect(session_.get(), first.data(), &n) == srtp_err_status_ok);
            REQUIRE(srtp_set_stream_roc(session_.get(), ssrc_, wraps_) == srtp_err_status_ok);
            started_ = true;
        }
        int len = 12 + 160;
        REQUIRE(srtp_protect(session_.get(), p.data(), &len) == srtp_err_status_ok);
        p.resize(static_cast<std::size_t>(len));
        return p;
    }

private:
    audiocast::detail::srtp_session session_;
    std::uint32_t ssrc_;
    std::uint32_t wraps_;
    bool started_ = false;
};

} // namespace

TEST_CASE("SRTP: a listener that joins after the sender's sequence numbers wrapped finds the "
          "rollover counter and plays from its second packet")
{
    for (const srtp_suite suite :
         {srtp_suite::aes_cm_128_hmac_sha1_80, srtp_suite::aead_aes_128_gcm}) {
        INFO(audiocast::srtp_suite_name(suite));
        const srtp_key key = srtp_key::generate(suite);
        audiocast::manual_clock clock;
        audiocast::loopback_group group{clock};
        srtp_loopback tx{group.join(), key, srtp_flow::media};
        // Once across the wrap before the listener is there.
        for (std::uint16_t s = 0; s < 100; ++s)
            tx.send(rtp_packet(0x5EED, static_cast<std::uint16_t>(65'500 + s)));
        srtp_loopback late{group.join(), key, srtp_flow::media};
        std::vector<std::vector<std::byte>> sent;
        for (std::uint16_t s = 100; s < 300; ++s) {
            sent.push_back(rtp_packet(0x5EED, static_cast<std::uint16_t>(65'500 + s)));
            tx.send(sent.back());
        }
        const auto got = drain(late);
        // The first tells it of the source, the second is in sequence and
        // finds ROC 1; from there on everything.
        REQUIRE(got.size() == sent.size() - 1);
        CHECK(std::equal(got.begin(), got.end(), sent.begin() + 1));
        CHECK(late.stats().rollovers_found == 1);
        CHECK(late.stats().unauthenticated == 1);
    }
}

TEST_CASE("SRTP: a listener that joins a sender hundreds of wraps old (a day and a half at 5 "
          "ms packets) plays from its second packet")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    auto wire = group.join();
    srtp_loopback late{group.join(), key, srtp_flow::media};
    long_running_sender sender{key, 0xD00D, 400};
    for (std::uint16_t s = 0; s < 50; ++s)
        wire.send(
            sender.packet(static_cast<std::uint16_t>(40'000 + s), static_cast<std::uint8_t>(s)));
    const auto got = drain(late);
    // The second packet's trials (a source's reserve, less its stream's
    // cost) reach ROC 400.
    using search = audiocast::srtp_rollover_search;
    REQUIRE(got.size() == 50 - 1);
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == rtp_packet(0xD00D, static_cast<std::uint16_t>(40'001 + i), 160,
                                   static_cast<std::uint8_t>(1 + i)));
    CHECK(late.stats().rollovers_found == 1);
    CHECK(late.stats().rollover_trials == search::burst_trials - search::stream_cost);
}

TEST_CASE("SRTP: a stranger's in-sequence forgeries from a new source buy at most the search "
          "budget, and a real late joiner is still found beside them")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    auto wire = group.join();
    srtp_loopback late{group.join(), key, srtp_flow::media};
    long_running_sender sender{key, 0xD00D, 3};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::vector<std::byte>> sent;
    for (std::uint16_t s = 0; s < 2'000; ++s) {
        wire.send(rtp_packet(0xBAD, s, 170)); // in sequence, with a tag's worth of junk
        if (s >= 1'000) {
            sent.push_back(rtp_packet(0xD00D, s, 160, static_cast<std::uint8_t>(s)));
            wire.send(sender.packet(s, static_cast<std::uint8_t>(s)));
        }
    }
    const auto got = drain(late);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The forger's source spent its own budget; the real one, with its own,
    // was found at its second packet.
    REQUIRE(got.size() == sent.size() - 1);
    CHECK(std::equal(got.begin(), got.end(), sent.begin() + 1));
    CHECK(late.stats().rollovers_found == 1);
    using search = audiocast::srtp_rollover_search;
    const double budget = 2 * (search::burst_trials + search::trials_per_second * seconds);
    CHECK(static_cast<double>(late.stats().rollover_trials) <= budget);
}

TEST_CASE("SRTP: a stranger who names the sender's SSRC before it starts does not keep it from "
          "playing from its first packet")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback rx{group.join(), key, srtp_flow::media};
    auto stranger = group.join();
    for (std::uint16_t s = 0; s < 50; ++s)
        stranger.send(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(7'000 + s), 170));
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    std::vector<std::vector<std::byte>> sent;
    for (std::uint16_t s = 0; s < 100; ++s) {
        sent.push_back(rtp_packet(0xC0FFEE, static_cast<std::uint16_t>(7'050 + s)));
        tx.send(sent.back());
    }
    CHECK(drain(rx) == sent);
    CHECK(rx.stats().unauthenticated == 50);
}

TEST_CASE("SRTP: past the sources libsrtp keeps state for, the one used least recently is let "
          "go, and every source still plays, the first among them")
{
    const srtp_key key = srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    srtp_loopback tx{group.join(), key, srtp_flow::media};
    srtp_loopback rx{group.join(), key, srtp_flow::media};
    auto wire = group.join();
    constexpr auto sources = static_cast<std::uint32_t>(srtp_loopback::max_sources + 100);
    std::vector<std::vector<std::byte>> sent;
    std::vector<std::vector<std::byte>> got;
    std::vector<std::byte> steady_first; // its first packet as on the wire, to replay
    std::array<std::byte, 2048> buffer{};
    std::uint16_t steady_sequence = 0;
    for (int round = 0; round < 2; ++round)
        for (std::uint32_t ssrc = 1; ssrc <= sources; ++ssrc) {
            for (std::uint16_t s = 0; s < 2; ++s) {
                sent.push_back(rtp_packet(ssrc, static_cast<std::uint16_t>(round * 2 + s)));
                tx.send(sent.back());
            }
            // One source keeps sending among them: never the one let go.
            if (ssrc % 100 == 0) {
                sent.push_back(rtp_packet(0xFEED, steady_sequence++));
                tx.send(sent.back());
            }
            // Read as it goes: the loopback group holds a few thousand.
            for (auto& d : drain(rx))
                got.push_back(std::move(d));
            for (std::error_code ec;;) {
                const std::size_t n = wire.receive(buffer, ec);
                if (ec) break;
                if (steady_first.empty() && n > 12 && buffer[8] == std::byte{0} &&
                    buffer[10] == std::byte{0xFE} && buffer[11] == std::byte{0xED})
                    steady_first.assign(buffer.begin(),
                                        buffer.begin() + static_cast<std::ptrdiff_t>(n));
            }
        }
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
    CHECK(rx.stats().unauthenticated == 0);
    CHECK(rx.stats().replayed == 0);
    CHECK(rx.stats().malformed == 0);
    // Its state was kept, replay window and all (more than max_sources were
    // admitted after it): its first packet, sent again, is a replay.
    REQUIRE_FALSE(steady_first.empty());
    wire.send(steady_first);
    CHECK(drain(rx).empty());
    CHECK(rx.stats().replayed == 1);
}
