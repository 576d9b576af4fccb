// A deterministic simulation of synchronized playout: one sender_session and
// listeners (receiver_session with synchronized_playout) whose clocks are
// offset and run at their own rates, over paths with seeded jitter and loss,
// each with an audio device that pulls on the listener's clock and plays an
// output latency later. Events run in true-time order; nothing sleeps.
//
// The sender sends a ramp, mono L16: the sample of frame n is n modulo 2^16.
// Playout resamples it linearly, so the first sample of each pull says which
// frame (and fraction) the device plays at that instant; the truth is the
// frame the common timeline has heard then (the sender's wall-clock time of
// its RTP timestamp, from the sender's own report, plus the latency). The
// error is how late the listener plays it, in true time.
//
// Used by the unit suite and by benchmarks/sync_alignment.cpp.
#pragma once

#include <audiocast/codec/pcm.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace audiocast::test {

class sync_simulation {
public:
    struct network {
        std::chrono::nanoseconds jitter{}; ///< uniform, added to each datagram's delay
        /// Uniform: how long after it was stamped each of the sender's
        /// datagrams leaves (the scheduler, pacing), the same for every listener.
        std::chrono::nanoseconds send_delay{};
        double loss = 0; ///< each datagram, either way
        std::uint64_t seed = 1;
        std::chrono::nanoseconds latency = std::chrono::milliseconds{100}; ///< the common D
        /// The sender's process stops at `sender_stall_at` (true time since
        /// the start) for `sender_stall_for`, both whole ticks: nothing is
        /// written or sent meanwhile, and at the end what fell due is written
        /// at once, as a file source catches up (its schedule slips).
        std::chrono::nanoseconds sender_stall_at{};
        std::chrono::nanoseconds sender_stall_for{};
    };

    struct listener_settings {
        std::chrono::nanoseconds offset{}; ///< its clock less true time, at the start
        double rate_ppm = 0;               ///< how much faster its clock runs
        std::chrono::nanoseconds output_latency{};
        std::chrono::nanoseconds join_at{};
        std::chrono::nanoseconds downlink = std::chrono::microseconds{500};
        std::chrono::nanoseconds uplink = std::chrono::microseconds{500};
        /// Set: its wall clock is the sender's, off by this much (a clock the
        /// hosts share through NTP or PTP), and it synchronizes by that
        /// (clock_knowledge::shared_wall_clock), asking nothing. Its steady
        /// clock still runs at its own offset and rate.
        std::optional<std::chrono::nanoseconds> shared_wall_clock_error{};
    };

    /// What one listener did, measured against the truth.
    struct listener_result {
        std::size_t index = 0;
        std::uint64_t measured = 0; ///< pulls measured after settling
        std::uint64_t skipped = 0;  ///< of the rest, pulls that began with no ramp to read
        std::chrono::nanoseconds worst_after_settling{};
        std::chrono::nanoseconds last_error{};
        std::vector<std::chrono::nanoseconds> errors; ///< every measured pull's, in order
        receiver_stats stats{};

        /// The `q` quantile (0-1) of the measured errors' sizes.
        [[nodiscard]] std::chrono::nanoseconds quantile(double q) const
        {
            if (errors.empty()) return {};
            std::vector<std::chrono::nanoseconds> sizes;
            sizes.reserve(errors.size());
            for (const auto e : errors)
                sizes.push_back(std::chrono::abs(e));
            const auto k = static_cast<std::size_t>(q * static_cast<double>(sizes.size() - 1));
            std::nth_element(sizes.begin(), sizes.begin() + static_cast<std::ptrdiff_t>(k),
                             sizes.end());
            return sizes[k];
        }

        [[nodiscard]] std::string describe() const
        {
            std::ostringstream o;
            o << "|error| p50 " << quantile(0.5).count() << " ns, p99 " << quantile(0.99).count()
              << " ns; measured " << measured << " pulls (" << skipped << " not), worst "
              << worst_after_settling.count() << " ns, last " << last_error.count()
              << " ns; offset estimate uncertainty "
              << (stats.clock_uncertainty ? stats.clock_uncertainty->count() : -1) << " ns, rate "
              << stats.clock_rate_ppm << " ppm, exchanges " << stats.clock_exchanges
              << ", sync error " << (stats.sync_error ? stats.sync_error->count() : -1)
              << " ns, realignments " << stats.sync_realignments << ", underruns "
              << stats.underruns << ", concealed " << stats.concealed_frames;
            return o.str();
        }
    };

