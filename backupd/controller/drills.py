"""DrillSchedule resources: restore drills on a cron line (monthly, say), run here.

- APScheduler fires each enabled DrillSchedule; a run drills one backup with
  backupd.drill.run (a named backup, or the latest Completed one of a backup Schedule)
  into an ephemeral cluster or the cluster of a kubeconfig Secret, in its own thread.
  The drill is called `<drillschedule>-<YYYYMMDDHHMMSS>`; its report is stored in the
  storage location under drills/<name>/ (`backupctl drill report NAME --open`).
- A new value of the annotation backupd.io/run-now runs one drill at once (paused or not):
      kubectl -n backupd annotate drillschedule NAME backupd.io/run-now="$(date +%s)" --overwrite
- One drill per DrillSchedule at a time: a run due while one is in flight is skipped.
- The outcome goes to status (lastVerdict, lastRtoSeconds, lastProblems...), an Event
  (DrillPassed / DrillFailed) and the metrics backupd_drill_last_result (1 passed,
  0 failed), backupd_drill_last_timestamp_seconds, backupd_drill_rto_seconds and
  backupd_drill_rpo_seconds, labelled drill_schedule. A drill that cannot even start
  (no backup, a bad Secret) is a failed drill. The metrics are set again from status
  when the controller starts, and a DrillSchedule that never drilled reports its
  creation time, so the "no drill in 35 days" alert covers it too.

A drill left running by a controller that stopped is recorded failed (interrupted) by
the next one, never resumed. Target Ephemeral starts a local control plane where the
controller runs: it needs the sandbox binaries (BACKUPD_BIN_DIR, see
backupd.sandbox.binaries), which the controller image does not ship; in a cluster,
drill into a temporary cluster with target Kubeconfig.

Without the controller: a cron entry running `backupctl drill run` (see
backupd.drill.store) does the same, without the metrics.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backupd.api.common import now
from backupd.api.drill import DrillReport, DrillSpec, DrillTargetKind, DrillVerdict
from backupd.api.drillschedule import RUN_NOW, DrillScheduleSpec, KubeconfigSecretRef
from backupd.backup import cron
from backupd.cluster.client import JSON, KubeClient
from backupd.controller.context import Context
from backupd.controller.resources import annotations_of, parse_stamp, stamp
from backupd.controller.schedules import CronResources, spec_error
from backupd.drill import run as drill_run
from backupd.drill import summary
from backupd.errors import BackupdError, ClusterNotFound, UserInputError

PLURAL = "drillschedules"
log = logging.getLogger(__name__)


def _reason(e: Exception) -> str:
    if isinstance(e, ValidationError):
        return spec_error(e)
    return str(e).splitlines()[0] if str(e) else type(e).__name__


class DrillSchedules(CronResources):
    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._run_now: dict[str, str] = {}
        self._running: set[str] = set()

    # -- watch events ----------------------------------------------------------------
    def on_event(self, event_type: str | None, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            with self._lock:
                self._known.pop(name, None)
                self._run_now.pop(name, None)
            self._remove(name)
            self._forget_metrics(name)
            return
        key = json.dumps(obj.get("spec"), sort_keys=True)
        with self._lock:
            first = name not in self._known
            changed = self._known.get(name) != key
            self._known[name] = key
        if first:
            self._metrics_from_status(obj)
            self._interrupted(obj)
        if changed:
            self.sync(obj)
        self._maybe_run_now(obj)

    def _interrupted(self, obj: JSON) -> None:
        """A drill a stopped controller left running is a failed drill; never resumed."""
        running = (obj.get("status") or {}).get("running")
        with self._lock:
            ours = obj["metadata"]["name"] in self._running
        if running and not ours:
            reason = "interrupted: the controller stopped while it ran; it is not resumed"
            self._failed_to_run(obj, str(running), reason)

    def _maybe_run_now(self, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        wanted = annotations_of(obj).get(RUN_NOW)
        honoured = (obj.get("status") or {}).get("lastRunNow")
        with self._lock:
            if not wanted or wanted == honoured or self._run_now.get(name) == wanted:
                return
            self._run_now[name] = wanted
        self._status(obj, {"lastRunNow": wanted})
        log.info("drill schedule %s: run now (%s=%s)", name, RUN_NOW, wanted)
        self.fire(name, why=f"{RUN_NOW}={wanted}")

    def _status(self, obj: JSON, status: dict[str, Any]) -> None:
        try:
            self.ctx.res.patch_status(PLURAL, obj["metadata"]["name"], status)
        except BackupdError as e:
            log.warning("status of drill schedule %s not updated: %s", obj["metadata"]["name"], e)

    def sync(self, obj: JSON) -> None:
        name = obj["metadata"]["name"]
        try:
            spec = DrillScheduleSpec.model_validate(obj.get("spec") or {})
            trig = cron.trigger(spec.schedule, spec.time_zone)
        except (ValidationError, BackupdError) as e:
            reason = _reason(e)
            self._remove(name)
            self._status(obj, {"phase": "FailedValidation", "validationErrors": [reason]})
            self.ctx.res.event(obj, "FailedValidation", reason, warning=True)
            log.warning("drill schedule %s is invalid: %s", name, reason)
            return
        if spec.paused:
            self._remove(name)
            self._status(obj, {"phase": "Paused", "validationErrors": []})
            self.ctx.res.event(obj, "Paused", "no drills until unpaused")
            return
        self.scheduler.add_job(self.fire, trig, id=name, args=[name], replace_existing=True)
        self._status(obj, {"phase": "Enabled", "validationErrors": []})
        log.info("drill schedule %s enabled: %r in %s", name, spec.schedule, spec.time_zone)

    # -- metrics ---------------------------------------------------------------------
    def _metrics_from_status(self, obj: JSON) -> None:
        """What the last drill said, as metrics again after a restart."""
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        m = self.ctx.metrics
        finished = parse_stamp(status.get("lastDrillTime"))
        if finished is None:
            created = parse_stamp(obj["metadata"].get("creationTimestamp")) or now()
            m.drill_last_timestamp.labels(drill_schedule=name).set(created.timestamp())
            return
        m.drill_last_timestamp.labels(drill_schedule=name).set(finished.timestamp())
        passed = status.get("lastVerdict") == DrillVerdict.passed.value
        m.drill_last_result.labels(drill_schedule=name).set(1 if passed else 0)
        self._set_or_drop(m.drill_rto, name, status.get("lastRtoSeconds"))
        self._set_or_drop(m.drill_rpo, name, status.get("lastRpoSeconds"))

    @staticmethod
    def _set_or_drop(gauge: Any, name: str, value: object) -> None:
        if isinstance(value, int | float):
            gauge.labels(drill_schedule=name).set(float(value))
        else:
            with contextlib.suppress(KeyError):
                gauge.remove(name)

    def _forget_metrics(self, name: str) -> None:
        m = self.ctx.metrics
        for gauge in (m.drill_last_result, m.drill_last_timestamp, m.drill_rto, m.drill_rpo):
            with contextlib.suppress(KeyError):
                gauge.remove(name)

    # -- a run -----------------------------------------------------------------------
    def fire(self, name: str, why: str = "scheduled") -> str | None:
        """Start a drill of `name` in its own thread, or say why not; its drill name."""
        try:
            return self._fire(name, why)
        except BackupdError as e:
            log.error("drill schedule %s: drill failed to start: %s", name, e)
        except Exception:
            log.exception("drill schedule %s: unexpected error", name)
        return None

    def _fire(self, name: str, why: str) -> str | None:
        obj = self.ctx.res.get(PLURAL, name)
        if obj is None or self.ctx.stopping.is_set():
            return None
        drill = cron.backup_name(name, now())
        with self._lock:
            busy = name in self._running
            if not busy:
                self._running.add(name)
        if busy or not self.ctx.claim(PLURAL, drill):
            with self._lock:
                if not busy:
                    self._running.discard(name)
            reason = f"a drill of {name} is still running" if busy else f"{drill} already ran"
            self.ctx.res.event(obj, "RunSkipped", f"drill skipped: {reason}", warning=True)
            log.warning("drill schedule %s: run skipped: %s", name, reason)
            return None
        self._status(obj, {"running": drill})
        self.ctx.res.event(obj, "DrillStarted", f"drill {drill} started ({why})")
        thread = threading.Thread(
            target=self._run, args=(obj, drill), name=f"drill-{name}", daemon=True
        )
        thread.start()
        return drill

    def _run(self, obj: JSON, drill: str) -> None:
        name = obj["metadata"]["name"]
        try:
            report = self._drill(obj, drill)
        except (BackupdError, ValidationError) as e:
            self._failed_to_run(obj, drill, _reason(e))
        except Exception as e:
            log.exception("drill schedule %s: unexpected error in drill %s", name, drill)
            self._failed_to_run(obj, drill, f"unexpected error: {type(e).__name__}: {e}")
        else:
            self._record(obj, report)
        finally:
            with self._lock:
                self._running.discard(name)
            self.ctx.done(PLURAL, drill)

    def _drill(self, obj: JSON, drill: str) -> DrillReport:
        spec = DrillScheduleSpec.model_validate(obj.get("spec") or {})
        resolved = self.ctx.locations.resolve(spec.storage_location)
        secret = spec.kubeconfig_secret
        drill_spec = DrillSpec(
            backup_name=spec.backup_name,
            schedule_name=spec.schedule_name,
            target=spec.target,
            kubeconfig=f"secret:{secret.namespace or self.ctx.namespace}/{secret.name}"
            if secret
            else None,
            context=spec.context,
            ready_timeout=spec.ready_timeout,
        )
        log.info("drill schedule %s: drill %s into %s", obj["metadata"]["name"], drill, spec.target)
        if spec.target is DrillTargetKind.kubeconfig and secret is not None:
            with self._target(secret, spec.context) as kube:
                ran = drill_run.run(
                    drill,
                    drill_spec,
                    location=resolved.location,
                    kube=kube,
                    cancel=self.ctx.stopping,
                )
        else:
            ran = drill_run.run(
                drill, drill_spec, location=resolved.location, cancel=self.ctx.stopping
            )
        return ran.report

    @contextlib.contextmanager
    def _target(self, ref: KubeconfigSecretRef, context: str | None) -> Iterator[KubeClient]:
        """A client for the kubeconfig in Secret `ref` (written 0600 to a private
        directory for the drill's length, then removed)."""
        ns = ref.namespace or self.ctx.namespace
        where = f"Secret {ns}/{ref.name}"
        try:
            secret = self.ctx.res.kube.get(f"/api/v1/namespaces/{ns}/secrets/{ref.name}")
        except ClusterNotFound:
            raise UserInputError(f"{where} (spec.kubeconfigSecret) not found") from None
        data = (secret.get("data") or {}).get(ref.key)
        if not data:
            raise UserInputError(f"{where} has no key {ref.key!r} holding a kubeconfig")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise UserInputError(f"{where}: key {ref.key!r} is not base64") from None
        directory = Path(tempfile.mkdtemp(prefix="backupd-drill-kubeconfig-"))
        try:
            path = directory / "kubeconfig"
            path.touch(mode=0o600)
            path.write_bytes(content)
            with KubeClient.from_kubeconfig(path, context=context) as kube:
                yield kube
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _record(self, obj: JSON, report: DrillReport) -> None:
        name = obj["metadata"]["name"]
        drill = report.metadata.name
        passed = report.passed
        status = {
            "running": None,
            "lastDrill": drill,
            "lastDrillTime": stamp(report.finished),
            "lastVerdict": report.verdict.value,
            "lastRtoSeconds": report.times.rto_seconds,
            "lastRpoSeconds": report.times.rpo_seconds,
            "lastBackup": report.backup_name,
            "lastProblems": [p[:500] for p in summary.problems(report)[:20]],
        }
        self._status(obj, status)
        message = (
            f"drill {drill} {summary.verdict_word(report)}: {summary.source(report)}; "
            f"RTO {summary.rto(report)}, RPO {summary.rpo(report)}"
        )
        if not passed:
            message += f"; {'; '.join(summary.problems(report)[:3])}"
        message += f" (backupctl drill report {drill} --open)"
        self.ctx.res.event(
            obj, "DrillPassed" if passed else "DrillFailed", message, warning=not passed
        )
        log.info("drill schedule %s: %s", name, message)
        m = self.ctx.metrics  # the result last: a scrape that sees it sees the rest
        m.drill_last_timestamp.labels(drill_schedule=name).set(report.finished.timestamp())
        self._set_or_drop(m.drill_rto, name, report.times.rto_seconds)
        self._set_or_drop(m.drill_rpo, name, report.times.rpo_seconds)
        m.drill_last_result.labels(drill_schedule=name).set(1 if passed else 0)

    def _failed_to_run(self, obj: JSON, drill: str, reason: str) -> None:
        """A drill that could not start or finish: a failed drill, with the reason."""
        name = obj["metadata"]["name"]
        at = now()
        self._status(
            obj,
            {
                "running": None,
                "lastDrill": drill,
                "lastDrillTime": stamp(at),
                "lastVerdict": DrillVerdict.failed.value,
                "lastRtoSeconds": None,
                "lastRpoSeconds": None,
                "lastProblems": [f"the drill did not run: {reason}"[:500]],
            },
        )
        self.ctx.res.event(obj, "DrillFailed", f"drill {drill} did not run: {reason}", warning=True)
        log.warning("drill schedule %s: drill %s did not run: %s", name, drill, reason)
        m = self.ctx.metrics  # the result last, as above
        m.drill_last_timestamp.labels(drill_schedule=name).set(at.timestamp())
        self._set_or_drop(m.drill_rto, name, None)
        self._set_or_drop(m.drill_rpo, name, None)
        m.drill_last_result.labels(drill_schedule=name).set(0)
