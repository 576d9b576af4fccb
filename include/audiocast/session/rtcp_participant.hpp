// audiocast — one RTCP participant: who we are, whom we hear, when we report.
//
// Both sessions take part in RTCP the same way (RFC 3550 §6): an SSRC and a
// CNAME of their own, a table of the other members, a report schedule that
// grows with the group, and compounds that start with a report, carry SDES
// with the CNAME and may end with BYE. This class is that common part; the
// sessions add what differs: a sender writes SRs and reads listeners' report
// blocks about itself, a receiver writes RRs about its source and reads the
// source's SRs and BYE (docs/architecture.md, RTCP).
//
//   rtcp_participant me{rtcp_participant::role::sender, timing, 1024, ssrc, cname};
//   me.on_compound(datagram, arrival, [&](const rtcp::packet_view& p, participant* from) {...});
//   me.write_report(now, out, ec, [&](rtcp::compound_writer& w) { w.sender_report(...); });
//
// Sans-I/O and allocation-free after construction: a receiver's part runs on
// the audio thread.
#pragma once

#include <audiocast/detail/cname.hpp>
#include <audiocast/error.hpp>
#include <audiocast/session/participant_table.hpp>
#include <audiocast/session/rtcp_schedule.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/rtcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace audiocast {

class rtcp_participant {
public:
    /// A sender's reports share a quarter of the RTCP bandwidth with the
    /// other senders; a receiver's share the rest (RFC 3550 §6.2).
    enum class role { sender, receiver };

    /// Packets of one compound looked at, at most: a real compound holds a
    /// handful, and one stuffed with hundreds must not buy that many lookups.
    static constexpr std::size_t max_packets_per_compound = 16;

    /// `ssrc` and `cname` are drawn at random when unset or empty (RFC 3550
    /// §8, RFC 7022). Settings are the sessions' to check (they say which
    /// setting was wrong): `max_members` >= 1, `cname` at most 255 bytes.
    rtcp_participant(role r, const rtcp_timing& timing, std::size_t max_members,
                     std::optional<std::uint32_t> ssrc, std::string_view cname)
        : role_{r}, schedule_{timing, timing.seed ? *timing.seed : std::random_device{}()},
          members_{max_members}
    {
        std::random_device rd;
        ssrc_ = ssrc.value_or(static_cast<std::uint32_t>(rd()));
        cname_ = cname.empty() ? detail::random_cname(rd) : std::string{cname};
    }

    [[nodiscard]] std::uint32_t ssrc() const noexcept { return ssrc_; }
    [[nodiscard]] std::string_view cname() const noexcept { return cname_; }
    [[nodiscard]] const participant_table& members() const noexcept { return members_; }
    [[nodiscard]] participant_table& members() noexcept { return members_; }

    /// Joins the group's RTCP at `now` (a sender at its first packet, a
    /// receiver at its first datagram); later calls do nothing.
    void join(time_point now) noexcept
    {
        if (!schedule_.started()) schedule_.start(now, members_.size() + 1, 1, we_send());
    }
    [[nodiscard]] bool joined() const noexcept { return schedule_.started(); }

    /// When the next report is due; nullopt before join().
    [[nodiscard]] std::optional<time_point> next_report_due() const noexcept
    {
        if (!schedule_.started()) return std::nullopt;
        return schedule_.next();
    }

    /// Parses one compound and hands each packet from another member to
    /// `visit(packet, member)`: `member` is its entry in the table for an SR
    /// or RR (nullptr when the table is full), nullptr for the rest. Members
    /// that say BYE leave the table before `visit` sees the BYE. Returns false
    /// when the compound is malformed (what came before the fault was still
    /// visited).
    template <class Visit>
    bool on_compound(std::span<const std::byte> datagram, time_point arrival,
                     Visit&& visit) noexcept
    {
        std::error_code ec;
        std::size_t packets = 0;
        rtcp::parse_compound(datagram, ec, [&](const rtcp::packet_view& p) {
            if (++packets > max_packets_per_compound) return;
            const auto from = p.ssrc();
            if (!from || *from == ssrc_) return; // our own, heard back
            participant* member = nullptr;
            if (p.type() == rtcp::type_sr || p.type() == rtcp::type_rr) {
                member = members_.heard(*from, arrival);
            } else if (p.type() == rtcp::type_bye) {
                for (std::size_t i = 0; i < p.bye_count(); ++i)
                    members_.remove(p.bye_source(i));
            }
            visit(p, member);
        });
        return !ec;
    }

