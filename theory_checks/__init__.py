"""Bounds as code (kappa, beta_t, Table 1, instance bounds) and the checks that hold experiments against them."""
