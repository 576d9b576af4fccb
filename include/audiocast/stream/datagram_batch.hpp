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
    /// Gives every slot a buffer of `bytes_each` bytes, each starting on an
    /// 8-byte boundary: a protection layer (libsrtp) reads RTP's header in
    /// place as 32-bit words.
    void allocate(std::size_t bytes_each)
    {
        const std::size_t stride = (bytes_each + 7) / 8 * 8;
        bytes_.resize(Slots * stride);
        for (std::size_t i = 0; i < Slots; ++i)
            slots_[i].buffer = std::span<std::byte>{bytes_.data() + i * stride, bytes_each};
    }

    /// Reads batches from `transport` until one comes back short (the
    /// transport had no more, or stopped early: no call is made to learn
    /// which), one reports an error, or `limit` datagrams were read, calling
    /// take(std::span<const received_datagram>) with each batch, including
    /// the datagrams of one that ended in an error. Returns the datagrams
    /// read; would_block is not an error.
    template <batch_receiver T, class Take>
    std::size_t drain(T& transport, std::size_t limit, std::error_code& ec, Take&& take) noexcept
    {
        std::size_t read = 0;
        while (read < limit) {
            const std::size_t got = transport.receive_batch(slots_, ec);
            if (ec == std::errc::operation_would_block) ec.clear();
            // Datagrams read before an error are taken before it is told:
            // they were received, and dropping them would lose good audio.
            read += got;
            if (got > 0) take(std::span<const received_datagram>{slots_.data(), got});
            if (ec || got < Slots) break;
        }
        return read;
    }

private:
    std::array<received_datagram, Slots> slots_{};
    std::vector<std::byte> bytes_;
};

} // namespace audiocast::detail
