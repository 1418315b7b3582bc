"""Builds the training examples of many (document, summary) pairs in a pool of processes.

Splitting, labelling and tokenizing a pair is pure Python and takes a tenth of a second for a
long document, so thousands of pairs take minutes on one core. The results come back in the
pairs' order, so the examples are the same whatever the number of processes.
"""

from __future__ import annotations

import multiprocessing
from typing import Callable, Iterator, Sequence, TypeVar

Result = TypeVar("Result")
PairFunction = Callable[[str, str], Result]

POOL_MIN_PAIRS = 200  # fewer pairs than this are quicker than starting the processes
PAIRS_PER_TASK = 8

_worker_function: PairFunction | None = None


def _start_worker(function: PairFunction) -> None:
    global _worker_function
    _worker_function = function


def _run(pair: tuple[str, str]):
    return _worker_function(*pair)


def map_pairs(function: PairFunction, pairs: Sequence[tuple[str, str]], workers: int,
              on_result: Callable[[], None] | None = None,
              pool_min_pairs: int = POOL_MIN_PAIRS) -> Iterator[Result]:
    """function(document, summary) of every pair, in order. `function` must pickle (a
    module-level function, or a functools.partial of one); `workers` > 1 runs that many
    processes once there are at least `pool_min_pairs` pairs. `on_result` is called after each."""
    if workers <= 1 or len(pairs) < pool_min_pairs:
        results = (function(document, summary) for document, summary in pairs)
    else:
        # spawn: a fresh interpreter per worker, safe whatever threads the parent has started
        context = multiprocessing.get_context("spawn")
        pool = context.Pool(min(workers, len(pairs)), initializer=_start_worker,
                            initargs=(function,))
        results = _from_pool(pool, pairs)
    for result in results:
        if on_result is not None:
            on_result()
        yield result


def _from_pool(pool, pairs):
    with pool:
        yield from pool.imap(_run, pairs, chunksize=PAIRS_PER_TASK)
