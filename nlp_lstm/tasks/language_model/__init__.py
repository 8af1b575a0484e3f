"""Language modelling and text generation: `config` declares and registers the task, `task` implements it."""
