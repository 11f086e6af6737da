"""TrackerSettings: the tuning of tracking.pose.MarkerTracker (why each value: the comments and
docs/tracking.md). Pixels are image pixels (px); angles in degrees only where named *_deg.
tracking.pose re-exports it."""
from __future__ import annotations

from dataclasses import dataclass

from tracking.tag_consistency import ConsistencySettings


@dataclass(frozen=True)
class TrackerSettings:
    """Tuning of MarkerTracker. Pixels are image pixels; angles in degrees only where named *_deg."""

    # Whole-image search also every this many frames while all bodies are tracked (0 = never:
    # every configured body is then inside its region, so there is nothing else to find; a lost
    # body always triggers a whole-image search on every frame until it is found again)
    full_frame_every: int = 0
    roi_pad_px: float = 24.0          # padding around a body's predicted projection
    roi_pad_rel: float = 0.25         # ... plus this fraction of the projection's size
    roi_max_area_frac: float = 0.5    # if the regions cover more of the image than this, search the whole image
    # While some bodies are tracked and others lost, the whole image is searched for the lost ones
    # every this many frames (1 = every frame: fastest re-acquisition; N > 1 keeps the other
    # frames at steady-tracking cost, e.g. when a pointer is laid aside)
    lost_search_every: int = 1
    max_frame_gap: int = 3            # frames may be dropped between two estimates up to this gap
    fallback_full_frame: bool = True  # a body lost in its region is searched in the whole image in the same frame
    # Outlier tags (bodies of >= 3 tags): a tag whose RMS exceeds both outlier_floor_px and
    # outlier_ratio x the median of the others' RMS is dropped when the pose of the others confirms
    # it (leave-one-out, tracking.tag_consistency limits). 2 tags: the pair's worse tag is dropped
    # above max_tag_error_px (there is no "others" to compare with).
    outlier_ratio: float = 3.0
    outlier_floor_px: float = 1.0
    max_tag_error_px: float = 2.5
    # a body whose tags' median RMS exceeds this fits the camera model badly: a warning (last_warnings)
    misfit_px: float = 1.0
    max_body_rms_px: float = 3.0      # a body whose final RMS is worse than this is reported not visible
    # A body of several tags seen through fewer than this many (after outlier rejection) is not
    # visible: one 35 mm tag fixes the rotation only to ~1-7 deg (measured on blurred frames)
    min_tags: int = 2
    ambiguity_ratio: float = 2.0      # flip solutions whose RMS is within this factor (+0.3 px) count as ambiguous
    min_tag_perimeter_px: float = 32.0
    target_module_px: float = 5.0     # steady tracking detects on crops scaled so a tag module is about this big
    min_detect_scale: float = 0.5     # ... but never smaller than this
    # whole-image searches run on the image scaled to at most this width (corners are refined at full
    # resolution; a body or a predicted tag the scaled search misses is searched for again at full
    # resolution). 960: 720p re-acquisition at 1.0 x plain OpenCV's time (1280: 1.1 x)
    full_frame_max_width: int = 960
    # ... except the search for a lost body while another is tracked (every frame the coil is out of
    # view; the same-frame fallback): at most this width. 720p: half size, 2.7 -> 1.6 ms p50,
    # same pose accuracy (corners are refined at full resolution); a re-entering coil measured
    # found one frame later on 1 of 2 re-entries (docs/navigation.md "Latency budget")
    lost_search_max_width: int = 640
    # A tag whose blurriest edge is wider than both this (px, see edgerefine) and smear_ratio x the
    # camera's usual edge spread is smeared by motion: its corners were measured 1-5 px off on
    # rendered frames, so it is not used (sharp rendered tags: ~1 px; real webcams: 1.8-2.4 px,
    # so a fixed 2.5 px limit refused real tags under mild blur). The usual spread is the median,
    # over the last `spread_history` frames, of each frame's sharpest tag.
    max_edge_spread_px: float = 2.5
    smear_ratio: float = 1.6
    spread_history: int = 30
    # a region search that misses a tag seen in the last frame searches the body's region again
    # at full resolution with OpenCV's default windows; a lost body that the reduced-size search
    # (lost_search_max_width) did not find is searched for at full resolution in the same frame
    # a tag whose edge fit failed at some corner (cornerSubPix used there) is used only when its quad
    # fits a perspective view of a square within this RMS (px)
    partial_square_px: float = 0.5
    # ... and when its edges are no more than this times the usual spread (a failed edge fit on a
    # smeared tag left corners 3-3.5 px off on rendered motion-blurred frames)
    partial_smear_ratio: float = 1.5
    # Steady tracking of bodies whose tags were all found again: refine the predicted corners and
    # verify each tag's code instead of detecting (tracking.predicted), with an ordinary detection
    # at least every this many frames (to pick up tags that came into view); <= 1 = always detect
    predict_every_frames: int = 10
    # ... and the bodies of such a frame solved from their predicted poses (no fresh PnP solve):
    # warm_start_iterations Gauss-Newton steps (tracking.pnp.refine_from) from the body's
    # constant-velocity pose (T_last @ inv(T_before) @ T_last), the last moving the body by
    # <= 0.02 mm and 5 x less than the one before, kept when the body's RMS is within
    # warm_start_ratio x its last RMS + 0.1 px (a stricter test than the planar-flip ambiguity of
    # the fresh solve, ambiguity_ratio + 0.3 px, so it keeps the solution the fresh solve would
    # pick); otherwise the fresh solve
    warm_start: bool = True
    warm_start_ratio: float = 1.5
    warm_start_iterations: int = 2
    retry_missing_tags: bool = True
    lost_search_full_resolution: bool = True
    refine_iterations: int = 2        # edge-fit corner refinement passes (0 = integer-pixel contour corners)
    # ... but a tag whose corners moved less than this (px) in a pass gets no further pass (the next
    # would move it by about a tenth of that; tracking.edgerefine; 0.25 px and more let predicted
    # and detected poses differ by 0.02 deg in test_roi_mode_matches_full_frame); 0 = always all passes
    refine_settle_px: float = 0.2
    # tags that disagree with the body's other tags (partly covered) are dropped: tracking.tag_consistency
    consistency: ConsistencySettings = ConsistencySettings()
