"""memprofile: variants, the analytic memory model against real measurements, and the plan.

The measured tests run each variant in a fresh subprocess (as the command does) at a length
where the activations are hundreds of MiB, far above the allocator's noise.
"""

import dataclasses
import json

import pytest

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM
from reformer_cli.memprofile.estimate import estimate_peak, parameter_count, step_flops
from reformer_cli.memprofile.measure import MeasureSpec, measure_in_subprocess
from reformer_cli.memprofile.profile import ProfileRequest, run_profile
from reformer_cli.memprofile.report import fit_limits, table_cells, to_csv, to_json
from reformer_cli.memprofile.variants import build_variants

# Three layers (so depth and reversibility matter), a vocabulary big enough that the logits
# matter, L = 2048: the naive score matrices (4 x 16 MiB per layer), the logits (64 MiB) and the
# LSH streams all dominate the ~MiB noise of the allocator.
MEASURED_CONFIG = ModelConfig(vocab_size=8000, d_model=128, n_heads=4, d_ff=512, n_layers=3,
                              layer_types=["local", "lsh"], chunk_length=64, n_hashes=2,
                              hash_seed=1)
MEASURED_LENGTH = 2048
GIB = 2**30


@pytest.fixture(scope="module")
def measured_rows():
    """Row index -> (variant, MeasureResult) for the five variants at MEASURED_LENGTH."""
    results = {}
    for variant in build_variants(MEASURED_CONFIG):
        spec = MeasureSpec(config=variant.config.to_dict(), seq_len=MEASURED_LENGTH)
        results[variant.index] = (variant, measure_in_subprocess(spec, 6 * GIB, 120))
    return results


def test_variants_add_one_technique_per_row():
    rows = build_variants(dataclasses.replace(MEASURED_CONFIG, ff_chunk_size=0))
    configs = [row.config for row in rows]
    assert [c.layer_types for c in configs] == [["naive"], ["full"]] + [["local", "lsh"]] * 3
    assert [c.reversible for c in configs] == [False, False, False, True, True]
    assert [c.ff_chunk_size for c in configs][:4] == [0, 0, 0, 0]
    assert configs[4].ff_chunk_size > 0 and configs[4].loss_chunk_size > 0
    for config in configs:  # same width, depth, heads and vocabulary everywhere
        assert (config.d_model, config.n_layers, config.n_heads, config.vocab_size) == (128, 3, 4, 8000)


def test_an_all_full_config_gets_lsh_in_row_three():
    rows = build_variants(ModelConfig(layer_types=["full"]))
    assert rows[2].config.layer_types == ["lsh"]


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False},
                                       {"layer_types": ["naive", "lsh", "full"], "n_layers": 3}])
def test_parameter_count_is_exact(overrides):
    settings = dict(vocab_size=300, d_model=64, n_heads=4, d_ff=96, n_layers=2)
    config = ModelConfig(**{**settings, **overrides})
    assert parameter_count(config) == ReformerLM(config).num_parameters()


@pytest.mark.parametrize("mode", ["train", "forward"])
def test_naive_attention_memory_grows_quadratically_and_lsh_linearly(mode):
    rows = build_variants(ModelConfig())
    naive = [estimate_peak(rows[0].config, n, mode=mode).activation_bytes for n in (16384, 32768)]
    lsh = [estimate_peak(rows[4].config, n, mode=mode).activation_bytes for n in (16384, 32768)]
    assert 3.5 < naive[1] / naive[0] <= 4.0
    assert 1.8 < lsh[1] / lsh[0] <= 2.1
    assert step_flops(rows[0].config, 32768) / step_flops(rows[0].config, 16384) > 3.5


@pytest.mark.slow
def test_analytic_model_matches_measured_peak_within_20_percent(measured_rows):
    report = []
    for index, (variant, result) in measured_rows.items():
        assert result.status == "ok", (index, result.detail)
        estimate = estimate_peak(variant.config, MEASURED_LENGTH).peak_bytes
        report.append((index, result.peak_bytes / 2**20, estimate / 2**20))
    for _index, measured, estimated in report:
        assert abs(estimated / measured - 1) < 0.20, report


