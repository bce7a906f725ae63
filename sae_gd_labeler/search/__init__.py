"""The label search: its settings (config), the labeler that batches features (labeler, feature_batch), the
soft, discrete and label-as-answer searches, the loss (objective, calibration) and the memory sizing."""
