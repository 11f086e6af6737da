"""Bad-input sweep: every file reader either loads or raises navtms's own error.

For each reader (points CSV and Slicer .mrk.json, body JSON and 16-column tag files, camera
JSON, plan, session, pose log, recording folder, MRI, OpenIGTLink byte streams) hypothesis
feeds: random bytes, random JSON values, and valid files with random mutations (a key deleted,
a value replaced by a wrong type / NaN / a huge number / a 5000-digit integer, the file cut
short, bytes flipped). The reader must either return or raise a navcore.errors.NavtmsError
subclass - never a raw KeyError/TypeError/ValueError/IndexError/OverflowError/... traceback,
and never hang (each test has a timeout). docs/robustness.md lists the coverage.
"""
from __future__ import annotations

import copy
import gzip
import io
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from navcore.errors import NavtmsError

N = int(os.environ.get("NAVTMS_SWEEP_EXAMPLES", "40"))  # examples per reader: ~20 s in all; raise it to dig deeper
SWEEP = settings(max_examples=N, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])

# ---------------------------------------------------------------------------- strategies
HUGE = st.sampled_from([1e308, -1e308, 10 ** 400, -(10 ** 400), 2 ** 64, float("nan"), float("inf"),
                        float("-inf"), 0, -1, True, None, "", "x", [], {}, [[]], [1, 2], "1e999"])
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 30, 10 ** 30),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), HUGE)
json_values = st.recursive(json_scalars,
                           lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                  st.dictionaries(st.text(max_size=8), kids, max_size=5)),
                           max_leaves=20)


