"""Training runs arrive here with the training issue."""
