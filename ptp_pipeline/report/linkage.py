"""The linkage report for a data officer: one self-contained HTML file (inline SVG, no network).

How records were linked (pass and key), Splink's match probabilities and the clerical-review band,
link rates by agency pair, sex, age band and area (linkage bias), and the model's match weights.
Counts pass the disclosure control of every other output (`pathways/disclosure.py`); a rate is
withheld where its linked or unlinked part is a small number. No identifier, token or person id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from ptp_pipeline.pathways.disclosure import protect_counts, round_count
from ptp_pipeline.protocol.model import ProjectConfig, Suppression
from ptp_pipeline.report import charts
from ptp_pipeline.report.render import _cell as table_cell
from ptp_pipeline.report.render import _fmt as fmt_count
from ptp_pipeline.report.render import _pct as fmt_share
from ptp_pipeline.report.render import template, write_atomic
from ptp_pipeline.warehouse.base import Warehouse


@dataclass(frozen=True)
class LinkageReport:
    summary: dict[str, int | None]  # records, identities, persons, unlinkable, review_open (protected)
    passes: pd.DataFrame  # how (pass and key), identities, records (protected)
    bands: pd.DataFrame  # label, kind, n (protected)
    decisions: dict[str, int | None]  # open, accept, reject (protected)
    agencies: pd.DataFrame  # n_agencies, persons (protected)
    pairs: pd.DataFrame  # agency_a, agency_b, persons (protected), share_a, share_b (None = withheld)
    bias: dict[str, pd.DataFrame]  # group, records (protected), linked_share (None = withheld)
    weights: pd.DataFrame  # comparison, level, weight (bits), by_frequency
    settings: dict[str, Any]


def _count(value: int, rule: Suppression) -> int | None:
    return None if 1 <= value < rule.min_count else round_count(int(value), rule)


def share(part: int, whole: int, rule: Suppression) -> float | None:
    """part / whole to 0.1%, withheld where the part, the rest or the whole is a small number."""
    small = [1 <= v < rule.min_count for v in (part, whole - part, whole)]
    return None if whole == 0 or any(small) else round(part / whole, 3)


def _protect(frame: pd.DataFrame, columns: list[str], rule: Suppression) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        out[col] = protect_counts(out[col].astype("int64"), rule)
    return out


def match_weights(model: dict[str, Any]) -> pd.DataFrame:
    """Each comparison level's match weight, log2(m/u) in bits: the model a data officer can check."""
    rows = []
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level") or not level.get("m_probability") or not level.get("u_probability"):
                continue
            rows.append(
                {
                    "comparison": str(comparison["output_column_name"]).replace("_", " "),
                    "level": str(level.get("label_for_charts", "")),
                    "weight": math.log2(float(level["m_probability"]) / float(level["u_probability"])),
                    "by_frequency": "tf_adjustment_column" in level,
                }
            )
    return pd.DataFrame(rows, columns=["comparison", "level", "weight", "by_frequency"])


