#include <audiocast/wire/sdp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <system_error>

using namespace std::chrono_literals;
using audiocast::errc;
using audiocast::media_direction;
using audiocast::sample_format;
using audiocast::stream_description;

namespace {

std::error_code refusal(const std::string& text)
{
    std::error_code ec;
    (void)audiocast::parse_sdp(text, ec);
    return ec;
}

std::string message_of(const std::string& text)
{
    try {
        (void)audiocast::parse_sdp(text);
    } catch (const std::system_error& e) {
        return e.what();
    }
    return "(accepted)";
}

} // namespace

TEST_CASE("an audiocast stream is described line by line as RFC 8866 orders them")
{
    stream_description d;
    d.name = "studio A";
    d.origin_address = "192.0.2.10";
    d.session_id = 42;
    d.session_version = 7;
    d.ttl = 4;
    d.payload_type = 97;
    d.format = {sample_format::l24, 48'000, 2};
    d.packet_time = 5ms;
    d.send_time_extension_id = 1;
    d.media_clock_offset = 123456;
    d.tool = "audiocast 0.1.0";
    CHECK(audiocast::to_sdp(d) == "v=0\r\n"
                                  "o=- 42 7 IN IP4 192.0.2.10\r\n"
                                  "s=studio A\r\n"
                                  "c=IN IP4 239.255.0.1/4\r\n"
                                  "t=0 0\r\n"
                                  "a=tool:audiocast 0.1.0\r\n"
                                  "a=recvonly\r\n"
                                  "m=audio 5004 RTP/AVP 97\r\n"
                                  "a=rtpmap:97 L24/48000/2\r\n"
                                  "a=ptime:5\r\n"
                                  "a=extmap:1 urn:ietf:params:rtp-hdrext:ntp-64\r\n"
                                  "a=ts-refclk:local\r\n"
                                  "a=mediaclk:direct=123456\r\n");
}

TEST_CASE("what audiocast writes it reads back unchanged")
{
    stream_description d;
    d.origin_address = "192.0.2.1";
    SECTION("the defaults") {}
    SECTION("no origin address, no name: written as 0.0.0.0 and s= , read as none")
    {
        d.origin_address.clear();
        d.name.clear();
    }
    SECTION("no origin address on IPv6: written as ::, read as none")
    {
        d.group = "ff15::1";
        d.origin_address.clear();
    }
    SECTION("IPv6, mono L16 at 44.1 kHz, fractional packet time")
    {
        d.group = "ff15::1";
        d.origin_address = "fe80::1";
        d.format = {sample_format::l16, 44'100, 1};
        d.payload_type = 11;
        d.packet_time = 4988us;
        d.ttl = 1;
    }
    SECTION("every optional field")
    {
        d.packet_time = 20ms;
        d.send_time_extension_id = 14;
        d.media_clock_offset = 0;
        d.reference_clock = "ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0"; // AES67's form
        d.playout_delay = std::chrono::milliseconds{120};
        d.tool = "a tool";
        d.direction = media_direction::sendonly;
    }
    CHECK(audiocast::parse_sdp(audiocast::to_sdp(d)) == d);
}

TEST_CASE("an IPv6 group is written without a TTL")
{
    stream_description d;
    d.group = "ff15::1";
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.find("c=IN IP6 ff15::1\r\n") != std::string::npos);
    CHECK(text.find("o=- 0 0 IN IP6 ::\r\n") != std::string::npos);
}

TEST_CASE("values cannot break a line of the description")
{
    stream_description d;
    d.name = "two\r\nlines";
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.find("s=two  lines\r\n") != std::string::npos);
    CHECK(audiocast::parse_sdp(text).name == "two  lines");
}

