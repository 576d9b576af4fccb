// decode_order: a stateful codec's packets decoded in stream order, what
// went missing repaired by the codec, reordering not mistaken for loss. A
// scripted codec logs what the receiver asked of it, so each case states
// the decoder's whole history.
#include <audiocast/session/decode_order.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace {

constexpr std::size_t packet_frames = 240; // 5 ms at 48 kHz
constexpr std::size_t step = 120;          // the codec's repair step, 2.5 ms

/// Mono; a payload is {id, frames / step}; id 0xff cannot be decoded. Every
/// sample a call writes is the id decoded, -1 for concealment and -2 for
/// recovery, so a test sees which call made which frame. Its state is the
/// last id decoded (-1 after a reset). Copies (the receiver's spare) log with
/// "spare " in front, and say the state a decode starts from: the spare must
/// start from the decoder's.
class scripted_codec {
public:
    explicit scripted_codec(std::shared_ptr<std::vector<std::string>> log) : log_{std::move(log)} {}
    scripted_codec(const scripted_codec& other) : log_{other.log_}, spare_{true}, last_{other.last_}
    {}
    scripted_codec& operator=(const scripted_codec& other)
    {
        log_ = other.log_;
        spare_ = true;
        last_ = other.last_;
        return *this;
    }

    [[nodiscard]] const audiocast::audio_format& format() const noexcept { return format_; }
    [[nodiscard]] std::chrono::nanoseconds packet_time() const noexcept
    {
        return std::chrono::milliseconds{5};
    }
    [[nodiscard]] std::size_t frames_per_packet() const noexcept { return packet_frames; }
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return 2; }
    [[nodiscard]] static std::size_t max_packet_frames() noexcept { return 5760; }
    [[nodiscard]] std::size_t frames_in(std::span<const std::byte> p) const noexcept
    {
        return p.size() == 2 ? std::to_integer<std::size_t>(p[1]) * step : 0;
    }
    std::size_t decode(std::span<const std::byte> p, std::span<std::int32_t> out) noexcept
    {
        const auto id = std::to_integer<int>(p[0]);
        if (id == 0xff || frames_in(p) > out.size()) {
            say("refuse " + std::to_string(id));
            return 0;
        }
        say("decode " + std::to_string(id) +
            (spare_ ? " after " + std::to_string(last_) : std::string{}));
        last_ = id;
        std::fill_n(out.begin(), frames_in(p), id);
        return frames_in(p);
    }
    std::size_t conceal(std::size_t frames, std::span<std::int32_t> out) noexcept
    {
        frames = std::min(frames, out.size()) / step * step;
        say("conceal " + std::to_string(frames));
        std::fill_n(out.begin(), frames, -1);
        return frames;
    }
    std::size_t recover(std::span<const std::byte> next, std::size_t frames,
                        std::span<std::int32_t> out) noexcept
    {
        say("recover " + std::to_string(frames) + " from " +
            std::to_string(std::to_integer<int>(next[0])));
        std::fill_n(out.begin(), frames, -2);
        return frames;
    }
    [[nodiscard]] std::size_t repair_step() const noexcept { return step; }
    void reset_decoder() noexcept
    {
        say("reset");
        last_ = -1;
    }

    template <class T, class Sink>
    void write(std::span<const T>, Sink&&)
    {}
    template <class Sink>
    void flush(Sink&&)
    {}
    [[nodiscard]] std::size_t pending_frames() const noexcept { return 0; }
    void reset() noexcept {}

private:
    void say(std::string what) noexcept
    {
        try {
            log_->push_back((spare_ ? "spare " : "") + std::move(what));
        } catch (...) {
        }
    }

    audiocast::audio_format format_{audiocast::sample_format::opus, 48'000, 1};
    std::shared_ptr<std::vector<std::string>> log_;
    bool spare_ = false;
    int last_ = -1;
};

static_assert(audiocast::loss_repairing_codec<scripted_codec>);
static_assert(!audiocast::loss_repairing_codec<audiocast::pcm_codec>);

using placing = audiocast::playout_timeline::placing;

struct placed {
    std::uint64_t position;
    std::size_t frames;
    int value; // the first sample
    bool operator==(const placed&) const = default;
};

std::ostream& operator<<(std::ostream& os, const placed& p)
{
    return os << "{" << p.position << ", " << p.frames << ", " << p.value << "}";
}