def _paths(obj, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value, the root first."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _copy(obj):
    return json.loads(json.dumps(obj))


@st.composite
def mutated_json(draw, valid: dict):
    """`valid` with one to three random mutations: delete a key/item, or replace a value."""
    obj = _copy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(obj) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            # a fresh copy: sampled_from hands out the same [] / {} objects every time, and
            # mutating a shared one would leak into later examples (even make a cycle)
            parent[path[-1]] = copy.deepcopy(draw(st.one_of(HUGE, json_values)))
    return obj


def _dump(obj) -> bytes:
    """JSON text as Python writes it (NaN/Infinity allowed: other tools write them too)."""
    return json.dumps(obj, allow_nan=True).encode("utf-8")


@st.composite
def damaged_bytes(draw, valid: bytes):
    """`valid` truncated, with bytes flipped, with a chunk removed, or with garbage inserted."""
    data = bytearray(valid)
    kind = draw(st.sampled_from(["truncate", "flip", "cut", "insert"]))
    if not data:
        return bytes(draw(st.binary(max_size=64)))
    i = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        del data[i:]
    elif kind == "flip":
        for j in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[j] = draw(st.integers(0, 255))
    elif kind == "cut":
        del data[i:i + draw(st.integers(1, 64))]
    else:
        data[i:i] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def loads_or_navtms_error(fn, *args, **kw):
    """Call a reader: returns the result, or None when it raised a NavtmsError. Any other
    exception propagates and fails the test with its traceback."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kw)
    except NavtmsError as e:
        text = str(e)
        assert text and "\n" not in text.strip(), f"error message is not one sentence: {text!r}"
        return None


def _write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------- valid files
def _valid_points():
    from navcore.points import NamedPoints

    return NamedPoints(("nasion", "lpa", "rpa"), np.array([[0, 90, -20], [-70, 0, -30], [70, 0, -30.0]]), "mri")


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """One valid file (bytes) per format, made by the project's own writers."""
    from navcore.points import write_markups_json, write_points_csv
    from tracking import poselog
    from tracking.bodies import planar_body, save_body
    from tracking.camera import CameraModel
    from tracking.types import BodyPose

    d = tmp_path_factory.mktemp("valid")
    out = {}
    out["csv"] = write_points_csv(d / "p.csv", _valid_points()).read_bytes()
    out["mrk"] = write_markups_json(d / "p.mrk.json", _valid_points()).read_bytes()
    body = planar_body("coil", "DICT_4X4_50", [0, 1, 2, 3], 30.0, "2x2")
    out["body"] = save_body(body, d / "b.json").read_bytes()
    lines = []
    for tid, c in body.tags.items():
        lines.append("\t".join(repr(float(v)) for v in [tid, *c.mean(axis=0), *c.reshape(-1)]))
    out["tags"] = ("\n".join(lines) + "\n").encode()
    out["camera"] = CameraModel.guess(640, 480).save(d / "cam.json").read_bytes()
    T = np.eye(4)
    T[:3, 3] = [1.0, 2.0, 300.0]
    frames = [[BodyPose("coil", i, 10 ** 9 + i * 33_000_000, i % 3 != 0, T if i % 3 else None, 4, 4, 0.25),
               BodyPose("head", i, 10 ** 9 + i * 33_000_000, True, T, 4, 4, math.nan)] for i in range(4)]
    out["poselog"] = poselog.write_log(d / "poses.csv", frames).read_bytes()
    return out


# ---------------------------------------------------------------------------- points
@pytest.mark.timeout(60)
@SWEEP
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
def test_points_readers_random_bytes(data):
    from navcore.points import read_points

    with tempfile.TemporaryDirectory() as d:
        for name in ("p.csv", "p.mrk.json"):
            pts = loads_or_navtms_error(read_points, _write(Path(d), name, data))
            assert pts is None or np.all(np.isfinite(pts.positions))


@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_points_readers_mutated_files(valid, data):
    from navcore.points import read_points

    mrk = data.draw(st.one_of(mutated_json(json.loads(valid["mrk"])).map(_dump), json_values.map(_dump),
                              damaged_bytes(valid["mrk"])))
    csv = data.draw(damaged_bytes(valid["csv"]))
    with tempfile.TemporaryDirectory() as d:
        for name, raw in (("p.mrk.json", mrk), ("p.csv", csv)):
            pts = loads_or_navtms_error(read_points, _write(Path(d), name, raw))
            assert pts is None or (len(pts) >= 1 and np.all(np.isfinite(pts.positions)))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, text", [
    ("huge_field.csv", 'name,x_mm,y_mm,z_mm\n"' + "a" * 200_000 + '",1,2,3\n'),
    ("nul.csv", "name,x_mm,y_mm,z_mm\na\0,1,2,3\n"),
    ("digits.csv", "name,x_mm,y_mm,z_mm\na,1,2," + "9" * 5000 + "\n"),
    ("digits.mrk.json", '{"markups":[{"controlPoints":[{"label":"a","position":[1,2,' + "9" * 5000 + "]}]}]}"),
    ("bigint.mrk.json", '{"markups":[{"controlPoints":[{"label":"a","position":[1,2,' + "9" * 400 + "]}]}]}"),
    ("deep.mrk.json", "[" * 100_000 + "]" * 100_000),
])
def test_points_readers_hand_picked_nasties(tmp_path, name, text):
    from navcore.points import read_points

    pts = loads_or_navtms_error(read_points, _write(tmp_path, name, text.encode()))
    assert pts is None or np.all(np.isfinite(pts.positions))


# ---------------------------------------------------------------------------- bodies
@pytest.mark.timeout(90)
@SWEEP
@given(st.data())
def test_body_reader(valid, data):
    from tracking.bodies import load_body

    raw = data.draw(st.one_of(
        st.binary(max_size=200),
        json_values.map(_dump),
        mutated_json(json.loads(valid["body"])).map(_dump),
        damaged_bytes(valid["body"]),
        damaged_bytes(valid["tags"]),
        st.lists(st.lists(st.sampled_from(["1", "-3", "2.5", "nan", "inf", "1e400", "x", "0", "30"]),
                          min_size=14, max_size=17).map("\t".join), max_size=5).map(lambda ls: "\n".join(ls).encode()),
    ))
    with tempfile.TemporaryDirectory() as d:
        body = loads_or_navtms_error(load_body, _write(Path(d), "body.json", raw))
        assert body is None or (body.tags and all(np.all(np.isfinite(c)) for c in body.tags.values()))


