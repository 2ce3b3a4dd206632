"""An example retraining service for Driftline's ``http`` retraining action (see ``app``)."""