def linkage_report_data(wh: Warehouse, project: ProjectConfig) -> LinkageReport:
    from ptp_pipeline.linkage.model import forename_level_m, forename_rule, settings, with_term_frequencies
    from ptp_pipeline.linkage.store import load_model, review_pairs
    from ptp_pipeline.privacy.linkage_report import (
        agency_pairs,
        linkage_bias,
        linkage_report,
        probability_bands,
        review_decisions,
    )

    rule, lk = project.suppression, project.linkage
    keys, agencies = linkage_report(wh, project)
    records = int(keys["records_with_key"].sum())
    unlinkable = int(keys.loc[keys["key_type"] == "unlinkable", "records_with_key"].sum())
    summary = {
        "records": records,
        "identities": int(keys["identities"].sum()),
        "persons": int(wh.scalar("SELECT count(*) FROM shared.person") or 0),
        "unlinkable": unlinkable,
        "review_open": len(review_pairs(wh)),
    }
    passes = _protect(
        keys.rename(columns={"key_type": "how", "records_with_key": "records"})[["how", "identities", "records"]],
        ["identities", "records"],
        rule,
    )
    bands = probability_bands(wh)
    bands["label"] = [
        f"{b:.2f}–{b + 0.05:.2f} {'linked' if k == 'linked' else 'review'}"
        for b, k in zip(bands["band"], bands["kind"], strict=True)
    ]
    both, per_agency = agency_pairs(wh)
    pairs = both.assign(
        share_a=[
            share(int(n), int(per_agency.get(a, 0)), rule)
            for a, n in zip(both.agency_a, both.both_persons, strict=True)
        ],
        share_b=[
            share(int(n), int(per_agency.get(b, 0)), rule)
            for b, n in zip(both.agency_b, both.both_persons, strict=True)
        ],
    )
    bias = {}
    for name, frame in linkage_bias(wh, min_records=rule.min_count).items():
        bias[name] = pd.DataFrame(
            {
                "group": frame["grp"].astype(str),
                "records": protect_counts(frame["records"].astype("int64"), rule),
                "linked_share": [share(int(n), int(r), rule) for n, r in zip(frame.linked, frame.records, strict=True)],
                "multi_agency_share": [
                    share(int(n), int(r), rule) for n, r in zip(frame.multi_agency, frame.records, strict=True)
                ],
            }
        )
    model = load_model(wh)
    forename_veto, _ = forename_rule(model or settings(), lk.forename_conflict, lk.twin_share)
    return LinkageReport(
        summary={k: _count(v, rule) for k, v in summary.items()},
        passes=passes,
        bands=_protect(bands[["label", "kind", "n"]], ["n"], rule),
        decisions={k: _count(v, rule) for k, v in review_decisions(wh).items()},
        agencies=_protect(agencies, ["persons"], rule),
        pairs=_protect(pairs.rename(columns={"both_persons": "persons"}), ["persons"], rule),
        bias=bias,
        weights=match_weights(with_term_frequencies(model or settings(), lk.term_frequencies)),
        settings={
            "threshold": lk.threshold,
            "review_threshold": lk.review_threshold,
            "trained": model is not None,
            "term_frequencies": lk.term_frequencies,
            "probabilistic": lk.probabilistic,
            "strong_id_conflict": lk.strong_id_conflict,
            "forename_conflict": lk.forename_conflict,
            "forename_veto": forename_veto,
            # auto: the trained model's share of matching pairs whose forenames share nothing, beside twins' share
            "forename_m": forename_level_m(model) if model else None,
            "twin_share": lk.twin_share,
            "rule": rule,
        },
    )


def _charts(data: LinkageReport) -> dict[str, Markup]:
    bands = data.bands
    weights = data.weights
    labels = [
        f"{c}: {lv}{' (by frequency)' if tf else ''}"
        for c, lv, tf in zip(weights.comparison, weights.level, weights.by_frequency, strict=True)
    ]
    return {
        "bands": Markup(
            charts.bar_svg(
                bands["label"].tolist(),
                [None if pd.isna(v) else float(v) for v in bands["n"]],
                "Splink's pairs by match probability: linked, and awaiting clerical review",
                "bands",
                unit="pairs",
            )
        ),
        "weights": Markup(
            charts.diverging_svg(
                labels,
                weights["weight"].round(2).tolist(),
                "Match weight of each comparison level (bits)",
                "weights",
                unit=" bits",
            )
        ),
    }


def fmt_rate(value: Any) -> str:
    return "withheld" if value is None or pd.isna(value) else f"{float(value):.1%}"


def render_linkage_html(data: LinkageReport, project: ProjectConfig, generated_on: str) -> str:
    return template("linkage.html").render(
        project=project.project,
        d=data,
        s=data.settings,
        rule=data.settings["rule"],
        charts=_charts(data),
        generated_on=generated_on,
        fmt=fmt_count,
        pct=fmt_share,
        cell=table_cell,
        share=fmt_rate,
    )


def write_linkage_report(wh: Warehouse, project: ProjectConfig, out: Path, generated_on: str | None = None) -> Path:
    stamp = generated_on or datetime.now(UTC).strftime("%d %B %Y %H:%M UTC")
    return write_atomic(out, render_linkage_html(linkage_report_data(wh, project), project, stamp))
