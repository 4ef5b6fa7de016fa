"""Data-sharing protocols: model, loading with file:line errors, enforcement, catalogue.

Drafting (`protocol.draft`, needs pandas) and rendering (`protocol.render`, needs jinja2) are
imported from their modules, so that parsing protocols (as DAG files do) stays light.
"""

from ptp_pipeline.protocol.catalogue import catalogue, find_protocol
from ptp_pipeline.protocol.enforce import protocol_in_force, why_not_in_force
from ptp_pipeline.protocol.load import (
    load_project,
    load_protocol,
    load_protocols,
    protocol_paths,
    protocol_set_problems,
)
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
    "catalogue",
    "find_protocol",
    "load_project",
    "load_protocol",
    "load_protocols",
    "protocol_in_force",
    "protocol_paths",
    "protocol_set_problems",
    "why_not_in_force",
]
