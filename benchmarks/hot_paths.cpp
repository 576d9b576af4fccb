// audiocast-bench-hot-paths: the per-packet paths, each beside its physical
// baseline in the same run (Google Benchmark).
//
//   PCM encode and decode, L16 and L24, from and to int16, int32 and float,
//   in bytes of wire data per second, beside memcpy of the same bytes; the
//   ratio to memcpy is printed at the end (issue 7's target: at least 0.5).
//   RTP serialize and parse+validate, ns per packet.
//   receiver_session, per packet: on_datagram() and the pull() that plays it;
//   and per datagram of a flood while a stream plays: valid-looking RTP with a
//   random SSRC from another host, and random bytes (the price of each on the
//   audio thread, which source selection keeps small).
//   jitter_buffer insert + read of one packet.
//   playout_resampler: a packet's frames at rate 1 (what playout does then:
//   a copy, and remember() of the last frames) and at ±0.1 % (32-point
//   windowed-sinc interpolation), beside memcpy of the same int32 frames.
//
// Run it optimised: scripts/bench builds the release preset, or
//   cmake --build --preset release --target audiocast-bench-hot-paths
//   build/release/benchmarks/audiocast-bench-hot-paths
// No network, no threads: it runs anywhere.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/loopback_stream.hpp>
#include <audiocast/protection/parity_fec_decoder.hpp>
#include <audiocast/protection/parity_fec_encoder.hpp>
#include <audiocast/session/jitter_buffer.hpp>
#include <audiocast/session/playout_rate.hpp>
#include <audiocast/session/playout_resampler.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtp.hpp>

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using audiocast::sample_format;

// One 5 ms packet of 48 kHz stereo, the design's default: 240 frames.
constexpr std::size_t frames = 240;
constexpr unsigned channels = 2;
constexpr std::size_t samples = frames * channels;

template <class T>
std::vector<T> signal()
{
    std::vector<T> v(samples);
    for (std::size_t i = 0; i < samples; ++i) {
        const double x = 0.5 * std::sin(static_cast<double>(i) * 0.01);
        if constexpr (std::is_same_v<T, float>)
            v[i] = static_cast<float>(x);
        else if constexpr (std::is_same_v<T, std::int16_t>)
            v[i] = static_cast<std::int16_t>(x * 32767);
        else
            v[i] = static_cast<std::int32_t>(x * 2147483647.0);
    }
    return v;
}

