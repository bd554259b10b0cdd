"""PPO (`xiulian ppo`): arithmetic.py has the math as pure functions, stage.py the loop's stage
(rollouts, then optimizer steps), run.py the settings and models, cli.py the command."""
