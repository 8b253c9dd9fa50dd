"""The specdec-mini command: clear errors with exit status 2, and the real pair end to end (slow)."""

import json
import subprocess
import sys

import pytest

from specdec_mini.cli import main


@pytest.mark.parametrize("argv, fragment", [
    (["generate", ""], "prompt is empty"),
    (["generate", "   "], "prompt is empty"),
    (["generate", "hi", "--k", "0"], "k (tokens drafted per round)"),
    (["generate", "hi", "--k", "100000"], "k (tokens drafted per round)"),
    (["generate", "hi", "--temperature", "-1"], "temperature"),
    (["generate", "hi", "--top-p", "0"], "top_p"),
    (["generate", "hi", "--max-new-tokens", "0"], "max_new_tokens"),
    (["generate", "hi", "--domain", "json"], "either a prompt or --domain"),
    (["generate", "hi", "--target", "no-such-model"], "no-such-model"),
    (["fetch", "no-such-model"], "no-such-model"),
])
def test_bad_input_exits_2(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPECDEC_MINI_CACHE", str(tmp_path))
    assert main(argv) == 2, f"{argv} should exit with status 2"
    err = capsys.readouterr().err
    assert fragment in err, f"error message {err!r} does not mention {fragment!r}"
    assert "Traceback" not in err


def test_unknown_domain_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--domain", "poetry"])
    assert exit_info.value.code == 2


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "specdec_mini.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_generate_compare_json_on_default_pair():
    done = run_cli("generate", "--domain", "code-editing", "--max-new-tokens", "24", "--k", "4", "--compare", "--json")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    for key in ("text", "baseline_text", "identical_to_baseline", "acceptance_rate", "tokens_per_target_forward",
                "tokens_per_second", "baseline_tokens_per_second", "speedup"):
        assert key in report, f"--json output lacks {key!r}"
    assert report["identical_to_baseline"] is True, "greedy speculative output differs from plain decoding"
    assert report["text"] == report["baseline_text"]
    assert report["new_tokens"] == 24
    assert report["tokens_per_target_forward"] > 1.0, "no drafted token was ever accepted on a code edit"


@pytest.mark.slow
def test_generate_prompt_lookup_plain_text():
    done = run_cli("generate", "--domain", "code-editing", "--drafter", "prompt-lookup", "--max-new-tokens", "16",
                   "--quiet")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "\033[" not in done.stdout, "colour codes written to a pipe"
    assert "acceptance rate" in done.stdout and "tokens per target forward" in done.stdout
