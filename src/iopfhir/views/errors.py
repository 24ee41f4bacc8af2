"""The one error of the views package: a ViewDefinition that cannot be read, checked or run.

:class:`ViewError` is an :class:`~iopfhir.errors.InputError` (the command line exits
with 2). Its message names the place in the view (``select[0].column[1].path``) or the
character of a FHIRPath expression, never a value of the data.
"""

from __future__ import annotations

from iopfhir.errors import InputError

__all__ = ["ViewError"]


class ViewError(InputError):
    """A ViewDefinition is malformed, uses what the engine does not support, or failed to run."""
