// audiocast — an in-memory multicast group with seeded, reproducible faults.
//
// loopback_transport is the `transport` policy (requirements in concepts.hpp)
// that tests use instead of a UDP socket. Every member of a loopback_group
// receives what any other member sends, after the group's delay, jitter, loss,
// duplication and reordering, all drawn from seeded generators, so a test that
// fails fails the same way on every run and every platform. Time comes from a
// manual_clock: a datagram sent with a 5 ms delay is received only once the
// test advances the clock by 5 ms. Nothing sleeps, nothing touches the network.
//
//     using namespace std::chrono_literals;
//     audiocast::manual_clock clock;
//     audiocast::loopback_group group{clock, {.loss = 0.01, .delay = 5ms}, /*seed*/ 42};
//     auto sender = group.join();
//     auto listener = group.join();
//
//     sender.send(packet);                   // reaches listener, not sender
//     std::array<std::byte, 1500> buffer;
//     std::error_code ec;
//     listener.receive(buffer, ec);          // ec == std::errc::operation_would_block
//     clock.advance(5ms);
//     auto n = listener.receive(buffer, ec); // the packet, unless the 1 % loss took it
//
// Addresses: a member sends from 127.0.0.1 and a port of its own (49152 + its
// join index) unless it joined with an address (join(endpoint)), and
// receive(buffer, origin, ec) reports it, as the UDP transport does; a test
// plays a host that forges another's address with send_as(). Nothing here is a
// socket: the addresses are labels.
//
// Reproducibility: the same seed and the same sequence of calls (joins, sends,
// receives, clock steps, set_faults) give the same deliveries on every
// platform. The generators are the library's own (xoshiro256** seeded by
// splitmix64) and never std:: distributions, whose output is left to each
// standard library. Each member draws from its own stream, seeded from (seed,
// the member's join index), so adding a member does not change what the
// others see. For every datagram a member is offered it makes the same five
// draws in the same order (burst state, loss, duplicate, reorder, jitter),
// whatever the fault settings, so changing one probability does not reshuffle
// the outcomes of the others.
//
// Single-threaded: a group, its members and its clock are used from one
// thread. No locks are taken; concurrent use is a data race.
#pragma once

#include <audiocast/clock/manual_clock.hpp>
#include <audiocast/detail/config.hpp>
#include <audiocast/endpoint.hpp>
#include <audiocast/error.hpp>
#include <audiocast/time.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace audiocast {

/// What the network does to datagrams on the way from a sender to each
/// member. Each member's path has its own draws and its own burst state, so
/// one datagram may be lost for one listener and arrive twice at another.
///
/// Out-of-range values are clamped when the group takes them: probabilities
/// to [0, 1] (NaN to 0), durations to >= 0. faults() returns the clamped values.
struct network_faults {
    /// Independent loss probability per datagram, on top of burst loss.
    double loss = 0.0;
    /// Burst loss (Gilbert-Elliott): per datagram, the probability of entering
    /// the bad state; every datagram that arrives in the bad state is lost.
    double burst_start = 0.0;
    /// Per datagram in the bad state, the probability of leaving it; bursts
    /// last 1 / burst_end datagrams on average. 0 makes the first burst endless.
    double burst_end = 1.0;
    /// Probability that a delivered datagram arrives twice; the copy is due
    /// `duplicate_delay` after the original.
    double duplicate = 0.0;
    std::chrono::nanoseconds duplicate_delay{std::chrono::microseconds{100}};
    /// Probability that a delivered datagram is held back by `reorder_delay`,
    /// so that datagrams sent within that time overtake it. Whether one really
    /// is overtaken depends on the send rate: a datagram held 3 ms is overtaken
    /// only by datagrams sent less than 3 ms after it.
    double reorder = 0.0;
    std::chrono::nanoseconds reorder_delay{std::chrono::milliseconds{3}};
    /// Fixed one-way delay. Zero makes a datagram receivable at the same now().
    std::chrono::nanoseconds delay{};
    /// Extra delay per datagram, uniform in [0, jitter] (whole nanoseconds).
    /// Datagrams are received in order of due time, so jitter larger than the
    /// send interval reorders them, as it does on a real network.
    std::chrono::nanoseconds jitter{};
};

