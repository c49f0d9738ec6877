"""Events: matching one event and the customer's profile against the playbooks' event steps."""
