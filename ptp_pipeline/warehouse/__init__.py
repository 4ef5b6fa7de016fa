"""Warehouse backends, schema and merge."""

from ptp_pipeline.warehouse.base import Warehouse
from ptp_pipeline.warehouse.connect import open_warehouse

__all__ = ["Warehouse", "open_warehouse"]
