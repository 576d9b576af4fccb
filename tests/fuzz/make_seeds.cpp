// Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/, from
// the library's own writers, so that each target starts from valid input and
// mutates from there. Run by scripts/fuzz --seeds; the output is checked in.
//
//   make_seeds DIR
#include <audiocast/codec/pcm.hpp>
#include <audiocast/protection/parity_fec_encoder.hpp>
#include <audiocast/session/sender_session.hpp>
#include <audiocast/wire/rtcp.hpp>
#include <audiocast/wire/rtp.hpp>
#include <audiocast/wire/sap.hpp>
#include <audiocast/wire/sdp.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using bytes = std::vector<std::byte>;
namespace fs = std::filesystem;

void save(const fs::path& dir, const std::string& name, std::span<const std::byte> data)
{
    fs::create_directories(dir);
    std::ofstream out{dir / name, std::ios::binary};
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    if (!out) throw std::runtime_error{"cannot write " + (dir / name).string()};
}

void save_text(const fs::path& dir, const std::string& name, std::string_view text)
{
    std::error_code ec;
    (void)audiocast::parse_sdp(text, ec); // a seed the parser refuses teaches it little
    if (ec) throw std::runtime_error{"seed " + name + " is not valid SDP: " + ec.message()};
    save(dir, name, std::as_bytes(std::span{text.data(), text.size()}));
}

