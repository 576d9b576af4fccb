// WAV files for the examples without libsndfile. Where the build has
// libsndfile the examples use support/sound_file.hpp, which reads every format
// libsndfile knows; the Windows cross build has no libsndfile, so it reads and
// writes WAV with these two classes, which have the same interface and throw
// the same example_error messages.
//
// The reader takes RIFF WAVE files of PCM (8-bit unsigned; 16-, 24- and 32-bit
// signed) and IEEE float (32 and 64 bit), plain or as WAVE_FORMAT_EXTENSIBLE,
// and gives samples as libsndfile's sf_readf_int and sf_readf_float do. The
// writer writes 16- or 24-bit PCM.
//
// Files are untrusted: no size a header states is allocated or followed
// without a bound, the scan for the audio is limited, and the file is read
// sequentially with 64-bit counts and std::fgetpos/fsetpos, never ftell or an
// fseek past the header (their long is 32 bits on Windows), so files past
// 2 GiB work everywhere. A RIFF WAV file's sizes are 32 bits: at most 4 GiB of
// audio; RF64 is refused.
#pragma once

#include "support/example_error.hpp"

#include <audiocast/format.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast_examples {

namespace wav_file_detail {

static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "WAV float samples are IEEE 754");

inline constexpr std::uint16_t format_pcm = 0x0001;
inline constexpr std::uint16_t format_ieee_float = 0x0003;
inline constexpr std::uint16_t format_extensible = 0xFFFE;

