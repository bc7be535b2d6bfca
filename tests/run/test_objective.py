"""One diffusion objective for training and sampling (``zoo.objective``): every recipe trains, and on what it is
sampled with — the same network time and input at the same noise level, EDM's weighted loss, and an optimum that is
the sampler's exact denoiser."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import zoo
from components.diffusion.denoisers import GaussianDenoiser
from components.diffusion.learned_variance import learned_variance_vlb
from zoo.cli import main as zoo_main
from zoo.objective import Objective
from zoo.recipe import Preset, Recipe, Sampling
from zoo.train import TrainConfig, Trainer


def run(capsys, *argv) -> tuple[int, str, str]:
    code = zoo_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", zoo.list_models(stages=True))
def test_every_recipe_trains(name):
    trainer = Trainer(TrainConfig(model=name, preset="tiny", steps=2, batch_size=2, progress=False, log_every=1))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    losses = trainer.fit()
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), losses
    assert trainer.nonfinite_steps == 0
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_train_command_for_a_conditional_recipe_says_where_its_conditioning_comes_from(tmp_path, capsys):
    code, out, err = run(capsys, "train", "svd", "--preset", "tiny", "--steps", "2", "--batch-size", "2",
                         "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    assert "context, added_cond, concat conditioning from --cond example" in err and "p = 0.1" in err


def test_cond_none_is_refused_for_a_net_that_needs_conditioning(tmp_path, capsys):
    code, _, err = run(capsys, "train", "svd", "--preset", "tiny", "--steps", "1", "--cond", "none",
                       "--out", str(tmp_path), "--no-progress")
    assert code == 2 and "svd needs concat, context conditioning and --cond none gives it none" in err
    code, _, err = run(capsys, "train", "modelscope_t2v", "--preset", "tiny", "--steps", "1", "--cond-drop", "1.5",
                       "--out", str(tmp_path), "--no-progress")
    assert code == 2 and "cond_drop must be in [0, 1], got 1.5" in err


def test_conditioning_dropout_replaces_whole_samples_by_the_null_condition():
    trainer = Trainer(TrainConfig(model="svd", preset="tiny", steps=1, batch_size=64, progress=False,
                                  cond_drop=0.5))
    x0, _, _, cond = trainer._batch(3)
    dropped = cond["context"].flatten(1).abs().sum(1) == 0
    assert 10 < int(dropped.sum()) < 54  # Bernoulli(0.5) over 64 samples
    assert torch.equal(cond["concat"].flatten(1).abs().sum(1) == 0, dropped)  # the image latents go with the text
    assert (cond["added_cond"].abs().sum(1) > 0).all()  # SVD's micro-conditioning is kept (uncond_keep)


class _Recorder(nn.Module):
    """The recipe's net, recording the (input, time) of every call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, []
        self.out_channels = getattr(model, "out_channels", None)
        self.embed = getattr(model, "embed", None)

    def forward(self, z, time, **cond):
        self.calls.append((z.detach().clone(), time.detach().clone()))
        return self.model(z, time, **cond)


# one recipe per time convention: continuous t (VDM), DDPM indices (DiT with learned Σ, SD's scaled-linear table),
# EDM's c_noise (SVD), rectified flow (Open-Sora)
CONVENTIONS = ["vdm", "dit_xl_2", "stable_diffusion", "svd", "open_sora"]


@pytest.mark.parametrize("name", CONVENTIONS)
def test_the_net_sees_the_same_time_and_input_at_the_same_noise_level_in_training_and_sampling(name):
    recipe = zoo.get_recipe(name)
    net = _Recorder(zoo.create_model(name, "tiny")).eval()
    objective = Objective.from_recipe(recipe, "tiny", net)
    g = torch.Generator().manual_seed(0)
    c, t_, h, w = recipe.preset("tiny").sample_shape
    x0 = torch.randn(3, c, t_, h, w, generator=g)
    noise = torch.randn(x0.shape, generator=g)
    t = objective.training_times(3, generator=g)
    cond = objective.example_conditioning(net, 3)
    with torch.no_grad():
        objective.loss(net, x0, t, noise, cond)
        z_train, time_train = net.calls[-1]
        sigma = objective.schedule.to_sigma(t).float()  # the VE level of the training sample
        objective.denoiser(net)(x0 + sigma.view(-1, 1, 1, 1, 1) * noise, sigma, **cond)
        z_sample, time_sample = net.calls[-1]
    torch.testing.assert_close(time_sample.float(), time_train.float(), rtol=1e-4, atol=2e-3)
    torch.testing.assert_close(z_sample.float(), z_train.float(), rtol=1e-4, atol=1e-4)
    if recipe.sampling.time_input == "discrete":  # DDPM step indices, never t in [0, 1]
        assert torch.equal(time_train, time_train.round()) and time_train.max() > 1
        assert 0 <= time_train.min() and time_train.max() <= 999


