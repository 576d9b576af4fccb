// audiocast — multicast_stream: the real network and real time.
//
// The alias joins the Asio UDP multicast transport, the PCM codec and the
// steady clock: multicast_stream::sender and multicast_stream::receiver are
// the two ends. stream_runner (transport/stream_runner.hpp, included here)
// drives either on an Asio executor. A complete sender and receiver are in
// the README, "On a real network".
#pragma once

#include <audiocast/detail/config.hpp>

#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/clock/steady_clock.hpp>
#include <audiocast/codec/pcm.hpp>
#include <audiocast/transport/stream_runner.hpp>
#include <audiocast/transport/stream_thread.hpp>
#include <audiocast/transport/udp_multicast.hpp>

namespace audiocast {

/// A stream on real UDP multicast, paced by the steady clock.
using multicast_stream = basic_multicast_stream<udp_multicast_transport, pcm_codec, steady_clock>;
using multicast_sender = multicast_stream::sender;
using multicast_receiver = multicast_stream::receiver;

} // namespace audiocast
