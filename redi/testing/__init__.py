"""Support code for tests and for developers reproducing test set-ups by hand (not used by training)."""
