#include <audiocast/concepts.hpp>

#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/transport/loopback.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <span>
#include <system_error>

namespace {

// Almost a transport: it can send but not receive.
struct send_only {
    void send(std::span<const std::byte>, std::error_code&) {}
};

// Almost a clock: no wall time for send stamps.
struct monotonic_only {
    audiocast::time_point now() const { return {}; }
};

// Almost a codec: describes packets but converts nothing.
struct description_only {
    audiocast::audio_format format() const { return {}; }
    std::chrono::nanoseconds packet_time() const { return {}; }
    std::size_t frames_per_packet() const { return 0; }
    std::size_t payload_bytes() const { return 0; }
};

} // namespace

TEST_CASE("the library's policies model their concepts")
{
    STATIC_REQUIRE(audiocast::transport<audiocast::loopback_transport>);
    STATIC_REQUIRE(audiocast::codec<audiocast::pcm_codec>);
    STATIC_REQUIRE(audiocast::pcm_converter<audiocast::pcm_codec>);
    STATIC_REQUIRE(audiocast::clock<audiocast::manual_clock>);
    STATIC_REQUIRE(audiocast::clock<audiocast::steady_clock>);
}

TEST_CASE("a type that misses one requirement does not model the concept")
{
    STATIC_REQUIRE(audiocast::datagram_sender<send_only>);
    STATIC_REQUIRE_FALSE(audiocast::transport<send_only>);
    STATIC_REQUIRE_FALSE(audiocast::clock<monotonic_only>);
    STATIC_REQUIRE(audiocast::codec_description<description_only>);
    STATIC_REQUIRE_FALSE(audiocast::codec<description_only>);
    STATIC_REQUIRE_FALSE(audiocast::transport<audiocast::pcm_codec>);
}
