#!/usr/bin/env python3
"""End-to-end tests of SRTP between audiocast-server and audiocast-client
(--srtp, --key-file, --key, a=crypto in --sdp): real processes, real
multicast on lo inside a private network namespace. A key holder plays the
source bit-exact; a listener with another key, or none, plays nothing of it;
a host on the group that floods, forges the sender's packets (its own
address and port, its SSRC and the next sequence numbers) and replays
captured ones costs the key holder nothing, and every such datagram is
counted.

    tests/network/netns-run python3 tests/e2e/srtp.py --bin-dir DIR CASE

Exit 0: passed; 1: failed; 77: skipped, with the reason.
"""

import os
import re
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import harness  # noqa: E402
import hostile  # noqa: E402
from harness import Children, Failure, expect_exit  # noqa: E402

GROUP = hostile.GROUP
PORT = hostile.PORT


def srtp_stats(stats, what):
    if "srtp" not in stats:
        raise Failure(f"{what}: its figures have no srtp section: {stats}")
    return stats["srtp"]


def expect_none_of(got, source, what):
    """`got` holds no stretch of `source`: probes of 100 frames from across
    it are searched for in the whole recording."""
    fb = source.frame_bytes
    for at in range(0, source.frames - 100, source.frames // 10):
        probe = source.data[at * fb:(at + 100) * fb]
        if probe in got.data:
            raise Failure(f"{what} holds the source's frames {at}-{at + 100}")


def key_file_plays_and_strangers_hear_nothing():
    """The server makes a fresh key in a file of mode 600; a client with that
    file plays the source bit-exact. A client with another key plays
    silence and counts every packet unauthenticated; a client without SRTP
    plays nothing of the source either."""
    source = harness.noise(48000, 2, 2, 2.0, seed=19)
    harness.write_wav(e2e.tmp("source.wav"), source)
    key = e2e.tmp("stream.key")
    other = e2e.tmp("other.key")
    with Children() as children:
        # Each key made by a server that streams nothing anyone hears.
        for path, port in ((key, "6004"), (other, "6008")):
            maker = children.start(e2e.server_cmd("--srtp", "--key-file", path, "--tone", "440",
                                                  "--duration", "0.1", "--port", port), "maker")
            expect_exit(maker, 0, 10)
            if not any("made a fresh" in line for line in maker.stderr_lines):
                raise Failure(f"the server did not say it made a key:\n{maker.transcript()}")
        keyed = e2e.start_clients(children, 1, source, seconds=5.0,
                                  extra=("--srtp", "--key-file", key), prefix="keyed")
        wrong = e2e.start_clients(children, 1, source, seconds=5.0,
                                  extra=("--srtp", "--key-file", other), prefix="wrong")
        plain = e2e.start_clients(children, 1, source, seconds=5.0, prefix="plain")
        server = children.start(e2e.server_cmd("--srtp", "--key-file", key, "--file",
                                               e2e.tmp("source.wav")), "server")
        expect_exit(server, 0, 15)
        for c in keyed + wrong + plain:
            expect_exit(c, 0, 15)
    mode = stat.S_IMODE(os.stat(key).st_mode)
    if mode != 0o600:
        raise Failure(f"the server made its key file with mode {mode:04o}, expected 0600")
    with open(key) as f:
        text = f.read()
    if not re.fullmatch(r"[A-Za-z0-9+/]{40}\n", text):
        raise Failure(f"the key file holds {text!r}, expected 40 base64 characters and a newline")
    if any(text.strip() in line for line in server.lines + server.stderr_lines):
        raise Failure("the server printed the key")

    got = harness.read_wav(e2e.tmp("keyed0.wav"))
    stats = harness.read_json(e2e.tmp("keyed0.json"))
    e2e.expect_no_loss(stats, "the key holder")
    harness.expect_same_audio(harness.without_silence(got), source, "the key holder's recording")
    s = srtp_stats(stats, "the key holder")
    if s["unauthenticated"] + s["replayed"] + s["malformed"] != 0:
        raise Failure(f"the key holder refused packets of its own stream: {s}")

    wrong_got = harness.read_wav(e2e.tmp("wrong0.wav"))
    wrong_stats = harness.read_json(e2e.tmp("wrong0.json"))
    if wrong_got.data != bytes(len(wrong_got.data)) or wrong_stats["packets_received"] != 0:
        raise Failure(f"a client with another key played something: {wrong_stats}")
    w = srtp_stats(wrong_stats, "the client with another key")
    if not any("failed SRTP's checks (check the key" in line for line in wrong[0].lines):
        raise Failure(f"the client with another key never said why it heard nothing:\n"
                      f"{wrong[0].transcript()}")
    if w["unauthenticated"] < stats["packets_received"]:
        raise Failure(f"the client with another key counted {w['unauthenticated']} packets "
                      f"unauthenticated of the {stats['packets_received']} sent: {w}")

    plain_got = harness.read_wav(e2e.tmp("plain0.wav"))
    plain_stats = harness.read_json(e2e.tmp("plain0.json"))
    expect_none_of(plain_got, source, "the recording of a client without SRTP")
    if "srtp" in plain_stats:
        raise Failure(f"a client without --srtp reports SRTP figures: {plain_stats}")
    print(f"key holder bit-exact ({stats['packets_received']} packets); another key: "
          f"{w['unauthenticated']} unauthenticated, silence; without SRTP: "
          f"{plain_stats['packets_received']} packets taken, "
          f"{plain_stats['packets_malformed']} malformed, none of the source")


def sdp_carries_the_key():
    """--srtp with --sdp and no key option: a fresh AEAD_AES_128_GCM key goes
    in the SDP's a=crypto, the file readable by its owner alone, and a client
    given only the SDP plays the tone. Where the path is a link another user
    could have placed (to a file others may read), the link is replaced and
    its target never receives the key. The server refuses --sap unless
    --sap-announces-key."""
    sdp = e2e.tmp("stream.sdp")
    victim = e2e.tmp("readable-by-all.txt")
    with open(victim, "w") as f:
        f.write("old\n")
    os.chmod(victim, 0o644)
    if os.path.lexists(sdp):
        os.unlink(sdp)
    os.symlink(victim, sdp)
    with Children() as children:
        refused = children.start(e2e.server_cmd("--srtp", "--sap", "--tone", "440"), "refused")
        expect_exit(refused, 2, 10)
        if not any("--sap-announces-key" in line for line in refused.stderr_lines):
            raise Failure(f"--srtp --sap was refused without naming the way out:\n"
                          f"{refused.transcript()}")
        server = children.start(e2e.server_cmd("--srtp", "--srtp-suite", "AEAD_AES_128_GCM",
                                               "--sdp", sdp, "--tone", "440", "--duration", "4"),
                                "server")
        server.wait_for_line(r"streaming", 10)
        if os.path.islink(sdp):
            raise Failure("the keyed SDP was written through a symbolic link")
        mode = stat.S_IMODE(os.stat(sdp).st_mode)
        if mode != 0o600:
            raise Failure(f"the keyed SDP has mode {mode:04o}, expected 0600")
        with open(victim) as f:
            if f.read() != "old\n":
                raise Failure("the keyed SDP went into the file the link pointed at")
        left = [n for n in os.listdir(os.path.dirname(sdp)) if n.startswith("stream.sdp.")]
        if left:
            raise Failure(f"temporary files left beside the SDP: {left}")
        with open(sdp) as f:
            text = f.read()
        if "RTP/SAVP" not in text or not re.search(r"a=crypto:1 AEAD_AES_128_GCM inline:\S{40}",
                                                   text):
            raise Failure(f"the SDP does not carry the key:\n{text}")
        client = children.start(
            e2e.client_cmd("--sdp", sdp, "--duration", "2.5", "--latency-ms", "100",
                           "--max-rate-ppm", "0", "--no-playback",
                           "--output", e2e.tmp("client0.wav"),
                           "--stats-json", e2e.tmp("client0.json")), "client0")
        expect_exit(client, 0, 15)
        expect_exit(server, 0, 15)
    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    e2e.expect_no_loss(stats, "the client given the SDP")
    e2e.expect_tone(got, 440, "the client's recording")
    s = srtp_stats(stats, "the client given the SDP")
    if s["suite"] != "AEAD_AES_128_GCM":
        raise Failure(f"the client protects with {s['suite']}, not the SDP's suite")
    if s["unauthenticated"] + s["replayed"] + s["malformed"] != 0:
        raise Failure(f"the client refused packets of the stream: {s}")
    print(f"SDP a=crypto (AEAD_AES_128_GCM, mode 0600): the tone, {stats['packets_received']} "
          f"packets; --sap refused without --sap-announces-key")


class Capture(threading.Thread):
    """Joins the group as any host can and keeps every datagram the real
    sender sends (its address is the first that is not the stranger's), with
    its address and port, for replaying."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((GROUP, PORT))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton(GROUP) + socket.inet_aton("127.0.0.1"))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.packets = []
        self.sender = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                data, (addr, port) = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if addr == hostile.STRANGER or len(data) < 12:
                continue
            with self.lock:
                if self.sender is None:
                    self.sender = (addr, port)
                if (addr, port) == self.sender:
                    self.packets.append(data)

    def newest(self):
        with self.lock:
            return self.packets[-1] if self.packets else None

    def taken(self):
        with self.lock:
            return list(self.packets)


def forged_and_replayed_cost_nothing():
    """With SRTP on, a host on the group floods junk at 20,000 datagrams/s
    from before the server starts, forges packets from the server's own
    address and port with its SSRC and the next sequence numbers (the header
    is in the clear), and replays packets it captured, from the server's
    address and from its own. The key holder's recording is the source
    bit-exact; every datagram that reached it and was not the server's is
    counted as refused by SRTP, and none reaches the session."""
    source = harness.noise(48000, 2, 2, 4.0, seed=29)
    harness.write_wav(e2e.tmp("source.wav"), source)
    key = e2e.tmp("stream.key")
    with open(key, "w") as f:
        f.write("4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm\n")
    os.chmod(key, 0o600)
    flood = hostile.Flood(rate=20000)
    capture = Capture()
    forger = hostile.Forger()
    forged = replayed = 0
    with Children() as children:
        client = e2e.start_clients(children, 1, source, seconds=8.0, latency_ms=200,
                                   extra=("--srtp", "--key-file", key))[0]
        capture.start()
        flood.start()
        time.sleep(0.5)
        server = children.start(e2e.server_cmd("--srtp", "--key-file", key, "--file",
                                               e2e.tmp("source.wav")), "server",
                                stdin=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while capture.newest() is None:
            if time.monotonic() > deadline:
                raise Failure("the attacker never heard the server")
            time.sleep(0.01)
        addr, port = capture.sender
        time.sleep(0.5)
        junk = bytes(970)
        # The next five sequence numbers, in the sender's name, ten times over.
        for _ in range(10):
            newest = capture.newest()
            _, pt, seq, ts, ssrc = struct.unpack("!BBHII", newest[:12])
            for k in range(1, 6):
                forger.send(addr, port, GROUP, PORT,
                            hostile.rtp(pt & 0x7F, seq + k, ts + 240 * k, ssrc, junk))
                forged += 1
            time.sleep(0.1)
        # Replays of what it captured, from the sender's address and from its own.
        # Spread over 0.6 s: a burst into a socket the flood keeps full would
        # mostly be dropped by the kernel, and prove nothing.
        taken = capture.taken()
        for i, d in enumerate(taken[-300:]):
            if i % 2:
                forger.send(addr, port, GROUP, PORT, d)
            else:
                forger.send(hostile.STRANGER, 40002, GROUP, PORT, d)
            replayed += 1
            time.sleep(0.002)
        # The flood's junk on the RTCP port fails SRTCP's checks at the server.
        status = server.wait_for_line(r"^playing at .*SRTCP refused \d+ RTCP packets", 5,
                                      after=server.send("STATUS\n"))
        expect_exit(server, 0, 15)
        expect_exit(client, 0, 15)
        flood.stop.set()
        capture.stop.set()
    flood.join(2)
    capture.join(2)

    got = harness.read_wav(e2e.tmp("client0.wav"))
    stats = harness.read_json(e2e.tmp("client0.json"))
    played, _ = hostile.expect_source_played(got, source, stats, flood, then_silence=True,
                                             server=server)
    s = srtp_stats(stats, "the key holder")
    refused = s["unauthenticated"] + s["replayed"] + s["malformed"]
    # Only SRTP judged the attack. A replay passes it only where this host
    # never received the real packet of that index (the kernel dropped it
    # with the flood): authentic, it then meets the session as any packet
    # from another address (foreign) or too late (discarded) does.
    if stats["packets_malformed"] != 0:
        raise Failure(f"packets_malformed is {stats['packets_malformed']}: a datagram that was "
                      f"not the server's got past SRTP: {stats}")
    passed = (stats["packets_foreign"] + stats["packets_discarded"] +
              stats["packets_duplicate"])
    if passed > stats["packets_lost"]:
        raise Failure(f"{passed} datagrams not played got past SRTP (foreign, discarded, "
                      f"duplicate), more than the {stats['packets_lost']} real packets this host "
                      f"lost, whose replays alone may pass: {stats}")
    # The flood goes on while the client stops: what it sends then is neither
    # read nor dropped, hence the 5 % (as in hostile.py).
    sent = flood.sent + forged + replayed
    dropped = stats["socket_overflow"]
    if not sent * 0.95 - dropped <= refused + passed <= sent:
        raise Failure(f"{sent} datagrams were sent to the media port ({flood.sent} flood, "
                      f"{forged} forged, {replayed} replayed) and {dropped} dropped by this "
                      f"host; SRTP refused {refused} and let {passed} replays through: {s}")
    # A forged "next" packet that arrives after the real one of its number
    # claims an index already received: refused as a replay.
    if not 0.5 * replayed <= s["replayed"] <= replayed + forged:
        raise Failure(f"{replayed} replays and {forged} forgeries were sent; SRTP counted "
                      f"{s['replayed']} as replays (this host dropped {dropped} datagrams of "
                      f"all {sent})")
    if flood.achieved() < 0.95 * flood.rate:
        raise Failure(f"the flood reached only {flood.achieved():.0f} datagrams/s of "
                      f"{flood.rate}: the machine is too busy for this test's claim")
    print(f"{played}; flood {flood.sent} at {flood.achieved():.0f}/s, {forged} forged, "
          f"{replayed} replayed; SRTP refused {refused} (unauthenticated "
          f"{s['unauthenticated']}, replayed {s['replayed']}, malformed {s['malformed']}); "
          f"RTCP refused {s['rtcp_unauthenticated'] + s['rtcp_replayed'] + s['rtcp_malformed']}; "
          f"the server's STATUS: {re.search(r'SRTCP refused [^;]*', status).group(0)}")


def careless_keys():
    """What a careless user gives for a key: each refused with one line that
    says why, naming lengths and never the key; a key file others may read
    is used with a warning; a key on the command line is used with one."""
    with open(e2e.tmp("short.key"), "w") as f:
        f.write("4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYL\n")  # 27 bytes
    with open(e2e.tmp("open.key"), "w") as f:
        f.write("4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm\n")
    os.chmod(e2e.tmp("open.key"), 0o644)
    escape_name = e2e.tmp("\x1b[2Jkey")
    # A GCM stream's SDP, and a 28-byte key file that matches it.
    gcm_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA=="
    with open(e2e.tmp("gcm.sdp"), "w") as f:
        f.write("v=0\ns=x\nc=IN IP4 239.255.0.1/1\nt=0 0\nm=audio 5004 RTP/SAVP 96\n"
                f"a=rtpmap:96 L16/48000/2\na=crypto:1 AEAD_AES_128_GCM inline:{gcm_key}\n")
    with open(e2e.tmp("gcm.key"), "w") as f:
        f.write(gcm_key + "\n")
    os.chmod(e2e.tmp("gcm.key"), 0o600)
    server, client = "audiocast-server", "audiocast-client"
    cases = [
        (client, ["--srtp", "--no-playback"], 2, "needs the key"),
        (client, ["--key-file", e2e.tmp("open.key"), "--no-playback"], 2, "for --srtp"),
        (client, ["--srtp-suite", "AEAD_AES_128_GCM", "--no-playback"], 2, "for --srtp"),
        (client, ["--srtp", "--srtp-suite", "AES_CM_128_HMAC_SHA1_32", "--no-playback"], 2,
         "AES_CM_128_HMAC_SHA1_80"),
        (client, ["--srtp", "--key-file", "/dev/zero", "--no-playback"], 1, "larger than"),
        (client, ["--srtp", "--key-file", e2e.tmp("short.key"), "--no-playback"], 2, "30-byte"),
        (client, ["--srtp", "--key-file", e2e.tmp("missing.key"), "--no-playback"], 1,
         "missing.key"),
        (client, ["--srtp", "--key-file", escape_name, "--no-playback"], 1, "key"),
        (client, ["--srtp", "--key", "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm", "--key-file",
                  e2e.tmp("open.key"), "--no-playback"], 2, "excludes"),
        (server, ["--srtp", "--key-file", e2e.tmp("no-such-dir/new.key")], 1, "new.key"),
        (server, ["--sap-announces-key"], 2, "--sap"),
        # The MTU named is the one given, and the advice makes room for the tag.
        (server, ["--srtp", "--mtu", "1000", "--ptime-ms", "10", "--tone", "440"], 2,
         "a 1000-byte MTU carries 934; use --ptime-ms 2 or --mtu 1986"),
        # The SDP's suite against another on the command line: both named.
        (client, ["--sdp", e2e.tmp("gcm.sdp"), "--srtp-suite", "AES_CM_128_HMAC_SHA1_80",
                  "--no-playback"], 2, "a=crypto says AEAD_AES_128_GCM"),
    ]
    failures = []
    with Children() as children:
        for program, args, code, words in cases:
            cmd = (e2e.server_cmd if program == server else e2e.client_cmd)(*args)
            p = children.start(cmd, program)
            try:
                expect_exit(p, code, 10)
            except Failure as f:
                failures.append(f"{program} {args}: {f}")
                continue
            err = "\n".join(p.stderr_lines)
            if words not in err or "\x1b" in err or "OqvmQ" in err or "rtpYL" in err:
                failures.append(f"{program} {args}: stderr {err!r} should hold {words!r}, no "
                                f"escape code and no key")
        # A key file read in the SDP's suite (28 bytes for GCM), not the default's.
        p = children.start(e2e.client_cmd("--sdp", e2e.tmp("gcm.sdp"), "--key-file",
                                          e2e.tmp("gcm.key"), "--no-playback", "--duration",
                                          "0.3"), "gcm")
        try:
            expect_exit(p, 0, 10)
        except Failure as f:
            failures.append(f"a GCM SDP with its key file: {f}")
        # Used, with a warning each: a key file others may read; --key.
        for args, warning in (
                (["--key-file", e2e.tmp("open.key")], "0644"),
                (["--key", "4fl6DT4Bi+DWT6MsBt5BOQ7Gda1Jiv7rtpYLOqvm"], "command line")):
            p = children.start(e2e.client_cmd("--srtp", *args, "--no-playback", "--duration",
                                              "0.3"), "warned")
            try:
                expect_exit(p, 0, 10)
            except Failure as f:
                failures.append(f"{args}: {f}")
                continue
            if not any(warning in line and "warning" in line for line in p.stderr_lines):
                failures.append(f"{args}: no warning naming {warning!r}:\n{p.transcript()}")
        # A fresh key that no listener is given: streamed, with a warning.
        p = children.start(e2e.server_cmd("--srtp", "--tone", "440", "--duration", "0.3"),
                           "keyless")
        try:
            expect_exit(p, 0, 10)
            if not any("warning" in line and "no listener" in line for line in p.stderr_lines):
                failures.append(f"--srtp alone: no warning that no listener has the key:\n"
                                f"{p.transcript()}")
        except Failure as f:
            failures.append(f"--srtp alone: {f}")
    if failures:
        raise Failure("\n".join(failures))
    print(f"{len(cases)} careless keys refused, each saying why; 3 risky ones used with a "
          f"warning")


CASES = {
    "srtp_key_file_plays_and_strangers_hear_nothing": key_file_plays_and_strangers_hear_nothing,
    "srtp_sdp_carries_the_key": sdp_carries_the_key,
    "srtp_forged_and_replayed_cost_nothing": forged_and_replayed_cost_nothing,
    "srtp_careless_keys": careless_keys,
}

if __name__ == "__main__":
    sys.exit(harness.run_cases(CASES, "srtp", e2e.set_up))
