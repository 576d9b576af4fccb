// audiocast — configuration macros.
//
// One prefix, a fixed vocabulary: AUDIOCAST_HAS_X says a feature is present,
// AUDIOCAST_NO_X lets a user switch one off, AUDIOCAST_ASSERT checks an invariant.
#pragma once

#include <cassert>

// audiocast uses standalone Asio, never Boost.Asio.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE 1
#endif

#define AUDIOCAST_VERSION_MAJOR 0
#define AUDIOCAST_VERSION_MINOR 1
#define AUDIOCAST_VERSION_PATCH 0
#define AUDIOCAST_VERSION                                                                          \
    (AUDIOCAST_VERSION_MAJOR * 10000 + AUDIOCAST_VERSION_MINOR * 100 + AUDIOCAST_VERSION_PATCH)

// The network transport needs Asio; the sans-I/O core and the loopback stream do not.
#if !defined(AUDIOCAST_NO_ASIO) && defined(__has_include)
#if __has_include(<asio.hpp>)
#define AUDIOCAST_HAS_ASIO 1
#endif
#endif
#ifndef AUDIOCAST_HAS_ASIO
#define AUDIOCAST_HAS_ASIO 0
#endif

#ifndef AUDIOCAST_ASSERT
#define AUDIOCAST_ASSERT(expr) assert(expr)
#endif
