"""The node graph of the avatar face stack: parameter profiles, the in-process runner, text input and launch files."""
