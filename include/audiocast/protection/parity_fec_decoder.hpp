// audiocast — rebuilds lost media packets from SMPTE 2022-1 repair packets.
//
// Sans-I/O: the caller hands over every media datagram it receives
// (on_media) and every repair datagram (on_repair), and takes the packets
// rebuilt (take_recovered) to pass on as if they had arrived. A repair packet
// that finds exactly one of its packets missing rebuilds it as soon as a later
// packet has come (one merely behind its repair is not rebuilt too); one that
// finds more waits, and each packet that arrives or is rebuilt tries the
// waiting repairs that protect it again, so that rows and columns free each
// other. Packets are kept for a window of sequence numbers (about two
// matrices: a column's repair leaves up to a matrix after its packets), and
// repairs as long as what they protect is in it. Allocates only when made;
// nothing here blocks or calls the system.
//
// A repair rebuilds a packet only from packets of its own SSRC that came from
// its own host, and never a longer one than it carries, so packets of another
// sender on the group can cost repairs but never make one rebuild wrong bytes,
// and repairs forged by another host (with the sender's SSRC and sequence
// numbers: any listener learns both) rebuild nothing. Once told which source
// the receiver plays (follow(): basic_multicast_receiver tells its transport),
// it keeps that source's packets alone, so nobody else's can move its window,
// and drops every repair that is not from that source's host on arrival, so a
// flood of them cannot push out the real ones waiting. Two packets with one
// sequence number and different bytes (a forger on the sender's own address
// and port) are neither used for repairs until a repair that misses only that
// one tells which the sender sent. But a packet forged from the sender's own
// address where the sender's was lost (or has yet to come) is taken for the
// sender's, and a repair may rebuild another from it: a host that can forge
// the sender's address can forge packets and repairs alike, and only
// authentication (SRTP) stops it (docs/robustness.md).
#pragma once

#include <audiocast/detail/endian.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/protection/parity_fec_config.hpp>
#include <audiocast/wire/parity_fec.hpp>
#include <audiocast/wire/rtp.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace audiocast {

/// What a parity_fec_decoder has seen and done, cumulative.
struct parity_fec_decoder_stats {
    std::uint64_t repairs_received = 0;
    std::uint64_t repairs_malformed = 0; ///< failed parity_fec::parse, or inconsistent
    /// Protecting a span longer than the window, or packets the window has
    /// passed, or (once following a source) packets sent before the first of
    /// the source's it saw: of no use here.
    std::uint64_t repairs_out_of_window = 0;
    /// Not of the matrix this decoder was made for: a row not L long, a
    /// column not D deep or not L apart (the sender's --fec differs), or a
    /// kind it was told not to expect.
    std::uint64_t repairs_mismatched = 0;
    /// Not the followed source's (follow()): from another host, or for
    /// another SSRC; dropped on arrival, or when follow() changes source.
    std::uint64_t repairs_foreign = 0;
    /// Rebuilt a packet, or settled which of two packets of one number was sent.
    std::uint64_t repairs_used = 0;
    std::uint64_t repairs_expired = 0; ///< dropped, still missing two or more packets
    std::uint64_t packets_recovered = 0;
    /// Rebuilt packets dropped because more were waiting to be taken than
    /// the window holds; not expected unless take_recovered() is not called.
    std::uint64_t recovered_dropped = 0;
    /// Media datagrams not of the source followed: neither kept nor allowed
    /// to move the window.
    std::uint64_t media_ignored = 0;
    /// Times a media datagram came with the sequence number of one kept but
    /// other bytes: neither is used for repairs until a repair tells which is
    /// the sender's (a third copy of a number already in doubt is not counted).
    std::uint64_t media_conflicting = 0;
};

class parity_fec_decoder {
public:
    /// Keeps packets for the matrix `expected` describes: at least
    /// 2 x L x D + L sequence numbers. Throws std::system_error (errc::invalid_fec_setting)
    /// naming a setting out of range.
    explicit parity_fec_decoder(const parity_fec_config& expected)
        : config_{checked(expected)}, window_{window_for(config_)}, slots_(window_),
          bytes_(window_ * config_.max_datagram),
          pending_(2 * (std::size_t{config_.columns} + config_.rows) + 16), recovered_(window_),
          work_(window_)
    {
        for (auto& p : pending_)
            p.bytes.resize(parity_fec::repair_payload_offset + config_.max_datagram -
                           rtp::fixed_header_size);
    }

