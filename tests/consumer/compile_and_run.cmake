# Builds main.cpp with the compiler alone, then runs it: the "-I include" way
# of using audiocast, with no CMake package involved.
#
#   cmake -DCXX=<compiler> -DSOURCE=<main.cpp> -DOUTPUT=<binary>
#         [-DFLAGS="<space-separated flags>"]
#         [-DPKG_CONFIG=<pkg-config> -DPKG_CONFIG_PATH=<dir>]   # adds `pkg-config --cflags --libs audiocast`
#         -P compile_and_run.cmake
foreach(var IN ITEMS CXX SOURCE OUTPUT)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "compile_and_run.cmake: -D${var}=... is required")
    endif()
endforeach()

separate_arguments(flags UNIX_COMMAND "${FLAGS}")

if(DEFINED PKG_CONFIG)
    set(ENV{PKG_CONFIG_PATH} "${PKG_CONFIG_PATH}")
    execute_process(
        COMMAND "${PKG_CONFIG}" --cflags --libs audiocast
        OUTPUT_VARIABLE pc_flags
        OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "pkg-config --cflags --libs audiocast failed (PKG_CONFIG_PATH=${PKG_CONFIG_PATH})")
    endif()
    message(STATUS "pkg-config --cflags --libs audiocast: ${pc_flags}")
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    list(APPEND flags ${pc_flags})
endif()

get_filename_component(output_dir "${OUTPUT}" DIRECTORY)
file(MAKE_DIRECTORY "${output_dir}")
list(JOIN flags " " shown)
message(STATUS "${CXX} ${shown} ${SOURCE} -o ${OUTPUT}")
execute_process(COMMAND "${CXX}" ${flags} "${SOURCE}" -o "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} failed")
endif()

execute_process(COMMAND "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${OUTPUT} exited with ${rc}")
endif()
