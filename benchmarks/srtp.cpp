// audiocast-bench-srtp: what SRTP costs a stream, per packet, beside the
// same work without it in the same run (Google Benchmark).
//
//   sender/packet         sender_session: write a 5 ms L16 stereo packet's
//                         frames and make the packet; /srtp_* adds protecting it.
//   receiver/packet       receiver_session: on_datagram() and the pull() that
//                         plays it; /srtp_* adds removing the protection first.
//   srtp/refuse_forged_*  one forged datagram (the stream's SSRC, a later
//                         sequence number, a wrong tag) refused: the price of
//                         each datagram of a flood on the receiving thread.
//   memcpy/packet         memcpy of the packet's bytes: the physical floor.
//
// At the end it prints each path's CPU per stream: ns per packet times the
// 200 packets a second of 5 ms packets. Run it optimised (scripts/bench
// builds the release preset). No network: it runs anywhere libsrtp2 does.
#include <audiocast/codec/pcm.hpp>
#include <audiocast/protection/srtp_key.hpp>
#include <audiocast/protection/srtp_transport.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>

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
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace std::chrono_literals;
using audiocast::srtp_suite;

constexpr std::size_t frames = 240; // 5 ms at 48 kHz
constexpr std::size_t samples = frames * 2;
constexpr double packets_per_second = 200;

std::vector<std::int16_t> signal()
{
    std::vector<std::int16_t> s(samples);
    for (std::size_t i = 0; i < samples; ++i)
        s[i] = static_cast<std::int16_t>(8000 * std::sin(static_cast<double>(i) * 0.05));
    return s;
}

/// A transport of one datagram: send() keeps it, receive() gives it back.
/// What srtp_transport costs over it is SRTP's work and one copy.
struct one_datagram {
    std::vector<std::byte> held = std::vector<std::byte>(2048);
    std::size_t size = 0;
    bool waiting = false;
    void send(std::span<const std::byte> d, std::error_code& ec) noexcept
    {
        ec.clear();
        std::memcpy(held.data(), d.data(), d.size());
        size = d.size();
        waiting = true;
    }
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        if (!waiting) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        ec.clear();
        waiting = false;
        std::memcpy(buffer.data(), held.data(), size);
        return size;
    }
};
using srtp_one = audiocast::srtp_transport<one_datagram>;

const audiocast::srtp_key& key_of(srtp_suite suite)
{
    static const audiocast::srtp_key cm =
        audiocast::srtp_key::generate(srtp_suite::aes_cm_128_hmac_sha1_80);
    static const audiocast::srtp_key gcm =
        audiocast::srtp_key::generate(srtp_suite::aead_aes_128_gcm);
    return suite == srtp_suite::aead_aes_128_gcm ? gcm : cm;
}