    /// Pulls measured only this long after a listener joins.
    static constexpr std::chrono::nanoseconds settling = std::chrono::seconds{5};
    static constexpr std::uint32_t rate = 48'000;
    static constexpr std::size_t frames_per_pull = 480; ///< 10 ms, as the packets

    explicit sync_simulation(const network& n) : net_{n}, rng_{n.seed}
    {
        sender_config c;
        c.ssrc = 0x5E5E5E5E;
        c.initial_timestamp = 1'000;
        c.cname = "sender@sim";
        c.rtcp_seed = n.seed;
        tx_ = std::make_unique<sender_session<pcm_codec>>(pcm_codec{codec_config()}, c);
        ramp_.resize(frames_per_pull);
        packet_.resize(tx_->max_packet_bytes());
        report_.resize(4096);
    }

    void add(const listener_settings& s)
    {
        receiver_config c;
        c.ssrc = 0x0E0E0000u + static_cast<std::uint32_t>(listeners_.size());
        c.cname = "listener-" + std::to_string(listeners_.size());
        c.synchronized_playout = true;
        c.rtcp_seed = net_.seed + listeners_.size() + 1;
        c.latency = net_.latency;
        if (s.shared_wall_clock_error) c.source_clock = clock_knowledge::shared_wall_clock;
        auto& l = listeners_.emplace_back(listener{
            s, std::make_unique<receiver_session<pcm_codec>>(pcm_codec{codec_config()}, c), {}});
        l.result.index = listeners_.size() - 1;
        l.rx->set_output_latency(s.output_latency);
        l.out.resize(frames_per_pull);
    }

    /// Runs from true time 0 for `span`.
    void run(std::chrono::nanoseconds span)
    {
        end_ = start + span;
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            listener& l = listeners_[i];
            const time_point first_pull = true_time(l, local_time(l, start + l.settings.join_at));
            at(first_pull, [this, i] { pull(i, 0); });
        }
        at(start, [this] { send(0); });
        while (!events_.empty()) {
            event e = events_.top();
            events_.pop();
            if (e.when >= end_) break;
            now_ = e.when;
            e.run();
        }
        for (listener& l : listeners_)
            l.result.stats = l.rx->stats();
    }

    [[nodiscard]] std::vector<listener_result> listeners() const
    {
        std::vector<listener_result> out;
        for (const listener& l : listeners_)
            out.push_back(l.result);
        return out;
    }

