"""deploy/vllm/serve.sh and `companion-train publish`, with a stand-in vllm that prints argv."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.training.conftest import REPO
from training.registry import AdapterEntry, Registry, load_registry, publish_adapters, save_registry
from training.serving import ServeOptions, vllm_command

SERVE = REPO / "deploy" / "vllm" / "serve.sh"


def fake_adapter(directory: Path, rank: int = 16) -> Path:
    directory.mkdir(parents=True)
    (directory / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank}))
    (directory / "adapter_model.safetensors").write_bytes(b"weights")
    return directory


def serve(tmp_path: Path, **env: str) -> list[str]:
    fake = tmp_path / "vllm"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    environment = {"PATH": os.environ["PATH"], "VLLM_BIN": str(fake), **env}
    done = subprocess.run(
        ["bash", str(SERVE), "--max-num-seqs", "64"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_serve_script_scans_the_adapters_directory(tmp_path: Path) -> None:
    adapters = tmp_path / "adapters"
    fake_adapter(adapters / "mila")
    fake_adapter(adapters / "max")
    (adapters / "broken").mkdir()
    (adapters / "broken" / "adapter_config.json").write_text("{}")
    argv = serve(tmp_path, BASE_MODEL="Qwen/Qwen2.5-7B-Instruct", ADAPTERS_DIR=str(adapters))
    assert argv[:2] == ["serve", "Qwen/Qwen2.5-7B-Instruct"]
    for flag, value in (
        ("--served-model-name", "companion-base"),
        ("--max-loras", "2"),
        ("--max-lora-rank", "64"),
        ("--port", "8000"),
    ):
        assert argv[argv.index(flag) + 1] == value
    assert "--enable-lora" in argv and "--enable-prefix-caching" in argv
    modules = argv[argv.index("--lora-modules") + 1 : argv.index("--max-num-seqs")]
    assert modules == [f"max={adapters / 'max'}", f"mila={adapters / 'mila'}"]
    assert argv[-2:] == ["--max-num-seqs", "64"]
    assert "--max-cpu-loras" not in argv


def test_serve_script_caps_gpu_slots_and_caches_the_rest(tmp_path: Path) -> None:
    modules = " ".join(f"p{i}=/a/p{i}" for i in range(11))
    argv = serve(tmp_path, BASE_MODEL="m", LORA_MODULES=modules, MAX_LORA_RANK="16")
    assert argv[argv.index("--max-loras") + 1] == "8"
    assert argv[argv.index("--max-cpu-loras") + 1] == "11"
    assert argv[argv.index("--max-lora-rank") + 1] == "16"


def test_serve_script_needs_a_base_model_and_guards_runtime_loading(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as error:
        serve(tmp_path)
    assert "BASE_MODEL" in error.value.stderr
    fake = tmp_path / "vllm"
    fake.write_text(
        '#!/usr/bin/env bash\necho "runtime=${VLLM_ALLOW_RUNTIME_LORA_UPDATING:-off}"\n'
    )
    base = {
        "PATH": os.environ["PATH"],
        "VLLM_BIN": str(fake),
        "BASE_MODEL": "m",
        "ADAPTERS_DIR": str(tmp_path / "none"),
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    }
    once = subprocess.run(["bash", str(SERVE)], env=base, capture_output=True, text=True)
    assert once.stdout.strip() == "runtime=off" and "COMPANION_ALLOW_RUNTIME_LORA" in once.stderr
    twice = subprocess.run(
        ["bash", str(SERVE)],
        env={**base, "COMPANION_ALLOW_RUNTIME_LORA": "1"},
        capture_output=True,
        text=True,
    )
    assert twice.stdout.strip() == "runtime=True"


def test_publish_copies_adapters_by_name(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_adapter(runs / "a" / "adapter", rank=8)
    fake_adapter(runs / "b" / "adapter", rank=32)
    registry = Registry()
    for name, run, personas in (("support", "a", ["mila"]), ("practice", "b", ["max"])):
        registry.register(
            name,
            AdapterEntry(
                path=f"{run}/adapter",
                rank=8 if run == "a" else 32,
                run=run,
                base_model="m",
                personas=personas,
            ),
        )
    save_registry(registry, runs / "registry.yaml")

    published = publish_adapters(
        load_registry(runs / "registry.yaml"), runs / "registry.yaml", tmp_path / "adapters"
    )
    assert (
        tmp_path / "adapters" / "support" / "adapter_model.safetensors"
    ).read_bytes() == b"weights"
    reread = load_registry(tmp_path / "adapters" / "registry.yaml")
    assert reread == published
    assert reread.personas == {"mila": "support", "max": "practice"}
    # Publishing again replaces in place and leaves no staging directories behind.
    publish_adapters(registry, runs / "registry.yaml", tmp_path / "adapters")
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == [
        "practice",
        "registry.yaml",
        "support",
    ]
    argv = serve(tmp_path, BASE_MODEL="m", ADAPTERS_DIR=str(tmp_path / "adapters"))
    assert f"support={tmp_path / 'adapters' / 'support'}" in argv
    options = ServeOptions(adapters_root="/adapters", max_loras=1)
    command = vllm_command(reread, tmp_path / "adapters" / "registry.yaml", options)
    assert command[command.index("--max-loras") + 1] == "1"
    assert command[command.index("--max-cpu-loras") + 1] == "2"
    assert command[command.index("--max-lora-rank") + 1] == "32"
    paths = [json.loads(m)["path"] for m in command[command.index("--lora-modules") + 1 :]]
    assert paths == ["/adapters/practice", "/adapters/support"]
