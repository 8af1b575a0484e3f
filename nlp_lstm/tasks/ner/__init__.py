"""Named entity recognition: `config` declares and registers the task, `task` implements it."""
