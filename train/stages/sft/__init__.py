"""Stage two: instruction fine-tuning on conversations, loss on the assistant's tokens (`xiulian sft`)."""