void memcpy_packet(benchmark::State& state)
{
    std::vector<std::byte> from(12 + samples * 2, std::byte{0x5a}), to(from.size());
    for (auto _ : state) {
        std::memcpy(to.data(), from.data(), from.size());
        benchmark::DoNotOptimize(to.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}

// The sender's steady state: a packet's frames written, the packet made,
// and, with a suite, protected (srtp_transport::send over one_datagram).
void sender_packet(benchmark::State& state, std::optional<srtp_suite> suite)
{
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    const auto in = signal();
    std::vector<std::byte> packet(tx.max_packet_bytes());
    std::optional<srtp_one> protect;
    if (suite) protect.emplace(one_datagram{}, key_of(*suite), audiocast::srtp_flow::media);
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    for (auto _ : state) {
        tx.write(std::span<const std::int16_t>{in}, now);
        const std::size_t n = tx.next_packet(now, wall, packet);
        if (protect) {
            std::error_code ec;
            protect->send(std::span<const std::byte>{packet.data(), n}, ec);
        }
        benchmark::DoNotOptimize(packet.data());
        now += 5ms;
    }
    state.SetItemsProcessed(state.iterations());
}

// The receiver's steady state: a packet in and the pull that plays it; with
// a suite, the packet arrives protected and srtp_transport::receive opens it.
void receiver_packet(benchmark::State& state, std::optional<srtp_suite> suite)
{
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{}};
    audiocast::receiver_config config;
    config.max_rate_adjustment = 0;
    audiocast::receiver_session<audiocast::pcm_codec> rx{audiocast::pcm_codec{}, config};
    const auto in = signal();
    std::vector<std::byte> packet(tx.max_packet_bytes() + SRTP_MAX_TRAILER_LEN);
    std::vector<std::int16_t> out(samples);
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    // The sender's packets are made ahead, a batch at a time, so the timer
    // pauses seldom (each pause costs more than the work measured).
    constexpr std::size_t batch = 256;
    std::vector<std::vector<std::byte>> made(batch);
    std::array<audiocast::time_point, batch> times{};
    std::optional<srtp_one> protect, open;
    if (suite) {
        protect.emplace(one_datagram{}, key_of(*suite), audiocast::srtp_flow::media);
        open.emplace(one_datagram{}, key_of(*suite), audiocast::srtp_flow::media);
    }
    const auto make_batch = [&] {
        for (std::size_t i = 0; i < batch; ++i) {
            tx.write(std::span<const std::int16_t>{in}, now);
            const std::size_t n = tx.next_packet(now, wall, packet);
            std::span<const std::byte> wire{packet.data(), n};
            if (protect) {
                std::error_code ec;
                protect->send(wire, ec);
                wire = {protect->inner().held.data(), protect->inner().size};
            }
            made[i].assign(wire.begin(), wire.end());
            times[i] = now;
            now += 5ms;
        }
    };
    std::size_t used = batch;
    std::vector<std::byte> buffer(packet.size());
    for (auto _ : state) {
        if (used == batch) {
            state.PauseTiming();
            make_batch();
            used = 0;
            state.ResumeTiming();
        }
        std::span<const std::byte> datagram{made[used]};
        if (open) {
            auto& inner = open->inner();
            std::memcpy(inner.held.data(), made[used].data(), made[used].size());
            inner.size = made[used].size();
            inner.waiting = true;
            std::error_code ec;
            const std::size_t n = open->receive(buffer, ec);
            datagram = {buffer.data(), n};
        }
        rx.on_datagram(datagram, times[used], wall);
        rx.pull(std::span<std::int16_t>{out}, times[used]);
        benchmark::DoNotOptimize(out.data());
        ++used;
    }
    if (open && open->stats().unauthenticated + open->stats().replayed != 0)
        state.SkipWithError("a real packet was refused");
    state.SetItemsProcessed(state.iterations());
}

// A forged packet with the stream's SSRC and later sequence numbers, refused
// for its tag: what each datagram of a flood costs a key holder.
void refuse_forged(benchmark::State& state, srtp_suite suite)
{
    srtp_one open{one_datagram{}, key_of(suite), audiocast::srtp_flow::media};
    std::vector<std::byte> packet(12 + samples * 2 + 16, std::byte{0x33});
    packet[0] = std::byte{0x80};
    packet[1] = std::byte{96};
    std::vector<std::byte> buffer(packet.size());
    std::uint16_t sequence = 0;
    for (auto _ : state) {
        ++sequence;
        packet[2] = std::byte(sequence >> 8);
        packet[3] = std::byte(sequence & 0xff);
        auto& inner = open.inner();
        std::memcpy(inner.held.data(), packet.data(), packet.size());
        inner.size = packet.size();
        inner.waiting = true;
        std::error_code ec;
        benchmark::DoNotOptimize(open.receive(buffer, ec));
    }
    if (open.stats().unauthenticated != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("a forged packet was not refused as unauthenticated");
    state.SetItemsProcessed(state.iterations());
}

/// The console report, then each path's ns per packet and CPU per stream.
class stream_reporter : public benchmark::ConsoleReporter {
public:
    stream_reporter() : ConsoleReporter(::isatty(1) != 0 ? OO_ColorTabular : OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
            const auto it = r.counters.find("items_per_second");
            if (it != r.counters.end() && it->second.value > 0)
                ns_[r.run_name.str()] = 1e9 / it->second.value;
        }
    }

    void Finalize() override
    {
        ConsoleReporter::Finalize();
        std::printf("\nPer 5 ms L16 stereo packet (972 bytes of RTP), and CPU per stream at "
                    "200 packets/s:\n");
        for (const auto& [name, ns] : ns_)
            std::printf("  %-32s %8.0f ns  %7.4f %% of a core\n", name.c_str(), ns,
                        ns * packets_per_second / 1e9 * 100);
    }

private:
    std::map<std::string, double> ns_;
};

} // namespace

int main(int argc, char** argv)
{
    benchmark::RegisterBenchmark("memcpy/packet", memcpy_packet);
    benchmark::RegisterBenchmark("sender/packet", sender_packet, std::nullopt);
    benchmark::RegisterBenchmark("sender/packet_srtp_aes_cm", sender_packet,
                                 srtp_suite::aes_cm_128_hmac_sha1_80);
    benchmark::RegisterBenchmark("sender/packet_srtp_aes_gcm", sender_packet,
                                 srtp_suite::aead_aes_128_gcm);
    benchmark::RegisterBenchmark("receiver/packet", receiver_packet, std::nullopt);
    benchmark::RegisterBenchmark("receiver/packet_srtp_aes_cm", receiver_packet,
                                 srtp_suite::aes_cm_128_hmac_sha1_80);
    benchmark::RegisterBenchmark("receiver/packet_srtp_aes_gcm", receiver_packet,
                                 srtp_suite::aead_aes_128_gcm);
    benchmark::RegisterBenchmark("srtp/refuse_forged_aes_cm", refuse_forged,
                                 srtp_suite::aes_cm_128_hmac_sha1_80);
    benchmark::RegisterBenchmark("srtp/refuse_forged_aes_gcm", refuse_forged,
                                 srtp_suite::aead_aes_128_gcm);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    stream_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
