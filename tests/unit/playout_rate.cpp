// Playout against clock drift: the sliding minimum, the controller, the
// resampler, and a receiver whose audio device runs fast, slow or on time.
#include <audiocast/loopback_stream.hpp>
#include <audiocast/session/playout_rate.hpp>
#include <audiocast/session/playout_resampler.hpp>
#include <audiocast/wire/rtp.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using audiocast::playout_rate_controller;
using audiocast::playout_resampler;
using audiocast::time_point;
using audiocast::windowed_minimum;

namespace {

time_point at(std::chrono::nanoseconds t)
{
    return time_point{t};
}

// A source of mono frames from a function of the frame index.
template <class F>
struct source {
    F value;
    std::uint64_t next = 0;
    std::uint64_t limit = UINT64_MAX;
    bool operator()(std::span<std::int32_t> frame)
    {
        if (next >= limit) return false;
        frame[0] = value(next++);
        return true;
    }
};
template <class F>
source(F) -> source<F>;

} // namespace

TEST_CASE("the windowed minimum covers the last one to two buckets, and forgets after a gap",
          "[playout_rate]")
{
    windowed_minimum m{1s};
    m.add(5, at(0ms));
    m.add(3, at(500ms));
    CHECK_FALSE(m.value()); // no whole bucket yet
    m.add(7, at(1000ms));
    REQUIRE(m.value());
    CHECK(*m.value() == 3);
    m.add(9, at(2000ms)); // the bucket holding 3 is now two old
    CHECK(*m.value() == 7);
    m.add(8, at(5000ms)); // a gap of three seconds: start again
    CHECK_FALSE(m.value());
}

TEST_CASE("the controller plays faster when playout lags, slower when it leads, within limits",
          "[playout_rate]")
{
    playout_rate_controller c{0.001, 8ms}; // corrects past 1 ms, may stop within 0.25 ms
    CHECK(c.engage() == 1ms);
    CHECK(c.release() == 250us);
    CHECK(playout_rate_controller{0.001, 40ms}.engage() == 5ms);
    const auto feed = [&c](std::chrono::nanoseconds playout_lateness, std::chrono::nanoseconds from,
                           std::chrono::nanoseconds to) {
        for (auto t = from; t < to; t += 10ms) {
            c.on_arrival(2ms, at(t));       // the fastest packets come 2 ms later than the first
            c.on_arrival(9ms, at(t + 1ms)); // jitter above the minimum is ignored
            c.on_playout(playout_lateness, at(t + 2ms));
        }
    };
    feed(2ms, 0s, 2s);
    REQUIRE(c.error());
    CHECK(*c.error() == 0ns);
    CHECK(c.adjustment() == 0);

    feed(2ms + 900us, 2s, 5s); // within the 1 ms it takes to start correcting
    CHECK(c.adjustment() == 0);
    feed(2ms + 1500us, 5s, 8s); // 1.5 ms late: 1.5 ms / 5 s = 300 ppm, and the integral
    CHECK(c.adjustment() > 300e-6);
    CHECK(c.adjustment() < 350e-6);
    CHECK(c.drift() > 0);
    feed(2ms + 100us, 8s, 11s); // within 0.25 ms, but the drift learned holds it
    CHECK(c.adjustment() == Approx(c.drift() + 100e-6 / 5).margin(1e-9));
    CHECK(c.adjustment() > 0);
    feed(2ms - 30ms, 11s, 20s); // far ahead: as slow as allowed
    CHECK(c.adjustment() == Approx(-0.001));
    CHECK(c.drift() >= -0.001);

    // The latency playout starts with is its reference, whatever it is: a
    // sender that bursts makes the fastest packets early from the start.
    playout_rate_controller bursty{0.001, 8ms};
    for (auto t = 0ms; t < 3000ms; t += 10ms) {
        bursty.on_arrival(-25ms, at(t));
        bursty.on_playout(0ms, at(t));
    }
    CHECK(*bursty.error() == 0ns);
    CHECK(bursty.adjustment() == 0);

    playout_rate_controller off{0, 40ms};
    for (auto t = 0ms; t < 3000ms; t += 10ms) {
        off.on_arrival(0ms, at(t));
        off.on_playout(50ms, at(t));
    }
    CHECK(off.adjustment() == 0);
}

