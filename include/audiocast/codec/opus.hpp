// audiocast — the Opus codec (RFC 6716) through libopus, carried in RTP as
// RFC 7587 says: one Opus packet a payload, a 48 kHz RTP clock whatever the
// audio's bandwidth, and `opus/48000/2` in SDP even for mono.
//
// Opus is for links where 1.5 Mbit/s of L16 stereo is too much, or where
// packets go missing (Wi-Fi multicast has no link-layer retransmission):
// 64-128 kbit/s is transparent for most music, and a lost packet is either
// recovered from the next one's in-band FEC (a low-bitrate copy of the frame
// before, when the encoder is told to expect loss) or concealed by the
// decoder's own packet-loss concealment, which continues the sound rather
// than fading it out.
//
// Unlike PCM, a payload's length says nothing of its duration
// (frames_in() asks the packet's TOC byte), and both encoder and decoder
// carry state from packet to packet: packets must be decoded in order, and a
// missing one must be concealed or recovered before the next is decoded.
//
// Not in the single header: include <audiocast/codec/opus.hpp> and link
// libopus (Debian's libopus-dev; CMake target audiocast::opus).
#pragma once

#include <audiocast/detail/config.hpp>
#include <audiocast/detail/whole_frames.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/limits.hpp>

#include <opus.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace audiocast {

/// What the encoder is tuned for (libopus's OPUS_APPLICATION_*).
enum class opus_application : std::uint8_t {
    audio,     ///< music and mixed content, best quality for the bitrate
    voip,      ///< speech: intelligibility first
    low_delay, ///< CELT only: 2.5 ms less delay, no speech mode, no in-band FEC
};

