"""A byte-level tokenizer for random tiny text encoders (no vocabulary files, no hub access).

Token ids: 0 = padding / end of text, 1 = start of text, 2 + b for each UTF-8 byte b (vocabulary 258). Real weights
bring their own tokenizer (``transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)``).
"""

from __future__ import annotations

import torch
from torch import Tensor


VOCAB_SIZE = 258
PAD, BOS = 0, 1


def byte_tokenize(prompts: list[str], max_length: int) -> Tensor:
    """``(B, max_length)`` int64 ids: BOS, the UTF-8 bytes (truncated), then PAD (which is also end of text)."""
    ids = torch.full((len(prompts), max_length), PAD, dtype=torch.long)
    for i, prompt in enumerate(prompts):
        row = [BOS] + [2 + b for b in prompt.encode("utf-8")][: max_length - 1]
        ids[i, : len(row)] = torch.tensor(row)
    return ids
