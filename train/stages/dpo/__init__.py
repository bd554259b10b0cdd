"""DPO and KTO (`xiulian dpo`, `xiulian kto`): learning from preferences against reference
log-probabilities computed once and kept in the run. KTO is DPO's unpaired sibling: same
reference, same batches, another loss."""
