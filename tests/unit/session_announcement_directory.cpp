#include <audiocast/session/announcement_directory.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using audiocast::announcement_directory;
using audiocast::endpoint;
using audiocast::time_point;

namespace {

const time_point t0{std::chrono::seconds{1000}};
const std::array<std::byte, 4> origin4{std::byte{192}, std::byte{0}, std::byte{2}, std::byte{1}};

std::vector<std::byte> announcement(const std::string& name, std::uint16_t hash,
                                    bool deletion = false)
{
    audiocast::stream_description d;
    d.name = name;
    const std::string text = audiocast::to_sdp(d);
    std::vector<std::byte> out(text.size() + 64);
    std::error_code ec;
    out.resize(audiocast::sap::write(out, deletion, hash, origin4, text, ec));
    REQUIRE_FALSE(ec);
    return out;
}

endpoint host(std::uint8_t last)
{
    return endpoint::ipv4({192, 0, 2, last}, 9875);
}

} // namespace

TEST_CASE("a stream announced on SAP is found by name, and repeats refresh it rather than add "
          "another")
{
    announcement_directory dir;
    REQUIRE(dir.on_datagram(announcement("studio", 1), host(1), t0) != nullptr);
    REQUIRE(dir.on_datagram(announcement("studio", 1), host(1), t0 + 5s) != nullptr);
    REQUIRE(dir.streams().size() == 1);
    const auto* s = dir.find("studio");
    REQUIRE(s != nullptr);
    CHECK(s->last_heard == t0 + 5s);
    CHECK(s->first_heard == t0);
    CHECK(dir.find("kitchen") == nullptr);
    CHECK(dir.counts().announcements == 2);
}

TEST_CASE("a flood of distinct announcements from one host takes only its own share and never "
          "pushes out another host's stream")
{
    announcement_directory dir{{.max_streams = 64, .max_per_host = 16}};
    REQUIRE(dir.on_datagram(announcement("studio", 7), host(1), t0) != nullptr);
    for (std::uint16_t i = 0; i < 10'000; ++i)
        (void)dir.on_datagram(announcement("junk " + std::to_string(i), i), host(66),
                              t0 + std::chrono::microseconds{i});
    CHECK(dir.streams().size() == 17);
    CHECK(dir.find("studio") != nullptr);
    CHECK(dir.counts().displaced == 10'000 - 16);
    // The real stream's next announcement is still taken.
    CHECK(dir.on_datagram(announcement("studio", 7), host(1), t0 + 5s) != nullptr);
}

TEST_CASE("when every host's share together fills the directory, newcomers are turned away and "
          "counted")
{
    announcement_directory dir{{.max_streams = 4, .max_per_host = 2}};
    for (std::uint8_t h = 1; h <= 3; ++h)
        for (std::uint16_t i = 0; i < 2; ++i)
            (void)dir.on_datagram(announcement("s", static_cast<std::uint16_t>(h * 10 + i)),
                                  host(h), t0);
    CHECK(dir.streams().size() == 4);
    CHECK(dir.counts().refused == 2);
}

TEST_CASE("a withdrawal counts only from the host that announced, and silence ages a stream out")
{
    announcement_directory dir{{.max_age = 60s}};
    (void)dir.on_datagram(announcement("studio", 1), host(1), t0);
    (void)dir.on_datagram(announcement("studio", 1, true), host(66), t0 + 1s);
    CHECK(dir.find("studio") != nullptr);
    (void)dir.on_datagram(announcement("studio", 1, true), host(1), t0 + 2s);
    CHECK(dir.find("studio") == nullptr);
    CHECK(dir.counts().withdrawn == 1);

    (void)dir.on_datagram(announcement("kitchen", 2), host(2), t0);
    dir.expire(t0 + 61s);
    CHECK(dir.streams().empty());
    CHECK(dir.counts().expired == 1);
}

TEST_CASE("what is not SAP, or SAP whose SDP cannot be played, is counted and kept out")
{
    announcement_directory dir;
    const std::array<std::byte, 3> junk{std::byte{1}, std::byte{2}, std::byte{3}};
    CHECK(dir.on_datagram(junk, host(1), t0) == nullptr);
    std::vector<std::byte> not_sdp(64);
    std::error_code ec;
    not_sdp.resize(audiocast::sap::write(not_sdp, false, 3, origin4, "hello", ec));
    CHECK(dir.on_datagram(not_sdp, host(1), t0) == nullptr);
    CHECK(dir.counts().malformed == 2);
    CHECK(dir.streams().empty());
}
