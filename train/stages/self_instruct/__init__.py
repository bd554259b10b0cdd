"""Instruction data from a teacher model, Self-Instruct as Alpaca ran it (`xiulian self-instruct`)."""
