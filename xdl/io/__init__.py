"""Files: atomic writes (``files.py``), bounded JSON, the model file format
(``model_files.py``), the checks of an architecture read from a file (``spec.py``) and weights as
dicts of arrays (``weights.py``)."""
