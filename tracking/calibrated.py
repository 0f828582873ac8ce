"""The tracker's measured constants, written by `python -m tracking.calibrate --write` (the README's
tracking section says how they were measured). SIGMAS: each joint's spread in body heights, WEIGHTS:
its weight, in BODY_25 order (nose, neck, right_shoulder, ...)."""
import numpy as np

SIGMAS = np.array([0.0176, 0.0129, 0.0181, 0.0254, 0.0351, 0.0178, 0.0265, 0.0375, 0.0148, 0.0174, 0.0271, 0.0416, 0.0186, 0.0276, 0.0428, 0.0169, 0.0168, 0.0164, 0.0157, 0.0503, 0.0254, 0.0477, 0.0507, 0.0254, 0.0464])
WEIGHTS = np.array([0.9843, 0.9719, 0.9598, 0.9857, 0.9638, 1.0000, 0.9647, 0.9774, 0.9857, 0.9762, 0.9849, 0.9515, 0.9847, 0.9838, 0.9449, 0.9645, 0.9762, 0.9798, 0.9694, 0.9626, 0.9823, 0.9615, 0.9415, 0.9821, 0.9655])
OKS_SCALE = 4.0
OKS_WEIGHT = 0.4
MAX_COST = 0.586
