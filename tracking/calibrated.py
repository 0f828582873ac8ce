"""The tracker's measured constants, written by `python -m tracking.calibrate --write` (the README's
tracking section says how they were measured). SIGMAS: each joint's spread in body heights, WEIGHTS:
its weight, in BODY_25 order (nose, neck, right_shoulder, ...)."""
import numpy as np

SIGMAS = np.array([0.0176, 0.0129, 0.0181, 0.0254, 0.0351, 0.0178, 0.0265, 0.0375, 0.0148, 0.0174, 0.0271, 0.0416, 0.0186, 0.0276, 0.0428, 0.0169, 0.0168, 0.0164, 0.0157, 0.0503, 0.0254, 0.0477, 0.0507, 0.0254, 0.0464])
WEIGHTS = np.array([0.9814, 0.9817, 0.9728, 0.9920, 0.9693, 1.0000, 0.9793, 0.9717, 0.9941, 0.9871, 0.9827, 0.9464, 0.9919, 0.9919, 0.9573, 0.9660, 0.9739, 0.9735, 0.9679, 0.9603, 0.9846, 0.9591, 0.9473, 0.9762, 0.9560])
OKS_SCALE = 1.0
OKS_WEIGHT = 0.6
MAX_COST = 0.714
MAX_GAP = 30
DEFER_MARGIN = 0.2
