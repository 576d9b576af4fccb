// Playback through libpulse directly, for synchronized playout on PulseAudio
// (and PipeWire's PulseAudio server). RtAudio's PulseAudio backend writes
// through pa_simple and reports no latency, so a listener could not know when
// what it hands over is heard.
//
// Here the stream's timing reports say it: at the report's time the frame at
// the read index is `sink_usec` from being heard. Each report is one point
// of "when stream frame 0 is heard" on our steady clock; a line through the
// last points (the sink's clock may drift against ours) gives when the next
// frame written is heard, and the stream is told so before each pull.
// PulseAudio's own interpolated latency was tried first: measured against the
// null sink's monitor it wandered by 300 us between reports, the raw reports
// by 60 us. Reports are asked for every 250 ms, from a timer on PulseAudio's
// thread rather than from the write path.
//
// A report now and then is off by a millisecond or more (measured: 1.35 ms,
// the next one back on the line), so one report off the line is held until
// the next agrees with it. After an underflow the stream waits to be refilled
// and nothing measured before says when it plays again: until a report made
// since says so, the stream is given silence and playout is not pulled,
// rather than a guess it would take for the truth; playout is told
// (output_restarted) and places itself on the common timeline at its next
// pull. Without these a listener was heard 7.5 to 30 ms behind the others for
// a second or more after an underflow (tests/e2e/synchronized.py).
#pragma once

#include "support/example_error.hpp"
#include "support/output_device.hpp"
#include "support/recorder.hpp"

#include <audiocast/multicast_stream.hpp>

#include <pulse/pulseaudio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace audiocast_examples {

class pulse_playout final : public output_device {
public:
    /// Plays on the sink whose description is `sink_description` (the name
    /// RtAudio lists it by), else on the server's default sink; the sink
    /// holds about `buffer` ahead of what is heard.
    pulse_playout(const audiocast::audio_format& format, recorder* rec,
                  std::string sink_description, std::chrono::milliseconds buffer)
        : format_{format}, recorder_{rec}, wanted_sink_{std::move(sink_description)},
          buffer_{buffer},
          samples_(audiocast::frames_in(std::chrono::seconds{2}, format) * format.channels)
    {}
    pulse_playout(const pulse_playout&) = delete;
    pulse_playout& operator=(const pulse_playout&) = delete;
    ~pulse_playout() override { stop(); }

    [[nodiscard]] std::string describe() const override
    {
        return "PulseAudio sink " + sink_name_ + " (through libpulse, its latency measured)";
    }

    void start() override
    {
        loop_ = pa_threaded_mainloop_new();
        if (loop_ == nullptr) throw example_error{"cannot start a PulseAudio main loop"};
        context_ = pa_context_new(pa_threaded_mainloop_get_api(loop_), "audiocast-client");
        if (context_ == nullptr) fail("cannot create a PulseAudio context");
        pa_context_set_state_callback(context_, &pulse_playout::on_context_state, this);
        if (pa_context_connect(context_, nullptr, PA_CONTEXT_NOAUTOSPAWN, nullptr) < 0)
            fail("cannot connect to PulseAudio");
        pa_threaded_mainloop_lock(loop_);
        if (pa_threaded_mainloop_start(loop_) < 0) {
            pa_threaded_mainloop_unlock(loop_);
            fail("cannot start a PulseAudio main loop");
        }
        const bool ready = wait_for_context();
        if (ready) find_sink();
        const bool playing = ready && open_stream();
        pa_threaded_mainloop_unlock(loop_);
        if (!ready) fail("cannot connect to PulseAudio");
        if (!playing) fail("cannot play on PulseAudio sink " + sink_name_);
    }

    void attach(multicast_receiver& s) noexcept override
    {
        playing_.store(&s, std::memory_order_release);
    }

    /// Waits, 3 s at most, until PulseAudio has reported the stream's timing
    /// and asked for audio at its own pace for `observe`.
    void warm_up(std::chrono::nanoseconds observe) const override
    {
        wait_until([&] {
            const std::int64_t since = pacing_since_ns_.load(std::memory_order_relaxed);
            return timed_.load(std::memory_order_relaxed) && since != 0 &&
                   last_call_ns_.load(std::memory_order_relaxed) - since >= observe.count();
        });
    }

