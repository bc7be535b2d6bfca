"""diffusers <-> zoo conversion: rename tables, not forked model code (see ``common.py``).

``zoo.from_diffusers(model)`` returns the equivalent zoo model; each converter module registers itself for one
diffusers class.
"""

from .common import CONVERTERS, RenameTable, from_diffusers, register_converter, rename_state_dict


__all__ = ["CONVERTERS", "RenameTable", "from_diffusers", "register_converter", "rename_state_dict"]
