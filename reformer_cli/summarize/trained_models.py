"""Loading the model a trained summarizer needs, checked for the task it was trained for and
cached, so that several files (or the pairs of `reformer eval`) share one load."""

from __future__ import annotations

from reformer_cli.errors import InputError

_LOADED: dict = {}  # one model at a time: (path, weights' mtime, device, task) -> (model, hashes)


def load_trained(model_dir, device, task: str, needs: str):
    """(LoadedModel on `device`, the LSH hash rounds it was trained with) for a checkpoint
    trained with `--task task`; any other model is an InputError that starts with `needs`."""
    from reformer_cli import checkpoint

    path = checkpoint.resolve_model_dir(model_dir)
    weights = path / checkpoint.MODEL_FILE  # its time stamp: a model re-trained in place reloads
    key = (str(path.resolve()), weights.stat().st_mtime_ns if weights.exists() else 0, str(device),
           task)
    if key not in _LOADED:
        config = checkpoint.load_config(path)
        if config.data.task != task:
            raise InputError(f"{needs}; the model at {path} was trained with --task "
                             f"{config.data.task}",
                             "pass such a model with --model, or use --method extractive")
        _LOADED.clear()
        _LOADED[key] = (checkpoint.load_model(path, device=device), config.model.n_hashes)
    return _LOADED[key]
