"""sparring: train language models to reason against a sparring partner, and measure it.

Layers (each imports only those before it): tasks -> corpus -> models -> train -> probes
-> lab -> cli.
"""

__version__ = "0.1.0"