@pytest.mark.parametrize("preconditioning,sigma_data", [("preconditioning/edm_v", 1.0), ("preconditioning/edm", 0.5)])
def test_the_preconditioned_loss_is_edms_weighted_denoising_loss(preconditioning, sigma_data):
    recipe = zoo.get_recipe("svd")
    recipe = replace(recipe, sampling=recipe.sampling.replace(parameterization=preconditioning))
    model = zoo.create_model("svd", "tiny")
    objective = Objective.from_recipe(recipe, "tiny", model)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4, 4, 3, 8, 8, generator=g)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.rand(4, generator=g)
    cond = objective.example_conditioning(model, 4)
    with torch.no_grad():
        loss = objective.loss(model, x0, t, noise, cond)
        sigma = objective.schedule.to_sigma(t).float()
        denoised = objective.denoiser(model)(x0 + sigma.view(-1, 1, 1, 1, 1) * noise, sigma, **cond)
    lam = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2  # EDM Table 1: λ(σ) = (σ² + σ_d²)/(σ σ_d)²
    expected = (lam.view(-1, 1, 1, 1, 1) * (denoised - x0) ** 2).mean()
    torch.testing.assert_close(loss, expected, rtol=2e-4, atol=0)


class _Affine(nn.Module):
    """F(z) = A z + b over the flattened sample: the exact optimum's family for Gaussian data at one noise level."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, d)

    def forward(self, z, time, **cond):
        return self.linear(z.flatten(1)).view_as(z)


def _toy_recipe(sampling: Sampling) -> Recipe:
    return Recipe(name="toy", paper="-", net="net/space_time_unet", sampling=sampling,
                  presets={"tiny": Preset(config={}, channels=1, frames=1, height=2, width=2)})


TOY = {
    "v, continuous cosine": (Sampling("schedule/cosine", "parameterization/v", "sampler/euler", 8), 0.5),
    "eps, DDPM indices": (Sampling("schedule/linear", "parameterization/eps", "sampler/euler", 8,
                                   time_input="discrete"), 0.3),
    "EDM preconditioning (SVD)": (Sampling("schedule/edm", "preconditioning/edm_v", "sampler/euler", 8), 0.3),
    "flow, rectified flow": (Sampling("schedule/rectified_flow", "parameterization/flow", "sampler/euler", 8), 0.5),
}


@pytest.mark.parametrize("case", list(TOY))
def test_the_trained_optimum_is_the_samplers_exact_denoiser(case):
    """Fit F by minimising the objective's own loss on Gaussian data at one noise level; the sampling path's denoiser
    of that F must be the exact posterior mean E[x0 | x] of the Gaussian."""
    sampling, t_level = TOY[case]
    objective = Objective(_toy_recipe(sampling), "tiny")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 4, generator=g)
    mean, cov = torch.randn(4, generator=g) * 0.5, a @ a.T / 4 + 0.1 * torch.eye(4)
    n = 1 << 16
    x0 = (mean + torch.randn(n, 4, generator=g) @ torch.linalg.cholesky(cov).T).view(n, 1, 1, 2, 2)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.full((n,), round(t_level * 999) / 999 if objective.discrete else t_level)  # on the DDPM table
    net = _Affine(4)
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=200, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = objective.loss(net, x0, t, noise)
        loss.backward()
        return loss

    opt.step(closure)
    sigma = objective.schedule.to_sigma(t[:256]).float()
    x = x0[:256] + sigma.view(-1, 1, 1, 1, 1) * torch.randn(256, 1, 1, 2, 2, generator=g)  # x ~ p(x; σ)
    with torch.no_grad():
        ours = objective.denoiser(net)(x, sigma)
    exact = GaussianDenoiser(mean, cov)(x, sigma).float()
    # 2^16 samples fit 20 coefficients to ~1e-2 (sampling error, largest for ε at σ > 1); a convention off by a
    # 20 % noise level already misses by more than the tolerance (the control below)
    torch.testing.assert_close(ours, exact, rtol=0, atol=0.05)
    assert (GaussianDenoiser(mean, cov)(x, 1.2 * sigma).float() - exact).abs().max() > 0.05


def _diffusers_reverse(sched, i, z, eps, var):
    """diffusers' DDPM step as (mean, log-variance) of p(x_{i-1} | x_i): its noise draw regenerated and removed."""
    prev = sched.step(torch.cat([eps, var], 1), i, z, generator=torch.Generator().manual_seed(7)).prev_sample
    log_var = sched._get_variance(i, predicted_variance=var)
    noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(7))
    return prev - torch.exp(0.5 * log_var) * noise, log_var


