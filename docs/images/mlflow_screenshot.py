"""Makes docs/images/mlflow-ui.png: the MLflow UI's runs table of a tuning run, its trials expanded.

Needs Debian's `chromium`. Start the UI on a run first, then point this at it:

    automl ui automl_runs/<run> --port 5055 &
    python docs/images/mlflow_screenshot.py http://127.0.0.1:5055 docs/images/mlflow-ui.png

It drives headless Chromium over the DevTools protocol (aiohttp, which Ray brings):
opens the experiment's runs page, expands the parent run's trials and saves the picture.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

WIDTH, HEIGHT = 1500, 600
# Columns toggled in the picker: default attributes off, the trials' scores and main parameters on.
COLUMNS = [
    "Dataset",
    "Source",
    "Models",
    "best_val_accuracy",
    "learning_rate",
    "layers.0.units",
    "layers.0.dropout",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _experiment_url(ui: str) -> str:
    request = urllib.request.Request(
        f"{ui}/ajax-api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 10}).encode(),
        headers={"Content-Type": "application/json"},
    )
    experiments = json.load(urllib.request.urlopen(request))["experiments"]
    tuned = [e for e in experiments if e["name"] != "Default"]
    return f"{ui}/#/experiments/{tuned[0]['experiment_id']}/runs?workflowType=machine_learning"


async def _shoot(debug_port: int, url: str, out: Path) -> None:
    deadline = time.monotonic() + 30
    while True:  # until Chromium's DevTools endpoint answers
        try:
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json"))
            page = next(p for p in pages if p["type"] == "page")
            break
        except (OSError, StopIteration):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    ids = itertools.count(1)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws,
    ):

        async def call(method: str, **params):
            n = next(ids)
            await ws.send_json({"id": n, "method": method, "params": params})
            async for message in ws:
                reply = json.loads(message.data)
                if reply.get("id") == n:
                    return reply.get("result", {})
            raise RuntimeError("DevTools closed the connection")

        async def until(script: str, what: str, timeout: float = 60) -> None:
            end = time.monotonic() + timeout
            while not (await call("Runtime.evaluate", expression=script, returnByValue=True))["result"].get(
                "value"
            ):
                if time.monotonic() > end:
                    raise TimeoutError(f"the page never showed {what}")
                await asyncio.sleep(0.5)

        await call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        await call("Page.navigate", url=url)
        rows = "document.querySelectorAll('[role=row]').length"
        await until(f"{rows} > 2", "the runs table")
        before = (await call("Runtime.evaluate", expression=rows, returnByValue=True))["result"]["value"]
        # Close the assistant panel; expand the parent run (the icon-only link button in its row).
        await call(
            "Runtime.evaluate",
            expression=(
                "document.querySelectorAll('button[aria-label=Close]').forEach(b => b.click());"
                "[...document.querySelectorAll('[role=row] button')]"
                ".filter(b => !b.innerText.trim() && !b.getAttribute('aria-label')).forEach(b => b.click())"
            ),
        )
        await until(f"{rows} > {before}", "the nested trials")
        await call(  # the column picker: the trials' scores and parameters instead of empty attributes
            "Runtime.evaluate",
            expression="[...document.querySelectorAll('button')].filter(b => b.innerText.startsWith('Show more columns')).forEach(b => b.click())",
        )
        await until(
            "[...document.querySelectorAll('span,label')].some(e => e.innerText === 'best_val_accuracy')",
            "the column picker",
        )
        for name in COLUMNS:
            await call(
                "Runtime.evaluate",
                expression=f"[...document.querySelectorAll('span,label')].filter(e => e.innerText === {json.dumps(name)}).slice(-1).forEach(e => e.click())",
            )
        for kind in ("keyDown", "keyUp"):
            await call(
                "Input.dispatchKeyEvent", type=kind, key="Escape", code="Escape", windowsVirtualKeyCode=27
            )
        await asyncio.sleep(1)  # let the last rows paint
        shot = await call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


def main(ui: str, out: str) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--remote-debugging-port={port}",
                "--remote-debugging-address=127.0.0.1",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(_shoot(port, _experiment_url(ui), Path(out)))
        finally:
            browser.terminate()
            browser.wait()


if __name__ == "__main__":
    main(*sys.argv[1:3])
