"""Training: the step users can override (``trainer.py``), the loops of fit/evaluate/predict
(``loop.py``), what compile sets up (``compile.py``), the data an epoch iterates (``data.py``,
``epochs.py``), sample weights, the epoch's sums, progress, history, callbacks and data
parallelism (``distributed.py``)."""
