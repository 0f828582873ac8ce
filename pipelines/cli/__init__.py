"""The command-line tools: thin click groups that build configs and call one pipeline function."""
