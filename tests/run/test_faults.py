"""Training that survives faults (zoo/checkpoint.py, zoo/train.py): kills at chosen points (inside ``save`` too,
through the test-only ``ZOO_FAULT_INJECT`` hook), corrupt checkpoints, preemption signals, non-finite steps, and a
two-rank gloo run killed and resumed. The reference for "exact" is always an uninterrupted run of the same code."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _launch import _free_port
from safetensors import safe_open
from safetensors.torch import load_file

from zoo import checkpoint
from zoo.cli import main as cli_main
from zoo.sample import resolve_checkpoint
from zoo.train import EXIT_NONFINITE, EXIT_PREEMPTED, TrainConfig, Trainer


WRITES_PER_SAVE = 7  # rng, train_state, model, config, manifest, rename, latest (single process)
TRAIN = ["train", "vdm", "--preset", "tiny", "--batch-size", "4", "--lr", "2e-3", "--device", "cpu", "--no-progress"]


def tiny(**kw) -> TrainConfig:
    base = dict(model="vdm", preset="tiny", steps=4, batch_size=4, lr=2e-3, seed=0, progress=False, device="cpu")
    return TrainConfig(**{**base, **kw})


def _env(fault: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != checkpoint.FAULT_ENV}
    env["OMP_NUM_THREADS"] = "1"
    return {**env, checkpoint.FAULT_ENV: fault} if fault else env


def train_cli(out: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """``python -m zoo train`` (tiny preset, batch 4) in a fresh process, optionally with a fault injected."""
    cmd = [sys.executable, "-m", "zoo", *TRAIN, "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=_env(fault))


def reference(steps: int) -> Trainer:
    """An uninterrupted run in this process, on one thread like the subprocesses (thread count can change sums)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(tiny(steps=steps))
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    return trainer


def assert_state_equals(directory: Path, trainer: Trainer) -> None:
    """Weights, EMA and AdamW moments of a checkpoint are bit-identical to ``trainer``'s, and so are the losses."""
    saved = load_file(directory / "train_state.safetensors")
    for prefix, module in (("model.", trainer.model), ("ema.", trainer.ema)):
        for key, value in module.state_dict().items():
            assert torch.equal(saved[prefix + key], value), prefix + key
    for index, state in trainer.optimizer.state_dict()["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(saved[f"optim.{index}.{name}"], state[name]), (index, name)
    with safe_open(directory / "train_state.safetensors", "pt") as f:
        meta = f.metadata()
    assert int(meta["step"]) == trainer.step
    assert json.loads(meta["losses"]) == trainer.losses


def run_until_done(out: Path, faults: list[str], *args: str) -> list[int]:
    """One process per fault, each resuming with ``--resume auto``, then one without a fault that must finish.
    Returns the faulted processes' exit statuses (``-SIGKILL`` where the kill point was reached)."""
    codes = []
    for fault in faults:
        run = train_cli(out, "--resume", "auto", *args, fault=fault)
        assert run.returncode in (0, -signal.SIGKILL), (fault, run.returncode, run.stderr[-2000:])
        codes.append(run.returncode)
    run = train_cli(out, "--resume", "auto", *args)
    assert run.returncode == 0, run.stderr[-2000:]
    return codes


# ---------------------------------------------------------------------- SIGKILL, then resume: bit-identical


def test_sigkill_inside_save_and_between_steps_then_resume_is_bit_identical(tmp_path):
    """5 kills, each process resuming the previous one's last good state: before the model file of the 1st save
    (nothing valid yet: starts over), before the manifest of the 2nd save, before the ``latest`` pointer (the
    renamed step_2 is complete but unnamed: redone), before the rename of a save, and after a step outside save."""
    w = WRITES_PER_SAVE
    faults = ["write:3", f"write:{w + 5}", "write:7", f"write:{w + 6}", "step:2"]
    codes = run_until_done(tmp_path, faults, "--steps", "4", "--save-every", "1", "--keep-last", "2")
    assert codes == [-signal.SIGKILL] * len(faults)  # every kill point was reached
    final = checkpoint.resolve(tmp_path)
    assert final.name == "step_0000004" and checkpoint.validate(final) is None
    assert_state_equals(final, reference(4))
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["latest", "step_0000003", "step_0000004"]  # keep-last 2; no .tmp / .old leftovers


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_every_write_of_a_save_and_random_steps(tmp_path, seed):
    """Every one of the 7 write points of a save, in a random order with random step kills between them."""
    rng = random.Random(seed)
    points = [f"write:{k + WRITES_PER_SAVE * rng.randint(0, 1)}" for k in range(1, WRITES_PER_SAVE + 1)]
    rng.shuffle(points)
    faults = [p for point in points for p in (point, "step:1")]
    codes = run_until_done(tmp_path, faults, "--steps", "4", "--save-every", "1")
    assert codes.count(-signal.SIGKILL) >= WRITES_PER_SAVE
    assert_state_equals(checkpoint.resolve(tmp_path), reference(4))


# ---------------------------------------------------------------------- broken checkpoints: fall back


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    Trainer(tiny(steps=3, out=str(out), save_every=1, keep_last=0)).fit()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "latest", "step_0000001", "step_0000002", "step_0000003"]
    return out


