"""Named studies (specs), the timing study, and the main command `python -m paper_repro`."""