    [[nodiscard]] const parity_fec_decoder_stats& stats() const noexcept { return stats_; }
    /// Sequence numbers a packet is kept for.
    [[nodiscard]] std::size_t window_packets() const noexcept { return window_; }

    /// From now on, keeps only the packets of `ssrc` from `from` (the source
    /// the receiver plays, its address and port) and takes repairs only from
    /// that host: what it kept of others, and the repairs waiting that are
    /// not from there, are dropped. Until called, it keeps every sender's.
    /// It rebuilds only packets sent after the first of the source's that
    /// comes from now on: before, others' packets could have moved its window
    /// past some of the source's, which it would then take for lost though
    /// the receiver had them.
    void follow(std::uint32_t ssrc, const endpoint& from) noexcept
    {
        if (following_ && ssrc == followed_ssrc_ && from == followed_from_) return;
        following_ = true;
        awaiting_first_ = true;
        rebuild_from_.reset();
        // What waits to be handed on was another source's, or is the new
        // one's packet it may receive itself.
        recovered_count_ = 0;
        followed_ssrc_ = ssrc;
        followed_from_ = from;
        // The newest packet kept becomes the window's front.
        const slot* newest = nullptr;
        for (slot& x : slots_) {
            if (!x.present) continue;
            if (!is_followed(x.ssrc, x.origin.from) || find(x.sequence) != &x) {
                x.present = false;
                continue;
            }
            if (newest == nullptr || age(x.sequence) < age(newest->sequence)) newest = &x;
        }
        have_newest_ = newest != nullptr;
        if (newest != nullptr) newest_ = newest->sequence;
        for (auto& p : pending_)
            if (p.used && (p.header.ssrc != ssrc || !p.from.same_host(from))) {
                p.used = false;
                ++stats_.repairs_foreign;
            }
    }

    /// A media datagram that arrived; the caller passes it on as well.
    void on_media(std::span<const std::byte> datagram, const datagram_origin& origin) noexcept
    {
        if (datagram.size() < rtp::fixed_header_size || datagram.size() > config_.max_datagram ||
            (std::to_integer<unsigned>(datagram[0]) >> 6) != 2)
            return;
        if (following_ && !is_followed(detail::load_be32(datagram.data() + 8), origin.from)) {
            ++stats_.media_ignored;
            return;
        }
        const std::uint16_t sequence = detail::load_be16(datagram.data() + 2);
        const std::uint16_t newest_before = newest_;
        if (!store(sequence, datagram, origin)) return;
        if (awaiting_first_) {
            awaiting_first_ = false;
            rebuild_from_ = sequence;
        }
        // Once the window has passed it, every packet in it came after; and
        // it must go before the 16-bit distance to it wraps.
        if (rebuild_from_ && static_cast<std::uint16_t>(newest_ - *rebuild_from_) >= window_)
            rebuild_from_.reset();
        settle(sequence);
        if (newest_ != newest_before) {
            // Packets before this one that are still missing are lost (or
            // reordered): the repairs that waited for that may rebuild them.
            for (auto& p : pending_)
                if (p.used && p.deferred) try_repair(p);
            drain_work();
        }
    }

