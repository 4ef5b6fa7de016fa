"""Data-sharing protocols: model, loading with file:line errors, enforcement."""

from ptp_pipeline.protocol.enforce import protocol_in_force
from ptp_pipeline.protocol.load import load_project, load_protocol, load_protocols, protocol_paths
from ptp_pipeline.protocol.model import (
    FieldSpec,
    FieldType,
    Identifies,
    Level,
    ProjectConfig,
    Protocol,
    Role,
    Status,
    Treatment,
)

__all__ = [
    "FieldSpec",
    "FieldType",
    "Identifies",
    "Level",
    "ProjectConfig",
    "Protocol",
    "Role",
    "Status",
    "Treatment",
    "load_project",
    "load_protocol",
    "load_protocols",
    "protocol_in_force",
    "protocol_paths",
]
