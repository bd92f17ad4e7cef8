"""Facts about the model that light modules (metrics, plots, run records) need without importing torch."""

#: (name in the model's state_dict, fan_in, fan_out) of each linear layer, input to output (SPEC §3).
LAYERS = (("encoder.0", 3, 16), ("encoder.2", 16, 4), ("decoder.0", 4, 16), ("decoder.2", 16, 3))
LATENT_DIM = 4
#: The direction the anchor regularizer pulls "red" towards, and M1 measures against.
ANCHOR = (1.0, 0.0, 0.0, 0.0)

#: The experiment's regularizers (SPEC §4): name (the schedule's weight column) → the labels each one reads
#: and their affinities, or None for one that sees every sample. ``regularizers.REGULARIZERS`` implements them.
REGULARIZER_LABELS: dict[str, dict[str, float] | None] = {
    "reg-anchor": {"red": 1.0},
    "reg-separate": None,
    "reg-planar": {"vibrant": 1.0},
}

#: Column names of latent tables.
LATENT_COLUMNS = [f"z{i}" for i in range(LATENT_DIM)]
RECONSTRUCTION_COLUMNS = ["r_hat", "g_hat", "b_hat"]
