"""HTML and plotly figures for the demo: coloured tokens, statistics tables and the four tabs' charts.

Every function here takes plain data (the dicts of `demo.runs`, lists of numbers) and returns an HTML string
or a plotly figure. None of them runs a model, so the same functions draw live runs and recorded ones.

Left out: theming beyond the token colours, which keep dark text on a light background in both Gradio themes.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from demo.engine import LoadStatus
from demo.text import t
from specdec_mini.stats import ACCEPTED, BONUS, CORRECTION

TOKEN_COLOURS = {ACCEPTED: "#bfeebf", CORRECTION: "#ffc4bb", BONUS: "#c4d8ff"}  # green, red, blue
PLAIN_COLOUR, SPEC_COLOUR, THEORY_COLOUR = "#7f7f7f", "#2e8b57", "#1f5fbf"

CSS = "\n".join(
    [
        ".sd-tokens { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 0.9em; "
        "line-height: 1.5; min-height: 6em; max-height: 26em; overflow-y: auto; padding: 0.5em; "
        "border: 1px solid var(--border-color-primary); border-radius: 6px; }",
        ".sd-tok { border-radius: 3px; color: #111; }",
        *(f".sd-{kind} {{ background: {colour}; }}" for kind, colour in TOKEN_COLOURS.items()),
        ".sd-legend span.sd-tok { padding: 0 0.4em; margin-right: 0.8em; }",
        ".sd-stats td, .sd-stats th { padding: 0.2em 0.8em; text-align: right; }",
        ".sd-stats td:first-child { text-align: left; }",
        ".sd-speedup { font-weight: bold; font-size: 1.2em; }",
        ".sd-muted { opacity: 0.7; }",
    ]
)


def tokens_html(pieces: list[str], kinds: list[str], placeholder: str = "") -> str:
    """Render the text as one span per token; accepted, correction and bonus tokens get their colour class."""
    if not pieces:
        return f'<div class="sd-tokens sd-muted">{html.escape(placeholder)}</div>'
    spans = []
    for piece, kind in zip(pieces, kinds):
        if not piece:
            continue  # a token that ends inside a multi-byte character; the next piece carries the text
        if kind in TOKEN_COLOURS:
            spans.append(f'<span class="sd-tok sd-{kind}" title="{t("legend_" + kind)}">{html.escape(piece)}</span>')
        else:
            spans.append(html.escape(piece))
    return f'<div class="sd-tokens">{"".join(spans)}</div>'


def legend_html() -> str:
    items = "".join(f'<span class="sd-tok sd-{kind}">{t("legend_" + kind)}</span>' for kind in TOKEN_COLOURS)
    return f'<div class="sd-legend">{items}</div>'


def status_html(status: LoadStatus) -> str:
    """Render the model status line, with a progress bar while loading."""
    if status.state == "ready":
        return f'<p class="sd-status sd-ready">{html.escape(t("status_ready", seconds=status.seconds))}</p>'
    if status.state == "failed":
        return f'<p class="sd-status sd-failed"><b>{html.escape(t("status_failed", message=status.message))}</b></p>'
    text = t("status_loading", step=status.step + 1, steps=status.steps, message=status.message, seconds=status.seconds)
    return (f'<p class="sd-status sd-loading"><progress value="{status.step}" max="{status.steps}"></progress> '
            f"{html.escape(text)}</p>")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def stats_html(record: dict | None) -> str:
    """Render the race's numbers side by side; the speed-up cell has the class sd-speedup."""
    if record is None:
        return ""
    spec, plain = record["speculative"], record["plain"]
    finished = plain is not None and plain["stop"] is not None and spec["stop"] is not None
    speedup = "-" if record["speedup"] is None else f'{record["speedup"]:.2f}x'
    if record["speedup"] is not None and not finished:
        speedup += f' ({t("so_far")})'

    def cell(run: dict | None, key: str, fmt: str) -> str:
        return "-" if run is None or run.get(key) is None else format(run[key], fmt)

    def split(run: dict | None) -> str:
        if run is None:
            return "-"
        return " / ".join(f"{run[key]:.1f}" for key in ("prefill_seconds", "target_seconds", "draft_seconds", "other_seconds"))

    rows = [
        (t("tokens_per_second"), cell(plain, "tokens_per_second", ".2f"), cell(spec, "tokens_per_second", ".2f")),
        (t("new_tokens"), cell(plain, "new_tokens", "d"), cell(spec, "new_tokens", "d")),
        (t("acceptance_rate"), "", _percent(spec["acceptance_rate"])),
        (t("tokens_per_forward"), cell(plain, "tokens_per_target_forward", ".2f"), cell(spec, "tokens_per_target_forward", ".2f")),
        (t("forwards"), "-" if plain is None else f'{plain["target_forwards"]} / 0',
         f'{spec["target_forwards"]} / {spec["draft_forwards"]}'),
        (t("time_split"), split(plain), split(spec)),
    ]
    if record["identical"] is not None:
        rows.append((t("identical"), "", t("yes") if record["identical"] else t("no")))
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    head = f'<tr><th></th><th>{t("stat_plain")}</th><th>{t("stat_spec")}</th></tr>'
    return (f'<p>{t("speedup")}: <span class="sd-speedup">{speedup}</span></p>'
            f'<table class="sd-stats">{head}{body}</table>')


