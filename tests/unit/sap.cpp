#include <audiocast/wire/sap.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using audiocast::errc;
namespace sap = audiocast::sap;

namespace {

const std::string sdp = "v=0\r\no=- 1 0 IN IP4 192.0.2.1\r\ns=studio\r\n";
const std::array<std::byte, 4> origin4{std::byte{192}, std::byte{0}, std::byte{2}, std::byte{1}};

std::vector<std::byte> announce(bool deletion = false)
{
    std::vector<std::byte> out(512);
    std::error_code ec;
    out.resize(sap::write(out, deletion, 0xBEEF, origin4, sdp, ec));
    REQUIRE_FALSE(ec);
    return out;
}

sap::announcement_view read(const std::vector<std::byte>& d, std::error_code& ec)
{
    return sap::parse(d, ec);
}

} // namespace

TEST_CASE("an announcement carries its origin, its hash and the SDP, and reads back")
{
    const auto d = announce();
    CHECK(d[0] == std::byte{0x20}); // V=1, IPv4, announce
    std::error_code ec;
    const sap::announcement_view a = read(d, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(a.deletion);
    CHECK(a.message_id_hash == 0xBEEF);
    CHECK(a.origin_text() == "192.0.2.1");
    CHECK(a.payload == sdp);

    const sap::announcement_view gone = read(announce(true), ec);
    REQUIRE_FALSE(ec);
    CHECK(gone.deletion);
}

TEST_CASE("an IPv6 origin sets the A bit and takes 16 bytes")
{
    std::array<std::byte, 16> origin6{};
    origin6[0] = std::byte{0xfe};
    origin6[1] = std::byte{0x80};
    origin6[15] = std::byte{0x01};
    std::vector<std::byte> out(512);
    std::error_code ec;
    out.resize(sap::write(out, false, 7, origin6, sdp, ec));
    REQUIRE_FALSE(ec);
    const sap::announcement_view a = read(out, ec);
    REQUIRE_FALSE(ec);
    CHECK(a.ipv6_origin);
    CHECK(a.origin_text() == "fe80:0:0:0:0:0:0:1");
    CHECK(a.payload == sdp);
    CHECK(sap::ipv6_group(5) == "ff05::2:7ffe");
}

TEST_CASE("announcements from other tools are read: no payload type, authentication data")
{
    // No payload type: the SDP follows the origin (RFC 2974 §6).
    std::vector<std::byte> d{std::byte{0x20}, std::byte{0}, std::byte{0}, std::byte{1}};
    d.insert(d.end(), origin4.begin(), origin4.end());
    for (char c : sdp)
        d.push_back(static_cast<std::byte>(c));
    std::error_code ec;
    CHECK(read(d, ec).payload == sdp);
    CHECK_FALSE(ec);

    // One word of authentication data, skipped.
    auto with_auth = announce();
    with_auth[1] = std::byte{1};
    with_auth.insert(with_auth.begin() + 8, 4, std::byte{0xAA});
    CHECK(read(with_auth, ec).payload == sdp);
    CHECK_FALSE(ec);
}

TEST_CASE("what audiocast cannot read is refused as invalid SAP")
{
    std::error_code ec;
    const auto refused = [&](std::vector<std::byte> d) {
        (void)read(d, ec);
        return ec == errc::invalid_sap;
    };
    auto v2 = announce();
    v2[0] = std::byte{0x40};
    CHECK(refused(v2));
    auto encrypted = announce();
    encrypted[0] |= std::byte{0x02};
    CHECK(refused(encrypted));
    auto compressed = announce();
    compressed[0] |= std::byte{0x01};
    CHECK(refused(compressed));
    auto other_type = announce();
    other_type[8] = std::byte{'x'}; // "xpplication/sdp"
    CHECK(refused(other_type));
    CHECK(refused({std::byte{0x20}, std::byte{0}}));
    auto long_auth = announce();
    long_auth[1] = std::byte{200}; // 800 bytes of authentication in a short datagram
    CHECK(refused(long_auth));
}

TEST_CASE("announcements repeat at the interval, offset by up to a third of it")
{
    sap::sap_announcer a{5s, 3};
    const audiocast::time_point t0{1000s};
    CHECK_FALSE(a.due(t0));
    a.start(t0);
    CHECK(a.due(t0)); // the first at once
    audiocast::time_point now = t0;
    for (int i = 0; i < 100; ++i) {
        a.sent(now);
        CHECK(a.next() - now >= 5000ms - 5000ms / 3);
        CHECK(a.next() - now <= 5000ms + 5000ms / 3 + 1ms);
        CHECK_FALSE(a.due(now + 3s));
        now = a.next();
    }
}

TEST_CASE("an IPv4 session is announced on the highest address of its scope")
{
    CHECK(sap::ipv4_group_for({239, 255, 0, 1}) == "239.255.255.255");
    CHECK(sap::ipv4_group_for({239, 193, 4, 5}) == "239.195.255.255");
    CHECK(sap::ipv4_group_for({224, 2, 1, 1}) == "224.2.127.254");
}