    /// A repair datagram that arrived from `from` (unknown: from anywhere).
    void on_repair(std::span<const std::byte> datagram, const endpoint& from = {}) noexcept
    {
        ++stats_.repairs_received;
        std::error_code ec;
        const parity_fec::repair_header h = parity_fec::parse(datagram, ec);
        if (ec) {
            ++stats_.repairs_malformed;
            return;
        }
        // Only the matrix expected: so a repair costs at most max(L, D)
        // lookups, whatever a forger puts in its header.
        const bool row_shape = h.row && h.count == config_.columns;
        const bool column_shape = !h.row && h.offset == config_.columns && h.count == config_.rows;
        if (!row_shape && !column_shape) {
            ++stats_.repairs_mismatched;
            return;
        }
        if (following_ && (h.ssrc != followed_ssrc_ || !from.same_host(followed_from_))) {
            ++stats_.repairs_foreign;
            return;
        }
        const std::uint16_t first = h.protected_sequence(0);
        const std::uint16_t last = h.protected_sequence(h.count - 1u);
        const int w = static_cast<int>(window_);
        if (have_newest_ && (age(last) >= w || age(first) <= -w)) {
            ++stats_.repairs_out_of_window;
            return;
        }
        if (datagram.size() - parity_fec::repair_payload_offset >
            config_.max_datagram - rtp::fixed_header_size) {
            ++stats_.repairs_malformed;
            return;
        }
        pending_repair* p = free_pending();
        p->deferred = false;
        p->from = from;
        std::copy(datagram.begin(), datagram.end(), p->bytes.begin());
        p->size = datagram.size();
        p->header = h;
        p->header.payload = std::span<const std::byte>{p->bytes}.subspan(
            parity_fec::repair_payload_offset, h.payload.size());
        p->used = true;
        try_repair(*p);
        drain_work();
    }

    /// Whether a rebuilt packet waits to be taken.
    [[nodiscard]] bool has_recovered() const noexcept { return recovered_count_ > 0; }

    /// Copies the oldest rebuilt packet into `out` and returns its size (0
    /// when none waits, or when `out` is shorter; it is then dropped), with
    /// where its packets came from in `origin`.
    std::size_t take_recovered(std::span<std::byte> out, datagram_origin& origin) noexcept
    {
        while (recovered_count_ > 0) {
            const std::uint16_t sequence = recovered_[recovered_head_];
            recovered_head_ = (recovered_head_ + 1) % recovered_.size();
            --recovered_count_;
            const slot* s = find(sequence);
            if (s == nullptr) continue; // the window passed it meanwhile
            if (out.size() < s->size) return 0;
            std::copy_n(slot_bytes(*s), s->size, out.data());
            origin = s->origin;
            origin.waited = {};
            origin.dropped_before.reset();
            origin.rebuilt = true;
            return s->size;
        }
        return 0;
    }

private:
    struct slot {
        bool present = false;
        bool conflicted = false; // two packets of this number came: neither is trusted
        std::uint16_t sequence = 0;
        std::uint32_t ssrc = 0;
        std::size_t size = 0;
        datagram_origin origin{};
    };

    struct pending_repair {
        bool used = false;
        bool deferred = false; // misses one packet, not yet overtaken by a later one
        std::vector<std::byte> bytes;
        std::size_t size = 0;
        parity_fec::repair_header header{};
        endpoint from{}; // the host it came from
    };

    // The source followed; an unknown address (a transport that cannot tell)
    // matches any, as endpoint::same_host does.
    [[nodiscard]] bool is_followed(std::uint32_t ssrc, const endpoint& from) const noexcept
    {
        return ssrc == followed_ssrc_ &&
               (from == followed_from_ || !from.known() || !followed_from_.known());
    }

    static const parity_fec_config& checked(const parity_fec_config& c)
    {
        validate(c);
        return c;
    }

    // 2 x L x D + L and some, rounded up to a power of two: it divides 2^16,
    // so a sequence number's slot stays its own when the numbers wrap.
    static std::size_t window_for(const parity_fec_config& c) noexcept
    {
        const std::size_t needed = parity_fec_repair_delay(c) + 16;
        std::size_t w = 64;
        while (w < needed)
            w *= 2;
        return w;
    }

    // How many sequence numbers `s` is behind the newest packet (negative:
    // ahead of it).
    [[nodiscard]] int age(std::uint16_t s) const noexcept
    {
        return static_cast<std::int16_t>(static_cast<std::uint16_t>(newest_ - s));
    }

    [[nodiscard]] std::size_t index_of(std::uint16_t s) const noexcept { return s % window_; }

    std::byte* slot_bytes(const slot& s) noexcept
    {
        return bytes_.data() + static_cast<std::size_t>(&s - slots_.data()) * config_.max_datagram;
    }

