"""The training engine: plain Python, no Django import (TRL, transformers, peft, accelerate).

It takes a config and file paths and reports through a callback, so the Celery task can adapt it
to the database and ``accelerate launch`` can run it on many GPUs.
"""
