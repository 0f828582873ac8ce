"""A stand-in for OpenPose's `pyopenpose` module with the same API surface and documented output shapes.

The real module cannot run here (no OpenPose build, no weights). This one records how it was configured
and returns, for each image, people whose keypoints are a deterministic function of the image, so a
test can check that our adapter puts exactly these numbers into the detections table.
"""
import numpy as np

CONFIGURED = []


def expected_keypoints(bgr):
    """(people, 25, 3): as many people as the image's mean blue value mod 3, at pixel positions derived
    from the image; no people -> None, as OpenPose gives for an empty frame."""
    n_people = int(bgr[..., 0].mean()) % 3
    if n_people == 0:
        return None
    h, w = bgr.shape[:2]
    joints = np.arange(25, dtype=np.float32)
    people = []
    for p in range(n_people):
        x = (joints * 7 + p * 50) % w
        y = (joints * 11 + p * 30) % h
        confidence = np.full(25, 0.5 + 0.1 * p, np.float32)
        people.append(np.stack([x, y, confidence], axis=1))
    return np.stack(people).astype(np.float32)


class Datum:
    def __init__(self):
        self.cvInputData = None
        self.poseKeypoints = None


class VectorDatum(list):
    pass


class WrapperPython:
    def __init__(self):
        self.params = None
        self.started = False

    def configure(self, params):
        if params.get("model_pose") != "BODY_25":
            raise RuntimeError("stand-in supports BODY_25 only")
        self.params = dict(params)
        CONFIGURED.append(self.params)

    def start(self):
        self.started = True

    def emplaceAndPop(self, datums):
        if not self.started:
            raise RuntimeError("emplaceAndPop before start()")
        for datum in datums:
            image = datum.cvInputData
            if image is None or image.dtype != np.uint8 or image.ndim != 3:
                raise RuntimeError("cvInputData must be an HxWx3 uint8 BGR image")
            datum.poseKeypoints = expected_keypoints(image)
        return True
