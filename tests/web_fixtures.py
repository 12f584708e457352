"""Fixtures for the web app tests: a data folder with a database, a media key, one user
per role, a model folder (an UNTRAINED small network saved as a model folder: fine for
testing the app, its scores mean nothing), real face photos and a clip, and the app
served by uvicorn on 127.0.0.1 on a free port."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedpain.core.settings import Settings, load_settings
from pedpain.store import open_store, write_new_key

PASSWORD = "correct-horse-battery"
USERS = {
    "ada": "admin",
    "nina": "nurse",
    "noah": "nurse",
    "rita": "rater",
    "ravi": "rater",
    "remy": "researcher",
}


@dataclass
class WebEnv:
    home: Path
    settings: Settings
    media: dict[str, Path] = field(default_factory=dict)

    def store(self) -> Any:
        return open_store(self.settings, actor="test")


def make_env(root: Path, *, model: bool = False, media: bool = False, **settings: Any) -> WebEnv:
    from pedpain.study.accounts import create_user

    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    key = root / "media.key"
    if not key.exists():
        write_new_key(key)
    conf = load_settings(home=home, key_file=key, **settings)
    with open_store(conf, init=True, actor="test") as store:
        for name, role in USERS.items():
            create_user(store, name, role, PASSWORD, actor="test")
    env = WebEnv(home, conf)
    if model:
        make_model(home / "models" / "ui-test")
        (home / "models" / "active").symlink_to("ui-test")
    if media:
        env.media = make_media(root / "media")
    return env


def make_model(folder: Path, seed: int = 0, name: str = "ui-test") -> Path:
    """An untrained resnet18 (64 px input) saved as a model folder."""
    import torch

    from pedpain.models.bundle import save_model_folder
    from pedpain.models.registry import InputSpec
    from pedpain.training.module import build_net

    torch.manual_seed(seed)
    spec = InputSpec(size=64)
    net = build_net("resnet18", spec, [8], 0.1)
    meta = {
        "name": name,
        "version": "0",
        "stage": "untrained",
        "backbone": "resnet18",
        "input_spec": spec.to_dict(),
        "head_hidden": [8],
        "dropout": 0.1,
        "target": "pain",
        "target_max": 10,
        "created": "2026-01-01T00:00:00",
    }
    card = "# ui-test\n\nUntrained network for interface tests only. sha256 {sha256}\n"
    return save_model_folder(folder, net, meta, "{}", {}, {"auc": 0.5, "mae": 2.0}, card)


def make_media(folder: Path) -> dict[str, Path]:
    from vision_media import astronaut, grace, save, write_video

    folder.mkdir(parents=True, exist_ok=True)
    return {
        "grace": save(folder / "grace.jpg", grace()),
        "astronaut": save(folder / "astronaut.jpg", astronaut()),
        "clip": write_video(folder / "clip.mp4", 2.0, 25),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The app under uvicorn in a thread on 127.0.0.1 (stopped by :meth:`stop`)."""

    def __init__(self, env: WebEnv) -> None:
        import uvicorn

        from pedpain.web import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(env.settings, host="127.0.0.1")
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.state.engines.close()
        self.app.state.store.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
