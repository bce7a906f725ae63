"""The frozen discriminator that judges examples given a label: prompt templates, the yes / no,
label-as-answer and label-as-cause readouts, the shared-prefix cache and the candidate vocabulary."""
