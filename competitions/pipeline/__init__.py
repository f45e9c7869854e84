"""The fold loop of training and prediction, OOF and CV, ensembling, the Kaggle round trip,
tracking and pictures. Called by the Python API (competitions.api) and so by the verbs."""
