// audiocast — builds SMPTE 2022-1 repair packets from the media packets sent.
//
// Sans-I/O: protect() takes each media datagram as it leaves and hands the
// repair packets that are then due to a callback. A row's repair leaves right
// after the row's last packet; a matrix's column repairs are built after its
// last packet and leave one every D media packets of the next matrix, so a
// burst that takes the end of a matrix does not also take its repairs
// (parity_fec_config.hpp). Allocates only when made.
#pragma once

#include <audiocast/detail/endian.hpp>
#include <audiocast/protection/parity_fec_config.hpp>
#include <audiocast/wire/parity_fec.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace audiocast {

/// What a parity_fec_encoder has done, cumulative.
struct parity_fec_encoder_stats {
    std::uint64_t media_protected = 0;
    /// Media datagrams sent without protection: longer than max_datagram, or
    /// not RTP version 2.
    std::uint64_t media_unprotected = 0;
    /// Times the matrix started over because the sequence numbers or the
    /// SSRC jumped (a new stream): the packets since its start had only the
    /// repairs already sent.
    std::uint64_t restarts = 0;
    std::uint64_t row_repairs = 0;
    std::uint64_t column_repairs = 0;
};

class parity_fec_encoder {
public:
    /// Throws std::system_error (errc::invalid_fec_setting) naming the
    /// setting out of range.
    explicit parity_fec_encoder(const parity_fec_config& config)
        : config_{checked(config)}, row_{region_capacity()},
          columns_(config_.columns, group{region_capacity()}),
          queued_(config_.columns, std::vector<std::byte>(max_repair_bytes())),
          queued_sizes_(config_.columns, 0)
    {}

    [[nodiscard]] const parity_fec_config& config() const noexcept { return config_; }
    [[nodiscard]] const parity_fec_encoder_stats& stats() const noexcept { return stats_; }

    /// The longest repair packet this encoder builds.
    [[nodiscard]] std::size_t max_repair_bytes() const noexcept
    {
        return parity_fec::repair_payload_offset + region_capacity();
    }

    /// Takes the media datagram just sent (an RTP packet) and calls
    /// emit(bool row, std::span<const std::byte> repair) for each repair
    /// packet due after it, rows first.
    template <class Emit>
    void protect(std::span<const std::byte> datagram, Emit&& emit) noexcept
    {
        if (datagram.size() < rtp::fixed_header_size || datagram.size() > config_.max_datagram ||
            (std::to_integer<unsigned>(datagram[0]) >> 6) != 2) {
            ++stats_.media_unprotected;
            return;
        }
        const std::uint16_t sequence = detail::load_be16(datagram.data() + 2);
        const std::uint32_t ssrc = detail::load_be32(datagram.data() + 8);
        if (started_ &&
            (sequence != static_cast<std::uint16_t>(last_sequence_ + 1) || ssrc != ssrc_)) {
            ++stats_.restarts;
            start_over(emit);
        }
        started_ = true;
        last_sequence_ = sequence;
        last_timestamp_ = detail::load_be32(datagram.data() + 4);
        ssrc_ = ssrc;
        ++stats_.media_protected;

        const std::size_t column = index_ % config_.columns;
        if (config_.row_repair) {
            row_.add(datagram);
            if (row_.count == config_.columns) {
                const std::size_t n = build(row_, true, 1, row_buffer_.data());
                ++stats_.row_repairs;
                emit(true, std::span<const std::byte>{row_buffer_.data(), n});
                row_.clear();
            }
        }
        if (config_.column_repair) columns_[column].add(datagram);

        // One queued column repair every D packets of the next matrix.
        if (config_.column_repair && queued_next_ < queued_count_ && index_ % config_.rows == 0) {
            const std::size_t q = queued_next_++;
            ++stats_.column_repairs;
            emit(false, std::span<const std::byte>{queued_[q].data(), queued_sizes_[q]});
        }

        ++index_;
        if (index_ == matrix_size()) {
            index_ = 0;
            if (config_.column_repair) queue_columns(emit);
        }
    }

private:
    struct group {
        explicit group(std::size_t capacity) : bytes(capacity) {}
        std::vector<std::byte> bytes; // XOR of the regions after the fixed headers
        std::size_t longest = 0;
        std::uint16_t sn_base = 0;
        std::uint16_t length = 0;
        std::uint32_t timestamp = 0;
        std::uint8_t payload_type = 0;
        std::uint8_t first_byte = 0;
        bool marker = false;
        unsigned count = 0;

