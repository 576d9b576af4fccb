// audiocast — the whole public API in one include.
//
// Includes every public header. Those that need Asio are included only when it
// is available (AUDIOCAST_HAS_ASIO, detail/config.hpp), so the sans-I/O core and
// the loopback stream work without it. Keep the Asio block last: a header first
// met inside it would be missing from the single header when Asio is absent.
#pragma once

#include <audiocast/detail/config.hpp>

#include <audiocast/concepts.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/format.hpp>
#include <audiocast/time.hpp>

#include <audiocast/wire/ntp.hpp>
#include <audiocast/wire/parity_fec.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>

#include <audiocast/codec/pcm.hpp>

#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/clock/steady_clock.hpp>

#include <audiocast/session/announcement_directory.hpp>
#include <audiocast/session/clock_offset.hpp>
#include <audiocast/session/jitter_buffer.hpp>
#include <audiocast/session/receiver_session.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/session/sequence_tracker.hpp>
#include <audiocast/session/stats.hpp>

#include <audiocast/spsc_ring.hpp>

#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <audiocast/transport/loopback.hpp>
#include <audiocast/protection/parity_fec_config.hpp>
#include <audiocast/protection/parity_fec_decoder.hpp>
#include <audiocast/protection/parity_fec_encoder.hpp>
#include <audiocast/protection/parity_fec_transport.hpp>
#include <audiocast/protection/srtp_rollover_search.hpp>

#include <audiocast/basic_multicast_stream.hpp>
#include <audiocast/loopback_stream.hpp>

#if AUDIOCAST_HAS_ASIO
#include <audiocast/multicast_stream.hpp>
#include <audiocast/transport/stream_runner.hpp>
#include <audiocast/transport/stream_thread.hpp>
#include <audiocast/transport/udp_multicast.hpp>
#endif
