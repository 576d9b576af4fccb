// audiocast-bench-floor: the least a paced RTP sender or a receiver can cost
// on this machine, as a baseline for the peer comparison (benchmarks/peers.py).
//
//   audiocast-bench-floor --send --ptime-ms P --seconds S
//   audiocast-bench-floor --receive --seconds S [--interval-ms I]
//   audiocast-bench-floor --fanout N --ptime-ms P --seconds S [--interval-ms I]
//
// --send: one thread sleeps to each packet's absolute deadline
// (clock_nanosleep(2), TIMER_ABSTIME) and sends one 48 kHz stereo L16 RTP
// packet of P ms (sendto(2)) to 239.255.0.1:5004 on lo: two system calls and
// one wake-up a packet, no audio, no RTCP, no file. --receive: one thread waits
// for the group's socket (poll(2)) and takes what waits in one recvmmsg(2),
// then, with --interval-ms, sleeps that long before it waits again. Prints its
// own CPU time (getrusage, the whole process). Whatever audiocast or GStreamer
// spend beyond these figures is theirs; these are the machine's.
//
// --fanout N: the floor under audiocast-bench-fanout's thread driver, the same
// three threads doing the least their work allows. The sender as --send; N
// sockets joined to the group, read by one thread that wakes every I ms
// (default 5; 0: whenever one is readable), asks epoll(7) which are readable
// and empties each with recvmmsg(2) straight into a ring of packets indexed by
// sequence number; a playout thread that wakes every packet time and, for
// every receiver, from 40 ms (the receivers' default latency) after its first
// read on, copies the next packet's samples out with a byte swap, or counts
// an underrun. No jitter
// buffer logic, no statistics, no concealment, no rate control: what is left
// is the kernel's delivery, the system calls and the memory traffic of N
// streams. Prints each thread's CPU time as a share of one core.
//
// Runs only inside a private network namespace (scripts/bench makes one):
// anywhere else it prints SKIP and exits 77 before opening a socket.
#include "bench_common.hpp"

#include <audiocast/multicast_stream.hpp>
#include <audiocast/wire/rtp.hpp>

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: audiocast-bench-floor --send --ptime-ms 1|2|5|10|20 --seconds S\n"
    "       audiocast-bench-floor --receive --seconds S [--interval-ms I]\n"
    "       audiocast-bench-floor --fanout N --ptime-ms P --seconds S [--interval-ms I]\n";

::timespec to_timespec(std::chrono::nanoseconds t)
{
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t);
    return {static_cast<::time_t>(s.count()), static_cast<long>((t - s).count())};
}

int send(long ptime_ms, double seconds)
{
    asio::io_context io{1};
    audiocast::udp_multicast_transport socket{io, {.multicast_interface = "lo", .join = false}};
    const std::uint32_t frames = static_cast<std::uint32_t>(48 * ptime_ms);
    std::vector<std::byte> packet(audiocast::rtp::fixed_header_size + frames * 4);
    audiocast::rtp::header h;
    h.payload_type = 96;
    h.ssrc = 0xF100'0001;
    const auto period = std::chrono::milliseconds{ptime_ms};
    const auto count = static_cast<std::uint64_t>(seconds * 1000.0 / static_cast<double>(ptime_ms));
    const auto start = std::chrono::steady_clock::now().time_since_epoch() + period;
    std::uint64_t failed = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const ::timespec at = to_timespec(start + i * period);
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) != 0) {
        }
        h.sequence = static_cast<std::uint16_t>(i);
        h.timestamp = static_cast<std::uint32_t>(i * frames);
        audiocast::rtp::write_header(h, packet);
        std::error_code ec;
        socket.send(packet, ec);
        if (ec) ++failed;
    }
    std::printf("floor: sender, %llu packets of %ld ms in %.1f s, %llu failed; cpu %.1f ms\n",
                static_cast<unsigned long long>(count), ptime_ms, seconds,
                static_cast<unsigned long long>(failed),
                static_cast<double>(audiocast_bench::cpu_time().count()) / 1e3);
    return failed == 0 ? 0 : 1;
}

