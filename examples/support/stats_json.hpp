// The receiver's figures as JSON (audiocast-client --stats-json), through
// nlohmann/json: the names are the ones docs/architecture.md, Measurements,
// gives, times in ms, and a latency never measured is null, not 0.
#pragma once

#include "support/text.hpp"

#include <audiocast/session/stats.hpp>

#include <nlohmann/json.hpp>

namespace audiocast_examples {

/// Every figure of `s`, in the order a reader scans them: packets, bytes and
/// rates, timing, playout, the source. Keys keep that order in the file.
[[nodiscard]] inline nlohmann::ordered_json receiver_figures(const audiocast::receiver_stats& s)
{
    nlohmann::ordered_json j;
    j["packets_received"] = s.packets_received;
    j["packets_expected"] = s.packets_expected;
    j["packets_lost"] = s.packets_lost;
    j["packets_late"] = s.packets_late;
    j["packets_duplicate"] = s.packets_duplicate;
    j["packets_reordered"] = s.packets_reordered;
    j["packets_malformed"] = s.packets_malformed;
    j["packets_foreign"] = s.packets_foreign;
    j["packets_discarded"] = s.packets_discarded;
    j["packets_overrun"] = s.packets_overrun;
    j["socket_overflow"] = s.socket_overflow;
    j["control_overrun"] = s.control_overrun;
    j["bytes_received"] = s.bytes_received;
    j["throughput_bytes_per_s"] = s.throughput_bytes_per_s;
    j["packets_per_s"] = s.packets_per_s;
    j["jitter_ms"] = in_ms(s.jitter);
    // Never measured (a sender without the send-time extension or reports).
    if (s.latency_samples == 0)
        j["latency_ms"] = nullptr;
    else
        j["latency_ms"] = {{"p50", in_ms(s.latency_p50)},
                           {"p99", in_ms(s.latency_p99)},
                           {"max", in_ms(s.latency_max)}};
    j["latency_samples"] = s.latency_samples;
    j["ipdv_ms"] = {{"p50", in_ms(s.ipdv_p50)}, {"p99", in_ms(s.ipdv_p99)}};
    j["underruns"] = s.underruns;
    j["concealed_frames"] = s.concealed_frames;
    j["frames_repaired"] = s.frames_repaired;
    j["packets_rebuilt"] = s.packets_rebuilt;
    j["frames_discarded"] = s.frames_discarded;
    j["playout_rate_adjustment_ppm"] = s.playout_rate_adjustment * 1e6;
    j["resampled_frames"] = s.resampled_frames;
    j["source_changes"] = s.source_changes;
    j["resyncs"] = s.resyncs;
    // Synchronized playout: the source's clock as the round trips give it,
    // and how far playout is from the common timeline.
    const auto in_us = [](std::chrono::nanoseconds d) {
        return static_cast<double>(d.count()) / 1e3;
    };
    j["clock"] = {{"questions", s.clock_questions},
                  {"exchanges", s.clock_exchanges},
                  {"answers_unmatched", s.clock_answers_unmatched},
                  {"steps", s.clock_steps},
                  {"uncertainty_us", s.clock_uncertainty
                                         ? nlohmann::ordered_json(in_us(*s.clock_uncertainty))
                                         : nlohmann::ordered_json(nullptr)},
                  {"rate_ppm", s.clock_offset ? nlohmann::ordered_json(s.clock_rate_ppm)
                                              : nlohmann::ordered_json(nullptr)}};
    j["sync_error_us"] = s.sync_error ? nlohmann::ordered_json(in_us(*s.sync_error))
                                      : nlohmann::ordered_json(nullptr);
    j["sync_realignments"] = s.sync_realignments;
    j["buffered_frames"] = s.buffered_frames;
    j["sender_reports"] = s.sender_reports;
    j["receiver_reports_sent"] = s.reports_sent;
    j["stream_ended_by_bye"] = s.source_left;
    j["latency_source"] = s.latency_samples == 0          ? "none"
                          : s.latency_from_sender_reports ? "sender reports"
                                                          : "send-time extension";
    return j;
}

} // namespace audiocast_examples
