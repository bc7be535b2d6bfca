"""Flow matching through the trainer: ``vdm --preset demo_flow`` trains the demo net on the rectified-flow path with
logit-normal times, and samples through the same VE machinery (issue #11, items 3-4)."""

from __future__ import annotations

import torch

import zoo
from zoo.data import seeded
from zoo.train import TrainConfig, Trainer


def _trainer(**kw):
    return Trainer(TrainConfig(model="vdm", preset="demo_flow", steps=2, batch_size=2, frames=4, size=8, seed=0,
                               progress=False, **kw))


def test_demo_flow_draws_logit_normal_times_and_regresses_the_velocity():
    trainer = _trainer()
    x0, t, eps, cond = trainer._batch(5)
    assert cond == {}  # vdm's demo net is unconditional
    g = seeded(0, 5, 7)
    torch.testing.assert_close(t, torch.sigmoid(torch.randn(2, generator=g)), rtol=0, atol=0)
    # the loss is the MSE of the velocity ε − x0 at z = (1 − t) x0 + t ε, computed here independently
    tt = t.reshape(-1, 1, 1, 1, 1)
    z = (1 - tt) * x0 + tt * eps
    with torch.no_grad():
        expected = torch.nn.functional.mse_loss(trainer.net(z, t), eps - x0)
        torch.testing.assert_close(trainer.loss(x0, t, eps), expected)


def test_demo_flow_trains_and_samples():
    trainer = _trainer()
    trainer.fit()
    assert len(trainer.losses) == 2 and all(torch.isfinite(torch.tensor(trainer.losses)))
    pipe = zoo.create_pipeline("vdm", "demo_flow", model=trainer.ema)
    video = pipe(num_frames=4, height=8, width=8, num_inference_steps=3, seed=0)
    assert video.shape == (1, 3, 4, 8, 8) and torch.isfinite(video).all()
