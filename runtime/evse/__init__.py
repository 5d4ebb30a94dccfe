"""The charging controller service (`evse`): state machine, safety, authorization, sessions."""
