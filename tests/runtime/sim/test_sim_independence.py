"""The simulators implement the datasheets, not our drivers: no sim module imports a driver's
register table, codec or driver (STYLE.md), only the bus transports both sides speak over."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SIM = REPO / "runtime" / "sim"
# The buses, not the devices: the simulated buses plug into these client-side transports.
TRANSPORTS = frozenset({"runtime.drivers.modbus", "runtime.drivers.i2c"})


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def driver_imports(path: Path) -> set[str]:
    return {
        module
        for module in imported_modules(path)
        if module.startswith("runtime.drivers.")
        and not any(module == t or module.startswith(f"{t}.") for t in TRANSPORTS)
    }


def test_no_simulator_module_imports_a_driver_register_table_or_codec() -> None:
    offenders = {
        path.name: sorted(found)
        for path in sorted(SIM.glob("*.py"))
        if (found := driver_imports(path))
    }
    assert offenders == {}


def test_the_import_check_sees_a_driver_table_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from runtime.drivers import power_board_registers as reg\n"
        "from runtime.drivers.sdm_meter import SDM_REGISTERS\n"
        "from runtime.drivers.modbus import ModbusBus\n",
        encoding="utf-8",
    )
    assert driver_imports(sample) == {
        "runtime.drivers.power_board_registers",
        "runtime.drivers.sdm_meter",
        "runtime.drivers.sdm_meter.SDM_REGISTERS",
    }
