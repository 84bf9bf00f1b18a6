"""Real-data experiment drivers: passive training, pool-based active selection and multi-arm
deployment on feature banks (`sim.real`), run with the same kernels as the synthetic studies.

`pipeline.run_pipeline` (the command `python -m paper_repro real --data FILE`) takes a user's
data (`user_data`) through splits by prompt (`splits`), constants chosen on validation
(`tuning`), the three comparisons, and intervals with trivial baselines (`uncertainty`)."""
