"""Checkpoints: self-describing folders, written atomically, loaded without executing code.

layout.py says what a folder holds; writing.py, finding.py and reading.py do what they say;
state_codec.py turns the nested training state into JSON + safetensors without pickle;
folder_lock.py keeps a run folder to one writer; branches.py moves an abandoned branch aside.
"""

from reformer_cli.checkpoint.branches import SetAside, archived_branch, set_aside_later_checkpoints
from reformer_cli.checkpoint.finding import (
                                             checkpoint_name,
                                             checkpoint_step,
                                             delete_folder,
                                             is_checkpoint_dir,
                                             latest_checkpoint,
                                             list_checkpoints,
                                             named_run_folder,
                                             prune_step_checkpoints,
                                             remove_stale_temporaries,
                                             resolve_model_dir,
)
from reformer_cli.checkpoint.folder_lock import run_folder_lock
from reformer_cli.checkpoint.layout import (
                                             CONFIG_FILE,
                                             FINAL_NAME,
                                             FORMAT_VERSION,
                                             MANIFEST_FILE,
                                             MODEL_FILE,
                                             MODELS_DIR,
                                             OLD_PREFIX,
                                             RUN_LOCK_FILE,
                                             STATE_JSON,
                                             STATE_TENSORS,
                                             STEP_PATTERN,
                                             SUPERSEDED_PREFIX,
                                             TMP_PREFIX,
                                             step_dir_name,
)
from reformer_cli.checkpoint.reading import (
                                             LoadedModel,
                                             load_config,
                                             load_model,
                                             load_model_state,
                                             read_model_state,
                                             read_training_state,
                                             verify_checkpoint,
)
from reformer_cli.checkpoint.writing import (
                                             save_checkpoint,
                                             save_inference_copy,
                                             write_atomically,
                                             write_run_config,
)

__all__ = ["CONFIG_FILE", "FINAL_NAME", "FORMAT_VERSION", "MANIFEST_FILE", "MODEL_FILE",
           "MODELS_DIR", "OLD_PREFIX", "RUN_LOCK_FILE", "STATE_JSON", "STATE_TENSORS",
           "STEP_PATTERN", "SUPERSEDED_PREFIX", "TMP_PREFIX",
           "LoadedModel", "SetAside", "archived_branch", "checkpoint_name", "checkpoint_step",
           "delete_folder", "is_checkpoint_dir",
           "latest_checkpoint", "list_checkpoints", "load_config",
           "load_model", "load_model_state", "named_run_folder", "prune_step_checkpoints",
           "read_model_state", "read_training_state", "remove_stale_temporaries",
           "resolve_model_dir", "run_folder_lock", "save_checkpoint", "save_inference_copy",
           "set_aside_later_checkpoints", "step_dir_name",
           "verify_checkpoint", "write_atomically", "write_run_config"]
