// libFuzzer target: the SDP parser on any text. What it accepts must come
// back unchanged through to_sdp() and parse_sdp() again.
#include <audiocast/wire/sdp.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    std::error_code ec;
    const audiocast::stream_description d = audiocast::parse_sdp(text, ec);
    if (ec) return 0;
    const std::string written = audiocast::to_sdp(d);
    std::error_code again_ec;
    const audiocast::stream_description again = audiocast::parse_sdp(written, again_ec);
    if (again_ec || !(again == d)) {
        std::fprintf(stderr, "sdp_parse: what to_sdp() wrote %s:\n%s\n", //
                     again_ec ? "was refused" : "reads back otherwise", written.c_str());
        if (!again_ec) std::fprintf(stderr, "and reads back as:\n%s\n", to_sdp(again).c_str());
        std::abort();
    }
    return 0;
}