@pytest.mark.slow
def test_each_technique_saves_memory_at_a_measured_length(measured_rows):
    peak = {index: result.peak_bytes for index, (_, result) in measured_rows.items()}
    assert peak[5] < peak[3] < peak[1]
    assert peak[4] < peak[3]  # reversible layers really save memory with several layers


@pytest.mark.slow
def test_parameters_gradients_and_optimizer_state_are_reported(measured_rows):
    variant, result = measured_rows[5]
    assert result.param_count == parameter_count(variant.config)
    assert result.param_bytes == 4 * result.param_count
    assert result.optimizer_bytes >= 2 * result.param_bytes  # AdamW: exp_avg, exp_avg_sq
    assert result.peak_bytes > result.param_bytes + result.grad_bytes + result.optimizer_bytes


def test_a_row_over_its_memory_budget_is_oom_not_a_crash():
    spec = MeasureSpec(config=MEASURED_CONFIG.to_dict(), seq_len=MEASURED_LENGTH)
    result = measure_in_subprocess(spec, memory_limit_bytes=4 * 2**20, time_limit_seconds=120)
    assert result.status == "oom"
    assert result.peak_bytes is None and "budget" in result.detail


def _refuse_to_measure(spec, memory_limit, time_limit):
    raise AssertionError(f"row at L={spec.seq_len} should have been estimated, not run")


def test_rows_over_the_budget_or_time_limit_are_estimated_not_run():
    small = dataclasses.replace(MEASURED_CONFIG, vocab_size=500, d_model=64)
    over_memory = run_profile(ProfileRequest(config=small, seq_lens=[4096, 1024],
                                             memory_budget_bytes=1 << 20), _refuse_to_measure)
    assert [(row.seq_len, row.index) for row in over_memory][:2] == [(1024, 1), (1024, 2)]
    assert {row.source for row in over_memory} == {"estimated"}
    assert {row.status for row in over_memory} == {"over-memory", "after-failure"}
    assert fit_limits(over_memory) == {index: 1024 for index in range(1, 6)}
    over_time = run_profile(ProfileRequest(config=small, seq_lens=[1024],
                                           memory_budget_bytes=1 << 40, time_limit_seconds=1,
                                           flops_per_second=1.0), _refuse_to_measure)
    assert {row.status for row in over_time} == {"over-time"}
    cells = table_cells(over_time)
    assert all(cell[2].startswith("~") and cell[8].startswith("estimated") for cell in cells)


def test_json_and_csv_hold_every_row_with_its_source():
    small = dataclasses.replace(MEASURED_CONFIG, vocab_size=500, d_model=64)
    rows = run_profile(ProfileRequest(config=small, seq_lens=[512, 256],
                                      memory_budget_bytes=1 << 20), _refuse_to_measure)
    document = json.loads(json.dumps(to_json({"device": "cpu"}, rows)))
    assert len(document["rows"]) == 10
    assert all(row["source"] == "estimated" and row["estimate_bytes"] > 0
               for row in document["rows"])
    row_five = [row for row in document["rows"] if row["index"] == 5 and row["seq_len"] == 512][0]
    row_one = [row for row in document["rows"] if row["index"] == 1 and row["seq_len"] == 512][0]
    assert row_five["saving_vs_plain"] == pytest.approx(
        1 - row_five["estimate_bytes"] / row_one["estimate_bytes"])
    assert to_csv(rows).count("\n") == 11  # header + 10 rows


def test_cpu_measurement_includes_parameters_gradients_and_optimizer_state():
    config = dataclasses.replace(MEASURED_CONFIG, vocab_size=50000, d_model=64, n_layers=1,
                                 d_ff=64)  # 3.2M embedding parameters dominate a short sequence
    spec = MeasureSpec(config=config.to_dict(), seq_len=64)
    first = measure_in_subprocess(spec, 4 * GIB, 120)
    assert first.status == "ok", first.detail
    # parameters + gradients + AdamW state = 4 x 12.8 MB, all allocated after the baseline;
    # activations are tiny at L=64, the head adds at most a few (vocab, d) gradient buffers
    state = first.param_bytes + first.grad_bytes + first.optimizer_bytes
    assert state <= first.peak_bytes < state + 3 * first.param_bytes
