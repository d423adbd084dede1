"""The engine. Never imports Qt: the CLI, the GUI, tests and torchrun workers share it."""
