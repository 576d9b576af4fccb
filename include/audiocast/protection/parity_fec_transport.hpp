// audiocast — SMPTE 2022-1 parity FEC as a transport adapter.
//
// A parity_fec_transport<T> models `transport` by wrapping three T: the media
// flow and the two repair flows (columns, rows; by convention the media port
// + 2 and + 4). As a sender it sends each media datagram and then the repair
// packets it completes; as a receiver it hands on each media datagram and,
// among them, the ones its repairs rebuild, so the stream's session sees only
// RTP media and never knows FEC was there (docs/architecture.md, Packet
// protection). A receiver without FEC joins only the media flow and plays it.
//
//   using fec_udp = parity_fec_transport<udp_multicast_transport>;
//   basic_multicast_stream<fec_udp, pcm_codec, steady_clock>::receiver rx{
//       fec_udp::receiver(media, columns, rows, fec), fec_udp::unprotected(control), ...};
//
// The stream's control flow (RTCP) is of the same type, made unprotected().
// Waiting is on the media flow alone (native_handle, async_wait_readable):
// the repair flows are read whenever the media flow has been read empty,
// which it is at each media packet, so a repair waits at most a packet time
// longer to be used, and is never read before the media sent ahead of it
// that has arrived.
//
// A receiver rebuilds only the packets of the source its stream plays, from
// repairs of that source's host: the stream tells it which source that is
// (source_following_transport), and the decoder then ignores every other
// sender's packets and repairs (parity_fec_decoder.hpp).
#pragma once

#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/protection/parity_fec_config.hpp>
#include <audiocast/protection/parity_fec_decoder.hpp>
#include <audiocast/protection/parity_fec_encoder.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast {

/// What a parity_fec_transport has done besides its encoder's and decoder's
/// counts, cumulative.
struct parity_fec_transport_stats {
    std::uint64_t repair_send_failures = 0;  ///< repair packets a repair flow refused
    std::uint64_t repair_receive_errors = 0; ///< errors reading a repair flow (not would_block)
};

template <transport Transport>
class parity_fec_transport {
public:
    /// Sends media on `media` and repair packets on `columns` and `rows` (a
    /// flow the config turns off may be absent).
    static parity_fec_transport sender(Transport media, std::optional<Transport> columns,
                                       std::optional<Transport> rows,
                                       const parity_fec_config& config)
    {
        parity_fec_transport t{std::move(media), std::move(columns), std::move(rows)};
        t.encoder_.emplace(config);
        return t;
    }

    /// Receives media on `media` and repair packets on `columns` and `rows`,
    /// keeping packets for the matrix `config` describes.
    static parity_fec_transport receiver(Transport media, std::optional<Transport> columns,
                                         std::optional<Transport> rows,
                                         const parity_fec_config& config)
    {
        parity_fec_transport t{std::move(media), std::move(columns), std::move(rows)};
        t.decoder_.emplace(config);
        t.scratch_.resize(config.max_datagram + parity_fec::fec_header_size);
        return t;
    }

    /// `inner` alone, as it is: the stream's control flow.
    static parity_fec_transport unprotected(Transport inner)
    {
        return parity_fec_transport{std::move(inner), std::nullopt, std::nullopt};
    }

    parity_fec_transport(parity_fec_transport&&) noexcept = default;
    parity_fec_transport& operator=(parity_fec_transport&&) noexcept = default;

    /// Sends `datagram` on the media flow, then the repair packets due after
    /// it. A datagram the media flow refused is protected all the same: a
    /// receiver can rebuild what this host failed to send.
    void send(std::span<const std::byte> datagram, std::error_code& ec) noexcept
    {
        media_.send(datagram, ec);
        if (!encoder_) return;
        encoder_->protect(datagram, [this](bool row, std::span<const std::byte> repair) {
            auto& flow = row ? rows_ : columns_;
            if (!flow) return;
            std::error_code repair_ec;
            flow->send(repair, repair_ec);
            if (repair_ec) ++stats_.repair_send_failures;
        });
    }