/// A receiver's decode_order with the scripted codec, its repair limit at
/// 40 ms, keeping up to `kept` packets after gaps, and what it emitted and filled.
struct receiver {
    explicit receiver(std::size_t kept = 32) : order{codec, 5760, 64, 1920, kept} {}

    std::shared_ptr<std::vector<std::string>> log = std::make_shared<std::vector<std::string>>();
    scripted_codec codec{log};
    audiocast::decode_order<scripted_codec> order;
    std::vector<placed> emitted;
    std::vector<placed> filled;

    void packet(int id, std::uint64_t position, placing how = placing::other, bool marker = false,
                std::size_t frames = packet_frames)
    {
        const std::array<std::byte, 2> payload{std::byte(id), std::byte(frames / step)};
        order.on_packet(
            codec, payload, position, how, marker,
            [&](std::span<const std::int32_t> s) {
                emitted.push_back({position, s.size(), s.empty() ? 0 : s[0]});
            },
            [&](std::uint64_t at, std::span<const std::int32_t> s) {
                filled.push_back({at, s.size(), s.empty() ? 0 : s[0]});
            });
    }
    // Packet n of a stream of 240-frame packets from position 0.
    void nth(int n, placing how = placing::other)
    {
        packet(n, std::uint64_t(n) * packet_frames, how);
    }
    void playing_until(std::uint64_t position)
    {
        order.repair_if_due(codec, position,
                            [&](std::uint64_t at, std::span<const std::int32_t> s) {
                                filled.push_back({at, s.size(), s.empty() ? 0 : s[0]});
                            });
    }
    std::vector<std::string> history()
    {
        auto h = *log;
        log->clear();
        return h;
    }
};

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("decode_order: packets in order are decoded once each, in order, nothing repaired")
{
    receiver r;
    r.nth(0, placing::start);
    for (int n = 1; n < 4; ++n)
        r.nth(n, placing::continues);
    CHECK(r.history() == strings{"reset", "decode 0", "decode 1", "decode 2", "decode 3"});
    CHECK(r.emitted ==
          std::vector<placed>{{0, 240, 0}, {240, 240, 1}, {480, 240, 2}, {720, 240, 3}});
    CHECK(r.filled.empty());
    CHECK(r.order.next() == 960);
    CHECK(r.order.repaired_frames() == 0);
}

TEST_CASE("decode_order: a packet after a gap is heard at once, from a copy of the decoder that "
          "repaired the gap, and the gap waits")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(2);
    CHECK(r.history() ==
          strings{"reset", "decode 0", "spare recover 240 from 2", "spare decode 2 after 0"});
    CHECK(r.emitted.back() == placed{480, 240, 2});
    CHECK(r.filled.empty());
    CHECK(r.order.waiting());
    CHECK(r.order.next() == 240); // the decoder itself has not moved
}

TEST_CASE("decode_order: the missing packet arriving after the next is decoded in order and "
          "nothing is repaired or late")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(2);
    r.history();
    r.nth(1);
    // 2's frames are stored already: decoding it again only moves the decoder on.
    CHECK(r.history() == strings{"decode 1", "decode 2"});
    CHECK(r.emitted.back() == placed{240, 240, 1});
    CHECK(r.emitted.size() == 3);
    CHECK(r.filled.empty());
    CHECK_FALSE(r.order.waiting());
    CHECK(r.order.next() == 720);
    CHECK(r.order.late() == 0);
    CHECK(r.order.repaired_frames() == 0);
}

TEST_CASE("decode_order: packets after the gap are heard through the spare too, and the gap waits "
          "until playout reaches it: the decoder repairs it from the first kept packet's FEC, "
          "then moves past the kept packets")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(2);
    r.history();
    r.nth(3, placing::continues);
    r.nth(4, placing::continues);
    CHECK(r.history() == strings{"spare decode 3 after 2", "spare decode 4 after 3"});
    CHECK(r.emitted.back() == placed{960, 240, 4});
    CHECK(r.order.kept() == 3);
    CHECK(r.filled.empty());
    r.playing_until(241);
    CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3", "decode 4"});
    CHECK(r.filled == std::vector<placed>{{240, 240, -2}});
    CHECK_FALSE(r.order.waiting());
    CHECK(r.order.next() == 1200);
    CHECK(r.order.repaired_frames() == 240);

    // The lost packet, now: the decoder is past it.
    r.nth(1);
    CHECK(r.history().empty());
    CHECK(r.order.late() == 1);
    CHECK(r.emitted.size() == 4);
}

