"""innterpol: model atmospheres between grid nodes, from a learned grid."""

__version__ = "0.1.0"
