// stream_thread in real time with no network: the streams' transports are the
// two ends of a UNIX datagram socketpair (socketpair(2); nothing reaches any
// network interface), so a sending and a receiving stream_thread wait in ppoll
// on real descriptors while this thread pulls the audio, as an audio callback
// would, and other threads post() to the sender. Meant to run under
// ThreadSanitizer too: it proves the memory orders of post(), counts() and the
// stream's hand-offs, not only the values.
#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/transport/stream_thread.hpp>

#include "../support/stream_harness.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;
using audiocast_test::make_source;
using audiocast_test::trimmed;

/// One end of a UNIX datagram socketpair as a transport: what one end sends,
/// the other receives, one datagram a call or a batch (recvmmsg).
class socketpair_end {
public:
    explicit socketpair_end(int fd) noexcept : fd_{fd} {}
    socketpair_end(socketpair_end&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}
    socketpair_end& operator=(socketpair_end&&) = delete;
    socketpair_end(const socketpair_end&) = delete;
    socketpair_end& operator=(const socketpair_end&) = delete;
    ~socketpair_end()
    {
        if (fd_ >= 0) ::close(fd_);
    }

    void send(std::span<const std::byte> datagram, std::error_code& ec) noexcept
    {
        ec.clear();
        if (::send(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT) < 0)
            ec = std::error_code{errno, std::system_category()};
    }
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        ec.clear();
        const ::ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n >= 0) return static_cast<std::size_t>(n);
        ec = errno == EAGAIN || errno == EWOULDBLOCK
                 ? std::make_error_code(std::errc::operation_would_block)
                 : std::error_code{errno, std::system_category()};
        return 0;
    }
    std::size_t receive_batch(std::span<audiocast::received_datagram> slots,
                              std::error_code& ec) noexcept
    {
        ec.clear();
        std::array<::mmsghdr, 16> messages{};
        std::array<::iovec, 16> vectors{};
        const std::size_t n = std::min(slots.size(), messages.size());
        for (std::size_t i = 0; i < n; ++i) {
            vectors[i] = {slots[i].buffer.data(), slots[i].buffer.size()};
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        const int got =
            ::recvmmsg(fd_, messages.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
        if (got <= 0) {
            ec = got == 0 || errno == EAGAIN || errno == EWOULDBLOCK
                     ? std::make_error_code(std::errc::operation_would_block)
                     : std::error_code{errno, std::system_category()};
            return 0;
        }
        for (std::size_t i = 0; i < static_cast<std::size_t>(got); ++i) {
            slots[i].size = messages[i].msg_len;
            slots[i].truncated = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
            slots[i].origin = {};
        }
        return static_cast<std::size_t>(got);
    }
    [[nodiscard]] int native_handle() noexcept { return fd_; }

private:
    int fd_;
};

using stream = audiocast::basic_multicast_stream<socketpair_end, audiocast::pcm_codec,
                                                 audiocast::steady_clock>;

std::pair<socketpair_end, socketpair_end> make_pair_of_ends()
{
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) == 0);
    // Room for a second of 1 ms packets, so the kernel never drops one here.
    const int bytes = 1 << 20;
    for (int fd : fds)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    return {socketpair_end{fds[0]}, socketpair_end{fds[1]}};
}

} // namespace

TEST_CASE("stream_thread: a sending and a receiving thread over a socketpair, work posted from "
          "a third thread, and an audio thread pulling play the source bit-exact",
          "[threads][stream_thread]")
{
    auto [media_tx, media_rx] = make_pair_of_ends();
    auto [control_tx, control_rx] = make_pair_of_ends();
    const audiocast::pcm_codec codec{audiocast::pcm_config{.packet_time = 1ms}};
    audiocast::receiver_config rx_config;
    rx_config.max_rate_adjustment = 0; // one clock: bit-exact playout
    stream::receiver rx{std::move(media_rx), std::move(control_rx), codec,
                        audiocast::steady_clock{}, rx_config};
    stream::sender tx{std::move(media_tx), std::move(control_tx), codec, audiocast::steady_clock{}};

    const std::vector<std::int16_t> source = make_source(24'000, 2, 17); // 0.5 s
    std::size_t written = 0;
    std::atomic<bool> all_written{false};
    audiocast::stream_thread<stream::sender> sending{tx};
    audiocast::stream_thread<stream::receiver> receiving{rx, {.receive_interval = 2ms}};
    std::mutex errors_mutex;
    std::vector<std::error_code> errors;
    const auto on_error = [&](std::error_code ec) {
        const std::lock_guard lock{errors_mutex};
        errors.push_back(ec);
    };
    sending.on_error(on_error);
    receiving.on_error(on_error);
    // Starts paused: the posting thread below says PLAY.
    sending.post([](stream::sender& s) { s.pause(); });
    sending.on_refill([&](stream::sender& s) {
        const std::size_t left = source.size() / 2 - written;
        if (left > 0)
            written +=
                s.write(std::span<const std::int16_t>{source.data() + written * 2, left * 2});
        if (written * 2 == source.size()) {
            s.flush();
            all_written.store(true);
        }
    });
    receiving.start();
    sending.start();

    // Another thread asks for statistics while the stream runs, then plays it.
    std::atomic<std::uint64_t> seen_while_paused{~std::uint64_t{0}};
    std::thread console{[&] {
        std::this_thread::sleep_for(20ms);
        sending.post(
            [&](stream::sender& s) { seen_while_paused.store(s.sender().stats().packets_sent); });
        std::this_thread::sleep_for(20ms);
        sending.post([](stream::sender& s) { s.play(); });
    }};

    // The audio side: 1 ms pulls at absolute steps for 1 s.
    std::vector<std::int16_t> played(1000 * 48 * 2);
    steady::time_point next = steady::now() + 1ms;
    for (std::size_t b = 0; b < 1000; ++b) {
        std::this_thread::sleep_until(next);
        rx.pull(std::span<std::int16_t>{played.data() + b * 96, 96});
        next += 1ms;
    }
    console.join();
    const audiocast::stream_thread_counts counts = receiving.counts();
    sending.stop();
    receiving.stop();

    CHECK(errors.empty());
    CHECK(all_written.load());
    CHECK(seen_while_paused.load() == 0);
    CHECK(tx.sender().stats().packets_sent == 500);
    CHECK(rx.stats().packets_lost == 0);
    // A sending thread held up past max_lateness (a loaded host) slips its
    // schedule: a gap of what it reports, which every listener plays.
    const auto slipped = audiocast::frames_in(tx.sender().stats().slipped, 48'000);
    INFO("the sender slipped " << slipped << " frames");
    CHECK(audiocast_test::inserted_silence(trimmed(played, 2), source, 2) == slipped);
    // Gathered reads: far fewer wake-ups than the 500 packets.
    CHECK(counts.waits < 400);
}
