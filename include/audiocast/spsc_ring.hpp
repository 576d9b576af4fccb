// audiocast — a real-time-safe queue for the application's own hand-offs.
//
// The stream already meets the audio thread in preallocated memory (pull(),
// push()). An application that also moves audio off the audio thread (to
// record what pull() played, to meter it, to feed a file writer) needs the
// same kind of queue: one producer, one consumer, no lock, no allocation and
// no system call after construction. This is the one the stream uses.
//
//     audiocast::spsc_ring<std::int32_t> recorded{2 * 48'000 * 2};  // 2 s of stereo
//     // audio callback:  stream.pull(out); recorded.push(out);
//     // writer thread:   n = recorded.pop(block); file.write(block.first(n));
//
// The threading contract is at the top of detail/spsc_ring.hpp: one producer
// thread and one consumer thread at a time; size_approx() and capacity() from
// any thread.
#pragma once

#include <audiocast/detail/spsc_ring.hpp>

namespace audiocast {

/// A lock-free single-producer single-consumer queue of trivially copyable
/// values with a capacity fixed at construction (rounded up to a power of two).
using detail::spsc_ring;

} // namespace audiocast
