"""Camera tracking: camera model and calibration, marker bodies, pose estimation, filters, frame
sources, pose logs and recording. No GUI. tracking.synthetic renders footage with ground truth.

Modules:
    types            Frame, BodyPose, the FrameSource and PoseEstimator protocols
    camera           CameraModel (pinhole + distortion, JSON)
    calibration      chessboard / ChArUco camera calibration
    bodies           MarkerBody (ArUco tags on a rigid body), load/save
    boards, printsheet, tagrender   printable boards and marker sheets
    pose             MarkerTracker: detect tags, solve each body's pose (ROI search when tracking)
    tracker_settings TrackerSettings: the tracker's tuning
    detection, predicted, body_solve, pnp, edgerefine, roi, tag_consistency   the pose estimator's
                     parts (tag detection, steady tracking without detection, body poses from tag
                     corners, PnP, corners, regions, per-tag consistency)
    focal            focal length from the bodies' geometry (no calibration)
    filters          One-Euro PoseFilter (resets on loss)
    sources          camera, video, image folder and pose-log frame sources
    poselog          the append-only pose log (CSV)
    recorder         bit-exact recording (video + pose log) and its RecordingSource
    recording_source RecordingSource: replay of a recording folder
    spool            the frame spool of a background recorder (raw images not yet encoded)
    ffv1             lossless FFV1 video, each frame on disk when written

The names below are imported lazily, on first use (PEP 562), so `import tracking`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "types": ("Frame", "BodyPose", "FrameSource", "PoseEstimator"),
    "camera": ("CameraModel",),
    "bodies": ("MarkerBody", "load_body", "save_body"),
    "pose": ("MarkerTracker", "TrackerSettings"),
    "filters": ("PoseFilter", "OneEuroParams"),
    "sources": ("CameraSource", "VideoFileSource", "ImageFolderSource", "PoseLogSource"),
    "poselog": ("PoseLogWriter", "read_frames"),
    "recorder": ("Recorder", "RecordingSource"),
    "calibration": ("calibrate_images", "CalibrationReport"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