    /// The next media datagram: one rebuilt, or one that arrived.
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        datagram_origin origin;
        return receive(buffer, origin, ec);
    }

    /// As receive(buffer, ec), with where it came from (for a rebuilt one,
    /// where the packets it was rebuilt from came from, waited zero).
    std::size_t receive(std::span<std::byte> buffer, datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        origin = {};
        if (!decoder_) return receive_inner(media_, buffer, origin, ec);
        // Media first: a repair read before the packets sent ahead of it
        // would take one of them for lost.
        const std::size_t n = receive_inner(media_, buffer, origin, ec);
        if (!ec) {
            decoder_->on_media(buffer.first(n), origin);
            return n;
        }
        if (ec != std::errc::operation_would_block) return n;
        read_repairs();
        if (const std::size_t r = take_one(buffer, origin); r > 0) {
            ec.clear();
            return r;
        }
        return n;
    }

    /// The source the receiver plays (source_following_transport): from now
    /// on only its packets are kept for repairs, and only repairs from its
    /// host are used. Does nothing for a sender or unprotected().
    void follow_source(std::uint32_t ssrc, const endpoint& from) noexcept
    {
        if (decoder_) decoder_->follow(ssrc, from);
    }

    /// Fills `slots` with rebuilt and arrived media datagrams; fewer than
    /// asked means none is left (batch_receiver).
    std::size_t receive_batch(std::span<received_datagram> slots, std::error_code& ec) noexcept
        requires batch_receiver<Transport>
    {
        if (!decoder_) return media_.receive_batch(slots, ec);
        const std::size_t got = media_.receive_batch(slots, ec);
        for (std::size_t i = 0; i < got; ++i)
            if (!slots[i].truncated)
                decoder_->on_media(
                    std::span<const std::byte>{slots[i].buffer.data(), slots[i].size},
                    slots[i].origin);
        if (got == slots.size() || (ec && ec != std::errc::operation_would_block)) return got;
        // The media flow had no more: now the repairs, and what they rebuild.
        read_repairs();
        const std::size_t n = got + take_recovered(slots.subspan(got));
        if (n > 0 && ec == std::errc::operation_would_block) ec.clear();
        return n;
    }

    [[nodiscard]] native_socket native_handle() noexcept
        requires descriptor_transport<Transport>
    {
        return media_.native_handle();
    }

    template <class Handler>
    void async_wait_readable(Handler&& handler)
        requires readiness_waiting_transport<Transport>
    {
        media_.async_wait_readable(std::forward<Handler>(handler));
    }

    void cancel_waits() noexcept
        requires readiness_waiting_transport<Transport>
    {
        media_.cancel_waits();
    }

    [[nodiscard]] Transport& media() noexcept { return media_; }
    [[nodiscard]] const Transport& media() const noexcept { return media_; }
    [[nodiscard]] std::optional<Transport>& column_flow() noexcept { return columns_; }
    [[nodiscard]] std::optional<Transport>& row_flow() noexcept { return rows_; }
    /// The sender's encoder; empty for a receiver or unprotected().
    [[nodiscard]] const std::optional<parity_fec_encoder>& encoder() const noexcept
    {
        return encoder_;
    }
    /// The receiver's decoder; empty for a sender or unprotected().
    [[nodiscard]] const std::optional<parity_fec_decoder>& decoder() const noexcept
    {
        return decoder_;
    }
    [[nodiscard]] const parity_fec_transport_stats& stats() const noexcept { return stats_; }

private:
    parity_fec_transport(Transport media, std::optional<Transport> columns,
                         std::optional<Transport> rows)
        : media_{std::move(media)}, columns_{std::move(columns)}, rows_{std::move(rows)}
    {}

    // The most repair packets read from one flow at a call: a flood there
    // cannot hold the media up.
    static constexpr int max_repairs_per_read = 64;

    static std::size_t receive_inner(Transport& t, std::span<std::byte> buffer,
                                     datagram_origin& origin, std::error_code& ec) noexcept
    {
        if constexpr (origin_reporting_receiver<Transport>)
            return t.receive(buffer, origin, ec);
        else
            return t.receive(buffer, ec);
    }

    void read_repairs() noexcept
    {
        for (auto* flow : {&columns_, &rows_}) {
            if (!*flow) continue;
            for (int i = 0; i < max_repairs_per_read; ++i) {
                std::error_code ec;
                datagram_origin origin;
                const std::size_t n =
                    receive_inner(**flow, std::span<std::byte>{scratch_}, origin, ec);
                if (ec == std::errc::operation_would_block) break;
                if (ec) {
                    ++stats_.repair_receive_errors; // message_size among them: counted, dropped
                    if (ec != std::errc::message_size) break;
                    continue;
                }
                decoder_->on_repair(std::span<const std::byte>{scratch_.data(), n}, origin.from);
            }
        }
    }

    std::size_t take_one(std::span<std::byte> buffer, datagram_origin& origin) noexcept
    {
        while (decoder_->has_recovered())
            if (const std::size_t n = decoder_->take_recovered(buffer, origin); n > 0) return n;
        return 0;
    }

    std::size_t take_recovered(std::span<received_datagram> slots) noexcept
    {
        std::size_t n = 0;
        while (n < slots.size() && decoder_->has_recovered()) {
            received_datagram& d = slots[n];
            d.truncated = false;
            d.size = decoder_->take_recovered(d.buffer, d.origin);
            if (d.size > 0) ++n;
        }
        return n;
    }

    Transport media_;
    std::optional<Transport> columns_;
    std::optional<Transport> rows_;
    std::optional<parity_fec_encoder> encoder_;
    std::optional<parity_fec_decoder> decoder_;
    std::vector<std::byte> scratch_;
    parity_fec_transport_stats stats_;
};

} // namespace audiocast
