"""Reading partner extracts."""

from ptp_pipeline.extract.read import SOURCE_ROW, read_csv_text

__all__ = ["SOURCE_ROW", "read_csv_text"]
