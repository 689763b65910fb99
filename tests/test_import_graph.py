"""No import cycles among churnbot's modules: every import (lazy ones inside functions and
TYPE_CHECKING ones included) points one way, so any module can be loaded and understood
before the modules that use it."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import grimp

PACKAGES = ("bot", "handlers", "surveys", "storage")


def first_cycle(graph: grimp.ImportGraph) -> list[str] | None:
    """One import cycle of `graph` (its modules in import order), or None."""
    sorter = TopologicalSorter(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )
    try:
        sorter.prepare()
    except CycleError as error:
        return list(reversed(error.args[1]))
    return None


def test_no_module_of_ours_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES)

    cycle = first_cycle(graph)

    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_through_a_lazy_import_is_found() -> None:
    graph = grimp.ImportGraph()
    graph.add_import(importer="bot.cli", imported="bot.cli_reports")
    graph.add_import(importer="bot.cli_reports", imported="bot.cli")
    graph.add_import(importer="bot.cli", imported="bot.settings")

    cycle = first_cycle(graph)

    assert cycle is not None
    assert set(cycle) == {"bot.cli", "bot.cli_reports"}
