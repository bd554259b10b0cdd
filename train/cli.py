"""The trainer's commands on the `xiulian` parser, in the order of the road: tokenizer, the
training stages, sampling and judging, talking to a model, evaluating, model files, recipes.

Each room keeps its commands beside its code (`train/stages/ppo/cli.py`, `train/serve/cli.py`,
...); this module only lists them. Registered by corpus/cli.py; torch is imported only inside
the command that runs, so `xiulian clean --help` stays fast.
"""
from __future__ import annotations


def add_parsers(sub, command) -> None:
    from train.eval import cli as eval_cli
    from train.model import cli as model_cli
    from train.recipes import cli as recipe_cli
    from train.serve import cli as serve_cli
    from train.stages.best_of_n import cli as best_of_n_cli
    from train.stages.dpo import cli as dpo_cli
    from train.stages.judge import cli as judge_cli
    from train.stages.ppo import cli as ppo_cli
    from train.stages.pretrain import cli as pretrain_cli
    from train.stages.reward import cli as reward_cli
    from train.stages.self_instruct import cli as self_instruct_cli
    from train.stages.sft import cli as sft_cli
    model_cli.add_tokenizer_parser(sub, command)
    for module in (pretrain_cli, sft_cli, reward_cli, dpo_cli, best_of_n_cli, ppo_cli, judge_cli,
                   self_instruct_cli, serve_cli, eval_cli, model_cli, recipe_cli):
        module.add_parsers(sub, command)  # the command that runs imports its room
