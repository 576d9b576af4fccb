// basic_multicast_stream composed with opus_codec: the sessions count a
// packet's frames by its codec, not its size, so Opus streams through the
// same sender, jitter buffer and playout as PCM. Loopback transport, manual
// clock: deterministic.
#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/codec/opus.hpp>
#include <audiocast/transport/loopback.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <span>
#include <vector>

using namespace std::chrono_literals;

namespace {

using opus_stream =
    audiocast::basic_multicast_stream<audiocast::loopback_transport, audiocast::opus_codec,
                                      audiocast::manual_clock>;

static_assert(audiocast::codec<audiocast::opus_codec>);

// A 440 Hz tone, stereo, at half scale.
std::vector<float> tone(std::size_t frames)
{
    std::vector<float> s(frames * 2);
    for (std::size_t i = 0; i < frames; ++i) {
        const auto v = static_cast<float>(
            0.5 * std::sin(2 * std::numbers::pi * 440 * static_cast<double>(i) / 48'000.0));
        s[2 * i] = v;
        s[2 * i + 1] = v;
    }
    return s;
}

} // namespace

TEST_CASE("an Opus stream over the loopback transport plays the tone that was sent, every "
          "packet counted by its duration")
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock};
    const audiocast::opus_config config{.channels = 2, .bitrate = 128'000};
    opus_stream::sender sender{group.join(), audiocast::opus_codec{config}, clock,
                               audiocast::sender_config{}};
    opus_stream::receiver receiver{group.join(), audiocast::opus_codec{config}, clock,
                                   audiocast::receiver_config{}};

    const std::vector<float> source = tone(48'000 * 2);
    std::vector<float> heard;
    std::vector<float> block(48 * 2);
    std::size_t written = 0;
    for (int ms = 0; ms < 2'500; ++ms) {
        if (written < source.size() / 2)
            written += sender.write(std::span<const float>{source}.subspan(written * 2));
        sender.poll();
        receiver.poll();
        receiver.pull(std::span<float>{block});
        heard.insert(heard.end(), block.begin(), block.end());
        clock.advance(1ms);
    }
    const auto s = receiver.stats();
    CHECK(sender.sender().stats().packets_sent >= 99);
    CHECK(s.packets_received == sender.sender().stats().packets_sent);
    CHECK(s.packets_lost == 0);
    CHECK(s.packets_malformed == 0);
    CHECK(s.underruns == 0);

    // After its first second the receiver plays a steady tone at the level
    // sent: the RMS of a sine at 0.5 is 0.354.
    double sum = 0;
    const std::size_t from = 48'000 * 2, to = 48'000 * 2 + 48'000;
    for (std::size_t i = from; i < to; ++i)
        sum += double{heard[i]} * heard[i];
    const double rms = std::sqrt(sum / static_cast<double>(to - from));
    INFO("RMS " << rms);
    CHECK(rms == Approx(0.354).margin(0.02));
}

namespace {

// A voice-like buzz: a glottal pulse train (harmonics at 1/k) whose pitch
// glides between 110 and 170 Hz, in syllables four times a second. libopus
// codes it in SILK or hybrid mode, which carry in-band FEC; a pure tone goes
// to CELT, which carries none.
std::vector<float> buzz(std::size_t frames)
{
    std::vector<float> s(frames * 2);
    double phase = 0;
    for (std::size_t i = 0; i < frames; ++i) {
        const double t = static_cast<double>(i) / 48'000.0;
        const double f0 = 140 + 30 * std::sin(2 * std::numbers::pi * 0.7 * t);
        phase += 2 * std::numbers::pi * f0 / 48'000.0;
        double v = 0;
        for (int k = 1; k * f0 < 4'000; ++k)
            v += std::sin(k * phase) / k;
        const double syllable = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * 4 * t);
        const auto x = static_cast<float>(0.25 * syllable * v);
        s[2 * i] = x;
        s[2 * i + 1] = x;
    }
    return s;
}

struct heard_stream {
    std::vector<float> samples;
    audiocast::receiver_stats stats;
    std::uint64_t lost_on_the_way = 0;
};

// The sender is not run from `from` for `length` (descheduled, say).
struct sender_stall {
    std::chrono::milliseconds from{0};
    std::chrono::milliseconds length{0};
};

// Streams `source` from an Opus sender to one receiver (40 ms latency) over
// a loopback group that applies `faults` from `faults_from` until half a
// second before the source ends (a packet held back past the stream's end
// would find playout run dry); pulls 1 ms at a time. Deterministic: the
// same arguments hear the same samples.
heard_stream stream_through(const std::vector<float>& source, const audiocast::opus_config& config,
                            const audiocast::network_faults& faults,
                            std::chrono::milliseconds faults_from, std::uint64_t seed = 7,
                            std::chrono::milliseconds latency = 40ms, sender_stall stall = {})
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock, {}, seed};
    opus_stream::sender sender{group.join(), audiocast::opus_codec{config}, clock,
                               audiocast::sender_config{}};
    audiocast::receiver_config rc;
    rc.latency = latency;
    auto listener = group.join();
    opus_stream::receiver receiver{std::move(listener), audiocast::opus_codec{config}, clock, rc};

    heard_stream out;
    std::vector<float> block(48 * 2);
    std::size_t written = 0;
    const auto total = std::chrono::milliseconds{source.size() / 2 / 48} + 200ms;
    for (std::chrono::milliseconds t{0}; t < total; t += 1ms) {
        if (t == faults_from) group.set_faults(faults);
        if (t == total - 700ms) group.set_faults({});
        const bool stalled = t >= stall.from && t < stall.from + stall.length;
        if (written < source.size() / 2 && !stalled)
            written += sender.write(std::span<const float>{source}.subspan(written * 2));
        if (!stalled) sender.poll();
        receiver.poll();
        receiver.pull(std::span<float>{block});
        out.samples.insert(out.samples.end(), block.begin(), block.end());
        clock.advance(1ms);
    }
    out.stats = receiver.stats();
    return out;
}

// Signal to noise of `got` against `reference`, in dB, over [from, to) samples.
double snr_db(const std::vector<float>& got, const std::vector<float>& reference, std::size_t from,
              std::size_t to)
{
    double signal = 0, noise = 0;
    for (std::size_t i = from; i < to; ++i) {
        signal += double{reference[i]} * reference[i];
        const double d = double{got[i]} - reference[i];
        noise += d * d;
    }
    return 10 * std::log10(signal / std::max(noise, 1e-30));
}

} // namespace