TEST_CASE("decode_order: a longer gap is concealed but for its last packet, which comes from the "
          "FEC of the packet after it")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(4); // 1, 2 and 3 missing: 720 frames
    r.nth(5, placing::continues);
    r.playing_until(241);
    CHECK(r.history() == strings{"reset", "decode 0", "spare conceal 480",
                                 "spare recover 240 from 4", "spare decode 4 after 0",
                                 "spare decode 5 after 4", "conceal 480", "recover 240 from 4",
                                 "decode 4", "decode 5"});
    CHECK(r.filled == std::vector<placed>{{240, 480, -1}, {720, 240, -2}});
    CHECK(r.order.repaired_frames() == 720);
}

TEST_CASE("decode_order: a gap still open when playout reaches it is repaired then, not before")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(2);
    r.history();
    r.playing_until(240); // up to the gap, not into it
    CHECK(r.history().empty());
    CHECK(r.order.waiting());
    r.playing_until(241);
    CHECK(r.history() == strings{"recover 240 from 2", "decode 2"});
    CHECK(r.filled == std::vector<placed>{{240, 240, -2}});
    CHECK_FALSE(r.order.waiting());
    r.nth(3, placing::continues);
    CHECK(r.history() == strings{"decode 3"});
}

// A FEC layer may rebuild k+1 (alone in its row) before k (which waits for
// its column): k is not lost for that.
TEST_CASE("decode_order: a later packet of a gap, before the gap's first, is kept unheard, and the "
          "first still decodes in order when it comes")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(3); // 1 and 2 missing
    r.history();
    r.nth(2);
    CHECK(r.history().empty()); // the spare has passed it
    CHECK(r.order.next() == 240);
    r.nth(1);
    CHECK(r.history() == strings{"decode 1", "decode 2", "decode 3"});
    CHECK(r.emitted.back() == placed{240, 240, 1});
    CHECK(r.filled == std::vector<placed>{{480, 240, 2}});
    CHECK(r.order.late() == 0);
    CHECK(r.order.next() == 960);

    // Or playout reaches 1 first: lost, repaired from 2's FEC, and 2 stored.
    receiver q;
    q.nth(0, placing::start);
    q.nth(3);
    q.nth(2);
    q.history();
    q.playing_until(241);
    CHECK(q.history() == strings{"recover 240 from 2", "decode 2", "decode 3"});
    CHECK(q.filled == std::vector<placed>{{240, 240, -2}, {480, 240, 2}});
    q.nth(1);
    CHECK(q.order.late() == 1);
}

TEST_CASE("decode_order: a gap longer than the repair limit starts the decoder afresh once it is "
          "settled, and one before a talkspurt is not repaired")
{
    SECTION("a long gap")
    {
        receiver r;
        r.nth(0, placing::start);
        r.nth(10); // 2160 frames missing, over the 1920 limit: heard afresh
        CHECK(r.history() ==
              strings{"reset", "decode 0", "spare reset", "spare decode 10 after -1"});
        CHECK(r.order.waiting());
        CHECK(r.order.next() == 240);
        r.nth(11, placing::continues);
        CHECK(r.history() == strings{"spare decode 11 after 10"});
        r.playing_until(241);
        CHECK(r.history() == strings{"reset", "decode 10", "decode 11"});
        CHECK(r.filled.empty());
        CHECK(r.order.next() == 2880);
    }
    SECTION("a long gap whose packets come in time after all")
    {
        receiver r;
        r.nth(0, placing::start);
        r.nth(10);
        r.history();
        for (int n = 1; n < 10; ++n)
            r.nth(n);
        CHECK(r.history() == strings{"decode 1", "decode 2", "decode 3", "decode 4", "decode 5",
                                     "decode 6", "decode 7", "decode 8", "decode 9", "decode 10"});
        CHECK(r.order.late() == 0);
        CHECK(r.order.next() == 2640);
    }
    SECTION("a talkspurt")
    {
        receiver r;
        r.nth(0, placing::start);
        r.packet(3, 720, placing::other, true);
        CHECK(r.history() == strings{"reset", "decode 0", "spare decode 3 after 0"});
        r.nth(4, placing::continues);
        r.playing_until(241);
        CHECK(r.history() == strings{"spare decode 4 after 3", "decode 3", "decode 4"});
        CHECK(r.filled.empty());
        CHECK(r.order.repaired_frames() == 0);
    }
}

