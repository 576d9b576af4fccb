// The loop a stream reads batches with (stream/datagram_batch.hpp): it stops
// at a short batch or an error, and never drops what a batch brought before
// its error.
#include <audiocast/stream/datagram_batch.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <span>
#include <system_error>
#include <vector>

namespace {

/// Hands out batches as scripted: each a count of datagrams and an error.
struct scripted_batches {
    struct batch {
        std::size_t count;
        std::error_code ec;
    };
    std::vector<batch> script;
    std::size_t next = 0;
    std::size_t calls = 0;
    unsigned char serial = 0;

    void send(std::span<const std::byte>, std::error_code& ec) noexcept { ec.clear(); }
    std::size_t receive(std::span<std::byte>, std::error_code& ec) noexcept
    {
        ec = std::make_error_code(std::errc::operation_would_block);
        return 0;
    }
    std::size_t receive_batch(std::span<audiocast::received_datagram> slots,
                              std::error_code& ec) noexcept
    {
        ++calls;
        if (next == script.size()) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        const batch b = script[next++];
        for (std::size_t i = 0; i < b.count; ++i) {
            slots[i].buffer[0] = std::byte{++serial};
            slots[i].size = 1;
        }
        ec = b.ec;
        return b.count;
    }
};

std::vector<int> drain(audiocast::detail::datagram_batch<4>& batch, scripted_batches& t,
                       std::error_code& ec)
{
    std::vector<int> taken;
    batch.drain(t, 100, ec, [&](std::span<const audiocast::received_datagram> got) {
        for (const auto& d : got)
            taken.push_back(std::to_integer<int>(d.buffer[0]));
    });
    return taken;
}

} // namespace

TEST_CASE("Batch reading: datagrams that came with an error are taken, and the error is told")
{
    audiocast::detail::datagram_batch<4> batch;
    batch.allocate(16);
    scripted_batches t;
    t.script = {{4, {}}, {2, std::make_error_code(std::errc::connection_refused)}, {4, {}}};
    std::error_code ec;
    CHECK(drain(batch, t, ec) == std::vector<int>{1, 2, 3, 4, 5, 6});
    CHECK(ec == std::errc::connection_refused);
    CHECK(t.calls == 2);
}

TEST_CASE("Batch reading: a short batch ends the read without a call to learn that none is "
          "left, and would_block is no error")
{
    audiocast::detail::datagram_batch<4> batch;
    batch.allocate(16);
    scripted_batches t;
    t.script = {{4, {}}, {4, {}}, {1, {}}, {4, {}}};
    std::error_code ec;
    CHECK(drain(batch, t, ec).size() == 9);
    CHECK_FALSE(ec);
    CHECK(t.calls == 3);

    scripted_batches empty;
    CHECK(drain(batch, empty, ec).empty());
    CHECK_FALSE(ec);
}
