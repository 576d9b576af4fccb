// audiocast — the settings of SMPTE 2022-1 row/column parity FEC.
//
// Media packets are laid out row by row in a matrix `columns` (L) wide and
// `rows` (D) deep. Each row of L consecutive packets gets a row repair packet
// and each column of D packets L apart a column repair packet, so the
// overhead is 1/D (columns) + 1/L (rows) of the media packets: 10 x 10 with
// both is 20 %. One lost packet in a row or a column is rebuilt; with both,
// rebuilding in one direction frees the other, so most patterns of a few
// losses in a matrix are repaired, and a burst of up to L packets is
// repaired by the columns alone. The price is latency: a column's repair
// packet leaves after the matrix's last row, spread over the next matrix (so
// that a burst at the end of one matrix does not also take its repairs), and
// a receiver rebuilds a packet of the first row up to 2 x L x D packets after
// it was sent. See docs/architecture.md, Packet protection.
#pragma once

#include <audiocast/error.hpp>
#include <audiocast/limits.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>

namespace audiocast {

struct parity_fec_config {
    std::uint8_t columns = 10;      ///< L: packets in a row, 1-255
    std::uint8_t rows = 10;         ///< D: rows in a matrix, 1-255
    bool row_repair = true;         ///< send a repair packet for each row
    bool column_repair = true;      ///< send a repair packet for each column
    std::uint8_t payload_type = 96; ///< of the repair packets (96-127, as GStreamer allows)
    /// The largest media datagram protected, in bytes; a longer one is sent
    /// unprotected and counted. Repair packets are up to 16 bytes longer.
    std::size_t max_datagram = 1500;
};

inline constexpr setting_limit parity_fec_columns_limit{"FEC columns (L)", 1, 255, "",
                                                        errc::invalid_fec_setting};
inline constexpr setting_limit parity_fec_rows_limit{"FEC rows (D)", 1, 255, "",
                                                     errc::invalid_fec_setting};
/// A receiver's reorder window (receiver_config::max_misorder) holds at most
/// 1023 packets, so a matrix may delay a repair no more.
inline constexpr setting_limit parity_fec_delay_limit{
    "FEC repair delay (2 x L x D + L)",
    1,
    1023,
    "packets",
    errc::invalid_fec_setting,
    "a receiver's reorder window holds at most 1023 packets"};
inline constexpr setting_limit parity_fec_payload_type_limit{"FEC payload type", 96, 127, "",
                                                             errc::invalid_fec_setting};
inline constexpr setting_limit parity_fec_datagram_limit{
    "FEC largest protected datagram", 13, 65'507, "bytes", errc::invalid_fec_setting};

/// The first setting of `c` that breaks its limit; none when all hold.
[[nodiscard]] constexpr setting_problem check(const parity_fec_config& c) noexcept
{
    if (auto p = parity_fec_columns_limit.check(c.columns)) return p;
    if (auto p = parity_fec_rows_limit.check(c.rows)) return p;
    if (auto p = parity_fec_delay_limit.check(2.0 * c.columns * c.rows + c.columns)) return p;
    if (auto p = parity_fec_payload_type_limit.check(c.payload_type)) return p;
    if (auto p = parity_fec_datagram_limit.check(static_cast<double>(c.max_datagram))) return p;
    return {};
}

inline void validate(const parity_fec_config& c, std::error_code& ec) noexcept
{
    detail::assign(ec, check(c));
}

inline void validate(const parity_fec_config& c)
{
    detail::throw_if(check(c));
}

/// How many packets after a packet the last repair that can rebuild it may
/// come (a column's, spread over the next matrix), and so how far behind the
/// newest a rebuilt packet may arrive: a receiver's
/// receiver_config::max_misorder must be at least this, and its playout
/// latency at least this many packet times.
[[nodiscard]] constexpr std::uint32_t parity_fec_repair_delay(const parity_fec_config& c) noexcept
{
    return 2u * c.columns * c.rows + c.columns;
}

/// The fraction of the media packets' count that repair packets add.
[[nodiscard]] constexpr double overhead(const parity_fec_config& c) noexcept
{
    return (c.row_repair ? 1.0 / c.columns : 0.0) + (c.column_repair ? 1.0 / c.rows : 0.0);
}

} // namespace audiocast
