// The rows of docs/robustness.md that concern the network: what a stranger on
// the group can send, and what the stream does with it. Manual clock,
// loopback transport; the rows about files, arguments and devices are in
// tests/e2e.
#include <audiocast/loopback_stream.hpp>
#include <audiocast/wire/rtp.hpp>

#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using namespace std::chrono_literals;
using audiocast_test::harness;
using audiocast_test::make_source;

namespace {

/// xorshift64*: fast, and the same bytes on every run.
class random_bytes {
public:
    explicit random_bytes(std::uint64_t seed) : state_{seed} {}

    void fill(std::span<std::byte> out) noexcept
    {
        for (std::size_t i = 0; i < out.size(); i += 8) {
            state_ ^= state_ >> 12;
            state_ ^= state_ << 25;
            state_ ^= state_ >> 27;
            const std::uint64_t v = state_ * 0x2545'F491'4F6C'DD1Dull;
            for (std::size_t b = 0; b < 8 && i + b < out.size(); ++b)
                out[i + b] = static_cast<std::byte>(v >> (8 * b));
        }
    }

private:
    std::uint64_t state_;
};

/// Every frame of the source played once, in order, nothing else audible.
void require_bit_exact(const harness& h)
{
    CHECK(h.without_silence(0) == h.source);
}

} // namespace

TEST_CASE("datagrams of every size from 0 to 65507 bytes of random content are counted and "
          "dropped, and the stream plays on bit-exact")
{
    harness h{1};
    h.step = 5ms;
    auto stranger = h.group.join();
    random_bytes noise{0xDEC0DE};
    std::vector<std::byte> junk(65'507);
    constexpr std::size_t sizes = 65'508;
    constexpr std::size_t per_step = 64; // 1024 steps: 5.1 s of stream
    h.source = make_source(static_cast<std::uint32_t>(sizes / per_step * 240), 2);
    std::size_t next_size = 0;
    while (next_size < sizes) {
        for (std::size_t i = 0; i < per_step && next_size < sizes; ++i, ++next_size) {
            const std::span<std::byte> datagram{junk.data(), next_size};
            noise.fill(datagram);
            stranger.send(datagram);
        }
        h.tick();
    }
    h.run(300ms);
    require_bit_exact(h);
    const auto s = h.receivers[0].stats();
    CAPTURE(s.packets_malformed, s.packets_foreign, s.packets_discarded, s.packets_overrun);
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_late == 0);
    CHECK(s.concealed_frames == 0);
    CHECK(s.source_changes == 1);
    // Each stranger's datagram is counted once, under one heading or another.
    CHECK(s.packets_malformed + s.packets_foreign + s.packets_discarded == sizes);
}

TEST_CASE("a stranger using the stream's SSRC from another address is foreign, and the stream "
          "plays on bit-exact")
{
    harness h{1};
    h.source = make_source(48'000, 2);
    auto spoofer = h.group.join();
    // The same SSRC, sequence numbers far from the stream's and two apart, and
    // a timestamp of its own: A.1 takes each for a jump that no successor
    // confirms. (Consecutive ones would be taken for a restarted sender:
    // see docs/robustness.md, which says what that costs and what SRTP adds.)
    audiocast::rtp::header fake;
    fake.payload_type = 96;
    fake.ssrc = *harness::fixed_ids().ssrc;
    fake.sequence = 40'000;
    fake.timestamp = 0x8000'0000;
    const std::vector<std::byte> payload(960, std::byte{0x55});
    std::vector<std::byte> buf(2048);
    std::size_t sent = 0;
    for (int i = 0; i < 1200; ++i) {
        if (i % 7 == 3) {
            spoofer.send(std::span<const std::byte>{buf.data(),
                                                    audiocast::rtp::serialize(fake, payload, buf)});
            fake.sequence = static_cast<std::uint16_t>(fake.sequence + 2);
            fake.timestamp += 480;
            ++sent;
        }
        h.tick();
    }
    h.run(300ms);
    require_bit_exact(h);
    const auto s = h.receivers[0].stats();
    CHECK(s.packets_foreign == sent);
    CHECK(s.packets_discarded == 0);
    CHECK(s.packets_lost == 0);
    CHECK(s.resyncs == 0);
}

TEST_CASE("a stream of another format on the same group is ignored once a stream plays")
{
    harness h{1};
    h.source = make_source(48'000, 2);
    h.run(100ms);
    // L24, 44.1 kHz, mono: 660-byte payloads, a whole number of L16 stereo
    // frames, so only its SSRC tells it from the stream being played.
    audiocast::pcm_config other_format{.format = {audiocast::sample_format::l24, 44'100, 1}};
    audiocast::sender_config cfg;
    cfg.ssrc = 0xF00D;
    audiocast::loopback_sender other{h.group.join(), audiocast::pcm_codec{other_format}, h.clock,
                                     cfg};
    const auto tone = make_source(44'100, 1);
    std::size_t written = 0;
    for (int i = 0; i < 900; ++i) {
        written += other.write(
            std::span<const std::int16_t>{tone.data() + written, tone.size() - written});
        other.poll();
        h.tick();
    }
    h.run(300ms);
    require_bit_exact(h);
    const auto s = h.receivers[0].stats();
    CHECK(s.packets_foreign >= 150);
    CHECK(s.source_changes == 1);
    CHECK(s.packets_lost == 0);
}

TEST_CASE("a receiver told its payload type is not captured by a stream of another type")
{
    // Without the type (from the SDP), the first source heard is played; with
    // it, a stranger's packets of another type are malformed and never lock.
    audiocast::receiver_config rx_cfg;
    rx_cfg.payload_type = 96;
    harness h{1, {}, 1, harness::fixed_ids(), rx_cfg};
    h.source = make_source(48'000, 2);
    auto stranger = h.group.join();
    audiocast::rtp::header other;
    other.payload_type = 97;
    other.ssrc = 0xBEEF;
    other.sequence = 7;
    const std::vector<std::byte> payload(960, std::byte{0x33});
    std::vector<std::byte> buf(2048);
    // The stranger is first on the group, and stays.
    for (int i = 0; i < 1200; ++i) {
        if (i % 5 == 0) {
            stranger.send(std::span<const std::byte>{
                buf.data(), audiocast::rtp::serialize(other, payload, buf)});
            ++other.sequence;
            other.timestamp += 240;
        }
        h.tick(i >= 50);
    }
    h.run(300ms);
    require_bit_exact(h);
    const auto s = h.receivers[0].stats();
    // The wrong type, whenever it came: each of its 240 packets counted once.
    CHECK(s.packets_malformed == 240);
    CHECK(s.packets_foreign == 0);
    CHECK(s.source_changes == 1);
    CHECK(s.packets_lost == 0);
}