# ---------------------------------------------------------------------------- camera
@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_camera_reader(valid, data):
    from tracking.camera import CameraModel

    raw = data.draw(st.one_of(st.binary(max_size=200), json_values.map(_dump),
                              mutated_json(json.loads(valid["camera"])).map(_dump), damaged_bytes(valid["camera"])))
    with tempfile.TemporaryDirectory() as d:
        cam = loads_or_navtms_error(CameraModel.load, _write(Path(d), "cam.json", raw))
        assert cam is None or (cam.K.shape == (3, 3) and np.all(np.isfinite(cam.K)))


# ---------------------------------------------------------------------------- plan
def _tiny_surface():
    from targets.surfaces import Surface

    v = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10.0]])
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    n = v - v.mean(axis=0)
    return Surface(v, f, n / np.linalg.norm(n, axis=1, keepdims=True))


@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory):
    from navcore.points import NamedPoints
    from targets.plan import Plan, PlannedTarget, save_plan

    d = tmp_path_factory.mktemp("plan")
    mri = d / "t1.nii.gz"
    mri.write_bytes(b"not really an MRI")
    T = np.eye(4)
    T[:3, 3] = [10.0, 20.0, 80.0]
    t = PlannedTarget("M1", np.array([10.0, 20.0, 60.0]), np.array([10.0, 20.0, 75.0]), T, "test",
                      mni_mm=np.array([-37.0, -21, 58]))
    plan = Plan(mri, "0" * 64, (t,), NamedPoints(("nasion",), np.array([[0, 90, -20.0]]), "mri"),
                T_mri_from_mni=np.eye(4), scalp=_tiny_surface())
    save_plan(plan, d / "plan", exports=False)
    return d / "plan"


@pytest.mark.timeout(120)
@SWEEP
@given(st.data())
def test_plan_reader(plan_folder, data):
    import shutil

    from targets.plan import load_plan

    valid_json = (plan_folder / "plan.json").read_bytes()
    raw = data.draw(st.one_of(st.binary(max_size=200), json_values.map(_dump),
                              mutated_json(json.loads(valid_json)).map(_dump), damaged_bytes(valid_json)))
    scalp = (plan_folder / "scalp.npz").read_bytes()
    scalp_raw = data.draw(st.one_of(st.just(scalp), damaged_bytes(scalp)))
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "plan"
        shutil.copytree(plan_folder, folder)
        (folder / "plan.json").write_bytes(raw)
        (folder / "scalp.npz").write_bytes(scalp_raw)
        plan = loads_or_navtms_error(load_plan, folder, checksum="skip")
        assert plan is None or all(np.all(np.isfinite(t.T_mri_from_coil)) for t in plan.targets)


# ---------------------------------------------------------------------------- session
@pytest.fixture(scope="module")
def session_json(tmp_path_factory) -> bytes:
    from navigation.navigator import NavTarget
    from navtms.session import RegistrationRecord, create_session

    d = tmp_path_factory.mktemp("session") / "s"
    T = np.eye(4)
    T[:3, 3] = [1.0, 2.0, 3.0]
    s = create_session(d, [NavTarget("M1", np.array([0, 0, 50.0]), T)], camera="cam.json",
                       bodies={"coil": "coil.json", "head": "head.json", "pointer": None}, pointer_tip_mm=[0, 0, 120])
    reg = RegistrationRecord(T, "paired-point", 1.2, 0.5, ("nasion", "lpa", "rpa"), (1.0, 1.1, 1.4), {"M1": 2.0})
    s.with_(registration=reg).save()
    return (d / "session.json").read_bytes()


