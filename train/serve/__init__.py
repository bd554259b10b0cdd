"""A checkpoint at work: the batching decoding engine, the chat model behind `xiulian serve`
(the OpenAI chat-completions API) and `xiulian arena` (a page for judging two answers), and
batched sampling (rollout.py) for best-of-N, PPO and AI feedback. cli.py also holds
`xiulian chat` and `xiulian generate`.

May import: train.model, train.core (options), corpus.
"""
