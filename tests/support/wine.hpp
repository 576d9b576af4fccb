// Whether a test runs under wine, and which: some things wine does not do as
// Windows does, and a test says so rather than fail on them (each place names
// what wine lacks). Always false outside Windows builds.
#pragma once

#if defined(_WIN32)
#include <windows.h>
#endif

#include <string>

namespace audiocast_test {

/// Wine's version ("8.0") when running under wine; empty otherwise.
inline std::string wine_version()
{
#if defined(_WIN32)
    const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    if (ntdll == nullptr) return {};
    using version_function = const char* (*)();
    // wine_get_version is wine's own export: Windows's ntdll has none.
    const auto get = reinterpret_cast<version_function>(
        reinterpret_cast<void*>(::GetProcAddress(ntdll, "wine_get_version")));
    return get != nullptr ? std::string{get()} : std::string{};
#else
    return {};
#endif
}

} // namespace audiocast_test
