"""Model families fitted with their library's own API, not as LightningModules (AutoGluon keeps
``models/<family>/`` the same way): each family one module (lightgbm, linear), all on the interface of
estimators/base.py. The pipeline trains them through its estimator fold trainer."""
