"""Running FRR's and iproute2's command-line tools: one place for timeouts and errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from shadowd.core.errors import CommandFailed

VTYSH: Final = "vtysh"
TIMEOUT_S: Final = 20.0


async def run(cmd: list[str], *, timeout_s: float = TIMEOUT_S) -> str:
    """``cmd``'s stdout; ``CommandFailed`` (with its stderr) if it fails or times out."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise CommandFailed(cmd, 127, f"{cmd[0]}: not installed") from None
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError) as e:
        proc.kill()
        await proc.wait()
        if isinstance(e, asyncio.CancelledError):
            raise
        raise CommandFailed(cmd, -1, f"timed out after {timeout_s:g} s", retriable=True) from None
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace")
        raise CommandFailed(cmd, proc.returncode or 0, text, retriable=True)
    return out.decode(errors="replace")


def vtysh_cmd(pathspace: str, lines: list[str], *, vtysh: str = VTYSH,
              daemon: str | None = None) -> list[str]:
    """``vtysh -N PATHSPACE [-d DAEMON] -c LINE ...`` (no ``-N`` for the default one)."""
    cmd = [vtysh, *(["-N", pathspace] if pathspace else [])]
    if daemon is not None:
        cmd += ["-d", daemon]
    for line in lines:
        cmd += ["-c", line]
    return cmd


async def vtysh(pathspace: str, *lines: str, daemon: str | None = None,
                timeout_s: float = TIMEOUT_S) -> str:
    """Run ``lines`` in one vtysh session; FRR's "% ..." complaints count as failures."""
    cmd = vtysh_cmd(pathspace, list(lines), daemon=daemon)
    out = await run(cmd, timeout_s=timeout_s)
    complaints = [ln for ln in out.splitlines() if ln.startswith("%")]
    if complaints:
        raise CommandFailed(cmd, 0, "; ".join(complaints))
    return out


async def vtysh_json(pathspace: str, command: str, *, vtysh: str = VTYSH,
                     daemon: str | None = None, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """A ``show ... json`` command's object (``{}`` for empty output)."""
    cmd = vtysh_cmd(pathspace, [command], vtysh=vtysh, daemon=daemon)
    text = (await run(cmd, timeout_s=timeout_s)).strip()
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as e:
        raise CommandFailed(cmd, 0, f"not JSON: {e}: {text[:200]}") from None
    return data if isinstance(data, dict) else {}
