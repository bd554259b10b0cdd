"""Best-of-N (`xiulian bon`): sample N answers, keep the one the reward function scores highest."""
