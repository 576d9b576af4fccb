// audiocast — what a receiver measures of the packets it plays
// (docs/architecture.md, Reception measurement).
//
// Per packet of the source: throughput, RFC 3550 interarrival jitter (A.8),
// one-way latency and IPDV. Latency comes from the send time the packet
// carries (audiocast's RFC 8285 extension) or, for senders that stamp none
// (ffmpeg, GStreamer), from the source's last RTCP sender report, which maps
// RTP time to the sender's wall clock (RFC 3550 §6.4.1). The sender report is
// also what a receiver report's LSR and DLSR refer to.
//
// Sans-I/O: it is handed arrival times. Fixed memory, noexcept.
#pragma once

#include <audiocast/format.hpp>
#include <audiocast/session/stats.hpp>
#include <audiocast/time.hpp>
#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>

#include <chrono>
#include <cstdint>

namespace audiocast {

class reception_meter {
public:
    explicit reception_meter(std::uint32_t sample_rate) noexcept : sample_rate_{sample_rate} {}

    /// A new source: its jitter and its sender reports start afresh. The
    /// throughput and the latency distributions go on across sources.
    void new_source() noexcept
    {
        have_transit_ = false;
        jitter_.reset();
        have_sr_ = false;
        last_sr_ = 0;
    }

    /// One packet of the source, as it arrived.
    /// One packet of the source; `timed`: its arrival is the network's (not
    /// a packet rebuilt by FEC), so it counts for jitter, latency and IPDV.
    void on_packet(const rtp::packet_view& packet, time_point arrival, wall_time arrival_wall,
                   bool timed = true) noexcept
    {
        throughput_.record(packet.payload.size(), arrival);
        if (!timed) return;
        // RFC 3550 A.8: arrival in timestamp units from any fixed origin.
        if (!have_transit_) {
            have_transit_ = true;
            jitter_origin_ = arrival;
        }
        const auto arrival_units =
            static_cast<std::uint32_t>(frames_in(arrival - jitter_origin_, sample_rate_));
        jitter_.update(arrival_units, packet.hdr.timestamp);
        if (packet.hdr.send_time) {
            record_latency(arrival_wall - ntp::to_wall(*packet.hdr.send_time));
        } else if (have_sr_) {
            // The packet's first frame was sampled at SR time + (its
            // timestamp - the SR's) / rate, on the sender's wall clock.
            const auto since_sr = static_cast<std::int32_t>(packet.hdr.timestamp - sr_timestamp_);
            const auto offset =
                since_sr >= 0 ? duration_of(static_cast<std::uint64_t>(since_sr), sample_rate_)
                              : -duration_of(static_cast<std::uint64_t>(-std::int64_t{since_sr}),
                                             sample_rate_);
            record_latency(arrival_wall - (sr_wall_ + offset));
            latency_from_reports_ = true;
        }
    }

    /// A sender report from the source.
    void on_sender_report(const rtcp::sender_info& info, time_point arrival) noexcept
    {
        ++sender_reports_;
        last_sr_ = ntp::short_form(info.ntp);
        last_sr_arrival_ = arrival;
        sr_wall_ = ntp::to_wall(info.ntp);
        sr_timestamp_ = info.rtp_timestamp;
        have_sr_ = true;
    }

    /// The jitter, LSR and DLSR fields of a reception report sent at `now`.
    void fill(rtcp::report_block& b, time_point now) const noexcept
    {
        b.jitter = jitter_.value();
        if (have_sr_) {
            b.last_sr = last_sr_;
            b.delay_since_last_sr = ntp::to_short_duration(now - last_sr_arrival_);
        }
    }

    /// The constant-time fields of `s`.
    void counters(receiver_stats& s) const noexcept
    {
        s.bytes_received = throughput_.bytes();
        s.throughput_bytes_per_s = throughput_.bytes_per_second();
        s.packets_per_s = throughput_.packets_per_second();
        s.jitter = jitter_.value_time(sample_rate_);
        s.latency_max = latency_.max();
        s.latency_samples = latency_.count();
        s.sender_reports = sender_reports_;
        s.latency_from_sender_reports = latency_from_reports_;
    }

    /// The percentiles of `s`: a walk over two histograms.
    void percentiles(receiver_stats& s) const noexcept
    {
        s.latency_p50 = latency_.percentile(50);
        s.latency_p99 = latency_.percentile(99);
        s.ipdv_p50 = ipdv_.histogram().percentile(50);
        s.ipdv_p99 = ipdv_.histogram().percentile(99);
    }

    [[nodiscard]] const duration_histogram& latency() const noexcept { return latency_; }

private:
    void record_latency(std::chrono::nanoseconds latency) noexcept
    {
        latency_.record(latency);
        ipdv_.update(latency);
    }

    std::uint32_t sample_rate_;
    bool have_transit_ = false;
    time_point jitter_origin_{};
    interarrival_jitter jitter_;
    duration_histogram latency_;
    ipdv_meter ipdv_;
    throughput_meter throughput_;

    bool have_sr_ = false;
    std::uint32_t last_sr_ = 0;
    time_point last_sr_arrival_{};
    wall_time sr_wall_{};
    std::uint32_t sr_timestamp_ = 0;
    bool latency_from_reports_ = false;
    std::uint64_t sender_reports_ = 0;
};

} // namespace audiocast