    /// The member `ssrc`, now heard at `now` (an SDES, say); nullptr when the
    /// table is full.
    participant* heard(std::uint32_t ssrc, time_point now) noexcept
    {
        return members_.heard(ssrc, now);
    }

    /// If a report is due at `now`: forgets members silent for five report
    /// intervals (§6.3.5), lets `report(writer)` write the SR or RR, adds
    /// SDES with the CNAME, and returns the compound's size; 0 otherwise, or
    /// with errc::buffer_too_small in `ec` when `out` is too small.
    template <class WriteReport>
    std::size_t write_report(time_point now, std::span<std::byte> out, std::error_code& ec,
                             WriteReport&& report) noexcept
    {
        return write_report(now, out, ec, report, [](rtcp::compound_writer&) {});
    }

    /// write_report() with `extra(writer)` writing more packets after the SDES
    /// (RTCP XR, say).
    template <class WriteReport, class WriteExtra>
    std::size_t write_report(time_point now, std::span<std::byte> out, std::error_code& ec,
                             WriteReport&& report, WriteExtra&& extra) noexcept
    {
        ec.clear();
        if (!schedule_.due(now)) return 0;
        expire(now);
        const std::size_t size = write_unscheduled(out, ec, report, extra);
        if (size != 0) schedule_.sent(now, size, members_.size() + 1, 1, we_send());
        return size;
    }

    /// A compound outside the report schedule, which it leaves as it was:
    /// `report(writer)`, SDES with the CNAME, `extra(writer)`. For clock
    /// exchanges (RFC 3611 RRTR and DLRR), which are small and bounded by
    /// their own interval. Returns its size, 0 with `ec` set when `out` is
    /// too small.
    template <class WriteReport, class WriteExtra>
    std::size_t write_unscheduled(std::span<std::byte> out, std::error_code& ec,
                                  WriteReport&& report, WriteExtra&& extra) const noexcept
    {
        ec.clear();
        rtcp::compound_writer w{out};
        report(w);
        w.cname(ssrc_, cname_);
        extra(w);
        ec = w.error();
        return ec ? 0 : w.size();
    }

    /// The compound that leaves the group (§6.6): `report(writer)` writes the
    /// SR or RR, then SDES with the CNAME, then BYE with `reason` (at most 255
    /// bytes). Returns its size, 0 with `ec` set when `out` is too small.
    template <class WriteReport>
    std::size_t write_bye(std::span<std::byte> out, std::error_code& ec, WriteReport&& report,
                          std::string_view reason = {}) const noexcept
    {
        return bye_for(ssrc_, cname_, out, ec, report, reason);
    }

    /// write_bye() for a caller on another thread than the participant's,
    /// which knows the (fixed) SSRC and CNAME.
    template <class WriteReport>
    static std::size_t bye_for(std::uint32_t ssrc, std::string_view cname, std::span<std::byte> out,
                               std::error_code& ec, WriteReport&& report,
                               std::string_view reason = {}) noexcept
    {
        ec.clear();
        rtcp::compound_writer w{out};
        report(w);
        w.cname(ssrc, cname);
        w.bye(std::span<const std::uint32_t>{&ssrc, 1}, reason);
        ec = w.error();
        return ec ? 0 : w.size();
    }

    /// Forgets members silent for five report intervals (§6.3.5).
    void expire(time_point now) noexcept
    {
        members_.expire(now, 5 * schedule_.deterministic(members_.size() + 1, 1, false));
    }

private:
    [[nodiscard]] bool we_send() const noexcept { return role_ == role::sender; }

    role role_;
    rtcp_schedule schedule_;
    participant_table members_;
    std::uint32_t ssrc_ = 0;
    std::string cname_;
};

} // namespace audiocast
