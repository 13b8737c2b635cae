"""Spiking neurons, one per file on :class:`~training.neurons.base.Neuron`."""

from .base import Neuron
from .hdlif import HDLIF

__all__ = ["HDLIF", "Neuron"]
