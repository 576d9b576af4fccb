# Cross-compiling audiocast for 64-bit Windows with MinGW-w64 (Debian:
# g++-mingw-w64-x86-64-posix, the POSIX thread model, which std::thread needs).
#
#   cmake --preset windows-cross        (CMakePresets.json), or
#   cmake -B build/windows -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake
#
# The executables run here under wine (tests/windows/wine-run, the emulator
# CTest puts in front of each test command).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_audiocast_mingw x86_64-w64-mingw32)
find_program(CMAKE_C_COMPILER NAMES ${_audiocast_mingw}-gcc-posix ${_audiocast_mingw}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${_audiocast_mingw}-g++-posix ${_audiocast_mingw}-g++ REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${_audiocast_mingw}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${_audiocast_mingw})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The C++ runtime and winpthreads linked in, so that an .exe runs without
# MinGW's DLLs beside it (under wine, or copied to a Windows machine).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/../../tests/windows/wine-run")

# pkg-config finds Windows libraries only (none from Debian today, so the
# Opus codec and SRTP are left out of this build, and say so).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/${_audiocast_mingw}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