    [[nodiscard]] std::chrono::nanoseconds burst() const noexcept override
    {
        return audiocast::duration_of(max_burst_frames_.load(std::memory_order_relaxed),
                                      format_.sample_rate);
    }

    /// The latency measured at the last write.
    [[nodiscard]] std::chrono::nanoseconds output_latency() noexcept override
    {
        return std::chrono::nanoseconds{last_latency_ns_.load(std::memory_order_relaxed)};
    }

    [[nodiscard]] bool times_each_pull() const noexcept override { return true; }

    [[nodiscard]] std::uint64_t device_underflows() const noexcept override
    {
        return underflows_.load(std::memory_order_relaxed);
    }

    /// When this returns no callback runs, and none will.
    void stop() noexcept override
    {
        if (loop_ == nullptr) return;
        pa_threaded_mainloop_stop(loop_);
        if (timer_ != nullptr) {
            pa_threaded_mainloop_get_api(loop_)->time_free(timer_);
            timer_ = nullptr;
        }
        if (stream_ != nullptr) {
            pa_stream_disconnect(stream_);
            pa_stream_unref(stream_);
            stream_ = nullptr;
        }
        if (context_ != nullptr) {
            pa_context_disconnect(context_);
            pa_context_unref(context_);
            context_ = nullptr;
        }
        pa_threaded_mainloop_free(loop_);
        loop_ = nullptr;
    }

private:
    [[noreturn]] void fail(const std::string& what)
    {
        const std::string reason =
            context_ != nullptr ? pa_strerror(pa_context_errno(context_)) : "out of memory";
        stop();
        throw example_error{what + ": " + reason};
    }

    // With the main loop locked.
    bool wait_for_context()
    {
        for (;;) {
            const pa_context_state_t state = pa_context_get_state(context_);
            if (state == PA_CONTEXT_READY) return true;
            if (!PA_CONTEXT_IS_GOOD(state)) return false;
            pa_threaded_mainloop_wait(loop_);
        }
    }

    // With the main loop locked: the sink RtAudio listed as wanted_sink_.
    void find_sink()
    {
        pa_operation* op =
            pa_context_get_sink_info_list(context_, &pulse_playout::on_sink_info, this);
        if (op == nullptr) return;
        while (pa_operation_get_state(op) == PA_OPERATION_RUNNING)
            pa_threaded_mainloop_wait(loop_);
        pa_operation_unref(op);
    }

    // With the main loop locked: a timing report every report_interval.
    void ask_for_timing(pa_usec_t at)
    {
        if (timer_ == nullptr)
            timer_ = pa_context_rttime_new(context_, at, &pulse_playout::on_timer, this);
        else
            pa_context_rttime_restart(context_, timer_, at);
    }

    static void on_timer(pa_mainloop_api*, pa_time_event*, const struct timeval*, void* self_ptr)
    {
        auto& self = *static_cast<pulse_playout*>(self_ptr);
        if (self.stream_ != nullptr && pa_stream_get_state(self.stream_) == PA_STREAM_READY)
            if (pa_operation* op = pa_stream_update_timing_info(self.stream_, nullptr, nullptr))
                pa_operation_unref(op);
        self.ask_for_timing(pa_rtclock_now() + report_interval_us);
    }

