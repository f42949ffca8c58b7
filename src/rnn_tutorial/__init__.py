"""rnn_tutorial: the toolbox of the rnn-tutorial book.

Submodules are imported on demand so that ``import rnn_tutorial`` stays cheap:

- :mod:`rnn_tutorial.data`: offline-first, checksummed dataset loaders.
- :mod:`rnn_tutorial.repro`: ``set_seed``, the torch device picker and the environment report.
- :mod:`rnn_tutorial.numpy_rnn`: recurrent layers in NumPy (Part I).
"""

__version__ = "0.1.0"
