// The network suites' main: Catch2's, after the guard that keeps every socket
// inside a private network namespace (support/private_namespace.hpp).
#define CATCH_CONFIG_RUNNER
#include "../support/private_namespace.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <string>

int main(int argc, char* argv[])
{
    Catch::Session session;
    if (const int status = session.applyCommandLine(argc, argv); status != 0) return status;
    const auto& config = session.configData();
    const bool listing = config.listTests || config.listTestNamesOnly || config.listTags ||
                         config.listReporters || config.showHelp;
    if (!listing) {
        // Before any socket exists: never on the host's interfaces.
        if (const std::string why = audiocast_test::namespace_refusal(); !why.empty()) {
            std::cout << "SKIP: every network test: " << why << '\n';
            return 77;
        }
        if (const std::string why = audiocast_test::ipv6_refusal(); !why.empty())
            std::cout << "note: IPv6 tests will be skipped: " << why << '\n';
    }
    return session.run();
}
