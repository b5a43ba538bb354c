"""What the numbers were measured on: cores, CPU model, OS, Python, library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = (
    "sudo-stream",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "msgspec",
    "trio",
    "httpx-sse",
    "openai",
    "httpx2",
    "httpcore2",
    "pydantic",
    "sudo-ai",
    "matplotlib",
    "aiohttp",
    "instructor",
    "jiter",
    "opentelemetry-api",
    "opentelemetry-sdk",
)


def cpu_model() -> str:
    """The CPU model name (Linux ``/proc/cpuinfo``, else what platform says)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    """Installed version of every library the benchmarks touch (or "not installed")."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def revision() -> str:
    """The git commit of the measured source, and whether sudo_stream/ had local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "sudo_stream"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" + uncommitted changes in sudo_stream/" if dirty else "")


def describe() -> dict[str, Any]:
    """The machine, as the README prints it."""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "revision": revision(),
        "versions": versions(),
    }
