// libFuzzer target: the examples' WAV reader (examples/support/wav_file.hpp)
// on any file, through fmemopen. Refusing it with an example_error is fine;
// what it accepts must read as many frames as frames() says, as int32 and,
// after a rewind, as float, each float in [-1, 1].
#include "support/wav_file.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

namespace {

template <class Sample>
std::uint64_t read_to_the_end(audiocast_examples::wav_file_reader& reader)
{
    // An odd number of frames a call, so that reads end inside the buffer.
    std::vector<Sample> block(reader.channels() * 37);
    std::uint64_t frames = 0;
    for (;;) {
        const std::size_t got = reader.read(block);
        if (got == 0) return frames;
        frames += got;
        if (frames > reader.frames()) {
            std::fprintf(stderr, "wav_file_reader: read %llu frames of %llu\n",
                         static_cast<unsigned long long>(frames),
                         static_cast<unsigned long long>(reader.frames()));
            std::abort();
        }
        if constexpr (std::is_same_v<Sample, float>) {
            for (std::size_t i = 0; i < got * reader.channels(); ++i)
                if (!(block[i] >= -1.0f && block[i] <= 1.0f)) {
                    std::fprintf(stderr, "wav_file_reader: a float sample of %g\n",
                                 static_cast<double>(block[i]));
                    std::abort();
                }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;                           // fmemopen takes no empty buffer
    std::vector<std::uint8_t> copy(data, data + size); // fmemopen wants it writable
    std::FILE* file = fmemopen(copy.data(), copy.size(), "rb");
    if (file == nullptr) return 0;
    try {
        audiocast_examples::wav_file_reader reader{file, "fuzz input"};
        // The whole input is there to read: every frame frames() counts.
        if (read_to_the_end<std::int32_t>(reader) != reader.frames()) std::abort();
        reader.rewind();
        if (read_to_the_end<float>(reader) != reader.frames()) std::abort();
    } catch (const audiocast_examples::example_error&) {
    }
    return 0;
}
