"""What draws next to the loop in the loop bench (navtms.benches.loop): the offscreen viewer on its
own thread, and the workbench's navigation view on the calling (GUI) thread, each timing its renders."""
from __future__ import annotations

import threading
import time

APP_SIZE = (1440, 880)      # the workbench window the navigation view is measured in (its panels' share)


class RenderThread:
    """Offscreen viewer on its own thread, rendering the latest state at up to 60 Hz."""

    def __init__(self, spec, latest, nice: int = 0):
        self.spec, self.latest, self.nice = spec, latest, nice
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.times_ms: list[float] = []
        self.thread = threading.Thread(target=self._run, name="bench-render", daemon=True)

    def _run(self):
        from viewer.state import ViewState
        from viewer.window import OffscreenViewer
        from navigation.loop import lower_thread_priority

        if self.nice:
            lower_thread_priority(self.nice)   # before the GL context: its worker threads inherit it
        v = OffscreenViewer(self.spec, (1280, 720))
        v.update(ViewState())
        self.ready.set()
        seen = None
        try:
            while not self.stop.is_set():
                version, state = self.latest.get()
                if state is not None and version != seen:
                    seen = version
                    t = time.perf_counter()
                    v.update(state)
                    self.times_ms.append((time.perf_counter() - t) * 1e3)
                self.stop.wait(1.0 / 60.0)
        finally:
            v.close()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(60)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


class AppView:
    """The app's navigation view on the calling (GUI) thread, offscreen: poll() draws the newest
    state when it changed, at most `max_hz` times a second (a display timer)."""

    def __init__(self, spec, max_hz: float = 60.0):
        from navtms.app.views.navigation_view import NavigationView
        from viewer.state import ViewState

        qt_app()
        self.view = NavigationView(spec, offscreen=True, size=APP_SIZE)
        self.view.set_state(ViewState())
        self.view.render()                      # shaders compiled before timing starts
        self.period = 1.0 / max_hz
        self.times_ms: list[float] = []
        self.seen = None
        self.next_t = 0.0

    def poll(self, latest) -> None:
        now = time.perf_counter()
        if now < self.next_t:
            time.sleep(min(self.next_t - now, 0.002))
            return
        version, state = latest.get()
        if state is None or version == self.seen:
            time.sleep(0.0005)
            return
        self.seen = version
        t = time.perf_counter()
        self.view.set_state(state)
        self.view.render()
        self.times_ms.append((time.perf_counter() - t) * 1e3)
        self.next_t = t + self.period

    def close(self) -> None:
        self.view.close_view()


def qt_app():
    """The process's QApplication (offscreen platform when there is no display)."""
    import os

    from PySide6.QtWidgets import QApplication

    from viewer.display import has_display

    if not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QApplication.instance() or QApplication([])
