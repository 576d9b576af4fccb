// audiocast — the small text tools SDP reading and writing share: field
// splitting, trimming, numbers, ptime, cleaning a value for a line, and the
// excerpt an error quotes. Internal to wire/sdp.hpp.
#pragma once

#include <audiocast/wire/stream_description.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast::detail::sdp {

inline bool is_ipv6(std::string_view address) noexcept
{
    return address.find(':') != std::string_view::npos;
}

// SDP text is UTF-8 without CR or LF inside a value (RFC 8866 §5); anything
// that would break a line becomes a space.
inline std::string clean(std::string_view value)
{
    std::string out{value};
    for (char& c : out)
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    return out;
}

inline std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

/// Splits on runs of spaces.
inline std::vector<std::string_view> fields(std::string_view s)
{
    std::vector<std::string_view> out;
    while (true) {
        s = trim(s);
        if (s.empty()) return out;
        const std::size_t end = s.find_first_of(" \t");
        out.push_back(s.substr(0, end));
        if (end == std::string_view::npos) return out;
        s.remove_prefix(end);
    }
}

template <class Int>
bool to_int(std::string_view s, Int& out) noexcept
{
    if (s.empty()) return false;
    Int value{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) return false; // "12abc" is not 12
    out = value;
    return true;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

/// The value of parameter `name` in an a=fmtp parameter list
/// ("useinbandfec=1; sprop-stereo=1"), if it is there; a parameter without a
/// value reads as empty.
inline std::optional<std::string_view> format_parameter(std::string_view list,
                                                        std::string_view name) noexcept
{
    while (!list.empty()) {
        const std::size_t end = list.find(';');
        const std::string_view item = trim(list.substr(0, end));
        const std::size_t eq = item.find('=');
        if (iequals(trim(item.substr(0, eq)), name)) // RFC 7587 names are case-insensitive
            return eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
        if (end == std::string_view::npos) break;
        list.remove_prefix(end + 1);
    }
    return std::nullopt;
}

/// A packet time as a=ptime writes it, in ms: "5", "2.5", "0.125".
inline std::string packet_time_text(std::chrono::microseconds t)
{
    std::string ms = std::to_string(t.count() / 1000);
    if (t.count() % 1000 != 0) {
        std::string frac = std::to_string(1000 + t.count() % 1000).substr(1);
        while (frac.back() == '0')
            frac.pop_back();
        ms += "." + frac;
    }
    return ms;
}

/// "5", "0.125", "4.988": a=ptime in ms, to microseconds.
inline bool to_packet_time(std::string_view s, std::chrono::microseconds& out) noexcept
{
    const std::size_t dot = s.find('.');
    std::uint64_t whole = 0;
    if (!to_int(s.substr(0, dot), whole) || whole > 60'000) return false;
    std::uint64_t micro = whole * 1000;
    if (dot != std::string_view::npos) {
        const std::string_view frac = s.substr(dot + 1);
        if (frac.empty() || frac.size() > 9) return false;
        std::uint64_t f = 0, scale = 1;
        if (!to_int(frac, f)) return false;
        for (std::size_t i = 0; i < frac.size(); ++i)
            scale *= 10;
        micro += f * 1000 / scale;
    }
    out = std::chrono::microseconds{static_cast<std::int64_t>(micro)};
    return true;
}

/// One failure: the code and a message that names the line.
/// `text` as an error message may quote it: control bytes as \xNN, cut
/// after 80 characters, so that a hostile description cannot reach a
/// terminal raw or fill a log.
inline std::string excerpt(std::string_view text)
{
    static constexpr std::size_t limit = 80;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > limit) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

inline const char* direction_name(media_direction d) noexcept
{
    switch (d) {
    case media_direction::recvonly: return "recvonly";
    case media_direction::sendonly: return "sendonly";
    case media_direction::sendrecv: return "sendrecv";
    case media_direction::inactive: return "inactive";
    }
    return "recvonly";
}

} // namespace audiocast::detail::sdp