    [[nodiscard]] const slot* find(std::uint16_t s) const noexcept
    {
        if (!have_newest_) return nullptr;
        const int a = age(s);
        if (a < 0 || a >= static_cast<int>(window_)) return nullptr;
        const slot& x = slots_[index_of(s)];
        return x.present && x.sequence == s ? &x : nullptr;
    }

    bool store(std::uint16_t s, std::span<const std::byte> datagram,
               const datagram_origin& origin) noexcept
    {
        if (!have_newest_ || age(s) < 0) {
            have_newest_ = true;
            newest_ = s;
        }
        if (age(s) >= static_cast<int>(window_)) return false; // the window passed it
        slot& x = slots_[index_of(s)];
        if (x.present && x.sequence == s) {
            if (x.size == datagram.size() &&
                std::equal(datagram.begin(), datagram.end(), slot_bytes(x)))
                return false; // the network's duplicate: nothing new
            if (!x.conflicted) ++stats_.media_conflicting;
            x.conflicted = true;
            return true;
        }
        x.present = true;
        x.conflicted = false;
        x.sequence = s;
        x.ssrc = detail::load_be32(datagram.data() + 8);
        x.size = datagram.size();
        x.origin = origin;
        std::copy(datagram.begin(), datagram.end(), slot_bytes(x));
        return true;
    }

    pending_repair* free_pending() noexcept
    {
        pending_repair* oldest = &pending_.front();
        for (auto& p : pending_) {
            if (!p.used) return &p;
            if (have_newest_ && age(last_of(p)) >= static_cast<int>(window_)) {
                ++stats_.repairs_expired;
                p.used = false;
                return &p;
            }
            if (age(last_of(p)) > age(last_of(*oldest))) oldest = &p;
        }
        ++stats_.repairs_expired;
        oldest->used = false;
        return oldest;
    }

    [[nodiscard]] static std::uint16_t last_of(const pending_repair& p) noexcept
    {
        return p.header.protected_sequence(p.header.count - 1u);
    }

    [[nodiscard]] static bool protects(const parity_fec::repair_header& h, std::uint16_t s) noexcept
    {
        const auto distance = static_cast<std::uint16_t>(s - h.sn_base);
        return distance % h.offset == 0 && distance / h.offset < h.count;
    }

    // A packet is here: try the waiting repairs that protect it, and those
    // that what they rebuild frees in turn.
    void settle(std::uint16_t s) noexcept
    {
        push_work(s);
        drain_work();
    }

    void push_work(std::uint16_t s) noexcept
    {
        if (work_count_ < work_.size()) work_[work_count_++] = s;
    }

    void drain_work() noexcept
    {
        while (work_count_ > 0) {
            const std::uint16_t s = work_[--work_count_];
            for (auto& p : pending_)
                if (p.used && protects(p.header, s)) try_repair(p);
        }
    }

    // Rebuilds the one packet `p` misses, if it misses one; drops `p` once
    // it has nothing left to do.
    void try_repair(pending_repair& p) noexcept
    {
        const parity_fec::repair_header& h = p.header;
        p.deferred = false;
        unsigned missing = 0;
        std::uint16_t lost = 0;
        for (unsigned i = 0; i < h.count; ++i) {
            const std::uint16_t s = h.protected_sequence(i);
            const slot* x = find(s);
            if (x == nullptr || x->ssrc != h.ssrc || !x->origin.from.same_host(p.from) ||
                x->conflicted) {
                lost = s;
                if (++missing > 1) return; // wait for more
            }
        }
        if (missing == 1 && (!have_newest_ || age(lost) <= 0)) {
            // Nothing sent after it has come yet: it may be on its way (a
            // sender may send a row's repair before the row's last packet,
            // as GStreamer's does, and repairs come on other sockets).
            p.deferred = true;
            return;
        }
        p.used = false;
        if (missing == 0) return;
        if ((have_newest_ && age(lost) >= static_cast<int>(window_)) || awaiting_first_ ||
            (rebuild_from_ && static_cast<std::int16_t>(lost - *rebuild_from_) < 0)) {
            ++stats_.repairs_out_of_window;
            return;
        }
        if (rebuild(h, lost)) {
            ++stats_.repairs_used;
            push_work(lost);
        }
    }