/// What one member has seen. `sent` counts what this member sent; the others
/// count what happened on the path to this member. Every datagram offered to a
/// member ends up in exactly one of: lost, overflowed, delivered or still
/// pending(), and each duplicate adds one more. `reordered` counts datagrams
/// held back, whether or not a later one overtook them.
struct loopback_counters {
    std::uint64_t sent = 0;       ///< datagrams this member's send() accepted
    std::uint64_t delivered = 0;  ///< datagrams receive() handed over, copies included
    std::uint64_t lost = 0;       ///< dropped by loss or burst loss
    std::uint64_t duplicated = 0; ///< extra copies made
    std::uint64_t reordered = 0;  ///< held back by reorder_delay
    std::uint64_t overflowed = 0; ///< dropped because the queue held queue_capacity datagrams

    friend constexpr bool operator==(const loopback_counters&, const loopback_counters&) = default;
};

class loopback_group;

namespace detail {

/// splitmix64's output function; also the seeder xoshiro's authors recommend.
constexpr std::uint64_t loopback_splitmix64(std::uint64_t& state) noexcept
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, and fully
/// specified, so every platform draws the same numbers from the same seed.
class loopback_random {
public:
    /// Stream `stream` of generator `seed`: the odd multiplier spreads stream
    /// numbers over the whole seed space so neighbouring streams do not start
    /// on overlapping splitmix64 sequences.
    constexpr loopback_random(std::uint64_t seed, std::uint64_t stream) noexcept
    {
        std::uint64_t sm = seed ^ ((stream + 1) * 0xD1B54A32D192ED03u);
        for (auto& word : s_)
            word = loopback_splitmix64(sm);
        if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1; // all-zero state is a fixed point
    }

    constexpr std::uint64_t next() noexcept
    {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform in [0, 1): the top 53 bits scaled by 2^-53, exact in IEEE double.
    constexpr double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    /// Uniform in [0, n]. The modulo bias is below n / 2^64, far under anything
    /// a test can measure, and integer arithmetic keeps it identical everywhere.
    constexpr std::uint64_t up_to(std::uint64_t n) noexcept
    {
        return n == std::numeric_limits<std::uint64_t>::max() ? next() : next() % (n + 1);
    }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept
    {
        return (x << k) | (x >> (64 - k));
    }

    std::uint64_t s_[4]{};
};

inline network_faults loopback_clamped(network_faults f) noexcept
{
    // `p >= 0.0` is false for NaN, which therefore becomes 0.
    const auto probability = [](double p) { return p >= 0.0 ? std::min(p, 1.0) : 0.0; };
    const auto duration = [](std::chrono::nanoseconds d) {
        return std::max(d, std::chrono::nanoseconds::zero());
    };
    f.loss = probability(f.loss);
    f.burst_start = probability(f.burst_start);
    f.burst_end = probability(f.burst_end);
    f.duplicate = probability(f.duplicate);
    f.reorder = probability(f.reorder);
    f.duplicate_delay = duration(f.duplicate_delay);
    f.reorder_delay = duration(f.reorder_delay);
    f.delay = duration(f.delay);
    f.jitter = duration(f.jitter);
    return f;
}

/// One queued datagram: its bytes live in the member's buffer pool.
struct loopback_entry {
    time_point due;
    std::uint64_t order; ///< arrival order at this member; breaks ties in due
    std::size_t buffer;  ///< index into loopback_member::buffers
    endpoint from;       ///< the sender's endpoint, as it claimed
};

/// A member's receive side: its generator, burst state, counters and queue.
///
/// The queue is a binary min-heap on (due, order) over a vector, and the bytes
/// sit in a pool of vectors that are reused, never freed, so once the queue
/// has been as full and the datagrams as large as they will get, sending and
/// receiving allocate nothing. Invariant: free.capacity() >= buffers.size(),
/// so returning a buffer to the pool cannot allocate either.
struct loopback_member {
    loopback_member(std::uint64_t seed, std::uint64_t index, const endpoint& address) noexcept
        : random(seed, index), local(address)
    {}

    loopback_random random;
    endpoint local; ///< what receivers see as this member's source
    bool joined = true;
    bool in_burst = false;
    std::uint64_t next_order = 0;
    loopback_counters counters;
    std::vector<loopback_entry> queue;
    std::vector<std::vector<std::byte>> buffers;
    std::vector<std::size_t> free;

    /// std::push_heap builds a max-heap; "later" as less puts the earliest on top.
    static bool later(const loopback_entry& a, const loopback_entry& b) noexcept
    {
        return a.due != b.due ? a.due > b.due : a.order > b.order;
    }

