"""Real-data experiment drivers: passive training, pool-based active selection and multi-arm
deployment on feature banks (`sim.real`), run with the same kernels as the synthetic studies."""
