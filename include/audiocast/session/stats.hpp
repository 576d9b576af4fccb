// audiocast — receiver measurements: RFC 3550 interarrival jitter, duration
// histograms for latency and RFC 3393 IPDV, throughput, and the snapshot a
// receiver reports.
//
// The meters run once per packet: fixed memory, no allocation, noexcept.
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

namespace audiocast {

/// RFC 3550 §6.4.1 interarrival jitter of one source, in RTP timestamp units,
/// kept in Appendix A.8's integer form (the estimate scaled by 16 to reduce
/// round-off). With D(i-1,i) = (R_i - S_i) - (R_{i-1} - S_{i-1}), the
/// difference of relative transit times of consecutive packets in arrival
/// order, each packet does J += (|D| - J) / 16.
class interarrival_jitter {
public:
    /// One arriving packet. `arrival_ts_units` is the arrival time already in
    /// timestamp units (the caller's `frames_in(arrival - epoch, rate)`,
    /// truncated to 32 bits); any fixed epoch works, because only differences of
    /// transit times matter. Both counters may wrap at 2^32. The first call
    /// only records the transit time.
    void update(std::uint32_t arrival_ts_units, std::uint32_t rtp_timestamp) noexcept
    {
        // A.8 computes `int transit = arrival - r->ts; int d = transit - s->transit;`.
        // Unsigned subtraction gives the same bits with no overflow, and the
        // difference read as signed is the short way round a 2^32 wrap.
        const std::uint32_t transit = arrival_ts_units - rtp_timestamp;
        if (!has_transit_) {
            transit_ = transit;
            has_transit_ = true;
            return;
        }
        const std::uint32_t diff = transit - transit_;
        transit_ = transit;
        // |d|, also for d == INT32_MIN, whose negation does not fit an int.
        const std::uint64_t d = (diff & 0x8000'0000u) != 0 ? std::uint64_t{0u - diff} : diff;
        // A.8 integer form: `s->jitter += d - ((s->jitter + 8) >> 4);`. 64 bits hold
        // the scaled value for any |d| < 2^32 (it stays below 16 * 2^32).
        scaled_ = scaled_ - ((scaled_ + 8) >> 4) + d;
    }

    /// J in timestamp units, as an RTCP reception report carries it
    /// (A.8: `rr->jitter = s->jitter >> 4`).
    [[nodiscard]] std::uint32_t value() const noexcept
    {
        return static_cast<std::uint32_t>(
            std::min<std::uint64_t>(scaled_ >> 4, std::numeric_limits<std::uint32_t>::max()));
    }

    /// J in timestamp units with the fraction the integer form keeps (scaled / 16).
    [[nodiscard]] double value_units() const noexcept
    {
        return static_cast<double>(scaled_) / 16.0;
    }

    /// J as a duration at `sample_rate` (timestamp units per second), truncated
    /// to the nanosecond; 0 for a zero rate.
    [[nodiscard]] std::chrono::nanoseconds value_time(std::uint32_t sample_rate) const noexcept
    {
        if (sample_rate == 0) return std::chrono::nanoseconds{0};
        // scaled * 10^9 would overflow 64 bits; split into whole and partial seconds.
        const std::uint64_t per_second = std::uint64_t{16} * sample_rate;
        const std::uint64_t whole = scaled_ / per_second;
        const std::uint64_t part = scaled_ % per_second;
        return std::chrono::nanoseconds{
            static_cast<std::int64_t>(whole * 1'000'000'000u + part * 1'000'000'000u / per_second)};
    }

    /// Forgets the source: the next update() is a first packet again.
    void reset() noexcept { *this = interarrival_jitter{}; }

private:
    std::uint64_t scaled_ = 0;  ///< A.8 s->jitter, J * 16
    std::uint32_t transit_ = 0; ///< A.8 s->transit, of the previous packet
    bool has_transit_ = false;
};

/// Log-linear histogram of non-negative durations in fixed memory (about
/// 17 KiB), for per-packet latency and IPDV. Durations below 128 ns are counted
/// exactly; above, each power-of-two range is split into 64 equal buckets, so a
/// bucket's lower bound is within 1/64 (1.6 %) below any value in it. Durations
/// of 2^39 ns (about 9.2 minutes) or more share the top bucket; min(), max()
/// and mean() stay exact for them.
class duration_histogram {
public:
    /// Durations below this are counted exactly (one bucket per nanosecond).
    static constexpr std::int64_t exact_below_ns = 128;
    /// Durations at or above this share the top bucket.
    static constexpr std::int64_t top_ns = std::int64_t{1} << 39;

