"""Conditioning encoders (``conditioning/*``): user inputs (prompts, images, videos) to a net's conditioning keywords.

One interface (``encoder.ConditioningEncoder``): every encoder declares the user inputs it takes (``prompt``,
``image``, ``video``), the conditioning keywords it produces (``context``, ``added_cond``, ``concat``, ``control``), the
run facts it needs (``num_frames``, ``batch``, ``autoencoder``, ``generator``), its unconditional output and the
pretrained parts it takes; a recipe declares which encoder feeds which keyword (``Recipe.encoders``) and the pipeline
calls that interface (``zoo.Pipeline.encode``). Tiny configs are random-initialised; real weights come from a local folder
(``transformers`` ``from_pretrained(dir, local_files_only=True)``), never from the hub.
"""

from . import clip_pooled, control, image_embedding, llama_text, structure, svd_image, text, wan_image  # noqa: F401
from .encoder import FACTS, USER_INPUTS, ConditioningEncoder


__all__ = ["FACTS", "USER_INPUTS", "ConditioningEncoder"]
