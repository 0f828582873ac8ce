"""Predictions people can see: SMPL meshes drawn over the video (and from the side), temporal smoothing,
and exports (npz, OBJ sequences). Pure functions on arrays and files; no Dask, no model checkpoints.

  people.py      PersonSequence: one person's per-frame SMPL over a video, and its posed vertices
  projection.py  weak-perspective crop camera -> original pixels, implied depth, camera-space points
  gl.py          the rasteriser: moderngl on an EGL context (Mesa's llvmpipe on CPU, the GPU's driver on GPU)
  raster.py      the same drawing in torch, where no OpenGL context can be made (pip's wheels alone)
  backend.py     which of the two draws (OpenGL if it starts; HMMR_RENDERER=gl|torch forces one)
  overlay.py     a frame with every person drawn, people depth-ordered, optionally with a side view
  video.py       a whole mp4, or one still, from a video file
  smoothing.py   one-euro filter on pose (as quaternions) and camera, and its effect as acceleration
  export.py      npz with documented keys, OBJ per frame
"""