def test_the_learned_variance_term_matches_diffusers_learned_range_reverse_step():
    """The KL of the bound against diffusers' DDPMScheduler (variance_type learned_range): its mean and log-variance of
    p(x_{i-1} | x_i) for an ε and v output, with the posterior q(x_{i-1} | x_i, x0) from the exact ε."""
    diffusers = pytest.importorskip("diffusers")
    sched = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type="learned_range",
                                    clip_sample=False)
    abar = sched.alphas_cumprod
    g = torch.Generator().manual_seed(0)
    for i in (1, 10, 500, 999):
        x0 = torch.randn(1, 2, 1, 4, 4, generator=g).clamp(-1, 1)
        eps = torch.randn(x0.shape, generator=g)
        z = abar[i].sqrt() * x0 + (1 - abar[i]).sqrt() * eps
        eps_pred = eps + 0.3 * torch.randn(x0.shape, generator=g)
        v = torch.rand(x0.shape, generator=g) * 2 - 1

        model_mean, model_log_var = _diffusers_reverse(sched, i, z, eps_pred, v)
        true_mean, true_log_var = _diffusers_reverse(sched, i, z, eps, -torch.ones_like(v))  # exact ε, v = −1: the posterior N(μ̃, β̃)
        kl = 0.5 * (-1 + model_log_var - true_log_var + torch.exp(true_log_var - model_log_var)
                    + (true_mean - model_mean) ** 2 * torch.exp(-model_log_var))
        ours = learned_variance_vlb(abar, torch.tensor([i]), x0, z, eps_pred, v)
        torch.testing.assert_close(ours, kl.flatten(1).mean(1) / math.log(2), rtol=1e-4, atol=1e-6)
        exact = learned_variance_vlb(abar, torch.tensor([i]), x0, z, eps, -torch.ones_like(v))
        assert exact.abs().max() < 1e-4  # the exact mean and posterior variance: KL = 0


def test_bad_objective_inputs_name_what_is_wrong():
    flow_on_cosine = Sampling("schedule/cosine", "parameterization/flow", "sampler/euler", 8)
    with pytest.raises(ValueError, match="parameterization/flow needs schedule/rectified_flow"):
        Objective(_toy_recipe(flow_on_cosine), "tiny")
    discrete_edm = Sampling("schedule/edm", "preconditioning/edm", "sampler/euler", 8, time_input="discrete")
    with pytest.raises(ValueError, match="time_input='discrete' needs a DDPM-table schedule"):
        Objective(_toy_recipe(discrete_edm), "tiny")
    mismatched = Sampling("schedule/cosine", "parameterization/v", "sampler/euler", 8,
                          loss_weighting="weighting/uniform", loss_weighting_kwargs={"target": "eps"})
    with pytest.raises(ValueError, match="does not fit parameterization parameterization/v"):
        Objective(_toy_recipe(mismatched), "tiny")
    with pytest.raises(ValueError, match="learned_variance_vlb: index must hold integers"):
        x = torch.zeros(1, 1, 1, 2, 2)
        learned_variance_vlb(torch.linspace(0.99, 0.01, 10), torch.tensor([3.5]), x, x, x, x)


def test_a_loss_weighting_reweights_each_sample_by_its_noise_level():
    base = Sampling("schedule/cosine", "parameterization/eps", "sampler/euler", 8)
    plain = Objective(_toy_recipe(base), "tiny")
    snr = Objective(_toy_recipe(base.replace(loss_weighting="weighting/min_snr",
                                             loss_weighting_kwargs={"gamma": 5.0})), "tiny")
    net = _Affine(4)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 1, 1, 2, 2, generator=g), torch.randn(2, 1, 1, 2, 2, generator=g)
    t = torch.tensor([0.2, 0.8])
    per_sample = [plain.loss(net, x0[i:i + 1], t[i:i + 1], noise[i:i + 1]) for i in range(2)]
    lam = plain.schedule.log_snr(t)
    weight = torch.minimum(lam.exp(), torch.tensor(5.0)) / lam.exp()  # Min-SNR-γ on the ε error
    expected = (weight * torch.stack(per_sample)).mean()
    torch.testing.assert_close(snr.loss(net, x0, t, noise), expected.float(), rtol=1e-5, atol=0)
