# FindAsio
# --------
#
# Finds standalone Asio (header-only; Debian: libasio-dev), not Boost.Asio.
#
# Imported target:
#   Asio::Asio     INTERFACE target: Asio's include directory, ASIO_STANDALONE,
#                  and Threads::Threads (Asio's io_context needs the thread library).
#
# Result variables:
#   Asio_FOUND, Asio_VERSION (from ASIO_VERSION in asio/version.hpp), Asio_INCLUDE_DIRS.
#
# Cache variable:
#   Asio_INCLUDE_DIR  the directory holding asio.hpp; set it to use another Asio.

find_path(Asio_INCLUDE_DIR
    NAMES asio.hpp
    DOC "Directory holding standalone Asio's asio.hpp")
mark_as_advanced(Asio_INCLUDE_DIR)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
    # "#define ASIO_VERSION 102201 // 1.22.1": major * 100000 + minor * 100 + patch.
    file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
        REGEX "^#define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
    if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
        set(_asio_version "${CMAKE_MATCH_1}")
        math(EXPR _asio_major "${_asio_version} / 100000")
        math(EXPR _asio_minor "${_asio_version} / 100 % 1000")
        math(EXPR _asio_patch "${_asio_version} % 100")
        set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    endif()
    unset(_asio_version_line)
    unset(_asio_version)
    unset(_asio_major)
    unset(_asio_minor)
    unset(_asio_patch)
endif()

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads QUIET)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio
    REQUIRED_VARS Asio_INCLUDE_DIR Threads_FOUND
    VERSION_VAR Asio_VERSION
    REASON_FAILURE_MESSAGE "audiocast needs standalone Asio (Debian: apt-get install libasio-dev)")

if(Asio_FOUND)
    set(Asio_INCLUDE_DIRS "${Asio_INCLUDE_DIR}")
    if(NOT TARGET Asio::Asio)
        add_library(Asio::Asio INTERFACE IMPORTED)
        set_target_properties(Asio::Asio PROPERTIES
            INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
            INTERFACE_COMPILE_DEFINITIONS ASIO_STANDALONE
            INTERFACE_LINK_LIBRARIES Threads::Threads)
        if(WIN32)
            # Winsock, and Windows 10 as the oldest target (Asio asks for one);
            # the transport's timer (winmm) and SRTP key generation (bcrypt).
            set_property(TARGET Asio::Asio APPEND PROPERTY
                INTERFACE_COMPILE_DEFINITIONS _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN NOMINMAX)
            set_property(TARGET Asio::Asio APPEND PROPERTY
                INTERFACE_LINK_LIBRARIES ws2_32 mswsock iphlpapi winmm bcrypt)
        endif()
    endif()
endif()
