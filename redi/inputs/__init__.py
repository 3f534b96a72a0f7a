"""What a stage starts from: the model and tokenizer (``model``), the training rows (``rows``), the
sampling model of self-generated data (``self_generated``) and the reference log-probs (``reference``).
"""