    /// Counts `d`; a negative duration (a clock step between the hosts, say)
    /// is counted as 0 and also in negative_count().
    void record(std::chrono::nanoseconds d) noexcept
    {
        std::int64_t ns = d.count();
        if (ns < 0) {
            ++negatives_;
            ns = 0;
        }
        const auto v = static_cast<std::uint64_t>(ns);
        const std::size_t index = index_of(v);
        ++counts_[index];
        ++group_counts_[index / sub_buckets];
        if (count_ == 0 || v < min_) min_ = v;
        if (count_ == 0 || v > max_) max_ = v;
        ++count_;
        sum_ = v > std::numeric_limits<std::uint64_t>::max() - sum_
                   ? std::numeric_limits<std::uint64_t>::max()
                   : sum_ + v;
    }

    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

    /// The p-th percentile, p in [0, 100] (clamped), by nearest rank: the value
    /// of rank ceil(p / 100 * count()), at least 1. Reports the lower bound of
    /// the bucket that holds it, so at most 1.6 % low, except that the top rank
    /// (p = 100) reports max() exactly and no result exceeds max(). 0 when
    /// empty. Walks the buckets: call it for a report, not per packet.
    [[nodiscard]] std::chrono::nanoseconds percentile(double p) const noexcept
    {
        if (count_ == 0) return std::chrono::nanoseconds{0};
        if (!(p > 0.0)) p = 0.0; // also NaN
        if (p > 100.0) p = 100.0;
        // p * count is exact for whole p and any realistic count, so a rank that
        // is a whole number is not pushed up by a rounding error in p / 100.
        auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(count_) / 100.0));
        rank = std::clamp<std::uint64_t>(rank, 1, count_);
        if (rank == count_) return as_duration(max_);
        // Whole groups of 64 buckets first, then the buckets of the one that
        // holds the rank: a receiver refreshes its percentiles 50 times a
        // second, and a thread may serve a thousand receivers.
        std::uint64_t seen = 0;
        for (std::size_t g = 0; g < group_count; ++g) {
            if (seen + group_counts_[g] < rank) {
                seen += group_counts_[g];
                continue;
            }
            for (std::size_t i = g * sub_buckets; i < (g + 1) * sub_buckets; ++i) {
                seen += counts_[i];
                if (seen >= rank) return as_duration(std::min(lower_bound_of(i), max_));
            }
        }
        return as_duration(max_); // not reached: the counts sum to count_
    }

    /// Smallest duration recorded (negatives as 0); 0 when empty.
    [[nodiscard]] std::chrono::nanoseconds min() const noexcept
    {
        return as_duration(count_ == 0 ? 0 : min_);
    }
    /// Largest duration recorded; 0 when empty.
    [[nodiscard]] std::chrono::nanoseconds max() const noexcept
    {
        return as_duration(count_ == 0 ? 0 : max_);
    }
    /// Mean of the durations recorded (negatives as 0), truncated; 0 when empty.
    [[nodiscard]] std::chrono::nanoseconds mean() const noexcept
    {
        return as_duration(count_ == 0 ? 0 : sum_ / count_);
    }

    /// How many of the recorded durations were negative.
    [[nodiscard]] std::uint64_t negative_count() const noexcept { return negatives_; }

    void reset() noexcept { *this = duration_histogram{}; }

