// srtp_key::generate, on every system the examples build for: the server's
// --srtp without a key, and a --key-file that does not exist yet, take a
// fresh key from it. It needs no libsrtp2, so a build without SRTP (Windows
// from Debian) still runs this: its random source is the system's own
// (getrandom, BCryptGenRandom, arc4random_buf).
#include <audiocast/protection/srtp_key.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using audiocast::srtp_key;
using audiocast::srtp_suite;

TEST_CASE("srtp_key::generate gives a fresh, whole key of the suite's length every time")
{
    for (const srtp_suite suite :
         {srtp_suite::aes_cm_128_hmac_sha1_80, srtp_suite::aead_aes_128_gcm}) {
        INFO(audiocast::srtp_suite_name(suite));
        std::error_code ec;
        const srtp_key first = srtp_key::generate(suite, ec);
        REQUIRE_FALSE(ec);
        CHECK(first.bytes().size() == audiocast::srtp_master_bytes(suite));
        // Read back from its own base64, as a listener given the key file does.
        CHECK(srtp_key::from_base64(suite, first.base64()).base64() == first.base64());
        std::set<std::string> seen{first.base64()};
        for (int i = 0; i < 100; ++i)
            seen.insert(srtp_key::generate(suite).base64());
        CHECK(seen.size() == 101);
        // Not a buffer left as it was: no byte value fills a key.
        int zeros = 0;
        for (const std::byte b : first.bytes())
            zeros += b == std::byte{0} ? 1 : 0;
        CHECK(zeros < static_cast<int>(first.bytes().size()) / 2);
    }
}
