// audiocast — one way to check a setting against its limit and say what is
// wrong: the value, the limit and the unit (docs/architecture.md, Errors).
//
// Each bounded setting has one named setting_limit, and a configuration's
// check() returns the first setting_problem it finds. The two forms every
// constructor offers come from it:
//
//   static setting_problem check(const receiver_config&) noexcept;  // the first problem
//   validate(config, ec);   // ec = check(config).code, no allocation
//   validate(config);       // throws std::system_error with check(config).describe()
//
// "playout latency 7000 ms is outside 1-5000 ms". The examples check their
// command lines against the same limits, so a program and the library say the
// same thing about the same value.
#pragma once

#include <audiocast/error.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <system_error>

namespace audiocast {

/// What is wrong with one setting: its name, its value, and the limit it
/// breaks. A default-constructed one (code 0) means nothing is wrong.
struct setting_problem {
    errc code{};
    const char* setting = "";
    double value = 0;
    double min = 0;
    double max = 0;
    const char* unit = ""; ///< "ms", "Hz", "bytes", or "" for a count
    const char* note = ""; ///< what the limit comes from, when it helps

    [[nodiscard]] constexpr explicit operator bool() const noexcept { return code != errc{}; }

    /// "payload type 200 is outside 0-127"; "RTCP minimum interval 0 ms is below 1 ms".
    [[nodiscard]] std::string describe() const
    {
        std::string out = std::string{setting} + " " + number(value) + with_unit();
        if (min == -std::numeric_limits<double>::infinity())
            out += " is above " + number(max) + with_unit();
        else if (max == std::numeric_limits<double>::infinity())
            out += " is below " + number(min) + with_unit();
        else
            out += " is outside " + number(min) + "-" + number(max) + with_unit();
        if (*note != '\0') out += std::string{" ("} + note + ")";
        return out;
    }

private:
    [[nodiscard]] std::string with_unit() const
    {
        return *unit == '\0' ? std::string{} : std::string{" "} + unit;
    }

    // Whole numbers as integers, others with up to 6 significant digits.
    [[nodiscard]] static std::string number(double v)
    {
        char text[32];
        if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
            std::snprintf(text, sizeof text, "%.0f", v);
        else
            std::snprintf(text, sizeof text, "%g", v);
        return text;
    }
};

/// The bounds of one setting, inclusive, in its unit.
struct setting_limit {
    const char* setting;
    double min;
    double max;
    const char* unit;
    errc code;
    const char* note = "";

    /// Whether `value` is within the bounds; NaN never is.
    [[nodiscard]] constexpr bool holds(double value) const noexcept
    {
        return value >= min && value <= max;
    }

    /// No problem when `value` holds, else the problem that says so.
    [[nodiscard]] constexpr setting_problem check(double value) const noexcept
    {
        if (holds(value)) return {};
        return {code, setting, value, min, max, unit, note};
    }
};

inline constexpr double unbounded = std::numeric_limits<double>::infinity();

namespace detail {

/// The error_code form: `ec` is the problem's code, or cleared when there is none.
inline void assign(std::error_code& ec, const setting_problem& p) noexcept
{
    if (p)
        ec = p.code;
    else
        ec.clear();
}

/// Throws the problem, if there is one, with the message that names it.
inline void throw_if(const setting_problem& p)
{
    if (p) throw_error(make_error_code(p.code), p.describe());
}

} // namespace detail
} // namespace audiocast
