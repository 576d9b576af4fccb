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
#include <audiocast/transport/detail/loopback_member.hpp>
#include <audiocast/transport/network_faults.hpp>

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

class loopback_group;

namespace detail {

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
        return join(endpoint::ipv4(
            {127, 0, 0, 1}, static_cast<std::uint16_t>(49'152 + state_->next_index % 16'384)));
    }

    /// A new member that others see send from `address`: another host.
    [[nodiscard]] loopback_transport join(const endpoint& address)
    {
        auto member =
            std::make_unique<detail::loopback_member>(state_->seed, state_->next_index, address);
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
