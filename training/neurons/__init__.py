"""Spiking neurons, one per file on :class:`~training.neurons.base.Neuron`."""

from .base import Neuron
from .hdlif import HDLIF
from .lif import LIF
from .membn import MemBNHDLIF
from .parallel import ParallelHDLIF

__all__ = ["HDLIF", "LIF", "MemBNHDLIF", "Neuron", "ParallelHDLIF"]
