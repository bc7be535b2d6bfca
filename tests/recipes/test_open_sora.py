"""Open-Sora 1.2 recipe (rectified-flow STDiT3-style DiT): size against the report, one training step on the flow
objective with shifted logit-normal times, and sampling with text context (issue #11, item 4)."""

from __future__ import annotations

import torch

import zoo
from zoo.train import TrainConfig, Trainer


def test_paper_size_is_within_ten_percent_of_the_reported_1_1b():
    count = zoo.count_parameters("open_sora", "paper")
    assert abs(count - 1.1e9) / 1.1e9 < 0.10, count


def test_tiny_trains_on_the_flow_objective_with_shifted_logit_normal_times():
    trainer = Trainer(TrainConfig(model="open_sora", preset="tiny", steps=1, batch_size=2, seed=0, progress=False))
    x0, t, eps, cond = trainer._batch(0)
    from zoo.data import seeded

    expected = torch.sigmoid(torch.randn(2, generator=seeded(0, 0, 7)))
    torch.testing.assert_close(t, 3 * expected / (1 + 2 * expected))
    assert set(cond) == {"context"} and cond["context"].shape[0] == 2  # text tokens (random: no data carries them)
    alpha, sigma = trainer.schedule(t)
    torch.testing.assert_close(alpha + sigma, torch.ones(2))
    z = alpha.reshape(-1, 1, 1, 1, 1) * x0 + sigma.reshape(-1, 1, 1, 1, 1) * eps
    # learned Σ (pred_sigma): the first 4 channels are the velocity; no loss reaches the other 4 on the flow path
    out = trainer.model(z, t, **cond)[:, :4]
    loss = torch.nn.functional.mse_loss(out, eps - x0)
    torch.testing.assert_close(trainer.loss(x0, t, eps, cond), loss)
    loss.backward()
    assert torch.isfinite(loss)


def test_tiny_samples_with_text_context_and_guidance():
    pipe = zoo.create_pipeline("open_sora", "tiny")
    video = pipe(num_inference_steps=3, seed=0, context=torch.randn(1, 5, 8))
    assert video.shape == (1, 4, 2, 8, 8) and torch.isfinite(video).all()
    assert pipe.guidance is not None
