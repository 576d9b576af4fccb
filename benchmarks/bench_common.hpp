// What the network benchmarks share: a strict command line, CPU time, the
// namespace's UDP counters, and CSV rows appended under a header. The refusal
// to run outside a private network namespace is the tests' own guard.
#pragma once

#include <audiocast/format.hpp>

#include "../tests/support/private_namespace.hpp"

#include <net/if.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <numbers>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace audiocast_bench {

/// A command line error: main() prints it with the usage and exits 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `--name value` pairs and `--flag`s, each name at most once; anything else
/// is a usage_error.
class command_line {
public:
    command_line(int argc, char* argv[], const std::vector<std::string>& valued,
                 const std::vector<std::string>& flags)
    {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            const auto known = [&](const std::vector<std::string>& names) {
                for (const auto& n : names)
                    if (arg == "--" + n) return true;
                return false;
            };
            if (values_.count(arg) != 0) throw usage_error{arg + " given twice"};
            if (known(flags)) {
                values_[arg] = "";
            } else if (known(valued)) {
                if (i + 1 >= argc) throw usage_error{arg + " needs a value"};
                values_[arg] = argv[++i];
            } else {
                throw usage_error{"unknown argument \"" + arg + "\""};
            }
        }
    }

    [[nodiscard]] bool has(const std::string& name) const
    {
        return values_.count("--" + name) != 0;
    }

    [[nodiscard]] std::string text(const std::string& name, std::string fallback) const
    {
        const auto it = values_.find("--" + name);
        return it == values_.end() ? fallback : it->second;
    }

    /// A whole number in [low, high].
    [[nodiscard]] long integer(const std::string& name, long fallback, long low, long high) const
    {
        const auto it = values_.find("--" + name);
        if (it == values_.end()) return fallback;
        long v = 0;
        const std::string& s = it->second;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || end != s.data() + s.size())
            throw usage_error{"--" + name + " \"" + s + "\" is not a whole number"};
        if (v < low || v > high)
            throw usage_error{"--" + name + " " + s + " is outside " + std::to_string(low) + "-" +
                              std::to_string(high)};
        return v;
    }

    /// A number in (low, high].
    [[nodiscard]] double number(const std::string& name, double fallback, double low,
                                double high) const
    {
        const auto it = values_.find("--" + name);
        if (it == values_.end()) return fallback;
        const std::string& s = it->second;
        std::size_t used = 0;
        double v = 0;
        try {
            v = std::stod(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != s.size() || s.empty() || !std::isfinite(v))
            throw usage_error{"--" + name + " \"" + s + "\" is not a number"};
        if (!(v > low) || v > high)
            throw usage_error{"--" + name + " " + s + " is outside (" + format(low, 0) + ", " +
                              format(high, 0) + "]"};
        return v;
    }

    static std::string format(double v, int decimals)
    {
        std::ostringstream out;
        out.setf(std::ios::fixed);
        out.precision(decimals);
        out << v;
        return out.str();
    }

private:
    std::map<std::string, std::string> values_;
};

/// Raises the soft limit on open descriptors to what `sockets` sockets need,
/// and some to spare; throws, naming the hard limit, when it cannot.
inline void raise_descriptor_limit(std::size_t sockets)
{
    ::rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    const auto wanted = static_cast<::rlim_t>(sockets + 64);
    if (limit.rlim_cur >= wanted) return;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted)
        throw std::runtime_error{std::to_string(sockets) + " sockets need " +
                                 std::to_string(wanted) + " file descriptors; the hard limit is " +
                                 std::to_string(limit.rlim_max)};
    limit.rlim_cur = wanted;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
        throw std::runtime_error{"cannot raise the descriptor limit to " + std::to_string(wanted)};
}

/// Process CPU time, user plus system, all threads (getrusage(2)). Kernel
/// work done on the process's behalf, such as the loopback delivery of what it
/// sends, counts as its system time.
inline std::chrono::microseconds cpu_time()
{
    ::rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto us = [](const ::timeval& t) {
        return std::chrono::seconds{t.tv_sec} + std::chrono::microseconds{t.tv_usec};
    };
    return us(usage.ru_utime) + us(usage.ru_stime);
}

