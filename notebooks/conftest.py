"""pytest in notebooks/: the lessons and the solutions are compared by nbval; the exercise
notebooks are a learner's own work (git ignores them), never part of the test suite.
tests/test_exercises.py generates fresh ones in a temporary folder and runs those."""

collect_ignore = ["exercises"]
