"""navtms.session_protocol: a session's protocol.json read back as written, refusals naming the file,
random files load or give one clear error."""
from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from navcore.errors import InputFileError
from navtms.session_protocol import PROTOCOL_FILE, Protocol, read_protocol, write_protocol
from course_helpers import course_root, simulated_course, sphere_plan  # noqa: F401 (fixtures)


def test_protocol_round_trip_and_refusals(simulated_course, tmp_path):
    d = simulated_course[2][0]
    p = read_protocol(d)
    assert p.frequency_hz == 10.0 and p.pulses_planned == 40 and p.intensity_pct_mt == 120.0
    assert p.describe() == "10 Hz 40 pulses 120% MT = 60% MSO"
    assert Protocol("2026-11-02", intensity_pct_mt=110, threshold_pct_mso=45).intensity_pct_mso == 50.0
    assert Protocol("2026-11-02", intensity_pct_mt=110, threshold_pct_mso=45, intensity_pct_mso=52).intensity_pct_mso == 52
    s = tmp_path / "s"
    shutil.copytree(d, s)
    for text, what in (('{"format_version": 1, "date": "11/02/2026"}', "not YYYY-MM-DD"),
                       ('{"format_version": 1, "date": "2026-11-02", "frequency_hz": "ten"}', "frequency_hz"),
                       ('{"format_version": 1, "date": "2026-11-02", "pulses_planned": -3}', "pulses_planned"),
                       ('{"date": "2026-11-02"}', "format_version")):
        (s / PROTOCOL_FILE).write_text(text)
        with pytest.raises(InputFileError, match=what):
            read_protocol(s)
    with pytest.raises(InputFileError, match="not a session folder"):
        write_protocol(tmp_path, Protocol("2026-11-02"))


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                     max_leaves=12)


@settings(max_examples=60)
@given(obj=st.fixed_dictionaries({}, optional={k: _json | st.just("2026-11-02") for k in (
    "date", "patient", "frequency_hz", "pulses_planned", "intensity_pct_mt", "threshold_pct_mso",
    "intensity_pct_mso", "target", "notes")}))
def test_random_protocol_files_load_or_give_one_clear_error(tmp_path_factory, obj):
    d = tmp_path_factory.mktemp("proto")
    (d / PROTOCOL_FILE).write_text(json.dumps({"format_version": 1, **obj}))
    try:
        p = read_protocol(d)
    except InputFileError as e:
        assert PROTOCOL_FILE in str(e)
        return
    for v in (p.frequency_hz, p.intensity_pct_mt, p.threshold_pct_mso, p.intensity_pct_mso):
        assert v is None or (isinstance(v, float) and 0 <= v <= 1e6)
    assert p.describe()