TEST_CASE("an SDP as ffmpeg's RTP muxer writes it is read")
{
    // The shape of `ffmpeg ... -f rtp -sdp_file`: LF line ends, session-level
    // connection without a TTL, a bandwidth line, no ptime.
    const stream_description d = audiocast::parse_sdp("v=0\n"
                                                      "o=- 0 0 IN IP4 127.0.0.1\n"
                                                      "s=No Name\n"
                                                      "c=IN IP4 239.255.0.1\n"
                                                      "t=0 0\n"
                                                      "a=tool:libavformat 59.27.100\n"
                                                      "m=audio 5004 RTP/AVP 97\n"
                                                      "b=AS:1536\n"
                                                      "a=rtpmap:97 L16/48000/2\n");
    CHECK(d.name == "No Name");
    CHECK(d.group == "239.255.0.1");
    CHECK(d.ttl == 1);
    CHECK(d.port == 5004);
    CHECK(d.payload_type == 97);
    CHECK(d.format == audiocast::audio_format{sample_format::l16, 48'000, 2});
    CHECK_FALSE(d.packet_time);
    CHECK_FALSE(d.send_time_extension_id);
    CHECK(d.direction == media_direction::sendrecv); // RFC 8866 §6.7: unsaid is sendrecv
    CHECK(d.tool == "libavformat 59.27.100");
}

TEST_CASE("an SDP as PipeWire and AES67 devices announce it is read")
{
    const stream_description d =
        audiocast::parse_sdp("v=0\r\n"
                             "o=- 1311738121 1311738121 IN IP4 192.168.1.20\r\n"
                             "s=living room\r\n"
                             "c=IN IP4 239.69.1.2/32\r\n"
                             "t=0 0\r\n"
                             "a=recvonly\r\n"
                             "m=audio 5004 RTP/AVP 98\r\n"
                             "i=2 channels: left, right\r\n"
                             "a=rtpmap:98 L24/48000/2\r\n"
                             "a=ptime:1\r\n"
                             "a=ts-refclk:ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0\r\n"
                             "a=mediaclk:direct=963214424\r\n");
    CHECK(d.name == "living room");
    CHECK(d.origin_address == "192.168.1.20");
    CHECK(d.session_id == 1311738121);
    CHECK(d.group == "239.69.1.2");
    CHECK(d.ttl == 32);
    CHECK(d.payload_type == 98);
    CHECK(d.format == audiocast::audio_format{sample_format::l24, 48'000, 2});
    CHECK(d.packet_time == 1ms);
    CHECK(d.media_clock_offset == 963214424u);
    CHECK(d.reference_clock == "ptp=IEEE1588-2008:00-1D-C1-FF-FE-12-34-56:0");
    // A PTP reference: listeners on the same grandmaster share the clock.
    CHECK(audiocast::shares_wall_clock(d));
    CHECK(d.direction == media_direction::recvonly);
}

TEST_CASE("a stream on a shared NTP clock says so with a=ts-refclk and a=mediaclk:sender, and "
          "listeners read that they may synchronize by its reports (RFC 7273)")
{
    stream_description d;
    d.reference_clock = "ntp=/traceable/";
    d.playout_delay = 250ms;
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.ends_with("a=ts-refclk:ntp=/traceable/\r\na=mediaclk:sender\r\n"
                         "a=x-audiocast-playout-delay:250\r\n"));
    const stream_description back = audiocast::parse_sdp(text);
    CHECK(back == d);
    CHECK(audiocast::shares_wall_clock(back));

    // Its own clock, or none said: a listener must ask (round trips).
    d.reference_clock = "local";
    CHECK_FALSE(audiocast::shares_wall_clock(audiocast::parse_sdp(audiocast::to_sdp(d))));
    d.reference_clock.clear();
    CHECK(audiocast::to_sdp(d).find("ts-refclk") == std::string::npos);
    CHECK_FALSE(audiocast::shares_wall_clock(audiocast::parse_sdp(audiocast::to_sdp(d))));
}

TEST_CASE("a=ts-refclk at session level holds for the media which may say otherwise. Of several "
          "alternatives the first is taken")
{
    const std::string head = "v=0\r\ns=x\r\nc=IN IP4 239.255.0.9/1\r\nt=0 0\r\n"
                             "a=ts-refclk:ntp=192.0.2.123\r\n";
    const std::string media = "m=audio 6000 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n";
    CHECK(audiocast::parse_sdp(head + media).reference_clock == "ntp=192.0.2.123");
    CHECK(audiocast::parse_sdp(head + media + "a=ts-refclk:local\r\na=ts-refclk:ntp=x\r\n")
              .reference_clock.empty());
}

TEST_CASE("a direct media clock on the source's own clock reads back unchanged: a=ts-refclk:local "
          "is read as no shared clock, which is what to_sdp() writes it for (fuzz finding)")
{
    stream_description d;
    d.media_clock_offset = 12'345;
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.ends_with("a=ts-refclk:local\r\na=mediaclk:direct=12345\r\n"));
    const stream_description back = audiocast::parse_sdp(text);
    CHECK(back == d);
    CHECK(back.reference_clock.empty());
    CHECK_FALSE(audiocast::shares_wall_clock(back));
}

TEST_CASE("the static L16 payload types need no rtpmap")
{
    const auto read = [](const char* pt) {
        return audiocast::parse_sdp(std::string{"v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                                                "m=audio 6000 RTP/AVP "} +
                                    pt + "\n");
    };
    CHECK(read("10").format == audiocast::audio_format{sample_format::l16, 44'100, 2});
    CHECK(read("11").format == audiocast::audio_format{sample_format::l16, 44'100, 1});
}

TEST_CASE("the first payload type audiocast can play is chosen")
{
    const stream_description d = audiocast::parse_sdp("v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                                                      "m=audio 6000 RTP/AVP 0 8 96\n"
                                                      "a=rtpmap:8 PCMA/8000\n"
                                                      "a=rtpmap:96 l16/32000\n");
    CHECK(d.payload_type == 96);
    CHECK(d.format ==
          audiocast::audio_format{sample_format::l16, 32'000, 1}); // one channel by default
}

TEST_CASE("Opus is read as RFC 7587 writes it: opus/48000/2, the channels sent from "
          "sprop-stereo, the parameters kept")
{
    const std::string head = "v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                             "m=audio 6000 RTP/AVP 0 111 96\n"
                             "a=rtpmap:111 OPUS/48000/2\n"
                             "a=rtpmap:96 L16/48000/2\n";
    const stream_description stereo =
        audiocast::parse_sdp(head + "a=fmtp:111 useinbandfec=1; sprop-stereo=1;stereo=1\n");
    CHECK(stereo.payload_type == 111);
    CHECK(stereo.format == audiocast::audio_format{sample_format::opus, 48'000, 2});
    CHECK(stereo.format_parameters == "useinbandfec=1; sprop-stereo=1;stereo=1");
    // Mono unless sprop-stereo says 1 (RFC 7587 §7.1), whatever stereo= asks.
    CHECK(audiocast::parse_sdp(head + "a=fmtp:111 stereo=1\n").format.channels == 1);
    CHECK(audiocast::parse_sdp(head).format.channels == 1);
    CHECK(audiocast::parse_sdp(head + "a=fmtp:96 sprop-stereo=1\n").format.channels == 1);

    // Opus at another rate or channel count is not RFC 7587's: the next type plays.
    const stream_description other = audiocast::parse_sdp(
        "v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\nm=audio 6000 RTP/AVP 111 96\n"
        "a=rtpmap:111 opus/44100/2\na=rtpmap:96 L16/48000/2\n");
    CHECK(other.payload_type == 96);
    CHECK(refusal("v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\nm=audio 6000 RTP/AVP 111\n"
                  "a=rtpmap:111 opus/48000/1\n") == errc::unsupported_sdp);
    // An a=fmtp that is not of its form is ignored, as an unknown attribute
    // is; names are case-insensitive.
    CHECK(audiocast::parse_sdp(head + "a=fmtp:x stereo=1\na=fmtp:101\n").payload_type == 111);
    CHECK(audiocast::parse_sdp(head + "a=fmtp:111 Sprop-Stereo=1\n").format.channels == 2);
}

TEST_CASE("an Opus stream is written as opus/48000/2 with its parameters, sprop-stereo=1 for "
          "stereo, and reads back unchanged")
{
    stream_description d;
    d.payload_type = 111;
    d.format = {sample_format::opus, 48'000, 2};
    d.format_parameters = "useinbandfec=1; maxaveragebitrate=64000";
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.find("a=rtpmap:111 opus/48000/2\r\n") != std::string::npos);
    CHECK(text.find("a=fmtp:111 useinbandfec=1; maxaveragebitrate=64000; sprop-stereo=1\r\n") !=
          std::string::npos);
    const stream_description back = audiocast::parse_sdp(text);
    CHECK(back.format == d.format);
    CHECK(back.format_parameters == "useinbandfec=1; maxaveragebitrate=64000; sprop-stereo=1");

    // Opus's rtpmap is 48000 whatever the format's rate says.
    d.format.sample_rate = 44'100;
    CHECK(audiocast::to_sdp(d).find("a=rtpmap:111 opus/48000/2\r\n") != std::string::npos);
    d.format.sample_rate = 48'000;

    d.format.channels = 1;
    d.format_parameters = "sprop-stereo=0";
    const std::string mono = audiocast::to_sdp(d);
    CHECK(mono.find("a=rtpmap:111 opus/48000/2\r\n") != std::string::npos);
    CHECK(audiocast::parse_sdp(mono) == d);
}

TEST_CASE("a media-level connection overrides the session's")
{
    const stream_description d = audiocast::parse_sdp("v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                                                      "m=video 7000 RTP/AVP 96\n"
                                                      "c=IN IP4 239.255.0.7/2\n"
                                                      "m=audio 6000 RTP/AVP 96\n"
                                                      "c=IN IP4 239.255.0.8/3\n"
                                                      "a=rtpmap:96 L16/48000/2\n");
    CHECK(d.group == "239.255.0.8");
    CHECK(d.ttl == 3);
    CHECK(d.port == 6000);
}

TEST_CASE("the send-time extension is found by its URI, with or without a direction")
{
    const auto id = [](const char* extmap) {
        return audiocast::parse_sdp(std::string{"v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                                                "m=audio 6000 RTP/AVP 96\n"
                                                "a=rtpmap:96 L16/48000/2\n"} +
                                    extmap + "\n")
            .send_time_extension_id;
    };
    CHECK(id("a=extmap:3 urn:ietf:params:rtp-hdrext:ntp-64") == 3);
    CHECK(id("a=extmap:4/sendonly urn:ietf:params:rtp-hdrext:ntp-64") == 4);
    CHECK_FALSE(id("a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level"));
    CHECK_FALSE(id("a=extmap:15 urn:ietf:params:rtp-hdrext:ntp-64")); // not a one-byte id
}

TEST_CASE("text that is not SDP is refused as invalid")
{
    CHECK(refusal("") == errc::invalid_sdp);
    CHECK(refusal("hello\n") == errc::invalid_sdp);
    CHECK(refusal("v=1\ns=x\n") == errc::invalid_sdp);
    CHECK(refusal("v=0\nthis is not a line\n") == errc::invalid_sdp);
    CHECK(refusal("v=0\no=- 1 IN IP4\n") == errc::invalid_sdp);
    CHECK(refusal("v=0\nc=IN IP4 239.255.0.1/1\nm=audio 0 RTP/AVP 96\n") == errc::invalid_sdp);
    CHECK(refusal("v=0\nc=IN IP4 239.255.0.1/1\nm=audio 5004 RTP/AVP 200\n") == errc::invalid_sdp);
    CHECK(refusal("v=0\nc=IN IP4 239.255.0.1/1\nm=audio 5004 RTP/AVP 96\na=rtpmap:96 L16\n") ==
          errc::invalid_sdp);
    CHECK(refusal("v=0\nc=IN IP4 239.255.0.1/300\nm=audio 5004 RTP/AVP 96\n"
                  "a=rtpmap:96 L16/48000/2\n") == errc::invalid_sdp);
}

TEST_CASE("a NUL or a stray CR inside a line is refused, as RFC 8866 forbids them")
{
    // Found by the sdp_parse fuzzer: to_sdp() writes such bytes as spaces, so a
    // description read with them would not survive writing and reading again.
    const std::string good = audiocast::to_sdp(audiocast::stream_description{});
    std::string with_nul = good;
    with_nul.insert(with_nul.find("s=audiocast") + 5, std::string{"\0", 1});
    std::string with_cr = good;
    with_cr.insert(with_cr.find("s=audiocast") + 5, "\r");
    CHECK(refusal(with_nul) == errc::invalid_sdp);
    CHECK(refusal(with_cr) == errc::invalid_sdp);
    CHECK(message_of(with_nul).find("SDP line 3 's=aud iocast' holds a NUL or CR byte") !=
          std::string::npos);
    CHECK(refusal(good) == std::error_code{});
}

TEST_CASE("a connection address must be a literal of the family its line names")
{
    // Found by the sdp_parse fuzzer in CI: "c=IN IP4 ff:1/5" was read as the
    // group "ff:1" with TTL 5, which to_sdp() writes back as IP6 without a TTL.
    const auto with = [](const std::string& c) {
        return "v=0\ns=x\nc=" + c + "\nt=0 0\nm=audio 6000 RTP/AVP 96\na=rtpmap:96 L16/48000/2\n";
    };
    CHECK(refusal(with("IN IP4 ff15::1/5")) == errc::invalid_sdp);
    CHECK(message_of(with("IN IP4 ff15::1/5"))
              .find("'IN IP4 ff15::1/5' gives an IPv6 address under IP4") != std::string::npos);
    CHECK(refusal(with("IN IP6 239.255.0.1")) == errc::invalid_sdp);

    // RFC 8866 lets c= name a host, but audiocast joins groups and resolves nothing.
    CHECK(refusal(with("IN IP4 studio.example.net/1")) == errc::unsupported_sdp);
    CHECK(message_of(with("IN IP4 studio.example.net/1"))
              .find("'studio.example.net' is not an IPv4 address") != std::string::npos);
    CHECK(refusal(with("IN IP4 /1")) == errc::unsupported_sdp);
    CHECK(refusal(with("IN IP4 239.255.0.256/1")) == errc::unsupported_sdp);
    CHECK(refusal(with("IN IP6 ff15::1::2")) == errc::unsupported_sdp);

    CHECK(audiocast::parse_sdp(with("IN IP6 ff15::1")).group == "ff15::1");
    CHECK(audiocast::parse_sdp(with("IN IP4 239.255.0.1/5")).ttl == 5);
    for (const char* c : {"IN IP4 239.255.0.1/5", "IN IP6 ff15::1", "IN IP6 ::ffff:239.255.0.1"}) {
        const stream_description d = audiocast::parse_sdp(with(c));
        CHECK(audiocast::parse_sdp(audiocast::to_sdp(d)) == d);
    }
}

TEST_CASE("a number with trailing text is not read as its leading digits")
{
    const stream_description d =
        audiocast::parse_sdp("v=0\no=- 12abc 7x IN IP4 192.0.2.1\ns=x\nc=IN IP4 239.255.0.1/1\n"
                             "t=0 0\nm=audio 6000 RTP/AVP 96\na=rtpmap:96 L16/48000/2\n");
    CHECK(d.session_id == 0);
    CHECK(d.session_version == 0);
}

TEST_CASE("a stream without a name is written as s= and read back without one")
{
    // Found by the sdp_parse fuzzer: "s= " read back as a name of one space.
    audiocast::stream_description d;
    d.name.clear();
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.find("\r\ns= \r\n") != std::string::npos);
    CHECK(audiocast::parse_sdp(text) == d);
}

TEST_CASE("a stream audiocast cannot play is refused as unsupported, saying why")
{
    const std::string head = "v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n";
    CHECK(refusal(head) == errc::unsupported_sdp);
    CHECK(message_of(head).find("no audio media") != std::string::npos);

    const std::string g722 = head + "m=audio 6000 RTP/AVP 9\na=rtpmap:9 G722/8000\n";
    CHECK(refusal(g722) == errc::unsupported_sdp);
    CHECK(message_of(g722).find("G722/8000; audiocast plays L16, L24 and Opus") !=
          std::string::npos);

    const std::string srtp = head + "m=audio 6000 RTP/SAVP 96\na=rtpmap:96 L16/48000/2\n";
    CHECK(message_of(srtp).find("RTP/SAVP") != std::string::npos);

    const std::string too_fast = head + "m=audio 6000 RTP/AVP 96\na=rtpmap:96 L16/384000/2\n";
    CHECK(refusal(too_fast) == errc::unsupported_sdp);
    CHECK(message_of(too_fast).find("L16/384000/2") != std::string::npos);

    const std::string no_connection =
        "v=0\ns=x\nt=0 0\nm=audio 6000 RTP/AVP 96\na=rtpmap:96 L16/48000/2\n";
    CHECK(message_of(no_connection).find("no connection address") != std::string::npos);

    const std::string layered =
        "v=0\ns=x\nc=IN IP4 239.255.0.9/1/3\nt=0 0\nm=audio 6000 RTP/AVP 96\n"
        "a=rtpmap:96 L16/48000/2\n";
    CHECK(refusal(layered) == errc::unsupported_sdp);
}

TEST_CASE("the throwing form names the line at fault")
{
    CHECK(message_of("v=0\ns=x\nbroken\n") ==
          "SDP line 3 'broken' is not of the form <type>=<value>: malformed SDP stream "
          "description");
}

namespace {

std::string with_filter(const std::string& session_filter, const std::string& media_filter,
                        const std::string& group = "239.255.0.1", const std::string& ip = "IP4")
{
    std::string t = "v=0\r\no=- 1 1 IN " + ip + " " + (ip == "IP4" ? "0.0.0.0" : "::") +
                    "\r\ns=s\r\nc=IN " + ip + " " + group + (ip == "IP4" ? "/1" : "") +
                    "\r\nt=0 0\r\n";
    if (!session_filter.empty()) t += "a=source-filter: " + session_filter + "\r\n";
    t += "m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n";
    if (!media_filter.empty()) t += "a=source-filter: " + media_filter + "\r\n";
    return t;
}

} // namespace

TEST_CASE("a stream that names its sender says so in a=source-filter and reads it back")
{
    stream_description d;
    d.source = "192.0.2.7";
    const std::string text = audiocast::to_sdp(d);
    CHECK(text.find("a=source-filter: incl IN IP4 239.255.0.1 192.0.2.7\r\n") != std::string::npos);
    CHECK(audiocast::parse_sdp(text) == d);

    stream_description v6;
    v6.group = "ff0e::1:5";
    v6.source = "2001:db8::7";
    const std::string text6 = audiocast::to_sdp(v6);
    CHECK(text6.find("a=source-filter: incl IN IP6 ff0e::1:5 2001:db8::7\r\n") !=
          std::string::npos);
    CHECK(audiocast::parse_sdp(text6) == v6);

    CHECK(audiocast::to_sdp(stream_description{}).find("source-filter") == std::string::npos);
}

TEST_CASE("a=source-filter is read at session or media level, for the group or any, include "
          "filters only")
{
    CHECK(audiocast::parse_sdp(with_filter("incl IN IP4 239.255.0.1 192.0.2.1", "")).source ==
          "192.0.2.1");
    CHECK(audiocast::parse_sdp(with_filter("incl IN IP4 * 192.0.2.2", "")).source == "192.0.2.2");
    // Media level wins; the first source of a list is the sender.
    CHECK(audiocast::parse_sdp(
              with_filter("incl IN IP4 * 192.0.2.1", "incl IN IP4 239.255.0.1 192.0.2.3 192.0.2.4"))
              .source == "192.0.2.3");
    // A filter for another group, or one that excludes, names no sender.
    CHECK(audiocast::parse_sdp(with_filter("incl IN IP4 239.9.9.9 192.0.2.1", "")).source.empty());
    CHECK(
        audiocast::parse_sdp(with_filter("excl IN IP4 239.255.0.1 192.0.2.1", "")).source.empty());
    CHECK(audiocast::parse_sdp(with_filter("", "incl IN IP6 ff0e::1 2001:db8::1", "ff0e::1", "IP6"))
              .source == "2001:db8::1");
}

TEST_CASE("a malformed a=source-filter is refused as invalid, naming the line")
{
    for (const char* bad : {"incl IN IP4 239.255.0.1", "include IN IP4 239.255.0.1 192.0.2.1",
                            "incl IN IP4 239.255.0.1 2001:db8::1", "incl IN IP6 ff0e::1 192.0.2.1",
                            "incl XX IP4 239.255.0.1 192.0.2.1", "incl IN IP4 239.255.0.1 host"}) {
        INFO(bad);
        CHECK(refusal(with_filter(bad, "")) == errc::invalid_sdp);
    }
    CHECK(message_of(with_filter("incl IN IP4 239.255.0.1", "")).find("SDP line 6") !=
          std::string::npos);
}

TEST_CASE("an error quotes a hostile line escaped and cut, never raw or whole")
{
    const std::string evil = "\x1b]0;pwned\x07\x1b[2J" + std::string(100'000, 'A');
    const std::string message =
        message_of("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 239.255.0.1 " + evil +
                   "\r\nt=0 0\r\nm=audio 5004 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n");
    CHECK(message.find('\x1b') == std::string::npos);
    CHECK(message.find('\x07') == std::string::npos);
    CHECK(message.find("\\x1b]0;pwned\\x07") != std::string::npos);
    CHECK(message.size() < 300);
}

TEST_CASE("a playout delay that is not a number of milliseconds from 1 to 5000 is refused, naming "
          "the line")
{
    const std::string head = "v=0\r\ns=x\r\nc=IN IP4 239.255.0.9/1\r\nt=0 0\r\n"
                             "m=audio 6000 RTP/AVP 96\r\na=rtpmap:96 L16/48000/2\r\n";
    CHECK(audiocast::parse_sdp(head + "a=x-audiocast-playout-delay:120\r\n").playout_delay ==
          std::chrono::milliseconds{120});
    for (const char* bad : {"-5", "0", "1.5", "5001", "99999999999999999999", ""}) {
        INFO(bad);
        CHECK(refusal(head + "a=x-audiocast-playout-delay:" + bad + "\r\n") == errc::invalid_sdp);
    }
    CHECK(message_of(head + "a=x-audiocast-playout-delay:5001\r\n").find("1 to 5000") !=
          std::string::npos);
}

TEST_CASE("a stream with SMPTE 2022-1 FEC declares each repair flow as an m= section grouped "
          "with the media by FEC-FR, and reads back the same")
{
    stream_description d;
    d.port = 5004;
    d.packet_time = 1ms;
    d.fec = stream_description::parity_fec_flows{
        .columns = 10, .rows = 5, .column_flow = true, .row_flow = true, .payload_type = 100};
    const std::string text = audiocast::to_sdp(d);
    INFO(text);
    // The group before the first m=, the media's mid, then each flow at
    // SMPTE 2022-1's port with its matrix and RFC 6015's repair window
    // (2 x 10 x 5 + 10 packets of 1 ms).
    CHECK(text.find("a=group:FEC-FR 1 2 3\r\n") < text.find("m=audio 5004 "));
    CHECK(text.find("a=mid:1\r\nm=audio 5006 RTP/AVP 100\r\n"
                    "i=SMPTE 2022-1 column repairs\r\n"
                    "a=rtpmap:100 2dparityfec/48000\r\n"
                    "a=fmtp:100 L=10; D=5; repair-window=110000\r\n"
                    "a=mid:2\r\n"
                    "m=audio 5008 RTP/AVP 100\r\n"
                    "i=SMPTE 2022-1 row repairs\r\n") != std::string::npos);
    const stream_description back = audiocast::parse_sdp(text);
    CHECK(back == d);

    SECTION("columns only, or rows only, name only their own flow")
    {
        d.fec->row_flow = false;
        const std::string columns = audiocast::to_sdp(d);
        CHECK(columns.find("a=group:FEC-FR 1 2\r\n") != std::string::npos);
        CHECK(columns.find("m=audio 5008") == std::string::npos);
        CHECK(audiocast::parse_sdp(columns) == d);
        d.fec->row_flow = true;
        d.fec->column_flow = false;
        d.fec->rows = 1;
        const std::string rows = audiocast::to_sdp(d);
        CHECK(rows.find("a=group:FEC-FR 1 3\r\n") != std::string::npos);
        CHECK(audiocast::parse_sdp(rows) == d);
    }
    SECTION("a flow whose port would pass 65535 is not written, and the rest reads back")
    {
        d.port = 65'532; // columns at 65534; rows would be at 65536
        const std::string high = audiocast::to_sdp(d);
        CHECK(high.find("a=group:FEC-FR 1 2\r\n") != std::string::npos);
        CHECK(high.find("65536") == std::string::npos);
        const auto back_high = audiocast::parse_sdp(high);
        REQUIRE(back_high.fec);
        CHECK(back_high.fec->column_flow);
        CHECK_FALSE(back_high.fec->row_flow);
    }
    SECTION("without FEC, no group, no mid, no other section")
    {
        d.fec.reset();
        const std::string plain = audiocast::to_sdp(d);
        CHECK(plain.find("a=group") == std::string::npos);
        CHECK(plain.find("a=mid") == std::string::npos);
        CHECK(plain.find("m=audio", plain.find("m=audio") + 1) == std::string::npos);
    }
}

TEST_CASE("repair flows are read from another writer's FEC group, other FEC schemes are passed "
          "over, and flows that cannot be joined are refused naming the line")
{
    const std::string head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=ch 1\r\nc=IN IP4 "
                             "233.252.0.1/32\r\nt=0 0\r\n";
    const std::string media = "m=audio 30000 RTP/AVP 97\r\na=rtpmap:97 L24/48000/2\r\na=mid:S1\r\n";
    const auto repair = [](int port, const std::string& pt, const std::string& encoding,
                           const std::string& fmtp, const std::string& mid) {
        return "m=application " + std::to_string(port) + " RTP/AVP " + pt + "\r\na=rtpmap:" + pt +
               " " + encoding + "/48000\r\n" +
               (fmtp.empty() ? "" : "a=fmtp:" + pt + " " + fmtp + "\r\n") + "a=mid:" + mid + "\r\n";
    };
    SECTION("RFC 5956's order, application sections, RFC 4756's older FEC semantics")
    {
        const auto semantics = GENERATE(std::string{"FEC-FR"}, std::string{"FEC"});
        const auto d =
            audiocast::parse_sdp(head + "a=group:" + semantics + " S1 R1 R2\r\n" + media +
                                 repair(30002, "110", "2dparityfec", "L=4;D=8", "R1") +
                                 repair(30004, "110", "2DParityFEC", "L=4; D=8", "R2"));
        REQUIRE(d.fec);
        CHECK(d.fec->columns == 4);
        CHECK(d.fec->rows == 8);
        CHECK(d.fec->column_flow);
        CHECK(d.fec->row_flow);
        CHECK(d.fec->payload_type == 110);
        CHECK(d.port == 30000);
        CHECK(d.format.encoding == sample_format::l24);
    }
    SECTION("a group of another scheme (RFC 6015's own) leaves the media to play alone")
    {
        const auto d = audiocast::parse_sdp(head + "a=group:FEC-FR S1 R1\r\n" + media +
                                            repair(30002, "110", "1d-interleaved-parityfec",
                                                   "L=4; D=8; repair-window=200000", "R1"));
        CHECK_FALSE(d.fec);
        CHECK(d.port == 30000);
    }
    SECTION("flows outside the group, or a group without the media, are not the stream's")
    {
        CHECK_FALSE(audiocast::parse_sdp(head + "a=group:FEC-FR S9 R1\r\n" + media +
                                         repair(30002, "110", "2dparityfec", "L=4; D=8", "R1"))
                        .fec);
    }
    SECTION("refused")
    {
        const std::string on_port_6 = head + "a=group:FEC-FR S1 R1\r\n" + media +
                                      repair(30006, "110", "2dparityfec", "L=4; D=8", "R1");
        CHECK(refusal(on_port_6) == errc::unsupported_sdp);
        CHECK_THAT(message_of(on_port_6), Catch::Contains("repair flow on port 30006") &&
                                              Catch::Contains("30002") && Catch::Contains("30004"));
        const std::string no_matrix = head + "a=group:FEC-FR S1 R1\r\n" + media +
                                      repair(30002, "110", "2dparityfec", "L=0; D=8", "R1");
        CHECK(refusal(no_matrix) == errc::invalid_sdp);
        CHECK_THAT(message_of(no_matrix),
                   Catch::Contains("L=<1-255>; D=<1-255>") && Catch::Contains("'L=0; D=8'"));
        const std::string disagree = head + "a=group:FEC-FR S1 R1 R2\r\n" + media +
                                     repair(30002, "110", "2dparityfec", "L=4; D=8", "R1") +
                                     repair(30004, "110", "2dparityfec", "L=5; D=8", "R2");
        CHECK(refusal(disagree) == errc::invalid_sdp);
        CHECK_THAT(message_of(disagree), Catch::Contains("disagree"));
        // At another group, the flow would be joined at the media's: wrong.
        std::string elsewhere = repair(30002, "110", "2dparityfec", "L=4; D=8", "R1");
        elsewhere.insert(elsewhere.find("a=rtpmap"), "c=IN IP4 233.252.0.9/32\r\n");
        const std::string at_another_group = head + "a=group:FEC-FR S1 R1\r\n" + media + elsewhere;
        CHECK(refusal(at_another_group) == errc::unsupported_sdp);
        CHECK_THAT(message_of(at_another_group), Catch::Contains("233.252.0.9"));
        std::string secured = repair(30002, "110", "2dparityfec", "L=4; D=8", "R1");
        secured.replace(secured.find("RTP/AVP"), 7, "RTP/SAVP");
        CHECK(refusal(head + "a=group:FEC-FR S1 R1\r\n" + media + secured) ==
              errc::unsupported_sdp);
    }
    SECTION("a refused media section is named as such, not as its repair flow")
    {
        std::string secured_media = media;
        secured_media.replace(secured_media.find("RTP/AVP"), 7, "RTP/SAVP");
        CHECK_THAT(message_of(head + "a=group:FEC-FR S1 R1\r\n" + secured_media +
                              repair(30002, "110", "2dparityfec", "L=4; D=8", "R1")),
                   Catch::Contains("RTP/SAVP") && !Catch::Contains("2dparityfec"));
    }
}

TEST_CASE("an SRTP stream's key travels in a=crypto over RTP/SAVP, and is read back only where it "
          "can be honoured")
{
    audiocast::stream_description d;
    d.crypto = audiocast::stream_description::sdes_crypto{
        "AES_CM_128_HMAC_SHA1_80", "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"};
    const std::string text = audiocast::to_sdp(d);
    CHECK_THAT(text, Catch::Contains("m=audio 5004 RTP/SAVP 96\r\n"));
    CHECK_THAT(text, Catch::Contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                                     "inline:4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm\r\n"));
    CHECK(audiocast::parse_sdp(text) == d);
    d.crypto->suite = "AEAD_AES_128_GCM";
    CHECK(audiocast::parse_sdp(audiocast::to_sdp(d)) == d);

    const std::string head = "v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\n"
                             "m=audio 6000 RTP/SAVP 96\na=rtpmap:96 L16/48000/2\n";
    const auto with = [&](const std::string& crypto) { return head + crypto + "\n"; };
    // As other tools write it: a lifetime (ignored), several offers (the
    // first that can be honoured wins).
    const auto lifetime =
        audiocast::parse_sdp(with("a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:QUJD|2^31"));
    REQUIRE(lifetime.crypto);
    CHECK(lifetime.crypto->key == "QUJD");
    const auto offers = audiocast::parse_sdp(
        with("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:WFla\na=crypto:2 AEAD_AES_128_GCM "
             "inline:QUJD"));
    REQUIRE(offers.crypto);
    CHECK(offers.crypto->suite == "AEAD_AES_128_GCM");

    // What cannot be honoured is refused, and the message says which line and why.
    CHECK(refusal(head) == errc::unsupported_sdp);
    CHECK_THAT(message_of(head), Catch::Contains("RTP/SAVP") && Catch::Contains("no a=crypto"));
    for (const auto& [line, why] : std::vector<std::pair<std::string, std::string>>{
             {"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:QUJD", "AES_CM_128_HMAC_SHA1_32"},
             {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJD|2^20|1:4", "MKI"},
             {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJD UNENCRYPTED_SRTP",
              "session parameters"},
             {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QU\x1b[2JD", "not base64"},
             {"a=crypto:1 AES_CM_128_HMAC_SHA1_80 QUJD", "crypto:<tag> <suite> inline:<key>"}}) {
        INFO(line);
        CHECK(refusal(with(line)) == errc::unsupported_sdp);
        CHECK_THAT(message_of(with(line)),
                   Catch::Contains("a=crypto line 7") && Catch::Contains(why));
        CHECK(message_of(with(line)).find('\x1b') == std::string::npos);
    }
    // ffmpeg writes SRTP as RTP/AVP with a=crypto: the key is taken, or the
    // listener would play ciphertext; one that cannot be honoured refuses it.
    const std::string avp = "v=0\ns=x\nc=IN IP4 239.255.0.9/1\nt=0 0\nm=audio 6000 RTP/AVP 97\n"
                            "a=rtpmap:97 L16/48000/2\n";
    const auto as_ffmpeg =
        audiocast::parse_sdp(avp + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJD\n");
    REQUIRE(as_ffmpeg.crypto);
    CHECK(as_ffmpeg.crypto->key == "QUJD");
    CHECK(refusal(avp + "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:QUJD\n") ==
          errc::unsupported_sdp);
    CHECK_FALSE(audiocast::parse_sdp(avp).crypto);
    // A line-break smuggled into the key cannot add a line to what is
    // written: the description is refused.
    d.crypto->key = "QUJD\r\na=source-filter: incl IN IP4 239.255.0.1 10.0.0.66";
    std::error_code ec;
    CHECK(audiocast::to_sdp(d, ec).find("\r\na=source-filter") == std::string::npos);
    CHECK(ec == errc::invalid_srtp_key);
}

TEST_CASE("to_sdp refuses an a=crypto it could not write as it is, naming lengths and never the "
          "key, rather than hand listeners another key")
{
    audiocast::stream_description d;
    using crypto = audiocast::stream_description::sdes_crypto;
    for (const crypto& c :
         {crypto{"AES_CM_128_HMAC_SHA1_32", "QUJD"},
          crypto{"AES_CM_128_HMAC_SHA1_80\r\na=x", "QUJD"},
          crypto{"AES_CM_128_HMAC_SHA1_80", "QU\r\nJD"}, crypto{"AEAD_AES_128_GCM", ""},
          crypto{"AEAD_AES_128_GCM", "secret key"}}) {
        d.crypto = c;
        std::error_code ec;
        CHECK(audiocast::to_sdp(d, ec).empty());
        CHECK(ec == audiocast::errc::invalid_srtp_key);
        try {
            (void)audiocast::to_sdp(d);
            FAIL("not refused");
        } catch (const std::system_error& e) {
            CHECK(e.code() == audiocast::errc::invalid_srtp_key);
            CHECK_THAT(e.what(), !Catch::Contains("secret") && Catch::Contains("characters"));
        }
    }
    d.crypto = crypto{"AEAD_AES_128_GCM", "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"};
    std::error_code ec;
    const auto back = audiocast::parse_sdp(audiocast::to_sdp(d, ec));
    CHECK_FALSE(ec);
    CHECK(back.crypto == d.crypto);
}
