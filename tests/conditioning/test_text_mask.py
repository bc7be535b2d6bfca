"""``conditioning/text`` ``mask=``: the T5 attention mask handed to the net (LTX-Video) or also used to encode
(Mochi), as diffusers' pipelines' ``_get_t5_prompt_embeds`` do (a tiny random T5, byte tokenizer; exact: the same
module called the same way)."""

from __future__ import annotations

import pytest
import torch

import components


PROMPTS = ["a dog", "a cat on a skateboard at dusk"]


def _encoder(mask):
    torch.manual_seed(0)
    return components.build("conditioning/text", context_dim=16, num_layers=1, num_heads=2, max_length=24, kind="t5",
                            mask=mask).eval()


@torch.no_grad()
def test_output_mask_is_the_tokenizers_and_the_encoding_unmasked():
    enc = _encoder("output")
    out = enc(PROMPTS)
    ids, attention = enc.tokenize_masked(PROMPTS)
    assert set(out) == {"context", "context_mask"} and enc.outputs == ("context", "context_mask")
    assert torch.equal(out["context_mask"], attention) and attention.sum(1).tolist()[0] < attention.sum(1).tolist()[1]
    # LTX: text_encoder(ids)[0], no mask
    assert torch.equal(out["context"], enc.model(input_ids=ids).last_hidden_state)


@torch.no_grad()
def test_encode_mask_runs_the_encoder_under_it():
    enc = _encoder("encode")
    out = enc(PROMPTS)
    ids, attention = enc.tokenize_masked(PROMPTS)
    # Mochi: text_encoder(ids, attention_mask=mask)[0]
    assert torch.equal(out["context"], enc.model(input_ids=ids, attention_mask=attention).last_hidden_state)
    unmasked = enc.model(input_ids=ids).last_hidden_state
    real = attention.bool()
    assert not torch.allclose(out["context"][real], unmasked[real])  # the padding reached the real tokens unmasked


def test_default_is_unchanged_and_bad_masks_refused():
    enc = _encoder("none")
    assert set(enc(PROMPTS)) == {"context"} and "context_mask" not in enc.outputs
    with pytest.raises(ValueError, match="mask must be one of .*got mask='encode' with kind='umt5'"):
        components.build("conditioning/text", context_dim=16, num_layers=1, num_heads=2, max_length=8, kind="umt5",
                         mask="encode")
