// Sound files for the examples, through libsndfile: the server reads any file
// libsndfile can, the client writes WAV. Errors are example_error with a
// message that names the file and says what is wrong with it. A build
// without libsndfile (support/build_features.hpp) reads and writes WAV
// through the examples' own support/wav_file.hpp instead.
#pragma once

#include "support/build_features.hpp"
#include "support/example_error.hpp"

#if !AUDIOCAST_EXAMPLES_HAS_SNDFILE
#include "support/wav_file.hpp"

namespace audiocast_examples {
using sound_file_reader = wav_file_reader;
using wav_writer = wav_file_writer;
/// What --file reads, for the help text.
inline constexpr const char* readable_sound_files = "a WAV file: PCM or floating point";
} // namespace audiocast_examples
#else

#include <audiocast/format.hpp>

#include <sndfile.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace audiocast_examples {

/// What --file reads, for the help text.
inline constexpr const char* readable_sound_files = "any format libsndfile reads";

/// A sound file open for reading. Integer files are read as int32 (a 16- or
/// 24-bit sample in the top bits, exact); floating-point files as float, so
/// nothing is rescaled twice.
class sound_file_reader {
public:
    explicit sound_file_reader(const std::string& path) : path_{path}
    {
        file_.reset(::sf_open(path.c_str(), SFM_READ, &info_));
        if (!file_) throw example_error{"cannot read '" + path + "': " + ::sf_strerror(nullptr)};
        if (info_.frames <= 0) throw example_error{"'" + path + "' holds no audio frames"};
        if (info_.channels < static_cast<int>(audiocast::min_channels) ||
            info_.channels > static_cast<int>(audiocast::max_channels))
            throw example_error{"'" + path + "' has " + std::to_string(info_.channels) +
                                " channels; audiocast carries " +
                                std::to_string(audiocast::min_channels) + "-" +
                                std::to_string(audiocast::max_channels)};
        if (info_.samplerate < static_cast<int>(audiocast::min_sample_rate) ||
            info_.samplerate > static_cast<int>(audiocast::max_sample_rate))
            throw example_error{"'" + path + "' is sampled at " + std::to_string(info_.samplerate) +
                                " Hz; audiocast carries " +
                                std::to_string(audiocast::min_sample_rate) + "-" +
                                std::to_string(audiocast::max_sample_rate) + " Hz"};
        // Out-of-range floats are clipped rather than wrapped.
        ::sf_command(file_.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);
    }

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::uint32_t sample_rate() const noexcept
    {
        return static_cast<std::uint32_t>(info_.samplerate);
    }
    [[nodiscard]] unsigned channels() const noexcept
    {
        return static_cast<unsigned>(info_.channels);
    }
    [[nodiscard]] std::uint64_t frames() const noexcept
    {
        return static_cast<std::uint64_t>(info_.frames);
    }

    /// Whether the samples are floating point (read them with read(span<float>)).
    [[nodiscard]] bool is_float() const noexcept
    {
        const int subtype = info_.format & SF_FORMAT_SUBMASK;
        return subtype == SF_FORMAT_FLOAT || subtype == SF_FORMAT_DOUBLE ||
               subtype == SF_FORMAT_VORBIS || subtype == SF_FORMAT_OPUS;
    }

    /// The wire encoding that keeps every bit of the file: L16 for files of
    /// 16 bits or fewer per sample, L24 for the rest.
    [[nodiscard]] audiocast::sample_format natural_encoding() const noexcept
    {
        switch (info_.format & SF_FORMAT_SUBMASK) {
        case SF_FORMAT_PCM_S8:
        case SF_FORMAT_PCM_U8:
        case SF_FORMAT_PCM_16:
        case SF_FORMAT_ULAW:
        case SF_FORMAT_ALAW:
        case SF_FORMAT_IMA_ADPCM:
        case SF_FORMAT_MS_ADPCM:
        case SF_FORMAT_GSM610:
        case SF_FORMAT_DWVW_12:
        case SF_FORMAT_DWVW_16:
        case SF_FORMAT_DPCM_8:
        case SF_FORMAT_DPCM_16: return audiocast::sample_format::l16;
        default: return audiocast::sample_format::l24;
        }
    }

    /// Reads whole frames into `samples`; returns the frames read, 0 at the end.
    std::size_t read(std::span<std::int32_t> samples)
    {
        return checked(::sf_readf_int(file_.get(), samples.data(), frames_for(samples.size())));
    }
    std::size_t read(std::span<float> samples)
    {
        return checked(::sf_readf_float(file_.get(), samples.data(), frames_for(samples.size())));
    }

    /// Back to the first frame (for --loop).
    void rewind()
    {
        if (::sf_seek(file_.get(), 0, SEEK_SET) < 0)
            throw example_error{"cannot rewind '" + path_ + "': " + ::sf_strerror(file_.get())};
    }

private:
    struct closer {
        void operator()(SNDFILE* f) const noexcept { ::sf_close(f); }
    };

    [[nodiscard]] sf_count_t frames_for(std::size_t samples) const noexcept
    {
        return static_cast<sf_count_t>(samples / static_cast<std::size_t>(info_.channels));
    }

    std::size_t checked(sf_count_t frames)
    {
        // A read error (a truncated chunk, say) shows as an error code on the
        // handle; a short read alone is the end of the file.
        if (frames < 0 || ::sf_error(file_.get()) != SF_ERR_NO_ERROR)
            throw example_error{"cannot read '" + path_ + "': " + ::sf_strerror(file_.get())};
        return static_cast<std::size_t>(frames);
    }

    std::string path_;
    SF_INFO info_{};
    std::unique_ptr<SNDFILE, closer> file_;
};

/// A WAV file open for writing: 16-bit for L16 streams, 24-bit for L24, so
/// what the stream carried is written bit for bit.
class wav_writer {
public:
    wav_writer(const std::string& path, const audiocast::audio_format& format) : path_{path}
    {
        SF_INFO info{};
        info.samplerate = static_cast<int>(format.sample_rate);
        info.channels = static_cast<int>(format.channels);
        info.format =
            SF_FORMAT_WAV | (format.encoding == audiocast::sample_format::l24 ? SF_FORMAT_PCM_24
                                                                              : SF_FORMAT_PCM_16);
        file_.reset(::sf_open(path.c_str(), SFM_WRITE, &info));
        if (!file_) throw example_error{"cannot write '" + path + "': " + ::sf_strerror(nullptr)};
        channels_ = format.channels;
    }

    /// Appends whole interleaved frames (int32, the sample in the top bits).
    void write(std::span<const std::int32_t> samples)
    {
        const auto frames = static_cast<sf_count_t>(samples.size() / channels_);
        if (::sf_writef_int(file_.get(), samples.data(), frames) != frames)
            throw example_error{"cannot write '" + path_ + "': " + ::sf_strerror(file_.get())};
        frames_ += static_cast<std::uint64_t>(frames);
    }

    [[nodiscard]] std::uint64_t frames() const noexcept { return frames_; }

    /// Finishes the header; a file not closed is still readable, with the
    /// sizes libsndfile last wrote.
    void close()
    {
        if (file_ && ::sf_close(file_.release()) != 0)
            throw example_error{"cannot finish '" + path_ + "'"};
    }

private:
    struct closer {
        void operator()(SNDFILE* f) const noexcept { ::sf_close(f); }
    };

    std::string path_;
    std::size_t channels_ = 1;
    std::uint64_t frames_ = 0;
    std::unique_ptr<SNDFILE, closer> file_;
};

} // namespace audiocast_examples

#endif // AUDIOCAST_EXAMPLES_HAS_SNDFILE