TEST_CASE("decode_order: a packet after a gap that the codec refuses changes nothing: the gap's "
          "packets still play in order")
{
    // A forger's packet far ahead, or 160 ms on, with a body libopus refuses.
    for (const std::uint64_t at : {std::uint64_t{720}, std::uint64_t{4800}}) {
        receiver r;
        r.nth(0, placing::start);
        r.packet(0xff, at);
        CHECK(r.order.malformed() == 1);
        CHECK_FALSE(r.order.waiting());
        CHECK(r.order.next() == 240);
        r.history();
        r.nth(1, placing::continues);
        r.nth(2, placing::continues);
        CHECK(r.history() == strings{"decode 1", "decode 2"});
        CHECK(r.order.late() == 0);
        CHECK(r.filled.empty());
    }
}

TEST_CASE("decode_order: a new source, a follow-on or a jump settles what waits, then restarts the "
          "decoder")
{
    for (const placing how : {placing::start, placing::follows, placing::jump}) {
        receiver r;
        r.nth(0, placing::start);
        for (const int n : {2, 3, 5, 6, 4}) // 4 comes into a gap the spare has passed
            r.nth(n);
        r.history();
        r.packet(9, 50'000, how);
        // A jump or a follow-on still plays what was buffered before it: the
        // gaps are repaired and 4 is stored.
        CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3", "decode 4",
                                     "decode 5", "decode 6", "reset", "decode 9"});
        CHECK(r.filled == std::vector<placed>{{240, 240, -2}, {960, 240, 4}});
        CHECK_FALSE(r.order.waiting());
        CHECK(r.order.next() == 50'240);
        CHECK(r.order.late() == 0);
    }
    // A new source (the session's begin_source) settles the same way.
    receiver r;
    r.nth(0, placing::start);
    for (const int n : {2, 3, 5, 6, 4})
        r.nth(n);
    r.history();
    r.order.reset(r.codec, [&](std::uint64_t at, std::span<const std::int32_t> s) {
        r.filled.push_back({at, s.size(), s[0]});
    });
    CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3", "decode 4",
                                 "decode 5", "decode 6"});
    CHECK(r.filled == std::vector<placed>{{240, 240, -2}, {960, 240, 4}});
    r.packet(9, 50'000, placing::other);
    CHECK(r.history() == strings{"reset", "decode 9"});
}

TEST_CASE("decode_order: an undecodable packet is counted and its frames are lost, and one that "
          "restarts the stream still lets playout start there")
{
    receiver r;
    r.packet(0xff, 0, placing::start);
    CHECK(r.emitted == std::vector<placed>{{0, 0, 0}});
    CHECK(r.order.malformed() == 1);
    CHECK(r.order.next() == 0);
    r.history();

    r.nth(1, placing::continues); // the 240 frames before are a gap now
    CHECK(r.history() == strings{"spare recover 240 from 1", "spare decode 1 after -1"});
    r.nth(2, placing::continues);
    r.playing_until(1);
    CHECK(r.history() ==
          strings{"spare decode 2 after 1", "recover 240 from 1", "decode 1", "decode 2"});
    CHECK(r.order.repaired_frames() == 240);

    r.packet(0xff, 720, placing::continues); // forged next packet, undecodable
    CHECK(r.order.malformed() == 2);
    CHECK(r.order.next() == 720);
    CHECK_FALSE(r.order.waiting());
}

TEST_CASE("decode_order: a packet that overlaps the decoder's place is decoded in order")
{
    // GStreamer's first Opus packet lies 312 frames (its pre-skip) early, so
    // the next one begins before it ends; whole steps here.
    receiver r;
    r.nth(0, placing::start);
    r.packet(1, 120, placing::continues);
    CHECK(r.history() == strings{"reset", "decode 0", "decode 1"});
    CHECK(r.order.next() == 360);
    CHECK(r.order.late() == 0);
}

TEST_CASE("decode_order: a packet overlapping the kept one is late, and the decoder's place only "
          "moves forward")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(2);
    r.history();
    r.packet(7, 400); // between the gap and the kept packet's frames
    CHECK(r.order.late() == 1);
    CHECK(r.history().empty());
    r.nth(1);
    CHECK(r.order.next() == 720);
    r.packet(8, 100); // behind the decoder
    CHECK(r.order.late() == 2);
    CHECK(r.order.next() == 720);
}