/// The sender's first `count` packets of a tone, 5 ms apart.
std::vector<bytes> packets(audiocast::pcm_config config, int count)
{
    audiocast::sender_session<audiocast::pcm_codec> tx{audiocast::pcm_codec{config}};
    audiocast::time_point now{1000s};
    const audiocast::wall_time wall{1'800'000'000s};
    std::vector<std::int16_t> frames(tx.max_packet_bytes()); // more than a packet's samples
    for (std::size_t i = 0; i < frames.size(); ++i)
        frames[i] = static_cast<std::int16_t>(i * 97);
    std::vector<bytes> out;
    for (int i = 0; i < count; ++i) {
        const std::size_t samples = tx.codec().frames_per_packet() * config.format.channels;
        tx.write(std::span<const std::int16_t>{frames.data(), samples}, now);
        bytes p(tx.max_packet_bytes());
        p.resize(tx.next_packet(now, wall + (now - audiocast::time_point{1000s}), p));
        out.push_back(p);
        now += config.packet_time;
    }
    return out;
}

bytes sender_report(bool with_bye)
{
    bytes out(512);
    audiocast::rtcp::compound_writer w{out};
    const audiocast::rtcp::report_block block{.ssrc = 0x1234'5678};
    w.sender_report(0xABCD'EF01,
                    {.ntp = audiocast::ntp::timestamp{3'900'000'000u, 0x8000'0000u},
                     .rtp_timestamp = 48'000,
                     .packet_count = 200,
                     .octet_count = 192'000},
                    std::span{&block, 1});
    w.cname(0xABCD'EF01, "audiocast@127.0.0.1");
    if (with_bye) {
        const std::uint32_t self = 0xABCD'EF01;
        w.bye(std::span{&self, 1}, "server stopped");
    }
    out.resize(w.size());
    return out;
}

bytes receiver_report()
{
    bytes out(512);
    audiocast::rtcp::compound_writer w{out};
    const audiocast::rtcp::report_block block{.ssrc = 0xABCD'EF01,
                                              .fraction_lost = 3,
                                              .cumulative_lost = 7,
                                              .highest_sequence = 70'000,
                                              .jitter = 12,
                                              .last_sr = 0x1234,
                                              .delay_since_last_sr = 0x10};
    w.receiver_report(0x0102'0304, std::span{&block, 1});
    w.cname(0x0102'0304, "listener@127.0.0.1");
    out.resize(w.size());
    return out;
}

/// A listener's report with its Receiver Reference Time (RFC 3611 §4.4), and
/// the sender's report with the DLRR that answers two listeners (§4.5).
bytes round_trip_reports(bool answer)
{
    bytes out(512);
    audiocast::rtcp::compound_writer w{out};
    if (answer) {
        w.sender_report(0xABCD'EF01, {.ntp = audiocast::ntp::timestamp{3'900'000'001u, 0},
                                      .rtp_timestamp = 96'000});
        const std::array<audiocast::rtcp::dlrr_item, 2> items{
            {{0x0102'0304, 0x7080'4000, 0x0000'0800}, {0x0506'0708, 0x7080'5000, 0x0000'0400}}};
        w.delay_since_last_rr(0xABCD'EF01, items);
    } else {
        w.receiver_report(0x0102'0304);
        w.reference_time(0x0102'0304, audiocast::ntp::timestamp{3'900'000'000u, 0x4000'0000u});
    }
    w.cname(answer ? 0xABCD'EF01 : 0x0102'0304, "audiocast@127.0.0.1");
    out.resize(w.size());
    return out;
}

/// The receiver_session target's records: step (µs), length (top bit: RTCP;
/// bit 14: from a second host), bytes.
void record(bytes& out, std::uint16_t step_us, std::span<const std::byte> datagram, bool control,
            bool stranger = false)
{
    const auto length = static_cast<std::uint16_t>(datagram.size() | (control ? 0x8000u : 0u) |
                                                   (stranger ? 0x4000u : 0u));
    for (const std::uint16_t v : {step_us, length}) {
        out.push_back(static_cast<std::byte>(v & 0xFF));
        out.push_back(static_cast<std::byte>(v >> 8));
    }
    out.insert(out.end(), datagram.begin(), datagram.end());
}

} // namespace

int main(int argc, char* argv[])
try {
    if (argc != 2) {
        std::cerr << "usage: make_seeds DIR\n";
        return 2;
    }
    const fs::path root = argv[1];
    const audiocast::pcm_config l16{};
    const audiocast::pcm_config l24{.format = {audiocast::sample_format::l24, 44'100, 1},
                                    .packet_time = 1ms};
    const std::vector<bytes> stream = packets(l16, 40);
    const std::vector<bytes> stream24 = packets(l24, 3);

    // rtp_parse: packets with and without the send-time extension.
    save(root / "rtp_parse", "l16_48k_stereo", stream[0]);
    save(root / "rtp_parse", "l24_44k1_mono", stream24[0]);
    {
        audiocast::rtp::header h;
        h.payload_type = 96;
        h.sequence = 65'535;
        h.timestamp = 0xFFFF'FF00;
        h.ssrc = 1;
        const bytes payload(16, std::byte{0x11});
        bytes out(64);
        out.resize(audiocast::rtp::serialize(h, payload, out));
        save(root / "rtp_parse", "no_extension", out);
    }

    // receiver_session: a stream with pulls, an SR, a reordered pair, a BYE.
    {
        bytes in;
        const std::array<std::byte, 0> none{};
        for (std::size_t i = 0; i < stream.size(); ++i) {
            const std::size_t k = i == 20 ? 21 : i == 21 ? 20 : i; // one pair swapped
            record(in, 5000, stream[k], false);
            record(in, 0, none, false); // a pull
            if (i == 10) record(in, 10, sender_report(false), true);
        }
        record(in, 100, sender_report(true), true);
        record(in, 0, none, false);
        save(root / "receiver_session", "stream_with_reports", in);
    }
    // receiver_session: a second host replays the stream's own packets,
    // shifted, before and while the stream plays, and says BYE for it.
    {
        bytes in;
        const std::array<std::byte, 0> none{};
        for (std::size_t i = 0; i < stream.size(); ++i) {
            record(in, 1000, stream[(i + 7) % stream.size()], false, true);
            if (i >= 3) record(in, 4000, stream[i - 3], false);
            record(in, 0, none, false);
            if (i == 20) record(in, 10, sender_report(true), true, true);
        }
        save(root / "receiver_session", "stranger_replays_the_stream", in);
    }

    // parity_fec_decoder: a 4 x 3 matrix's media and repairs as they leave,
    // with a packet of a row, a whole row and a square of four missing; and
    // one told to follow the sender, with another host's copies of its
    // repairs (junk where the XOR was) ahead of each of its own.
    {
        audiocast::parity_fec_config fec;
        fec.columns = 4;
        fec.rows = 3;
        fec.max_datagram = 600;
        const audiocast::pcm_config small{.packet_time = 1ms};
        const std::vector<bytes> media = packets(small, 36);
        const auto add = [](bytes& in, bool repair, std::span<const std::byte> d) {
            in.push_back(std::byte{repair ? std::uint8_t{1} : std::uint8_t{0}});
            in.push_back(std::byte(static_cast<unsigned char>(d.size() >> 8)));
            in.push_back(std::byte(static_cast<unsigned char>(d.size() & 0xFF)));
            in.insert(in.end(), d.begin(), d.end());
        };
        for (const auto& [name, missing] :
             std::vector<std::pair<std::string, std::vector<std::size_t>>>{
                 {"one_in_a_row", {5}},
                 {"a_whole_row", {16, 17, 18, 19}},
                 {"a_square_of_four", {24, 25, 28, 29}}}) {
            audiocast::parity_fec_encoder e{fec};
            bytes in;
            for (std::size_t i = 0; i < media.size(); ++i) {
                if (std::find(missing.begin(), missing.end(), i) == missing.end())
                    add(in, false, media[i]);
                e.protect(media[i], [&](bool, std::span<const std::byte> r) { add(in, true, r); });
            }
            save(root / "parity_fec_decoder", name, in);
        }
        audiocast::parity_fec_encoder e{fec};
        bytes in;
        in.push_back(std::byte{0x80}); // follow host 0, the packets' SSRC
        in.push_back(std::byte{0});
        in.push_back(std::byte{4});
        in.insert(in.end(), media[0].begin() + 8, media[0].begin() + 12);
        for (std::size_t i = 0; i < media.size(); ++i) {
            if (i != 5) add(in, false, media[i]);
            e.protect(media[i], [&](bool, std::span<const std::byte> r) {
                bytes forged(r.begin(), r.end());
                for (std::size_t k = audiocast::parity_fec::repair_payload_offset;
                     k < forged.size(); ++k)
                    forged[k] = std::byte{0xA5};
                add(in, true, forged);
                in[in.size() - forged.size() - 3] = std::byte{0x03}; // a repair from host 1
                add(in, true, r);
            });
        }
        save(root / "parity_fec_decoder", "followed_with_a_forger", in);
    }

    // rtcp_parse: the compounds a sender and a listener send.
    save(root / "rtcp_parse", "sr_sdes", sender_report(false));
    save(root / "rtcp_parse", "sr_sdes_bye", sender_report(true));
    save(root / "rtcp_parse", "rr_sdes", receiver_report());
    save(root / "rtcp_parse", "rr_rrtr_sdes", round_trip_reports(false));
    save(root / "rtcp_parse", "sr_dlrr_sdes", round_trip_reports(true));

    // sdp_parse: ours, in both formats, and one in ffmpeg's style.
    audiocast::stream_description d;
    save_text(root / "sdp_parse", "audiocast_l16", audiocast::to_sdp(d));
    d.format = l24.format;
    d.group = "ff05::1:2";
    d.packet_time = std::chrono::microseconds{1000};
    d.send_time_extension_id = 1;
    d.media_clock_offset = 12345;
    d.tool = "audiocast";
    save_text(root / "sdp_parse", "audiocast_l24_ipv6", audiocast::to_sdp(d));
    d.fec = audiocast::stream_description::parity_fec_flows{};
    save_text(root / "sdp_parse", "audiocast_parity_fec", audiocast::to_sdp(d));
    d.fec.reset();
    save_text(root / "sdp_parse", "ffmpeg_style",
              "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 239.255.0.1/1\r\n"
              "t=0 0\r\na=tool:libavformat 59.27.100\r\nm=audio 5004 RTP/AVP 97\r\n"
              "b=AS:1536\r\na=rtpmap:97 L16/48000/2\r\n");

    // sap_parse: an announcement of our SDP, and its deletion.
    {
        const std::string sdp = audiocast::to_sdp(audiocast::stream_description{});
        const std::array<std::byte, 4> origin{std::byte{127}, std::byte{0}, std::byte{0},
                                              std::byte{1}};
        for (const bool deletion : {false, true}) {
            bytes out(2048);
            std::error_code ec;
            out.resize(audiocast::sap::write(out, deletion, 0x1234, origin, sdp, ec));
            if (ec) throw std::system_error{ec};
            save(root / "sap_parse", deletion ? "deletion" : "announcement", out);
        }
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << '\n';
    return 1;
}
