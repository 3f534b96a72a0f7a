"""Teacher traces -> training rows: loaders (openr1), the paper's rules (builder), decontamination, the synthetic
teacher, length-grouped batching, and the teacher's statistics (``python -m redi.data.stats``)."""
