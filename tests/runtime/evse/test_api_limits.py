"""External current limits through the local API: the pilot offers less, then all again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.runtime.evse.api_harness import RunningEvse, run, running_evse

FULL_A = 32.0  # profiles/simulated.yaml: charger and cable limit


async def charging(evse: RunningEvse) -> None:
    await evse.status_until(lambda s: s.state == "available", "available")
    evse.station.car.plug_in()
    await evse.status_until(lambda s: s.state == "connected", "the car to be seen")
    assert await evse.client.remote_start("FB433810") == "Accepted"
    await evse.status_until(lambda s: s.state == "charging", "charging")


def test_a_limit_with_a_duration_lowers_the_offered_current_until_it_expires(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await charging(evse)
            assert await evse.client.set_current_limit(10, duration_s=60) == "Accepted"
            status = await evse.status_until(
                lambda s: s.offered_current_a <= 10, "the pilot to offer 10 A"
            )
            assert status.offered_current_a == pytest.approx(10, abs=0.1)
            assert status.limits.external_a == 10
            assert status.limits.effective_a == 10
            assert status.limits.external_expires_at is not None
            assert status.state == "charging"
            car = evse.station.car
            await evse.status_until(
                lambda s: car.status().offered_current_a == pytest.approx(10, abs=0.1),
                "the car to see 10 A on the pilot",
            )

            evse.clock.advance(61)  # past the expiry, and past IEC 61851's 5 s between raises
            status = await evse.status_until(
                lambda s: s.offered_current_a > 30, "the full current again"
            )
            assert status.offered_current_a == pytest.approx(FULL_A, abs=0.1)
            assert status.limits.external_a is None
            assert status.limits.external_expires_at is None

    run(scenario())


def test_a_limit_until_a_moment_shows_that_moment(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            until_then = evse.clock.now().replace(microsecond=0) + timedelta(hours=1)
            assert await evse.client.set_current_limit(16, expires_at=until_then) == "Accepted"
            status = await evse.client.status()
            assert status.limits.external_a == 16
            assert status.limits.external_expires_at == until_then

    run(scenario())


def test_a_limit_below_six_amps_suspends_charging_and_removing_it_resumes(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await charging(evse)
            assert await evse.client.set_current_limit(0) == "Accepted"
            status = await evse.status_until(
                lambda s: s.state == "suspended_evse", "charging suspended by the EVSE"
            )
            assert status.offered_current_a == 0
            assert status.ocpp_status == "SuspendedEVSE"
            assert await evse.client.set_current_limit(None) == "Accepted"
            status = await evse.status_until(lambda s: s.state == "charging", "charging again")
            assert status.offered_current_a == pytest.approx(FULL_A, abs=0.1)

    run(scenario())


@pytest.mark.parametrize("step_h", [1, -1], ids=["clock-set-forward", "clock-set-back"])
def test_a_limit_with_a_duration_lasts_its_duration_when_the_wall_clock_is_set(
    tmp_path: Path, step_h: int
) -> None:
    async def scenario() -> None:
        async with running_evse(tmp_path) as evse:
            await charging(evse)
            assert await evse.client.set_current_limit(10, duration_s=60) == "Accepted"
            await evse.status_until(lambda s: s.offered_current_a <= 10, "the pilot at 10 A")

            evse.clock.step_wall(step_h * 3600)  # NTP sets the clock an hour either way
            evse.clock.advance(30)  # half the duration
            status = await evse.client.status()
            assert status.limits.external_a == 10, "the limit ended before its 60 s"
            assert status.offered_current_a == pytest.approx(10, abs=0.1)
            expires_at = status.limits.external_expires_at
            assert expires_at is not None
            left_s = (expires_at - evse.clock.now()).total_seconds()
            assert 0 < left_s <= 30  # the time shown left follows the clock as it is now

            evse.clock.advance(31)  # past the duration
            status = await evse.status_until(
                lambda s: s.offered_current_a > 30, "the full current after 60 s"
            )
            assert status.limits.external_a is None

    run(scenario())
