"""Performance estimated before the labels arrive: CBPE for classifiers, DLE for regressors."""