    // With the main loop locked.
    bool open_stream()
    {
        const pa_sample_spec spec{PA_SAMPLE_S32NE, format_.sample_rate,
                                  static_cast<std::uint8_t>(format_.channels)};
        stream_ = pa_stream_new(context_, "audiocast-client", &spec, nullptr);
        if (stream_ == nullptr) return false;
        pa_stream_set_state_callback(stream_, &pulse_playout::on_stream_state, this);
        pa_stream_set_write_callback(stream_, &pulse_playout::on_writable, this);
        pa_stream_set_underflow_callback(stream_, &pulse_playout::on_underflow, this);
        pa_buffer_attr attr{};
        attr.maxlength = static_cast<std::uint32_t>(-1);
        attr.tlength = static_cast<std::uint32_t>(pa_usec_to_bytes(
            static_cast<pa_usec_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(buffer_).count()),
            &spec));
        attr.prebuf = static_cast<std::uint32_t>(-1);
        attr.minreq = static_cast<std::uint32_t>(-1);
        attr.fragsize = static_cast<std::uint32_t>(-1);
        // Interpolated timing: a latency at every write without asking the
        // server (no round trip on the writing thread).
        const auto flags = static_cast<pa_stream_flags_t>(
            PA_STREAM_INTERPOLATE_TIMING | PA_STREAM_AUTO_TIMING_UPDATE | PA_STREAM_ADJUST_LATENCY);
        if (pa_stream_connect_playback(stream_, sink_name_.empty() ? nullptr : sink_name_.c_str(),
                                       &attr, flags, nullptr, nullptr) < 0)
            return false;
        for (;;) {
            const pa_stream_state_t state = pa_stream_get_state(stream_);
            if (state == PA_STREAM_READY) break;
            if (!PA_STREAM_IS_GOOD(state)) return false;
            pa_threaded_mainloop_wait(loop_);
        }
        if (const char* name = pa_stream_get_device_name(stream_)) sink_name_ = name;
        ask_for_timing(pa_rtclock_now() + report_interval_us);
        return true;
    }

    static void on_context_state(pa_context*, void* self)
    {
        pa_threaded_mainloop_signal(static_cast<pulse_playout*>(self)->loop_, 0);
    }

    static void on_stream_state(pa_stream*, void* self)
    {
        pa_threaded_mainloop_signal(static_cast<pulse_playout*>(self)->loop_, 0);
    }

    static void on_sink_info(pa_context*, const pa_sink_info* info, int eol, void* self_ptr)
    {
        auto& self = *static_cast<pulse_playout*>(self_ptr);
        if (eol != 0 || info == nullptr) {
            pa_threaded_mainloop_signal(self.loop_, 0);
            return;
        }
        const char* description = pa_proplist_gets(info->proplist, "device.description");
        if (self.sink_name_.empty() && description != nullptr && self.wanted_sink_ == description)
            self.sink_name_ = info->name;
    }

    // The stream stopped and starts again when refilled: where frame 0
    // lands moves, so the line starts over from reports made after this
    // (the one already here may be from before the stall, off by all of it).
    static void on_underflow(pa_stream* s, void* self_ptr)
    {
        auto& self = *static_cast<pulse_playout*>(self_ptr);
        self.underflows_.fetch_add(1, std::memory_order_relaxed);
        self.points_ = 0;
        self.candidate_.reset();
        self.untimed_since_underflow_ = true;
        if (const pa_timing_info* t = pa_stream_get_timing_info(s))
            self.last_report_us_ =
                std::int64_t{t->timestamp.tv_sec} * 1'000'000 + std::int64_t{t->timestamp.tv_usec};
        if (multicast_receiver* playing = self.playing_.load(std::memory_order_acquire))
            playing->output_restarted();
    }

    // The newest timing report, if it is new, as a point of the line.
    void take_report(pa_stream* s, std::chrono::steady_clock::time_point now,
                     std::chrono::system_clock::time_point wall_now) noexcept
    {
        const pa_timing_info* t = pa_stream_get_timing_info(s);
        // Before the stream first plays (it fills to its prebuffer), frame 0
        // is not yet on its way: such a report would put it 30 ms early.
        if (t == nullptr || t->playing == 0 || t->read_index_corrupt != 0 || t->read_index <= 0)
            return;
        const std::int64_t stamp_us =
            std::int64_t{t->timestamp.tv_sec} * 1'000'000 + std::int64_t{t->timestamp.tv_usec};
        if (stamp_us == last_report_us_) return;
        last_report_us_ = stamp_us;
        // The report's time is PulseAudio's wall clock (gettimeofday); ours
        // is read beside the steady clock, microseconds apart.
        const std::int64_t stamp_ns =
            stamp_us * 1'000 - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   wall_now.time_since_epoch() - now.time_since_epoch())
                                   .count();
        const double read_frames =
            static_cast<double>(t->read_index) / static_cast<double>(frame_bytes());
        const double heard_ns = static_cast<double>(stamp_ns) +
                                static_cast<double>(t->sink_usec) * 1e3 -
                                read_frames * 1e9 / format_.sample_rate;
        const std::pair<double, double> point{static_cast<double>(stamp_ns), heard_ns};
        if (points_ >= 2 && std::abs(heard_ns - frame_zero_heard(static_cast<double>(stamp_ns))) >
                                max_off_line_ns) {
            // Off the line: one stray report, or the sink's latency stepped
            // (a stream asking for less joined it). Only when the next
            // report agrees does the line start over, from the two.
            const bool confirmed =
                candidate_ && std::abs(heard_ns - candidate_->second) <= max_off_line_ns;
            if (!confirmed) {
                candidate_ = point;
                return;
            }
            points_ = 0;
            line_[points_next_] = *candidate_;
            points_next_ = (points_next_ + 1) % line_.size();
            points_ = 1;
        }
        candidate_.reset();
        untimed_since_underflow_ = false;
        line_[points_next_] = point;
        points_next_ = (points_next_ + 1) % line_.size();
        points_ = std::min(points_ + 1, line_.size());
    }

    // When stream frame 0 is heard, by the line at `now_ns`: their mean
    // while they span less than min_fit_span, then a least-squares line.
    [[nodiscard]] double frame_zero_heard(double now_ns) const noexcept
    {
        double mt = 0, mh = 0, lo = 0, hi = 0;
        for (std::size_t i = 0; i < points_; ++i) {
            const auto& [t, h] = line_[(points_next_ + line_.size() - 1 - i) % line_.size()];
            mt += t;
            mh += h;
            lo = i == 0 ? t : std::min(lo, t);
            hi = i == 0 ? t : std::max(hi, t);
        }
        mt /= static_cast<double>(points_);
        mh /= static_cast<double>(points_);
        if (hi - lo < min_fit_span_ns) return mh;
        double stt = 0, sth = 0;
        for (std::size_t i = 0; i < points_; ++i) {
            const auto& [t, h] = line_[(points_next_ + line_.size() - 1 - i) % line_.size()];
            stt += (t - mt) * (t - mt);
            sth += (t - mt) * (h - mh);
        }
        return mh + sth / stt * (now_ns - mt);
    }

    [[nodiscard]] std::size_t frame_bytes() const noexcept
    {
        return sizeof(std::int32_t) * format_.channels;
    }

    // When the next frame written is heard, from now: by the line once there
    // is a report, else by PulseAudio's interpolated latency; nullopt before
    // either, and after an underflow until a report made since.
    std::optional<std::chrono::nanoseconds> heard_in(pa_stream* s) noexcept
    {
        const auto now = std::chrono::steady_clock::now();
        take_report(s, now, std::chrono::system_clock::now());
        if (points_ > 0) {
            const double now_ns = static_cast<double>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch())
                    .count());
            const double next = frame_zero_heard(now_ns) +
                                static_cast<double>(frames_written_) * 1e9 / format_.sample_rate;
            return std::chrono::nanoseconds{std::llround(std::max(0.0, next - now_ns))};
        }
        if (untimed_since_underflow_) {
            // Reports made while the stream waits to be refilled say it is
            // not playing; ask again soon rather than at the 250 ms timer,
            // as nothing is pulled meanwhile.
            if (now - last_untimed_ask_ >= untimed_ask_interval)
                if (pa_operation* op = pa_stream_update_timing_info(s, nullptr, nullptr)) {
                    pa_operation_unref(op);
                    last_untimed_ask_ = now;
                }
            return std::nullopt;
        }
        pa_usec_t latency = 0;
        int negative = 0;
        if (pa_stream_get_latency(s, &latency, &negative) != 0) return std::nullopt;
        return std::chrono::nanoseconds{negative != 0 ? 0 : std::int64_t(latency) * 1000};
    }

    // The main loop's thread, which plays: pull() and recorder::push() are
    // real-time safe, and the latency comes from timing reports already
    // received (no request to the server). libpulse's own write is not: it
    // copies into shared memory and signals the server, as any PulseAudio
    // client must; this thread is libpulse's, not a device's callback.
    static void on_writable(pa_stream* s, std::size_t bytes, void* self_ptr)
    {
        auto& self = *static_cast<pulse_playout*>(self_ptr);
        const std::size_t frame_bytes = self.frame_bytes();
        self.measure(bytes / frame_bytes);
        while (bytes >= frame_bytes) {
            const std::size_t frames =
                std::min(bytes / frame_bytes, self.samples_.size() / self.format_.channels);
            const std::span<std::int32_t> out{self.samples_.data(), frames * self.format_.channels};
            const std::optional<std::chrono::nanoseconds> heard_in = self.heard_in(s);
            const bool timed = heard_in.has_value();
            multicast_receiver* playing = self.playing_.load(std::memory_order_acquire);
            if (timed) {
                self.last_latency_ns_.store(heard_in->count(), std::memory_order_relaxed);
                self.timed_.store(self.points_ > 0, std::memory_order_relaxed);
                if (playing != nullptr) playing->set_output_latency(*heard_in);
            }
            if (playing != nullptr && timed)
                playing->pull(out);
            else
                std::fill(out.begin(), out.end(), 0);
            if (self.recorder_ != nullptr) self.recorder_->push(out);
            if (pa_stream_write(s, out.data(), out.size_bytes(), nullptr, 0, PA_SEEK_RELATIVE) < 0)
                return;
            self.frames_written_ += frames;
            bytes -= out.size_bytes();
        }
    }

    void measure(std::uint64_t frames) noexcept
    {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        const std::int64_t last = last_call_ns_.load(std::memory_order_relaxed);
        last_call_ns_.store(now, std::memory_order_relaxed);
        // The first request fills the whole buffer; bursts count after it.
        if (last == 0) return;
        if (pacing_since_ns_.load(std::memory_order_relaxed) == 0)
            pacing_since_ns_.store(now, std::memory_order_relaxed);
        if (frames > max_burst_frames_.load(std::memory_order_relaxed))
            max_burst_frames_.store(frames, std::memory_order_relaxed);
    }

    audiocast::audio_format format_;
    recorder* recorder_;
    std::string wanted_sink_;
    std::chrono::milliseconds buffer_;
    std::string sink_name_;
    static constexpr pa_usec_t report_interval_us = 250'000;
    static constexpr double min_fit_span_ns = 2e9;
    static constexpr double max_off_line_ns = 500e3;

    // The main loop thread's own.
    std::vector<std::int32_t> samples_;
    std::uint64_t frames_written_ = 0;
    std::array<std::pair<double, double>, 32> line_{}; // (report time, frame 0 heard), ns
    std::size_t points_ = 0;
    std::size_t points_next_ = 0;
    std::optional<std::pair<double, double>> candidate_; // a report off the line, unconfirmed
    bool untimed_since_underflow_ = false;
    std::chrono::steady_clock::time_point last_untimed_ask_{};
    static constexpr std::chrono::milliseconds untimed_ask_interval{20};
    std::int64_t last_report_us_ = -1;
    pa_time_event* timer_ = nullptr;
    pa_threaded_mainloop* loop_ = nullptr;
    pa_context* context_ = nullptr;
    pa_stream* stream_ = nullptr;
    std::atomic<multicast_receiver*> playing_{nullptr};
    std::atomic<bool> timed_{false};
    std::atomic<std::int64_t> last_latency_ns_{0};
    std::atomic<std::uint64_t> underflows_{0};
    std::atomic<std::int64_t> last_call_ns_{0};
    std::atomic<std::int64_t> pacing_since_ns_{0};
    std::atomic<std::uint64_t> max_burst_frames_{0};
};

} // namespace audiocast_examples
