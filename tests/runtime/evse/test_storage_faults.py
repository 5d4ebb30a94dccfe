"""No transaction, no energy: the charger on a data partition that really fills up.

Virtual time, real drivers against the simulated board, meter, car and I2C chips; the database
lives on a small tmpfs that the test fills (SQLite meets ENOSPC) and frees again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtime.config.loader import load_profile
from runtime.evse.states import EvseState, LedColour
from runtime.persistence.database import Database
from runtime.persistence.transaction_records import TransactionStatus
from runtime.persistence.transactions import TransactionStore
from runtime.sim.car import CarSpec
from tests.runtime.evse.harness import running_charger
from tests.runtime.evse.virtual_rig import EPOCH, VirtualCharger
from tests.runtime.full_disk import DataPartition, small_data_partition

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"
OWNER = "FB433810"
CAR = CarSpec(phases=3, max_current_a=16, capacity_kwh=40, reaction_time_s=0.3)
SAMPLE_S = 60  # the virtual rig's meter sample interval
PWM_OFF = 1000


@dataclass
class Trace:
    """What the board did after every control step."""

    contactor: list[bool] = field(default_factory=list)
    duty: list[int] = field(default_factory=list)
    states: list[EvseState] = field(default_factory=list)
    faults: list[frozenset[str]] = field(default_factory=list)

    def raised(self) -> list[str]:
        """Every fault kind in the order it was raised (again after each clear)."""
        before: frozenset[str] = frozenset()
        raised: list[str] = []
        for now in self.faults:
            raised.extend(sorted(now - before))
            before = now
        return raised


class TracedCharger(VirtualCharger):
    trace: Trace

    def after_step(self) -> None:
        self.trace.contactor.append(self.station.board.contactor_closed)
        self.trace.duty.append(self.station.board.pilot_duty_permille)
        self.trace.states.append(self.controller.machine.state)
        self.trace.faults.append(self.controller.faults.kinds)


def _profile_text(plug_and_charge: bool) -> str:
    text = SIMULATED.read_text(encoding="utf-8")
    if plug_and_charge:
        text = text.replace(
            "default_id_tag_mode: authorisation_required", "default_id_tag_mode: default_id_tag"
        )
    return text


@pytest.fixture
def partition(tmp_path: Path) -> Iterator[DataPartition]:
    with small_data_partition(tmp_path / "data") as mounted:
        yield mounted


def _charger(tmp_path: Path, partition: DataPartition, plug_and_charge: bool) -> TracedCharger:
    profile_path = tmp_path / "profile.yaml"
    profile_path.write_text(_profile_text(plug_and_charge), encoding="utf-8")
    profile = load_profile(profile_path).profile
    charger = TracedCharger(profile, partition.mount_point / "chargeos.db", CAR)
    charger.trace = Trace()
    return charger


@pytest.fixture
def charger(tmp_path: Path, partition: DataPartition) -> Iterator[TracedCharger]:
    charger = _charger(tmp_path, partition, plug_and_charge=False)
    yield charger
    charger.close()


@pytest.fixture
def plug_and_charge(tmp_path: Path, partition: DataPartition) -> Iterator[TracedCharger]:
    charger = _charger(tmp_path, partition, plug_and_charge=True)
    yield charger
    charger.close()


async def plug_and_card_on_a_full_disk(charger: VirtualCharger, partition: DataPartition) -> None:
    """The owner plugs in and presents the card once the data partition is full."""
    await charger.advance(0.5)
    partition.fill()
    charger.station.car.plug_in()
    await charger.advance(0.5)
    await charger.present_card(OWNER)


def test_card_and_plug_on_a_full_disk_give_no_energy_a_red_storage_fault_then_charge_once_freed(
    charger: TracedCharger, partition: DataPartition
) -> None:
    async def scenario() -> None:
        await plug_and_card_on_a_full_disk(charger, partition)
        await charger.advance(5.0)
        assert not any(charger.trace.contactor), "the contactor closed without a transaction row"
        assert charger.controller.faults.kinds == {"storage"}
        assert charger.controller.last_error_code == "InternalError"
        assert await charger.led_colour() is LedColour.RED
        assert charger.transactions.active(1) is None
        partition.free()
        await charger.advance(70.0)  # at most one backoff period
        assert charger.controller.machine.state is EvseState.CHARGING
        assert charger.station.board.contactor_closed
        row = charger.transactions.active(1)
        assert row is not None and row.id_tag == OWNER
        assert not charger.controller.faults.kinds

    asyncio.run(scenario())


def test_a_car_that_leaves_during_the_storage_fault_takes_its_authorization_with_it(
    charger: TracedCharger, partition: DataPartition
) -> None:
    async def scenario() -> None:
        await plug_and_card_on_a_full_disk(charger, partition)
        await charger.advance(2.0)
        assert charger.controller.faults.kinds == {"storage"}
        charger.station.car.unplug()
        await charger.advance(1.0)
        partition.free()
        await charger.advance(70.0)
        assert charger.controller.machine.state is EvseState.AVAILABLE
        charger.station.car.plug_in()
        await charger.advance(5.0)
        assert charger.controller.machine.state is EvseState.CONNECTED  # a new card is needed
        assert charger.transactions.active(1) is None
        assert not any(charger.trace.contactor)

    asyncio.run(scenario())


def test_plug_and_charge_on_a_full_disk_holds_one_storage_fault_retried_with_backoff(
    plug_and_charge: TracedCharger, partition: DataPartition
) -> None:
    charger = plug_and_charge

    async def scenario() -> None:
        await charger.advance(0.5)
        partition.fill()
        charger.station.car.plug_in()
        await charger.advance(30.0)
        assert not any(charger.trace.contactor)
        assert charger.trace.raised() == ["storage"], "one storage fault, no meter fault, no flap"
        assert set(charger.trace.states[-int(25 / 0.05) :]) == {EvseState.FAULTED}
        partition.free()
        await charger.advance(70.0)
        assert charger.controller.machine.state is EvseState.CHARGING
        assert charger.transactions.active(1) is not None

    asyncio.run(scenario())


def test_full_disk_mid_session_stops_gracefully_and_the_row_is_completed_once_freed(
    charger: TracedCharger, partition: DataPartition
) -> None:
    async def scenario() -> None:
        await charger.advance(0.5)
        charger.station.car.plug_in()
        await charger.advance(0.5)
        await charger.present_card(OWNER)
        await charger.advance(SAMPLE_S + 2)
        assert charger.station.board.contactor_closed
        row = charger.transactions.active(1)
        assert row is not None
        written_before = len(charger.transactions.samples(row.transaction_id))
        partition.fill()
        filled_at = len(charger.trace.contactor)
        await charger.advance(SAMPLE_S + 5)
        contactor, duty = charger.trace.contactor[filled_at:], charger.trace.duty[filled_at:]
        opened = contactor.index(False)
        assert duty[opened - 1] == PWM_OFF, "the PWM stops before the contactor opens"
        assert not charger.station.board.contactor_closed
        assert charger.controller.faults.kinds == {"storage"}
        assert await charger.led_colour() is LedColour.RED
        meter_at_stop = round(charger.station.meter.energy_import_kwh * 1000)
        partition.free()
        await charger.advance(70.0)
        assert not charger.controller.faults.kinds
        ended = charger.transactions.get(row.transaction_id)
        assert ended is not None and ended.status is TransactionStatus.ENDED
        assert ended.stop_reason == "Other"
        energies = [s.energy_wh for s in charger.transactions.samples(row.transaction_id)]
        assert len(energies) > written_before, "the sample taken while full was kept and written"
        assert energies == sorted(energies) and ended.meter_start_wh <= energies[0]
        assert energies[-1] <= ended.meter_stop_wh
        assert abs(ended.meter_stop_wh - meter_at_stop) <= 1
        assert charger.controller.machine.state is EvseState.CONNECTED  # no new session by itself
        assert not charger.station.board.contactor_closed

    asyncio.run(scenario())


def test_real_time_charger_on_a_full_disk_stays_red_without_energy_then_charges_once_freed(
    tmp_path: Path, partition: DataPartition
) -> None:
    async def scenario() -> None:
        database = partition.mount_point / "chargeos.db"
        async with running_charger(tmp_path, database_path=database) as rig:
            await rig.until_led(LedColour.GREEN)
            partition.fill()
            closed: list[bool] = []

            def watch() -> bool:
                closed.append(rig.station.board.contactor_closed)
                return rig.led() is LedColour.RED

            rig.plug()
            await rig.until_state(EvseState.CONNECTED)
            await rig.present_card(OWNER)
            await rig.until(watch, timeout_s=10)
            assert rig.controller.faults.kinds == {"storage"}
            assert rig.transactions.active(1) is None
            assert not any(closed), "the contactor closed without a transaction row"
            partition.free()
            await rig.until(lambda: rig.station.board.contactor_closed, timeout_s=90)
            assert rig.state is EvseState.CHARGING
            row = rig.transactions.active(1)
            assert row is not None and row.id_tag == OWNER

    asyncio.run(scenario())


def test_a_transaction_left_open_is_closed_once_a_full_disk_is_freed_after_a_restart(
    tmp_path: Path, partition: DataPartition
) -> None:
    database = partition.mount_point / "chargeos.db"

    async def scenario() -> None:
        # Another service (the configurator, the OCPP client) keeps the database open, so its
        # -wal and -shm files exist while the partition is full and evse restarts.
        with Database.open(database) as other_service:
            interrupted = TransactionStore(other_service).start(
                OWNER, 5000, 1, EPOCH, random.Random(7)
            )
            partition.fill()
            async with running_charger(tmp_path, database_path=database) as rig:
                await rig.until(lambda: rig.controller.faults.kinds == {"storage"}, timeout_s=10)
                await rig.until_led(LedColour.RED)
                assert rig.transactions.active(1) is not None  # nothing could be written yet
                partition.free()
                await rig.until(lambda: not rig.controller.faults.kinds, timeout_s=90)
                ended = rig.transactions.get(interrupted.transaction_id)
                assert ended is not None and ended.status is TransactionStatus.ENDED
                assert ended.stop_reason == "PowerLoss"  # a fresh board: it lost power with us
                assert ended.meter_stop_wh is not None and ended.meter_stop_wh >= 5000

    asyncio.run(scenario())