TEST_CASE("an Opus receiver rebuilds lost packets from the next packet's in-band FEC: far closer "
          "to the lossless stream than concealment alone")
{
    const std::vector<float> source = buzz(48'000 * 3);
    audiocast::opus_config config{.channels = 2,
                                  .application = audiocast::opus_application::voip,
                                  .bitrate = 64'000,
                                  .expected_loss_percent = 10};
    audiocast::network_faults lossy;
    lossy.loss = 0.08;

    const auto fec_clean = stream_through(source, config, {}, 500ms);
    const auto fec_lossy = stream_through(source, config, lossy, 500ms);
    config.inband_fec = false;
    const auto plc_clean = stream_through(source, config, {}, 500ms);
    const auto plc_lossy = stream_through(source, config, lossy, 500ms);

    // The same seed loses the same packets in both.
    const auto lost = fec_lossy.stats.packets_lost;
    REQUIRE(lost >= 5);
    REQUIRE(plc_lossy.stats.packets_lost == lost);
    const std::size_t from = 48'000 * 2 / 2, to = source.size();
    const double with_fec = snr_db(fec_lossy.samples, fec_clean.samples, from, to);
    const double concealed = snr_db(plc_lossy.samples, plc_clean.samples, from, to);
    WARN("8 % loss from 0.5 s, 64 kbit/s stereo voice-like buzz, 40 ms latency: "
         << lost << " of " << fec_lossy.stats.packets_expected << " packets lost; SNR against the "
         << "lossless stream " << with_fec << " dB with in-band FEC, " << concealed
         << " dB with concealment alone");
    CHECK(with_fec >= 15);
    CHECK(with_fec >= concealed + 8);

    // Every lost frame was rebuilt by the decoder, in place: the playout
    // itself concealed nothing and never ran dry.
    for (const auto* s : {&fec_lossy.stats, &plc_lossy.stats}) {
        CHECK(s->frames_repaired == lost * 960);
        CHECK(s->concealed_frames == 0);
        CHECK(s->underruns == 0);
        CHECK(s->packets_late == 0);
    }
}

TEST_CASE("an Opus receiver takes packets overtaken by the next one in stream order, repairing "
          "only what comes after its frames have played")
{
    const std::vector<float> source = buzz(48'000 * 3);
    const audiocast::opus_config config{.channels = 2, .bitrate = 64'000};
    audiocast::network_faults reordering;
    reordering.reorder = 0.1;

    SECTION("held back 30 ms: overtaken, in time")
    {
        reordering.reorder_delay = 30ms;
        const auto clean = stream_through(source, config, {}, 500ms);
        const auto held = stream_through(source, config, reordering, 500ms);
        WARN("10 % held back 30 ms: reordered " << held.stats.packets_reordered << ", late "
                                                << held.stats.packets_late << ", repaired "
                                                << held.stats.frames_repaired);
        CHECK(held.stats.packets_reordered >= 5);
        CHECK(held.stats.packets_late == 0);
        CHECK(held.stats.frames_repaired == 0);
        CHECK(held.stats.concealed_frames == 0);
        // Only the packets heard through the spare decoder differ at all.
        CHECK(snr_db(held.samples, clean.samples, 48'000, source.size()) >= 20);
    }
    SECTION("held back 70 ms: after their frames played at 40 ms latency")
    {
        reordering.reorder_delay = 70ms;
        const auto held = stream_through(source, config, reordering, 500ms);
        WARN("10 % held back 70 ms: reordered " << held.stats.packets_reordered << ", late "
                                                << held.stats.packets_late << ", repaired "
                                                << held.stats.frames_repaired);
        CHECK(held.stats.packets_late >= 5);
        CHECK(held.stats.frames_repaired == held.stats.packets_late * 960);
        CHECK(held.stats.concealed_frames == 0);
        CHECK(held.stats.underruns == 0);
    }
}

// decode_order keeps the packets after a gap until playout reaches it: with
// packets held back 45 ms (overtaken by the next two), some come into a gap
// behind another gap, which the spare has passed.
TEST_CASE("an Opus receiver at 100 ms latency, through 5 % loss, duplicates, 30 ms of jitter and "
          "packets overtaken by the next two, repairs every gap itself, takes every packet that "
          "comes in time in its place, and never runs dry, over 40 seeds")
{
    const std::vector<float> source = buzz(48'000 * 3);
    audiocast::opus_config config{.channels = 2,
                                  .application = audiocast::opus_application::voip,
                                  .bitrate = 64'000,
                                  .expected_loss_percent = 10};
    audiocast::network_faults faults;
    faults.loss = 0.05;
    faults.duplicate = 0.02;
    faults.reorder = 0.05;
    faults.reorder_delay = 45ms;
    faults.jitter = 30ms; // more than a packet apart: neighbours swap
    const auto clean = stream_through(source, config, {}, 500ms, 1, 100ms);
    std::uint64_t lost = 0, received = 0, reordered = 0;
    double worst = 1e9;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        const auto r = stream_through(source, config, faults, 500ms, seed, 100ms);
        // Against the same stream without faults: a packet placed anywhere
        // but in its place would cost far more than the repairs do.
        const double snr = snr_db(r.samples, clean.samples, 48'000 * 2 / 2, source.size());
        INFO("seed " << seed << ": " << r.stats.packets_lost << " lost, "
                     << r.stats.packets_reordered << " reordered, SNR " << snr << " dB");
        CHECK(r.stats.underruns == 0);
        CHECK(r.stats.concealed_frames == 0);
        CHECK(r.stats.packets_late == 0);
        CHECK(r.stats.frames_repaired == r.stats.packets_lost * 960);
        CHECK(snr >= 10);
        worst = std::min(worst, snr);
        lost += r.stats.packets_lost;
        received += r.stats.packets_received;
        reordered += r.stats.packets_reordered;
    }
    WARN("40 seeds: " << lost << " packets lost, " << reordered << " reordered, of " << received
                      << " received; worst SNR against the fault-free stream " << worst << " dB");
    CHECK(lost > 100); // the faults did happen
    CHECK(reordered > 100);
    CHECK(received > 40 * 100);
}

// The e2e case opus_through_loss_fec_beats_concealment failed now and then
// with one underrun at its lossy client and nothing late or concealed. Where
// that was reproduced, the sender had not run in time: it stalled past the
// latency (the lossless client ran dry as well), or skipped ahead next to the
// relay's drops. decode_order's waiting adds nothing to a stall: wherever it
// falls, on a gap whose packets wait or not (17 of these 54 stalls begin with
// packets kept after a gap), the lossy receiver runs dry as often as the
// lossless one.
TEST_CASE("an Opus receiver through 8 % loss at 100 ms latency runs dry no more often than a "
          "lossless one when the sender stalls for 150 ms, wherever the stall falls")
{
    const std::vector<float> source = buzz(48'000 * 3);
    const audiocast::opus_config config{.channels = 2,
                                        .application = audiocast::opus_application::voip,
                                        .bitrate = 64'000,
                                        .expected_loss_percent = 10};
    audiocast::network_faults lossy;
    lossy.loss = 0.08;
    std::uint64_t underruns = 0, lost = 0, stalls = 0;
    for (auto from = 600ms; from < 2'200ms; from += 30ms) {
        const sender_stall stall{from, 150ms};
        const auto clean = stream_through(source, config, {}, 500ms, 7, 100ms, stall);
        const auto r = stream_through(source, config, lossy, 500ms, 7, 100ms, stall);
        INFO("stall from " << from.count() << " ms: " << r.stats.packets_lost << " lost, "
                           << r.stats.underruns << " underruns, lossless "
                           << clean.stats.underruns);
        CHECK(clean.stats.underruns >= 1); // the stall did starve playout
        CHECK(r.stats.underruns == clean.stats.underruns);
        CHECK(r.stats.packets_late == 0);
        ++stalls;
        underruns += r.stats.underruns;
        lost += r.stats.packets_lost;
    }
    CHECK(lost >= 5); // the loss did happen
    WARN(stalls << " stalls of 150 ms through 8 % loss: " << underruns << " underruns, " << lost
                << " packets lost");
}