    /// Adds what `other` recorded, as if each had been recorded here: the
    /// figures of many streams together (a process that sends 64).
    duration_histogram& operator+=(const duration_histogram& other) noexcept
    {
        if (other.count_ == 0) return *this;
        for (std::size_t i = 0; i < bucket_count; ++i)
            counts_[i] += other.counts_[i];
        for (std::size_t g = 0; g < group_count; ++g)
            group_counts_[g] += other.group_counts_[g];
        min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
        max_ = count_ == 0 ? other.max_ : std::max(max_, other.max_);
        count_ += other.count_;
        sum_ = other.sum_ > std::numeric_limits<std::uint64_t>::max() - sum_
                   ? std::numeric_limits<std::uint64_t>::max()
                   : sum_ + other.sum_;
        negatives_ += other.negatives_;
        return *this;
    }

private:
    static constexpr int sub_bucket_bits = 6; ///< 64 buckets per power of two
    static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bucket_bits;
    static constexpr int top_exponent = 38; ///< the last power-of-two range is [2^38, 2^39)
    // Indices 0..127 are the exact values; range [2^k, 2^(k+1)), k >= 7, takes
    // indices (k - 5) * 64 up to (k - 4) * 64 - 1.
    static constexpr std::size_t bucket_count =
        static_cast<std::size_t>((top_exponent - 4) * sub_buckets);
    static constexpr std::size_t group_count = bucket_count / sub_buckets;

    static constexpr std::size_t index_of(std::uint64_t v) noexcept
    {
        if (v < static_cast<std::uint64_t>(exact_below_ns)) return static_cast<std::size_t>(v);
        if (v >= static_cast<std::uint64_t>(top_ns)) return bucket_count - 1;
        const int shift = static_cast<int>(std::bit_width(v)) - 1 - sub_bucket_bits; // >= 1
        // v >> shift is in [64, 128): the bucket within the range, offset by 64.
        return static_cast<std::size_t>(static_cast<std::uint64_t>(shift) * sub_buckets +
                                        (v >> shift));
    }

    static constexpr std::uint64_t lower_bound_of(std::size_t index) noexcept
    {
        if (index < static_cast<std::size_t>(exact_below_ns)) return index;
        const auto shift = index / sub_buckets - 1;
        return (index % sub_buckets + sub_buckets) << shift;
    }

    static constexpr std::chrono::nanoseconds as_duration(std::uint64_t ns) noexcept
    {
        return std::chrono::nanoseconds{static_cast<std::int64_t>(
            std::min<std::uint64_t>(ns, std::numeric_limits<std::int64_t>::max()))};
    }

    std::array<std::uint64_t, bucket_count> counts_{};
    std::array<std::uint64_t, group_count> group_counts_{}; ///< the sums of counts_ by 64
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0; ///< saturates rather than wraps
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t negatives_ = 0;
};

/// IP packet delay variation (RFC 3393) between consecutive packets of one
/// source, in arrival order: for packets i then j, |(R_j - R_i) - (S_j - S_i)|
/// = |latency_j - latency_i| in wall time. RFC 3393 §2.4 defines the signed
/// difference of one-way delays and §3.4 samples it with a selection function;
/// the selection here is "each packet and the one that arrived before it", and
/// the sign is dropped because early and late are equally bad for playout.
/// A constant clock offset between the hosts cancels, so the hosts need not
/// share a clock for IPDV, only for latency itself (RFC 3393 §5.1).
class ipdv_meter {
public:
    /// One packet's one-way latency (arrival wall time − send wall time).
    void update(std::chrono::nanoseconds one_way_latency) noexcept
    {
        if (has_previous_) {
            const auto delta = one_way_latency - previous_;
            histogram_.record(delta < delta.zero() ? -delta : delta);
        }
        previous_ = one_way_latency;
        has_previous_ = true;
    }

    [[nodiscard]] const duration_histogram& histogram() const noexcept { return histogram_; }

    /// Forgets the histogram and the previous packet.
    void reset() noexcept
    {
        histogram_.reset();
        previous_ = std::chrono::nanoseconds{0};
        has_previous_ = false;
    }

private:
    duration_histogram histogram_;
    std::chrono::nanoseconds previous_{0};
    bool has_previous_ = false;
};

