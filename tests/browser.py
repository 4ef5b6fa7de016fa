"""Render a local HTML file in real headless Chromium over the DevTools protocol (tests only).

Collects uncaught exceptions and console errors, evaluates an expression in the page and saves a
full-page screenshot. Chromium is Debian's package (`make chromium` installs it).
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
#: What a report page says of itself once loaded: ready (charts drawn), script errors, its charts.
PAGE_STATE = """JSON.stringify({
  ready: document.documentElement.getAttribute("data-ready"),
  scriptErrors: document.documentElement.getAttribute("data-script-errors"),
  charts: Array.from(document.querySelectorAll("svg.chart")).map(function (s) {
    var box = s.getBoundingClientRect();
    return {name: s.dataset.chart, width: box.width, height: box.height, marks: s.querySelectorAll(".series").length};
  }),
  external: Array.from(document.querySelectorAll("[src], link[href]")).length,
  contentWidth: document.querySelector("h1").getBoundingClientRect().width
})"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0",
         "--window-size=1100,900"]


@dataclass
class Rendered:
    errors: list[str] = field(default_factory=list)
    value: Any = None


class _Session:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=deadline - time.monotonic()))
            self.events.append(msg)
            if msg.get("method") == method:
                return
        raise TimeoutError(method)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for e in events:
        params = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif e.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif e.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(str(params["entry"].get("text")))
    return found


def render(page: Path, expression: str, screenshot: Path | None = None) -> Rendered:
    """Load `page`, wait for load, evaluate `expression` (JSON-able result), optionally screenshot it."""
    from websockets.sync.client import connect

    # Chromium's helper processes can still write to the profile as it is removed (CI: "Directory not empty:
    # 'Default'" once in 1,102 tests): a leftover temporary folder is not a test failure.
    with tempfile.TemporaryDirectory(prefix="ptp-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Chromium did not start its DevTools endpoint")
                time.sleep(0.1)
            port = port_file.read_text().splitlines()[0]
            import urllib.request

            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
            ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            with connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30) as ws:
                s = _Session(ws)
                for domain in ("Page", "Runtime", "Log"):
                    s.call(f"{domain}.enable")
                s.call("Page.navigate", url=page.resolve().as_uri())
                s.wait_for("Page.loadEventFired")
                result = s.call("Runtime.evaluate", expression=expression, returnByValue=True)
                if screenshot is not None:
                    shot = s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                errors = _errors(s.events)
                if "exceptionDetails" in result:
                    errors.append(str(result["exceptionDetails"].get("text")))
                return Rendered(errors, result.get("result", {}).get("value"))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def page_state(page: Path, screenshot: Path | None = None) -> tuple[list[str], dict[str, Any]]:
    """Render a report page: the errors Chromium saw and the page's own state (PAGE_STATE)."""
    result = render(page, PAGE_STATE, screenshot=screenshot)
    return result.errors, json.loads(result.value)
