"""What the stages read: documents from cleaned shards, token shards and the packed stream of
training sequences, SFT conversations, preference pairs and judged answers, sampling prompts,
and preference examples as batches.

May import: train.model (tokenizer, chat template), train.core (the stage base), corpus.
"""
