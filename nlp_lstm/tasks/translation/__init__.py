"""Machine translation: `config` declares and registers the task, `task` implements it."""