    bool rebuild(const parity_fec::repair_header& h, std::uint16_t lost) noexcept
    {
        // The lost packet's length after its fixed header, then its bytes.
        std::uint16_t length = h.length_recovery;
        unsigned first_byte = h.first_byte_recovery;
        bool marker = h.marker_recovery;
        unsigned payload_type = h.payload_type_recovery;
        std::uint32_t timestamp = h.timestamp_recovery;
        const slot* origin_of = nullptr;
        for (unsigned i = 0; i < h.count; ++i) {
            const std::uint16_t s = h.protected_sequence(i);
            if (s == lost) continue;
            const slot* x = find(s);
            const std::byte* d = slot_bytes(*x);
            length ^= static_cast<std::uint16_t>(x->size - rtp::fixed_header_size);
            first_byte ^= std::to_integer<unsigned>(d[0]) & 0x3Fu;
            marker ^= (std::to_integer<unsigned>(d[1]) & 0x80u) != 0;
            payload_type ^= std::to_integer<unsigned>(d[1]) & 0x7Fu;
            timestamp ^= detail::load_be32(d + 4);
            if (origin_of == nullptr) origin_of = x;
        }
        if (length > h.payload.size() ||
            std::size_t{length} > config_.max_datagram - rtp::fixed_header_size) {
            ++stats_.repairs_malformed;
            return false;
        }
        if (!have_newest_ || age(lost) < 0) {
            have_newest_ = true;
            newest_ = lost;
        }
        // Into the lost packet's own slot, which find() then reports.
        slot& y = slots_[index_of(lost)];
        // Two packets of this number came: this tells which was the sender's,
        // for later repairs. The receiver has had one already; none is handed on.
        const bool settles_conflict = y.present && y.sequence == lost && y.conflicted;
        y.present = false;
        std::byte* out = slot_bytes(y);
        out[0] = std::byte{static_cast<unsigned char>(0x80u | (first_byte & 0x3Fu))};
        out[1] =
            std::byte{static_cast<unsigned char>((marker ? 0x80u : 0u) | (payload_type & 0x7Fu))};
        detail::store_be16(out + 2, lost);
        detail::store_be32(out + 4, timestamp);
        detail::store_be32(out + 8, h.ssrc);
        std::byte* region = out + rtp::fixed_header_size;
        std::copy_n(h.payload.begin(), length, region);
        for (unsigned i = 0; i < h.count; ++i) {
            const std::uint16_t s = h.protected_sequence(i);
            if (s == lost) continue;
            const slot* x = find(s);
            const std::byte* d = slot_bytes(*x) + rtp::fixed_header_size;
            const std::size_t n = std::min<std::size_t>(x->size - rtp::fixed_header_size, length);
            for (std::size_t k = 0; k < n; ++k)
                region[k] ^= d[k];
        }
        y.present = true;
        y.conflicted = false;
        y.sequence = lost;
        y.ssrc = h.ssrc;
        y.size = rtp::fixed_header_size + length;
        y.origin = origin_of != nullptr ? origin_of->origin : datagram_origin{};
        if (settles_conflict) return true;
        ++stats_.packets_recovered;
        if (recovered_count_ == recovered_.size()) {
            ++stats_.recovered_dropped;
            recovered_head_ = (recovered_head_ + 1) % recovered_.size();
            --recovered_count_;
        }
        recovered_[(recovered_head_ + recovered_count_) % recovered_.size()] = lost;
        ++recovered_count_;
        return true;
    }

    parity_fec_config config_;
    std::size_t window_;
    std::vector<slot> slots_;
    std::vector<std::byte> bytes_;
    std::vector<pending_repair> pending_;
    std::vector<std::uint16_t> recovered_;
    std::size_t recovered_head_ = 0;
    std::size_t recovered_count_ = 0;
    std::vector<std::uint16_t> work_;
    std::size_t work_count_ = 0;
    bool have_newest_ = false;
    std::uint16_t newest_ = 0;
    bool following_ = false;
    bool awaiting_first_ = false; // following, and no packet of the source yet
    std::optional<std::uint16_t> rebuild_from_;
    std::uint32_t followed_ssrc_ = 0;
    endpoint followed_from_{};
    parity_fec_decoder_stats stats_;
};

} // namespace audiocast
