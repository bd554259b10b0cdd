"""Inspecting a clean output: `xiulian stats` (numbers, terminal tables, JSON, HTML report)
and `xiulian show` (read the kept or removed documents a filter selects). See docs/inspect.md.

Library entry points: `corpus.stats.compute.corpus_stats`, `corpus.stats.html_report.write_report`,
`corpus.stats.show.select_rows`. Nothing heavy is imported here, so registering the commands
costs the CLI nothing."""
