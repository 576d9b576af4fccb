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
import synchronized  # noqa: E402

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

    def test_a_recording_that_starts_late_is_found_where_it_starts(self):
        fb = self.source.frame_bytes
        silence = bytes(100 * fb)
        got = harness.Sound(48000, 2, 2, silence + self.source.data[3 * PACKET * fb:])
        self.assertEqual(harness.start_in_source(got, 100, self.source), 3 * PACKET)
        whole = harness.Sound(48000, 2, 2, silence + self.source.data)
        self.assertEqual(harness.start_in_source(whole, 100, self.source), 0)
        other = harness.noise(48000, 2, 2, 1, seed=9)
        self.assertIsNone(harness.start_in_source(other, 0, self.source))

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


class PausesBesidesSlips(unittest.TestCase):
    """A pause heard as silence, beside the gap a slipping server left (the
    CI failure of 7ec3a9e: e2e_pause_and_play found runs of 0.038 and
    1.961 s, the first a slip the server reported)."""

    def sound(self, *runs):
        data = bytearray(harness.noise(48000, 2, 2, 4, seed=3).data)
        for start, n in runs:
            data[start * 4:(start + n) * 4] = bytes(n * 4)
        return harness.Sound(48000, 2, 2, bytes(data))

    def test_the_pause_alone(self):
        self.assertEqual(harness.pauses_besides_slips(self.sound((48000, 94128)), 0), [94128])

    def test_a_slip_is_not_a_pause(self):
        got = self.sound((10000, 1824), (48000, 94128))
        self.assertEqual(harness.pauses_besides_slips(got, 2000), [94128])
        self.assertEqual(harness.pauses_besides_slips(got, 0), [1824, 94128])

    def test_a_gap_longer_than_the_slip_stays(self):
        got = self.sound((10000, 3000), (48000, 94128))
        self.assertEqual(harness.pauses_besides_slips(got, 2000), [3000, 94128])


class ClickGaps(unittest.TestCase):
    """The click-alignment cases judge the gaps between clicks heard: one
    click apart, a slip of the server, or whole clicks across a dry device."""
    EVERY = synchronized.CLICK_EVERY

    def test_clicks_on_the_grid_are_not_odd(self):
        heard = [1000 + i * self.EVERY for i in range(5)]
        self.assertEqual(synchronized.judge_click_gaps(heard, [], []), ([False] * 4, []))

    def test_a_slip_moves_the_grid(self):
        heard = [1000, 1000 + self.EVERY, 1000 + 2 * self.EVERY + 6017]
        self.assertEqual(synchronized.judge_click_gaps(heard, [], [6017]), ([False, True], []))

    def test_clicks_left_out_where_a_device_ran_dry(self):
        heard = [1000, 1000 + self.EVERY, 1000 + 13 * self.EVERY]
        window = [(1000 + self.EVERY + 10, 1000 + 12 * self.EVERY)]
        self.assertEqual(synchronized.judge_click_gaps(heard, window, []), ([False, False], []))
        self.assertEqual(synchronized.judge_click_gaps(heard, [], [])[1], [1])

    def test_a_slip_where_a_device_ran_dry(self):
        # The CI's stalled-server run: client0 ran dry around the server's
        # 6017-frame slip, and the clicks heard either side were 58817
        # frames (eleven clicks and the slip) apart.
        heard = [329381, 329381 + self.EVERY, 329381 + self.EVERY + 58817]
        window = [(329381 + self.EVERY + 100, 329381 + self.EVERY + 50000)]
        self.assertEqual(synchronized.judge_click_gaps(heard, window, [6017]),
                         ([False, True], []))
        # Without the dry device to explain the clicks left out, it is odd.
        self.assertEqual(synchronized.judge_click_gaps(heard, [], [6017]), ([False, False], [1]))

    def test_a_gap_off_the_grid_is_odd_even_across_a_dry_device(self):
        heard = [1000, 1000 + 3 * self.EVERY + 200]
        window = [(2000, 9000)]
        self.assertEqual(synchronized.judge_click_gaps(heard, window, [6017])[1], [0])


if __name__ == "__main__":
    unittest.main()
