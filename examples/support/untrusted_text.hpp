// Text from the network or from a file, made safe to print: a stream's name
// heard on SAP, an SDP line in an error message. Control characters (ESC
// sequences retitle a terminal, clear it, or worse) become \xNN escapes and
// a long value is cut, so that what reaches the terminal is one short line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace audiocast_examples {

/// Longest untrusted value printed as is; the rest is cut with "...".
inline constexpr std::size_t max_printed_chars = 80;

/// `text` with every byte below 0x20, DEL and backslash escaped (\x1b, \\),
/// cut after `limit` characters of the original with "... (N bytes)".
/// Bytes of 0x80 and above pass, so UTF-8 names print as themselves.
[[nodiscard]] inline std::string printable(std::string_view text,
                                           std::size_t limit = max_printed_chars)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    const std::size_t shown = text.size() > limit ? limit : text.size();
    out.reserve(shown + 16);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\') {
            out += "\\\\";
        } else if (c < 0x20 || c == 0x7F) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

} // namespace audiocast_examples
