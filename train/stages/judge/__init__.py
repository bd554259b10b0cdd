"""AI feedback (`xiulian judge`): a model judges two answers; the verdicts become preference pairs."""
