"""The GUI-free live core: navigator, loop, pulses, logs, sinks and the one wiring of a run.
Imports registration, tracking, targets, igtl; never the viewer, navtms or a GUI toolkit.

Modules:
    navigator  Navigator: poses -> coil in mri, errors, on-target with the one Tolerances
    loop       NavigationLoop: source -> estimator -> filter -> navigator -> sinks (threads)
    loop_state LoopState, the states the loop reports to its sinks
    wiring     build_run: the one wiring of a run for navigate, replay, the demo and the app
    sources    open_source("camera:0" | "video:F" | "replay:D" | "poses:F" | "igtl:H:P")
    sinks      the Sink protocol, frame/timing logs, OpenIGTLink
    pulses     pulse log, key/line/protocol triggers, --protocol parser
    records    the frames.csv / timing.csv row formats
    csvlog     the append-only CSV log

The names below are imported lazily, on first use (PEP 562), so `import navigation`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "navigator": ("Navigator", "NavOutput", "NavTarget", "Tolerances", "OffTargetReason",
                  "Metric"),
    "loop": ("NavigationLoop", "LoopState", "LoopStats"),
    "wiring": ("build_run", "NavigationRun", "NavigationSetup", "RunOptions", "LoopMode",
               "make_navigator", "build_estimator"),
    "sources": ("open_source", "is_live", "register_source"),
    "sinks": ("Sink", "BaseSink", "CallbackSink", "FrameLogSink", "IGTLSink", "as_sink"),
    "pulses": ("PulseLog", "PulseSample", "PulseDecision", "ProtocolSpec", "parse_protocol",
               "ProtocolTrigger"),
    "csvlog": ("CsvLog", "read_log"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
