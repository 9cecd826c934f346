"""Training side of ssl-dynamics: data, augmentations and (elsewhere) the SSL training engine."""
