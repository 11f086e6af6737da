"""Camera tracking: camera model and calibration, marker bodies, pose estimation, filters,
frame sources and recording. No GUI."""
