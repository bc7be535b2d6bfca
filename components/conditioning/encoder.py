"""The one interface of conditioning encoders: what user input each takes, which keywords it produces, what it
needs from the run, its unconditional output and which pretrained parts it takes.

    class TextEncoder(ConditioningEncoder):
        inputs, outputs, facts, sized_by = ("prompt",), ("context",), ("batch",), ("context_dim",)

The pipeline (``zoo.Pipeline.encode``) calls ``encode(given, **facts)``, ``unconditional(cond, batch)`` and
``load_parts(parts)`` and reads these class attributes; it never probes for attributes or inspects signatures.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


__all__ = ["FACTS", "USER_INPUTS", "ConditioningEncoder"]

USER_INPUTS = ("prompt", "image", "video")
# what a run knows that an encoder may need: frames sampled (model space), batch size, the pipeline's autoencoder, its
# latent space (``components.nets.latent_space.LatentSpace``: the autoencoder with the recipe's latent normalisation),
# its generator
FACTS = ("num_frames", "batch", "autoencoder", "latent_space", "generator")


class ConditioningEncoder(nn.Module):
    """Base of every ``conditioning/*`` encoder.

    inputs: the user inputs ``forward`` takes positionally, in order (among ``USER_INPUTS``);
    outputs: the conditioning keywords its dict holds; facts: the run facts ``forward`` takes as keywords (among
    ``FACTS``); spatial_inputs: images / videos must have the sampled pixel size (False: any size, e.g. CLIP);
    sized_by: constructor keywords the pipeline fills from the net (``context_dim``, ``added_cond_dim``, ``factor``).
    """

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    spatial_inputs: bool = True
    sized_by: tuple[str, ...] = ()

    def encode(self, given: Mapping, **facts) -> dict[str, Tensor]:
        """``forward`` on the user inputs in ``given`` (keyed by input name) with the facts it declares."""
        missing = [n for n in self.inputs if n not in given]
        if missing:
            raise ValueError(f"{type(self).__name__} needs {', '.join(missing)}; got {', '.join(sorted(given))}")
        return self(*(given[n] for n in self.inputs), **{k: facts[k] for k in self.facts if k in facts})

    def unconditional(self, cond: Mapping[str, Tensor], batch: int) -> dict[str, Tensor]:
        """The unconditional branch of guidance for the keywords this encoder produced (``cond``); the default is
        none of its own (the objective's null condition: zeros), an encoder of an "empty" input overrides it."""
        return {}

    def load_parts(self, parts: Mapping[str, nn.Module]) -> None:
        """Take the pretrained parts of a weights folder that belong to this encoder (``text_encoder`` and
        ``tokenizer``, ``image_encoder``); the default takes none."""