TEST_CASE("at rate 1 the resampler stays out of the way and copies frames exactly",
          "[playout_rate]")
{
    playout_resampler r{1};
    CHECK_FALSE(r.active());
    source src{[](std::uint64_t i) { return static_cast<std::int32_t>(i * 7919); }};
    std::vector<std::int32_t> out(1000);
    REQUIRE(r.process(std::span{out}, src) == out.size());
    for (std::size_t i = 0; i < out.size(); ++i)
        REQUIRE(out[i] == static_cast<std::int32_t>(i * 7919));
    CHECK(r.interpolated() == 0);
    CHECK_FALSE(r.active());
}

TEST_CASE("the resampler consumes source frames at the rate asked and only moves forward",
          "[playout_rate]")
{
    for (const double adjustment : {0.001, -0.001, 0.0001, -0.00005}) {
        CAPTURE(adjustment);
        playout_resampler r{1};
        r.set_adjustment(adjustment);
        // A ramp: each output frame is its source position times 256.
        source src{[](std::uint64_t i) { return static_cast<std::int32_t>(i * 256); }};
        std::vector<std::int32_t> out(200'000);
        REQUIRE(r.process(std::span{out}, src) == out.size());
        const double expected = static_cast<double>(out.size()) * (1 + adjustment);
        const auto played_to = static_cast<double>(src.next - r.pending()) + r.phase();
        CHECK(played_to == Approx(expected).margin(1.0));
        std::int64_t worst_step = 0, least_step = 1 << 20;
        // Past the first frames, which the filter blends with the silence before.
        for (std::size_t i = playout_resampler::lookahead * 2; i < out.size(); ++i) {
            const std::int64_t step = std::int64_t{out[i]} - out[i - 1];
            worst_step = std::max(worst_step, step);
            least_step = std::min(least_step, step);
        }
        // Every step is 256 × (1 + adjustment), within the filter's error and rounding.
        CHECK(least_step >= 253);
        CHECK(worst_step <= 259);
        CHECK(r.interpolated() > out.size() * 9 / 10);
    }
}

TEST_CASE("tones resampled by 0.1 % keep their level and shape across the audio band",
          "[playout_rate]")
{
    constexpr double rate = 48'000, amplitude = 1 << 30;
    // The error against the ideal tone at each output's source position,
    // relative to the tone: 1 kHz, 10 kHz, and 0.8 of the Nyquist frequency.
    for (const auto& [hz, min_snr_db] :
         {std::pair{1'000.0, 100.0}, std::pair{10'000.0, 95.0}, std::pair{19'200.0, 95.0}}) {
        CAPTURE(hz);
        playout_resampler r{1};
        const auto tone = [&](double position) {
            return amplitude * std::sin(2 * std::numbers::pi * hz * position / rate);
        };
        const auto sample = [&](std::int64_t i) {
            return static_cast<std::int32_t>(std::lround(tone(static_cast<double>(i))));
        };
        // What played before, as pull() tells the resampler.
        std::vector<std::int32_t> before(64);
        for (std::size_t i = 0; i < before.size(); ++i)
            before[i] = sample(static_cast<std::int64_t>(i) - 64);
        r.remember(before);
        r.set_adjustment(0.001);
        source src{[&](std::uint64_t i) { return sample(static_cast<std::int64_t>(i)); }};
        std::vector<std::int32_t> out(96'000);
        REQUIRE(r.process(std::span{out}, src) == out.size());
        // Output frame n plays source position n × 1.001.
        double error_power = 0, signal_power = 0;
        for (std::size_t n = 0; n < out.size(); ++n) {
            const double ideal = tone(static_cast<double>(n) * (1 + 1.0 / 1'000));
            error_power += (out[n] - ideal) * (out[n] - ideal);
            signal_power += ideal * ideal;
        }
        const double snr_db = 10 * std::log10(signal_power / error_power);
        CAPTURE(snr_db);
        CHECK(snr_db > min_snr_db);
    }
}

TEST_CASE("when the adjustment ends the resampler settles on a whole frame and copies again",
          "[playout_rate]")
{
    for (const double adjustment : {0.001, -0.001}) {
        CAPTURE(adjustment);
        playout_resampler r{2};
        source src{[](std::uint64_t i) { return static_cast<std::int32_t>(i); }};
        const auto stereo = [&](std::span<std::int32_t> frame) {
            std::int32_t v = 0;
            if (!src(std::span{&v, 1})) return false;
            frame[0] = v;
            frame[1] = -v;
            return true;
        };
        std::vector<std::int32_t> out(2 * 10'000);
        r.set_adjustment(adjustment);
        REQUIRE(r.process(std::span{out}, stereo) == 10'000);
        r.set_adjustment(0);
        // Settling takes at most a frame's phase at 0.1 %: 1000 frames, then
        // the (at most three) frames taken ahead play out as they are.
        REQUIRE(r.process(std::span{out}, stereo) == 10'000);
        CHECK_FALSE(r.active());
        CHECK(r.pending() == 0);
        const std::uint64_t copied_from = src.next;
        REQUIRE(r.process(std::span{out}.first(200), stereo) == 100);
        for (std::size_t f = 0; f < 100; ++f) {
            REQUIRE(out[2 * f] == static_cast<std::int32_t>(copied_from + f));
            REQUIRE(out[2 * f + 1] == -out[2 * f]);
        }
    }
}

TEST_CASE("a resampler whose source runs dry plays out what it took and says so", "[playout_rate]")
{
    playout_resampler r{1};
    r.set_adjustment(-0.001);
    source src{[](std::uint64_t i) { return static_cast<std::int32_t>(i); }};
    src.limit = 500;
    std::vector<std::int32_t> out(1'000);
    const std::size_t n = r.process(std::span{out}, src);
    CHECK(n >= 499);
    CHECK(n <= 500 + playout_resampler::lookahead + 1);
    CHECK(out[n - 1] == 499); // the last frame taken is played, whole
    CHECK(r.pending() == 0);
}

namespace {

// One sender and one receiver on a loopback group; the receiver's audio
// device consumes (1 + device_drift) frames for every frame the sender's
// clock produces. 48 kHz stereo, 5 ms packets and pulls, 40 ms latency.
struct drift_run {
    audiocast::manual_clock clock;
    audiocast::loopback_group group;
    audiocast::loopback_sender tx;
    audiocast::loopback_receiver rx;
    double device_drift;

    drift_run(double drift, audiocast::receiver_config config = {},
              audiocast::network_faults faults = {})
        : group{clock, faults, 3}, tx{group.join(), audiocast::pcm_codec{}, clock},
          rx{group.join(), audiocast::pcm_codec{}, clock, config}, device_drift{drift}
    {}

    struct result {
        std::size_t min_buffered = SIZE_MAX, max_buffered = 0, final_buffered = 0;
        double mean_adjustment = 0; ///< over the pulls measured
    };

    result run(std::chrono::seconds length, std::chrono::seconds measure_from = 0s)
    {
        std::vector<std::int16_t> in(240 * 2), out(241 * 2);
        double owed = 0, adjustments = 0;
        std::uint64_t measured = 0;
        audiocast::receiver_stats counters;
        result r;
        for (auto t = 0ms; t < length; t += 5ms) {
            for (std::size_t i = 0; i < in.size(); ++i)
                in[i] = static_cast<std::int16_t>((t.count() * 7 + static_cast<long>(i)) % 2000);
            (void)tx.write(std::span<const std::int16_t>{in});
            rx.poll();
            owed += 240 * (1 + device_drift);
            const auto frames = static_cast<std::size_t>(owed);
            owed -= static_cast<double>(frames);
            rx.pull(std::span<std::int16_t>{out}.first(frames * 2));
            if (t >= measure_from) {
                const std::size_t b = rx.receiver().buffered_frames();
                r.min_buffered = std::min(r.min_buffered, b);
                r.max_buffered = std::max(r.max_buffered, b);
                r.final_buffered = b;
                rx.receiver().counters(counters);
                adjustments += counters.playout_rate_adjustment;
                ++measured;
            }
            clock.advance(5ms);
        }
        r.mean_adjustment = measured > 0 ? adjustments / static_cast<double>(measured) : 0;
        return r;
    }
};

constexpr std::size_t target = 1920; // 40 ms at 48 kHz

} // namespace

TEST_CASE("an audio device 200 ppm fast no longer runs the buffer dry every few minutes",
          "[playout_rate]")
{
    audiocast::receiver_config fixed;
    fixed.max_rate_adjustment = 0;
    drift_run without{200e-6, fixed};
    (void)without.run(600s);
    // 40 ms of buffer lasts 200 s at 200 ppm: an underrun, and silence, each time.
    CHECK(without.rx.stats().underruns >= 2);

    drift_run with{200e-6};
    const auto r = with.run(600s, 60s);
    const auto s = with.rx.stats();
    CHECK(s.underruns == 0);
    CHECK(s.concealed_frames == 0);
    // Each frame pulled takes, on average, 200 ppm less of the stream.
    CHECK(r.mean_adjustment == Approx(-200e-6).margin(20e-6));
    // After the first minute the integral holds the drift, and the buffer
    // stays at the target, less the pull in flight, within 1 ms (48 frames).
    CHECK(r.min_buffered >= target - 240 - 48);
    CHECK(r.max_buffered <= target + 48);
}

TEST_CASE("an audio device 200 ppm slow no longer overflows the buffer", "[playout_rate]")
{
    audiocast::receiver_config fixed;
    fixed.max_rate_adjustment = 0;
    drift_run without{-200e-6, fixed};
    const auto grew = without.run(600s);
    // 120 ms more latency than asked for after 10 minutes, and growing.
    CHECK(grew.final_buffered > target + 4'000);

    drift_run with{-200e-6};
    const auto r = with.run(600s, 60s);
    const auto s = with.rx.stats();
    CHECK(s.underruns == 0);
    CHECK(s.packets_late == 0);
    CHECK(r.mean_adjustment == Approx(200e-6).margin(20e-6));
    CHECK(r.min_buffered >= target - 240 - 48);
    CHECK(r.max_buffered <= target + 48);
}

TEST_CASE("after the network delay drops, playout comes back to its target latency",
          "[playout_rate]")
{
    // Playout anchors on packets delayed 20 ms; the delay then goes away and
    // every packet comes 20 ms earlier than playout needs.
    audiocast::network_faults slow;
    slow.delay = 20ms;
    drift_run run{0, {}, slow};
    (void)run.run(2s);
    run.group.set_faults({});
    const auto early = run.run(3s);
    CHECK(early.final_buffered > target + 800);
    const auto r = run.run(60s, 50s);
    CHECK(r.max_buffered <= target + 240 + 10);
    CHECK(r.min_buffered >= target - 240 - 10);
    CHECK(run.rx.stats().underruns == 0);
}

TEST_CASE("with clocks that agree, jitter does not make playout resample", "[playout_rate]")
{
    audiocast::network_faults jittery;
    jittery.jitter = 8ms;
    jittery.reorder = 0.02;
    jittery.reorder_delay = 10ms;
    drift_run run{0, {}, jittery};
    (void)run.run(120s);
    const auto s = run.rx.stats();
    CHECK(s.resampled_frames == 0);
    CHECK(s.playout_rate_adjustment == 0);
    CHECK(s.underruns == 0);
}

TEST_CASE("a rate adjustment outside 0-1 % is refused, naming the value", "[playout_rate]")
{
    audiocast::receiver_config config;
    std::error_code ec;
    for (const double bad : {-0.001, 0.02, std::nan("")}) {
        config.max_rate_adjustment = bad;
        audiocast::receiver_session<audiocast::pcm_codec>::validate(config, ec);
        CHECK(ec == audiocast::errc::invalid_rate_adjustment);
    }
    config.max_rate_adjustment = 0.05;
    CHECK_THROWS_WITH(audiocast::receiver_session<audiocast::pcm_codec>::validate(config),
                      Catch::Contains("playout rate adjustment 0.05 is outside 0-0.01"));
}

TEST_CASE("through drift that changes sign and a pause, playout never skips or repeats a frame",
          "[playout_rate]")
{
    // 8 kHz mono L24, each sample its frame index: decoded to int32 (<< 8),
    // a frame resampled at 0.1 % differs from the one before by 256 ± 0.3,
    // and by the filter's error (its float weights at this level, 2^30, are
    // good to about 30 of these units, a tenth of an L24 step); a frame
    // skipped or played twice differs by 0 or 512.
    const audiocast::pcm_config config{.format = {audiocast::sample_format::l24, 8'000, 1},
                                       .packet_time = 5ms};
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock, {}, 5};
    audiocast::loopback_sender tx{group.join(), audiocast::pcm_codec{config}, clock};
    audiocast::loopback_receiver rx{group.join(), audiocast::pcm_codec{config}, clock};
    std::vector<std::int32_t> in(40), out(41), played;
    played.reserve(4'900'000);
    std::int32_t next = -4'000'000;
    double owed = 0;
    for (auto t = 0ms; t < 600s; t += 5ms) {
        // 300 ppm fast for five minutes, then 300 ppm slow; a 2 s pause at 400 s.
        const double drift = t < 300s ? 300e-6 : -300e-6;
        if (t == 400s) tx.pause();
        if (t == 402s) tx.play();
        if (!tx.paused()) {
            for (auto& v : in)
                v = (next++) * 256;
            (void)tx.write(std::span<const std::int32_t>{in});
        }
        rx.poll();
        owed += 40 * (1 + drift);
        const auto frames = static_cast<std::size_t>(owed);
        owed -= static_cast<double>(frames);
        rx.pull(std::span<std::int32_t>{out}.first(frames));
        played.insert(played.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(frames));
        clock.advance(5ms);
    }
    // Every step between audible frames, except into the silence of the pause:
    // as the buffer runs dry the resampler plays its last frames whole, a
    // jump of under a frame just before the silence.
    std::int64_t least_step = 1 << 20, worst_step = 0;
    std::uint64_t checked = 0, before_silence = 0;
    std::size_t next_silence = 0;
    for (std::size_t i = 1; i < played.size(); ++i) {
        if (played[i] == 0 || played[i - 1] == 0) continue;
        if (next_silence <= i)
            next_silence = static_cast<std::size_t>(
                std::find(played.begin() + static_cast<std::ptrdiff_t>(i), played.end(), 0) -
                played.begin());
        if (next_silence - i <= playout_resampler::lookahead + 1) {
            ++before_silence;
            continue;
        }
        const std::int64_t step = std::int64_t{played[i]} - played[i - 1];
        least_step = std::min(least_step, step);
        worst_step = std::max(worst_step, step);
        ++checked;
    }
    const auto s = rx.stats();
    CAPTURE(s.resampled_frames, s.underruns, checked, before_silence);
    CHECK(s.resampled_frames > 1'000'000); // most of the ten minutes
    CHECK(s.underruns == 0);
    CHECK(least_step >= 256 - 64);
    CHECK(worst_step <= 256 + 64);
    CHECK(checked > 4'700'000);
    // The playout start and the pause.
    CHECK(before_silence <= 2 * (playout_resampler::lookahead + 1));
}

TEST_CASE("a forged packet stamped far ahead does not steer the playout rate", "[playout_rate]")
{
    drift_run run{0};
    audiocast::loopback_transport forger = run.group.join();
    const std::vector<std::byte> payload(960, std::byte{0x11});
    std::vector<std::byte> buf(2048);
    for (int second = 0; second < 60; ++second) {
        (void)run.run(1s);
        // The stream's SSRC and next sequence number, 200 ms ahead of it: it
        // takes that packet's place (see docs/robustness.md), but it must not
        // read as the network getting 200 ms faster.
        audiocast::rtp::header fake;
        fake.payload_type = 96;
        fake.ssrc = run.tx.sender().ssrc();
        fake.sequence = run.tx.sender().next_sequence();
        fake.timestamp = run.tx.sender().next_timestamp() + 9'600;
        forger.send(
            std::span<const std::byte>{buf.data(), audiocast::rtp::serialize(fake, payload, buf)});
    }
    const auto s = run.rx.stats();
    CHECK(s.resampled_frames == 0);
    CHECK(s.underruns == 0);
}

TEST_CASE("the resampler's AVX2 stereo filter gives the portable filter's output, to one step "
          "of int32 at most, over full-scale samples and every row of the table")
{
    if (!audiocast::detail::sinc_avx2::available()) {
        SUCCEED("this CPU has no AVX2 and FMA: the resampler uses the portable filter alone");
        return;
    }
    constexpr int taps = audiocast::detail::sinc_table::taps;
    constexpr int phases = audiocast::detail::sinc_table::phases;
    const auto& table = audiocast::detail::sinc_table::get();
    std::uint64_t state = 0x243F'6A88'85A3'08D3; // a fixed seed: the same samples every run
    const auto next_sample = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::int32_t>(static_cast<std::uint32_t>(state >> 32));
    };
    std::vector<std::int32_t> window(2 * taps);
    double worst = 0;
    for (int row = 0; row < phases; ++row) {
        for (const double between : {0.0, 0.25, 0.5, 0.999}) {
            for (auto& s : window)
                s = next_sample();
            window[0] = std::numeric_limits<std::int32_t>::min(); // the extremes, too
            window[1] = std::numeric_limits<std::int32_t>::max();
            const float* low = table.weights.data() + static_cast<std::size_t>(row) * taps;
            const float* high = low + taps;
            std::int32_t simd[2];
            audiocast::detail::sinc_avx2::stereo<taps>(low, high, between, window.data(), simd);
            for (int c = 0; c < 2; ++c) {
                double portable = 0;
                for (int j = 0; j < taps; ++j) {
                    const double w = low[j] + between * (high[j] - low[j]);
                    portable += w * window[static_cast<std::size_t>(2 * j + c)];
                }
                // Sums in another order differ in the last bits of a double:
                // after rounding, by one step of int32 at most.
                const double clipped =
                    std::clamp(std::nearbyint(portable), -2147483648.0, 2147483647.0);
                worst = std::max(worst, std::fabs(clipped - simd[c]));
            }
        }
    }
    INFO("worst difference from the portable filter, in steps of int32: " << worst);
    CHECK(worst <= 1);

    // Full scale with the sign of each weight rings past the limits: clipped, not wrapped.
    const float* low = table.weights.data() + static_cast<std::size_t>(phases / 2) * taps;
    for (const bool upward : {true, false}) {
        for (int j = 0; j < taps; ++j)
            for (std::size_t c = 0; c < 2; ++c)
                window[static_cast<std::size_t>(2 * j) + c] =
                    (low[j] >= 0) == upward ? std::numeric_limits<std::int32_t>::max()
                                            : std::numeric_limits<std::int32_t>::min();
        std::int32_t simd[2];
        audiocast::detail::sinc_avx2::stereo<taps>(low, low + taps, 0.0, window.data(), simd);
        const std::int32_t limit = upward ? std::numeric_limits<std::int32_t>::max()
                                          : std::numeric_limits<std::int32_t>::min();
        CHECK(simd[0] == limit);
        CHECK(simd[1] == limit);
    }
}
