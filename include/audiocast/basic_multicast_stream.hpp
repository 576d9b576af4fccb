// audiocast — basic_multicast_stream: a transport, a codec and a clock
// composed at compile time into the two ends of a stream.
//
//   using stream = audiocast::basic_multicast_stream<Transport, Codec, Clock>;
//   stream::sender tx{media, control, codec, clock};    // write(), poll(), leave()
//   stream::receiver rx{media, control, codec, clock};  // poll(), pull(), stats()
//
// `Transport` moves datagrams (the `transport` concept), `Codec` turns frames
// into payloads and back (the `codec` concept), `Clock` tells monotonic and
// wall time (the `clock` concept); concepts.hpp documents each. The role is
// part of the type: a sender has no pull() and a receiver no write(), so
// using the wrong one does not compile, and nothing on the audio thread can
// fail for it. stream/sender_stream.hpp and stream/receiver_stream.hpp hold
// the two ends, with their threading rules.
//
// multicast_stream.hpp names the real composition (UDP multicast, PCM, the
// steady clock) and loopback_stream.hpp the one for tests (the in-memory
// transport and the manual clock); this header includes no transport and no
// clock but the default one.
#pragma once

#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/stream/receiver_stream.hpp>
#include <audiocast/stream/sender_stream.hpp>

namespace audiocast {

/// The two ends of a stream over three policies (see the file comment).
template <class Transport, class Codec = pcm_codec, class Clock = steady_clock>
struct basic_multicast_stream {
    using transport_type = Transport;
    using codec_type = Codec;
    using clock_type = Clock;
    using sender = basic_multicast_sender<Transport, Codec, Clock>;
    using receiver = basic_multicast_receiver<Transport, Codec, Clock>;
};

} // namespace audiocast
