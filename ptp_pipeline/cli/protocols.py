"""Data officer commands for protocols: validate, list, draft, render."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ptp_pipeline.cli.common import app, err, out
from ptp_pipeline.errors import ConfigError, PtpUserError
from ptp_pipeline.settings import load_settings

protocol_app = typer.Typer(no_args_is_help=True,
                           help="Data-sharing protocols: validate, check, diff, sample, list, draft, render.")
app.add_typer(protocol_app, name="protocol")

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@protocol_app.command("validate")
def protocol_validate(paths: Annotated[list[Path] | None, typer.Argument(
        help="Protocol files or folders (each YAML in a folder is checked); default the protocols folder.")] = None,
) -> None:
    """Check protocol files; lists every problem with file:line. Exit code 3 on any error."""
    from ptp_pipeline.protocol import load_protocol, protocol_paths
    from ptp_pipeline.protocol.load import load_project, protocol_set_problems

    folders = paths or [load_settings().protocols_dir]
    files: list[Path] = []
    for path in folders:
        if path.is_dir():
            found = protocol_paths(path)
            if not found and not (path / "project.yaml").is_file():
                err.print(f"[PTP300] Protocol problem: {path}: the folder holds no protocol (*.yaml) files\n"
                          "  What to do: Check the folder name (PTP_PROTOCOLS_DIR).")
                raise typer.Exit(3)
            files += ([path / "project.yaml"] if (path / "project.yaml").is_file() else []) + found
            for ignored in sorted(path.glob("*.yml")):
                err.print(f"warning: {ignored} is not read (the pipeline reads *.yaml): rename it to "
                          f"{ignored.with_suffix('.yaml').name} if it is a protocol")
        else:
            files.append(path)
    failed = 0
    loaded = []
    for path in files:
        try:
            if path.name == "project.yaml":
                project = load_project(path.parent)
                out.print(f"ok   {path}  (project {project.project.id})")
                continue
            p = load_protocol(path)
            loaded.append((path, p))
            out.print(f"ok   {path}  ({p.id} v{p.version}, {p.status.value})")
        except PtpUserError as exc:
            failed += 1
            err.print(exc.render())
    for problem in protocol_set_problems(loaded):
        failed += 1
        err.print(f"[PTP300] Protocol problem: {problem}")
    if failed:
        raise typer.Exit(3)


@protocol_app.command("check")
def protocol_check(
    protocol_file: Annotated[Path, typer.Argument(metavar="PROTOCOL", help="The protocol file to try.")],
    sample: Annotated[Path, typer.Argument(help="A sample extract from the partner.")],
) -> None:
    """Try a sample extract against a protocol (draft or approved) without storing anything.

    Runs receive, check, pseudonymise and validate in a throw-away installation and says how many
    rows would be accepted and why the others would not. Exit code 3 if a kept field's values look
    like an identifier (dates of birth, names, NHS or NI numbers, free text); 4 if the sample would
    be refused or any row quarantined.
    """
    from ptp_pipeline.protocol.trial import trial_run

    if not sample.is_file():
        raise ConfigError(f"sample file {sample} not found", hint="Check the path to the partner's sample extract.")
    result = trial_run(protocol_file, sample)
    out.print(f"tried {sample.name} against {result.protocol} (as if approved today; nothing stored)")
    if result.rows_received is not None:
        out.print(f"rows received {result.rows_received}, would be accepted {result.rows_accepted}, "
                  f"quarantined {result.rows_quarantined}")
    for name, problem, rows in sorted(result.problems, key=lambda p: -p[2]):
        out.print(f"  {rows:>6} row(s)  field {name}: {problem}")
    if result.refused:
        err.print(f"the extract would be refused: {result.refused}")
    for problem in result.looks_identifying:
        err.print(f"[PTP300] Protocol problem: {protocol_file}: {problem}")
    if result.looks_identifying:
        raise typer.Exit(3)
    if result.refused or result.problems:
        raise typer.Exit(4)


@protocol_app.command("diff")
def protocol_diff(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The earlier protocol file (e.g. v1).")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The later protocol file (e.g. v2).")],
) -> None:
    """Every change from OLD to NEW, each classed breaking (partners or signatories must act) or not."""
    from ptp_pipeline.protocol import load_protocol
    from ptp_pipeline.protocol.diff import diff

    changes = diff(load_protocol(old), load_protocol(new))
    for change in changes:
        out.print(str(change))
    breaking = sum(c.breaking for c in changes)
    out.print(f"{len(changes)} change(s), {breaking} breaking" if changes else "no change to what is shared or how")


@protocol_app.command("sample")
def protocol_sample(
    protocol_id: Annotated[str, typer.Argument(metavar="ID", help="Protocol id, e.g. police-incidents.")],
    rows: Annotated[int, typer.Option(min=1, max=100_000, help="How many dummy rows.")] = 50,
    version: Annotated[int | None, typer.Option(help="Version; default the highest.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write; default <id>-sample.csv.")] = None,
) -> None:
    """Write dummy data that conforms to a protocol, for a partner to test their export (no real data)."""
    from ptp_pipeline.protocol import protocol_paths
    from ptp_pipeline.protocol.catalogue import find_protocol
    from ptp_pipeline.protocol.sample import sample_rows

    protocol = find_protocol(protocol_paths(load_settings().protocols_dir), protocol_id, version)
    text, warnings = sample_rows(protocol, rows)
    target = out_path or Path(f"{protocol.id}-sample.csv")
    target.write_text(text, encoding=protocol.file.encoding)
    out.print(f"wrote {rows} dummy row(s) for {protocol.id} v{protocol.version} to {target} (made-up values only)")
    for warning in warnings:
        err.print(f"warning: {warning}")


@protocol_app.command("list")
def protocol_list(
    on: Annotated[str | None, typer.Option(help="Show the state on this date (YYYY-MM-DD); default today.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every protocol with its status, version and expiry; warns on those expiring within 30 days."""
    from ptp_pipeline.protocol import protocol_paths
    from ptp_pipeline.protocol.catalogue import catalogue

    day = _date(on) if on else date.today()
    entries = catalogue(protocol_paths(load_settings().protocols_dir), day)
    if as_json:
        out.print_json(json.dumps([asdict(e) for e in entries]))
        return
    out.print(f"{'protocol':<28} {'ver':>3}  {'partner/dataset':<24} {'status':<10} {'valid':<25} in force on {day}")
    for e in entries:
        name = e.id or e.file
        where = f"{e.partner}/{e.dataset}" if e.partner else "-"
        valid = f"{e.valid_from} to {e.valid_to}" if e.valid_from else "-"
        out.print(f"{name:<28} {e.version or '-':>3}  {where:<24} {e.status:<10} {valid:<25} "
                  f"{'yes' if e.in_force else 'no'}")
    for e in entries:
        if e.warning:
            err.print(f"warning: {e.id or e.file}" + (f" v{e.version}" if e.version else "") + f": {e.warning}")