def _truncate(d: Path):
    f = d / "train_state.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return "train_state.safetensors is"


def _delete(d: Path):
    (d / "model.safetensors").unlink()
    return "model.safetensors is missing"


def _flip_a_byte(d: Path):  # same size: only the checksum can tell
    f = d / "train_state.safetensors"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    return "train_state.safetensors does not match its sha256"


def _manifest_size(d: Path):
    m = json.loads((d / "manifest.json").read_text())
    m["files"]["config.json"]["size"] += 1
    (d / "manifest.json").write_text(json.dumps(m))
    return "config.json is"


def _manifest_garbage(d: Path):
    (d / "manifest.json").write_text('{"files": ')
    return "manifest.json is unreadable"


BREAKS = {"truncated": _truncate, "deleted": _delete, "bit_flip": _flip_a_byte, "manifest_size": _manifest_size,
          "manifest_unreadable": _manifest_garbage}


@pytest.mark.parametrize("how", sorted(BREAKS))
def test_a_broken_newest_checkpoint_falls_back_to_the_previous_good_one(three_checkpoints, tmp_path, capsys, how):
    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    newest = out / "checkpoints" / "step_0000003"
    words = BREAKS[how](newest)
    assert words in checkpoint.validate(newest)

    resumed = Trainer(tiny(steps=3))
    resumed.load(out)
    assert resumed.step == 2
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and str(newest) in warning[0] and words in warning[0]
    # the resumed run continues to the very state the broken checkpoint had held
    resumed.fit()
    assert_state_equals(three_checkpoints / "checkpoints" / "step_0000003", resumed)
    # the sample / extend path takes the same fallback
    assert resolve_checkpoint(out)[0] == out / "checkpoints" / "step_0000002" / "model.safetensors"
    # naming the broken checkpoint itself is refused, one line naming the file and the reason
    with pytest.raises(ValueError, match="broken") as err:
        Trainer(tiny()).load(newest)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_an_empty_or_dangling_latest_pointer_uses_the_newest_valid_checkpoint(three_checkpoints, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    for pointer, said in (("", "empty"), ("step_0000009", "missing")):
        (out / "checkpoints" / "latest").write_text(pointer)
        assert checkpoint.resolve(out) == out / "checkpoints" / "step_0000003"
        assert said in capsys.readouterr().err
    (out / "checkpoints" / "latest").write_text("step_0000002")  # the pointer wins over a newer leftover
    assert checkpoint.resolve(out / "checkpoints") == out / "checkpoints" / "step_0000002"


def test_nothing_valid_and_the_cli_give_one_line_errors(three_checkpoints, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(three_checkpoints, out)
    for d in (out / "checkpoints").glob("step_*"):
        _truncate(d)
    with pytest.raises(ValueError, match="holds no valid checkpoint"):
        checkpoint.resolve(out)
    capsys.readouterr()
    broken = out / "checkpoints" / "step_0000003"
    assert cli_main(["sample", "vdm", "--checkpoint", str(broken), "--out", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train_state.safetensors" in err and "Traceback" not in err


def test_a_checkpoint_without_manifest_is_accepted_with_a_warning_if_its_headers_are_whole(three_checkpoints,
                                                                                         tmp_path, capsys):
    legacy = tmp_path / "step_0000003"
    shutil.copytree(three_checkpoints / "checkpoints" / "step_0000003", legacy)
    (legacy / "manifest.json").unlink()
    trainer = Trainer(tiny())
    trainer.load(legacy)
    assert trainer.step == 3 and "no manifest.json" in capsys.readouterr().err
    f = legacy / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-4])  # a truncation the header check sees without a manifest
    with pytest.raises(ValueError, match="model.safetensors is .* bytes, its header declares"):
        trainer.load(legacy)


def test_retention_keeps_the_newest_and_never_deletes_the_last_valid_one(tmp_path, capsys):
    Trainer(tiny(steps=4, out=str(tmp_path), save_every=1, keep_last=2)).fit()
    root = tmp_path / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_0000003", "step_0000004"]
    (root / "step_0000005").mkdir()  # a newer checkpoint that is broken (no files) deletes nothing
    assert checkpoint.prune(root / "step_0000005", 1) == []
    assert "not deleting" in capsys.readouterr().err
    assert checkpoint.prune(root / "step_0000004", 1) == [root / "step_0000003"]


# ---------------------------------------------------------------------- preemption


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_resumes_exactly(tmp_path):
    run = train_cli(tmp_path, "--steps", "4", "--save-every", "0", fault="step:2:TERM")
    assert run.returncode == EXIT_PREEMPTED, run.stderr[-2000:]
    assert "SIGTERM" in run.stderr and "stopped at step 2" in run.stderr
    stopped = checkpoint.resolve(tmp_path)
    assert stopped.name == "step_0000002" and checkpoint.validate(stopped) is None
    resumed = Trainer(tiny(steps=4))
    resumed.load(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resumed.fit()
    finally:
        torch.set_num_threads(threads)
    want = reference(4)
    assert resumed.losses == want.losses
    for a, b in zip(resumed.model.state_dict().values(), want.model.state_dict().values()):
        assert torch.equal(a, b)


def test_sigint_in_process_stops_fit_with_a_checkpoint(tmp_path):
    def interrupt(trainer, loss):
        if trainer.step == 1:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(tiny(steps=4, out=str(tmp_path), save_every=0))
    before = signal.getsignal(signal.SIGINT)
    trainer.fit(callback=interrupt)
    assert trainer.stop_reason == "preempted" and trainer.step == 2  # the signal lands after step 1's callback
    assert checkpoint.resolve(tmp_path).name == "step_0000002"
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


# ---------------------------------------------------------------------- non-finite steps


class NaNAt:
    """The synthetic data with NaN in one clip of step ``bad``'s batch."""

    def __init__(self, source, bad: int):
        self.source, self.bad = source, bad

    def batch(self, step, batch_size):
        x = self.source.batch(step, batch_size)
        if step == self.bad:
            x[1, 0, 0, 0, 0] = float("nan")
        return x


def _with_nan(config: TrainConfig, fused: bool) -> Trainer:
    trainer = Trainer(config)
    trainer.source = NaNAt(trainer.source, bad=2)
    if fused:
        trainer._fuse_optimizer()  # the CUDA path (device-side skip via found_inf), exercised on CPU
    return trainer


def _skipping_step_2(steps: int, fused: bool) -> Trainer:
    """Independent reference: steps 0 and 1, then no update at all for step 2, then steps 3.. (same batches)."""
    trainer = Trainer(tiny(steps=steps))
    if fused:
        trainer._fuse_optimizer()
    trainer.fit(2)
    trainer.step = 3
    trainer.fit()
    return trainer


@pytest.mark.parametrize("fused", [False, True], ids=["host_check", "fused_found_inf"])
def test_nonfinite_skip_leaves_the_update_out_and_counts_it(tmp_path, capsys, fused):
    trainer = _with_nan(tiny(steps=4, log_every=2, out=str(tmp_path)), fused)
    losses = trainer.fit()
    assert trainer.stop_reason is None and trainer.nonfinite_steps == 1
    assert losses[2] != losses[2] and all(v == v for i, v in enumerate(losses) if i != 2)  # only step 2 is NaN
    assert "1 update(s) skipped" in capsys.readouterr().err
    want = _skipping_step_2(4, fused)
    for module, other in ((trainer.model, want.model), (trainer.ema, want.ema)):
        for (key, a), b in zip(module.state_dict().items(), other.state_dict().values()):
            assert torch.equal(a, b), key
    ckpt = trainer.save(tmp_path / "checkpoints" / "step_0000004")
    with safe_open(ckpt / "train_state.safetensors", "pt") as f:
        assert f.metadata()["nonfinite_steps"] == "1"
    resumed = Trainer(tiny(steps=4))
    resumed.load(ckpt)
    assert resumed.nonfinite_steps == 1


def test_nonfinite_stop_writes_a_clean_checkpoint_and_the_cli_status(tmp_path):
    trainer = _with_nan(tiny(steps=6, log_every=1, out=str(tmp_path), nonfinite="stop"), fused=False)
    trainer.fit()
    assert trainer.stop_reason == "nonfinite" and trainer.step == 3
    saved = checkpoint.resolve(tmp_path)
    assert saved.name == "step_0000003"
    want = _skipping_step_2(3, fused=False)
    state = load_file(saved / "model.safetensors")
    for key, value in want.ema.state_dict().items():
        assert torch.equal(state[key], value), key  # finite: the bad update never reached the weights
    assert EXIT_NONFINITE not in (0, EXIT_PREEMPTED)


def test_bad_fault_tolerance_settings_are_refused():
    with pytest.raises(ValueError, match="nonfinite must be 'skip' or 'stop', got 'ignore'"):
        tiny(nonfinite="ignore")
    with pytest.raises(ValueError, match="keep_last must be >= 0, got -1"):
        tiny(keep_last=-1)


# ---------------------------------------------------------------------- two gloo ranks


def _torchrun(out: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "zoo", *TRAIN, "--out", str(out),
           "--steps", "4", "--save-every", "1", "--parallel", "ddp", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=_env(fault))


@pytest.mark.slow
def test_two_gloo_ranks_preempted_then_killed_then_resumed_match_an_uninterrupted_run(tmp_path):
    straight = _torchrun(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]
    out = tmp_path / "faulted"
    # SIGTERM reaches rank 1 only: both ranks agree to stop after step 2 and write the checkpoint together
    run = _torchrun(out, fault="step:2:TERM@1")
    assert "stopped at step 2" in run.stderr, run.stderr[-3000:]
    stopped = checkpoint.resolve(out)
    assert stopped.name == "step_0000002" and {"rng_rank0.safetensors", "rng_rank1.safetensors"} <= {
        p.name for p in stopped.iterdir()}
    # both ranks SIGKILLed after their next step (step 3), before its checkpoint
    run = _torchrun(out, "--resume", "auto", fault="step:1")
    assert run.returncode != 0 and checkpoint.resolve(out).name == "step_0000002"
    run = _torchrun(out, "--resume", "auto")
    assert run.returncode == 0, run.stderr[-3000:]
    a = load_file(checkpoint.resolve(out) / "train_state.safetensors")
    b = load_file(checkpoint.resolve(tmp_path / "straight") / "train_state.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
