"""`local`: real content made on this machine, no network, for offline runs, the sandbox and tests.

An image drawn from the prompt (Pillow), a short synthesized WAV, a short animated GIF. It
behaves like a remote provider whose jobs outlive the worker: the handle carries the submit
time, progress is the share of `seconds` elapsed since, and the content is rendered from the
prompt when the job is read as done, so a worker killed mid-job finds it again after restart.
A worker killed between the submit and its record finds it too (`find`).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import textwrap
import time
import wave
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageDraw

from services.generation.providers import (
    Handle,
    JobRequest,
    JobStatus,
    Output,
    WebhookEvent,
    WebhookRejected,
)

_SIZES = {"1:1": (512, 512), "16:9": (640, 360), "9:16": (360, 640), "4:3": (512, 384)}
_SIZES["3:4"] = (384, 512)
# Video takes longer than music, music longer than an image, as at real providers.
_PACE = {"image": 1.0, "music": 1.5, "video": 2.0}
_RATE = 16_000


class LocalProvider:
    name = "local"
    webhooks = False

    def __init__(self, seconds: float = 3.0, clock: Any = time.time) -> None:
        self.seconds = seconds
        self.poll_seconds = max(0.05, min(1.0, seconds / 5))
        self._clock = clock

    async def submit(self, request: JobRequest) -> Handle:
        state = {
            "t0": self._clock(),
            "kind": request.kind,
            "prompt": request.prompt,
            "params": dict(request.params),
        }
        return Handle(id=f"local-{request.job_id}", state=state)

    async def find(self, request: JobRequest) -> Handle | None:
        """A local job is all in its handle: one lost to a crash is made again under the same
        id, with its clock restarted (nothing was billed, nothing runs elsewhere)."""
        return await self.submit(request)

    async def status(self, handle: Handle) -> JobStatus:
        state = handle.state
        kind = str(state["kind"])
        needed = self.seconds * _PACE.get(kind, 1.0)
        elapsed = self._clock() - float(state["t0"])
        if elapsed < needed:
            return JobStatus(state="running", progress=min(99, int(100 * elapsed / needed)))
        prompt = str(state["prompt"])
        params: Mapping[str, Any] = state.get("params") or {}
        return JobStatus(state="succeeded", progress=100, outputs=(render(kind, prompt, params),))

    async def cancel(self, handle: Handle) -> None:
        return None

    async def download(self, output: Output) -> bytes:
        assert output.data is not None
        return output.data

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookRejected("the local provider sends no webhooks")


def render(kind: str, prompt: str, params: Mapping[str, Any]) -> Output:
    if kind == "image":
        return draw_image(prompt, str(params.get("aspect_ratio", "1:1")))
    if kind == "music":
        return synthesize(prompt, min(int(params.get("duration", 8)), 8))
    return animate(prompt, str(params.get("aspect_ratio", "16:9")))


def _palette(prompt: str) -> list[tuple[int, int, int]]:
    digest = hashlib.sha256(prompt.encode()).digest()
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 18, 3)]


def _picture(prompt: str, size: tuple[int, int], phase: float = 0.0) -> Image.Image:
    width, height = size
    colors = _palette(prompt)
    image = Image.new("RGB", size, colors[0])
    draw = ImageDraw.Draw(image)
    top, bottom = colors[0], colors[1]
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for i, color in enumerate(colors[2:]):
        angle = phase + i * math.pi / 2
        cx = width / 2 + math.cos(angle) * width / 4
        cy = height / 2 + math.sin(angle) * height / 4
        r = min(width, height) / (5 + i)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color, outline=(255, 255, 255))
    lines = textwrap.wrap(prompt, width=max(10, width // 9))[:6]
    draw.multiline_text((12, 12), "\n".join(lines), fill=(255, 255, 255))
    return image


def draw_image(prompt: str, aspect_ratio: str) -> Output:
    size = _SIZES.get(aspect_ratio, (512, 512))
    buffer = io.BytesIO()
    _picture(prompt, size).save(buffer, format="PNG")
    return Output(mime="image/png", data=buffer.getvalue(), width=size[0], height=size[1])


def synthesize(prompt: str, seconds: int) -> Output:
    """A melody of sine notes chosen by the prompt's hash, as 16-bit mono WAV."""
    digest = hashlib.sha256(prompt.encode()).digest()
    notes = [220.0 * 2 ** ((b % 12) / 12) for b in digest[:16]]
    per_note = max(1, seconds * _RATE // len(notes))
    frames = bytearray()
    for n, freq in enumerate(notes):
        for i in range(per_note):
            envelope = min(1.0, i / 400, (per_note - i) / 400)
            sample = 0.4 * envelope * math.sin(2 * math.pi * freq * (n * per_note + i) / _RATE)
            frames += struct.pack("<h", int(sample * 32767))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_RATE)
        out.writeframes(bytes(frames))
    return Output(mime="audio/wav", data=buffer.getvalue(), duration=float(seconds))


def animate(prompt: str, aspect_ratio: str) -> Output:
    width, height = _SIZES.get(aspect_ratio, (640, 360))
    size = (width // 2, height // 2)
    frames = [_picture(prompt, size, phase=i * math.pi / 6) for i in range(12)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0
    )
    return Output(
        mime="image/gif", data=buffer.getvalue(), width=size[0], height=size[1], duration=1.44
    )