    void offer(std::span<const std::byte> datagram, const endpoint& from, time_point now,
               const network_faults& f, std::size_t capacity)
    {
        // Always the same five draws, in this order (see the header comment).
        const double burst_draw = random.uniform();
        const double loss_draw = random.uniform();
        const double duplicate_draw = random.uniform();
        const double reorder_draw = random.uniform();
        const auto jitter = std::chrono::nanoseconds{static_cast<std::chrono::nanoseconds::rep>(
            random.up_to(static_cast<std::uint64_t>(f.jitter.count())))};

        in_burst = in_burst ? !(burst_draw < f.burst_end) : burst_draw < f.burst_start;
        if (in_burst || loss_draw < f.loss) {
            ++counters.lost;
            return;
        }
        auto due = now + f.delay + jitter;
        if (reorder_draw < f.reorder) {
            due += f.reorder_delay;
            ++counters.reordered;
        }
        enqueue(datagram, from, due, capacity);
        if (duplicate_draw < f.duplicate) {
            ++counters.duplicated;
            enqueue(datagram, from, due + f.duplicate_delay, capacity);
        }
    }

    /// Preallocates room for `datagrams` datagrams of up to `bytes` bytes, so a
    /// stream's ordinary traffic allocates nothing even before warm-up.
    void reserve(std::size_t datagrams, std::size_t bytes)
    {
        queue.reserve(datagrams);
        free.reserve(datagrams);
        buffers.reserve(datagrams);
        while (buffers.size() < datagrams) {
            buffers.emplace_back().reserve(bytes);
            free.push_back(buffers.size() - 1);
        }
    }

    void enqueue(std::span<const std::byte> datagram, const endpoint& from, time_point due,
                 std::size_t capacity)
    {
        // A full socket buffer drops what arrives, not what it holds.
        if (queue.size() >= capacity) {
            ++counters.overflowed;
            return;
        }
        if (free.empty()) {
            buffers.emplace_back();
            free.reserve(buffers.size());
            free.push_back(buffers.size() - 1);
        }
        // Ordered so that a throw (bad_alloc while warming up) leaves the queue
        // and the pool as they were.
        const std::size_t index = free.back();
        buffers[index].assign(datagram.begin(), datagram.end());
        queue.push_back(loopback_entry{due, next_order, index, from});
        free.pop_back();
        ++next_order;
        std::push_heap(queue.begin(), queue.end(), later);
    }

    /// Copies the earliest due datagram into `out`; `size` gets its full size.
    std::size_t take(std::span<std::byte> out, time_point now, std::size_t& size,
                     datagram_origin& origin, std::error_code& ec) noexcept
    {
        size = 0;
        if (queue.empty() || queue.front().due > now) {
            ec = std::make_error_code(std::errc::operation_would_block);
            return 0;
        }
        std::pop_heap(queue.begin(), queue.end(), later);
        const std::size_t index = queue.back().buffer;
        origin.from = queue.back().from;
        origin.waited = now - queue.back().due;
        queue.pop_back();
        const auto& bytes = buffers[index];
        size = bytes.size();
        const std::size_t copied = std::min(size, out.size());
        std::copy_n(bytes.begin(), copied, out.begin());
        free.push_back(index);
        ++counters.delivered;
        if (copied < size) ec = std::make_error_code(std::errc::message_size);
        return copied;
    }

    /// Drops the queue and gives its memory back; the counters stay readable.
    void release() noexcept
    {
        std::vector<loopback_entry>().swap(queue);
        std::vector<std::vector<std::byte>>().swap(buffers);
        std::vector<std::size_t>().swap(free);
    }
};

struct loopback_state {
    loopback_state(manual_clock c, const network_faults& f, std::uint64_t s, std::size_t cap)
        : clock(std::move(c)), faults(loopback_clamped(f)), seed(s), capacity(cap)
    {}

    manual_clock clock;
    network_faults faults;
    std::uint64_t seed;
    std::size_t capacity;
    std::uint64_t next_index = 0;
    std::vector<loopback_member*> members; ///< joined members, in join order

    void send_from(loopback_member& sender, const endpoint& from,
                   std::span<const std::byte> datagram)
    {
        const time_point now = clock.now();
        ++sender.counters.sent;
        for (loopback_member* m : members)
            if (m != &sender) m->offer(datagram, from, now, faults, capacity);
    }
};

} // namespace detail

/// One member of a loopback_group: sends to every other member and receives
/// what they send. Models `transport` (concepts.hpp). Get one from
/// loopback_group::join().
///
/// Movable, not copyable: a member is one queue. A moved-from transport is in
/// no group; send() and receive() on it report std::errc::bad_file_descriptor,
/// as Asio does for a closed socket. A member keeps the group's state alive,
/// so it stays usable after its loopback_group is destroyed.
///
/// After leave() (and on destruction) the member receives nothing more; its
/// queued datagrams are dropped and their memory freed. Like a socket that
/// has dropped its multicast membership, it can still send to the group.
class loopback_transport {
public:
    /// The largest UDP payload over IPv4: 65535 - 8 (UDP) - 20 (IP).
    static constexpr std::size_t max_datagram_size = 65'507;

