"""Stage one: next-token prediction on the cleaned shards (`xiulian pretrain`)."""
