// audiocast — SRTP master keys: the crypto suites, and keys in the base64
// form that SDES (RFC 4568 `a=crypto ... inline:`), ffmpeg's -srtp_out_params
// and a key file carry (docs/architecture.md, Packet protection).
//
// A key is secret: no message, log or exception here ever holds its bytes or
// its text, only lengths; and a key's memory is wiped when it goes.
#pragma once

#include <audiocast/error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__linux__)
#include <sys/random.h>
#elif defined(_WIN32)
// Winsock 2 before windows.h (which would otherwise bring in the old
// winsock.h, and Asio refuses to follow it), and no min and max macros.
#if !defined(NOMINMAX)
#define NOMINMAX
#define AUDIOCAST_SRTP_KEY_DEFINED_NOMINMAX
#endif
#include <windows.h>
#include <winsock2.h>
// After windows.h, which defines the types it uses.
#include <bcrypt.h>
#if defined(AUDIOCAST_SRTP_KEY_DEFINED_NOMINMAX)
#undef NOMINMAX
#undef AUDIOCAST_SRTP_KEY_DEFINED_NOMINMAX
#endif
#if defined(_MSC_VER)
#pragma comment(lib, "bcrypt.lib")
#endif
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include <stdlib.h> // arc4random_buf
#endif

namespace audiocast {

/// The SRTP crypto suites a stream may use. One sender and many receivers
/// share one master key (multicast).
enum class srtp_suite {
    aes_cm_128_hmac_sha1_80, ///< RFC 3711's default, RFC 4568's name: the default here
    aead_aes_128_gcm,        ///< RFC 7714: AES-GCM, a 16-byte tag
};

/// The suite's name as SDP (RFC 4568, RFC 7714), ffmpeg and GStreamer write it.
[[nodiscard]] constexpr std::string_view srtp_suite_name(srtp_suite s) noexcept
{
    switch (s) {
    case srtp_suite::aes_cm_128_hmac_sha1_80: return "AES_CM_128_HMAC_SHA1_80";
    case srtp_suite::aead_aes_128_gcm: return "AEAD_AES_128_GCM";
    }
    return "";
}

/// The suite a name stands for (case as the RFCs write it), if any.
[[nodiscard]] constexpr std::optional<srtp_suite> srtp_suite_named(std::string_view name) noexcept
{
    for (const srtp_suite s : {srtp_suite::aes_cm_128_hmac_sha1_80, srtp_suite::aead_aes_128_gcm})
        if (srtp_suite_name(s) == name) return s;
    return std::nullopt;
}

/// The bytes SRTP adds to each RTP packet in suite `s`: its authentication
/// tag. A sender leaves this much of the path's MTU free.
[[nodiscard]] constexpr std::size_t srtp_tag_bytes(srtp_suite s) noexcept
{
    return s == srtp_suite::aead_aes_128_gcm ? 16 : 10;
}

/// Master key and master salt together, in bytes: 16 + 14 for AES-CM
/// (RFC 3711), 16 + 12 for AES-GCM (RFC 7714).
[[nodiscard]] constexpr std::size_t srtp_master_bytes(srtp_suite s) noexcept
{
    return s == srtp_suite::aead_aes_128_gcm ? 28 : 30;
}

/// The most master bytes any suite takes.
inline constexpr std::size_t srtp_max_master_bytes = 30;

namespace detail::base64 {

inline constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

[[nodiscard]] constexpr int value_of(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/// RFC 4648 base64 with padding.
[[nodiscard]] inline std::string encode(std::span<const std::byte> bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 3; ++k)
            v = v << 8 | (k < n ? std::to_integer<std::uint32_t>(bytes[i + k]) : 0u);
        for (std::size_t k = 0; k < 4; ++k)
            out.push_back(k <= n ? alphabet[(v >> (18 - 6 * k)) & 0x3f] : '=');
    }
    return out;
}

/// Decodes strict RFC 4648 base64 (padding required, no whitespace, no bits
/// left over) into `out`; the bytes it holds, or nullopt for anything else
/// or for more than `out` holds.
[[nodiscard]] inline std::optional<std::size_t> decode(std::string_view text,
                                                       std::span<std::byte> out) noexcept
{
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t written = 0;
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::uint32_t v = 0;
        int pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                ++pad;
                v <<= 6;
                continue;
            }
            const int d = value_of(c);
            if (d < 0 || pad > 0) return std::nullopt; // a digit after padding
            v = v << 6 | static_cast<std::uint32_t>(d);
        }
        const std::size_t n = 3 - static_cast<std::size_t>(pad);
        // Bits below the last byte must be zero: one text, one key.
        if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) return std::nullopt;
        if (written + n > out.size()) return std::nullopt;
        for (std::size_t k = 0; k < n; ++k)
            out[written++] = static_cast<std::byte>((v >> (16 - 8 * k)) & 0xff);
    }
    return written;
}

} // namespace detail::base64

