"""The whole road from one TOML file: the recipe runner (`xiulian recipe run`), the results
page it writes (report.py), the experiments that rerun a stage with one thing changed, and the
data ablations (`xiulian ablate`: one proxy model per cleaning variant and seed).

May import: any room of train, corpus.
"""
