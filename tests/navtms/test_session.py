"""Session folder: round trip, refusals, navigator from a session."""
from __future__ import annotations

import json

import numpy as np
import pytest

from navcore.errors import InputFileError, SessionError
from navigation.navigator import Tolerances
from navtms.session import SESSION_FILE, load_session, make_navigator
from navloop_helpers import POINTER_TIP_MM, fiducials_mri, make_test_session

TIP = POINTER_TIP_MM
FID_MRI = fiducials_mri()
_session = make_test_session


def test_round_trip_and_refusals(tmp_path):
    s = _session(tmp_path)
    t = load_session(s.folder)
    assert t.targets[0].name == "M1" and np.array_equal(t.T_coilbody_from_coil, s.T_coilbody_from_coil)
    assert t.tolerances == Tolerances(2.0, 2.5) and np.array_equal(t.pointer_tip_mm, TIP)
    assert json.loads((s.folder / SESSION_FILE).read_text())["format_version"] == 1
    with pytest.raises(SessionError):
        _session(tmp_path)                       # never overwrites a session
    with pytest.raises(SessionError):
        make_navigator(t)                        # not registered
    bad = json.loads((s.folder / SESSION_FILE).read_text())
    bad["T_coilbody_from_coil"] = [[1, 0], [0, 1]]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / SESSION_FILE).write_text(json.dumps(bad))
    with pytest.raises(InputFileError, match="T_coilbody_from_coil"):
        load_session(tmp_path / "bad")
    with pytest.raises(InputFileError):
        load_session(tmp_path / "nowhere")
