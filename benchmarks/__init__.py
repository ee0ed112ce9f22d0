"""The benchmark harness (``python -m benchmarks``): how well the pipeline does its job.

Every figure is a ratio against something measured in the same run on the same machine (the
floor of moving the same bytes once, the same run at another history depth or volume, DuckDB
answering the same question), so the report reads the same on a laptop and on a server. The
test suite never times anything; it only runs the quick mode to keep the harness working.
"""

# Days between maintenance runs while a history is built, as dags/lakehouse_maintenance.py
# schedules them.
WEEKLY = 7
