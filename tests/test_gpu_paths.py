"""The GPU paths as pass-throughs, tested where there is no GPU: the accelerate configs
sparring ships are what accelerate reads and turns into the ranks' environment (DDP, FSDP2,
DeepSpeed ZeRO-2/3), and a GRPO-family run's vLLM options reach TRL's GRPOConfig unchanged,
while asking for either on this CPU-only machine is one clear error before training."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import yaml
from typer.testing import CliRunner

from sparring.cli import app
from sparring.train import Budget, get_method
from sparring.train import accelerate_config as ac
from sparring.train import vllm as vl
from sparring.train.distributed import GPU_CONFIG, launch_command

runner = CliRunner()
HAS_CUDA = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
needs_cpu_only = pytest.mark.skipif(HAS_CUDA, reason="checks the errors of a machine without CUDA")

# what each shipped config must make `accelerate launch` put in the ranks' environment
EXPECTED_ENV = {
    "ddp": {},
    "fsdp2": {
        "ACCELERATE_USE_FSDP": "true",
        "FSDP_VERSION": "2",
        "FSDP_SHARDING_STRATEGY": "FULL_SHARD",
        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
        "FSDP_RESHARD_AFTER_FORWARD": "true",
        "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT",
    },
    "deepspeed_zero2": {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"},
    "deepspeed_zero3": {
        "ACCELERATE_USE_DEEPSPEED": "true",
        "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
        "ACCELERATE_DEEPSPEED_ZERO3_INIT": "true",
        "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL": "true",
    },
}
KIND = {"ddp": "MULTI_GPU", "fsdp2": "FSDP", "deepspeed_zero2": "DEEPSPEED", "deepspeed_zero3": "DEEPSPEED"}


def test_the_shipped_accelerate_configs_are_the_ones_named():
    assert set(ac.SHIPPED) == set(EXPECTED_ENV)
    assert sorted(p.stem for p in ac.ACCELERATE_DIR.glob("*.yaml")) == sorted(ac.SHIPPED)
    assert GPU_CONFIG == ac.shipped_path("ddp")  # --processes N on CUDA launches the shipped DDP config
    for name in ac.SHIPPED:
        cfg = ac.load(ac.shipped_path(name))  # accelerate's own loader
        assert cfg.distributed_type.value == KIND[name]
        assert cfg.use_cpu is False and cfg.num_machines == 1 and cfg.mixed_precision == "no"
    assert ac.load(ac.shipped_path("fsdp2")).fsdp_config["fsdp_version"] == 2
    assert ac.load(ac.shipped_path("deepspeed_zero2")).deepspeed_config["zero_stage"] == 2
    assert ac.load(ac.shipped_path("deepspeed_zero3")).deepspeed_config["zero_stage"] == 3


@pytest.mark.parametrize("name", sorted(EXPECTED_ENV))
def test_accelerate_launch_gives_the_ranks_the_intended_environment(name):
    """Our launch command, parsed and completed from the config file by accelerate's own
    launcher code, and the environment it would start the ranks with."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    cmd = launch_command(2, ["train", "sft", "--out", "x"], ac.shipped_path(name))
    launcher = cmd.index("accelerate.commands.launch")
    assert cmd[launcher + 1 : launcher + 3] == ["--config_file", str(ac.shipped_path(name))]
    assert cmd[-5:] == ["-m", "sparring", "train", "sft", "--out", "x"][-5:]
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(cmd[launcher + 1 :]))
    assert args.num_processes == 2
    if args.use_deepspeed:  # what accelerate's launch_command sets before its DeepSpeed launcher
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    assert env.get("ACCELERATE_MIXED_PRECISION") == "no"  # sparring's trainer arguments set precision
    for key, value in EXPECTED_ENV[name].items():
        assert env.get(key) == value, key
    if name == "ddp":
        assert "ACCELERATE_USE_FSDP" not in env and "ACCELERATE_USE_DEEPSPEED" not in env


