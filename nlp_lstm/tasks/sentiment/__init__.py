"""Sentiment analysis (text classification): `config` declares and registers the task, `task` implements it."""