int receive(double seconds, long interval_ms)
{
    asio::io_context io{1};
    audiocast::udp_multicast_transport socket{io, {.multicast_interface = "lo"}};
    constexpr std::size_t batch = 32;
    std::vector<std::byte> bytes(batch * 2048);
    std::array<audiocast::received_datagram, batch> slots{};
    for (std::size_t i = 0; i < batch; ++i)
        slots[i].buffer = std::span<std::byte>{bytes.data() + i * 2048, 2048};
    std::uint64_t received = 0;
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::duration<double>{seconds});
    while (std::chrono::steady_clock::now() < end) {
        ::pollfd fd{socket.native_handle(), POLLIN, 0};
        if (::poll(&fd, 1, 100) <= 0) continue;
        std::error_code ec;
        received += socket.receive_batch(slots, ec);
        if (interval_ms > 0) {
            const ::timespec pause = to_timespec(std::chrono::milliseconds{interval_ms});
            ::nanosleep(&pause, nullptr);
        }
    }
    std::printf("floor: receiver, %llu packets in %.1f s, interval %ld ms; cpu %.1f ms\n",
                static_cast<unsigned long long>(received), seconds, interval_ms,
                static_cast<double>(audiocast_bench::cpu_time().count()) / 1e3);
    return 0;
}

// ---- --fanout ------------------------------------------------------------

/// The CPU time of the calling thread.
std::chrono::nanoseconds thread_cpu()
{
    ::timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return std::chrono::seconds{t.tv_sec} + std::chrono::nanoseconds{t.tv_nsec};
}

/// Where a fan-out run keeps each receiver's packets: a ring of slots indexed
/// by sequence number, long enough for the playout latency, two receive
/// intervals and some spare.
struct ring_layout {
    std::size_t slot_bytes;
    std::size_t slots;
};

/// One receiver of the fan-out floor: a socket and its ring. The receiving
/// thread writes slots and then publishes the highest sequence it stored; the
/// playout thread reads only what was published.
struct bare_receiver {
    audiocast::udp_multicast_transport socket;
    std::vector<std::byte> ring;
    std::int64_t next = 0; ///< the receiving thread's: the sequence expected next
    std::uint64_t received = 0, misfiled = 0;
    std::atomic<std::int64_t> stored{-1};
    // When the receiving thread read the first packet, and its sequence: a
    // receiver starts playing one latency after its first read, as the
    // library's receivers do (and not on the sender's schedule, which a
    // receiver whose first read came late could never meet).
    std::int64_t first_sequence = 0;
    std::atomic<std::int64_t> first_read_ns{-1};
    std::int64_t block_offset = 0; ///< the playout thread's: sequence = block + offset
    bool playing = false;          ///< the playout thread's
    std::uint64_t underruns = 0;   ///< the playout thread's

    bare_receiver(asio::io_context& io, const ring_layout& layout)
        : socket{io, {.multicast_interface = "lo", .receive_buffer_bytes = 1 << 20}},
          ring(layout.slot_bytes * layout.slots)
    {}
};

