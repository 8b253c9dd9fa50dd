"""Long runs, interrupts and reproducibility: nothing leaks, nothing hangs, the same seed gives the same text."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from specdec_mini.decoding import GenerationConfig, speculative_generate, speculative_rounds
from specdec_mini.drafters import DraftModelDrafter, PromptLookupDrafter
from specdec_mini.toy import tiny_transformer


def resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_200_generations_do_not_grow_memory():
    target, draft = tiny_transformer(seed=0), tiny_transformer(seed=0)
    drafter = DraftModelDrafter(draft)
    config = GenerationConfig(max_new_tokens=16, k=4, temperature=1.0)
    for seed in range(10):  # warm-up: allocator pools and caches settle
        speculative_generate(target, drafter, [1, 2, 3], GenerationConfig(max_new_tokens=16, k=4, seed=seed))
    before = resident_megabytes()
    for seed in range(200):
        speculative_generate(target, drafter, [1, 2, 3], GenerationConfig(max_new_tokens=16, k=4, seed=seed,
                                                                           temperature=config.temperature))
    growth = resident_megabytes() - before
    assert growth < 30, f"resident memory grew by {growth:.1f} MB over 200 generations"
    assert target.cache_length <= 3 + 16, f"the target cache kept {target.cache_length} tokens after the last run"


def test_closing_the_generator_stops_generation():
    target = tiny_transformer(seed=0)
    rounds = speculative_rounds(target, PromptLookupDrafter(), [1, 2, 1, 2], GenerationConfig(max_new_tokens=200))
    next(rounds)
    forwards = target.forward_count
    rounds.close()
    assert target.forward_count == forwards, "a forward pass ran after the consumer closed the generator"


@pytest.mark.slow
def test_ctrl_c_stops_cli_cleanly():
    command = [sys.executable, "-m", "specdec_mini.cli", "generate", "Count from 1 to 500, one number per line.",
               "--target", "smollm2-135m", "--drafter", "prompt-lookup", "--max-new-tokens", "2000", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # loading SmolLM2 takes about a second; by now it is generating
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the command did not stop within 30 s of Ctrl-C")
    assert process.returncode == 130, f"exit status {process.returncode}, expected 130; stderr: {err[-500:]}"
    assert "interrupted" in err, f"stderr does not say it was interrupted: {err[-500:]}"
    assert "Traceback" not in err


@pytest.mark.slow
def test_same_seed_same_text_in_cli_and_library(smollm):
    prompt = "Write a haiku about the sea."
    args = ["generate", prompt, "--target", "smollm2-135m", "--drafter", "prompt-lookup", "--temperature", "0.9",
            "--seed", "7", "--max-new-tokens", "24", "--json"]
    runs = [subprocess.run([sys.executable, "-m", "specdec_mini.cli", *args], capture_output=True, text=True,
                           timeout=600) for _ in range(2)]
    texts = [json.loads(run.stdout)["text"] for run in runs]
    config = GenerationConfig(max_new_tokens=24, temperature=0.9, seed=7)
    library = speculative_generate(smollm, PromptLookupDrafter(), smollm.encode(prompt), config)
    assert texts[0] == texts[1], "two command-line runs with the same seed differ"
    assert library.text == texts[0], f"library {library.text!r} != command line {texts[0]!r}"