/// A master key and salt for one suite. Copyable; wiped when destroyed.
class srtp_key {
public:
    /// The key a base64 text holds (an SDES `inline:` value before any `|`,
    /// ffmpeg's -srtp_out_params, a key file's line). A text that is not
    /// strict base64, or decodes to the wrong length for `suite`, is refused
    /// with errc::invalid_srtp_key; `what` then says the lengths, never the key.
    static srtp_key from_base64(srtp_suite suite, std::string_view text, std::error_code& ec,
                                std::string* what = nullptr) noexcept
    {
        srtp_key key{suite};
        ec.clear();
        const std::size_t want = srtp_master_bytes(suite);
        std::array<std::byte, srtp_max_master_bytes + 3> decoded{};
        const auto n = detail::base64::decode(text, decoded);
        if (!n || *n != want) {
            ec = make_error_code(errc::invalid_srtp_key);
            if (what) {
                try {
                    *what = std::string{srtp_suite_name(suite)} + " takes a " +
                            std::to_string(want) + "-byte master key and salt, " +
                            std::to_string((want + 2) / 3 * 4) + " base64 characters; " +
                            (n ? "this one holds " + std::to_string(*n) + " bytes"
                               : "this one (" + std::to_string(text.size()) +
                                     " characters) is not base64");
                } catch (...) {
                }
            }
            wipe(decoded);
            return key;
        }
        std::copy_n(decoded.begin(), want, key.bytes_.begin());
        wipe(decoded);
        key.valid_ = true;
        return key;
    }

    /// As above; throws std::system_error on a refusal.
    static srtp_key from_base64(srtp_suite suite, std::string_view text)
    {
        std::error_code ec;
        std::string what;
        srtp_key key = from_base64(suite, text, ec, &what);
        if (ec) detail::throw_error(ec, what);
        return key;
    }

    /// A fresh key from the operating system's random source.
    static srtp_key generate(srtp_suite suite, std::error_code& ec) noexcept
    {
        srtp_key key{suite};
        ec.clear();
        const std::size_t want = srtp_master_bytes(suite);
#if defined(__linux__)
        std::size_t got = 0;
        while (got < want) {
            const ssize_t n = ::getrandom(key.bytes_.data() + got, want - got, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                ec = std::error_code{errno, std::system_category()};
                return key;
            }
            got += static_cast<std::size_t>(n);
        }
        key.valid_ = true;
#elif defined(_WIN32)
        // The system's preferred generator (the one CryptGenRandom and
        // RtlGenRandom use); no algorithm handle to open or leak.
        const NTSTATUS status =
            ::BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(key.bytes_.data()),
                              static_cast<ULONG>(want), BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (status < 0) {
            ec = std::make_error_code(std::errc::io_error);
            return key;
        }
        key.valid_ = true;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
        // The kernel's generator; it cannot fail.
        ::arc4random_buf(key.bytes_.data(), want);
        key.valid_ = true;
#else
        ec = std::make_error_code(std::errc::function_not_supported);
#endif
        return key;
    }

    static srtp_key generate(srtp_suite suite)
    {
        std::error_code ec;
        srtp_key key = generate(suite, ec);
        if (ec) detail::throw_error(ec, "no random bytes for an SRTP key");
        return key;
    }

    srtp_key(const srtp_key&) = default;
    srtp_key& operator=(const srtp_key&) = default;
    ~srtp_key() { wipe(bytes_); }

    [[nodiscard]] srtp_suite suite() const noexcept { return suite_; }
    /// False for a key that was refused.
    [[nodiscard]] bool valid() const noexcept { return valid_; }
    /// The master key, then the master salt.
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept
    {
        return {bytes_.data(), valid_ ? srtp_master_bytes(suite_) : 0};
    }
    /// The key as base64, for an SDP's `inline:` or a key file: as secret as the key.
    [[nodiscard]] std::string base64() const { return detail::base64::encode(bytes()); }

private:
    explicit srtp_key(srtp_suite suite) noexcept : suite_{suite} {}

    template <std::size_t N>
    static void wipe(std::array<std::byte, N>& bytes) noexcept
    {
        // Through a volatile pointer, so that the stores are not optimized away.
        volatile std::byte* p = bytes.data();
        for (std::size_t i = 0; i < N; ++i)
            p[i] = std::byte{0};
    }

    srtp_suite suite_;
    bool valid_ = false;
    std::array<std::byte, srtp_max_master_bytes> bytes_{};
};

} // namespace audiocast