/// Empties one receiver's socket into its ring with recvmmsg(2), each datagram
/// straight into the slot its sequence number will most likely have.
void drain(bare_receiver& r, const ring_layout& layout)
{
    constexpr std::size_t batch = 32;
    std::array<::mmsghdr, batch> messages{};
    std::array<::iovec, batch> pieces{};
    const std::size_t vlen = std::min(batch, layout.slots / 2);
    for (;;) {
        for (std::size_t j = 0; j < vlen; ++j) {
            const auto slot =
                static_cast<std::size_t>(r.next + static_cast<std::int64_t>(j)) % layout.slots;
            pieces[j] = {r.ring.data() + slot * layout.slot_bytes, layout.slot_bytes};
            messages[j].msg_hdr = {};
            messages[j].msg_hdr.msg_iov = &pieces[j];
            messages[j].msg_hdr.msg_iovlen = 1;
        }
        const int n = ::recvmmsg(r.socket.native_handle(), messages.data(),
                                 static_cast<unsigned>(vlen), MSG_DONTWAIT, nullptr);
        if (n <= 0) return;
        for (int j = 0; j < n; ++j) {
            const auto* bytes =
                static_cast<const unsigned char*>(pieces[static_cast<std::size_t>(j)].iov_base);
            const auto sequence = static_cast<std::uint16_t>(bytes[2] << 8 | bytes[3]);
            const auto delta = static_cast<std::int16_t>(
                static_cast<std::uint16_t>(sequence - static_cast<std::uint16_t>(r.next)));
            // A loss or a reordering leaves the packet in the wrong slot: the
            // floor does not re-file it (the playout then counts an underrun),
            // it only keeps counting sequence numbers right.
            if (delta != 0) ++r.misfiled;
            r.next += delta + 1;
        }
        if (r.received == 0) {
            const auto* first = static_cast<const unsigned char*>(pieces[0].iov_base);
            r.first_sequence = first[2] << 8 | first[3];
            r.first_read_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                                  std::memory_order_release);
        }
        r.received += static_cast<std::uint64_t>(n);
        r.stored.store(r.next - 1, std::memory_order_release);
        if (static_cast<std::size_t>(n) < vlen) return;
    }
}

/// Copies packet `sequence`'s samples from `r`'s ring to `out` with a byte
/// swap (L16 is big-endian); false when it has not arrived.
bool play(bare_receiver& r, const ring_layout& layout, std::int64_t sequence,
          std::span<std::int16_t> out)
{
    if (r.stored.load(std::memory_order_acquire) < sequence) return false;
    const std::byte* packet =
        r.ring.data() + static_cast<std::size_t>(sequence) % layout.slots * layout.slot_bytes;
    const auto* bytes = reinterpret_cast<const unsigned char*>(packet);
    if ((bytes[2] << 8 | bytes[3]) != static_cast<int>(sequence & 0xFFFF)) return false;
    const std::byte* samples = packet + audiocast::rtp::fixed_header_size;
    for (std::size_t k = 0; k < out.size(); ++k) {
        std::uint16_t v = 0;
        std::memcpy(&v, samples + 2 * k, 2);
        out[k] = static_cast<std::int16_t>(__builtin_bswap16(v));
    }
    return true;
}

