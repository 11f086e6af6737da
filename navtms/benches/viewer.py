"""`navtms bench viewer`: per-update render time of the navigation viewer, offscreen, and the
render time of the workbench's 3D planning view (viewer.plan_scene.PlanScene: translucent scalp,
brain, markers, ghost coil; display meshes decimated, multisampling off, no depth peeling) at
the same size, with an empty scene in the same window as the baseline.

Builds the sample-head scene (navtms.sample_scene: scalp, brain, MRI slices, one planned
target) in an offscreen 1280x720 window and times, per update: the scene update alone (matrices, colours,
texts, reslice matrices) and update + Render() (what the display does at its own rate). The
pose moves a little every update so nothing is cached away. Figures only, never asserted.
"""
from __future__ import annotations

import math
import time

import numpy as np

NAME = "viewer"
HELP = "per-update render time of the VTK viewer (offscreen 1280x720, sample head)"

def run(json_out: bool = False, quick: bool = False, size=(1280, 720)) -> dict:
    from viewer.state import ViewState
    from viewer.window import OffscreenViewer

    from navtms.sample_scene import sample_head_scene

    spec, T_plan = sample_head_scene()
    v = OffscreenViewer(spec, size)
    n = 20 if quick else 200

    def state(i):
        T = T_plan.copy()
        T[:3, 3] += T[:3, 0] * 3.0 * math.sin(i / 10.0) + T[:3, 1] * 2.0 * math.cos(i / 7.0)
        return ViewState(T_mri_from_coil=T, coil_visible=True, head_visible=True,
                         distance_mm=3.0, tilt_deg=2.0, twist_deg=5.0, depth_mm=20.0,
                         fre_mm=1.0, predicted_tre_mm=2.0, pose_age_ms=30.0 + i % 10,
                         active_target="L-DLPFC", pulses_delivered=i)

    plan_view = plan_view_figures(size, n)
    try:
        v.render(state(0))                 # first render compiles shaders
        gl = [ln.split(":", 1)[1].strip() for ln in v.render_window.ReportCapabilities().splitlines()
              if ln.startswith("OpenGL renderer string")]
        upd, full, cpu = [], [], []
        for i in range(1, n + 1):
            s = state(i)
            c0 = time.process_time()
            t0 = time.perf_counter()
            v.layout.update(s)
            t1 = time.perf_counter()
            v.render_window.Render()
            t2 = time.perf_counter()
            cpu.append((time.process_time() - c0) * 1e3)
            upd.append((t1 - t0) * 1e3)
            full.append((t2 - t0) * 1e3)
    finally:
        v.close()
    import vtk

    result = {
        "size_px": list(size),
        "updates": n,
        "update_only_ms_median": float(np.median(upd)),
        "update_and_render_ms_median": float(np.median(full)),
        "update_and_render_ms_p95": float(np.percentile(full, 95)),
        "update_and_render_cpu_ms_median": float(np.median(cpu)),
        "fps_equivalent": float(1000.0 / np.median(full)),
        "render_window": type(v.render_window).__name__,
        "gl_renderer": gl[0] if gl else "unknown",
        "vtk": vtk.vtkVersion.GetVTKVersion(),
        **plan_view,
    }
    if not json_out:
        print(f"viewer {size[0]}x{size[1]} offscreen ({result['render_window']}, {result['gl_renderer']}), {n} updates:")
        print(f"  update only      median {result['update_only_ms_median']:.2f} ms")
        print(f"  update + render  median {result['update_and_render_ms_median']:.1f} ms, "
              f"p95 {result['update_and_render_ms_p95']:.1f} ms  (~{result['fps_equivalent']:.0f} fps)")
        print(f"  CPU time per update + render (all threads) median {result['update_and_render_cpu_ms_median']:.1f} ms")
        tri = result["plan_3d_display_triangles"]
        print(f"workbench 3D planning view {size[0]}x{size[1]} offscreen (scalp {tri['scalp']} + brain {tri['brain']} "
              f"display triangles, multisampling off):")
        print(f"  render p50 {result['plan_3d_render_ms_p50']:.1f} ms, p95 {result['plan_3d_render_ms_p95']:.1f} ms "
              f"(goal <= 16 ms p50); empty scene p50 {result['plan_3d_empty_render_ms_p50']:.1f} ms "
              f"(ratio {result['plan_3d_render_ms_p50'] / max(1e-9, result['plan_3d_empty_render_ms_p50']):.1f}x)")
        print(f"  CPU time per render (all threads) p50 {result['plan_3d_render_cpu_ms_p50']:.1f} ms; "
              f"full-resolution meshes: scalp {result['plan_3d_full_resolution_triangles']['scalp']}, "
              f"brain {result['plan_3d_full_resolution_triangles']['brain']} triangles")
    return result


def plan_view_figures(size=(1280, 720), n: int = 200) -> dict:
    """Render times (ms) of the workbench's 3D planning view on the sample head: the camera
    turns 1 deg per frame so every frame is drawn anew; the same window empty is the baseline."""
    import vtk

    from navtms.sample_scene import SAMPLE_HEAD, SAMPLE_TARGET_MRI_MM
    from targets.plan_edit import add_target
    from targets.planner import start_plan
    from viewer.plan_scene import Marker, PlanScene

    plan, _ = start_plan(SAMPLE_HEAD / "head_t1.nii.gz", SAMPLE_HEAD / "fiducials.csv")
    plan = add_target(plan, "L-DLPFC", SAMPLE_TARGET_MRI_MM)
    t = plan.targets[0]
    rw = vtk.vtkRenderWindow()
    rw.SetOffScreenRendering(1)
    rw.SetMultiSamples(0)
    rw.SetSize(*size)

    def timed(scene, frames):
        cam = scene.renderer.GetActiveCamera()
        rw.Render()                                    # shaders compiled outside the timing
        out, cpu = [], []
        for _ in range(frames):
            cam.Azimuth(1.0)
            scene.renderer.ResetCameraClippingRange()
            c0 = time.process_time()
            t0 = time.perf_counter()
            rw.Render()
            out.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        timed.cpu = cpu
        return out

    try:
        empty = PlanScene()
        empty.attach(rw)
        empty.reset_camera()
        base = timed(empty, n)
        for r in empty.renderers:
            rw.RemoveRenderer(r)
        scene = PlanScene()
        scene.attach(rw)
        scene.set_surfaces(plan.scalp, plan.brain)
        scene.set_markers([Marker("t", t.target_mri_mm), Marker("e", t.entry_mri_mm, (1, 1, 1), "", 1.5)])
        scene.set_coil(t.T_mri_from_coil)
        scene.look_at(t.T_mri_from_coil)
        full = timed(scene, n)
        full_cpu = timed.cpu
        tri = scene.display_triangles()
    finally:
        rw.Finalize()
    return {"plan_3d_render_ms_p50": float(np.median(full)), "plan_3d_render_ms_p95": float(np.percentile(full, 95)),
            "plan_3d_render_cpu_ms_p50": float(np.median(full_cpu)),
            "plan_3d_empty_render_ms_p50": float(np.median(base)), "plan_3d_display_triangles": tri,
            "plan_3d_full_resolution_triangles": {"scalp": plan.scalp.n_triangles,
                                                  "brain": plan.brain.n_triangles if plan.brain is not None else 0}}