def race_figure(record: dict | None) -> go.Figure:
    """Plot tokens committed against seconds for both runs (left) and their tokens per second (right)."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.7, 0.3],
                           subplot_titles=(t("race_chart"), t("tokens_per_second")))
    runs = [] if record is None else [(t("stat_spec"), record["speculative"], SPEC_COLOUR),
                                      (t("stat_plain"), record["plain"], PLAIN_COLOUR)]
    for name, run, colour in runs:
        if run is None:
            continue
        seconds, tokens = zip(*run["timeline"])
        figure.add_trace(go.Scatter(x=seconds, y=tokens, name=name, mode="lines+markers",
                                    line={"color": colour, "shape": "hv"}, marker={"size": 4}), row=1, col=1)
        figure.add_trace(go.Bar(x=[name], y=[run["tokens_per_second"]], marker_color=colour, showlegend=False,
                                text=[f'{run["tokens_per_second"]:.2f}'], textposition="auto"), row=1, col=2)
    figure.update_xaxes(title_text=t("seconds"), row=1, col=1)
    figure.update_yaxes(title_text=t("tokens"), row=1, col=1)
    return _styled(figure)


def sweep_figure(points: list[dict], theory: dict | None) -> go.Figure:
    """Plot the measured and expected speed-up against k on the left axis, the acceptance rate on the right."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    ks = [point["k"] for point in points]
    figure.add_trace(go.Scatter(x=ks, y=[point["speedup"] for point in points], name=t("sweep_measured"),
                                mode="lines+markers", line={"color": SPEC_COLOUR}), secondary_y=False)
    if theory is not None:
        figure.add_trace(go.Scatter(x=theory["ks"], y=theory["speedup"], name=t("sweep_theory"), mode="lines",
                                    line={"color": THEORY_COLOUR, "dash": "dash"}), secondary_y=False)
    figure.add_trace(go.Scatter(x=ks, y=[point["alpha"] for point in points], name=t("sweep_alpha"),
                                mode="lines+markers", line={"color": "#c77c00", "dash": "dot"}), secondary_y=True)
    figure.add_hline(y=1.0, line={"color": PLAIN_COLOUR, "width": 1}, secondary_y=False)
    figure.update_xaxes(title_text="k", dtick=1)
    figure.update_yaxes(title_text=t("speedup"), rangemode="tozero", secondary_y=False)
    figure.update_yaxes(title_text=t("sweep_alpha"), range=[0, 1.05], secondary_y=True)
    figure.update_layout(title=t("sweep_chart"))
    return _styled(figure)


def domains_figure(rows: list[dict]) -> go.Figure:
    """Plot one bar per domain for the acceptance rate (left) and the speed-up (right)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=(t("acceptance_rate"), t("speedup")))
    titles = [row["title"] for row in rows]
    figure.add_trace(go.Bar(x=titles, y=[row["alpha"] or 0.0 for row in rows], marker_color=SPEC_COLOUR,
                            text=[_percent(row["alpha"]) for row in rows], showlegend=False), row=1, col=1)
    figure.add_trace(go.Bar(x=titles, y=[row["speedup"] for row in rows], marker_color=THEORY_COLOUR,
                            text=[f'{row["speedup"]:.2f}x' for row in rows], showlegend=False), row=1, col=2)
    figure.add_hline(y=1.0, line={"color": PLAIN_COLOUR, "width": 1}, row=1, col=2)
    figure.update_yaxes(range=[0, 1.05], row=1, col=1)
    figure.update_xaxes(tickangle=-30)
    return _styled(figure)


def distribution_figure(outcomes: list[str], law: list[float], series: list[tuple[str, list[float], str]]) -> go.Figure:
    """Plot grouped bars of observed frequencies per output, with the exact law as dots on top."""
    figure = go.Figure()
    for name, frequencies, colour in series:
        figure.add_trace(go.Bar(x=outcomes, y=frequencies, name=name, marker_color=colour))
    figure.add_trace(go.Scatter(x=outcomes, y=law, name=t("exact_law"), mode="markers",
                                marker={"color": "#111", "size": 7, "symbol": "diamond"}))
    figure.update_layout(barmode="group", title=t("check_chart"), xaxis_title=t("outcome"), yaxis_title=t("frequency"))
    return _styled(figure)


def _styled(figure: go.Figure) -> go.Figure:
    figure.update_layout(template="plotly_white", height=380, margin={"l": 50, "r": 30, "t": 60, "b": 50},
                         legend={"orientation": "h", "y": -0.2})
    return figure
