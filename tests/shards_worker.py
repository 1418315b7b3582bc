"""One process of the token-shard tests (tests/test_shards.py).

    python tests/shards_worker.py MODE FOLDER CORPUS [MARKER]

prepare: prepare the byte-tokenized shards of CORPUS in FOLDER, print a JSON summary.
hang:    the same, but the first shard write stops halfway, creates MARKER and sleeps (to be
         killed with SIGKILL mid-write).
slow:    the same, but every write creates MARKER and takes a moment (so a second process
         arrives while this one holds the folder).
sample:  map the shards of FOLDER, draw training and validation windows, print the peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from reformer_cli.config.run import DataConfig
from reformer_cli.shards.prepare import ShardOptions, prepare_shards

MARKER: Path | None = None


def hanging_write(file, data: bytes) -> None:
    file.write(data[:len(data) // 2])
    file.flush()
    MARKER.write_text("writing")
    time.sleep(120)


def slow_write(file, data: bytes) -> None:
    MARKER.write_text("writing")
    time.sleep(0.3)
    file.write(data)


def main(mode: str, folder: str, corpus: str, marker: str | None = None) -> None:
    global MARKER
    MARKER = Path(marker) if marker else None
    writer = {"hang": hanging_write, "slow": slow_write}.get(mode)
    options = ShardOptions(workers=1, small_corpus_bytes=0, piece_bytes=1 << 14)
    if writer is not None:
        options.write = writer
    waited = []
    data = DataConfig(tokenizer="byte", val_fraction=0.1)
    shards = prepare_shards([corpus], data, 0, folder, on_event=waited.append, options=options)
    if mode == "sample":
        from reformer_cli.data.windows import WindowSampler, evaluation_batches

        sampler = WindowSampler(shards.train, 256, seed=0)
        for _ in range(50):
            sampler.next_batch(4)
        evaluation_batches(shards.val, 256, 4, 4)
    print(json.dumps({"encoded": shards.encoded, "reused": shards.reused,
                      "fingerprint": shards.fingerprint, "tokens": len(shards.train),
                      "waited": any(event.kind == "waiting" for event in waited),
                      "peak_rss_kib": peak_rss_kib()}))


def peak_rss_kib() -> int:
    """This program's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    from the parent at fork, so a child of a big test process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main(*sys.argv[1:])
