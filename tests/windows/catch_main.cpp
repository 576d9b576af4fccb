// Catch2's main for a Windows cross build (tests/CMakeLists.txt): the
// build machine's libCatch2WithMain.a cannot be linked into a Windows program.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
