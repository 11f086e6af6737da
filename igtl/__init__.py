"""OpenIGTLink: the wire format, a tracker source (e.g. a PLUS server) and a server that publishes
the coil pose and errors (e.g. to 3D Slicer). No GUI.

Modules:
    protocol  headers, framing (versions 1 and 2, metadata, CRC), a stream parser
    content   TRANSFORM/POINT/STRING/STATUS/TDATA contents and messages of each
    source    IGTLSource: a FrameSource of tracker poses (tool status words as ToolStatus)
    grouping  one output per tracker frame from a message stream
    devices   which OpenIGTLink device feeds which body (--device BODY=DEVICE)
    server    IGTLServer: publishes navigation outputs to any number of clients

The names below are imported lazily, on first use (PEP 562), so `import igtl`
stays cheap (no numpy/VTK/OpenCV until a name is used)."""
from navcore.lazy import lazy_exports

_EXPORTS = {
    "protocol": ("IGTLProtocolError", "Message", "StreamParser", "pack_message",
                 "unpack_message"),
    "source": ("IGTLSource", "ToolStatus", "open_igtl"),
    "server": ("IGTLServer",),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
