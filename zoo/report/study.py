"""The study section: Optuna's own matplotlib plots and the trials table.

Optuna's plots raise or warn when a study is too small to draw (one trial, one parameter, no
importances); each is tried on its own and replaced by a note, so a small study still gets a report."""

import warnings
from collections.abc import Callable

import optuna

from zoo.report import figures
from zoo.report.page import Image, Note, Section, Table
from zoo.tune.studies import find_study, summarize


def _plot(draw: Callable[[], object], filename: str, caption: str) -> Image | Note:
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning and "too few trials" UserWarnings
            ax = draw()
        first = ax.flat[0] if hasattr(ax, "flat") else ax  # slice plots return an array of Axes
        fig = first.figure
        if not any(a.has_data() for a in fig.axes):
            plt.close(fig)
            return Note(f"{caption}: nothing to draw yet (too few finished trials).")
        png = figures.to_png(fig)
        plt.close(fig)
        return Image(filename, caption, png)
    except Exception as exc:  # Optuna raises several types for "cannot plot this study"
        plt.close("all")
        return Note(f"{caption}: Optuna could not draw it ({type(exc).__name__}: {exc}).")


def study_section(
    study_name: str | None, storage: str | None, on_note: Callable[[str], None] | None = None
) -> Section:
    section = Section("study", "Study")
    if study_name is None:
        section.parts.append(Note("This run was not trained by a study, so there is no study to show."))
        return section
    study, reason = find_study(study_name, storage)
    if study is None:
        note = f"reported without its study section: {reason}"
        section.parts.append(Note(f"This run belongs to study {study_name!r}; it is {note}."))
        if on_note:
            on_note(note)
        return section
    summary = summarize(study)
    section.parts.append(
        Table(
            ["study", "model", "trials", "best trial", "best value"],
            [
                [
                    summary.name,
                    summary.model or "?",
                    ", ".join(f"{k} {v}" for k, v in summary.states.items() if v),
                    summary.best_trial,
                    summary.best_value,
                ]
            ],
        )
    )
    vis = optuna.visualization.matplotlib
    section.parts.append(
        _plot(lambda: vis.plot_optimization_history(study), "study-history.png", "Optimisation history")
    )
    section.parts.append(
        _plot(lambda: vis.plot_param_importances(study), "study-importances.png", "Parameter importances")
    )
    section.parts.append(
        _plot(lambda: vis.plot_parallel_coordinate(study), "study-parallel.png", "Parallel coordinates")
    )
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    section.parts.append(
        Table(
            ["trial", "state", "value", *names],
            [[t.number, t.state.name.lower(), t.value, *(t.params.get(k) for k in names)] for t in trials],
        )
    )
    return section
