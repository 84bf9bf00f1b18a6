"""Durable file replacement: the folder sync that makes an atomic rename survive a crash."""

from __future__ import annotations

import os


def fsync_folder(folder: str) -> None:
    """Make a rename in `folder` durable (where the platform can open folders; a no-op
    elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