// WAVE_FORMAT_EXTENSIBLE's sub-format GUID is the format tag followed by
// these 14 bytes, KSDATAFORMAT's base GUID as stored little-endian.
inline constexpr std::array<unsigned char, 14> extensible_guid_tail{
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

inline constexpr std::size_t plain_fmt_size = 16;
inline constexpr std::size_t extensible_fmt_size = 40;
inline constexpr std::size_t canonical_header_size = 44;

// The most a RIFF file's 32-bit sizes describe; a data size of 0xFFFFFFFF
// (what a writer to a pipe leaves) thus means "to the end of the file".
inline constexpr std::uint64_t max_riff_size = 0xFFFF'FFFFu;

// Bounds on the scan for the audio, so that a stream of empty chunks or one
// long run of them ends quickly with an error instead of being read forever.
inline constexpr unsigned max_chunks_before_data = 1000;
inline constexpr std::uint64_t max_bytes_before_data = max_riff_size + 8;

// Samples move through a fixed buffer, whatever the caller asks for.
inline constexpr std::size_t io_buffer_bytes = 64 * 1024;

inline std::uint16_t little_endian_16(const unsigned char* p) noexcept
{
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

inline std::uint32_t little_endian_32(const unsigned char* p) noexcept
{
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
           (std::uint32_t{p[3]} << 24);
}

inline std::uint64_t little_endian_64(const unsigned char* p) noexcept
{
    return std::uint64_t{little_endian_32(p)} | (std::uint64_t{little_endian_32(p + 4)} << 32);
}

inline void put_little_endian(unsigned char* p, std::uint32_t value, std::size_t bytes) noexcept
{
    for (std::size_t i = 0; i < bytes; ++i)
        p[i] = static_cast<unsigned char>(value >> (8 * i));
}

/// What errno says, as strerror would, without strerror's shared buffer.
inline std::string system_reason(int error)
{
    return error != 0 ? std::generic_category().message(error) : std::string{"input/output error"};
}

inline std::string hex(std::uint32_t value, int digits)
{
    static constexpr char digit[] = "0123456789ABCDEF";
    std::string text(static_cast<std::size_t>(digits), '0');
    for (int i = digits - 1; i >= 0; --i, value >>= 4)
        text[static_cast<std::size_t>(i)] = digit[value & 0xF];
    return text;
}

// The usual names of the format tags a WAV file is likely to carry, so that
// a refusal says what the file is rather than only a number.
inline std::string format_tag_name(std::uint16_t tag)
{
    switch (tag) {
    case 0x0002: return " (Microsoft ADPCM)";
    case 0x0006: return " (A-law)";
    case 0x0007: return " (mu-law)";
    case 0x0011: return " (IMA ADPCM)";
    case 0x0031: return " (GSM 6.10)";
    case 0x0050: return " (MPEG)";
    case 0x0055: return " (MP3)";
    default: return "";
    }
}

/// A float sample clipped to [-1, 1]; NaN, which has no place there, is 0.
inline float clipped(double value) noexcept
{
    if (std::isnan(value)) return 0.0f;
    return static_cast<float>(std::clamp(value, -1.0, 1.0));
}

/// A float sample as int32 at the scale of the integer samples (1.0 is 2^31),
/// clipped to int32's range.
inline std::int32_t float_to_int32(double value) noexcept
{
    if (std::isnan(value)) return 0;
    const double scaled = std::nearbyint(value * 2147483648.0);
    if (scaled >= 2147483647.0) return std::numeric_limits<std::int32_t>::max();
    if (scaled <= -2147483648.0) return std::numeric_limits<std::int32_t>::min();
    return static_cast<std::int32_t>(scaled);
}

struct file_closer {
    void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};
using file_handle = std::unique_ptr<std::FILE, file_closer>;

} // namespace wav_file_detail

/// A WAV file open for reading. Integer samples are read as int32 with the
/// sample in the top bits (exact) or as float, v / 2^31 of that; float samples
/// as float, clipped to [-1, 1], or as int32 at the same scale, clipped.
class wav_file_reader {
public:
    explicit wav_file_reader(const std::string& path) : path_{path}
    {
        errno = 0;
        file_.reset(std::fopen(path.c_str(), "rb"));
        if (!file_) throw read_failure(errno);
        // The size on disk bounds a data size that claims more than the file
        // holds; a pipe or a device has none, and is measured by reading.
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(path, ec);
        read_header(ec ? std::nullopt : std::optional<std::uint64_t>{size});
    }

    /// Takes ownership of an open file (one from fmemopen, say); `name` is
    /// what messages call it.
    wav_file_reader(std::FILE* file, std::string name) : path_{std::move(name)}, file_{file}
    {
        if (!file_) throw example_error{"cannot read '" + path_ + "': it is not open"};
        read_header(std::nullopt);
    }

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::uint32_t sample_rate() const noexcept { return sample_rate_; }
    [[nodiscard]] unsigned channels() const noexcept { return channels_; }
    [[nodiscard]] std::uint64_t frames() const noexcept { return frames_; }

    /// Whether the samples are floating point (read them with read(span<float>)).
    [[nodiscard]] bool is_float() const noexcept { return is_float_; }

    /// The wire encoding that keeps every bit of the file: L16 for files of
    /// 16 bits or fewer per sample, L24 for the rest.
    [[nodiscard]] audiocast::sample_format natural_encoding() const noexcept
    {
        return !is_float_ && bytes_per_sample_ <= 2 ? audiocast::sample_format::l16
                                                    : audiocast::sample_format::l24;
    }

    /// Reads whole frames into `samples`; returns the frames read, 0 at the end.
    std::size_t read(std::span<std::int32_t> samples) { return read_frames(samples); }
    std::size_t read(std::span<float> samples) { return read_frames(samples); }

    /// Back to the first frame (for --loop).
    void rewind()
    {
        if (std::fsetpos(file_.get(), &data_start_) != 0)
            throw example_error{"cannot rewind '" + path_ +
                                "': " + wav_file_detail::system_reason(errno)};
        std::clearerr(file_.get());
        frames_read_ = 0;
    }

private:
    example_error read_failure(int error) const
    {
        return example_error{"cannot read '" + path_ +
                             "': " + wav_file_detail::system_reason(error)};
    }

    example_error bad_file(const std::string& what) const
    {
        return example_error{"'" + path_ + "' " + what};
    }

    /// Reads exactly `bytes`; false if the file ends first.
    bool read_exact(unsigned char* into, std::size_t bytes)
    {
        errno = 0;
        const std::size_t got = std::fread(into, 1, bytes, file_.get());
        if (got != bytes && std::ferror(file_.get())) throw read_failure(errno);
        position_ += got;
        return got == bytes;
    }

    /// Skips by reading, which works on pipes and never needs a 64-bit seek;
    /// returns the bytes skipped, fewer than asked at the end of the file.
    std::uint64_t skip(std::uint64_t bytes)
    {
        std::uint64_t skipped = 0;
        while (skipped < bytes) {
            const auto batch = static_cast<std::size_t>(
                std::min<std::uint64_t>(bytes - skipped, wav_file_detail::io_buffer_bytes));
            errno = 0;
            const std::size_t got = std::fread(buffer().data(), 1, batch, file_.get());
            if (got != batch && std::ferror(file_.get())) throw read_failure(errno);
            skipped += got;
            if (got != batch) break;
        }
        position_ += skipped;
        return skipped;
    }

    std::vector<unsigned char>& buffer()
    {
        buffer_.resize(wav_file_detail::io_buffer_bytes);
        return buffer_;
    }

    void read_header(std::optional<std::uint64_t> file_size)
    {
        std::array<unsigned char, 12> riff{};
        if (!read_exact(riff.data(), riff.size())) throw bad_file("is not a WAV file (too short)");
        const auto id_is = [](const unsigned char* p, const char* id) {
            return std::memcmp(p, id, 4) == 0;
        };
        if (!id_is(riff.data() + 8, "WAVE") ||
            !(id_is(riff.data(), "RIFF") || id_is(riff.data(), "RF64") ||
              id_is(riff.data(), "BW64") || id_is(riff.data(), "RIFX")))
            throw bad_file("is not a WAV file (it does not start with RIFF....WAVE)");
        if (id_is(riff.data(), "RIFX"))
            throw bad_file("is a big-endian (RIFX) WAV file; only little-endian RIFF WAV is read");
        if (!id_is(riff.data(), "RIFF"))
            throw bad_file("is an RF64 WAV file; only RIFF WAV files, up to 4 GiB, are read");

        bool have_format = false;
        for (unsigned chunks = 0;; ++chunks) {
            if (chunks == wav_file_detail::max_chunks_before_data ||
                position_ > wav_file_detail::max_bytes_before_data)
                throw bad_file("has no data chunk where a WAV file has it (after " +
                               std::to_string(chunks) + " chunks)");
            std::array<unsigned char, 8> chunk{};
            if (!read_exact(chunk.data(), chunk.size()))
                throw bad_file(have_format ? "has no data chunk" : "has no fmt chunk");
            const std::uint32_t size = wav_file_detail::little_endian_32(chunk.data() + 4);
            // RIFF pads a chunk of odd size to an even one.
            const std::uint64_t padded_size = std::uint64_t{size} + (size & 1u);
            if (id_is(chunk.data(), "fmt ")) {
                if (have_format) throw bad_file("has two fmt chunks");
                read_format(size, padded_size);
                have_format = true;
            } else if (id_is(chunk.data(), "data")) {
                if (!have_format) throw bad_file("has its data chunk before its fmt chunk");
                locate_data(size, file_size);
                return;
            } else {
                (void)skip(padded_size); // LIST, fact, bext, PEAK, JUNK, ...
            }
        }
    }

    void read_format(std::uint32_t size, std::uint64_t padded_size)
    {
        using namespace wav_file_detail;
        if (size < plain_fmt_size)
            throw bad_file("has a fmt chunk of " + std::to_string(size) +
                           " bytes; a WAV fmt chunk has at least 16");
        std::array<unsigned char, extensible_fmt_size> fmt{};
        const std::size_t kept = std::min<std::size_t>(size, fmt.size());
        if (!read_exact(fmt.data(), kept) || skip(padded_size - kept) != padded_size - kept)
            throw bad_file("is truncated: it ends inside its fmt chunk");

        std::uint16_t tag = little_endian_16(fmt.data());
        const unsigned channels = little_endian_16(fmt.data() + 2);
        const std::uint32_t sample_rate = little_endian_32(fmt.data() + 4);
        const unsigned block_align = little_endian_16(fmt.data() + 12);
        const unsigned bits = little_endian_16(fmt.data() + 14);

        if (tag == format_extensible) {
            if (size < extensible_fmt_size)
                throw bad_file("has a WAVE_FORMAT_EXTENSIBLE fmt chunk of " + std::to_string(size) +
                               " bytes; it needs 40");
            const unsigned char* guid = fmt.data() + 24;
            const std::uint32_t sub_format = little_endian_32(guid);
            if ((sub_format != format_pcm && sub_format != format_ieee_float) ||
                !std::equal(extensible_guid_tail.begin(), extensible_guid_tail.end(), guid + 2))
                throw bad_file("is WAVE_FORMAT_EXTENSIBLE with sub-format " + guid_text(guid) +
                               "; only its PCM and IEEE float sub-formats are read");
            tag = static_cast<std::uint16_t>(sub_format);
        }
        if (tag != format_pcm && tag != format_ieee_float)
            throw bad_file("has WAV format tag 0x" + hex(tag, 4) + format_tag_name(tag) +
                           "; only PCM (1), IEEE float (3) and WAVE_FORMAT_EXTENSIBLE (0xFFFE) "
                           "of either are read");
        is_float_ = tag == format_ieee_float;
        if (is_float_ && bits != 32 && bits != 64)
            throw bad_file("has " + std::to_string(bits) +
                           "-bit float samples; only 32- and 64-bit float is read");
        if (!is_float_ && bits != 8 && bits != 16 && bits != 24 && bits != 32)
            throw bad_file("has " + std::to_string(bits) +
                           "-bit PCM samples; only 8-, 16-, 24- and 32-bit PCM is read");
        if (channels < audiocast::min_channels || channels > audiocast::max_channels)
            throw bad_file("has " + std::to_string(channels) + " channels; audiocast carries " +
                           std::to_string(audiocast::min_channels) + "-" +
                           std::to_string(audiocast::max_channels));
        if (sample_rate < audiocast::min_sample_rate || sample_rate > audiocast::max_sample_rate)
            throw bad_file("is sampled at " + std::to_string(sample_rate) +
                           " Hz; audiocast carries " + std::to_string(audiocast::min_sample_rate) +
                           "-" + std::to_string(audiocast::max_sample_rate) + " Hz");
        bytes_per_sample_ = bits / 8;
        if (block_align != channels * bytes_per_sample_)
            throw bad_file("says a frame is " + std::to_string(block_align) +
                           " bytes (block_align), but " + std::to_string(channels) +
                           " channels of " + std::to_string(bits) + "-bit samples take " +
                           std::to_string(channels * bytes_per_sample_));
        channels_ = channels;
        sample_rate_ = sample_rate;
        bytes_per_frame_ = block_align;
    }

    static std::string guid_text(const unsigned char* guid)
    {
        // snprintf, not a chain of std::string +: g++ 12 at -O3 warns (a false
        // -Wrestrict) on the chain.
        char text[40];
        std::snprintf(text, sizeof text, "{%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
                      static_cast<unsigned long>(wav_file_detail::little_endian_32(guid)),
                      static_cast<unsigned>(wav_file_detail::little_endian_16(guid + 4)),
                      static_cast<unsigned>(wav_file_detail::little_endian_16(guid + 6)),
                      unsigned{guid[8]}, unsigned{guid[9]}, unsigned{guid[10]}, unsigned{guid[11]},
                      unsigned{guid[12]}, unsigned{guid[13]}, unsigned{guid[14]},
                      unsigned{guid[15]});
        return text;
    }

    /// Finds how many whole frames the data chunk holds: its size, or what the
    /// file holds after it if that is less (a file cut short, or one written
    /// to a pipe, whose writer could not go back to fill in the size).
    void locate_data(std::uint32_t size, std::optional<std::uint64_t> file_size)
    {
        if (std::fgetpos(file_.get(), &data_start_) != 0)
            throw example_error{"cannot read '" + path_ +
                                "': it cannot be rewound (read a file, not a pipe)"};
        // 0 is the other size a writer to a pipe leaves.
        const std::uint64_t stated = size == 0 ? wav_file_detail::max_riff_size : size;
        std::uint64_t available = 0;
        if (file_size) {
            if (*file_size > position_) available = std::min(stated, *file_size - position_);
        } else {
            const std::uint64_t data_offset = position_;
            available = skip(stated);
            position_ = data_offset;
            rewind();
        }
        frames_ = available / bytes_per_frame_;
        if (frames_ == 0) throw bad_file("holds no audio frames");
    }

    template <class Sample>
    std::size_t read_frames(std::span<Sample> samples)
    {
        const std::uint64_t wanted =
            std::min<std::uint64_t>(samples.size() / channels_, frames_ - frames_read_);
        const std::size_t frames_per_batch = wav_file_detail::io_buffer_bytes / bytes_per_frame_;
        std::size_t done = 0;
        while (done < wanted) {
            const auto batch =
                static_cast<std::size_t>(std::min<std::uint64_t>(wanted - done, frames_per_batch));
            const std::size_t bytes = batch * bytes_per_frame_;
            errno = 0;
            const std::size_t got = std::fread(buffer().data(), 1, bytes, file_.get());
            if (got != bytes && std::ferror(file_.get())) throw read_failure(errno);
            const std::size_t whole_frames = got / bytes_per_frame_;
            decode(std::span{buffer_.data(), whole_frames * bytes_per_frame_},
                   samples.subspan(done * channels_, whole_frames * channels_));
            done += whole_frames;
            frames_read_ += whole_frames;
            if (got != bytes) {
                // The file is shorter than when it was opened: that is its end.
                frames_read_ = frames_;
                break;
            }
        }
        return done;
    }

    void decode(std::span<const unsigned char> bytes, std::span<std::int32_t> samples) const
    {
        const unsigned char* p = bytes.data();
        for (std::int32_t& sample : samples) {
            sample = is_float_ ? wav_file_detail::float_to_int32(float_at(p)) : integer_at(p);
            p += bytes_per_sample_;
        }
    }

    void decode(std::span<const unsigned char> bytes, std::span<float> samples) const
    {
        const unsigned char* p = bytes.data();
        for (float& sample : samples) {
            sample = is_float_ ? wav_file_detail::clipped(float_at(p))
                               : static_cast<float>(integer_at(p)) * (1.0f / 2147483648.0f);
            p += bytes_per_sample_;
        }
    }

    /// An integer sample in the top bits of an int32; 8-bit WAV is unsigned,
    /// centred on 128.
    [[nodiscard]] std::int32_t integer_at(const unsigned char* p) const noexcept
    {
        std::uint32_t top_aligned = 0;
        switch (bytes_per_sample_) {
        case 1: top_aligned = std::uint32_t{static_cast<unsigned char>(p[0] ^ 0x80u)} << 24; break;
        case 2: top_aligned = std::uint32_t{wav_file_detail::little_endian_16(p)} << 16; break;
        case 3:
            top_aligned = (std::uint32_t{p[0]} << 8) | (std::uint32_t{p[1]} << 16) |
                          (std::uint32_t{p[2]} << 24);
            break;
        default: top_aligned = wav_file_detail::little_endian_32(p); break;
        }
        return static_cast<std::int32_t>(top_aligned);
    }

    [[nodiscard]] double float_at(const unsigned char* p) const noexcept
    {
        if (bytes_per_sample_ == 8)
            return std::bit_cast<double>(wav_file_detail::little_endian_64(p));
        return std::bit_cast<float>(wav_file_detail::little_endian_32(p));
    }

    std::string path_;
    wav_file_detail::file_handle file_;
    std::vector<unsigned char> buffer_;
    std::uint64_t position_ = 0; // bytes read before the data chunk's samples
    std::fpos_t data_start_{};
    std::uint32_t sample_rate_ = 0;
    unsigned channels_ = 1;
    unsigned bytes_per_sample_ = 2;
    unsigned bytes_per_frame_ = 2;
    bool is_float_ = false;
    std::uint64_t frames_ = 0;
    std::uint64_t frames_read_ = 0;
};

/// A WAV file open for writing: 16-bit PCM for L16 streams, 24-bit for L24,
/// so what the stream carried is written bit for bit. The header's sizes are
/// right after every write(), so the file of a program that was killed is
/// whole up to its last write.
class wav_file_writer {
public:
    wav_file_writer(const std::string& path, const audiocast::audio_format& format)
        : path_{path}, channels_{format.channels},
          bytes_per_sample_{format.encoding == audiocast::sample_format::l24 ? 3u : 2u}
    {
        if (channels_ < audiocast::min_channels || channels_ > audiocast::max_channels)
            throw example_error{"cannot write '" + path + "': " + std::to_string(channels_) +
                                " channels; audiocast carries " +
                                std::to_string(audiocast::min_channels) + "-" +
                                std::to_string(audiocast::max_channels)};
        if (format.sample_rate < audiocast::min_sample_rate ||
            format.sample_rate > audiocast::max_sample_rate)
            throw example_error{
                "cannot write '" + path + "': " + std::to_string(format.sample_rate) +
                " Hz; audiocast carries " + std::to_string(audiocast::min_sample_rate) + "-" +
                std::to_string(audiocast::max_sample_rate) + " Hz"};
        errno = 0;
        file_.reset(std::fopen(path.c_str(), "wb"));
        if (!file_) throw write_failure(errno);
        write_header(format.sample_rate);
    }

    /// Appends whole interleaved frames (int32, the sample in the top bits).
    void write(std::span<const std::int32_t> samples)
    {
        if (!file_) throw example_error{"cannot write '" + path_ + "': it is closed"};
        const std::size_t frames = samples.size() / channels_;
        if (frames == 0) return;
        const std::uint64_t bytes = std::uint64_t{frames} * bytes_per_frame();
        if (data_bytes_ + bytes > max_data_bytes)
            throw example_error{"cannot write '" + path_ +
                                "': a WAV file holds at most 4 GiB of audio, and it is full"};
        const std::size_t samples_per_batch = wav_file_detail::io_buffer_bytes / bytes_per_sample_;
        buffer_.resize(wav_file_detail::io_buffer_bytes);
        samples = samples.first(frames * channels_);
        while (!samples.empty()) {
            const auto batch = samples.first(std::min(samples.size(), samples_per_batch));
            unsigned char* p = buffer_.data();
            for (const std::int32_t sample : batch) {
                // The top 16 or 24 bits, as they came off the wire.
                const auto bits =
                    static_cast<std::uint32_t>(sample) >> (32 - 8 * bytes_per_sample_);
                wav_file_detail::put_little_endian(p, bits, bytes_per_sample_);
                p += bytes_per_sample_;
            }
            put(buffer_.data(), batch.size() * bytes_per_sample_);
            samples = samples.subspan(batch.size());
        }
        data_bytes_ += bytes;
        frames_ += frames;
        update_sizes();
    }

    [[nodiscard]] std::uint64_t frames() const noexcept { return frames_; }

    /// Finishes the file with the pad byte RIFF wants after data of odd size,
    /// and closes it. A file left unclosed lacks only that byte, which
    /// readers do without.
    void close()
    {
        if (!file_) return;
        std::FILE* file = file_.release();
        errno = 0;
        bool finished = (data_bytes_ % 2 == 0 || std::fputc(0, file) != EOF) &&
                        std::fflush(file) == 0 && !std::ferror(file);
        int error = errno;
        if (std::fclose(file) != 0 && finished) {
            finished = false;
            error = errno;
        }
        if (!finished)
            throw example_error{"cannot finish '" + path_ +
                                "': " + wav_file_detail::system_reason(error)};
    }

private:
    // The RIFF size, 36 + data + its pad byte, must fit 32 bits.
    static constexpr std::uint64_t max_data_bytes =
        wav_file_detail::max_riff_size - (wav_file_detail::canonical_header_size - 8) - 1;

    [[nodiscard]] unsigned bytes_per_frame() const noexcept
    {
        return channels_ * bytes_per_sample_;
    }

    example_error write_failure(int error) const
    {
        return example_error{"cannot write '" + path_ +
                             "': " + wav_file_detail::system_reason(error)};
    }

    void put(const unsigned char* bytes, std::size_t count)
    {
        errno = 0;
        if (std::fwrite(bytes, 1, count, file_.get()) != count) throw write_failure(errno);
    }

    void write_header(std::uint32_t sample_rate)
    {
        using wav_file_detail::put_little_endian;
        std::array<unsigned char, wav_file_detail::canonical_header_size> header{};
        const auto put_id = [&](std::size_t at, const char* id) {
            std::memcpy(header.data() + at, id, 4);
        };
        put_id(0, "RIFF");
        put_little_endian(header.data() + 4, riff_size(), 4);
        put_id(8, "WAVE");
        put_id(12, "fmt ");
        put_little_endian(header.data() + 16, wav_file_detail::plain_fmt_size, 4);
        put_little_endian(header.data() + 20, wav_file_detail::format_pcm, 2);
        put_little_endian(header.data() + 22, channels_, 2);
        put_little_endian(header.data() + 24, sample_rate, 4);
        put_little_endian(header.data() + 28, sample_rate * bytes_per_frame(), 4);
        put_little_endian(header.data() + 32, bytes_per_frame(), 2);
        put_little_endian(header.data() + 34, 8 * bytes_per_sample_, 2);
        put_id(36, "data");
        put_little_endian(header.data() + 40, static_cast<std::uint32_t>(data_bytes_), 4);
        put(header.data(), header.size());
        errno = 0;
        if (std::fflush(file_.get()) != 0) throw write_failure(errno);
    }

    [[nodiscard]] std::uint32_t riff_size() const noexcept
    {
        return static_cast<std::uint32_t>(wav_file_detail::canonical_header_size - 8 + data_bytes_ +
                                          data_bytes_ % 2);
    }

    /// Rewrites the RIFF and data sizes and hands everything to the system.
    /// Offsets 4 and 40 fit any long; the end, which may lie past 2 GiB, is
    /// kept as an fpos_t.
    void update_sizes()
    {
        std::FILE* file = file_.get();
        std::fpos_t end{};
        std::array<unsigned char, 4> size{};
        errno = 0;
        // The samples reach the system before the sizes that count them.
        if (std::fflush(file) != 0 || std::fgetpos(file, &end) != 0) throw write_failure(errno);
        wav_file_detail::put_little_endian(size.data(), riff_size(), 4);
        if (std::fseek(file, 4, SEEK_SET) != 0) throw write_failure(errno);
        put(size.data(), size.size());
        wav_file_detail::put_little_endian(size.data(), static_cast<std::uint32_t>(data_bytes_), 4);
        if (std::fseek(file, 40, SEEK_SET) != 0) throw write_failure(errno);
        put(size.data(), size.size());
        if (std::fsetpos(file, &end) != 0 || std::fflush(file) != 0) throw write_failure(errno);
    }

    std::string path_;
    unsigned channels_;
    unsigned bytes_per_sample_;
    std::vector<unsigned char> buffer_;
    std::uint64_t data_bytes_ = 0;
    std::uint64_t frames_ = 0;
    wav_file_detail::file_handle file_;
};

} // namespace audiocast_examples
