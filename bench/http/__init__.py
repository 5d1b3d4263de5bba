"""The Mini App API measured as an operator would: its own process, `wrk`, two baselines."""
