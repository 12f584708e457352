"""Load benchmark of the web app (issue 21): 10 concurrent clients (the ward's tablets)
submit photo assessments through the JSON API (``POST /api/v1/children/{code}/
assessments``, one grace_hopper JPEG each) for 60 s against ``pedpain serve --engines 2``
on 127.0.0.1 (a separate process). Every request stores the session and its encrypted
photo, then runs the engine (no explanation: the page asks for it separately).

Targets: p95 latency under 0.5 s, no error. Reported: requests, errors, throughput,
latency p50/p95/max and the load average. The baseline measured in the same run is the
engine alone (the same photo, in-process, sequential): the ratio p50(web) / engine shows
what queueing, upload, storage and HTTP add.

The model is the bedside class (MobileNetV3-L, 165 px, untrained, with its verified ONNX
export: the deployment path; speed does not depend on the weights). Exit code 1 on any
error or a missed target. Bounded: stops by itself after --seconds.

    .venv/bin/python benchmarks/bench_web.py [--seconds 60] [--clients 10] [--engines 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


P95_TARGET_S = 0.5


def make_model(folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_assess import make_model as bedside_model

    bedside_model(folder, "mobilenet_v3_large")


def photo(path: Path) -> bytes:
    import cv2
    import numpy as np
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        rgb = np.asarray(Image.open(handle).convert("RGB"))
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data.tobytes())
    return data.tobytes()


def pedpain(env: dict[str, str], *args: str, stdin: str = "") -> str:
    exe = str(Path(sys.executable).parent / "pedpain")
    done = subprocess.run(
        [exe, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--engines", type=int, default=2, help="pedpain serve --engines")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    home = work / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEDPAIN_")}
    env.update(PEDPAIN_HOME=str(home), PEDPAIN_KEY_FILE=str(work / "key"))
    # The study's validation phase withholds the score until the nurse's BPS is in; this
    # benchmark measures the assessment itself, so it answers with the score at once.
    env.update(PEDPAIN_STUDY_VALIDATION_PHASE="false")
    pedpain(env, "db", "keygen", "--out", str(work / "key"))
    pedpain(env, "db", "init")
    pedpain(env, "users", "create", "--role", "nurse", "nina", stdin="bench-password-1\n")
    token = pedpain(env, "users", "token", "nina")
    make_model(home / "models" / "bench")
    (home / "models" / "active").symlink_to("bench")
    jpeg = photo(work / "grace.jpg")

    # Baseline: the engine alone, same photo, after one warm-up.
    from pedpain.assess import Assessor

    with Assessor(home / "models" / "bench") as engine:
        assert engine.scorer.backend == "onnx"
        engine.assess([work / "grace.jpg"], age="4y")
        times = []
        for _ in range(10):
            t = time.perf_counter()
            engine.assess([work / "grace.jpg"], age="4y")
            times.append(time.perf_counter() - t)
    engine_s = statistics.median(times)

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "pedpain"),
            *("serve", "--port", str(port), "--engines", str(args.engines)),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("server did not start", file=sys.stderr)
                return 1
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(
            url + "/api/v1/children",
            headers=auth,
            json={"code": "B-001", "age": "4y", "sex": "F", "group": "control",
                  "guardian_consent": True},
        )  # fmt: skip
        r.raise_for_status()
        # Warm the server's engines (loaded on first use): as many requests at once.
        files = [("media", ("p.jpg", jpeg, "image/jpeg"))]
        endpoint = url + "/api/v1/children/B-001/assessments"

        def warm() -> None:
            httpx.post(
                endpoint, headers=auth, data={"time_point": "pain"}, files=files, timeout=120
            )

        warmers = [threading.Thread(target=warm) for _ in range(args.engines)]
        for th in warmers:
            th.start()
        for th in warmers:
            th.join()

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            with httpx.Client(headers=auth, timeout=300) as c:
                while time.monotonic() < stop_at:
                    t = time.perf_counter()
                    try:
                        resp = c.post(endpoint, data={"time_point": "pain"}, files=files)
                        ok = resp.status_code == 201 and resp.json()["result"]["status"] == "ok"
                        why = f"HTTP {resp.status_code}" if not ok else ""
                    except httpx.HTTPError as exc:
                        ok, why = False, type(exc).__name__
                    with lock:
                        (latencies.append(time.perf_counter() - t) if ok else errors.append(why))

        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
    p50 = statistics.median(lat) if lat else float("nan")
    one, five, fifteen = os.getloadavg()
    print(
        f"clients {args.clients}, engines {args.engines}, {wall:.1f} s, load average "
        f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
    )
    print(f"requests ok {len(lat)}, errors {len(errors)} {sorted(set(errors))[:5]}")
    print(f"throughput {len(lat) / wall:.2f} assessments/s")
    print(f"latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    print(f"baseline: engine alone {engine_s * 1000:.0f} ms per photo (median of 10)")
    print(f"ratio p50(web, {args.clients} clients) / engine alone: {p50 / engine_s:.1f}x")
    met = bool(lat) and not errors and p95 < P95_TARGET_S
    print(
        f"target p95 < {P95_TARGET_S:g} s with 0 errors: "
        f"{'met' if met else 'MISSED'} (p95 {p95:.3f} s, {len(errors)} errors)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
