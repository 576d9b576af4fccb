#include <audiocast/detail/ip_literal.hpp>

#include <catch2/catch.hpp>

#if !defined(_WIN32)
#include <arpa/inet.h>
#endif

#include <array>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

using audiocast::detail::is_ipv4_literal;
using audiocast::detail::is_ipv6_literal;

#if !defined(_WIN32)
namespace {

// The C library's answer, which the sans-I/O check must match.
bool pton(int family, const std::string& text)
{
    std::array<unsigned char, 16> out{};
    return ::inet_pton(family, text.c_str(), out.data()) == 1;
}

} // namespace
#endif

TEST_CASE("IPv4 literals are dotted quads of octets 0-255 without leading zeros", "[detail][sdp]")
{
    for (const char* good : {"0.0.0.0", "239.255.0.1", "255.255.255.255", "127.0.0.1", "1.2.3.4"})
        CHECK(is_ipv4_literal(good));
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.", ".1.2.3",
                            "1..2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3.0004", "ff15::1", "1.2.3.4/8"})
        CHECK_FALSE(is_ipv4_literal(bad));
}

TEST_CASE("IPv6 literals follow RFC 4291 text form, with one :: and an optional dotted quad",
          "[detail][sdp]")
{
    for (const char* good : {"::", "::1", "ff15::1", "FF02::1:2", "1:2:3:4:5:6:7:8",
                             "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "::ffff:192.0.2.1",
                             "64:ff9b::192.0.2.33", "1:2:3:4:5:6:1.2.3.4", "abcd:ef01::0"})
        CHECK(is_ipv6_literal(good));
    for (const char* bad :
         {"", ":", ":::", "1:", ":1", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3",
          "1:2:3:4:5:6:7:8::", "12345::", "g::1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4",
          "ff15::1%eth0", "[::1]", "::1/64", "239.255.0.1", "1.2.3.4::"})
        CHECK_FALSE(is_ipv6_literal(bad));
}

// glibc's inet_pton is the oracle: it is as strict as RFC 4291's text form.
// Windows's is not (it takes "::fff:10.0.10.01", a leading zero in the
// dotted quad), so there the fixed lists above stand alone.
#if !defined(_WIN32)
TEST_CASE("The literal checks agree with inet_pton on random text", "[detail][sdp]")
{
    // Text drawn from the characters addresses are made of, so that most
    // strings come near the boundary between valid and not.
    constexpr std::string_view alphabet = "0123456789abcdefAF:.:.::g%";
    std::mt19937 rng{20261202};
    std::uniform_int_distribution<std::size_t> length{0, 42};
    std::uniform_int_distribution<std::size_t> pick{0, alphabet.size() - 1};
    std::size_t valid4 = 0, valid6 = 0;
    const auto agree = [&](const std::string& text) {
        const bool v4 = pton(AF_INET, text), v6 = pton(AF_INET6, text);
        valid4 += v4 ? 1 : 0;
        valid6 += v6 ? 1 : 0;
        INFO("text: '" << text << "'");
        REQUIRE(is_ipv4_literal(text) == v4);
        REQUIRE(is_ipv6_literal(text) == v6);
    };
    for (int i = 0; i < 200'000; ++i) {
        std::string text(length(rng), ' ');
        for (char& c : text)
            c = alphabet[pick(rng)];
        agree(text);
    }
    // Mutations of valid addresses reach the accepting paths far more often.
    const std::array<std::string, 6> seeds{"239.255.0.1",     "ff15::1", "::ffff:10.0.0.1",
                                           "1:2:3:4:5:6:7:8", "1::8",    "0.0.0.0"};
    for (int i = 0; i < 200'000; ++i) {
        std::string text = seeds[static_cast<std::size_t>(i) % seeds.size()];
        const int edits = 1 + i % 3;
        for (int e = 0; e < edits && !text.empty(); ++e) {
            const std::size_t at =
                std::uniform_int_distribution<std::size_t>{0, text.size() - 1}(rng);
            switch (rng() % 3) {
            case 0: text[at] = alphabet[pick(rng)]; break;
            case 1: text.erase(at, 1); break;
            default: text.insert(at, 1, alphabet[pick(rng)]); break;
            }
        }
        agree(text);
    }
    // The comparison means little unless both answers came up often.
    CHECK(valid4 > 1000);
    CHECK(valid6 > 1000);
}
#endif
