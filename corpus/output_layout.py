"""The names inside a clean output folder (OUT/), in one place for every reader and writer.

    OUT/run.json        the run's fingerprint: inputs, resolved config, options (written first)
    OUT/tasks/NNNNN/    one map task's kept.parquet, removed.arrow, counts.json (scratch)
    OUT/global/NN-step/ a corpus step's decisions (scratch)
    OUT/shards/         the kept documents, part-NNNNN.parquet
    OUT/removed/        the ledger of removed records, part-NNNNN.parquet
    OUT/index/          the dedup index a later batch is cleaned against (dedup/index.py)
    OUT/manifest.json   counts, removals by step and reason, the shard list (written last)
    OUT/dedup/          reports of the dedup steps: clusters.parquet, repeated.parquet, against.json
    OUT/decontam.json   the decontamination report

corpus (clean, finalize, stats), train (token shards) and the tests import these names instead
of spelling them, so renaming a folder is one edit.
"""
from __future__ import annotations

RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.json"
SHARDS_DIR = "shards"
REMOVED_DIR = "removed"
TASKS_DIR = "tasks"
GLOBAL_DIR = "global"
INDEX_DIR = "index"
SCRATCH_DIRS = (TASKS_DIR, GLOBAL_DIR)   # deleted once the manifest is written
DEDUP_DIR = "dedup"
CLUSTERS_REPORT = "clusters.parquet"     # in DEDUP_DIR
REPEATED_REPORT = "repeated.parquet"     # in DEDUP_DIR
AGAINST_REPORT = "against.json"          # in DEDUP_DIR: what a batch lost to earlier outputs
DECONTAM_REPORT = "decontam.json"
