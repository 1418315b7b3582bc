"""`reformer memprofile`: variants (variants.py), measurement (measure.py), the analytic memory
model (estimate.py), the run plan (profile.py) and its tables/JSON/CSV/plot data (report.py)."""