// A packet a FEC layer rebuilds comes when its row or column is complete:
// up to ten packets later for a 10 x 10 matrix's rows, up to a hundred for
// its columns. Before, the second packet after a gap took it for lost and
// the rebuilt one came too late (tests/e2e/lossy.py opus_through_parity_fec
// counted half the rebuilt packets late).
TEST_CASE("decode_order: a packet rebuilt ten packets after its gap is decoded in order, and "
          "nothing is repaired or late")
{
    receiver r;
    r.nth(0, placing::start);
    for (int n = 2; n <= 11; ++n)
        r.nth(n, n == 2 ? placing::other : placing::continues);
    CHECK(r.order.kept() == 10);
    r.history();
    r.nth(1);
    CHECK(r.history() == strings{"decode 1", "decode 2", "decode 3", "decode 4", "decode 5",
                                 "decode 6", "decode 7", "decode 8", "decode 9", "decode 10",
                                 "decode 11"});
    CHECK(r.emitted.back() == placed{240, 240, 1});
    CHECK(r.filled.empty());
    CHECK(r.order.late() == 0);
    CHECK(r.order.repaired_frames() == 0);
    CHECK(r.order.next() == 12 * 240);
    CHECK_FALSE(r.order.waiting());
}

TEST_CASE("decode_order: with two gaps, a packet of the later one is kept unheard and stored when "
          "the decoder reaches it")
{
    SECTION("the first gap fills")
    {
        receiver r;
        r.nth(0, placing::start);
        for (const int n : {2, 3, 5, 6})
            r.nth(n);
        CHECK(r.history() == strings{"reset", "decode 0", "spare recover 240 from 2",
                                     "spare decode 2 after 0", "spare decode 3 after 2",
                                     "spare recover 240 from 5", "spare decode 5 after 3",
                                     "spare decode 6 after 5"});
        r.nth(4); // the spare has passed it: kept, not heard
        CHECK(r.history().empty());
        CHECK(r.order.kept() == 5);
        r.nth(1);
        CHECK(r.history() ==
              strings{"decode 1", "decode 2", "decode 3", "decode 4", "decode 5", "decode 6"});
        CHECK(r.filled == std::vector<placed>{{960, 240, 4}});
        CHECK(r.order.late() == 0);
        CHECK(r.order.repaired_frames() == 0);
        CHECK(r.order.next() == 7 * 240);
    }
    SECTION("playout reaches the first gap, and the later one fills")
    {
        receiver r;
        r.nth(0, placing::start);
        for (const int n : {2, 3, 5, 6})
            r.nth(n);
        r.history();
        r.playing_until(241);
        CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3"});
        CHECK(r.order.next() == 960);
        CHECK(r.order.kept() == 2);
        r.nth(4);
        CHECK(r.history() == strings{"decode 4", "decode 5", "decode 6"});
        CHECK(r.emitted.back() == placed{960, 240, 4});
        CHECK(r.filled == std::vector<placed>{{240, 240, -2}});
        CHECK(r.order.late() == 0);
        CHECK(r.order.repaired_frames() == 240);
    }
    SECTION("playout reaches both gaps")
    {
        receiver r;
        r.nth(0, placing::start);
        for (const int n : {2, 3, 5, 6})
            r.nth(n);
        r.history();
        r.playing_until(961);
        CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3",
                                     "recover 240 from 5", "decode 5", "decode 6"});
        CHECK(r.filled == std::vector<placed>{{240, 240, -2}, {960, 240, -2}});
        CHECK_FALSE(r.order.waiting());
        r.nth(4);
        r.nth(1);
        CHECK(r.order.late() == 2);
    }
}

TEST_CASE("decode_order: when the kept packets fill their store, the oldest gap is taken for lost")
{
    receiver r{3};
    r.nth(0, placing::start);
    for (int n = 2; n <= 4; ++n)
        r.nth(n);
    r.history();
    r.nth(5, placing::continues);
    CHECK(r.history() ==
          strings{"recover 240 from 2", "decode 2", "decode 3", "decode 4", "decode 5"});
    CHECK(r.emitted.back() == placed{1200, 240, 5});
    CHECK_FALSE(r.order.waiting());
    // A packet after a third gap, with the store full of packets after two:
    // the first gap goes, to make room.
    for (const int n : {7, 9, 10})
        r.nth(n);
    r.history();
    r.nth(12);
    CHECK(r.history() == strings{"recover 240 from 7", "decode 7", "spare recover 240 from 12",
                                 "spare decode 12 after 10"});
    CHECK(r.order.kept() == 3);
    CHECK(r.order.next() == 8 * 240);
}