@needs_cpu_only
def test_an_accelerate_config_is_checked_before_anything_starts(tmp_path):
    with pytest.raises(
        ValueError, match="accelerate_config: fsdp2.yaml is a GPU config .FSDP. and this machine has no CUDA"
    ):
        ac.resolve("fsdp2")
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(ValueError, match="deepspeed_zero2.yaml needs DeepSpeed, which is not installed"):
            ac.resolve("deepspeed_zero2")
    with pytest.raises(ValueError, match="accelerate_config: no such file"):
        ac.resolve("zero9")
    bad = tmp_path / "bad.yaml"
    bad.write_text("distributed_type: NOPE\n")
    with pytest.raises(ValueError, match="accelerate cannot read"):
        ac.resolve(bad)
    cpu = tmp_path / "cpu.yaml"  # a user's CPU config passes
    cpu.write_text(
        yaml.safe_dump({"compute_environment": "LOCAL_MACHINE", "distributed_type": "MULTI_CPU", "use_cpu": True})
    )
    assert ac.resolve(str(cpu)) == cpu
    r = runner.invoke(app, ["train", "sft", "--base", "test", "--budget", "1steps", "--out", str(tmp_path / "o"),
                            "--accelerate-config", "fsdp2"])  # fmt: skip
    assert r.exit_code == 2 and "no CUDA" in r.output and not (tmp_path / "o").exists()


def test_vllm_options_are_trls_names_and_defaults():
    from trl import GRPOConfig

    trl_defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    ours = {f.name: f.default for f in dataclasses.fields(vl.VLLMOptions) if f.name.startswith(("use_vllm", "vllm_"))}
    assert set(ours) >= {"use_vllm", "vllm_mode", "vllm_server_host", "vllm_server_port", "vllm_server_base_url"}
    assert ours == {k: trl_defaults[k] for k in ours}
    for method in ("grpo", "grpo-roc", "srl"):  # the GRPO family has them
        assert issubclass(get_method(method).config_cls, vl.VLLMOptions)


def test_vllm_options_reach_trls_grpo_config(monkeypatch, tmp_path):
    from sparring.models import device_defaults
    from sparring.train.grpo import GRPOOptions, grpo_config

    def config(**options):
        cfg = GRPOOptions.from_any({"prompts_per_step": 2, "num_generations": 2, **options})
        return grpo_config(cfg, Budget.parse("2steps"), str(tmp_path), device_defaults("cpu"))

    off = config()
    assert off.use_vllm is False and off.vllm_mode == "colocate"
    monkeypatch.setattr(vl, "vllm_unavailable", lambda device=None: None)  # as on a CUDA machine with vllm
    server = config(use_vllm=True, vllm_mode="server", vllm_server_host="10.1.2.3", vllm_server_port=8123)
    assert (server.use_vllm, server.vllm_mode, server.vllm_server_host, server.vllm_server_port) == (
        True,
        "server",
        "10.1.2.3",
        8123,
    )
    colocate = config(use_vllm=True, vllm_gpu_memory_utilization=0.5)
    assert colocate.use_vllm and colocate.vllm_mode == "colocate" and colocate.vllm_gpu_memory_utilization == 0.5
    with pytest.raises(ValueError, match="grpo.vllm_mode: must be one of"):
        GRPOOptions.from_any({"use_vllm": True, "vllm_mode": "remote"})
    with pytest.raises(ValueError, match="grpo.vllm_server_port"):
        GRPOOptions.from_any({"vllm_server_port": 0})


@needs_cpu_only
def test_vllm_on_a_cpu_machine_is_one_clear_error(tmp_path, monkeypatch):
    from sparring.lab import load_spec

    r = runner.invoke(app, ["train", "grpo", "--base", "test", "--budget", "1steps", "--out", str(tmp_path / "o"),
                            "--set", "use_vllm=true"])  # fmt: skip
    assert r.exit_code == 2 and not (tmp_path / "o").exists()
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert lines == ["error: grpo.use_vllm: vLLM rollouts need a CUDA GPU, and this machine has none (got True)"]
    spec = tmp_path / "spec.yaml"  # a study: refused at load, before any arm trains
    arms = [{"name": "base", "method": "none"}, {"name": "rl", "method": "srl", "config": {"use_vllm": True}}]
    spec.write_text(yaml.safe_dump({"task": "countdown", "base": "test", "budget": "1steps", "arms": arms}))
    with pytest.raises(ValueError, match=r"spec.arms\[1\] \(rl\): srl.use_vllm: vLLM rollouts need a CUDA GPU"):
        load_spec(spec)
    import torch  # with CUDA but without the package: the other half of the message

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if importlib.util.find_spec("vllm") is None:
        assert vl.vllm_unavailable() == "vllm is not installed in this environment (pip install 'sparring[vllm]')"
    assert "device is cpu" in vl.vllm_unavailable("cpu")
