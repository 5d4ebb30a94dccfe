"""The simulation's status in words, for `python -m runtime.sim status`.

The first line is the glance (`evse: available   LED: green   CP: A   car: unplugged`): the
evse service's state and LED when it answers, else `evse: not running` and the LED as the
chip shows it. Detail lines follow, one per device.
"""

from __future__ import annotations

from runtime.sim.api_models import CarView, MeterView, SimStatus

GAP = "   "


def _amps(currents: tuple[float, ...]) -> str:
    return "/".join(f"{a:.1f}" for a in currents) + " A"


def car_word(car: CarView) -> str:
    """unplugged, plugged, charging or full."""
    if not car.plugged:
        return "unplugged"
    if car.full:
        return "full"
    return "charging" if any(a > 0 for a in car.currents_a) else "plugged"


def headline(status: SimStatus) -> str:
    """`evse: <state>   LED: <colour>   CP: <state>   car: <word>`."""
    evse, led = "not running", status.led.colour
    if status.evse is not None:
        evse = status.evse.state
        led = status.evse.led or led
    fields = (
        f"evse: {evse}",
        f"LED: {led}",
        f"CP: {status.board.cp_state}",
        f"car: {car_word(status.car)}",
    )
    return GAP.join(fields)


def _meter_line(meter: MeterView) -> str:
    silent = "" if meter.answering else ", NOT ANSWERING"
    return (
        f"{meter.type} at {meter.address}: {meter.energy_import_kwh:.3f} kWh, "
        f"{meter.power_w:.0f} W, {_amps(meter.currents_a)}{silent}"
    )


def _evse_line(status: SimStatus) -> str:
    evse = status.evse
    if evse is None:
        return status.evse_error or "not running"
    transaction = evse.transaction
    session = "no transaction"
    if transaction is not None:
        number = transaction.get("transaction_id", transaction.get("number", "?"))
        session = f"transaction {number} ({transaction.get('id_tag', '?')})"
    faults = ", ".join(str(fault.get("kind", fault)) for fault in evse.faults) or "no faults"
    warnings = "".join(f", warning {warning.get('kind', warning)}" for warning in evse.warnings)
    return f"{evse.state}, OCPP {evse.ocpp_status or '?'}, {session}, {faults}{warnings}"


def _car_line(car: CarView) -> str:
    if not car.plugged:
        return f"unplugged ({car.phases} phase(s), {car.max_current_a:g} A)"
    fault = "" if car.fault == "none" else f", misbehaving: {car.fault}"
    fault = (", needs ventilation" if car.needs_ventilation else "") + fault
    return (
        f"presents {car.cp}, offered {car.offered_current_a:.1f} A, draws {_amps(car.currents_a)}, "
        f"{car.energy_kwh:.3f} of {car.capacity_kwh:.3f} kWh{', full' if car.full else ''}{fault}"
    )


def _board_line(status: SimStatus) -> str:
    board = status.board
    latched = [
        name
        for name, on in (
            ("rcm_dc_fault", board.rcm_dc_fault),
            ("diode_fault", board.diode_fault),
            ("relay_welded", board.relay_welded),
            ("watchdog_tripped", board.watchdog_tripped),
        )
        if on
    ]
    contactor = "closed" if board.contactor_closed else "open"
    silent = ", NOT ANSWERING" if not board.answering else ""
    silent += ", HUNG (heartbeat frozen)" if board.hung else ""
    return (
        f"CP {board.cp_state}, duty {board.duty_permille}‰, contactor {contactor}, "
        f"{board.temperature_c:.1f} °C, {', '.join(latched) or 'no faults'}{silent}"
    )


def status_text(status: SimStatus) -> str:
    """The headline, then one line per part of the simulation."""
    led, reader = status.led, status.reader
    rows = [
        ("evse", _evse_line(status)),
        ("car", _car_line(status.car)),
        ("board", _board_line(status)),
        ("meter", _meter_line(status.meter)),
    ]
    if status.external_meter is not None:
        rows.append(("ext. meter", _meter_line(status.external_meter)))
    card = f"card {reader.card} in the field" if reader.card else "no card"
    x, y, z = status.acceleration_g
    led_silent = "" if led.answering else ", NOT ANSWERING"
    accelerometer_silent = "" if status.accelerometer_answering else ", NOT ANSWERING"
    rows += [
        ("site load", _amps(status.site_load_a)),
        ("LED chip", f"{led.colour} rgbw{led.rgbw}, {led.beeps} beep(s){led_silent}"),
        ("reader", card + ("" if reader.answering else ", NOT ANSWERING")),
        ("accel.", f"x {x:.2f} g, y {y:.2f} g, z {z:.2f} g{accelerometer_silent}"),
        ("injected", ", ".join(kind.value for kind in status.injected) or "nothing"),
    ]
    return "\n".join([headline(status), *(f"  {name:<11}{text}" for name, text in rows)])
