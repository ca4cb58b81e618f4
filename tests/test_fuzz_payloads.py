"""Seeded fuzzing of every codec (CI-sized; ``make fuzz`` runs the same generators at 100k+ cases).

Cases come from ``tests/fuzzlib.py``: payload mutations behind a valid file checksum (the
container repacked with the stored content checks), changed header fields, hostile declared
sizes and shapes at the decode limit; they run in two worker subprocesses under an
address-space cap. Every codec must turn every case into a clean ``NcodecError`` or the exact
data the unmutated file holds: no wrong output accepted, no crash, no hang, no decode above
512 MB or 10 s.
"""
from __future__ import annotations

import threading

import pytest

import fuzzlib

SEED = 20261201
CLASSICAL = {c: {"payload": 70, "header": 25, "shape": 25, "limit": 6}
             for c in fuzzlib.CLASSICAL_IMAGE + ("flac", "opus", "x264", "x264-lossless", "x265", "zstd")}
LEARNED = {"hclt": {"payload": 18, "header": 6, "shape": 6, "limit": 2},         # ~0.35 s a decode
           "flow": {"payload": 24, "header": 8, "shape": 8, "limit": 0},   # no at-limit runs: a 33 MP photo decode takes ~20 s
           "wavelet": {"payload": 30, "header": 12, "shape": 12, "limit": 2},
           "inr": {"payload": 30, "header": 12, "shape": 12, "limit": 2},
           "nerv": {"payload": 30, "header": 12, "shape": 12, "limit": 3},
           "hnerv": {"payload": 30, "header": 12, "shape": 12, "limit": 3}}


@pytest.fixture(scope="module")
def fuzz_results():
    out: dict[str, list] = {}

    def run(name: str, counts: dict) -> None:
        out[name] = fuzzlib.run_tasks(fuzzlib.plan(counts), seed=SEED, hang_s=60.0, mem_cap_mb=1024.0)
    threads = [threading.Thread(target=run, args=("classical", CLASSICAL)),
               threading.Thread(target=run, args=("learned", LEARNED))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if set(out) != {"classical", "learned"}:
        pytest.fail("a fuzz worker group did not finish")
    return fuzzlib.summarize(out["classical"] + out["learned"])


@pytest.mark.parametrize("codec", sorted({**CLASSICAL, **LEARNED}))
def test_codec_survives_fuzzing(fuzz_results, codec):
    s = fuzz_results[codec]
    want = sum(({**CLASSICAL, **LEARNED})[codec].values())
    assert s["cases"] == want
    bad = {k: s[k] for k in ("wrong", "crash", "memory", "hang") if s[k]}
    assert not bad, (bad, s["examples"])
    assert s["peak_mb"] <= fuzzlib.MEM_GOAL_MB, s["examples"]
    assert s["max_s"] <= fuzzlib.TIME_GOAL_S, s["examples"]
    assert s["clean"] > 0.5 * s["cases"]          # the mutations do reach the decoders' checks


def test_mutations_are_deterministic():
    a = fuzzlib.make_case("png", "payload", SEED, 3)
    b = fuzzlib.make_case("png", "payload", SEED, 3)
    assert a == b
    assert fuzzlib.make_case("png", "payload", SEED, 4)[0] != a[0]
