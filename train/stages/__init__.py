"""The stages of the road, one folder each: pretrain, sft, reward, dpo (DPO and KTO), ppo,
best_of_n, judge (AI feedback), self_instruct. A folder holds the stage's code and its command
(cli.py), so a change to one stage touches one folder; a training stage hands the shared loop
(train.core.loop) an object that meets train.core.stage.Stage. preference_run.py is what
reward, dpo, kto and ppo share around the loop.

May import: train.kernels, train.model, train.core, train.data, train.serve, corpus.
"""