    loopback_transport(loopback_transport&&) noexcept = default;

    loopback_transport& operator=(loopback_transport&& other) noexcept
    {
        if (this != &other) {
            leave();
            state_ = std::move(other.state_);
            member_ = std::move(other.member_);
        }
        return *this;
    }

    loopback_transport(const loopback_transport&) = delete;
    loopback_transport& operator=(const loopback_transport&) = delete;

    ~loopback_transport() { leave(); }

    /// Offers a copy of `datagram` to every other member, each with its own
    /// fault draws; it is due at now() + delay + jitter (+ reorder_delay).
    /// A datagram over max_datagram_size sets std::errc::message_size and
    /// reaches no one. Never blocks. May allocate until the members' queues
    /// have warmed up (see loopback_group); may then throw std::bad_alloc.
    void send(std::span<const std::byte> datagram, std::error_code& ec)
    {
        send_as(local_endpoint(), datagram, ec);
    }

    /// As send(), but the datagram claims to come from `from`: a host that
    /// forges another's address and port, as any host on a LAN can. For tests.
    void send_as(const endpoint& from, std::span<const std::byte> datagram, std::error_code& ec)
    {
        ec.clear();
        if (!state_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return;
        }
        if (datagram.size() > max_datagram_size) {
            ec = std::make_error_code(std::errc::message_size);
            return;
        }
        state_->send_from(*member_, from, datagram);
    }

    /// The address and port the other members see this one send from.
    [[nodiscard]] endpoint local_endpoint() const noexcept
    {
        return member_ ? member_->local : endpoint{};
    }

    /// Throwing form of send(): std::system_error names the size and the limit.
    void send(std::span<const std::byte> datagram)
    {
        std::error_code ec;
        send(datagram, ec);
        if (ec == std::errc::message_size)
            detail::throw_error(ec, "loopback datagram of " + std::to_string(datagram.size()) +
                                        " bytes exceeds the " + std::to_string(max_datagram_size) +
                                        "-byte UDP payload limit");
        if (ec) throw_not_in_group(ec);
    }

    /// Copies the oldest due datagram (due <= the clock's now(); ties in send
    /// order) into `buffer` and returns its size. With none due: returns 0 and
    /// sets std::errc::operation_would_block. A datagram larger than `buffer`
    /// is cut to fit, consumed, counted as delivered, and sets
    /// std::errc::message_size. Never allocates.
    std::size_t receive(std::span<std::byte> buffer, std::error_code& ec) noexcept
    {
        std::size_t size = 0;
        datagram_origin origin;
        return receive(buffer, size, origin, ec);
    }

    /// As receive(buffer, ec), and tells where the datagram came from and how
    /// long it was due before this call (origin_reporting_receiver).
    std::size_t receive(std::span<std::byte> buffer, datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        std::size_t size = 0;
        return receive(buffer, size, origin, ec);
    }

    /// Throwing form of receive(), with Asio's semantics: every error throws
    /// std::system_error, operation_would_block included, so poll with the
    /// error_code form. On message_size the truncated bytes are in `buffer`
    /// and what() gives the datagram's full size.
    std::size_t receive(std::span<std::byte> buffer)
    {
        std::error_code ec;
        std::size_t size = 0;
        datagram_origin origin;
        const std::size_t n = receive(buffer, size, origin, ec);
        if (ec == std::errc::operation_would_block)
            detail::throw_error(ec, "no loopback datagram due yet (" + std::to_string(pending()) +
                                        " queued)");
        if (ec == std::errc::message_size)
            detail::throw_error(ec, "loopback datagram of " + std::to_string(size) +
                                        " bytes truncated to the " + std::to_string(buffer.size()) +
                                        "-byte buffer");
        if (ec) throw_not_in_group(ec);
        return n;
    }

    /// Datagrams queued for this member, due or not.
    [[nodiscard]] std::size_t pending() const noexcept
    {
        return member_ ? member_->queue.size() : 0;
    }

