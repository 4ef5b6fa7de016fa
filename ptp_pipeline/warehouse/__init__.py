"""Warehouse backends, schema and merge."""

from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.connect import mask_url, open_warehouse

__all__ = ["Warehouse", "mask_url", "open_warehouse"]