        void add(std::span<const std::byte> d) noexcept
        {
            const auto region = d.subspan(rtp::fixed_header_size);
            if (count == 0) sn_base = detail::load_be16(d.data() + 2);
            const auto b0 = std::to_integer<unsigned>(d[0]);
            const auto b1 = std::to_integer<unsigned>(d[1]);
            first_byte ^= static_cast<std::uint8_t>(b0 & 0x3Fu);
            marker ^= (b1 & 0x80u) != 0;
            payload_type ^= static_cast<std::uint8_t>(b1 & 0x7Fu);
            timestamp ^= detail::load_be32(d.data() + 4);
            length ^= static_cast<std::uint16_t>(region.size());
            for (std::size_t i = 0; i < region.size(); ++i)
                bytes[i] ^= region[i];
            longest = std::max(longest, region.size());
            ++count;
        }

        void clear() noexcept
        {
            std::fill_n(bytes.begin(), longest, std::byte{0});
            longest = 0;
            length = 0;
            timestamp = 0;
            payload_type = 0;
            first_byte = 0;
            marker = false;
            count = 0;
        }
    };

    static const parity_fec_config& checked(const parity_fec_config& c)
    {
        validate(c);
        return c;
    }

    [[nodiscard]] std::size_t region_capacity() const noexcept
    {
        return config_.max_datagram - rtp::fixed_header_size;
    }
    [[nodiscard]] std::size_t matrix_size() const noexcept
    {
        return std::size_t{config_.columns} * config_.rows;
    }

    std::size_t build(const group& g, bool row, std::uint8_t offset, std::byte* out) noexcept
    {
        parity_fec::repair_header h;
        h.payload_type = config_.payload_type;
        h.sequence = row ? row_sequence_++ : column_sequence_++;
        h.timestamp = last_timestamp_;
        h.ssrc = ssrc_;
        h.first_byte_recovery = g.first_byte;
        h.marker_recovery = g.marker;
        h.sn_base = g.sn_base;
        h.length_recovery = g.length;
        h.payload_type_recovery = g.payload_type;
        h.timestamp_recovery = g.timestamp;
        h.row = row;
        h.offset = offset;
        h.count = static_cast<std::uint8_t>(g.count);
        std::error_code ec;
        const std::size_t head =
            parity_fec::write_headers(h, std::span<std::byte>{out, max_repair_bytes()}, ec);
        std::copy_n(g.bytes.begin(), g.longest, out + head);
        return head + g.longest;
    }

    template <class Emit>
    void queue_columns(Emit& emit) noexcept
    {
        flush_queued(emit); // all have left by now: the last one D packets ago
        for (std::size_t c = 0; c < config_.columns; ++c) {
            group& g = columns_[c];
            queued_sizes_[c] =
                g.count == 0 ? 0 : build(g, false, config_.columns, queued_[c].data());
            g.clear();
        }
        queued_count_ = config_.columns;
        queued_next_ = 0;
    }

    template <class Emit>
    void flush_queued(Emit& emit) noexcept
    {
        while (queued_next_ < queued_count_) {
            const std::size_t q = queued_next_++;
            if (queued_sizes_[q] == 0) continue;
            ++stats_.column_repairs;
            emit(false, std::span<const std::byte>{queued_[q].data(), queued_sizes_[q]});
        }
        queued_count_ = queued_next_ = 0;
    }

    template <class Emit>
    void start_over(Emit& emit) noexcept
    {
        // The finished matrix's column repairs still protect what was sent.
        flush_queued(emit);
        row_.clear();
        for (auto& g : columns_)
            g.clear();
        index_ = 0;
    }

    parity_fec_config config_;
    group row_;
    std::vector<group> columns_;
    std::vector<std::vector<std::byte>> queued_;
    std::vector<std::size_t> queued_sizes_;
    std::vector<std::byte> row_buffer_ = std::vector<std::byte>(max_repair_bytes());
    std::size_t queued_count_ = 0;
    std::size_t queued_next_ = 0;
    std::size_t index_ = 0; // position in the matrix, row by row
    bool started_ = false;
    std::uint16_t last_sequence_ = 0;
    std::uint32_t last_timestamp_ = 0;
    std::uint32_t ssrc_ = 0;
    std::uint16_t row_sequence_ = 0;
    std::uint16_t column_sequence_ = 0;
    parity_fec_encoder_stats stats_;
};

} // namespace audiocast