/// Payload bytes and packets received, and their rates over the time between
/// the first and the last arrival. Every packet counts, the first one too, so
/// n packets evenly spaced by T give n / ((n - 1) T) packets per second; over
/// a long run the difference vanishes. Rates are 0 until two arrivals differ.
class throughput_meter {
public:
    void record(std::size_t payload_bytes, time_point arrival) noexcept
    {
        if (packets_ == 0) {
            first_ = last_ = arrival;
        } else {
            first_ = std::min(first_, arrival);
            last_ = std::max(last_, arrival);
        }
        bytes_ += payload_bytes;
        ++packets_;
    }

    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }
    [[nodiscard]] double bytes_per_second() const noexcept { return per_second(bytes_); }
    [[nodiscard]] double packets_per_second() const noexcept { return per_second(packets_); }

    void reset() noexcept { *this = throughput_meter{}; }

private:
    [[nodiscard]] double per_second(std::uint64_t amount) const noexcept
    {
        const auto span = (last_ - first_).count();
        if (span <= 0) return 0.0;
        return static_cast<double>(amount) * 1e9 / static_cast<double>(span);
    }

    std::uint64_t bytes_ = 0;
    std::uint64_t packets_ = 0;
    time_point first_{};
    time_point last_{};
};

/// What a receiver reports: plain data, every counter cumulative since the
/// stream began. The names are the ones the tools print (docs/architecture.md, Measurements).
struct receiver_stats {
    std::uint64_t packets_received = 0;
    std::uint64_t packets_lost = 0; ///< RFC 3550 A.3 expected − received, clamped at 0
    std::uint64_t packets_late = 0; ///< arrived after their playout time
    std::uint64_t packets_duplicate = 0;
    std::uint64_t packets_reordered = 0;
    std::uint64_t packets_malformed = 0; ///< failed validation, dropped
    /// Of the datagrams taken in, those a protection layer rebuilt (FEC)
    /// rather than received: counted in packets_received when played, never
    /// timed for jitter, latency or IPDV.
    std::uint64_t packets_rebuilt = 0;
    /// From a source other than the one played (another SSRC or address, or
    /// one still on probation), ignored.
    std::uint64_t packets_foreign = 0;
    /// Valid RTP from the source that could not be believed: a jump in
    /// sequence or timeline that no following packet confirmed (RFC 3550
    /// A.1's "two in a row"), or an older packet placed where none can be.
    /// Counted and dropped; the one still waiting for confirmation too.
    std::uint64_t packets_discarded = 0;
    std::uint64_t packets_expected = 0; ///< RFC 3550 A.3; received ÷ expected is the delivery ratio
    /// Dropped before the session saw them because the hand-off to the audio
    /// side was full: the audio side stopped pulling.
    std::uint64_t packets_overrun = 0;
    /// Datagrams the operating system dropped because the media socket's
    /// receive buffer was full: the network thread read too late, or a flood
    /// outran it. Any of them may have been the source's; each such loss is
    /// also in packets_lost. Known where the transport reports it (Linux,
    /// datagram_origin::dropped_before), learnt with the next datagram read.
    std::uint64_t socket_overflow = 0;
    std::uint64_t bytes_received = 0; ///< payload bytes
    double throughput_bytes_per_s = 0;
    double packets_per_s = 0;
    std::chrono::nanoseconds jitter{}; ///< RFC 3550 §6.4.1 interarrival jitter
    std::chrono::nanoseconds latency_p50{};
    std::chrono::nanoseconds latency_p99{};
    std::chrono::nanoseconds latency_max{};
    std::uint64_t latency_samples = 0; ///< packets that carried a send time
    std::chrono::nanoseconds ipdv_p50{};
    std::chrono::nanoseconds ipdv_p99{};
    std::uint64_t underruns = 0;
    /// Frames the playout filled for missing ones (a fade to silence and back).
    std::uint64_t concealed_frames = 0;
    /// Frames of lost packets a stateful codec rebuilt (Opus: in-band FEC, or
    /// the decoder's own concealment), played where the packets would have.
    std::uint64_t frames_repaired = 0;
    /// Frames stored and never played because playout started over: a new
    /// source took over, a confirmed jump, or playout fell a window behind.
    std::uint64_t frames_discarded = 0;
    /// Frames of the stream taken per frame pulled, less 1, now: how playout
    /// holds its target latency against clock drift. 0.0001 takes the stream
    /// 100 ppm faster than the device plays it (a slow device, or latency to
    /// shed); negative, slower.
    double playout_rate_adjustment = 0;
    /// Frames played that were interpolated to run at that rate.
    std::uint64_t resampled_frames = 0;
    std::uint64_t source_changes = 0;
    std::uint64_t resyncs =
        0; ///< playout restarted on a confirmed timeline jump or sequence restart
    std::size_t buffered_frames = 0;     ///< buffer level now, not cumulative
    std::uint64_t sender_reports = 0;    ///< RTCP SRs from the source
    std::uint64_t reports_sent = 0;      ///< RTCP RRs this receiver wrote
    std::uint64_t control_malformed = 0; ///< RTCP datagrams that failed validation
    /// RTCP datagrams dropped before the session saw them: the audio side
    /// takes a few a pull, so a flood of them waits and the rest are dropped.
    std::uint64_t control_overrun = 0;
    bool source_left = false;      ///< the source said BYE (RFC 3550 §6.6) and sent nothing since
    std::uint32_t source_ssrc = 0; ///< the SSRC played, once source_changes > 0
    endpoint source{};             ///< where its packets come from
    /// Latency was measured from sender reports (packets carried no send time).
    bool latency_from_sender_reports = false;
    /// Synchronized playout (session/sender_clock.hpp): questions asked for
    /// the source's clock, round trips believed, and answers to us that
    /// answered no open question (late, repeated or forged).
    std::uint64_t clock_questions = 0;
    std::uint64_t clock_exchanges = 0;
    std::uint64_t clock_answers_unmatched = 0;
    /// Times the source's clock stepped (a round trip far outside what the
    /// estimate holds) and the estimate started over.
    std::uint64_t clock_steps = 0;
    /// The source's wall clock (since the Unix epoch) less this receiver's
    /// steady clock, as the round trips give it, and how far it may be off
    /// (half the width of what they leave, not counting path asymmetry);
    /// unset before the first exchange. clock_rate_ppm: how much faster the
    /// source's clock runs.
    std::optional<std::chrono::nanoseconds> clock_offset{};
    std::optional<std::chrono::nanoseconds> clock_uncertainty{};
    double clock_rate_ppm = 0;
    /// How much later than the common timeline playout is heard (the most
    /// punctual pull of the last quarter to half second; negative: early), by
    /// this receiver's estimate of the source's clock; unset while playout
    /// is not synchronized.
    std::optional<std::chrono::nanoseconds> sync_error{};
    /// Times playout jumped to meet the common timeline (a fade out and in):
    /// when synchronization began, and after a jump of either clock.
    std::uint64_t sync_realignments = 0;
};

