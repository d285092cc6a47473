"""What the fleet tells its operators: traces (tracing.py), and what the composition root installs from them."""

from .tracing import start_tracing

__all__ = ["start_tracing"]
