"""tapctl: builds the Lambda packages, deploys the webhook pipeline per environment and smoke-tests it."""

__version__ = "0.1.0"