/// What a sender has done, cumulative.
struct sender_stats {
    std::uint64_t packets_sent = 0; ///< built and handed out by next_packet()
    /// Of those, the ones the caller reported its transport refused
    /// (record_send_failure()); they left the schedule but not the host.
    std::uint64_t packets_send_failed = 0;
    std::uint64_t payload_bytes_sent = 0;
    std::uint64_t frames_sent = 0;
    std::uint64_t schedule_slips = 0; ///< times the schedule moved forward (see max_lateness)
    /// How far it moved in all: a gap every listener hears, as the RTP
    /// timestamp moves on with it.
    std::chrono::nanoseconds slipped{};
    duration_histogram lateness;         ///< how late each packet was taken after its deadline
    std::uint64_t reports_sent = 0;      ///< RTCP compounds written (SR + SDES, or with BYE)
    std::uint64_t reports_received = 0;  ///< RRs and SRs from others
    std::uint64_t control_malformed = 0; ///< RTCP datagrams that failed validation
    /// Listeners' reference times heard (RFC 3611 RRTR), and the answers to
    /// them sent (DLRR sub-blocks): a listener's newer one replaces one still
    /// unanswered, so requests beyond the answers were superseded or unheard.
    std::uint64_t clock_requests = 0;
    std::uint64_t clock_answers = 0;
};

} // namespace audiocast