@protocol_app.command("draft")
def protocol_draft(
    sample: Annotated[Path, typer.Argument(help="A sample extract (CSV) from the partner.")],
    partner: Annotated[str, typer.Option(help="Partner id, e.g. police.")],
    dataset: Annotated[str, typer.Option(help="Dataset name, e.g. incidents.")],
    organisation: Annotated[str | None, typer.Option(help="The partner organisation's full name.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the draft; default "
                                                  "<protocols folder>/<partner>_<dataset>.yaml.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Profile a sample extract and write a draft protocol (status draft) with suggested roles and treatments.

    The draft never copies a sample value; check every field and each line marked TO AGREE.
    """
    from ptp_pipeline.protocol.draft import draft_protocol

    for label, value in (("--partner", partner), ("--dataset", dataset)):
        if not _ID.match(value):
            raise ConfigError(f"{label} '{value}' is not a valid id",
                              hint="Use lower-case letters, digits and underscores, starting with a letter.")
    target = out_path or load_settings().protocols_dir / f"{partner}_{dataset}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", hint="Choose another --out, or add --force to overwrite it.")
    if not sample.is_file():
        raise ConfigError(f"sample file {sample} not found", hint="Check the path to the partner's sample extract.")
    text = draft_protocol(sample, partner, dataset, organisation)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    out.print(f"wrote draft protocol {target}\nnext: review every field and each 'TO AGREE', then run "
              f"`ptp protocol validate {target}` and `ptp protocol render`")


@protocol_app.command("render")
def protocol_render(
    protocol_id: Annotated[str, typer.Argument(metavar="ID", help="Protocol id, e.g. police-incidents.")],
    version: Annotated[int | None, typer.Option(help="Version; default the highest.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the agreement files.")] = Path("."),
    on: Annotated[str | None, typer.Option(help="Date printed as rendered on (YYYY-MM-DD); default today.")] = None,
) -> None:
    """Write the agreement for sign-off as HTML and Markdown: purpose, lawful basis, fields, retention, signatories."""
    from ptp_pipeline.protocol import protocol_paths
    from ptp_pipeline.protocol.catalogue import find_protocol
    from ptp_pipeline.protocol.render import render_html, render_markdown

    paths = protocol_paths(load_settings().protocols_dir)
    protocol = find_protocol(paths, protocol_id, version)
    previous = None
    if protocol.version > 1:
        try:
            previous = find_protocol(paths, protocol_id, protocol.version - 1)
        except PtpUserError:
            previous = None  # no earlier version in the folder: no change log
    day = _date(on) if on else date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{protocol.id}-v{protocol.version}"
    html, markdown = stem.with_suffix(".html"), stem.with_suffix(".md")
    html.write_text(render_html(protocol, day, previous), encoding="utf-8")
    markdown.write_text(render_markdown(protocol, day, previous), encoding="utf-8")
    out.print(f"wrote {html}\nwrote {markdown}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"'{text}' is not a date", hint="Write dates as YYYY-MM-DD, e.g. 2025-04-01.") from None
