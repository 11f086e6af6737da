"""Shared helpers of the OpenIGTLink tests: a real pyigtl server that leaves pytest's signal
handlers alone, a free loopback port, and polling for a condition."""
from __future__ import annotations

import signal
import socket
import time

import pyigtl


def pyigtl_server(port: int = 0) -> pyigtl.OpenIGTLinkServer:
    """A pyigtl server on 127.0.0.1:port (0: any free port)."""
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    srv = pyigtl.OpenIGTLinkServer(port=port, local_server=True)
    for s, h in old.items():  # pyigtl installs process-wide signal handlers; keep pytest's
        signal.signal(s, h)
    return srv


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout_s: float = 5.0) -> bool:
    """Poll pred() every 5 ms until it is true (True) or timeout_s passes (False)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def raw_peer(connections, gap_s: float = 0.0, hold_s: float = 0.5, linger_s: float = 0.0):
    """A raw TCP OpenIGTLink peer (the 'tracker' end) on 127.0.0.1, any port: for each list of
    payloads in `connections` it accepts one connection, sends the payloads gap_s apart, keeps
    the connection hold_s (less once `done` is set), closes it; after the last one it keeps
    listening linger_s. Returns (listening socket, done event); close the socket when done."""
    import threading

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    done = threading.Event()

    def serve():
        for payloads in connections:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                for p in payloads:
                    try:
                        conn.sendall(p)
                    except OSError:
                        break
                    time.sleep(gap_s)
                done.wait(hold_s)
        done.wait(linger_s)

    threading.Thread(target=serve, daemon=True).start()
    return lsock, done