int fanout(long receivers, long ptime_ms, double seconds, long interval_ms)
{
    using namespace std::chrono;
    const auto period = milliseconds{ptime_ms};
    const auto latency = milliseconds{40};
    const auto interval = milliseconds{interval_ms};
    const std::size_t frames = static_cast<std::size_t>(48 * ptime_ms);
    const std::size_t packet_bytes = audiocast::rtp::fixed_header_size + frames * 4;
    const ring_layout layout{
        std::bit_ceil(packet_bytes),
        std::bit_ceil(static_cast<std::size_t>((latency + 2 * interval + 20ms) / period) + 1)};
    const auto count = static_cast<std::int64_t>(seconds * 1000.0 / static_cast<double>(ptime_ms));
    const auto duration = count * period;

    audiocast_bench::raise_descriptor_limit(static_cast<std::size_t>(receivers) + 1);
    asio::io_context io{1};
    audiocast::udp_multicast_transport sender{io, {.multicast_interface = "lo", .join = false}};
    std::vector<std::unique_ptr<bare_receiver>> rx;
    for (long i = 0; i < receivers; ++i)
        rx.push_back(std::make_unique<bare_receiver>(io, layout));
    const int set = ::epoll_create1(EPOLL_CLOEXEC);
    if (set < 0) throw std::system_error{errno, std::generic_category(), "epoll_create1"};
    for (auto& r : rx) {
        ::epoll_event e{};
        e.events = EPOLLIN;
        e.data.ptr = r.get();
        if (::epoll_ctl(set, EPOLL_CTL_ADD, r->socket.native_handle(), &e) != 0)
            throw std::system_error{errno, std::generic_category(), "epoll_ctl"};
    }

    const auto start = steady_clock::now().time_since_epoch() + 50ms;
    const auto sleep_until = [](nanoseconds t) {
        const ::timespec at = to_timespec(t);
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) != 0) {
        }
    };
    std::atomic<std::int64_t> send_cpu{0}, receive_cpu{0}, playout_cpu{0};
    std::uint64_t send_failures = 0, late_rounds = 0, rounds = 0;
    nanoseconds sender_lateness_max{}, longest_pass{}, playout_lateness_max{};

    std::thread sending{[&] {
        const auto cpu0 = thread_cpu();
        std::vector<std::byte> packet(packet_bytes);
        audiocast::rtp::header h;
        h.payload_type = 96;
        h.ssrc = 0xF100'0002;
        for (std::int64_t i = 0; i < count; ++i) {
            const auto due = start + (i + 1) * period;
            sleep_until(due);
            sender_lateness_max =
                std::max(sender_lateness_max, steady_clock::now().time_since_epoch() - due);
            h.sequence = static_cast<std::uint16_t>(i);
            h.timestamp = static_cast<std::uint32_t>(static_cast<std::size_t>(i) * frames);
            audiocast::rtp::write_header(h, packet);
            std::error_code ec;
            sender.send(packet, ec);
            if (ec) ++send_failures;
        }
        send_cpu = (thread_cpu() - cpu0).count();
    }};
    std::uint64_t first_second_underruns = 0;
    std::thread receiving{[&] {
        const auto cpu0 = thread_cpu();
        std::vector<::epoll_event> ready(rx.size());
        const auto last = start + duration + latency + 100ms;
        bool measured = false;
        for (std::int64_t tick = 1;; ++tick) {
            if (interval_ms > 0) sleep_until(start + tick * interval);
            const auto now = steady_clock::now().time_since_epoch();
            if (!measured && now >= start + duration) {
                receive_cpu = (thread_cpu() - cpu0).count();
                measured = true;
            }
            if (now >= last) break;
            const int n = ::epoll_wait(set, ready.data(), static_cast<int>(ready.size()),
                                       interval_ms > 0 ? 0 : 100);
            for (int k = 0; k < n; ++k)
                drain(*static_cast<bare_receiver*>(ready[static_cast<std::size_t>(k)].data.ptr),
                      layout);
            longest_pass = std::max(longest_pass, steady_clock::now().time_since_epoch() - now);
        }
    }};
    std::thread playing{[&] {
        const auto cpu0 = thread_cpu();
        constexpr std::int64_t max_catch_up = 20;
        std::vector<std::int16_t> out(frames * 2);
        for (std::int64_t next = 0; next < count;) {
            const auto deadline = start + (next + 1) * period + latency;
            sleep_until(deadline);
            const auto late = steady_clock::now().time_since_epoch() - deadline;
            playout_lateness_max = std::max(playout_lateness_max, duration_cast<nanoseconds>(late));
            const auto due = std::min({late / period + 1, count - next, max_catch_up});
            if (due > 1) ++late_rounds;
            ++rounds;
            for (auto& r : rx)
                for (std::int64_t d = 0; d < due; ++d) {
                    const std::int64_t block = next + d;
                    if (!r->playing) {
                        const std::int64_t first = r->first_read_ns.load(std::memory_order_acquire);
                        const auto block_due = start + (block + 1) * period + latency;
                        if (first < 0 || block_due < nanoseconds{first} + latency) continue;
                        r->playing = true;
                        r->block_offset = r->first_sequence - block;
                    }
                    const std::int64_t sequence = block + r->block_offset;
                    if (sequence >= count) break; // the sender has finished
                    if (!play(*r, layout, sequence, out)) {
                        ++r->underruns;
                        if (block * period < 1s) ++first_second_underruns;
                    }
                }
            next += due;
        }
        playout_cpu = (thread_cpu() - cpu0).count();
    }};
    sending.join();
    playing.join();
    receiving.join();
    ::close(set);

    std::uint64_t received = 0, misfiled = 0, underruns = 0;
    for (const auto& r : rx) {
        received += r->received;
        misfiled += r->misfiled;
        underruns += r->underruns;
    }
    const double core = static_cast<double>(duration_cast<nanoseconds>(duration).count()) / 100.0;
    std::printf(
        "floor: fan-out to %ld receivers, %lld packets of %ld ms in %.1f s, receive "
        "interval %ld ms: received %llu of %llu, misfiled %llu, underruns %llu (%llu in the "
        "first second), late "
        "playout rounds %llu of %llu, sender and playout lateness max %.3f and %.3f ms, longest "
        "receive pass %.3f ms, "
        "send failures %llu; "
        "cpu %% of a core: send %.1f, receive %.1f, playout %.1f\n",
        receivers, static_cast<long long>(count), ptime_ms,
        static_cast<double>(duration.count()) / 1e3, interval_ms,
        static_cast<unsigned long long>(received),
        static_cast<unsigned long long>(static_cast<std::uint64_t>(count) *
                                        static_cast<std::uint64_t>(receivers)),
        static_cast<unsigned long long>(misfiled), static_cast<unsigned long long>(underruns),
        static_cast<unsigned long long>(first_second_underruns),
        static_cast<unsigned long long>(late_rounds), static_cast<unsigned long long>(rounds),
        static_cast<double>(sender_lateness_max.count()) / 1e6,
        static_cast<double>(playout_lateness_max.count()) / 1e6,
        static_cast<double>(longest_pass.count()) / 1e6,
        static_cast<unsigned long long>(send_failures), static_cast<double>(send_cpu.load()) / core,
        static_cast<double>(receive_cpu.load()) / core,
        static_cast<double>(playout_cpu.load()) / core);
    return 0;
}

} // namespace

