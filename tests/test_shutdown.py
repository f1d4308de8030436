"""Shutdown stops the background tasks (tenant-cache listener, purge) in bounded time."""

from __future__ import annotations

import asyncio

import pytest

from app.main import stop_tasks


async def test_cancelled_tasks_are_awaited() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await stop_tasks([task])
    assert task.cancelled()


async def test_a_task_that_will_not_stop_does_not_hang_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # what a cancellation-swallowing bug looks like from outside

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_tasks([task], grace_seconds=0.05), 5)
    assert "1 background task(s) did not stop" in caplog.text
    release.set()
    task.cancel()
    await task


async def test_a_task_that_failed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("listener crashed")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop_tasks([task])
    assert "background task failed" in caplog.text
    assert "listener crashed" in caplog.text
