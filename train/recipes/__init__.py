"""The whole road from one TOML file: the recipe runner (`xiulian recipe run`), the results
page it writes (report.py), and the experiments that rerun a stage with one thing changed.

May import: any room of train, corpus.
"""
