"""Conditioning encoders (``conditioning/*``): user inputs (prompts, images, videos) to a net's conditioning keywords.

One mechanism: every encoder is an ``nn.Module`` whose ``forward`` takes user-level inputs by name (``prompt``,
``image``, ``video``, ``num_frames``, ...) and returns a dict of conditioning keywords (``context``, ``added_cond``,
``concat``, ``control``); a recipe declares which encoder feeds which keyword (``Recipe.encoders``) and the pipeline
calls them (``zoo.Pipeline.encode``). Tiny configs are random-initialised; real weights come from a local folder
(``transformers`` ``from_pretrained(dir, local_files_only=True)``), never from the hub.
"""

from . import control, image_embedding, structure, svd_image, text  # noqa: F401