private:
    static constexpr time_point start{std::chrono::seconds{1'000}};
    static constexpr std::chrono::nanoseconds tick = std::chrono::milliseconds{10};
    static constexpr double wrap_margin = 256;

    struct listener {
        listener_settings settings;
        std::unique_ptr<receiver_session<pcm_codec>> rx;
        listener_result result;
        std::vector<std::int32_t> out{};
    };

    struct event {
        time_point when;
        std::uint64_t order;
        std::function<void()> run;
        bool operator>(const event& o) const
        {
            return when != o.when ? when > o.when : order > o.order;
        }
    };

    static pcm_config codec_config()
    {
        pcm_config c;
        c.format = {sample_format::l16, rate, 1};
        c.packet_time = std::chrono::milliseconds{10};
        return c;
    }

    // The sender's wall clock: true time, from a fixed date.
    static wall_time sender_wall(time_point t)
    {
        return wall_time{std::chrono::seconds{1'800'000'000}} + (t - start);
    }

    // A listener's wall clock: its steady clock, from another date; or, on
    // a shared clock, the sender's give or take its error.
    static wall_time listener_wall(const listener& l, time_point local)
    {
        if (const auto error = l.settings.shared_wall_clock_error)
            return sender_wall(true_time(l, local)) + *error;
        return wall_time{std::chrono::seconds{1'700'000'000}} + (local - start);
    }

    static time_point local_time(const listener& l, time_point t)
    {
        const double since = static_cast<double>((t - start).count());
        return start + l.settings.offset +
               std::chrono::nanoseconds{std::llround(since * (1 + l.settings.rate_ppm * 1e-6))};
    }
    static time_point true_time(const listener& l, time_point local)
    {
        const double since = static_cast<double>((local - start - l.settings.offset).count());
        return start +
               std::chrono::nanoseconds{std::llround(since / (1 + l.settings.rate_ppm * 1e-6))};
    }

    void at(time_point when, std::function<void()> f)
    {
        events_.push({when, order_++, std::move(f)});
    }

    bool lost() { return std::uniform_real_distribution<double>{0, 1}(rng_) < net_.loss; }
    std::chrono::nanoseconds send_delay()
    {
        if (net_.send_delay.count() == 0) return {}; // draws nothing: seeded runs repeat
        return std::chrono::nanoseconds{
            std::uniform_int_distribution<std::int64_t>{0, net_.send_delay.count()}(rng_)};
    }
    std::chrono::nanoseconds jitter()
    {
        if (net_.jitter.count() == 0) return {};
        return std::chrono::nanoseconds{
            std::uniform_int_distribution<std::int64_t>{0, net_.jitter.count()}(rng_)};
    }

    // Every tick: the next 10 ms of the ramp, the packet due, the report due.
    void send(std::uint64_t k)
    {
        const time_point stall = start + net_.sender_stall_at;
        if (net_.sender_stall_for.count() > 0 && now_ >= stall &&
            now_ < stall + net_.sender_stall_for) {
            at(stall + net_.sender_stall_for, [this, k] { send(k); });
            return;
        }
        // After a stall, every tick's worth that fell due.
        for (; start + static_cast<std::int64_t>(k) * tick < now_; ++k)
            write_ramp(k);
        write_ramp(k);
        while (const std::size_t n = tx_->next_packet(now_, sender_wall(now_), packet_)) {
            // Where the RTP timestamp moved on from the ramp (a slip): the
            // frames from here on play that much later.
            const std::uint64_t sent_from = tx_->position() - frames_per_pull;
            const auto moved = static_cast<std::uint32_t>(
                tx_->next_timestamp() - 1'000u - static_cast<std::uint32_t>(tx_->position()));
            if (moved != (moves_.empty() ? 0u : moves_.back().second))
                moves_.emplace_back(sent_from, moved);
            to_listeners(std::span<const std::byte>{packet_.data(), n}, false);
        }
        std::error_code ec;
        if (const std::size_t n = tx_->write_report(now_, sender_wall(now_), report_, ec)) {
            const std::span<const std::byte> sent{report_.data(), n};
            if (!reference_) remember_reference(sent);
            to_listeners(sent, true);
        }
        // Answers fall due between ticks too.
        if (const auto due = tx_->next_report_due(); due && *due < now_ + tick && *due > now_)
            at(*due, [this] { report_only(); });
        at(now_ + tick, [this, k] { send(k + 1); });
    }

    void write_ramp(std::uint64_t k)
    {
        for (std::size_t i = 0; i < frames_per_pull; ++i)
            ramp_[i] = static_cast<std::int16_t>(
                static_cast<std::uint16_t>((k * frames_per_pull + i) & 0xFFFF));
        tx_->write(std::span<const std::int16_t>{ramp_}, now_);
    }

    void report_only()
    {
        std::error_code ec;
        if (const std::size_t n = tx_->write_report(now_, sender_wall(now_), report_, ec)) {
            const std::span<const std::byte> sent{report_.data(), n};
            if (!reference_) remember_reference(sent);
            to_listeners(sent, true);
        }
    }

    // The sender's own SR places its media on its clock: the truth.
    void remember_reference(std::span<const std::byte> compound)
    {
        std::error_code ec;
        rtcp::parse_compound(compound, ec, [&](const rtcp::packet_view& p) {
            if (const auto info = p.sender()) reference_ = *info;
        });
    }

    void to_listeners(std::span<const std::byte> bytes, bool control)
    {
        const auto copy = std::make_shared<std::vector<std::byte>>(bytes.begin(), bytes.end());
        const time_point leaves = now_ + send_delay();
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            listener& l = listeners_[i];
            if (lost()) continue;
            const time_point arrives = leaves + l.settings.downlink + jitter();
            if (arrives < start + l.settings.join_at) continue;
            at(arrives, [this, i, copy, control] {
                listener& to = listeners_[i];
                const time_point local = local_time(to, now_);
                const wall_time wall = listener_wall(to, local);
                const endpoint from = endpoint::ipv4({10, 0, 0, 1}, control ? 5005 : 5004);
                if (control)
                    to.rx->on_control(*copy, local, wall, from);
                else
                    to.rx->on_datagram(*copy, local, wall, from);
            });
        }
    }

    void to_sender_and_group(std::size_t from_index, std::span<const std::byte> bytes)
    {
        const auto copy = std::make_shared<std::vector<std::byte>>(bytes.begin(), bytes.end());
        const listener& from = listeners_[from_index];
        if (!lost()) {
            const time_point arrives = now_ + from.settings.uplink + jitter();
            at(arrives, [this, copy] { tx_->on_control(*copy, now_, sender_wall(now_)); });
        }
        // The other listeners hear it on the group: members, for the interval.
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            if (i == from_index || lost()) continue;
            const time_point arrives =
                now_ + from.settings.uplink + listeners_[i].settings.downlink;
            if (arrives < start + listeners_[i].settings.join_at) continue;
            const endpoint sender_host =
                endpoint::ipv4({10, 0, 1, static_cast<std::uint8_t>(from_index + 1)}, 5005);
            at(arrives, [this, i, copy, sender_host] {
                listener& to = listeners_[i];
                const time_point local = local_time(to, now_);
                to.rx->on_control(*copy, local, listener_wall(to, local), sender_host);
            });
        }
    }

    // The device pulls 10 ms on the listener's clock; what it pulls is heard
    // output_latency later.
    void pull(std::size_t i, std::uint64_t k)
    {
        listener& l = listeners_[i];
        const time_point local = local_time(l, now_);
        l.rx->pull(std::span<std::int32_t>{l.out}, local);
        measure(l, local);
        std::error_code ec;
        if (const std::size_t n = l.rx->write_report(local, report_, ec))
            to_sender_and_group(i, std::span<const std::byte>{report_.data(), n});
        const time_point joined_local = local_time(l, start + l.settings.join_at);
        const time_point next_local = joined_local + (k + 1) * tick;
        at(true_time(l, next_local), [this, i, k] { pull(i, k + 1); });
    }

    void measure(listener& l, time_point local)
    {
        if (!reference_ || now_ - start < l.settings.join_at + settling) return;
        const auto s = l.rx->stats();
        if (!s.sync_error) return;
        // The frame (and fraction) the first sample is: the ramp, modulo 2^16.
        const double played = static_cast<double>(l.out[0]) / 65536.0;
        // Only where the ramp climbs a frame a sample: not silence, nor a
        // concealed (faded) packet, nor a realignment's fade.
        for (std::size_t i = 1; i < 4; ++i) {
            const double step = static_cast<double>(l.out[i]) / 65536.0 -
                                static_cast<double>(l.out[i - 1]) / 65536.0;
            if (std::abs(step - 1) > 0.01) {
                ++l.result.skipped;
                return;
            }
        }
        // Near frame 32768 the ramp wraps from +32767 to -32768, and the
        // resampler's windowed sinc rings across the step: nothing to read.
        if (std::abs(played) > 32768 - wrap_margin) return;
        const time_point heard = true_time(l, local + l.settings.output_latency);
        // The frame the common timeline has heard at `heard`: its RTP
        // timestamp, by the sender's report, is sent D earlier.
        const wall_time reference_wall = ntp::to_wall(reference_->ntp);
        const double since =
            std::chrono::duration<double>(sender_wall(heard) - net_.latency - reference_wall)
                .count();
        double due_frame = static_cast<double>(reference_->rtp_timestamp) - 1'000.0 +
                           since * rate; // frame numbers start at timestamp 1000
        // Past a slip the ramp's frames carry timestamps moved on by it; in
        // the gap itself no frame is due.
        for (std::size_t i = moves_.size(); i-- > 0;) {
            const double before = i == 0 ? 0.0 : moves_[i - 1].second;
            const double gap_from = static_cast<double>(moves_[i].first) + before;
            if (due_frame < gap_from) continue;
            if (due_frame < static_cast<double>(moves_[i].first) + moves_[i].second) return;
            due_frame -= moves_[i].second;
            break;
        }
        double due_on_ramp = std::fmod(due_frame + 32768, 65536.0) - 32768;
        if (due_on_ramp < -32768) due_on_ramp += 65536;
        if (std::abs(due_on_ramp) > 32768 - wrap_margin) return;
        double behind = std::fmod(due_frame - played, 65536.0);
        if (behind >= 32768) behind -= 65536;
        if (behind < -32768) behind += 65536;
        const auto error = std::chrono::nanoseconds{std::llround(behind / rate * 1e9)};
        l.result.last_error = error;
        l.result.errors.push_back(error);
        ++l.result.measured;
        l.result.worst_after_settling =
            std::max(l.result.worst_after_settling, std::chrono::abs(error));
    }

    network net_;
    std::mt19937_64 rng_;
    std::unique_ptr<sender_session<pcm_codec>> tx_;
    std::deque<listener> listeners_;
    std::priority_queue<event, std::vector<event>, std::greater<>> events_;
    std::uint64_t order_ = 0;
    time_point now_{};
    time_point end_{};
    std::vector<std::int16_t> ramp_;
    std::vector<std::byte> packet_;
    std::vector<std::byte> report_;
    std::optional<rtcp::sender_info> reference_;
    // (ramp frame, how far the RTP timestamp moved on from it there), in order.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> moves_;
};

} // namespace audiocast::test
