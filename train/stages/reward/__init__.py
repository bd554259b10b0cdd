"""The reward model (`xiulian reward`, `xiulian reward score`) and the reward function that
best-of-N and PPO ask for a score (one model, or helpfulness with a safety model)."""
