"""The pipeline's Lambda functions, plain Python on the Lambda runtime.

Each function's zip holds this package with its own modules and ``runtime`` (what they all share; the
list is tapctl.config.FUNCTIONS): ``handlers.validator.lambda_handler`` (webhook-validator),
``handlers.router.lambda_handler`` (event-router) and ``handlers.sweeper.lambda_handler``
(outbox-sweeper). Nothing beyond the standard library and boto3/botocore is imported.
"""
