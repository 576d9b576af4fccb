// Residual loss after SMPTE 2022-1 parity FEC (docs/architecture.md, Packet
// protection): the share of media packets its decoder cannot rebuild when
// every datagram, media and repair alike, is lost at random (1, 5, 10 %) or
// in bursts of 2-5 datagrams (at 1 and 5 %), for matrices of 10-40 %
// overhead, each the mean over ten seeds of 100,000 packets, with the worst
// seed. For comparison, the same overhead as a Reed-Solomon block (an MDS
// code, as Roc Toolkit's default FEC is) computed exactly for random loss:
// it rebuilds a block whenever no more packets are lost than it has repairs.
//
//   audiocast-bench-fec-residual [packets-per-seed]    (default 100000)
//
// Seeded: a run repeats exactly. It measures the code, not this machine, so it
// prints no time; the README's table comes from it.
#include "../tests/support/fec_simulation.hpp"

#include <audiocast/protection/parity_fec_config.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

struct matrix {
    unsigned columns, rows;
    bool row_repair, column_repair;
    const char* name;
};

audiocast::parity_fec_config config_of(const matrix& m)
{
    audiocast::parity_fec_config c;
    c.columns = static_cast<std::uint8_t>(m.columns);
    c.rows = static_cast<std::uint8_t>(m.rows);
    c.row_repair = m.row_repair;
    c.column_repair = m.column_repair;
    return c;
}

/// Residual loss of an MDS block code of k source and r repair packets at
/// independent loss p: a lost source packet stays lost when more than r of
/// the k + r are lost.
double mds_residual(unsigned k, unsigned r, double p)
{
    const unsigned n = k + r;
    double lost_source = 0;
    for (unsigned j = r + 1; j <= n; ++j) {
        const double ways =
            std::exp(std::lgamma(n + 1.0) - std::lgamma(j + 1.0) - std::lgamma(n - j + 1.0));
        const double pj = ways * std::pow(p, j) * std::pow(1 - p, n - j);
        lost_source += pj * j * k / n; // the lost source packets, on average
    }
    return lost_source / k;
}

} // namespace

int main(int argc, char** argv)
{
    const auto packets = static_cast<std::uint32_t>(argc > 1 ? std::atol(argv[1]) : 100'000);
    const std::vector<matrix> matrices{
        {10, 10, true, true, "10 x 10, rows and columns"},
        {5, 5, true, true, "5 x 5, rows and columns"},
        {10, 5, false, true, "10 x 5, columns only"},
        {10, 20, true, true, "10 x 20, rows and columns"},
        {20, 5, true, true, "20 x 5, rows and columns"},
    };
    struct channel {
        double loss;
        unsigned burst;
    };
    const std::vector<channel> channels{{0.01, 1}, {0.05, 1}, {0.10, 1}, {0.01, 2},
                                        {0.01, 3}, {0.01, 4}, {0.01, 5}, {0.05, 2},
                                        {0.05, 3}, {0.05, 4}, {0.05, 5}};
    std::printf("residual loss, %% of media packets (mean of 10 seeds x %u packets; worst seed)\n",
                packets);
    std::printf("%-28s %8s", "matrix", "overhead");
    for (const auto& ch : channels) {
        char head[32];
        if (ch.burst == 1)
            std::snprintf(head, sizeof head, "%.0f%%", ch.loss * 100);
        else
            std::snprintf(head, sizeof head, "%.0f%% b%u", ch.loss * 100, ch.burst);
        std::printf(" %15s", head);
    }
    std::printf("\n");
    for (const auto& m : matrices) {
        const auto c = config_of(m);
        std::printf("%-28s %7.1f%%", m.name, audiocast::overhead(c) * 100);
        for (const auto& ch : channels) {
            double sum = 0;
            double worst = 0;
            for (std::uint64_t seed = 1; seed <= 10; ++seed) {
                const double r = audiocast_test::residual_loss(c, ch.loss, ch.burst, seed, packets);
                sum += r;
                worst = std::max(worst, r);
            }
            char cell[32];
            std::snprintf(cell, sizeof cell, "%.3f (%.3f)", sum / 10 * 100, worst * 100);
            std::printf(" %15s", cell);
        }
        std::printf("\n");
    }
    std::printf(
        "\nReed-Solomon blocks at random loss (exact; Roc Toolkit's default is 18 + 10):\n");
    std::printf("%-28s %8s %15s %15s %15s\n", "block", "overhead", "1%", "5%", "10%");
    for (const auto& [k, r] :
         std::vector<std::pair<unsigned, unsigned>>{{20, 4}, {10, 2}, {18, 10}}) {
        std::printf("%2u source + %2u repair %7s %7.1f%%", k, r, "", 100.0 * r / k);
        for (double p : {0.01, 0.05, 0.10})
            std::printf(" %15.4f", mds_residual(k, r, p) * 100);
        std::printf("\n");
    }
}
