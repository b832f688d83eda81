"""What is trained here, in NumPy with hand-written gradients: one attention layer on a task
(`training`), an attention classifier of digits (`classifier`, on `vision`'s data), its baselines
(`baselines`), and the torch reference used by tests only (`autograd`)."""