@pytest.mark.timeout(90)
@SWEEP
@given(st.data())
def test_session_reader(session_json, data):
    from navtms.session import load_session, make_navigator

    raw = data.draw(st.one_of(st.binary(max_size=200), json_values.map(_dump),
                              mutated_json(json.loads(session_json)).map(_dump), damaged_bytes(session_json)))
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "session.json", raw)
        s = loads_or_navtms_error(load_session, d)
        if s is not None:   # what loads must also give a navigator or a clear refusal
            loads_or_navtms_error(make_navigator, s)


# ---------------------------------------------------------------------------- pose log / recording
@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_pose_log_reader(valid, data):
    from tracking.sources import PoseLogSource

    raw = data.draw(st.one_of(st.binary(max_size=300), damaged_bytes(valid["poselog"])))
    with tempfile.TemporaryDirectory() as d:
        p = _write(Path(d), "poses.csv", raw)

        def replay():
            with PoseLogSource(p) as src:
                return list(src)
        frames = loads_or_navtms_error(replay)
        assert frames is None or all(isinstance(f.frame_number, int) for f in frames)


@pytest.fixture(scope="module")
def recording_folder(tmp_path_factory):
    from tracking.recorder import Recorder
    from tracking.types import BodyPose, Frame

    d = tmp_path_factory.mktemp("rec") / "r"
    T = np.eye(4)
    T[:3, 3] = [0, 0, 400.0]
    with Recorder(d, bodies=["coil"], video="png") as r:
        for i in range(3):
            img = np.full((8, 12, 3), 40 * i, np.uint8)
            r.write(Frame(i, 10 ** 9 + i * 10 ** 7, img, {"coil": BodyPose("coil", i, 10 ** 9 + i * 10 ** 7, True, T, 4, 4, 0.1)}))
    return d


@pytest.mark.timeout(120)
@SWEEP
@given(st.data())
def test_recording_reader(recording_folder, data):
    import shutil

    from navcore.fileio import write_json  # noqa: F401 - the index is JSON like every navtms file
    from tracking.recorder import RecordingSource

    which = data.draw(st.sampled_from(["recording.json", "frames.csv", "poses.csv", "frames/000001.png"]))
    valid_bytes = (recording_folder / which).read_bytes()
    if which == "recording.json":
        raw = data.draw(st.one_of(json_values.map(_dump), mutated_json(json.loads(valid_bytes)).map(_dump),
                                  damaged_bytes(valid_bytes)))
    else:
        raw = data.draw(st.one_of(st.binary(max_size=100), damaged_bytes(valid_bytes)))
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "r"
        shutil.copytree(recording_folder, folder)
        (folder / which).write_bytes(raw)

        def replay():
            with RecordingSource(folder) as src:
                return list(src)
        frames = loads_or_navtms_error(replay)
        assert frames is None or len(frames) <= 3


# ---------------------------------------------------------------------------- MRI
@pytest.fixture(scope="module")
def mri_bytes() -> dict:
    data = np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5)
    img = nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.2, 1.0]))
    raw = img.to_bytes()
    return {"nii": raw, "gz": gzip.compress(raw)}


@pytest.mark.timeout(90)
@SWEEP
@given(st.data())
def test_mri_reader(mri_bytes, data):
    from navcore.mri import load_mri

    kind = data.draw(st.sampled_from(["nii", "gz"]))
    raw = data.draw(st.one_of(st.binary(max_size=400), damaged_bytes(mri_bytes[kind]),
                              damaged_bytes(mri_bytes[kind][:352]).map(lambda h: h + mri_bytes[kind][352:])))
    with tempfile.TemporaryDirectory() as d:
        vol = loads_or_navtms_error(load_mri, _write(Path(d), "t1.nii" + (".gz" if kind == "gz" else ""), raw))
        assert vol is None or (vol.data.ndim == 3 and np.all(np.isfinite(vol.data)))


