"""Which models and versions the development server serves, loaded and refreshed from their base paths."""
import os
import re
import threading

import tensorflow as tf
from absl import logging

from serving.errors import ServingError
from serving.servable import Servable

_VERSION = re.compile(r"^\d+$")


def available_versions(base_path):
    """Integer version folders under a model's base path (local or a URL such as gs://) that hold a
    saved_model.pb, ascending."""
    if not tf.io.gfile.isdir(base_path):
        return []
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(base_path)]  # gs:// lists folders as "NAME/"
    return sorted(int(name) for name in names
                  if _VERSION.match(name) and tf.io.gfile.exists(os.path.join(base_path, name, "saved_model.pb")))


def wanted_versions(available, policy):
    """Applies a version policy ({"latest": n} | {"all": True} | {"specific": [v, ...]}) to available versions."""
    if "specific" in policy:
        return sorted(set(policy["specific"]) & set(available))
    if "all" in policy:
        return list(available)
    return list(available)[-int(policy.get("latest", 1)):] if available else []


class ModelManager:
    """Loads the wanted versions of each model and answers lookups by name and version.

    With `poll_seconds > 0` a daemon thread re-reads the base paths, loads new versions and unloads versions the
    policy no longer wants (as TF Serving's file system polling does); a version that fails to load is reported in
    its status and never takes a served version down.

    Args:
        models: dict name -> {"base_path": str, "policy": dict}. Policies as in `wanted_versions`.
        max_rows: int. Upper bound of rows per request, passed to every `Servable`.
        poll_seconds: float. Polling interval; 0 loads once.
    """

    def __init__(self, models, max_rows, poll_seconds=0.0):
        self.models = dict(models)
        self.max_rows = max_rows
        self._servables = {name: {} for name in self.models}
        self._failures = {name: {} for name in self.models}
        self._lock = threading.Lock()
        self.refresh()
        for name, spec in self.models.items():
            if not self._servables[name]:
                failures = "; ".join(f"version {v}: {e}" for v, e in self._failures[name].items())
                raise FileNotFoundError(
                    f"No servable version of model {name!r} under {spec['base_path']}: expected integer version "
                    f"folders holding saved_model.pb (python -m export.export_saved_model writes them). "
                    f"Received: {available_versions(spec['base_path']) or 'no versions'}"
                    + (f"; load failures: {failures}" if failures else ""))
        self._stop = threading.Event()
        if poll_seconds > 0:
            threading.Thread(target=self._poll, args=(poll_seconds,), daemon=True, name="version-poller").start()

    def refresh(self):
        """Loads wanted versions not yet loaded and unloads versions no longer wanted."""
        for name, spec in self.models.items():
            wanted = wanted_versions(available_versions(spec["base_path"]), spec.get("policy", {"latest": 1}))
            for version in wanted:
                if version in self._servables[name] or version in self._failures[name]:
                    continue
                try:
                    servable = Servable(os.path.join(spec["base_path"], str(version)), self.max_rows)
                except Exception as error:  # noqa: BLE001 - a broken version must not stop the server
                    logging.error("Model %s version %d failed to load: %s", name, version, error)
                    self._failures[name][version] = f"{type(error).__name__}: {error}"
                    continue
                with self._lock:
                    self._servables[name][version] = servable
                logging.info("Serving model %s version %d", name, version)
            with self._lock:
                for version in set(self._servables[name]) - set(wanted):
                    if len(self._servables[name]) > 1:  # never unload the last served version
                        del self._servables[name][version]
                        logging.info("Unloaded model %s version %d", name, version)

    def get(self, name, version=None):
        """The servable of `name` at `version` (default: the newest served)."""
        with self._lock:
            if name not in self._servables:
                raise ServingError("NOT_FOUND", f"Servable not found for request: model {name!r}; this server "
                                                f"serves {sorted(self._servables)}.")
            versions = self._servables[name]
            if version is None:
                return versions[max(versions)]
            if int(version) not in versions:
                raise ServingError("NOT_FOUND", f"Servable not found for request: model {name!r} version "
                                                f"{version}; served versions: {sorted(versions)}.")
            return versions[int(version)]

    def status(self, name, version=None):
        """TF Serving's GetModelStatus answer as a dict."""
        self.get(name, version)  # NOT_FOUND for unknown names and versions
        with self._lock:
            served = sorted(self._servables[name]) if version is None else [int(version)]
            failed = dict(self._failures[name]) if version is None else {}
        entries = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                   for v in served]
        entries += [{"version": str(v), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": e}}
                    for v, e in sorted(failed.items())]
        return {"model_version_status": entries}

    def close(self):
        self._stop.set()

    def _poll(self, seconds):
        while not self._stop.wait(seconds):
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - polling must survive a vanished folder
                logging.error("Refreshing model versions failed: %s", error)
