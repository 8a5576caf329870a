"""The agent's side of the driver calls: ``CommandRunner`` runs a command of the controller on
the agent's own driver and keeps its answer in a journal (``D/journal.json``) until the
controller has it, so a command delivered again (the agent restarted before the controller
heard the answer) is answered from the journal, never run twice. A spawn of an instance the
driver already runs is not run again either (the agent stopped between the two)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from caas.virt.driver import DriverError, InstanceSpec, NicSpec, PciDevice

JOURNAL = "journal.json"
KEEP = 1000  # answers kept once the controller has them (a later repeat is answered from here)


def spec_from(data: dict, host: str) -> InstanceSpec:
    """The InstanceSpec of ``hosts.remote.spec_data``, placed on this agent's ``host`` (the
    controller knows the machine by its joined name, the driver by its own)."""
    nics = tuple(NicSpec(**{**n, "fixed_ips": tuple(n["fixed_ips"])}) for n in data.get("nics") or ())
    pci = tuple(PciDevice(**d) for d in data.get("pci_devices") or ())
    # No shares on a joined host: their directories are on the controller's disk.
    return InstanceSpec(**{**data, "host": host, "nics": nics, "pci_devices": pci, "shares": ()})


class CommandRunner:
    """Runs commands on ``driver`` (whose one host is ``host``) with the journal in ``data_dir``."""

    def __init__(self, driver, data_dir: Path, host: str) -> None:
        self.driver = driver
        self.path = data_dir / JOURNAL
        self.host = host
        self._lock = threading.Lock()
        self.journal: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def answer(self, command: dict) -> dict:
        """The result of ``command`` ({"id", "ok", "value" | "error"}): from the journal when it
        ran before, else run now and journaled before it is returned."""
        cid = str(command.get("id"))
        with self._lock:
            if cid in self.journal:
                return self.journal[cid]["result"]
        try:
            result = {"id": cid, "ok": True, "value": self._run(command.get("kind"), command.get("args") or {})}
        except DriverError as exc:
            result = {"id": cid, "ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a malformed command is answered, never fatal
            result = {"id": cid, "ok": False, "error": f"the agent of {self.host} failed: {type(exc).__name__}: {exc}"}
        with self._lock:
            self.journal[cid] = {"result": result, "acked": False}
            self._save()
        return result

    def acked(self, cid: str) -> None:
        """The controller has the answer of ``cid``."""
        with self._lock:
            if cid in self.journal:
                self.journal[cid]["acked"] = True
                done = [k for k, v in self.journal.items() if v["acked"]]
                for k in done[:-KEEP]:
                    del self.journal[k]
                self._save()

    def unacked(self) -> list[dict]:
        with self._lock:
            return [v["result"] for v in self.journal.values() if not v["acked"]]

    def _save(self) -> None:
        tmp = self.path.with_name(f".{JOURNAL}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.journal, fh)
        os.replace(tmp, self.path)

    def _run(self, kind, args: dict):
        d = self.driver
        if kind == "spawn":
            spec = spec_from(args["spec"], self.host)
            if spec.id not in d.running():
                d.spawn(spec)
            return None
        if kind in ("destroy", "power_off"):
            getattr(d, kind)(str(args["instance_id"]))
            return None
        if kind == "power_on":
            d.power_on(spec_from(args["spec"], self.host))
            return None
        if kind == "reboot":
            d.reboot(spec_from(args["spec"], self.host), hard=bool(args.get("hard")))
            return None
        if kind == "power_states":
            return d.power_states([str(i) for i in args["instance_ids"]])
        if kind == "console_output":
            length = args.get("length")
            return d.console_output(str(args["instance_id"]), int(length) if length is not None else None)
        if kind == "running":
            return sorted(d.running())
        raise DriverError(f"the agent of {self.host} does not know the command {kind!r}")
