// audiocast — loopback_stream: a whole stream with no network and no real time.
//
// The in-memory loopback transport, the PCM codec and the manual clock: the
// composition the library's own tests use, and that users can use to test
// code built on audiocast deterministically (seeded loss, reordering and
// delay; time moves only when the test advances it).
//
//   audiocast::manual_clock clock;
//   audiocast::loopback_group group{clock};
//   audiocast::loopback_stream::sender tx{group.join(), audiocast::pcm_codec{}, clock};
//   audiocast::loopback_stream::receiver rx{group.join(), audiocast::pcm_codec{}, clock};
//
// It is the one public header that brings in the test transport and clock
// (docs/architecture.md, Layers); basic_multicast_stream.hpp does not.
#pragma once

#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/transport/loopback.hpp>

namespace audiocast {

/// In-memory transport, PCM codec, manual clock.
using loopback_stream = basic_multicast_stream<loopback_transport, pcm_codec, manual_clock>;
using loopback_sender = loopback_stream::sender;
using loopback_receiver = loopback_stream::receiver;

} // namespace audiocast
