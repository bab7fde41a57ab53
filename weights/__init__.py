"""Shipped weights (installed as ``innterpol_cli.weights``); found with importlib.resources."""