/// CPU time the whole machine spent busy, every core and every process
/// (/proc/stat, which no namespace hides); nullopt when unreadable. Minus
/// cpu_time() over the same span, it is what other work took: on a shared
/// machine, the measure of how much the figures were disturbed.
inline std::optional<std::chrono::microseconds> machine_busy_time()
{
    std::ifstream in{"/proc/stat"};
    std::string cpu;
    // user nice system idle iowait irq softirq steal, in clock ticks (USER_HZ).
    std::uint64_t t[8] = {};
    if (!(in >> cpu) || cpu != "cpu") return std::nullopt;
    for (auto& v : t)
        if (!(in >> v)) return std::nullopt;
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (hz <= 0) return std::nullopt;
    const std::uint64_t busy = t[0] + t[1] + t[2] + t[5] + t[6] + t[7];
    return std::chrono::microseconds{
        static_cast<std::int64_t>(busy * 1'000'000 / static_cast<std::uint64_t>(hz))};
}

/// The namespace's UDP counters (the "Udp:" lines of /proc/net/snmp, which is
/// per network namespace), by name; empty when unreadable.
inline std::map<std::string, std::uint64_t> udp_counters()
{
    std::ifstream in{"/proc/net/snmp"};
    std::string names;
    std::string line;
    std::map<std::string, std::uint64_t> out;
    while (std::getline(in, line)) {
        if (line.rfind("Udp: ", 0) != 0) continue;
        if (names.empty()) {
            names = line;
            continue;
        }
        std::istringstream n{names.substr(5)};
        std::istringstream v{line.substr(5)};
        std::string name;
        std::uint64_t value = 0;
        while (n >> name && v >> value)
            out[name] = value;
        break;
    }
    return out;
}

/// The counter's growth from `before` to `after`; nullopt when either lacks it.
inline std::optional<std::uint64_t> growth(const std::map<std::string, std::uint64_t>& before,
                                           const std::map<std::string, std::uint64_t>& after,
                                           const std::string& name)
{
    const auto b = before.find(name);
    const auto a = after.find(name);
    if (b == before.end() || a == after.end()) return std::nullopt;
    return a->second - b->second;
}

/// Appends `row` to the CSV file at `path`, writing `header` first when the
/// file is new or empty. Refuses a file whose first line is another header,
/// so rows never land under the wrong columns.
inline void append_csv(const std::string& path, const std::string& header, const std::string& row)
{
    std::string first;
    {
        std::ifstream in{path};
        if (in) std::getline(in, first);
    }
    if (!first.empty() && first != header)
        throw std::runtime_error{path + " holds other columns (\"" + first +
                                 "\"); give a new file"};
    std::ofstream out{path, std::ios::app};
    if (!out) throw std::runtime_error{"cannot open " + path + " for appending"};
    if (first.empty()) out << header << '\n';
    out << row << '\n';
    if (!out.flush()) throw std::runtime_error{"cannot write to " + path};
}

/// A 1 kHz tone, 48 kHz stereo: 48 frames make one whole period, so the table
/// repeats seamlessly.
class tone {
public:
    tone()
    {
        for (std::size_t f = 0; f < period_frames; ++f) {
            const double phase =
                2.0 * std::numbers::pi * static_cast<double>(f) / double{period_frames};
            const auto v = static_cast<std::int16_t>(std::lround(8000.0 * std::sin(phase)));
            table_[2 * f] = v;
            table_[2 * f + 1] = v;
        }
    }

    /// Writes into a sending stream until its queue is full.
    template <class Stream>
    void fill(Stream& stream)
    {
        for (;;) {
            std::error_code ec;
            const std::size_t n =
                stream.write(std::span<const std::int16_t>{table_}.subspan(2 * phase_), ec);
            if (ec || n == 0) return;
            phase_ = (phase_ + n) % period_frames;
        }
    }

    static constexpr audiocast::audio_format format{};

private:
    static constexpr std::size_t period_frames = 48;
    std::array<std::int16_t, 2 * period_frames> table_{};
    std::size_t phase_ = 0;
};

/// Microseconds, or milliseconds, of a duration as a decimal number.
inline double in_us(std::chrono::nanoseconds d)
{
    return static_cast<double>(d.count()) / 1e3;
}
inline double in_ms(std::chrono::nanoseconds d)
{
    return static_cast<double>(d.count()) / 1e6;
}

} // namespace audiocast_bench
