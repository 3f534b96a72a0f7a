"""Grading: the final answer of a response and the gold (``answers``), Math-Verify in a worker process
(``verify_worker``), and the pool with its wall-clock limit (``grader``). Used by the synthetic teacher,
self-generated data and evaluation alike, so it sits below all three.
"""
