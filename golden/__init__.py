"""The contract every stage shares: the integer-model bundle and its golden executor."""

from .bundle import (Bundle, BundleError, HDLIFConvLayer, HDLIFLayer, InputSpec, ReadoutLayer, load_bundle,
                     save_bundle)
from .executor import Result, run
from .vectors import load_vectors, write_vectors

__all__ = ["Bundle", "BundleError", "HDLIFConvLayer", "HDLIFLayer", "InputSpec", "ReadoutLayer", "Result",
           "load_bundle", "load_vectors", "run", "save_bundle", "write_vectors"]