# ---------------------------------------------------------------------------- OpenIGTLink
def _valid_messages() -> list[bytes]:
    from igtl import content as C
    from igtl import protocol as P

    T = np.eye(4)
    T[:3, 3] = [1, 2, 3]
    return [C.pack_transform("CoilToTracker", T, 5.0), C.pack_transform("HeadToTracker", T, 5.0, version=2),
            C.pack_string("Cmd", "hello"), C.pack_status("CoilToTracker", C.Status(1, 0, "", "ok")),
            C.pack_points("Target", [C.Point("t", np.array([1.0, 2, 3]))]),
            C.pack_tdata("Tracker", [("CoilToTracker", T)]),
            P.pack_message("TRANSFORM", "X", b"\0" * 48, version=2, metadata={"CoilToTrackerStatus": "OK"})]


def _decode_all(stream: bytes, chunk: int):
    """Feed a byte stream in chunks and decode every message's content like IGTLSource does."""
    from igtl import content as C
    from igtl import protocol as P

    parser = P.StreamParser(max_body_size=1 << 16)
    decoders = {"TRANSFORM": C.transform_from_content, "POINT": C.points_from_content,
                "STRING": C.string_from_content, "STATUS": C.status_from_content, "TDATA": C.tdata_from_content}
    out = []
    for i in range(0, len(stream), max(1, chunk)):
        for m in parser.feed(stream[i:i + max(1, chunk)]):
            dec = decoders.get(m.type)
            out.append(dec(m.content) if dec else m.content)
    parser.finish()
    return out


@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_openigtlink_byte_streams(data):
    valid = b"".join(data.draw(st.lists(st.sampled_from(_valid_messages()), min_size=1, max_size=4)))
    stream = data.draw(st.one_of(st.binary(max_size=400), damaged_bytes(valid),
                                 st.binary(max_size=64).map(lambda g: valid + g)))
    chunk = data.draw(st.integers(1, 80))
    loads_or_navtms_error(_decode_all, stream, chunk)


def test_openigtlink_valid_streams_decode_whole():
    """The sweep's harness is not vacuous: undamaged streams decode into every message."""
    msgs = _valid_messages()
    assert len(_decode_all(b"".join(msgs), 7)) == len(msgs)


# ---------------------------------------------------------------------------- every leaf, every nasty
BIG_DIGITS = "9" * 5000   # more digits than Python converts by default (int_max_str_digits)
LEAF_NASTIES = [10 ** 400, float("nan"), -1e308, "x", None, [], {"a": 1}, True, "__BIG_DIGITS__"]


