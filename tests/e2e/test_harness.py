#!/usr/bin/env python3
"""Tests of the e2e harness's own judgement: a check that blames the product
for what the harness miscounts makes every e2e failure suspect.

    python3 tests/e2e/test_harness.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PACKET = 240
FADE = 96


def conceal(sound, first_packet, seed):
    """`sound` with one packet and a fade either side replaced by other
    noise, as a receiver's concealment changes it."""
    other = harness.noise(sound.rate, sound.channels, sound.width, 1, seed)
    fb = sound.frame_bytes
    start, end = first_packet * PACKET - FADE, (first_packet + 1) * PACKET + FADE
    data = bytearray(sound.data)
    data[start * fb:end * fb] = other.data[:(end - start) * fb]
    return harness.Sound(sound.rate, sound.channels, sound.width, bytes(data))


class LossAccounting(unittest.TestCase):
    def setUp(self):
        self.source = harness.noise(48000, 2, 2, 1, seed=1)

    def test_one_loss_is_one_packet(self):
        got = conceal(self.source, 10, seed=2)
        harness.expect_same_audio_but_for_lost_packets(got, self.source, "one", 1, PACKET, FADE)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_but_for_lost_packets(got, self.source, "one", 0, PACKET,
                                                           FADE)

    def test_two_losses_one_packet_apart_are_two_packets(self):
        # The CI failure of opus-codec: the packet between two losses is
        # faded out and in, so the two changes join into one 816-frame span.
        got = conceal(conceal(self.source, 10, seed=2), 12, seed=3)
        self.assertEqual(len(harness.differing_spans(got, self.source)), 1)
        harness.expect_same_audio_but_for_lost_packets(got, self.source, "two", 2, PACKET, FADE)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_but_for_lost_packets(got, self.source, "two", 1, PACKET,
                                                           FADE)

    def test_losses_far_apart_are_counted_apart(self):
        got = conceal(conceal(conceal(self.source, 10, seed=2), 40, seed=3), 80, seed=4)
        self.assertEqual(len(harness.differing_spans(got, self.source)), 3)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_but_for_lost_packets(got, self.source, "three", 2, PACKET,
                                                           FADE)

    def test_a_long_corruption_is_not_excused_by_one_loss(self):
        data = bytearray(self.source.data)
        fb = self.source.frame_bytes
        data[1000 * fb:3000 * fb] = bytes(2000 * fb)
        got = harness.Sound(48000, 2, 2, bytes(data))
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_but_for_lost_packets(got, self.source, "long", 2, PACKET,
                                                           FADE)


def with_gap(sound, at, frames, seed):
    """`sound` with a sender's slip heard at frame `at`: `frames` inserted,
    a fade from the last frame to silence then silence, and the audio after
    it faded in (changed here to other noise)."""
    fb = sound.frame_bytes
    other = harness.noise(sound.rate, sound.channels, sound.width, 1, seed).data
    gap = other[:FADE * fb] + bytes((frames - FADE) * fb)
    faded_in = other[FADE * fb:2 * FADE * fb]
    data = sound.data[:at * fb] + gap + faded_in + sound.data[(at + FADE) * fb:]
    return harness.Sound(sound.rate, sound.channels, sound.width, data)


class SlipGaps(unittest.TestCase):
    def setUp(self):
        self.source = harness.noise(48000, 2, 2, 1, seed=1)

    def test_a_slip_the_server_reported_is_taken_out(self):
        got = with_gap(self.source, 12000, 6101, seed=5)
        gaps = harness.expect_same_audio_across_slips(got, self.source, "slip", 6101)
        self.assertEqual(gaps, [(12000, 6101)])

    def test_an_unreported_gap_fails(self):
        got = with_gap(self.source, 12000, 6101, seed=5)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_across_slips(got, self.source, "slip", 0)

    def test_a_gap_longer_than_reported_fails(self):
        got = with_gap(self.source, 12000, 6101, seed=5)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_across_slips(got, self.source, "slip", 3000)

    def test_two_slips_and_a_loss(self):
        got = conceal(with_gap(with_gap(self.source, 30000, 2000, seed=5), 9000, 4000, seed=6),
                      20, seed=7)
        gaps = harness.expect_same_audio_across_slips(got, self.source, "slips", 6000, lost=1)
        self.assertEqual(sum(n for _, n in gaps), 6000)
        with self.assertRaises(harness.Failure):
            harness.expect_same_audio_across_slips(got, self.source, "slips", 6000, lost=0)

    def test_a_slip_with_its_silence_removed(self):
        # The silence-removed comparisons see only the fade's frames inserted.
        got = harness.without_silence(with_gap(self.source, 12000, 6101, seed=5))
        gaps = harness.expect_same_audio_across_slips(got, self.source, "slip", 6101)
        self.assertEqual(gaps, [(12000, FADE)])


if __name__ == "__main__":
    unittest.main()
