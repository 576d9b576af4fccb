// audiocast — the slots a stream reads a batch_receiver into (concepts.hpp),
// and the loop that reads until the transport is empty.
//
// Internal to the streams (stream_base.hpp for RTCP, receiver_stream.hpp for
// media). The buffers are allocated once; reading allocates nothing.
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <system_error>
#include <vector>

namespace audiocast::detail {

template <std::size_t Slots>
class datagram_batch {
public:
    /// Gives every slot a buffer of `bytes_each` bytes.
    void allocate(std::size_t bytes_each)
    {
        bytes_.resize(Slots * bytes_each);
        for (std::size_t i = 0; i < Slots; ++i)
            slots_[i].buffer = std::span<std::byte>{bytes_.data() + i * bytes_each, bytes_each};
    }

    /// Reads batches from `transport` until one comes back short (the
    /// transport had no more: no call is made to learn it) or `limit`
    /// datagrams were read, calling take(std::span<const received_datagram>)
    /// with each batch. Returns the datagrams read; would_block is not an error.
    template <batch_receiver T, class Take>
    std::size_t drain(T& transport, std::size_t limit, std::error_code& ec, Take&& take) noexcept
    {
        std::size_t read = 0;
        while (read < limit) {
            const std::size_t got = transport.receive_batch(slots_, ec);
            if (ec == std::errc::operation_would_block) ec.clear();
            if (ec || got == 0) break;
            read += got;
            take(std::span<const received_datagram>{slots_.data(), got});
            if (got < Slots) break;
        }
        return read;
    }

private:
    std::array<received_datagram, Slots> slots_{};
    std::vector<std::byte> bytes_;
};

} // namespace audiocast::detail