def _leaf_variants(valid_obj: dict, max_depth: int = 99):
    """(path, text) for every path (up to max_depth keys deep) of the valid JSON, with the value
    deleted or replaced by each nasty value (a 5000-digit number is spliced into the text)."""
    for path in [p for p in _paths(valid_obj) if 0 < len(p) <= max_depth]:
        for nasty in ["__DELETE__"] + LEAF_NASTIES:
            obj = _copy(valid_obj)
            parent = obj
            for k in path[:-1]:
                parent = parent[k]
            if nasty == "__DELETE__":
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            else:
                parent[path[-1]] = nasty
            yield path, nasty, json.dumps(obj, allow_nan=True).replace('"__BIG_DIGITS__"', BIG_DIGITS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("reader", ["markups", "body", "camera", "plan", "session", "recording", "sequence",
                                    "threshold", "protocol"])
def test_every_json_field_deleted_or_replaced(reader, valid, plan_folder, session_json, recording_folder, tmp_path):
    """Deterministic companion of the random sweep: each field of each JSON format, one at a
    time, deleted or set to a huge/NaN/wrong-typed/5000-digit value."""
    import shutil

    from navcore.points import read_points
    from navtms.session import load_session
    from targets.plan import load_plan
    from tracking.bodies import load_body
    from tracking.camera import CameraModel
    from tracking.recorder import RecordingSource

    def replay(folder):
        with RecordingSource(folder) as src:
            return list(src)

    if reader == "plan":
        folder = tmp_path / "plan"
        shutil.copytree(plan_folder, folder)
        target, base, load = folder / "plan.json", (plan_folder / "plan.json").read_bytes(), \
            lambda: load_plan(folder, checksum="skip")
    elif reader == "session":
        target, base, load = tmp_path / "session.json", session_json, lambda: load_session(tmp_path)
    elif reader == "sequence":
        from tracking.synthetic.files import load_sequence

        bundled = Path(__file__).resolve().parents[2] / "data" / "sequences" / "coil_approach_720p"
        if not (bundled / "sequence.json").exists():
            pytest.skip(f"bundled sequence missing at {bundled}")
        folder = tmp_path / "seq"
        shutil.copytree(bundled, folder)
        target, base, load = folder / "sequence.json", (bundled / "sequence.json").read_bytes(), \
            lambda: load_sequence(folder)
    elif reader in ("threshold", "protocol"):
        from navtms.session_protocol import Protocol, read_protocol, write_protocol
        from navtms.threshold import Measurement, Trial, load_thresholds, record_threshold

        folder = tmp_path / "s"
        folder.mkdir()
        (folder / "session.json").write_bytes(session_json)
        if reader == "threshold":
            target = record_threshold(folder, Measurement("2026-11-23", (Trial(50.0, (True,) * 6 + (False,) * 4,
                                                                                (80.0,) * 6 + (10.0,) * 4),)))
            load = lambda: load_thresholds(folder)  # noqa: E731
        else:
            target = write_protocol(folder, Protocol("2026-11-23", 10.0, 3000, 120.0, 52.0, target="M1"))
            load = lambda: read_protocol(folder)  # noqa: E731
        base = target.read_bytes()
    elif reader == "recording":
        folder = tmp_path / "rec"
        shutil.copytree(recording_folder, folder)
        target, base, load = folder / "recording.json", (recording_folder / "recording.json").read_bytes(), \
            lambda: replay(folder)
    else:
        name = {"markups": "p.mrk.json", "body": "b.json", "camera": "cam.json"}[reader]
        fn = {"markups": read_points, "body": load_body, "camera": CameraModel.load}[reader]
        target, base = tmp_path / name, valid[{"markups": "mrk"}.get(reader, reader)]
        load = lambda: fn(target)  # noqa: E731
    tried = 0
    depth = 3 if reader == "sequence" else 99   # the sequence's truth is long to re-read: top levels only
    for path, nasty, text in _leaf_variants(json.loads(base), depth):
        target.write_text(text)
        try:
            loads_or_navtms_error(load)
        except Exception as e:  # report which field broke the reader
            raise AssertionError(f"{reader}: field {path} = {str(nasty)[:20]!r} gave a raw "
                                 f"{e.__class__.__name__}: {e}") from e
        tried += 1
    assert tried >= 20


# ---------------------------------------------------------------------------- coil mesh (STL / PLY)
PLY_OK = (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
          b"element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
STL_OK = (b"solid c\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n"
          b"endsolid c\n")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, data", [
    ("cut_in_header.ply", PLY_OK[:120]),
    ("bad_property.ply", PLY_OK.replace(b"vertex_indices", b"vertes_indices")),
    ("control_char.ply", PLY_OK.replace(b"property list", b"property\x16list")),
    ("good.ply", PLY_OK),
])
def test_coil_mesh_ply_that_crashed_vtk(tmp_path, name, data):
    """These PLY files made vtkPLYReader segfault or abort (killing the program); now they give
    InputFileError, and a good PLY still loads."""
    from viewer.coil_model import load_coil_mesh

    mesh = loads_or_navtms_error(load_coil_mesh, _write(tmp_path, name, data))
    assert (mesh is not None) == (name == "good.ply")
    assert mesh is None or mesh.GetNumberOfPolys() == 1