// The store is reused as packets leave it from the front while later ones
// come: a stream that always has a gap waiting never empties it, and its
// payloads are moved together to make room (here about every thousand packets).
TEST_CASE("decode_order: a stream with a gap always waiting decodes every packet once, in order, "
          "for 3000 packets")
{
    receiver r;
    const auto id = [](int n) { return n % 200; };
    strings expected{"reset", "decode 0"};
    r.packet(id(0), 0, placing::start);
    for (int n = 1; n < 3000; ++n) {
        if (n % 5 == 1) {
            expected.push_back("recover 240 from " + std::to_string(id(n + 1)));
            continue; // lost
        }
        expected.push_back("decode " + std::to_string(id(n)));
        r.packet(id(n), std::uint64_t(n) * packet_frames);
        if (n > 8) r.playing_until(std::uint64_t(n - 8) * packet_frames + 1);
        CHECK(r.order.kept() <= 8);
    }
    r.playing_until(3000 * packet_frames);
    strings decoder;
    for (const auto& line : r.history())
        if (!line.starts_with("spare")) decoder.push_back(line);
    CHECK(decoder == expected);
    CHECK(r.order.late() == 0);
    CHECK(r.order.malformed() == 0);
    CHECK_FALSE(r.order.waiting());
}

TEST_CASE("decode_order: a packet the codec refuses while packets are kept costs only itself")
{
    SECTION("in the gap at the decoder's place")
    {
        receiver r;
        r.nth(0, placing::start);
        r.nth(3);
        r.packet(0xff, 480); // forged where 2 belongs
        r.history();
        r.nth(1);
        CHECK(r.history() == strings{"decode 1", "refuse 255"});
        CHECK(r.order.late() == 0);
        CHECK(r.order.malformed() == 1);
        CHECK(r.order.next() == 480);
        r.nth(2); // the real 2, still in time
        CHECK(r.history() == strings{"decode 2", "decode 3"});
        CHECK(r.order.late() == 0);
    }
    SECTION("after the packets heard: the spare repairs its frames once")
    {
        receiver r;
        r.nth(0, placing::start);
        r.nth(2);
        r.history();
        r.packet(0xff, 960); // 3 missing, and a forgery where 4 belongs
        r.nth(4);
        CHECK(r.history() ==
              strings{"spare recover 240 from 255", "spare refuse 255", "spare decode 4 after 2"});
        r.nth(3); // the spare has passed it: kept unheard
        r.playing_until(241);
        CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3", "decode 4"});
        CHECK(r.filled == std::vector<placed>{{240, 240, -2}, {720, 240, 3}});
        CHECK(r.order.malformed() == 1);
        CHECK(r.order.late() == 0);
    }
    SECTION("far ahead: the packets after it are stored when the decoder reaches them")
    {
        receiver r;
        r.nth(0, placing::start);
        r.nth(2);
        r.history();
        r.packet(0xff, 4800);
        r.nth(3);
        CHECK(r.history() == strings{"spare reset", "spare refuse 255"});
        r.playing_until(241);
        CHECK(r.history() == strings{"recover 240 from 2", "decode 2", "decode 3"});
        CHECK(r.filled == std::vector<placed>{{240, 240, -2}, {720, 240, 3}});
        CHECK_FALSE(r.order.waiting());
    }
}

TEST_CASE("decode_order: a packet sent before the first one placed, just below position 0 where "
          "positions wrap, lies behind the decoder, not far ahead")
{
    receiver r;
    r.nth(0, placing::start);
    r.nth(3);
    r.history();
    r.packet(7, ~std::uint64_t{0} - 119, placing::other, false, 480); // ends at 360
    CHECK(r.history() == strings{"decode 7"}); // it overlaps the decoder's place
    CHECK(r.order.next() == 360);
    r.packet(8, ~std::uint64_t{0} - 479); // wholly before 0
    CHECK(r.order.late() == 1);
    r.nth(1);
    r.nth(2);
    CHECK(r.history() == strings{"decode 1", "decode 2", "decode 3"});
    CHECK(r.order.next() == 960);
}
