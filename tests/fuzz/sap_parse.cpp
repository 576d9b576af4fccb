// libFuzzer target: the SAP parser on any datagram. An accepted announcement's
// SDP must lie inside the datagram; its origin must print.
#include <audiocast/wire/sap.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <system_error>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::span<const std::byte> datagram{reinterpret_cast<const std::byte*>(data), size};
    std::error_code ec;
    const audiocast::sap::announcement_view a = audiocast::sap::parse(datagram, ec);
    if (ec) return 0;
    const auto* begin = reinterpret_cast<const char*>(data);
    if (!a.payload.empty() &&
        (a.payload.data() < begin || a.payload.data() + a.payload.size() > begin + size))
        std::abort();
    if (a.origin_text().empty()) std::abort();
    return 0;
}