int main(int argc, char* argv[])
{
    bool sending = false;
    long ptime_ms = 5;
    double seconds = 10;
    long interval_ms = 0;
    long receivers = 0;
    try {
        const audiocast_bench::command_line args{
            argc, argv, {"ptime-ms", "seconds", "interval-ms", "fanout"}, {"send", "receive"}};
        if (int{args.has("send")} + int{args.has("receive")} + int{args.has("fanout")} != 1)
            throw audiocast_bench::usage_error{"give one of --send, --receive and --fanout"};
        receivers = args.integer("fanout", 0, 1, 4000);
        sending = args.has("send");
        ptime_ms = args.integer("ptime-ms", 5, 1, 20);
        seconds = args.number("seconds", 10, 0, 3600);
        interval_ms = args.integer("interval-ms", receivers > 0 ? 5 : 0, 0, 100);
        if (!audiocast::is_allowed_packet_time(std::chrono::milliseconds{ptime_ms}))
            throw audiocast_bench::usage_error{"--ptime-ms " + std::to_string(ptime_ms) +
                                               " is not one of " +
                                               audiocast::pcm_packet_times_text()};
    } catch (const audiocast_bench::usage_error& e) {
        std::cerr << "audiocast-bench-floor: " << e.what() << '\n' << usage;
        return 2;
    }
    // Before any socket exists: never on the host's interfaces.
    if (const std::string why =
            audiocast_test::namespace_refusal("scripts/bench or tests/network/netns-run");
        !why.empty()) {
        std::cout << "SKIP: audiocast-bench-floor: " << why << '\n';
        return 77;
    }
    try {
        if (receivers > 0) return fanout(receivers, ptime_ms, seconds, interval_ms);
        return sending ? send(ptime_ms, seconds) : receive(seconds, interval_ms);
    } catch (const std::exception& e) {
        std::cerr << "audiocast-bench-floor: " << e.what() << '\n';
        return 1;
    }
}
