"""The repository is ready to run as a Gradio Space: README front matter, app file and requirements.txt.

A Space reads the YAML front matter of README.md (sdk, sdk_version, app_file), installs gradio at
sdk_version and then requirements.txt, and runs app_file. Nothing here contacts the hub or an index.
"""

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import gradio
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCAL_PACKAGES = {"demo", "specdec_mini"}


@pytest.fixture(scope="module")
def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with a YAML front matter block (---)"
    block = text.split("---\n", 2)[1]
    return yaml.safe_load(block)


@pytest.fixture(scope="module")
def requirements() -> dict[str, Requirement]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "-"))]
    parsed = [Requirement(entry) for entry in entries]
    return {normalise(requirement.name): requirement for requirement in parsed}


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def app_imports(app_file: Path) -> set[str]:
    """Top-level third-party modules that app_file imports, directly or through the local packages it uses.

    Lazy imports inside functions count too. Development scripts beside the app (screenshots, recording)
    are not reached unless the app imports them.
    """
    found, seen, queue = set(), set(), [app_file]
    while queue:
        path = queue.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from demo import render` may name a module: follow both readings.
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in LOCAL_PACKAGES:
                    parts = module.split(".")
                    queue += [ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py"),
                              ROOT / top / "__init__.py"]
                elif top not in sys.stdlib_module_names:
                    found.add(top)
    return found


def test_front_matter_names_gradio_sdk(front_matter):
    assert front_matter["sdk"] == "gradio", front_matter


def test_front_matter_sdk_version_is_installed_gradio(front_matter):
    assert str(front_matter["sdk_version"]) == gradio.__version__, (
        f"README sdk_version {front_matter['sdk_version']} != installed gradio {gradio.__version__}"
    )


def test_front_matter_app_file_exists(front_matter):
    app_file = ROOT / front_matter["app_file"]
    assert app_file.is_file(), f"app_file {front_matter['app_file']} does not exist"
    assert 'if __name__ == "__main__":' in app_file.read_text(encoding="utf-8"), "the Space runs app_file as a script"


def test_front_matter_python_version_is_supported(front_matter):
    # A quoted string: YAML would read an unquoted 3.10 as the number 3.1.
    version = front_matter["python_version"]
    assert isinstance(version, str), f"python_version must be a quoted string, got {version!r}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert Version(version) >= Version(requires.removeprefix(">=")), f"python_version {version} vs {requires}"


def test_requirements_cover_app_imports(requirements, front_matter):
    distributions = importlib.metadata.packages_distributions()
    imports = app_imports(ROOT / front_matter["app_file"])
    assert {"gradio", "plotly", "torch", "transformers"} <= imports, f"the import scan found only {sorted(imports)}"
    missing = []
    for module in sorted(imports):
        names = {normalise(name) for name in distributions.get(module, [module])}
        # The Space installs gradio from the front matter's sdk_version.
        if "gradio" not in names and not names & set(requirements):
            missing.append(f"{module} (from {sorted(names)})")
    assert not missing, f"requirements.txt lacks what the app imports: {missing}"


def test_requirements_cover_project_dependencies(requirements):
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    missing = [entry for entry in dependencies if normalise(Requirement(entry).name) not in requirements]
    assert not missing, f"pyproject.toml dependencies missing from requirements.txt: {missing}"


def test_requirements_pin_cpu_torch(requirements):
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text.splitlines(), "no CPU wheel index"
    (specifier,) = requirements["torch"].specifier
    pinned, installed = Version(specifier.version), Version(importlib.metadata.version("torch"))
    assert specifier.operator == "==", f"torch{specifier} is not an exact pin"
    assert pinned.local == "cpu", f"torch{specifier} is not the CPU build"
    assert pinned.public == installed.public, f"requirements.txt pins torch {pinned}, the tests run {installed}"


def test_requirements_leave_gradio_to_sdk_version(requirements, front_matter):
    if "gradio" in requirements:
        assert str(requirements["gradio"].specifier) == f"=={front_matter['sdk_version']}", requirements["gradio"]