audiocast::pcm_codec codec_for(sample_format f)
{
    return audiocast::pcm_codec{{.format = {f, 48'000, channels}}};
}

std::size_t wire_bytes(sample_format f)
{
    return samples * audiocast::bytes_per_sample(f);
}

void memcpy_baseline(benchmark::State& state, sample_format f)
{
    std::vector<std::byte> from(wire_bytes(f), std::byte{1}), to(wire_bytes(f));
    for (auto _ : state) {
        std::memcpy(to.data(), from.data(), from.size());
        benchmark::DoNotOptimize(to.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(from.size()));
}

template <class T>
void encode(benchmark::State& state, sample_format f)
{
    const auto codec = codec_for(f);
    const auto in = signal<T>();
    std::vector<std::byte> out(wire_bytes(f));
    for (auto _ : state) {
        benchmark::DoNotOptimize(codec.encode(std::span<const T>{in}, out));
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}

template <class T>
void decode(benchmark::State& state, sample_format f)
{
    const auto codec = codec_for(f);
    const auto in = signal<T>();
    std::vector<std::byte> wire(wire_bytes(f));
    (void)codec.encode(std::span<const T>{in}, wire);
    std::vector<T> out(samples);
    for (auto _ : state) {
        benchmark::DoNotOptimize(codec.decode(wire, std::span<T>{out}));
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}

audiocast::rtp::header packet_header()
{
    audiocast::rtp::header h;
    h.payload_type = 96;
    h.sequence = 1000;
    h.timestamp = 123'456;
    h.ssrc = 0xABCDEF01;
    h.send_time = audiocast::ntp::timestamp{3'900'000'000u, 12345};
    return h;
}

void rtp_serialize(benchmark::State& state)
{
    const auto h = packet_header();
    std::vector<std::byte> payload(960), out(1500);
    for (auto _ : state) {
        benchmark::DoNotOptimize(audiocast::rtp::serialize(h, payload, out));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}

void rtp_parse(benchmark::State& state)
{
    const auto h = packet_header();
    std::vector<std::byte> payload(960), out(1500);
    out.resize(audiocast::rtp::serialize(h, payload, out));
    for (auto _ : state) {
        std::error_code ec;
        benchmark::DoNotOptimize(audiocast::rtp::parse(out, ec));
        benchmark::DoNotOptimize(ec);
    }
    state.SetItemsProcessed(state.iterations());
}

// A receiver fed the sender's packets in order, one pull of a packet's
// frames after each: the steady state of a stream, per packet.
// With `rate_control` off (max_rate_adjustment 0), the cost of watching for
// clock drift shows as the difference.
void receiver_per_packet(benchmark::State& state, bool rate_control)
{
    audiocast::receiver_config config;
    if (!rate_control) config.max_rate_adjustment = 0;
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    audiocast::receiver_session<audiocast::pcm_codec> rx{audiocast::pcm_codec{}, config};
    const auto in = signal<std::int16_t>();
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::vector<std::int16_t> out(samples);
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    // Past the playout latency, so each pull plays the packet before.
    for (int i = 0; i < 20; ++i) {
        tx.write(std::span<const std::int16_t>{in}, now);
        const std::size_t n = tx.next_packet(now, wall, packet);
        rx.on_datagram(std::span<const std::byte>{packet.data(), n}, now, wall);
        rx.pull(std::span<std::int16_t>{out}, now);
        now += 5ms;
    }
    // The sender's packets are made ahead, a batch at a time: pausing the timer
    // for every packet cost more than the receiver's work (two reads of the
    // thread's CPU clock, each a system call on this VM), which the figure
    // then included.
    constexpr std::size_t batch = 256;
    std::vector<std::byte> packets(batch * packet.size());
    std::array<std::size_t, batch> sizes{};
    std::array<audiocast::time_point, batch> times{};
    std::size_t used = batch;
    for (auto _ : state) {
        if (used == batch) {
            state.PauseTiming();
            for (std::size_t i = 0; i < batch; ++i) {
                tx.write(std::span<const std::int16_t>{in}, now);
                sizes[i] = tx.next_packet(
                    now, wall,
                    std::span<std::byte>{packets.data() + i * packet.size(), packet.size()});
                times[i] = now;
                now += 5ms;
            }
            used = 0;
            state.ResumeTiming();
        }
        rx.on_datagram(
            std::span<const std::byte>{packets.data() + used * packet.size(), sizes[used]},
            times[used], wall);
        rx.pull(std::span<std::int16_t>{out}, times[used]);
        benchmark::DoNotOptimize(out.data());
        ++used;
    }
    state.SetItemsProcessed(state.iterations());
}

// The same steady state across `count` receivers, each fed every packet and
// pulled in turn, as one thread plays a thousand listeners
// (audiocast-bench-fanout): by the time a receiver's turn comes again, the
// others have pushed its state out of the caches. The difference from
// receiver_session/packet is what a receiver costs cold.
void receivers_per_packet(benchmark::State& state, std::size_t count)
{
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    std::vector<std::unique_ptr<audiocast::receiver_session<audiocast::pcm_codec>>> rx;
    for (std::size_t i = 0; i < count; ++i)
        rx.push_back(std::make_unique<audiocast::receiver_session<audiocast::pcm_codec>>(
            audiocast::pcm_codec{}));
    const auto in = signal<std::int16_t>();
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::vector<std::int16_t> out(samples);
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    const auto next_packet = [&] {
        tx.write(std::span<const std::int16_t>{in}, now);
        return tx.next_packet(now, wall, packet);
    };
    for (int i = 0; i < 20; ++i) {
        const std::size_t n = next_packet();
        for (auto& r : rx) {
            r->on_datagram(std::span<const std::byte>{packet.data(), n}, now, wall);
            r->pull(std::span<std::int16_t>{out}, now);
        }
        now += 5ms;
    }
    std::size_t turn = count;
    std::size_t size = 0;
    for (auto _ : state) {
        if (turn == count) {
            // One pause per `count` packets: its cost (two system calls) is
            // a few nanoseconds a packet from a hundred receivers up.
            state.PauseTiming();
            now += 5ms;
            size = next_packet();
            turn = 0;
            state.ResumeTiming();
        }
        auto& r = *rx[turn++];
        r.on_datagram(std::span<const std::byte>{packet.data(), size}, now, wall);
        r.pull(std::span<std::int16_t>{out}, now);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
}

// The whole receiving stream across `count` receivers in one thread: each
// reads its datagram from its transport into its inbox (poll(), the network
// side) and plays it (pull(), the audio side), in turn. Over the session's
// cost cold (receivers_per_packet), this adds the hand-off between the two
// sides and the figures pull() publishes, as the fan-out benchmark's
// receivers do (every 20 ms), and the in-memory transport's own work.
void receiver_streams_per_packet(benchmark::State& state, std::size_t count)
{
    audiocast::manual_clock clock;
    audiocast::loopback_group group{clock, {}, 1};
    audiocast::loopback_transport source = group.join();
    audiocast::receiver_config config;
    config.stats_interval = 20ms;
    std::vector<std::unique_ptr<audiocast::loopback_receiver>> rx;
    for (std::size_t i = 0; i < count; ++i)
        rx.push_back(std::make_unique<audiocast::loopback_receiver>(
            group.join(), audiocast::pcm_codec{}, clock, config));
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    const auto in = signal<std::int16_t>();
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::vector<std::int16_t> out(samples);
    const auto send_one = [&] {
        tx.write(std::span<const std::int16_t>{in}, clock.now());
        const std::size_t n = tx.next_packet(clock.now(), clock.wall_now(), packet);
        source.send(std::span<const std::byte>{packet.data(), n});
    };
    for (int i = 0; i < 20; ++i) {
        send_one();
        for (auto& r : rx) {
            r->poll();
            r->pull(std::span<std::int16_t>{out});
        }
        clock.advance(5ms);
    }
    std::size_t turn = count;
    for (auto _ : state) {
        if (turn == count) {
            state.PauseTiming();
            clock.advance(5ms);
            send_one();
            turn = 0;
            state.ResumeTiming();
        }
        auto& r = *rx[turn++];
        r.poll();
        r.pull(std::span<std::int16_t>{out});
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
}

// What one datagram of a stranger's flood costs the receiver while a stream
// plays: `rtp` valid-looking packets with random SSRCs and numbers, else random
// bytes. One real packet and its pull every 90 datagrams keep the stream live
// (18,000 datagrams a second against 200 packets); their cost is excluded.
void receiver_per_foreign_datagram(benchmark::State& state, bool rtp)
{
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    audiocast::receiver_session<audiocast::pcm_codec> rx{audiocast::pcm_codec{}};
    const auto in = signal<std::int16_t>();
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::vector<std::int16_t> out(samples);
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    const auto sender = audiocast::endpoint::ipv4({192, 0, 2, 1}, 5000);
    const auto stranger = audiocast::endpoint::ipv4({192, 0, 2, 66}, 6000);
    const auto real_packet = [&] {
        tx.write(std::span<const std::int16_t>{in}, now);
        const std::size_t n = tx.next_packet(now, wall, packet);
        rx.on_datagram(std::span<const std::byte>{packet.data(), n}, now, wall, sender);
        rx.pull(std::span<std::int16_t>{out}, now);
        now += 5ms;
    };
    for (int i = 0; i < 20; ++i)
        real_packet();
    std::vector<std::byte> junk(packet.size());
    std::uint64_t x = 0x9E37'79B9'7F4A'7C15u;
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    for (auto& b : junk)
        b = static_cast<std::byte>(next());
    // The stream's clock moves only with its real packets, so how many
    // strangers' datagrams come between two of them changes nothing the
    // receiver decides; one every 1,440 keeps the paused timer's own cost
    // (about 1.6 us, two system calls on this VM) out of the figure.
    std::size_t count = 0;
    for (auto _ : state) {
        if (++count % 1440 == 0) {
            state.PauseTiming();
            real_packet();
            state.ResumeTiming();
        }
        if (rtp) {
            audiocast::rtp::header h;
            h.payload_type = 96;
            h.ssrc = static_cast<std::uint32_t>(next());
            h.sequence = static_cast<std::uint16_t>(next());
            h.timestamp = static_cast<std::uint32_t>(next());
            audiocast::rtp::write_header(h, junk);
        }
        rx.on_datagram(std::span<const std::byte>{junk.data(), 12 + samples * 2}, now, wall,
                       stranger);
    }
    benchmark::DoNotOptimize(rx.stats().packets_foreign);
    state.SetItemsProcessed(state.iterations());
}

void jitter_buffer_insert_and_read(benchmark::State& state)
{
    audiocast::jitter_buffer buffer{channels, 48'000};
    const auto in = signal<std::int32_t>();
    std::vector<std::int32_t> out(samples);
    std::uint64_t position = 1'000'000;
    buffer.reset(position);
    for (auto _ : state) {
        benchmark::DoNotOptimize(buffer.insert(position, in));
        bool present = false;
        std::size_t got = 0;
        while (got < frames)
            got += buffer.read_run(
                std::span<std::int32_t>{out.data() + got * channels, (frames - got) * channels},
                present);
        benchmark::DoNotOptimize(out.data());
        position += frames;
    }
    state.SetItemsProcessed(state.iterations());
}

// A packet's frames through the resampler that holds playout against clock
// drift, from a source of int32 frames; bytes are those of the frames played.
void playout_resampler_packet(benchmark::State& state, double adjustment)
{
    audiocast::playout_resampler resampler{channels};
    resampler.set_adjustment(adjustment);
    const auto in = signal<std::int32_t>();
    std::vector<std::int32_t> out(samples);
    std::size_t next = 0;
    const auto source = [&](std::span<std::int32_t> frame) noexcept {
        std::copy_n(in.data() + next * channels, channels, frame.data());
        next = next + 1 == frames ? 0 : next + 1;
        return true;
    };
    for (auto _ : state) {
        benchmark::DoNotOptimize(resampler.process(std::span<std::int32_t>{out}, source));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(samples * sizeof(std::int32_t)));
}

// At rate 1 playout does not go through process(): it copies the frames the
// jitter buffer holds and hands them to remember(), which keeps the last few
// for when interpolation starts (session/playout.hpp). That copy and
// remember() are what the resampler costs while the clocks agree.
void playout_resampler_rate_1(benchmark::State& state)
{
    audiocast::playout_resampler resampler{channels};
    const auto in = signal<std::int32_t>();
    std::vector<std::int32_t> out(samples);
    for (auto _ : state) {
        std::copy_n(in.data(), samples, out.data());
        resampler.remember(std::span<const std::int32_t>{out});
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(samples * sizeof(std::int32_t)));
}

void memcpy_int32_frames(benchmark::State& state)
{
    std::vector<std::int32_t> from(samples, 1), to(samples);
    for (auto _ : state) {
        std::memcpy(to.data(), from.data(), samples * sizeof(std::int32_t));
        benchmark::DoNotOptimize(to.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() *
                            static_cast<std::int64_t>(samples * sizeof(std::int32_t)));
}

/// 10 x 10 parity FEC on 5 ms L16 stereo packets (988 bytes): the encoder
/// per media packet (two XORs into the row and column, the repairs it then
/// sends), and the decoder per media packet with every repair arriving and
/// nothing lost (a copy into the window, and each repair checked and
/// dropped), or with 5 % of the media lost and rebuilt. Bytes are the media
/// packets', to set beside memcpy/L16 of about as many.
std::vector<std::vector<std::byte>> fec_packets(std::size_t count)
{
    std::vector<std::vector<std::byte>> out;
    audiocast::rtp::header h;
    h.payload_type = 96;
    h.ssrc = 1;
    const std::vector<std::byte> payload(960, std::byte{0x5A});
    for (std::size_t i = 0; i < count; ++i) {
        h.sequence = static_cast<std::uint16_t>(i);
        h.timestamp = static_cast<std::uint32_t>(i * 240);
        std::vector<std::byte> d(audiocast::rtp::header_size(h) + payload.size());
        audiocast::rtp::serialize(h, payload, d);
        out.push_back(std::move(d));
    }
    return out;
}

void parity_fec_encode(benchmark::State& state)
{
    audiocast::parity_fec_encoder e{audiocast::parity_fec_config{}};
    const auto packets = fec_packets(1000);
    std::size_t i = 0;
    std::size_t bytes = 0;
    for (auto _ : state) {
        const auto& d = packets[i++ % packets.size()];
        e.protect(d,
                  [](bool, std::span<const std::byte> r) { benchmark::DoNotOptimize(r.data()); });
        bytes += d.size();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void parity_fec_decode(benchmark::State& state, double loss)
{
    const audiocast::parity_fec_config config{};
    audiocast::parity_fec_encoder e{config};
    const auto packets = fec_packets(20'000);
    // What arrives, in order: media (unless lost) and repairs.
    struct arrival {
        bool repair;
        std::vector<std::byte> bytes;
    };
    std::vector<arrival> arrivals;
    std::uint32_t lcg = 1;
    for (const auto& d : packets) {
        lcg = lcg * 1664525u + 1013904223u;
        if ((lcg >> 8) % 1000 >= static_cast<std::uint32_t>(loss * 1000))
            arrivals.push_back({false, d});
        e.protect(d, [&](bool, std::span<const std::byte> r) {
            arrivals.push_back({true, {r.begin(), r.end()}});
        });
    }
    std::vector<std::byte> out(1500);
    std::size_t bytes = 0;
    std::size_t i = 0;
    auto d = std::make_unique<audiocast::parity_fec_decoder>(config);
    for (auto _ : state) {
        // One media packet's worth: the arrivals up to and including the next media packet.
        if (i == arrivals.size()) {
            state.PauseTiming();
            d = std::make_unique<audiocast::parity_fec_decoder>(config);
            i = 0;
            state.ResumeTiming();
        }
        for (; i < arrivals.size(); ++i) {
            const arrival& a = arrivals[i];
            if (a.repair) {
                d->on_repair(a.bytes);
                continue;
            }
            d->on_media(a.bytes, {});
            bytes += a.bytes.size();
            ++i;
            break;
        }
        audiocast::datagram_origin origin;
        while (d->has_recovered())
            bytes += d->take_recovered(out, origin);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

/// The console report, then each codec run's bytes/s as a fraction of the
/// memcpy of the same wire bytes measured in the same run.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    // Colour only on a terminal: scripts/bench keeps the output as text.
    ratio_reporter() : ConsoleReporter(::isatty(1) != 0 ? OO_ColorTabular : OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        // With --benchmark_repetitions, the median of the repetitions.
        for (const Run& r : runs) {
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
            const auto it = r.counters.find("bytes_per_second");
            if (it != r.counters.end()) rates_[r.run_name.str()] = it->second.value;
        }
    }

    void Finalize() override
    {
        ConsoleReporter::Finalize();
        std::printf("\nPCM codec and parity FEC against memcpy of the same wire bytes (target\n"
                    ">= 0.5 for the codec), and the playout resampler against memcpy of the\n"
                    "int32 frames it plays:\n");
        for (const auto& [name, rate] : rates_) {
            if (name.rfind("memcpy", 0) == 0) continue;
            const std::string encoding = name.find("L24") != std::string::npos ? "L24" : "L16";
            const auto base = rates_.find(name.rfind("playout_resampler", 0) == 0
                                              ? std::string{"memcpy/int32_frames"}
                                              : "memcpy/" + encoding);
            if (base == rates_.end() || base->second <= 0) continue;
            std::printf("  %-22s %8.2f GB/s  %5.2f x memcpy (%.2f GB/s)\n", name.c_str(),
                        rate / 1e9, rate / base->second, base->second / 1e9);
        }
    }

private:
    std::map<std::string, double> rates_;
};

} // namespace

int main(int argc, char** argv)
{
    for (const auto f : {sample_format::l16, sample_format::l24}) {
        const std::string e = f == sample_format::l24 ? "L24" : "L16";
        benchmark::RegisterBenchmark(("memcpy/" + e).c_str(), memcpy_baseline, f);
        benchmark::RegisterBenchmark(("encode/" + e + "/int16").c_str(), encode<std::int16_t>, f);
        benchmark::RegisterBenchmark(("encode/" + e + "/int32").c_str(), encode<std::int32_t>, f);
        benchmark::RegisterBenchmark(("encode/" + e + "/float").c_str(), encode<float>, f);
        benchmark::RegisterBenchmark(("decode/" + e + "/int16").c_str(), decode<std::int16_t>, f);
        benchmark::RegisterBenchmark(("decode/" + e + "/int32").c_str(), decode<std::int32_t>, f);
        benchmark::RegisterBenchmark(("decode/" + e + "/float").c_str(), decode<float>, f);
    }
    benchmark::RegisterBenchmark("rtp/serialize", rtp_serialize);
    benchmark::RegisterBenchmark("rtp/parse+validate", rtp_parse);
    benchmark::RegisterBenchmark("receiver_session/packet", receiver_per_packet, true);
    benchmark::RegisterBenchmark("receiver_session/packet_without_rate_control",
                                 receiver_per_packet, false);
    for (const std::size_t count : {std::size_t{100}, std::size_t{1000}}) {
        benchmark::RegisterBenchmark(
            ("receiver_session/packet_" + std::to_string(count) + "_receivers").c_str(),
            receivers_per_packet, count);
        benchmark::RegisterBenchmark(
            ("receiver_stream/packet_" + std::to_string(count) + "_receivers").c_str(),
            receiver_streams_per_packet, count);
    }
    benchmark::RegisterBenchmark("receiver_session/foreign_rtp", receiver_per_foreign_datagram,
                                 true);
    benchmark::RegisterBenchmark("receiver_session/foreign_junk", receiver_per_foreign_datagram,
                                 false);
    benchmark::RegisterBenchmark("jitter_buffer/insert+read", jitter_buffer_insert_and_read);
    benchmark::RegisterBenchmark("parity_fec/encode", parity_fec_encode);
    benchmark::RegisterBenchmark("parity_fec/decode", parity_fec_decode, 0.0);
    benchmark::RegisterBenchmark("parity_fec/decode_5%_lost", parity_fec_decode, 0.05);
    benchmark::RegisterBenchmark("memcpy/int32_frames", memcpy_int32_frames);
    benchmark::RegisterBenchmark("playout_resampler/rate_1", playout_resampler_rate_1);
    benchmark::RegisterBenchmark("playout_resampler/+0.1%", playout_resampler_packet, 0.001);
    benchmark::RegisterBenchmark("playout_resampler/-0.1%", playout_resampler_packet, -0.001);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