/// The frame durations Opus allows, in microseconds (RFC 6716 §2.1.4).
inline constexpr std::array<std::int64_t, 6> opus_frame_times_us{2'500,  5'000,  10'000,
                                                                 20'000, 40'000, 60'000};

/// Opus's RTP clock, always (RFC 7587 §4.1).
inline constexpr std::uint32_t opus_rtp_rate = 48'000;
/// The most audio one Opus packet holds: 120 ms at 48 kHz (RFC 6716 §3.2.5).
inline constexpr std::size_t opus_max_packet_frames = 5'760;

inline constexpr setting_limit opus_bitrate_limit{"Opus bitrate", 6'000, 510'000, "bit/s",
                                                  errc::invalid_bitrate};
inline constexpr setting_limit opus_channels_limit{
    "Opus channel count", 1, 2, "", errc::invalid_channel_count, "RTP carries mono or stereo Opus"};
inline constexpr setting_limit opus_complexity_limit{"Opus complexity", 0, 10, "",
                                                     errc::invalid_codec_setting};
inline constexpr setting_limit opus_expected_loss_limit{"Opus expected loss", 0, 100, "%",
                                                        errc::invalid_codec_setting};

/// What an opus_codec is made from. Checked by opus_codec::validate().
struct opus_config {
    unsigned channels = 2;                        ///< 1 or 2
    std::chrono::microseconds frame_time{20'000}; ///< one of opus_frame_times_us
    opus_application application = opus_application::audio;
    std::uint32_t bitrate = 128'000; ///< bit/s, 6000-510000
    /// In-band FEC: each packet also carries the frame before at a low
    /// bitrate, so one lost packet is recovered from the next. It costs
    /// bitrate, only pays with `expected_loss_percent` above 0, and needs a
    /// frame of 10 ms or more and the SILK layer (not low_delay).
    bool inband_fec = true;
    unsigned expected_loss_percent = 5; ///< 0-100: how hard FEC and the encoder protect
    int complexity = 9;                 ///< 0-10: CPU for quality (libopus's default is 9)
    std::size_t mtu = 1500;
    std::size_t header_overhead = 56; ///< IPv4 + UDP + RTP + send-time extension
};

/// The Opus codec, a model of `codec` (concepts.hpp): write() and flush() make
/// packets of one frame each, decode() and its loss-aware siblings turn them
/// back into 48 kHz frames. The encoder and decoder states live in buffers
/// allocated at construction (libopus states are flat, so a copy of the codec
/// is a copy of the bytes); nothing allocates after construction, and libopus
/// itself allocates nothing to encode or decode. A moved-from codec may only
/// be assigned to or destroyed.
class opus_codec {
public:
    /// Stereo, 20 ms, 128 kbit/s, music, in-band FEC for 5 % loss.
    opus_codec() : opus_codec(opus_config{}, validated) {}

    /// Throws std::system_error with the codes of validate().
    explicit opus_codec(const opus_config& config) : opus_codec(checked(config), validated) {}

    /// On an invalid configuration sets `ec` and returns a default codec.
    [[nodiscard]] static opus_codec make(const opus_config& config, std::error_code& ec)
    {
        validate(config, ec);
        if (ec) return opus_codec{};
        return opus_codec{config, validated};
    }

    /// Checks, in this order: the channel count (errc::invalid_channel_count),
    /// the frame time (errc::invalid_packet_time), the bitrate
    /// (errc::invalid_bitrate: 6000-510000 bit/s, and 9600 at least in 2.5 ms
    /// frames), complexity and expected loss
    /// (errc::invalid_codec_setting), the MTU (errc::invalid_mtu), and that
    /// a packet at the bitrate fits the MTU (errc::packet_exceeds_mtu).
    static void validate(const opus_config& config, std::error_code& ec) noexcept
    {
        ec.clear();
        if (const auto p = problem(config))
            detail::assign(ec, p);
        else if (!is_opus_frame_time(config.frame_time))
            ec = errc::invalid_packet_time;
        else if (config.bitrate < min_bitrate(config.frame_time))
            ec = errc::invalid_bitrate;
        else if (config.mtu < 576 || config.mtu > 65'535)
            ec = errc::invalid_mtu;
        else if (average_packet_bytes(config) > max_payload_bytes_of(config))
            ec = errc::packet_exceeds_mtu;
    }

    /// Throwing form of validate(); the message names the value and the limit,
    /// e.g. "Opus frame 3000 us is not one of 2500, 5000, 10000, 20000, 40000,
    /// 60000 us".
    static void validate(const opus_config& config)
    {
        detail::throw_if(problem(config));
        std::error_code ec;
        validate(config, ec);
        if (!ec) return;
        if (ec == errc::invalid_packet_time) {
            std::string allowed;
            for (const auto us : opus_frame_times_us)
                allowed += (allowed.empty() ? "" : ", ") + std::to_string(us);
            detail::throw_error(ec, "Opus frame " + std::to_string(config.frame_time.count()) +
                                        " us is not one of " + allowed + " us");
        }
        if (ec == errc::invalid_bitrate)
            detail::throw_error(ec, "Opus at " + std::to_string(config.frame_time.count()) +
                                        " us needs at least " +
                                        std::to_string(min_bitrate(config.frame_time)) +
                                        " bit/s, not " + std::to_string(config.bitrate) +
                                        ": below it libopus sends packets with no audio");
        if (ec == errc::invalid_mtu)
            detail::throw_error(ec, "MTU " + std::to_string(config.mtu) +
                                        " bytes is outside 576-65535 bytes");
        detail::throw_error(ec, "Opus at " + std::to_string(config.bitrate) + " bit/s and " +
                                    std::to_string(config.frame_time.count()) + " us is " +
                                    std::to_string(average_packet_bytes(config)) +
                                    " bytes a packet; the MTU allows " +
                                    std::to_string(max_payload_bytes_of(config)));
    }

    /// 48 kHz, the configured channels; encoding sample_format::opus.
    [[nodiscard]] const audio_format& format() const noexcept { return format_; }
    [[nodiscard]] std::chrono::nanoseconds packet_time() const noexcept { return packet_time_; }
    [[nodiscard]] std::chrono::microseconds frame_time() const noexcept { return frame_time_; }
    /// Frames a packet of this encoder holds: 960 for 20 ms.
    [[nodiscard]] std::size_t frames_per_packet() const noexcept { return frames_per_packet_; }
    /// The most payload one packet may take: what the MTU leaves.
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return max_payload_bytes_; }
    [[nodiscard]] std::size_t max_payload_bytes() const noexcept { return max_payload_bytes_; }
    /// The most one payload may decode to: 120 ms (receivers size buffers by it).
    [[nodiscard]] static std::size_t max_packet_frames() noexcept { return opus_max_packet_frames; }
    [[nodiscard]] std::uint32_t bitrate() const noexcept { return bitrate_; }
    [[nodiscard]] bool inband_fec() const noexcept { return inband_fec_; }

    /// Frames `payload` decodes to (its TOC byte says), or 0 when it is no
    /// valid Opus packet or holds more than 120 ms.
    [[nodiscard]] static std::size_t frames_in(std::span<const std::byte> payload) noexcept
    {
        if (payload.empty() || payload.size() > std::numeric_limits<opus_int32>::max()) return 0;
        const int n =
            opus_packet_get_nb_samples(bytes(payload), static_cast<opus_int32>(payload.size()),
                                       static_cast<opus_int32>(opus_rtp_rate));
        if (n <= 0 || static_cast<std::size_t>(n) > opus_max_packet_frames) return 0;
        return static_cast<std::size_t>(n);
    }

    /// Appends whole frames and calls `sink(std::span<const std::byte>)` once
    /// per packet encoded; keeps the remainder for the next call. Returns the
    /// frames consumed: all, or none with errc::frames_not_whole.
    template <pcm_sample T, class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    std::size_t write(std::span<const T> samples, Sink&& sink, std::error_code& ec)
    {
        if (!detail::whole_frames(samples.size(), format_.channels, ec)) return 0;
        return write_frames(samples, sink);
    }

    /// Throwing form: "7 samples is not a whole number of 2-channel frames".
    template <pcm_sample T, class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    std::size_t write(std::span<const T> samples, Sink&& sink)
    {
        detail::require_whole_frames(samples.size(), format_.channels);
        return write_frames(samples, sink);
    }

    /// If frames are pending, completes the frame with silence and hands it
    /// to `sink`: Opus has no shorter frame to send them in.
    template <class Sink>
        requires std::invocable<Sink&, std::span<const std::byte>>
    void flush(Sink&& sink)
    {
        if (pending_frames_ == 0) return;
        std::fill(staging_.begin() +
                      static_cast<std::ptrdiff_t>(pending_frames_ * format_.channels),
                  staging_.end(), 0.0f);
        pending_frames_ = frames_per_packet_;
        emit(sink);
    }

    [[nodiscard]] std::size_t pending_frames() const noexcept { return pending_frames_; }

    /// Drops the pending frames and starts the encoder afresh (the stream
    /// resumes after a gap: nothing before it should shape what follows).
    void reset() noexcept
    {
        pending_frames_ = 0;
        opus_encoder_ctl(encoder(), OPUS_RESET_STATE);
    }

    /// Decodes the next packet in sequence into interleaved samples (int32:
    /// 24 significant bits in the top); returns the samples written, 0 when
    /// `payload` is not a valid Opus packet (the decoder state is unchanged)
    /// or `out` cannot hold it.
    template <pcm_sample T>
    std::size_t decode(std::span<const std::byte> payload, std::span<T> out) noexcept
    {
        const std::size_t frames = frames_in(payload);
        if (frames == 0 || frames * format_.channels > out.size()) return 0;
        return run_decoder(payload, frames, false, out);
    }

    /// A packet of `frames` frames went missing: continues the sound by the
    /// decoder's packet-loss concealment. Conceals as much of it as `out`
    /// holds, at most 120 ms, in 2.5 ms steps (120 frames); returns the
    /// samples written. A longer loss is concealed in several calls.
    template <pcm_sample T>
    std::size_t conceal(std::size_t frames, std::span<T> out) noexcept
    {
        frames = std::min({frames, opus_max_packet_frames, out.size() / format_.channels});
        frames = frames / plc_step * plc_step;
        if (frames == 0) return 0;
        return run_decoder({}, frames, false, out);
    }

    /// The packet before `next` went missing and held `frames` frames (at
    /// most 120 ms, a multiple of 2.5 ms: conceal any earlier loss first):
    /// recovers it from the low-bitrate copy `next` carries (in-band FEC), or
    /// conceals it where `next` carries none or cannot be read. Then
    /// decode(next) as usual. Returns the samples written; 0, with nothing
    /// done, when `frames` is not such a duration or `out` cannot hold it.
    template <pcm_sample T>
    std::size_t recover(std::span<const std::byte> next, std::size_t frames,
                        std::span<T> out) noexcept
    {
        if (frames == 0 || frames % plc_step != 0 || frames > opus_max_packet_frames ||
            frames * format_.channels > out.size())
            return 0;
        if (frames_in(next) != 0)
            if (const std::size_t n = run_decoder(next, frames, true, out); n != 0) return n;
        return conceal(frames, out);
    }

    /// The a=fmtp parameters that describe this encoder's stream in SDP
    /// (RFC 7587 §7): "stereo=1; sprop-stereo=1; useinbandfec=1;
    /// maxaveragebitrate=64000" for stereo with in-band FEC at 64 kbit/s.
    [[nodiscard]] std::string sdp_format_parameters() const
    {
        const std::string stereo = format_.channels == 2 ? "1" : "0";
        return "stereo=" + stereo + "; sprop-stereo=" + stereo +
               "; useinbandfec=" + (inband_fec_ ? "1" : "0") +
               "; maxaveragebitrate=" + std::to_string(bitrate_);
    }

    /// conceal() and recover() work in whole steps of this many frames: 2.5 ms.
    [[nodiscard]] std::size_t repair_step() const noexcept { return plc_step; }

    /// Takes `other`'s decoder state, not its encoder's: what a receiver's
    /// spare decoder needs (session/decode_order.hpp), at a fraction of a
    /// whole copy. Both must carry the same channel count; if they do not,
    /// nothing changes. Allocates nothing.
    void copy_decoder_from(const opus_codec& other) noexcept
    {
        AUDIOCAST_ASSERT(decoder_state_.size() == other.decoder_state_.size());
        if (decoder_state_.size() != other.decoder_state_.size()) return;
        std::copy(other.decoder_state_.begin(), other.decoder_state_.end(), decoder_state_.begin());
    }

    /// Forgets what was decoded: the next packet starts a new stream.
    void reset_decoder() noexcept { opus_decoder_ctl(decoder(), OPUS_RESET_STATE); }

private:
    struct validated_t {};
    static constexpr validated_t validated{};
    static constexpr std::size_t plc_step = 120; // 2.5 ms at 48 kHz

    opus_codec(const opus_config& config, validated_t)
        : format_{sample_format::opus, opus_rtp_rate, config.channels},
          frame_time_{config.frame_time},
          frames_per_packet_{static_cast<std::size_t>(config.frame_time.count() * 48 / 1000)},
          packet_time_{config.frame_time}, max_payload_bytes_{max_payload_bytes_of(config)},
          bitrate_{config.bitrate}, inband_fec_{config.inband_fec},
          encoder_state_(words(
              static_cast<std::size_t>(opus_encoder_get_size(static_cast<int>(config.channels))))),
          decoder_state_(words(
              static_cast<std::size_t>(opus_decoder_get_size(static_cast<int>(config.channels))))),
          staging_(frames_per_packet_ * config.channels),
          decoded_(opus_max_packet_frames * config.channels),
          packet_(std::min<std::size_t>(max_payload_bytes_, max_opus_packet_bytes))
    {
        const int channels = static_cast<int>(config.channels);
        int ok = opus_encoder_init(encoder(), static_cast<opus_int32>(opus_rtp_rate), channels,
                                   application_of(config.application));
        if (ok == OPUS_OK)
            ok = opus_encoder_ctl(encoder(), OPUS_SET_BITRATE(static_cast<opus_int32>(bitrate_)));
        if (ok == OPUS_OK)
            ok = opus_encoder_ctl(encoder(), OPUS_SET_INBAND_FEC(inband_fec_ ? 1 : 0));
        if (ok == OPUS_OK)
            ok = opus_encoder_ctl(encoder(), OPUS_SET_PACKET_LOSS_PERC(
                                                 static_cast<int>(config.expected_loss_percent)));
        if (ok == OPUS_OK) ok = opus_encoder_ctl(encoder(), OPUS_SET_COMPLEXITY(config.complexity));
        if (ok == OPUS_OK)
            ok = opus_decoder_init(decoder(), static_cast<opus_int32>(opus_rtp_rate), channels);
        if (ok != OPUS_OK)
            detail::throw_error(errc::codec_failed,
                                std::string{"libopus refused the configuration: "} +
                                    opus_strerror(ok));
    }

    static const opus_config& checked(const opus_config& config)
    {
        validate(config);
        return config;
    }

    // The first limit `config` breaks, of those a setting_limit states.
    static setting_problem problem(const opus_config& config) noexcept
    {
        if (auto p = opus_channels_limit.check(config.channels)) return p;
        if (!is_opus_frame_time(config.frame_time)) return {};
        if (auto p = opus_bitrate_limit.check(config.bitrate)) return p;
        if (auto p = opus_complexity_limit.check(config.complexity)) return p;
        return opus_expected_loss_limit.check(config.expected_loss_percent);
    }

    // libopus 1.3 sends a packet with no audio (its TOC byte alone) below 3
    // bytes a frame: 9600 bit/s at 2.5 ms, under the 6000 floor otherwise.
    static std::uint32_t min_bitrate(std::chrono::microseconds t) noexcept
    {
        return static_cast<std::uint32_t>(24 * 1'000'000 / t.count());
    }

    static bool is_opus_frame_time(std::chrono::microseconds t) noexcept
    {
        return std::ranges::find(opus_frame_times_us, t.count()) != opus_frame_times_us.end();
    }

    // A packet's bytes at the average bitrate, rounded up.
    static std::size_t average_packet_bytes(const opus_config& config) noexcept
    {
        return static_cast<std::size_t>(
            (std::uint64_t{config.bitrate} * static_cast<std::uint64_t>(config.frame_time.count()) +
             7'999'999) /
            8'000'000);
    }

    static std::size_t max_payload_bytes_of(const opus_config& config) noexcept
    {
        return config.mtu > config.header_overhead ? config.mtu - config.header_overhead : 0;
    }

    static int application_of(opus_application a) noexcept
    {
        switch (a) {
        case opus_application::voip: return OPUS_APPLICATION_VOIP;
        case opus_application::low_delay: return OPUS_APPLICATION_RESTRICTED_LOWDELAY;
        case opus_application::audio: break;
        }
        return OPUS_APPLICATION_AUDIO;
    }

    // libopus states are flat and need the alignment malloc gives.
    static std::size_t words(std::size_t bytes) noexcept
    {
        return (bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
    }
    OpusEncoder* encoder() noexcept
    {
        return reinterpret_cast<OpusEncoder*>(encoder_state_.data());
    }
    OpusDecoder* decoder() noexcept
    {
        return reinterpret_cast<OpusDecoder*>(decoder_state_.data());
    }

    static const unsigned char* bytes(std::span<const std::byte> s) noexcept
    {
        return reinterpret_cast<const unsigned char*>(s.data());
    }

    template <pcm_sample T>
    static float to_float(T s) noexcept
    {
        if constexpr (std::same_as<T, float>)
            return std::isnan(s) ? 0.0f : std::clamp(s, -1.0f, 1.0f);
        else if constexpr (std::same_as<T, std::int16_t>)
            return static_cast<float>(s) / 32768.0f;
        else
            return static_cast<float>(s >> 8) / 8388608.0f; // the top 24 bits, as pcm_codec
    }

    template <pcm_sample T>
    static T from_float(float x) noexcept
    {
        if (std::isnan(x)) return T{};
        if constexpr (std::same_as<T, float>) {
            return x;
        } else if constexpr (std::same_as<T, std::int16_t>) {
            const float v = std::clamp(std::round(x * 32768.0f), -32768.0f, 32767.0f);
            return static_cast<std::int16_t>(v);
        } else {
            const float v = std::clamp(std::round(x * 8388608.0f), -8388608.0f, 8388607.0f);
            return static_cast<std::int32_t>(
                static_cast<std::uint32_t>(static_cast<std::int32_t>(v)) << 8);
        }
    }

    template <pcm_sample T, class Sink>
    std::size_t write_frames(std::span<const T> samples, Sink& sink)
    {
        const std::size_t channels = format_.channels;
        const std::size_t frames = samples.size() / channels;
        const T* next = samples.data();
        for (std::size_t left = frames; left != 0;) {
            const std::size_t take = std::min(left, frames_per_packet_ - pending_frames_);
            float* to = staging_.data() + pending_frames_ * channels;
            for (std::size_t i = 0; i < take * channels; ++i)
                to[i] = to_float(next[i]);
            pending_frames_ += take;
            next += take * channels;
            left -= take;
            if (pending_frames_ == frames_per_packet_) emit(sink);
        }
        return frames;
    }

    template <class Sink>
    void emit(Sink& sink)
    {
        pending_frames_ = 0;
        const opus_int32 n =
            opus_encode_float(encoder(), staging_.data(), static_cast<int>(frames_per_packet_),
                              reinterpret_cast<unsigned char*>(packet_.data()),
                              static_cast<opus_int32>(packet_.size()));
        // Only a buffer too small fails, and packet_ holds what the MTU allows.
        AUDIOCAST_ASSERT(n > 0 && "opus_encode_float failed");
        if (n <= 0) return;
        sink(std::span<const std::byte>(packet_.data(), static_cast<std::size_t>(n)));
    }

    template <pcm_sample T>
    std::size_t run_decoder(std::span<const std::byte> payload, std::size_t frames, bool fec,
                            std::span<T> out) noexcept
    {
        const int n = opus_decode_float(decoder(), payload.empty() ? nullptr : bytes(payload),
                                        static_cast<opus_int32>(payload.size()), decoded_.data(),
                                        static_cast<int>(frames), fec ? 1 : 0);
        if (n <= 0) return 0;
        const std::size_t samples = static_cast<std::size_t>(n) * format_.channels;
        for (std::size_t i = 0; i < samples; ++i)
            out[i] = from_float<T>(decoded_[i]);
        return samples;
    }

    // RFC 6716 §3.4 R2/R3: at most 1275 bytes a frame, and a packet of 60 ms
    // holds three 20 ms frames.
    static constexpr std::size_t max_opus_packet_bytes = 3 * 1'275 + 7;

    audio_format format_;
    std::chrono::microseconds frame_time_;
    std::size_t frames_per_packet_;
    std::chrono::nanoseconds packet_time_;
    std::size_t max_payload_bytes_;
    std::uint32_t bitrate_;
    bool inband_fec_;
    std::vector<std::max_align_t> encoder_state_;
    std::vector<std::max_align_t> decoder_state_;
    std::vector<float> staging_; // one frame to encode
    std::vector<float> decoded_; // the most one packet decodes to
    std::vector<std::byte> packet_;
    std::size_t pending_frames_ = 0;
};

} // namespace audiocast