@pytest.mark.timeout(90)
@settings(SWEEP, max_examples=max(10, N // 3))
@given(st.data())
def test_coil_mesh_reader(data):
    from viewer.coil_model import load_coil_mesh

    ext = data.draw(st.sampled_from([".stl", ".ply"]))
    raw = data.draw(st.one_of(st.binary(max_size=300), damaged_bytes(STL_OK if ext == ".stl" else PLY_OK)))
    with tempfile.TemporaryDirectory() as d:
        mesh = loads_or_navtms_error(load_coil_mesh, _write(Path(d), "coil" + ext, raw))
        assert mesh is None or mesh.GetNumberOfPolys() >= 1


# ---------------------------------------------------------------------------- MNI transforms, libraries, surfaces, logs
@pytest.mark.timeout(90)
@SWEEP
@given(st.data())
def test_mni_transform_reader(data):
    from targets.mni_io import load_mni_transform, save_mni_transform, write_itk_affine

    kind = data.draw(st.sampled_from(["json", "itk", "txt"]))
    T = np.diag([1.1, 0.9, 1.0, 1.0])
    T[:3, 3] = [1, -2, 3]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / {"json": "mni.json", "itk": "mni.txt", "txt": "mni_matrix.txt"}[kind]
        if kind == "json":
            save_mni_transform(p, T)
        elif kind == "itk":
            write_itk_affine(p, T)
        else:
            p.write_text("\n".join(" ".join(repr(float(v)) for v in row) for row in T) + "\n")
        valid = p.read_bytes()
        if kind == "json":
            raw = data.draw(st.one_of(mutated_json(json.loads(valid)).map(_dump), damaged_bytes(valid)))
        else:
            raw = data.draw(st.one_of(st.binary(max_size=200), damaged_bytes(valid)))
        p.write_bytes(raw)
        inverse = data.draw(st.booleans())
        M = loads_or_navtms_error(load_mni_transform, p, inverse=inverse)
        assert M is None or (M.shape == (4, 4) and np.all(np.isfinite(M)))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("inverse", [False, True])
def test_mni_transform_singular_matrix_is_refused(tmp_path, inverse):
    from navcore.fileio import write_json
    from targets.mni_io import load_mni_transform

    p = write_json(tmp_path / "mni.json", {"T_mri_from_mni": np.zeros((4, 4))})
    assert loads_or_navtms_error(load_mni_transform, p, inverse=inverse) is None


@pytest.mark.timeout(30)
def test_target_library_huge_integer_position(tmp_path):
    from targets.library import read_library_file

    p = _write(tmp_path, "t.json", json.dumps({"format_version": 1, "targets": [
        {"name": "x", "mni_mm": [1, 2, 10 ** 400], "source": {}}]}).encode())
    assert loads_or_navtms_error(read_library_file, p) is None


@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_target_library_reader(data):
    from targets.library import BUILTIN_PATH, read_library_file

    valid = json.loads(Path(BUILTIN_PATH).read_text())
    valid["targets"] = valid["targets"][:2]
    raw = data.draw(st.one_of(json_values.map(_dump), mutated_json(valid).map(_dump), st.binary(max_size=100)))
    with tempfile.TemporaryDirectory() as d:
        lib = loads_or_navtms_error(read_library_file, _write(Path(d), "targets.json", raw))
        assert lib is None or all(np.all(np.isfinite(t.position_mm)) for t in lib)


@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_surface_reader(plan_folder, data):
    from targets.surface_cache import load_surface

    valid = (plan_folder / "scalp.npz").read_bytes()
    raw = data.draw(st.one_of(st.binary(max_size=200), damaged_bytes(valid)))
    with tempfile.TemporaryDirectory() as d:
        s = loads_or_navtms_error(load_surface, _write(Path(d), "scalp.npz", raw))
        assert s is None or (s.faces.max() < len(s.vertices) and np.all(np.isfinite(s.vertices)))


@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_navigation_log_reader(data):
    from navigation.csvlog import CsvLog, read_log

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "frames.csv"
        with CsvLog(p, "frame", ("frame", "time_s", "visible")) as log:
            for i in range(3):
                log.write({"frame": i, "time_s": f"{i}.000000000", "visible": True})
        raw = data.draw(st.one_of(st.binary(max_size=200), damaged_bytes(p.read_bytes())))
        p.write_bytes(raw)
        rows = loads_or_navtms_error(read_log, p, "frame")
        assert rows is None or len(rows) <= 4


@pytest.mark.timeout(30)
@pytest.mark.parametrize("arrays", [
    {"format_version": np.array([1, 2, 3])},                      # int() of an array: TypeError
    {"faces": np.array([["a", "b", "c"]])},                        # min() of strings: UFuncTypeError
    {"faces": np.full((1, 3), 0.5)},                               # float faces
    {"vertices": np.zeros((4, 3), complex)},                       # complex vertices
], ids=["version-array", "string-faces", "float-faces", "complex-vertices"])
def test_surface_with_wrong_array_types_is_refused(tmp_path, arrays):
    from targets.surface_cache import load_surface

    base = {"format_version": np.int64(1), "vertices": np.zeros((4, 3)), "faces": np.zeros((1, 3), np.int64),
            "normals": np.zeros((4, 3))}
    p = tmp_path / "s.npz"
    np.savez(p, **(base | arrays))
    assert loads_or_navtms_error(load_surface, p) is None


# ---------------------------------------------------------------------------- EMG and operator responses
@pytest.mark.timeout(60)
@SWEEP
@given(st.data())
def test_emg_and_responses_readers(data):
    from navtms.motor import read_responses_csv
    from targets.hotspot import read_emg_csv

    emg_ok = b"# EMG\ntime_s,p2p_uv\n1.000000000,120.5\n2.5,80\n"
    resp_ok = b"pulse,response\n1,120\n2,0\n"
    which = data.draw(st.sampled_from(["emg", "responses"]))
    valid = emg_ok if which == "emg" else resp_ok
    cells = st.sampled_from(["1", "-1", "nan", "inf", "1e400", "9" * 30, "y", "n", "", "x", "10000000000000"])
    rows = st.lists(st.lists(cells, min_size=1, max_size=3).map(",".join), max_size=4)
    raw = data.draw(st.one_of(st.binary(max_size=200), damaged_bytes(valid),
                              rows.map(lambda rs: (valid.splitlines()[-3 if which == "emg" else 0].decode() + "\n"
                                                   + "\n".join(rs) + "\n").encode())))
    fn = read_emg_csv if which == "emg" else read_responses_csv
    with tempfile.TemporaryDirectory() as d:
        out = loads_or_navtms_error(fn, _write(Path(d), which + ".csv", raw))
        assert out is None or len(out[0]) <= 10_000_001


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name, text", [
    ("responses.csv", b"pulse,response\n1000000000000,1\n"),        # asked for a 7 TiB array
    ("responses.csv", b"pulse,response\n1,\xff\n"),                  # not UTF-8
    ("responses.csv", b'pulse,response\n1,"' + b"a" * 200_000 + b'"\n'),
    ("emg.csv", b'time_s,p2p_uv\n1,"' + b"a" * 200_000 + b'"\n'),
], ids=["huge-pulse-number", "not-utf8", "huge-field", "emg-huge-field"])
def test_emg_and_responses_hand_picked(tmp_path, name, text):
    from navtms.motor import read_responses_csv
    from targets.hotspot import read_emg_csv

    fn = read_emg_csv if name == "emg.csv" else read_responses_csv
    assert loads_or_navtms_error(fn, _write(tmp_path, name, text)) is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("dims", [(3, 30000, 30000, 30000), (3, 6, 7, 5)], ids=["huge-shape", "sane-shape"])
def test_mri_header_with_a_huge_shape_is_refused(tmp_path, mri_bytes, dims):
    """A NIfTI header whose dims promise 2.7e13 voxels is refused before any data is mapped or allocated."""
    import struct as _struct

    from navcore.mri import load_mri

    raw = bytearray(mri_bytes["nii"])
    raw[40:48] = _struct.pack("<4h", *dims)
    vol = loads_or_navtms_error(load_mri, _write(tmp_path, "t1.nii", bytes(raw)))
    assert (vol is None) == (dims[1] == 30000)
