"""Configuration: the model section (model.py), the run (run.py), loading YAML and overrides
(load.py), value checks (checks.py) and device names (device.py)."""