    /// When the earliest queued datagram is due, so a driver can advance the
    /// clock straight to it; empty when nothing is queued.
    [[nodiscard]] std::optional<time_point> next_due() const noexcept
    {
        if (!member_ || member_->queue.empty()) return std::nullopt;
        return member_->queue.front().due;
    }

    /// What this member sent and what happened on the path to it; see
    /// loopback_counters. Still readable after leave().
    [[nodiscard]] const loopback_counters& counters() const noexcept
    {
        static constexpr loopback_counters none{};
        return member_ ? member_->counters : none;
    }

    /// Stops receiving: drops the queue and frees it. Idempotent.
    void leave() noexcept
    {
        if (!state_ || !member_->joined) return;
        auto& members = state_->members;
        members.erase(std::find(members.begin(), members.end(), member_.get()));
        member_->joined = false;
        member_->release();
    }

private:
    friend class loopback_group;

    loopback_transport(std::shared_ptr<detail::loopback_state> state,
                       std::unique_ptr<detail::loopback_member> member) noexcept
        : state_(std::move(state)), member_(std::move(member))
    {}

    std::size_t receive(std::span<std::byte> buffer, std::size_t& size, datagram_origin& origin,
                        std::error_code& ec) noexcept
    {
        ec.clear();
        size = 0;
        origin = {};
        if (!state_) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return 0;
        }
        return member_->take(buffer, state_->clock.now(), size, origin, ec);
    }

    [[noreturn]] static void throw_not_in_group(std::error_code ec)
    {
        detail::throw_error(ec, "loopback_transport is in no group (it was moved from)");
    }

    std::shared_ptr<detail::loopback_state> state_;
    std::unique_ptr<detail::loopback_member> member_;
};

/// An in-memory multicast group: the network that loopback_transports share.
///
/// It holds the clock that decides when datagrams are due, the fault settings,
/// the seed and the per-member queue capacity. A queue holds at most
/// `queue_capacity` datagrams, in flight (not yet due) or waiting, like a
/// socket's receive buffer; a datagram that finds it full is dropped and
/// counted as overflowed. That bounds memory at queue_capacity datagrams per
/// member, and it means that once a member's queue has once been full of the
/// largest datagrams the test sends, nothing more is allocated per datagram.
///
/// Neither copyable nor movable: members point into it. It may be destroyed
/// before its members; they keep the shared state alive and keep working.
class loopback_group {
public:
    explicit loopback_group(manual_clock clock, network_faults faults = {}, std::uint64_t seed = 1,
                            std::size_t queue_capacity = 4096)
        : state_(std::make_shared<detail::loopback_state>(std::move(clock), faults, seed,
                                                          queue_capacity))
    {}

    loopback_group(const loopback_group&) = delete;
    loopback_group& operator=(const loopback_group&) = delete;
    ~loopback_group() = default;

    /// A new member, receiving from now on. Its random stream is fixed by the
    /// seed and how many members joined before it (members that left count).
    /// Others see it send from 127.0.0.1, port 49152 + that count, as if every
    /// member were a socket of one host.
    [[nodiscard]] loopback_transport join()
    {
        return join(endpoint::ipv4({127, 0, 0, 1},
                                   static_cast<std::uint16_t>(49'152 + state_->next_index % 16'384)));
    }

    /// A new member that others see send from `address`: another host.
    [[nodiscard]] loopback_transport join(const endpoint& address)
    {
        auto member = std::make_unique<detail::loopback_member>(state_->seed, state_->next_index,
                                                                address);
        // Enough for 64 packets of a 1500-byte MTU in flight: 100 ms of 1 ms packets.
        member->reserve(std::min<std::size_t>(state_->capacity, 64), 1500);
        state_->members.push_back(member.get());
        ++state_->next_index;
        return loopback_transport{state_, std::move(member)};
    }

    /// Replaces the fault settings for datagrams sent from now on; those
    /// already queued keep their due times. A member in a burst stays in it
    /// until the new burst_end lets it out.
    void set_faults(const network_faults& faults) noexcept
    {
        state_->faults = detail::loopback_clamped(faults);
    }

    [[nodiscard]] const network_faults& faults() const noexcept { return state_->faults; }

    /// Members that have joined and not left.
    [[nodiscard]] std::size_t members() const noexcept { return state_->members.size(); }

    /// A copy of the group's clock; it shares the group's time.
    [[nodiscard]] manual_clock clock() const { return state_->clock; }

private:
    std::shared_ptr<detail::loopback_state> state_;
};

} // namespace audiocast
