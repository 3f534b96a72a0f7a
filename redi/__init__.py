"""redi: a research harness for Reinforcement Distillation (REDI) and its baselines."""

__version__ = "0.1.0"
