"""Person linkage on keyed tokens: fields (tokens), model (Splink), engine (incremental), cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def link_frame(frame: pd.DataFrame, key: Any, project: Any = None, **kwargs: Any) -> pd.DataFrame:
    """See :func:`ptp_pipeline.linkage.frame.link_frame` (imported lazily: Splink is heavy)."""
    from ptp_pipeline.linkage.frame import link_frame as _link_frame

    return _link_frame(frame, key, project, **kwargs)


__all__ = ["link_frame"]
